"""The decision's own data, checked by ``make validate``.

* ``decision-data``: ``knowledge/decision.yml`` and ``knowledge/coverage.yml`` parse; every coverage
  quote occurs in its measure's text (the quote names the sentence that states the aspect); every
  labelled case file of training and cross-validation parses.
* ``decision-replay`` (needs ``make train``): every intent's own training examples and every
  measure's own sentences, through NLU and the decision as the server runs them, never come back
  ``not_covered``: a question the data says is answered must not be refused.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Iterator

from bot.config import PROJECT_ROOT
from bot.quality.validate.inputs import Inputs, Problem, show

SENTENCE_END = re.compile(r"(?<=[。；！？])")


def check_decision_data(inputs: Inputs) -> Iterator[Problem]:
    """The settings, the coverage table and the labelled case files."""
    from actions.decision.settings import SETTINGS_FILE, DecisionSettingsError
    from actions.decision.settings import load as load_settings
    from bot.quality.decision.run import case_files
    from knowledge.coverage import COVERAGE_FILE, Coverage, CoverageError, check_quotes, load_coverage
    from knowledge.parser import SourceError, parse_file

    coverage = None
    for path, read, error in (
        (SETTINGS_FILE, load_settings.__wrapped__, DecisionSettingsError),
        (COVERAGE_FILE, load_coverage, CoverageError),
    ):
        try:
            loaded = read(path)
        except error as exc:
            yield Problem(
                "decision-data",
                show(path),
                str(exc).removeprefix(f"{path}: "),
                "see the comments at the top of the file",
            )
            continue
        if isinstance(loaded, Coverage):
            coverage = loaded
    try:
        document = parse_file(inputs.paths.source)
    except SourceError:
        document = None  # the measure-coverage check reports the source
    if coverage is not None and document is not None:
        sentences = {m.number: [s for s in SENTENCE_END.split(m.text) if s] for m in document.measures}
        for problem in check_quotes(coverage, sentences, show(COVERAGE_FILE)):
            where, _, what = problem.partition(": ")
            yield Problem(
                "decision-data", where, what, "quote words of one sentence of the measure, or remove the entry"
            )
    for path in case_files():
        wrong = _case_file_problem(path, path.stat().st_mtime_ns)
        if wrong is not None:
            yield Problem("decision-data", show(path), wrong, "see bot/quality/decision/cases.py")


@functools.lru_cache(maxsize=64)
def _case_file_problem(path: Path, mtime_ns: int) -> str | None:
    """What is wrong with one case file (read once per version of the file)."""
    from bot.quality.decision.cases import CaseFileError
    from bot.quality.decision.cases import load as load_cases

    try:
        load_cases(path)
    except CaseFileError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None


def check_decision_replay(inputs: Inputs) -> Iterator[Problem]:
    """No training example of an intent and no sentence of a measure is refused.

    The trained models are the project's: on another data folder (a copy under test) the check has
    nothing to replay. The replay runs once per pair of model files in a process.
    """
    from bot import config
    from bot.ops.training import decision_model_path, model_path

    if inputs.paths.data.resolve() != (PROJECT_ROOT / "data").resolve():
        return
    settings = config.load()
    rasa_model, decision_model = model_path(settings), decision_model_path(settings)
    if not rasa_model.is_file() or not decision_model.is_file():
        yield Problem(
            "decision-replay",
            show(settings.models_dir),
            "no trained model for the current data",
            "run `make train` (make validate does)",
        )
        return
    for where, text, decision in _refused(rasa_model, decision_model):
        yield Problem(
            "decision-replay",
            where,
            f"{text!r} is refused (not_covered: {decision.get('reason')})",
            "the data says it is answered: add near questions as training examples, or coverage entries",
        )


@functools.lru_cache(maxsize=4)
def _refused(rasa_model: Path, decision_model: Path) -> tuple[tuple[str, str, dict], ...]:
    from bot import config
    from bot.quality.decision.run import replay_known

    return tuple(replay_known(config.load(), rasa_model, decision_model))
