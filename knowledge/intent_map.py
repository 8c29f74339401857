"""The intent → measure map (``knowledge/intents.yml``), loaded and checked."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from knowledge.parser import EXPECTED_MEASURES
from knowledge.yamlfile import read_yaml

ASPECTS = ("conditions", "materials", "time", "place", "channel", "benefits", "overview")
DEFAULT_PATH = Path(__file__).resolve().parent / "intents.yml"


class IntentMapError(ValueError):
    """The intent map is malformed; the message names the file and the intent."""


@dataclass(frozen=True)
class IntentSpec:
    """What one intent asks and which measures answer it."""

    intent: str
    measures: tuple[int, ...]
    topic: str
    label: str
    aspect: str = "overview"
    focus: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    pilot: str | None = None

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
        # the notice's measures as the parser requires them (the build stores exactly these)
        if (
            not isinstance(measures, list)
            or not measures
            or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= EXPECTED_MEASURES for n in measures)
        ):
            raise IntentMapError(
                f"{where}: 'measures' must be a non-empty list of measure numbers 1-{EXPECTED_MEASURES}"
            )
        aspect = body.get("aspect", "overview")
        if aspect not in ASPECTS:
            raise IntentMapError(f"{where}: aspect {aspect!r} is not one of {', '.join(ASPECTS)}")
        unknown = set(body) - {"measures", "aspect", "focus", "facts", "topic", "label", "pilot"}
        if unknown:
            raise IntentMapError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("topic", "label"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise IntentMapError(f"{where}: '{key}' is required (a non-empty string)")
        specs[intent] = IntentSpec(
            intent=intent,
            measures=tuple(measures),
            topic=body["topic"].strip(),
            label=body["label"].strip(),
            pilot=str(body["pilot"]).strip() if body.get("pilot") else None,
            aspect=aspect,
            focus=tuple(str(w) for w in body.get("focus") or ()),
            facts=tuple(str(t) for t in body.get("facts") or ()),
        )
    return specs


@lru_cache(maxsize=8)
def _read(path: Path) -> dict:
    return read_yaml(path, IntentMapError)


def load_intent_map(path: Path = DEFAULT_PATH) -> dict[str, IntentSpec]:
    """Read the intents of ``knowledge/intents.yml`` (the file is read once per path)."""
    return parse_intent_map(_read(path), path)


def load_entity_focus(path: Path = DEFAULT_PATH) -> dict[str, dict[str, tuple[str, ...]]]:
    """Entity → value → the document words that pick the sentence for that value."""
    raw = _read(path).get("entity_focus") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise IntentMapError(f"{path}: 'entity_focus' must map entity → value → [words]")
    return {e: {str(v): tuple(str(w) for w in ws) for v, ws in vals.items()} for e, vals in raw.items()}
