"""bot.rasa_ext.tracker_store: the rows Rasa's SQLTrackerStore writes, with less work per turn.

Every scenario is played once on Rasa's own store and once on ours, over separate SQLite files, and
the rows must be the same. The statements run are recorded, so the tests fail if the count comes
back or a save with nothing new opens a transaction.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from rasa.core import tracker_store as rasa_tracker_store
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext.tracker_store import SQLTrackerStore
from tests.support.paths import ROOT

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [ask_residence_permit, greet]
slots:
  topic:
    type: text
    mappings: [{type: custom}]
"""
)
CLOCK = iter(range(1_000_000))


def stamp() -> float:
    """Increasing timestamps, the same in both stores (events are built once per scenario)."""
    return 1_700_000_000.0 + next(CLOCK)


def first_turn(text: str) -> list:
    """What Rasa adds for a new conversation's first message and its answer."""
    return [
        ActionExecuted("action_session_start", timestamp=stamp()),
        SessionStarted(timestamp=stamp()),
        ActionExecuted("action_listen", timestamp=stamp()),
        UserUttered(text, {"name": "ask_residence_permit", "confidence": 0.9}, timestamp=stamp()),
        ActionExecuted("action_answer_measure", timestamp=stamp()),
        BotUttered("居住证……", timestamp=stamp()),
        SlotSet("topic", "居住证", timestamp=stamp()),
        ActionExecuted("action_listen", timestamp=stamp()),
    ]


def follow_up(text: str) -> list:
    """A later message and its answer."""
    return [
        UserUttered(text, {"name": "ask_residence_permit", "confidence": 0.8}, timestamp=stamp()),
        ActionExecuted("action_answer_measure", timestamp=stamp()),
        BotUttered("需要……", timestamp=stamp()),
        ActionExecuted("action_listen", timestamp=stamp()),
    ]


class Recorder:
    """The SQL statements an engine runs."""

    def __init__(self, engine: sa.engine.Engine):
        self.statements: list[str] = []
        self.inserted = 0
        sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, executemany) -> None:
        self.statements.append(" ".join(statement.split()).lower())
        if self.statements[-1].startswith("insert"):
            self.inserted += len(parameters) if executemany else 1

    def counts(self) -> int:
        return sum("count(" in s for s in self.statements)

    def writes(self) -> int:
        return self.inserted


def store_of(cls, path: Path):
    return cls(domain=DOMAIN, dialect="sqlite", db=str(path))


def rows(path: Path) -> list[tuple]:
    """The stored events in order, without the timestamps Rasa itself gives (an initial ``action_listen``)."""
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT sender_id, type_name, intent_name, action_name, data FROM events ORDER BY id")
        return [(*row[:4], {k: v for k, v in json.loads(row[4]).items() if k != "timestamp"}) for row in found]


async def conversation(store) -> None:
    """A processor's turns: a new conversation, a follow-up read back, a save with nothing new."""
    tracker = await store.get_or_create_tracker("resident-1", append_action_listen=False)
    for event in first_turn("居住证怎么办"):
        tracker.update(event)
    await store.save(tracker)
    again = await store.get_or_create_tracker("resident-1", append_action_listen=False)
    for event in follow_up("需要什么材料"):
        again.update(event)
    await store.save(again)
    await store.save(again)  # nothing new


async def two_saves_in_one_turn(store) -> None:
    """A tracker made with its ``action_listen`` (saved at once), then a turn saved in two parts."""
    tracker = await store.get_or_create_tracker("resident-2")
    for event in first_turn("你好"):
        tracker.update(event)
    await store.save(tracker)
    tracker = await store.retrieve("resident-2")
    events = follow_up("居住证")
    tracker.update(events[0])
    await store.save(tracker)
    for event in events[1:]:
        tracker.update(event)
    await store.save(tracker)


async def saved_with(store, tracker, events: list) -> None:
    """``events`` added to ``tracker``, then the tracker saved."""
    for event in events:
        tracker.update(event)
    await store.save(tracker)


async def saved_copy(store) -> None:
    """A copy of a tracker read here, and a tracker built elsewhere: both saved Rasa's way."""
    await saved_with(
        store, await store.get_or_create_tracker("resident-3", append_action_listen=False), first_turn("居住证")
    )
    await saved_with(store, (await store.retrieve("resident-3")).copy(), follow_up("多久"))
    await store.save(DialogueStateTracker.from_events("resident-4", first_turn("身份证"), DOMAIN.slots))


async def full_history(store) -> None:
    await saved_with(
        store, await store.get_or_create_tracker("resident-5", append_action_listen=False), first_turn("居住证")
    )
    await saved_with(store, await store.retrieve_full_tracker("resident-5"), follow_up("在哪办"))


SCENARIOS = [conversation, two_saves_in_one_turn, saved_copy, full_history]


def wrapped(store):
    """The store as Rasa's agent holds it: inside its FailSafeTrackerStore."""
    return rasa_tracker_store.FailSafeTrackerStore(store)


@pytest.mark.parametrize("wrap", [lambda s: s, wrapped], ids=["bare", "fail-safe"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_same_rows_as_rasas_own_store(scenario, wrap, tmp_path):
    global CLOCK
    results = {}
    for cls in (rasa_tracker_store.SQLTrackerStore, SQLTrackerStore):
        CLOCK = iter(range(1_000_000))  # the same timestamps for both
        path = tmp_path / f"{cls.__module__}.db"
        asyncio.run(scenario(wrap(store_of(cls, path))))
        results[cls] = rows(path)
    ours, rasas = results[SQLTrackerStore], results[rasa_tracker_store.SQLTrackerStore]
    assert ours == rasas
    assert len(ours) > 0


@pytest.mark.parametrize("wrap", [lambda s: s, wrapped], ids=["bare", "fail-safe"])
def test_a_turn_on_a_read_tracker_does_not_count(wrap, tmp_path):
    store = store_of(SQLTrackerStore, tmp_path / "t.db")
    recorder = Recorder(store.engine)
    asyncio.run(conversation(wrap(store)))
    assert recorder.counts() == 0
    assert recorder.writes() == len(first_turn("x")) + len(follow_up("x"))

    rasas = store_of(rasa_tracker_store.SQLTrackerStore, tmp_path / "r.db")
    rasa_recorder = Recorder(rasas.engine)
    asyncio.run(conversation(rasas))
    assert rasa_recorder.counts() >= 3  # the work saved: Rasa counts before every save


@pytest.mark.parametrize("wrap", [lambda s: s, wrapped], ids=["bare", "fail-safe"])
def test_a_new_conversations_empty_tracker_writes_nothing(wrap, tmp_path):
    store = store_of(SQLTrackerStore, tmp_path / "t.db")
    recorder = Recorder(store.engine)
    tracker = asyncio.run(wrap(store).get_or_create_tracker("new-resident", append_action_listen=False))
    assert len(tracker.events) == 0
    assert [s for s in recorder.statements if not s.startswith("select")] == []
    assert store.stored_count(tracker) == 0


def test_an_old_empty_read_is_not_trusted(tmp_path, monkeypatch):
    """A read that found no rows long ago says nothing about now: the save counts, as Rasa's."""
    import bot.rasa_ext.tracker_store as module

    store = store_of(SQLTrackerStore, tmp_path / "t.db")
    assert asyncio.run(store.retrieve("resident")) is None
    monkeypatch.setattr(module, "WITHOUT_ROWS_FOR_S", 0.0)
    recorder = Recorder(store.engine)
    asyncio.run(store.save(DialogueStateTracker.from_events("resident", first_turn("居住证"), DOMAIN.slots)))
    assert recorder.counts() == 1


def test_a_copy_or_a_foreign_tracker_is_not_trusted(tmp_path):
    store = store_of(SQLTrackerStore, tmp_path / "t.db")
    tracker = asyncio.run(store.get_or_create_tracker("resident", append_action_listen=True))
    assert store.stored_count(tracker) == 1
    assert store.stored_count(tracker.copy()) is None
    assert store.stored_count(DialogueStateTracker.from_events("resident", [], DOMAIN.slots)) is None


def session_restarted_in_one_tracker(cls, path: Path) -> int:
    """Rows stored when a session restarts inside one tracker object, which is then saved twice."""
    store = store_of(cls, path)
    tracker = asyncio.run(store.get_or_create_tracker("resident", append_action_listen=False))
    for event in first_turn("居住证"):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    for event in first_turn("身份证"):  # a second session
        tracker.update(event)
    asyncio.run(store.save(tracker))
    for event in follow_up("多久"):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    return len(rows(path))


def test_a_new_session_inside_one_tracker_saved_twice(tmp_path):
    """The kept count stores each event once; Rasa's count re-inserts events here.

    Rasa counts the latest session's rows only, so a save after a session began inside the same
    tracker object re-inserts events stored before it. Rasa's processor never saves one tracker
    twice after a session start within a message, so messages are stored alike (the tests above).
    """
    events = 2 * len(first_turn("x")) + len(follow_up("x"))
    assert session_restarted_in_one_tracker(SQLTrackerStore, tmp_path / "ours.db") == events
    assert session_restarted_in_one_tracker(rasa_tracker_store.SQLTrackerStore, tmp_path / "rasa.db") > events


def test_sqlite_uses_the_write_ahead_log(tmp_path):
    store = store_of(SQLTrackerStore, tmp_path / "t.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "endpoints.production.yml"])
def test_the_endpoints_name_this_store(endpoints):
    """Rasa falls back to an in-memory store, with only a warning, when a custom type cannot be loaded."""
    configured = yaml.safe_load((ROOT / endpoints).read_text(encoding="utf-8"))["tracker_store"]["type"]
    assert configured == f"{SQLTrackerStore.__module__}.{SQLTrackerStore.__name__}"


def test_rasas_factory_builds_it_from_endpoints_yml(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "tracker.db"))
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:1/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "x" * 32)
    config = read_endpoints_from_path(ROOT / "endpoints.yml")
    store = rasa_tracker_store.create_tracker_store(config.tracker_store, DOMAIN)
    assert isinstance(store, SQLTrackerStore)


@pytest.mark.parametrize("all_sessions", [False, True], ids=["latest session", "all sessions"])
def test_reads_the_events_rasas_store_reads(all_sessions, tmp_path):
    """Two sessions and two conversations in one file, read back by Rasa's store and by ours."""
    path = tmp_path / "t.db"
    session_restarted_in_one_tracker(SQLTrackerStore, path)
    asyncio.run(conversation(store_of(SQLTrackerStore, path)))

    def read(store, sender):
        found = store.retrieve_full_tracker(sender) if all_sessions else store.retrieve(sender)
        tracker = asyncio.run(found)
        return [e.as_dict() for e in tracker.events]

    for sender in ("resident", "resident-1"):
        ours = read(store_of(SQLTrackerStore, path), sender)
        assert ours == read(store_of(rasa_tracker_store.SQLTrackerStore, path), sender)
        assert ours


# --- a number completed over several messages: the earlier rows redacted too (issue 22) ----------


def _user_texts(path: Path, sender: str) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,))
        return [(d["text"], d["parse_data"]["text"]) for d in (json.loads(row[0]) for row in found)]


async def chat(store, sender: str, messages: list[str], settings) -> None:
    """Each message through the guard, then stored as Rasa's processor stores a turn."""
    from bot.rasa_ext import guard

    for typed in messages:
        text = guard.prepare(typed, sender, None, settings, limited=False).text
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        entities = [{"entity": "measure_number", "value": "12", "start": 0, "end": 2}] if text[:2].isdigit() else []
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.5}, entities, timestamp=stamp()))
        tracker.update(ActionExecuted("action_listen", timestamp=stamp()))
        await store.save(tracker)


@pytest.mark.parametrize(
    "messages, stored",
    [
        (["我的手机139", "1234", "5678好的"], ["我的手机[手机号]", "[手机号]", "[手机号]好的"]),
        (["我的手机139，", "12345678"], ["我的手机[手机号]", "[手机号]"]),
        (["身份证110105", "19491231", "002X"], ["身份证[身份证号]", "[身份证号]", "[身份证号]"]),
        (["卡号6222", "0202", "0011 2233", "446"], ["卡号[银行卡号]", "[银行卡号]", "[银行卡号]", "[银行卡号]"]),
        (["我等了15", "天了"], ["我等了15", "天了"]),
        (["我的手机139", "居住证怎么办", "12345678"], ["我的手机139", "居住证怎么办", "12345678"]),
    ],
)
def test_a_number_completed_later_is_redacted_in_the_earlier_rows(tmp_path, messages, stored):
    from dataclasses import replace

    from bot import config
    from bot.text.privacy import load_placeholders

    placeholders = load_placeholders()
    expected = [
        s.replace("[手机号]", placeholders["mobile"])
        .replace("[身份证号]", placeholders["id_card"])
        .replace("[银行卡号]", placeholders["bank_card"])
        for s in stored
    ]
    path = tmp_path / "t.db"
    sender = f"split-{len(messages)}-{abs(hash(tuple(messages)))}"
    asyncio.run(chat(store_of(SQLTrackerStore, path), sender, messages, replace(config.load(), redis_url=None)))
    assert _user_texts(path, sender) == [(s, s) for s in expected]
    with sqlite3.connect(path) as db:
        entities = [
            json.loads(d)["parse_data"]["entities"]
            for (d,) in db.execute("SELECT data FROM events WHERE type_name = 'user'")
        ]
    assert all(not e for e, s in zip(entities, expected, strict=True) if not s[:2].isdigit())


def test_the_dashboards_copy_is_redacted_too(tmp_path):
    from dataclasses import replace

    from bot import config
    from bot.text.privacy import contains_personal_number

    path = tmp_path / "t.db"
    store = store_of(SQLTrackerStore, path)
    settings = replace(config.load(), redis_url=None)
    asyncio.run(chat(store, "dash", ["我的手机139", "1234"], settings))
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE gxga_turn (user_event_id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO gxga_turn SELECT id, json_extract(data, '$.text') FROM events WHERE type_name = 'user'")
    asyncio.run(chat(store, "dash", ["5678"], settings))
    with sqlite3.connect(path) as db:
        copies = [t for (t,) in db.execute("SELECT text FROM gxga_turn ORDER BY user_event_id")]
    assert len(copies) == 2 and not any(ch.isdigit() for ch in "".join(copies)), copies
    assert not contains_personal_number("".join(t for t, _ in _user_texts(path, "dash")))


def test_the_dashboard_copy_length_is_the_tracker_stores():
    from bot.rasa_ext.tracker_store import TURN_TEXT_CHARS
    from bot.webapp.turns import MAX_TEXT_CHARS

    assert TURN_TEXT_CHARS == MAX_TEXT_CHARS


@pytest.mark.parametrize(
    "texts, parts, expected",
    [
        (["1234", "我的手机139"], [("139", "P"), ("1234", "P")], ["P", "我的手机P"]),
        (["P", "1234", "我的手机139"], [("139", "P"), ("1234", "P")], [None, "P", "我的手机P"]),
        (["别的", "我的手机139"], [("139", "P"), ("1234", "P")], [None, None]),  # not the parts: nothing
        (["，", "我的139"], [("139", "P"), ("，", "P")], [None, "我的P"]),  # a separator alone stays
        ([], [("139", "P")], []),
    ],
)
def test_which_earlier_rows_are_rewritten(texts, parts, expected):
    from bot.text.privacy import redact_earlier

    assert redact_earlier(texts, parts) == expected
