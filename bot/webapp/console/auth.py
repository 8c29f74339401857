"""Staff login: accounts, sessions, the CSRF double submit and the login throttle.

Without a session every console page redirects to the login page and every ``/console/api/``
call answers 401 (:func:`require_staff`); a POST there must also carry the CSRF token. Each
request reads the account's role afresh, so a role change or a disabled account takes effect on
the next request; :func:`require_admin` guards what only administrators may do. Logins, failed
logins (the account tried and the address, never the password) and logouts are written to the
audit log (:mod:`bot.storage.audit`). The forms are read by :func:`bot.webapp.bodies.read_form`: a
malformed one gets 400 (413 when too large) with the console's Chinese wording, never a 500.

Actor of a failed login's audit entry: :data:`FAILED_LOGIN_ACTOR` (no one is logged in).
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot import config
from bot.storage import appdb, audit
from bot.webapp.bodies import BodyError, read_form
from bot.webapp.console import wording
from bot.webapp.console.common import page, settings_of

if TYPE_CHECKING:
    from bot.security.ratelimit import RateLimiter, RedisRateLimiter

log = logging.getLogger(__name__)

COOKIE = "gxga_console"
CSRF_COOKIE = "gxga_csrf"
CSRF_HEADER = "X-CSRF-Token"
# Login throttling. Each attempt takes a slot before the password is checked, and a right
# password hands its slots back, so only failures (and attempts in flight) count: this many per
# account *and client address*, and this many per address over all accounts, in the window. There
# is deliberately no limit per account alone: it would let anyone, from anywhere, lock a staff
# member out; guessing from many addresses is bounded per address instead, and by the bcrypt cost
# and the minimum password length (bot.storage.appdb).
LOGIN_FAILURES = 5
LOGIN_FAILURES_PER_IP = 20  # a hall shares one address: lock an account sooner than the address
LOGIN_WINDOW_S = 15 * 60
# The login limiter (bot.security.ratelimit; in Redis when REDIS_URL is set).
LIMITER_KEY: web.AppKey[RateLimiter | RedisRateLimiter] = web.AppKey("console_login_limiter")
# A reserved slot: the limit's key and the token the limiter's ``reserve`` gave for it. The token
# is opaque (a float in process, a str or float from Redis) and only goes back to the same
# limiter's ``release``.
Slot = tuple[str, Any]
# The audit log's actor for failed logins ('@' is not allowed in usernames).
FAILED_LOGIN_ACTOR = "@login"


async def _form(request: web.Request):
    """The login or logout form, or a plain-text 400/413 in Chinese (:func:`bot.webapp.bodies.read_form`)."""
    try:
        return await read_form(request)
    except BodyError as exc:
        text = wording.error(exc.code, limit=exc.limit)
        if exc.status == 413:
            raise web.HTTPRequestEntityTooLarge(
                max_size=exc.limit, actual_size=request.content_length or exc.limit + 1, text=text
            ) from exc
        raise web.HTTPBadRequest(text=text) from exc


def current_account(request: web.Request) -> appdb.StaffAccount | None:
    """The logged-in staff member's account as it is now (None without a live session)."""
    return appdb.session_account(request.cookies.get(COOKIE), url=settings_of(request).app_database_url)


def current_user(request: web.Request) -> str | None:
    """The logged-in staff member, or None."""
    account = current_account(request)
    return account.username if account else None


def require_admin(request: web.Request) -> str:
    """The administrator making ``request`` (after :func:`require_staff` has run).

    Raises:
        web.HTTPForbidden: the account is not an administrator (a JSON ``{"error": ...}`` body).
    """
    if request.get("role") != appdb.ADMIN:
        raise web.HTTPForbidden(text=json.dumps({"error": wording.error("forbidden")}), content_type="application/json")
    return request["staff"]


def _failure_counter(settings: config.Settings) -> RateLimiter | RedisRateLimiter:
    """The login limiter: in Redis (shared by every replica) when REDIS_URL is set."""
    from bot.security.ratelimit import limiter_for

    return limiter_for(settings, namespace="console")


def client_address(request: web.Request) -> str:
    """The staff member's address: the peer, or the client behind a trusted proxy.

    Behind a proxy in ``TRUSTED_PROXIES`` it is the last untrusted ``X-Forwarded-For`` hop (the channel
    guard's rule, so a client cannot choose its address by writing the header); the peer itself when
    that leaves none (a local tool).
    """
    from bot.security.ratelimit import client_ip

    peer = request.remote
    return client_ip(peer, request.headers.get("X-Forwarded-For"), settings_of(request)) or peer or "unknown"


def _reserve_attempt(request: web.Request, username: str, address: str) -> list[Slot] | None:
    """Take a slot of every login limit for this attempt before the password is checked.

    Each slot is taken in one atomic step, so concurrent guesses cannot all pass the limit; None
    (nothing kept) when one is full.

    Returns:
        ``(key, token)`` of each slot, to hand back with :func:`_release` after a right password.
    """
    limiter = request.app[LIMITER_KEY]
    limits = ((f"ip:{address}", LOGIN_FAILURES_PER_IP), (f"user:{username.lower()}|ip:{address}", LOGIN_FAILURES))
    taken: list[Slot] = []
    for key, limit in limits:
        token = limiter.reserve(key, limit, LOGIN_WINDOW_S)
        if token is None:
            _release(request, taken)
            return None
        taken.append((key, token))
    return taken


def _release(request: web.Request, slots: list[Slot]) -> None:
    limiter = request.app[LIMITER_KEY]
    for key, token in slots:
        limiter.release(key, token)


def _csrf_ok(request: web.Request, submitted: str | None) -> bool:
    """Double-submit check: the form field or header must equal the CSRF cookie."""
    import hmac

    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))


def _with_csrf_cookie(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Give the browser a CSRF token (readable by our page's script) if it has none."""
    import secrets

    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(24),
            httponly=False,
            samesite="Strict",
            path="/console",
            secure=settings_of(request).console_secure_cookie,
        )
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form (?failed=1 after a wrong password, ?locked=1 when throttled)."""
    return _with_csrf_cookie(request, page("login.html"))


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the CSRF token, the throttle and the credentials; on success set the session cookie.

    The attempt takes its throttle slots (:func:`_reserve_attempt`) before the one bcrypt check
    of :func:`bot.storage.appdb.login`, and gives them back when the password was right.
    """
    form = await _form(request)
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text=wording.error("csrf"))
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:256]
    settings = settings_of(request)
    address = client_address(request)
    slots = _reserve_attempt(request, username, address)
    if slots is None:
        log.warning("console login throttled for %r from %s", username, address)
        raise web.HTTPFound("/console/login?locked=1")
    try:
        token = await asyncio.get_running_loop().run_in_executor(
            None, partial(appdb.login, username, password, settings.console_session_hours, settings.app_database_url)
        )
    except Exception:
        _release(request, slots)  # the account database failed: no verdict on the password
        raise
    if token is None:
        log.warning("console login failed for %r from %s", username, address)
        audit.record(FAILED_LOGIN_ACTOR, "login_failed", target=username, detail=address, url=settings.app_database_url)
        raise web.HTTPFound("/console/login?failed=1")
    _release(request, slots)  # a right password: only wrong ones (and a dropped request) keep theirs
    audit.record(username, "login", target=username, detail=address, url=settings.app_database_url)
    response = web.HTTPFound("/console")
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(settings.console_session_hours * 3600),
        httponly=True,
        samesite="Strict",
        path="/console",
        secure=settings.console_secure_cookie,
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (the form carries the CSRF token)."""
    form = await _form(request)
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text=wording.error("csrf"))
    url = settings_of(request).app_database_url
    username = appdb.logout(request.cookies.get(COOKIE), url=url)
    if username is not None:
        audit.record(username, "logout", target=username, url=url)
    response = web.HTTPFound("/console/login")
    response.del_cookie(COOKIE, path="/console")
    raise response


async def console_page(request: web.Request) -> web.StreamResponse:
    """The console (login required)."""
    if current_user(request) is None:
        raise web.HTTPFound("/console/login")
    return _with_csrf_cookie(request, page("console.html"))


@web.middleware
async def require_staff(request: web.Request, handler):
    """401 for every /console/api/ call without a live session, 403 for a POST without the CSRF token.

    Otherwise ``request["staff"]`` is the username and ``request["role"]`` the account's role
    (``"admin"`` or ``"staff"``), read from the database on this request.
    """
    if request.path.startswith("/console/api/"):
        account = current_account(request)
        if account is None:
            return web.json_response({"error": wording.error("login_required")}, status=401)
        if request.method == "POST" and not _csrf_ok(request, request.headers.get(CSRF_HEADER)):
            return web.json_response({"error": wording.error("csrf")}, status=403)
        request["staff"] = account.username
        request["role"] = account.role
    return await handler(request)


async def _prepare_login(app: web.Application) -> None:
    """Make the login's stand-in hash before the first request (bot.storage.appdb.prepare_login)."""
    await asyncio.get_running_loop().run_in_executor(None, appdb.prepare_login)
