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
``knowledge/privacy.yml``; they are read once. ``ID_PLACEHOLDER``, ``PHONE_PLACEHOLDER`` and
``CARD_PLACEHOLDER`` are module attributes resolved from that file on first use.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

from knowledge.yamlfile import read_yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "knowledge" / "privacy.yml"
# The kinds of number, as keys under ``placeholders:`` in knowledge/privacy.yml.
KINDS = ("id_card", "mobile", "bank_card")
_CONSTANTS = {"ID_PLACEHOLDER": "id_card", "PHONE_PLACEHOLDER": "mobile", "CARD_PLACEHOLDER": "bank_card"}

_ID_RE = re.compile(r"(?<!\d)(\d{17}[\dXx])(?!\d)")
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?!\d)")
_CARD_RE = re.compile(r"(?<!\d)(\d(?:[- ]?\d){15,18})(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}
_CHINESE_DIGITS = {"〇": "0", "零": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4", "五": "5",
                   "六": "6", "七": "7", "八": "8", "九": "9"}
_SEPARATORS = frozenset(" -—–‐‑−.·・/_,，、")


class PrivacyDataError(ValueError):
    """``knowledge/privacy.yml`` is missing or malformed; the message names the file and the key."""


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
        found = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                        unknown and f"unknown {', '.join(unknown)}"]))
        raise PrivacyDataError(f"{path}: placeholders: {found} (expected exactly {', '.join(KINDS)})")
    for kind in KINDS:
        value = raw[kind]
        if not isinstance(value, str) or not value.strip() or any(ch.isdigit() for ch in value):
            raise PrivacyDataError(f"{path}: placeholders.{kind} must be a non-empty text without digits, "
                                   f"not {value!r}")
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
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
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
    """One character as a number reader sees it: its digits, or itself NFKC-folded when that is
    one character."""
    if ch in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[ch]
    if unicodedata.decimal(ch, None) is not None:
        return str(unicodedata.decimal(ch))
    folded = unicodedata.normalize("NFKC", ch)
    if folded.isdigit() and folded.isascii():
        return folded  # ⑬ → 13
    return folded if len(folded) == 1 else ch


def _skeleton(text: str) -> tuple[str, list[int]]:
    """``text`` folded for finding numbers (see the module doc), and for each character of the
    result the index of the character it came from. Separators between two digits are dropped."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _INVISIBLE and not ch.isspace():
            continue
        folded = " " if ch.isspace() else _fold(ch)
        for part in folded:
            chars.append(part)
            origin.append(i)
    kept_chars: list[str] = []
    kept_origin: list[int] = []
    for j, ch in enumerate(chars):
        if ch in _SEPARATORS and kept_chars and kept_chars[-1].isdigit():
            following = next((c for c in chars[j + 1:] if c not in _SEPARATORS), "")
            if following.isdigit():
                continue
        if ch == " " and kept_chars and kept_chars[-1] == " ":
            continue
        kept_chars.append(ch)
        kept_origin.append(origin[j])
    return "".join(kept_chars), kept_origin


def _replace(text: str, pattern: re.Pattern, placeholder_for: Callable[[re.Match], str | None]) -> str:
    """``text`` with each match of ``pattern`` (searched in its skeleton) that ``placeholder_for``
    accepts replaced, as typed, by the placeholder it returns."""
    probe, origin = _skeleton(text)
    out, last = [], 0
    for match in pattern.finditer(probe):
        placeholder = placeholder_for(match)
        if placeholder is None:
            continue
        start, end = origin[match.start()], origin[match.end() - 1] + 1
        out += [text[last:start], placeholder]
        last = end
    return "".join(out) + text[last:] if out else text


def redact(text: str) -> str:
    """``text`` with every ID, mobile and bank-card number replaced by a placeholder.

    Raises:
        PrivacyDataError: ``knowledge/privacy.yml`` is broken (nothing is stored unredacted).
    """
    if not text:
        return text or ""
    placeholders = load_placeholders()
    if not any(ch.isdigit() or ch in _CHINESE_DIGITS or unicodedata.category(ch) == "No" for ch in text):
        return text

    def _id(m: re.Match) -> str | None:
        return placeholders["id_card"] if is_valid_id_number(m.group(1)) else None

    def _card(m: re.Match) -> str | None:
        digits = re.sub(r"[^0-9]", "", m.group(1))
        return placeholders["bank_card"] if 16 <= len(digits) <= 19 and luhn_ok(digits) else None

    text = _replace(text, _ID_RE, _id)
    text = _replace(text, _CARD_RE, _card)
    return _replace(text, _PHONE_RE, lambda m: placeholders["mobile"])


def contains_personal_number(text: str) -> bool:
    """True when :func:`redact` would change ``text``."""
    return redact(text) != (text or "")
