"""Find residents' ID-card, mobile and bank-card numbers and replace them before storage.

Only numbers that really are such numbers are replaced: an 18-digit ID needs a valid birth date
and check digit, a card number must pass the Luhn check, a mobile number is 11 digits starting
1[3-9]. Ordinary figures in questions (800平方米, 15个工作日, 12389) are left alone.

Numbers are read as a person reads them, in the text folded at least as far as anything downstream
folds it (one folding step, :func:`_skeleton`):

- **digits**: every Unicode decimal digit (full width １３８, Arabic-Indic ١٣٨ …); enclosed,
  parenthesised and dotted numerals (⑬ ⑴ ⒈) as their digits; Chinese numerals 〇○◯零一二三四五六
  七八九, 幺 and 两/兩 (as WeChat's voice transcription and people on the phone say them) and the
  大写 forms 壹贰叁肆伍陆柒捌玖 (simplified and traditional);
- **the ID's check character**: X, x, Ｘ, 叉 (typed or spoken) and × all read as X;
- **dropped**: zero-width and other invisible characters, combining marks and variation selectors
  (keycaps 1️⃣, 1̲);
- **separators**: any run of spaces, punctuation (- ― — . 。 : ： ( ) （ ） , ，、 …) and symbols
  (~ ～ + * / …) between two digits, or between the 17th digit of an ID and its X, is ignored,
  letters touching the number or not.

Kinds: an ID is 18 characters (17 digits and a check digit or X) or the old 15 digits, with a real
province code and birth date; 17 such digits (the check character still to come, or in the next
message) and an 18-character ID with a wrong check character count too, since a mistyped ID is
still the resident's. A card is 16-19 digits with a card-scheme first digit and a valid Luhn sum. A
mobile is 11 digits 1[3-9]…, also after ``+86``/``86``/``0086`` or a leading 0. An ID is matched
before a card and a card before a mobile inside it. The whole span as typed is replaced (a ``+``
before a mobile and the marks after its last digit included), so neither the raw text nor any
normalised form of it reaches the tracker store.

Libraries considered: ``phonenumbers`` knows the mainland mobile ranges but not Chinese numerals,
spoken or 大写 digits or separators inside a number, so it would run after this folding anyway, on
a rule this module states in two lines; ``cn2an`` converts positional numerals (一百二十三) to
values, not digit-by-digit strings. So the folding is ``unicodedata`` (NFKC, categories) plus the
small numeral table below.

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
# The first two digits of a resident ID: the provinces' codes (GB/T 2260), Taiwan, Hong Kong, Macao.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
# Characters dropped before reading: invisible ones, and combining marks and variation selectors.
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"}
# Character categories that separate the digits of a number as typed: punctuation, spaces, symbols.
_SEPARATOR_CATEGORIES = {"Zs", "Sm", "Sk", "So"}
_CHINESE_DIGITS = {
    **dict.fromkeys("〇○◯零", "0"),
    **dict.fromkeys("一幺壹", "1"),
    **dict.fromkeys("二两兩贰貳", "2"),
    **dict.fromkeys("三叁參", "3"),
    **dict.fromkeys("四肆", "4"),
    **dict.fromkeys("五伍", "5"),
    **dict.fromkeys("六陆陸", "6"),
    **dict.fromkeys("七柒", "7"),
    **dict.fromkeys("八捌", "8"),
    **dict.fromkeys("九玖", "9"),
}
_CHECK_X = frozenset("叉×")
_MOBILE_PREFIXES = ("0086", "86", "0")


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


def _looks_like_id(value: str) -> bool:
    """True for a resident ID as a person may type it: 18 (the check may be wrong), 17 or 15 digits.

    Each needs a province code and a real birth date (19xx for the old 15-digit form).
    """
    if value[:2] not in _PROVINCES or not value[:17].isdigit():
        return False
    if len(value) == 15:
        birth = "19" + value[6:12]
    elif len(value) == 17 or (len(value) == 18 and value[17] in "0123456789Xx"):
        birth = value[6:14]
    else:
        return False
    try:
        return 1900 <= date(int(birth[:4]), int(birth[4:6]), int(birth[6:8])).year <= 2099
    except ValueError:
        return False


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

    That is its digits, X for a check character, or the character NFKC-folded when the folded form
    is one character, or else the character itself.
    """
    if ch in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[ch]
    if ch in _CHECK_X:
        return "X"
    if unicodedata.decimal(ch, None) is not None:
        return str(unicodedata.decimal(ch))
    folded = unicodedata.normalize("NFKC", ch)
    digits = folded.strip("().,")
    if digits.isdigit() and digits.isascii():
        return digits  # ⑬ → 13, ⑴ → 1, ⒈ → 1
    return folded if len(folded) == 1 else ch


def _is_separator(ch: str) -> bool:
    """True for a folded character that may stand between the digits of a number as typed."""
    category = unicodedata.category(ch)
    return ch == " " or category[0] == "P" or category in _SEPARATOR_CATEGORIES


# Every character read as one digit: the Chinese numerals (the Unicode digits are ``str.isdigit``).
NUMERAL_DIGITS = "".join(_CHINESE_DIGITS)


def continues_a_number(ch: str) -> bool:
    """Whether :func:`find_numbers` may read a number on across ``ch``.

    True for a character that folds to a digit or a separator, a space, and a dropped character
    (invisible, a combining mark, a variation selector); False for a letter (the X of an ID aside:
    it ends the number it belongs to).
    """
    if ch.isspace() or unicodedata.category(ch) in _DROPPED:
        return True
    return any(c.isdigit() or _is_separator(c) for c in _fold(ch))


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
        if unicodedata.category(ch) in _DROPPED and not ch.isspace():
            continue
        folded = " " if ch.isspace() else _fold(ch)
        for part in folded:
            chars.append(part)
            origin.append(i)
    # the first character after each position that is not a separator (one pass, from the end)
    separator = [_is_separator(ch) for ch in chars]
    following = [""] * (len(chars) + 1)
    for j in range(len(chars) - 1, -1, -1):
        following[j] = following[j + 1] if separator[j] else chars[j]
    kept_chars: list[str] = []
    kept_origin: list[int] = []
    cuts: set[int] = set()
    for j, ch in enumerate(chars):
        if separator[j] and kept_chars and kept_chars[-1].isdigit() and (following[j + 1] or "a") in "0123456789Xx":
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


def _kind_of(digits: str, whole: bool) -> str | None:
    """Which personal number ``digits`` (a candidate span of a run) is, if any.

    The forms without a check (15 or 17 digits, an 18-character ID with a wrong check character)
    count only as a whole run: inside a longer run of digits they are too easily found by chance.
    """
    if len(digits) == 18 and is_valid_id_number(digits):
        return "id_card"
    if whole and len(digits) in (15, 17, 18) and _looks_like_id(digits):
        return "id_card"
    if not digits.isdigit():
        return None
    if 16 <= len(digits) <= 19 and _card_scheme(digits) and luhn_ok(digits):
        return "bank_card"
    for prefix in _MOBILE_PREFIXES:
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return "mobile"
    return None


def _card_scheme(digits: str) -> bool:
    """True when ``digits`` begins as a payment card does (ISO/IEC 7812: 3, 4, 5, 6, 9; 2221-2720)."""
    return digits[0] in "34569" or 2221 <= int(digits[:4]) <= 2720


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
                kind = _kind_of(probe[s:e], s == begin and e == end) if e - s >= 11 else None
                if kind:
                    candidates.append((_PRIORITY[kind], s - e, s, e, kind))
        candidates.sort()
        taken: list[tuple[int, int, str]] = []
        for _, _, s, e, kind in candidates:
            if all(e <= ts or s >= te for ts, te, _ in taken):
                taken.append((s, e, kind))
        found += [_as_typed(text, origin[s], origin[e - 1] + 1, kind) for s, e, kind in taken]
    return sorted(found)


def _as_typed(text: str, start: int, end: int, kind: str) -> tuple[int, int, str]:
    """The span ``text[start:end]`` widened to a mobile's ``+`` and the marks after the last digit."""
    if kind == "mobile" and start and text[start - 1] in "+＋":
        start -= 1
    while end < len(text) and unicodedata.category(text[end]) in _DROPPED and not text[end].isspace():
        end += 1
    return start, end, kind


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

    That is its trailing run of digits and separators (at most :data:`TAIL_CHARS` characters, and
    the separators after its last digit: "139，" may go on "1234 5678"), or "" when it does not end
    in a digit (a separator aside). Pass it redacted text: it holds no whole number.
    """
    end_part = text[-TAIL_CHARS:]
    probe, origin, _ = _skeleton(end_part)
    end = len(probe)
    while end and _is_separator(probe[end - 1]):
        end -= 1
    if not end or not probe[end - 1].isdigit():
        return ""
    start = end
    while start and (probe[start - 1] in "0123456789Xx" or _is_separator(probe[start - 1])):
        start -= 1
    while _is_separator(probe[start]):
        start += 1
    return end_part[origin[start] :]


# Joins the tails of successive messages (a separator no keyboard types: a number may begin there).
MESSAGE_BOUNDARY = "\u241e"


def complete_number(tail: str, text: str) -> tuple[str, str, str] | None:
    """How ``text`` completes a personal number begun in ``tail``, if it does.

    Args:
        tail: the :func:`number_tail` of the sender's previous messages (redacted), successive
            messages' parts joined by :data:`MESSAGE_BOUNDARY`.
        text: the new message as typed.

    Returns:
        ``(text with its part of the number replaced by the placeholder, the part of tail in the
        number, the placeholder)``, or None when no number runs from ``tail`` into ``text``.

    Raises:
        PrivacyDataError: ``bot/replies/privacy.yml`` is broken.
    """
    if not tail or not text:
        return None
    offset = len(tail)
    for start, end, kind in find_numbers(tail + text):
        if start < offset < end:
            placeholder = load_placeholders()[kind]
            return placeholder + text[end - offset :], tail[start:], placeholder
    return None


def redact_earlier(texts: list[str], parts: list[tuple[str, str]]) -> list[str | None]:
    """The earlier messages of a number completed later, with their parts of it replaced.

    Args:
        texts: the sender's stored messages, newest first; the newest may be the message that
            completed the number (it is skipped when its end is not the last part).
        parts: the parts of the number in the earlier messages, oldest first, each with its
            placeholder (from :func:`complete_number`, the tail split at :data:`MESSAGE_BOUNDARY`).

    Returns:
        For each of ``texts``, its new text, or None where it stays. Matching stops at the first
        message whose end is not its part, so nothing is changed on a guess.
    """
    out: list[str | None] = [None] * len(texts)
    pending = list(reversed(parts))
    index = 0
    for position, text in enumerate(texts):
        if index == len(pending):
            break
        part, placeholder = pending[index]
        if not text.endswith(part):
            if position == 0:
                continue  # the completing message itself, already stored
            break
        if part and any(ch.isdigit() for ch in _skeleton(part)[0]):
            out[position] = text[: len(text) - len(part)] + placeholder
        index += 1
    return out


def contains_personal_number(text: str) -> bool:
    """True when :func:`redact` would change ``text``."""
    return redact(text) != (text or "")
