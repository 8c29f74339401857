"""Rate limits (in-process and on Redis), message length, privacy redaction; fuzzing the input paths."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot import config
from bot.rasa_ext import guard
from bot.security import ratelimit
from bot.text.normalize import MAX_CHARS, normalize_text
from bot.text.privacy import redact

VALID_ID = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890128"


def _settings(**overrides) -> config.Settings:
    return dataclasses.replace(config.load(), **overrides)


# --- rate limiters: in process and in Redis ----------------------------------------------------


@pytest.fixture(params=["local", "redis"])
def limiter(request):
    """Each kind of limiter, empty (the Redis one in a namespace of its own)."""
    if request.param == "local":
        return ratelimit.RateLimiter()
    return ratelimit.RedisRateLimiter(request.getfixturevalue("redis_url"), namespace=f"t-{uuid.uuid4().hex}")


def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2)


def _dead_url() -> str:
    from tests.support.ports import free_port

    return f"redis://127.0.0.1:{free_port()}/0"


# (operation, key, argument, time, expected): allow's argument is the limit (60 s window),
# count's is the window.
@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [("allow", "k", 3, t, True) for t in (0.0, 1.0, 2.0)]
            + [
                ("allow", "k", 3, 3.0, False),
                ("allow", "other", 3, 3.0, True),
                ("allow", "k", 3, 61.5, True),
                ("allow", "k", 0, 61.6, True),
            ],
            id="limit-then-slide",
        ),
        pytest.param(
            [("allow", "k", 1, 0.0, True), ("allow", "k", 1, 60.0, False), ("allow", "k", 1, 60.001, True)],
            id="window-edge-inclusive",
        ),
        pytest.param(
            [("allow", "k", 2, 0.0, True), ("allow", "k", 2, 1.0, True)]
            + [("allow", "k", 2, float(t), False) for t in range(2, 10)]
            + [("allow", "k", 2, 60.5, True), ("allow", "k", 2, 60.6, False)],
            id="refusals-not-counted",
        ),
        pytest.param(
            [("record", "u", None, t, None) for t in (0.0, 10.0, 20.0)]
            + [
                ("count", "u", 15.0, 25.0, 2),
                ("count", "u", 60.0, 25.0, 3),
                ("count", "u", 900.0, 930.0, 0),
                ("count", "u", 3600.0, 3599.0, 3),
                ("count", "nobody", 60.0, 25.0, 0),
            ],
            id="record-and-count",
        ),
    ],
)
def test_rate_limiter_semantics(limiter, steps):
    for op, key, arg, now, expected in steps:
        if op == "allow":
            assert limiter.allow(key, arg, now=now) is expected, (op, key, arg, now)
        elif op == "count":
            assert limiter.count(key, arg, now=now) == expected, (op, key, arg, now)
        else:
            limiter.record(key, now=now)
    if isinstance(limiter, ratelimit.RedisRateLimiter):  # answered by Redis, not by the fallback
        assert all(limiter.fallback.count(key, 1e9, now=1e6) == 0 for _, key, *_ in steps)


def test_redis_limiters_share_counts_across_replicas(redis_url):
    namespace = f"t-{uuid.uuid4().hex}"
    replica_a = ratelimit.RedisRateLimiter(redis_url, namespace=namespace)
    replica_b = ratelimit.RedisRateLimiter(redis_url, namespace=namespace)
    assert [replica_a.allow("sender:x", 3), replica_b.allow("sender:x", 3), replica_a.allow("sender:x", 3)] == [
        True
    ] * 3
    assert not replica_b.allow("sender:x", 3)
    replica_a.record("user:alice")
    replica_b.record("user:alice")
    assert replica_a.count("user:alice", 900) == replica_b.count("user:alice", 900) == 2
    assert replica_a.fallback.count("user:alice", 900) == 0  # nothing went to the in-process counters
    other = ratelimit.RedisRateLimiter(redis_url, namespace=f"t-{uuid.uuid4().hex}")
    assert other.allow("sender:x", 3) and other.count("user:alice", 900) == 0


def test_redis_limit_is_atomic_under_concurrency(redis_url):
    from concurrent.futures import ThreadPoolExecutor

    namespace = f"t-{uuid.uuid4().hex}"
    replicas = [ratelimit.RedisRateLimiter(redis_url, namespace=namespace) for _ in range(2)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: replicas[i % 2].allow("ip:203.0.113.9", 10), range(80)))
    assert results.count(True) == 10


def test_redis_keys_expire(redis_url):
    namespace = f"t-{uuid.uuid4().hex}"
    limiter = ratelimit.RedisRateLimiter(redis_url, namespace=namespace)
    client = _redis_client(redis_url)
    limiter.allow("sender:x", 5, window=60)
    limiter.record("user:bob")
    limiter.count("user:nobody", 60)
    assert 0 < client.ttl(f"gxga:rl:{namespace}:sender:x") <= 61
    assert 3500 < client.ttl(f"gxga:rl:{namespace}:user:bob") <= 3600
    assert not client.exists(f"gxga:rl:{namespace}:user:nobody")  # counting creates nothing
    assert all(client.ttl(key) > 0 for key in client.scan_iter(f"gxga:rl:{namespace}:*"))


def test_redis_down_fails_open_without_raising(caplog):
    limiter = ratelimit.RedisRateLimiter(_dead_url(), namespace="t-dead", retry_after=0)
    with caplog.at_level("WARNING", logger="bot.security.ratelimit"):
        assert [limiter.allow("sender:x", 2) for _ in range(3)] == [True, True, False]  # per-process limit
        limiter.record("user:carol")
        assert limiter.count("user:carol", 900) == 1
        assert all(limiter.allow(f"sender:{i}", 2) for i in range(20))
    warnings = [r for r in caplog.records if r.name == "bot.security.ratelimit"]
    assert len(warnings) == 1 and warnings[0].exc_info is None and "per-process" in warnings[0].getMessage()


def test_redis_limiter_recovers_when_redis_returns():
    from bot.ops.localdb import redis_server

    url = _dead_url()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    eager = ratelimit.RedisRateLimiter(url, namespace="t-back", retry_after=0)
    patient = ratelimit.RedisRateLimiter(url, namespace="t-patient", retry_after=60)
    assert eager.allow("sender:x", 5) and patient.allow("sender:x", 5)  # both fall back
    with redis_server(port=port):
        assert eager.allow("sender:x", 5) and patient.allow("sender:x", 5)
        client = _redis_client(url)
        assert client.zcard("gxga:rl:t-back:sender:x") == 1  # back in Redis, no restart
        assert not client.exists("gxga:rl:t-patient:sender:x")  # still backing off
        assert eager.count("sender:x") == 1 and eager.fallback.count("sender:x") == 1


def test_limiter_for_picks_and_caches(redis_url):
    from bot.webapp import console

    local = _settings(redis_url=None)
    assert ratelimit.limiter_for(local) is ratelimit.LIMITER
    assert ratelimit.limiter_for(local, "console") is not ratelimit.LIMITER
    shared = _settings(redis_url=redis_url)
    chat = ratelimit.limiter_for(shared)
    assert isinstance(chat, ratelimit.RedisRateLimiter) and chat is ratelimit.limiter_for(shared)
    assert chat.fallback is ratelimit.LIMITER and chat.prefix == "gxga:rl:chat:"
    logins = console._failure_counter(shared)
    assert logins is ratelimit.limiter_for(shared, "console") and logins.prefix == "gxga:rl:console:"
    assert logins.fallback is ratelimit.limiter_for(local, "console")


def test_prepare_counts_in_redis(redis_url):
    s = _settings(redis_url=redis_url, rate_limit_sender=2, rate_limit_ip=0)
    sender = f"s-{uuid.uuid4()}"
    assert [guard.prepare("你好", sender, None, s).refused for _ in range(3)] == [None, None, "rate_limited"]
    assert _redis_client(redis_url).zcard(f"gxga:rl:chat:sender:{sender}") == 2


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "198.51.100.7, 127.0.0.1", "198.51.100.7"),
        ("127.0.0.1", None, None),
        ("127.0.0.1", "not-an-ip", None),
        ("203.0.113.5", "198.51.100.7", "203.0.113.5"),
    ],
)
def test_client_ip_trusts_only_configured_proxies(peer, forwarded, expected):
    assert ratelimit.client_ip(peer, forwarded, _settings()) == expected


def test_prepare_redacts_and_notices():
    prepared = guard.prepare(f"我的身份证{VALID_ID}，电话{PHONE}", f"s-{uuid.uuid4()}", None, _settings())
    assert VALID_ID not in prepared.text and PHONE not in prepared.text and prepared.notices == ["privacy_notice"]
    ordinary = guard.prepare("不超过800平方米，15个工作日，打12389", f"s-{uuid.uuid4()}", None, _settings())
    assert ordinary.text == "不超过800平方米，15个工作日，打12389" and not ordinary.notices


def test_prepare_refuses_long_and_fast():
    s = _settings(max_message_chars=10, rate_limit_sender=2)
    assert guard.prepare("落" * 11, "a1", None, s).refused == "too_long"
    sender = f"s-{uuid.uuid4()}"
    assert [guard.prepare("你好", sender, None, s).refused for _ in range(3)] == [None, None, "rate_limited"]
    assert guard.prepare("", f"s-{uuid.uuid4()}", None, s).text == guard.EMPTY_MESSAGE


def test_finish_apologises_for_silence():
    out = guard.finish([], guard.Prepared(text="x"), "r")
    assert out and "暂时无法回答" in out[0]["text"]


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_fuzz_normalize_and_redact(text):
    normalized = normalize_text(text)
    assert len(normalized) <= MAX_CHARS and normalize_text(normalized) == normalized
    assert isinstance(redact(text), str)


def test_broken_privacy_data_refuses_politely_and_stores_nothing(monkeypatch, caplog):
    """With bot/replies/privacy.yml broken nothing can be redacted: the message is refused.

    It gets the apology and is never passed on raw.
    """
    from bot import config
    from bot.rasa_ext import guard
    from bot.text.privacy import PrivacyDataError

    def broken(*_args, **_kwargs):
        raise PrivacyDataError("bot/replies/privacy.yml: placeholders.mobile must be a non-empty text without digits")

    monkeypatch.setattr("bot.text.privacy.load_placeholders", broken)
    prepared = guard.prepare("我的手机13812345678收不到短信", "s-broken-privacy", None, config.load())
    assert prepared.refused == "unavailable" and prepared.text == ""
    assert "13812345678" not in caplog.text and "privacy.yml" in caplog.text
