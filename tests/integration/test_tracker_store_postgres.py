"""bot.rasa_ext.tracker_store on PostgreSQL: the rows, and their order, of Rasa's own store.

The rows go in with one multi-row insert whose ids come from Rasa's sequence; Rasa reads a
conversation back ordered by id, so the ids must follow the events' order.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from rasa.core import tracker_store as rasa_tracker_store

from bot.rasa_ext.tracker_store import SQLTrackerStore
from tests.support import trackers
from tests.support.pgserver import create_database
from tests.unit import test_tracker_store as scenarios


def postgres_store(cls, url: str):
    return trackers.rasa_store(url, cls=cls, domain=scenarios.DOMAIN)


def stored(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT sender_id, type_name, intent_name, action_name, data FROM events ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    return [(*row[:4], {k: v for k, v in json.loads(row[4]).items() if k != "timestamp"}) for row in found]


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS, ids=lambda s: s.__name__)
def test_same_rows_in_the_same_order_as_rasas_store(scenario, postgres_server_url):
    results = {}
    for cls in (rasa_tracker_store.SQLTrackerStore, SQLTrackerStore):
        scenarios.CLOCK = iter(range(1_000_000))
        url = create_database(postgres_server_url)
        store = postgres_store(cls, url)
        try:
            asyncio.run(scenario(scenarios.wrapped(store)))
        finally:
            store.engine.dispose()
        results[cls] = stored(url)
    assert results[SQLTrackerStore] == results[rasa_tracker_store.SQLTrackerStore]


def test_a_long_conversation_reads_back_in_order(postgres_server_url):
    url = create_database(postgres_server_url)
    store = postgres_store(SQLTrackerStore, url)

    async def talk():
        tracker = await store.get_or_create_tracker("resident", append_action_listen=False)
        for event in scenarios.first_turn("居住证"):
            tracker.update(event)
        await store.save(tracker)
        for n in range(30):
            tracker = await store.retrieve("resident")
            for event in scenarios.follow_up(f"第{n}个问题"):
                tracker.update(event)
            await store.save(tracker)
        return await store.retrieve("resident")

    try:
        back = asyncio.run(talk())
    finally:
        store.engine.dispose()
    texts = [e.text for e in back.events if e.type_name == "user"]
    assert texts == ["居住证"] + [f"第{n}个问题" for n in range(30)]


def test_a_number_completed_later_is_redacted_in_earlier_rows_on_postgres(postgres_server_url):
    from dataclasses import replace

    from bot import config
    from bot.text.privacy import contains_personal_number

    url = create_database(postgres_server_url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the dashboard's copy, as bot/webapp/turns.py makes it
        conn.execute(sa.text("CREATE TABLE gxga_turn (user_event_id INTEGER PRIMARY KEY, text VARCHAR(500))"))
    store = postgres_store(SQLTrackerStore, url)
    settings = replace(config.load(), redis_url=None)
    try:
        asyncio.run(scenarios.chat(store, "pg-split", ["我的手机139", "1234"], settings))
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO gxga_turn SELECT id, CAST(data AS jsonb) ->> 'text' "
                    "FROM events WHERE type_name = 'user'"
                )
            )
        asyncio.run(scenarios.chat(store, "pg-split", ["5678"], settings))
    finally:
        store.engine.dispose()
    with engine.connect() as conn:
        texts = [
            json.loads(d)["text"] for (d,) in conn.execute(sa.text("SELECT data FROM events WHERE type_name = 'user'"))
        ]
        copies = [t for (t,) in conn.execute(sa.text("SELECT text FROM gxga_turn"))]
    engine.dispose()
    assert len(texts) == 3 and not any(ch.isdigit() for ch in "".join(texts + copies)), (texts, copies)
    assert not contains_personal_number("".join(texts))
