"""Normalise what residents type, the same way on every channel, before NLU sees it.

Traditional → simplified (OpenCC's t2s tables), full-width → half-width (NFKC), control and
zero-width characters removed, English terms read as the notice's Chinese ones
(:mod:`bot.text.english`, "ID card" → 身份证), runs of whitespace and repeated punctuation
collapsed, and the length capped so a 5,000-character paste cannot slow the pipeline down.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.text.english import translate

MAX_CHARS = 300

_REPEATED_PUNCT = re.compile(r"([!?,.;:~。，、！？；：…\-—·])\1+")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def _keep(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category in ("Cc", "Cs", "Co", "Cn"):
        return ch in "\n\t"
    if category == "Cf":
        return ch == "\u200d"  # zero-width joiner inside emoji sequences such as 👍🏻
    return True


def normalize_text(text: object, max_chars: int = MAX_CHARS) -> str:
    """Return the normalised form of ``text`` (anything not a string becomes "")."""
    if not isinstance(text, str) or not text:
        return ""
    result = "".join(ch for ch in text[: max_chars * 4] if _keep(ch))
    result = unicodedata.normalize("NFKC", result)
    result = _t2s().convert(result)
    result = translate(result)
    result = _SPACES.sub(" ", result).strip()
    result = _REPEATED_PUNCT.sub(r"\1", result)
    return result[:max_chars].strip()
