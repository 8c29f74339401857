"""``python -m bot train`` (the decision part) and ``python -m bot eval-cv`` / ``make eval-cv``.

Training reads the labelled case files (:data:`CASE_GLOBS`), parses them with the trained Rasa
model, and writes ``models/decision-<fingerprint>.npz``. Cross-validation splits the author
batches into folds (never one batch on both sides), trains on the others exactly as training
does (threshold by inner cross-validation) and replays the held-out batches through
:meth:`actions.loaded.Loaded.decide`; it reports in-scope, no-measure and facts by fold and tag.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from actions import answering
from actions.decision import Learned, jieba_idf, model
from actions.decision.features import FEATURES
from actions.decision.settings import MODEL
from actions.loaded import KnowledgeCache, Loaded
from bot import config
from bot.quality.decision import fit
from bot.quality.decision.cases import Conversation, load_all
from bot.quality.decision.harness import Parser, cited, decide_message, next_previous, part_texts, routed_to_answer
from knowledge.coverage import load_coverage
from knowledge.repository import KnowledgeBase
from knowledge.vocabulary import load_vocabulary

log = logging.getLogger(__name__)

CASE_GLOBS = ("tests/data/*_cases.yml", "tests/data/blind/*.yml")


def case_files(root: Path = config.PROJECT_ROOT) -> list[Path]:
    """The labelled case files training and cross-validation read, in a stable order."""
    return [p for pattern in CASE_GLOBS for p in sorted(root.glob(pattern))]


class Setup:
    """The knowledge base in memory, the NLU parses of every case and the data-derived bundle parts."""

    def __init__(self, settings: config.Settings, rasa_model: Path, files: Sequence[Path] | None = None):
        self.conversations = load_all(list(files or case_files()))
        kb = KnowledgeBase(settings.database_url)
        self.memory: Loaded = KnowledgeCache(kb, decision_model=None).get()
        parser = Parser(rasa_model, settings.var_dir / "decision")
        texts = [t.text for c in self.conversations for t in c.turns]
        texts += [p.text for c in self.conversations for t in c.turns for p in t.parts]
        texts += [p for c in self.conversations for t in c.turns for p in part_texts(t.text)]
        self.parses = parser.parse_all(texts)
        self.nlu = fit.nlu_examples(config.PROJECT_ROOT / "data")
        self.aspect_pairs = fit.aspect_examples(self.memory, self.nlu)
        self.nlu_measures = fit.nlu_measures(self.memory, self.nlu)
        base = fit.placeholder(self.memory, self.nlu)
        vocabulary = load_vocabulary()
        self.learned = Learned(base, load_coverage(), jieba_idf(), {a.name: a.label for a in vocabulary.aspects})
        self.examples = fit.examples(self.memory, self.learned, self.conversations, self.parses)

    def train(self, examples: Sequence[fit.Example] | None = None, meta: dict | None = None) -> model.Bundle:
        """A bundle trained on ``examples`` (default: all)."""
        return fit.train_bundle(
            self.learned.bundle, examples or self.examples, self.aspect_pairs, self.nlu_measures, meta or {}
        )

    def with_bundle(self, bundle: model.Bundle) -> Loaded:
        """The knowledge base in memory deciding with ``bundle``."""
        return replace(self.memory, learned=replace(self.learned, bundle=bundle))


def write_bundle(settings: config.Settings, rasa_model: Path, target: Path) -> Path:
    """Train on every case file and write the bundle to ``target``."""
    setup = Setup(settings, rasa_model)
    bundle = setup.train(meta={"rasa_model": rasa_model.name, "cases": len(setup.conversations)})
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target, bundle)
    model.load(target, FEATURES)  # what was written reads back
    log.info("decision model: %s (threshold %.2f, %d judged turns)", target, bundle.pair.threshold, len(setup.examples))
    return target


def replay(memory: Loaded, conversations: Sequence[Conversation], parses) -> list[dict]:
    """Each judged turn's result: expected, cited, right, facts found, tags."""
    out = []
    for conv in conversations:
        previous = None
        for turn in conv.turns:
            decisions = decide_message(memory, parses[turn.text], parses, turn.text, previous)
            for decision in decisions:
                previous = next_previous(decision, previous)
            decision = decisions[0]
            if turn.measures is None:
                continue
            got = cited(decision)
            parts_right = None
            if turn.parts and len(decisions) == len(turn.parts):
                parts_right = all(
                    (bool(cited(d)) and cited(d)[0] in p.measures) if p.measures else not cited(d)
                    for d, p in zip(decisions, turn.parts, strict=False)
                )
            elif turn.parts:
                parts_right = False
            right = bool(got) and got[0] in turn.measures if turn.measures else not got
            facts_ok = None
            if turn.facts and right and got:
                spec = decision.spec if decision is not None else None
                measure = memory.measures.get(got[0])
                if spec is not None and measure is not None:
                    text = answering.compose(memory.document, measure, spec, ()).answer
                    facts_ok = all(f in text for f in turn.facts)
            out.append(
                {
                    "group": conv.group,
                    "tags": list(conv.tags),
                    "question": turn.text,
                    "expected": list(turn.measures),
                    "cited": list(got),
                    "decision": decision.kind.value if decision is not None else "rule",
                    "named_aspect": decision.named_aspect if decision is not None else None,
                    "right": right,
                    "facts": facts_ok,
                    "parts": len(decisions),
                    "parts_right": parts_right,
                }
            )
    return out


def summary(results: Sequence[dict]) -> dict:
    """In-scope and no-measure accuracy, facts, and false "没有规定" claims on answerable turns."""
    ins = [r for r in results if r["expected"]]
    none = [r for r in results if not r["expected"]]
    facts = [r for r in results if r["facts"] is not None]
    claims = [r for r in ins if r["decision"] == "not_covered" and r["named_aspect"]]
    multi = [r for r in results if r.get("parts_right") is not None]
    return {
        "in_scope": round(sum(r["right"] for r in ins) / len(ins), 3) if ins else None,
        "in_scope_n": len(ins),
        "no_measure": round(sum(r["right"] for r in none) / len(none), 3) if none else None,
        "no_measure_n": len(none),
        "facts": round(sum(r["facts"] for r in facts) / len(facts), 3) if facts else None,
        "false_claims": round(len(claims) / len(ins), 3) if ins else None,
        "multi_all_parts": round(sum(r["parts_right"] for r in multi) / len(multi), 3) if multi else None,
        "multi_n": len(multi),
    }


def cross_validate(settings: config.Settings, rasa_model: Path, out: Path | None = None) -> dict:
    """Grouped k-fold cross-validation; returns (and writes) the report."""
    setup = Setup(settings, rasa_model)
    groups = sorted({c.group for c in setup.conversations})
    k = min(int(MODEL["folds"]), len(groups))
    results: list[dict] = []
    folds = []
    for f in range(k):
        test = set(groups[f::k])
        bundle = setup.train([e for e in setup.examples if e.group not in test])
        fold = replay(setup.with_bundle(bundle), [c for c in setup.conversations if c.group in test], setup.parses)
        for r in fold:
            r["fold"] = f
        results += fold
        folds.append({"fold": f, "groups": sorted(test), "threshold": bundle.pair.threshold, **summary(fold)})
    rules = replay(setup.memory, setup.conversations, setup.parses)
    by_tag: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        for tag in r["tags"] or ["untagged"]:
            by_tag[tag].append(r)
    by_group: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_group[r["group"]].append(r)
    report = {
        "overall": summary(results),
        "rules_only": summary(rules),
        "folds": folds,
        "by_group": {g: summary(rs) for g, rs in sorted(by_group.items())},
        "by_tag": {t: {**summary(rs), "n": len(rs)} for t, rs in sorted(by_tag.items()) if len(rs) >= 10},
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**report, "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


def format_report(report: dict) -> str:
    """The report as a table."""

    def row(name: str, s: dict) -> str:
        def pct(key):
            return "  -  " if s.get(key) is None else f"{s[key]:.3f}"

        return (
            f"{name:<28} {pct('in_scope')} ({s['in_scope_n']:>4})  {pct('no_measure')} ({s['no_measure_n']:>4})"
            f"  {pct('facts')}  {pct('false_claims')}"
        )

    lines = [f"{'':<28} in scope         no measure      facts  false 没有规定"]
    lines.append(row("overall (cross-validated)", report["overall"]))
    lines.append(row("rules alone (all data)", report["rules_only"]))
    lines += [row(f"fold {f['fold']} {','.join(f['groups'])} t={f['threshold']:.2f}", f) for f in report["folds"]]
    lines.append("by author batch:")
    lines += [row(f"  {g}", s) for g, s in report["by_group"].items()]
    lines.append("by tag (10 or more turns):")
    lines += [row(f"  {t}", s) for t, s in report["by_tag"].items()]
    return "\n".join(lines)


def replay_known(settings: config.Settings, rasa_model: Path, decision_model: Path) -> list[tuple[str, str, dict]]:
    """``(where, text, decision)`` of every intent's training example and measure sentence refused."""
    cache = KnowledgeCache(KnowledgeBase(settings.database_url), decision_model=decision_model)
    memory = cache.get()
    nlu = fit.nlu_examples(config.PROJECT_ROOT / "data")
    known = [(f"data/nlu ({intent})", text) for intent, text in nlu if intent in memory.specs]
    known += [(f"measure {m.number}", s.text) for m in memory.measures.values() for s in m.sentences if s.position > 0]
    texts = [t for _, t in known] + [p for _, t in known for p in part_texts(t)]
    parses = Parser(rasa_model, settings.var_dir / "decision").parse_all(texts)
    out = []
    for where, text in known:
        parse = parses[text]
        if not routed_to_answer(parse.intent):
            continue
        for decision in decide_message(memory, parse, parses, text, None):
            if decision is not None and decision.kind.value == "not_covered":
                out.append((where, text, decision.to_json()))
    return out
