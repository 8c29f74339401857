"""Pick the part of a measure that answers an intent. Pure functions over dataclasses.

The wording of replies lives in ``domain.yml``; this module only chooses which sentences of
the knowledge base to quote and which measures to cite.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.intent_map import IntentSpec
from knowledge.repository import DocumentInfo, MeasureInfo, SentenceInfo

# A phone screen shows about this many characters without scrolling far.
MAX_ANSWER_CHARS = 220


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
        """The slots of ``utter_measure_answer`` and ``utter_measure_text``."""
        return {
            "answer": self.answer,
            "measure_label": self.measure_label,
            "measure_title": self.measure_title,
            "doc_title": self.doc_title,
            "doc_date": self.doc_date,
            "doc_year": str(self.doc_year),
        }


def select_sentences(measure: MeasureInfo, spec: IntentSpec) -> list[SentenceInfo]:
    """The sentences of ``measure`` that answer ``spec``, in document order.

    The heading sentence is skipped unless it is all there is. Sentences containing a focus
    word win; among several, those carrying a fact of the wanted types; with no match, the
    whole body.
    """
    body = [s for s in measure.sentences if s.position > 0] or list(measure.sentences)
    chosen = [s for s in body if any(w in s.text for w in spec.focus)] if spec.focus else []
    if spec.facts:
        with_facts = {f.sentence for f in measure.facts if f.type in spec.facts}
        narrowed = [s for s in (chosen or body) if s.position in with_facts]
        chosen = narrowed or chosen
    return chosen or body


def shorten(sentences: list[SentenceInfo], limit: int = MAX_ANSWER_CHARS) -> str:
    """Join sentences, stopping before the one that would pass ``limit`` (always at least one)."""
    text = ""
    for s in sentences:
        if text and len(text) + len(s.text) > limit:
            break
        text += s.text
    return text


def compose(document: DocumentInfo, measure: MeasureInfo, spec: IntentSpec) -> Answer:
    """The answer to ``spec`` drawn from ``measure``, with what the source line needs."""
    return Answer(
        answer=shorten(select_sentences(measure, spec)),
        measures=spec.measures,
        measure_label=measure.label,
        measure_title=measure.title,
        doc_title=document.title,
        doc_date=document.issued_on_cn,
        doc_year=document.issued_on.year,
    )
