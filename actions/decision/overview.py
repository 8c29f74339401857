"""The overview of a topic: one line per measure, for a broad question or a menu entry."""

from __future__ import annotations

from actions.decision.kinds import Decision, Kind, labelled
from actions.decision.question import Question
from actions.decision.reading import Analyser
from knowledge.intent_map import IntentSpec
from knowledge.vocabulary import Topic


def topic_overview(analyser: Analyser, question: Question, topic: Topic) -> Decision:
    """The overview of ``topic``, asked for by name (a WeChat menu entry): one line per measure.

    No NLU reading is judged: the resident chose the topic, so every topic, with or without a
    primary intent or ``overview: true``, gets its overview.
    """
    decision = overview(analyser, question, topic)
    return labelled(decision, analyser.vocabulary.decision_labels)


def overview(
    analyser: Analyser, question: Question, topic: Topic, first: int | None = None, spec: IntentSpec | None = None
) -> Decision:
    """The overview decision of ``topic``, the measure ``first`` (NLU's choice) first."""
    order = list(topic.measures)
    if first is not None:
        order = [first] + [n for n in order if n != first]
    return Decision(
        Kind.OVERVIEW,
        question,
        spec=spec,
        topic=topic,
        overview_measures=tuple(order),
        reason=analyser.reason("overview", topic=topic.label),
    )
