"""How many messages the guard refused, per China-time day, channel and reason.

A refused message (over the rate limit, too long, or refused because redaction was unavailable)
never reaches the dialogue, so Rasa's tracker store has no trace of it; the dashboard
(:mod:`bot.webapp.stats`) reads these counts beside it. No text and no sender is kept: only a
count per (day, channel, reason).

A refusal costs no database write: counts gather in the process and are added to the table
(``refusal_count`` in ``APP_DATABASE_URL``) at most every :data:`FLUSH_S` seconds, and when the
process exits. A flood of refused messages therefore costs the database one upsert per key per
interval; a process killed hard loses at most that interval's counts.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, Integer, String, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import appdb
from knowledge import db

log = logging.getLogger(__name__)

FLUSH_S = 10.0
# The dashboard's days are China's (Asia/Shanghai has had no daylight saving time since 1991).
CHINA = timezone(timedelta(hours=8))
REASONS = ("rate_limited", "too_long", "unavailable")
MAX_CHANNEL_CHARS = 32


class RefusalCount(appdb.Base):
    """Refused messages of one day (days since 1970-01-01, China time), channel and reason."""

    __tablename__ = "refusal_count"

    day = Column(Integer, primary_key=True)
    channel = Column(String(MAX_CHANNEL_CHARS), primary_key=True)
    reason = Column(String(32), primary_key=True)
    count = Column(Integer, nullable=False, default=0)


def china_day(moment: float | None = None) -> int:
    """The China-time day number (days since 1970-01-01) of a Unix time (now by default)."""
    when = datetime.fromtimestamp(time.time() if moment is None else moment, CHINA)
    return (when.date() - datetime(1970, 1, 1).date()).days


class RefusalCounter:
    """Counts refusals in the process and adds them to the table every :data:`FLUSH_S` seconds."""

    def __init__(self, url: str | None = None, flush_s: float = FLUSH_S):
        self._url = url
        self._flush_s = flush_s
        self._pending: dict[tuple[int, str, str], int] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def count(self, channel: str, reason: str) -> None:
        """Count one refused message; flush when the interval has passed.

        Raises:
            ValueError: ``reason`` is not one of :data:`REASONS` (a programming error).
        """
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        key = (china_day(), (channel or "other")[:MAX_CHANNEL_CHARS], reason)
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + 1
            due = time.monotonic() - self._last_flush >= self._flush_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the counts gathered so far to the table (kept for the next try if the database fails)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        url = self._url or appdb.app_url()
        try:
            add_counts(pending, url)
        except SQLAlchemyError as exc:
            log.warning("refusal counts not stored yet (%s): kept for the next flush", type(exc).__name__)
            with self._lock:
                for key, n in pending.items():
                    self._pending[key] = self._pending.get(key, 0) + n


def add_counts(counts: dict[tuple[int, str, str], int], url: str) -> None:
    """Add ``{(day, channel, reason): n}`` to the table in one transaction."""
    appdb.ensure_schema(url)
    with db.session_scope(url) as session:
        for (day, channel, reason), n in counts.items():
            key = (RefusalCount.day == day, RefusalCount.channel == channel, RefusalCount.reason == reason)
            done = session.execute(update(RefusalCount).where(*key).values(count=RefusalCount.count + n))
            if not done.rowcount:
                session.add(RefusalCount(day=day, channel=channel, reason=reason, count=n))


def counts_since(first_day: int, url: str | None = None) -> list[tuple[int, str, str, int]]:
    """``(day, channel, reason, count)`` rows from ``first_day`` on."""
    url = url or appdb.app_url()
    appdb.ensure_schema(url)
    stmt = select(RefusalCount.day, RefusalCount.channel, RefusalCount.reason, RefusalCount.count).where(
        RefusalCount.day >= first_day
    )
    with db.session_scope(url) as session:
        return [(int(d), str(c), str(r), int(n)) for d, c, r, n in session.execute(stmt)]


COUNTER = RefusalCounter()
atexit.register(COUNTER.flush)
