"""The dashboard's figures: what residents asked over the last 7, 30 or 90 days, and what they got.

Everything is counted by the database, with SQL aggregates over Rasa's own tracker-store table
``events`` (SQLite by default, PostgreSQL in production) and the application database's
``feedback`` and ``refusal_count`` tables; only the grouped counts come back to Python.

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
from knowledge import db

log = logging.getLogger(__name__)

PERIODS = (7, 30, 90)
TOP_MEASURES = 20
TOP_UNANSWERED = 10
NO_REPLY_OUTCOME = "refused_apology"
OTHER_OUTCOME = "other"  # replies none of which the wording file gives an outcome
# The guard's refusal reasons (bot.storage.refusals.REASONS) as dashboard outcomes.
REFUSAL_OUTCOMES = {
    "rate_limited": "refused_rate_limit",
    "too_long": "refused_too_long",
    "unavailable": "refused_apology",
}
CHINA_OFFSET_S = 8 * 3600
DAY_S = 86400
# An index for the dashboard's range scans; Rasa makes only the one on sender_id.
EVENTS_INDEX = "ix_events_type_timestamp"

# One turn per row: the message's day, channel and time, the best (lowest) outcome rank among its
# replies (-1: no reply at all, -2: replies none of which has an outcome), the measure the answer
# cited first, and the first reply's time. {json} is the
# dialect's way to read the event's JSON once per row; {rank} and {measure} read it.
_TURNS = """
WITH ev AS {materialized} (
    SELECT id, sender_id, type_name, timestamp, {json} AS j
    FROM events
    WHERE type_name IN ('user', 'bot') AND timestamp >= :start AND timestamp < :end
),
numbered AS (
    SELECT id, sender_id, type_name, timestamp,
           CASE WHEN type_name = 'user' THEN {channel} END AS channel,
           CASE WHEN type_name = 'bot' THEN {rank} END AS rank,
           CASE WHEN type_name = 'bot' THEN {measure} END AS measure,
           SUM(CASE WHEN type_name = 'user' THEN 1 ELSE 0 END)
               OVER (PARTITION BY sender_id ORDER BY id ROWS UNBOUNDED PRECEDING) AS turn
    FROM ev
),
turns AS (
    SELECT MIN(CASE WHEN type_name = 'user' THEN timestamp END) AS asked_at,
           MAX(channel) AS channel,
           MIN(rank) AS rank,
           MIN(CASE WHEN type_name = 'bot' THEN timestamp END) AS replied_at,
           MIN(measure) AS measure
    FROM numbered
    WHERE turn > 0
    GROUP BY sender_id, turn
),
resident AS (
    SELECT {day} AS day, COALESCE(channel, 'other') AS channel,
           CASE WHEN rank IS NOT NULL THEN rank WHEN replied_at IS NULL THEN -1 ELSE -2 END AS rank, measure,
           (replied_at - asked_at) * 1000.0 AS reply_ms
    FROM turns
    WHERE COALESCE(channel, '') <> :staff
)
"""

_DIALECTS: dict[str, dict[str, str]] = {
    "sqlite": {
        "materialized": "",
        "json": "data",
        "channel": "json_extract(j, '$.input_channel')",
        "reply": "COALESCE(json_extract(j, '$.data.custom.reply'), json_extract(j, '$.metadata.utter_action'))",
        "measure": "CAST(json_extract(j, '$.data.custom.measures[0]') AS INTEGER)",
        "day": "CAST((asked_at + :offset) / 86400 AS INTEGER)",
    },
    "postgresql": {
        "materialized": "MATERIALIZED",
        "json": "CAST(data AS jsonb)",
        "channel": "(j ->> 'input_channel')",
        "reply": "COALESCE(j -> 'data' -> 'custom' ->> 'reply', j -> 'metadata' ->> 'utter_action')",
        "measure": "CASE WHEN jsonb_typeof(j -> 'data' -> 'custom' -> 'measures' -> 0) = 'number' "
        "THEN CAST(j -> 'data' -> 'custom' -> 'measures' ->> 0 AS INTEGER) END",
        "day": "CAST(floor((asked_at + :offset) / 86400) AS INTEGER)",
    },
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


def _outcome_ranks(outcomes: dict[str, dict]) -> tuple[list[str], str, dict[str, Any]]:
    """The outcome codes in order, a SQL CASE giving a reply name's rank, and its parameters.

    Reply names go in as bound parameters, never into the SQL text.
    """
    codes = list(outcomes)
    whens, params = [], {}
    for rank, code in enumerate(codes):
        for i, name in enumerate(outcomes[code]["replies"]):
            params[f"r{rank}_{i}"] = name
            whens.append(f"WHEN :r{rank}_{i} THEN {rank}")
    case = f"CASE {{reply}} {' '.join(whens)} ELSE NULL END" if whens else "NULL"
    return codes, case, params


def ensure_index(conn: Connection) -> None:
    """Create :data:`EVENTS_INDEX` on ``events (type_name, timestamp)`` if it is missing."""
    conn.execute(sql(f"CREATE INDEX IF NOT EXISTS {EVENTS_INDEX} ON events (type_name, timestamp)"))
    conn.commit()


def _turn_query(dialect: str, outcomes: dict[str, dict]) -> tuple[str, dict[str, Any], list[str]]:
    parts = _DIALECTS.get(dialect)
    if parts is None:
        raise StatsError(f"no dashboard queries for a {dialect} tracker store")
    codes, case, params = _outcome_ranks(outcomes)
    rank = case.replace("{reply}", parts["reply"])
    query = _TURNS.format(
        materialized=parts["materialized"],
        json=parts["json"],
        channel=parts["channel"],
        rank=rank,
        measure=parts["measure"],
        day=parts["day"],
    )
    return query, params, codes


def tracker_figures(
    tracker_url: str, since: date, until: date, outcomes: dict[str, dict]
) -> tuple[list[tuple[int, str, str, int | None, int]], float | None, int]:
    """The tracker store's turns of the period, grouped.

    Returns:
        ``(rows, median_ms, timed)``: rows of ``(day number, channel, outcome code, first cited
        measure or None, count)``; the median reply time in milliseconds over
        the ``timed`` turns that got a reply.
    """
    engine = db.get_engine(tracker_url)
    dialect = engine.dialect.name
    query, params, codes = _turn_query(dialect, outcomes)
    start = (_day_number(since) * DAY_S) - CHINA_OFFSET_S
    end = (_day_number(until) + 1) * DAY_S - CHINA_OFFSET_S
    params.update(start=start, end=end, offset=CHINA_OFFSET_S, staff=STAFF_CHANNEL)
    grouped = sql(
        query + "SELECT day, channel, rank, measure, COUNT(*) FROM resident GROUP BY day, channel, rank, measure"
    )
    with engine.connect() as conn:
        ensure_index(conn)
        rows = [
            (int(d), str(c), _outcome_code(codes, int(r)), int(m) if m is not None else None, int(n))
            for d, c, r, m, n in conn.execute(grouped, params)
        ]
        median, timed = _median_reply_ms(conn, dialect, query, params)
    return rows, median, timed


def _outcome_code(codes: list[str], rank: int) -> str:
    """The outcome of a turn's rank (see ``_TURNS``)."""
    if rank == -1:
        return NO_REPLY_OUTCOME
    return codes[rank] if 0 <= rank < len(codes) else OTHER_OUTCOME


def _median_reply_ms(conn: Connection, dialect: str, query: str, params: dict) -> tuple[float | None, int]:
    timed = "FROM resident WHERE reply_ms IS NOT NULL AND reply_ms >= 0"
    if dialect == "postgresql":
        row = conn.execute(
            sql(query + f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY reply_ms), COUNT(*) {timed}"), params
        ).one()
        return (round(float(row[0]), 1) if row[0] is not None else None), int(row[1])
    # SQLite has no percentile function: the middle one or two values of the sorted times.
    count = int(conn.execute(sql(query + f"SELECT COUNT(*) {timed}"), params).scalar() or 0)
    if not count:
        return None, 0
    middle = conn.execute(
        sql(query + f"SELECT reply_ms {timed} ORDER BY reply_ms LIMIT :n OFFSET :skip"),
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
    rows, median, timed = tracker_figures(tracker_url, since, until, outcomes) if tracker_url else ([], None, 0)
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
        primary = next((int(x) for x in measures.split(",") if x.strip().isdigit()), None)
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
    )
