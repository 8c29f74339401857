"""What the project's text-rewriting NLU components share."""

from __future__ import annotations

from typing import List

from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


class MessageRewriter:
    """Mixin for a component that rewrites ``message.text`` in place.

    It rewrites the training examples and incoming messages alike, so the model is trained on what
    it will see. A button payload (``/intent{...}``) is left exactly as sent: Rasa's
    RegexMessageHandler reads the intent name from the same text after the pipeline, and a
    rewritten name ("/ask_enforcement_case_进度_query") is no intent at all.
    """

    def _rewrite(self, message: Message) -> None:
        raise NotImplementedError

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Rewrite every training example."""
        for example in training_data.training_examples:
            self._rewrite(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Rewrite incoming messages."""
        for message in messages:
            if not is_payload(message):
                self._rewrite(message)
        return messages


def is_payload(message: Message) -> bool:
    """Whether ``message`` is an intent payload, which Rasa handles without NLU."""
    text = message.get(TEXT)
    return isinstance(text, str) and text.startswith(INTENT_MESSAGE_PREFIX)
