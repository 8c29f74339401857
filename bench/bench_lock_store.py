"""What the lock store does for one conversation answered by two replicas at once.

Starts the cluster of ``make cluster`` (``bot.ops.cluster.Cluster``, temporary folders, free ports)
three times: with ``endpoints.production.yml`` (our AtomicRedisLockStore shared by the replicas),
with Rasa's own ``RedisLockStore`` instead, and with no ``lock_store`` (Rasa's default
InMemoryLockStore, one per replica). Each round sends
``--messages`` different questions of ONE new conversation at the same moment, alternately to
replica A and B directly, then counts the user messages stored in the tracker store
(PostgreSQL). Prints one row per configuration:

    .venv/bin/python bench/bench_lock_store.py [--messages 6] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "毕业生落户需要什么",
    "身份证快递要几天",
    "港澳商务签注能办几次",
    "刻章要交什么材料",
    "驾照到期会有短信提醒吗",
    "居住证怎么办理",
    "公司被敲诈勒索怎么报案",
    "外地户口能在南宁办护照吗",
]


def one_round(cluster, n: int) -> dict:
    sender = f"lock-{uuid.uuid4().hex[:8]}"
    urls = cluster.rasa_urls

    def send(i: int) -> tuple[int, float]:
        started = time.monotonic()
        resp = requests.post(
            f"{urls[i % len(urls)]}/webhooks/rest/webhook",
            json={"sender": sender, "message": QUESTIONS[i % len(QUESTIONS)]},
            timeout=120,
        )
        return resp.status_code, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=n) as pool:
        outcomes = list(pool.map(send, range(n)))
    engine = sa.create_engine(cluster.databases["tracker"], future=True)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE sender_id = :s AND type_name = 'user'"), {"s": sender}
        ).scalar_one()
    engine.dispose()
    return {
        "ok": sum(code == 200 for code, _ in outcomes),
        "stored": stored,
        "latencies": [latency for _, latency in outcomes],
    }


def run(label: str, endpoints: Path | None, model: Path, args) -> None:
    from bot.ops import localdb
    from bot.ops.cluster import Cluster

    with tempfile.TemporaryDirectory(prefix="gxga-lockbench-") as tmp:
        cluster = Cluster(
            model=model,
            workdir=Path(tmp),
            port=localdb.free_port(),
            persistent=False,
            endpoints=endpoints,
            db_prefix="lockbench",
        )
        with cluster:
            rounds = [one_round(cluster, args.messages) for _ in range(args.rounds)]
    sent = args.messages * args.rounds
    stored = sum(r["stored"] for r in rounds)
    lost_rounds = sum(r["stored"] < args.messages for r in rounds)
    latencies = sorted(x for r in rounds for x in r["latencies"])
    print(
        f"| {label} | {sent} | {sum(r['ok'] for r in rounds)} | {stored} | {lost_rounds}/{args.rounds} | "
        f"{statistics.median(latencies):.2f} | {latencies[-1]:.2f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6, help="simultaneous messages of one conversation")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from bot import config
    from bot.ops.training import ensure_model

    model = ensure_model(config.load())
    print(
        f"{args.messages} simultaneous messages of one conversation, alternately to replica A and B; "
        f"{args.rounds} conversations\n"
    )
    print(
        "| lock store | sent | HTTP 200 | user messages stored | conversations with lost messages | "
        "latency p50 s | max s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    run("AtomicRedisLockStore (endpoints.production.yml, bot/rasa_ext/lock_store.py)", None, model, args)
    with tempfile.TemporaryDirectory(prefix="gxga-endpoints-") as tmp:

        def variant(name: str, change) -> Path:
            endpoints = yaml.safe_load((ROOT / "endpoints.production.yml").read_text(encoding="utf-8"))
            change(endpoints)
            path = Path(tmp) / f"endpoints.{name}.yml"
            # Written back with the ${VAR}s unquoted, as Rasa needs them.
            text = yaml.safe_dump(endpoints, allow_unicode=True, sort_keys=False)
            path.write_text(text.replace("'${", "${").replace("}'", "}"), encoding="utf-8")
            return path

        run(
            "Rasa's RedisLockStore (type: redis)",
            variant("rasa-redis", lambda e: e["lock_store"].update(type="redis")),
            model,
            args,
        )
        run(
            "InMemoryLockStore per replica (no lock_store)",
            variant("no-lock", lambda e: e.pop("lock_store")),
            model,
            args,
        )


if __name__ == "__main__":
    main()
