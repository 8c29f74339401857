"""Benchmark the knowledge base: build time and query latency (medians over repeated runs).

Usage: ``.venv/bin/python bench/bench_kb.py [--url URL] [--repeat N]``. Prints a Markdown table
for the README. Timings on shared machines are noisy: quote medians and compare ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import config
from knowledge.build import build
from knowledge.repository import KnowledgeBase


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throw-away PostgreSQL (as the tests do)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    if args.postgres:
        from tests.support.pgserver import create_database, postgres_server

        with postgres_server() as server:
            args.url = create_database(server)
            run(args)
    else:
        run(args)


def run(args) -> None:
    """Build and query the knowledge base at ``args.url`` and print the table."""
    settings = config.load()
    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{Path(tmp.name) / 'kb.db'}"
    inputs = dict(source=settings.source_path, lexicon=settings.lexicon_path, aliases=settings.aliases_path)

    start = time.perf_counter()
    build(url, force=True, **inputs)  # includes loading spaCy and jieba once
    first_ms = (time.perf_counter() - start) * 1000
    rebuild_ms = _median_ms(lambda: build(url, force=True, **inputs), max(3, args.repeat // 10))
    noop_ms = _median_ms(lambda: build(url, **inputs), max(3, args.repeat // 10))
    kb = KnowledgeBase(url)
    kb.search("预热")
    rows = [
        ("build, first in process (spaCy + jieba load)", first_ms),
        ("rebuild (forced)", rebuild_ms),
        ("build, unchanged source (no-op)", noop_ms),
        ("measure(22) with sentences and facts", _median_ms(lambda: kb.measure(22), args.repeat)),
        ("facts(26, 'time_limit')", _median_ms(lambda: kb.facts(26, "time_limit"), args.repeat)),
        ("search('毕业生落户需要什么')", _median_ms(lambda: kb.search("毕业生落户需要什么"), args.repeat)),
        ("resolve_alias('暂住证')", _median_ms(lambda: kb.resolve_alias("暂住证"), args.repeat)),
    ]
    print(f"database: {url.split('://')[0]}, repeat {args.repeat}\n")
    print("| operation | median ms |\n| --- | ---: |")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
