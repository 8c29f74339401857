"""Running ``python -m bot run`` for the end-to-end tests.

The WeChat channel is on, against the fake WeChat API (:mod:`tests.support.wechat_fake`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.ports import free_port, port_open


def wechat_env(fake_wechat) -> dict[str, str]:
    """The WeChat channel's settings for a test server: on, safe mode possible, API faked."""
    from tests.support import wechat_fake

    return {
        "WECHAT_TOKEN": wechat_fake.TOKEN,
        "WECHAT_APP_ID": wechat_fake.APP_ID,
        "WECHAT_APP_SECRET": wechat_fake.APP_SECRET,
        "WECHAT_AES_KEY": wechat_fake.AES_KEY,
        "WECHAT_API_BASE": fake_wechat.url,
    }


def run_bot(tmp: Path, extra_env: dict[str, str]):
    """Start ``python -m bot run`` on free ports; yields its info dict; stops it with Ctrl-C.

    The teardown checks that SIGINT stops every server cleanly.
    """
    import signal
    import subprocess
    import sys
    import time

    info = {
        "rasa_port": free_port(),
        "action_port": free_port(),
        "web_port": free_port(),
        "token": "test-token-" + os.urandom(6).hex(),
        "action_token": "test-action-token-" + os.urandom(8).hex(),
        "tracker": tmp / "tracker.db",
        "app_db": tmp / "app.db",
        "log_path": tmp / "run.log",
    }
    env = {
        **os.environ,
        "RASA_PORT": str(info["rasa_port"]),
        "ACTION_PORT": str(info["action_port"]),
        "WEB_PORT": str(info["web_port"]),
        "TRACKER_DB": str(info["tracker"]),
        "APP_DATABASE_URL": f"sqlite:///{info['app_db']}",
        "RASA_API_TOKEN": info["token"],
        "ACTION_SERVER_TOKEN": info["action_token"],
        **extra_env,
    }
    log = open(info["log_path"], "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
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
    info.update(
        proc=proc, log=log, url=f"http://127.0.0.1:{info['rasa_port']}", web_url=f"http://127.0.0.1:{info['web_port']}"
    )
    yield info
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        raise AssertionError("bot run did not stop within 30 s of Ctrl-C") from exc
    time.sleep(0.5)
    assert code == 0, f"bot run exited with {code} on Ctrl-C"
    for name in ("rasa_port", "action_port", "web_port"):
        assert not port_open(info[name]), f"the server on {name} outlived Ctrl-C"


def add_console_user(info: dict, username: str, password: str, role: str | None = None) -> dict:
    """Create a console account of the running bot with the documented command (``add-user``).

    An account made by an earlier module of the session is kept. Returns ``{"username",
    "password"}``.
    """
    import subprocess
    import sys

    env = {**os.environ, "APP_DATABASE_URL": f"sqlite:///{info['app_db']}"}
    command = [sys.executable, "-m", "bot.webapp.console", "add-user", username, "--password-stdin"]
    result = subprocess.run(
        command + (["--role", role] if role else []),
        cwd=ROOT,
        input=password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0 or "exists" in result.stderr, result.stderr
    return {"username": username, "password": password}
