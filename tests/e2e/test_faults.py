"""Faults while serving: the action server goes away and comes back.

The resident gets a short apology in Chinese, never silence or a trace, and the service recovers by itself.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import urllib.request
import uuid

import pytest

from bot import config
from bot.ops.services import Services
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(trained_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    settings = dataclasses.replace(
        config.load(),
        rasa_port=free_port(),
        action_port=free_port(),
        web_port=free_port(),
        rasa_host="127.0.0.1",
        tracker_db=tmp / "tracker.db",
        app_database_url=f"sqlite:///{tmp / 'app.db'}",
        rasa_api_token=secrets.token_urlsafe(16),
    )
    services = Services(settings=settings, model=trained_model)
    services.start(log_dir=tmp / "logs", only=("actions", "rasa"))
    services.wait_ready()
    yield services
    services.stop()


def ask(services: Services, text: str) -> list[dict]:
    req = urllib.request.Request(
        services.rest_url,
        data=json.dumps({"sender": f"f-{uuid.uuid4().hex[:8]}", "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_action_server_down_then_back(stack):
    assert any((m.get("custom") or {}).get("measures") == [26] for m in ask(stack, "身份证多久能拿到"))

    rasa = stack.processes.pop("rasa")
    stack.stop()  # only the action server is left in the dict: stop it
    stack.processes = {"rasa": rasa}
    replies = ask(stack, "身份证多久能拿到")
    texts = " ".join(m.get("text") or "" for m in replies)
    assert "暂时无法回答" in texts and "Traceback" not in texts

    stack.start(only=("actions",))
    stack.wait_ready()
    assert any((m.get("custom") or {}).get("measures") == [26] for m in ask(stack, "身份证多久能拿到"))
