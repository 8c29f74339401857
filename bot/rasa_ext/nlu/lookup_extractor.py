"""RegexEntityExtractor that uses every lookup table and regex of the training data.

Rasa's own extractor only keeps the lookup tables whose name is an entity annotated in some
training example. Our entities (city, document, pickup_method, area, measure_number) come from
lookup tables alone — annotating them in 2,000 examples would only repeat the tables — so this
subclass keeps them all. Chinese has no word boundaries, so configure it with
``use_word_boundaries: false``.
"""

from __future__ import annotations

import rasa.nlu.utils.pattern_utils as pattern_utils
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.shared.nlu.training_data.training_data import TrainingData


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class LookupEntityExtractor(RegexEntityExtractor):
    """Extract entities by every lookup table and regex in the training data."""

    def train(self, training_data: TrainingData) -> Resource:
        """Compile the patterns of all lookup tables and regexes; fail if there are none."""
        self.patterns = pattern_utils.extract_patterns(
            training_data,
            use_lookup_tables=self._config["use_lookup_tables"],
            use_regexes=self._config["use_regexes"],
            use_only_entities=False,
            use_word_boundaries=self._config["use_word_boundaries"],
        )
        if not self.patterns:
            raise ValueError("LookupEntityExtractor: the training data has no lookup tables or regexes")
        self.persist()
        return self._resource
