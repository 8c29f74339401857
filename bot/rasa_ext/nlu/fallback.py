"""Rasa's FallbackClassifier with a stricter threshold for a few conversation intents.

Rules send ``feedback_negative`` straight to "您的反馈已记录" and ``bot_challenge`` to "我是自动应答
…", so a question that merely resembles them is lost: a follow-up such as "社保要交不" or
"面包车搞得不" ends in 不 like many complaints, and NLU gave it ``feedback_negative`` at 0.24–0.58.
The buttons send ``/feedback_negative`` with confidence 1, and typed thumbs-downs ("没用",
"答非所问") are recognised far more surely, so below ``intent_thresholds`` such an intent becomes
``nlu_fallback`` and the message is decided like any unsure one (a follow-up keeps its topic).
"""

from __future__ import annotations

from typing import Any, Dict, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

THRESHOLDS_KEY = "intent_thresholds"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentFallbackClassifier(FallbackClassifier):
    """``nlu_fallback`` below the common threshold, or below the intent's own threshold."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """FallbackClassifier's settings plus ``intent_thresholds`` (intent → minimum confidence)."""
        return {**FallbackClassifier.get_default_config(), THRESHOLDS_KEY: {}}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Reject thresholds that are not numbers between 0 and 1."""
        thresholds = config.get(THRESHOLDS_KEY) or {}
        if not isinstance(thresholds, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in thresholds.values()
        ):
            raise ValueError(f"IntentFallbackClassifier {THRESHOLDS_KEY} must map intents to numbers in [0, 1]")

    def _should_fallback(self, message: Message) -> bool:
        if super()._should_fallback(message):
            return True
        intent = message.data.get(INTENT) or {}
        floor = (self.component_config.get(THRESHOLDS_KEY) or {}).get(intent.get(INTENT_NAME_KEY))
        return floor is not None and float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) < floor
