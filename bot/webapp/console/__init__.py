"""The hall staff console at /console (same server as the resident page, ``bot.webapp.server``).

Staff log in (accounts from ``python -m bot.webapp.console add-user NAME``; bcrypt hashes; sessions
that expire), ask a question and see everything behind the answer, mark answers right or wrong,
work through the review list built from real conversations, export the corrections as Rasa NLU
YAML, and run the eval on an uploaded case file. Without a session every page redirects to the
login page and every API answers 401.

The modules: :mod:`.auth` (login, logout, sessions, CSRF, throttle), :mod:`.inspect` (测试问答),
:mod:`.reviews` (verdicts, review list, conversation, export), :mod:`.evaluation` (批量评测),
:mod:`.accounts` (the add-user command) and :mod:`.common` (what they share). :func:`add_routes`
mounts them all.
"""

from __future__ import annotations

from aiohttp import web

from bot.webapp.console import dashboard, knowledge, reviews, users, wording
from bot.webapp.console.accounts import main
from bot.webapp.console.auth import (
    COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    LIMITER_KEY,
    LOGIN_FAILURES,
    LOGIN_FAILURES_PER_IP,
    LOGIN_WINDOW_S,
    _failure_counter,
    _prepare_login,
    client_address,
    console_page,
    current_user,
    login_page,
    login_submit,
    logout,
    require_staff,
)
from bot.webapp.console.evaluation import MAX_CASE_BYTES, MAX_CASES, run_eval
from bot.webapp.console.inspect import ask
from bot.webapp.console.reviews import (
    MAX_CITED,
    MAX_NAME_CHARS,
    add_review,
    conversation,
    export,
    export_yaml,
    review_fields,
    review_list,
    whoami,
)

__all__ = [
    "COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "LIMITER_KEY",
    "LOGIN_FAILURES",
    "LOGIN_FAILURES_PER_IP",
    "LOGIN_WINDOW_S",
    "MAX_CASES",
    "MAX_CASE_BYTES",
    "MAX_CITED",
    "MAX_NAME_CHARS",
    "add_routes",
    "client_address",
    "current_user",
    "export_yaml",
    "main",
    "review_fields",
]


# (method, path, handler): the pages, the login and every /console/api/ call. Each module that
# serves a part of the console names its own routes here.
ROUTES = (
    (
        ("GET", "/console", console_page),
        ("GET", "/console/", console_page),
        ("GET", "/console/login", login_page),
        ("POST", "/console/login", login_submit),
        ("POST", "/console/logout", logout),
        ("GET", "/console/api/whoami", whoami),
        ("GET", "/console/api/wording", wording.serve),
        ("POST", "/console/api/ask", ask),
        ("POST", "/console/api/reviews", add_review),
        ("GET", "/console/api/review-list", review_list),
        ("GET", "/console/api/conversation/{sender}", conversation),
        ("GET", "/console/api/export", export),
        ("POST", "/console/api/eval", run_eval),
    )
    + dashboard.ROUTES
    + users.ROUTES
    + knowledge.ROUTES
    + reviews.ROUTES
)


def add_routes(app: web.Application) -> None:
    """Mount the console on ``app``: its :data:`ROUTES`, the login limiter and the middleware.

    The middleware guards /console/api/. ``app["settings"]`` must be set.
    """
    app[LIMITER_KEY] = _failure_counter(app["settings"])
    # aiohttp 3.9.5's signal annotations predate the pinned aiosignal 1.4.0's (see bot/webapp/server.py).
    app.on_startup.append(_prepare_login)  # type: ignore[arg-type]  # aiohttp 3.9 vs aiosignal 1.4
    app.on_startup.append(dashboard.start_summary)  # type: ignore[arg-type]  # as above
    app.on_cleanup.append(dashboard.stop_summary)  # type: ignore[arg-type]  # as above
    app.middlewares.append(require_staff)
    add = {"GET": app.router.add_get, "POST": app.router.add_post}  # add_get also answers HEAD
    for method, path, handler in ROUTES:
        add[method](path, handler)
