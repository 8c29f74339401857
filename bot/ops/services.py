"""Start the action server and the Rasa server together and stop them together.

Used by ``make run`` (``python -m bot run``) and by the end-to-end tests, so both start the
services the same way.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from bot import config
from bot.ops.process import StopSignals, telemetry_env
from bot.ops.training import decision_model_path

log = logging.getLogger(__name__)


def service_env(settings: config.Settings) -> dict[str, str]:
    """The environment the services run in.

    The endpoints file is filled from these variables (``endpoints.yml``; with ``BOT_ENV=production``
    ``endpoints.production.yml``, see :func:`production_env`).
    """
    settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "ACTION_ENDPOINT_URL": settings.action_endpoint_url,
        "TRACKER_DB": str(settings.tracker_db),
        "DATABASE_URL": settings.database_url,
        "APP_DATABASE_URL": settings.app_database_url,
        "RASA_PORT": str(settings.rasa_port),
        "ACTION_PORT": str(settings.action_port),
        "WEB_PORT": str(settings.web_port),
        **({"RASA_API_TOKEN": settings.rasa_api_token} if settings.rasa_api_token else {}),
        # the action server requires it; Rasa sends it (endpoints: token: ${ACTION_SERVER_TOKEN})
        **({"ACTION_SERVER_TOKEN": settings.action_server_token} if settings.action_server_token else {}),
        # the decision model trained with the Rasa model (actions/loaded.py reads it)
        "DECISION_MODEL": str(decision_model_path(settings)),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
        **telemetry_env(),  # no telemetry or Sentry error reports unless told to
        **(production_env(settings) if settings.production else {}),
    }


def action_host(settings: config.Settings) -> str:
    """Where the action server listens: loopback or every interface.

    Loopback when the Rasa server calls it on this machine (``make run``, each replica of ``make cluster``),
    else every interface (replicas elsewhere).
    """
    host = urlsplit(settings.action_endpoint_url).hostname or ""
    return "127.0.0.1" if host in ("127.0.0.1", "localhost", "::1") else "0.0.0.0"


def production_env(settings: config.Settings) -> dict[str, str]:
    """The variables ``endpoints.production.yml`` names (Rasa expands each ``${VAR}``; all must be set)."""
    return {
        "BOT_ENV": "production",
        "TRACKER_DB_HOST": settings.tracker_db_host or "",
        "TRACKER_DB_PORT": str(settings.tracker_db_port),
        "TRACKER_DB_NAME": settings.tracker_db_name,
        "TRACKER_DB_USER": settings.tracker_db_user,
        "TRACKER_DB_PASSWORD": settings.tracker_db_password,
        "LOCK_STORE_HOST": settings.lock_store_host or "",
        "LOCK_STORE_PORT": str(settings.lock_store_port),
        "LOCK_STORE_DB": str(settings.lock_store_db),
        **({"REDIS_URL": settings.redis_url} if settings.redis_url else {}),
    }


def wait_until_up(
    checks: dict[str, str],
    timeout: float,
    dead: Callable[[str], str | None] = lambda name: None,
    interval: float = 0.3,
    error: type[Exception] = RuntimeError,
) -> None:
    """Poll each named URL until it answers 200.

    Args:
        checks: name → health URL.
        timeout: seconds before giving up.
        dead: called with a pending name; a message means that service died (stop waiting).
        interval: seconds between rounds.
        error: the exception type raised.

    Raises:
        error: a service died, or ``timeout`` passed with some still down (they are named).
    """
    deadline = time.monotonic() + timeout
    pending = dict(checks)
    while pending:
        for name, url in list(pending.items()):
            problem = dead(name)
            if problem:
                raise error(problem)
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        del pending[name]
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
        if pending and time.monotonic() > deadline:
            raise error(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
        if pending:
            time.sleep(interval)


@dataclass
class Services:
    """The running action server and Rasa server.

    Without ``settings.action_server_token`` a random secret is made for these processes (the
    action server refuses to run without one; it reaches both through their environment).
    """

    settings: config.Settings
    model: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # More environment for the processes (bot.ops.cluster: settings that are not in Settings' fields).
    extra_env: dict[str, str] = field(default_factory=dict)
    # Another endpoints file for Rasa (default: settings.endpoints_file; bench/bench_lock_store.py).
    endpoints: Path | None = None

    def __post_init__(self) -> None:
        if self.settings.action_server_token is None:
            self.settings = replace(self.settings, action_server_token=secrets.token_urlsafe(32))

    @property
    def rest_url(self) -> str:
        """The REST channel's webhook."""
        return f"http://127.0.0.1:{self.settings.rasa_port}/webhooks/rest/webhook"

    def start(self, log_dir: Path | None = None, only: tuple[str, ...] | None = None) -> None:
        """Start the processes (each in its own process group) without waiting for them.

        ``only`` names the ones to start ("actions", "rasa", "web"; default all three); a name
        started again replaces its entry in :attr:`processes` (``bot.ops.cluster`` restarts a replica so).
        """
        root = config.PROJECT_ROOT
        for name, cmd in self.commands().items():
            if only is not None and name not in only:
                continue
            out = None
            if log_dir is not None:
                log_dir.mkdir(parents=True, exist_ok=True)
                out = open(log_dir / f"{name}.log", "ab")
            self.processes[name] = subprocess.Popen(
                cmd,
                cwd=root,
                env=self.process_env(name),
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                start_new_session=True,
            )

    def process_env(self, name: str) -> dict[str, str]:
        """The environment of service ``name``: :func:`service_env` and :attr:`extra_env`.

        The web server, which never calls the action server, does not get the action server's secret.
        """
        env = {**service_env(self.settings), **self.extra_env}
        if name == "web":
            env.pop("ACTION_SERVER_TOKEN", None)
        return env

    def commands(self) -> dict[str, list[str]]:
        """The command line of each service ("actions", "rasa", "web")."""
        return {
            # bot.ops.action_server is rasa_sdk's server requiring ACTION_SERVER_TOKEN (from the
            # environment); on loopback when only the local Rasa server calls it
            "actions": [
                sys.executable,
                "-m",
                "bot.ops.action_server",
                "--actions",
                "actions",
                "--host",
                action_host(self.settings),
                "--port",
                str(self.settings.action_port),
            ],
            # bot.ops.rasa_server is `python -m rasa` taking the API token from RASA_API_TOKEN, so
            # that no command line shows it
            "rasa": [
                sys.executable,
                "-m",
                "bot.ops.rasa_server",
                "run",
                "--model",
                str(self.model),
                "--endpoints",
                str(self.endpoints or self.settings.endpoints_file.name),
                "--credentials",
                "credentials.yml",
                "--interface",
                self.settings.rasa_host,
                "--port",
                str(self.settings.rasa_port),
            ]
            + self._cors_args(),
            "web": [
                sys.executable,
                "-m",
                "bot.ops.webserver",
                "--port",
                str(self.settings.web_port),
                "--host",
                self.settings.web_host,
                "--rasa-url",
                self.settings.rasa_url,
            ],
        }

    def _cors_args(self) -> list[str]:
        # Browsers talk to bot.webapp.server (same origin); other origins only when configured.
        origins = self.settings.cors_origins
        return ["--cors", *origins] if origins else []

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until every started service answers HTTP.

        Raises:
            RuntimeError: a process exited, or ``timeout`` seconds passed.
        """
        checks = {
            "actions": f"http://127.0.0.1:{self.settings.action_port}/health",
            "rasa": f"http://127.0.0.1:{self.settings.rasa_port}/",
            "web": f"http://127.0.0.1:{self.settings.web_port}/health",
        }

        def exited(name: str) -> str | None:
            proc = self.processes[name]
            return None if proc.poll() is None else f"{name} server exited with code {proc.returncode} while starting"

        wait_until_up({n: u for n, u in checks.items() if n in self.processes}, timeout, exited)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop them all: SIGTERM to each process group, SIGKILL to what is left after ``timeout``."""
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()

    def watch(self) -> int:
        """Wait until a process exits or SIGINT/SIGTERM arrives; then stop both. Returns an exit code."""

        def exited() -> int | None:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    print(f"{name} server exited with code {proc.returncode}; stopping", file=sys.stderr)
                    return proc.returncode or 1
            return None

        try:
            return StopSignals().wait(exited)
        finally:
            print("stopping the action server and the Rasa server …", file=sys.stderr)
            self.stop()
