"""What every part of the console shares: the settings, its pages, bounded JSON bodies."""

from __future__ import annotations

import json

from aiohttp import web

from bot import config
from bot.text.jsonlimits import JsonBodyError, loads

MAX_JSON_BYTES = 16 * 1024


def settings_of(request: web.Request) -> config.Settings:
    """The settings the application was made with (``app["settings"]``)."""
    return request.app["settings"]


def page(name: str) -> web.FileResponse:
    """A page of ``web/`` (login or console), never cached."""
    return web.FileResponse(config.PROJECT_ROOT / "web" / name, headers={"Cache-Control": "no-store"})


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with a JSON ``{"error": message}`` body, to raise."""
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def json_body(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict:
    """The request's JSON object, parsed within :mod:`bot.text.jsonlimits` limits.

    Raises:
        web.HTTPRequestEntityTooLarge: over ``limit`` bytes (refused from ``Content-Length`` first).
        web.HTTPBadRequest: not UTF-8, not JSON, nested too deep, a number out of range, or not an
            object (a JSON ``{"error": ...}`` body saying which).
    """
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    raw = await request.read()
    if len(raw) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(raw))
    try:
        body = loads(raw, max_bytes=limit, empty={})
    except JsonBodyError as exc:
        raise bad_request(str(exc)) from exc
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body
