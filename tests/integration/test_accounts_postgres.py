"""Accounts, roles and the audit log on PostgreSQL: the upgrade of an old staff_user table, the rules, the console.

The same upgrade as tests/unit/test_audit.py runs on SQLite; here the ``ALTER TABLE`` and the
locks are PostgreSQL's.
"""

from __future__ import annotations

import json
import threading

import pytest

from bot.storage import appdb, audit
from bot.webapp.console import wording
from knowledge import db
from tests.support.webapp import PASSWORD, make_settings, request, serve, staff_headers
from tests.unit.test_audit import check_upgraded, old_schema_database


@pytest.fixture
def pg_url(postgres_server_url) -> str:
    """A fresh, empty PostgreSQL database for the application tables."""
    from tests.support.pgserver import create_database

    return create_database(postgres_server_url)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """Hash with bcrypt at its lowest cost: these tests are about roles, not hashing."""
    monkeypatch.setattr(appdb, "BCRYPT_ROUNDS", 4)


def test_upgrade_of_an_old_database_on_postgres(pg_url):
    old_schema_database(pg_url)
    check_upgraded(pg_url)


def test_concurrent_upgrades_on_postgres(pg_url):
    """Replicas starting together both try the upgrade: both end well, with one administrator."""
    old_schema_database(pg_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def upgrade() -> None:
        barrier.wait()
        try:
            appdb._upgrade_staff_user(db.get_engine(pg_url))
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert [a.username for a in appdb.list_staff_users(url=pg_url) if a.role == "admin"] == ["hall00"]


@pytest.mark.parametrize("change", ["disable", "demote"])
def test_two_admins_removing_each_other_at_once_leave_one(pg_url, change):
    """The row locks make the second change see the first: one succeeds, the other is refused."""
    appdb.add_staff_user("boss01", PASSWORD, url=pg_url, role="admin")
    appdb.add_staff_user("boss02", PASSWORD, url=pg_url, role="admin")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def remove(name: str) -> None:
        barrier.wait()
        try:
            if change == "disable":
                appdb.set_disabled(name, True, url=pg_url)
            else:
                appdb.set_role(name, "staff", url=pg_url)
            outcomes[name] = "done"
        except appdb.AccountError as exc:
            outcomes[name] = exc.code

    for _ in range(5):
        for name in ("boss01", "boss02"):
            appdb.set_disabled(name, False, url=pg_url)
            appdb.set_role(name, "admin", url=pg_url)
        outcomes.clear()
        threads = [threading.Thread(target=remove, args=(n,)) for n in ("boss01", "boss02")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes.values()) == ["done", "last_admin"], outcomes
        active = [a for a in appdb.list_staff_users(url=pg_url) if a.role == "admin" and not a.disabled]
        assert len(active) == 1


def test_console_roles_and_audit_on_postgres(pg_url, tmp_path):
    settings = make_settings(tmp_path, app_database_url=pg_url)
    appdb.add_staff_user("admin01", PASSWORD, url=pg_url)  # the first account: an administrator
    with serve(settings) as server:
        base = server["url"]
        admin = staff_headers(base, settings, "admin01")
        staff = staff_headers(base, settings, "hall01")  # created after: a member of staff

        def call(headers, method, path, body=None):
            data = json.dumps(body).encode() if body is not None else None
            status, _, raw = request(base + path, data, headers, method)
            return status, json.loads(raw)

        assert call(staff, "GET", "/console/api/users") == (403, {"error": wording.error("forbidden")})
        status, body = call(admin, "GET", "/console/api/users")
        assert status == 200 and [(u["username"], u["role"]) for u in body["users"]] == [
            ("admin01", "admin"),
            ("hall01", "staff"),
        ]
        assert call(admin, "POST", "/console/api/users/hall01", {"action": "disable"})[0] == 200
        assert call(staff, "GET", "/console/api/whoami") == (401, {"error": wording.error("login_required")})
        assert call(admin, "POST", "/console/api/users/admin01", {"action": "set_role", "role": "staff"}) == (
            409,
            {"error": wording.error("last_admin")},
        )
        status, body = call(admin, "GET", "/console/api/audit?actor=admin01")
        assert [e["action"] for e in body["entries"]] == ["account_disabled", "login"]
    assert [e.action for e in audit.entries(url=pg_url)][:1] == ["account_disabled"]
