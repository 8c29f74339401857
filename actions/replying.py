"""What the answering actions say: the reply for each kind of decision, per part of a message.

:func:`respond` reads the latest message (its parts, if the channel split it; a WeChat menu
topic), asks :meth:`actions.loaded.Loaded.decide` and sends the reply the decision's
:class:`~actions.decision.Kind` names (:data:`REPLIES`): the cited answer, the honest 文件未规定,
a topic overview, the other-region notice, a clarification. Wording is in
``bot/replies/replies.yml``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import answering, decision
from actions.base import (
    citation_of,
    citation_payload,
    latest_intent,
    loaded,
)
from actions.loaded import Loaded
from bot import replies
from knowledge.intent_map import IntentSpec
from knowledge.repository import KnowledgeBase
from knowledge.vocabulary import Topic, load_topics

log = logging.getLogger(__name__)


CASE_SLOTS = ("pickup_method", "area")
# The metadata key under which the channels give the parses of a message's parts
# (bot/rasa_ext/parts.py PARTS_KEY; a test checks that they agree).
PARTS_KEY = "parts"
MAX_PARTS = 3
# The metadata key under which the WeChat channel names a clicked menu entry's topic
# (bot/rasa_ext/channels/wechat/handler.py MENU_TOPIC; a test checks that they agree).
MENU_TOPIC = "menu_topic"


def _context_slots(spec: IntentSpec | None, cited: list[int]) -> list:
    """The slots that let the next message follow up on this reply."""
    return [
        SlotSet("cited_measures", [str(n) for n in cited]),
        SlotSet("topic", spec.topic if spec else None),
        SlotSet("last_intent", spec.intent if spec else None),
    ]


def utter_answer(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    memory: Loaded,
    spec: IntentSpec,
    decided: decision.Decision | None = None,
) -> list:
    """Answer ``spec`` from the knowledge base and return the slot events that keep the context."""
    measure = memory.measures.get(spec.primary)
    if measure is None:
        log.error("intent %r maps to measure %s, which is not in the knowledge base", spec.intent, spec.primary)
        replies.send(dispatcher, "kb_unavailable")
        return []
    case = {slot: tracker.get_slot(slot) for slot in CASE_SLOTS}
    extra = answering.entity_words(case, memory.entity_focus)
    wording = spec
    if decided is not None and decided.support is not None and decided.aspect_override:
        asked = [a for a in decided.question.aspects if not memory.analyser.aspect(a).generic]
        if asked and spec.aspect not in asked:
            # A follow-up ("要在哪办") asks its own aspect of the previous topic: pick the
            # sentences that say it, not those for what the previous question asked.
            extra = tuple(extra) + decided.support.focus
            wording = replace(spec, focus=(), facts=memory.analyser.aspect(asked[0]).facts)
    answer = answering.compose(memory.document, measure, wording, extra)
    city = tracker.get_slot("city")
    if answering.outside_pilot(spec, city):
        replies.send(dispatcher, "pilot_only", city=city, pilot=spec.pilot)
    payload = {
        **citation_payload(answer.measures, tracker),
        "answer": answer.answer,
        "citation": citation_of(memory.document, measure),
    }
    if decided is not None:
        payload["answerability"] = decided.to_json()
    replies.send(
        dispatcher,
        "measure_answer",
        json_message=payload,
        buttons=None,
        measure_number=str(measure.number),
        **answer.template_values(),
    )
    for other in memory.measures_of(spec.measures[1:]):
        related = answering.related_sentences(other, spec)
        if related:
            replies.send(dispatcher, "also_see", measure_label=other.label, measure_title=other.title, answer=related)
    return _context_slots(spec, list(answer.measures))


def utter_not_covered(
    dispatcher: CollectingDispatcher, tracker: Tracker, memory: Loaded, decided: decision.Decision
) -> list:
    """Say honestly what the notice does not say, point to the closest measure, say where to ask."""
    analyser = memory.analyser
    support = decided.support
    spec, question = decided.spec, decided.question
    # what the resident asked about: their own word, else the topic's name, else the intent's
    topic_name = re.sub(r"（.*?）", "", decided.topic.label) if decided.topic else None
    subject = next(iter(question.topic_words), None) or topic_name or (spec.label if spec else "")
    if support is not None and support.unknown_object is not None:
        what = replies.render("not_covered_object", object=support.unknown_object.word)["text"]
    elif decided.named_aspect is not None and decided.named_aspect in memory.aspect_labels:
        what = replies.render("not_covered_aspect", subject=subject, aspect=memory.aspect_labels[decided.named_aspect])[
            "text"
        ]
    else:
        what = replies.render("not_covered_subject")["text"]
    related = memory.measures.get(spec.primary) if spec else None
    if related is None and decided.topic is not None:
        related = memory.measures.get(decided.topic.measures[0])
    # one reply name for clients and the eval, with or without a related measure
    payload = {
        "reply": "not_covered",
        "measures": [],
        "related": [related.number] if related else [],
        **{k: v for k, v in citation_payload([], tracker).items() if k != "measures"},
        "answerability": decided.to_json(),
    }
    if related is not None:
        # a pointer, not the answer's source: clients show it apart from a citation
        payload["related_citation"] = citation_of(memory.document, related)
    where = decision.where_to_ask(analyser.vocabulary, decided)
    if related is None:
        replies.send(dispatcher, "not_covered", json_message=payload, what=what, where=where)
        return []
    replies.send(
        dispatcher,
        "not_covered_related",
        json_message=payload,
        what=what,
        where=where,
        measure_label=related.label,
        measure_title=related.title,
        measure_number=str(related.number),
    )
    return _context_slots(spec, [related.number])


def utter_overview(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    memory: Loaded,
    decided: decision.Decision,
    specs: dict[str, IntentSpec],
) -> list:
    """List what the notice says on a topic, one line and one button per measure."""
    topic = decided.topic
    if topic is None:
        raise ValueError("an 'overview' decision names its topic")
    measures = memory.measures_of(decided.overview_measures)
    by_primary: dict[int, str] = {}
    for spec in specs.values():
        by_primary.setdefault(spec.primary, spec.intent)
    lines = "\n".join(
        replies.render("overview_line", measure_label=m.label, measure_title=m.title)["text"] for m in measures
    )
    buttons = [
        {
            "title": replies.render("overview_button", measure_label=m.label, measure_title=m.title)["text"],
            "payload": f"/{by_primary[m.number]}"
            if m.number in by_primary
            else f'/show_measure{{"measure_number":"{m.number}"}}',
        }
        for m in measures
    ]
    payload = {
        **citation_payload([m.number for m in measures], tracker),
        "topic": topic.name,
        "answerability": decided.to_json(),
    }
    replies.send(
        dispatcher,
        "topic_overview",
        json_message=payload,
        buttons=buttons,
        topic_label=topic.label,
        lines=lines,
        doc_title=memory.document.title,
    )
    return [SlotSet("cited_measures", [str(m.number) for m in measures])]


def menu_topic(tracker: Tracker) -> Topic | None:
    """The topic a WeChat menu click asks about, or None for any other message.

    The WeChat channel sends a click on ``topic:<name>`` as ``/out_of_scope`` with
    ``{"menu_topic": "<name>"}`` in the message's metadata (no other channel sets metadata); a
    name that is not a topic of ``knowledge/topics.yml`` is ignored.
    """
    metadata = (tracker.latest_message or {}).get("metadata")
    name = metadata.get(MENU_TOPIC) if isinstance(metadata, dict) else None
    return load_topics().get(name) if isinstance(name, str) else None


def respond(dispatcher: CollectingDispatcher, tracker: Tracker, kb: KnowledgeBase) -> list:
    """Reply to the latest message: analyse it, decide, and send the reply the decision names."""
    text = (tracker.latest_message or {}).get("text") or ""
    latest = latest_intent(tracker)
    intent = latest.name
    topic = menu_topic(tracker)
    if topic is not None:
        # A menu entry names its topic exactly: the resident asked for what the notice says on it.
        memory = loaded(kb)
        overview = decision.topic_overview(memory.analyser, memory.analyser.analyse(topic.label), topic)
        return utter_overview(dispatcher, tracker, memory, overview, memory.specs)
    if not answering.looks_like_a_question(text):
        replies.send(dispatcher, "default")
        return []
    memory = loaded(kb)
    specs = memory.specs
    if text.startswith("/") and intent in specs:
        # A button the assistant offered names its intent exactly; there is nothing to judge.
        return utter_answer(dispatcher, tracker, memory, specs[intent])
    previous = tracker.get_slot("last_intent")
    split = message_parts(tracker)
    if split is not None:
        return respond_to_parts(dispatcher, tracker, memory, split, previous)
    decided = memory.decide(text, intent, latest.confidence, latest.ranking, previous)
    if log.isEnabledFor(logging.DEBUG):  # the decision's JSON is built only for a debug log
        log.debug("answerability for %r: %s", intent, decided.to_json())
    return REPLIES[decided.kind](dispatcher, tracker, memory, decided)


def message_parts(tracker: Tracker) -> tuple[bool, list[dict]] | None:
    """``(corrected, parses)`` the channel found in the latest message, or None for one question.

    Malformed metadata (a client cannot set it: the channels do) is ignored.
    """
    metadata = (tracker.latest_message or {}).get("metadata")
    found = metadata.get(PARTS_KEY) if isinstance(metadata, dict) else None
    if not isinstance(found, dict) or not isinstance(found.get("parts"), list):
        return None
    parses = [p for p in found["parts"][:MAX_PARTS] if isinstance(p, dict) and isinstance(p.get("text"), str)]
    if not parses or (len(parses) == 1 and not found.get("corrected")):
        return None
    return bool(found.get("corrected")), parses


def respond_to_parts(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    memory: Loaded,
    split: tuple[bool, list[dict]],
    previous: str | None,
) -> list:
    """Decide and answer each part in order, each with its own citation; a correction answers what it corrects to.

    A later part may follow up on an earlier one ("居住证要带什么？那要多久？"): each part is decided
    with the previous part's intent. Every reply carries ``part`` (its place and text) in its payload.
    """
    corrected, parses = split
    events: list = []
    for index, parse in enumerate(parses, 1):
        given = parse.get("intent")
        intent: dict = given if isinstance(given, dict) else {}
        ranking = [r for r in parse.get("intent_ranking") or [] if isinstance(r, dict)]
        name = intent.get("name") if isinstance(intent.get("name"), str) else None
        confidence = (
            float(intent.get("confidence") or 0.0) if isinstance(intent.get("confidence"), (int, float)) else 0.0
        )
        decided = memory.decide(parse["text"], name, confidence, ranking, previous)
        start = len(dispatcher.messages)
        events += REPLIES[decided.kind](dispatcher, tracker, memory, decided)
        for position, message in enumerate(dispatcher.messages[start:]):
            custom = message.get("custom")
            if isinstance(custom, dict):
                custom["part"] = {"index": index, "of": len(parses), "text": parse["text"], "corrected": corrected}
            if position == 0 and len(parses) > 1 and message.get("text"):
                # which of the resident's questions this reply answers
                message["text"] = replies.render("part_heading", part=parse["text"])["text"] + message["text"]
        if decided.spec is not None and decided.kind in (decision.Kind.ANSWER, decision.Kind.NOT_COVERED):
            previous = decided.spec.intent
    return events


def _answer(dispatcher: CollectingDispatcher, tracker: Tracker, memory: Loaded, decided: decision.Decision) -> list:
    if decided.spec is None:
        raise ValueError("an 'answer' decision names the intent it answers")
    return utter_answer(dispatcher, tracker, memory, decided.spec, decided)


def _other_region(
    dispatcher: CollectingDispatcher, tracker: Tracker, memory: Loaded, decided: decision.Decision
) -> list:
    replies.send(
        dispatcher,
        "other_region",
        region=decided.question.region,
        doc_title=memory.document.title,
        json_message={"answerability": decided.to_json()},
    )
    return []


def _ask_topic(dispatcher: CollectingDispatcher, tracker: Tracker, memory: Loaded, decided: decision.Decision) -> list:
    replies.send(dispatcher, "ask_topic")
    return []


def _out_of_scope(
    dispatcher: CollectingDispatcher, tracker: Tracker, memory: Loaded, decided: decision.Decision
) -> list:
    replies.send(dispatcher, "out_of_scope", json_message={"answerability": decided.to_json()})
    return []


# the reply each kind of decision gets (a test checks that every Kind has one)
REPLIES = {
    decision.Kind.ANSWER: _answer,
    decision.Kind.NOT_COVERED: lambda d, t, m, x: utter_not_covered(d, t, m, x),
    decision.Kind.OVERVIEW: lambda d, t, m, x: utter_overview(d, t, m, x, m.specs),
    decision.Kind.OTHER_REGION: _other_region,
    decision.Kind.CLARIFY: lambda d, t, m, x: clarify(d, t, m, m.specs, x.topic),
    decision.Kind.ASK_TOPIC: _ask_topic,
    decision.Kind.OUT_OF_SCOPE: _out_of_scope,
}


def clarify(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    memory: Loaded,
    specs: dict[str, IntentSpec],
    topic: Topic | None = None,
) -> list:
    """Offer the likely questions as buttons, else say what is covered.

    Only the named topic's questions are offered when the message names one.
    """
    ranking = latest_intent(tracker).ranking
    if topic is not None:
        ranking = [r for r in ranking if r.get("name") in topic.intents] or [
            {"name": name, "confidence": 1.0} for name in topic.intents
        ]
    top = next((r.get("name") for r in ranking if r.get("name") != "nlu_fallback"), None)
    if top == "out_of_scope":
        replies.send(dispatcher, "out_of_scope")
        return []
    titles = {n: m.title for n, m in memory.measures.items()}
    choices = answering.clarify_choices(ranking, specs, titles)
    if not choices:
        replies.send(dispatcher, "default")
        return []
    replies.send(
        dispatcher,
        "did_you_mean",
        buttons=[{"title": c.title, "payload": f"/{c.intent}"} for c in choices],
    )
    return []
