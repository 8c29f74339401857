"""The console's wording file: every reply has its place in the dashboard, every code its label."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.replies import load_replies
from bot.webapp.console import wording
from tests.support.paths import ROOT

CJK = re.compile(r"[\u4e00-\u9fff]")


def _domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def _all_reply_names() -> set[str]:
    return set(load_replies()) | set(_domain()["responses"])


def test_every_reply_has_one_outcome_or_none_on_purpose():
    placed = set(wording.outcome_of_reply()) | set(wording.load()["not_outcomes"])
    missing = _all_reply_names() - placed
    assert not missing, f"replies with no outcome in wording.yml (add them under outcomes or not_outcomes): {missing}"


def test_the_outcomes_name_only_replies_that_exist():
    listed = set(wording.outcome_of_reply()) | set(wording.load()["not_outcomes"])
    assert listed - _all_reply_names() == set()


def test_every_intent_has_a_chinese_label():
    labels = wording.intent_labels()
    intents = [i if isinstance(i, str) else next(iter(i)) for i in _domain()["intents"]] + ["nlu_fallback"]
    for intent in intents:
        assert CJK.search(labels.get(intent, "")), f"{intent} has no Chinese label"


@pytest.mark.parametrize(
    "section", ["outcomes", "reasons", "channels", "roles", "verdicts", "feedback", "errors", "csv"]
)
def test_every_label_is_chinese(section):
    for code, entry in wording.load()[section].items():
        text = entry["label"] if isinstance(entry, dict) else entry
        assert CJK.search(text), f"{section}.{code} = {text!r} is not Chinese"


@pytest.mark.parametrize(
    "bad, message",
    [
        ("outcomes: []\n", "must be a mapping"),
        ("outcomes:\n  a: {replies: [x]}\n", "needs a label"),
        ("outcomes:\n  a: {label: 甲, replies: x}\n", "list of reply names"),
        ("outcomes:\n  a: {label: 甲, replies: [x]}\n  b: {label: 乙, replies: [x]}\n", "under both"),
        ("not_outcomes: [x]\noutcomes:\n  a: {label: 甲, replies: [x]}\n", "under both"),
        ("not_outcomes: 3\noutcomes: {}\n", "not_outcomes"),
        ("- a list\n", "mapping"),
        ("outcomes: {\n", None),
    ],
)
def test_a_malformed_wording_file_is_refused(tmp_path, bad, message):
    sections = {s: {"k": "值"} for s in wording.SECTIONS if s != "outcomes"}
    base = yaml.safe_dump({**sections, "not_outcomes": []}, allow_unicode=True)
    path = tmp_path / "wording.yml"
    path.write_text(base + bad if not bad.startswith("- ") else bad, encoding="utf-8")
    with pytest.raises(wording.WordingError, match=message):
        wording.load(path)


def test_label_falls_back_to_the_code_and_error_fills_values():
    assert wording.label("reasons", "no_such_code") == "no_such_code"
    assert wording.label("outcomes", "answered") == "依据措施作答"
    assert "4096" in wording.error("too_large", limit=4096)
    with pytest.raises(KeyError):
        wording.error("no_such_error")
