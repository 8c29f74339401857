"""The audit log (bot.storage.audit) and the staff_user upgrade of older databases (bot.storage.appdb).

The upgrade helpers here are shared with tests/integration/test_accounts_postgres.py, which runs
the same upgrade on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import bcrypt
import pytest
from sqlalchemy import inspect, text

from bot.storage import appdb, audit
from bot.webapp.console import wording
from knowledge import db

VALID_ID = "11010519491231002X"
MOBILE = "13812345678"
OLD_PASSWORD = "old install password"


@pytest.fixture
def url(tmp_path) -> str:
    """A fresh application database on SQLite."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_record_and_read_back(url):
    before = datetime.now(timezone.utc)
    entry_id = audit.record("admin01", "account_created", target="hall02", detail="staff", url=url)
    [entry] = audit.entries(url=url)
    assert entry == audit.AuditEntry(entry_id, entry.at, "admin01", "account_created", "hall02", "staff")
    assert entry.at.tzinfo is not None and before <= entry.at <= datetime.now(timezone.utc)


def test_entries_are_newest_first_and_page_by_id(url):
    ids = [audit.record(f"user{i % 3}", ("login", "logout")[i % 2], url=url) for i in range(7)]
    assert [e.id for e in audit.entries(url=url)] == ids[::-1]
    first = audit.entries(url=url, limit=3)
    assert [e.id for e in first] == ids[:-4:-1]
    second = audit.entries(url=url, limit=3, before=first[-1].id)
    assert [e.id for e in second] == ids[-4:-7:-1]
    assert [e.id for e in audit.entries(url=url, before=ids[0])] == []


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"actor": "user1"}, [1, 4]),
        ({"action": "logout"}, [1, 3, 5]),
        ({"actor": "user0", "action": "login"}, [0, 6]),
        ({"actor": "nobody"}, []),
        ({"actor": "' OR 1=1 --"}, []),
    ],
)
def test_entries_filter_by_actor_and_action(url, filters, expected):
    ids = [audit.record(f"user{i % 3}", ("login", "logout")[i % 2], url=url) for i in range(7)]
    assert [e.id for e in audit.entries(url=url, **filters)] == [ids[i] for i in reversed(expected)]


@pytest.mark.parametrize("limit, count", [(0, 1), (-5, 1), (2, 2), (10**9, 4)])
def test_limit_is_clamped(url, limit, count):
    for _ in range(4):
        audit.record("a1", "login", url=url)
    assert len(audit.entries(url=url, limit=limit)) == count


@pytest.mark.parametrize(
    "detail, stored",
    [
        (f"身份证{VALID_ID}", "身份证[身份证号]"),
        (f"电话 {MOBILE} 联系", "电话 [手机号] 联系"),
        ("verdict wrong", "verdict wrong"),
    ],
)
def test_numbers_are_redacted(url, detail, stored):
    audit.record("admin01", "review_verdict", target=f"问{MOBILE}", detail=detail, url=url)
    [entry] = audit.entries(url=url)
    assert entry.detail == stored and entry.target == "问[手机号]"
    with db.session_scope(url) as session:
        raw = " ".join(str(v) for v in session.execute(text("SELECT * FROM audit_log")).one())
    assert VALID_ID not in raw and MOBILE not in raw


def test_long_fields_are_cut(url):
    audit.record("x" * 500, "y" * 500, target="t" * 5000, detail="d" * 50_000, url=url)
    [entry] = audit.entries(url=url)
    assert (len(entry.actor), len(entry.action)) == (audit.MAX_ACTOR_CHARS, audit.MAX_ACTION_CHARS)
    assert (len(entry.target), len(entry.detail)) == (audit.MAX_TARGET_CHARS, audit.MAX_DETAIL_CHARS)


@pytest.mark.parametrize("actor, action", [("", "login"), ("admin01", ""), (None, "login")])
def test_an_entry_needs_actor_and_action(url, actor, action):
    with pytest.raises(ValueError):
        audit.record(actor, action, url=url)


def test_every_action_has_a_chinese_label():
    import re
    from pathlib import Path

    labels = wording.load()["audit_actions"]
    root = Path(audit.__file__).resolve().parents[2]
    used: set[str] = set()
    for path in (root / "bot").rglob("*.py"):
        used |= set(re.findall(r"""audit\.record\([^,]+,\s*["']([a-z_]+)["']""", path.read_text(encoding="utf-8")))
    used |= {"account_disabled", "account_enabled"}  # written as f"account_{action}d"
    assert used and used <= set(labels), used - set(labels)
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in labels.values())


# --- the upgrade of a staff_user table made before roles -----------------------------------------


def old_schema_database(url: str) -> list[str]:
    """Write the staff tables as the version before roles made them, with three accounts and a session.

    The second account is the oldest (its ``created_at`` is earliest), so the upgrade must pick by
    time, not by id. Returns the usernames in insertion order.
    """
    postgres = url.startswith("postgresql")
    stamp = "TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME"
    key = "id SERIAL PRIMARY KEY" if postgres else "id INTEGER NOT NULL PRIMARY KEY"
    digest = bcrypt.hashpw(OLD_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    now = datetime.now(timezone.utc)
    names = ["hall01", "hall00", "hall02"]
    with db.get_engine(url).begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE staff_user ({key}, username VARCHAR(64) NOT NULL UNIQUE, "
                f"password_hash VARCHAR(128) NOT NULL, created_at {stamp} NOT NULL)"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE staff_session (token_sha256 VARCHAR(64) NOT NULL PRIMARY KEY, "
                f"user_id INTEGER NOT NULL, expires_at {stamp} NOT NULL)"
            )
        )
        for name, days in zip(names, (20, 30, 10), strict=True):
            conn.execute(
                text("INSERT INTO staff_user (username, password_hash, created_at) VALUES (:n, :h, :t)"),
                {"n": name, "h": digest, "t": now - timedelta(days=days)},
            )
        user_id = conn.execute(text("SELECT id FROM staff_user WHERE username = 'hall02'")).scalar()
        conn.execute(
            text("INSERT INTO staff_session (token_sha256, user_id, expires_at) VALUES (:s, :u, :t)"),
            {"s": appdb._hash_token("old-token"), "u": user_id, "t": now + timedelta(hours=4)},
        )
    appdb._UPGRADED.discard(url)
    return names


def check_upgraded(url: str) -> None:
    """Upgrade an :func:`old_schema_database` and check the accounts, sessions and roles after it."""
    appdb.ensure_schema(url)
    columns = {c["name"] for c in inspect(db.get_engine(url)).get_columns("staff_user")}
    assert set(appdb.ADDED_STAFF_COLUMNS) <= columns
    roles = {a.username: (a.role, a.disabled, a.last_login_at) for a in appdb.list_staff_users(url=url)}
    assert roles == {
        "hall00": ("admin", False, None),
        "hall01": ("staff", False, None),
        "hall02": ("staff", False, None),
    }
    # The old session and the old password still work; a second upgrade (another process) changes nothing.
    assert appdb.session_user("old-token", url=url) == "hall02"
    appdb._UPGRADED.discard(url)
    appdb.ensure_schema(url)
    assert appdb.login("hall01", OLD_PASSWORD, hours=1, url=url)
    assert [a.username for a in appdb.list_staff_users(url=url) if a.role == "admin"] == ["hall00"]
    # The new columns behave: disabling the old session's account ends it, a new account is staff.
    appdb.set_disabled("hall02", True, url=url)
    assert appdb.session_user("old-token", url=url) is None
    appdb.add_staff_user("hall03", OLD_PASSWORD, url=url)
    assert appdb.get_staff_user("hall03", url=url).role == "staff"
    with pytest.raises(appdb.AccountError, match="last active administrator"):
        appdb.set_role("hall00", "staff", url=url)


def test_upgrade_of_an_old_database(url):
    old_schema_database(url)
    check_upgraded(url)


def test_upgrade_of_an_old_database_without_accounts(url):
    with db.get_engine(url).begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE staff_user (id INTEGER NOT NULL PRIMARY KEY, username VARCHAR(64) NOT NULL UNIQUE, "
                "password_hash VARCHAR(128) NOT NULL, created_at DATETIME NOT NULL)"
            )
        )
    appdb.ensure_schema(url)
    assert appdb.list_staff_users(url=url) == []
    appdb.add_staff_user("first01", OLD_PASSWORD, url=url)  # the first account of an install
    appdb.add_staff_user("second01", OLD_PASSWORD, url=url)
    assert [(a.username, a.role) for a in appdb.list_staff_users(url=url)] == [
        ("first01", "admin"),
        ("second01", "staff"),
    ]


def test_no_one_is_promoted_without_an_upgrade(url):
    """An upgrade that finds the role column already there (a newer install) promotes no one."""
    appdb.add_staff_user("boss01", OLD_PASSWORD, url=url, role="staff")
    appdb.add_staff_user("boss02", OLD_PASSWORD, url=url, role="staff")
    appdb._UPGRADED.discard(url)
    appdb.ensure_schema(url)
    assert {a.role for a in appdb.list_staff_users(url=url)} == {"staff"}


@pytest.mark.parametrize(
    "action, detail, shown",
    [
        ("role_changed", "staff -> admin", "工作人员 → 管理员"),
        ("account_created", "staff", "工作人员"),
        ("review_verdict", "wrong", "回答错误"),
        ("login", "127.0.0.1", "127.0.0.1"),
        ("export_stats", "2026-11-02..2026-12-01", "2026-11-02..2026-12-01"),
        ("role_changed", "staff -> no_such_role", "工作人员 → no_such_role"),
    ],
)
def test_coded_details_are_shown_by_their_labels(action, detail, shown):

    from bot.webapp.console.users import detail_label

    entry = audit.AuditEntry(
        id=1, at=datetime.now(timezone.utc), actor="admin01", action=action, target="hall02", detail=detail
    )
    assert detail_label(entry) == shown
