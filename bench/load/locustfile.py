"""Residents' conversations against the REST channel, for ``bench/bench_load.py``.

Runs in its own virtualenv (``.venv-bench``, pinned in ``bench/load/requirements.lock``: locust
and gevent do not belong in the Rasa environment), so it needs nothing from the project. Each
simulated resident holds one conversation after another: a new sender id, 3 to 6 turns taken
from the evaluation cases (single questions, follow-up pairs, a thank-you), with a think time
between turns (and before the first, so arrivals are spread). Settings come from the environment:

- ``LOAD_CONVERSATIONS``: JSON file, a list of conversations, each a list of turns (required);
- ``LOAD_THINK``: ``"MIN,MAX"`` seconds between turns (``"0,0"``: as fast as answers come);
- ``LOAD_MAX_REQUESTS``: stop the whole run after this many requests (the run is also bounded
  by locust's ``--run-time``);
- ``LOAD_SAMPLES``: where to write every request as JSON lines ``[start, ms, ok, reason]``, so
  the percentiles are computed exactly rather than from locust's rounded histogram.

A request counts as an error when it is not a 200 JSON list with a text reply, or when the reply
is one of the service's refusals or apologies (``custom.reply`` names them).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid

from locust import FastHttpUser, events, task

CONVERSATIONS: list[list[str]] = json.load(open(os.environ["LOAD_CONVERSATIONS"], encoding="utf-8"))
THINK_MIN, THINK_MAX = (float(x) for x in os.environ.get("LOAD_THINK", "1,3").split(","))
MAX_REQUESTS = int(os.environ.get("LOAD_MAX_REQUESTS", "100000"))
SAMPLES_PATH = os.environ.get("LOAD_SAMPLES")
# Replies that mean the resident was not answered (bot/replies/replies.yml names).
NOT_ANSWERED = {"unavailable", "kb_unavailable", "rate_limited", "too_long"}

_samples: list[list] = []
_sent = 0


def _judge(status: int, body: bytes) -> str | None:
    """Why a response is an error, or None when the resident got an answer."""
    if status != 200:
        return f"HTTP {status}"
    try:
        messages = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(messages, list) or not any(isinstance(m, dict) and m.get("text") for m in messages):
        return "no text"
    refused = {(m.get("custom") or {}).get("reply") for m in messages if isinstance(m, dict)} & NOT_ANSWERED
    return f"reply {sorted(refused)[0]}" if refused else None


class Resident(FastHttpUser):
    """One resident after another asking through the REST channel."""

    def wait_time(self) -> float:
        return random.uniform(THINK_MIN, THINK_MAX)

    def on_start(self) -> None:
        self._turns: list[str] = []
        self._sender = ""
        # residents arrive spread over one think time, not all in the same instant
        time.sleep(random.uniform(0, THINK_MAX))

    def _next_turn(self) -> str:
        if not self._turns:
            self._sender = f"bench-{uuid.uuid4().hex[:12]}"
            wanted = random.randint(3, 6)
            while len(self._turns) < wanted:
                self._turns += random.choice(CONVERSATIONS)
            if random.random() < 0.3:
                self._turns.append("谢谢")
        return self._turns.pop(0)

    @task
    def ask(self) -> None:
        global _sent
        if _sent >= MAX_REQUESTS:
            self.environment.runner.quit()
            return
        _sent += 1
        text = self._next_turn()
        started = time.time()
        with self.client.post(
            "/webhooks/rest/webhook", json={"sender": self._sender, "message": text}, name="rest", catch_response=True
        ) as resp:
            ms = (time.time() - started) * 1000
            reason = _judge(resp.status_code, resp.content or b"")
            if reason:
                resp.failure(reason)
            else:
                resp.success()
        _samples.append([round(started, 3), round(ms, 2), reason is None, reason])


@events.test_stop.add_listener
def _write_samples(environment, **_kwargs) -> None:
    if SAMPLES_PATH:
        with open(SAMPLES_PATH, "w", encoding="utf-8") as out:
            for sample in _samples:
                out.write(json.dumps(sample, ensure_ascii=False) + "\n")
