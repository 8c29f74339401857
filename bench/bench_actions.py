"""Latency of the action server alone: the request Rasa sends for ``action_answer_measure``, over HTTP.

Starts the real action server (``python -m bot.ops.action_server``, as :mod:`bot.ops.services`
starts it) on a free loopback port over a copy of the knowledge base, and builds, for every
single-turn question of ``tests/data/eval_cases.yml``, the very request body Rasa posts
(:func:`action_request`: Rasa's own ``RemoteAction._action_call_format`` over a tracker of the
session start and the parsed message, the domain included), with the trained model's parse of
the question. It then posts them over one keep-alive connection with ``?token=`` as Rasa does,
warms up, times ``--rounds`` rounds sequentially and prints p50/p95: over all the questions, and
over those whose intent the rules route to ``action_answer_measure`` (``data/rules/*.yml``).

``--out FILE`` writes each request's parse data and the server's response body, byte for byte,
so that two runs (before and after a change) can be diffed; ``--parses FILE`` reuses the parse
data of such a file instead of loading the model (the same requests, whatever was trained since).

Timings on shared machines are noisy: quote medians, compare runs made one after the other, never
assert them in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# The repository's packages, for `python bench/<script>.py`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
ACTION = "action_answer_measure"
# Fixed event times, so that the same question gives the same request body in every run.
EVENT_TIME = 1_700_000_000.0
# Rasa's endpoint URL for the action server; only its name matters to the request body.
ENDPOINT = "http://127.0.0.1:5055/webhook"


def action_request(parse_data: dict, domain: Any, sender: str, *, action: str = ACTION) -> dict:
    """The JSON body Rasa posts to the action server to run ``action`` after one parsed message.

    Built by Rasa's own code: a tracker of the session start (``action_session_start``,
    ``session_started``, ``action_listen``) and the message (``UserUttered`` with ``parse_data``),
    then ``RemoteAction._action_call_format``, which adds the whole domain.

    Args:
        parse_data: what NLU made of the message (``Agent.parse_message``), its ``text`` included.
        domain: a ``rasa.shared.core.domain.Domain`` (``Domain.load("domain.yml")``).
        sender: the conversation's id.
        action: the custom action to run.
    """
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    events = [
        ActionExecuted("action_session_start", timestamp=EVENT_TIME),
        SessionStarted(timestamp=EVENT_TIME),
        ActionExecuted("action_listen", timestamp=EVENT_TIME),
        UserUttered(
            parse_data.get("text"),
            parse_data.get("intent"),
            parse_data.get("entities"),
            parse_data=parse_data,
            timestamp=EVENT_TIME,
            input_channel="rest",
        ),
    ]
    tracker = DialogueStateTracker.from_events(sender, events, domain.slots)
    return RemoteAction(action, EndpointConfig(ENDPOINT))._action_call_format(tracker, domain)


def rule_routes(root: Path = ROOT) -> dict[str, str]:
    """Intent → the action the rules of ``data/rules/*.yml`` run right after it."""
    import yaml

    routes: dict[str, str] = {}
    for path in sorted((root / "data" / "rules").glob("*.yml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or []:
            steps = rule.get("steps") or []
            if len(steps) >= 2 and "intent" in steps[0] and "action" in steps[1]:
                routes.setdefault(steps[0]["intent"], steps[1]["action"])
    return routes


def latest_model(root: Path = ROOT) -> Path:
    """The newest trained model in ``models/``."""
    models = sorted((root / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("no model in models/: run `make train`")
    return models[-1]


def parse_all(model: Path, questions: list[str]) -> list[dict]:
    """The trained model's parse of each question (as Rasa's processor gets it)."""
    import logging

    import structlog
    from rasa.core.agent import Agent

    # Rasa's debug lines for every message parsed say nothing this benchmark needs
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    agent = Agent.load(str(model))

    async def parse() -> list[dict]:
        return [await agent.parse_message(q) for q in questions]

    return asyncio.run(parse())


def start_server(tmp: Path, kb_source: Path):
    """The action server on a free loopback port over a copy of ``kb_source``; (services, port, token)."""
    from bot import config
    from bot.ops.localdb import free_port
    from bot.ops.services import Services

    kb = tmp / "knowledge.db"
    shutil.copyfile(kb_source, kb)
    token = secrets.token_urlsafe(32)
    settings = replace(
        config.load(),
        action_port=free_port(),
        database_url=f"sqlite:///{kb}",
        tracker_db=tmp / "tracker.db",
        app_database_url=f"sqlite:///{tmp / 'app.db'}",
        action_server_token=token,
    )
    services = Services(settings=settings, model=Path("unused"))
    services.start(log_dir=tmp / "logs", only=("actions",))
    services.wait_ready()
    return services, settings.action_port, token


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> bytes:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"action server answered {response.status}: {data[:300]!r}")
    return data


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The user and system CPU time process ``pid`` has used so far (Linux ``/proc``), else NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds over all questions (20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (2)")
    parser.add_argument("--model", type=Path, default=None, help="the model to parse with (default: the newest)")
    parser.add_argument("--parses", type=Path, default=None, help="reuse the parse data of an earlier --out file")
    parser.add_argument("--kb", type=Path, default=ROOT / "var" / "knowledge.db", help="the SQLite knowledge base")
    parser.add_argument("--cases", type=Path, default=ROOT / "tests" / "data" / "eval_cases.yml")
    parser.add_argument("--out", type=Path, default=None, help="write parse data and response bodies here (JSON)")
    args = parser.parse_args(argv)

    from rasa.shared.core.domain import Domain

    from bot.quality.evaluate import load_cases

    if args.parses is not None:
        recorded = json.loads(args.parses.read_text(encoding="utf-8"))
        model_name = recorded["model"]
        items = [(r["question"], r["parse_data"]) for r in recorded["requests"]]
    else:
        questions = [c.turns[0] for c in load_cases(args.cases) if len(c.turns) == 1]
        model = args.model or latest_model()
        model_name = model.name
        items = list(zip(questions, parse_all(model, questions), strict=True))
    domain = Domain.load(str(ROOT / "domain.yml"))
    routes = rule_routes()
    bodies = [
        json.dumps(action_request(parse, domain, f"bench-{i:03d}")).encode("utf-8")
        for i, (_, parse) in enumerate(items)
    ]
    routed = [routes.get((parse.get("intent") or {}).get("name")) == ACTION for _, parse in items]

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        services, port, token = start_server(tmp, args.kb)
        ready_s = time.perf_counter() - started
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            path = f"/webhook?token={token}"
            responses = [post(conn, path, body) for body in bodies]
            for _ in range(max(0, args.warmup - 1)):
                for body in bodies:
                    post(conn, path, body)
            timings: list[list[float]] = [[] for _ in bodies]
            server = services.processes["actions"].pid
            cpu_before = cpu_seconds(server)
            begin = time.perf_counter()
            for _ in range(args.rounds):
                for i, body in enumerate(bodies):
                    t = time.perf_counter()
                    data = post(conn, path, body)
                    timings[i].append((time.perf_counter() - t) * 1000)
                    if data != responses[i]:
                        raise SystemExit(f"request {i} ({items[i][0]!r}) answered differently in a later round")
            wall = time.perf_counter() - begin
            cpu_after = cpu_seconds(server)
            user, system = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
            conn.close()
        finally:
            services.stop()

    every = [t for ts in timings for t in ts]
    answering = [t for ts, r in zip(timings, routed, strict=True) for t in ts if r]
    load = os.getloadavg()
    print(
        f"{len(bodies)} requests ({sum(routed)} routed to {ACTION}) x {args.rounds} rounds, sequential, one "
        f"keep-alive connection; request body {statistics.median(len(b) for b in bodies) / 1024:.1f} KiB median; "
        f"server ready after {ready_s:.1f} s; load average {load[0]:.2f} {load[1]:.2f}\n"
    )
    print("| requests | n | p50 ms | p95 ms | mean ms |\n| --- | ---: | ---: | ---: | ---: |")
    for label, values in (("all single-turn cases", every), (f"intent routed to {ACTION}", answering)):
        if values:
            print(
                f"| {label} | {len(values)} | {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} | "
                f"{statistics.fmean(values):.2f} |"
            )
    print(
        f"\n{len(every) / wall:.0f} requests/s over the timed rounds; the action server's CPU per request: "
        f"{user * 1000 / len(every):.2f} ms user, {system * 1000 / len(every):.2f} ms system "
        "(less sensitive to other load than the latency)"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "model": model_name,
            "requests": [
                {
                    "question": question,
                    "intent": (parse.get("intent") or {}).get("name"),
                    "routed": r,
                    "parse_data": parse,
                    "response": response.decode("utf-8"),
                }
                for (question, parse), r, response in zip(items, routed, responses, strict=True)
            ],
        }
        args.out.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"\nresponses written to {args.out}")


if __name__ == "__main__":
    main()
