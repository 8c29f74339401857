"""Residents' ID-card and bank-card numbers with valid check digits, and finding them where stored.

Also the forms in which a typed number could end up stored, and looking for them in files.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path

from bot.text.normalize import normalize_text

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(region: str, birthday: str, sequence: str) -> str:
    """An 18-digit resident ID number with its GB 11643 check character.

    Args:
        region: the six-digit administrative code, e.g. ``"450103"`` (南宁市青秀区).
        birthday: ``YYYYMMDD``.
        sequence: three digits.
    """
    body = f"{region}{birthday}{sequence}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def card_number(partial: str) -> str:
    """``partial`` followed by its Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return partial + str(-total % 10)


def full_width(text: str) -> str:
    """``text`` as a Chinese IME types it in 全角 mode (digits and X)."""
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789Xx"})


ID_X = next(n for n in (id_number("450802", "19950611", f"{s:03d}") for s in range(1000)) if n.endswith("X"))


CARD_19 = card_number("622848040256489001")


def forms(typed: str) -> set[str]:
    """Every form in which a typed number could end up stored.

    As typed, JSON-escaped (Rasa's tracker), normalised as NLU sees it, and its bare digits.
    """
    folded = unicodedata.normalize("NFKC", typed)
    return {
        typed,
        json.dumps(typed)[1:-1],
        normalize_text(typed),
        folded,
        "".join(ch for ch in folded if ch.isdigit() or ch in "Xx"),
    }


def files_under(*roots: Path) -> list[Path]:
    """Every file below ``roots``, recursively."""
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file())


def leaks(needles: set[str], haystacks: dict[str, bytes]) -> list[str]:
    """``"<form> in <where>"`` for each form found in each haystack."""
    return [
        f"{needle!r} in {where}"
        for where, data in haystacks.items()
        for needle in sorted(needles)
        if needle.encode("utf-8") in data
    ]


_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")
_NUMERALS = {**{c: str(i) for i, c in enumerate("零一二三四五六七八九")}, "〇": "0", "○": "0", "幺": "1", "两": "2"}
_NUMERALS.update({c: str(i + 1) for i, c in enumerate("壹贰叁肆伍陆柒捌玖")})


def digit_stream(data: bytes) -> str:
    r"""Every digit in ``data``, in order, however it was written; everything else dropped.

    UTF-8 text (undecodable bytes skipped) with JSON ``\uXXXX`` escapes decoded, NFKC-folded,
    every Unicode decimal digit and Chinese numeral as its ASCII digit. Written apart from
    bot.text.privacy on purpose: the scan must not share the blind spots of the code it checks.
    """
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass"), data)
    folded = unicodedata.normalize("NFKC", text.decode("utf-8", "ignore")).translate(_digit_table())
    return _NOT_DIGIT.sub("", folded)


@functools.lru_cache(maxsize=1)
def _digit_table() -> dict[int, str]:
    table = {
        cp: str(unicodedata.decimal(chr(cp)))
        for cp in range(0x110000)
        if unicodedata.decimal(chr(cp), None) is not None
    }
    return {**table, **{ord(c): d for c, d in _NUMERALS.items()}}


_NOT_DIGIT = re.compile(r"[^0-9]+")


def folded_leaks(numbers: set[str], haystacks: dict[str, bytes]) -> list[str]:
    """``"<number> in <where>"`` for each number whose digits (an ID's X aside) run on in a haystack's digits."""
    wanted = {n: "".join(c for c in n if c.isdigit()) for n in numbers}
    found = []
    for where, data in haystacks.items():
        stream = digit_stream(data)
        found += [f"{n!r} in {where}" for n, digits in sorted(wanted.items()) if len(digits) >= 11 and digits in stream]
    return found
