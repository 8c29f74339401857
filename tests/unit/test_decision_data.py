"""The decision's input files refuse bad input with the file, the entry and the line.

knowledge/decision.yml (settings), knowledge/coverage.yml (the coverage table) and the labelled
case files of training and cross-validation; the shipped files pass.
"""

from __future__ import annotations

import pytest
import yaml

from actions.decision import settings
from bot.quality.decision import cases
from bot.quality.decision.run import case_files
from bot.quality.evaluate import load_cases
from knowledge import coverage
from tests.support.paths import ROOT


def test_the_shipped_files_pass():
    assert settings.load.__wrapped__(settings.SETTINGS_FILE)["model"]["candidates"] >= 1
    table = coverage.load_coverage()
    assert set(table.measures) == set(range(1, 51))
    assert sum(len(c.turns) for c in cases.load_all(case_files())) > 3000


def _settings_text(**changes) -> str:
    data = yaml.safe_load(settings.SETTINGS_FILE.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        section, _, name = dotted.partition("__")
        if value is None:
            data[section].pop(name)
        else:
            data[section][name] = value
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model__folds": 1}, "model.folds must be an integer from 2"),
        ({"model__aspect_confident": "high"}, "model.aspect_confident must be a number"),
        ({"reading__story_min_chars": True}, "reading.story_min_chars"),
        ({"rules__nlu_sure": 1.5}, "rules.nlu_sure"),
        ({"rules__nlu_sure": None}, "rules.nlu_sure"),
        ({"model__surprise": 3}, "unknown entries ['surprise']"),
        ({"model__nameable_aspects": ["fee", "price"]}, "model.nameable_aspects must be a list of"),
    ],
)
def test_bad_settings_are_refused_with_file_entry_and_line(tmp_path, changes, message):
    path = tmp_path / "decision.yml"
    path.write_text(_settings_text(**changes), encoding="utf-8")
    with pytest.raises(settings.DecisionSettingsError) as caught:
        settings.load.__wrapped__(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
    assert "line" in str(caught.value)


@pytest.mark.parametrize("text", ["version: 2\nreading: {}\n", "[1, 2]\n", "version: 1\n", "reading: [\n"])
def test_malformed_settings_files_are_refused(tmp_path, text):
    path = tmp_path / "decision.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(settings.DecisionSettingsError, match=str(path)):
        settings.load.__wrapped__(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 1\nmeasures:\n  22:\n    price: 毕业证\n", "measure 22: 'price' is not an aspect"),
        ("version: 1\nmeasures:\n  22:\n    fee: ''\n", "measure 22: fee: the quote must be a non-empty text"),
        ("version: 1\nmeasures:\n  x:\n    fee: 免费\n", "measure 'x' is not a measure number"),
        ("version: 1\nmeasures:\n  22: [fee]\n", "measure 22: expected aspect: quote entries"),
        ("version: 1\nmeasures: {}\nextra: 1\n", "unknown keys"),
        ("measures: {}\n", "version: 1"),
    ],
)
def test_a_bad_coverage_table_is_refused(tmp_path, text, message):
    path = tmp_path / "coverage.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(coverage.CoverageError) as caught:
        coverage.load_coverage(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
    if "measure 22" in message:
        assert "(line 3)" in str(caught.value)


def test_coverage_quotes_are_checked_against_the_measures():
    table = coverage.Coverage({22: {"materials": "毕业证", "fee": "免费办理"}, 99: {"fee": "x"}})
    problems = coverage.check_quotes(table, {22: ["凭毕业证和身份证办理落户。"], 23: ["…"]}, "coverage.yml")
    assert any("measure 22: fee: '免费办理' is in none of its sentences" in p for p in problems)
    assert any("measure 23 has no entry" in p for p in problems)
    assert any("measure 99 is not in the knowledge base" in p for p in problems)
    assert not any("materials" in p for p in problems)


@pytest.mark.parametrize(
    "item, message",
    [
        ("- question: 身份证要几天\n  measures: [26]\n  aspect: price\n", "aspect 'price'"),
        ("- question: 身份证要几天\n  measures: [51]\n", "measure numbers 1-50"),
        ("- question: ''\n  measures: []\n", "non-empty text"),
        ("- question: 身份证要几天\n  turns: [a, b]\n  measures: []\n", "exactly one of"),
        (
            "- question: 身份证要几天？刻章呢？\n  measures: [26]\n"
            "  parts: [{text: 不在里面, measures: [26]}, {text: 刻章呢, measures: [25]}]\n",
            "a piece of the question",
        ),
        ("- question: 身份证要几天\n  measures: [26]\n  batch: 7\n", "'batch' must be a text"),
        ("- question: 身份证要几天\n  measures: [26]\n  secret: 1\n", "unknown keys ['secret']"),
        ("- turns: [{question: 居住证怎么办, measures: [24]}, {question: 那要多久, oops: 1}]\n", "turn 2"),
    ],
)
def test_a_bad_case_is_refused_with_file_case_and_line(tmp_path, item, message):
    path = tmp_path / "cases.yml"
    path.write_text("- question: 刻章要多久\n  measures: [25]\n" + item, encoding="utf-8")
    with pytest.raises(cases.CaseFileError) as caught:
        cases.load(path)
    assert str(path) in str(caught.value) and "case 2 (line 3)" in str(caught.value) and message in str(caught.value)


def test_the_writers_layout_runs_through_make_eval_one_case_per_judged_turn():
    path = ROOT / "tests" / "data" / "blind" / "b07.yml"
    conversations = cases.load(path)
    judged = sum(1 for c in conversations for t in c.turns if t.measures is not None)
    loaded = load_cases(path)
    assert len(loaded) == judged
    dialogue = next(c for c in loaded if len(c.turns) > 1)
    assert dialogue.raw == {"turns": list(dialogue.turns)}
