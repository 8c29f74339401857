"""Parse a JSON request body within limits, so hostile bodies get a clear 400, never a 500.

``json.loads`` recurses once per nesting level: a body nested a thousand deep raises
``RecursionError`` (a traceback and a 500), and numbers such as ``1e400`` become ``inf``. Every
HTTP entry point that reads JSON (the REST channel, the staff channel, the web page's
``/api/message`` and the console's APIs) parses through :func:`loads`, which counts the nesting
before parsing and refuses non-finite numbers.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 16
MAX_BYTES = 64 * 1024


class JsonBodyError(ValueError):
    """The body is not acceptable JSON; the message says why, in words fit for an API client."""


def nesting_depth(raw: str) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonBodyError(f"number out of range: {text[:40]}")
    return value


def _no_constant(name: str) -> float:
    raise JsonBodyError(f"{name} is not a JSON number")


def loads(
    raw: bytes | str | None, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES, empty: object = None
) -> object:
    """The parsed body.

    Args:
        raw: the request body.
        max_depth: the deepest nesting of arrays and objects accepted.
        max_bytes: the largest body accepted (callers should also refuse by ``Content-Length``
            before reading).
        empty: what an empty body stands for.

    Raises:
        JsonBodyError: too large, not UTF-8, not JSON, nested deeper than ``max_depth``, or a number
            that is not finite (``1e400``, ``NaN``, ``Infinity``).
    """
    if raw is None or raw in (b"", ""):
        return empty
    if len(raw) > max_bytes:
        raise JsonBodyError(f"body over {max_bytes} bytes")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonBodyError("body is not UTF-8") from exc
    if nesting_depth(raw) > max_depth:
        raise JsonBodyError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except JsonBodyError:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonBodyError("body is not valid JSON") from exc


def bounded_int(value: object, low: int, high: int) -> int | None:
    """``value`` as an int within ``low``–``high``, or None when it is not one.

    None for a bool, a float with a fraction, a text that is not a whole number, or a value out of
    range.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
            return None
        value = int(text)
    if not isinstance(value, int) or not low <= value <= high:
        return None
    return value
