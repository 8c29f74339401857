"""Rate limits, message length, privacy redaction on every channel; fuzzing the REST endpoint.

End to end against `python -m bot run`.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
import uuid

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot import config

VALID_ID = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890128"


# --- end to end ------------------------------------------------------------------------------


def rest(bot, message, sender=None):
    req = urllib.request.Request(
        f"{bot['url']}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender or f"g-{uuid.uuid4().hex[:8]}", "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
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
        texts = [
            row[0]
            for row in conn.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,))
        ]
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
