"""Faults in a conversation full of personal numbers: no log line of any service carries them.

The action server and the Rasa server run as ``bot.ops.services`` starts them, but the action server
loads ``tests.support.failing_actions``: every action raises with the resident's message in its error. A
conversation gets a mobile, an ID-card and a bank-card number in several forms (plain, spaces,
dashes, full-width digits, Chinese numerals) through Rasa's HTTP API, which, unlike the channels,
stores them unredacted (staff tools only, behind the API token), and then:

1. an action fails in our action server (the exception and its traceback quote the message);
2. the action server is stopped and an action is run (Rasa logs the failed connection);
3. Rasa SDK's own server (``python -m rasa_sdk``) stands in for an old action server: it answers
   the failure with the whole tracker in the body, which Rasa logs at ERROR level (issue 11's
   tracker dump, JSON-escaped inside the ``repr`` of a byte string).

Then every file under the services' log folder is searched for every number in every form it
could be written in (as typed, bare digits, JSON escapes, escaped twice, UTF-8 byte escapes,
percent-encoding). The stand-in server's own log is kept apart: it is not ours, and it shows the
numbers did travel in the requests.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sys
import urllib.request
import uuid

import pytest

from bot import config
from bot.ops.services import Services
from tests.support.logged_numbers import ALL_TYPED, leaks
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e


@dataclasses.dataclass
class FailingServices(Services):
    """:class:`Services` whose action server loads ``tests.support.failing_actions``.

    With ``stock`` it is Rasa SDK's own server (no secret, its error handler echoing the request).
    """

    stock: bool = False

    def commands(self) -> dict[str, list[str]]:
        commands = super().commands()
        if self.stock:
            commands["actions"] = [
                sys.executable,
                "-m",
                "rasa_sdk",
                "--actions",
                "tests.support.failing_actions",
                "--port",
                str(self.settings.action_port),
            ]
        else:
            actions = commands["actions"]
            actions[actions.index("--actions") + 1] = "tests.support.failing_actions"
        return commands


def api(services: Services, path: str, body: dict) -> dict:
    """POST to Rasa's HTTP API with its token."""
    url = f"http://127.0.0.1:{services.settings.rasa_port}{path}?token={services.settings.rasa_api_token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
        return json.loads(response.read())


def rest(services: Services, sender: str, text: str) -> list[dict]:
    request = urllib.request.Request(
        services.rest_url,
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def failed_conversation(trained_model, tmp_path_factory):
    """Run the three failures; yields the log folders (ours, the stand-in's)."""
    tmp = tmp_path_factory.mktemp("faults-logs")
    settings = dataclasses.replace(
        config.load(),
        rasa_port=free_port(),
        action_port=free_port(),
        rasa_host="127.0.0.1",
        tracker_db=tmp / "tracker.db",
        app_database_url=f"sqlite:///{tmp / 'app.db'}",
        rasa_api_token=secrets.token_urlsafe(16),
        action_server_token=None,
    )
    services = FailingServices(settings=settings, model=trained_model)
    logs, stock_logs = tmp / "logs", tmp / "stock-logs"
    services.start(log_dir=logs, only=("actions", "rasa"))
    try:
        services.wait_ready()
        sender = f"logs-{uuid.uuid4().hex[:8]}"
        for typed in ALL_TYPED:
            api(
                services,
                f"/conversations/{sender}/messages",
                {"text": f"我的号码是{typed}，身份证多久能拿到", "sender": "user"},
            )
        # 1. the action fails in our action server
        api(services, f"/conversations/{sender}/execute", {"name": "action_answer_measure"})
        # the public channel too (its guard redacts first; the action still fails)
        rest(services, f"rest-{sender}", "我的手机１３９ １２３４ ５６７８，身份证多久能拿到")
        # 2. no action server
        stopped = services.processes.pop("actions")
        stopped.terminate()
        stopped.wait(timeout=30)
        api(services, f"/conversations/{sender}/execute", {"name": "action_show_measure_text"})
        # 3. a stand-in that echoes the tracker in its error answer
        services.stock = True
        services.start(log_dir=stock_logs, only=("actions",))
        services.wait_ready()
        api(services, f"/conversations/{sender}/execute", {"name": "action_answer_measure"})
    finally:
        services.stop()
    yield logs, stock_logs


def test_the_failures_happened_and_were_logged(failed_conversation):
    logs, stock_logs = failed_conversation
    rasa = (logs / "rasa.log").read_text(encoding="utf-8", errors="replace")
    actions = (logs / "actions.log").read_text(encoding="utf-8", errors="replace")
    assert rasa.count("Encountered an exception while running action") >= 4, rasa[-3000:]
    assert "Couldn't connect to the server" in rasa  # 2.
    assert "Internal Server Error" in rasa and "request_body" in rasa  # 3.: the tracker dump, redacted
    assert "forced failure of action_answer_measure" in actions and "Traceback" in actions  # 1.
    for log in (rasa, actions):
        assert "[手机号]" in log and "[身份证号]" in log and "[银行卡号]" in log
    # the numbers really were in the traffic: the stand-in's unredacted log has them
    assert leaks((stock_logs / "actions.log").read_text(encoding="utf-8", errors="replace"))


def test_no_log_file_has_any_number_in_any_form(failed_conversation):
    logs, _ = failed_conversation
    files = sorted(p for p in logs.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"rasa.log", "actions.log"}
    found = {p.name: leaks(p.read_text(encoding="utf-8", errors="replace")) for p in files}
    assert not any(found.values()), found
