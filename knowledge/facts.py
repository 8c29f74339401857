"""Split measures into sentences and extract typed facts with spaCy rule matching.

The pipeline is ``spacy.blank("zh")`` with the jieba segmenter (no pretrained Chinese model
can be downloaded here), a sentencizer, an ``EntityRuler`` for the lexicon's terms and a
``Matcher`` for numeric facts (time limits and thresholds), whose token patterns tolerate
the ways jieba cuts numbers (``18 个 工作日内``, ``1 天内``, ``80%``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from spacy.language import Language

from knowledge.lexicon import Term

SENTENCE_END = frozenset("。！？；")
_CLOSERS = frozenset("”’」』）》")

_NUM = {"TEXT": {"REGEX": r"^\d+(\.\d+)?%?$"}}
_CN_NUM = r"[一二三四五六七八九十两]"
_TIME_UNITS = r"^(个?工作日|天|日|小时|个?月|周|年)内?$"
_THRESHOLD_UNITS = ["层", "平方米", "标准间", "人", "位", "项", "类", "%"]
_QUALIFIERS = ["以上", "以下", "以内"]

# Patterns as data: (fact type, pattern). Each yields the exact span written in the sentence.
_PATTERNS: list[tuple[str, list[dict]]] = [
    # 15个工作日 / 18个工作日内 / 1小时 / 1天内
    ("time_limit", [_NUM, {"TEXT": "个", "OP": "?"}, {"TEXT": {"REGEX": _TIME_UNITS}}]),
    ("time_limit", [_NUM, {"TEXT": {"REGEX": r"^(个工作日|天|小时)内?$"}}]),
    # 三个月 / 一年 (how long an endorsement or stay is valid)
    ("time_limit", [{"TEXT": {"REGEX": rf"^{_CN_NUM}+个?$"}}, {"TEXT": {"IN": ["月"]}}]),
    ("time_limit", [{"TEXT": {"REGEX": rf"^{_CN_NUM}+(个月|年)$"}}]),
    ("threshold", [{"TEXT": "满"}, {"TEXT": {"REGEX": r"^半年$"}}]),
    # 2018年底前 / 2018年
    (
        "time_limit",
        [{"TEXT": {"REGEX": r"^(19|20)\d\d$"}}, {"TEXT": {"REGEX": r"^年(底|内)$"}}, {"TEXT": "前", "OP": "?"}],
    ),
    ("time_limit", [{"TEXT": {"REGEX": r"^周[六日]$"}}, {"TEXT": {"REGEX": r"^周[六日]$"}}]),
    ("time_limit", [{"TEXT": {"REGEX": r"^周六周日$"}}]),
    # 4层 / 800平方米 / 14个标准间 / 10人以上 / 前100位 / 80%以上 / 25项 / 5类
    (
        "threshold",
        [
            {"TEXT": "前", "OP": "?"},
            _NUM,
            {"TEXT": "个", "OP": "?"},
            {"TEXT": {"IN": _THRESHOLD_UNITS}},
            {"TEXT": {"IN": _QUALIFIERS}, "OP": "?"},
        ],
    ),
    ("threshold", [{"TEXT": {"REGEX": r"^\d+%$"}}, {"TEXT": {"IN": _QUALIFIERS}, "OP": "?"}]),
    ("threshold", [_NUM, {"TEXT": "个"}, {"TEXT": "设区市"}]),
    ("time_limit", [{"TEXT": {"REGEX": r"^每(季度|年|月|周)$"}}]),
]


@Language.component("zh_sentence_splitter")
def zh_sentence_splitter(doc):
    """Start a sentence after 。！？；, keeping a closing quote with the sentence it closes.

    spaCy's own sentencizer attaches any punctuation after a full stop to the previous
    sentence, which wrongly moves an opening quote (“容缺受理”…) to the sentence before.
    """
    for i, token in enumerate(doc):
        if i == 0:
            token.is_sent_start = True
            continue
        prev = doc[i - 1].text
        token.is_sent_start = bool(prev) and prev[-1] in SENTENCE_END and token.text[:1] not in _CLOSERS
    return doc


@dataclass(frozen=True)
class Fact:
    """A fact found in one sentence: its type, the value as written and a canonical value."""

    type: str
    value: str
    canonical: str
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    """One sentence of a measure with the facts found in it."""

    position: int
    text: str
    facts: tuple[Fact, ...]


class FactExtractor:
    """A spaCy pipeline built once per lexicon; call :meth:`analyse` on each measure's text."""

    def __init__(self, terms: list[Term], userdict_lines: list[str]):
        import jieba
        import spacy
        from spacy.matcher import Matcher
        from spacy.pipeline import EntityRuler

        jieba.setLogLevel(logging.WARNING)

        for line in userdict_lines:
            word, freq, tag = line.split(" ")
            jieba.add_word(word, int(freq), tag)
        # "工作日内"/"天内" are jieba words; the patterns accept them, but a fact's value should
        # not carry the trailing 内 of the sentence, so matched spans are trimmed below.
        self.nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        self.nlp.add_pipe("zh_sentence_splitter")
        ruler = self.nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "TEXT"})
        if not isinstance(ruler, EntityRuler):
            raise TypeError(f"spaCy's entity_ruler factory made a {type(ruler).__name__}, not an EntityRuler")
        self._canonical = {t.term: t.canonical for t in terms}
        ruler.add_patterns([{"label": t.type, "pattern": t.term, "id": t.canonical} for t in terms])
        self.matcher = Matcher(self.nlp.vocab)
        for i, (label, pattern) in enumerate(_PATTERNS):
            self.matcher.add(f"{label}#{i}", [pattern])
        # Terms jieba might still cut inside a longer word are found by characters as a fallback.
        self._terms_by_length = sorted(terms, key=lambda t: -len(t.term))

    def analyse(self, text: str) -> list[Sentence]:
        """Split a measure's text into sentences and extract the facts of each, in order."""
        doc = self.nlp(text)
        sentences = []
        for position, sent in enumerate(doc.sents):
            sentences.append(Sentence(position=position, text=sent.text, facts=tuple(self._facts(sent))))
        return sentences

    def _facts(self, sent) -> list[Fact]:
        found: dict[tuple[int, int], Fact] = {}
        base = sent.start_char
        for match_id, start, end in self.matcher(sent.as_doc()):
            label = self.nlp.vocab.strings[match_id].split("#")[0]
            span = sent.as_doc()[start:end]
            value = re.sub(r"内$", "", span.text)
            found[(span.start_char, span.start_char + len(value))] = Fact(
                type=label, value=value, canonical=value, start=span.start_char, end=span.start_char + len(value)
            )
        for ent in sent.ents:
            key = (ent.start_char - base, ent.end_char - base)
            found.setdefault(
                key, Fact(type=ent.label_, value=ent.text, canonical=ent.ent_id_ or ent.text, start=key[0], end=key[1])
            )
        covered = [(f.start, f.end) for f in found.values()]
        for term in self._terms_by_length:
            for m in re.finditer(re.escape(term.term), sent.text):
                if any(s <= m.start() and m.end() <= e for s, e in covered):
                    continue
                if len(term.term) == 1:
                    continue  # single characters (镇, 乡, 村) only count as whole tokens
                covered.append((m.start(), m.end()))
                found[(m.start(), m.end())] = Fact(
                    type=term.type, value=term.term, canonical=term.canonical, start=m.start(), end=m.end()
                )
        return _drop_nested(sorted(found.values(), key=lambda f: (f.start, -(f.end - f.start))))


def _drop_nested(facts: list[Fact]) -> list[Fact]:
    """Keep the longest of overlapping facts of a type (前100位 over 100位), each value once."""
    kept: list[Fact] = []
    for fact in facts:
        if any(k.type == fact.type and k.start <= fact.start and fact.end <= k.end for k in kept):
            continue
        if any(k.type == fact.type and k.canonical == fact.canonical for k in kept):
            continue
        kept.append(fact)
    return kept


@lru_cache(maxsize=4)
def extractor_for(terms: tuple[Term, ...], userdict: tuple[str, ...]) -> FactExtractor:
    """One extractor per lexicon, built on first use (loading spaCy and jieba takes a second)."""
    return FactExtractor(list(terms), list(userdict))
