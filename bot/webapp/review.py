"""The staff review list: residents' questions worth a look, from the real conversations.

Only residents' conversations count: those that came through the staff channel (the console's
测试问答, the evaluation) are left out. A question is listed when NLU fell back on it, gave it
low confidence, or the resident answered it with 👎, and when staff marked its answer wrong in
the console. Questions are grouped by similar text (same normalised text, or jieba word sets
overlapping by half) and sorted by how often they were asked.
Reads Rasa's own tracker-store table ``events`` through SQLAlchemy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from sqlalchemy import text as sql

from bot import config
from bot.security.staff import STAFF_CHANNEL
from bot.text.cjk import is_cjk
from bot.text.normalize import normalize_text
from bot.text.privacy import redact
from knowledge import db

LOW_CONFIDENCE = 0.5
RECENT_EVENTS = 20_000
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass
class Asked:
    """One question a resident asked that needs review."""

    sender: str
    text: str
    intent: str | None
    confidence: float | None
    reasons: set[str] = field(default_factory=set)


@dataclass
class ReviewGroup:
    """Similar questions, with how often they were asked and why they are listed."""

    text: str
    count: int
    reasons: list[str]
    intents: list[str]
    senders: list[str]
    examples: list[str]


def tracker_url_for(settings: config.Settings) -> str | None:
    """The tracker store to read: PostgreSQL in production, else the SQLite file once Rasa made it."""
    if settings.production or settings.tracker_db.exists():
        return settings.tracker_url
    return None


def residents_questions(tracker_url: str, low: float = LOW_CONFIDENCE, recent: int = RECENT_EVENTS) -> list[Asked]:
    """Questions from the tracker store that fell back, had low confidence or got 👎.

    Args:
        tracker_url: SQLAlchemy URL of Rasa's tracker store.
        low: confidence under which a question is listed.
        recent: how many of the newest user messages are read (the table grows without end).
    """
    stmt = sql(
        "SELECT id, sender_id, intent_name, data FROM events WHERE type_name = 'user' ORDER BY id DESC LIMIT :recent"
    )
    with db.get_engine(tracker_url).connect() as conn:
        rows = sorted(conn.execute(stmt, {"recent": recent}).all(), key=lambda r: (r[1], r[0]))
    listed: list[Asked] = []
    last: Asked | None = None
    for _id, sender, intent, data in rows:
        try:
            event = json.loads(data or "{}")
        except ValueError:
            continue
        # The console's and the evaluation's own questions (the authenticated staff channel) are
        # not residents'; a sender name proves nothing, anyone can choose one.
        if event.get("input_channel") == STAFF_CHANNEL:
            continue
        text = (event.get("text") or "").strip()
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name") or intent
        confidence = (parse.get("intent") or {}).get("confidence")
        if intent == "feedback_negative" and last is not None and last.sender == sender:
            last.reasons.add("thumbs_down")
            if last not in listed:
                listed.append(last)
            continue
        if not text or text.startswith("/"):
            continue
        asked = Asked(sender=sender, text=redact(text), intent=intent, confidence=confidence)
        if intent == "nlu_fallback":
            asked.reasons.add("fallback")
        elif confidence is not None and float(confidence) < low:
            asked.reasons.add("low_confidence")
        if asked.reasons:
            listed.append(asked)
        last = asked
    return listed


def _words(text: str) -> set[str]:
    import jieba

    return {w for w in jieba.lcut(text) if len(w.strip()) > 1 or is_cjk(w)}


def group_questions(items: list[Asked], threshold: float = 0.5) -> list[ReviewGroup]:
    """Group similar questions; most asked first."""
    groups: list[tuple[str, set[str], list[Asked]]] = []
    for item in items:
        key = _PUNCT.sub("", normalize_text(item.text))
        words = _words(key)
        for gkey, gwords, members in groups:
            overlap = len(words & gwords) / max(1, len(words | gwords))
            if key == gkey or overlap >= threshold:
                members.append(item)
                break
        else:
            groups.append((key, words, [item]))
    result = [
        ReviewGroup(
            text=members[0].text,
            count=len(members),
            reasons=sorted({r for m in members for r in m.reasons}),
            intents=sorted({m.intent for m in members if m.intent}),
            senders=list(dict.fromkeys(m.sender for m in members)),
            examples=list(dict.fromkeys(m.text for m in members))[:10],
        )
        for _key, _words_, members in groups
    ]
    result.sort(key=lambda g: (-g.count, g.text))
    return result


def conversation(tracker_url: str, sender: str, limit: int = 200) -> list[dict]:
    """The user and bot turns of one conversation, oldest first (texts redacted)."""
    stmt = sql(
        "SELECT type_name, data FROM events WHERE sender_id = :sender AND type_name IN ('user', 'bot') "
        "ORDER BY id LIMIT :limit"
    )
    with db.get_engine(tracker_url).connect() as conn:
        rows = conn.execute(stmt, {"sender": sender, "limit": limit}).all()
    turns = []
    for type_name, data in rows:
        try:
            event = json.loads(data or "{}")
        except ValueError:
            continue
        if event.get("text"):
            turns.append({"from": "resident" if type_name == "user" else "bot", "text": redact(event["text"])})
    return turns
