"""The action server (``python -m bot.ops.action_server``) answers only with the shared secret.

The real server runs in its own process on a free loopback port, on a temporary knowledge base
and application database. The attack of issue 11 is replayed against it: listing the actions and
a forged ``action_record_feedback`` call, which wrote a feedback row into the application tables.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bot.ops.action_server import presented_secret, secret_matches
from bot.ops.services import wait_until_up
from bot.storage import appdb
from tests.support.paths import ROOT
from tests.support.ports import free_port

SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def action_server(sqlite_kb_url, tmp_path_factory):
    """The action server as ``bot.ops.services`` starts it; its log file and application database."""
    tmp = tmp_path_factory.mktemp("action-server")
    port = free_port()
    app_db = f"sqlite:///{tmp / 'app.db'}"
    appdb.ensure_schema(app_db)
    env = {
        **os.environ,
        "ACTION_SERVER_TOKEN": SECRET,
        "DATABASE_URL": sqlite_kb_url,
        "APP_DATABASE_URL": app_db,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp / "actions.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.ops.action_server",
                "--actions",
                "actions",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(
            {"actions": f"http://127.0.0.1:{port}/health"},
            timeout=120,
            dead=lambda _: None if proc.poll() is None else log_path.read_text(errors="replace")[-2000:],
        )
        yield {"url": f"http://127.0.0.1:{port}", "port": port, "app_db": app_db, "log": log_path, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def call(url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, object]:
    """GET (no body) or POST JSON; the status and the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def forged_feedback(sender: str) -> dict:
    """What an attacker posts to run ``action_record_feedback`` with a tracker of their own."""
    events = [
        {"event": "user", "text": "伪造的问题", "parse_data": {"intent": {"name": "ask_residence_permit_conditions"}}},
        {"event": "user", "text": "👎", "parse_data": {"intent": {"name": "feedback_negative"}}},
    ]
    tracker = {
        "sender_id": sender,
        "slots": {"cited_measures": ["24"]},
        "events": events,
        "paused": False,
        "latest_message": {"text": "👎", "intent": {"name": "feedback_negative"}, "entities": []},
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return {
        "next_action": "action_record_feedback",
        "sender_id": sender,
        "tracker": tracker,
        "domain": {},
        "version": "3.6.21",
    }


def forged_rows(app_db: str) -> int:
    """Feedback rows holding the forged question."""
    return sum(1 for row in appdb.list_feedback(app_db, limit=1000) if row.question == "伪造的问题")


# --- unit -------------------------------------------------------------------------------------


def test_the_secret_is_read_from_the_query_parameter_rasa_sends_or_a_bearer_header():
    """Rasa 3.6's EndpointConfig.combine_parameters puts ``token`` into the query string."""
    from rasa.utils.endpoints import EndpointConfig

    params = EndpointConfig(url="http://127.0.0.1:5055/webhook", token=SECRET).combine_parameters()
    assert presented_secret(params, {}) == SECRET
    assert presented_secret({}, {"authorization": f"Bearer {SECRET}"}) == SECRET
    assert presented_secret({}, {"authorization": "Basic eDp5"}) is None
    assert presented_secret({}, {}) is None
    assert secret_matches(SECRET, SECRET) and not secret_matches(SECRET[:-1], SECRET)
    assert not secret_matches("é" + SECRET, SECRET)  # non-ASCII presented: no exception, no match


def test_it_refuses_to_start_without_a_secret():
    env = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_TOKEN"}
    for value in (None, "", "   "):
        if value is not None:
            env["ACTION_SERVER_TOKEN"] = value
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bot.ops.action_server", "--port", str(free_port())],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "ACTION_SERVER_TOKEN is not set" in done.stderr
        assert time.monotonic() - started < 20  # before loading any action


# --- the running server -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/actions", "/webhook", "/anything-else"])
def test_without_the_secret_401_with_a_wrong_one_403(action_server, path):
    body = None if path == "/actions" else forged_feedback("attacker")
    status, answer = call(action_server["url"] + path, body)
    assert status == 401 and "token" in answer["error"]
    status, _ = call(action_server["url"] + path + "?token=wrong", body)
    assert status == 403
    status, _ = call(action_server["url"] + path, body, {"Authorization": "Bearer wrong"})
    assert status == 403
    status, _ = call(f"{action_server['url']}{path}?token={SECRET[:-1]}", body)  # all but the last character
    assert status == 403


def test_health_stays_open(action_server):
    assert call(action_server["url"] + "/health") == (200, {"status": "ok"})


def test_with_the_secret_it_lists_the_actions(action_server):
    status, actions = call(f"{action_server['url']}/actions?token={SECRET}")
    assert status == 200
    assert {"action_answer_measure", "action_record_feedback"} <= {a["name"] for a in actions}
    assert call(f"{action_server['url']}/actions", headers={"Authorization": f"Bearer {SECRET}"})[0] == 200


def test_a_forged_feedback_call_is_refused_and_writes_nothing(action_server):
    url = action_server["url"] + "/webhook"
    for suffix in ("", "?token=", "?token=guess", f"?token={SECRET.upper()}"):
        status, _ = call(url + suffix, forged_feedback("forger"))
        assert status in (401, 403), suffix
    assert forged_rows(action_server["app_db"]) == 0
    # the same call with the secret is exactly what Rasa sends: it runs (the check is what stopped it)
    status, answer = call(f"{url}?token={SECRET}", forged_feedback("forger"))
    assert status == 200 and answer["events"] == []
    assert forged_rows(action_server["app_db"]) == 1


def test_a_failing_action_is_answered_without_echoing_the_tracker(action_server):
    """Rasa SDK answers an exception with the whole request in the body, which Rasa logs."""
    body = forged_feedback("echo")
    body["tracker"]["latest_message"]["text"] = "我的手机13912345678"
    del body["tracker"]["sender_id"]  # rasa_sdk's Tracker.from_dict raises KeyError
    status, answer = call(f"{action_server['url']}/webhook?token={SECRET}", body)
    assert status == 500, answer
    assert "13912345678" not in json.dumps(answer) and "request_body" not in answer


def raw_request(port: int, head: str, wait: float = 10.0) -> tuple[bytes, float]:
    """Send only ``head`` (request line and headers, no body).

    Returns the first bytes of the answer and the seconds it took.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        started = time.monotonic()
        sock.sendall(head.encode())
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
        return answer, time.monotonic() - started


@pytest.mark.parametrize("token, status", [(f"?token={SECRET}", b"413"), ("", b"401")])
def test_an_announced_20_mb_body_is_refused_before_it_is_sent(action_server, token, status):
    """Sanic refuses the body by its Content-Length, before reading any of it.

    Without the secret, the refusal Sanic then runs the request middleware for is the 401 (either
    way no byte of the body is read).
    """
    head = (
        f"POST /webhook{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 20000000\r\n\r\n"
    )
    answer, seconds = raw_request(action_server["port"], head)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"connection: close" in answer.lower()
    assert seconds < 3


def test_a_client_that_never_finishes_its_headers_is_dropped(action_server):
    from bot.ops.action_server import REQUEST_TIMEOUT

    answer, seconds = raw_request(
        action_server["port"], "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", wait=REQUEST_TIMEOUT + 10
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert REQUEST_TIMEOUT - 1 <= seconds < REQUEST_TIMEOUT + 5


def test_its_log_has_no_access_lines_and_no_secret(action_server):
    call(f"{action_server['url']}/actions?token={SECRET}")
    time.sleep(0.5)
    log = action_server["log"].read_text(encoding="utf-8", errors="replace")
    assert "Registered function for 'action_record_feedback'" in log
    assert SECRET not in log and "13912345678" not in log
