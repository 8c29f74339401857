"""Rate limits, message length, privacy redaction on every channel; fuzzing the input paths."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import urllib.error
import urllib.request
import uuid

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot import config
from bot.channels import guard
from bot.normalize import MAX_CHARS, normalize_text
from bot.privacy import redact

VALID_ID = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890128"


def _settings(**overrides) -> config.Settings:
    return dataclasses.replace(config.load(), **overrides)


def test_rate_limiter_window():
    limiter = guard.RateLimiter()
    assert all(limiter.allow("k", 3, now=t) for t in (0.0, 1.0, 2.0))
    assert not limiter.allow("k", 3, now=3.0)
    assert limiter.allow("k", 3, now=61.5)
    assert limiter.allow("other", 3, now=3.0)
    assert limiter.allow("k", 0, now=4.0)  # 0 turns the limit off


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [("203.0.113.5", None, "203.0.113.5"), ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
     ("127.0.0.1", "198.51.100.7, 127.0.0.1", "198.51.100.7"), ("127.0.0.1", None, None),
     ("127.0.0.1", "not-an-ip", None), ("203.0.113.5", "198.51.100.7", "203.0.113.5")],
)
def test_client_ip_trusts_only_configured_proxies(peer, forwarded, expected):
    assert guard.client_ip(peer, forwarded, _settings()) == expected


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


# --- end to end ------------------------------------------------------------------------------


def rest(bot, message, sender=None):
    req = urllib.request.Request(f"{bot['url']}/webhooks/rest/webhook",
                                 data=json.dumps({"sender": sender or f"g-{uuid.uuid4().hex[:8]}", "message": message}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.mark.e2e
@pytest.mark.parametrize("number", [VALID_ID, PHONE, CARD], ids=["id-card", "mobile", "bank-card"])
def test_personal_numbers_never_stored_raw(running_bot, number):
    sender = f"priv-{uuid.uuid4().hex[:6]}"
    status, replies = rest(running_bot, f"你好，我的号码是{number}，身份证多久能拿到", sender)
    assert status == 200 and any("已被自动隐去" in (r.get("text") or "") for r in replies)
    assert any((r.get("custom") or {}).get("measures") == [26] for r in replies)
    rest(running_bot, "/feedback_negative", sender)
    for path in (running_bot["tracker"], running_bot["app_db"], running_bot["log_path"]):
        assert number.encode() not in path.read_bytes(), f"{number} found in {path.name}"
    with sqlite3.connect(running_bot["tracker"]) as conn:
        texts = [row[0] for row in conn.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,))]
    assert texts and any("[" in t for t in texts)


@pytest.mark.e2e
def test_ordinary_figures_are_kept(running_bot):
    sender = f"fig-{uuid.uuid4().hex[:6]}"
    rest(running_bot, "民宿不超过800平方米和14个标准间要审批吗", sender)
    with sqlite3.connect(running_bot["tracker"]) as conn:
        data = "".join(r[0] for r in conn.execute("SELECT data FROM events WHERE sender_id = ?", (sender,)))
    assert "800平方米" in json.loads(json.dumps(data)) or "800" in data


@pytest.mark.e2e
def test_per_sender_rate_limit_is_polite(running_bot):
    sender = f"fast-{uuid.uuid4().hex[:6]}"
    results = [rest(running_bot, "你好", sender) for _ in range(config.load().rate_limit_sender + 2)]
    limited = [replies for status, replies in results if status == 429]
    assert limited and "稍等" in limited[0][0]["text"]
    assert rest(running_bot, "你好")[0] == 200  # others are not affected


@pytest.mark.e2e
def test_too_long_message_is_refused_politely(running_bot):
    status, replies = rest(running_bot, "落户" * 600)
    assert status == 200 and "太长" in replies[0]["text"]


@pytest.mark.e2e
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400))
def test_fuzz_rest_endpoint(running_bot, text):
    status, replies = rest(running_bot, text)
    assert status in (200, 429) and isinstance(replies, list)
    assert all("Traceback" not in (r.get("text") or "") for r in replies)
