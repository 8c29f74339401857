"""``python -m bot eval CASES.yml --out RESULTS.json``: measure the assistant on a case file.

Each case runs in a fresh conversation through the real stack (Rasa server + action server,
REST channel). Unless ``--url`` names running servers, the command starts its own on free
ports with a throw-away tracker store and a random API token (used only to read back the
intent of each judged turn), and stops them afterwards.

A case file is a YAML list of::

    - question: 毕业生落户需要什么      # one turn, or
      turns: [居住证怎么办, 那要多久]    # several turns in one conversation; the last is judged
      measures: [22]                   # acceptable first-cited measures; [] = nothing may be cited
      facts: [毕业证, 身份证]            # optional: strings the judged reply must contain
      tags: [typo]                     # optional: reported per tag
"""

from __future__ import annotations

import json
import secrets
import statistics
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.ops.localdb import free_port
from knowledge.parser import EXPECTED_MEASURES
from knowledge.yamlfile import read_yaml


class CaseFileError(ValueError):
    """The case file is malformed; the message names the case."""


# Case files may be uploaded by staff: read within limits (no YAML aliases).
MAX_CASE_FILE_BYTES = 2 * 1024 * 1024
MAX_CASE_FILE_NODES = 200_000
MAX_CASE_FILE_DEPTH = 32  # a case nests 4 levels (list, case, turns, turn); PyYAML recurses per level
MAX_TEXT_CHARS = 2000  # a question, turn, fact or tag: the web page's own cap on a message


@dataclass(frozen=True)
class Case:
    """One evaluation case."""

    turns: tuple[str, ...]
    measures: tuple[int, ...]
    facts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False)


def load_cases(path: Path | str) -> list[Case]:
    """Read and check a case file.

    Raises:
        CaseFileError: naming the file, the case number and what is wrong.
    """
    data = read_yaml(
        path,
        CaseFileError,
        expect=(list, type(None)),
        max_bytes=MAX_CASE_FILE_BYTES,
        max_nodes=MAX_CASE_FILE_NODES,
        aliases=False,
        max_depth=MAX_CASE_FILE_DEPTH,
    )
    if not isinstance(data, list) or not data:
        raise CaseFileError(f"{path}: expected a non-empty YAML list of cases")
    _check_shape(data, path)
    out: list[Case] = []
    for i, item in enumerate(data, 1):
        where = f"{path}: case {i}"
        out += _labelled_cases(item, where, Path(path).stem) if _is_labelled(item) else [_case(item, where)]
    return out


def _check_shape(data: list, path: Path | str) -> None:
    """Refuse, before either layout reads the file, what they would not expect of YAML.

    Walked iteratively: every mapping key must be text (``1: x`` beside ``question:`` would make
    sorting the keys fail), every text at most :data:`MAX_TEXT_CHARS` characters.

    Raises:
        CaseFileError: naming the case and what is wrong.
    """
    for number, case in enumerate(data, 1):
        stack: list[Any] = [case]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                bad = [k for k in value if not isinstance(k, str)]
                if bad:
                    raise CaseFileError(f"{path}: case {number}: keys must be text, not {bad[0]!r:.40}")
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
                raise CaseFileError(f"{path}: case {number}: a text is over {MAX_TEXT_CHARS} characters")


# the blind writers' layout (bot/quality/decision/cases.py): every turn judged, parts, batches
LABELLED_KEYS = {"related", "aspect", "batch", "parts"}


def _is_labelled(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    turns = item.get("turns")
    return bool(LABELLED_KEYS & set(item)) or (isinstance(turns, list) and any(isinstance(t, dict) for t in turns))


def _labelled_cases(item: Any, where: str, group: str) -> list[Case]:
    """One case per judged turn of a case in the writers' layout (the turns before it replayed)."""
    from bot.quality.decision import cases as labelled

    try:
        conversation = labelled.conversation(item, where, group)
    except labelled.CaseFileError as exc:
        raise CaseFileError(str(exc)) from exc
    texts = [t.text for t in conversation.turns]
    return [
        Case(tuple(texts[: k + 1]), tuple(turn.measures), turn.facts, conversation.tags, raw={"turns": texts[: k + 1]})
        if k
        else Case((turn.text,), tuple(turn.measures), turn.facts, conversation.tags, raw={"question": turn.text})
        for k, turn in enumerate(conversation.turns)
        if turn.measures is not None
    ]


def _case(item: Any, where: str) -> Case:
    if not isinstance(item, dict):
        raise CaseFileError(f"{where}: expected a mapping with question/turns and measures")
    if ("question" in item) == ("turns" in item):
        raise CaseFileError(f"{where}: give exactly one of 'question' or 'turns'")
    turns = [item["question"]] if "question" in item else item["turns"]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
        raise CaseFileError(f"{where}: 'turns' must be a non-empty list of strings")
    measures = item.get("measures")
    if not isinstance(measures, list) or not all(isinstance(n, int) and 1 <= n <= EXPECTED_MEASURES for n in measures):
        raise CaseFileError(
            f"{where}: 'measures' must be a list of measure numbers 1-{EXPECTED_MEASURES} ([] for none)"
        )
    facts, tags = item.get("facts") or [], item.get("tags") or []
    if not isinstance(facts, list) or not all(isinstance(f, str) and f for f in facts):
        raise CaseFileError(f"{where}: 'facts' must be a list of strings")
    if not isinstance(tags, list):
        raise CaseFileError(f"{where}: 'tags' must be a list")
    unknown = set(item) - {"question", "turns", "measures", "facts", "tags"}
    if unknown:
        raise CaseFileError(f"{where}: unknown keys {sorted(unknown)}")
    return Case(tuple(turns), tuple(measures), tuple(facts), tuple(str(t) for t in tags), raw=item)


class Client:
    """Talks to a running Rasa server, through the staff channel or the public REST channel.

    The staff channel when it has the API token (so the conversations are stored as staff traffic,
    not residents'), else the public REST channel.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def send(self, sender: str, text: str) -> list[dict]:
        """POST one message; returns the bot's messages."""
        from bot.security.staff import STAFF_CHANNEL, bearer_header

        body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
        channel, auth = (STAFF_CHANNEL, bearer_header(self.token)) if self.token else ("rest", {})
        request = urllib.request.Request(
            f"{self.base_url}/webhooks/{channel}/webhook",
            data=body,
            headers={"Content-Type": "application/json", **auth},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"[]")

    def latest_intent(self, sender: str) -> tuple[str | None, float | None]:
        """The intent and confidence NLU gave the sender's last message (needs the API token)."""
        if not self.token:
            return None, None
        query = urllib.parse.urlencode({"token": self.token})
        url = f"{self.base_url}/conversations/{urllib.parse.quote(sender)}/tracker?{query}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                tracker = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError):
            return None, None
        intent = (tracker.get("latest_message") or {}).get("intent") or {}
        return intent.get("name"), intent.get("confidence")


def run_case(client: Client, case: Case) -> dict:
    """Run one case in a fresh conversation and judge its last turn."""
    sender = f"eval-{uuid.uuid4().hex[:12]}"
    replies: list[dict] = []
    latency_ms = 0.0
    for turn in case.turns:
        start = time.perf_counter()
        replies = client.send(sender, turn)
        latency_ms = (time.perf_counter() - start) * 1000
    text = "\n".join(m["text"] for m in replies if m.get("text"))
    payload: dict[str, Any] = next(
        (m["custom"] for m in replies if isinstance(m.get("custom"), dict) and "measures" in m["custom"]), {}
    )
    cited = [int(n) for n in payload.get("measures", [])]
    intent, confidence = payload.get("intent"), payload.get("confidence")
    if intent is None:
        intent, confidence = client.latest_intent(sender)
    result: dict[str, Any] = {
        ("question" if len(case.turns) == 1 and "question" in case.raw else "turns"): (
            case.turns[0] if "question" in case.raw else list(case.turns)
        )
    }
    result.update(
        {
            "expected": list(case.measures),
            "cited": cited,
            "intent": intent,
            "confidence": confidence,
            "reply": text,
            "latency_ms": round(latency_ms, 1),
            "tags": list(case.tags),
        }
    )
    if case.measures:
        result["correct"] = bool(cited) and cited[0] in case.measures
    else:
        result["correct"] = not cited
    if case.facts:
        result["facts"] = list(case.facts)
        result["facts_found"] = all(f in text for f in case.facts)
    return result


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarise(results: list[dict]) -> dict:
    """Accuracy figures and latency percentiles over case results."""
    in_scope = [r for r in results if r["expected"]]
    no_measure = [r for r in results if not r["expected"]]
    with_facts = [r for r in results if "facts_found" in r]
    latencies = [r["latency_ms"] for r in results]

    def ratio(rows, key="correct"):
        return round(sum(1 for r in rows if r[key]) / len(rows), 4) if rows else None

    tags: dict[str, list[dict]] = {}
    for r in results:
        for tag in r.get("tags") or []:
            tags.setdefault(tag, []).append(r)
    return {
        "cases": len(results),
        "low_confidence_attractors": low_confidence_attractors(results),
        "in_scope_cases": len(in_scope),
        "in_scope_accuracy": ratio(in_scope),
        "no_measure_cases": len(no_measure),
        "no_measure_accuracy": ratio(no_measure),
        "facts_cases": len(with_facts),
        "facts_accuracy": ratio(with_facts, "facts_found"),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
        "by_tag": {t: {"cases": len(rows), "accuracy": ratio(rows)} for t, rows in sorted(tags.items())},
    }


# NLU below this confidence is "low"; a measure cited for more than ATTRACTOR_RATIO times its
# fair share (and at least ATTRACTOR_MIN times) of such answers is reported: it attracts guesses.
LOW_CONFIDENCE = 0.5
ATTRACTOR_RATIO = 3.0
ATTRACTOR_MIN = 5


def low_confidence_attractors(results: list[dict]) -> list[dict]:
    """Measures that win a disproportionate share of the low-confidence questions that cite one."""
    cited = [r["cited"][0] for r in results if r["cited"] and (r.get("confidence") or 0) < LOW_CONFIDENCE]
    if not cited:
        return []
    counts = Counter(cited)
    fair = len(cited) / EXPECTED_MEASURES
    return [
        {
            "measure": m,
            "cited": n,
            "share": round(n / len(cited), 3),
            "wrong": sum(
                1
                for r in results
                if r["cited"]
                and r["cited"][0] == m
                and (r.get("confidence") or 0) < LOW_CONFIDENCE
                and not r["correct"]
            ),
        }
        for m, n in counts.most_common()
        if n >= ATTRACTOR_MIN and n > ATTRACTOR_RATIO * fair
    ]


def evaluate(cases: list[Case], url: str | None = None, token: str | None = None) -> dict:
    """Run all cases against ``url`` or against servers started for the purpose."""
    if url:
        client = Client(url, token)
        results = [run_case(client, c) for c in cases]
        return {"summary": summarise(results), "cases": results}

    from bot import config
    from bot.ops.services import Services
    from bot.ops.training import ensure_model

    settings = config.load()
    model = ensure_model(settings)
    with tempfile.TemporaryDirectory(prefix="gxga-eval-") as tmp:
        settings = replace(
            settings,
            rasa_port=free_port(),
            action_port=free_port(),
            rasa_host="127.0.0.1",
            tracker_db=Path(tmp) / "tracker.db",
            rasa_api_token=secrets.token_urlsafe(24),
            app_database_url=f"sqlite:///{Path(tmp) / 'app.db'}",
        )
        services = Services(settings=settings, model=model)
        # Rasa and the actions only: a web server would take the fixed WEB_PORT of a running `make run`
        services.start(log_dir=Path(tmp) / "logs", only=("actions", "rasa"))
        try:
            services.wait_ready()
            client = Client(f"http://127.0.0.1:{settings.rasa_port}", settings.rasa_api_token)
            client.send("eval-warmup", "你好")
            results = [run_case(client, c) for c in cases]
        finally:
            services.stop()
    return {"summary": summarise(results), "cases": results}


def format_summary(summary: dict) -> str:
    """The summary as a few printable lines."""
    lines = [
        f"cases {summary['cases']}",
        f"in-scope accuracy   {summary['in_scope_accuracy']}  "
        f"({summary['in_scope_cases']} cases: first cited measure expected)",
        f"no-measure accuracy {summary['no_measure_accuracy']}  ({summary['no_measure_cases']} cases: nothing cited)",
        f"facts found         {summary['facts_accuracy']}  ({summary['facts_cases']} cases)",
        f"latency p50 {summary['latency_ms_p50']} ms, p95 {summary['latency_ms_p95']} ms",
    ]
    for tag, row in summary["by_tag"].items():
        lines.append(f"  tag {tag:<14} {row['accuracy']}  ({row['cases']})")
    for row in summary.get("low_confidence_attractors") or []:
        lines.append(
            f"  attractor: measure {row['measure']} answers {row['cited']} low-confidence questions "
            f"({row['share']:.0%} of them; {row['wrong']} wrong)"
        )
    return "\n".join(lines)
