"""Two or three questions in one message, and corrections, parsed part by part before the dialogue.

Every channel hands its :class:`~rasa.core.channels.channel.UserMessage` through
:func:`annotating` (REST, web and staff in ``channels/rest.py``, WeChat in ``channels/wechat/channel.py``).
When :func:`bot.text.split.split` finds several questions or a correction, each part is parsed by
the server's own NLU (:meth:`rasa.core.agent.Agent.parse_message`, Rasa's public API) and the
parses travel in the message's metadata under :data:`PARTS_KEY`; the answering action decides
each part and replies to each in order (``actions/actions.py``). A message that is one question
is passed on untouched. A failure to parse a part is logged and the message is answered whole.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from bot.text.split import split

log = logging.getLogger(__name__)

# the metadata key the answering action reads (actions/actions.py PARTS_KEY; a test checks they agree)
PARTS_KEY = "parts"
RANKING_LENGTH = 10


async def part_metadata(agent: Any, text: str) -> dict:
    """``{PARTS_KEY: {"corrected": bool, "parts": [parse, …]}}`` for a split message, else ``{}``."""
    found = split(text)
    if not found.changed or text.startswith("/"):
        return {}
    parsed = []
    for part in found.parts:
        data = await agent.parse_message(part)
        parsed.append(
            {
                "text": data.get("text") or part,
                "intent": data.get("intent") or {},
                "intent_ranking": list(data.get("intent_ranking") or [])[:RANKING_LENGTH],
            }
        )
    return {PARTS_KEY: {"corrected": found.corrected, "parts": parsed}}


async def annotate(agent: Any, message: UserMessage) -> UserMessage:
    """``message`` with the parses of its parts in its metadata (unchanged when it is one question)."""
    if agent is None or not isinstance(message.text, str):
        return message
    try:
        extra = await part_metadata(agent, message.text)
    except Exception:  # noqa: BLE001 - the message is still answered, as one question
        log.exception("could not parse the parts of a message; answering it whole")
        return message
    if extra:
        message.metadata = {**(message.metadata or {}), **extra}
    return message


def annotating(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], agent: Any
) -> Callable[[UserMessage], Awaitable[Any]]:
    """``on_new_message`` that annotates each message first (see :func:`annotate`)."""

    async def handle(message: UserMessage) -> Any:
        return await on_new_message(await annotate(agent, message))

    return handle
