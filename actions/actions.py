"""Custom actions called by the Rasa server through the action server (port 5055).

Each class is thin: it reads the tracker, asks :mod:`actions.answering` and the knowledge
base, and sends a reply from ``bot/replies/replies.yml`` (or a ``domain.yml`` response that rules
also use). Each takes the knowledge base in its constructor (:class:`actions.base.KnowledgeAction`:
``ActionAnswerMeasure(kb)``, or ``ActionAnswerMeasure()`` for the configured one). When the
knowledge base cannot be read the resident gets an apology
(:func:`actions.base.apologise_when_kb_fails`), never a stack trace.
"""

from __future__ import annotations

import hashlib
import logging

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.base import (
    KB_ERRORS,
    KnowledgeAction,
    apologise_when_kb_fails,
    citation_payload,
    cited_measures,
    latest_intent,
    measure_number,
)
from actions.replying import MENU_TOPIC, PARTS_KEY, REPLIES, clarify, respond  # noqa: F401 - re-exported
from bot import replies

log = logging.getLogger(__name__)


class ActionAnswerMeasure(KnowledgeAction):
    """Answer the latest question from the measure(s) its intent maps to, or say what is not covered.

    The measures are cited when they answer what is asked (:mod:`actions.decision`); else the
    action says honestly what the notice does not cover. Out-of-scope questions come here too: they
    may name a topic it covers.
    """

    def name(self) -> str:
        """The action's name in ``domain.yml``."""
        return "action_answer_measure"

    @apologise_when_kb_fails
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        """Decide on the latest message and send the reply the decision names."""
        return respond(dispatcher, tracker, self.kb)


class ActionAnswerFollowup(ActionAnswerMeasure):
    """Answer "那要多久" / "那农村呢" about the topic of the previous answer.

    It is the same decision as :class:`ActionAnswerMeasure`: a short message naming no topic
    continues the previous one.
    """

    def name(self) -> str:
        """The action's name in ``domain.yml``."""
        return "action_answer_followup"


class ActionClarifyQuestion(KnowledgeAction):
    """Reply when NLU is unsure.

    A question that still names a topic is decided as any other; else the likely questions are
    offered as buttons, or the action says what is covered.
    """

    def name(self) -> str:
        """The action's name in ``domain.yml``."""
        return "action_clarify_question"

    @apologise_when_kb_fails
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        """Decide on the latest message as :class:`ActionAnswerMeasure` does."""
        return respond(dispatcher, tracker, self.kb)


class ActionShowMeasureText(KnowledgeAction):
    """Show the full text of a measure: the one the button names, else the last one cited."""

    def name(self) -> str:
        """The action's name in ``domain.yml``."""
        return "action_show_measure_text"

    @apologise_when_kb_fails
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        """Send the measure's text with its section and source, or ask which measure is meant."""
        memory = self.loaded()
        count = memory.measure_count
        # the measure the button names (a typed payload can name anything: only a number the
        # notice has is looked up), else the last one cited
        wanted = tracker.get_slot("measure_number")
        number = (
            measure_number(wanted, count)
            if wanted not in (None, "")
            else next(iter(cited_measures(tracker, count)), None)
        )
        measure = memory.measures.get(number) if number is not None else None
        if measure is None:
            replies.send(dispatcher, "ask_which_measure", measure_count=count)
            return [SlotSet("measure_number", None)]
        document = memory.document
        replies.send(
            dispatcher,
            "measure_text",
            json_message=citation_payload([measure.number], tracker),
            measure_label=measure.label,
            measure_title=measure.title,
            measure_text=measure.text,
            section=measure.section,
            doc_title=document.title,
            doc_date=document.issued_on_cn,
        )
        return [SlotSet("measure_number", None)]


class ActionRecordFeedback(KnowledgeAction):
    """Store a resident's 👍/👎 on the last answer (question text redacted); a rule then thanks them."""

    def name(self) -> str:
        """The action's name in ``domain.yml``."""
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        """Store the feedback; a failure to store it is logged, and the resident is thanked anyway."""
        from bot.storage import appdb
        from bot.text.privacy import PrivacyDataError

        value = "up" if latest_intent(tracker).name == "feedback_positive" else "down"
        question, answered_intent = _last_question(tracker)
        try:
            measures = cited_measures(tracker, self.loaded().measure_count)
        except KB_ERRORS:
            # the vote still counts; which measures it was about cannot be checked now
            log.warning("knowledge base unavailable: feedback stored without its cited measures", exc_info=True)
            measures = []
        try:
            appdb.record_feedback(
                sender_id=tracker.sender_id,
                value=value,
                question=question,
                intent=answered_intent,
                measures=measures,
                channel=(tracker.get_latest_input_channel() or None),
            )
        except (SQLAlchemyError, PrivacyDataError):
            # the sender id may itself hold a number: log a digest of it, never the id
            log.exception(
                "could not store feedback from conversation %s",
                hashlib.sha256(tracker.sender_id.encode()).hexdigest()[:12],
            )
        return []


def _last_question(tracker: Tracker) -> tuple[str, str | None]:
    """The text and intent of the resident's last message that was not feedback."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if name in ("feedback_positive", "feedback_negative"):
            continue
        return event.get("text") or "", name
    return "", None
