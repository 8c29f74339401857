r"""Keep residents' personal numbers, and the services' secrets, out of every log line.

Each service calls :func:`install` once at start-up (the action server, the Rasa server, the web
server, ``python -m bot run`` and ``bot.ops.cluster``). It protects records of every logger, however
the program or its libraries configure logging:

- a **record factory** (:func:`logging.setLogRecordFactory`) redacts each record when it is made:
  the formatted message, the exception text (the traceback is formatted then, redacted, and the
  exception dropped from the record, so no handler formats it again) and the stack text. Every
  record passes through it, also those of child loggers propagating to a parent's handlers, of
  handlers Rasa, Sanic or structlog add later, and of Python's last-resort handler;
- a **filter** (:class:`RedactFilter`) on every handler present and on the access loggers of Sanic
  and aiohttp redacts the ``extra`` fields those add after the record is made (the request line
  of an access log).

Redaction is :func:`bot.text.privacy.redact` on the text and on the text with escapes decoded, so
that a number written as JSON or ``repr`` escapes (``\uff11``, ``\xef\xbc\x91``: Rasa's
tracker dump and structlog's JSON are ASCII-escaped) or percent-encoded in a URL (``%20``, "+"
between digits) is caught too. A text is passed through after a few regular-expression scans
when no stretch of it without letters or punctuation has 11 digit-like characters
(:func:`may_hold_number`): most log lines, timestamps and access lines included. URL query
parameters named ``token`` and the values of the secrets named in :data:`SECRET_VARIABLES` are
replaced by ``[redacted]``.

If redaction itself fails (``bot/replies/privacy.yml`` broken: :class:`bot.text.privacy.PrivacyDataError`),
every digit-like character of the record is masked instead, so the record is still written and
still leaks nothing.

Not covered: text written to stdout or stderr without :mod:`logging` (``print``, a crash of the
interpreter itself).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
from typing import Iterable

from bot.text import privacy

# Environment variables whose values never appear in a log line.
SECRET_VARIABLES = ("ACTION_SERVER_TOKEN", "RASA_API_TOKEN")
# Loggers that put request data in ``extra`` fields rather than in the message.
ACCESS_LOGGERS = ("sanic.access", "sanic.root", "sanic.error", "aiohttp.access", "aiohttp.server")
REDACTED = "[redacted]"
MASK = "*"

_CHINESE_DIGITS = privacy.NUMERAL_DIGITS
# Characters that fold to one digit (Unicode decimal digits, Chinese numerals) ...
_ONE_DIGIT = re.compile(rf"[\d{_CHINESE_DIGITS}]")
# ... and the "other numbers" (⑬, ⒇, superscripts …), which fold to at most two digits (⑬ → 13;
# tests/test_logredact.py checks this class against bot.text.privacy's folding).
_NUMERAL_FORMS = re.compile(
    "[\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u2079\u2080-\u2089\u2150-\u2189\u2460-\u24ff"
    "\u2776-\u2793\u2cfd\u3192-\u3195\u3220-\u3229\u3248-\u324f\u3251-\u325f\u3280-\u3289"
    "\u32b1-\u32bf\U00010107-\U00010133\U0001f100-\U0001f10c]"
)
_NUMERAL_WEIGHT = 2
# The shortest number :func:`bot.text.privacy.redact` replaces (a mobile number) has 11 digits.
_SHORTEST_NUMBER = 11


def _ends_a_number(ch: str) -> bool:
    """Whether :func:`bot.text.privacy.redact` stops reading a number at ``ch``.

    It does when ``ch`` is visible and assigned, neither a space nor a separator, and folds to no
    digit.
    """
    if ch in privacy.NUMERAL_DIGITS:
        return False
    if unicodedata.category(ch)[0] == "L" and unicodedata.is_normalized("NFKC", ch):
        return True  # a letter that folds to itself (most of the candidates: quick)
    return not privacy.continues_a_number(ch)


def _breakers() -> str:
    """A regular-expression character class of the characters that end a number.

    Candidates are ASCII letters and punctuation, Latin letters, kana, CJK ideographs, hangul and
    full-width letters, each kept only if :func:`_ends_a_number` (so the numerals 一二三…, the
    separator ・ and unassigned code points are left out). Anything else (separators, spaces,
    invisible characters, other scripts) may sit inside a number, so a run of those and digits is
    checked in full. Built once per process (some 50 ms).
    """
    candidates = [
        (0x21, 0x7E),
        (0xC0, 0x24F),
        (0x3040, 0x30FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xAC00, 0xD7AF),
        (0xFF21, 0xFF3A),
        (0xFF41, 0xFF5A),
    ]
    kept = [
        code
        for low, high in candidates
        for code in range(low, high + 1)
        if code != ord("+") and _ends_a_number(chr(code))
    ]  # "+": the probe reads it as a space
    runs, start = [], kept[0]
    for previous, code in zip(kept, kept[1:] + [-1], strict=True):  # -1: ends the last run
        if code != previous + 1:
            runs.append(
                re.escape(chr(start)) if start == previous else f"{re.escape(chr(start))}-{re.escape(chr(previous))}"
            )
            start = code
    return "[" + "".join(runs) + "]"


# A stretch that could hold a number: six or more characters none of which ends one (a numeral
# form weighs two digits at most, so fewer than six cannot make eleven).
_STRETCH = re.compile(_breakers().replace("[", "[^", 1) + "{6,}")
# Runs of escapes a log line may carry a number in: JSON/Python \\uXXXX (any number of
# backslashes, as in a repr of JSON), \\UXXXXXXXX, bytes-repr \\xNN (UTF-8 bytes), URL %NN.
_ESCAPES = re.compile(
    r"(?P<u>(?:\\+u[0-9a-fA-F]{4})+)|(?P<U>(?:\\+U[0-9a-fA-F]{8})+)"
    r"|(?P<x>(?:\\+x[0-9a-fA-F]{2})+)|(?P<pct>(?:%[0-9a-fA-F]{2})+)"
)
_HEX_AFTER_BACKSLASHES = re.compile(r"\\+[uUx]([0-9a-fA-F]+)")
# "+" between digits, which a URL query writes for a space (139+1234+5678)
_PLUS_IN_NUMBER = re.compile(rf"(?<=[\d{_CHINESE_DIGITS}])\++(?=[\d{_CHINESE_DIGITS}])")
_TOKEN_PARAM = re.compile(r"(?i)([?&;](?:token|auth_token|access_token)=)[^&\s'\"#]+")
# The attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

_local = threading.local()
_secrets: set[str] = set()
_traceback_formatter = logging.Formatter()


def _digit_weight(text: str) -> int:
    """How many digits ``text`` could fold to, at most (cheap: two regular-expression scans)."""
    weight = len(_ONE_DIGIT.findall(text))
    if weight >= _SHORTEST_NUMBER or text.isascii():
        return weight
    return weight + _NUMERAL_WEIGHT * len(_NUMERAL_FORMS.findall(text))


def _decode_run(kind: str, run: str) -> str:
    """One run of escapes as the characters it stands for.

    The run itself when it does not decode; quotes, backslashes and what is not printable are
    written as :func:`_probe_char` writes them.
    """
    units = (
        [int(h, 16) for h in _HEX_AFTER_BACKSLASHES.findall(run)]
        if kind != "pct"
        else [int(run[i + 1 : i + 3], 16) for i in range(0, len(run), 3)]
    )
    try:
        if kind == "u":
            decoded = "".join(map(chr, units)).encode("utf-16", "surrogatepass").decode("utf-16")
        elif kind == "U":
            decoded = "".join(map(chr, units))
        else:
            decoded = bytes(units).decode("utf-8")
    except (UnicodeError, ValueError, OverflowError):
        return run
    return "".join(map(_probe_char, decoded))


def _probe_char(ch: str) -> str:
    """A decoded character as the probe writes it.

    Itself; a quote or backslash escaped as JSON does (no hex digits to run into a number); what is
    not printable as bot.text.privacy reads it, a space or nothing (so no control character reaches
    the log).
    """
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable():
        return ch
    return " " if ch.isspace() else ""


def _probe(text: str) -> str:
    """``text`` with escapes decoded and "+" between digits read as a space (as in a URL query)."""
    decoded = _ESCAPES.sub(lambda m: _decode_run(m.lastgroup or "", m.group()), text)
    return _PLUS_IN_NUMBER.sub(" ", decoded) if "+" in decoded else decoded


def mask_digits(text: str) -> str:
    """``text`` with every digit-like character replaced by ``*`` (when redaction is unavailable)."""
    return _NUMERAL_FORMS.sub(MASK, _ONE_DIGIT.sub(MASK, text))


def may_hold_number(text: str) -> bool:
    """False only when :func:`bot.text.privacy.redact` certainly finds nothing in ``text``.

    That is when no stretch without letters or punctuation has 11 digit-like characters (one
    regular-expression scan for most lines).
    """
    if _digit_weight(text) < _SHORTEST_NUMBER:
        return False
    return any(_digit_weight(m.group()) >= _SHORTEST_NUMBER for m in _STRETCH.finditer(text))


def _redact_numbers(text: str) -> str:
    redact = privacy.redact
    if _digit_weight(text) < _SHORTEST_NUMBER:
        return text
    if may_hold_number(text):
        text = redact(text)
    if ("\\" in text or "%" in text) and _ESCAPES.search(text) or "+" in text and _PLUS_IN_NUMBER.search(text):
        probe = _probe(text)
        if probe != text and may_hold_number(probe):
            cleaned = redact(probe)
            if cleaned != probe:
                # a number hidden in escapes: the line is written decoded, with it replaced
                return cleaned
    return text


def redact_text(text: str) -> str:
    """``text`` without personal numbers (in any digit form, escaped or not) or known secrets.

    Never raises: if :func:`bot.text.privacy.redact` fails (its data file is broken), or is called
    again from within itself (it logged), digits are masked instead.
    """
    if not text:
        return text
    if _secrets:
        for secret in _secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
    if "token=" in text.lower():
        text = _TOKEN_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    if getattr(_local, "busy", False):
        return mask_digits(text)
    _local.busy = True
    try:
        return _redact_numbers(text)
    except Exception:  # noqa: BLE001 - a log call must never fail nor fall back to the raw text
        return mask_digits(text)
    finally:
        _local.busy = False


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    return value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact ``record`` in place: message (args merged in), exception and stack text, extra fields.

    The message and exception are done once per record (a second call only looks at the extra
    fields, which may have been added since).
    """
    if not getattr(record, "_gxga_redacted", False):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - arguments that do not fit the format: keep both, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact_text(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        # formatters use exc_text; no handler may format the raw exception again
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._gxga_redacted = True
    for key, value in list(vars(record).items()):
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_gxga"):
            setattr(record, key, _redact_value(value))
    return record


class RedactFilter(logging.Filter):
    """A filter for handlers and loggers: redacts the record (:func:`redact_record`), drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place and keep it (always True)."""
        redact_record(record)
        return True


class _RedactingFactory:
    """Wraps the previous record factory; every record it makes is redacted."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        return redact_record(self.previous(*args, **kwargs))


FILTER = RedactFilter()


def _loggers() -> list[logging.Logger]:
    found = [logging.getLogger()]
    found += [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    return found


def cover_handlers() -> None:
    """Put :data:`FILTER` on every handler that exists now and on the access loggers (idempotent).

    Call again after a library configured logging (the services do, just before serving).
    """
    handlers = [h for logger in _loggers() for h in logger.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if FILTER not in handler.filters:
            handler.addFilter(FILTER)
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)


def add_secrets(values: Iterable[str | None]) -> None:
    """Never log these texts (at least 8 characters; shorter ones are ignored as too common)."""
    _secrets.update(v for v in values if v and len(v) >= 8)


def install(environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Redact every log record of this process from now on (idempotent).

    Args:
        environ: where the secrets of :data:`SECRET_VARIABLES` are read.
    """
    add_secrets((environ.get(name) or "").strip() for name in SECRET_VARIABLES)
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
    cover_handlers()


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return isinstance(logging.getLogRecordFactory(), _RedactingFactory)
