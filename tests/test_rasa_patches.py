"""bot.rasa_patches: Rasa's action-response check, built once, accepts and rejects exactly as before."""

from __future__ import annotations

import jsonschema
import pytest

import bot.nlu  # noqa: F401  (installs the patch as Rasa's model loading does)
from bot import rasa_patches

VALID = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "topic", "value": "居住证", "timestamp": None}],
     "responses": [{"text": "居住证办理条件……", "custom": {"measures": [24]}}]},
    {"events": [{"event": "action", "name": "action_listen"}], "responses": [{"response": "utter_greet"}]},
]
INVALID = [
    [],
    {"events": "slot"},
    {"responses": "text"},
    {"responses": ["text"]},
    {"events": [{"name": "topic"}]},
    {"events": [{"event": "no_such_event"}]},
]


def test_installed_when_rasa_loads_our_components():
    from rasa.core.actions.action import RemoteAction

    assert RemoteAction._validate_action_result is rasa_patches.validate_action_result
    rasa_patches.apply()  # idempotent
    assert RemoteAction._validate_action_result is rasa_patches.validate_action_result


@pytest.mark.parametrize("result", VALID)
def test_valid_responses_pass(result):
    from rasa.core.actions.action import RemoteAction

    jsonschema.validate(result, RemoteAction.action_response_format_spec())
    assert rasa_patches.validate_action_result(None, result) is True


@pytest.mark.parametrize("result", INVALID)
def test_invalid_responses_raise_the_same_error(result):
    from rasa.core.actions.action import RemoteAction

    with pytest.raises(jsonschema.ValidationError) as slow:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as fast:
        rasa_patches.validate_action_result(None, result)
    assert fast.value.message.startswith(slow.value.message)
    assert "Failed to validate Action server response" in fast.value.message
    assert list(fast.value.absolute_path) == list(slow.value.absolute_path)
