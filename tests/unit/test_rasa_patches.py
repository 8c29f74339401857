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


def _rule(*states: dict) -> str:
    import json

    return json.dumps(list(states))


LISTEN = {"prev_action": {"action_name": "action_listen"}}
RULES = {
    _rule({**LISTEN, "user": {"intent": "greet"}}): "utter_greet",
    _rule({**LISTEN, "user": {"intent": "ask_residence_permit"}}): "action_answer_measure",
    _rule(
        {**LISTEN, "user": {"intent": "ask_residence_permit"}},
        {"prev_action": {"action_name": "action_answer_measure"}},
    ): "action_listen",
    _rule(
        {**LISTEN, "user": {"intent": "ask_residence_permit", "entities": ("city",)}, "slots": {"topic": (1.0,)}}
    ): "action_answer_measure",
}
STATES = [
    [{}, {**LISTEN, "user": {"intent": "greet"}}],
    [{}, {**LISTEN, "user": {"intent": "ask_residence_permit"}}],
    [
        {},
        {**LISTEN, "user": {"intent": "ask_residence_permit"}},
        {"prev_action": {"action_name": "action_answer_measure"}},
    ],
    [{}, {**LISTEN, "user": {"intent": "ask_residence_permit", "entities": ("city",)}, "slots": {"topic": (1.0,)}}],
    [{}, {**LISTEN, "user": {"intent": "ask_residence_permit", "entities": ["city"]}}],  # unhashable: not remembered
    [{}, {**LISTEN, "user": {"intent": "out_of_scope"}}],
]


@pytest.mark.parametrize("states", STATES)
def test_rule_matching_remembered_gives_rasas_answer(states):
    from rasa.core.policies.rule_policy import RulePolicy

    assert RulePolicy._get_possible_keys._gxga_patched
    original = RulePolicy._get_possible_keys.__wrapped__
    policy = RulePolicy.__new__(RulePolicy)  # only the matching is used, not the trained policy
    lookup = dict(RULES)
    expected = original(policy, lookup, states)
    assert policy._get_possible_keys(lookup, states) == expected  # computed
    assert policy._get_possible_keys(lookup, states) == expected  # remembered
    changed = {k: v for k, v in lookup.items() if k not in expected}  # the table changed: not the old answer
    assert policy._get_possible_keys(changed, states) == original(policy, changed, states)


def test_rule_matching_remembers_a_bounded_number(monkeypatch):
    from rasa.core.policies.rule_policy import RulePolicy

    monkeypatch.setattr(rasa_patches, "RULE_MATCHES_KEPT", 3)
    policy = RulePolicy.__new__(RulePolicy)
    lookup = dict(RULES)
    for states in STATES:
        policy._get_possible_keys(lookup, states)
    assert len(policy._gxga_rule_matches) == 3
    reordered = [{}, {"user": {"intent": "greet"}, **LISTEN}]
    assert rasa_patches.frozen_states(reordered) == rasa_patches.frozen_states(STATES[0])


EVENTS = [
    {"event": "slot", "name": "topic", "value": "居住证", "timestamp": None},
    {"event": "slot", "name": "cited_measures", "value": [22, 23]},
    {"event": "slot", "name": "topic", "value": 1},
    {"event": "slot", "name": "topic", "value": True},
    {"event": "action", "name": "action_listen"},
    {"event": "followup", "name": "action_clarify_question"},
    {"event": "bot", "text": "好的"},
    {"event": "slot", "value": "居住证"},  # no name
    {"event": "slot", "name": "topic", "timestamp": "yesterday"},
    {"event": "no_such_event"},
    {"name": "topic"},
    {"event": 3},
    "slot",
    None,
    ("event", "slot"),
]


@pytest.mark.parametrize("event", EVENTS, ids=range(len(EVENTS)))
def test_an_event_remembered_valid_is_valid_by_rasas_schema(event):
    """Asked twice (computed, then from the memo): known valid exactly where the full check passes."""
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    result = {"events": [event], "responses": [{"text": "……"}]}
    for _ in range(2):
        if rasa_patches.known_valid(result):
            jsonschema.validate(result, schema)
        else:
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(result, schema)


@pytest.mark.parametrize("result", VALID)
def test_valid_responses_are_known_valid(result):
    assert rasa_patches.known_valid(result) is True


@pytest.mark.parametrize("result", INVALID + [{"responses": [{}], "events": None}, {"responses": ({},)}])
def test_invalid_responses_are_never_known_valid(result):
    assert rasa_patches.known_valid(result) is False


@pytest.mark.parametrize(
    "a, b", [(1, 1.0), (1, True), (0, False), ([1], (1,)), ("1", 1), (None, "null"), ({"a": 1}, {"a": 1.0})]
)
def test_json_keys_tell_values_and_types_apart(a, b):
    try:
        assert rasa_patches.json_key(a) != rasa_patches.json_key(b)
    except TypeError:
        pass  # not a JSON value: never remembered


class _Node:
    """A stand-in for Rasa's GraphNode: called with its inputs' (name, value) pairs, returns its own."""

    def __init__(self, name: str, calls: list):
        self.name, self.calls = name, calls

    def __call__(self, *inputs):
        self.calls.append(self.name)
        return self.name, [self.name, *(value for _, value in inputs)]


def _graph(calls: list) -> dict:
    """The shape Rasa's DaskGraphRunner builds: (node, *needed node names) and (input name, value) inputs.

    Rasa runs the minimal graph of its targets, so every node here is needed by ``policy``.
    """
    n = lambda name: _Node(name, calls)  # noqa: E731
    return {
        "__message__": ("__message__", [{"text": "居住证"}]),  # unhashable value, as Rasa's messages
        "tokenizer": (n("tokenizer"), "__message__"),
        "featurizer": (n("featurizer"), "tokenizer"),
        "classifier": (n("classifier"), "featurizer", "tokenizer"),
        "policy": (n("policy"), "classifier"),
    }


@pytest.mark.parametrize("targets", [["policy"], ["policy", "featurizer"], ["policy", "__message__"]])
def test_graph_run_without_dask_gives_dasks_results(targets):
    import dask

    dask_calls, our_calls = [], []
    expected = dict(dask.get(_graph(dask_calls), targets))
    done: dict = {}
    got = dict(rasa_patches._task_value(_graph(our_calls), t, done) for t in targets)
    assert got == expected
    assert sorted(our_calls) == sorted(dask_calls)  # each node once
    assert len(our_calls) == len(set(our_calls))
    assert our_calls.index("tokenizer") < our_calls.index("featurizer") < our_calls.index("classifier")
