"""The staff review list: residents' questions worth a look, from the real conversations.

Only residents' conversations count: those that came through the staff channel (the console's
测试问答, the evaluation) are left out. A question is listed when NLU fell back on it, gave it
low confidence, the assistant answered it with the honest 文件未规定 reply, or the resident
answered it with 👎, and when staff marked its answer wrong in the console. Questions are grouped
by similar text (same normalised text, or jieba word sets overlapping by half) and sorted by how
often they were asked; a group staff marked handled is matched to later questions by the same
rule (:func:`similar`).
Reads Rasa's own tracker-store table ``events`` through SQLAlchemy.
"""

from __future__ import annotations

import json
import re
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable, Sequence

from sqlalchemy import text as sql

from bot import config
from bot.security.staff import STAFF_CHANNEL
from bot.text.cjk import is_cjk
from bot.text.normalize import normalize_text
from bot.text.privacy import redact
from knowledge import db

LOW_CONFIDENCE = 0.5
RECENT_EVENTS = 20_000
SIMILARITY = 0.5
# Texts whose key, words and redacted form are remembered (a review list reads up to RECENT_EVENTS
# questions, the same ones each time it is asked for: the redaction, normalisation and jieba of
# each are most of its time).
WORDS_CACHED = 50_000
# The replies that say the notice does not cover what was asked (actions/actions.py's
# utter_not_covered); their name is the bot event's data.custom.reply.
NOT_COVERED_REPLIES = ("not_covered", "not_covered_related")
# China has one time zone (Asia/Shanghai, no daylight saving time since 1991): staff's days.
CHINA = timezone(timedelta(hours=8))
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# Rasa's SQLTrackerStore writes each event with json.dumps, so a not-covered reply's bot event
# holds this text; the pattern only narrows what is read (each row is parsed and checked).
_NOT_COVERED_LIKE = '%"reply": "not_covered%'


@dataclass(eq=False)
class Asked:
    """One question a resident asked that needs review; ``at`` is when (UTC), if known."""

    sender: str
    text: str
    intent: str | None
    confidence: float | None
    reasons: set[str] = field(default_factory=set)
    at: datetime | None = None


@dataclass
class ReviewGroup:
    """Similar questions, with how often they were asked and why they are listed.

    ``key`` is the normalised text of the group's first question and ``words`` its jieba words:
    what :func:`similar` compares. ``times`` are its questions' times, oldest first (those known).
    """

    text: str
    count: int
    reasons: list[str]
    intents: list[str]
    senders: list[str]
    examples: list[str]
    key: str = ""
    words: frozenset[str] = frozenset()
    times: tuple[datetime, ...] = ()

    @property
    def first_at(self) -> datetime | None:
        """When the group's oldest question was asked (None when no time is known)."""
        return self.times[0] if self.times else None

    @property
    def last_at(self) -> datetime | None:
        """When the group's newest question was asked (None when no time is known)."""
        return self.times[-1] if self.times else None

    def asked_after(self, moment: datetime) -> int:
        """How many of the group's questions were asked after ``moment``."""
        return sum(1 for t in self.times if t > moment)


def tracker_url_for(settings: config.Settings) -> str | None:
    """The tracker store to read: PostgreSQL in production, else the SQLite file once Rasa made it."""
    if settings.production or settings.tracker_db.exists():
        return settings.tracker_url
    return None


@lru_cache(maxsize=WORDS_CACHED)
def _user_event(data: str) -> tuple[Any, str, Any, Any, Any] | None:
    """What the list reads of a user event's JSON: (channel, text, intent, confidence, timestamp).

    None for data that is not a JSON object. Remembered by the data itself (the same rows are read
    each time the list is asked for; a row rewritten is new data).
    """
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    parse = event.get("parse_data")
    parsed_intent = parse.get("intent") if isinstance(parse, dict) else None
    if not isinstance(parsed_intent, dict):
        parsed_intent = {}
    text = str(event.get("text") or "").strip()
    return (
        event.get("input_channel"),
        text,
        parsed_intent.get("name"),
        parsed_intent.get("confidence"),
        event.get("timestamp"),
    )


@lru_cache(maxsize=WORDS_CACHED)
def _redacted(text: str) -> str:
    """A stored question as the list shows it: redacted again (remembered, as the list is read again and again)."""
    return redact(text)


def _moment(timestamp: object) -> datetime | None:
    """A tracker event's Unix time as an aware UTC datetime (None if it has none)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(float(timestamp), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _is_not_covered(data: str | None) -> bool:
    """Whether a bot event's JSON carries one of :data:`NOT_COVERED_REPLIES`."""
    try:
        event = json.loads(data or "{}")
    except ValueError:
        return False
    custom = ((event.get("data") or {}) if isinstance(event, dict) else {}).get("custom")
    return isinstance(custom, dict) and custom.get("reply") in NOT_COVERED_REPLIES


def residents_questions(tracker_url: str, low: float = LOW_CONFIDENCE, recent: int = RECENT_EVENTS) -> list[Asked]:
    """Questions from the tracker store that fell back, had low confidence, were not covered or got 👎.

    A question is not covered when a bot event of the same sender between it and the sender's next
    message carries a :data:`NOT_COVERED_REPLIES` reply. Only the newest ``recent`` user messages
    and the not-covered replies no older than them are read.

    Args:
        tracker_url: SQLAlchemy URL of Rasa's tracker store.
        low: confidence under which a question is listed.
        recent: how many of the newest user messages are read (the table grows without end).
    """
    users = sql(
        "SELECT id, sender_id, intent_name, data, timestamp FROM events WHERE type_name = 'user' "
        "ORDER BY id DESC LIMIT :recent"
    )
    bots = sql(
        "SELECT id, sender_id, data FROM events WHERE type_name = 'bot' AND id > :oldest AND data LIKE :pattern "
        "ORDER BY id DESC LIMIT :recent"
    )
    with db.get_engine(tracker_url).connect() as conn:
        user_rows = conn.execute(users, {"recent": recent}).all()
        oldest = min((r[0] for r in user_rows), default=None)
        bot_rows = (
            conn.execute(bots, {"oldest": oldest, "pattern": _NOT_COVERED_LIKE, "recent": recent}).all()
            if oldest is not None
            else []
        )
    # (sender, id, is_user, …): each sender's events in the order they happened
    timeline = sorted(
        [(r[1], r[0], True, r[2], r[3], r[4]) for r in user_rows]
        + [(r[1], r[0], False, None, r[2], None) for r in bot_rows if _is_not_covered(r[2])]
    )
    listed: list[Asked] = []
    last: Asked | None = None  # the sender's last question (👎 refers to it)
    turn: Asked | None = None  # the question the bot is answering now (None after a /payload or 👎)
    for sender, _id, is_user, intent, data, timestamp in timeline:
        if not is_user:
            if turn is not None and turn.sender == sender:
                turn.reasons.add("not_covered")
                if turn not in listed:
                    listed.append(turn)
            continue
        turn = None
        read = _user_event(data or "{}")
        # The console's and the evaluation's own questions (the authenticated staff channel) are
        # not residents'; a sender name proves nothing, anyone can choose one.
        if read is None or read[0] == STAFF_CHANNEL:
            continue
        _channel, text, parsed_name, confidence, event_time = read
        intent = parsed_name or intent
        if intent == "feedback_negative" and last is not None and last.sender == sender:
            last.reasons.add("thumbs_down")
            if last not in listed:
                listed.append(last)
            continue
        if not text or text.startswith("/"):
            continue
        asked = Asked(
            sender=sender,
            text=_redacted(text),
            intent=intent,
            confidence=confidence,
            at=_moment(timestamp) or _moment(event_time),
        )
        if intent == "nlu_fallback":
            asked.reasons.add("fallback")
        elif isinstance(confidence, (int, float)) and float(confidence) < low:
            asked.reasons.add("low_confidence")
        if asked.reasons:
            listed.append(asked)
        last = turn = asked
    return listed


def china_date(moment: datetime) -> date:
    """The day in China of an aware datetime (naive ones are taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(CHINA).date()


def filter_questions(
    items: Iterable[Asked], reason: str | None = None, since: date | None = None, until: date | None = None
) -> list[Asked]:
    """The questions listed for ``reason`` and asked from ``since`` to ``until`` (China days, inclusive).

    A question without a time is kept only when no date bound is given.
    """
    kept = []
    for item in items:
        if reason is not None and reason not in item.reasons:
            continue
        if since is not None or until is not None:
            if item.at is None:
                continue
            day = china_date(item.at)
            if (since is not None and day < since) or (until is not None and day > until):
                continue
        kept.append(item)
    return kept


@lru_cache(maxsize=WORDS_CACHED)
def group_key(text: str) -> str:
    """The normalised text by which questions count as the same (punctuation and spaces removed)."""
    return _PUNCT.sub("", normalize_text(text or ""))


@lru_cache(maxsize=WORDS_CACHED)
def group_words(key: str) -> frozenset[str]:
    """The jieba words of a group key that :func:`similar` compares (remembered: jieba is most of a list's time)."""
    import jieba

    return frozenset(w for w in jieba.lcut(key) if len(w.strip()) > 1 or is_cjk(w))


def overlap(words: frozenset[str], other: frozenset[str]) -> float:
    """How much two word sets overlap: shared words over all words (0 for two empty sets)."""
    return len(words & other) / max(1, len(words | other))


def similar(
    key: str, words: frozenset[str], other_key: str, other_words: frozenset[str], threshold: float = SIMILARITY
) -> bool:
    """The grouping rule: the same key, or word sets overlapping by at least ``threshold``."""
    return key == other_key or overlap(words, other_words) >= threshold


def group_questions(items: list[Asked], threshold: float = SIMILARITY) -> list[ReviewGroup]:
    """Group similar questions; most asked first.

    Each question joins the first group (in the order the groups were made) whose first question
    is :func:`similar` to it, else makes a new one. Near-linear: the groups' words are kept as
    inverted lists (per word, the groups whose first question has it), so one question's overlap
    with every group is counted at once (numpy's ``bincount`` over its words' lists) instead of
    comparing it with each group in turn.
    """
    import numpy as np

    groups: list[tuple[str, frozenset[str], list[Asked]]] = []
    postings: dict[str, array] = {}
    sizes = array("i")
    joined: dict[str, int] = {}  # key -> the group its questions joined (the same words join the same group)
    for item in items:
        key = group_key(item.text)
        if key in joined:
            groups[joined[key]][2].append(item)
            continue
        words = group_words(key)
        # a key not met before is no group's key: only the overlap of words can join it to one
        found: int | None = None
        if threshold <= 0 and groups:
            found = 0  # everything is similar at a threshold of 0
        elif words and groups:
            lists = [np.frombuffer(postings[w], dtype=np.int32) for w in words if w in postings]
            if lists:
                shared = np.bincount(np.concatenate(lists), minlength=len(groups))
                union = len(words) + np.frombuffer(sizes, dtype=np.int32) - shared
                hits = np.flatnonzero(shared / union >= threshold)  # as overlap() divides
                del lists, union  # no view of the arrays stays: they grow below
                if hits.size:
                    found = int(hits[0])
        if found is not None:
            groups[found][2].append(item)
            joined[key] = found
            continue
        joined[key] = len(groups)
        for word in words:
            postings.setdefault(word, array("i")).append(len(groups))
        sizes.append(len(words))
        groups.append((key, words, [item]))
    result = []
    for key, words, members in groups:
        result.append(
            ReviewGroup(
                text=members[0].text,
                count=len(members),
                reasons=sorted({r for m in members for r in m.reasons}),
                intents=sorted({m.intent for m in members if m.intent}),
                senders=list(dict.fromkeys(m.sender for m in members)),
                examples=list(dict.fromkeys(m.text for m in members))[:10],
                key=key,
                words=words,
                times=tuple(sorted(m.at for m in members if m.at is not None)),
            )
        )
    result.sort(key=lambda g: (-g.count, g.text))
    return result


class Matcher:
    """Finds, for a group, the best of some earlier ``(key, words)`` by :func:`similar`.

    An index by key and by word keeps it to the candidates that share a word with the group.

    Args:
        candidates: the ``(key, words)`` to match against; among equals the first wins.
    """

    def __init__(self, candidates: Sequence[tuple[str, frozenset[str]]]):
        self._candidates = list(candidates)
        self._by_key: dict[str, int] = {}
        self._by_word: dict[str, list[int]] = {}
        for i, (key, words) in enumerate(self._candidates):
            self._by_key.setdefault(key, i)
            for word in words:
                self._by_word.setdefault(word, []).append(i)

    def best(self, key: str, words: frozenset[str]) -> int | None:
        """The index of the candidate with the same key, else of the one overlapping most (at least half)."""
        if key in self._by_key:
            return self._by_key[key]
        sharing = sorted({i for w in words for i in self._by_word.get(w, ())})
        best: tuple[float, int] | None = None
        for i in sharing:
            score = overlap(words, self._candidates[i][1])
            if score >= SIMILARITY and (best is None or score > best[0]):
                best = (score, i)
        return best[1] if best else None


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
