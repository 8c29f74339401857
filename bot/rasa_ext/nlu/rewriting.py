"""What the project's text-rewriting NLU components share."""

from __future__ import annotations

from typing import List

from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


class MessageRewriter:
    """Mixin for a component that rewrites ``message.text`` in place.

    It rewrites the training examples and incoming messages alike, so the model is trained on what
    it will see.
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
            self._rewrite(message)
        return messages
