"""Compare ways of finding the measure that answers a question, on the eval cases.

Contenders, all scored on the single-turn cases of ``tests/data/eval_cases.yml``:
- each Rasa config given (``config.yml`` by default, plus any under ``bench/configs/``): trained
  on ``data/`` (NLU only), then a question's measure is the primary measure of its intent in
  ``knowledge/intents.yml``; ``nlu_fallback`` or an unmapped intent means "no measure";
- BM25 over the 50 measures' text with jieba tokens (the knowledge base's user dictionary),
  with the no-measure threshold chosen to maximise overall accuracy on these same cases (so
  it is an upper bound for BM25).

Usage: ``.venv/bin/python bench/compare_nlu.py [--configs A.yml B.yml] [--out results.json]``.
Prints a Markdown table: in-scope top-1 accuracy, no-measure accuracy, overall accuracy,
training time and median parse time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# The repository's packages, for `python bench/<script>.py`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bot.quality.evaluate import load_cases
from knowledge.intent_map import load_intent_map

ROOT = Path(__file__).resolve().parent.parent


def single_turn_cases():
    return [c for c in load_cases(ROOT / "tests" / "data" / "eval_cases.yml") if len(c.turns) == 1]


def score(predictions: list[int | None], cases) -> dict:
    in_scope = [(p, c) for p, c in zip(predictions, cases, strict=True) if c.measures]
    none = [(p, c) for p, c in zip(predictions, cases, strict=True) if not c.measures]
    hit = sum(1 for p, c in in_scope if p in c.measures)
    rejected = sum(1 for p, _ in none if p is None)
    return {
        "in_scope": round(hit / len(in_scope), 4),
        "no_measure": round(rejected / len(none), 4) if none else None,
        "overall": round((hit + rejected) / len(cases), 4),
    }


def train(config: Path, out: Path) -> tuple[Path, float]:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            "data/nlu",
            "--out",
            str(out),
            "--fixed-model-name",
            config.stem,
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return out / f"{config.stem}.tar.gz", time.perf_counter() - start


def rasa_predictions(model: Path, cases) -> tuple[list[int | None], float]:
    import logging

    from rasa.core.agent import Agent

    logging.disable(logging.INFO)
    specs = load_intent_map()
    agent = Agent.load(str(model))
    predictions, times = [], []
    for case in cases:
        start = time.perf_counter()
        parsed = asyncio.run(agent.parse_message(case.turns[0]))
        times.append((time.perf_counter() - start) * 1000)
        spec = specs.get((parsed.get("intent") or {}).get("name"))
        predictions.append(spec.primary if spec else None)
    return predictions, statistics.median(times)


class BM25:
    """Okapi BM25 over the measures (k1=1.5, b=0.75)."""

    def __init__(self, docs: dict[int, list[str]], k1: float = 1.5, b: float = 0.75):
        self.docs, self.k1, self.b = docs, k1, b
        self.avg = sum(len(d) for d in docs.values()) / len(docs)
        df = Counter(t for d in docs.values() for t in set(d))
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.tf = {k: Counter(d) for k, d in docs.items()}

    def best(self, query: list[str]) -> tuple[int, float]:
        scores = {}
        for k, tf in self.tf.items():
            length = len(self.docs[k])
            s = 0.0
            for t in query:
                if t in tf:
                    f = tf[t]
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * length / self.avg))
            scores[k] = s
        number = max(scores, key=scores.get)
        return number, scores[number]


def bm25_predictions(cases) -> tuple[list[int | None], float, float]:
    import jieba

    from bot import config
    from bot.text.normalize import normalize_text
    from knowledge.repository import KnowledgeBase

    settings = config.load()
    jieba.setLogLevel(60)
    jieba.load_userdict(str(settings.jieba_userdict))
    kb = KnowledgeBase(settings.database_url)

    def tokens(text: str) -> list[str]:
        return [
            t
            for t in jieba.lcut(normalize_text(text))
            if t.strip() and not all(ch in "，。、；：？！,.?!“”（）()" for ch in t)
        ]

    index = BM25({m.number: tokens(m.text) for m in kb.measures()})
    start = time.perf_counter()
    raw = [index.best(tokens(kb.normalize_terms(c.turns[0]))) for c in cases]
    per_ms = (time.perf_counter() - start) * 1000 / len(cases)
    best_threshold, best_overall = 0.0, -1.0
    for threshold in sorted({s for _, s in raw} | {0.0}):
        preds = [n if s > threshold else None for n, s in raw]
        overall = score(preds, cases)["overall"]
        if overall > best_overall:
            best_threshold, best_overall = threshold, overall
    return [n if s > best_threshold else None for n, s in raw], best_threshold, per_ms


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--configs", nargs="*", default=[str(ROOT / "config.yml"), str(ROOT / "bench/configs/rasa_init_default.yml")]
    )
    parser.add_argument("--out", help="write the figures as JSON")
    args = parser.parse_args()
    cases = single_turn_cases()
    print(f"{len(cases)} single-turn cases ({sum(1 for c in cases if c.measures)} in scope)\n")
    print("| contender | in-scope top-1 | no-measure | overall | train s | parse ms (median) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |", flush=True)
    rows = []

    def report(row: dict) -> None:
        rows.append(row)
        print(
            f"| {row['name']} | {row['in_scope']} | {row['no_measure']} | {row['overall']} | {row['train_s']} | "
            f"{row['parse_ms']} |",
            flush=True,
        )
        if args.out:
            Path(args.out).write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")

    preds, threshold, per_ms = bm25_predictions(cases)
    report(
        {
            "name": f"BM25 over measure text (jieba, best threshold {threshold:.2f})",
            **score(preds, cases),
            "train_s": 0.0,
            "parse_ms": round(per_ms, 2),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            model, seconds = train(Path(config), Path(tmp))
            preds, parse_ms = rasa_predictions(model, cases)
            report(
                {
                    "name": f"Rasa {Path(config).resolve().relative_to(ROOT)}",
                    **score(preds, cases),
                    "train_s": round(seconds, 1),
                    "parse_ms": round(parse_ms, 2),
                }
            )


if __name__ == "__main__":
    main()
