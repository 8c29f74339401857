"""Reading one message: the asked part, aspects, objects, topics and a place outside Guangxi."""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, Sequence

from actions.decision.question import PERSONS, ObjectMention, Question
from actions.decision.settings import READING
from actions.decision.words import Cuts, Occurrence, WordFinder
from bot.text.cjk import count_cjk, is_cjk
from knowledge.gazetteer import Gazetteer
from knowledge.vocabulary import Topic, Vocabulary

STORY_MIN_CHARS = READING["story_min_chars"]
STORY_MIN_CLAUSES = READING["story_min_clauses"]
ASKED_MIN_CHARS = READING["asked_min_chars"]
ASKED_MAX_EXTRA = READING["asked_max_extra"]
MIN_DOCUMENT_CHARS = READING["min_document_chars"]
REPETITIVE_MIN_CHARS = READING["repetitive_min_chars"]
REPETITIVE_RATIO = READING["repetitive_ratio"]
_NUMBER = r"(?:\d+(?:\.\d+)?|[零一二三四五六七八九十百千两]+)"
_ARITHMETIC = re.compile(_NUMBER + r"\s*[+\-*/×÷＋－＊／^=加减乘除]\s*" + _NUMBER)
# what may remain of an arithmetic message besides the sum ("等于几", "是多少")
ARITHMETIC_MAX_REST_CJK = 3
_DIGITS_ONLY = re.compile(r"[\d\W_]+")
_CLAUSE_SPLIT = re.compile(r"[，。！？；,.!?;、\n]+|\s{1,}")


class Analyser:
    """Reads questions with the project's vocabulary, topics, gazetteer and knowledge-base words.

    Args:
        vocabulary: ``knowledge/answerability.yml``.
        topics: ``knowledge/topics.yml``.
        known_words: words the knowledge base knows (lexicon terms, aliases and their targets).
        aliases: what residents say → the notice's word (暂住证 → 居住证).
        segment: cuts a text into words (jieba with the knowledge base's terms).
        gazetteer: finds places in a text.
        add_words: makes ``segment`` know more words (the place names, so that a place is cut as
            one word where it is one).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        topics: Mapping[str, Topic],
        known_words: Iterable[str],
        aliases: Mapping[str, str],
        segment: Callable[[str], list[str]],
        gazetteer: Gazetteer,
        add_words: Callable[[Iterable[str]], None] | None = None,
    ):
        self.vocabulary = vocabulary
        self.known_words = frozenset(known_words)
        self.aliases = dict(aliases)
        self.segment = segment
        self.gazetteer = gazetteer
        self._ask_words = {w: a.name for a in reversed(vocabulary.aspects) for w in a.asks}
        self._weak_words = {w: a.name for a in vocabulary.aspects for w in a.weak_asks}
        self._agency_words = {w: ag.name for ag in vocabulary.agencies for w in ag.objects}
        self._topic_words = {w: t.name for t in reversed(list(topics.values())) for w in t.words}
        # A longer word of the knowledge base hides the topic word inside it: 户口簿 is a
        # document, not a question about 户口.
        self._topic_blockers = [w for w in self.known_words if len(w) > 1 and w not in self._topic_words]
        places = gazetteer.names()
        if add_words is not None:
            add_words(places)
        # most messages name no place: then the gazetteer's scan (a pattern of some 5,600 names) is skipped
        self._places = Occurrence(places)
        self._aspects = {a.name: a for a in vocabulary.aspects}
        # the word lists are fixed for the analyser's life: sorted once, not for every message
        self._ask_finder = WordFinder(self._ask_words)
        self._weak_finder = WordFinder(self._weak_words)
        self._topic_finder = WordFinder([*self._topic_words, *self._topic_blockers])
        self._agency_finder = WordFinder(self._agency_words)
        self._person_finder = WordFinder(vocabulary.persons)
        self._guangxi_finder = WordFinder(vocabulary.guangxi_words)

    def analyse(self, text: str) -> Question:
        """Read one message (already normalised: simplified, half-width)."""
        text = (text or "").strip()
        asked, is_story = asked_part(text, self.vocabulary.question_markers, self.vocabulary.refer_back)
        core = asked.rsplit("，", 1)[-1] if is_story else asked
        topics, topic_words = self._topics(asked)
        story_topics: tuple[str, ...] = ()
        if is_story:
            all_topics, _ = self._topics(text)
            story_topics = tuple(t for t in all_topics if t not in topics)
        # each text is cut at most once, and only when a reading needs its words
        cut = Cuts(self.segment)
        region = self._region(text, cut)
        return Question(
            text=text,
            asked=asked,
            is_story=is_story,
            aspects=self._aspects_of(core),
            objects=self._objects(asked, cut),
            topics=topics,
            story_topics=story_topics,
            topic_words=topic_words,
            region=region,
            noisy=is_noisy(text),
        )

    def aspect(self, name: str):
        """The :class:`~knowledge.vocabulary.Aspect` called ``name``."""
        return self._aspects[name]

    @staticmethod
    def is_attractor(text: str) -> bool:
        """True for a message that is no question about the notice, whatever NLU makes of it.

        Arithmetic ("2+3等于几"), digits and signs only, or at most one Chinese character and no word.
        """
        compact = "".join(text.split())
        sum_ = _ARITHMETIC.search(compact)
        if sum_ and count_cjk(compact[: sum_.start()] + compact[sum_.end() :]) <= ARITHMETIC_MAX_REST_CJK:
            return True
        if not compact or _DIGITS_ONLY.fullmatch(compact):
            return True
        letters = sum(1 for ch in compact if ch.isascii() and ch.isalpha())
        return count_cjk(compact) <= 1 and letters < 3

    def reason(self, key: str, **values: str) -> str:
        """The staff-facing reason ``key`` of ``answerability.yml`` filled with ``values``."""
        template = self.vocabulary.reasons.get(key, key)
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template

    def _aspects_of(self, text: str) -> tuple[str, ...]:
        found: list[str] = []
        for _, _, word in self._ask_finder.spans(text):
            name = self._ask_words[word]
            if name not in found:
                found.append(name)
        for aspect in self.vocabulary.aspects:
            if aspect.name not in found and any(p.search(text) for p in aspect.ask_patterns):
                found.append(aspect.name)
        specific = [a for a in found if not self._aspects[a].generic]
        if not specific:
            for _, _, word in self._weak_finder.spans(text):
                if self._weak_words[word] not in found:
                    found.append(self._weak_words[word])
        return tuple(found)

    def _topics(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        topics: list[str] = []
        words: list[str] = []
        for _, _, word in self._topic_finder.spans(text):
            name = self._topic_words.get(word)
            if name is None:
                continue
            if name not in topics:
                topics.append(name)
            if word not in words:
                words.append(word)
        return tuple(topics), tuple(words)

    def _objects(self, text: str, cut: Callable[[str], list[str]] | None = None) -> tuple[ObjectMention, ...]:
        """The objects ``text`` names (``cut`` cuts it into words; default :attr:`segment`)."""
        found: list[ObjectMention] = []
        agency_spans = self._agency_finder.spans(text)
        for _, _, word in agency_spans:
            found.append(ObjectMention(word=word, agency=self._agency_words[word]))
        for _, _, word in self._person_finder.spans(text):
            found.append(ObjectMention(word=word, agency=PERSONS))
        covered = "".join(w for _, _, w in agency_spans)
        suffixes = self.vocabulary.document_suffixes
        # a word ending with a document suffix needs the suffix in the text: else there is nothing to cut for
        words = (cut or self.segment)(text) if any(s in text for s in suffixes) else []
        for token in words:
            token = token.strip()
            if len(token) < 2 or not is_cjk(token[0]) or token in covered:
                continue
            if (
                len(token) >= MIN_DOCUMENT_CHARS
                and token.endswith(suffixes)
                and token not in self.known_words
                and token not in self.aliases
                and not any(o.word == token for o in found)
            ):
                found.append(ObjectMention(word=token))
        return tuple(found)

    def _is_origin(self, text: str, start: int, end: int) -> bool:
        """True when the place at ``text[start:end]`` is where the resident comes from.

        As in "老家湖南", "湖南人", "从广东来"; not where the service is asked for.
        """
        before, after = text[max(0, start - 4) : start], text[end : end + 4]
        if text[end:].startswith(self.vocabulary.target_after):
            return False
        return (
            any(before.endswith(m) for m in self.vocabulary.origin_before)
            or after.startswith(self.vocabulary.origin_after)
            or after in self.vocabulary.origin_alone
        )

    def _region(self, text: str, cut: Callable[[str], list[str]] | None = None) -> str | None:
        """The first place outside Guangxi where the service is asked for, if any.

        None when a Guangxi place (not merely the resident's origin) is named too. A place counts only
        where it is a word of its own (出海安全 does not name 海安); ``cut`` cuts the text into words
        (default :attr:`segment`), needed only when the text names a place.
        """
        other, guangxi = None, False
        for _, end, word in self._guangxi_finder.spans(text):
            guangxi = guangxi or not self._is_origin(text, end - len(word), end)
        mentions = self.gazetteer.find(text) if self._places.any_in(text) else []
        bounds, position = {0}, 0
        for token in (cut or self.segment)(text) if mentions else ():
            position += len(token)
            bounds.add(position)
        for mention in mentions:
            if mention.start not in bounds:
                continue
            origin = self._is_origin(text, mention.start, mention.end)
            if mention.place.in_guangxi:
                guangxi = guangxi or not origin
            elif not origin and other is None:
                other = mention.text
        return None if guangxi else other


_CODE_CHARS = frozenset("{}<>=;$`|\\\"'")


def is_noisy(text: str) -> bool:
    """True for text whose NLU reading is not to be trusted.

    That is text that looks like code or an injection attempt around a few Chinese words
    ("{{7*7}}怎么办居住证", "落户' OR '1'='1'"), or one phrase pasted over and over.
    """
    code = sum(1 for ch in text if ch in _CODE_CHARS)
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    cjk = count_cjk(text)
    # "落户落户落户…": a long run of a few characters is not a question either
    repetitive = len(text) >= REPETITIVE_MIN_CHARS and len(set(text)) * REPETITIVE_RATIO < len(text)
    return code >= 2 or latin > max(6, 2 * cjk) or repetitive


def asked_part(text: str, markers: Sequence[str], refer_back: Sequence[str] = ()) -> tuple[str, bool]:
    """The part of a message that asks, and whether the message is a story.

    A story is long and has several clauses; its asked part is the last clause with a question
    marker, together with the clauses before it while it is short ("是真的吗", "多少天能给我答复"
    after "想投诉一下") or refers back ("这个是不是也能…"), at most :data:`ASKED_MAX_EXTRA` of them.
    The aspects are read from the last clause alone, the topics from all of the asked part.
    """
    clauses = [c for c in _CLAUSE_SPLIT.split(text) if c]
    if len(text) < STORY_MIN_CHARS or len(clauses) < STORY_MIN_CLAUSES:
        return text, False
    if text.rstrip().endswith(("?", "？")):
        index = len(clauses) - 1
    else:
        index = next(
            (i for i in range(len(clauses) - 1, -1, -1) if any(m in clauses[i] for m in markers)), len(clauses) - 1
        )
    asked = clauses[index]
    start = index
    refers = any(w in asked for w in refer_back)
    while start > 0 and index - start < ASKED_MAX_EXTRA and (len(asked) < ASKED_MIN_CHARS or refers):
        start -= 1
        asked = clauses[start] + "，" + asked
    return asked, True
