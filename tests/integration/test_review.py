"""The staff review list reads Rasa's real tracker store: SQLite embedded, PostgreSQL in production."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.webapp import review
from tests.support import trackers
from tests.support.ports import free_port

ID_NUMBER = "450102199003071234"


def _utterance(text: str, intent: str, confidence: float, channel: str = "rest"):
    from rasa.shared.core.events import UserUttered

    return UserUttered(
        text,
        intent={"name": intent, "confidence": confidence},
        parse_data={"text": text, "intent": {"name": intent, "confidence": confidence}},
        input_channel=channel,
    )


def _write_conversations(store) -> None:
    """Three residents (one naming itself like our tools) and one console test on the staff channel.

    They are written by Rasa's own tracker store.
    """
    from rasa.shared.core.events import BotUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    conversations = {
        "web-resident1": [
            ("毕业生落户需要什么", "ask_settlement_graduates", 0.93),
            ("外国人养狗怎么登记", "nlu_fallback", 0.12),
        ],
        "wechat-resident2": [
            ("居住证办理条件", "ask_residence_permit_conditions", 0.41),
            ("不好", "feedback_negative", 0.9),
        ],
        "eval-hides-nothing": [("养蜂要办什么证", "nlu_fallback", 0.08)],
        "console-hall01-1a2b": [("随便问问", "nlu_fallback", 0.05)],
    }
    for sender, turns in conversations.items():
        tracker = DialogueStateTracker(sender, slots=[])
        channel = "staff" if sender.startswith("console-") else "rest"
        for text, intent, confidence in turns:
            tracker.update(_utterance(text, intent, confidence, channel))
            tracker.update(BotUttered(f"答复：{text}"))
        asyncio.run(store.save(tracker))


@pytest.fixture(params=["sqlite", "postgres"])
def tracker_settings(request, tmp_path) -> config.Settings:
    """Settings whose tracker store holds :func:`_write_conversations`, on each database kind."""
    server = request.getfixturevalue("postgres_server_url") if request.param == "postgres" else None
    settings, url = trackers.tracker_settings(config.load(), request.param, tmp_path, server)
    store = trackers.rasa_store(url)
    _write_conversations(store)
    store.engine.dispose()
    return settings


def test_review_list_from_the_tracker_store(tracker_settings):
    url = review.tracker_url_for(tracker_settings)
    assert url.startswith("postgresql" if tracker_settings.production else "sqlite")
    listed = {a.text: a for a in review.residents_questions(url)}
    # the console's own test (staff channel) is not a resident's; a resident calling itself eval-… is
    assert set(listed) == {"外国人养狗怎么登记", "居住证办理条件", "养蜂要办什么证"}
    assert listed["外国人养狗怎么登记"].reasons == {"fallback"}
    assert listed["居住证办理条件"].reasons == {"low_confidence", "thumbs_down"}
    turns = review.conversation(url, "web-resident1")
    assert [t["from"] for t in turns] == ["resident", "bot", "resident", "bot"]
    assert turns[0]["text"] == "毕业生落户需要什么"


def test_only_the_newest_messages_are_read(tracker_settings):
    url = review.tracker_url_for(tracker_settings)
    # the four newest user messages: the console's, eval-hides-nothing's and resident2's two
    newest = review.residents_questions(url, recent=4)
    assert [a.text for a in newest] == ["养蜂要办什么证", "居住证办理条件"]


def test_no_sqlite_tracker_yet_means_an_empty_list(tmp_path):
    settings = replace(config.load(), tracker_db=tmp_path / "not-yet.db")
    assert review.tracker_url_for(settings) is None
    assert not (tmp_path / "not-yet.db").exists()


def test_unreachable_postgres_tracker_raises_a_database_error():
    settings = replace(config.load(), bot_env="production", tracker_db_host="127.0.0.1", tracker_db_port=free_port())
    with pytest.raises(SQLAlchemyError):
        review.residents_questions(review.tracker_url_for(settings))


def test_redacted_before_staff_see_it(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    db = tmp_path / "tracker.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    tracker = DialogueStateTracker("web-x", slots=[])
    # an old row written before redaction existed must still not show the number to staff
    tracker.update(_utterance(f"身份证{ID_NUMBER}丢了", "nlu_fallback", 0.1))
    asyncio.run(store.save(tracker))
    [asked] = review.residents_questions(f"sqlite:///{db}")
    assert ID_NUMBER not in asked.text


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, "http://127.0.0.1:5005"),
        ("http://gxga-rasa:5005/", "http://gxga-rasa:5005"),
        ("https://rasa.internal", "https://rasa.internal"),
    ],
)
def test_rasa_url_setting(monkeypatch, value, expected):
    monkeypatch.delenv("RASA_PORT", raising=False)
    if value is None:
        monkeypatch.delenv("RASA_URL", raising=False)
    else:
        monkeypatch.setenv("RASA_URL", value)
    assert config.load().rasa_url == expected


@pytest.mark.parametrize("value", ["gxga-rasa:5005", "ftp://rasa", "javascript:alert(1)"])
def test_bad_rasa_url_is_refused(monkeypatch, value):
    monkeypatch.setenv("RASA_URL", value)
    with pytest.raises(config.ConfigError, match="RASA_URL"):
        config.load()


def test_web_server_uses_the_configured_rasa(monkeypatch):
    from bot.webapp import server

    monkeypatch.setenv("RASA_URL", "http://gxga-rasa:5005")
    app = server.make_app(config.load().rasa_url)
    assert app["rasa_rest_url"] == "http://gxga-rasa:5005/webhooks/web/webhook"
