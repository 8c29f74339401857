"""Custom actions called by the Rasa server through the action server (port 5055).

Each class is thin: it reads the tracker, asks :mod:`actions.answering` and the knowledge
base, and sends a reply from ``knowledge/replies.yml`` (or a ``domain.yml`` response that rules
also use). When the knowledge base cannot be read the resident gets the ``kb_unavailable`` reply,
never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions import answering, replies
from knowledge.intent_map import (
    IntentMapError,
    IntentSpec,
    load_aspect_labels,
    load_entity_focus,
    load_followups,
    load_intent_map,
)
from knowledge.repository import KnowledgeBase, KnowledgeBaseMissing

log = logging.getLogger(__name__)

KB_ERRORS = (SQLAlchemyError, KnowledgeBaseMissing, IntentMapError)
CASE_SLOTS = ("pickup_method", "area")

_kb: KnowledgeBase | None = None


def knowledge_base() -> KnowledgeBase:
    """The process-wide repository (its engine is made on the first query, not at import)."""
    global _kb
    if _kb is None:
        _kb = KnowledgeBase()
    return _kb


def citation_payload(measures, tracker: Tracker) -> dict[str, Any]:
    """The machine-readable part of an answer: cited measures (primary first), intent, confidence."""
    intent = tracker.latest_message.get("intent") or {}
    return {
        "measures": [int(n) for n in measures],
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
    }


def utter_answer(dispatcher: CollectingDispatcher, tracker: Tracker, spec: IntentSpec) -> list:
    """Answer ``spec`` from the knowledge base and return the slot events that keep the context."""
    kb = knowledge_base()
    measure = kb.measure(spec.primary)
    if measure is None:
        log.error("intent %r maps to measure %s, which is not in the knowledge base", spec.intent, spec.primary)
        replies.send(dispatcher, "kb_unavailable")
        return []
    document = kb.document()
    region = answering.other_region(
        tracker.latest_message.get("text") or "", tracker.latest_message.get("entities") or [], spec
    )
    if region:
        replies.send(dispatcher, "other_region", region=region, doc_title=document.title)
        return []
    case = {slot: tracker.get_slot(slot) for slot in CASE_SLOTS}
    extra = answering.entity_words(case, load_entity_focus())
    answer = answering.compose(document, measure, spec, extra)
    city = tracker.get_slot("city")
    if answering.outside_pilot(spec, city):
        replies.send(dispatcher, "pilot_only", city=city, pilot=spec.pilot)
    replies.send(
        dispatcher, "measure_answer",
        json_message=citation_payload(answer.measures, tracker),
        measure_number=str(measure.number),
        **answer.template_values(),
    )
    for other in kb.measures(spec.measures[1:]):
        related = answering.related_sentences(other, spec)
        if related:
            replies.send(dispatcher, "also_see", measure_label=other.label, measure_title=other.title, answer=related)
    return [
        SlotSet("cited_measures", [str(n) for n in answer.measures]),
        SlotSet("topic", spec.topic),
        SlotSet("last_intent", spec.intent),
    ]


class ActionAnswerMeasure(Action):
    """Answer the latest question from the measure(s) its intent maps to, citing them."""

    def name(self) -> str:
        return "action_answer_measure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if not answering.looks_like_a_question(tracker.latest_message.get("text") or ""):
            replies.send(dispatcher, "default")
            return []
        try:
            spec = load_intent_map().get(intent)
            if spec is None:
                log.warning("intent %r has no entry in knowledge/intents.yml", intent)
                dispatcher.utter_message(response="utter_out_of_scope")
                return []
            return utter_answer(dispatcher, tracker, spec)
        except KB_ERRORS:
            log.exception("knowledge base unavailable while answering %r", intent)
            replies.send(dispatcher, "kb_unavailable")
            return []


class ActionAnswerFollowup(Action):
    """Answer "那要多久" / "那农村呢" about the topic of the previous answer."""

    def name(self) -> str:
        return "action_answer_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        topic, last_intent = tracker.get_slot("topic"), tracker.get_slot("last_intent")
        try:
            specs = load_intent_map()
            if not topic or last_intent not in specs:
                # Nothing to follow up on: the message stands alone ("大学生落户呢"), so take
                # its best topical reading, if NLU saw one.
                standalone = answering.best_topical_intent(tracker.latest_message.get("intent_ranking") or [], specs)
                if standalone is None:
                    replies.send(dispatcher, "ask_topic")
                    return []
                return utter_answer(dispatcher, tracker, standalone)
            if intent == "followup_other_case":
                return utter_answer(dispatcher, tracker, specs[last_intent])
            followup = load_followups().get(intent)
            if followup is None:
                replies.send(dispatcher, "ask_topic")
                return []
            kb = knowledge_base()
            facts_by_measure = {m.number: {f.type for f in m.facts} for m in kb.measures(specs[last_intent].measures)}
            spec = answering.followup_spec(specs, last_intent, topic, followup, facts_by_measure)
            if spec is None:
                replies.send(
                    dispatcher, "aspect_not_covered",
                    topic_label=specs[last_intent].label,
                    aspect_label=load_aspect_labels()[followup.aspect],
                )
                return []
            return utter_answer(dispatcher, tracker, spec)
        except KB_ERRORS:
            log.exception("knowledge base unavailable while answering follow-up %r", intent)
            replies.send(dispatcher, "kb_unavailable")
            return []


class ActionClarifyQuestion(Action):
    """When NLU is unsure: offer the likely questions as buttons, else say what is covered."""

    def name(self) -> str:
        return "action_clarify_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        ranking = tracker.latest_message.get("intent_ranking") or []
        top = next((r.get("name") for r in ranking if r.get("name") != "nlu_fallback"), None)
        if top == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        try:
            specs = load_intent_map()
            titles = {m.number: m.title for m in knowledge_base().measures()}
        except KB_ERRORS:
            log.exception("knowledge base unavailable while clarifying")
            replies.send(dispatcher, "default")
            return []
        choices = answering.clarify_choices(ranking, specs, titles)
        if not choices:
            replies.send(dispatcher, "default")
            return []
        replies.send(
            dispatcher, "did_you_mean",
            buttons=[{"title": c.title, "payload": f"/{c.intent}"} for c in choices],
        )
        return []


class ActionShowMeasureText(Action):
    """Show the full text of a measure: the one the button names, else the last one cited."""

    def name(self) -> str:
        return "action_show_measure_text"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        wanted = tracker.get_slot("measure_number") or next(iter(tracker.get_slot("cited_measures") or []), None)
        try:
            number = int(str(wanted).strip())
        except (TypeError, ValueError):
            replies.send(dispatcher, "ask_which_measure")
            return [SlotSet("measure_number", None)]
        try:
            kb = knowledge_base()
            measure = kb.measure(number)
            document = kb.document()
        except KB_ERRORS:
            log.exception("knowledge base unavailable while showing measure %s", number)
            replies.send(dispatcher, "kb_unavailable")
            return []
        if measure is None:
            replies.send(dispatcher, "ask_which_measure")
            return [SlotSet("measure_number", None)]
        replies.send(
            dispatcher, "measure_text",
            json_message=citation_payload([measure.number], tracker),
            measure_label=measure.label,
            measure_title=measure.title,
            measure_text=measure.text,
            section=measure.section,
            doc_title=document.title,
            doc_date=document.issued_on_cn,
        )
        return [SlotSet("measure_number", None)]


class ActionRecordFeedback(Action):
    """Store a resident's 👍/👎 on the last answer (question text redacted); a rule then thanks them."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        from bot import store

        intent = (tracker.latest_message.get("intent") or {}).get("name")
        value = "up" if intent == "feedback_positive" else "down"
        question, answered_intent = _last_question(tracker)
        measures = [int(n) for n in tracker.get_slot("cited_measures") or [] if str(n).isdigit()]
        try:
            store.record_feedback(
                sender_id=tracker.sender_id, value=value, question=question, intent=answered_intent,
                measures=measures, channel=(tracker.get_latest_input_channel() or None),
            )
        except SQLAlchemyError:
            log.exception("could not store feedback from %s", tracker.sender_id)
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
