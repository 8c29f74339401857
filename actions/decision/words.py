"""Finding words in a message: longest first, each character in one match, indexed."""

from __future__ import annotations

from typing import Callable, Iterable


def find_spans(text: str, words: Iterable[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping occurrences of ``words`` in ``text``, longest word first."""
    return _spans_of(text, sorted(set(words), key=_longest_first))


def _longest_first(word: str) -> tuple[int, str]:
    return -len(word), word


def _spans_of(text: str, ordered: Iterable[str]) -> list[tuple[int, int, str]]:
    """The spans of :func:`find_spans` for words already in its order (longest, then alphabetical)."""
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
    """:func:`find_spans` over one fixed set of words, which are sorted once, not at every call.

    Only the words that occur in the text are looked for (an index by first character finds them),
    in the order :func:`find_spans` takes them, so the spans are the same.
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


class Cuts:
    """``segment`` remembered for the texts of one message (its asked part is often all of it)."""

    def __init__(self, segment: Callable[[str], list[str]]):
        self._segment = segment
        self._cut: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        """The words of ``text`` (cut once, then remembered)."""
        words = self._cut.get(text)
        if words is None:
            words = self._cut[text] = self._segment(text)
        return words
