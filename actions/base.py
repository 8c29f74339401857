"""What every knowledge action shares.

That is the knowledge base it is given, the apology when that cannot be read, and the readings of
the tracker (latest intent, measure numbers, citations).

The knowledge base is injected as in rasa-sdk's ``ActionQueryKnowledgeBase``: ``Action(kb)``
answers from ``kb``; ``Action()``, which is how the action server constructs actions, from the
process-wide repository at ``bot.config``'s ``DATABASE_URL``.
"""

from __future__ import annotations

import abc
import functools
import logging
import unicodedata
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.decision.model import ModelFileError
from actions.loaded import KnowledgeCache, Loaded
from bot import config, replies
from bot.text.jsonlimits import bounded_int
from knowledge.gazetteer import GazetteerMissing
from knowledge.intent_map import IntentMapError
from knowledge.repository import DocumentInfo, KnowledgeBase, KnowledgeBaseMissing, MeasureInfo
from knowledge.vocabulary import VocabularyError

log = logging.getLogger(__name__)

KB_ERRORS = (SQLAlchemyError, KnowledgeBaseMissing, IntentMapError, VocabularyError, GazetteerMissing, ModelFileError)

_kb: KnowledgeBase | None = None
# one in-memory reading per repository, shared by every action given the same one
_caches: weakref.WeakKeyDictionary[KnowledgeBase, KnowledgeCache] = weakref.WeakKeyDictionary()


def knowledge_base() -> KnowledgeBase:
    """The process-wide repository (its engine is made on the first query, not at import)."""
    global _kb
    if _kb is None:
        _kb = KnowledgeBase(config.load().database_url)
    return _kb


def loaded(kb: KnowledgeBase) -> Loaded:
    """``kb`` as held in memory (re-read when ``make kb`` changed it)."""
    cache = _caches.get(kb)
    if cache is None:
        cache = _caches.setdefault(kb, KnowledgeCache(kb))
    return cache.get()


def warm_up(kb: KnowledgeBase | None = None) -> bool:
    """Load now what the first action call would: the reading, the gazetteer, jieba's dictionary.

    The action server calls it before it listens, so the first resident does not wait some four
    seconds (WeChat gives a reply five). False, with a warning, when the knowledge base cannot be
    read yet: the actions then apologise as usual and read it on a later call.
    """
    kb = kb if kb is not None else knowledge_base()
    try:
        memory = loaded(kb)
        for measure in list(memory.measures.values())[:1]:
            kb.segment(measure.title)
            memory.analyser.analyse(measure.title)
    except KB_ERRORS:
        log.warning("knowledge base not readable at start; the first action call reads it", exc_info=True)
        return False
    return True


@dataclass(frozen=True)
class LatestIntent:
    """What NLU made of the resident's latest message."""

    name: str | None
    confidence: float
    ranking: list[dict]


def latest_intent(tracker: Tracker) -> LatestIntent:
    """The intent of the latest message with its confidence and the NLU ranking.

    Not rasa-sdk's ``Tracker.get_intent_of_latest_message``: that reads the top of
    ``intent_ranking`` (None when there is no ranking) and skips ``nlu_fallback``, while the
    actions need the intent NLU settled on, ``nlu_fallback`` included, and its confidence.
    """
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    return LatestIntent(
        name=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        ranking=list(latest.get("intent_ranking") or []),
    )


def measure_number(value: object, count: int) -> int | None:
    """A measure number 1–``count`` from a slot value, or None for anything else.

    The value may be a text (full-width digits too) or a number; None for anything else: out of
    range, a fraction, a huge number, a list, a bool.
    """
    if isinstance(value, str):
        value = unicodedata.normalize("NFKC", value)
    return bounded_int(value, 1, count)


def cited_measures(tracker: Tracker, count: int) -> list[int]:
    """The valid measure numbers (1–``count``) in the ``cited_measures`` slot.

    Our actions set the slot; a forged or malformed one yields nothing.
    """
    cited = tracker.get_slot("cited_measures")
    if not isinstance(cited, list):
        return []
    return [n for n in (measure_number(item, count) for item in cited) if n is not None]


def citation_payload(measures, tracker: Tracker) -> dict[str, Any]:
    """The machine-readable part of an answer: cited measures (primary first), intent, confidence."""
    intent = latest_intent(tracker)
    return {
        "measures": [int(n) for n in measures],
        "intent": intent.name,
        "confidence": round(intent.confidence, 4),
    }


def citation_of(document: DocumentInfo, measure: MeasureInfo) -> dict[str, Any]:
    """Where an answer comes from, as data for clients.

    The document's title, date and year, the measure's label, title and number. The web page renders
    its source line from it; no client reads the reply's wording.
    """
    return {
        "document": document.title,
        "date": document.issued_on_cn,
        "year": document.issued_on.year,
        "label": measure.label,
        "title": measure.title,
        "number": measure.number,
    }


Run = Callable[[Any, CollectingDispatcher, Tracker, dict], Awaitable[list]]


def apologise_when_kb_fails(run: Run) -> Run:
    """Wrap an action's ``run`` so that an unreadable knowledge base gets an apology, never a trace.

    When the knowledge base (or the files read with it: intent map, vocabulary, gazetteer) cannot be
    read, log it with the trace and send the ``kb_unavailable`` apology instead, so the resident
    never sees a stack trace or Rasa's generic failure.
    """

    @functools.wraps(run)
    async def guarded(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        try:
            return await run(self, dispatcher, tracker, domain)
        except KB_ERRORS:
            log.exception("knowledge base unavailable in %s (intent %r)", self.name(), latest_intent(tracker).name)
            replies.send(dispatcher, "kb_unavailable")
            return []

    return guarded


class KnowledgeAction(Action, abc.ABC):
    """An action that reads the knowledge base it is given.

    Args:
        kb: the repository to answer from; None (what the action server passes, as it constructs
            actions without arguments) for the process-wide one at ``DATABASE_URL``.
    """

    def __init__(self, kb: KnowledgeBase | None = None):
        self.kb = kb if kb is not None else knowledge_base()

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name (abstract, so rasa-sdk does not register this base class)."""

    def loaded(self) -> Loaded:
        """This action's knowledge base as held in memory."""
        return loaded(self.kb)
