"""Whether a measure answers the question, and what to reply if not (message → … → decision → reply).

The modules in the order a message meets them:

* :mod:`.reading`: the asked part, aspects, objects, topics, a place outside Guangxi (:class:`Analyser`);
  :mod:`.words` and :mod:`.question` are its helpers and dataclasses.
* :mod:`.rules`: which intent the message continues or is steered to in the conversation; a proposal.
* :mod:`.support`: whether measures' words say what is asked (one feature among others).
* :mod:`.features`, :mod:`.model`: the learned aspect and pair models (NumPy, from a checked bundle).
* :mod:`.decide`: the decision itself (:class:`Kind`); :mod:`.reply`: where to ask.
* :mod:`.settings`: its numbers, from ``knowledge/decision.yml``.
"""

from actions.decision.decide import Learned, decide, jieba_idf
from actions.decision.kinds import KINDS, Decision, Kind, Scores
from actions.decision.question import ObjectMention, Question, Support
from actions.decision.reading import Analyser, asked_part, is_noisy
from actions.decision.reply import where_to_ask
from actions.decision.rules import Context, topic_overview
from actions.decision.support import body_text, measure_text, support

__all__ = [
    "KINDS",
    "Analyser",
    "Context",
    "Decision",
    "Kind",
    "Learned",
    "ObjectMention",
    "Question",
    "Scores",
    "Support",
    "asked_part",
    "body_text",
    "decide",
    "is_noisy",
    "jieba_idf",
    "measure_text",
    "support",
    "topic_overview",
    "where_to_ask",
]
