"""bot/rasa_ext/parts.py when the NLU cannot parse a part (the working path: tests/e2e/test_decision_e2e.py)."""

from __future__ import annotations

import asyncio

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.rasa_ext import parts


class BrokenNLU:
    """An agent whose NLU fails, as a model being reloaded may."""

    async def parse_message(self, text):
        raise RuntimeError("model not loaded")


def message(text, metadata=None):
    return UserMessage(text, CollectingOutputChannel(), "s", metadata=metadata)


def test_a_part_that_cannot_be_parsed_leaves_the_message_whole(caplog):
    original = message("身份证要几天？另外刻章要多久？", {"menu_topic": "seal"})
    annotated = asyncio.run(parts.annotate(BrokenNLU(), original))
    assert annotated.text == "身份证要几天？另外刻章要多久？" and annotated.metadata == {"menu_topic": "seal"}
    assert "answering it whole" in caplog.text


def test_one_question_buttons_and_no_agent_are_passed_on_untouched():
    for text in ("身份证要几天", "/ask_seal_engraving"):
        assert asyncio.run(parts.annotate(BrokenNLU(), message(text))).metadata is None
    assert asyncio.run(parts.annotate(None, message("身份证要几天？另外刻章要多久？"))).metadata is None
