"""WeChat users and messages for the tests.

Fresh OpenIDs and message ids, and what the tracker store recorded a user saying.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
import uuid

_msg_ids = itertools.count(int(time.time() * 1000))


def new_openid(tag: str = "t") -> str:
    return f"o{tag}_{uuid.uuid4().hex[:20]}"


def new_msg_id() -> int:
    return next(_msg_ids)


def conversation_of(openid: str, settings=None) -> str:
    """The sender id the bot stores for ``openid``: its keyed pseudonym (the bot shares var/'s key)."""
    from bot import config
    from bot.security import senders

    return senders.pseudonym(openid, settings or config.load(), senders.WECHAT_PREFIX)


def user_turns(bot, openid: str) -> list[str]:
    """What the tracker store recorded the user saying (one row per processed message)."""
    with sqlite3.connect(bot["tracker"]) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (conversation_of(openid),)
        ).fetchall()
    return [json.loads(data).get("text") for (data,) in rows]
