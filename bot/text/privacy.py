"""Find residents' ID-card, mobile and bank-card numbers and replace them before storage.

Only numbers that really are such numbers are replaced: an 18-digit ID needs a valid birth date
and check digit, a card number must pass the Luhn check, a mobile number is 11 digits starting
1[3-9]. Ordinary figures in questions (800平方米, 15个工作日, 12389) are left alone.

Numbers are found in the text folded at least as far as anything downstream folds it: every
Unicode decimal digit (full width １３８, Arabic-Indic ١٣٨ …) and enclosed numeral (⑬) counts as
its digits, Chinese numerals 〇零一二三四五六七八九 and 幺 (as WeChat's voice transcription writes
them) count as digits, zero-width and other invisible characters are dropped, and any run of
separators between two digits (spaces, - — – . · / _ , ，、) is ignored, letters touching the
number or not. The whole span as typed is replaced, so neither the raw text nor any normalised
form of it reaches the tracker store.

The placeholders (``[身份证号]`` …, shown in the staff console) are data, in
``bot/replies/privacy.yml``; they are read once. ``ID_PLACEHOLDER``, ``PHONE_PLACEHOLDER`` and
``CARD_PLACEHOLDER`` are module attributes resolved from that file on first use.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from knowledge.yamlfile import read_yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "replies" / "privacy.yml"
# The kinds of number, as keys under ``placeholders:`` in bot/replies/privacy.yml.
KINDS = ("id_card", "mobile", "bank_card")
_CONSTANTS = {"ID_PLACEHOLDER": "id_card", "PHONE_PLACEHOLDER": "mobile", "CARD_PLACEHOLDER": "bank_card"}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}
_CHINESE_DIGITS = {
    "〇": "0",
    "零": "0",
    "一": "1",
    "幺": "1",
    "二": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "八": "8",
    "九": "9",
}
_SEPARATORS = frozenset(" -—–‐‑−.·・/_,，、")


class PrivacyDataError(ValueError):
    """``bot/replies/privacy.yml`` is missing or malformed; the message names the file and the key."""


@lru_cache(maxsize=4)
def load_placeholders(path: Path = DEFAULT_PATH) -> Mapping[str, str]:
    """The placeholder for each kind of number, read once from ``path``.

    Args:
        path: the YAML file with a ``placeholders:`` mapping of :data:`KINDS` to texts.

    Returns:
        A read-only mapping ``{"id_card": ..., "mobile": ..., "bank_card": ...}``.

    Raises:
        PrivacyDataError: the file is missing or not YAML, a kind is missing or unknown, or a
            placeholder is empty, not a text, or contains a digit.
    """
    raw = read_yaml(path, PrivacyDataError).get("placeholders")
    if not isinstance(raw, dict):
        raise PrivacyDataError(f"{path}: expected a 'placeholders:' mapping of {', '.join(KINDS)}")
    missing = [kind for kind in KINDS if kind not in raw]
    unknown = sorted(str(key) for key in raw if key not in KINDS)
    if missing or unknown:
        found = "; ".join(
            filter(
                None,
                [
                    f"missing {', '.join(missing)}" if missing else None,
                    f"unknown {', '.join(unknown)}" if unknown else None,
                ],
            )
        )
        raise PrivacyDataError(f"{path}: placeholders: {found} (expected exactly {', '.join(KINDS)})")
    for kind in KINDS:
        value = raw[kind]
        if not isinstance(value, str) or not value.strip() or any(ch.isdigit() for ch in value):
            raise PrivacyDataError(
                f"{path}: placeholders.{kind} must be a non-empty text without digits, not {value!r}"
            )
    return MappingProxyType({kind: raw[kind] for kind in KINDS})


def __getattr__(name: str) -> str:
    """``ID_PLACEHOLDER``, ``PHONE_PLACEHOLDER`` and ``CARD_PLACEHOLDER``, from the data file."""
    if name in _CONSTANTS:
        return load_placeholders()[_CONSTANTS[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_valid_id_number(value: str) -> bool:
    """True for an 18-character resident ID number with a real birth date and check digit."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum bank cards use."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _fold(ch: str) -> str:
    """One character as a number reader sees it.

    That is its digits, or the character NFKC-folded when the folded form is one character, or
    else the character itself.
    """
    if ch in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[ch]
    if unicodedata.decimal(ch, None) is not None:
        return str(unicodedata.decimal(ch))
    folded = unicodedata.normalize("NFKC", ch)
    if folded.isdigit() and folded.isascii():
        return folded  # ⑬ → 13
    return folded if len(folded) == 1 else ch


def _skeleton(text: str) -> tuple[str, list[int], set[int]]:
    """Fold ``text`` for finding numbers (see the module doc).

    Returns:
        The folded text; for each character of it, the index of the character of ``text`` it came
        from; and the positions in the folded text where separators between two digits were
        dropped (a number may begin or end there).
    """
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _INVISIBLE and not ch.isspace():
            continue
        folded = " " if ch.isspace() else _fold(ch)
        for part in folded:
            chars.append(part)
            origin.append(i)
    # the first character after each position that is not a separator (one pass, from the end)
    following = [""] * (len(chars) + 1)
    for j in range(len(chars) - 1, -1, -1):
        following[j] = following[j + 1] if chars[j] in _SEPARATORS else chars[j]
    kept_chars: list[str] = []
    kept_origin: list[int] = []
    cuts: set[int] = set()
    for j, ch in enumerate(chars):
        if ch in _SEPARATORS and kept_chars and kept_chars[-1].isdigit() and following[j + 1].isdigit():
            cuts.add(len(kept_chars))
            continue
        if ch == " " and kept_chars and kept_chars[-1] == " ":
            continue
        kept_chars.append(ch)
        kept_origin.append(origin[j])
    return "".join(kept_chars), kept_origin, cuts


_RUN_RE = re.compile(r"[0-9]+[Xx]?")
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PRIORITY = {"id_card": 0, "bank_card": 1, "mobile": 2}


def _kind_of(digits: str) -> str | None:
    """Which personal number ``digits`` (a candidate span of a run) is, if any."""
    if len(digits) == 18 and is_valid_id_number(digits):
        return "id_card"
    if not digits.isdigit():
        return None
    if 16 <= len(digits) <= 19 and luhn_ok(digits):
        return "bank_card"
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return "mobile"
    return None


def find_numbers(text: str) -> list[tuple[int, int, str]]:
    """Where ``text`` holds a personal number, as ``(start, end, kind)`` spans of the text as typed.

    The spans are in order and never overlap (an ID number wins over a card number, a card over a
    mobile).

    A run of digits (separators inside dropped) is read as one number or, where separators were,
    as several (``13912345678，15877012345`` is two mobiles). A dotted IPv4 address is not a number.
    """
    if not text or not any(ch.isdigit() or ch in _CHINESE_DIGITS or unicodedata.category(ch) == "No" for ch in text):
        return []
    probe, origin, cuts = _skeleton(text)
    found: list[tuple[int, int, str]] = []
    for run in _RUN_RE.finditer(probe):
        begin, end = run.span()
        if end - begin < 11 or _IPV4_RE.fullmatch(text[origin[begin] : origin[end - 1] + 1]):
            continue
        bounds = [begin, *sorted(c for c in cuts if begin < c < end), end]
        candidates = []
        for i, s in enumerate(bounds):
            for e in bounds[i + 1 :]:
                if e - s > 19:
                    break
                kind = _kind_of(probe[s:e]) if e - s >= 11 else None
                if kind:
                    candidates.append((_PRIORITY[kind], s - e, s, e, kind))
        candidates.sort()
        taken: list[tuple[int, int, str]] = []
        for _, _, s, e, kind in candidates:
            if all(e <= ts or s >= te for ts, te, _ in taken):
                taken.append((s, e, kind))
        found += [(origin[s], origin[e - 1] + 1, kind) for s, e, kind in taken]
    return sorted(found)


def redact(text: str) -> str:
    """``text`` with every ID, mobile and bank-card number replaced by a placeholder.

    Raises:
        PrivacyDataError: ``bot/replies/privacy.yml`` is broken (nothing is stored unredacted).
    """
    if not text:
        return text or ""
    placeholders = load_placeholders()
    out, last = [], 0
    for start, end, kind in find_numbers(text):
        out += [text[last:start], placeholders[kind]]
        last = end
    return "".join(out) + text[last:] if out else text


# How much of a message's end is kept to catch a number split across two messages: the longest
# number (a 19-digit card) with separators between its digits.
TAIL_CHARS = 48


def number_tail(text: str) -> str:
    """The end of ``text`` that could be the first part of a number continued in the next message.

    That is its trailing run of digits and separators (at most :data:`TAIL_CHARS` characters), or
    "" when it does not end in a digit. Pass it redacted text: it holds no whole number.
    """
    probe, origin, _ = _skeleton(text[-TAIL_CHARS:])
    probe = probe.rstrip(" ")
    run = len(probe) - len(probe.rstrip("0123456789Xx -+"))
    if not run or not probe.rstrip(" -+")[-1:].isdigit():
        return ""
    return text[-TAIL_CHARS:][origin[len(probe) - run] :]


def redact_continuation(tail: str, text: str) -> str:
    """``text`` (as typed) with its beginning replaced when it completes a number begun in ``tail``.

    ``tail`` is the :func:`number_tail` of the sender's previous message, redacted. When ``text``,
    read after it, completes a personal number, the part of that number in ``text`` becomes the
    placeholder. The rest of ``text`` is returned as it is: pass the result to :func:`redact`.

    Raises:
        PrivacyDataError: ``bot/replies/privacy.yml`` is broken.
    """
    if not tail or not text:
        return text
    offset = len(tail)
    for start, end, kind in find_numbers(tail + text):
        if start < offset < end:
            return load_placeholders()[kind] + text[end - offset :]
    return text


def contains_personal_number(text: str) -> bool:
    """True when :func:`redact` would change ``text``."""
    return redact(text) != (text or "")
