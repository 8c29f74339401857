"""The coverage table ``knowledge/coverage.yml``: which aspects each measure states, with a quote.

:data:`ASPECTS` is the one list of what residents ask (the aspect model's classes, the writers'
labels, the table's keys). :func:`load_coverage` checks the file's shape; :func:`check_quotes`
checks every quote against the measures' sentences (``make validate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from knowledge.yamlfile import entry_lines, read_yaml

COVERAGE_FILE = Path(__file__).with_name("coverage.yml")

ASPECTS = (
    "conditions",
    "materials",
    "time",
    "fee",
    "validity",
    "frequency",
    "visits",
    "place",
    "channel",
    "replacement",
    "penalty",
    "hours",
    "contact",
    "process",
    "benefits",
    "reminder",
    "status",
    "age",
    "other",
    "general",
)
# Asked aspects every measure answers: a broad question on what the measure is about.
ALWAYS_COVERED = frozenset({"general"})


class CoverageError(ValueError):
    """The coverage table is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Coverage:
    """measure number → aspect → quote."""

    measures: Mapping[int, Mapping[str, str]]

    def states(self, numbers: Iterable[int], aspect: str) -> bool:
        """True when one of the measures ``numbers`` states ``aspect``."""
        return aspect in ALWAYS_COVERED or any(aspect in self.measures.get(n, {}) for n in numbers)


def parse(data: object, where: str) -> Coverage:
    """Check a loaded table and return it."""
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("measures"), dict):
        raise CoverageError(f"{where}: expected a mapping with version: 1 and measures")
    if set(data) - {"version", "measures"}:
        raise CoverageError(f"{where}: unknown keys {sorted(set(data) - {'version', 'measures'})}")
    out: dict[int, dict[str, str]] = {}
    for number, entry in data["measures"].items():
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise CoverageError(f"{where}: measure {number!r} is not a measure number")
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise CoverageError(f"{where}: measure {number}: expected aspect: quote entries")
        for aspect, quote in entry.items():
            if aspect not in ASPECTS:
                raise CoverageError(f"{where}: measure {number}: {aspect!r} is not an aspect ({', '.join(ASPECTS)})")
            if not isinstance(quote, str) or not quote.strip():
                raise CoverageError(f"{where}: measure {number}: {aspect}: the quote must be a non-empty text")
        out[number] = dict(entry)
    return Coverage(out)


def load_coverage(path: Path = COVERAGE_FILE) -> Coverage:
    """Read and check ``path`` (an error names the line of the measure's entry)."""
    data = read_yaml(path, CoverageError)
    try:
        return parse(data, str(path))
    except CoverageError as exc:
        lines = entry_lines(path, "measures")
        found = re.search(r": measure (\d+)", str(exc))
        line = lines.get(int(found.group(1))) if found else None
        raise CoverageError(f"{exc} (line {line})" if line else str(exc)) from None


def check_quotes(coverage: Coverage, sentences: Mapping[int, list[str]], where: str = str(COVERAGE_FILE)) -> list[str]:
    """Problems of the table against the measures' sentences (``number`` → body sentences).

    Every measure must have an entry; every quote must occur in one of its measure's sentences.
    """
    problems = [f"{where}: measure {n} has no entry" for n in sorted(set(sentences) - set(coverage.measures))]
    for number, entry in sorted(coverage.measures.items()):
        if number not in sentences:
            problems.append(f"{where}: measure {number} is not in the knowledge base")
            continue
        for aspect, quote in entry.items():
            if not any(quote in s for s in sentences[number]):
                problems.append(
                    f"{where}: measure {number}: {aspect}: {quote!r} is in none of its sentences (fix the quote)"
                )
    return problems
