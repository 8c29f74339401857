"""The intent → measure map (``knowledge/intents.yml``), loaded and checked."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

ASPECTS = ("conditions", "materials", "time", "place", "channel", "benefits", "overview")
DEFAULT_PATH = Path(__file__).resolve().parent / "intents.yml"


class IntentMapError(ValueError):
    """The intent map is malformed; the message names the file and the intent."""


@dataclass(frozen=True)
class IntentSpec:
    """What one intent asks and which measures answer it."""

    intent: str
    measures: tuple[int, ...]
    aspect: str = "overview"
    focus: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()

    @property
    def primary(self) -> int:
        """The measure the answer is mainly drawn from."""
        return self.measures[0]


def parse_intent_map(data: object, path: Path | str = DEFAULT_PATH) -> dict[str, IntentSpec]:
    """Check and convert the YAML content of an intent map.

    Raises:
        IntentMapError: naming the file, the intent and what is wrong.
    """
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise IntentMapError(f"{path}: expected a top-level 'intents:' mapping")
    specs: dict[str, IntentSpec] = {}
    for intent, body in data["intents"].items():
        where = f"{path}: intent {intent!r}"
        if not isinstance(intent, str) or not intent.isascii() or not intent.replace("_", "").isalnum():
            raise IntentMapError(f"{where}: intent names are ASCII snake_case")
        if not isinstance(body, dict):
            raise IntentMapError(f"{where}: expected a mapping with 'measures:'")
        measures = body.get("measures")
        if not isinstance(measures, list) or not measures or not all(isinstance(n, int) and 1 <= n <= 50 for n in measures):
            raise IntentMapError(f"{where}: 'measures' must be a non-empty list of measure numbers 1-50")
        aspect = body.get("aspect", "overview")
        if aspect not in ASPECTS:
            raise IntentMapError(f"{where}: aspect {aspect!r} is not one of {', '.join(ASPECTS)}")
        unknown = set(body) - {"measures", "aspect", "focus", "facts"}
        if unknown:
            raise IntentMapError(f"{where}: unknown keys {sorted(unknown)}")
        specs[intent] = IntentSpec(
            intent=intent,
            measures=tuple(measures),
            aspect=aspect,
            focus=tuple(str(w) for w in body.get("focus") or ()),
            facts=tuple(str(t) for t in body.get("facts") or ()),
        )
    return specs


@lru_cache(maxsize=8)
def load_intent_map(path: Path = DEFAULT_PATH) -> dict[str, IntentSpec]:
    """Read ``knowledge/intents.yml`` (cached per path)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IntentMapError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise IntentMapError(f"{path}: not valid YAML: {exc}") from exc
    return parse_intent_map(data, path)
