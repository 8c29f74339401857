"""Request bodies read within limits, chunked or not; malformed forms refused instead of failing.

Invariants: :func:`read_bounded` never holds more than ``limit`` + one chunk of a body, whether its
size was declared (``Content-Length``, refused before anything is read) or not (chunked: refused as
soon as the count passes ``limit``); :func:`read_form` returns aiohttp's parsed form or raises
:class:`BodyError`, never aiohttp's ``ValueError`` / ``LookupError`` / ``AssertionError`` for a
multipart body without a boundary, with a wrong one, or with an unknown or overlong ``_charset_``.

The callers turn a :class:`BodyError` into their own answer: JSON in English on the resident API
(:mod:`bot.webapp.server`), the console's Chinese wording elsewhere (``errors.<code>`` in
``bot/webapp/console/wording.yml``, with ``limit`` filled in). A body that does not arrive in time
is :mod:`bot.webapp.connections`' concern (408).
"""

from __future__ import annotations

from email.message import Message

from aiohttp import web
from aiohttp.http import HttpProcessingError
from multidict import MultiDictProxy

CHUNK = 16 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_BOUNDARY_CHARS = 70  # RFC 2046 §5.1.1


class BodyError(Exception):
    """A body refused: ``status`` (400 or 413), ``code`` (a key of the console's ``errors`` wording), ``limit``."""

    def __init__(self, status: int, code: str, limit: int = 0):
        super().__init__(f"{code} ({status})")
        self.status, self.code, self.limit = status, code, limit


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes.

    Raises:
        BodyError: 413 ``too_large`` from ``Content-Length`` before reading, or as soon as a body of
            undeclared length passes ``limit``.
    """
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(413, "too_large", limit)
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise BodyError(413, "too_large", limit)
        parts.append(chunk)


def boundary_problem(request: web.Request) -> str | None:
    """Why the request cannot be read as a form (a wording code), or None.

    ``form_type`` when it is neither URL-encoded nor multipart; ``form_boundary`` for multipart
    without a ``boundary`` parameter or with one of more than 70 characters.
    """
    if request.content_type not in FORM_TYPES:
        return "form_type"
    if request.content_type == "multipart/form-data":
        header = Message()
        header["Content-Type"] = request.headers.get("Content-Type", "")
        boundary = header.get_param("boundary")
        if not isinstance(boundary, str) or not boundary or len(boundary) > MAX_BOUNDARY_CHARS:
            return "form_boundary"
    return None


async def read_form(request: web.Request) -> MultiDictProxy:
    """The form of a POST (URL-encoded or multipart), within the application's ``client_max_size``.

    Raises:
        BodyError: 400 ``form_type``, ``form_boundary`` (see :func:`boundary_problem`) or
            ``form_invalid`` (a multipart body that does not match its boundary, an unknown
            ``_charset_``, text that is not in its charset); 413 ``too_large`` over
            ``client_max_size`` (declared or counted while reading).
    """
    limit = request.client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(413, "too_large", limit)
    problem = boundary_problem(request)
    if problem:
        raise BodyError(400, problem)
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BodyError(413, "too_large", limit) from exc
    except (ValueError, LookupError, AssertionError, RuntimeError, HttpProcessingError) as exc:
        # aiohttp 3.9.5: ValueError for a wrong or missing boundary (and UnicodeDecodeError, one of
        # them), LookupError for an unknown _charset_, RuntimeError("Invalid default charset") for a
        # _charset_ over 40 bytes, InvalidHeader (an HttpProcessingError) for a _charset_ Python has
        # no codec for, AssertionError for a part without Content-Disposition
        raise BodyError(400, "form_invalid") from exc
