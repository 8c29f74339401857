"""Summarise an NLU cross-validation run (``make crossval``) as Markdown.

Reads Rasa's ``intent_report.json`` (default ``var/crossval/intent_report.json``, written by
``rasa test nlu --cross-validation``: the test folds' predictions pooled) and prints macro and
weighted F1, accuracy, how many wrong predictions the live bot would have turned into a
clarification (below config.yml's FallbackClassifier threshold; ``intent_errors.json`` beside the
report), and a table of the worst intents by F1 with what they are confused with.

Usage: ``.venv/bin/python bench/crossval_summary.py [REPORT.json] [--worst 10]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_KEYS = ("accuracy", "macro avg", "weighted avg", "micro avg")


def fallback_threshold(config: Path = ROOT / "config.yml") -> float | None:
    """The FallbackClassifier's threshold in the NLU config, if it has one."""
    import yaml

    for component in (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))
    return None


def summarise(report: dict, worst: int = 10, errors: list | None = None, threshold: float | None = None) -> str:
    """The Markdown summary of one intent report (and of its errors file, when given).

    Rasa scores the classifier's top intent even where FallbackClassifier would have answered
    ``nlu_fallback``; the live bot asks "您是想问" there instead of answering wrongly, so the
    errors below the threshold are counted apart.
    """
    intents = {name: row for name, row in report.items() if name not in SUMMARY_KEYS and isinstance(row, dict)}
    lines = [
        "| figure | value |",
        "| --- | ---: |",
        f"| macro F1 ({len(intents)} intents) | {report['macro avg']['f1-score']:.3f} |",
        f"| weighted F1 ({report['weighted avg']['support']} examples) | {report['weighted avg']['f1-score']:.3f} |",
    ]
    if isinstance(report.get("accuracy"), (int, float)):
        lines.append(f"| accuracy | {report['accuracy']:.3f} |")
    if errors is not None and threshold is not None:
        unsure = sum(1 for e in errors if (e.get("intent_prediction") or {}).get("confidence", 1.0) < threshold)
        lines.append(f"| wrong predictions | {len(errors)} |")
        lines.append(
            f"| … of which below the fallback threshold {threshold:g} (clarified live, not answered) | {unsure} |"
        )
    ranked = sorted(intents.items(), key=lambda item: (item[1]["f1-score"], item[0]))[:worst]
    lines += [
        "",
        f"The {len(ranked)} weakest intents:",
        "",
        "| intent | F1 | precision | recall | support | most confused with |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in ranked:
        confused = row.get("confused_with") or {}
        top = ", ".join(f"{other} ({n})" for other, n in list(confused.items())[:2]) or "—"
        lines.append(
            f"| `{name}` | {row['f1-score']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['support']} | {top} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=ROOT / "var" / "crossval" / "intent_report.json")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml", help="for the fallback threshold")
    parser.add_argument("--worst", type=int, default=10, help="how many intents to list (default 10)")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"{args.report}: not found — run `make crossval` first", file=sys.stderr)
        return 1
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{args.report}: not a Rasa intent report: {exc}", file=sys.stderr)
        return 1
    if not isinstance(report, dict) or "macro avg" not in report or "weighted avg" not in report:
        print(f"{args.report}: not a Rasa intent report (no 'macro avg' / 'weighted avg')", file=sys.stderr)
        return 1
    errors_path = args.report.with_name("intent_errors.json")
    errors = json.loads(errors_path.read_text(encoding="utf-8")) if errors_path.is_file() else None
    print(summarise(report, args.worst, errors, fallback_threshold(args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
