"""The web server's connections, bounded: header and body deadlines, connections per address, no decompression.

aiohttp 3.9.5's server (``aiohttp/web_protocol.py``) bounds none of these: a fresh connection
waits for its first request line for ever (``RequestHandler.start`` awaits ``_waiter`` with no
timer; the keep-alive timer is armed only after a response), a body may trickle in for ever, any
peer may open any number of connections, and with ``auto_decompress`` (the default) the parser
inflates a ``Content-Encoding: gzip`` body as it arrives, before any handler could refuse it (a
199 KiB gzip bomb became 256 MiB of memory). So the server is run by :class:`GuardedRunner`:

- ``auto_decompress=False``: bodies stay as sent; :func:`refuse_encoded_bodies` answers any
  ``Content-Encoding`` other than ``identity`` with 415, before the body is read;
- :class:`GuardedRequestHandler` (aiohttp's ``RequestHandler`` with three hooks) closes a
  connection whose first request's headers are not complete within ``WEB_HEADER_TIMEOUT`` seconds
  (with 408 when it sent part of a request, silently when it sent nothing)
  (after a response, aiohttp's own keep-alive timer, ``WEB_KEEPALIVE_TIMEOUT``, closes a connection
  that sends no complete request in time), fails a body not complete within ``WEB_BODY_TIMEOUT``
  seconds of its headers with 408 (the handler's read raises ``HTTPRequestTimeout``, which aiohttp
  answers as such), and refuses a connection beyond ``WEB_MAX_CONNECTIONS_PER_IP`` from one peer
  address with 503 (written, then the connection half-closed and drained for a second, so the
  peer reads the answer instead of a reset; peers in ``TRUSTED_PROXIES`` are exempt: a proxy carries everyone's
  connections; the Ingress bounds connections per client there, ``deploy/ingress.yaml``).

Body sizes are bounded where they are read (``client_max_size``, :mod:`bot.webapp.bodies`), chunked or not.

Pinned to aiohttp 3.9.5: the hooks use ``RequestHandler``'s ``data_received``, ``connection_made``,
``connection_lost``, its ``_messages`` queue and ``_request_count``, ``Server._loop`` and ``_kwargs``
and ``AppRunner._make_server``;
``tests/unit/test_web_connections.py`` checks the version and these names against the installed source.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, cast

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot import config
from bot.security import ratelimit

log = logging.getLogger(__name__)

AIOHTTP_VERSION = "3.9.5"
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
REFUSED_LINGER = 1.0  # seconds a refused connection is read (and dropped) after its 503, before it is closed
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class GuardedRequestHandler(RequestHandler):
    """aiohttp's protocol with a header deadline, a body deadline and a cap on connections per peer.

    Invariants: a connection that has not delivered its first request's headers
    ``settings.web_header_timeout`` seconds after it opened is closed (408 written first when it
    sent anything); a body
    still incomplete ``settings.web_body_timeout`` seconds after its headers makes the reader
    raise ``HTTPRequestTimeout`` and the connection is closed after the answer; at most
    ``settings.web_max_connections_per_ip`` connections of one untrusted peer are open at once
    (0: no cap).
    """

    def __init__(self, manager: Any, *, settings: config.Settings, open_counts: Counter, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self._settings = settings
        self._open_counts = open_counts
        self._peer: str | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body: Any = None
        self._bytes_seen = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the peer's connection (refusing one over the cap) and arm the header deadline."""
        super().connection_made(transport)
        peername = transport.get_extra_info("peername")
        peer = peername[0] if isinstance(peername, (tuple, list)) and peername else None
        cap = self._settings.web_max_connections_per_ip
        if peer and cap and not ratelimit.is_trusted(peer, self._settings):
            if self._open_counts[peer] >= cap:
                log.warning("connection from %s refused: %d open already", peer, cap)
                self._refuse(transport)
                return
            self._open_counts[peer] += 1
            self._peer = peer
        self._header_timer = self._loop.call_later(self._settings.web_header_timeout, self._headers_late, transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the connection: its count and its timers."""
        if self._peer is not None:
            self._open_counts[self._peer] -= 1
            if self._open_counts[self._peer] <= 0:
                del self._open_counts[self._peer]
            self._peer = None
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does, then disarm the header deadline and arm or disarm the body's.

        A refused connection's data is read and dropped, unparsed.
        """
        if self._refused:
            return
        before = self._request_count
        self._bytes_seen = self._bytes_seen or bool(data)
        super().data_received(data)
        if self._request_count > before:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            if self._messages:
                payload = self._messages[-1][1]
                if not payload.is_eof():
                    self._watch_body(payload)
        if self._body is not None and self._body.is_eof():
            self._stop_body_timer()

    def _watch_body(self, payload: Any) -> None:
        self._stop_body_timer()
        self._body = payload
        self._body_timer = self._loop.call_later(self._settings.web_body_timeout, self._body_late, payload)

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer, self._body = None, None

    def _headers_late(self, transport: asyncio.BaseTransport) -> None:
        self._header_timer = None
        if self._request_count == 0 and not transport.is_closing():
            timeout = self._settings.web_header_timeout
            log.info("connection from %s closed: no request headers within %g s", self._peer or "?", timeout)
            # 408 to a client that began a request; an idle one (a browser's preconnect) is just closed
            self._close_with(transport, TIMED_OUT if self._bytes_seen else b"")

    def _body_late(self, payload: Any) -> None:
        self._body_timer = None
        if payload is self._body and not payload.is_eof():
            log.info(
                "request body from %s not complete within %g s", self._peer or "?", self._settings.web_body_timeout
            )
            payload.set_exception(web.HTTPRequestTimeout(text="request body not received in time"))
            self._body = None
            self.close()  # no keep-alive after it: the rest of the body would be read as a request

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """503, then half-close and read (and drop) what the peer sends until it closes or ``REFUSED_LINGER`` s pass.

        Closing at once would lose the answer: the request the peer sends next reaches a closed
        socket, the kernel answers it with a reset, and a reset discards the 503 still unread in
        the peer's buffer.
        """
        self._refused = True  # aiohttp's force_close() would close the transport at once
        # duck-typed: uvloop's transports (Rasa installs its event-loop policy) are no asyncio.WriteTransport
        writer = cast(asyncio.WriteTransport, transport)
        writer.write(BUSY)
        if writer.can_write_eof():
            writer.write_eof()
        self._header_timer = self._loop.call_later(REFUSED_LINGER, self.force_close)

    def _close_with(self, transport: asyncio.BaseTransport, answer: bytes) -> None:
        try:
            if answer:
                cast(asyncio.WriteTransport, transport).write(answer)
        finally:
            self.force_close()
            transport.close()


class GuardedServer(web.Server):
    """``web.Server`` whose connections are :class:`GuardedRequestHandler` (settings shared, one count per server)."""

    def __init__(self, *args: Any, settings: config.Settings, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._guard_settings = settings
        self._open_counts: Counter = Counter()

    def __call__(self) -> RequestHandler:
        """A protocol for one new connection."""
        return GuardedRequestHandler(
            self, loop=self._loop, settings=self._guard_settings, open_counts=self._open_counts, **self._kwargs
        )


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` serving through :class:`GuardedServer`, without decompression, with the keep-alive timeout.

    ``app["settings"]`` holds the limits.
    """

    def __init__(self, app: web.Application, **kwargs: Any):
        settings: config.Settings = app["settings"]
        kwargs.setdefault("keepalive_timeout", settings.web_keepalive_timeout)
        kwargs["auto_decompress"] = False
        super().__init__(app, **kwargs)
        self._guard_settings = settings

    async def _make_server(self) -> web.Server:
        """Aiohttp's own server for the app (``AppRunner._make_server``), remade as a :class:`GuardedServer`."""
        server = await super()._make_server()
        return GuardedServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            settings=self._guard_settings,
            **server._kwargs,
        )


@web.middleware
async def refuse_encoded_bodies(request: web.Request, handler):
    """415 (JSON error) for a body with a ``Content-Encoding`` other than ``identity``, before it is read."""
    encodings = [e.strip().lower() for v in request.headers.getall("Content-Encoding", ()) for e in v.split(",")]
    if any(e and e != "identity" for e in encodings):
        return web.json_response({"error": "Content-Encoding is not supported: send the body uncompressed"}, status=415)
    return await handler(request)


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` on ``host``:``port`` through :class:`GuardedRunner` until cancelled (Ctrl-C, SIGTERM)."""
    import signal

    runner = GuardedRunner(app)
    await runner.setup()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("web server on http://%s:%d", host, port)
        await asyncio.Event().wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await runner.cleanup()


def version_matches() -> bool:
    """Whether the installed aiohttp is the one these hooks were written against."""
    return aiohttp.__version__ == AIOHTTP_VERSION
