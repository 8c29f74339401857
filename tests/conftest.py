"""Shared fixtures: the real source document, knowledge bases on SQLite and PostgreSQL,
Rasa SDK dispatcher/tracker/domain, and (once per session) a trained model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bot import config
from tests.support.paths import ROOT, SOURCE, build_kb
from tests.support.ports import free_port, port_open

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def source_text() -> str:
    """The notice as shipped in knowledge/source/."""
    return SOURCE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sqlite_kb_url(tmp_path_factory) -> str:
    """A knowledge base built once into a temporary SQLite file (read-only use)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'knowledge.db'}"
    build_kb(url)
    return url


@pytest.fixture(scope="session")
def postgres_server_url():
    """A real PostgreSQL server on loopback for this test session."""
    from tests.support.pgserver import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_kb_url(postgres_server_url) -> str:
    """A knowledge base built once into a fresh PostgreSQL database (read-only use)."""
    from tests.support.pgserver import create_database

    url = create_database(postgres_server_url)
    build_kb(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def kb_url(request) -> str:
    """The same read-only knowledge base on each supported database."""
    return request.getfixturevalue(f"{request.param}_kb_url")


@pytest.fixture
def kb(kb_url):
    """A repository over :func:`kb_url`."""
    from knowledge.repository import KnowledgeBase

    return KnowledgeBase(kb_url)


@pytest.fixture
def dispatcher():
    """A Rasa SDK dispatcher that collects messages."""
    from rasa_sdk.executor import CollectingDispatcher

    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> dict:
    """The project's domain as the action server receives it."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def make_tracker():
    """Build a tracker whose latest message has the given text, intent and slots."""
    from rasa_sdk import Tracker

    def _make(text: str = "", intent: str | None = None, slots: dict | None = None, entities=None) -> Tracker:
        latest = {"text": text, "intent": {"name": intent, "confidence": 0.9} if intent else {}, "entities": entities or []}
        return Tracker(
            sender_id="test-user", slots=slots or {}, latest_message=latest, events=[],
            paused=False, followup_action=None, active_loop={}, latest_action_name="action_listen",
        )

    return _make


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The Rasa model for the current data and config, trained at most once (cached by fingerprint)."""
    from knowledge.build import build
    from bot.ops.training import ensure_model

    settings = config.load()
    # The model depends on the generated jieba dictionary, which `make kb` writes; the tests write it too.
    build(settings.database_url, source=settings.source_path, lexicon=settings.lexicon_path,
          aliases=settings.aliases_path, userdict_path=settings.jieba_userdict)
    return ensure_model(settings)


@pytest.fixture(scope="session")
def fake_wechat():
    """A fake WeChat API (token and customer-service send) on loopback, recording requests."""
    from tests.support.wechat_fake import fake_wechat_api

    with fake_wechat_api() as api:
        yield api


@pytest.fixture(scope="session")
def redis_url():
    """A throw-away Redis server on loopback for this test session (or ``TEST_REDIS_URL``)."""
    from tests.support.wechat_fake import redis_server

    with redis_server() as url:
        yield url


def wechat_env(fake_wechat) -> dict[str, str]:
    """The WeChat channel's settings for a test server: on, safe mode possible, API faked."""
    from tests.support import wechat_fake

    return {"WECHAT_TOKEN": wechat_fake.TOKEN, "WECHAT_APP_ID": wechat_fake.APP_ID,
            "WECHAT_APP_SECRET": wechat_fake.APP_SECRET, "WECHAT_AES_KEY": wechat_fake.AES_KEY,
            "WECHAT_API_BASE": fake_wechat.url}


def _run_bot(tmp: Path, extra_env: dict[str, str]):
    """Start ``python -m bot run`` on free ports; yields its info dict; stops it with Ctrl-C
    (the teardown checks that SIGINT stops every server cleanly)."""
    import signal
    import subprocess
    import sys
    import time

    info = {
        "rasa_port": free_port(), "action_port": free_port(), "web_port": free_port(),
        "token": "test-token-" + os.urandom(6).hex(),
        "action_token": "test-action-token-" + os.urandom(8).hex(),
        "tracker": tmp / "tracker.db", "app_db": tmp / "app.db", "log_path": tmp / "run.log",
    }
    env = {**os.environ, "RASA_PORT": str(info["rasa_port"]), "ACTION_PORT": str(info["action_port"]),
           "WEB_PORT": str(info["web_port"]),
           "TRACKER_DB": str(info["tracker"]), "APP_DATABASE_URL": f"sqlite:///{info['app_db']}",
           "RASA_API_TOKEN": info["token"], "ACTION_SERVER_TOKEN": info["action_token"], **extra_env}
    log = open(info["log_path"], "w+")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while True:
        log.seek(0)
        if "Press Ctrl-C" in log.read():
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"bot run did not start:\n{log.read()[-3000:]}")
        time.sleep(1)
    info.update(proc=proc, log=log, url=f"http://127.0.0.1:{info['rasa_port']}",
                web_url=f"http://127.0.0.1:{info['web_port']}")
    yield info
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("bot run did not stop within 30 s of Ctrl-C")
    time.sleep(0.5)
    assert code == 0, f"bot run exited with {code} on Ctrl-C"
    for name in ("rasa_port", "action_port", "web_port"):
        assert not port_open(info[name]), f"the server on {name} outlived Ctrl-C"


@pytest.fixture(scope="session")
def running_bot(trained_model, tmp_path_factory, fake_wechat):
    """``python -m bot run`` on free ports, shared by the end-to-end tests of the session.

    The WeChat channel is on (against the fake WeChat API) with the in-process message store.
    Its teardown is itself a test of Ctrl-C: SIGINT must stop every server cleanly.
    """
    # 4.5 s (WeChat's limit is 5) so that a slow test machine still gets passive replies.
    yield from _run_bot(tmp_path_factory.mktemp("run"),
                        {**wechat_env(fake_wechat), "WECHAT_REPLY_TIMEOUT": "4.5", "REDIS_URL": ""})


@pytest.fixture(scope="session")
def slow_bot(trained_model, tmp_path_factory, fake_wechat, redis_url):
    """A second ``python -m bot run`` whose WeChat channel never answers in time (timeout 1 ms),
    so every answer goes through the customer-service API; its store is the test Redis server."""
    yield from _run_bot(tmp_path_factory.mktemp("slow"),
                        {**wechat_env(fake_wechat), "WECHAT_REPLY_TIMEOUT": "0.001", "REDIS_URL": redis_url})


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Debian Chromium driven by selenium (flags as this machine needs them)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                 "--window-size=420,860", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
