"""Numbers as residents type them, and every form in which one could be written into a log."""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import quote

MOBILE = "13912345678"


ID_NUMBER = "11010519491231002X"


CARD = "6222020200112233446"  # Luhn-valid


def full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# Each number as a resident may type it: plain, spaces, dashes, full-width digits, Chinese numerals;
# since issue 22 also 大写 digits, keycaps, brackets, a 0086 prefix, colons, the X after a space.
TYPED = {
    "mobile": [
        MOBILE,
        "139 1234 5678",
        "139-1234-5678",
        full_width(MOBILE),
        "一三九一二三四五六七八",
        "壹叁玖壹贰叁肆伍陆柒捌",
        "".join(d + "\ufe0f\u20e3" for d in MOBILE),
        "(139)1234-5678",
        "0086 139 1234 5678",
        "139：1234：5678",
    ],
    "id_card": [
        ID_NUMBER,
        "110105 19491231 002X",
        "110105-19491231-002X",
        full_width(ID_NUMBER),
        "11010519491231002 X",
        "11010519491231002叉",
    ],
    "bank_card": [CARD, "6222 0202 0011 2233 446", "6222-0202-0011-2233-446", full_width(CARD)],
}


ALL_TYPED = [form for forms in TYPED.values() for form in forms]


def written_forms(typed: str) -> set[str]:
    """Every form in which ``typed`` could be written into a log.

    As typed, its bare ASCII digits, JSON-escaped (structlog, Sanic's JSON), escaped twice (a JSON
    body inside a JSON line or a ``repr``), as the ``repr`` of its UTF-8 bytes (aiohttp bodies),
    percent-encoded (URLs).
    """
    folded = "".join(logredact_digit(ch) for ch in typed)
    escaped = json.dumps(typed)[1:-1]
    return {typed, folded, escaped, escaped.replace("\\", "\\\\"), repr(typed.encode("utf-8"))[2:-1], quote(typed)} - {
        ""
    }


def logredact_digit(ch: str) -> str:
    """``ch`` as an ASCII digit (or X) when it is one in any form, else nothing."""
    chinese = {c: str(i % 10) for i, c in enumerate("零一二三四五六七八九〇壹贰叁肆伍陆柒捌玖")}
    if ch in chinese:
        return chinese[ch]
    if ch == "叉":
        return "X"
    folded = unicodedata.normalize("NFKC", ch)
    return folded if folded.isascii() and (folded.isdigit() or folded in "Xx") else ""


def leaks(text: str) -> list[str]:
    """Each written form of each typed number found in ``text``."""
    return sorted({form for typed in ALL_TYPED for form in written_forms(typed) if form in text})
