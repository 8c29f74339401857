"""The dashboard's figures after a known set of conversations, on SQLite and on PostgreSQL.

The conversations are written by Rasa's own ``SQLTrackerStore`` with Rasa's own events, shaped as
the running bot stores them (an action's reply names itself in the custom payload, a domain
response in the metadata's ``utter_action``; the end-to-end dashboard test checks that against
the real bot). Feedback and refusal counts go into the application database with the project's
own functions.
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from bot import config
from bot.storage import appdb, refusals
from bot.webapp import stats
from bot.webapp.console import wording
from knowledge import db
from tests.support import trackers

CHINA = timezone(timedelta(hours=8))


def _last_whole_day() -> date:
    """Yesterday, China time: every hour of it is in the past, as stored events always are."""
    return datetime.now(CHINA).date() - timedelta(days=1)


# The last day of the periods the tests count; the conversations are on it and the days before.
TODAY = _last_whole_day()


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    """:data:`TODAY` as each test starts (a session may run past midnight in China)."""
    monkeypatch.setattr(sys.modules[__name__], "TODAY", _last_whole_day())


def at(day: date, hour: int, minute: int = 0, second: float = 0.0) -> float:
    """A Unix time at China time ``hour:minute`` on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA).timestamp() + second


def user(text: str, intent: str, ts: float, channel: str = "rest"):
    from rasa.shared.core.events import UserUttered

    parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return UserUttered(text, intent=parse["intent"], parse_data=parse, input_channel=channel, timestamp=ts)


def bot(ts: float, reply: str | None = None, measures: list[int] | None = None, utter: str | None = None):
    from rasa.shared.core.events import BotUttered

    data = {"custom": {"reply": reply, **({"measures": measures} if measures is not None else {})}} if reply else {}
    return BotUttered("……", data=data, metadata={"utter_action": utter} if utter else {}, timestamp=ts)


def conversations() -> dict[str, list]:
    """Sender → events. Reply times are 0.1, 0.2, 0.3 … s so the median is known."""
    d, yesterday, old = TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=40)
    return {
        "r1": [
            user("你好", "greet", at(d, 9), "rest"),
            bot(at(d, 9, second=0.1), utter="utter_greet"),
            user("毕业生落户要什么", "ask_settle_graduate_materials", at(d, 9, 1)),
            bot(at(d, 9, 1, 0.2), reply="pilot_only"),  # a notice first: the answer still counts
            bot(at(d, 9, 1, 0.25), reply="measure_answer", measures=[22]),
            bot(at(d, 9, 1, 0.26), reply="also_see"),
            user("/feedback_negative", "feedback_negative", at(d, 9, 2)),
            bot(at(d, 9, 2, 0.3), utter="utter_feedback_down"),
        ],
        "w1": [
            user("身份证补办要多久", "ask_id_card_issue_time", at(yesterday, 23, 30), "wechat"),
            bot(at(yesterday, 23, 30, 0.4), reply="not_covered_related", measures=[]),
            # 00:10 China time is already today (16:10 UTC yesterday)
            user("落户", "nlu_fallback", at(d, 0, 10), "wechat"),
            bot(at(d, 0, 10, 0.5), reply="did_you_mean"),
        ],
        "r2": [
            user("居住证", "ask_residence_permit_conditions", at(yesterday, 10), "web"),
            bot(at(yesterday, 10, second=0.6), reply="topic_overview", measures=[24, 25]),
            user("明天天气", "out_of_scope", at(yesterday, 10, 1), "web"),
            bot(at(yesterday, 10, 1, 0.7), reply="out_of_scope"),
            user("啊啊啊", "nlu_fallback", at(yesterday, 10, 2), "web"),
            bot(at(yesterday, 10, 2, 0.8), reply="default"),
            user("居住证要什么条件", "ask_residence_permit_conditions", at(yesterday, 10, 3), "web"),
            bot(at(yesterday, 10, 3, 0.9), reply="measure_answer", measures=[24]),
            user("那要多久", "followup_time", at(yesterday, 10, 4), "web"),  # the action server was down
        ],
        "r3": [
            user("毕业生落户", "ask_settle_graduate_materials", at(d, 11), "rest"),
            bot(at(d, 11, second=1.0), reply="measure_answer", measures=[22]),
            user("什么", "nlu_fallback", at(d, 11, 1), "rest"),
            bot(at(d, 11, 1, 1.1), reply="wechat_text_only"),  # a reply that decides nothing
        ],
        "console-hall01-1": [
            user("印章刻制", "ask_seal_engraving", at(d, 12), "staff"),
            bot(at(d, 12, second=0.05), reply="measure_answer", measures=[30]),
        ],
        "old": [
            user("居住证", "ask_residence_permit_conditions", at(old, 10), "rest"),
            bot(at(old, 10, second=0.1), reply="measure_answer", measures=[24]),
        ],
    }


@pytest.fixture(params=["sqlite", "postgres"])
def tracker_url(request, tmp_path):
    """A Rasa tracker store holding :func:`conversations`, on each database; its SQLAlchemy URL."""
    server = request.getfixturevalue("postgres_server_url") if request.param == "postgres" else None
    _settings, url = trackers.tracker_settings(config.load(), request.param, tmp_path, server)
    trackers.save(url, conversations())
    return url


@pytest.fixture
def app_url(tmp_path):
    """An application database with feedback and refusal counts."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    appdb.record_feedback("r1", "down", "毕业生落户要什么", "ask_settle_graduate_materials", [22], "rest", url=url)
    appdb.record_feedback("r2", "up", "居住证要什么条件", "ask_residence_permit_conditions", [24, 25], "web", url=url)
    appdb.record_feedback("console-x", "up", "印章", "ask_seal_engraving", [30], "staff", url=url)
    with db.session_scope(url) as session:  # stamped now: move them into the period, after the answers
        session.execute(update(appdb.Feedback).values(created_at=datetime.fromtimestamp(at(TODAY, 12), timezone.utc)))
    today = (TODAY - date(1970, 1, 1)).days
    refusals.add_counts({(today, "rest", "rate_limited"): 3, (today - 1, "wechat", "too_long"): 1}, url)
    refusals.add_counts({(today, "rest", "rate_limited"): 2, (today, "staff", "too_long"): 7}, url)
    return url


def compute(tracker_url: str, app_url: str, days: int) -> stats.Stats:
    titles = {n: (f"第{n}项", f"措施{n}") for n in range(1, 51)}
    return stats.compute(tracker_url, app_url, days, wording.load()["outcomes"], titles, today=TODAY)


def up_to_now(tracker_url: str, app_url: str) -> stats.Stats:
    """The last 90 days up to now (China time): the conversations and what a test adds now."""
    today = datetime.now(CHINA).date()
    return stats.compute(tracker_url, app_url, 90, wording.load()["outcomes"], {}, today=today)


def test_outcomes_channels_and_measures(tracker_url, app_url):
    result = compute(tracker_url, app_url, 7)
    expected = {
        "answered": 3,
        "overview": 1,
        "clarified": 1,
        "not_covered": 1,
        "out_of_scope": 1,
        "fallback": 1,
        "conversation": 2,
        "refused_rate_limit": 5,
        "refused_too_long": 1,
        "refused_apology": 1,
        "other": 1,
    }
    assert result.outcomes == expected
    assert list(result.outcomes) == list(wording.load()["outcomes"])  # the file's order
    assert result.total == sum(expected.values()) == 18
    # the staff channel's question and refusals are left out; the web page is its own channel
    assert result.channels == {"rest": 10, "web": 5, "wechat": 3}
    assert [(m["number"], m["asked"]) for m in result.top_measures[:2]] == [(22, 2), (24, 1)]
    assert result.top_measures[0]["label"] == "第22项" and result.top_measures[0]["title"] == "措施22"


def test_days_are_china_days_and_every_day_is_listed(tracker_url, app_url):
    result = compute(tracker_url, app_url, 7)
    assert [d["day"] for d in result.per_day] == [(TODAY - timedelta(days=6 - i)).isoformat() for i in range(7)]
    today, yesterday = result.per_day[-1], result.per_day[-2]
    # today: r1 (3), w1's 00:10 message, r3 (2), 5 rate-limited
    assert today["total"] == 11 and today["outcomes"]["clarified"] == 1
    # yesterday: w1's 23:30 message, r2 (5), one too long
    assert yesterday["total"] == 7 and yesterday["outcomes"]["not_covered"] == 1
    assert sum(d["total"] for d in result.per_day[:-2]) == 0


def test_periods_include_older_conversations(tracker_url, app_url):
    assert compute(tracker_url, app_url, 30).total == 18
    ninety = compute(tracker_url, app_url, 90)
    assert ninety.total == 19 and ninety.outcomes["answered"] == 4 and len(ninety.per_day) == 90


def test_reply_time_median(tracker_url, app_url):
    # 11 resident turns with a reply, first replies at 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1 s
    result = compute(tracker_url, app_url, 7)
    assert result.reply_ms["count"] == 11
    assert result.reply_ms["median"] == pytest.approx(600, abs=1)


def test_feedback_per_measure(tracker_url, app_url):
    result = compute(tracker_url, app_url, 7)
    assert result.feedback == {"up": 1, "down": 1}
    by_number = {m["number"]: m for m in result.top_measures}
    assert (by_number[22]["up"], by_number[22]["down"]) == (0, 1)
    assert (by_number[24]["up"], by_number[24]["down"]) == (1, 0)
    assert 30 not in by_number  # the staff channel's vote and question are not residents'


def test_no_tracker_store_yet(app_url):
    result = stats.compute(None, app_url, 7, wording.load()["outcomes"], {}, today=TODAY)
    assert result.outcomes["refused_rate_limit"] == 5 and result.reply_ms == {"median": None, "count": 0}


@pytest.mark.parametrize("days", [0, 1, 14, 365, -7])
def test_only_the_offered_periods(days):
    with pytest.raises(ValueError):
        stats.period(days, TODAY)


def test_reply_names_are_parameters_not_sql(tracker_url, app_url):
    hostile = {
        "answered": {"label": "甲", "replies": ["measure_answer' OR '1'='1"]},
        "x": {"label": "乙", "replies": ["'); DROP TABLE events; --"]},
    }
    result = stats.compute(tracker_url, app_url, 7, hostile, {}, today=TODAY)
    assert result.outcomes["answered"] == 0
    assert compute(tracker_url, app_url, 7).total == 18  # the table is still there


def test_the_index_is_made_once(tracker_url, app_url):
    from sqlalchemy import inspect

    from knowledge import db

    compute(tracker_url, app_url, 7)
    compute(tracker_url, app_url, 7)
    names = [i["name"] for i in inspect(db.get_engine(tracker_url)).get_indexes("events")]
    assert names.count(stats.turns.EVENTS_INDEX) == 1


def _add(tracker_url: str, sender: str, events: list) -> None:
    """Write one more conversation with Rasa's store, as the running bot would."""
    trackers.save(tracker_url, {sender: events})


def test_the_summary_catches_up_and_rereading_changes_nothing(tracker_url, app_url):
    from bot.webapp import turns

    outcomes = wording.load()["outcomes"]
    before = up_to_now(tracker_url, app_url)
    ts = time.time() - 5
    _add(tracker_url, "late", [user("刻章要什么", "ask_seal_engraving", ts), bot(ts + 0.3, "measure_answer", [30])])
    for _ in range(3):  # each catch-up re-reads the last OVERLAP_S seconds
        assert turns.catch_up(tracker_url, outcomes)
    result = up_to_now(tracker_url, app_url)
    assert result.total == before.total + 1 and result.outcomes["answered"] == before.outcomes["answered"] + 1


def test_a_message_stored_late_is_still_counted(tracker_url, app_url):
    from bot.webapp import turns

    outcomes = wording.load()["outcomes"]
    turns.catch_up(tracker_url, outcomes)
    before = up_to_now(tracker_url, app_url).outcomes["fallback"]
    # a replica commits a message stamped two minutes ago after the summary passed it
    ts = time.time() - 120
    _add(tracker_url, "slow", [user("居住证", "ask_residence_permit_conditions", ts), bot(ts + 0.2, "default")])
    assert up_to_now(tracker_url, app_url).outcomes["fallback"] == before + 1


def test_changed_outcomes_rebuild_the_summary(tracker_url, app_url):
    outcomes = wording.load()["outcomes"]
    assert compute(tracker_url, app_url, 7).outcomes["fallback"] == 1
    merged = {code: dict(o) for code, o in outcomes.items() if code != "clarified"}
    merged["fallback"] = {**merged["fallback"], "replies": [*outcomes["fallback"]["replies"], "did_you_mean"]}
    result = stats.compute(tracker_url, app_url, 7, merged, {}, today=TODAY)
    assert result.outcomes["fallback"] == 2 and "clarified" not in result.outcomes


def test_a_big_first_build_goes_in_slices(tracker_url, app_url):
    from bot.webapp import turns

    outcomes = wording.load()["outcomes"]
    # with no time budget each call does one slice; the 40-day-old conversation, then the gap
    # to yesterday is skipped in one step
    calls = 1
    while not turns.catch_up(tracker_url, outcomes, budget_s=0):
        calls += 1
        assert calls < 20
    assert calls >= 2
    assert compute(tracker_url, app_url, 90).total == 19


def test_two_servers_catching_up_at_once(tracker_url, app_url):
    from concurrent.futures import ThreadPoolExecutor

    from bot.webapp import turns

    outcomes = wording.load()["outcomes"]
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda _: turns.catch_up(tracker_url, outcomes), range(4)))
    assert compute(tracker_url, app_url, 7).total == 18


def test_unanswered_questions_grouped(tracker_url, app_url):
    from bot.webapp.console.dashboard import unanswered_groups

    compute(tracker_url, app_url, 7)
    texts = stats.unanswered_texts(tracker_url, TODAY - timedelta(days=6), TODAY, wording.load()["outcomes"])
    assert sorted(t for t, _, _ in texts) == sorted(["身份证补办要多久", "落户", "啊啊啊"])
    groups = unanswered_groups(texts + [("身份证补办要多久？", "not_covered", 4), ("落户", "clarified", 2)])
    assert groups[0]["text"] == "身份证补办要多久" and groups[0]["count"] == 5
    assert groups[0]["reasons"] == ["not_covered"] and groups[0]["reason_labels"] == ["文件未规定"]
    assert [g["count"] for g in groups] == [5, 3, 1]


def test_unanswered_texts_are_redacted_when_shown():
    from bot.webapp.console.dashboard import unanswered_groups

    groups = unanswered_groups([("我的电话13912345678怎么落户", "fallback", 1)])
    assert "13912345678" not in str(groups)
