"""`python -m bot run` end to end: both servers start, the REST channel answers from the
knowledge base, and Ctrl-C (SIGINT) stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from bot import config

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def running_bot(trained_model, tmp_path_factory):
    ports = {"RASA_PORT": str(_free_port()), "ACTION_PORT": str(_free_port())}
    tmp = tmp_path_factory.mktemp("run")
    env = {**os.environ, **ports, "TRACKER_DB": str(tmp / "tracker.db")}
    log = open(tmp / "run.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=config.PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        log.seek(0)
        if "Press Ctrl-C" in log.read():
            break
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"bot run exited early:\n{log.read()[-3000:]}")
        time.sleep(1)
    else:
        proc.kill()
        pytest.fail("bot run did not become ready in 240 s")
    yield {"proc": proc, "ports": ports, "log": log, "tracker": tmp / "tracker.db"}
    if proc.poll() is None:
        proc.kill()


def rest(bot, sender: str, message: str) -> list[dict]:
    url = f"http://127.0.0.1:{bot['ports']['RASA_PORT']}/webhooks/rest/webhook"
    body = json.dumps({"sender": sender, "message": message}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def test_startup_prints_where_services_listen(running_bot):
    running_bot["log"].seek(0)
    out = running_bot["log"].read()
    assert f"http://127.0.0.1:{running_bot['ports']['ACTION_PORT']}/webhook" in out
    assert f"http://127.0.0.1:{running_bot['ports']['RASA_PORT']}/webhooks/rest/webhook" in out


def test_greeting(running_bot):
    replies = rest(running_bot, "resident-1", "你好")
    assert "政务问答助手" in replies[0]["text"]
    assert [b["title"] for b in replies[0]["buttons"]]


def test_knowledge_base_answer_with_citation(running_bot):
    replies = rest(running_bot, "resident-2", "毕业生落户需要什么")
    text = replies[0]["text"]
    assert "毕业证" in text and "第（二十二）项「全面放开人才落户限制」" in text
    assert "《广西公安机关深化“放管服”改革优化营商环境实施意见》（2018年8月10日）" in text
    assert {"recipient_id": "resident-2", "custom": {"measures": [22]}} in replies
    full = rest(running_bot, "resident-2", replies[0]["buttons"][0]["payload"])
    assert "原文" in full[0]["text"] and "可同时办理共同居住生活的配偶" in full[0]["text"]


def test_conversation_is_in_the_sqlite_tracker_store(running_bot):
    import sqlite3

    rest(running_bot, "resident-3", "身份证多久能拿到")
    with sqlite3.connect(running_bot["tracker"]) as conn:
        count = conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = 'resident-3'").fetchone()[0]
    assert count > 0


def test_ctrl_c_stops_both(running_bot):
    proc = running_bot["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    time.sleep(0.5)
    assert not _port_open(int(running_bot["ports"]["RASA_PORT"]))
    assert not _port_open(int(running_bot["ports"]["ACTION_PORT"]))
