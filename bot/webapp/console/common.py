"""What every part of the console shares: the settings, its pages, bounded JSON bodies, JSON errors."""

from __future__ import annotations

import json

from aiohttp import web

from bot import config
from bot.text.jsonlimits import MAX_DEPTH, JsonBodyError, loads, nesting_depth
from bot.webapp.bodies import BodyError, read_bounded
from bot.webapp.console import wording

MAX_JSON_BYTES = 16 * 1024


def settings_of(request: web.Request) -> config.Settings:
    """The settings the application was made with (``app["settings"]``)."""
    return request.app["settings"]


def page(name: str) -> web.FileResponse:
    """A page of ``web/`` (login or console), never cached."""
    return web.FileResponse(config.PROJECT_ROOT / "web" / name, headers={"Cache-Control": "no-store"})


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with a JSON ``{"error": message}`` body, to raise (``message`` from :func:`wording.error`)."""
    return web.HTTPBadRequest(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


def error_response(status: int, code: str, /, **values: object) -> web.Response:
    """A JSON ``{"error": ...}`` response of ``status`` with the Chinese message ``code`` of wording.yml."""
    return web.json_response({"error": wording.error(code, **values)}, status=status)


def _too_large(limit: int, actual: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=actual,
        text=json.dumps({"error": wording.error("too_large", limit=limit)}, ensure_ascii=False),
        content_type="application/json",
    )


async def json_body(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict:
    """The request's JSON object, parsed within :mod:`bot.text.jsonlimits` limits.

    Raises:
        web.HTTPRequestEntityTooLarge: over ``limit`` bytes (refused from ``Content-Length`` first, and
            while a chunked body is read).
        web.HTTPBadRequest: not UTF-8, not JSON, nested too deep, a number out of range, or not an
            object (a JSON ``{"error": ...}`` body saying which, in Chinese).
    """
    try:
        raw = await read_bounded(request, limit)  # chunked bodies counted as they arrive
    except BodyError as exc:
        raise _too_large(limit, request.content_length or limit + 1) from exc
    # UTF-8 and the nesting are checked here too, so the message can say which it was.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(wording.error("json_not_utf8")) from exc
    if nesting_depth(text) > MAX_DEPTH:
        raise bad_request(wording.error("json_too_deep", limit=MAX_DEPTH))
    try:
        body = loads(text, max_bytes=limit, empty={})
    except JsonBodyError as exc:
        raise bad_request(wording.error("json_invalid")) from exc
    if not isinstance(body, dict):
        raise bad_request(wording.error("not_object"))
    return body
