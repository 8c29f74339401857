"""A Rasa NLU component that normalises message text before tokenisation.

It runs first in ``config.yml``'s pipeline, on training examples and on every incoming
message alike, so the model never sees the difference between 居住證 and 居住证, or between
full-width and half-width characters. The rules are in :mod:`bot.text.normalize`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_ext.nlu.rewriting import MessageRewriter
from bot.text.english import glossary
from bot.text.normalize import MAX_CHARS, normalize_text


def _without_placeholders(text: str) -> str:
    """``text`` with the privacy placeholders (bot/text/privacy.py) blanked out, for NLU only.

    The stored text keeps them, but "[身份证号]" must not make a 居住证 question look like an
    ID-card one.
    """
    from bot.text.privacy import load_placeholders

    blanked = text
    for placeholder in load_placeholders().values():
        blanked = blanked.replace(placeholder, " ")
    blanked = " ".join(blanked.split())
    return blanked or text


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class TextNormalizer(MessageRewriter, GraphComponent):
    """Rewrites ``message.text`` in place with :func:`bot.text.normalize.normalize_text`.

    That is t2s, NFKC, control characters, repeats and length; privacy placeholders are also
    blanked.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """``max_chars``: longer messages are cut before NLU."""
        return {"max_chars": MAX_CHARS}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._max_chars = int(config.get("max_chars", MAX_CHARS))
        glossary()  # a malformed knowledge/english.yml stops training and start-up, not a message

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TextNormalizer":
        """Create the component (it has nothing to train or persist)."""
        return cls(config)

    def _rewrite(self, message: Message) -> None:
        # training examples too, so traditional examples train the simplified form
        text = message.get(TEXT)
        if isinstance(text, str):
            text = normalize_text(text, self._max_chars) or text[: self._max_chars]
            message.set(TEXT, _without_placeholders(text))

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Reject a non-positive ``max_chars``."""
        value = config.get("max_chars", MAX_CHARS)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"TextNormalizer max_chars must be a positive integer, got {value!r}")

    @classmethod
    def load(cls, config, model_storage, resource, execution_context, **kwargs: Any) -> Optional["TextNormalizer"]:
        """Load the component (same as create: nothing is persisted)."""
        return cls(config)
