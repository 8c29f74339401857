"""Reviews: verdicts on answers, the review list from real conversations, one conversation, export.

Staff mark an answer right or wrong (with the corrected measure or intent), work through the
questions residents asked that went wrong or were unsure (filtered by reason and China-time
date; a group marked 已处理 leaves the list until a newer question joins it), and download the
corrections as Rasa NLU YAML for maintainers to merge.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date, datetime, timezone
from typing import Any, Callable, Mapping

import yaml
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.storage import appdb, audit, reviewstate
from bot.text import logredact
from bot.text.jsonlimits import bounded_int
from bot.text.privacy import redact
from bot.webapp import review
from bot.webapp.console import wording
from bot.webapp.console.common import error_response, json_body, settings_of
from knowledge.parser import EXPECTED_MEASURES

log = logging.getLogger(__name__)

MAX_CITED = 20  # a review's cited measures (the column holds about 30 numbers)
MAX_NAME_CHARS = 100  # intent names, as the review columns hold them
MAX_GROUPS = 500  # groups a review list answer holds (its "total" counts them all)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _optional_text(body: dict, name: str, max_chars: int | None = None) -> str | None:
    """``body[name]`` as text (None when absent, null or empty).

    Raises:
        ValueError: not a string, or over ``max_chars`` characters (the message in Chinese).
    """
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(wording.error("field_text", field=name))
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(wording.error("field_too_long", field=name, max=max_chars))
    return value


def review_fields(body: dict) -> dict:
    """The arguments of :func:`bot.storage.appdb.record_review` from a review request's body.

    Raises:
        ValueError: a field of the wrong type or out of range (the message in Chinese): ``verdict`` not right/wrong,
            ``cited`` not a list of at most :data:`MAX_CITED` measure numbers 1-50,
            ``correct_measure`` not a measure number 1-50 (a number or its digits), a text field
            that is not text, an intent name over :data:`MAX_NAME_CHARS` characters.
    """
    verdict = body.get("verdict")
    if verdict not in ("right", "wrong"):
        raise ValueError(wording.error("review_verdict"))
    cited = body.get("cited")
    if cited is None:
        cited = []
    if not isinstance(cited, list) or len(cited) > MAX_CITED:
        raise ValueError(wording.error("review_cited", max=MAX_CITED, measures=EXPECTED_MEASURES))
    numbers = [bounded_int(n, 1, EXPECTED_MEASURES) for n in cited]
    if None in numbers:
        raise ValueError(wording.error("review_cited", max=MAX_CITED, measures=EXPECTED_MEASURES))
    correct_measure = body.get("correct_measure")
    if correct_measure is not None and correct_measure != "":
        correct_measure = bounded_int(correct_measure, 1, EXPECTED_MEASURES)
        if correct_measure is None:
            raise ValueError(wording.error("review_correct_measure", measures=EXPECTED_MEASURES))
    else:
        correct_measure = None
    return {
        "question": _optional_text(body, "question") or "",
        "intent": _optional_text(body, "intent", MAX_NAME_CHARS),
        "cited": numbers,
        "verdict": verdict,
        "correct_measure": correct_measure,
        "correct_intent": _optional_text(body, "correct_intent", MAX_NAME_CHARS),
        "comment": _optional_text(body, "comment") or "",
    }


async def add_review(request: web.Request) -> web.Response:
    """Store a right/wrong verdict on an answer (400 for any field of the wrong type or range)."""
    body = await json_body(request)
    try:
        fields = review_fields(body)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    review_id = appdb.record_review(username=request["staff"], url=settings_of(request).app_database_url, **fields)
    url = settings_of(request).app_database_url
    audit.record(request["staff"], "review_verdict", target=str(review_id), detail=fields["verdict"], url=url)
    return web.json_response({"id": review_id}, status=201)


def review_filters(query: Mapping[str, str]) -> dict[str, Any]:
    """The review list's filters from its query: ``reason``, ``since``, ``until``, ``include_handled``.

    Dates are China-time days (YYYY-MM-DD, inclusive); ``include_handled`` is 0 or 1.

    Raises:
        ValueError: an unknown reason, a malformed or impossible date, ``since`` after ``until``,
            or ``include_handled`` other than 0/1 (the message in Chinese).
    """
    reasons = wording.load()["reasons"]
    reason = query.get("reason") or None
    if reason is not None and reason not in reasons:
        choices = "、".join(f"{code}（{label}）" for code, label in reasons.items())
        raise ValueError(wording.error("review_reason", choices=choices))
    since, until = _day(query, "since"), _day(query, "until")
    if since is not None and until is not None and since > until:
        raise ValueError(wording.error("review_date_order"))
    flag = query.get("include_handled") or "0"
    if flag not in ("0", "1"):
        raise ValueError(wording.error("review_flag", name="include_handled"))
    return {"reason": reason, "since": since, "until": until, "include_handled": flag == "1"}


def _day(query: Mapping[str, str], name: str) -> date | None:
    """The date ``query[name]`` (None when absent or empty).

    Raises:
        ValueError: not YYYY-MM-DD in ASCII digits, or no such day (2024-02-30).
    """
    raw = query.get(name) or ""
    if not raw:
        return None
    if not _DAY.fullmatch(raw):
        raise ValueError(wording.error("review_date", name=name))
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(wording.error("review_date", name=name)) from exc


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _group_json(group: review.ReviewGroup, handled: dict | None, intent_labels: dict[str, str]) -> dict:
    """A group as the review list answers it: codes with their Chinese labels, times in ISO 8601 UTC."""
    return {
        "key": group.key,
        "text": group.text,
        "count": group.count,
        "reasons": group.reasons,
        "reason_labels": [wording.label("reasons", r) for r in group.reasons],
        "intents": group.intents,
        "intent_labels": [intent_labels.get(i, i) for i in group.intents],
        "senders": group.senders,
        "examples": group.examples,
        "first_at": _iso(group.first_at),
        "last_at": _iso(group.last_at),
        "handled": handled,
    }


async def review_list(request: web.Request) -> web.Response:
    """Questions for review, grouped and most asked first; groups marked handled left out.

    A handled group comes back (with ``handled``: who, when, how many questions since) once a
    question newer than its marking joins it; ``include_handled=1`` lists the others too.
    """
    try:
        filters = review_filters(request.query)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    settings = settings_of(request)
    try:
        body = await computed_apart(review_groups, settings, filters)
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable for the review list: %s", type(exc).__name__)
        return error_response(503, "tracker_unavailable")
    return web.json_response(body)


# Reading and grouping up to 20,000 questions takes most of a second of Python: in a thread of the
# web server it would hold the interpreter's lock against every other request (/health answered
# in 65 ms at p95 meanwhile, bench/bench_review.py), so it runs in a process of its own, started
# (spawned) on first use and kept, with its caches of words, for the next lists, until the web
# server's process exits (concurrent.futures stops its workers then). The list is computed from
# the settings passed with each call, so one worker serves every application of a process.
_worker: ProcessPoolExecutor | None = None
_worker_lock = threading.Lock()


def _worker_pool() -> ProcessPoolExecutor:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=logredact.install
            )
        return _worker


async def computed_apart(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in the worker process; in a thread if that process broke (then started anew)."""
    global _worker
    try:
        return await asyncio.get_running_loop().run_in_executor(_worker_pool(), function, *args)
    except BrokenProcessPool:
        log.warning("the review list's worker process died; this list is computed in a thread")
        with _worker_lock:
            _worker = None
        return await asyncio.to_thread(function, *args)


def review_groups(settings: config.Settings, filters: dict) -> dict:
    """The review list's answer (see :func:`review_list`), computed in the worker process.

    Raises:
        SQLAlchemyError: the tracker store cannot be read.
    """
    tracker_url = review.tracker_url_for(settings)
    items = review.residents_questions(tracker_url) if tracker_url else []
    for r in appdb.list_reviews(url=settings.app_database_url, verdict="wrong"):
        items.append(
            review.Asked(
                sender=f"staff:{r.username}",
                text=r.question,
                intent=r.intent,
                confidence=None,
                reasons={"staff_marked_wrong"},
                at=r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=timezone.utc),
            )
        )
    items = review.filter_questions(items, filters["reason"], filters["since"], filters["until"])
    groups = review.group_questions(items)
    records = reviewstate.handled_groups(url=settings.app_database_url)
    matcher = review.Matcher([(h.key, h.words) for h in records])
    intent_labels = wording.intent_labels()
    shown, hidden = [], 0
    for group in groups:
        found = matcher.best(group.key, group.words)
        handled = None
        if found is not None:
            record = records[found]
            newer = group.asked_after(record.handled_at)
            if not newer and not filters["include_handled"]:
                hidden += 1
                continue
            handled = {"by": record.handled_by, "at": _iso(record.handled_at), "newer": newer}
        shown.append(_group_json(group, handled, intent_labels))
    return {
        "groups": shown[:MAX_GROUPS],
        "reasons": dict(wording.load()["reasons"]),
        "total": len(shown),
        "hidden_handled": hidden,
    }


def _group_key(body: dict) -> str:
    """The ``key`` of a handled/reopen request.

    Raises:
        ValueError: not a text of at most :data:`bot.storage.reviewstate.MAX_KEY_CHARS` characters
            (it is empty for a question of punctuation only).
    """
    key = body.get("key")
    if not isinstance(key, str) or len(key) > reviewstate.MAX_KEY_CHARS:
        raise ValueError(wording.error("group_key", max=reviewstate.MAX_KEY_CHARS))
    return key


async def mark_handled(request: web.Request) -> web.Response:
    """``POST /console/api/review-groups/handled {"key", "text"}``: mark a group 已处理 (audited).

    ``text`` is the group's text as the list showed it, ``key`` its :func:`bot.webapp.review.group_key`;
    a key that is not the text's is refused, so only what the list shows can be stored.
    """
    body = await json_body(request)
    try:
        key = _group_key(body)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > reviewstate.MAX_TEXT_CHARS:
            raise ValueError(wording.error("group_text", max=reviewstate.MAX_TEXT_CHARS))
        text = redact(text)
        if review.group_key(text) != key:
            raise ValueError(wording.error("group_mismatch"))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    url = settings_of(request).app_database_url
    record = reviewstate.mark_handled(key, text, review.group_words(key), by=request["staff"], url=url)
    audit.record(actor=request["staff"], action="review_group_handled", target=key, detail=text, url=url)
    return web.json_response(
        {"key": record.key, "handled": {"by": record.handled_by, "at": _iso(record.handled_at), "newer": 0}}
    )


async def reopen_group(request: web.Request) -> web.Response:
    """``POST /console/api/review-groups/reopen {"key"}``: undo 已处理 (audited; 404 if it was not marked)."""
    body = await json_body(request)
    try:
        key = _group_key(body)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    url = settings_of(request).app_database_url
    if not reviewstate.reopen(key, url=url):
        return error_response(404, "group_not_handled")
    audit.record(actor=request["staff"], action="review_group_reopened", target=key, url=url)
    return web.json_response({"key": key, "handled": None})


async def conversation(request: web.Request) -> web.Response:
    """One resident conversation from the tracker store; each read is written to the audit log (who, whose)."""
    settings = settings_of(request)
    sender = request.match_info["sender"][:255]
    audit.record(request["staff"], "conversation_read", target=sender, url=settings.app_database_url)
    tracker_url = review.tracker_url_for(settings)
    try:
        turns = review.conversation(tracker_url, sender) if tracker_url else []
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable for a conversation: %s", type(exc).__name__)
        return error_response(503, "tracker_unavailable")
    return web.json_response({"sender": sender, "turns": turns})


def export_yaml(reviews: list[appdb.ReviewRecord]) -> str:
    """Rasa NLU YAML: the questions staff marked wrong, under their corrected intents."""
    by_intent: dict[str, list[str]] = {}
    for r in reviews:
        if r.verdict == "wrong" and r.correct_intent and r.question.strip():
            examples = by_intent.setdefault(r.correct_intent, [])
            if r.question not in examples:
                examples.append(r.question.replace("\n", " ").strip())
    nlu = [{"intent": intent, "examples": "".join(f"- {q}\n" for q in qs)} for intent, qs in sorted(by_intent.items())]
    header = "# Exported from the staff console: reviewed questions under their corrected intents.\n"
    return header + yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, sort_keys=False)


async def export(request: web.Request) -> web.Response:
    """Download the corrections as data/nlu YAML for maintainers to merge."""
    reviews = appdb.list_reviews(url=settings_of(request).app_database_url)
    text = export_yaml(reviews)
    # the target is how many corrections went out (the file name is a code, not for staff to read)
    corrected = sum(1 for r in reviews if r.verdict == "wrong" and r.correct_intent and r.question.strip())
    audit.record(request["staff"], "export_nlu", str(corrected), url=settings_of(request).app_database_url)
    return web.Response(
        text=text,
        content_type="text/yaml",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="reviewed_nlu.yml"'},
    )


async def whoami(request: web.Request) -> web.Response:
    """The logged-in staff member and the intents to choose from when correcting."""
    from knowledge.intent_map import load_intent_map

    specs = load_intent_map()
    intents = [{"intent": s.intent, "label": s.label, "measures": list(s.measures)} for s in specs.values()]
    role = {"role": request["role"], "role_label": wording.label("roles", request["role"])}
    return web.json_response({"user": request["staff"], **role, "intents": intents})


# The review groups' routes (the list, verdicts, conversations and export are in ROUTES of the package).
ROUTES = (
    ("POST", "/console/api/review-groups/handled", mark_handled),
    ("POST", "/console/api/review-groups/reopen", reopen_group),
)
