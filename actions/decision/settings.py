"""The decision's settings, read from ``knowledge/decision.yml`` (no threshold lives in Python).

Every entry the code reads must be there, with a number in its range; anything else is refused
with :class:`DecisionSettingsError` naming the file and the entry.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from knowledge.coverage import ASPECTS
from knowledge.yamlfile import entry_lines, read_yaml

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "knowledge" / "decision.yml"

# section → entry → (type, lowest, highest)
SCHEMA: dict[str, dict[str, tuple[type, float, float]]] = {
    "reading": {
        "followup_max_chars": (int, 1, 200),
        "story_min_chars": (int, 1, 1000),
        "story_min_clauses": (int, 1, 50),
        "asked_min_chars": (int, 1, 200),
        "asked_max_extra": (int, 0, 20),
        "min_document_chars": (int, 1, 20),
        "repetitive_min_chars": (int, 1, 10000),
        "repetitive_ratio": (int, 1, 1000),
    },
    "rules": {
        "rescue_candidates": (int, 1, 20),
        "rescue_min_confidence": (float, 0, 1),
        "standalone_min_confidence": (float, 0, 1),
        "overview_max_confidence": (float, 0, 1),
        "unknown_document_max_confidence": (float, 0, 1),
        "off_topic_max_confidence": (float, 0, 1),
        "story_switch_max_confidence": (float, 0, 1),
        "nlu_sure": (float, 0, 1),
        "out_of_scope_sure": (float, 0, 1),
    },
    "model": {
        "candidates": (int, 1, 20),
        "folds": (int, 2, 50),
        "regularisation": (float, 1e-6, 1e6),
        "aspect_confident": (float, 0, 1),
        "answerable_known_weight": (float, 0, 1),
    },
}
# list entries: section → entry → the values allowed
LISTS: dict[str, dict[str, tuple[str, ...]]] = {"model": {"nameable_aspects": ASPECTS}}


class DecisionSettingsError(ValueError):
    """``knowledge/decision.yml`` is malformed; the message names the file and the entry."""


def parse(data: Any, where: str) -> dict[str, dict[str, Any]]:
    """Check a loaded settings document against :data:`SCHEMA` and return its sections."""
    if not isinstance(data, dict) or data.get("version") != 1:
        raise DecisionSettingsError(f"{where}: expected a mapping with version: 1")
    unknown = set(data) - {"version", *SCHEMA}
    if unknown:
        raise DecisionSettingsError(f"{where}: unknown sections {sorted(unknown)}")
    out: dict[str, dict[str, Any]] = {}
    for section, entries in SCHEMA.items():
        body = data.get(section)
        if not isinstance(body, dict):
            raise DecisionSettingsError(f"{where}: section {section!r} is missing or not a mapping")
        lists = LISTS.get(section, {})
        extra = set(body) - set(entries) - set(lists)
        if extra:
            raise DecisionSettingsError(f"{where}: {section}: unknown entries {sorted(extra)}")
        out[section] = {}
        for name, (kind, low, high) in entries.items():
            value = body.get(name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and kind is int:
                ok = isinstance(value, int)
            if not ok or not isinstance(value, (int, float)) or not low <= value <= high:
                raise DecisionSettingsError(
                    f"{where}: {section}.{name} must be {'an integer' if kind is int else 'a number'} "
                    f"from {low} to {high}, not {value!r}"
                )
            out[section][name] = value
        for name, allowed in lists.items():
            value = body.get(name)
            if not isinstance(value, list) or not all(v in allowed for v in value):
                raise DecisionSettingsError(f"{where}: {section}.{name} must be a list of {', '.join(allowed)}")
            out[section][name] = tuple(value)
    return out


@functools.lru_cache(maxsize=4)
def load(path: Path = SETTINGS_FILE) -> dict[str, dict[str, Any]]:
    """The settings of ``path`` (read once per process; an error names the section's line)."""
    data = read_yaml(path, DecisionSettingsError)
    try:
        return parse(data, str(path))
    except DecisionSettingsError as exc:
        lines = entry_lines(path)
        section = next((s for s in SCHEMA if f": {s}" in str(exc)), None)
        line = lines.get(section) if section else None
        raise DecisionSettingsError(f"{exc} (section at line {line})" if line else str(exc)) from None


READING = load()["reading"]
RULES = load()["rules"]
MODEL = load()["model"]
