"""Train the decision's models from labelled conversations and choose its threshold.

* The aspect model learns from every NLU training example (its intent's ``aspect`` in
  ``knowledge/intents.yml``; ``overview`` reads as ``general``) and from the labelled turns that
  name an aspect.
* The answerable model learns from the same turns' texts whether the notice answers them at all
  (NLU examples and measure sentences count as answered, with a lower weight); the pair model's
  rows get its out-of-fold probability, so the pair model learns how far to trust it.
* The pair model learns, over every judged turn's candidates, whether the candidate's first
  measure is one the turn expects.
* The threshold maximises the mean of "right measure, in scope" and "nothing cited where nothing
  answers", by cross-validation grouped by author batch inside the training data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from actions.decision import Kind, Learned, model
from actions.decision.decide import without_placeholders
from actions.decision.features import (
    FEATURES,
    NEIGHBOUR_COLUMNS,
    Reading,
    candidate_rows,
    candidates,
    neighbour_columns,
    salient_words,
)
from actions.decision.settings import MODEL
from actions.loaded import Loaded
from bot.quality.decision.cases import Conversation, Turn
from bot.quality.decision.harness import Parse, decide_turn, next_previous
from bot.text.normalize import normalize_text
from knowledge.coverage import ASPECTS

ENTITY = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")
GENERIC_MIN_INTENTS = 8
ASPECT_COLUMNS = ("aspect_general", "aspect_covered", "aspect_top_probability")
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.01), 2)


def nlu_examples(data_dir: Path) -> list[tuple[str, str]]:
    """(intent, example) for every NLU training example, entity marks removed."""
    out = []
    for path in sorted((data_dir / "nlu").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in block and isinstance(block.get("examples"), str):
                for line in block["examples"].splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        # as the action reads a message: normalised (simplified, half-width)
                        out.append((block["intent"], normalize_text(ENTITY.sub(r"\1", line[2:].strip()))))
    return out


def aspect_examples(memory: Loaded, examples: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(text, aspect) from the NLU examples of the intents the decision answers."""
    out = []
    for intent, text in examples:
        spec = memory.specs.get(intent)
        if spec is not None:
            out.append((text, "general" if spec.aspect == "overview" else spec.aspect))
    return out


def intent_texts(memory: Loaded, examples: list[tuple[str, str]]) -> dict[str, str]:
    """Intent → the text of its measures, their facts, the aliases and its training examples."""
    aliases = " ".join(f"{k} {v}" for k, v in memory.analyser.aliases.items())
    by_intent: dict[str, list[str]] = {}
    for intent, text in examples:
        by_intent.setdefault(intent, []).append(text)
    out = {}
    for intent, spec in memory.specs.items():
        measures = memory.measures_of(spec.measures)
        facts = " ".join(f.value for m in measures for f in m.facts)
        out[intent] = "\n".join([*(m.text for m in measures), facts, aliases, *by_intent.get(intent, [])])
    return out


def generic_words(memory: Loaded, examples: list[tuple[str, str]]) -> frozenset[str]:
    """Words of the training examples of at least :data:`GENERIC_MIN_INTENTS` intents."""
    seen: dict[str, set[str]] = {}
    for intent, text in examples:
        for word in memory.analyser.segment(text):
            seen.setdefault(word, set()).add(intent)
    return frozenset(w for w, intents in seen.items() if len(intents) >= GENERIC_MIN_INTENTS)


def fit_aspects(pairs: Sequence[tuple[str, str]], c: float) -> model.TextModel:
    """The aspect model on (text, aspect) pairs."""
    texts, labels = zip(*pairs, strict=False)
    return fit_text(texts, labels, c)


def fit_answerable(nlu: Sequence[tuple[int, str]], exs: Sequence["Example"], c: float) -> model.TextModel:
    """The answerable model: NLU examples and measure sentences, and the judged turns."""
    texts = [t for _, t in nlu] + [e.text for e in exs]
    labels = ["yes"] * len(nlu) + ["yes" if e.expected else "no" for e in exs]
    weights = [float(MODEL["answerable_known_weight"])] * len(nlu) + [1.0] * len(exs)
    if set(labels) != set(model.ANSWERABLE_CLASSES):
        raise ValueError(f"the answerable model needs answered and unanswered turns, got only {sorted(set(labels))}")
    return fit_text(texts, labels, c, weights)


def fit_text(
    texts: Sequence[str], labels: Sequence[str], c: float, weights: Sequence[float] | None = None
) -> model.TextModel:
    """A :class:`model.TextModel` on ``texts`` and their ``labels``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer=model.char_grams, sublinear_tf=True, min_df=2, norm="l2")
    x = vectorizer.fit_transform(texts)
    lr = LogisticRegression(C=c * 10, max_iter=3000)
    lr.fit(x, labels, sample_weight=weights)
    classes = tuple(str(k) for k in lr.classes_)
    coef, intercept = lr.coef_, lr.intercept_
    if len(classes) == 2:  # scikit-learn keeps one row for two classes
        coef, intercept = np.vstack([-coef[0], coef[0]]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return model.TextModel(
        classes=classes,
        vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
        idf=vectorizer.idf_.astype(np.float64),
        coef=np.asarray(coef, dtype=np.float64),
        intercept=np.asarray(intercept, dtype=np.float64),
    )


@dataclass
class Example:
    """One judged turn: its candidates' rows (aspect columns filled per aspect model)."""

    group: str
    tags: tuple[str, ...]
    text: str  # normalised
    asked: str
    expected: tuple[int, ...]
    aspect: str | None
    intents: list[str]
    primaries: list[int]
    rows: np.ndarray
    coverage: np.ndarray  # candidates × ASPECTS: 1 where the candidate's measures state it
    related: tuple[int, ...] = ()


def examples(
    memory: Loaded, learned: Learned, conversations: Sequence[Conversation], parses: dict[str, Parse]
) -> list[Example]:
    """The judged turns whose rules' proposal the pair model judges, with their rows."""
    analyser, out = memory.analyser, []
    rules_only = replace(memory, learned=None)
    column = {name: FEATURES.index(name) for name in ASPECT_COLUMNS}
    uniform = np.full(len(learned.bundle.aspects.classes), 1.0 / len(learned.bundle.aspects.classes))
    for conv in conversations:
        previous = None
        # a labelled two-question message trains on its parts, each with its own answer
        turns = [
            u
            for t in conv.turns
            for u in (
                [Turn(p.text, p.measures, p.aspect) for p in t.parts] if t.parts and t.measures is not None else [t]
            )
        ]
        for turn in turns:
            parse = parses[turn.text]
            proposal = decide_turn(rules_only, parse, previous)
            if (
                proposal is not None
                and turn.measures is not None
                and proposal.kind in {Kind.ANSWER, Kind.NOT_COVERED, Kind.OVERVIEW, Kind.OUT_OF_SCOPE, Kind.CLARIFY}
                and not analyser.is_attractor(proposal.question.text)
            ):
                question = proposal.question
                reading = Reading(
                    question,
                    parse.intent,
                    parse.confidence,
                    parse.ranking,
                    proposal,
                    memory.specs.get(previous or ""),
                    uniform,
                    salient_words(analyser, without_placeholders(question.asked), learned.bundle, learned.idf),
                )
                cands = candidates(reading, memory.specs, int(MODEL["candidates"]))
                if cands:
                    rows = candidate_rows(
                        reading,
                        cands,
                        analyser,
                        memory.measures_of,
                        learned.coverage,
                        learned.bundle,
                        memory.topic_of_intent,
                        learned.idf,
                    )
                    rows[:, [column[c] for c in ASPECT_COLUMNS]] = np.nan  # per fold: fill_aspects
                    cov = np.array([[learned.coverage.states(s.measures, a) for a in ASPECTS] for s in cands], float)
                    out.append(
                        Example(
                            conv.group,
                            conv.tags,
                            without_placeholders(parse.text),
                            without_placeholders(question.asked),
                            tuple(turn.measures),
                            turn.aspect,
                            [s.intent for s in cands],
                            [s.primary for s in cands],
                            rows,
                            cov,
                            turn.related,
                        )
                    )
            previous = next_previous(proposal, previous)
    return out


def fill_aspects(example: Example, aspects: model.TextModel) -> np.ndarray:
    """The example's rows with the aspect model's columns."""
    probs = aspects.proba(example.asked)
    by_class = dict(zip(aspects.classes, probs, strict=False))
    p = np.array([by_class.get(a, 0.0) for a in ASPECTS])
    rows = example.rows.copy()
    rows[:, FEATURES.index("aspect_general")] = by_class.get("general", 0.0)
    rows[:, FEATURES.index("aspect_covered")] = example.coverage @ p
    rows[:, FEATURES.index("aspect_top_probability")] = float(probs.max())
    return rows


@dataclass
class Index:
    """A neighbour index with the author batch of each entry (to leave a batch out of its own rows)."""

    index: model.NeighbourIndex
    groups: np.ndarray
    vectorizer: Any  # scikit-learn's TfidfVectorizer, fitted


def build_index(nlu: Sequence[tuple[int, str]], exs: Sequence[Example]) -> Index:
    """The neighbour index of the NLU examples (answered by their intent's measure) and ``exs``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    entries = [(text, True, number, "nlu") for number, text in nlu]
    for e in exs:
        entries += [(e.text, bool(e.expected), m, e.group) for m in (e.expected[:1] or e.related or (0,))]
    texts, positive, measure, groups = (list(column) for column in zip(*entries, strict=True))
    vectorizer = TfidfVectorizer(analyzer=model.char_grams, sublinear_tf=True, min_df=1, norm="l2")
    matrix = vectorizer.fit_transform(texts).tocsc()
    matrix.sort_indices()
    index = model.NeighbourIndex(
        vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
        idf=vectorizer.idf_.astype(np.float64),
        indptr=matrix.indptr.astype(np.int64),
        rows=matrix.indices.astype(np.int64),
        values=matrix.data.astype(np.float64),
        positive=np.array(positive, dtype=bool),
        measure=np.array(measure, dtype=np.int64),
    )
    return Index(index, np.array(groups), vectorizer)


def full_rows(
    exs: Sequence[Example], aspects: model.TextModel, idx: Index, leave_own_group: bool, answerable: Sequence[float]
) -> list[np.ndarray]:
    """Each example's rows with the aspect, answerable and neighbour columns (its own batch left out if asked)."""
    matrix = idx.vectorizer.transform([e.text for e in exs])
    stored = sparse_entries(idx.index)
    column = FEATURES.index("text_answerable")
    out = []
    for start in range(0, len(exs), 512):
        sims = (matrix[start : start + 512] @ stored.T).toarray()
        for k, (e, row) in enumerate(zip(exs[start : start + 512], sims, strict=False)):
            if leave_own_group:
                row[idx.groups == e.group] = 0.0
            rows = fill_aspects(e, aspects)
            rows[:, column] = answerable[start + k]
            rows[:, -len(NEIGHBOUR_COLUMNS) :] = neighbour_columns(
                row, idx.index.positive, idx.index.measure, e.primaries
            )
            out.append(rows)
    return out


def sparse_entries(index: model.NeighbourIndex):
    """The index as a SciPy matrix (entries × grams) for batch similarities in training."""
    from scipy.sparse import csc_matrix

    return csc_matrix((index.values, index.rows, index.indptr), shape=(len(index.positive), len(index.idf))).tocsr()


def fit_pair(
    rows: list[np.ndarray], labels: list[np.ndarray], c: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, coef, intercept) of the pair model."""
    from sklearn.linear_model import LogisticRegression

    x, y = np.vstack(rows), np.concatenate(labels)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    lr = LogisticRegression(C=c, max_iter=3000)
    lr.fit((x - mean) / scale, y)
    return mean, scale, lr.coef_[0].astype(np.float64), float(lr.intercept_[0])


def labels_of(example: Example) -> np.ndarray:
    """1 for each candidate whose first measure the turn expects."""
    return np.array([float(p in example.expected) for p in example.primaries])


def score_at(best_p: np.ndarray, best_right: np.ndarray, in_scope: np.ndarray, threshold: float) -> float:
    """Mean of in-scope accuracy and no-measure accuracy when citing the best candidate at ``threshold``."""
    cite = best_p >= threshold
    in_acc = (cite & best_right)[in_scope].mean() if in_scope.any() else 1.0
    none_acc = (~cite)[~in_scope].mean() if (~in_scope).any() else 1.0
    return float((in_acc + none_acc) / 2)


@dataclass
class Trained:
    """The models trained on one set of examples."""

    aspects: model.TextModel
    answerable: model.TextModel
    index: Index
    pair: model.PairModel

    def answerable_of(self, exs: Sequence[Example]) -> list[float]:
        """The answerable model's P(yes) for each of ``exs`` (held-out examples)."""
        yes = self.answerable.classes.index("yes")
        return [float(self.answerable.proba(e.text)[yes]) for e in exs]


def train_models(
    exs: Sequence[Example],
    aspect_pairs: Sequence[tuple[str, str]],
    nlu: Sequence[tuple[int, str]],
    c: float,
    threshold: float,
) -> Trained:
    """Aspect model, neighbour index and pair model on ``exs``."""
    aspects = fit_aspects([*aspect_pairs, *((e.asked, e.aspect) for e in exs if e.aspect)], c)
    idx = build_index(nlu, exs)
    rows = full_rows(exs, aspects, idx, True, out_of_fold_answerable(exs, nlu, c, int(MODEL["folds"])))
    mean, scale, coef, b = fit_pair(rows, [labels_of(e) for e in exs], c)
    answerable = fit_answerable(nlu, exs, c)
    return Trained(aspects, answerable, idx, model.PairModel(FEATURES, mean, scale, coef, b, threshold))


def out_of_fold_answerable(exs: Sequence[Example], nlu: Sequence[tuple[int, str]], c: float, folds: int) -> list[float]:
    """Each example's P(answerable) from a model trained without its author batch's fold.

    The pair model trains on these, so it learns how far the answerable model is to be trusted
    on batches it has not seen (as at run time), not on texts it learned by heart.
    """
    groups = sorted({e.group for e in exs})
    k = min(folds, len(groups))
    out = np.full(len(exs), 0.5)
    if k < 2:
        return list(out)
    for f in range(k):
        held = set(groups[f::k])
        inside = [e for e in exs if e.group not in held]
        if not any(e.expected for e in inside) or all(e.expected for e in inside):
            continue
        m = fit_answerable(nlu, inside, c)
        yes = m.classes.index("yes")
        for i, e in enumerate(exs):
            if e.group in held:
                out[i] = m.proba(e.text)[yes]
    return [float(p) for p in out]


def choose_threshold(
    exs: Sequence[Example],
    aspect_pairs: Sequence[tuple[str, str]],
    nlu: Sequence[tuple[int, str]],
    c: float,
    folds: int,
) -> float:
    """The threshold maximising :func:`score_at` on grouped cross-validation within ``exs``."""
    groups = sorted({e.group for e in exs})
    k = min(folds, len(groups))
    if k < 2:
        return 0.5
    best_p, best_right, in_scope = [], [], []
    for f in range(k):
        test_groups = set(groups[f::k])
        trained = train_models([e for e in exs if e.group not in test_groups], aspect_pairs, nlu, c, 0.5)
        test = [e for e in exs if e.group in test_groups]
        held = full_rows(test, trained.aspects, trained.index, False, trained.answerable_of(test))
        for e, rows in zip(test, held, strict=False):
            p = trained.pair.proba(rows)
            i = int(np.argmax(p))
            best_p.append(p[i])
            best_right.append(e.primaries[i] in e.expected)
            in_scope.append(bool(e.expected))
    bp, br, ins = np.array(best_p), np.array(best_right), np.array(in_scope)
    scores = [score_at(bp, br, ins, t) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


def train_bundle(
    base: model.Bundle,
    exs: Sequence[Example],
    aspect_pairs: Sequence[tuple[str, str]],
    nlu: Sequence[tuple[int, str]],
    meta: dict,
) -> model.Bundle:
    """The bundle trained on ``exs`` (threshold by inner grouped cross-validation)."""
    c, folds = float(MODEL["regularisation"]), int(MODEL["folds"])
    threshold = choose_threshold(exs, aspect_pairs, nlu, c, folds)
    trained = train_models(exs, aspect_pairs, nlu, c, threshold)
    return replace(
        base,
        aspects=trained.aspects,
        answerable=trained.answerable,
        pair=trained.pair,
        neighbours=trained.index.index,
        meta={**meta, "threshold": threshold, "examples": len(exs)},
    )


def placeholder(memory: Loaded, examples_: list[tuple[str, str]]) -> model.Bundle:
    """A bundle with the data-derived parts and untrained models (to compute rows before fitting)."""
    n = len(FEATURES)
    aspects = model.TextModel(tuple(ASPECTS), {}, np.zeros(0), np.zeros((len(ASPECTS), 0)), np.zeros(len(ASPECTS)))
    answerable = model.TextModel(model.ANSWERABLE_CLASSES, {}, np.zeros(0), np.zeros((2, 0)), np.zeros(2))
    pair = model.PairModel(FEATURES, np.zeros(n), np.ones(n), np.zeros(n), 0.0, 0.5)
    empty = np.zeros(0, dtype=np.int64)
    neighbours = model.NeighbourIndex(
        {}, np.zeros(0), np.zeros(1, dtype=np.int64), empty, np.zeros(0), empty.astype(bool), empty
    )
    return model.Bundle(
        aspects, answerable, pair, neighbours, intent_texts(memory, examples_), generic_words(memory, examples_), {}
    )


def nlu_measures(memory: Loaded, examples_: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """(measure, text) pairs that are answered for sure.

    They are the NLU examples of the intents the decision answers, and every sentence of every
    measure (a question that quotes a measure is answered by it).
    """
    out = [(memory.specs[i].primary, t) for i, t in examples_ if i in memory.specs]
    return out + [(m.number, s.text) for m in memory.measures.values() for s in m.sentences]
