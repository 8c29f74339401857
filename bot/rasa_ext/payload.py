"""Typed button payloads (``/intent{"entity": "value"}``) checked before Rasa reads them.

Rasa takes a message that starts with ``/`` as an intent with entities, skipping NLU: whatever a
resident types there becomes an entity, a slot and, through the reply templates, words the bot
says (``/ask_service_weekend{"city":"<script>…请拨打4001234567"}``). Our buttons only ever send
values the assistant knows, so a payload keeps an entity only when its value is one NLU could
have found: a value of the entity's lookup table in ``data/nlu/`` (a ``city`` must be a city of
the table), or a measure number 1–50. Everything else (unknown entities, other values, roles,
groups, text after the entities, malformed JSON) is dropped, and the message is written back in
Rasa's own format, so the tracker stores only the checked form.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

from bot import config
from bot.text.jsonlimits import JsonBodyError, bounded_int, loads
from knowledge.parser import EXPECTED_MEASURES

# Rasa's own pattern for such messages (YAMLStoryReader._regex_message_pattern).
PAYLOAD_RE = re.compile(r"^/(?P<intent>[^{@]+)(?P<confidence>@[0-9.]+)?(?P<entities>{.+})?(?P<rest>.*)$", re.DOTALL)
# Entities that are numbers, with their range, rather than lookup values.
NUMBER_ENTITIES = {"measure_number": (1, EXPECTED_MEASURES)}
MAX_ENTITY_JSON = 2048


@lru_cache(maxsize=4)
def lookup_values(nlu_dir: Path | None = None) -> Mapping[str, frozenset[str]]:
    """Each lookup table of the NLU training data (``data/nlu/*.yml``) as a set of its values."""
    nlu_dir = nlu_dir or config.PROJECT_ROOT / "data" / "nlu"
    tables: dict[str, set[str]] = {}
    for path in sorted(nlu_dir.glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if isinstance(item, dict) and "lookup" in item:
                values = (
                    line.strip()[2:].strip()
                    for line in str(item.get("examples") or "").splitlines()
                    if line.strip().startswith("- ")
                )
                tables.setdefault(str(item["lookup"]), set()).update(v for v in values if v)
    return MappingProxyType({name: frozenset(values) for name, values in tables.items()})


@lru_cache(maxsize=4)
def domain_intents(domain_path: Path | None = None) -> frozenset[str]:
    """The intents of ``domain.yml``.

    Rasa unpacks a payload only for one of these (any other ``/…`` text goes to NLU as words).
    """
    domain = yaml.safe_load((domain_path or config.PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8")) or {}
    return frozenset(str(next(iter(i)) if isinstance(i, dict) else i) for i in domain.get("intents") or [])


def _valid(entity: str, value: object) -> str | None:
    """The value as Rasa should receive it, or None when NLU could not have produced it."""
    if entity in NUMBER_ENTITIES:
        number = bounded_int(value, *NUMBER_ENTITIES[entity])
        return None if number is None else str(number)
    if isinstance(value, str) and value in lookup_values().get(entity, frozenset()):
        return value
    return None


def sanitize(text: str) -> str:
    """``text`` unchanged unless it is a typed payload of a domain intent.

    For such a payload only its checked entities are kept.

    Args:
        text: the resident's message, as received.

    Returns:
        For ``/intent{...}``: ``/intent`` (and its ``@confidence``) followed by the entities whose
        values are valid, as compact JSON; for any other text, the text itself.
    """
    stripped = text.strip()
    match = PAYLOAD_RE.match(stripped) if stripped.startswith("/") else None
    if match is None or match["intent"].strip() not in domain_intents():
        return text
    head = match["intent"].strip() + (match["confidence"] or "")
    raw = match["entities"]
    if not raw:
        return "/" + head
    try:
        entities = loads(raw, max_depth=2, max_bytes=MAX_ENTITY_JSON) if len(raw) <= MAX_ENTITY_JSON else None
    except JsonBodyError:
        entities = None
    kept = {}
    if isinstance(entities, dict):
        for name, value in entities.items():
            checked = _valid(str(name), value)
            if checked is not None:
                kept[str(name)] = checked
    return "/" + head + (json.dumps(kept, ensure_ascii=False, separators=(",", ":")) if kept else "")
