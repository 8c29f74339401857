"""Reply latency through the REST channel of a running stack (started here on free ports).

Sends every single-turn question of ``tests/data/eval_cases.yml`` ``--rounds`` times, one
conversation per question, sequentially, and prints p50/p95/p99 and throughput. Timings on
shared machines are noisy: quote medians and compare ratios, never assert them in tests.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

# The repository's packages, for `python bench/<script>.py`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import config
from bot.ops.localdb import free_port
from bot.ops.services import Services
from bot.ops.training import ensure_model
from bot.quality.evaluate import Client, _percentile, load_cases

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Start the stack, measure, stop it, print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    questions = [c.turns[0] for c in load_cases(ROOT / "tests/data/eval_cases.yml") if len(c.turns) == 1]
    settings = config.load()
    model = ensure_model(settings)
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(
            settings,
            rasa_port=free_port(),
            action_port=free_port(),
            rasa_host="127.0.0.1",
            tracker_db=Path(tmp) / "tracker.db",
            rasa_api_token=secrets.token_urlsafe(16),
            app_database_url=f"sqlite:///{Path(tmp) / 'app.db'}",
        )
        services = Services(settings=settings, model=model)
        started = time.perf_counter()
        services.start(log_dir=Path(tmp) / "logs", only=("actions", "rasa"))
        try:
            services.wait_ready()
            ready_s = time.perf_counter() - started
            client = Client(f"http://127.0.0.1:{settings.rasa_port}")
            client.send("warmup", "你好")
            latencies = []
            begin = time.perf_counter()
            for _ in range(args.rounds):
                for q in questions:
                    t = time.perf_counter()
                    client.send(f"bench-{uuid.uuid4().hex[:8]}", q)
                    latencies.append((time.perf_counter() - t) * 1000)
            wall = time.perf_counter() - begin
        finally:
            services.stop()
    print(f"{len(latencies)} requests, sequential, one conversation each; services ready after {ready_s:.1f} s\n")
    print("| p50 ms | p95 ms | p99 ms | requests/s |\n| ---: | ---: | ---: | ---: |")
    print(
        f"| {statistics.median(latencies):.1f} | {_percentile(latencies, 0.95):.1f} | "
        f"{_percentile(latencies, 0.99):.1f} | {len(latencies) / wall:.1f} |"
    )


if __name__ == "__main__":
    main()
