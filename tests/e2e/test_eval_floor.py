"""The eval command through the running stack, with floors a little under the measured figures.

The figures are the README's ("Accuracy"); a regression in data, pipeline or actions fails CI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.quality.evaluate import evaluate, load_cases
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e

FLOORS = {"in_scope_accuracy": 0.94, "no_measure_accuracy": 0.95, "facts_accuracy": 0.93}


# The near-scope, follow-up and story sets (README, "Evaluation"): nothing may be cited where the
# notice does not answer, and follow-ups and stories must keep their answers.
DEV_SETS = ("near_scope_cases.yml", "dialogue_cases.yml")
DEV_FLOORS = {"in_scope_accuracy": 0.9, "no_measure_accuracy": 0.94, "facts_accuracy": 0.9}


@pytest.fixture(scope="module")
def report(running_bot):
    cases = load_cases(ROOT / "tests" / "data" / "eval_cases.yml")
    return evaluate(cases, url=running_bot["url"], token=running_bot["token"])


@pytest.fixture(scope="module")
def dev_report(running_bot):
    cases = [c for name in DEV_SETS for c in load_cases(ROOT / "tests" / "data" / name)]
    return evaluate(cases, url=running_bot["url"], token=running_bot["token"])


@pytest.mark.parametrize("figure, floor", FLOORS.items())
def test_accuracy_floor(report, figure, floor):
    assert report["summary"][figure] >= floor, json.dumps(report["summary"], ensure_ascii=False)


@pytest.mark.parametrize("figure, floor", DEV_FLOORS.items())
def test_near_scope_follow_up_and_story_floor(dev_report, figure, floor):
    assert dev_report["summary"][figure] >= floor, json.dumps(dev_report["summary"], ensure_ascii=False)


def test_results_follow_the_case_file(report):
    cases = load_cases(ROOT / "tests" / "data" / "eval_cases.yml")
    assert len(report["cases"]) == len(cases)
    first = report["cases"][0]
    assert {"expected", "cited", "intent", "confidence", "reply", "latency_ms"} <= set(first)
    assert first["question"] == cases[0].turns[0]
    assert all(r["intent"] for r in report["cases"])


def test_eval_cli_against_a_running_stack(running_bot, tmp_path):
    cases = tmp_path / "cases.yml"
    cases.write_text(
        "- question: 身份证寄到乡下要等几天\n  measures: [26]\n  facts: [10个工作日]\n"
        "- turns: [居住证要什么条件, 那办了以后有啥用]\n  measures: [24]\n"
        "- question: 明天会下雨吗\n  measures: []\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "eval",
            str(cases),
            "--out",
            str(out),
            "--url",
            running_bot["url"],
            "--token",
            running_bot["token"],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [c["cited"][:1] for c in data["cases"]] == [[26], [24], []]
    assert "in-scope accuracy" in result.stdout


def test_eval_cli_rejects_a_bad_case_file(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- question: 落户\n  measures: [77]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "eval", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "case 1" in result.stderr and "Traceback" not in result.stderr
