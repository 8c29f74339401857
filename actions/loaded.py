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
from pathlib import Path
from typing import Sequence

from sqlalchemy.exc import SQLAlchemyError

from actions.decision import Analyser, Context, Decision, Learned, decide, jieba_idf, model
from actions.decision.features import FEATURES
from bot import config
from knowledge.coverage import load_coverage
from knowledge.db import safe_url
from knowledge.gazetteer import Gazetteer
from knowledge.intent_map import IntentSpec, load_entity_focus, load_intent_map
from knowledge.repository import DocumentInfo, KnowledgeBase, KnowledgeBaseMissing, MeasureInfo
from knowledge.vocabulary import Topic, load_topics, load_vocabulary

RECHECK_SECONDS = 5.0
# The decision model the action server uses: $DECISION_MODEL, else the newest
# models/decision-*.npz (``make train`` writes it beside the Rasa model it was trained with).
DECISION_MODEL_ENV = "DECISION_MODEL"

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
    # the learned decision (None only where no model is given: the rules then decide alone)
    learned: Learned | None = None

    @property
    def measure_count(self) -> int:
        """How many measures the notice has: they are numbered 1 to this count."""
        return len(self.measures)

    @property
    def aspect_labels(self) -> dict[str, str]:
        """Aspect → how a reply names it (``knowledge/answerability.yml``)."""
        return {a.name: a.label for a in self.analyser.vocabulary.aspects}

    def measures_of(self, numbers: Sequence[int]) -> list[MeasureInfo]:
        """The measures numbered ``numbers`` that exist, in the order given."""
        return [self.measures[n] for n in numbers if n in self.measures]

    def decide(
        self, text: str, intent: str | None, confidence: float, ranking: Sequence[dict], previous: str | None
    ) -> Decision:
        """The decision on one message given NLU's reading and the intent of the previous reply.

        The one path from a message to a decision: the answering actions and the offline
        cross-validation (``make eval-cv``) both call it.
        """
        ctx = Context(
            specs=self.specs,
            topics=self.topics,
            measures=self.measures_of,
            previous=self.specs.get(previous or ""),
            topic_of_intent=self.topic_of_intent,
        )
        question = self.analyser.analyse(text)
        return decide(self.analyser, question, intent, confidence, ranking, ctx, self.learned)


class KnowledgeCache:
    """Reads a :class:`KnowledgeBase` into a :class:`Loaded` and keeps it while its digest holds.

    Errors of the database (SQLAlchemy's, :class:`~knowledge.repository.KnowledgeBaseMissing`)
    propagate while nothing has been read, so the caller answers with the ``kb_unavailable``
    apology; after that the copy held keeps answering (see :meth:`get`).
    """

    _gazetteer: Gazetteer | None = None
    _gazetteer_lock = threading.Lock()

    def __init__(self, kb: KnowledgeBase, decision_model: Path | None | bool = True):
        self.kb = kb
        # True: find it (decision_model_path; its absence is logged); None/False: the rules decide
        # alone, as asked (training computes the rules' proposals; unit tests)
        self._expect_model = decision_model is True
        self.decision_model = decision_model_path() if decision_model is True else (decision_model or None)
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
            learned=self._learned(),
        )

    def _learned(self) -> Learned | None:
        """The learned decision, or None (logged) when no model file exists; a bad file raises."""
        if self.decision_model is None:
            if self._expect_model:
                log.error("no decision model (run `make train`): the word rules decide alone")
            return None
        vocabulary = load_vocabulary()
        return Learned(
            bundle=model.load(self.decision_model, FEATURES),
            coverage=load_coverage(),
            idf=jieba_idf(),
            aspect_labels={a.name: a.label for a in vocabulary.aspects},
        )

    @classmethod
    def gazetteer(cls, notice_text: str) -> Gazetteer:
        """One gazetteer per process (building it reads about 3,500 places and jieba's dictionary)."""
        with cls._gazetteer_lock:
            if cls._gazetteer is None:
                cls._gazetteer = Gazetteer(reserved_text=notice_text)
            return cls._gazetteer


def decision_model_path() -> Path | None:
    """$DECISION_MODEL, else the newest ``decision-*.npz`` of the models folder, else None."""
    import os

    named = os.environ.get(DECISION_MODEL_ENV)
    if named:
        return Path(named)
    found = sorted(config.load().models_dir.glob("decision-*.npz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
