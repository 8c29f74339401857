"""The evaluation case file is well-formed, broad enough, and disjoint from the training data."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from bot.quality.evaluate import CaseFileError, load_cases, summarise
from tests.support.paths import ROOT

CASES = ROOT / "tests" / "data" / "eval_cases.yml"


def training_examples() -> set[str]:
    """Every intent example under data/, entity markup removed (lookup tables are not examples)."""
    examples = set()
    for path in (ROOT / "data").rglob("*.yml"):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" not in block:
                continue
            for line in (block.get("examples") or "").splitlines():
                text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip()[2:].strip())
                if text:
                    examples.add(text)
    return examples


ALL_CASE_FILES = sorted(CASES.parent.glob("*_cases.yml"))


@pytest.mark.parametrize("path", ALL_CASE_FILES, ids=[p.name for p in ALL_CASE_FILES])
def test_no_case_question_is_in_the_training_data(path):
    examples = training_examples()
    leaked = [turn for case in load_cases(path) for turn in case.turns if turn.strip() in examples]
    assert not leaked, f"eval questions found verbatim in data/: {leaked}"


def test_dev_sets_cover_what_the_notice_does_not_answer_follow_ups_and_stories():
    near = load_cases(CASES.parent / "near_scope_cases.yml")
    dialogue = load_cases(CASES.parent / "dialogue_cases.yml")
    assert len(near) >= 80 and all(not c.measures for c in near)
    subtypes = Counter(t for c in near for t in c.tags if t != "near_scope")
    assert {"fee", "validity", "frequency", "replacement", "other_agency", "other_region", "unstated_aspect"} <= set(
        subtypes
    )
    assert sum(1 for c in dialogue if "followup" in c.tags and len(c.turns) >= 2) >= 40
    assert sum(1 for c in dialogue if "story" in c.tags) >= 40


def test_case_file_is_broad():
    cases = load_cases(CASES)
    assert len(cases) >= 250
    primaries = Counter(c.measures[0] for c in cases if c.measures)
    assert all(primaries[n] >= 3 for n in range(1, 51)), {n: primaries[n] for n in range(1, 51) if primaries[n] < 3}
    assert sum(1 for c in cases if not c.measures) >= 30
    assert sum(1 for c in cases if len(c.turns) > 1) >= 5


def test_facts_are_in_the_expected_measures(sqlite_kb_url):
    from knowledge.repository import KnowledgeBase

    kb = KnowledgeBase(sqlite_kb_url)
    texts = {m.number: m.text for m in kb.measures()}
    bad = [(c.turns, f) for c in load_cases(CASES) for f in c.facts if not any(f in texts[n] for n in c.measures)]
    assert not bad


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "non-empty YAML list"),
        ("- question: 落户\n", "'measures' must be a list"),
        ("- question: 落户\n  turns: [a]\n  measures: []\n", "exactly one of"),
        ("- turns: []\n  measures: []\n", "non-empty list of strings"),
        ("- question: 落户\n  measures: [99]\n", "1-50"),
        ("- question: 落户\n  measures: [22]\n  answer: x\n", "unknown keys"),
        ("- [not, a, mapping]\n", "expected a mapping"),
        ("- question: 落户\n  measures: [22\n", "not valid UTF-8 YAML"),
        ("question: 落户\nmeasures: [22]\n", "expected a list at the top level"),  # a mapping: was a 500
        ("居住证怎么办\n", "expected a list at the top level"),
        # a billion laughs: nine levels of nine aliases each
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
            "aliases",
        ),
        ("- &q 落户\n- *q\n", "aliases"),
        ("- question: 落户\n  measures: []\n" + "#" * (3 * 1024 * 1024), "larger than"),
        # the console attack's 500s: nested 3,000 deep (RecursionError), mixed key types, a long question
        ("- " + "[" * 3000 + "]" * 3000 + "\n", "nested more than 32 levels"),
        ("- " + "{a: " * 3000 + "x" + "}" * 3000 + "\n", "nested more than 32 levels"),
        ("- question: 落户\n  measures: [22]\n  1: x\n", "keys must be text"),
        ("- turns: [{text: 落户, measures: [22]}]\n  7: x\n", "keys must be text"),
        (f"- question: {'问' * 70_000}\n  measures: [22]\n", "over 2000 characters"),
    ],
)
def test_malformed_case_files(tmp_path, content, message):
    path = tmp_path / "cases.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CaseFileError, match=message):
        load_cases(path)


def test_case_files_over_the_node_limit_are_refused(tmp_path, monkeypatch):
    from bot.quality import evaluate

    # the limit is 200,000 nodes; a lower one shows the same refusal without parsing 200,000 of them
    monkeypatch.setattr(evaluate, "MAX_CASE_FILE_NODES", 1000)
    path = tmp_path / "cases.yml"
    path.write_text("[" + ", ".join(["1"] * 1500) + "]", encoding="utf-8")
    with pytest.raises(CaseFileError, match="more than 1000 YAML nodes"):
        load_cases(path)


def test_summary_arithmetic():
    results = [
        {"expected": [22], "cited": [22], "correct": True, "latency_ms": 10.0, "tags": ["a"], "facts_found": True},
        {"expected": [22], "cited": [23], "correct": False, "latency_ms": 30.0, "tags": ["a"]},
        {"expected": [], "cited": [], "correct": True, "latency_ms": 20.0, "tags": [], "facts_found": False},
    ]
    s = summarise(results)
    assert (s["in_scope_accuracy"], s["no_measure_accuracy"], s["facts_accuracy"]) == (0.5, 1.0, 0.5)
    assert s["latency_ms_p50"] == 20.0 and s["by_tag"]["a"] == {"cases": 2, "accuracy": 0.5}
