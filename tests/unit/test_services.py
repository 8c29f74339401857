"""The command lines bot.ops.services starts, read back by the programs' own argument parsers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bot import config
from bot.ops.services import Services
from tests.support.paths import ROOT


@pytest.mark.parametrize("token", ["-starts-with-a-dash", "--looks-like-an-option", "plain_Token-123", None])
def test_rasa_gets_any_token_from_the_environment_not_the_command_line(token):
    """secrets.token_urlsafe can start with "-"; Rasa must still get it as the token.

    And no command line may show it.
    """
    from rasa.__main__ import create_argument_parser

    from bot.ops.rasa_server import argv_with_token

    settings = dataclasses.replace(config.load(), rasa_api_token=token)
    cmd = Services(settings=settings, model=Path("models/m.tar.gz")).commands()["rasa"]
    assert cmd[1:4] == ["-m", "bot.ops.rasa_server", "run"]
    assert not any("auth-token" in part or (token and token in part) for part in cmd)
    args = create_argument_parser().parse_args(argv_with_token(cmd[3:], {"RASA_API_TOKEN": token or ""}))
    assert args.auth_token == token and args.enable_api == (token is not None)
    assert args.port == settings.rasa_port and args.model == "models/m.tar.gz"


def test_deploy_gives_the_token_through_the_environment():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rasa.yaml").read_text(encoding="utf-8")))
    container = next(d for d in docs if d and d.get("kind") == "Deployment")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["command"][-2:] == ["bot.ops.rasa_server", "run"]
    assert not any("auth-token" in a for a in container["args"])
    assert {"secretRef": {"name": "gxga-secrets"}} in container["envFrom"]


# --- the action server's secret and address ----------------------------------------------------


def _embedded(**changes) -> config.Settings:
    return dataclasses.replace(config.load(), bot_env="embedded", action_endpoint=None, **changes)


def test_the_action_server_gets_its_secret_through_the_environment_only():
    services = Services(settings=_embedded(action_server_token=None), model=Path("models/m.tar.gz"))
    secret = services.settings.action_server_token
    assert secret and len(secret) >= 32  # made for this run when none is configured
    actions = services.commands()["actions"]
    assert actions[1:3] == ["-m", "bot.ops.action_server"] and actions[actions.index("--port") + 1] == "5055"
    assert not any(secret in part for cmd in services.commands().values() for part in cmd)
    # Rasa expands ${ACTION_SERVER_TOKEN} in the endpoints file; the action server checks it
    assert services.process_env("actions")["ACTION_SERVER_TOKEN"] == secret
    assert services.process_env("rasa")["ACTION_SERVER_TOKEN"] == secret
    assert "ACTION_SERVER_TOKEN" not in services.process_env("web")
    configured = Services(settings=_embedded(action_server_token="x" * 40), model=Path("m"))
    assert configured.settings.action_server_token == "x" * 40


def test_rasa_reads_the_secret_into_the_action_endpoint(monkeypatch):
    from rasa.core.utils import read_endpoints_from_path

    services = Services(settings=_embedded(action_server_token=None), model=Path("m"))
    for name, value in services.process_env("rasa").items():
        monkeypatch.setenv(name, value)
    endpoints = read_endpoints_from_path(ROOT / "endpoints.yml")
    assert endpoints.action.token == services.settings.action_server_token
    assert endpoints.action.combine_parameters() == {"token": services.settings.action_server_token}
    # unset, Rasa refuses to start rather than call the action server without it
    monkeypatch.delenv("ACTION_SERVER_TOKEN")
    from rasa.shared.exceptions import RasaException

    with pytest.raises(RasaException, match="ACTION_SERVER_TOKEN"):
        read_endpoints_from_path(ROOT / "endpoints.yml")


@pytest.mark.parametrize(
    "bot_env, endpoint, host",
    [
        ("embedded", None, "127.0.0.1"),  # make run: only the local Rasa server calls it
        ("production", None, "127.0.0.1"),  # make cluster: each replica's own, on this machine
        ("production", "http://actions.internal:5055/webhook", "0.0.0.0"),  # reached from other hosts
    ],
)
def test_the_action_server_listens_on_loopback_unless_called_from_elsewhere(bot_env, endpoint, host):
    settings = dataclasses.replace(config.load(), bot_env=bot_env, action_endpoint=endpoint)
    cmd = Services(settings=settings, model=Path("m")).commands()["actions"]
    assert cmd[cmd.index("--host") + 1] == host


def test_production_requires_the_action_server_secret_and_short_ones_are_refused(monkeypatch):
    settings = dataclasses.replace(config.load(), bot_env="production", action_server_token=None)
    assert any("ACTION_SERVER_TOKEN" in p for p in settings.production_problems())
    settings = dataclasses.replace(settings, action_server_token="y" * 32)
    assert not any("ACTION_SERVER_TOKEN" in p for p in settings.production_problems())
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "short")
    with pytest.raises(config.ConfigError, match="ACTION_SERVER_TOKEN is too short"):
        config.load()
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "z" * 24)
    loaded = config.load()
    assert loaded.action_server_token == "z" * 24 and "z" * 24 not in repr(loaded)


def test_deploy_starts_the_closed_action_server():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "actions.yaml").read_text(encoding="utf-8")))
    container = next(d for d in docs if d and d.get("kind") == "Deployment")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["command"][1:3] == ["-m", "bot.ops.action_server"]
    assert not any("token" in part.lower() for part in container["command"] + container.get("args", []))
    assert {"secretRef": {"name": "gxga-secrets"}} in container["envFrom"]


def test_rasa_launcher_limits_requests_unless_told_otherwise():
    from bot.ops import rasa_server

    assert rasa_server.sanic_limits({}) == {"SANIC_REQUEST_MAX_SIZE": str(1024 * 1024), "SANIC_REQUEST_TIMEOUT": "10"}
    assert rasa_server.sanic_limits({"SANIC_REQUEST_MAX_SIZE": "2000000"}) == {"SANIC_REQUEST_TIMEOUT": "10"}
    assert rasa_server.argv_with_limits(["run", "--port", "5005"])[-1] == "--response-timeout=120"
    assert rasa_server.argv_with_limits(["run", "--response-timeout", "30"]) == ["run", "--response-timeout", "30"]
    assert rasa_server.argv_with_limits(["shell"]) == ["shell"]


def test_sanic_reads_the_limits_from_the_environment(monkeypatch):
    """Sanic 21.12 (the venv's) fills its config from SANIC_* when Rasa creates its app."""
    from sanic.config import Config

    from bot.ops.rasa_server import sanic_limits

    for name, value in sanic_limits({}).items():
        monkeypatch.setenv(name, value)
    config_now = Config()
    assert config_now.REQUEST_MAX_SIZE == 1024 * 1024 and config_now.REQUEST_TIMEOUT == 10
