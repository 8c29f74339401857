"""The reading of a message against the conversation: which intent it continues, rescues, overviews."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from actions.decision.kinds import Decision, Kind, labelled
from actions.decision.overview import overview as _overview
from actions.decision.overview import topic_overview  # noqa: F401 - re-exported
from actions.decision.question import PERSONS, Question, Support, compact
from actions.decision.reading import Analyser
from actions.decision.settings import READING, RULES
from actions.decision.support import body_text, measure_text, support
from bot.text.cjk import is_cjk
from knowledge.intent_map import IntentSpec
from knowledge.repository import MeasureInfo
from knowledge.vocabulary import Topic

FOLLOWUP_MAX_CHARS = READING["followup_max_chars"]
RESCUE_CANDIDATES = RULES["rescue_candidates"]
RESCUE_MIN_CONFIDENCE = RULES["rescue_min_confidence"]
STANDALONE_MIN_CONFIDENCE = RULES["standalone_min_confidence"]
OVERVIEW_MAX_CONFIDENCE = RULES["overview_max_confidence"]
UNKNOWN_DOCUMENT_MAX_CONFIDENCE = RULES["unknown_document_max_confidence"]
OFF_TOPIC_MAX_CONFIDENCE = RULES["off_topic_max_confidence"]
STORY_SWITCH_MAX_CONFIDENCE = RULES["story_switch_max_confidence"]
NLU_SURE = RULES["nlu_sure"]
OUT_OF_SCOPE_SURE = RULES["out_of_scope_sure"]
# NLU's reading of a message that asks none of the notice's questions (a fallback is only unsure:
# many real follow-ups get one).
NOT_A_QUESTION_INTENTS = frozenset({"out_of_scope"})


@dataclass
class Context:
    """What :func:`decide` needs besides the question."""

    specs: Mapping[str, IntentSpec]
    topics: Mapping[str, Topic]
    measures: Callable[[Sequence[int]], list[MeasureInfo]]
    previous: IntentSpec | None = None
    topic_of_intent: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not self.topic_of_intent:
            self.topic_of_intent = {i: t.name for t in self.topics.values() for i in t.intents}

    def topic_of(self, spec: IntentSpec | None) -> Topic | None:
        """The broad topic of an intent."""
        name = self.topic_of_intent.get(spec.intent) if spec else None
        return self.topics.get(name) if name else None


def decide(
    analyser: Analyser,
    question: Question,
    intent: str | None,
    confidence: float,
    ranking: Sequence[Mapping],
    ctx: Context,
) -> Decision:
    """The reply for ``question`` given NLU's ``intent`` and ``ranking``; see the module doc."""
    decision = _decide(analyser, question, intent, confidence, ranking, ctx)
    return labelled(decision, analyser.vocabulary.decision_labels)


def _decide(
    analyser: Analyser,
    question: Question,
    intent: str | None,
    confidence: float,
    ranking: Sequence[Mapping],
    ctx: Context,
) -> Decision:
    spec = ctx.specs.get(intent or "")
    if question.region:
        return Decision(
            Kind.OTHER_REGION, question, spec=spec, reason=analyser.reason("other_region", region=question.region)
        )
    if question.noisy:
        named = ctx.topics.get(question.topics[0]) if question.topics else None
        return Decision(Kind.CLARIFY, question, topic=named, reason=analyser.reason("noisy"))
    ranked = [(ctx.specs[r["name"]], float(r.get("confidence") or 0.0)) for r in ranking if r.get("name") in ctx.specs]
    continued = False

    previous = ctx.previous
    followup_intent = bool(intent and intent.startswith("followup_"))
    if (
        previous is not None
        and followup_intent
        and question.topics
        and (previous_topic := ctx.topic_of(previous)) is not None
        and previous_topic.name not in question.topics
        and not _continues(question, previous, ctx)
    ):
        # "那身份证呢": a follow-up that names another topic moves there.
        spec, confidence = _best_in_topics(ranked, question.topics, ctx), 1.0
    elif (
        previous is not None
        and not _changes_subject(analyser, question, spec, confidence, previous, ctx)
        and (
            (question.context_free and (followup_intent or _asks_something(question, intent)))
            or followup_intent
            or _continues(question, previous, ctx)
        )
    ):
        spec = _same_topic_for_aspects(question, ctx, previous, spec)
        continued, confidence = True, 1.0
    elif question.topics and spec is not None:
        current = ctx.topic_of(spec)
        off_topic = current is None or current.name not in question.topics
        # A story's incidental topic gives way to the asked one; so does an unsure intent whose
        # measures never name the topic the question names.
        chosen = measure_text(ctx.measures(spec.measures))
        if (
            off_topic
            and not any(_names(chosen, w, analyser.aliases) for w in question.topic_words)
            and (
                (question.is_story and confidence < STORY_SWITCH_MAX_CONFIDENCE)
                or confidence < OFF_TOPIC_MAX_CONFIDENCE
            )
        ):
            switched = _best_in_topics(ranked, question.topics, ctx)
            if switched is not None:
                spec, confidence = switched, 1.0
    if spec is None and intent and intent.startswith("followup_"):
        # A follow-up with nothing before it ("大学生落户呢") stands alone: take NLU's best
        # topical reading, if it saw one.
        spec = next((c for c, score in ranked if score >= STANDALONE_MIN_CONFIDENCE), None)

    if spec is None:
        return _without_intent(analyser, question, intent, confidence, ctx)

    topic = ctx.topic_of(spec)
    trust = confidence >= UNKNOWN_DOCUMENT_MAX_CONFIDENCE
    found = support(analyser, question, ctx.measures(spec.measures), trust_documents=trust, follow_up=continued)
    if found.supported:
        if topic is not None and _wants_overview(question, topic, confidence, continued):
            return _overview(analyser, question, topic, first=spec.primary, spec=spec)
        return Decision(
            Kind.ANSWER,
            question,
            spec=spec,
            topic=topic,
            support=found,
            reason=analyser.reason("supported"),
            aspect_override=continued,
        )
    for candidate, score in ranked[:RESCUE_CANDIDATES]:
        if candidate.intent == spec.intent or score < RESCUE_MIN_CONFIDENCE:
            continue
        if not _may_take_over(question, candidate, topic, ctx, analyser.aliases):
            continue
        alternative = support(
            analyser, question, ctx.measures(candidate.measures), trust_documents=trust, follow_up=continued
        )
        if alternative.supported and (question.aspects or question.objects):
            return Decision(
                Kind.ANSWER,
                question,
                spec=candidate,
                topic=ctx.topic_of(candidate),
                support=alternative,
                reason=analyser.reason("rescued", original=spec.label, intent=candidate.label),
            )
    found_elsewhere = _answered_elsewhere(analyser, question, ctx, trust, continued, exclude=spec)
    if found_elsewhere is not None:
        candidate, alternative = found_elsewhere
        return Decision(
            Kind.ANSWER,
            question,
            spec=candidate,
            topic=ctx.topic_of(candidate),
            support=alternative,
            reason=analyser.reason("rescued", original=spec.label, intent=candidate.label),
        )
    return Decision(
        Kind.NOT_COVERED,
        question,
        spec=spec,
        topic=topic,
        support=found,
        reason=_not_covered_reason(analyser, found, spec),
    )


def _answered_elsewhere(
    analyser: Analyser, question: Question, ctx: Context, trust: bool, follow_up: bool, exclude: IntentSpec
) -> tuple[IntentSpec, Support] | None:
    """The first intent of the map that names the question's topic words and states its decisive aspect.

    One of its sentences must name every topic word of the question and state the decisive aspect
    asked ("那驾照补换领呢" after the vehicle inspection: （十二） names 补换领驾驶证). Used when NLU
    ranked nothing that does.
    """
    specific = [a for a in question.aspects if not analyser.aspect(a).generic]
    if not question.topic_words or not specific or not all(analyser.aspect(a).decisive for a in specific):
        return None
    for candidate in ctx.specs.values():
        if candidate.intent == exclude.intent:
            continue
        measures = ctx.measures(candidate.measures)
        alternative = support(analyser, question, measures, trust_documents=trust, follow_up=follow_up)
        if not alternative.supported or not alternative.focus:
            continue
        # one sentence must say it of the very thing asked about
        if any(
            any(f in s.text for f in alternative.focus)
            and all(_names(s.text, w, analyser.aliases) for w in question.topic_words)
            for m in measures
            for s in m.sentences
        ):
            return candidate, alternative
    return None


def _changes_subject(
    analyser: Analyser,
    question: Question,
    spec: IntentSpec | None,
    confidence: float,
    previous: IntentSpec,
    ctx: Context,
) -> bool:
    """True when the message moves away from the previous answer's measures.

    That is a message that opens with 对了/另外 …, or that NLU is sure belongs to other measures which
    name a word of it the previous measures do not ("对了交违章罚款能用微信吗" after the ID card).
    """
    if question.text.startswith(analyser.vocabulary.topic_shift):
        return True
    if spec is None or confidence < NLU_SURE or spec.measures == previous.measures:
        return False
    theirs, ours = body_text(ctx.measures(spec.measures)), measure_text(ctx.measures(previous.measures))
    return any(len(t) > 1 and is_cjk(t[0]) and t in theirs and t not in ours for t in analyser.segment(question.text))


def _asks_something(question: Question, intent: str | None) -> bool:
    """Whether a short message naming no topic can be a follow-up to the previous answer.

    It can when it asks an aspect ("那要多久") or names a case, or unless NLU put it out of scope.
    A message that asks no aspect, names no case and that NLU read as out of scope ("明天天气怎么样",
    "讲个笑话吧") is about something else: it must not be answered from the previous measure.
    """
    return bool(question.aspects or question.objects) or intent not in NOT_A_QUESTION_INTENTS


def _continues(question: Question, previous: IntentSpec, ctx: Context) -> bool:
    """True for a short message whose topic words the previous answer's measures name.

    As "那办出入境证件呢" after the weekend pilot, which covers 出入境证件 too.
    """
    if (
        len(compact(question.text)) > FOLLOWUP_MAX_CHARS
        or not question.topic_words
        or any(o.agency != PERSONS for o in question.objects)
    ):
        return False
    return all(w in measure_text(ctx.measures(previous.measures)) for w in question.topic_words)


def _same_topic_for_aspects(
    question: Question, ctx: Context, previous: IntentSpec, nlu_choice: IntentSpec | None
) -> IntentSpec:
    """The intent a follow-up continues.

    Of the previous intent's measures, the one that asks what the follow-up asks (居住证的用处 after
    its conditions); else NLU's choice when it is on the same measures; else the previous intent itself.
    """
    wanted = {_INTENT_ASPECT.get(a, a) for a in question.aspects}
    topic = ctx.topic_of(previous)
    if topic is not None and wanted:
        for name in topic.intents:
            candidate = ctx.specs.get(name)
            if candidate is not None and candidate.aspect in wanted and candidate.measures == previous.measures:
                return candidate
    if nlu_choice is not None and nlu_choice.measures == previous.measures:
        return nlu_choice
    return previous


# The aspects of knowledge/answerability.yml that the intent map's aspects name differently.
_INTENT_ASPECT = {"process": "overview"}


def _best_in_topics(
    ranked: Sequence[tuple[IntentSpec, float]], topics: Sequence[str], ctx: Context
) -> IntentSpec | None:
    for candidate, _ in ranked:
        t = ctx.topic_of(candidate)
        if t is not None and t.name in topics:
            return candidate
    first = ctx.topics.get(topics[0])
    if first is not None and first.primary:
        return ctx.specs.get(first.primary)
    return None


def _names(text: str, word: str, aliases: Mapping[str, str]) -> bool:
    return word in text or aliases.get(word, "\0") in text


def _may_take_over(
    question: Question, candidate: IntentSpec, topic: Topic | None, ctx: Context, aliases: Mapping[str, str]
) -> bool:
    """True when a ranked intent may answer instead of the chosen one.

    It may when it is on the chosen intent's topic, or when its measures name every topic word of
    the question.
    """
    if topic is not None and ctx.topic_of(candidate) is topic:
        return True
    if not question.topic_words:
        return False
    text = measure_text(ctx.measures(candidate.measures))
    return all(_names(text, w, aliases) for w in question.topic_words)


def _wants_overview(question: Question, topic: Topic | None, confidence: float, continued: bool) -> bool:
    if continued or topic is None or not topic.overview or topic.name not in question.topics:
        return False
    if any(a != "process" for a in question.aspects) or question.objects:
        return False
    return confidence < OVERVIEW_MAX_CONFIDENCE


def _without_intent(
    analyser: Analyser, question: Question, intent: str | None, confidence: float, ctx: Context
) -> Decision:
    """NLU found no answering intent (out of scope, unsure, a follow-up with nothing before it)."""
    names = question.topics or question.story_topics
    if not names:
        if intent == "nlu_fallback":
            return Decision(Kind.CLARIFY, question, reason=analyser.reason("no_topic_unsure"))
        if intent and intent.startswith("followup_"):
            return Decision(Kind.ASK_TOPIC, question, reason=analyser.reason("followup_without_context"))
        return Decision(Kind.OUT_OF_SCOPE, question, reason=analyser.reason("no_topic"))
    topic = ctx.topics[names[0]]
    specific = [a for a in question.aspects if not analyser.aspect(a).generic]
    spec = ctx.specs.get(topic.primary or "")
    if not specific and not question.objects:
        if intent == "nlu_fallback" and len(topic.intents) > 1 and not topic.overview:
            # "落户" alone: ask which of the topic's questions is meant.
            return Decision(
                Kind.CLARIFY, question, topic=topic, reason=analyser.reason("topic_clarify", topic=topic.label)
            )
        sure_out = intent == "out_of_scope" and confidence >= OUT_OF_SCOPE_SURE
        if spec is not None and not sure_out and not topic.overview:
            return Decision(
                Kind.ANSWER,
                question,
                spec=spec,
                topic=topic,
                support=Support(True),
                reason=analyser.reason("topic_primary", topic=topic.label),
            )
        return _overview(analyser, question, topic)
    related = spec or next((ctx.specs[i] for i in topic.intents if i in ctx.specs), None)
    found = support(analyser, question, ctx.measures(topic.measures[:1]))
    if spec is not None and found.supported and not (intent == "out_of_scope" and confidence >= OUT_OF_SCOPE_SURE):
        return Decision(
            Kind.ANSWER,
            question,
            spec=spec,
            topic=topic,
            support=found,
            reason=analyser.reason("topic_primary", topic=topic.label),
        )
    return Decision(
        Kind.NOT_COVERED,
        question,
        spec=related,
        topic=topic,
        support=found,
        reason=_not_covered_reason(analyser, found, related),
    )


def _not_covered_reason(analyser: Analyser, found: Support, spec: IntentSpec | None) -> str:
    where = (
        analyser.reason("measures", numbers="、".join(str(n) for n in spec.measures))
        if spec
        else analyser.reason("the_notice")
    )
    if found.unknown_object is not None:
        return analyser.reason("missing_object", where=where, object=found.unknown_object.word)
    if found.missing_aspect is not None:
        return analyser.reason("missing_aspect", where=where, aspect=analyser.aspect(found.missing_aspect).label)
    return analyser.reason("missing", where=where)
