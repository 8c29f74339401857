"""Actions for ``tests/e2e/test_faults_logs.py``: the project's actions, each one failing.

Each fails with every message of the conversation in its exception (as a real failure may quote its input).

Loaded by the action server with ``--actions tests.failing_actions``; Rasa SDK registers every
subclass of ``Action``, the subclasses here after the project's, so these replace them by name.
"""

from __future__ import annotations

from actions import actions as project


class ForcedFailure(RuntimeError):
    """What every action here raises."""


def _failing(cls: type) -> type:
    async def run(self, dispatcher, tracker, domain):
        said = [event.get("text") for event in tracker.events if event.get("event") == "user"]
        raise ForcedFailure(f"forced failure of {self.name()} on {said!r}")

    return type(f"Failing{cls.__name__}", (cls,), {"run": run, "__module__": __name__})


FAILING = [
    _failing(cls)
    for cls in (
        project.ActionAnswerMeasure,
        project.ActionAnswerFollowup,
        project.ActionClarifyQuestion,
        project.ActionShowMeasureText,
        project.ActionRecordFeedback,
    )
]
