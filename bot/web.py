"""The resident-facing web page (and, later, the staff console): ``python -m bot.web``.

Serves ``web/index.html`` and ``web/static/`` and forwards chat messages to the Rasa server's
REST channel, so a browser talks to one origin and the Rasa server need not be exposed.

Routes: ``GET /`` (chat page), ``GET /static/…``, ``POST /api/message`` (``{"sender", "message"}``
→ the bot's messages), ``GET /health``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bot import config

log = logging.getLogger(__name__)

WEB_ROOT = config.PROJECT_ROOT / "web"
MAX_BODY_BYTES = 16 * 1024
MAX_MESSAGE_CHARS = 2000


def message_limits(settings: config.Settings) -> tuple[int, int]:
    """The longest message passed on (characters) and the largest body read (bytes). Messages
    up to twice ``MAX_MESSAGE_CHARS`` reach the channel guard, which answers the polite
    ``too_long``; only beyond that, or beyond 2,000 characters, is the request refused here."""
    chars = max(MAX_MESSAGE_CHARS, 2 * settings.max_message_chars)
    return chars, max(MAX_BODY_BYTES, 4 * chars + 1024)
RASA_TIMEOUT_S = 30


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def index(request: web.Request) -> web.FileResponse:
    """The chat page."""
    return web.FileResponse(WEB_ROOT / "index.html", headers={"Cache-Control": "no-cache"})


async def health(request: web.Request) -> web.Response:
    """Liveness of the web server itself."""
    return web.json_response({"status": "ok"})


async def message(request: web.Request) -> web.Response:
    """Forward one message to Rasa's REST channel and return the bot's messages.

    400 for a body that is not ``{"sender": str, "message": str}``, 413 over the size limits,
    503 when the Rasa server cannot be reached (the page then shows its own apology).
    """
    max_chars, max_bytes = message_limits(request.app["settings"])
    if request.content_length and request.content_length > max_bytes:
        return _json_error(413, "request too large")
    raw = await request.read()
    if len(raw) > max_bytes:
        return _json_error(413, "request too large")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return _json_error(400, "body is not valid JSON")
    if not isinstance(body, dict) or not isinstance(body.get("sender"), str) or not isinstance(body.get("message"), str):
        return _json_error(400, 'expected {"sender": string, "message": string}')
    sender, text = body["sender"].strip()[:128], body["message"]
    if not sender:
        return _json_error(400, "sender must not be empty")
    if len(text) > max_chars:
        return _json_error(413, f"message over {max_chars} characters")
    session: ClientSession = request.app["rasa_session"]
    try:
        # The REST channel limits per client IP: tell it who the resident is.
        forwarded = request.headers.get("X-Forwarded-For")
        hops = f"{forwarded}, {request.remote}" if forwarded else (request.remote or "")
        async with session.post(request.app["rasa_rest_url"], json={"sender": f"web-{sender}", "message": text},
                                headers={"X-Forwarded-For": hops}) as resp:
            if resp.status == 429:
                return web.json_response(await resp.json(), status=429)
            if resp.status != 200:
                log.warning("Rasa answered %s for sender %s", resp.status, sender)
                return _json_error(502, "the assistant could not answer")
            return web.json_response(await resp.json())
    except (ClientError, asyncio.TimeoutError) as exc:
        log.warning("Rasa unreachable: %s", exc)
        return _json_error(503, "the assistant is unavailable")


def make_app(rasa_url: str, settings: config.Settings | None = None) -> web.Application:
    """The aiohttp application: resident page forwarding to the Rasa server at ``rasa_url``,
    and the staff console."""
    from bot import console
    from knowledge.repository import KnowledgeBase

    app = web.Application(client_max_size=console.MAX_CASE_BYTES + 4096)
    app["settings"] = settings or config.load()
    app["kb"] = KnowledgeBase(app["settings"].database_url)
    app["rasa_url"] = rasa_url.rstrip("/")
    app["rasa_rest_url"] = app["rasa_url"] + "/webhooks/rest/webhook"

    async def _session(app: web.Application):
        app["rasa_session"] = ClientSession(timeout=ClientTimeout(total=RASA_TIMEOUT_S))
        yield
        await app["rasa_session"].close()

    app.cleanup_ctx.append(_session)
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_post("/api/message", message)
    app.router.add_static("/static/", WEB_ROOT / "static")
    console.add_routes(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the web server until interrupted."""
    settings = config.load()
    parser = argparse.ArgumentParser(prog="python -m bot.web")
    parser.add_argument("--port", type=int, default=settings.web_port)
    parser.add_argument("--host", default=settings.web_host)
    parser.add_argument("--rasa-url", default=settings.rasa_url, help="the Rasa server (default: RASA_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(make_app(args.rasa_url, settings), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
