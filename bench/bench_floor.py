"""How close a reply is to the NLU that decides it: parse, action server and REST reply, side by side.

One run starts the stack of this checkout (the action server and the Rasa server, as ``make run``
starts them, on free ports with their own SQLite files) and, with ``--against REF``, the same stack
of another git ref, built in a throw-away worktree (its own knowledge base; its model reused from
``models/`` when the training inputs are the same, else trained there). Then, interleaved in a
random order, for every public single-turn case (``tests/data/*_cases.yml``) and every stack:

- **parse**: Rasa's ``POST /model/parse`` (NLU only);
- **action**: the action server alone answering ``action_answer_measure`` with the request Rasa
  itself would send for that parse (:func:`bench.bench_actions.action_request`, built and encoded
  before the clock starts, as Rasa has it ready when it calls);
- **reply**: the REST channel's full reply in a new conversation (guard, NLU, tracker store,
  policies, the action call, the reply).

Each request goes over a kept-alive connection, one at a time. Then **saturation**: ``--clients``
threads hold conversations from the cases (a new sender for each) as fast as answers come, for
``--windows`` windows of ``--seconds`` each, the stacks taking turns; messages per second count
the replies completed inside a window. The resident set size of each server is read idle and at
its peak under saturation.

Timings on a shared machine are noisy: read medians and the ratios within one run, never assert
them in tests. ``--json`` keeps the figures, ``--plot`` draws the latency split (parse / action /
rest of the turn) per stack.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

# The repository's packages, for `python bench/<script>.py`.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_actions import action_request  # noqa: E402
from bot.ops.localdb import free_port  # noqa: E402
from bot.quality.evaluate import _percentile, load_cases  # noqa: E402

ACTION = "action_answer_measure"
KINDS = ("parse", "action", "reply")

# Run inside a checkout (its own `bot` package first on sys.path, as `python -c` puts the working
# directory there): start its action and Rasa servers with the settings given as JSON in argv[1],
# print their process ids, serve until standard input closes, stop them.
LAUNCH = r"""
import json, sys
from dataclasses import replace
from pathlib import Path
from bot import config
from bot.ops.services import Services
from bot.ops.training import ensure_model
args = json.loads(sys.argv[1])
settings = config.load()
model = ensure_model(settings)
settings = replace(settings, rasa_port=args["rasa_port"], action_port=args["action_port"], rasa_host="127.0.0.1",
                   tracker_db=Path(args["tmp"]) / "tracker.db", rasa_api_token=args["rasa_token"],
                   action_server_token=args["action_token"], app_database_url="sqlite:///" + args["tmp"] + "/app.db")
services = Services(settings=settings, model=model)
services.start(log_dir=Path(args["tmp"]) / "logs", only=("actions", "rasa"))
try:
    services.wait_ready()
    print(json.dumps({"model": str(model), **{name: p.pid for name, p in services.processes.items()}}), flush=True)
    sys.stdin.read()
finally:
    services.stop()
"""


@dataclass
class Stack:
    """One running stack: where its servers listen, their secrets and processes, and what was measured."""

    name: str
    root: Path
    rasa_port: int
    action_port: int
    rasa_token: str
    action_token: str
    pids: dict[str, int] = field(default_factory=dict)
    domain: Any = None  # its rasa.shared.core.domain.Domain
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    throughput: list[float] = field(default_factory=list)
    errors: int = 0
    rss_idle: dict[str, int] = field(default_factory=dict)
    rss_peak: dict[str, int] = field(default_factory=dict)


class Connection:
    """A kept-alive HTTP connection that POSTs JSON and reconnects once when the server closed it."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def post(self, path: str, payload: dict, headers: dict | None = None) -> tuple[int, bytes]:
        """POST ``payload`` as JSON; returns the status and body."""
        return self.post_bytes(path, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers)

    def post_bytes(self, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
        """POST ``body`` (JSON already); returns the status and body."""
        head = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (1, 2):
            try:
                self.conn.request("POST", path, body=body, headers=head)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def single_questions() -> list[str]:
    """Every public single-turn case's question, once."""
    seen: dict[str, None] = {}
    for path in sorted((ROOT / "tests" / "data").glob("*_cases.yml")):
        for case in load_cases(path):
            if len(case.turns) == 1:
                seen.setdefault(case.turns[0], None)
    return list(seen)


def conversations() -> list[list[str]]:
    """Every public case as a conversation (single questions and follow-ups)."""
    return [list(c.turns) for path in sorted((ROOT / "tests" / "data").glob("*_cases.yml")) for c in load_cases(path)]


def rss_kb(pid: int) -> int:
    """The resident set size of process ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def worktree(ref: str, tmp: Path) -> Iterator[Path]:
    """A detached worktree of ``ref`` with its knowledge base built (``models/`` shared with this checkout)."""
    path = tmp / "against"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), ref], check=True)
    try:
        (path / "models").symlink_to(ROOT / "models", target_is_directory=True)
        subprocess.run([sys.executable, "-m", "knowledge", "build"], cwd=path, check=True, stdout=subprocess.DEVNULL)
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


@contextmanager
def running(name: str, root: Path, tmp: Path) -> Iterator[Stack]:
    """The action and Rasa servers of the checkout at ``root``, until the block ends."""
    from rasa.shared.core.domain import Domain

    stack = Stack(name, root, free_port(), free_port(), secrets.token_urlsafe(16), secrets.token_urlsafe(16))
    work = tmp / f"stack-{name}"
    work.mkdir()
    args = {
        "rasa_port": stack.rasa_port,
        "action_port": stack.action_port,
        "rasa_token": stack.rasa_token,
        "action_token": stack.action_token,
        "tmp": str(work),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, json.dumps(args)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = launcher.stdout.readline() if launcher.stdout else ""
        if not line:
            raise RuntimeError(f"the {name} stack did not start (logs in {work / 'logs'})")
        info = json.loads(line)
        stack.pids = {k: v for k, v in info.items() if k in ("actions", "rasa")}
        stack.domain = Domain.load(root / "domain.yml")
        print(f"{name}: {root} model {Path(info['model']).name}", file=sys.stderr)
        yield stack
    finally:
        if launcher.stdin:
            launcher.stdin.close()
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            launcher.kill()


class Client:
    """One stack's three kept-alive connections: Rasa's API, the REST channel and the action server."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.api = Connection(stack.rasa_port)
        self.rest = Connection(stack.rasa_port)
        self.actions = Connection(stack.action_port)

    def parse(self, text: str) -> dict:
        """NLU's reading of ``text`` (``/model/parse``)."""
        status, body = self.api.post(f"/model/parse?token={self.stack.rasa_token}", {"text": text})
        if status != 200:
            raise RuntimeError(f"{self.stack.name}: /model/parse answered {status}")
        return json.loads(body)

    def action_body(self, parse_data: dict) -> bytes:
        """The request Rasa would send to run ``action_answer_measure`` after ``parse_data``, as JSON."""
        request = action_request(parse_data, self.stack.domain, f"floor-{uuid.uuid4().hex[:10]}", action=ACTION)
        return json.dumps(request, ensure_ascii=False).encode("utf-8")

    def action(self, body: bytes) -> list:
        """The action server's answer to a request made by :meth:`action_body` (built before the clock starts)."""
        status, body = self.actions.post_bytes(f"/webhook?token={self.stack.action_token}", body)
        if status != 200:
            raise RuntimeError(f"{self.stack.name}: the action server answered {status}")
        return json.loads(body).get("responses", [])

    def reply(self, text: str, sender: str | None = None) -> list:
        """The REST channel's reply in a new conversation (or ``sender``'s)."""
        sender = sender or f"floor-{uuid.uuid4().hex[:10]}"
        status, body = self.rest.post("/webhooks/rest/webhook", {"sender": sender, "message": text})
        if status != 200:
            raise RuntimeError(f"{self.stack.name}: the REST channel answered {status}")
        return json.loads(body)


def measure_latency(stacks: list[Stack], questions: list[str], rounds: int, rng: random.Random) -> None:
    """Interleave parse, action and reply over ``questions`` for every stack, ``rounds`` times."""
    clients = {s.name: Client(s) for s in stacks}
    parsed = {s.name: {} for s in stacks}
    for q in questions:  # warm-up, and the action request built from each parse
        for s in stacks:
            parsed[s.name][q] = clients[s.name].action_body(clients[s.name].parse(q))
            clients[s.name].reply(q)
    for _ in range(rounds):
        order = list(questions)
        rng.shuffle(order)
        for q in order:
            for s in rng.sample(stacks, len(stacks)):
                client = clients[s.name]
                for kind in rng.sample(KINDS, len(KINDS)):
                    started = time.perf_counter()
                    if kind == "parse":
                        client.parse(q)
                    elif kind == "action":
                        client.action(parsed[s.name][q])
                    else:
                        client.reply(q)
                    s.times[kind].append((time.perf_counter() - started) * 1000)


def is_answer(messages: object) -> bool:
    """A reply with at least one text message.

    A refusal or an apology counts too; the stacks here are not rate-limited and none is expected.
    """
    return isinstance(messages, list) and any(isinstance(m, dict) and m.get("text") for m in messages)


def saturate(stack: Stack, talks: list[list[str]], clients: int, seconds: float, warmup: float = 2.0) -> float:
    """Messages per second the stack answers with ``clients`` conversations at once (no thinking)."""
    stop = threading.Event()
    lock = threading.Lock()
    window = {"start": 0.0, "end": 0.0}
    counted = {"done": 0, "errors": 0}
    peak: dict[str, int] = {}

    def talk(seed: int) -> None:
        rng = random.Random(seed)
        client = Client(stack)
        while not stop.is_set():
            sender = f"sat-{uuid.uuid4().hex[:10]}"
            for text in rng.choice(talks):
                if stop.is_set():
                    return
                try:
                    ok = is_answer(client.reply(text, sender))
                except (RuntimeError, OSError, http.client.HTTPException, ValueError):
                    ok = False
                now = time.perf_counter()
                if window["start"] <= now <= window["end"]:
                    with lock:
                        counted["done" if ok else "errors"] += 1

    def sample() -> None:
        while not stop.is_set():
            for name, pid in stack.pids.items():
                peak[name] = max(peak.get(name, 0), rss_kb(pid))
            stop.wait(0.5)

    window["start"] = time.perf_counter() + warmup
    window["end"] = window["start"] + seconds
    threads = [threading.Thread(target=talk, args=(i,), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=sample, daemon=True))
    for t in threads:
        t.start()
    time.sleep(warmup + seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    for name, kb in peak.items():
        stack.rss_peak[name] = max(stack.rss_peak.get(name, 0), kb)
    stack.errors += counted["errors"]
    return counted["done"] / seconds


def summary(stack: Stack) -> dict:
    """The stack's figures: p50/p95 per kind, the ratio reply/parse, throughput, memory."""
    out: dict = {"name": stack.name, "root": str(stack.root)}
    for kind, values in stack.times.items():
        out[kind] = {
            "n": len(values),
            "p50": round(statistics.median(values), 2) if values else None,
            "p95": round(_percentile(values, 0.95), 2),
        }
    if stack.times["parse"] and stack.times["reply"]:
        out["reply_over_parse"] = round(out["reply"]["p50"] / out["parse"]["p50"], 2)
        out["rest_of_turn_p50"] = round(out["reply"]["p50"] - out["parse"]["p50"] - out["action"]["p50"], 2)
    if stack.throughput:
        out["saturation"] = {
            "windows": [round(v, 1) for v in stack.throughput],
            "median": round(statistics.median(stack.throughput), 1),
            "errors": stack.errors,
        }
    out["rss_mib"] = {
        "idle": {k: round(v / 1024) for k, v in stack.rss_idle.items()},
        "peak": {k: round(v / 1024) for k, v in stack.rss_peak.items()},
    }
    return out


def markdown(results: list[dict]) -> str:
    """The figures as a Markdown table, and the ratios of this checkout over the other ref."""
    lines = [
        "| stack | parse p50 / p95 ms | action p50 / p95 ms | reply p50 / p95 ms | reply / parse | "
        "rest of turn p50 ms | saturation msg/s | Rasa RSS idle / peak MiB | actions RSS idle / peak MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        sat = r.get("saturation", {}).get("median", "–")
        idle, peak = r["rss_mib"]["idle"], r["rss_mib"]["peak"]
        lines.append(
            f"| {r['name']} | {r['parse']['p50']} / {r['parse']['p95']} | "
            f"{r['action']['p50']} / {r['action']['p95']} | "
            f"{r['reply']['p50']} / {r['reply']['p95']} | {r.get('reply_over_parse', '–')} | "
            f"{r.get('rest_of_turn_p50', '–')} | {sat} | {idle.get('rasa', '–')} / {peak.get('rasa', '–')} | "
            f"{idle.get('actions', '–')} / {peak.get('actions', '–')} |"
        )
    if len(results) == 2:
        now, before = results
        ratios = [f"reply p50 ×{now['reply']['p50'] / before['reply']['p50']:.2f}"]
        ratios.append(f"action p50 ×{now['action']['p50'] / before['action']['p50']:.2f}")
        if "saturation" in now and "saturation" in before:
            ratios.append(f"saturation ×{now['saturation']['median'] / before['saturation']['median']:.2f}")
        if now["rss_mib"]["peak"].get("rasa") and before["rss_mib"]["peak"].get("rasa"):
            ratios.append(f"Rasa peak RSS ×{now['rss_mib']['peak']['rasa'] / before['rss_mib']['peak']['rasa']:.2f}")
        lines.append(f"\n{now['name']} over {before['name']}: " + ", ".join(ratios))
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """A horizontal stacked bar per stack: parse, action server and the rest of the turn (p50 ms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in results]
    parts = {
        "NLU parse": [r["parse"]["p50"] for r in results],
        "action server": [r["action"]["p50"] for r in results],
        "rest of the turn (guard, tracker store, policies, HTTP)": [max(0.0, r["rest_of_turn_p50"]) for r in results],
    }
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.7 * len(results)))
    left = [0.0] * len(results)
    for (label, values), colour in zip(parts.items(), ("#4c72b0", "#55a868", "#c44e52"), strict=True):
        ax.barh(names, values, left=left, label=label, color=colour)
        for i, v in enumerate(values):
            if v >= 1.0:
                ax.text(left[i] + v / 2, i, f"{v:.1f}", ha="center", va="center", color="white", fontsize=9)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for i, r in enumerate(results):
        ax.text(left[i] + 0.3, i, f"{r['reply']['p50']:.1f} ms", va="center", fontsize=9)
    ax.set_xlabel("median ms per single question (REST reply = the whole bar)")
    ax.set_xlim(0, max(left) * 1.18)
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45 if len(results) < 3 else -0.3), ncol=3, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    """Start the stacks, measure them interleaved, stop them, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REF", help="also measure this git ref, in a worktree, in the same run")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the single questions (default 1)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent conversations at saturation")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one saturation window")
    parser.add_argument("--windows", type=int, default=3, help="saturation windows per stack (0: none)")
    parser.add_argument("--limit", type=int, default=0, help="use only this many questions (0: all)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--plot", type=Path, help="draw the latency split here (PNG)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    questions = single_questions()
    if args.limit:
        questions = rng.sample(questions, min(args.limit, len(questions)))
    talks = conversations()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    with tempfile.TemporaryDirectory() as tmpdir, ExitStack() as stack_of:
        tmp = Path(tmpdir)
        stacks = [stack_of.enter_context(running(f"this ({head.stdout.strip()}+work tree)", ROOT, tmp))]
        if args.against:
            other = stack_of.enter_context(worktree(args.against, tmp))
            stacks.append(stack_of.enter_context(running(args.against, other, tmp)))
        for s in stacks:
            s.rss_idle = {name: rss_kb(pid) for name, pid in s.pids.items()}
        measure_latency(stacks, questions, args.rounds, rng)
        for s in stacks:
            s.rss_peak = {name: rss_kb(pid) for name, pid in s.pids.items()}
        for _ in range(args.windows):
            for s in stacks:
                s.throughput.append(saturate(s, talks, args.clients, args.seconds))
    results = [summary(s) for s in stacks]
    print(
        f"{len(questions)} single questions × {args.rounds} round(s), interleaved; saturation: {args.clients} "
        f"conversations, {args.windows} × {args.seconds:.0f} s per stack; {time.strftime('%Y-%m-%d %H:%M')}\n"
    )
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
