"""The pair model's features: what NLU, the rules, the aspect model and the words say of one candidate.

A candidate is an intent that might answer the question: NLU's top intents and the rules'
proposal (:mod:`actions.decision.rules`). :func:`candidate_rows` gives one row per candidate,
in :data:`FEATURES` order; training (:mod:`bot.quality.decision`) and the action server both
call it, so the two cannot drift apart (the bundle stores the names and is refused if they differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from actions.decision.kinds import Decision, Kind
from actions.decision.model import Bundle
from actions.decision.question import Question
from actions.decision.reading import Analyser
from actions.decision.support import support
from bot.text.cjk import has_cjk
from knowledge.coverage import Coverage
from knowledge.intent_map import IntentSpec

FEATURES = (
    "nlu_confidence",
    "nlu_log_confidence",
    "nlu_rank",
    "nlu_is_top",
    "nlu_top_confidence",
    "nlu_margin",
    "nlu_out_of_scope",
    "nlu_fallback",
    "rules_answer",
    "rules_not_covered",
    "rules_overview",
    "rules_out_of_scope",
    "is_proposal",
    "is_previous",
    "words_supported",
    "words_missing_aspect",
    "words_unknown_object",
    "aspect_general",
    "aspect_covered",
    "aspect_top_probability",
    "uncovered_count",
    "uncovered_max_idf",
    "salient_count",
    "topic_named",
    "topic_matches",
    "topic_other",
    "is_story",
    "log_length",
    # a follow-up ("那办好了能干什么"): NLU's confidence in its follow-up intent, for the intent the
    # rules say it continues
    "followup_confidence",
    "is_continued",
    # the answerable model (model.Bundle.answerable): is a question worded like this one answered
    # by the notice at all, whichever measure
    "text_answerable",
    # nearest labelled questions (model.NeighbourIndex): answered by the candidate's measure,
    # near-scope beside it, any answered one, and near-scope ones beside other measures
    "near_answered_here",
    "near_unanswered_here",
    "near_answered_any",
    "near_unanswered_elsewhere",
)
NEIGHBOUR_COLUMNS = FEATURES[-4:]
# A word is salient when its inverse frequency in jieba's dictionary is at least this, and at
# least this many characters long (jieba's dictionary is the general Chinese frequency list).
SALIENT_MIN_IDF = 9.0
SALIENT_MIN_CHARS = 2


@dataclass(frozen=True)
class Reading:
    """What the decision knows of one message before it looks at candidates."""

    question: Question
    intent: str | None
    confidence: float
    ranking: Sequence[Mapping]
    proposal: Decision
    previous: IntentSpec | None
    aspect_probabilities: np.ndarray
    words: tuple[str, ...]  # the salient words of the asked part
    similarities: np.ndarray | None = None  # to the bundle's neighbour index (None: filled later)
    answerable: float = float("nan")  # the answerable model's P(yes) (nan: filled later)


def salient_words(analyser: Analyser, text: str, bundle: Bundle, idf) -> tuple[str, ...]:
    """The words of ``text`` rare in general Chinese and not generic to the intents' examples."""
    seen: list[str] = []
    for word in analyser.segment(text):
        if len(word) < SALIENT_MIN_CHARS or word in bundle.generic_words or word in seen:
            continue
        if not has_cjk(word):
            continue
        if idf(word) >= SALIENT_MIN_IDF:
            seen.append(word)
    return tuple(seen)


def candidates(reading: Reading, specs: Mapping[str, IntentSpec], limit: int) -> list[IntentSpec]:
    """The rules' proposal, the previous intent of a follow-up, NLU's top ``limit`` intents, the topic's primary."""
    out: list[IntentSpec] = []
    if reading.proposal.spec is not None:
        out.append(reading.proposal.spec)
    if reading.previous is not None and reading.proposal.aspect_override:
        out.append(reading.previous)
    for r in reading.ranking:
        spec = specs.get(r.get("name") or "")
        if spec is not None:
            out.append(spec)
        if len(out) >= limit + 2:
            break
    topic = reading.proposal.topic
    if topic is not None and topic.primary is not None and topic.primary in specs:
        out.append(specs[topic.primary])  # an overview's (or a topic's) main question
    unique: dict[str, IntentSpec] = {}
    for spec in out:
        unique.setdefault(spec.intent, spec)
    return list(unique.values())


def neighbour_columns(
    sims: np.ndarray, positive: np.ndarray, measure: np.ndarray, primaries: Sequence[int]
) -> np.ndarray:
    """The :data:`NEIGHBOUR_COLUMNS` of each candidate (by its first measure)."""

    def top(mask: np.ndarray) -> float:
        return float(sims[mask].max()) if mask.any() else 0.0

    negative = ~positive
    any_pos = top(positive)
    return np.array(
        [
            [top(positive & (measure == m)), top(negative & (measure == m)), any_pos, top(negative & (measure != m))]
            for m in primaries
        ]
    ).reshape(len(primaries), len(NEIGHBOUR_COLUMNS))


def uncovered(reading: Reading, spec: IntentSpec, bundle: Bundle, idf) -> list[tuple[str, float]]:
    """The salient words of the question that no part of ``spec`` (measures, examples) contains."""
    text = bundle.intent_text.get(spec.intent, "")
    return [(w, idf(w)) for w in reading.words if w not in text]


def candidate_rows(
    reading: Reading,
    cands: Sequence[IntentSpec],
    analyser: Analyser,
    measures,
    coverage: Coverage,
    bundle: Bundle,
    topic_of_intent: Mapping[str, str],
    idf,
) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate."""
    conf = {r.get("name"): float(r.get("confidence") or 0.0) for r in reading.ranking}
    order = [r.get("name") for r in reading.ranking]
    top = float(reading.ranking[0].get("confidence") or 0.0) if reading.ranking else 0.0
    probs = reading.aspect_probabilities
    classes = bundle.aspects.classes
    kind = reading.proposal.kind
    general = sum(float(p) for c, p in zip(classes, probs, strict=False) if c == "general")
    question = reading.question
    followup = reading.confidence if (reading.intent or "").startswith("followup_") else 0.0
    rows = []
    for spec in cands:
        c = conf.get(spec.intent, 0.0)
        rank = order.index(spec.intent) if spec.intent in order else len(order)
        found = support(analyser, question, measures(spec.measures), trust_documents=c >= 0.5)
        covered = sum(float(p) for a, p in zip(classes, probs, strict=False) if coverage.states(spec.measures, a))
        missing = uncovered(reading, spec, bundle, idf)
        topic = topic_of_intent.get(spec.intent)
        is_proposal = reading.proposal.spec is not None and reading.proposal.spec.intent == spec.intent
        continued = is_proposal and reading.proposal.aspect_override
        rows.append(
            [
                c,
                math.log(c + 1e-3),
                min(rank, 10) / 10,
                float(rank == 0),
                top,
                top - c,
                conf.get("out_of_scope", 0.0),
                float(reading.intent == "nlu_fallback"),
                float(is_proposal and kind is Kind.ANSWER),
                float(is_proposal and kind is Kind.NOT_COVERED),
                float(kind is Kind.OVERVIEW),
                float(kind in (Kind.OUT_OF_SCOPE, Kind.CLARIFY, Kind.ASK_TOPIC)),
                float(is_proposal),
                float(reading.previous is not None and reading.previous.intent == spec.intent),
                float(found.supported),
                float(found.missing_aspect is not None),
                float(found.unknown_object is not None),
                general,
                covered,
                float(probs.max()) if len(probs) else 0.0,
                float(len(missing)),
                max((i for _, i in missing), default=0.0) / 20,
                float(len(reading.words)),
                float(bool(question.topics)),
                float(topic in question.topics),
                float(bool(question.topics) and topic not in question.topics),
                float(question.is_story),
                math.log(1 + len(question.text)),
                followup if continued else 0.0,
                float(continued),
                reading.answerable,
            ]
        )
    out = np.array(rows, dtype=np.float64).reshape(len(cands), len(FEATURES) - len(NEIGHBOUR_COLUMNS))
    if reading.similarities is None:
        near = np.full((len(cands), len(NEIGHBOUR_COLUMNS)), np.nan)
    else:
        index = bundle.neighbours
        near = neighbour_columns(reading.similarities, index.positive, index.measure, [c.primary for c in cands])
    return np.hstack([out, near])


def top_aspect(bundle: Bundle, probs: np.ndarray) -> tuple[str, float]:
    """The aspect model's best class and its probability."""
    i = int(np.argmax(probs))
    return bundle.aspects.classes[i], float(probs[i])
