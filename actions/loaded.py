"""The knowledge base held in the action server's memory, and the question analyser built on it.

Fifty measures with their sentences and facts are a few hundred kilobytes, so they are read
once and answered from memory, together with what the actions read from the project's files: the
intent map and its entity focus (``knowledge/intents.yml``), the topics and the vocabulary, each
checked and converted once per reading rather than for every message. The build digest the
knowledge base records is checked at most every :data:`RECHECK_SECONDS` (one query); when
``make kb`` has rebuilt it with other content, everything is read again. Between two checks an
action runs no SQL at all.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy.exc import SQLAlchemyError

from actions.answerability import Analyser
from knowledge.db import safe_url
from knowledge.gazetteer import Gazetteer
from knowledge.intent_map import IntentSpec, load_entity_focus, load_intent_map
from knowledge.repository import DocumentInfo, KnowledgeBase, KnowledgeBaseMissing, MeasureInfo
from knowledge.vocabulary import Topic, load_topics, load_vocabulary

RECHECK_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """One consistent reading of the knowledge base, with the intent map and topics it is read with."""

    document: DocumentInfo
    measures: dict[int, MeasureInfo]
    analyser: Analyser
    # knowledge/intents.yml: intent → what it asks and which measures answer it; entity → value → words
    specs: dict[str, IntentSpec]
    entity_focus: dict[str, dict[str, tuple[str, ...]]]
    # knowledge/topics.yml, and the topic of each intent a topic lists
    topics: dict[str, Topic]
    topic_of_intent: dict[str, str]

    @property
    def measure_count(self) -> int:
        """How many measures the notice has: they are numbered 1 to this count."""
        return len(self.measures)

    def measures_of(self, numbers: Sequence[int]) -> list[MeasureInfo]:
        """The measures numbered ``numbers`` that exist, in the order given."""
        return [self.measures[n] for n in numbers if n in self.measures]


class KnowledgeCache:
    """Reads a :class:`KnowledgeBase` into a :class:`Loaded` and keeps it while its digest holds.

    Errors of the database (SQLAlchemy's, :class:`~knowledge.repository.KnowledgeBaseMissing`)
    propagate while nothing has been read, so the caller answers with the ``kb_unavailable``
    apology; after that the copy held keeps answering (see :meth:`get`).
    """

    _gazetteer: Gazetteer | None = None
    _gazetteer_lock = threading.Lock()

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self._loaded: Loaded | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> Loaded:
        """The current reading (re-read when the digest changed).

        When the database cannot be read but a reading is held, that reading keeps answering (the
        notice changes only by ``make kb``, which also changes the digest) and a warning is logged
        once per check; with nothing held the error propagates.
        """
        now = time.monotonic()
        loaded = self._loaded
        if loaded is not None and now - self._checked < RECHECK_SECONDS:
            return loaded
        with self._lock:
            try:
                document = self.kb.document()
                if self._loaded is None or self._loaded.document.content_digest != document.content_digest:
                    self._loaded = self._read(document)
            except (SQLAlchemyError, KnowledgeBaseMissing):
                if self._loaded is None:
                    raise
                log.warning(
                    "knowledge base unavailable at %s; answering from the copy in memory (digest %s)",
                    safe_url(self.kb.url),
                    self._loaded.document.content_digest[:12],
                    exc_info=True,
                )
            self._checked = time.monotonic()
            return self._loaded

    def _read(self, document: DocumentInfo) -> Loaded:
        measures = {m.number: m for m in self.kb.measures()}
        topics = load_topics()
        analyser = Analyser(
            vocabulary=load_vocabulary(),
            topics=topics,
            known_words=self.kb.vocabulary(),
            aliases=self.kb.aliases(),
            segment=self.kb.segment,
            gazetteer=self.gazetteer("\n".join(m.text for m in measures.values())),
            add_words=self.kb.add_rare_words,
        )
        # the terms jieba keeps whole, read now (after the place names, as at a first cut) so that no
        # message is the one to query them
        self.kb.teach_segmenter()
        return Loaded(
            document=document,
            measures=measures,
            analyser=analyser,
            specs=load_intent_map(),
            entity_focus=load_entity_focus(),
            topics=topics,
            topic_of_intent={i: t.name for t in topics.values() for i in t.intents},
        )

    @classmethod
    def gazetteer(cls, notice_text: str) -> Gazetteer:
        """One gazetteer per process (building it reads about 3,500 places and jieba's dictionary)."""
        with cls._gazetteer_lock:
            if cls._gazetteer is None:
                cls._gazetteer = Gazetteer(reserved_text=notice_text)
            return cls._gazetteer
