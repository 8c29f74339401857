"""The dashboard's figures after real conversations with ``python -m bot run``.

The resident questions go through the REST channel and the web page, as residents' do; the
figures are read from ``GET /console/api/stats`` before and after, so the test counts only its
own messages (the end-to-end tests share one running bot and run one after the other).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from bot.storage import appdb, refusals
from tests.support.webapp import PASSWORD, csrf_token, login

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console(running_bot) -> dict:
    """Headers of a console session on the running bot's web server."""
    url = f"sqlite:///{running_bot['app_db']}"
    try:
        appdb.add_staff_user("stats01", PASSWORD, url=url)
    except ValueError:
        pass  # made by an earlier module
    web = running_bot["web_url"]
    csrf = csrf_token(web)
    location, cookie = login(web, "stats01", PASSWORD, csrf=csrf)
    assert location == "/console", location
    return {"Cookie": f"{cookie.split(';')[0]}; gxga_csrf={csrf}", "X-CSRF-Token": csrf}


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _post(url: str, body: dict) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def figures(running_bot, console, days: int = 7) -> dict:
    status, _, body = _get(f"{running_bot['web_url']}/console/api/stats?days={days}", console)
    assert status == 200, body
    return json.loads(body)


def _delta(after: dict, before: dict) -> dict:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def test_residents_questions_are_counted_by_outcome_channel_and_measure(running_bot, console):
    before = figures(running_bot, console)
    rest = f"{running_bot['url']}/webhooks/rest/webhook"
    sender = f"stats-rest-{time.time_ns()}"
    for text in ("你好", "毕业生落户需要什么材料", "身份证丢了补办要多久"):
        assert _post(rest, {"sender": sender, "message": text}) == 200
    assert (
        _post(
            f"{running_bot['web_url']}/api/message", {"sender": f"stats-{time.time_ns()}", "message": "居住证办理条件"}
        )
        == 200
    )
    after = figures(running_bot, console)
    assert _delta(after["outcomes"], before["outcomes"]) == {"conversation": 1, "answered": 2, "not_covered": 1}
    assert _delta(after["channels"], before["channels"]) == {"rest": 3, "web": 1}
    asked = {m["number"]: m["asked"] for m in after["top_measures"]}
    asked_before = {m["number"]: m["asked"] for m in before["top_measures"]}
    assert asked[22] == asked_before.get(22, 0) + 1 and asked[24] == asked_before.get(24, 0) + 1
    assert after["per_day"][-1]["total"] == before["per_day"][-1]["total"] + 4
    assert after["reply_ms"]["count"] == before["reply_ms"]["count"] + 4 and after["reply_ms"]["median"] > 0
    assert any("身份证" in g["text"] for g in after["unanswered"])


def test_the_consoles_own_questions_are_not_counted(running_bot, console):
    before = figures(running_bot, console)
    req = urllib.request.Request(
        f"{running_bot['web_url']}/console/api/ask",
        data=json.dumps({"text": "毕业生落户需要什么材料"}).encode(),
        headers={**console, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        assert resp.status == 200
    after = figures(running_bot, console)
    assert after["outcomes"] == before["outcomes"] and after["channels"] == before["channels"]


def test_refused_messages_are_counted_without_their_text(running_bot, console):
    before = figures(running_bot, console)
    rest = f"{running_bot['url']}/webhooks/rest/webhook"
    sender = f"stats-long-{time.time_ns()}"
    assert _post(rest, {"sender": sender, "message": "落户" * 600}) == 200  # over MAX_MESSAGE_CHARS
    time.sleep(refusals.FLUSH_S + 0.5)  # the Rasa server adds its counts at most every FLUSH_S seconds
    assert _post(rest, {"sender": sender, "message": "落户" * 600}) == 200
    after = figures(running_bot, console)
    assert _delta(after["outcomes"], before["outcomes"]) == {"refused_too_long": 2}
    assert _delta(after["channels"], before["channels"]) == {"rest": 2}


def test_csv_download(running_bot, console):
    status, headers, body = _get(f"{running_bot['web_url']}/console/api/stats.csv?days=30", console)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert 'filename="gxga-stats-' in headers["Content-Disposition"]
    text = body.decode("utf-8")
    assert text.startswith("\ufeff每日问题数") and "依据措施作答" in text and "文件未规定" in text
    assert len([line for line in text.splitlines() if line[:4].isdigit()]) == 30  # one row per day


@pytest.mark.parametrize("days", ["0", "365", "30;DROP TABLE events", "", "七"])
def test_only_the_offered_periods(running_bot, console, days):
    status, _, body = _get(f"{running_bot['web_url']}/console/api/stats?days={urllib.request.quote(days)}", console)
    assert status == 400 and json.loads(body)["error"] == "天数只能是 7、30 或 90。"


@pytest.mark.parametrize("path", ["/console/api/stats?days=7", "/console/api/stats.csv?days=7"])
def test_figures_need_a_login(running_bot, path):
    status, _, _ = _get(running_bot["web_url"] + path, {"Cookie": "gxga_console=forged"})
    assert status == 401
