"""Decide what answers a question: which measure, which of its sentences, which candidates to offer.

The candidates are offered when unsure. Pure functions over dataclasses; the wording lives in
``domain.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from bot.text.cjk import has_cjk
from knowledge.intent_map import IntentSpec
from knowledge.repository import DocumentInfo, MeasureInfo, SentenceInfo

# A phone screen shows about this many characters without scrolling far.
MAX_ANSWER_CHARS = 220
# Intents below this confidence are not offered as "您是想问" choices.
CLARIFY_MIN_CONFIDENCE = 0.12
CLARIFY_MAX_CHOICES = 3


@dataclass(frozen=True)
class Answer:
    """What the answering action needs to fill ``utter_measure_answer``."""

    answer: str
    measures: tuple[int, ...]
    measure_label: str
    measure_title: str
    doc_title: str
    doc_date: str
    doc_year: int

    def template_values(self) -> dict[str, str]:
        """The variables of ``utter_measure_answer``."""
        return {
            "answer": self.answer,
            "measure_label": self.measure_label,
            "measure_title": self.measure_title,
            "doc_title": self.doc_title,
            "doc_date": self.doc_date,
            "doc_year": str(self.doc_year),
        }


def looks_like_a_question(text: str) -> bool:
    """False for text with no Chinese character at all: it cannot be a question about the notice.

    Such text is ``${jndi:…}`` or ``<script>``, say. Button payloads (``/ask_…``) pass.
    """
    return text.startswith("/") or has_cjk(text)


def entity_words(
    entities: Mapping[str, str | None], focus: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> tuple[str, ...]:
    """Document words that the resident's entities (快递, 农村 …) point at."""
    words: list[str] = []
    for entity, value in entities.items():
        if value:
            words.extend(focus.get(entity, {}).get(str(value), ()))
    return tuple(words)


def select_sentences(measure: MeasureInfo, spec: IntentSpec, extra_focus: Iterable[str] = ()) -> list[SentenceInfo]:
    """The sentences of ``measure`` that answer ``spec``, in document order.

    The heading sentence is skipped unless it is all there is. Sentences containing a focus
    word win; then those carrying a fact of the wanted types; then those naming the resident's
    case (``extra_focus``: 快递, 农村 …). With no match at a step, that step is ignored.
    """
    body = [s for s in measure.sentences if s.position > 0] or list(measure.sentences)
    chosen = body
    if spec.focus:
        chosen = [s for s in body if any(w in s.text for w in spec.focus)] or body
    if spec.facts:
        with_facts = {f.sentence for f in measure.facts if f.type in spec.facts}
        chosen = [s for s in chosen if s.position in with_facts] or chosen
    extra = tuple(extra_focus)
    if extra:
        chosen = [s for s in chosen if any(w in s.text for w in extra)] or chosen
    return chosen


def shorten(sentences: list[SentenceInfo], limit: int = MAX_ANSWER_CHARS) -> str:
    """Join sentences, stopping before the one that would pass ``limit`` (always at least one)."""
    text = ""
    for s in sentences:
        if text and len(text) + len(s.text) > limit:
            break
        text += s.text
    return text


def compose(document: DocumentInfo, measure: MeasureInfo, spec: IntentSpec, extra_focus: Iterable[str] = ()) -> Answer:
    """The answer to ``spec`` drawn from ``measure``, with what the source line needs."""
    return Answer(
        answer=shorten(select_sentences(measure, spec, extra_focus)),
        measures=spec.measures,
        measure_label=measure.label,
        measure_title=measure.title,
        doc_title=document.title,
        doc_date=document.issued_on_cn,
        doc_year=document.issued_on.year,
    )


def related_sentences(measure: MeasureInfo, spec: IntentSpec) -> str:
    """Sentences of a secondary cited measure that mention the intent's focus words ("" if none)."""
    if not spec.focus:
        return ""
    return shorten([s for s in measure.sentences if s.position > 0 and any(w in s.text for w in spec.focus)])


def outside_pilot(spec: IntentSpec, city: str | None) -> bool:
    """True when the measure is a pilot in one place and the resident names another city."""
    if not spec.pilot or not city:
        return False
    return city.rstrip("市") != spec.pilot.rstrip("市")


@dataclass(frozen=True)
class Choice:
    """One "您是想问" button."""

    intent: str
    title: str
    confidence: float


def clarify_choices(
    ranking: Iterable[Mapping],
    specs: Mapping[str, IntentSpec],
    measure_titles: Mapping[int, str],
) -> list[Choice]:
    """Up to three answerable intents from the NLU ranking, titled by their measure's title.

    When two choices share a measure, each is titled by its intent's label instead, so the
    buttons differ.
    """
    picked = []
    for item in ranking:
        name, confidence = item.get("name"), float(item.get("confidence") or 0.0)
        if isinstance(name, str) and name in specs and confidence >= CLARIFY_MIN_CONFIDENCE:
            picked.append((specs[name], confidence))
        if len(picked) == CLARIFY_MAX_CHOICES:
            break
    primaries = [spec.primary for spec, _ in picked]
    return [
        Choice(
            intent=spec.intent,
            title=spec.label if primaries.count(spec.primary) > 1 else measure_titles.get(spec.primary, spec.label),
            confidence=confidence,
        )
        for spec, confidence in picked
    ]
