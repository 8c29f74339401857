"""Accounts and the audit log in the console, for administrators only (管理员).

Administrators list the accounts, add one, disable or enable one, reset its password and change
its role, and read the audit log; any other account gets 403 on each of these calls. Every
change is written to the audit log with the administrator who made it. The rules themselves
(at least one active administrator, sessions ended by disabling and by a password reset) are
:mod:`bot.storage.appdb`'s.
"""

from __future__ import annotations

import re

from aiohttp import web

from bot.storage import appdb, audit
from bot.text.jsonlimits import bounded_int
from bot.webapp.console import wording
from bot.webapp.console.auth import require_admin
from bot.webapp.console.common import bad_request, json_body, settings_of

ACTIONS = ("disable", "enable", "reset_password", "set_role")
MAX_AUDIT_PAGE = 500
MAX_ID = 2**31 - 1  # the largest id the INTEGER column holds


def user_json(account: appdb.StaffAccount) -> dict:
    """An account as the API shows it (ISO 8601 times in UTC)."""
    return {
        "username": account.username,
        "role": account.role,
        "role_label": wording.label("roles", account.role),
        "disabled": account.disabled,
        "created_at": account.created_at.isoformat(),
        "last_login": account.last_login_at.isoformat() if account.last_login_at else None,
    }


def entry_json(entry: audit.AuditEntry) -> dict:
    """An audit entry as the API shows it, with the action's Chinese label."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "action_label": wording.label("audit_actions", entry.action),
        "target": entry.target,
        "detail": entry.detail,
        "detail_label": detail_label(entry),
    }


# Audit actions whose detail is made of codes (a role, "old -> new" roles, a verdict).
CODED_DETAILS = frozenset({"account_created", "role_changed", "review_verdict"})


def detail_label(entry: audit.AuditEntry) -> str:
    """The entry's detail for staff to read: role and verdict codes as their Chinese labels."""
    if entry.action not in CODED_DETAILS:
        return entry.detail
    words = wording.load()
    codes = {**words["roles"], **words["verdicts"]}
    return re.sub(r"[a-z_]+", lambda m: codes.get(m.group(0), m.group(0)), entry.detail).replace(" -> ", " → ")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _text(body: dict, name: str) -> str:
    """``body[name]``, which must be a string.

    Raises:
        web.HTTPBadRequest: absent or not a string.
    """
    value = body.get(name)
    if not isinstance(value, str):
        raise bad_request(wording.error("field_text", field=name))
    return value


def _username(value: str) -> str:
    """A username from the request, checked before it reaches the database.

    Raises:
        web.HTTPBadRequest: it does not match :data:`bot.storage.appdb.USERNAME_RE`.
    """
    if not appdb.USERNAME_RE.match(value):
        raise bad_request(wording.error("username_invalid"))
    return value


def _role(value: str) -> str:
    if value not in appdb.ROLES:
        raise bad_request(wording.error("role_invalid"))
    return value


async def list_users(request: web.Request) -> web.Response:
    """``GET /console/api/users``: every account, oldest first."""
    require_admin(request)
    accounts = appdb.list_staff_users(url=settings_of(request).app_database_url)
    return web.json_response({"users": [user_json(a) for a in accounts]})


async def add_user(request: web.Request) -> web.Response:
    """``POST /console/api/users`` ``{"username", "password", "role"}``: a new account (201).

    ``role`` is ``"admin"`` or ``"staff"`` (``"staff"`` when absent). 400 for a field of the
    wrong type or form, 409 for a username that exists.
    """
    admin = require_admin(request)
    body = await json_body(request)
    username = _username(_text(body, "username"))
    password = _text(body, "password")
    role = _role(_text(body, "role")) if body.get("role") is not None else appdb.STAFF
    url = settings_of(request).app_database_url
    try:
        appdb.add_staff_user(username, password, url=url, role=role)
    except appdb.AccountError as exc:
        return _account_error(exc, username)
    audit.record(admin, "account_created", target=username, detail=role, url=url)
    return web.json_response({"username": username}, status=201)


async def change_user(request: web.Request) -> web.Response:
    """``POST /console/api/users/{username}`` ``{"action", "password"?, "role"?}``: change an account.

    ``action`` is ``disable``, ``enable``, ``reset_password`` (with ``password``) or ``set_role``
    (with ``role``). Answers ``{"user": ...}`` as it is after the change; 400 for a malformed
    request, 404 for an unknown account, 409 when the change would leave no active
    administrator. Only a change that changed something is written to the audit log.
    """
    admin = require_admin(request)
    username = _username(request.match_info["username"])
    body = await json_body(request)
    action = body.get("action")
    if action not in ACTIONS:
        return _error(400, wording.error("user_action"))
    url = settings_of(request).app_database_url
    try:
        if action == "reset_password":
            account = appdb.reset_password(username, _text(body, "password"), url=url)
            audit.record(admin, "password_reset", target=username, url=url)
        elif action == "set_role":
            role = _role(_text(body, "role"))
            account, previous = appdb.set_role(username, role, url=url)
            if previous != role:
                audit.record(admin, "role_changed", target=username, detail=f"{previous} -> {role}", url=url)
        else:
            account, changed = appdb.set_disabled(username, action == "disable", url=url)
            if changed:
                audit.record(admin, f"account_{action}d", target=username, url=url)
    except appdb.AccountError as exc:
        return _account_error(exc, username)
    return web.json_response({"user": user_json(account)})


def _account_error(exc: appdb.AccountError, username: str) -> web.Response:
    """The answer to a refused change: 404 unknown account, 409 name taken or last administrator, else 400."""
    status = {"unknown_user": 404, "username_exists": 409, "last_admin": 409}.get(exc.code, 400)
    message = wording.error(exc.code, min=appdb.MIN_PASSWORD_CHARS, max=appdb.MAX_PASSWORD_BYTES, username=username)
    return _error(status, message)


def _query_int(request: web.Request, name: str, low: int, high: int) -> int | None:
    """A whole-number query parameter within ``low``-``high``, or None when absent.

    Raises:
        web.HTTPBadRequest: present but not such a number.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    value = bounded_int(raw, low, high)
    if value is None:
        raise bad_request(wording.error("audit_query", name=name))
    return value


def _query_text(request: web.Request, name: str, max_chars: int) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_chars:
        raise bad_request(wording.error("audit_query", name=name))
    return raw


async def audit_log(request: web.Request) -> web.Response:
    """``GET /console/api/audit?limit=N&before=ID&actor=&action=``: the audit log, newest first.

    ``limit`` is 1-:data:`MAX_AUDIT_PAGE` (100 when absent); the next page is ``before`` the
    last id of this one. 400 for a parameter out of range.
    """
    require_admin(request)
    limit = _query_int(request, "limit", 1, MAX_AUDIT_PAGE) or 100
    before = _query_int(request, "before", 1, MAX_ID)
    actor = _query_text(request, "actor", audit.MAX_ACTOR_CHARS)
    action = _query_text(request, "action", audit.MAX_ACTION_CHARS)
    found = audit.entries(
        url=settings_of(request).app_database_url, limit=limit, before=before, actor=actor, action=action
    )
    return web.json_response({"entries": [entry_json(e) for e in found]})


# (method, path, handler), mounted by bot.webapp.console.add_routes.
ROUTES = (
    ("GET", "/console/api/users", list_users),
    ("POST", "/console/api/users", add_user),
    ("POST", "/console/api/users/{username}", change_user),
    ("GET", "/console/api/audit", audit_log),
)
