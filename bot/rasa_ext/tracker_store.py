"""Rasa's ``SQLTrackerStore`` doing less per turn: the same rows, in the same order.

Profiled with py-spy under saturation (``bench/bench_floor.py``), the tracker store was half of the
Rasa server's CPU time for a one-question conversation: the lookup of the conversation, an empty
tracker saved for a new conversation, and, before every save, a ``COUNT`` over the conversation's
rows to find which events are new. On SQLite every session also opened a new connection
(SQLAlchemy 1.4 gives file databases no pool) and every commit waited for two ``fsync`` calls.
This subclass, named in ``endpoints.yml`` and ``endpoints.production.yml``, changes three things:

- **It remembers how many events are stored** for each tracker it read or created, so a save
  inserts ``tracker.events[stored:]`` without counting. The count is what Rasa's query would
  return: the rows of the latest session that this store read for the tracker (or 0 for a new
  conversation), plus what it inserted since. Rasa's agent wraps the store in its
  ``FailSafeTrackerStore``, which makes a new conversation's tracker itself (``retrieve``, then
  ``init_tracker`` and ``save``): so when a read finds no rows for a conversation, the next save
  of a tracker for it, not known otherwise, starts from 0. It is right while nobody else writes the same
  conversation between the read and the save, which Rasa's lock store guarantees per
  conversation, across replicas too (Redis in production). A tracker this store did not read
  (a copy, one built elsewhere, one whose history is capped) is saved Rasa's way, counting.
- **The new rows go in with one insert** (SQLAlchemy Core, in order, the values of Rasa's save)
  instead of the ORM's unit of work; **a save with no new events writes nothing** (Rasa's own
  save then commits an empty transaction; a new conversation's empty tracker is such a save).
- **On SQLite**: a pooled connection (one per thread, as SQLAlchemy 2.0 does for file databases)
  and the write-ahead log with ``synchronous=NORMAL``. Each commit is then an append to the log
  instead of a rewrite of the journal with two ``fsync`` calls; readers (the console's summary,
  ``bot/webapp/turns.py``) no longer block the writer. A committed turn survives the process
  being killed; after a power cut or a kernel crash the last turns committed before it may be
  missing, never the database damaged (SQLite's documented guarantee for WAL with NORMAL).

One thing Rasa's store does not do: **a number completed over several messages is redacted in
the earlier ones too.** When the guard found that a message completes a number begun in the
sender's earlier messages (``bot.rasa_ext.guard.EARLIER``), the save of that turn rewrites those
messages' rows (their ``text``, ``parse_data.text``, the entities in the replaced part dropped)
and the dashboard's copy of them (``gxga_turn.text``), before the turn is stored. On SQLite the
old bytes are overwritten too (``secure_delete``, then a checkpoint that empties the write-ahead
log); on PostgreSQL the old row versions stay in the table's files until autovacuum reclaims them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
import weakref
from typing import Any, Optional, cast

import sqlalchemy as sa
from rasa.core import tracker_store as rasa_tracker_store
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from bot.rasa_ext.guard import EARLIER
from bot.text.privacy import redact_earlier

log = logging.getLogger(__name__)

# How many conversations found without rows are remembered, and for how long: a new conversation's
# read and its first save are milliseconds apart, in one turn.
WITHOUT_ROWS_KEPT = 10_000
WITHOUT_ROWS_FOR_S = 30.0
# Set on every new SQLite connection of the tracker store.
# ``secure_delete``: a row rewritten (a number's earlier parts, below) leaves no old bytes in the file.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA secure_delete=ON")
# The length of the dashboard's copy of a message (``MAX_TEXT_CHARS`` of bot/webapp/turns.py, which
# builds that table from this store's rows; tests/unit/test_tracker_store.py checks they agree).
TURN_TEXT_CHARS = 500


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


class SQLTrackerStore(rasa_tracker_store.SQLTrackerStore):
    """``rasa.core.tracker_store.SQLTrackerStore`` with the stored-event count kept (module docstring).

    Configured like Rasa's (``type: bot.rasa_ext.tracker_store.SQLTrackerStore`` with the same keys);
    the tables and rows are Rasa's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(tracker) -> (a weak reference to it, how many of its events are stored); keyed by
        # identity because trackers compare (and hash) by content
        self._stored: dict[int, tuple[weakref.ref, int]] = {}
        # conversation -> when its latest read found no rows, oldest first, until a tracker of theirs is saved
        self._without_rows: dict[str, float] = {}
        self._queries = self._event_data_queries()
        engine = cast(Engine, self.engine)
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self._pool_sqlite(engine)

    def _pool_sqlite(self, engine: Engine) -> None:
        engine.dispose()
        pooled = sa.create_engine(
            engine.url, poolclass=QueuePool, pool_size=1, max_overflow=4, connect_args={"check_same_thread": False}
        )
        sa.event.listen(pooled, "connect", _sqlite_pragmas)
        self.engine = pooled
        self.sessionmaker = sessionmaker(bind=pooled)

    # -- the count of stored events ---------------------------------------------------------------

    def stored_count(self, tracker: DialogueStateTracker) -> Optional[int]:
        """How many of ``tracker``'s events this store knows to be stored, or None if it does not know."""
        events = tracker.events
        entry = self._stored.get(id(tracker))
        if entry is None or entry[0]() is not tracker:
            return None
        if events is None or events.maxlen is not None or entry[1] > len(events):
            return None
        return entry[1]

    def _remember(self, tracker: DialogueStateTracker, count: int) -> None:
        key = id(tracker)

        def forget(_ref: weakref.ref) -> None:
            self._stored.pop(key, None)

        self._stored[key] = (weakref.ref(tracker, forget), count)

    def _event_data_queries(self) -> dict[bool, Any]:
        """Rasa's ``_event_query`` as two statements built once: {all sessions?: SELECT data …}.

        The same conditions and order as Rasa's ORM query (events after the latest
        ``session_started`` of the conversation, or all of them; by id), selecting only the
        ``data`` column; building that query and its ORM rows was 12 % of a reply.
        """
        events = self.SQLEvent.__table__
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        everything = sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
        latest = everything.where(sa.or_(events.c.timestamp >= session_start, session_start.is_(None)))
        return {True: everything, False: latest}

    def _read(self, sender_id: str, all_sessions: bool) -> tuple[Optional[DialogueStateTracker], int]:
        """Rasa's ``_retrieve``, also returning how many rows it read."""
        with self.session_scope() as session:
            rows = session.execute(self._queries[all_sessions], {"sender_id": sender_id}).scalars().all()
            events = [json.loads(data) for data in rows]
        self._without_rows.pop(sender_id, None)
        if not rows:
            self._without_rows[sender_id] = time.monotonic()
            if len(self._without_rows) > WITHOUT_ROWS_KEPT:
                del self._without_rows[next(iter(self._without_rows))]
        if self.domain and events:
            log.debug("Recreating tracker from sender id '%s'", sender_id)
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots), len(rows)
        log.debug(
            "Can't retrieve tracker matching sender id '%s' from SQL storage. Returning `None` instead.", sender_id
        )
        return None, len(rows)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        tracker, rows = self._read(sender_id, fetch_events_from_all_sessions)
        # Rasa's save counts the rows of the latest session only, so a full history is not remembered.
        if tracker is not None and not fetch_events_from_all_sessions:
            self._remember(tracker, rows)
        return tracker

    async def get_or_create_tracker(
        self,
        sender_id: str,
        max_event_history: Optional[int] = None,
        append_action_listen: bool = True,
    ) -> DialogueStateTracker:
        """Rasa's ``get_or_create_tracker``; a tracker made where no rows exist is known to have none stored."""
        self.max_event_history = max_event_history
        tracker, rows = self._read(sender_id, all_sessions=False)
        if tracker is not None:
            self._remember(tracker, rows)
            return tracker
        tracker = self.init_tracker(sender_id)
        if rows == 0:
            self._remember(tracker, 0)
        if append_action_listen:
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
        await self.save(tracker)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events not stored yet, as Rasa's ``save`` does (nothing new: no transaction).

        With the count known, the rows Rasa's ``save`` would add are inserted in one statement
        (SQLAlchemy Core, in order) rather than through the ORM's unit of work, which was 8 % of
        a reply; without it, Rasa's own ``save`` runs.
        """
        earlier = EARLIER.take(tracker.sender_id)
        if earlier:
            self.redact_earlier(tracker.sender_id, earlier)
        stored = self.stored_count(tracker)
        read_empty = self._without_rows.pop(tracker.sender_id, None)
        if stored is None and read_empty is not None and time.monotonic() - read_empty < WITHOUT_ROWS_FOR_S:
            self._remember(tracker, 0)  # made for a conversation the latest read found no rows of
            stored = self.stored_count(tracker)
        if stored is None:
            await super().save(tracker)
            return
        await self.stream_events(tracker)
        rows = [self.event_row(tracker.sender_id, event) for event in itertools.islice(tracker.events, stored, None)]
        if rows:
            with self.session_scope() as session:
                session.execute(self.SQLEvent.__table__.insert(), rows)
                session.commit()
            log.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)
        self._remember(tracker, len(tracker.events))

    def redact_earlier(self, sender_id: str, parts: list[tuple[str, str]]) -> int:
        """Replace ``parts`` of a number in ``sender_id``'s latest stored messages; how many rows changed.

        See :func:`bot.text.privacy.redact_earlier` for which rows; the dashboard's ``gxga_turn``
        copy of each is rewritten too when that table exists.
        """
        events = self.SQLEvent.__table__
        query = (
            sa.select(events.c.id, events.c.data)
            .where(events.c.sender_id == sender_id, events.c.type_name == "user")
            .order_by(events.c.id.desc())
            .limit(len(parts) + 1)
        )
        with self.session_scope() as session:
            rows = [(row_id, json.loads(data)) for row_id, data in session.execute(query).all()]
            texts = [data.get("text") if isinstance(data.get("text"), str) else "" for _, data in rows]
            changed = [
                (row_id, _with_text(data, new))
                for (row_id, data), new in zip(rows, redact_earlier(texts, parts), strict=True)
                if new is not None
            ]
            turns = sa.inspect(session.connection()).has_table("gxga_turn") if changed else False
            for row_id, data in changed:
                session.execute(events.update().where(events.c.id == row_id).values(data=json.dumps(data)))
                if turns:
                    session.execute(
                        sa.text("UPDATE gxga_turn SET text = :text WHERE user_event_id = :id"),
                        {"text": data["text"][:TURN_TEXT_CHARS], "id": row_id},
                    )
            session.commit()
        if changed and cast(Engine, self.engine).dialect.name == "sqlite":
            # the old rows' pages are still frames in the write-ahead log until it is checkpointed
            with cast(Engine, self.engine).connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(changed)

    @staticmethod
    def event_row(sender_id: str, event: Any) -> dict[str, Any]:
        """The ``events`` row of ``event``, with the values Rasa's ``save`` gives its columns."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }


def _with_text(data: dict[str, Any], new: str) -> dict[str, Any]:
    """A user event's ``data`` with its text now ``new`` (a redacted end); entities there dropped."""
    old = data.get("text", "")
    kept = len(os.path.commonprefix([old, new]))
    data = {**data, "text": new}
    parse = data.get("parse_data")
    if isinstance(parse, dict):
        entities = parse.get("entities")
        data["parse_data"] = {
            **parse,
            "text": new,
            "entities": [
                e for e in entities if isinstance(e, dict) and isinstance(e.get("end"), int) and e["end"] <= kept
            ]
            if isinstance(entities, list)
            else entities,
        }
    return data
