"""The dashboard's summary of Rasa's tracker store: one row per resident message, kept up to date.

Rasa's ``events`` table holds every event as JSON text, so counting a period straight from it
means parsing every message and reply of the period on each request: over 3 s for 30 days of a
store of 1,000,000 events (``bench/bench_stats.py``). This module keeps a small table beside it in
the same database, ``gxga_turn``: per resident message (a *turn*), its China-time day, its
channel, the rank of the best outcome among its replies, the measure the reply cited first, and
when it was asked and first answered. The dashboard then aggregates a few thousand narrow rows.

:func:`catch_up` adds what Rasa wrote since the last time, entirely in SQL (``INSERT … SELECT``
and ``UPDATE … FROM`` over the new events; nothing is read into Python), in slices of
:data:`SLICE_S` seconds of events, each its own short transaction, so Rasa's own writes to a
SQLite store never wait long. It starts each time :data:`OVERLAP_S` seconds before where it
stopped, because a PostgreSQL replica may commit a message a little after a later one: re-reading
is harmless, a message is inserted once (its event id is the key) and a reply only ever lowers
its turn's rank. The progress row also keeps a fingerprint of the outcomes' reply names; when the
wording file's ``outcomes`` change, the summary is rebuilt from the events.

The rank of a reply is its outcome's position in the wording file's ``outcomes``; the SQL gets
the reply names as bound parameters, never in its text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, select
from sqlalchemy import text as sql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from knowledge import db

log = logging.getLogger(__name__)

SLICE_S = 6 * 3600
OVERLAP_S = 300
CHINA_OFFSET_S = 8 * 3600
PROGRESS = "turns"
MAX_TEXT_CHARS = 500
SCHEMA_LOCK = 0x67786761_0013  # PostgreSQL advisory lock key: "gxga", issue 13
# Rasa makes only the index on sender_id; the catch-up reads events by type and time.
EVENTS_INDEX = "ix_events_type_timestamp"

metadata = MetaData()
turn = Table(
    "gxga_turn",
    metadata,
    Column("user_event_id", Integer, primary_key=True, autoincrement=False),
    Column("sender_id", String(255), nullable=False),
    Column("asked_at", Float, nullable=False),
    Column("day", Integer, nullable=False, index=True),
    Column("channel", String(64), nullable=False),
    # what the resident wrote (as the tracker store holds it, redacted by the guard), for the
    # dashboard's most frequent unanswered questions
    Column("text", String(MAX_TEXT_CHARS), nullable=False),
    Column("rank", Integer),
    Column("measure", Integer),
    Column("replied_at", Float),
)
progress = Table(
    "gxga_turn_progress",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("done_until", Float, nullable=False),
    Column("fingerprint", String(64), nullable=False),
)

_DIALECTS: dict[str, dict[str, str]] = {
    "sqlite": {
        "user_source": "events AS m",
        "channel": "json_extract(data, '$.input_channel')",
        "text": "substr(COALESCE(json_extract(data, '$.text'), ''), 1, :max_text)",
        "reply": "COALESCE(json_extract(data, '$.data.custom.reply'), json_extract(data, '$.metadata.utter_action'))",
        "measure": "CAST(json_extract(data, '$.data.custom.measures[0]') AS INTEGER)",
        "day": "CAST((m.timestamp + :offset) / 86400 AS INTEGER)",
        "bot_source": "events AS b",
    },
    "postgresql": {
        "user_source": "(SELECT events.*, CAST(data AS jsonb) AS j FROM events WHERE type_name = 'user' "
        "AND timestamp > :lo AND timestamp <= :hi) AS m",
        "channel": "(j ->> 'input_channel')",
        "text": "substr(COALESCE(j ->> 'text', ''), 1, :max_text)",
        "reply": "COALESCE(j -> 'data' -> 'custom' ->> 'reply', j -> 'metadata' ->> 'utter_action')",
        "measure": "CASE WHEN jsonb_typeof(j -> 'data' -> 'custom' -> 'measures' -> 0) = 'number' "
        "THEN CAST(j -> 'data' -> 'custom' -> 'measures' ->> 0 AS INTEGER) END",
        "day": "CAST(floor((m.timestamp + :offset) / 86400) AS INTEGER)",
        # each reply's JSON is parsed once, then read twice
        "bot_source": "(SELECT events.*, CAST(data AS jsonb) AS j FROM events WHERE type_name = 'bot' "
        "AND timestamp > :lo AND timestamp <= :hi) AS b",
    },
}

_ADD_MESSAGES = """
INSERT INTO gxga_turn (user_event_id, sender_id, asked_at, day, channel, text)
SELECT m.id, m.sender_id, m.timestamp, {day}, COALESCE({channel}, 'other'), {text}
FROM {user_source}
WHERE m.type_name = 'user' AND m.timestamp > :lo AND m.timestamp <= :hi
ON CONFLICT (user_event_id) DO NOTHING
"""

# Each reply belongs to the latest message of its conversation before it; per message, the best
# rank, the first reply's time and the cited measure, merged so that re-reading changes nothing.
_ADD_REPLIES = """
WITH replies AS (
    SELECT (SELECT MAX(u.id) FROM events u
            WHERE u.sender_id = b.sender_id AND u.type_name = 'user' AND u.id < b.id) AS uid,
           {rank} AS rank, {measure} AS measure, b.timestamp AS at
    FROM {bot_source}
    WHERE b.type_name = 'bot' AND b.timestamp > :lo AND b.timestamp <= :hi
),
best AS (
    SELECT uid, MIN(rank) AS rank, MIN(measure) AS measure, MIN(at) AS at
    FROM replies WHERE uid IS NOT NULL GROUP BY uid
)
UPDATE gxga_turn SET
    rank = CASE WHEN best.rank IS NOT NULL AND (gxga_turn.rank IS NULL OR best.rank < gxga_turn.rank)
                THEN best.rank ELSE gxga_turn.rank END,
    measure = COALESCE(gxga_turn.measure, best.measure),
    replied_at = CASE WHEN gxga_turn.replied_at IS NULL OR best.at < gxga_turn.replied_at
                      THEN best.at ELSE gxga_turn.replied_at END
FROM best
WHERE gxga_turn.user_event_id = best.uid
"""


class UnsupportedStore(RuntimeError):
    """The tracker store is neither SQLite nor PostgreSQL."""


def fingerprint(outcomes: dict[str, dict]) -> str:
    """A digest of the outcomes' order and reply names: the ranks stored mean these."""
    listed = [[code, list(o["replies"])] for code, o in outcomes.items()]
    return hashlib.sha256(json.dumps(listed, ensure_ascii=False).encode("utf-8")).hexdigest()


def rank_case(outcomes: dict[str, dict], reply: str) -> tuple[str, dict[str, Any]]:
    """A SQL CASE giving the rank of the reply name ``reply`` (a SQL expression), and its parameters."""
    whens, params = [], {}
    for rank, code in enumerate(outcomes):
        for i, name in enumerate(outcomes[code]["replies"]):
            params[f"r{rank}_{i}"] = name
            whens.append(f"WHEN :r{rank}_{i} THEN {rank}")
    return (f"CASE {reply} {' '.join(whens)} ELSE NULL END" if whens else "NULL"), params


def _parts(engine: Engine) -> dict[str, str]:
    parts = _DIALECTS.get(engine.dialect.name)
    if parts is None:
        raise UnsupportedStore(f"no dashboard summary for a {engine.dialect.name} tracker store")
    return parts


def prepare(conn: Connection) -> None:
    """Create the summary's tables and the events index when they are missing.

    On PostgreSQL a transaction-scoped advisory lock makes servers starting together create them
    one after the other (two ``CREATE TABLE`` at once collide in PostgreSQL's catalogue).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sql("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
    metadata.create_all(conn)
    conn.execute(
        sql(
            "INSERT INTO gxga_turn_progress (name, done_until, fingerprint) VALUES (:name, 0, '') "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"name": PROGRESS},
    )
    try:
        with conn.begin_nested():
            conn.execute(sql(f"CREATE INDEX IF NOT EXISTS {EVENTS_INDEX} ON events (type_name, timestamp)"))
    except (OperationalError, ProgrammingError) as exc:
        # a role without the right to index Rasa's table: slower catch-up, same figures
        log.warning("could not create %s on events: %s", EVENTS_INDEX, type(exc).__name__)


def _lock_progress(conn: Connection, mark: str) -> float:
    """Take the progress row for this transaction (one catch-up at a time) and return where it stands.

    A first write makes SQLite take its write lock and PostgreSQL the row's lock before the
    position is read, so two servers never work on the same slice (:func:`prepare` made the row).
    A changed fingerprint (or a new row's empty one) empties the summary and starts again from
    the first event.
    """
    conn.execute(progress.update().where(progress.c.name == PROGRESS).values(done_until=progress.c.done_until))
    done, stored = conn.execute(
        select(progress.c.done_until, progress.c.fingerprint).where(progress.c.name == PROGRESS)
    ).one()
    if stored != mark:
        log.info("the dashboard's outcomes changed: rebuilding its summary from the events")
        conn.execute(turn.delete())
        conn.execute(progress.update().where(progress.c.name == PROGRESS).values(done_until=0.0, fingerprint=mark))
        return 0.0
    return float(done)


def catch_up(tracker_url: str, outcomes: dict[str, dict], budget_s: float = 60.0, now: float | None = None) -> bool:
    """Add the events written since the last catch-up to the summary.

    Args:
        tracker_url: SQLAlchemy URL of Rasa's tracker store.
        outcomes: the wording file's ``outcomes`` (their order gives the ranks).
        budget_s: stop after the slice that passes this many seconds (a big store's first build
            is then finished by the next calls).
        now: up to when (the current time by default).

    Returns:
        True when the summary reaches ``now``, False when the budget ran out first.

    Raises:
        UnsupportedStore: the store is neither SQLite nor PostgreSQL.
        sqlalchemy.exc.SQLAlchemyError: the store cannot be read or written.
    """
    engine = db.get_engine(tracker_url)
    parts = _parts(engine)
    now = time.time() if now is None else now
    rank, params = rank_case(outcomes, parts["reply"])
    add_messages = sql(
        _ADD_MESSAGES.format(
            day=parts["day"], channel=parts["channel"], text=parts["text"], user_source=parts["user_source"]
        )
    )
    add_replies = sql(_ADD_REPLIES.format(rank=rank, measure=parts["measure"], bot_source=parts["bot_source"]))
    mark = fingerprint(outcomes)
    for attempt in (1, 2):
        with engine.connect() as conn:
            try:
                prepare(conn)
                conn.commit()
                break
            except OperationalError:
                # SQLite: another server created a table between create_all's check and its CREATE
                if attempt == 2:
                    raise
    started = time.monotonic()
    while True:
        with engine.begin() as conn:
            done = _lock_progress(conn, mark)
            lo = max(0.0, done - OVERLAP_S)
            if done == 0.0:
                first = conn.execute(sql("SELECT MIN(timestamp) FROM events")).scalar()
                if first is None:
                    return True  # no events yet; start from the first one next time
                lo = float(first) - 1.0
            hi = min(now, lo + SLICE_S)
            # skip a stretch without events in one step
            following = conn.execute(
                sql("SELECT MIN(timestamp) FROM events WHERE type_name IN ('user', 'bot') AND timestamp > :lo"),
                {"lo": lo},
            ).scalar()
            if following is not None and following > hi:
                hi = min(now, float(following) + SLICE_S)
            bounds = {"lo": lo, "hi": hi, "offset": CHINA_OFFSET_S}
            conn.execute(add_messages, {**bounds, "max_text": MAX_TEXT_CHARS})
            conn.execute(add_replies, {**bounds, **params})
            conn.execute(progress.update().where(progress.c.name == PROGRESS).values(done_until=max(done, hi)))
        if hi >= now:
            return True
        if time.monotonic() - started > budget_s:
            return False
