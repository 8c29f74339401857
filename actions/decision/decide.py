"""The decision: the rules propose, the learned pair model decides whether a measure is cited.

1. :func:`actions.decision.reading.is_attractor` messages (arithmetic, code, digits only, one
   character) are out of scope before anything else; the rules (:mod:`actions.decision.rules`)
   settle other regions, noise, follow-ups and overviews and propose an intent.
2. Every candidate (the proposal, the previous intent of a follow-up, NLU's top intents) gets
   P(it answers) from the pair model (:mod:`actions.decision.features`, :mod:`.model`). The best
   is cited when P reaches the bundle's threshold (chosen by grouped cross-validation).
3. Otherwise the reply is honest: ``not_covered`` with the best candidate as the related
   measure. It names what is not stated only when the aspect model is sure
   (``knowledge/decision.yml`` ``aspect_confident``) and the coverage table says the measure does
   not state that aspect; else it says the notice does not answer directly.
4. An overview stays unless the aspect model is sure of a specific aspect asked; a specific
   question the topic's measures do not answer gets the honest reply instead.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from actions.decision.features import Reading, candidate_rows, candidates, salient_words, top_aspect
from actions.decision.kinds import Decision, Kind, Scores, labelled
from actions.decision.model import Bundle
from actions.decision.question import Question
from actions.decision.reading import Analyser
from actions.decision.rules import Context
from actions.decision.rules import decide as propose
from actions.decision.settings import MODEL
from actions.decision.support import support
from bot.text.privacy import load_placeholders
from knowledge.coverage import Coverage

# What a broad question on a topic asks ("出入境证件怎么办"): it keeps the rules' overview.
BROAD_ASPECTS = frozenset({"general", "process", "other"})
# Proposals the pair model may overturn into an answer, and those it leaves as they are.
GATED = frozenset({Kind.ANSWER, Kind.NOT_COVERED, Kind.OVERVIEW, Kind.OUT_OF_SCOPE, Kind.CLARIFY})


@dataclass(frozen=True)
class Learned:
    """What the learned decision needs besides the rules' context."""

    bundle: Bundle
    coverage: Coverage
    idf: Callable[[str], float]
    aspect_labels: Mapping[str, str]  # aspect → how the reply names it (knowledge/answerability.yml)


def jieba_idf() -> Callable[[str], float]:
    """Inverse frequency of a word in jieba's dictionary (already in memory for segmentation)."""
    import jieba

    jieba.dt.check_initialized()
    freq, total = jieba.dt.FREQ, jieba.dt.total

    @functools.lru_cache(maxsize=65536)
    def idf(word: str) -> float:
        return math.log(total / (freq.get(word) or 1))

    return idf


def decide(
    analyser: Analyser,
    question: Question,
    intent: str | None,
    confidence: float,
    ranking: Sequence[Mapping],
    ctx: Context,
    learned: Learned | None,
) -> Decision:
    """The reply for ``question``: the rules' proposal, judged by the learned model."""
    if analyser.is_attractor(question.text):
        return _labelled(analyser, Decision(Kind.OUT_OF_SCOPE, question, reason=analyser.reason("no_topic")))
    proposal = propose(analyser, question, intent, confidence, ranking, ctx)
    if learned is None or proposal.kind not in GATED or question.noisy:
        # code-like or repetitive text: NLU's reading is not to be trusted, the rules clarify
        return proposal
    bundle = learned.bundle
    # what the models read: the question without the placeholders of redacted numbers ([身份证号] …)
    asked, whole = without_placeholders(question.asked), without_placeholders(question.text)
    probs = bundle.aspects.proba(asked)
    reading = Reading(
        question=question,
        intent=intent,
        confidence=confidence,
        ranking=ranking,
        proposal=proposal,
        previous=ctx.previous,
        aspect_probabilities=probs,
        words=salient_words(analyser, asked, bundle, learned.idf),
        similarities=bundle.neighbours.similarities(whole),
        answerable=bundle.answerable_probability(whole),
    )
    cands = candidates(reading, ctx.specs, int(MODEL["candidates"]))
    aspect, aspect_p = top_aspect(bundle, probs)
    # a specific aspect asked, for sure (费用, 有效期 …): then never an overview, the honest reply
    specific = aspect not in BROAD_ASPECTS and aspect_p >= MODEL["aspect_confident"]
    if not cands:
        nothing = Scores(0.0, bundle.pair.threshold, aspect, aspect_p, False)
        if proposal.kind is Kind.OVERVIEW and specific:
            # a specific question on a topic no intent answers: the honest reply, not the list
            reason = analyser.reason("learned_not_covered", probability="0")
            return _labelled(
                analyser, Decision(Kind.NOT_COVERED, question, topic=proposal.topic, reason=reason, scores=nothing)
            )
        return replace(proposal, scores=nothing)
    rows = candidate_rows(
        reading, cands, analyser, ctx.measures, learned.coverage, bundle, ctx.topic_of_intent, learned.idf
    )
    p = bundle.pair.proba(rows)
    order = sorted(range(len(cands)), key=lambda i: -p[i])
    best, best_p = cands[order[0]], float(p[order[0]])
    threshold = bundle.pair.threshold
    scores = Scores(
        probability=best_p,
        threshold=threshold,
        aspect=aspect,
        aspect_probability=aspect_p,
        covered=learned.coverage.states(best.measures, aspect),
        uncovered_words=tuple(w for w in reading.words if w not in bundle.intent_text.get(best.intent, "")),
        candidates=tuple((cands[i].intent, float(p[i])) for i in order),
    )
    if proposal.kind is Kind.OVERVIEW and not specific:
        return replace(proposal, scores=scores)  # the topic's list, not one measure
    if best_p >= threshold:
        same = proposal.kind is Kind.ANSWER and proposal.spec is not None and proposal.spec.intent == best.intent
        if same:
            return replace(proposal, scores=scores)
        found = support(analyser, question, ctx.measures(best.measures))
        return _labelled(
            analyser,
            Decision(
                Kind.ANSWER,
                question,
                spec=best,
                topic=ctx.topic_of(best),
                support=found,
                reason=analyser.reason("learned", probability=f"{best_p:.2f}"),
                aspect_override=proposal.aspect_override
                and proposal.spec is not None
                and proposal.spec.intent == best.intent,
                scores=scores,
            ),
        )
    if proposal.kind in (Kind.OUT_OF_SCOPE, Kind.CLARIFY):
        return replace(proposal, scores=scores)
    related = proposal.spec if proposal.spec is not None and proposal.kind is not Kind.OVERVIEW else best
    named = None
    if (
        aspect in MODEL["nameable_aspects"]
        and aspect_p >= MODEL["aspect_confident"]
        and not learned.coverage.states(related.measures, aspect)
        and aspect in learned.aspect_labels
    ):
        named = aspect
    return _labelled(
        analyser,
        Decision(
            Kind.NOT_COVERED,
            question,
            spec=related,
            topic=ctx.topic_of(related) or proposal.topic,
            support=support(analyser, question, ctx.measures(related.measures)),
            reason=analyser.reason("learned_not_covered", probability=f"{best_p:.2f}")
            + (analyser.reason("named_aspect", aspect=learned.aspect_labels[named]) if named else ""),
            scores=scores,
            named_aspect=named,
        ),
    )


@functools.lru_cache(maxsize=1)
def _placeholders() -> tuple[str, ...]:
    return tuple(load_placeholders().values())


def without_placeholders(text: str) -> str:
    """``text`` without the placeholders that stand for redacted personal numbers."""
    for placeholder in _placeholders():
        text = text.replace(placeholder, "")
    return text


def _labelled(analyser: Analyser, decision: Decision) -> Decision:
    return labelled(decision, analyser.vocabulary.decision_labels)
