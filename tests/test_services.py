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
def test_rasa_command_passes_any_token(token):
    """secrets.token_urlsafe can start with "-"; Rasa must still get it as the token."""
    from rasa.__main__ import create_argument_parser

    settings = dataclasses.replace(config.load(), rasa_api_token=token)
    cmd = Services(settings=settings, model=Path("models/m.tar.gz")).commands()["rasa"]
    assert cmd[1:4] == ["-m", "rasa", "run"]
    args = create_argument_parser().parse_args(cmd[3:])
    assert args.auth_token == token and args.enable_api == (token is not None)
    assert args.port == settings.rasa_port and args.model == "models/m.tar.gz"


def test_deploy_passes_the_token_as_one_argument():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rasa.yaml").read_text(encoding="utf-8")))
    container = next(d for d in docs if d and d.get("kind") == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--auth-token=$(RASA_API_TOKEN)" in container["args"]
