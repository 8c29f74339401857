"""Load benchmark: concurrent residents' conversations against ``make run`` and ``make cluster``.

For each target the stack is started on free ports in a temporary folder, warmed with a few
questions, then locust (``bench/load/locustfile.py``, in ``.venv-bench``) runs two scenarios
against the REST channel, each bounded by a duration and a request count:

- ``residents``: ``--users`` concurrent conversations (50), 1–3 s of thinking between turns;
- ``saturation``: the same conversations with no thinking time, i.e. as fast as answers come.

Targets: ``run`` (what ``make run`` starts: one Rasa server, one action server, SQLite),
``cluster-1`` and ``cluster-2`` (``bot.ops.cluster``: PostgreSQL, Redis, nginx and one or two Rasa
replicas, each with its action server). While locust runs, the resident set size of every
service (with its children) is sampled each second; the peak is reported. Cold start is the
time from ``make run`` until the first question is answered (the model already trained).

Writes ``bench/reports/load.json``, ``load.md`` (the table the README shows) and
``load_latency.png``. The machine is shared and noisy: quote medians and ratios.

    make bench-load            # or: .venv/bin/python bench/bench_load.py [--targets run cluster-2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import requests

# The repository's packages, for `python bench/<script>.py`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import config
from bot.ops import localdb
from bot.ops.cluster import Cluster, _tree_rss_kb
from bot.ops.services import Services
from bot.ops.training import ensure_model
from bot.quality.evaluate import _percentile as percentile
from bot.quality.evaluate import load_cases

ROOT = Path(__file__).resolve().parent.parent

LOCUST = ROOT / ".venv-bench" / "bin" / "locust"
REPORTS = ROOT / "bench" / "reports"
SCENARIOS = {"residents": "1,3", "saturation": "0,0"}


@dataclass
class Target:
    """A running stack: where residents' REST requests go and how to read each service's RSS."""

    name: str
    url: str
    rss_kb: Callable[[], dict[str, int]]


def conversations() -> list[list[str]]:
    """The conversations residents hold: every evaluation case (single questions and follow-ups)."""
    return [list(c.turns) for c in load_cases(ROOT / "tests" / "data" / "eval_cases.yml")]


@contextmanager
def embedded(model: Path, tmp: Path) -> Iterator[Target]:
    """What ``make run`` starts (actions, Rasa, web), on free ports with its own SQLite files."""
    settings = replace(
        config.load(),
        rasa_port=localdb.free_port(),
        action_port=localdb.free_port(),
        web_port=localdb.free_port(),
        rasa_host="127.0.0.1",
        web_host="127.0.0.1",
        tracker_db=tmp / "tracker.db",
        app_database_url=f"sqlite:///{tmp / 'app.db'}",
        rasa_api_token=secrets.token_urlsafe(16),
    )
    services = Services(settings=settings, model=model)
    services.start(log_dir=tmp / "logs")
    try:
        services.wait_ready()
        yield Target(
            "run",
            f"http://127.0.0.1:{settings.rasa_port}",
            lambda: {name: _tree_rss_kb(p.pid) for name, p in services.processes.items() if p.poll() is None},
        )
    finally:
        services.stop()


@contextmanager
def clustered(model: Path, tmp: Path, replicas: int) -> Iterator[Target]:
    """``bot.ops.cluster`` with ``replicas`` Rasa replicas (and one web server) behind nginx."""
    cluster = Cluster(
        model=model,
        workdir=tmp / "cluster",
        port=localdb.free_port(),
        replicas=replicas,
        web_servers=1,
        db_prefix=f"load_{uuid.uuid4().hex[:6]}",
        persistent=False,
    )
    with cluster:
        yield Target(f"cluster-{replicas}", cluster.url, cluster.rss_kb)


class PeakMemory:
    """Samples each service's RSS every ``interval`` seconds in a thread; keeps the peaks (KiB)."""

    def __init__(self, read: Callable[[], dict[str, int]], interval: float = 1.0):
        self.peaks: dict[str, int] = {}
        self._read, self._interval = read, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, kb in self._read().items():
                self.peaks[name] = max(kb, self.peaks.get(name, 0))
            self._stop.wait(self._interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def keep_logs_on_failure(tmp: Path) -> Iterator[None]:
    """Copy the services' logs to var/load-logs/ if the block fails (the temporary folder goes)."""
    try:
        yield
    except BaseException:
        import shutil

        kept = ROOT / "var" / "load-logs"
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(
            tmp, kept, ignore=shutil.ignore_patterns("*.jsonl", "postgres", "pg*", "*.rdb"), dirs_exist_ok=True
        )
        print(f"logs kept in {kept}", file=sys.stderr)
        raise


def warm_up(url: str, n: int = 12) -> None:
    """A few questions first, so every replica has loaded its model and opened its pools."""
    for i in range(n):
        resp = requests.post(
            f"{url}/webhooks/rest/webhook", timeout=60, json={"sender": f"warmup-{i}", "message": "居住证怎么办理"}
        )
        resp.raise_for_status()


def run_locust(target: Target, scenario: str, args, tmp: Path) -> dict:
    """One bounded locust run; returns its figures (exact percentiles from every sample)."""
    samples = tmp / f"{target.name}-{scenario}.jsonl"
    env = {
        **os.environ,
        "LOAD_CONVERSATIONS": str(tmp / "conversations.json"),
        "LOAD_THINK": SCENARIOS[scenario],
        "LOAD_MAX_REQUESTS": str(args.max_requests),
        "LOAD_SAMPLES": str(samples),
    }
    cmd = [
        str(LOCUST),
        "-f",
        str(ROOT / "bench" / "load" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{args.duration}s",
        "--stop-timeout",
        "10",
        "--host",
        target.url,
        "--loglevel",
        "WARNING",
    ]
    with PeakMemory(target.rss_kb) as memory:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.duration + 120)
    if not samples.exists():
        raise RuntimeError(f"locust wrote no samples (exit {done.returncode}):\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    first = min(start for start, *_ in rows)
    # steady state: after every resident has arrived (spawning, then one think time)
    ramp_s = args.users / args.spawn_rate + float(SCENARIOS[scenario].split(",")[1])
    steady = [row for row in rows if row[0] - first >= ramp_s]
    latencies = [ms for _start, ms, _ok, _reason in steady]
    errors = [reason for _start, _ms, ok, reason in rows if not ok]
    span = max(start + ms / 1000 for start, ms, _ok, _r in steady) - min(start for start, *_ in steady)
    return {
        "target": target.name,
        "scenario": scenario,
        "users": args.users,
        "requests": len(rows),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "ramp_s": ramp_s,
        "throughput_rps": len(steady) / span,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "p95_with_ramp_ms": percentile([ms for _s, ms, *_ in rows], 0.95),
        "peak_rss_mib": {name: round(kb / 1024) for name, kb in sorted(memory.peaks.items())},
        "samples": [[round(start - first, 3), ms] for start, ms, *_ in rows],
    }


def cold_start(tmp: Path, timeout: float = 180.0) -> float:
    """Seconds from ``make run`` until its REST channel answers a question from a measure."""
    ports = {name: str(localdb.free_port()) for name in ("RASA_PORT", "ACTION_PORT", "WEB_PORT")}
    env = {
        **os.environ,
        **ports,
        "TRACKER_DB": str(tmp / f"cold-{uuid.uuid4().hex[:6]}.db"),
        "APP_DATABASE_URL": f"sqlite:///{tmp / 'cold-app.db'}",
        "MAKEFLAGS": "",
    }
    url = f"http://127.0.0.1:{ports['RASA_PORT']}/webhooks/rest/webhook"
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while time.monotonic() - started < timeout:
            try:
                resp = requests.post(url, json={"sender": "cold", "message": "身份证多久能拿到"}, timeout=10)
                if resp.status_code == 200 and any((m.get("custom") or {}).get("measures") for m in resp.json()):
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"make run exited with {proc.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"make run did not answer within {timeout:.0f}s")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def write_reports(results: list[dict], colds: list[float], args) -> None:
    """load.json, load.md and load_latency.png under bench/reports/."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    (REPORTS / "load.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "users": args.users,
                "duration_s": args.duration,
                "max_requests": args.max_requests,
                "cold_start_s": colds,
                "runs": [{k: v for k, v in r.items() if k != "samples"} for r in results],
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine}; locust in the same machine; "
        f"{args.users} concurrent conversations, each run at most {args.duration} s and {args.max_requests} requests.",
        "Errors count the whole run; throughput and percentiles the steady state after the residents have "
        "arrived (the first `users / spawn rate + longest think time` seconds are left out; p95 with them in the "
        "next column).",
        "",
        "| target | scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | p95 with ramp | peak RSS MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        rss = ", ".join(f"{name} {mib}" for name, mib in r["peak_rss_mib"].items())
        lines.append(
            f"| {r['target']} | {r['scenario']} | {r['requests']} | {r['errors']} | {r['throughput_rps']:.1f} "
            f"| {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['p95_with_ramp_ms']:.0f} | {rss} |"
        )
    if colds:
        lines += [
            "",
            f"Cold start (`make run` until the first answer from a measure, model already trained): "
            f"median {statistics.median(colds):.1f} s of {len(colds)} ({', '.join(f'{c:.1f}' for c in colds)}).",
        ]
    (REPORTS / "load.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot(results, REPORTS / "load_latency.png")


def plot(results: list[dict], path: Path) -> None:
    """Left: p50/p95/p99 per run. Right: each run's latency over time (rolling 2-second p95)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, lines) = plt.subplots(1, 2, figsize=(13, 4.8))
    labels = [f"{r['target']}\n{r['scenario']}" for r in results]
    width = 0.27
    for i, (key, name) in enumerate((("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"))):
        bars.bar([x + (i - 1) * width for x in range(len(results))], [r[key] for r in results], width, label=name)
    bars.axhline(200, color="grey", linestyle="--", linewidth=1, label="p95 target (residents, one replica)")
    bars.set_xticks(range(len(results)), labels, fontsize=8)
    bars.set_ylabel("latency (ms)")
    bars.set_title("REST reply latency per run")
    bars.legend(fontsize=8)
    for r in results:
        samples = sorted(r["samples"])
        xs, ys, window = [], [], []
        for t, ms in samples:
            window.append((t, ms))
            window = [(wt, wm) for wt, wm in window if t - wt <= 2.0]
            xs.append(t)
            ys.append(percentile([wm for _wt, wm in window], 0.95))
        lines.plot(xs, ys, linewidth=1, label=f"{r['target']} {r['scenario']} ({r['throughput_rps']:.0f} req/s)")
    lines.set_xlabel("seconds into the run")
    lines.set_ylabel("rolling 2 s p95 (ms)")
    lines.set_yscale("log")
    lines.set_title("latency over time")
    lines.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Start each target, run the scenarios, write the reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--targets", nargs="+", default=["run", "cluster-1", "cluster-2"], choices=["run", "cluster-1", "cluster-2"]
    )
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=25)
    parser.add_argument("--duration", type=int, default=60, help="seconds per run")
    parser.add_argument("--max-requests", type=int, default=20_000, help="requests per run at most")
    parser.add_argument("--cold-starts", type=int, default=3, help="how many times to time `make run` (0: skip)")
    args = parser.parse_args()
    if not LOCUST.exists():
        sys.exit(
            f"{LOCUST} is missing: run `make bench-load` (it creates .venv-bench from bench/load/requirements.lock)"
        )
    model = ensure_model(config.load())
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gxga-load-") as name:
        tmp = Path(name)
        (tmp / "conversations.json").write_text(json.dumps(conversations(), ensure_ascii=False), encoding="utf-8")
        colds = []
        for i in range(args.cold_starts):
            colds.append(cold_start(tmp))
            print(f"cold start {i + 1}: {colds[-1]:.1f} s", flush=True)
        for target_name in args.targets:
            stack = embedded(model, tmp) if target_name == "run" else clustered(model, tmp, int(target_name[-1]))
            with keep_logs_on_failure(tmp), stack as target:
                warm_up(target.url)
                for scenario in args.scenarios:
                    result = run_locust(target, scenario, args, tmp)
                    results.append(result)
                    print(
                        f"{target.name:10} {scenario:10} {result['requests']:6} requests {result['errors']:3} errors "
                        f"{result['throughput_rps']:6.1f} req/s  p50 {result['p50_ms']:5.0f}"
                        f"  p95 {result['p95_ms']:5.0f}"
                        f"  p99 {result['p99_ms']:5.0f} ms  {result['error_kinds'][:3]}",
                        flush=True,
                    )
    write_reports(results, colds, args)
    print((REPORTS / "load.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
