"""What the reply says where: the agency to ask."""

from __future__ import annotations

from actions.decision.kinds import Decision
from knowledge.vocabulary import Agency, Vocabulary


def where_to_ask(vocabulary: Vocabulary, decision: Decision) -> str:
    """Where the resident should ask: the agency of an object named, else the default."""
    obj = decision.support.unknown_object if decision.support else None
    if obj is not None and obj.agency:
        agency: Agency | None = next((a for a in vocabulary.agencies if a.name == obj.agency), None)
        if agency is not None:
            return agency.where
    return vocabulary.default_where
