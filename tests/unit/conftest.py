"""Fixtures of the unit tests: the shipped notice, and the Rasa SDK dispatcher, tracker and domain."""

from __future__ import annotations

import pytest
import yaml

from tests.support.paths import ROOT, SOURCE


@pytest.fixture(scope="session")
def source_text() -> str:
    """The notice as shipped in knowledge/source/."""
    return SOURCE.read_text(encoding="utf-8")


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
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9} if intent else {},
            "entities": entities or [],
        }
        return Tracker(
            sender_id="test-user",
            slots=slots or {},
            latest_message=latest,
            events=[],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    return _make


@pytest.fixture(autouse=True)
def rules_only_decision(monkeypatch):
    """Unit tests run before `make train` (CI): the actions decide with the word rules alone.

    The learned decision is tested on fixed bundles here (test_decision_model.py) and on the
    trained one in tests/integration and tests/e2e.
    """
    from actions import loaded

    monkeypatch.setattr(loaded, "decision_model_path", lambda: None)
