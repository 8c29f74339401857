"""Labelled questions for training and cross-validating the decision.

Two layouts of case file are read (each turn becomes one :class:`Turn`):

* the evaluation's own (``tests/data/*_cases.yml``): ``question`` or ``turns`` (strings; the last
  is judged), ``measures``, ``facts``, ``tags``;
* the blind writers' (``tests/data/blind/*.yml``): ``question`` or ``turns`` (each a mapping with
  its own ``question``, ``measures``, ``aspect``), with ``related``, ``aspect``, ``facts``,
  ``parts`` (two or three questions in one message), ``tags`` and ``batch``.

The author batch (``batch``, else the file's name) is the group of grouped cross-validation: a
batch is never in training and test at once. Any malformed entry is refused with
:class:`CaseFileError` naming the file and the case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.coverage import ASPECTS
from knowledge.parser import EXPECTED_MEASURES
from knowledge.yamlfile import entry_lines, read_yaml

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 400_000
CASE_KEYS = {"question", "turns", "measures", "related", "aspect", "facts", "tags", "batch", "parts"}
TURN_KEYS = {"question", "measures", "related", "aspect", "facts", "tags"}
# the near-scope subtype tags of tests/data that name an aspect
TAG_ASPECTS = {"fee": "fee", "validity": "validity", "frequency": "frequency", "replacement": "replacement"}


class CaseFileError(ValueError):
    """A case file is malformed; the message names the file and the case."""


@dataclass(frozen=True)
class Part:
    """One of two or three questions in one message."""

    text: str
    measures: tuple[int, ...]
    aspect: str | None = None


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, with what an honest answer cites (None: not judged)."""

    text: str
    measures: tuple[int, ...] | None
    aspect: str | None = None
    facts: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()
    related: tuple[int, ...] = ()  # near-scope: the closest measures, which do not answer it


@dataclass(frozen=True)
class Conversation:
    """The turns of one case, its tags and its author batch."""

    turns: tuple[Turn, ...]
    tags: tuple[str, ...]
    group: str
    where: str = field(default="", compare=False)

    @property
    def kind(self) -> str:
        """``in_scope`` when the judged turn cites a measure, else ``no_measure``."""
        judged = [t for t in self.turns if t.measures is not None]
        return "in_scope" if judged and judged[-1].measures else "no_measure"


def _measures(value: Any, where: str, key: str = "measures") -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= EXPECTED_MEASURES for n in value
    ):
        raise CaseFileError(f"{where}: '{key}' must be a list of measure numbers 1-{EXPECTED_MEASURES} ([] for none)")
    return tuple(value)


def _aspect(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if value not in ASPECTS:
        raise CaseFileError(f"{where}: aspect {value!r} is not one of {', '.join(ASPECTS)}")
    return str(value)


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    value = value or []
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise CaseFileError(f"{where}: '{key}' must be a list of texts")
    return tuple(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CaseFileError(f"{where}: 'question' must be a non-empty text")
    return value


def _parts(value: Any, text: str, where: str) -> tuple[Part, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        raise CaseFileError(f"{where}: 'parts' must list 2 or 3 parts")
    out = []
    for i, p in enumerate(value, 1):
        at = f"{where}: part {i}"
        if not isinstance(p, dict) or not isinstance(p.get("text"), str) or p["text"] not in text:
            raise CaseFileError(f"{at}: needs 'text', a piece of the question")
        out.append(Part(p["text"], _measures(p.get("measures"), at), _aspect(p.get("aspect"), at)))
    return tuple(out)


def conversation(item: Any, where: str, default_group: str) -> Conversation:
    """One case of either layout."""
    if not isinstance(item, dict):
        raise CaseFileError(f"{where}: expected a mapping")
    unknown = set(item) - CASE_KEYS
    if unknown:
        raise CaseFileError(f"{where}: unknown keys {sorted(unknown)}")
    if ("question" in item) == ("turns" in item):
        raise CaseFileError(f"{where}: give exactly one of 'question' or 'turns'")
    tags = _strings(item.get("tags"), where, "tags")
    group = item.get("batch", default_group)
    if not isinstance(group, str) or not group:
        raise CaseFileError(f"{where}: 'batch' must be a text")
    if "question" in item:
        text = _text(item["question"], where)
        aspect = _aspect(item.get("aspect"), where) or next((TAG_ASPECTS[t] for t in tags if t in TAG_ASPECTS), None)
        turn = Turn(
            text,
            _measures(item.get("measures"), where),
            aspect,
            _strings(item.get("facts"), where, "facts"),
            _parts(item.get("parts"), text, where),
            _measures(item.get("related") or [], where, "related"),
        )
        return Conversation((turn,), tags, group, where)
    raw = item["turns"]
    if not isinstance(raw, list) or not raw:
        raise CaseFileError(f"{where}: 'turns' must be a non-empty list")
    if all(isinstance(t, str) for t in raw):
        measures = _measures(item.get("measures"), where)
        turns = [Turn(_text(t, where), None) for t in raw[:-1]]
        turns.append(Turn(_text(raw[-1], where), measures, None, _strings(item.get("facts"), where, "facts")))
        return Conversation(tuple(turns), tags, group, where)
    out = []
    for i, t in enumerate(raw, 1):
        at = f"{where}: turn {i}"
        if not isinstance(t, dict) or set(t) - TURN_KEYS:
            raise CaseFileError(f"{at}: expected a mapping of {sorted(TURN_KEYS)}")
        out.append(
            Turn(
                _text(t.get("question"), at),
                _measures(t.get("measures"), at),
                _aspect(t.get("aspect"), at),
                _strings(t.get("facts"), at, "facts"),
                related=_measures(t.get("related") or [], at, "related"),
            )
        )
    return Conversation(tuple(out), tags, group, where)


def load(path: Path) -> list[Conversation]:
    """The cases of one file."""
    data = read_yaml(path, CaseFileError, expect=list, max_bytes=MAX_BYTES, max_nodes=MAX_NODES, aliases=False)
    if not data:
        raise CaseFileError(f"{path}: no cases")
    group = path.stem.removesuffix("_cases")
    lines = entry_lines(path)
    return [conversation(item, f"{path}: case {i} (line {lines.get(i, '?')})", group) for i, item in enumerate(data, 1)]


def load_all(paths: list[Path]) -> list[Conversation]:
    """The cases of every file, in order."""
    return [c for p in paths for c in load(p)]
