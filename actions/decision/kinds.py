"""The kinds of reply a decision names, and the decision itself."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, replace

from actions.decision.question import Question, Support
from knowledge.intent_map import IntentSpec
from knowledge.vocabulary import Topic


class Kind(str, enum.Enum):
    """What the reply is. A ``str`` enum: its value is the name clients and the console read."""

    ANSWER = "answer"  # cite the measure(s) of ``spec``
    NOT_COVERED = "not_covered"  # the notice does not answer: say so, ``spec`` only as related
    OVERVIEW = "overview"  # a broad question on a topic: one line per measure
    OTHER_REGION = "other_region"  # the service is wanted outside Guangxi
    OUT_OF_SCOPE = "out_of_scope"  # not a question about the notice
    CLARIFY = "clarify"  # unsure: offer the likely questions
    ASK_TOPIC = "ask_topic"  # a follow-up with nothing before it

    def __str__(self) -> str:
        return self.value


KINDS = tuple(k.value for k in Kind)


@dataclass(frozen=True)
class Scores:
    """What the learned decision saw for its choice (shown in the payload and the console)."""

    probability: float  # P(the chosen candidate answers the question)
    threshold: float  # the model's threshold: at or above it the candidate is cited
    aspect: str  # the aspect model's reading of what is asked
    aspect_probability: float
    covered: bool  # the coverage table says the candidate's measures state that aspect
    uncovered_words: tuple[str, ...] = ()  # salient words of the question no part of the candidate has
    candidates: tuple[tuple[str, float], ...] = ()  # (intent, probability), best first

    def to_json(self) -> dict:
        """For the payload."""
        return {
            "probability": round(self.probability, 4),
            "threshold": round(self.threshold, 4),
            "aspect": self.aspect,
            "aspect_probability": round(self.aspect_probability, 4),
            "covered": self.covered,
            "uncovered_words": list(self.uncovered_words),
            "candidates": [{"intent": i, "probability": round(p, 4)} for i, p in self.candidates],
        }


@dataclass(frozen=True)
class Decision:
    """What to reply: its :class:`Kind`, the intent it is about and why."""

    kind: Kind
    question: Question
    spec: IntentSpec | None = None
    topic: Topic | None = None
    support: Support | None = None
    reason: str = ""
    overview_measures: tuple[int, ...] = ()
    aspect_override: bool = False
    label: str = ""
    scores: Scores | None = None
    # the aspect a not_covered reply may name: only when the aspect model is sure and the coverage
    # table says the measure does not state it (else the reply says the notice does not answer)
    named_aspect: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "kind", Kind(self.kind))

    def to_json(self) -> dict:
        """For the REST payload and the staff console: the decision and its reason."""
        out: dict = {
            "decision": self.kind.value,
            "decision_label": self.label,
            "intent": self.spec.intent if self.spec else None,
            "topic": self.topic.name if self.topic else None,
            "aspects": list(self.question.aspects),
            "objects": [asdict(o) for o in self.question.objects],
            # the word rules' reading (a feature of the model), and the aspect the reply names
            "missing_aspect": self.support.missing_aspect if self.support else None,
            "named_aspect": self.named_aspect,
            "unknown_object": self.support.unknown_object.word
            if self.support and self.support.unknown_object
            else None,
            "asked": self.question.asked if self.question.is_story else None,
            "region": self.question.region,
            "reason": self.reason,
        }
        if self.scores is not None:
            out["model"] = self.scores.to_json()
        return out


def labelled(decision: Decision, labels: dict[str, str]) -> Decision:
    """``decision`` with the staff-facing name of its kind (``knowledge/answerability.yml``)."""
    return replace(decision, label=labels.get(decision.kind.value, decision.kind.value))
