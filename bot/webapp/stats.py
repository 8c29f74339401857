"""The dashboard's figures: what residents asked over the last 7, 30 or 90 days, and what they got.

Everything is counted by the database, with SQL aggregates over the summary of Rasa's own
tracker-store table ``events`` that :mod:`bot.webapp.turns` keeps beside it (SQLite by default,
PostgreSQL in production), and over the application database's ``feedback`` and
``refusal_count`` tables; only the grouped counts come back to Python.

A *turn* is one resident message and the bot replies that follow it in the same conversation.
Its outcome is looked up from the reply names in ``bot/webapp/console/wording.yml``
(``outcomes``): an action's reply carries its name in the custom payload (``bot.replies.send``),
a ``domain.yml`` response its ``utter_action`` in the event's metadata. When a turn has several
replies with an outcome, the one listed first in the file counts. A message the dialogue gave no
reply at all got the channel's apology (``bot.rasa_ext.guard.finish``): it counts as
:data:`NO_REPLY_OUTCOME`. Messages the guard refused never reach the tracker; they come from
:mod:`bot.storage.refusals`. The console's own traffic (the staff channel) is left out.

Days are China's (UTC+8). The reply time of a turn is from the message's event to its first
reply's event, as Rasa stamped them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text as sql
from sqlalchemy.engine import Connection

from bot.security.staff import STAFF_CHANNEL
from bot.storage import appdb, refusals
from bot.webapp import turns
from knowledge import db

log = logging.getLogger(__name__)

PERIODS = (7, 30, 90)
TOP_MEASURES = 20
TOP_UNANSWERED = 10
NO_REPLY_OUTCOME = "refused_apology"
OTHER_OUTCOME = "other"  # replies none of which the wording file gives an outcome
# A request catches the summary up for at most this long; a big store's first build goes on in
# the web server's background task (bot.webapp.console.dashboard).
CATCH_UP_BUDGET_S = 1.0
# Outcomes that leave a question unanswered, and the review list's reason for each
# (bot.webapp.review): the dashboard's most frequent unanswered questions link there.
UNANSWERED = {"fallback": "fallback", "clarified": "fallback", "not_covered": "not_covered"}
UNANSWERED_TEXTS = 300  # the most asked texts the dashboard merges into groups
# The guard's refusal reasons (bot.storage.refusals.REASONS) as dashboard outcomes.
REFUSAL_OUTCOMES = {
    "rate_limited": "refused_rate_limit",
    "too_long": "refused_too_long",
    "unavailable": "refused_apology",
}


class StatsError(RuntimeError):
    """The figures cannot be computed (an unknown kind of database)."""


@dataclass
class Stats:
    """The dashboard's figures for one period (the JSON of ``GET /console/api/stats``)."""

    days: int
    since: date
    until: date
    outcomes: dict[str, int]
    per_day: list[dict[str, Any]]
    top_measures: list[dict[str, Any]]
    feedback: dict[str, int]
    channels: dict[str, int]
    reply_ms: dict[str, Any]
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True  # False while the summary of a big store is first being built

    @property
    def total(self) -> int:
        """Every resident message of the period, refused ones included."""
        return sum(self.outcomes.values())

    def to_json(self) -> dict[str, Any]:
        """The figures as the console's script and the CSV read them."""
        return {
            "days": self.days,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "total": self.total,
            "outcomes": self.outcomes,
            "per_day": self.per_day,
            "top_measures": self.top_measures,
            "feedback": self.feedback,
            "channels": self.channels,
            "reply_ms": self.reply_ms,
            "unanswered": self.unanswered,
            "complete": self.complete,
        }


def period(days: int, today: date | None = None) -> tuple[date, date]:
    """The first and last China-time day of the last ``days`` days, today included.

    Raises:
        ValueError: ``days`` is not one of :data:`PERIODS`.
    """
    if days not in PERIODS:
        raise ValueError(f"days must be one of {PERIODS}")
    today = today or datetime.now(refusals.CHINA).date()
    return today - timedelta(days=days - 1), today


def _day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def tracker_figures(
    tracker_url: str, since: date, until: date, outcomes: dict[str, dict]
) -> tuple[list[tuple[int, str, str, int | None, int]], float | None, int, bool]:
    """The period's resident turns, grouped, from the summary of :mod:`bot.webapp.turns` (caught up first).

    Returns:
        ``(rows, median_ms, timed, complete)``: rows of ``(day number, channel, outcome code, first
        cited measure or None, count)``; the median reply time in milliseconds over the ``timed``
        turns that got a reply; False when the summary is still being built (a big store's
        first build), so the figures are short.
    """
    complete = turns.catch_up(tracker_url, outcomes, budget_s=CATCH_UP_BUDGET_S)
    codes = list(outcomes)
    engine = db.get_engine(tracker_url)
    params = {"first": _day_number(since), "last": _day_number(until), "staff": STAFF_CHANNEL}
    period_rows = "FROM gxga_turn WHERE day >= :first AND day <= :last AND channel <> :staff"
    grouped = sql(
        "SELECT day, channel, CASE WHEN rank IS NOT NULL THEN rank WHEN replied_at IS NULL THEN -1 ELSE -2 END "
        f"AS outcome, measure, COUNT(*) {period_rows} GROUP BY day, channel, outcome, measure"
    )
    with engine.connect() as conn:
        rows = [
            (int(d), str(c), _outcome_code(codes, int(r)), int(m) if m is not None else None, int(n))
            for d, c, r, m, n in conn.execute(grouped, params)
        ]
        median, timed = _median_reply_ms(conn, engine.dialect.name, period_rows, params)
    return rows, median, timed, complete


def unanswered_texts(
    tracker_url: str, since: date, until: date, outcomes: dict[str, dict], limit: int = UNANSWERED_TEXTS
) -> list[tuple[str, str, int]]:
    """The period's most asked texts whose outcome is in :data:`UNANSWERED`, grouped by the database.

    Returns:
        ``(text, outcome code, count)``, most asked first (typed payloads such as button clicks,
        which start with "/", left out).
    """
    codes = list(outcomes)
    ranks = {f"u{i}": codes.index(code) for i, code in enumerate(UNANSWERED) if code in codes}
    if not ranks:
        return []
    params = {
        "first": _day_number(since),
        "last": _day_number(until),
        "staff": STAFF_CHANNEL,
        "limit": limit,
        **ranks,
    }
    stmt = sql(
        "SELECT text, rank, COUNT(*) AS n FROM gxga_turn "
        "WHERE day >= :first AND day <= :last AND channel <> :staff "
        f"AND rank IN ({', '.join(':' + k for k in ranks)}) AND text <> '' AND text NOT LIKE '/%' "
        "GROUP BY text, rank ORDER BY n DESC, text LIMIT :limit"
    )
    with db.get_engine(tracker_url).connect() as conn:
        return [(str(t), codes[int(r)], int(n)) for t, r, n in conn.execute(stmt, params)]


def _outcome_code(codes: list[str], rank: int) -> str:
    """The outcome of a turn's rank (-1: no reply at all; -2: no reply with an outcome)."""
    if rank == -1:
        return NO_REPLY_OUTCOME
    return codes[rank] if 0 <= rank < len(codes) else OTHER_OUTCOME


def _median_reply_ms(conn: Connection, dialect: str, period_rows: str, params: dict) -> tuple[float | None, int]:
    timed = f"{period_rows} AND replied_at IS NOT NULL AND replied_at >= asked_at"
    ms = "(replied_at - asked_at) * 1000.0"
    if dialect == "postgresql":
        row = conn.execute(
            sql(f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {ms}), COUNT(*) {timed}"), params
        ).one()
        return (round(float(row[0]), 1) if row[0] is not None else None), int(row[1])
    # SQLite has no percentile function: the middle one or two values of the sorted times.
    count = int(conn.execute(sql(f"SELECT COUNT(*) {timed}"), params).scalar() or 0)
    if not count:
        return None, 0
    middle = conn.execute(
        sql(f"SELECT {ms} AS ms {timed} ORDER BY ms LIMIT :n OFFSET :skip"),
        {**params, "n": 2 - count % 2, "skip": (count - 1) // 2},
    ).scalars()
    values = [float(v) for v in middle]
    return round(sum(values) / len(values), 1), count


def feedback_figures(app_url: str, since: date, until: date) -> list[tuple[str, str, int]]:
    """``(measures, value, count)`` of residents' 👍/👎 in the period, grouped by the database."""
    appdb.ensure_schema(app_url)
    start = datetime.combine(since, datetime.min.time(), refusals.CHINA)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), refusals.CHINA)
    stmt = sql(
        "SELECT measures, value, COUNT(*) FROM feedback "
        "WHERE created_at >= :start AND created_at < :end AND COALESCE(channel, '') <> :staff "
        "GROUP BY measures, value"
    )
    with db.get_engine(app_url).connect() as conn:
        return [
            (str(m or ""), str(v), int(n))
            for m, v, n in conn.execute(stmt, {"start": start, "end": end, "staff": STAFF_CHANNEL})
        ]


def compute(
    tracker_url: str | None,
    app_url: str,
    days: int,
    outcomes: dict[str, dict],
    measure_titles: dict[int, tuple[str, str]],
    today: date | None = None,
) -> Stats:
    """The dashboard's figures for the last ``days`` days.

    Args:
        tracker_url: Rasa's tracker store (None before Rasa created it: no conversations yet).
        app_url: the application database (feedback, refusals).
        days: one of :data:`PERIODS`.
        outcomes: the ``outcomes`` section of the console's wording (codes in order, reply names).
        measure_titles: measure number → (label, title), for the top measures.
        today: the last day (today in China by default).
    """
    since, until = period(days, today)
    first = _day_number(since)
    counts = {code: 0 for code in outcomes}
    per_day = {first + i: {code: 0 for code in outcomes} for i in range(days)}
    channels: dict[str, int] = {}
    asked: dict[int, int] = {}
    rows, median, timed, complete = (
        tracker_figures(tracker_url, since, until, outcomes) if tracker_url else ([], None, 0, True)
    )
    refused: list[tuple[int, str, str, int | None, int]] = [
        (d, c, REFUSAL_OUTCOMES[r], None, n)
        for d, c, r, n in refusals.counts_since(first, app_url)
        if d in per_day and r in REFUSAL_OUTCOMES and c != STAFF_CHANNEL
    ]
    for day, channel, code, measure, n in rows + refused:
        if day not in per_day or code not in counts:
            continue
        counts[code] += n
        per_day[day][code] += n
        channels[channel] = channels.get(channel, 0) + n
        if measure is not None and code == "answered":
            asked[measure] = asked.get(measure, 0) + n
    votes: dict[int, dict[str, int]] = {}
    feedback = {"up": 0, "down": 0}
    for measures, value, n in feedback_figures(app_url, since, until):
        if value not in feedback:
            continue
        feedback[value] += n
        primary = next(iter(appdb.numbers_of(measures)), None)
        if primary is not None:
            votes.setdefault(primary, {"up": 0, "down": 0})[value] += n
    ranked = sorted(set(asked) | set(votes), key=lambda m: (-asked.get(m, 0), -sum(votes.get(m, {}).values()), m))
    top = [
        {
            "number": m,
            "label": measure_titles.get(m, (f"第{m}项", ""))[0],
            "title": measure_titles.get(m, ("", ""))[1],
            "asked": asked.get(m, 0),
            "up": votes.get(m, {}).get("up", 0),
            "down": votes.get(m, {}).get("down", 0),
        }
        for m in ranked[:TOP_MEASURES]
    ]
    return Stats(
        days=days,
        since=since,
        until=until,
        outcomes=counts,
        per_day=[
            {"day": (since + timedelta(days=i)).isoformat(), "total": sum(day.values()), "outcomes": day}
            for i, day in enumerate(per_day.values())
        ],
        top_measures=top,
        feedback=feedback,
        channels=dict(sorted(channels.items(), key=lambda kv: -kv[1])),
        reply_ms={"median": median, "count": timed},
        complete=complete,
    )
