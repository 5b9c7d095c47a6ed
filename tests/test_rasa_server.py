"""The Rasa speed fix keeps Rasa's behaviour: valid action responses pass, invalid ones fail with Rasa's hint."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.rasa.server import compile_action_response_validation


@pytest.fixture
def action() -> RemoteAction:
    compile_action_response_validation()
    return RemoteAction("action_answer_guide", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_patch_is_installed_and_valid_responses_pass(action: RemoteAction) -> None:
    assert RemoteAction._validate_action_result.__module__ == "bot.rasa.server"
    good = {
        "events": [{"event": "slot", "name": "fallback_count", "value": 0}],
        "responses": [{"text": "hi", "custom": {"type": "guide_answer"}}],
    }
    assert action._validate_action_result(good) is True
    assert action._validate_action_result({}) is True


@pytest.mark.parametrize(
    "bad",
    [
        {"events": [{"event": "no_such_event"}]},
        {"events": "not a list"},
        {"responses": ["not an object"]},
        [],
    ],
)
def test_invalid_responses_fail_with_rasas_hint(action: RemoteAction, bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result(bad)  # type: ignore[arg-type]
    assert "Failed to validate Action server response" in caught.value.message
