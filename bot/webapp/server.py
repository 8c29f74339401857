"""The web server: the residents' page and the staff console (run by ``python -m bot.ops.webserver``).

Serves ``web/index.html`` and ``web/static/`` and forwards chat messages to the Rasa server's
REST channel, so a browser talks to one origin and the Rasa server need not be exposed.

Routes: ``GET /`` (chat page), ``GET /static/…``, ``GET /static/vendor/echarts.min.js`` (the
console's chart library, installed by ``make web-deps`` into ``web/node_modules/``), ``POST
/api/message`` (``{"sender", "message"}`` → the bot's messages), ``GET /api/topics`` and ``GET
/api/faq`` (按主题浏览 and 常见问题, :mod:`bot.webapp.topics`), ``GET /health``.

Every response carries ``X-Content-Type-Options: nosniff`` and a ``Content-Security-Policy``
allowing scripts, styles and requests from this origin only (the pages have nothing inline). The
resident page may be framed by the origins of ``WEB_FRAME_ANCESTORS`` (it is meant to be
embedded in a government portal); the staff console by none (``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``).

Serve it with :class:`bot.webapp.connections.GuardedRunner` (``python -m bot.ops.webserver`` does):
aiohttp's own runner would decompress bodies and bound neither header nor body reads.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bot import config
from bot.replies import as_messages
from bot.security import ratelimit, senders
from bot.security.staff import bearer_header
from bot.text.jsonlimits import JsonBodyError, loads
from bot.webapp.bodies import BodyError, read_bounded
from bot.webapp.connections import refuse_encoded_bodies

log = logging.getLogger(__name__)

WEB_ROOT = config.PROJECT_ROOT / "web"
MAX_BODY_BYTES = 16 * 1024
MAX_MESSAGE_CHARS = 2000
# The page's sender ids reach the REST channel as "web-<id>", which must fit its 128 characters.
SENDER_PREFIX = "web-"
MAX_SENDER_CHARS = senders.MAX_SENDER_CHARS - len(SENDER_PREFIX)
# A rate-limited message is answered 429 with Retry-After; this when Rasa's answer has none.
DEFAULT_RETRY_AFTER_S = 60
# Scripts, styles, requests and forms from this origin only; nothing inline, no plugins. The console's
# charts (ECharts, /static/vendor/) draw on a canvas, their tooltips too (renderMode "richText" in
# web/static/console.js), so the console needs no 'unsafe-inline' for ECharts' HTML tooltip styles.
BASE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'"
)
# Browser packages npm installs (web/package-lock.json, `make web-deps`), served from this origin
# under /static/vendor/: the console's pages load nothing from another host.
VENDOR_FILES = {"echarts.min.js": WEB_ROOT / "node_modules" / "echarts" / "dist" / "echarts.min.js"}
CONSOLE_STATIC = (
    "/static/console.js",
    "/static/console.css",
    "/static/login.js",
    *(f"/static/vendor/{name}" for name in VENDOR_FILES),
)


def message_limits(settings: config.Settings) -> tuple[int, int]:
    """The longest message passed on (characters) and the largest body read (bytes).

    Messages up to twice ``MAX_MESSAGE_CHARS`` reach the channel guard, which answers the polite
    ``too_long``; only beyond that, or beyond 2,000 characters, is the request refused here.
    """
    chars = max(MAX_MESSAGE_CHARS, 2 * settings.max_message_chars)
    return chars, max(MAX_BODY_BYTES, 4 * chars + 1024)


RASA_TIMEOUT_S = 30


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def index(request: web.Request) -> web.FileResponse:
    """The chat page."""
    return web.FileResponse(WEB_ROOT / "index.html", headers={"Cache-Control": "no-cache"})


async def vendor_file(request: web.Request) -> web.StreamResponse:
    """A file of :data:`VENDOR_FILES` (JavaScript), or 404 with a log line saying how to install it."""
    name = request.match_info["name"]
    path = VENDOR_FILES.get(name)
    if path is None:
        raise web.HTTPNotFound()
    if not path.is_file():
        log.warning("%s is missing (%s): run `make web-deps` (npm ci --prefix web)", name, path)
        return web.Response(status=404, text=f"{name} is not installed: run make web-deps\n")
    return web.FileResponse(
        path, headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache"}
    )


async def health(request: web.Request) -> web.Response:
    """Liveness of the web server itself."""
    return web.json_response({"status": "ok"})


def sender_problem(sender: object) -> str | None:
    """Why ``sender`` cannot name a web page conversation, or None.

    Refused: missing, not text, empty, over :data:`MAX_SENDER_CHARS` characters, control characters.
    Never truncated: two long ids with one prefix must not share a conversation.
    """
    if sender is None:
        return "sender is required"
    if not isinstance(sender, str):
        return "sender must be a string"
    if len(sender.strip()) > MAX_SENDER_CHARS:
        return f"sender over {MAX_SENDER_CHARS} characters"
    return senders.sender_problem(sender)


async def _rate_limited(resp) -> web.Response:
    """Rasa's 429 passed on: its messages (the polite ``rate_limited`` text) and ``Retry-After``.

    ``Retry-After`` is :data:`DEFAULT_RETRY_AFTER_S` when Rasa sent none or a malformed one.
    """
    retry_after = (resp.headers.get("Retry-After") or "").strip()
    if not (retry_after.isascii() and retry_after.isdigit() and len(retry_after) <= 6):
        retry_after = str(DEFAULT_RETRY_AFTER_S)
    try:
        messages = await resp.json(content_type=None)
    except ValueError:
        messages = None
    if not (isinstance(messages, list) and any(isinstance(m, dict) and m.get("text") for m in messages)):
        messages = as_messages(["rate_limited"], "-")
    return web.json_response(messages, status=429, headers={"Retry-After": retry_after})


async def message(request: web.Request) -> web.Response:
    """Forward one message to Rasa's REST channel and return the bot's messages.

    400 (``{"error": ...}``) for a body that is not ``{"sender": str, "message": str}`` within the
    JSON limits of :mod:`bot.text.jsonlimits` or a sender that :func:`sender_problem` refuses, 413 over
    the size limits, 429 with ``Retry-After`` and the polite text when the channel's rate limits
    refuse the message, 503 when the Rasa server cannot be reached (the page then shows its own
    apology).
    """
    settings: config.Settings = request.app["settings"]
    max_chars, max_bytes = message_limits(settings)
    try:
        raw = await read_bounded(request, max_bytes)  # chunked bodies counted as they arrive
    except BodyError:
        return _json_error(413, "request too large")
    try:
        body = loads(raw, max_bytes=max_bytes)
    except JsonBodyError as exc:
        return _json_error(400, str(exc))
    if not isinstance(body, dict):
        return _json_error(400, 'expected {"sender": string, "message": string}')
    problem = sender_problem(body.get("sender"))
    if problem:
        return _json_error(400, problem)
    if not isinstance(body.get("message"), str):
        return _json_error(400, "message must be a string")
    sender, text = body["sender"].strip(), body["message"]
    if len(text) > max_chars:
        return _json_error(413, f"message over {max_chars} characters")
    session: ClientSession = request.app["rasa_session"]
    try:
        async with session.post(
            request.app["rasa_rest_url"],
            json={"sender": SENDER_PREFIX + sender, "message": text},
            headers=resident_headers(request, settings),
        ) as resp:
            if resp.status == 429:
                return await _rate_limited(resp)
            if resp.status != 200:
                log.warning("Rasa answered %s for sender %s", resp.status, senders.log_id(sender))
                return _json_error(502, "the assistant could not answer")
            # what the channel stored instead of the typed text: the page shows and keeps only that
            kept = {h: resp.headers[h] for h in (senders.STORED_HEADER, senders.EARLIER_HEADER) if h in resp.headers}
            return web.json_response(await resp.json(), headers=kept)
    except (ClientError, asyncio.TimeoutError) as exc:
        log.warning("Rasa unreachable: %s", exc)
        return _json_error(503, "the assistant is unavailable")


def resident_headers(request: web.Request, settings: config.Settings) -> dict[str, str]:
    """What tells the Rasa server's web channel who the resident is (it limits per client address).

    The address is resolved here (:func:`bot.security.ratelimit.client_ip`: the peer, or the
    right-most ``X-Forwarded-For`` entry outside the ``TRUSTED_PROXIES`` networks) and sent as
    ``X-Resident-Address`` with the API token as bearer, which the web channel alone believes
    (:mod:`bot.rasa_ext.channels.web`); ``X-Forwarded-For`` carries it too, for a Rasa server with
    no token that trusts this server as a proxy. Nothing the client wrote is passed on unresolved.
    """
    address = ratelimit.client_ip(request.remote, request.headers.get("X-Forwarded-For"), settings) or request.remote
    headers = {"X-Forwarded-For": address} if address else {}
    if address and settings.rasa_api_token:
        headers[ratelimit.RESIDENT_ADDRESS_HEADER] = address
        headers.update(bearer_header(settings.rasa_api_token))
    return headers


def security_headers(path: str, settings: config.Settings) -> dict[str, str]:
    """The security headers of a response to ``path``.

    The console's pages, APIs and static files may not be framed at all, the resident page (and
    everything else) only by ``WEB_FRAME_ANCESTORS``.
    """
    headers = {"X-Content-Type-Options": "nosniff"}
    if path == "/console" or path.startswith("/console/") or path in CONSOLE_STATIC:
        headers["Content-Security-Policy"] = f"{BASE_POLICY}; frame-ancestors 'none'"
        headers["X-Frame-Options"] = "DENY"
        return headers
    ancestors = settings.web_frame_ancestors
    headers["Content-Security-Policy"] = f"{BASE_POLICY}; frame-ancestors {ancestors}"
    # X-Frame-Options (for browsers without CSP 2) can say only "this origin" or "nobody".
    legacy = {"'self'": "SAMEORIGIN", "'none'": "DENY"}.get(ancestors)
    if legacy:
        headers["X-Frame-Options"] = legacy
    return headers


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, static files and errors included."""
    for name, value in security_headers(request.path, request.app["settings"]).items():
        response.headers[name] = value


def make_app(rasa_url: str, settings: config.Settings | None = None, evaluator: Any = None) -> web.Application:
    """The aiohttp application: resident page forwarding to the Rasa server at ``rasa_url``, and the staff console.

    Args:
        rasa_url: the Rasa server.
        settings: the process's settings (read from the environment when None).
        evaluator: what the console's 批量评测 runs (:mod:`bot.quality.evaluate`, given by
            ``python -m bot.ops.webserver``); None answers 批量评测 with 503.
    """
    from bot.webapp import console, topics
    from knowledge.repository import KnowledgeBase

    # Every body is bounded where it is read (bot.webapp.bodies); compressed ones are refused (415)
    # before that, and the connections themselves are bounded by bot.webapp.connections.GuardedRunner.
    app = web.Application(client_max_size=console.MAX_CASE_BYTES + 4096, middlewares=[refuse_encoded_bodies])
    app["settings"] = settings or config.load()
    app["kb"] = KnowledgeBase(app["settings"].database_url)
    app["rasa_url"] = rasa_url.rstrip("/")
    # the web page's own channel (bot/rasa_ext/channels/web.py): its conversations count as "web"
    app["rasa_rest_url"] = app["rasa_url"] + "/webhooks/web/webhook"
    app["evaluator"] = evaluator

    async def _session(app: web.Application):
        app["rasa_session"] = ClientSession(timeout=ClientTimeout(total=RASA_TIMEOUT_S))
        yield
        await app["rasa_session"].close()

    app.cleanup_ctx.append(_session)
    # aiohttp 3.9.5 annotates its signals for aiosignal < 1.4; under the pinned aiosignal 1.4.0 mypy reads
    # Signal[Callable[...]] as a callback taking one Callable, though the handler's signature is right.
    app.on_response_prepare.append(_add_security_headers)  # type: ignore[arg-type]  # aiohttp 3.9 vs aiosignal 1.4
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_post("/api/message", message)
    topics.add_routes(app)
    app.router.add_get("/static/vendor/{name}", vendor_file)  # before /static/, which would answer 404
    app.router.add_static("/static/", WEB_ROOT / "static")
    console.add_routes(app)
    return app
