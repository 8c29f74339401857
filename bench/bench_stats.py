"""How long the dashboard takes over a big tracker store: 1,000,000 events, about 100,000 conversations.

Fills Rasa's ``events`` table (the schema Rasa's ``SQLTrackerStore`` creates, the event JSON of
Rasa's own event classes) with conversations spread over the last 90 days, on PostgreSQL (a
throw-away server from ``bot.ops.localdb``) and on SQLite, then times what
``GET /console/api/stats?days=N`` computes: the figures (:func:`bot.webapp.stats.compute`) and
the unanswered question groups (:func:`bot.webapp.console.dashboard.unanswered_groups`). Prints
the summary's first build over the whole store (:mod:`bot.webapp.turns`, which a server does once,
in the background), the median of ``--runs`` dashboards per period and database, and one
dashboard after 10,000 more events (its catch-up included)::

    .venv/bin/python bench/bench_stats.py [--events 1000000] [--runs 5] [--only postgres|sqlite]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)

QUESTIONS = [
    ("毕业生落户需要什么材料", "ask_settle_graduate_materials", "measure_answer", [22]),
    ("居住证办理条件是什么", "ask_residence_permit_conditions", "measure_answer", [24]),
    ("身份证多久能拿到", "ask_id_card_issue_time", "measure_answer", [26]),
    ("刻章要交什么", "ask_seal_engraving", "measure_answer", [30]),
    ("港澳签注能办几次", "ask_hk_macau_endorsement", "measure_answer", [33]),
    ("外国人才签证怎么办", "ask_foreign_talent_visa", "measure_answer", [35]),
    ("驾驶证到期换证", "ask_driving_licence_renewal", "measure_answer", [40]),
    ("消防验收要多久", "ask_fire_acceptance", "measure_answer", [45]),
    ("身份证丢了补办要多久", "ask_id_card_issue_time", "not_covered_related", []),
    ("护照加急费用多少", "out_of_scope", "not_covered", []),
    ("落户", "nlu_fallback", "did_you_mean", None),
    ("户口", "ask_settle_graduate_materials", "topic_overview", [21, 22, 23]),
    ("明天天气怎么样", "out_of_scope", "out_of_scope", None),
    ("啊这个那个", "nlu_fallback", "default", None),
    ("你好", "greet", None, None),
    ("谢谢", "thank", None, None),
]
# how often each of QUESTIONS is asked (answers mostly, then the rest)
WEIGHTS = [14, 12, 10, 8, 6, 4, 4, 4, 6, 3, 6, 3, 4, 6, 6, 4]
CHANNELS = (["web"] * 5) + (["wechat"] * 4) + ["rest"]
UTTERS = {"greet": "utter_greet", "thank": "utter_thanks"}
INTENTS = sorted({q[1] for q in QUESTIONS} | {"goodbye", "bot_challenge", "request_human", "show_measure"})


def turn_events(rnd: random.Random, ts: float, channel: str) -> list:
    """One resident message and what the bot stored for it, as Rasa's event objects."""
    text, intent, reply, measures = rnd.choices(QUESTIONS, WEIGHTS)[0]
    confidence = 0.3 + rnd.random() * 0.7 if intent != "nlu_fallback" else 0.3
    ranking = [{"name": intent, "confidence": confidence}] + [
        {"name": other, "confidence": (1 - confidence) / 9} for other in rnd.sample(INTENTS, 9) if other != intent
    ]
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "intent_ranking": ranking[:10],
        "response_selector": {"all_retrieval_intents": [], "default": {"response": {}, "ranking": []}},
    }
    events = [UserUttered(text, intent=parse["intent"], parse_data=parse, input_channel=channel, timestamp=ts)]
    ts += 0.02 + rnd.random() * 0.08
    if reply is None:
        utter = UTTERS[intent]
        events += [
            ActionExecuted(utter, timestamp=ts),
            BotUttered("您好！", metadata={"utter_action": utter}, timestamp=ts),
        ]
    else:
        custom = {"reply": reply, **({"measures": measures} if measures is not None else {})}
        if measures:
            custom["citation"] = {"measure": measures[0], "title": "关于深化公安“放管服”改革的实施意见"}
        events += [
            ActionExecuted("action_answer_measure", timestamp=ts),
            BotUttered("根据《实施意见》第22项，" + "相关规定" * 30, data={"custom": custom}, timestamp=ts),
            SlotSet("cited_measures", [str(m) for m in measures or []], timestamp=ts),
            SlotSet("topic", "settle", timestamp=ts),
            SlotSet("last_intent", intent, timestamp=ts),
        ]
    return events + [ActionExecuted("action_listen", timestamp=ts + 0.001)]


def conversations(total_events: int, seed: int = 7, days: float = 90):
    """``(sender, events)`` over the last ``days`` days until ``total_events`` events are made."""
    rnd = random.Random(seed)
    now = time.time()
    made, n = 0, 0
    while made < total_events:
        n += 1
        start = now - 90 - rnd.random() * days * 86400
        channel = rnd.choice(CHANNELS)
        events = [
            ActionExecuted("action_session_start", timestamp=start),
            SessionStarted(timestamp=start),
            ActionExecuted("action_listen", timestamp=start),
        ]
        ts = start + 1
        for _ in range(1 if rnd.random() < 0.9 else 2):
            events += turn_events(rnd, ts, channel)
            ts += 30 + rnd.random() * 60
        made += len(events)
        yield f"bench-{seed}-{n:07d}", events


def rows(total_events: int, seed: int = 7, days: float = 90):
    """The events table's rows, as ``SQLTrackerStore`` writes them."""
    for sender, events in conversations(total_events, seed, days):
        for event in events:
            data = event.as_dict()
            intent = ((data.get("parse_data") or {}).get("intent") or {}).get("name")
            yield sender, data["event"], data.get("timestamp"), intent, data.get("name"), json.dumps(data)


def create_table(url: str) -> None:
    """Rasa's events table, made by Rasa's own model."""
    from rasa.core.tracker_store import SQLTrackerStore

    from knowledge import db

    SQLTrackerStore.SQLEvent.metadata.create_all(db.get_engine(url))


def fill_postgres(url: str, total_events: int, seed: int = 7, days: float = 90) -> int:
    """COPY the rows into PostgreSQL; returns how many."""
    import psycopg2
    from sqlalchemy.engine import make_url

    create_table(url)
    u = make_url(url)
    conn = psycopg2.connect(host=u.host, port=u.port, dbname=u.database, user=u.username, password=u.password)
    count = 0
    with conn, conn.cursor() as cur:
        batch = io.StringIO()
        for sender, type_name, ts, intent, action, data in rows(total_events, seed, days):
            fields = [sender, type_name, repr(ts), intent, action, data]
            batch.write("\t".join(_copy_field(f) for f in fields) + "\n")
            count += 1
            if count % 50_000 == 0:
                _copy(cur, batch)
                batch = io.StringIO()
        _copy(cur, batch)
        cur.execute("ANALYZE events")
    conn.close()
    return count


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _copy(cur, batch: io.StringIO) -> None:
    batch.seek(0)
    cur.copy_expert("COPY events (sender_id, type_name, timestamp, intent_name, action_name, data) FROM STDIN", batch)


def fill_sqlite(url: str, total_events: int, seed: int = 7, days: float = 90) -> int:
    """Insert the rows into SQLite in one transaction; returns how many."""
    from sqlalchemy import text

    from knowledge import db

    create_table(url)
    count = 0
    insert = text(
        "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
        "VALUES (:s, :t, :ts, :i, :a, :d)"
    )
    with db.get_engine(url).begin() as conn:
        batch = []
        for s, t, ts, i, a, d in rows(total_events, seed, days):
            batch.append({"s": s, "t": t, "ts": ts, "i": i, "a": a, "d": d})
            if len(batch) == 20_000:
                conn.execute(insert, batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(insert, batch)
            count += len(batch)
    return count


def dashboard(tracker_url: str, app_url: str, days: int) -> dict[str, float]:
    """One ``GET /console/api/stats`` worth of work, timed by part (seconds)."""
    from bot.webapp import stats
    from bot.webapp.console import dashboard as page
    from bot.webapp.console import wording

    outcomes = wording.load()["outcomes"]
    titles = {n: (f"第{n}项", "") for n in range(1, 51)}
    t0 = time.perf_counter()
    result = stats.compute(tracker_url, app_url, days, outcomes, titles)
    t1 = time.perf_counter()
    page.unanswered_groups(stats.unanswered_texts(tracker_url, result.since, result.until, outcomes))
    t2 = time.perf_counter()
    return {"figures": t1 - t0, "unanswered": t2 - t1, "total": t2 - t0, "messages": result.total}


def build(tracker_url: str) -> float:
    """The summary's first build over the whole store (seconds)."""
    from bot.webapp import turns
    from bot.webapp.console import wording

    t0 = time.perf_counter()
    while not turns.catch_up(tracker_url, wording.load()["outcomes"], budget_s=3600):
        pass
    return time.perf_counter() - t0


def measure(name: str, tracker_url: str, app_url: str, runs: int, fill) -> None:
    """Print the first build, then the dashboard per period, then a catch-up after more traffic."""
    from knowledge import db

    print(f"<!-- {name}: summary first built in {build(tracker_url):.1f} s -->", flush=True)
    for days in (7, 30, 90):
        timed = [dashboard(tracker_url, app_url, days) for _ in range(runs)]
        med = {k: statistics.median(t[k] for t in timed) for k in ("figures", "unanswered", "total")}
        print(
            f"| {name} | {days} | {timed[0]['messages']:,} | {med['figures']:.3f} | "
            f"{med['unanswered']:.3f} | {med['total']:.3f} |",
            flush=True,
        )
    # a busy three minutes (Rasa stores events seconds after stamping them: within the overlap)
    added = fill(tracker_url, 10_000, seed=11, days=180 / 86400)
    t0 = time.perf_counter()
    after = dashboard(tracker_url, app_url, 30)
    print(
        f"<!-- {name}: {added:,} more events, then the 30-day dashboard with its catch-up took "
        f"{time.perf_counter() - t0:.2f} s ({after['messages']:,} messages) -->",
        flush=True,
    )
    db.dispose_engine(tracker_url)


def main() -> int:
    """Fill each database, time the dashboard, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    args = parser.parse_args()
    from bot.ops import localdb

    print(f"{datetime.now():%Y-%m-%d %H:%M}, {args.events:,} events, median of {args.runs} runs after the first")
    print("| database | days | messages in period | figures s | unanswered groups s | dashboard s |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        app_url = f"sqlite:///{tmp}/app.db"
        if args.only in (None, "postgres"):
            with localdb.postgres_server() as server:
                url = localdb.create_database(server)
                t0 = time.perf_counter()
                n = fill_postgres(url, args.events)
                print(f"<!-- PostgreSQL: {n:,} events loaded in {time.perf_counter() - t0:.0f} s -->", flush=True)
                measure("PostgreSQL", url, app_url, args.runs, fill_postgres)
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{tmp}/tracker.db"
            t0 = time.perf_counter()
            n = fill_sqlite(url, args.events)
            print(f"<!-- SQLite: {n:,} events loaded in {time.perf_counter() - t0:.0f} s -->", flush=True)
            measure("SQLite", url, app_url, args.runs, fill_sqlite)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
