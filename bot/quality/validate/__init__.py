"""``python -m bot.quality.validate`` (``make validate``): cross-check the data, domain and knowledge files.

It checks the training data, the domain and the knowledge files against each other before training.

It runs ``rasa data validate --fail-on-warnings`` (a subprocess with this Python) and the project's
own checks below, prints each problem as ``<file>: <problem> — fix: <what to do>`` and a short
summary, and exits 1 when anything failed, 0 otherwise (2 for bad arguments).

Every input path is an option (``--domain``, ``--data``, ``--intents``, ``--aliases``,
``--lexicon``, ``--cases`` …) defaulting to the project's files, so tests can point the checks at
deliberately broken copies; :func:`run_checks` is the in-process entry point, without Rasa.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from bot.quality.validate.checks import (
    CHECKS,
    REPLY_USE,
    Check,
    check_aliases,
    check_answer_rules,
    check_answerability,
    check_documents,
    check_domain_intents,
    check_duplicate_examples,
    check_eval_leak,
    check_example_count,
    check_measure_coverage,
    check_privacy,
    check_responses,
    knowledge_base_measures,
    run_checks,
)
from bot.quality.validate.inputs import (
    ANSWER_ACTION,
    MEASURES,
    MIN_EXAMPLES,
    Example,
    Flow,
    InputError,
    Inputs,
    Paths,
    Problem,
    Step,
    read_inputs,
    show,
    strip_markup,
)
from bot.quality.validate.rasa import run_rasa

# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    d = Paths.defaults()
    parser = argparse.ArgumentParser(
        prog="python -m bot.quality.validate",
        description="Check the Rasa data, the domain and knowledge/ against each other "
        "(rasa data validate --fail-on-warnings plus the project's own checks).",
    )
    options = {
        "domain": "the Rasa domain",
        "data": "the training data folder (nlu/, rules/, stories/)",
        "intents": "the intent → measure map",
        "aliases": "the alias table",
        "lexicon": "the term lexicon",
        "cases": "the evaluation cases",
        "source": "the notice",
        "replies": "the action replies",
        "actions": "the actions package (folder of .py files)",
        "config": "the Rasa config (for rasa data validate)",
        "privacy": "the redaction placeholders",
        "answerability": "what questions ask and what answers them",
        "topics": "the topics and their measures",
    }
    for name, what in options.items():
        parser.add_argument(
            f"--{name}", type=Path, default=getattr(d, name), help=f"{what} (default: {show(getattr(d, name))})"
        )
    parser.add_argument("--skip-rasa", action="store_true", help="only the project's own checks (fast)")
    args = parser.parse_args(argv)
    paths = Paths(**{name: getattr(args, name).resolve() for name in options})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    problems = run_checks(paths)
    if not args.skip_rasa:
        problems += run_rasa(paths)
    for problem in problems:
        print(problem)
    checks = [c.key for c in CHECKS] + ([] if args.skip_rasa else ["rasa"])
    if problems:
        failed = Counter(p.check for p in problems)
        detail = ", ".join(f"{key} {n}" for key, n in failed.items())
        print(
            f"\nvalidate: {len(problems)} problem{'s' if len(problems) != 1 else ''} ({detail}); "
            f"{len(checks) - len([c for c in checks if c in failed])} of {len(checks)} checks passed"
        )
        return 1
    print(
        f"validate: all {len(checks)} checks passed ({', '.join(checks)})"
        + (" — rasa data validate skipped" if args.skip_rasa else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ANSWER_ACTION",
    "CHECKS",
    "Check",
    "Example",
    "Flow",
    "InputError",
    "Inputs",
    "MEASURES",
    "MIN_EXAMPLES",
    "Paths",
    "Problem",
    "REPLY_USE",
    "Step",
    "check_aliases",
    "check_answer_rules",
    "check_answerability",
    "check_documents",
    "check_domain_intents",
    "check_duplicate_examples",
    "check_eval_leak",
    "check_example_count",
    "check_measure_coverage",
    "check_privacy",
    "check_responses",
    "knowledge_base_measures",
    "read_inputs",
    "run_checks",
    "run_rasa",
    "show",
    "strip_markup",
    "main",
]
