"""Review-list groups staff marked 已处理 (handled): which, by whom and when.

Rows live in the application database (``APP_DATABASE_URL``, table ``review_group_handled``),
one per group key (the group's normalised text, :func:`bot.webapp.review.group_key`; unique by its
SHA-256, as a long Chinese key is over what a PostgreSQL index entry may hold). Each keeps
the group's text and its jieba words, so the review list can match later questions to it by the
rule that groups them. The key, the text and each word are passed through
:func:`bot.text.privacy.redact` before they are stored (a key's digest is of the redacted key, so a
key naming a number still finds its row); words that together spell a number are dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import Column, DateTime, Integer, String, Text, delete, select
from sqlalchemy.exc import IntegrityError

from bot.storage import appdb
from bot.text.normalize import normalize_text
from bot.text.privacy import redact
from knowledge import db

MAX_KEY_CHARS = 2000  # the longest message the web server passes on (bot.webapp.server.MAX_MESSAGE_CHARS)
MAX_TEXT_CHARS = 2000
MAX_BY_CHARS = 64
MAX_WORDS = 200
# The fewest digits of a personal number (a mobile's): words with fewer digits in all spell none.
SHORTEST_NUMBER_DIGITS = 11
MAX_RECORDS = 5000


class HandledGroupRow(appdb.Base):
    """A review-list group marked handled, as stored."""

    __tablename__ = "review_group_handled"

    id = Column(Integer, primary_key=True)
    key_sha256 = Column(String(64), nullable=False, unique=True)
    key = Column(Text, nullable=False)
    text = Column(Text, nullable=False, default="")
    words = Column(Text, nullable=False, default="[]")
    handled_by = Column(String(MAX_BY_CHARS), nullable=False)
    handled_at = Column(DateTime(timezone=True), nullable=False, index=True)


@dataclass(frozen=True)
class HandledGroup:
    """A group marked handled; ``handled_at`` is timezone-aware UTC."""

    key: str
    text: str
    words: frozenset[str]
    handled_by: str
    handled_at: datetime


def _aware(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC (SQLite hands back naive datetimes)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _record(row: HandledGroupRow) -> HandledGroup:
    try:
        words = json.loads(row.words or "[]")
    except ValueError:
        words = []
    return HandledGroup(
        key=row.key,
        text=row.text,
        words=frozenset(w for w in words if isinstance(w, str)) if isinstance(words, list) else frozenset(),
        handled_by=row.handled_by,
        handled_at=_aware(row.handled_at),
    )


def mark_handled(key: str, text: str, words: Iterable[str], by: str, url: str | None = None) -> HandledGroup:
    """Mark the group ``key`` handled by ``by`` now (again, if it was); returns the stored record.

    Args:
        key: the group key (at most :data:`MAX_KEY_CHARS` characters; empty for a question of
            punctuation only).
        text: the group's text, as the review list shows it (redacted, cut to :data:`MAX_TEXT_CHARS`).
        words: the group's jieba words (at most :data:`MAX_WORDS` are kept).
        by: the staff member's username.
        url: the application database (default ``APP_DATABASE_URL``).

    Raises:
        ValueError: a key that is not a text or is over-long, or no ``by``.
    """
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
        raise ValueError(f"a group key is a text of at most {MAX_KEY_CHARS} characters")
    if not by:
        raise ValueError("who handled the group is required")
    url = url or appdb.app_url()
    appdb.ensure_schema(url)
    key = redact(key)
    values = {
        "text": redact(text or "")[:MAX_TEXT_CHARS],
        "words": json.dumps(_redacted_words(words)[:MAX_WORDS], ensure_ascii=False),
        "handled_by": str(by)[:MAX_BY_CHARS],
        "handled_at": datetime.now(timezone.utc),
    }
    try:
        return _upsert(url, key, values)
    except IntegrityError:
        # Two staff marked the same group at once and the other's row came first: update it.
        return _upsert(url, key, values)


def _redacted_words(words: Iterable[str]) -> list[str]:
    """``words`` as stored: each redacted; those with digits dropped when together they could spell a number.

    Words are a set, in no order, so that is when their digits add up to a mobile number's 11.
    """
    kept = sorted({redact(str(w)) for w in words})
    digits = [sum(ch.isdigit() for ch in normalize_text(w)) for w in kept]
    if sum(digits) >= SHORTEST_NUMBER_DIGITS:
        kept = [w for w, n in zip(kept, digits, strict=True) if not n]
    return kept


def _upsert(url: str, key: str, values: dict) -> HandledGroup:
    """Insert the row of ``key`` with ``values``, or update it if it exists."""
    with db.session_scope(url) as session:
        digest = _digest(key)
        row = session.execute(select(HandledGroupRow).where(HandledGroupRow.key_sha256 == digest)).scalar_one_or_none()
        if row is None:
            row = HandledGroupRow(key_sha256=digest, key=key, **values)
            session.add(row)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        session.flush()
        return _record(row)


def reopen(key: str, url: str | None = None) -> bool:
    """Undo :func:`mark_handled` for ``key``; False when it was not marked."""
    url = url or appdb.app_url()
    appdb.ensure_schema(url)
    with db.session_scope(url) as session:
        digest = _digest(redact(key))
        result = session.execute(delete(HandledGroupRow).where(HandledGroupRow.key_sha256 == digest))
        return bool(result.rowcount)


def handled_groups(url: str | None = None, limit: int = MAX_RECORDS) -> list[HandledGroup]:
    """The groups marked handled, most recently handled first (at most ``limit``, 1-:data:`MAX_RECORDS`)."""
    url = url or appdb.app_url()
    appdb.ensure_schema(url)
    stmt = (
        select(HandledGroupRow)
        .order_by(HandledGroupRow.handled_at.desc(), HandledGroupRow.id.desc())
        .limit(max(1, min(int(limit), MAX_RECORDS)))
    )
    with db.session_scope(url) as session:
        return [_record(r) for r in session.execute(stmt).scalars()]
