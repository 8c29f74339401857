"""Faults in the production shape: PostgreSQL or Redis restarted, the knowledge base unreachable.

PostgreSQL or Redis is restarted while serving, and the knowledge base is unreachable while the rest works.

One Rasa replica, its action server, a web server and nginx (``bot.ops.cluster``) run on their own
PostgreSQL and Redis, which these tests stop and start again on the same port. During an outage
residents get a short apology in Chinese (status 200, never a trace or silence); afterwards the
service answers again by itself, with no restart, and conversations keep their context.

Measured behaviour: with PostgreSQL down, Rasa's ``FailSafeTrackerStore`` keeps conversations in
the replica's memory, so the dialogue runs, and the action server answers from the copy of the
knowledge base it holds in memory (actions/loaded.py), logging that the database is unavailable;
with Redis down the lock store fails and the channel answers ``unavailable``. Turns taken during a
PostgreSQL outage stay in that replica's memory only.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, ContextManager

import pytest
import requests
import sqlalchemy as sa

from actions.loaded import RECHECK_SECONDS
from bot.ops import localdb
from bot.replies import render
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

RECOVERY_S = 60.0


class Restartable:
    """A server run by a context-manager factory that can be stopped and started on the same port."""

    def __init__(self, factory: Callable[[], ContextManager[str]]):
        self._factory = factory
        self._stack: contextlib.ExitStack | None = None
        self.url = ""

    def start(self) -> str:
        self._stack = contextlib.ExitStack()
        self.url = self._stack.enter_context(self._factory())
        return self.url

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


@pytest.fixture(scope="module")
def stack(trained_model, tmp_path_factory):
    """A one-replica cluster on a PostgreSQL and a Redis that belong to this module."""
    from bot.ops.cluster import Cluster

    tmp = tmp_path_factory.mktemp("prodfaults")
    # PostgreSQL runs as the postgres user, who cannot enter pytest's private temporary folders
    pg_dir = Path(tempfile.mkdtemp(prefix="gxga-pgfaults-"))
    pg_port, redis_port = free_port(), free_port()
    pg = Restartable(lambda: localdb.postgres_server(pg_dir, port=pg_port))
    redis = Restartable(lambda: localdb.redis_server(tmp / "redis", port=redis_port))
    cluster = Cluster(
        model=trained_model,
        workdir=tmp / "cluster",
        port=free_port(),
        replicas=1,
        web_servers=1,
        postgres_url=pg.start(),
        redis_url=redis.start(),
        db_prefix="faults",
        persistent=False,
    )
    try:
        cluster.start()
        yield {"cluster": cluster, "pg": pg, "redis": redis}
    finally:
        cluster.stop()
        redis.stop()
        pg.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


def ask(base: str, sender: str, message: str) -> tuple[int, list[dict]]:
    resp = requests.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60)
    return resp.status_code, (
        resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else []
    )


def text_of(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def measures_of(messages: list[dict]) -> list[int]:
    return next((m["custom"]["measures"] for m in messages if "measures" in (m.get("custom") or {})), [])


def answered_again(base: str, question: str, measure: int) -> tuple[float, int]:
    """Ask new conversations until one is answered from ``measure``; (seconds, attempts) it took."""
    start, attempts = time.monotonic(), 0
    while time.monotonic() - start < RECOVERY_S:
        attempts += 1
        status, messages = ask(base, f"rec-{uuid.uuid4().hex[:8]}", question)
        assert status == 200 and text_of(messages), (status, messages)
        assert "Traceback" not in text_of(messages)
        if measures_of(messages)[:1] == [measure]:
            return time.monotonic() - start, attempts
        time.sleep(0.5)
    pytest.fail(f"no answer from measure {measure} within {RECOVERY_S:.0f}s after the dependency returned")


APOLOGIES = ("unavailable", "kb_unavailable")


def assert_apology(status: int, messages: list[dict], replies: tuple[str, ...] = APOLOGIES) -> None:
    """A 200 with one of the apologies of bot/replies/replies.yml, and nothing technical."""
    assert status == 200, status
    assert any(render(reply)["text"] in text_of(messages) for reply in replies), messages
    assert "Traceback" not in text_of(messages) and "Error" not in text_of(messages)


def test_answers_before_faults(stack):
    status, messages = ask(stack["cluster"].url, f"ok-{uuid.uuid4().hex[:8]}", "身份证多久能拿到")
    assert status == 200 and measures_of(messages)[:1] == [26], messages


def outage_then_recovery(cluster, server: Restartable, question: str, measure: int, answered: bool = False) -> None:
    """Stop ``server`` and start it again; the residents are answered throughout as they should be.

    Stopped: REST and the page get an apology (or, with ``answered``, still the answer from
    ``measure``). Started again: ``question`` is answered from ``measure`` again, with no restart of
    anything else.
    """
    server.stop()
    status, messages = ask(cluster.url, f"down-{uuid.uuid4().hex[:8]}", question)
    page = requests.post(
        cluster.url + "/api/message", json={"sender": uuid.uuid4().hex, "message": question}, timeout=60
    )
    if answered:
        for code, reply in ((status, messages), (page.status_code, page.json())):
            assert code == 200 and measures_of(reply)[:1] == [measure], reply
            assert "Traceback" not in text_of(reply)
    else:
        assert_apology(status, messages)
        assert_apology(page.status_code, page.json())
    server.start()
    seconds, attempts = answered_again(cluster.url, question, measure)
    print(f"answered again {seconds:.1f}s after the restart, {attempts} attempt(s)")


def test_postgres_restarted_while_serving(stack):
    cluster = stack["cluster"]
    resident = f"pg-{uuid.uuid4().hex[:8]}"
    status, first = ask(cluster.url, resident, "居住证怎么办理")
    assert status == 200 and measures_of(first)[:1] == [24], first

    # the action server answers from its copy of the knowledge base while PostgreSQL is down
    outage_then_recovery(cluster, stack["pg"], "身份证多久能拿到", 26, answered=True)
    # the conversation from before the outage is still in PostgreSQL: the follow-up keeps its topic
    status, follow_up = ask(cluster.url, resident, "那办好了能干什么")
    assert status == 200 and measures_of(follow_up)[:1] == [24] and "上牌" in text_of(follow_up), follow_up


def test_redis_restarted_while_serving(stack):
    outage_then_recovery(stack["cluster"], stack["redis"], "毕业生落户需要什么", 22)


def _kb_connections(cluster, allow: bool) -> None:
    """Open or close the knowledge-base database to new connections and end the open ones."""
    name = cluster.databases["knowledge"].rsplit("/", 1)[1]
    engine = sa.create_engine(cluster.pg_url, isolation_level="AUTOCOMMIT", future=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allow else "false"}'))
            if not allow:
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
                )
    finally:
        engine.dispose()


def test_knowledge_base_unreachable_while_the_rest_works(stack):
    cluster = stack["cluster"]
    _kb_connections(cluster, allow=False)
    try:
        time.sleep(RECHECK_SECONDS + 0.5)  # so that the action server checks the database again
        status, messages = ask(cluster.url, f"kb-{uuid.uuid4().hex[:8]}", "身份证多久能拿到")
        assert status == 200 and measures_of(messages)[:1] == [26], messages
    finally:
        _kb_connections(cluster, allow=True)
    seconds, attempts = answered_again(cluster.url, "身份证多久能拿到", 26)
    assert attempts == 1
    log = Path(cluster.workdir / "logs").rglob("*.log")
    assert any("answering from the copy in memory" in p.read_text(errors="replace") for p in log)
