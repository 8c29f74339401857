"""Custom actions called by the Rasa server through the action server (port 5055)."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.answering import compose
from knowledge.intent_map import IntentMapError, load_intent_map
from knowledge.repository import KnowledgeBase, KnowledgeBaseMissing

log = logging.getLogger(__name__)

_kb: KnowledgeBase | None = None


def knowledge_base() -> KnowledgeBase:
    """The process-wide repository (its engine is made on the first query, not at import)."""
    global _kb
    if _kb is None:
        _kb = KnowledgeBase()
    return _kb


def _citation_payload(measures) -> dict[str, Any]:
    return {"measures": [int(n) for n in measures]}


class ActionAnswerMeasure(Action):
    """Answer the latest question from the measure(s) its intent maps to, citing them."""

    def name(self) -> str:
        return "action_answer_measure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        try:
            spec = load_intent_map().get(intent)
            if spec is None:
                log.warning("intent %r has no entry in knowledge/intents.yml", intent)
                dispatcher.utter_message(response="utter_out_of_scope")
                return []
            kb = knowledge_base()
            measure = kb.measure(spec.primary)
            document = kb.document()
        except (SQLAlchemyError, KnowledgeBaseMissing, IntentMapError):
            log.exception("knowledge base unavailable while answering %r", intent)
            dispatcher.utter_message(response="utter_kb_unavailable")
            return []
        if measure is None:
            log.error("intent %r maps to measure %s, which is not in the knowledge base", intent, spec.primary)
            dispatcher.utter_message(response="utter_kb_unavailable")
            return []
        answer = compose(document, measure, spec)
        dispatcher.utter_message(
            response="utter_measure_answer",
            buttons=[{"title": "查看原文", "payload": f'/show_measure{{"measure_number":"{measure.number}"}}'}],
            json_message=_citation_payload(answer.measures),
            **answer.template_values(),
        )
        return [SlotSet("cited_measures", [str(n) for n in answer.measures])]


class ActionShowMeasureText(Action):
    """Show the full text of a measure: the one the button names, else the last one cited."""

    def name(self) -> str:
        return "action_show_measure_text"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        wanted = tracker.get_slot("measure_number") or next(iter(tracker.get_slot("cited_measures") or []), None)
        try:
            number = int(str(wanted).strip())
        except (TypeError, ValueError):
            dispatcher.utter_message(response="utter_ask_which_measure")
            return [SlotSet("measure_number", None)]
        try:
            kb = knowledge_base()
            measure = kb.measure(number)
            document = kb.document()
        except (SQLAlchemyError, KnowledgeBaseMissing):
            log.exception("knowledge base unavailable while showing measure %s", number)
            dispatcher.utter_message(response="utter_kb_unavailable")
            return []
        if measure is None:
            dispatcher.utter_message(response="utter_ask_which_measure")
            return [SlotSet("measure_number", None)]
        dispatcher.utter_message(
            response="utter_measure_text",
            json_message=_citation_payload([measure.number]),
            measure_label=measure.label,
            measure_title=measure.title,
            measure_text=measure.text,
            section=measure.section,
            doc_title=document.title,
            doc_date=document.issued_on_cn,
        )
        return [SlotSet("measure_number", None)]
