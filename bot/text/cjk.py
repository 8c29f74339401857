"""Which characters are Chinese: the one definition the actions and the answerability analysis use.

The notice and residents' questions are written in the CJK Unified Ideographs block
(U+4E00–U+9FFF); the rarer extension blocks do not occur in them, and counting them would let
text with no common Chinese character pass as a question.
"""

from __future__ import annotations

FIRST, LAST = "\u4e00", "\u9fff"


def is_cjk(char: str) -> bool:
    """True when ``char`` (one character) is a CJK unified ideograph (汉字)."""
    return FIRST <= char <= LAST


def has_cjk(text: str) -> bool:
    """True when ``text`` contains at least one Chinese character."""
    return any(is_cjk(ch) for ch in text)


def count_cjk(text: str) -> int:
    """How many Chinese characters ``text`` contains."""
    return sum(1 for ch in text if is_cjk(ch))
