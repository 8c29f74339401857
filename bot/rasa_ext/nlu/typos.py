"""A Rasa NLU component that corrects one-character typos of knowledge-base terms.

Residents type with pinyin input methods and handwriting pads, so 刻章 arrives as 刻张 (a
homophone picked from the candidate list) and 居住证 as 居往证 (a look-alike). The classifier
and the lookup tables only know the terms spelt right, so such a message falls back although
its meaning is plain. :class:`TypoCorrector` sits after TextNormalizer and before
JiebaTokenizer in ``config.yml`` and rewrites an unknown word that is one character away from a
term of the jieba user dictionary (the lexicon and the aliases, written by ``make kb``) into
that term. "One character away" means the same length and exactly one position that differs,
where the typed character either sounds like the term's (same toneless pinyin for any reading,
pypinyin's data) or looks like it (same four-corner code, four-corner-method's data).

It is deliberately timid, because rewriting a word the resident meant is worse than leaving a
typo: a window that is itself a word (a term, or a word of jieba's dictionary: 年间 is not a
typo of 年检, nor 上班 of 上牌) is left alone, and so is a window that cuts through a word of
jieba's segmentation of the text (护口 in 保护口罩), or that is a term spelt right beside the
changed character (户口不在 is no 户口簿), or that two terms fit. The one exception to the
first rule is a variant spelling: a word of three or more characters, one homophone off a term
that jieba's dictionary counts far more often (身分证 beside 身份证); see :func:`find_variants`.

Training builds an index with pypinyin and four-corner-method and stores it as JSON in the
model, so a production pod, which has the model and nothing of var/, needs neither package at
inference. The pure logic (:func:`build_index`, :func:`correct_text`) takes its data and
predicates as arguments so the tests call it without Rasa.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Text, Tuple

import rasa.shared.utils.io
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_ext.nlu.rewriting import MessageRewriter

USERDICT_NAME = "userdict.txt"
"""The file the component reads inside ``dictionary_path`` (``make kb`` writes it)."""

INDEX_FILE_NAME = "typo_index.json"
INDEX_VERSION = 1
"""Bumped when the JSON layout changes, so an old model's index is refused, not misread."""

CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF
"""The CJK Unified Ideographs block: terms, and the characters they may be mistyped as."""

MIN_VARIANT_LENGTH = 3
"""Two-character words one homophone off a term are real words far too often (年间, 车间)."""

DEFAULT_VARIANT_RATIO = 10

# jieba's own user-dictionary line format (``word [freq] [tag]``), as jieba.load_userdict reads it.
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$", re.U)

DictionaryEntry = Tuple[str, Optional[int], Optional[str]]
KnownWord = Callable[[str], bool]
Segmenter = Callable[[str], Sequence[str]]


def is_cjk_word(word: str) -> bool:
    """True for a word of two or more CJK ideographs, the only words that are corrected.

    A typo of 12389 or of a name with a "+" in it is not a homophone or look-alike one.
    """
    return len(word) >= 2 and all(CJK_FIRST <= ord(ch) <= CJK_LAST for ch in word)


def read_userdict(path: Path) -> List[DictionaryEntry]:
    """The ``(word, freq, tag)`` entries of a jieba user dictionary, parsed as jieba parses them.

    Parsing it the same way means the words registered with jieba here are exactly those
    JiebaTokenizer registers.

    Raises:
        ValueError: a line does not have jieba's format.
    """
    entries: List[DictionaryEntry] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        match = _USERDICT_LINE.match(line)
        if not match:
            raise ValueError(f"{path}:{lineno}: not a jieba user dictionary line: {line!r}")
        word, freq, tag = match.groups()
        entries.append((word, int(freq) if freq else None, tag.strip() if tag else None))
    return entries


@dataclass(frozen=True)
class Confusables:
    """Which characters sound or look like which, over the CJK block.

    Built once per training from the packages' raw tables (a reverse map per reading and per
    four-corner code) rather than asking them per character: the index needs the whole class of
    every term character, and the reverse maps give it in one set union.
    """

    readings: Mapping[str, frozenset]
    """character -> its toneless readings (every reading of a heteronym)"""
    by_reading: Mapping[str, frozenset]
    """toneless reading -> the characters that have it"""
    codes: Mapping[str, str]
    """character -> four-corner code"""
    by_code: Mapping[str, frozenset]
    """four-corner code -> the characters that have it"""

    def homophones(self, ch: str) -> set:
        """Characters other than ``ch`` sharing a toneless reading with it."""
        out: set = set()
        for reading in self.readings.get(ch, ()):
            out |= self.by_reading[reading]
        out.discard(ch)
        return out

    def look_alikes(self, ch: str) -> set:
        """Characters other than ``ch`` with its four-corner code."""
        code = self.codes.get(ch)
        out = set(self.by_code[code]) if code is not None else set()
        out.discard(ch)
        return out

    def similar(self, ch: str) -> set:
        """Characters ``ch`` may have been mistyped as: homophones and look-alikes."""
        return self.homophones(ch) | self.look_alikes(ch)


def _in_cjk_block(ch: str) -> bool:
    return len(ch) == 1 and CJK_FIRST <= ord(ch) <= CJK_LAST


def load_confusables() -> Confusables:
    """Build :class:`Confusables` from pypinyin 0.55 and four-corner-method 0.2 (training only).

    pypinyin's ``pinyin_dict`` is the per-character table ``pypinyin.pinyin(ch, heteronym=True)``
    reads; tones are stripped with pypinyin's own style conversion, which keeps ü apart from u
    (绿 lv, 路 lu), as stripping combining marks with unicodedata would not.
    """
    from four_corner_method import FourCornerMethod
    from pypinyin import Style
    from pypinyin.pinyin_dict import pinyin_dict
    from pypinyin.style import convert

    toneless: Dict[str, str] = {}
    readings: Dict[str, frozenset] = {}
    by_reading: Dict[str, set] = defaultdict(set)
    for codepoint, toned in pinyin_dict.items():
        if not CJK_FIRST <= codepoint <= CJK_LAST:
            continue
        ch = chr(codepoint)
        plain = set()
        for reading in toned.split(","):
            if reading not in toneless:
                toneless[reading] = convert(reading, Style.NORMAL, strict=True)
            plain.add(toneless[reading])
        readings[ch] = frozenset(plain)
        for reading in plain:
            by_reading[reading].add(ch)

    codes = {ch: code for ch, code in FourCornerMethod().data.items() if _in_cjk_block(ch) and code}
    by_code: Dict[str, set] = defaultdict(set)
    for ch, code in codes.items():
        by_code[code].add(ch)
    return Confusables(
        readings=readings,
        by_reading={k: frozenset(v) for k, v in by_reading.items()},
        codes=codes,
        by_code={k: frozenset(v) for k, v in by_code.items()},
    )


def jieba_dictionary_frequencies() -> Dict[str, int]:
    """Word frequencies of jieba's main dictionary file, read afresh (training only).

    ``jieba.dt.FREQ`` will not do: once a user dictionary is loaded it holds our own
    frequencies for the terms (2000 and up), which would make every rare word next to a term
    look like a variant spelling of it.
    """
    import jieba

    frequencies: Dict[str, int] = {}
    with jieba.dt.get_dict_file() as dictionary:
        for raw in dictionary:
            parts = raw.decode("utf-8").split(" ")
            if len(parts) >= 2 and parts[1].strip().isdigit():
                frequencies[parts[0].lstrip("\ufeff")] = int(parts[1])
    return frequencies


def find_variants(
    terms: Iterable[str],
    confusables: Confusables,
    frequencies: Mapping[str, int],
    min_ratio: float = DEFAULT_VARIANT_RATIO,
) -> List[str]:
    """Dictionary words that are still corrected: variant spellings of a term.

    jieba's dictionary comes from a large corpus with its misspellings and old variant forms in
    it (身分证, 23 occurrences, beside 身份证, 708), so "never rewrite a known word" would keep
    them. A word qualifies when it has at least :data:`MIN_VARIANT_LENGTH` characters, differs
    from a term by one homophone, and the term is at least ``min_ratio`` times as frequent: long
    words one homophone apart are nearly always the same word spelt two ways, while short ones
    are different words (年间/年检) and a frequent long one is its own word (消防车/消防局).

    Args:
        terms: the index's terms (CJK, two or more characters).
        confusables: the homophone tables.
        frequencies: jieba's main dictionary (:func:`jieba_dictionary_frequencies`).
        min_ratio: how much more frequent the term must be; 0 finds no variants.

    Returns:
        The variant words, sorted.
    """
    if min_ratio <= 0:
        return []
    term_set = set(terms)
    variants = set()
    for term in term_set:
        term_freq = frequencies.get(term, 0)
        if len(term) < MIN_VARIANT_LENGTH or term_freq <= 0:
            continue
        for pos, ch in enumerate(term):
            for other in confusables.homophones(ch):
                word = term[:pos] + other + term[pos + 1 :]
                freq = frequencies.get(word, 0)
                if freq > 0 and word not in term_set and term_freq >= min_ratio * freq:
                    variants.add(word)
    return sorted(variants)


def build_index(
    entries: Sequence[DictionaryEntry],
    confusables: Confusables,
    variants: Iterable[str] = (),
) -> Dict[str, Any]:
    """The JSON-ready index the component persists.

    Args:
        entries: the user dictionary's entries (:func:`read_userdict`).
        confusables: the homophone and look-alike tables.
        variants: dictionary words to correct anyway (:func:`find_variants`).

    Returns:
        ``terms`` (the CJK words, which are the correction targets), ``similar`` (for every
        character of a term, the characters that sound or look like it, as one string: the set
        for a term position is ``similar[term[pos]]``, stored once per character rather than per
        position since terms share most characters), ``variants``, and ``dictionary`` (all the
        entries, for :func:`register_dictionary` at inference).
    """
    terms = sorted({word for word, _, _ in entries if is_cjk_word(word)})
    characters = sorted({ch for term in terms for ch in term})
    return {
        "version": INDEX_VERSION,
        "terms": terms,
        "similar": {ch: "".join(sorted(confusables.similar(ch))) for ch in characters},
        "variants": sorted(set(variants)),
        "dictionary": [list(entry) for entry in entries],
    }


# One index entry: the term's length, the term, and per position the characters that may stand
# in for the term's character there.
_Entry = Tuple[int, str, Tuple[frozenset, ...]]


class TypoIndex:
    """The persisted index arranged for lookups while scanning a message.

    A window can only be one substitution off a term if it shares the term's first character
    (the substitution is further on) or, failing that, its second one (the substitution is the
    first character). So each term is filed under its first and its second character, and a
    message costs two dictionary lookups per character plus a check of the few terms found,
    instead of every window of every term length.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        """Arrange ``data`` (:func:`build_index`'s output, possibly read back from JSON).

        Raises:
            ValueError: ``data`` is of another index version.
        """
        if data.get("version") != INDEX_VERSION:
            raise ValueError(f"typo index version {data.get('version')!r}, expected {INDEX_VERSION}")
        self.terms = frozenset(data["terms"])
        self.variants = frozenset(data["variants"])
        self.dictionary: List[DictionaryEntry] = [(word, freq, tag) for word, freq, tag in data["dictionary"]]
        similar = {ch: frozenset(chars) for ch, chars in data["similar"].items()}
        by_first: Dict[str, List[_Entry]] = defaultdict(list)
        by_second: Dict[str, List[_Entry]] = defaultdict(list)
        for term in sorted(self.terms, key=len):
            entry = (len(term), term, tuple(similar.get(ch, frozenset()) for ch in term))
            by_first[term[0]].append(entry)
            if entry[2][0]:
                by_second[term[1]].append(entry)
        self._by_first = dict(by_first)
        self._by_second = dict(by_second)

    def candidates(self, text: str) -> List[Tuple[int, str]]:
        """Every ``(start, term)`` where ``text[start:start + len(term)]`` is one substitution from ``term``.

        Only allowed substitutions count (a homophone or look-alike); whether the window is a real
        word is not checked here.
        """
        found: List[Tuple[int, str]] = []
        n = len(text)
        by_first, by_second = self._by_first, self._by_second
        for i, ch in enumerate(text):
            for length, term, similar in by_first.get(ch, ()):
                if i + length > n:
                    break  # entries are sorted by length
                miss = 0
                for pos in range(1, length):
                    if text[i + pos] != term[pos]:
                        if miss:
                            miss = -1
                            break
                        miss = pos
                if miss > 0 and text[i + miss] in similar[miss]:
                    found.append((i, term))
            if i + 1 < n:
                for length, term, similar in by_second.get(text[i + 1], ()):
                    if i + length > n:
                        break
                    if ch in similar[0] and text[i + 2 : i + length] == term[2:]:
                        found.append((i, term))
        return found


def _known_spans(text: str, is_known: KnownWord, segment: Segmenter) -> List[Tuple[int, int]]:
    """The ``(start, end)`` of every known word of two or more characters in ``text``'s segmentation.

    Only known words count: jieba also emits unknown runs, which protect nothing.
    """
    spans = []
    offset = 0
    for token in segment(text):
        end = offset + len(token)
        if end - offset >= 2 and is_known(token):
            spans.append((offset, end))
        offset = end
    return spans


def correct_text(text: str, index: TypoIndex, is_known: KnownWord, segment: Segmenter) -> str:
    """``text`` with each one-character typo of a term replaced by the term.

    Args:
        text: the message text (after TextNormalizer).
        index: the terms and their confusable characters.
        is_known: whether a string is a word of the dictionary (jieba's, the terms included).
        segment: the word segmentation of a text, tokens in order and covering it all (jieba).

    Returns:
        The corrected text, of the same length as ``text``. A window is rewritten only when it
        is not a known word itself (unless a variant spelling), does not cut through a known
        word of ``segment(text)``, is not a correctly spelt term with the changed character
        beside it (户口不在 keeps 户口, it is no 户口簿), and exactly one term matches it; where
        accepted windows overlap, the longest term wins (the leftmost among equals).
    """
    if not text:
        return text
    found = index.candidates(text)
    if not found:
        return text

    def is_word(word: str) -> bool:
        return word in index.terms or is_known(word)

    windows = []
    for start, term in found:
        window = text[start : start + len(term)]
        if window in index.terms or (is_known(window) and window not in index.variants):
            continue
        changed_first = window[1:] == term[1:]
        changed_last = window[:-1] == term[:-1]
        if (changed_first and term[1:] in index.terms) or (changed_last and term[:-1] in index.terms):
            continue  # 户口不在 is 户口 + 不在, not a typo of 户口簿: the term is spelt out already
        windows.append((start, term))
    if not windows:
        return text  # the common case for a correct message: segmentation is not needed

    spans = _known_spans(text, is_word, segment)
    targets: Dict[Tuple[int, int], set] = defaultdict(set)
    for start, term in windows:
        end = start + len(term)
        if any(s < end and start < e and not (start <= s and e <= end) for s, e in spans):
            continue  # the window cuts through a word (护口 in 保护|口罩)
        targets[(start, end)].add(term)

    chosen: List[Tuple[int, int, str]] = []
    longest_first = sorted(targets.items(), key=lambda item: (item[0][0] - item[0][1], item[0][0]))
    for (start, end), terms in longest_first:
        if len(terms) != 1:
            continue  # two terms fit equally well: guessing could turn a typo into a wrong word
        if all(end <= s or e <= start for s, e, _ in chosen):
            chosen.append((start, end, next(iter(terms))))
    if not chosen:
        return text
    pieces = []
    cursor = 0
    for start, end, term in sorted(chosen):
        pieces.append(text[cursor:start])
        pieces.append(term)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def register_dictionary(entries: Iterable[DictionaryEntry]) -> None:
    """Add the user dictionary's words to jieba's default tokenizer, as JiebaTokenizer does.

    The correction must see the segmentation the tokenizer will produce (a term next to a typo
    is one word there). At inference JiebaTokenizer has loaded the dictionary already, but in
    ``rasa train`` this component processes the training data before the tokenizer is created;
    registering the same words with the same frequencies makes both runs agree. Words jieba
    already has with that frequency are skipped, so calling this again changes nothing.
    """
    import jieba

    dt = jieba.dt
    dt.check_initialized()
    for word, freq, tag in entries:
        current = dt.FREQ.get(word, 0)
        if (freq is None and current > 0) or (freq is not None and current == freq):
            continue
        dt.add_word(word, freq, tag)


def jieba_predicates(index: TypoIndex) -> Tuple[KnownWord, Segmenter]:
    """``is_known`` and ``segment`` for :func:`correct_text` from jieba's default tokenizer.

    Segmentation runs without the HMM: only dictionary words protect a window, and the HMM
    merely glues unknown characters together, at several times the cost.
    """
    import jieba

    dt = jieba.dt
    dt.check_initialized()
    terms = index.terms

    def is_known(word: str) -> bool:
        return word in terms or dt.FREQ.get(word, 0) > 0

    def segment(text: str) -> List[str]:
        return dt.lcut(text, HMM=False)

    return is_known, segment


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class TypoCorrector(MessageRewriter, GraphComponent):
    """Rewrites ``message.text`` in place, mapping one-character typos of terms to the terms."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's settings and their defaults.

        ``dictionary_path``: the folder with ``userdict.txt``, as JiebaTokenizer's setting;
        ``variant_frequency_ratio``: see :func:`find_variants` (0 turns variants off).
        """
        return {"dictionary_path": "var/jieba", "variant_frequency_ratio": DEFAULT_VARIANT_RATIO}

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """The user dictionary's and this module's content, for Rasa's training cache.

        Rasa keys a cached node on its config, its inputs and the source of the class alone. The
        index also depends on ``userdict.txt`` (an alias added to knowledge/aliases.yml changes
        it without touching the training data) and on the functions above, so without this a
        retrain would reuse a stale index from ``.rasa/cache``.
        """
        config = {**cls.get_default_config(), **config}
        digest = hashlib.sha256(Path(__file__).read_bytes())
        path = Path(str(config.get("dictionary_path"))) / USERDICT_NAME
        if path.is_file():
            digest.update(path.read_bytes())
        return digest.hexdigest()

    @staticmethod
    def required_packages() -> List[Text]:
        """Checked by ``rasa train`` only: inference needs jieba alone (the index is in the model)."""
        return ["jieba", "pypinyin", "four_corner_method"]

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        index: Optional[TypoIndex] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self.validate_config(self._config)
        self._model_storage = model_storage
        self._resource = resource
        self._index: Optional[TypoIndex] = None
        self._is_known: Optional[KnownWord] = None
        self._segment: Optional[Segmenter] = None
        if index is not None:
            self._use(index)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Reject a ``dictionary_path`` that is not a string and a negative or non-numeric ratio."""
        path = config.get("dictionary_path")
        if not isinstance(path, str) or not path:
            raise ValueError(f"TypoCorrector dictionary_path must be a folder path, got {path!r}")
        ratio = config.get("variant_frequency_ratio")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio < 0:
            raise ValueError(f"TypoCorrector variant_frequency_ratio must be a number >= 0, got {ratio!r}")

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TypoCorrector":
        """Create an untrained component (it corrects nothing until trained)."""
        return cls(config, model_storage, resource)

    def _use(self, index: TypoIndex) -> None:
        register_dictionary(index.dictionary)
        self._index = index
        self._is_known, self._segment = jieba_predicates(index)

    def train(self, training_data: TrainingData) -> Resource:
        """Build the index from the user dictionary (not from ``training_data``) and persist it.

        Raises:
            ValueError: the user dictionary is missing (run ``make kb``) or malformed.
        """
        path = Path(self._config["dictionary_path"]) / USERDICT_NAME
        if not path.is_file():
            raise ValueError(f"TypoCorrector: {path} is missing: run `make kb` before training")
        entries = read_userdict(path)
        confusables = load_confusables()
        terms = [word for word, _, _ in entries if is_cjk_word(word)]
        variants = find_variants(
            terms,
            confusables,
            jieba_dictionary_frequencies(),
            self._config["variant_frequency_ratio"],
        )
        data = build_index(entries, confusables, variants)
        with self._model_storage.write_to(self._resource) as directory:
            rasa.shared.utils.io.dump_obj_as_json_to_file(directory / INDEX_FILE_NAME, data)
        self._use(TypoIndex(data))
        return self._resource

    def _rewrite(self, message: Message) -> None:
        # training examples too, so the model learns the terms, not their typos
        text = message.get(TEXT)
        if self._index is None or self._is_known is None or self._segment is None:
            return  # no index loaded (the three are set together, by _use)
        if not isinstance(text, str) or not text:
            return
        corrected = correct_text(text, self._index, self._is_known, self._segment)
        if corrected != text:
            message.set(TEXT, corrected)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "TypoCorrector":
        """Load the index from model storage; without one (never trained) correct nothing."""
        try:
            with model_storage.read_from(resource) as directory:
                data = json.loads((directory / INDEX_FILE_NAME).read_text(encoding="utf-8"))
            return cls(config, model_storage, resource, TypoIndex(data))
        except (ValueError, OSError, KeyError) as exc:
            rasa.shared.utils.io.raise_warning(
                f"{cls.__name__} has no usable index in the model ({exc}); "
                f"messages pass through uncorrected. Retrain the model."
            )
            return cls(config, model_storage, resource)
