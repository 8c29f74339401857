"""Scale-out: the production configuration (BOT_ENV=production) with two Rasa replicas behind nginx.

The cluster (``bot.ops.cluster.Cluster``, what ``make cluster`` runs) is started once for the module
on free ports, on the session's PostgreSQL and Redis servers: two Rasa replicas on the same model
sharing the tracker store (PostgreSQL) and the lock store (Redis), two action servers, two web
servers, nginx in front. The unit tests at the top need no servers.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot import config
from tests.support.paths import ROOT
from tests.support.ports import free_port

# -- configuration, no servers ----------------------------------------------------------------


def endpoint_variables() -> set[str]:
    """The ${VAR}s endpoints.production.yml names (comments left out)."""
    raw = (ROOT / "endpoints.production.yml").read_text(encoding="utf-8")
    return set(re.findall(r"\$\{(\w+)\}", re.sub(r"#.*", "", raw)))


def test_production_endpoints_use_postgres_and_redis(monkeypatch):
    from rasa.core.utils import read_endpoints_from_path

    raw = (ROOT / "endpoints.production.yml").read_text(encoding="utf-8")
    # Rasa expands ${VAR} only in unquoted scalars: a quoted one would reach the stores verbatim.
    assert not re.search(r"""["']\$\{""", raw)
    names = endpoint_variables()
    env = {
        "ACTION_ENDPOINT_URL": "http://actions:5055/webhook",
        "ACTION_SERVER_TOKEN": "s" * 32,
        "TRACKER_DB_HOST": "pg",
        "TRACKER_DB_PORT": "5433",
        "TRACKER_DB_NAME": "tracker",
        "TRACKER_DB_USER": "rasa",
        "TRACKER_DB_PASSWORD": "",
        "LOCK_STORE_HOST": "redis",
        "LOCK_STORE_PORT": "6380",
        "LOCK_STORE_DB": "1",
    }
    assert names == set(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    endpoints = read_endpoints_from_path(ROOT / "endpoints.production.yml")
    assert endpoints.action.url == "http://actions:5055/webhook"
    assert endpoints.action.combine_parameters() == {"token": "s" * 32}  # what the action servers check
    assert endpoints.tracker_store.type == "bot.rasa_ext.tracker_store.SQLTrackerStore"
    assert endpoints.tracker_store.url == "pg"
    assert endpoints.tracker_store.kwargs == {
        "dialect": "postgresql",
        "port": "5433",
        "db": "tracker",
        "username": "rasa",
        "password": "",
    }
    assert (
        endpoints.lock_store.type == "bot.rasa_ext.lock_store.AtomicRedisLockStore"
        and endpoints.lock_store.url == "redis"
    )
    assert endpoints.lock_store.kwargs["port"] == "6380" and endpoints.lock_store.kwargs["db"] == "1"
    # Rasa's own factory builds our class from it (it connects lazily, so no Redis is needed here)
    from rasa.core.lock_store import LockStore

    from bot.rasa_ext.lock_store import AtomicRedisLockStore

    store = LockStore.create(endpoints.lock_store)
    assert isinstance(store, AtomicRedisLockStore) and store.key_prefix == "gxga:lock:"
    assert store.red.connection_pool.connection_kwargs["port"] == 6380


def test_bot_env_selects_the_endpoints_and_passes_every_variable(monkeypatch):
    from bot.ops.services import service_env

    for name in ("BOT_ENV", "TRACKER_DB_HOST", "LOCK_STORE_HOST", "REDIS_URL", "ACTION_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    embedded = config.load()
    assert embedded.bot_env == "embedded" and embedded.endpoints_file.name == "endpoints.yml"
    assert "TRACKER_DB_HOST" not in service_env(embedded)

    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("TRACKER_DB_HOST", "pg.internal")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6380/0")
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://actions:5055/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "t" * 32)
    production = config.load()
    assert production.endpoints_file.name == "endpoints.production.yml"
    lock_store = (production.lock_store_host, production.lock_store_port, production.lock_store_db)
    assert lock_store == ("cache.internal", 6380, 1)
    env = service_env(production)
    for name in endpoint_variables():
        assert name in env, f"{name} is not passed to the services"
    assert env["ACTION_ENDPOINT_URL"] == "http://actions:5055/webhook"
    assert env["TRACKER_DB_HOST"] == "pg.internal" and env["LOCK_STORE_HOST"] == "cache.internal"
    # SQLite for the knowledge base or the app tables would be one copy per replica.
    assert any("DATABASE_URL" in p for p in production.production_problems())

    monkeypatch.setenv("BOT_ENV", "staging")
    with pytest.raises(config.ConfigError, match="BOT_ENV"):
        config.load()


def test_nginx_config_balances_and_retries():
    from bot.ops.cluster import nginx_conf

    conf = nginx_conf(8000, 8001, [5005, 5006], [8080, 8081])
    assert "proxy_next_upstream error timeout http_502 http_503;" in conf
    assert re.search(r"upstream rasa \{\s+server 127.0.0.1:5005[^}]+server 127.0.0.1:5006", conf)
    assert re.search(r"upstream web \{\s+server 127.0.0.1:8080[^}]+server 127.0.0.1:8081", conf)
    assert "listen 127.0.0.1:8000;" in conf and "listen 127.0.0.1:8001;" in conf
    # round-robin: no conversation is tied to a replica
    assert not re.search(r"^\s*(ip_hash|hash|sticky)\b", conf, re.M)
    assert conf.count("{") == conf.count("}")
    # access lines carry no query string (the console's ?token= for Rasa's API)
    assert "access_log logs/nginx-access.log noquery;" in conf
    assert "$request " not in conf and '$request"' not in conf and "$args" not in conf and "$request_uri" not in conf


# -- the running cluster ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(trained_model, postgres_server_url, redis_url, tmp_path_factory):
    """Two Rasa replicas, two action servers, two web servers and nginx, on free ports."""
    from bot.ops.cluster import Cluster

    c = Cluster(
        model=trained_model,
        workdir=tmp_path_factory.mktemp("cluster"),
        port=free_port(),
        postgres_url=postgres_server_url,
        redis_url=redis_url,
        db_prefix=f"cluster_{uuid.uuid4().hex[:6]}",
        persistent=False,
    )
    c.start()
    yield c
    c.stop()
    for url in c.rasa_urls + c.web_urls + [c.url]:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)


def ask(base: str, sender: str, message: str, timeout: float = 60) -> tuple[requests.Response, list[dict]]:
    resp = requests.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=timeout)
    return resp, (resp.json() if resp.status_code == 200 else [])


def text_of(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def measures_of(messages: list[dict]) -> list[int]:
    return next((m["custom"]["measures"] for m in messages if "measures" in (m.get("custom") or {})), [])


def decided(messages: list[dict]) -> bool:
    """True when the answering action decided the reply (an answer, 文件未规定, an overview …), not an apology."""
    return any("answerability" in (m.get("custom") or {}) for m in messages)


def replica_running(cluster, index: int) -> bool:
    return cluster.replica_services[index].processes["rasa"].poll() is None


@pytest.mark.e2e
def test_conversation_alternating_between_replicas_keeps_its_context(cluster):
    a, b = cluster.rasa_urls
    sender = f"alt-{uuid.uuid4().hex[:8]}"
    resp, first = ask(a, sender, "居住证怎么办理")
    assert resp.status_code == 200 and measures_of(first)[:1] == [24], first
    resp, second = ask(b, sender, "那办好了能干什么")
    assert resp.status_code == 200
    assert measures_of(second)[:1] == [24], second
    assert "上牌" in text_of(second)
    # and back: the third turn, on replica A again, still follows the 居住证 topic
    resp, third = ask(a, sender, "那要多久")
    assert resp.status_code == 200 and "居住证" in text_of(third), third


@pytest.mark.e2e
def test_nginx_balances_both_tiers(cluster):
    served = set()
    for _ in range(4):
        resp, messages = ask(cluster.url, f"rr-{uuid.uuid4().hex[:8]}", "毕业生落户需要什么")
        assert resp.status_code == 200 and measures_of(messages)[:1] == [22]
        served.add(resp.headers["X-Upstream"].split(", ")[-1])
    assert served == {u.removeprefix("http://") for u in cluster.rasa_urls}
    page = requests.get(cluster.url + "/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    api = requests.post(
        cluster.url + "/api/message", timeout=60, json={"sender": uuid.uuid4().hex, "message": "身份证快递要几天"}
    )
    assert api.status_code == 200 and text_of(api.json())


@pytest.mark.e2e
def test_action_servers_require_the_secret_and_listen_on_loopback(cluster):
    from tests.support.proc import listening as _listening

    for services in cluster.replica_services:
        base = f"http://127.0.0.1:{services.settings.action_port}"
        assert requests.get(f"{base}/actions", timeout=10).status_code == 401
        assert requests.get(f"{base}/actions", params={"token": "guess"}, timeout=10).status_code == 403
        secret = services.settings.action_server_token
        assert requests.get(f"{base}/actions", params={"token": secret}, timeout=10).status_code == 200
        assert _listening(services.settings.action_port) == {"127.0.0.1"}


@pytest.mark.e2e
def test_restarted_replica_resumes_the_conversation_from_postgres(cluster):
    if not replica_running(cluster, 1):
        cluster.start_replica(1)
    b = cluster.rasa_urls[1]
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    resp, first = ask(b, sender, "居住证怎么办理")
    assert resp.status_code == 200 and text_of(first)
    assert cluster.stop_replica(1) is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(b, timeout=2)
    cluster.start_replica(1)
    resp, follow_up = ask(b, sender, "那办好了能干什么")
    assert resp.status_code == 200
    assert measures_of(follow_up)[:1] == [24] and "上牌" in text_of(follow_up), follow_up


@pytest.mark.e2e
def test_simultaneous_messages_of_one_conversation_on_both_replicas_are_all_stored(cluster):
    """The lock store race (bot/rasa_ext/lock_store.py): every question is answered and stored.

    Six questions of ONE conversation at the same moment, alternately to replica A and B.
    """
    import sqlalchemy as sa

    if not replica_running(cluster, 1):
        cluster.start_replica(1)
    questions = [
        "毕业生落户需要什么",
        "身份证快递要几天",
        "港澳商务签注能办几次",
        "刻章要交什么材料",
        "驾照到期会有短信提醒吗",
        "居住证怎么办理",
    ]
    engine = sa.create_engine(cluster.databases["tracker"], future=True)
    try:
        for _round in range(3):
            sender = f"same-{uuid.uuid4().hex[:8]}"
            barrier = threading.Barrier(len(questions))

            def send(i: int, barrier=barrier, sender=sender):
                barrier.wait()
                return ask(cluster.rasa_urls[i % 2], sender, questions[i], timeout=120)

            with ThreadPoolExecutor(max_workers=len(questions)) as pool:
                outcomes = list(pool.map(send, range(len(questions))))
            # every one reached the action server and was decided (whether a measure answers it is
            # the decision's business, tests/e2e/test_decision_e2e.py)
            assert all(resp.status_code == 200 and decided(messages) for resp, messages in outcomes), outcomes
            with engine.connect() as conn:
                stored = (
                    conn.execute(
                        sa.text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user'"), {"s": sender}
                    )
                    .scalars()
                    .all()
                )
            assert sorted(json.loads(d)["text"] for d in stored) == sorted(questions)
    finally:
        engine.dispose()


# Ten turns per conversation; all but the last ("thank you") are answered from a measure.
TURNS = [
    "居住证怎么办理",
    "那办好了能干什么",
    "毕业生落户需要什么",
    "身份证快递要几天",
    "港澳商务签注能办几次",
    "外地户口能在南宁办护照吗",
    "刻章要交什么材料",
    "驾照到期会有短信提醒吗",
    "公司被敲诈勒索怎么报案",
    "谢谢",
]


@pytest.mark.e2e
def test_load_through_nginx_survives_a_replica_stopping(cluster):
    """60 messages from 6 concurrent conversations through nginx; replica B gets SIGTERM after 30."""
    if not replica_running(cluster, 1):
        cluster.start_replica(1)
    a_addr, b_addr = (u.removeprefix("http://") for u in cluster.rasa_urls)
    results: list[dict] = []
    lock = threading.Lock()
    stopped = threading.Event()
    stop_info: dict = {}

    def stop_b():
        stop_info["code"] = cluster.stop_replica(1, signal.SIGTERM)
        stop_info["at"] = time.monotonic()
        stopped.set()

    def conversation(n: int) -> None:
        sender = f"load-{n}-{uuid.uuid4().hex[:6]}"
        for turn in TURNS:
            # a resident's pace, sped up: the second half of the run (about 4 s) outlasts B's
            # graceful stop (1-2 s), so requests are sent during and after it
            time.sleep(0.7)
            started = time.monotonic()
            try:
                resp, messages = ask(cluster.url, sender, turn)
                outcome = {
                    "status": resp.status_code,
                    "upstream": resp.headers.get("X-Upstream", ""),
                    "text": text_of(messages),
                    "measures": measures_of(messages),
                    "decided": decided(messages),
                }
            except requests.RequestException as exc:
                outcome = {
                    "status": None,
                    "error": repr(exc),
                    "upstream": "",
                    "text": "",
                    "measures": [],
                    "decided": False,
                }
            outcome.update(turn=turn, started=started, ended=time.monotonic())
            with lock:
                results.append(outcome)
                if len(results) == 30:
                    threading.Thread(target=stop_b, daemon=True).start()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(conversation, range(6)))
    assert stopped.wait(60), "replica B did not stop"

    assert len(results) == 60
    ok = [r for r in results if r["status"] == 200]
    retried = [r for r in results if ", " in r["upstream"]]
    print(
        f"load: {len(ok)}/60 answered 200, {len(retried)} passed on by nginx to the other replica, "
        f"{sum(r['started'] > stop_info['at'] for r in ok)} sent after replica B exited (code {stop_info['code']})"
    )
    # Every request that got 200 carries an answer.
    assert all(r["text"].strip() for r in ok), [r for r in ok if not r["text"].strip()]
    # nginx retried what the stopping replica refused: (almost) nothing was lost.
    assert len(ok) >= 57, [r for r in results if r["status"] != 200]
    # Both replicas answered before the stop; only A after it, and A answered real answers.
    before = {r["upstream"].split(", ")[-1] for r in results if r["ended"] < stop_info["at"] and r["status"] == 200}
    after = [r for r in ok if r["started"] > stop_info["at"]]
    assert b_addr in before and a_addr in before
    assert after, "no request was sent after replica B stopped"
    assert {r["upstream"].split(", ")[-1] for r in after} == {a_addr}
    answered = [r for r in after if r["turn"] != "谢谢"]
    assert sum(r["decided"] for r in answered) >= 0.9 * len(answered), answered
    assert not replica_running(cluster, 1)
