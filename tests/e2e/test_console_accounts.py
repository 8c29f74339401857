"""Accounts and roles in the console, and the audit log, against the real web app in process (no Rasa).

An administrator (管理员) adds, disables, enables accounts, resets passwords and changes roles; a
member of staff (工作人员) gets 403 on all of it; disabling or a password reset ends the account's
sessions at once; the last active administrator cannot demote or disable itself; every change,
verdict, export, login and logout is in the audit log. The command line's account commands too.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from bot.storage import appdb, audit
from bot.webapp.console import accounts, wording
from tests.support.webapp import PASSWORD, csrf_token, login, make_settings, request, serve, staff_headers

NEW_PASSWORD = "a brand new passphrase"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """Hash with bcrypt at its lowest cost: these tests are about roles (test_console.py checks the cost)."""
    monkeypatch.setattr(appdb, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def app(tmp_path):
    """The web app on a fresh database with one administrator (admin01) logged in, and one member of staff."""
    settings = make_settings(tmp_path)
    url = settings.app_database_url
    appdb.add_staff_user("admin01", PASSWORD, url=url, role="admin")
    appdb.add_staff_user("hall01", PASSWORD, url=url, role="staff")
    with serve(settings) as server:
        base = server["url"]
        yield {
            "base": base,
            "url": url,
            "settings": settings,
            "admin": staff_headers(base, settings, "admin01"),
            "staff": staff_headers(base, settings, "hall01"),
        }


def call(app: dict, method: str, path: str, headers: dict, body=None) -> tuple[int, dict | None]:
    """``(status, JSON body or None)`` of one API call; ``body`` is sent as JSON unless it is bytes."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    if method == "POST" and data is None:
        data = b"{}"
    status, _, raw = request(app["base"] + path, data, headers, method)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def session_of(app: dict, username: str, password: str = PASSWORD) -> dict:
    """Headers of a new session of an existing account."""
    csrf = csrf_token(app["base"])
    location, cookie = login(app["base"], username, password, csrf=csrf)
    assert location == "/console", location
    return {
        "Cookie": f"{cookie.split(';')[0]}; gxga_csrf={csrf}",
        "X-CSRF-Token": csrf,
        "Content-Type": "application/json",
    }


def users_of(app: dict) -> dict[str, dict]:
    status, body = call(app, "GET", "/console/api/users", app["admin"])
    assert status == 200, body
    return {u["username"]: u for u in body["users"]}


def test_admin_adds_a_member_of_staff_who_can_log_in(app):
    status, body = call(
        app, "POST", "/console/api/users", app["admin"], {"username": "hall02", "password": PASSWORD, "role": "staff"}
    )
    assert (status, body) == (201, {"username": "hall02"})
    user = users_of(app)["hall02"]
    assert user["role"] == "staff" and user["role_label"] == "工作人员" and user["disabled"] is False
    assert user["last_login"] is None
    assert abs(datetime.fromisoformat(user["created_at"]) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    headers = session_of(app, "hall02")
    status, me = call(app, "GET", "/console/api/whoami", headers)
    assert (status, me["user"], me["role"], me["role_label"]) == (200, "hall02", "staff", "工作人员")
    assert users_of(app)["hall02"]["last_login"] is not None
    status, me = call(app, "GET", "/console/api/whoami", app["admin"])
    assert (me["role"], me["role_label"]) == ("admin", "管理员")
    assert set(users_of(app)) == {"admin01", "hall01", "hall02"}


def test_a_new_account_without_a_role_is_staff(app):
    status, _ = call(app, "POST", "/console/api/users", app["admin"], {"username": "hall03", "password": PASSWORD})
    assert status == 201 and users_of(app)["hall03"]["role"] == "staff"


def test_a_taken_username_is_refused(app):
    status, body = call(app, "POST", "/console/api/users", app["admin"], {"username": "hall01", "password": PASSWORD})
    assert (status, body) == (409, {"error": wording.error("username_exists", username="hall01")})


ADMIN_ONLY = [
    ("GET", "/console/api/users", None),
    ("POST", "/console/api/users", {"username": "sneaky", "password": PASSWORD, "role": "admin"}),
    ("POST", "/console/api/users/admin01", {"action": "disable"}),
    ("POST", "/console/api/users/admin01", {"action": "reset_password", "password": NEW_PASSWORD}),
    ("POST", "/console/api/users/hall01", {"action": "set_role", "role": "admin"}),
    ("POST", "/console/api/users/hall01", {"action": "enable"}),
    ("GET", "/console/api/audit", None),
    ("GET", "/console/api/audit?limit=5", None),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ONLY)
def test_staff_gets_403_on_every_account_and_audit_call(app, method, path, body):
    status, answer = call(app, method, path, app["staff"], body)
    assert (status, answer) == (403, {"error": wording.error("forbidden")})
    users = users_of(app)
    assert set(users) == {"admin01", "hall01"}
    assert (users["admin01"]["role"], users["admin01"]["disabled"], users["hall01"]["role"]) == (
        "admin",
        False,
        "staff",
    )
    assert call(app, "GET", "/console/api/whoami", app["admin"])[0] == 200  # admin01's session lives on
    actions = {e.action for e in audit.entries(url=app["url"])}
    assert actions <= {"login"}, actions


@pytest.mark.parametrize("method, path, body", ADMIN_ONLY)
def test_no_session_gets_401(app, method, path, body):
    status, answer = call(app, method, path, {"Content-Type": "application/json"}, body)
    assert (status, answer) == (401, {"error": wording.error("login_required")})


@pytest.mark.parametrize(
    "path, body",
    [
        ("/console/api/users", {"username": "hall09", "password": PASSWORD}),
        ("/console/api/users/hall01", {"action": "disable"}),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_csrf_missing_or_wrong_gets_403(app, path, body, token):
    headers = {k: v for k, v in app["admin"].items() if k != "X-CSRF-Token"}
    if token:
        headers["X-CSRF-Token"] = token
    status, answer = call(app, "POST", path, headers, body)
    assert (status, answer) == (403, {"error": wording.error("csrf")})
    users = users_of(app)
    assert "hall09" not in users and users["hall01"]["disabled"] is False


def test_disabling_ends_an_open_session_at_once(app):
    assert call(app, "GET", "/console/api/whoami", app["staff"])[0] == 200
    status, body = call(app, "POST", "/console/api/users/hall01", app["admin"], {"action": "disable"})
    assert status == 200 and body["user"]["disabled"] is True and body["user"]["username"] == "hall01"
    status, answer = call(app, "GET", "/console/api/whoami", app["staff"])
    assert (status, answer) == (401, {"error": wording.error("login_required")})
    assert request(app["base"] + "/console", headers={"Cookie": app["staff"]["Cookie"]})[0] == 302
    assert login(app["base"], "hall01", PASSWORD)[0] == "/console/login?failed=1"
    status, body = call(app, "POST", "/console/api/users/hall01", app["admin"], {"action": "enable"})
    assert status == 200 and body["user"]["disabled"] is False
    assert call(app, "GET", "/console/api/whoami", app["staff"])[0] == 401  # the old session stays ended
    assert call(app, "GET", "/console/api/whoami", session_of(app, "hall01"))[0] == 200


def test_a_disabled_account_with_a_session_row_left_is_refused(app):
    """Even if a session row survived (written by another replica mid-change), session_account refuses it."""
    token = appdb.login("hall01", PASSWORD, hours=1, url=app["url"])
    from knowledge import db

    with db.session_scope(app["url"]) as session:
        user = session.query(appdb.StaffUser).filter_by(username="hall01").one()
        user.disabled_at = datetime.now(timezone.utc)
    assert appdb.session_account(token, url=app["url"]) is None


def test_a_password_reset_ends_sessions_and_the_new_password_works(app):
    status, body = call(
        app, "POST", "/console/api/users/hall01", app["admin"], {"action": "reset_password", "password": NEW_PASSWORD}
    )
    assert status == 200 and body["user"]["username"] == "hall01"
    assert call(app, "GET", "/console/api/whoami", app["staff"])[0] == 401
    assert login(app["base"], "hall01", PASSWORD)[0] == "/console/login?failed=1"
    assert call(app, "GET", "/console/api/whoami", session_of(app, "hall01", NEW_PASSWORD))[0] == 200
    assert call(app, "GET", "/console/api/whoami", app["admin"])[0] == 200  # nobody else's session ends


@pytest.mark.parametrize("body", [{"action": "disable"}, {"action": "set_role", "role": "staff"}])
def test_the_last_admin_cannot_demote_or_disable_itself(app, body):
    status, answer = call(app, "POST", "/console/api/users/admin01", app["admin"], body)
    assert (status, answer) == (409, {"error": wording.error("last_admin")})
    assert users_of(app)["admin01"]["role"] == "admin" and users_of(app)["admin01"]["disabled"] is False
    # With a second administrator it may; the role change takes effect on its next request.
    assert (
        call(app, "POST", "/console/api/users/hall01", app["admin"], {"action": "set_role", "role": "admin"})[0] == 200
    )
    assert call(app, "GET", "/console/api/users", app["staff"])[0] == 200
    status, answer = call(app, "POST", "/console/api/users/admin01", app["admin"], body)
    assert status == 200, answer
    assert call(app, "GET", "/console/api/users", app["admin"])[0] in (401, 403)
    # Now hall01 is the last active administrator.
    status, answer = call(app, "POST", "/console/api/users/hall01", app["staff"], body)
    assert (status, answer) == (409, {"error": wording.error("last_admin")})


def test_a_demoted_admin_loses_access_on_its_next_request(app):
    call(app, "POST", "/console/api/users/hall01", app["admin"], {"action": "set_role", "role": "admin"})
    assert call(app, "GET", "/console/api/audit", app["staff"])[0] == 200
    call(app, "POST", "/console/api/users/hall01", app["admin"], {"action": "set_role", "role": "staff"})
    assert call(app, "GET", "/console/api/audit", app["staff"])[0] == 403
    assert call(app, "GET", "/console/api/whoami", app["staff"])[1]["role"] == "staff"


HOSTILE_NAMES = [
    "x'; DROP TABLE staff_user;--",
    "<script>alert(1)</script>",
    "a",
    "a" * 65,
    "名字",
    "hall 01",
    "hall01\n",
    "",
]


@pytest.mark.parametrize(
    "body, error",
    [
        *[({"username": name, "password": PASSWORD}, wording.error("username_invalid")) for name in HOSTILE_NAMES],
        ({"username": 12345, "password": PASSWORD}, wording.error("field_text", field="username")),
        ({"username": ["hall05"], "password": PASSWORD}, wording.error("field_text", field="username")),
        ({"password": PASSWORD}, wording.error("field_text", field="username")),
        ({"username": "hall05", "password": None}, wording.error("field_text", field="password")),
        ({"username": "hall05", "password": 1234567890123}, wording.error("field_text", field="password")),
        ({"username": "hall05", "password": "short"}, wording.error("password_short", min=appdb.MIN_PASSWORD_CHARS)),
        ({"username": "hall05", "password": "x" * 300}, wording.error("password_long", max=appdb.MAX_PASSWORD_BYTES)),
        # bcrypt would read only the first 72 bytes: 73 ASCII bytes, or 25 Chinese characters (75 bytes)
        ({"username": "hall05", "password": "x" * 73}, wording.error("password_long", max=appdb.MAX_PASSWORD_BYTES)),
        ({"username": "hall05", "password": "密" * 25}, wording.error("password_long", max=appdb.MAX_PASSWORD_BYTES)),
        ({"username": "hall05", "password": PASSWORD, "role": "root"}, wording.error("role_invalid")),
        ({"username": "hall05", "password": PASSWORD, "role": "Admin"}, wording.error("role_invalid")),
        ({"username": "hall05", "password": PASSWORD, "role": ["admin"]}, wording.error("field_text", field="role")),
        ({"username": "hall05", "password": PASSWORD, "role": True}, wording.error("field_text", field="role")),
    ],
)
def test_hostile_new_accounts_get_400_in_chinese(app, body, error):
    status, answer = call(app, "POST", "/console/api/users", app["admin"], body)
    assert (status, answer) == (400, {"error": error})
    assert CJK.search(answer["error"])
    assert set(users_of(app)) == {"admin01", "hall01"}


@pytest.mark.parametrize("raw", [b"[1, 2]", b"not json", b'"hall05"', b"\xff\xfe", b'{"username": '])
def test_bodies_that_are_no_json_object_get_400(app, raw):
    for path in ("/console/api/users", "/console/api/users/hall01"):
        status, answer = call(app, "POST", path, app["admin"], raw)
        assert status == 400 and isinstance(answer, dict) and answer.get("error"), (path, answer)
    assert set(users_of(app)) == {"admin01", "hall01"} and users_of(app)["hall01"]["disabled"] is False


@pytest.mark.parametrize(
    "body, error",
    [
        ({"action": "delete"}, wording.error("user_action")),
        ({"action": "DISABLE"}, wording.error("user_action")),
        ({"action": 1}, wording.error("user_action")),
        ({"action": ["disable"]}, wording.error("user_action")),
        ({}, wording.error("user_action")),
        ({"action": "x" * 10_000}, wording.error("user_action")),
        ({"action": "reset_password"}, wording.error("field_text", field="password")),
        ({"action": "reset_password", "password": 12345678901}, wording.error("field_text", field="password")),
        (
            {"action": "reset_password", "password": "short"},
            wording.error("password_short", min=appdb.MIN_PASSWORD_CHARS),
        ),
        (
            {"action": "reset_password", "password": "p" * 1000},
            wording.error("password_long", max=appdb.MAX_PASSWORD_BYTES),
        ),
        (
            {"action": "reset_password", "password": "p" * 73},
            wording.error("password_long", max=appdb.MAX_PASSWORD_BYTES),
        ),
        ({"action": "set_role"}, wording.error("field_text", field="role")),
        ({"action": "set_role", "role": "superuser"}, wording.error("role_invalid")),
        ({"action": "set_role", "role": {"admin": 1}}, wording.error("field_text", field="role")),
    ],
)
def test_hostile_changes_get_400_in_chinese(app, body, error):
    status, answer = call(app, "POST", "/console/api/users/hall01", app["admin"], body)
    assert (status, answer) == (400, {"error": error})
    assert CJK.search(answer["error"])
    assert (
        users_of(app)["hall01"]["role"] == "staff" and call(app, "GET", "/console/api/whoami", app["staff"])[0] == 200
    )


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n] + ["hall01'", "%00"])
def test_hostile_usernames_in_the_path_get_400(app, name):
    path = "/console/api/users/" + urllib.parse.quote(name, safe="")
    status, answer = call(app, "POST", path, app["admin"], {"action": "disable"})
    assert (status, answer) == (400, {"error": wording.error("username_invalid")}), path


def test_an_unknown_account_gets_404(app):
    status, answer = call(app, "POST", "/console/api/users/nobody01", app["admin"], {"action": "disable"})
    assert (status, answer) == (404, {"error": wording.error("unknown_user")})


@pytest.mark.parametrize(
    "query, name",
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=99999", "limit"),
        ("limit=1.5", "limit"),
        ("before=-1", "before"),
        ("before=1e9", "before"),
        ("before=" + "9" * 40, "before"),
        ("actor=" + "a" * 100, "actor"),
        ("action=" + "a" * 100, "action"),
    ],
)
def test_bad_audit_queries_get_400(app, query, name):
    status, answer = call(app, "GET", "/console/api/audit?" + query, app["admin"])
    assert (status, answer) == (400, {"error": wording.error("audit_query", name=name)})


def test_every_change_is_in_the_audit_log_with_actor_and_time(app):
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    admin = app["admin"]
    steps = [
        ({"username": "hall02", "password": PASSWORD, "role": "staff"}, "/console/api/users"),
        ({"action": "disable"}, "/console/api/users/hall02"),
        ({"action": "disable"}, "/console/api/users/hall02"),  # no change: no entry
        ({"action": "enable"}, "/console/api/users/hall02"),
        ({"action": "reset_password", "password": NEW_PASSWORD}, "/console/api/users/hall02"),
        ({"action": "set_role", "role": "admin"}, "/console/api/users/hall02"),
        ({"action": "set_role", "role": "admin"}, "/console/api/users/hall02"),  # no change: no entry
    ]
    for body, path in steps:
        assert call(app, "POST", path, admin, body)[0] in (200, 201)
    status, review = call(
        app,
        "POST",
        "/console/api/reviews",
        app["staff"],
        {"verdict": "wrong", "question": "身份证11010519491231002X能办吗"},
    )
    assert status == 201
    assert request(app["base"] + "/console/api/export", headers=app["staff"])[0] == 200
    status, body = call(app, "GET", "/console/api/audit", admin)
    assert status == 200
    got = [(e["actor"], e["action"], e["target"], e["detail"]) for e in reversed(body["entries"])]
    assert got == [
        ("admin01", "login", "admin01", "127.0.0.1"),
        ("hall01", "login", "hall01", "127.0.0.1"),
        ("admin01", "account_created", "hall02", "staff"),
        ("admin01", "account_disabled", "hall02", ""),
        ("admin01", "account_enabled", "hall02", ""),
        ("admin01", "password_reset", "hall02", ""),
        ("admin01", "role_changed", "hall02", "staff -> admin"),
        ("hall01", "review_verdict", str(review["id"]), "wrong"),
        ("hall01", "export_nlu", "0", ""),  # how many corrections went out: none had an intent
    ]
    labels = wording.load()["audit_actions"]
    for entry in body["entries"]:
        assert start <= datetime.fromisoformat(entry["at"]) <= datetime.now(timezone.utc)
        assert entry["action_label"] == labels[entry["action"]] and CJK.search(entry["action_label"])
    ids = [e["id"] for e in body["entries"]]
    assert ids == sorted(ids, reverse=True)
    # Paging and filters.
    status, page = call(app, "GET", "/console/api/audit?limit=3", admin)
    assert [e["id"] for e in page["entries"]] == ids[:3]
    status, page = call(app, "GET", f"/console/api/audit?limit=3&before={ids[2]}", admin)
    assert [e["id"] for e in page["entries"]] == ids[3:6]
    status, page = call(app, "GET", "/console/api/audit?actor=hall01", admin)
    assert [e["action"] for e in page["entries"]] == ["export_nlu", "review_verdict", "login"]
    status, page = call(app, "GET", "/console/api/audit?action=role_changed&actor=admin01", admin)
    assert [e["target"] for e in page["entries"]] == ["hall02"]
    status, page = call(app, "GET", "/console/api/audit?actor=%3Cscript%3E", admin)
    assert (status, page) == (200, {"entries": []})


def test_logout_is_audited(app):
    headers = session_of(app, "hall01")
    csrf = headers["X-CSRF-Token"]
    status, _, _ = request(
        app["base"] + "/console/logout",
        urllib.parse.urlencode({"csrf": csrf}).encode(),
        {**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302
    assert call(app, "GET", "/console/api/whoami", headers)[0] == 401
    [entry] = audit.entries(url=app["url"], action="logout")
    assert (entry.actor, entry.target) == ("hall01", "hall01")


# --- the command line ------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run ``python -m bot.webapp.console`` in process on a fresh database; returns (run, url)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("APP_DATABASE_URL", url)

    def run(*argv: str, password: str = PASSWORD) -> int:
        import io
        import sys

        monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
        return accounts.main(list(argv))

    return run, url


def test_cli_first_account_is_admin_then_staff(cli, capsys):
    run, url = cli
    assert run("add-user", "first01", "--password-stdin") == 0
    assert run("add-user", "second01", "--password-stdin") == 0
    assert run("add-user", "third01", "--password-stdin", "--role", "admin") == 0
    roles = {a.username: a.role for a in appdb.list_staff_users(url=url)}
    assert roles == {"first01": "admin", "second01": "staff", "third01": "admin"}
    assert "created console account first01 (admin)" in capsys.readouterr().out
    assert [(e.actor, e.action, e.target) for e in audit.entries(url=url)][-1] == ("@cli", "account_created", "first01")


def test_cli_set_role_disable_enable(cli, capsys):
    run, url = cli
    run("add-user", "first01", "--password-stdin")
    run("add-user", "second01", "--password-stdin")
    token = appdb.login("second01", PASSWORD, hours=1, url=url)
    assert run("disable", "first01") == 2  # the last active administrator
    assert "last active administrator" in capsys.readouterr().err
    assert run("set-role", "second01", "admin") == 0
    assert run("disable", "first01") == 0 and run("disable", "second01") == 2
    assert run("disable", "first01") == 0 and "already" in capsys.readouterr().out
    assert run("disable", "nobody01") == 2 and "no account" in capsys.readouterr().err
    assert appdb.session_user(token, url=url) == "second01"
    assert run("enable", "first01") == 0 and run("disable", "second01") == 0
    assert appdb.session_user(token, url=url) is None
    actions = [(e.action, e.target) for e in reversed(audit.entries(url=url))]
    assert actions[2:] == [
        ("role_changed", "second01"),
        ("account_disabled", "first01"),
        ("account_enabled", "first01"),
        ("account_disabled", "second01"),
    ]


@pytest.mark.parametrize("argv", [["set-role", "first01", "root"], ["add-user", "x1", "--role", "boss"], ["disable"]])
def test_cli_refuses_bad_arguments(cli, argv):
    run, _ = cli
    with pytest.raises(SystemExit) as exc:
        run(*argv)
    assert exc.value.code == 2
