"""How long the staff review list takes over 20,000 listed questions, and what /health does meanwhile.

Fills a SQLite tracker store (Rasa's ``events`` table, made by Rasa's own model) with
``--questions`` low-confidence residents' questions (generated from a vocabulary of the notice's
topics and the notice's own words, so they fall into thousands of groups), starts the web server
as ``python -m bot.ops.webserver`` serves it (``GuardedRunner``, in a thread of this process), logs
a staff account in, then asks for ``GET /console/api/review-list`` ``--runs`` times while another
thread asks ``GET /health`` every 20 ms. Prints the list's median and p95 and the health check's
median, p95 and maximum, in milliseconds, as one JSON line (issue 22's targets: list p95 under
1 s, health under 50 ms)::

    .venv/bin/python bench/bench_review.py [--questions 20000] [--runs 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [
    "居住证",
    "身份证",
    "户口",
    "落户",
    "驾驶证",
    "行驶证",
    "护照",
    "港澳通行证",
    "签注",
    "刻章",
    "消防",
    "民宿",
    "网吧",
]
ASKS = [
    "怎么办理",
    "要多久",
    "需要什么材料",
    "在哪里办",
    "能不能网上办",
    "收费吗",
    "过期了怎么办",
    "丢了怎么补",
    "异地能办吗",
]
WHO = ["我", "我妈", "我家孩子", "外地人", "公司员工", "老人", "学生", "个体户", "外国人", "退休的"]
WHERE = [
    "南宁",
    "柳州",
    "桂林",
    "梧州",
    "北海",
    "钦州",
    "玉林",
    "百色",
    "贺州",
    "河池",
    "来宾",
    "崇左",
    "防城港",
    "贵港",
]


def questions(total: int, seed: int = 7) -> list[str]:
    """Residents' questions: who, where, a topic, what, and two of the notice's own words (varied groups)."""
    import jieba

    from bot import config

    notice = config.load().source_path.read_text(encoding="utf-8")
    words = sorted({w for w in jieba.lcut(notice) if len(w) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in w)})
    rnd = random.Random(seed)
    return [
        f"{rnd.choice(WHO)}在{rnd.choice(WHERE)}{rnd.choice(TOPICS)}{''.join(rnd.sample(words, 2))}{rnd.choice(ASKS)}"
        for _ in range(total)
    ]


def fill(path: Path, total: int) -> None:
    """``total`` low-confidence questions, one per conversation, as Rasa's store writes them."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered

    SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path)).engine.dispose()  # Rasa's table
    now = time.time()
    rows = []
    for i, text in enumerate(questions(total)):
        intent = {"name": "ask_residence_permit_conditions", "confidence": 0.3}
        event = UserUttered(text, intent, parse_data={"intent": intent, "text": text}, timestamp=now - total + i)
        data = event.as_dict()
        rows.append((f"bench-{i:06d}", "user", data["timestamp"], intent["name"], None, json.dumps(data)))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) VALUES (?,?,?,?,?,?)",
            rows,
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    from bot import config
    from tests.support.webapp import serve, staff_headers

    with tempfile.TemporaryDirectory() as tmp:
        tracker = Path(tmp) / "tracker.db"
        fill(tracker, args.questions)
        settings = dataclasses.replace(
            config.load(), tracker_db=tracker, app_database_url=f"sqlite:///{tmp}/app.db", redis_url=None
        )
        with serve(settings) as server:
            base = server["url"]
            headers = staff_headers(base, settings)
            health: list[float] = []
            done = threading.Event()

            def watch() -> None:
                while not done.is_set():
                    started = time.perf_counter()
                    urllib.request.urlopen(base + "/health", timeout=30).read()
                    health.append((time.perf_counter() - started) * 1000)
                    time.sleep(0.02)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            lists, groups = [], 0
            for _ in range(args.runs):
                started = time.perf_counter()
                request = urllib.request.Request(base + "/console/api/review-list", headers=headers)
                body = json.loads(urllib.request.urlopen(request, timeout=120).read())
                lists.append((time.perf_counter() - started) * 1000)
                groups = body["total"]
            done.set()
            watcher.join(timeout=30)
    print(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
                "questions": args.questions,
                "groups": groups,
                "list_first_ms": round(lists[0]),
                "list_median_ms": round(statistics.median(lists[1:] or lists)),
                "list_p95_ms": round(percentile(lists[1:] or lists, 0.95)),
                "health_median_ms": round(statistics.median(health), 1),
                "health_p95_ms": round(percentile(health, 0.95), 1),
                "health_max_ms": round(max(health), 1),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
