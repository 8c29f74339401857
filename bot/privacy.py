"""Find residents' ID-card, mobile and bank-card numbers and replace them before storage.

Only numbers that really are such numbers are replaced: an 18-digit ID needs a valid birth date
and check digit, a card number must pass the Luhn check, a mobile number is 11 digits starting
1[3-9]. Ordinary figures in questions (800平方米, 15个工作日, 12389) are left alone.
"""

from __future__ import annotations

import re
from datetime import date

ID_PLACEHOLDER = "[身份证号]"
PHONE_PLACEHOLDER = "[手机号]"
CARD_PLACEHOLDER = "[银行卡号]"

_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?!\d)")
_CARD_RE = re.compile(r"(?<!\d)(\d(?:[- ]?\d){15,18})(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


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


def redact(text: str) -> str:
    """``text`` with every ID, mobile and bank-card number replaced by a placeholder."""
    if not text:
        return text or ""
    text = _ID_RE.sub(lambda m: ID_PLACEHOLDER if is_valid_id_number(m.group(1)) else m.group(0), text)

    def _card(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(1))
        return CARD_PLACEHOLDER if 16 <= len(digits) <= 19 and luhn_ok(digits) else m.group(0)

    text = _CARD_RE.sub(_card, text)
    return _PHONE_RE.sub(PHONE_PLACEHOLDER, text)


def contains_personal_number(text: str) -> bool:
    """True when :func:`redact` would change ``text``."""
    return redact(text) != (text or "")
