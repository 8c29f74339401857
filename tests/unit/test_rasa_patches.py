"""bot.rasa_ext.rasa_patches: Rasa's action-response check, built once, accepts and rejects exactly as before."""

from __future__ import annotations

import jsonschema
import pytest

import bot.rasa_ext.nlu  # noqa: F401  (installs the patch as Rasa's model loading does)
from bot.rasa_ext import rasa_patches

VALID = [
    {},
    {"events": [], "responses": []},
    {
        "events": [{"event": "slot", "name": "topic", "value": "居住证", "timestamp": None}],
        "responses": [{"text": "居住证办理条件……", "custom": {"measures": [24]}}],
    },
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


def test_classifier_patch_keeps_the_probabilities():
    import numpy as np
    import scipy.sparse as sp
    from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegressionClassifier.process._gxga_patched
    import typing

    assert typing.get_type_hints(LogisticRegressionClassifier.process)["return"] is not None
    rng = np.random.default_rng(7)
    X = sp.random(60, 300, density=0.05, format="csr", random_state=7)
    y = rng.integers(0, 5, 60)
    clf = LogisticRegression(max_iter=200).fit(X, y)
    before = clf.predict_proba(X)
    rasa_patches.fortran_coefficients(clf)
    assert clf.coef_.flags.f_contiguous and clf.coef_.T.flags.c_contiguous
    assert np.array_equal(clf.predict_proba(X), before)
    rasa_patches.fortran_coefficients(None)  # nothing fitted yet: left alone


def test_the_pipeline_still_passes_rasas_graph_validation():
    """What `rasa train` checks first (it needs the patched methods' type annotations)."""
    import rasa.engine.validation
    from rasa.engine.recipes.recipe import Recipe
    from rasa.shared.data import TrainingType
    from rasa.shared.utils.io import read_yaml_file

    from bot.config import PROJECT_ROOT

    config = read_yaml_file(PROJECT_ROOT / "config.yml")
    recipe = Recipe.recipe_for_name(config.get("recipe"))
    model_configuration = recipe.graph_config_for_recipe(config, {}, training_type=TrainingType.BOTH)
    rasa.engine.validation.validate(model_configuration)
