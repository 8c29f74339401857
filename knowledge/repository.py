"""Read-only queries over the knowledge base, returning plain dataclasses.

Each public method opens one short session, reads, and closes it; the engine is made on first
use. Callers (actions, channels, CLI) never see ORM rows.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from typing import Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from knowledge import db, models

FACT_TYPES = ("time_limit", "threshold", "place", "document", "department", "channel", "phone")


class KnowledgeBaseMissing(RuntimeError):
    """The knowledge base has not been built at this URL (run ``make kb``)."""


@dataclass(frozen=True)
class DocumentInfo:
    """The notice's front matter, for source lines."""

    notice_title: str
    title: str
    issuer: str
    issued_on: date
    publication: str
    source_sha256: str
    content_digest: str

    @property
    def issued_on_cn(self) -> str:
        """The date as the document writes it: 2018年8月10日."""
        return f"{self.issued_on.year}年{self.issued_on.month}月{self.issued_on.day}日"


@dataclass(frozen=True)
class FactInfo:
    """A fact with the position of the sentence it came from."""

    type: str
    value: str
    canonical: str
    sentence: int


@dataclass(frozen=True)
class SentenceInfo:
    """A sentence of a measure."""

    position: int
    text: str


@dataclass(frozen=True)
class MeasureInfo:
    """One measure with its section, sentences and facts."""

    number: int
    label: str
    title: str
    section_number: int
    section_label: str
    section_title: str
    text: str
    sentences: tuple[SentenceInfo, ...] = ()
    facts: tuple[FactInfo, ...] = ()

    @property
    def section(self) -> str:
        """The section heading as written: 二、优化审批服务."""
        return f"{self.section_label}{self.section_title}"

    def to_json(self) -> dict:
        """The object ``python -m knowledge show N --json`` prints."""
        return {
            "number": self.number,
            "label": self.label,
            "title": self.title,
            "section": self.section,
            "section_number": self.section_number,
            "text": self.text,
            "sentences": [s.text for s in self.sentences],
            "facts": [asdict(f) for f in self.facts],
        }


@dataclass(frozen=True)
class SearchHit:
    """A measure matching a keyword search, best first."""

    number: int
    label: str
    title: str
    score: float
    matched: tuple[str, ...] = field(default_factory=tuple)


class KnowledgeBase:
    """Queries over one knowledge-base database.

    Args:
        url: SQLAlchemy URL of the knowledge base (``bot.config``'s ``DATABASE_URL`` in the
            services; the package itself reads no settings).
    """

    def __init__(self, url: str):
        self._url = url
        # the terms are taught to jieba on the first cut; later cuts skip the thousand checks
        self._userdict_added = False

    @property
    def url(self) -> str:
        """The database URL this instance reads."""
        return self._url

    def document(self) -> DocumentInfo:
        """The notice's front matter.

        Raises:
            KnowledgeBaseMissing: nothing has been built at this URL.
        """
        with self._session() as s:
            row = s.execute(select(models.Document)).scalar_one_or_none()
            if row is None:
                raise KnowledgeBaseMissing(f"the knowledge base at {self.url} is empty: run `make kb`")
            return DocumentInfo(
                notice_title=row.notice_title,
                title=row.title,
                issuer=row.issuer,
                issued_on=row.issued_on,
                publication=row.publication,
                source_sha256=row.source_sha256,
                content_digest=row.content_digest,
            )

    def measure(self, number: int) -> MeasureInfo | None:
        """The measure numbered ``number`` with sentences and facts, or None (see :meth:`measure_count`)."""
        found = self.measures([number])
        return found[0] if found else None

    def measures(self, numbers: Iterable[int] | None = None) -> list[MeasureInfo]:
        """Several measures (all when ``numbers`` is None), ordered by number."""
        stmt = (
            select(models.Measure)
            .options(
                selectinload(models.Measure.section),
                selectinload(models.Measure.sentences).selectinload(models.Sentence.facts),
            )
            .order_by(models.Measure.number)
        )
        if numbers is not None:
            wanted = [int(n) for n in numbers]
            if not wanted:
                return []
            stmt = stmt.where(models.Measure.number.in_(wanted))
        with self._session() as s:
            return [_measure_info(m) for m in s.execute(stmt).scalars()]

    def facts(self, number: int, *types: str) -> list[FactInfo]:
        """The facts of a measure, optionally only of the given types.

        Raises:
            ValueError: an unknown fact type.
        """
        unknown = [t for t in types if t not in FACT_TYPES]
        if unknown:
            raise ValueError(f"unknown fact type(s) {unknown}; known: {', '.join(FACT_TYPES)}")
        stmt = (
            select(models.Fact.type, models.Fact.value, models.Fact.canonical, models.Sentence.position)
            .join(models.Sentence, models.Fact.sentence_id == models.Sentence.id)
            .where(models.Fact.measure_number == int(number))
            .order_by(models.Sentence.position, models.Fact.start)
        )
        if types:
            stmt = stmt.where(models.Fact.type.in_(types))
        with self._session() as s:
            return [FactInfo(type=t, value=v, canonical=c, sentence=p) for t, v, c, p in s.execute(stmt)]

    def aliases(self) -> dict[str, str]:
        """The alias table: what residents say → the document's term."""
        with self._session() as s:
            return dict(s.execute(select(models.Alias.alias, models.Alias.term)).all())

    def resolve_alias(self, word: str) -> str | None:
        """The document's term for a resident's word (暂住证 → 居住证), or None if it has none."""
        word = (word or "").strip()
        if not word:
            return None
        with self._session() as s:
            return s.execute(select(models.Alias.term).where(models.Alias.alias == word)).scalar_one_or_none()

    def normalize_terms(self, text: str) -> str:
        """Replace every alias in ``text`` by its term, longest alias first."""
        table = self.aliases()
        if not table or not text:
            return text or ""
        pattern = re.compile("|".join(re.escape(a) for a in sorted(table, key=len, reverse=True)))
        return pattern.sub(lambda m: table[m.group(0)], text)

    def search(self, query: str, limit: int = 5) -> list[SearchHit]:
        """Measures that mention the query's keywords, best first.

        The query's aliases are resolved, it is cut with jieba (with the knowledge base's
        terms as a user dictionary), and each measure scores by the keywords it contains,
        title hits counting three times.
        """
        keywords = self._keywords(query)
        if not keywords:
            return []
        stmt = select(models.Measure.number, models.Measure.label, models.Measure.title, models.Measure.text).where(
            or_(*[models.Measure.text.contains(k, autoescape=True) for k in keywords])
        )
        with self._session() as s:
            rows = s.execute(stmt).all()
        hits = []
        for number, label, title, text in rows:
            matched = tuple(k for k in keywords if k in text)
            score = sum(3.0 * (k in title) + min(text.count(k), 3) * len(k) / 2 for k in matched)
            hits.append(SearchHit(number=number, label=label, title=title, score=round(score, 3), matched=matched))
        hits.sort(key=lambda h: (-h.score, h.number))
        return hits[: max(0, limit)]

    def _keywords(self, query: str) -> list[str]:
        text = self.normalize_terms((query or "").strip())[:200]
        if not text:
            return []
        tokens = _segment(text, self._userdict_words)
        seen: list[str] = []
        for tok in tokens:
            tok = tok.strip()
            if len(tok) < 2 or tok in _QUESTION_WORDS or not re.search(r"[\w]", tok) or tok in seen:
                continue
            seen.append(tok)
        return seen

    @cached_property
    def _userdict_words(self) -> tuple[str, ...]:
        with self._session() as s:
            terms = s.execute(select(models.Term.term)).scalars().all()
            targets = s.execute(select(models.Alias.term)).scalars().all()
        return tuple(sorted(set(terms) | set(targets)))

    def vocabulary(self) -> frozenset[str]:
        """Every word the knowledge base knows.

        That is the lexicon terms, their canonical names, aliases and alias targets.
        """
        with self._session() as s:
            rows = s.execute(select(models.Term.term, models.Term.canonical)).all()
            aliases = s.execute(select(models.Alias.alias, models.Alias.term)).all()
        return frozenset(w for pair in (*rows, *aliases) for w in pair)

    def segment(self, text: str) -> list[str]:
        """``text`` cut by jieba with the knowledge base's terms kept whole."""
        import jieba

        self.teach_segmenter()
        return jieba.lcut(text or "")

    def teach_segmenter(self) -> None:
        """Teach jieba the knowledge base's terms now (one query per instance) rather than at the first cut."""
        if not self._userdict_added:
            _add_to_jieba(self._userdict_words)
            self._userdict_added = True

    @staticmethod
    def add_rare_words(words: Iterable[str]) -> None:
        """Teach the segmenter words it lacks (place names) at a low frequency.

        At that frequency they are cut whole where nothing likelier competes (靖西刻章) and not where
        something does (出海安全 keeps 出海 and 安全 rather than 海安).
        """
        import jieba

        jieba.dt.check_initialized()
        for w in words:
            if len(w) > 1 and w not in jieba.dt.FREQ:
                jieba.add_word(w, RARE_WORD_FREQ)

    def measure_count(self) -> int:
        """How many measures are stored: they are numbered 1 to this count (the build checks it)."""
        with self._session() as s:
            return s.execute(select(func.count()).select_from(models.Measure)).scalar_one()

    def _session(self):
        return db.session_scope(self.url)


# Words that say how a question is asked, not what it is about.
_QUESTION_WORDS = frozenset(
    "什么 怎么 怎样 如何 哪里 哪儿 哪些 多久 多少 需要 可以 能不能 能否 是否 请问 一下 我想 我要 想要 "
    "要求 办理 吗 呢 啊 的 了 有没有 现在 还是".split()
)


_added_to_jieba: set[str] = set()
RARE_WORD_FREQ = 10


def _segment(text: str, words: Sequence[str]) -> list[str]:
    import jieba

    _add_to_jieba(words)
    return jieba.lcut(text)


def _add_to_jieba(words: Iterable[str]) -> None:
    """Teach jieba the knowledge base's terms (once per word and process), frequent enough to be cut whole."""
    import jieba

    for w in words:
        if len(w) > 1 and w not in _added_to_jieba:
            jieba.add_word(w, max(2000, 500 * len(w)))
            _added_to_jieba.add(w)


def _measure_info(m: models.Measure) -> MeasureInfo:
    sentences = tuple(SentenceInfo(position=s.position, text=s.text) for s in m.sentences)
    facts = tuple(
        FactInfo(type=f.type, value=f.value, canonical=f.canonical, sentence=s.position)
        for s in m.sentences
        for f in s.facts
    )
    return MeasureInfo(
        number=m.number,
        label=m.label,
        title=m.title,
        section_number=m.section.number,
        section_label=m.section.label,
        section_title=m.section.title,
        text=m.text,
        sentences=sentences,
        facts=facts,
    )
