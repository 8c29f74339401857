"""Decide, after NLU, whether a measure really answers the question, and what to reply if not.

NLU picks the intent whose training examples look most like the question; that says what the
question is *about*, not whether the notice answers what it *asks*. "居住证有效期几年" is about
居住证, and measure （二十四） is about 居住证, but it says nothing of a validity period: citing it
would be wrong guidance that looks official. So every answer passes through :func:`decide`:

1. :class:`Analyser` reads the question: the asked part of a long story, the aspects asked
   (费用, 有效期, 补办 … from ``knowledge/answerability.yml``), the objects named (another agency's
   business such as 结婚证, or a document word the knowledge base does not know), the topics
   named (``knowledge/topics.yml``), and a place outside Guangxi where the service is wanted
   (the gazetteer of :mod:`knowledge.gazetteer`).
2. :func:`decide` settles which intent the question continues (a short follow-up that names no
   topic stays with the previous one; a story's incidental topic gives way to the asked one),
   then checks with :func:`support` that the intent's measures say what is asked. If they do
   not, another intent NLU ranked that does is taken, else the honest ``not_covered`` reply
   names what the notice does not say, with the measure only as a related pointer.
3. A question that names a topic but no measure ("出入境证件怎么办") gets the topic's overview.

Pure functions over dataclasses: the knowledge base, the intent map and the vocabulary are
passed in, so the tests drive every branch with real data and no servers.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence

from bot.text.cjk import count_cjk, is_cjk
from knowledge.gazetteer import Gazetteer
from knowledge.intent_map import IntentSpec
from knowledge.repository import MeasureInfo
from knowledge.vocabulary import Agency, Topic, Vocabulary

# A message at most this long that names no topic of its own is read as a follow-up.
FOLLOWUP_MAX_CHARS = 16
# A message at least this long, in at least this many clauses, is read as a story then a question.
STORY_MIN_CHARS = 24
STORY_MIN_CLAUSES = 3
# The asked clause is extended by the one before it when shorter than this ("是真的吗").
ASKED_MIN_CHARS = 12
ASKED_MAX_EXTRA = 2
# How many of NLU's ranked intents may take over when the chosen one does not answer.
RESCUE_CANDIDATES = 5
RESCUE_MIN_CONFIDENCE = 0.02
# A follow-up intent with no conversation before it takes NLU's best reading above this.
STANDALONE_MIN_CONFIDENCE = 0.12
# A general question on a topic without a primary intent gets the overview when NLU's choice
# is weaker than this.
OVERVIEW_MAX_CONFIDENCE = 0.5
# A document word the knowledge base does not know (学生证) makes NLU's choice unanswerable only
# when NLU is less sure than this; another agency's business (结婚证) always does.
UNKNOWN_DOCUMENT_MAX_CONFIDENCE = 0.5
# A question that names one topic while NLU chose an intent of another, whose measures never
# name it, is steered to the named topic when NLU's choice is weaker than this.
OFF_TOPIC_MAX_CONFIDENCE = 0.35
# In a story the asked part's topic wins over NLU's choice unless NLU is this sure.
STORY_SWITCH_MAX_CONFIDENCE = 0.9
# NLU at least this sure of other measures that name a word of the message the previous ones do
# not: the message changes the subject, whatever its length.
NLU_SURE = 0.9
# An out-of-scope verdict at least this sure gets the topic's overview rather than its main answer.
OUT_OF_SCOPE_SURE = 0.7
# NLU's reading of a message that asks none of the notice's questions (a fallback is only unsure:
# many real follow-ups get one).
NOT_A_QUESTION_INTENTS = frozenset({"out_of_scope"})
# Document words are at least this long (证书 alone, 验证, 行证 are not documents).
MIN_DOCUMENT_CHARS = 3

_CLAUSE_SPLIT = re.compile(r"[，。！？；,.!?;、\n]+|\s{1,}")


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
            len(_compact(self.text)) <= FOLLOWUP_MAX_CHARS
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


@dataclass(frozen=True)
class Decision:
    """What to reply. ``kind`` is one of :data:`KINDS`."""

    kind: str
    question: Question
    spec: IntentSpec | None = None
    topic: Topic | None = None
    support: Support | None = None
    reason: str = ""
    overview_measures: tuple[int, ...] = ()
    aspect_override: bool = False
    label: str = ""

    def to_json(self) -> dict:
        """For the REST payload and the staff console: the decision and its reason."""
        return {
            "decision": self.kind,
            "decision_label": self.label,
            "intent": self.spec.intent if self.spec else None,
            "topic": self.topic.name if self.topic else None,
            "aspects": list(self.question.aspects),
            "objects": [asdict(o) for o in self.question.objects],
            "missing_aspect": self.support.missing_aspect if self.support else None,
            "unknown_object": self.support.unknown_object.word
            if self.support and self.support.unknown_object
            else None,
            "asked": self.question.asked if self.question.is_story else None,
            "region": self.question.region,
            "reason": self.reason,
        }


KINDS = ("answer", "not_covered", "overview", "other_region", "out_of_scope", "clarify", "ask_topic")


def _compact(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _find_spans(text: str, words: Iterable[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping occurrences of ``words`` in ``text``, longest word first."""
    return _spans_of(text, sorted(set(words), key=_longest_first))


def _longest_first(word: str) -> tuple[int, str]:
    return -len(word), word


def _spans_of(text: str, ordered: Iterable[str]) -> list[tuple[int, int, str]]:
    """The spans of :func:`_find_spans` for words already in its order (longest, then alphabetical)."""
    taken = [False] * len(text)
    spans = []
    for word in ordered:
        start = text.find(word)
        while start != -1:
            end = start + len(word)
            if not any(taken[start:end]):
                spans.append((start, end, word))
                for i in range(start, end):
                    taken[i] = True
            start = text.find(word, start + 1)
    return sorted(spans)


class WordFinder:
    """:func:`_find_spans` over one fixed set of words, which are sorted once, not at every call.

    Only the words that occur in the text are looked for (an index by first character finds them),
    in the order :func:`_find_spans` takes them, so the spans are the same.
    """

    def __init__(self, words: Iterable[str]):
        ordered = sorted(set(words), key=_longest_first)
        self._rank = {word: i for i, word in enumerate(ordered)}
        by_first: dict[str, list[str]] = {}
        for word in ordered:
            if word:
                by_first.setdefault(word[0], []).append(word)
        self._by_first = {first: tuple(words) for first, words in by_first.items()}
        # the empty word occurs everywhere: such a set takes the plain way
        self._all = tuple(ordered) if "" in self._rank else None

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping occurrences of the words in ``text``, longest word first."""
        if self._all is not None:
            return _spans_of(text, self._all)
        present = [w for ch in set(text) for w in self._by_first.get(ch, ()) if w in text]
        return _spans_of(text, sorted(present, key=self._rank.__getitem__))


class Occurrence:
    """Whether any of a fixed set of words occurs in a text, looked up by the words' first two characters.

    A text of n characters costs n dictionary look-ups, whatever the number of words.
    """

    def __init__(self, words: Iterable[str]):
        self._pairs: dict[str, list[str]] = {}
        singles = set()
        self._empty = False
        for word in words:
            if len(word) >= 2:
                self._pairs.setdefault(word[:2], []).append(word)
            elif word:
                singles.add(word)
            else:
                self._empty = True
        self._singles = frozenset(singles)

    def any_in(self, text: str) -> bool:
        """True when one of the words occurs in ``text``."""
        if self._empty or (self._singles and not self._singles.isdisjoint(text)):
            return True
        pairs = self._pairs
        for i in range(len(text) - 1):
            candidates = pairs.get(text[i : i + 2])
            if candidates is not None and any(text.startswith(w, i) for w in candidates):
                return True
        return False


class _Cuts:
    """``segment`` remembered for the texts of one message (its asked part is often all of it)."""

    def __init__(self, segment: Callable[[str], list[str]]):
        self._segment = segment
        self._cut: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        words = self._cut.get(text)
        if words is None:
            words = self._cut[text] = self._segment(text)
        return words


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
        cut = _Cuts(self.segment)
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


REPETITIVE_MIN_CHARS = 40
REPETITIVE_RATIO = 8
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
    return replace(decision, label=analyser.vocabulary.decision_labels.get(decision.kind, decision.kind))


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
            "other_region", question, spec=spec, reason=analyser.reason("other_region", region=question.region)
        )
    if question.noisy:
        named = ctx.topics.get(question.topics[0]) if question.topics else None
        return Decision("clarify", question, topic=named, reason=analyser.reason("noisy"))
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
            "answer",
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
                "answer",
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
            "answer",
            question,
            spec=candidate,
            topic=ctx.topic_of(candidate),
            support=alternative,
            reason=analyser.reason("rescued", original=spec.label, intent=candidate.label),
        )
    return Decision(
        "not_covered",
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
        len(_compact(question.text)) > FOLLOWUP_MAX_CHARS
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


def topic_overview(analyser: Analyser, question: Question, topic: Topic) -> Decision:
    """The overview of ``topic``, asked for by name (a WeChat menu entry): one line per measure.

    No NLU reading is judged: the resident chose the topic, so every topic, with or without a
    primary intent or ``overview: true``, gets its overview.
    """
    decision = _overview(analyser, question, topic)
    return replace(decision, label=analyser.vocabulary.decision_labels.get(decision.kind, decision.kind))


def _overview(
    analyser: Analyser, question: Question, topic: Topic, first: int | None = None, spec: IntentSpec | None = None
) -> Decision:
    order = list(topic.measures)
    if first is not None:
        order = [first] + [n for n in order if n != first]
    return Decision(
        "overview",
        question,
        spec=spec,
        topic=topic,
        overview_measures=tuple(order),
        reason=analyser.reason("overview", topic=topic.label),
    )


def _without_intent(
    analyser: Analyser, question: Question, intent: str | None, confidence: float, ctx: Context
) -> Decision:
    """NLU found no answering intent (out of scope, unsure, a follow-up with nothing before it)."""
    names = question.topics or question.story_topics
    if not names:
        if intent == "nlu_fallback":
            return Decision("clarify", question, reason=analyser.reason("no_topic_unsure"))
        if intent and intent.startswith("followup_"):
            return Decision("ask_topic", question, reason=analyser.reason("followup_without_context"))
        return Decision("out_of_scope", question, reason=analyser.reason("no_topic"))
    topic = ctx.topics[names[0]]
    specific = [a for a in question.aspects if not analyser.aspect(a).generic]
    spec = ctx.specs.get(topic.primary or "")
    if not specific and not question.objects:
        if intent == "nlu_fallback" and len(topic.intents) > 1 and not topic.overview:
            # "落户" alone: ask which of the topic's questions is meant.
            return Decision(
                "clarify", question, topic=topic, reason=analyser.reason("topic_clarify", topic=topic.label)
            )
        sure_out = intent == "out_of_scope" and confidence >= OUT_OF_SCOPE_SURE
        if spec is not None and not sure_out and not topic.overview:
            return Decision(
                "answer",
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
            "answer",
            question,
            spec=spec,
            topic=topic,
            support=found,
            reason=analyser.reason("topic_primary", topic=topic.label),
        )
    return Decision(
        "not_covered",
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


def where_to_ask(vocabulary: Vocabulary, decision: Decision) -> str:
    """Where the resident should ask: the agency of an object named, else the default."""
    obj = decision.support.unknown_object if decision.support else None
    if obj is not None and obj.agency:
        agency: Agency | None = next((a for a in vocabulary.agencies if a.name == obj.agency), None)
        if agency is not None:
            return agency.where
    return vocabulary.default_where
