"""Running the web application (resident page and console) in-process, and logging in to its console.

It runs on a free loopback port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from typing import Iterator

from bot import config
from bot.security import ratelimit
from bot.storage import appdb
from tests.support.ports import free_port

PASSWORD = "correct horse battery staple"


CLOSED_RASA = "http://127.0.0.1:9"  # the discard port: nothing listens, so Rasa is "unavailable"


def make_settings(tmp_path, **changes) -> config.Settings:
    """This machine's settings with a fresh application database and no Redis, then ``changes``."""
    base = dict(app_database_url=f"sqlite:///{tmp_path / 'app.db'}", redis_url=None)
    return dataclasses.replace(config.load(), **{**base, **changes})


@contextmanager
def serve(
    settings: config.Settings, rasa_url: str = CLOSED_RASA, limiter=None, new_loop=asyncio.new_event_loop
) -> Iterator[dict]:
    """Run ``bot.webapp.server.make_app`` on a free loopback port in a background thread.

    Args:
        settings: the application's settings.
        rasa_url: the Rasa server it forwards to.
        limiter: the console's login limiter (a fresh in-process one by default, so tests do not
            share failure counts).
        new_loop: makes the event loop (``uvloop.new_event_loop``: the loop a process gets once
            Rasa or Sanic installed uvloop's policy, as in the whole test suite).

    Yields:
        ``{"url": base URL, "app": the application}``.
    """
    from aiohttp import web as aioweb

    from bot.webapp import console
    from bot.webapp.connections import GuardedRunner
    from bot.webapp.server import make_app

    app = make_app(rasa_url, settings)
    app[console.LIMITER_KEY] = limiter if limiter is not None else ratelimit.RateLimiter()
    loop = new_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = GuardedRunner(app, access_log=None)  # as python -m bot.ops.webserver serves it
    port = free_port()

    async def start():
        await runner.setup()
        await aioweb.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "app": app}
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    """``(status, headers, body bytes)`` of one request; redirects are not followed."""
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def csrf_token(base: str) -> str:
    """A CSRF token from the login page's cookie."""
    _, headers, _ = request(base + "/console/login")
    match = re.search(r"gxga_csrf=([^;]+)", headers.get("Set-Cookie", ""))
    assert match, headers
    return match.group(1)


def login(
    base: str, username: str, password: str, forwarded_for: str | None = None, csrf: str | None = None
) -> tuple[str, str]:
    """POST the login form; ``(Location, Set-Cookie)`` of the redirect."""
    csrf = csrf or csrf_token(base)
    headers = {"Cookie": f"gxga_csrf={csrf}", "Content-Type": "application/x-www-form-urlencoded"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    status, resp_headers, body = request(
        base + "/console/login",
        urllib.parse.urlencode({"username": username, "password": password, "csrf": csrf}).encode(),
        headers,
    )
    assert status == 302, (status, body[:300])
    return resp_headers["Location"], resp_headers.get("Set-Cookie") or ""


def staff_headers(base: str, settings: config.Settings, username: str = "hall01") -> dict:
    """Headers of a logged-in console session (the account is created if need be)."""
    try:
        appdb.add_staff_user(username, PASSWORD, url=settings.app_database_url)
    except ValueError:
        pass  # created by an earlier call
    csrf = csrf_token(base)
    location, cookie = login(base, username, PASSWORD, csrf=csrf)
    assert location == "/console", location
    session = cookie.split(";")[0]
    return {"Cookie": f"{session}; gxga_csrf={csrf}", "X-CSRF-Token": csrf, "Content-Type": "application/json"}
