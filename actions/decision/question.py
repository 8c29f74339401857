"""What the decision reads off a message and a measure: the question, objects named, support."""

from __future__ import annotations

from dataclasses import dataclass

from actions.decision.settings import READING

FOLLOWUP_MAX_CHARS = READING["followup_max_chars"]


@dataclass(frozen=True)
class ObjectMention:
    """Something the question names that an answer must speak about."""

    word: str
    # another agency's business (民政 …), PERSONS for people (老婆 → 配偶), None for a document word
    agency: str | None = None


PERSONS = "persons"


@dataclass(frozen=True)
class Question:
    """What :class:`Analyser` read from one message."""

    text: str
    asked: str
    is_story: bool
    aspects: tuple[str, ...]
    objects: tuple[ObjectMention, ...]
    topics: tuple[str, ...]
    story_topics: tuple[str, ...]
    topic_words: tuple[str, ...]
    region: str | None
    noisy: bool = False

    @property
    def context_free(self) -> bool:
        """Short and naming no topic or object: it only makes sense after an earlier answer."""
        return (
            len(compact(self.text)) <= FOLLOWUP_MAX_CHARS
            and not self.topics
            and not self.story_topics
            and all(o.agency == PERSONS for o in self.objects)
        )


@dataclass(frozen=True)
class Support:
    """Whether measures answer a question, and if not, why."""

    supported: bool
    missing_aspect: str | None = None
    unknown_object: ObjectMention | None = None
    focus: tuple[str, ...] = ()


def compact(text: str) -> str:
    """The letters and digits of ``text`` (punctuation and spaces dropped)."""
    return "".join(ch for ch in text if ch.isalnum())
