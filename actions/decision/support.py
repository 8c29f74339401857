"""Whether measures say what a question asks (the word-list reading, one feature of the decision)."""

from __future__ import annotations

from typing import Sequence

from actions.decision.question import PERSONS, Question, Support
from actions.decision.reading import Analyser
from knowledge.repository import MeasureInfo


def measure_text(measures: Sequence[MeasureInfo]) -> str:
    """All the text of ``measures`` (title and sentences)."""
    return "\n".join(m.text for m in measures)


def body_text(measures: Sequence[MeasureInfo]) -> str:
    """The sentences of ``measures`` after their headings: what they actually provide.

    "开通短信提醒服务" as a heading does not say how to switch the reminders on.
    """
    return "\n".join(s.text for m in measures for s in m.sentences if s.position > 0 or len(m.sentences) == 1)


def support(
    analyser: Analyser,
    question: Question,
    measures: Sequence[MeasureInfo],
    trust_documents: bool = False,
    follow_up: bool = False,
) -> Support:
    """Whether ``measures`` say what ``question`` asks.

    Every decisive aspect asked (费用, 有效期, 补办 …) must be supported by the measures' sentences
    (not their headings); of the other aspects, the one asked last (generic "how" questions are
    always supported). Every object named must occur in the measures' text, itself or as the
    word its alias stands for; documents the knowledge base
    does not know are let pass with ``trust_documents``, and people (老婆 → 配偶) are checked only
    in a ``follow_up`` (a first question's intent was already chosen for who asks).
    """
    text = measure_text(measures)
    aliases = analyser.aliases
    for obj in question.objects:
        if obj.agency == PERSONS and not follow_up:
            continue
        same = analyser.vocabulary.persons.get(obj.word) if obj.agency == PERSONS else aliases.get(obj.word)
        if obj.word in text or (same and same in text) or (trust_documents and obj.agency is None):
            continue
        stem = obj.word
        for suffix in analyser.vocabulary.document_suffixes:
            if obj.agency is None and stem.endswith(suffix) and len(stem) - len(suffix) >= 2:
                stem = stem[: -len(suffix)]
                break
        if obj.agency is None and stem != obj.word and stem in text:
            continue
        return Support(False, unknown_object=obj)
    body = body_text(measures)
    fact_types = {f.type for m in measures for f in m.facts}
    focus: list[str] = []
    decisive_ok, last_optional = False, None
    for name in question.aspects:
        aspect = analyser.aspect(name)
        if aspect.generic:
            continue
        words = [w for w in aspect.supported_by if w in body]
        ok = bool(words) or bool(set(aspect.facts) & fact_types)
        focus.extend(w for w in words if w not in focus)
        if aspect.decisive:
            if not ok:
                return Support(False, missing_aspect=name)
            decisive_ok = True
        else:
            last_optional = (name, ok)
    # of the other aspects, the one asked last is the question ("交了材料多少天能拿到" asks the time)
    if last_optional is not None and not last_optional[1] and not decisive_ok:
        return Support(False, missing_aspect=last_optional[0])
    return Support(True, focus=tuple(focus))
