"""Replay labelled conversations through NLU and the action's own decision, in one process.

NLU is Rasa's own (:meth:`rasa.core.agent.Agent.parse_message` on the trained model, the same
pipeline the server runs, normaliser and typo corrector included); the decision is
:meth:`actions.loaded.Loaded.decide`, the function the answering actions call. What the Rasa
server's rules add is emulated: only the intents its rules send to the answering actions are
decided (``ask_*``, ``followup_*``, ``out_of_scope``, ``nlu_fallback``); the others get a fixed
response and cite nothing. Parses are cached per model file under ``var/decision/``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from actions.decision import Decision, Kind
from actions.loaded import Loaded
from bot.text.split import split

log = logging.getLogger(__name__)

ANSWERING_PREFIXES = ("ask_", "followup_")
ANSWERING_INTENTS = frozenset({"out_of_scope", "nlu_fallback"})


@dataclass(frozen=True)
class Parse:
    """What NLU made of one message."""

    text: str  # normalised, as the action reads it
    intent: str | None
    confidence: float
    ranking: tuple[dict, ...]

    @classmethod
    def of(cls, data: dict) -> Parse:
        """From Rasa's parse result."""
        intent = data.get("intent") or {}
        return cls(
            text=data.get("text") or "",
            intent=intent.get("name"),
            confidence=float(intent.get("confidence") or 0.0),
            ranking=tuple(
                {"name": r.get("name"), "confidence": float(r.get("confidence") or 0.0)}
                for r in data.get("intent_ranking") or []
            ),
        )


def routed_to_answer(intent: str | None) -> bool:
    """True when the server's rules send this intent to an answering action."""
    return intent is not None and (intent in ANSWERING_INTENTS or intent.startswith(ANSWERING_PREFIXES))


def cited(decision: Decision | None) -> tuple[int, ...]:
    """The measures a reply cites, first the one it is drawn from."""
    if decision is None:
        return ()
    if decision.kind is Kind.ANSWER and decision.spec is not None:
        return tuple(decision.spec.measures)
    if decision.kind is Kind.OVERVIEW:
        return tuple(decision.overview_measures)
    return ()


class Parser:
    """Rasa's NLU on a trained model, with a cache on disk keyed by the model file."""

    def __init__(self, model: Path, cache_dir: Path):
        self.model = model
        digest = hashlib.sha256(model.name.encode()).hexdigest()[:12]
        self.cache_file = cache_dir / f"parses-{digest}.json"
        self._cache: dict[str, dict] = {}
        if self.cache_file.is_file():
            try:
                self._cache = json.loads(self.cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("ignoring an unreadable parse cache %s", self.cache_file)
        self._agent: Any = None

    def parse_all(self, texts: Iterable[str]) -> dict[str, Parse]:
        """Parses of ``texts`` (new ones through Rasa, then cached)."""
        wanted = list(dict.fromkeys(texts))
        missing = [t for t in wanted if t not in self._cache]
        if missing:
            from rasa.core.agent import Agent
            from rasa.utils.log_utils import configure_structlog

            configure_structlog(logging.WARNING)  # not a debug line per parsed message
            if self._agent is None:
                self._agent = Agent.load(str(self.model))
            agent = self._agent

            async def run() -> None:
                for text in missing:
                    self._cache[text] = await agent.parse_message(text)

            asyncio.run(run())
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._cache, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.cache_file)
        return {t: Parse.of(self._cache[t]) for t in wanted}


def decide_turn(memory: Loaded, parse: Parse, previous: str | None) -> Decision | None:
    """The action's decision on one parsed message (None: the rules answer without deciding)."""
    if not routed_to_answer(parse.intent):
        return None
    return memory.decide(parse.text, parse.intent, parse.confidence, list(parse.ranking), previous)


def decide_message(
    memory: Loaded, whole: Parse, parses: dict[str, Parse], text: str, previous: str | None
) -> list[Decision | None]:
    """The decisions on one message as the server makes them.

    Routed by the whole message's intent, then one per part when :func:`bot.text.split.split`
    splits it (a correction: the corrected question alone), each part decided with the previous
    part's intent.
    """
    if not routed_to_answer(whole.intent):
        return [None]
    found = split(text)
    if not found.changed or text.startswith("/"):
        return [decide_turn(memory, whole, previous)]
    out: list[Decision | None] = []
    for part in found.parts:
        parse = parses[part]
        decision = memory.decide(parse.text, parse.intent, parse.confidence, list(parse.ranking), previous)
        out.append(decision)
        previous = next_previous(decision, previous)
    return out


def part_texts(text: str) -> tuple[str, ...]:
    """The texts the channels parse besides the whole message."""
    found = split(text)
    return found.parts if found.changed else ()


def next_previous(decision: Decision | None, previous: str | None) -> str | None:
    """The ``last_intent`` slot after the reply (an answer or a related measure sets it)."""
    if decision is not None and decision.kind in (Kind.ANSWER, Kind.NOT_COVERED) and decision.spec is not None:
        return decision.spec.intent
    return previous
