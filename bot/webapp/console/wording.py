"""The console's words: labels for codes, error messages and the page's text, from ``wording.yml``.

The codes the program stores and passes around (outcome, reason, channel, intent, role, audit
action) stay English; everything a member of staff reads is looked up here. The measure intents'
labels come from ``knowledge/intents.yml``, the others from this file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web

from knowledge.yamlfile import read_yaml

PATH = Path(__file__).resolve().parent / "wording.yml"
SECTIONS = (
    "outcomes",
    "reasons",
    "channels",
    "intents",
    "verdicts",
    "feedback",
    "roles",
    "audit_actions",
    "errors",
    "csv",
    "ui",
)


class WordingError(ValueError):
    """``wording.yml`` is malformed; the message says where."""


@lru_cache(maxsize=2)
def load(path: Path = PATH) -> dict[str, Any]:
    """The checked contents of the wording file.

    Raises:
        WordingError: a section is missing or not a mapping, an outcome has no label or a reply
            list that is not a list of names, ``not_outcomes`` not a list, or one reply listed twice
            (under two outcomes, or under one and in ``not_outcomes``).
    """
    data = read_yaml(path, WordingError)
    for section in SECTIONS:
        if not isinstance(data.get(section), dict):
            raise WordingError(f"{path}: section {section!r} must be a mapping")
    loose = data.get("not_outcomes")
    if not isinstance(loose, list) or not all(isinstance(n, str) for n in loose):
        raise WordingError(f"{path}: not_outcomes must be a list of reply names")
    owner: dict[str, str] = {name: "not_outcomes" for name in loose}
    for code, outcome in data["outcomes"].items():
        if not isinstance(outcome, dict) or not isinstance(outcome.get("label"), str):
            raise WordingError(f"{path}: outcome {code!r} needs a label")
        names = outcome.get("replies")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise WordingError(f"{path}: outcome {code!r}: replies must be a list of reply names")
        for name in names:
            if name in owner:
                raise WordingError(f"{path}: reply {name!r} is under both {owner[name]!r} and {code!r}")
            owner[name] = code
    return data


def label(section: str, code: str | None, default: str | None = None) -> str:
    """The Chinese label of ``code`` in ``section`` (``default``, else the code itself, when absent)."""
    entry = load()[section].get(code or "")
    if isinstance(entry, dict):
        entry = entry.get("label")
    if isinstance(entry, str):
        return entry
    return default if default is not None else (code or "")


def error(code: str, **values: Any) -> str:
    """The error message ``code`` with its ``{names}`` filled in.

    Raises:
        KeyError: no such message (a programming error the tests catch).
    """
    return load()["errors"][code].format(**values)


def outcome_of_reply() -> dict[str, str]:
    """Reply name → outcome code, from the ``outcomes`` section."""
    return {name: code for code, o in load()["outcomes"].items() for name in o["replies"]}


def intent_labels() -> dict[str, str]:
    """Every intent's Chinese label: the measure intents' from knowledge/intents.yml, the rest from here."""
    from knowledge.intent_map import load_intent_map

    labels = dict(load()["intents"])
    labels.update({name: spec.label for name, spec in load_intent_map().items()})
    return labels


async def serve(request: web.Request) -> web.Response:
    """``GET /console/api/wording``: the whole file, plus every intent's label, for the page's script."""
    return web.json_response({**load(), "intent_labels": intent_labels()})
