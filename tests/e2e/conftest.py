"""Fixtures of the end-to-end tests.

The trained model, the fake WeChat API, ``python -m bot run`` (twice: answering passively, and
through the customer-service API with Redis), headless Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import config
from tests.support.botrun import run_bot, wechat_env


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The Rasa model for the current data and config, trained at most once (cached by fingerprint)."""
    from bot.ops.training import ensure_model
    from knowledge.build import build

    settings = config.load()
    # The model depends on the generated jieba dictionary, which `make kb` writes; the tests write it too.
    build(
        settings.database_url,
        source=settings.source_path,
        lexicon=settings.lexicon_path,
        aliases=settings.aliases_path,
        userdict_path=settings.jieba_userdict,
    )
    return ensure_model(settings)


@pytest.fixture(scope="session")
def fake_wechat():
    """A fake WeChat API (token and customer-service send) on loopback, recording requests."""
    from tests.support.wechat_fake import fake_wechat_api

    with fake_wechat_api() as api:
        yield api


@pytest.fixture(scope="session")
def running_bot(trained_model, tmp_path_factory, fake_wechat):
    """``python -m bot run`` on free ports, shared by the end-to-end tests of the session.

    The WeChat channel is on (against the fake WeChat API) with the in-process message store.
    Its teardown is itself a test of Ctrl-C: SIGINT must stop every server cleanly.
    """
    # 4.5 s (WeChat's limit is 5) so that a slow test machine still gets passive replies; the web
    # server's header and body deadlines short, so tests/e2e/test_web_hardening.py sees them act;
    # TRUSTED_PROXIES as networks, as the Kubernetes manifests set them.
    yield from run_bot(
        tmp_path_factory.mktemp("run"),
        {
            **wechat_env(fake_wechat),
            "WECHAT_REPLY_TIMEOUT": "4.5",
            "REDIS_URL": "",
            "WEB_HEADER_TIMEOUT": "1.5",
            "WEB_BODY_TIMEOUT": "2",
            "TRUSTED_PROXIES": "127.0.0.0/8, ::1/128",
        },
    )


@pytest.fixture(scope="session")
def slow_bot(trained_model, tmp_path_factory, fake_wechat, redis_url):
    """A second ``python -m bot run`` whose WeChat channel never answers in time (timeout 1 ms).

    So every answer goes through the customer-service API; its store is the test Redis server.
    """
    yield from run_bot(
        tmp_path_factory.mktemp("slow"),
        {**wechat_env(fake_wechat), "WECHAT_REPLY_TIMEOUT": "0.001", "REDIS_URL": redis_url},
    )


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Debian Chromium driven by selenium (flags as this machine needs them)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=420,860",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
