"""Measured speed-ups inside the Rasa server: three applied when Rasa loads our components, one when it serves.

All were found by profiling the Rasa server with py-spy under load (``bench/bench_load.py``,
``bench/bench_floor.py``); none changes a result.

1. Rasa 3.6 checks every action-server response with ``jsonschema.validate(result, schema)``. That
function first validates the (constant) schema against its meta-schema, every call: profiled
with py-spy under load (``bench/bench_load.py``), this meta-schema check was 20 % of the Rasa
server's CPU time. :func:`apply` replaces ``RemoteAction._validate_action_result`` with the same
check through a validator built once: the schema is still checked (once), every response is
still validated, and an invalid response raises the same ``ValidationError`` with Rasa's message.

2. ``LogisticRegressionClassifier`` computes ``X @ coef_.T``; with ``coef_`` in C order scipy
copies the whole transposed matrix (intents × features) for every message, 11 % of the server's
CPU. :func:`apply` stores ``coef_`` in Fortran order once (same numbers, so the transpose needs no
copy): the product then takes about 1/40 of the time, with identical probabilities.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)
_validator = None
RULE_MATCHES_KEPT = 4096


def _response_validator():
    global _validator
    if _validator is None:
        from jsonschema.validators import validator_for
        from rasa.core.actions.action import RemoteAction

        schema = RemoteAction.action_response_format_spec()
        cls = validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    return _validator


_event_validator = None
_valid_events: OrderedDict[tuple, None] = OrderedDict()
VALID_EVENTS_KEPT = 4096
_JSON_SCALARS = (str, int, float, bool, type(None))


def json_key(value: Any) -> tuple:
    """A hashable key for a JSON value that tells apart every value and type JSON can carry.

    Raises:
        TypeError: ``value`` holds something JSON parsing never gives (a tuple, a set, a subclass,
            a key that is not a string), so it is not remembered.
    """
    kind = type(value)
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise TypeError("object keys must be strings")
        return ("object", tuple(sorted((k, json_key(v)) for k, v in value.items())))
    if kind is list:
        return ("array", tuple(json_key(v) for v in value))
    if kind in _JSON_SCALARS:
        return (kind.__name__, value)
    raise TypeError(f"not a JSON value: {kind.__name__}")


def _event_is_valid(event: Any) -> bool:
    global _event_validator
    try:
        key = json_key(event)
    except (TypeError, RecursionError):
        return False
    if key in _valid_events:
        _valid_events.move_to_end(key)
        return True
    if _event_validator is None:
        from jsonschema.validators import validator_for
        from rasa.shared.utils.schemas.events import EVENT_SCHEMA

        _event_validator = validator_for(EVENT_SCHEMA)(EVENT_SCHEMA)
    if not _event_validator.is_valid(event):
        return False
    _valid_events[key] = None
    if len(_valid_events) > VALID_EVENTS_KEPT:
        _valid_events.popitem(last=False)
    return True


def known_valid(result: Any) -> bool:
    """True when ``result`` is certainly valid by Rasa's response schema (False: check it fully).

    The schema: an object whose ``events``, if present, is an array of events (Rasa's
    ``EVENT_SCHEMA``) and whose ``responses``, if present, is an array of objects.
    """
    if type(result) is not dict:
        return False
    responses = result.get("responses", [])
    if type(responses) is not list or not all(type(r) is dict for r in responses):
        return False
    events = result.get("events", [])
    return type(events) is list and all(_event_is_valid(e) for e in events)


def validate_action_result(self: Any, result: dict) -> bool:
    """``RemoteAction._validate_action_result`` with a validator built once (same errors)."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    if known_valid(result):
        return True
    error = best_match(_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def fortran_coefficients(clf: Any) -> None:
    """Store a fitted scikit-learn linear model's ``coef_`` in Fortran order (values unchanged)."""
    import numpy as np

    coef = getattr(clf, "coef_", None)
    if isinstance(coef, np.ndarray) and not coef.flags.f_contiguous:
        clf.coef_ = np.asfortranarray(coef)


def _patch_classifier() -> None:
    from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

    original = LogisticRegressionClassifier.process
    if getattr(original, "_gxga_patched", False):
        return

    # functools.wraps keeps the signature's annotations, which Rasa's graph validation requires.
    @functools.wraps(original)
    def process(self, messages):
        fortran_coefficients(getattr(self, "clf", None))
        return original(self, messages)

    process.__dict__["_gxga_patched"] = True  # a function attribute that the wrapper's type does not declare
    LogisticRegressionClassifier.process = process


def frozen_states(states: list) -> tuple:
    """``states`` (RulePolicy's list of ``{state type: {feature: value}}``) as a hashable key.

    The order of a state's keys does not matter (two equal states give one key). A value that
    cannot be hashed (a list) makes the key unhashable: the caller then computes without remembering.
    """
    return tuple(
        tuple(sorted((kind, tuple(sorted(features.items()))) for kind, features in state.items())) for state in states
    )


def _patch_rule_matching() -> None:
    from rasa.core.policies.rule_policy import RulePolicy

    original = RulePolicy._get_possible_keys
    if getattr(original, "_gxga_patched", False):
        return

    @functools.wraps(original)
    def _get_possible_keys(self, lookup, states):
        try:
            key = (id(lookup), len(lookup), frozen_states(states))
            hash(key)
        except (TypeError, AttributeError):
            return original(self, lookup, states)
        memo = self.__dict__.setdefault("_gxga_rule_matches", OrderedDict())
        entry = memo.get(key)
        if entry is not None and entry[0] is lookup:
            memo.move_to_end(key)
            return set(entry[1])
        found = original(self, lookup, states)
        memo[key] = (lookup, frozenset(found))  # the table itself is kept, so its id is not reused
        if len(memo) > RULE_MATCHES_KEPT:
            memo.popitem(last=False)
        return found

    _get_possible_keys.__dict__["_gxga_patched"] = True
    RulePolicy._get_possible_keys = _get_possible_keys


def _task_value(graph: dict, key: Any, done: dict) -> Any:
    """What dask computes for ``key`` of ``graph``: a task's function over its inputs' values."""
    if key in done:
        return done[key]
    task = graph[key]
    if type(task) is tuple and task and callable(task[0]):
        args = [_task_value(graph, a, done) if _is_key(graph, a) else a for a in task[1:]]
        value = task[0](*args)
    else:
        value = task  # an input: ("name", value), as Rasa's _add_inputs_to_graph makes it
    done[key] = value
    return value


def _is_key(graph: dict, value: Any) -> bool:
    try:
        return value in graph
    except TypeError:  # unhashable: a literal
        return False


def run_graph(self: Any, inputs: dict | None = None, targets: list | None = None) -> dict:
    """``DaskGraphRunner.run`` without dask's scheduler (module docstring, 4)."""
    from rasa.engine.exceptions import GraphRunError

    run_targets = targets if targets else self._graph_schema.target_names
    minimal = self.__dict__.setdefault("_gxga_minimal_schemas", {})
    key = tuple(run_targets)
    if key not in minimal:
        minimal[key] = self._graph_schema.minimal_graph_schema(run_targets)
    graph = self._build_dask_graph(minimal[key])
    if inputs:
        self._add_inputs_to_graph(inputs, graph)
    try:
        done: dict = {}
        return dict(_task_value(graph, target, done) for target in run_targets)
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


def apply_serving() -> None:
    """Install :func:`run_graph` as ``DaskGraphRunner.run`` (the server only; idempotent)."""
    from rasa.engine.runner.dask import DaskGraphRunner

    if not all(hasattr(DaskGraphRunner, name) for name in ("_build_dask_graph", "_add_inputs_to_graph")):
        log.warning("Rasa's DaskGraphRunner has changed; graphs run through dask")
        return
    DaskGraphRunner.run = run_graph


def apply() -> None:
    """Install patches 1–3 (idempotent); logs and leaves Rasa as it is if its code has changed."""
    from rasa.core.actions.action import RemoteAction

    _patch_classifier()
    _patch_rule_matching()
    if getattr(RemoteAction._validate_action_result, "__module__", "") == __name__:
        return
    if not hasattr(RemoteAction, "action_response_format_spec"):
        log.warning("Rasa's RemoteAction has changed; action responses are validated the slow way")
        return
    RemoteAction._validate_action_result = validate_action_result
