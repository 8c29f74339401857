"""`python -m bot.quality.validate` (`make validate`): the project's data passes, broken copies fail.

Deliberately broken copies of the data are each caught with a message naming the file to change.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.quality.validate import CHECKS, MIN_EXAMPLES, Paths, Problem, run_checks, strip_markup
from tests.support.paths import ROOT


@pytest.fixture(scope="module")
def cli_on_project() -> subprocess.CompletedProcess:
    """The full command, Rasa's own validation included, on the project's files (run once: ~10 s)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.quality.validate"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


def test_project_data_passes_the_full_command(cli_on_project):
    assert cli_on_project.returncode == 0, cli_on_project.stdout[-4000:] + cli_on_project.stderr[-4000:]
    summary = cli_on_project.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"validate: all {len(CHECKS) + 1} checks passed") and "rasa" in summary


def test_project_data_passes_the_project_checks():
    assert run_checks() == []


@pytest.fixture
def copy(tmp_path) -> Paths:
    """The project's domain, data, intent map, alias table, lexicon and eval cases copied to tmp_path."""
    d = Paths.defaults()
    shutil.copytree(d.data, tmp_path / "data")
    for name in ("domain", "intents", "aliases", "lexicon", "cases", "privacy", "answerability", "topics"):
        shutil.copy(getattr(d, name), tmp_path / getattr(d, name).name)
    return dataclasses.replace(
        d,
        domain=tmp_path / "domain.yml",
        data=tmp_path / "data",
        intents=tmp_path / "intents.yml",
        aliases=tmp_path / "aliases.yml",
        lexicon=tmp_path / "lexicon.yml",
        cases=tmp_path / "eval_cases.yml",
        privacy=tmp_path / "privacy.yml",
        answerability=tmp_path / "answerability.yml",
        topics=tmp_path / "topics.yml",
    )


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _block(data: dict, intent: str) -> dict:
    return next(b for b in data["nlu"] if b.get("intent") == intent)


def _examples(block: dict) -> list[str]:
    return [line.strip()[2:] for line in block["examples"].splitlines() if line.strip()]


def _set_examples(block: dict, examples: list[str]) -> None:
    block["examples"] = "".join(f"- {e}\n" for e in examples)


def unmapped_ask_intent(p: Paths) -> None:
    _edit_yaml(p.domain, lambda d: d["intents"].append("ask_parking_permit"))
    examples = [f"小区停车证第{i}次怎么办理" for i in range(MIN_EXAMPLES)]
    _edit_yaml(
        p.data / "nlu" / "residents.yml",
        lambda d: d["nlu"].append({"intent": "ask_parking_permit", "examples": "".join(f"- {e}\n" for e in examples)}),
    )


def duplicate_example(p: Paths) -> None:
    def change(d):
        graduate = _block(d, "ask_settle_graduate_materials")
        skilled = _block(d, "ask_settle_skilled_worker")
        _set_examples(skilled, _examples(skilled) + [_examples(graduate)[0]])

    _edit_yaml(p.data / "nlu" / "residents.yml", change)


def orphan_measure(p: Paths) -> None:
    def change(d):
        answering = [name for name, spec in d["intents"].items() if 50 in spec["measures"]]
        assert answering == ["ask_business_environment_publicity"]
        del d["intents"]["ask_business_environment_publicity"]

    _edit_yaml(p.intents, change)


def bad_alias(p: Paths) -> None:
    _edit_yaml(p.aliases, lambda d: d["aliases"].update({"飞行执照": "飞机驾驶证"}))


def too_few_examples(p: Paths) -> None:
    def change(d):
        block = _block(d, "ask_seal_engraving")
        _set_examples(block, _examples(block)[:5])

    _edit_yaml(p.data / "nlu" / "residents.yml", change)


def missing_response(p: Paths) -> None:
    _edit_yaml(
        p.data / "rules" / "conversation.yml",
        lambda d: d["rules"].append({"rule": "say sorry", "steps": [{"intent": "goodbye"}, {"action": "utter_sorry"}]}),
    )


def leaked_eval_case(p: Paths) -> None:
    question = yaml.safe_load(p.cases.read_text(encoding="utf-8"))[0]["question"]

    def change(d):
        block = _block(d, "ask_settle_graduate_materials")
        _set_examples(block, _examples(block) + [question])

    _edit_yaml(p.data / "nlu" / "residents.yml", change)


def placeholder_with_digits(p: Paths) -> None:
    _edit_yaml(p.privacy, lambda d: d["placeholders"].update({"mobile": "[138手机号]"}))


def intent_on_no_topic(p: Paths) -> None:
    def change(d):
        d["topics"]["settlement"]["intents"].append("ask_parking_permit")
        d["topics"]["complaint"]["intents"].remove("ask_business_environment_publicity")

    _edit_yaml(p.topics, change)


def unknown_fact_type(p: Paths) -> None:
    _edit_yaml(p.answerability, lambda d: d["aspects"]["time"].update({"facts": ["deadline"]}))


BREAKAGES = {
    "intent on no topic": (intent_on_no_topic, "answerability", "topics.yml", ["ask_parking_permit", "does not map"]),
    "unknown fact type": (unknown_fact_type, "answerability", "answerability.yml", ["'time'", "deadline"]),
    # name: (how to break the copy, check, file named, words the problem must contain)
    "unmapped ask_ intent": (
        unmapped_ask_intent,
        "domain-intents",
        "domain.yml",
        ["ask_parking_permit", "not mapped", "intents.yml"],
    ),
    "duplicate example": (
        duplicate_example,
        "duplicate-examples",
        "data/nlu/residents.yml",
        ["ask_settle_graduate_materials", "ask_settle_skilled_worker", "2 intents"],
    ),
    "orphan measure": (orphan_measure, "measure-coverage", "intents.yml", ["measure 50 is answered by no intent"]),
    "bad alias": (bad_alias, "aliases", "aliases.yml", ["飞行执照 → 飞机驾驶证", "not a term of the knowledge base"]),
    "too few examples": (
        too_few_examples,
        "example-count",
        "data/nlu/residents.yml",
        ["ask_seal_engraving", "has 5 training examples", f"fewer than {MIN_EXAMPLES}"],
    ),
    "rule with a missing response": (
        missing_response,
        "responses",
        "data/rules/conversation.yml",
        ["'say sorry'", "utter_sorry", "not in", "domain.yml"],
    ),
    "placeholder with digits": (
        placeholder_with_digits,
        "privacy",
        "privacy.yml",
        ["placeholders.mobile", "without digits"],
    ),
    "eval case in the training data": (
        leaked_eval_case,
        "eval-leak",
        "data/nlu/residents.yml",
        ["ask_settle_graduate_materials", "case 1 of", "eval_cases.yml"],
    ),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_broken_copy_is_caught(copy, tmp_path, name):
    assert run_checks(copy) == [], "the unbroken copy must pass"
    breakage, check, file, words = BREAKAGES[name]
    breakage(copy)
    problems = run_checks(copy)
    found = [p for p in problems if p.check == check]
    assert found, f"{check} missed it; got {[str(p) for p in problems]}"
    problem = found[0]
    assert problem.file == str(tmp_path / file), str(problem)
    assert all(w in problem.problem for w in words), str(problem)
    assert problem.fix and str(problem) == f"{problem.file}: {problem.problem} — fix: {problem.fix}"
    # nothing else is blamed for the one breakage, except an orphan measure, whose intent is
    # also gone from the map while still in the domain and the rules
    others = {p.check for p in problems} - {check}
    assert others <= ({"domain-intents", "answer-rules", "answerability"} if name == "orphan measure" else set()), (
        problems
    )


def test_cli_exits_non_zero_on_a_broken_copy(copy, tmp_path):
    too_few_examples(copy)
    missing_response(copy)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.quality.validate",
            "--domain",
            str(copy.domain),
            "--data",
            str(copy.data),
            "--intents",
            str(copy.intents),
            "--aliases",
            str(copy.aliases),
            "--lexicon",
            str(copy.lexicon),
            "--cases",
            str(copy.cases),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"{tmp_path}/data/nlu/residents.yml: intent ask_seal_engraving has 5 training examples" in result.stdout
    assert any(
        line.startswith(f"{tmp_path}/data/rules/conversation.yml: rule 'say sorry' uses response utter_sorry")
        and " — fix: add utter_sorry under `responses:`" in line
        for line in lines
    )
    # Rasa's own validation ran on the same copy and failed on the unknown response too
    assert any("(rasa data validate)" in line and "utter_sorry" in line and " — fix: " in line for line in lines), (
        result.stdout
    )
    assert lines[-1].startswith("validate: ") and "problems" in lines[-1] and "example-count 1" in lines[-1]


def test_cli_skip_rasa_on_a_broken_copy(copy):
    bad_alias(copy)
    result = subprocess.run(
        [sys.executable, "-m", "bot.quality.validate", "--skip-rasa", "--aliases", str(copy.aliases)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "aliases.yml: alias 飞行执照 → 飞机驾驶证" in result.stdout, result.stdout


def test_unreadable_file_is_a_problem_not_a_crash(copy, tmp_path):
    copy.intents.write_text("intents: [unclosed\n", encoding="utf-8")
    problems = run_checks(copy)
    assert [p.check for p in problems] == ["files"]
    assert problems[0].file == str(tmp_path / "intents.yml") and "not valid UTF-8 YAML" in problems[0].problem


def test_strip_markup():
    assert strip_markup("看第[22](measure_number)项原文") == "看第22项原文"
    assert strip_markup('[暂住证]{"entity": "document", "value": "居住证"}怎么办') == "暂住证怎么办"


def test_problem_format():
    p = Problem("x", "domain.yml", "intent a is unmapped", "map it")
    assert str(p) == "domain.yml: intent a is unmapped — fix: map it"


def test_makefile_validate_runs_the_module():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nvalidate:", 1)[1].split("\n\n", 1)[0]
    assert "$(PY) -m bot.quality.validate" in recipe
