"""The command lines bot.services starts, read back by the programs' own argument parsers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bot import config
from bot.services import Services
from tests.conftest import ROOT


@pytest.mark.parametrize("token", ["-starts-with-a-dash", "--looks-like-an-option", "plain_Token-123", None])
def test_rasa_gets_any_token_from_the_environment_not_the_command_line(token):
    """secrets.token_urlsafe can start with "-"; Rasa must still get it as the token, and no
    command line may show it."""
    from rasa.__main__ import create_argument_parser

    from bot.rasa_server import argv_with_token

    settings = dataclasses.replace(config.load(), rasa_api_token=token)
    cmd = Services(settings=settings, model=Path("models/m.tar.gz")).commands()["rasa"]
    assert cmd[1:4] == ["-m", "bot.rasa_server", "run"]
    assert not any("auth-token" in part or (token and token in part) for part in cmd)
    args = create_argument_parser().parse_args(argv_with_token(cmd[3:], {"RASA_API_TOKEN": token or ""}))
    assert args.auth_token == token and args.enable_api == (token is not None)
    assert args.port == settings.rasa_port and args.model == "models/m.tar.gz"


def test_deploy_gives_the_token_through_the_environment():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rasa.yaml").read_text(encoding="utf-8")))
    container = next(d for d in docs if d and d.get("kind") == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-2:] == ["bot.rasa_server", "run"]
    assert not any("auth-token" in a for a in container["args"])
    assert {"secretRef": {"name": "gxga-secrets"}} in container["envFrom"]
