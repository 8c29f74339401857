"""Reviews: verdicts on answers, the review list from real conversations, one conversation, export.

Staff mark an answer right or wrong (with the corrected measure or intent), work through the
questions residents asked that went wrong or were unsure, and download the corrections as Rasa
NLU YAML for maintainers to merge.
"""

from __future__ import annotations

import logging

import yaml
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import appdb, audit
from bot.text.jsonlimits import bounded_int
from bot.webapp import review
from bot.webapp.console import wording
from bot.webapp.console.common import json_body, settings_of
from knowledge.parser import EXPECTED_MEASURES

log = logging.getLogger(__name__)

MAX_CITED = 20  # a review's cited measures (the column holds about 30 numbers)
MAX_NAME_CHARS = 100  # intent names, as the review columns hold them


def _optional_text(body: dict, name: str, max_chars: int | None = None) -> str | None:
    """``body[name]`` as text (None when absent, null or empty).

    Raises:
        ValueError: not a string, or over ``max_chars`` characters.
    """
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(f"{name} over {max_chars} characters")
    return value


def review_fields(body: dict) -> dict:
    """The arguments of :func:`bot.storage.appdb.record_review` from a review request's body.

    Raises:
        ValueError: a field of the wrong type or out of range: ``verdict`` not right/wrong,
            ``cited`` not a list of at most :data:`MAX_CITED` measure numbers 1-50,
            ``correct_measure`` not a measure number 1-50 (a number or its digits), a text field
            that is not text, an intent name over :data:`MAX_NAME_CHARS` characters.
    """
    verdict = body.get("verdict")
    if verdict not in ("right", "wrong"):
        raise ValueError("verdict must be 'right' or 'wrong'")
    cited = body.get("cited")
    if cited is None:
        cited = []
    if not isinstance(cited, list) or len(cited) > MAX_CITED:
        raise ValueError(f"cited must be a list of at most {MAX_CITED} measure numbers")
    numbers = [bounded_int(n, 1, EXPECTED_MEASURES) for n in cited]
    if None in numbers:
        raise ValueError("cited measure numbers must be whole numbers 1-50")
    correct_measure = body.get("correct_measure")
    if correct_measure is not None and correct_measure != "":
        correct_measure = bounded_int(correct_measure, 1, EXPECTED_MEASURES)
        if correct_measure is None:
            raise ValueError("correct_measure must be a whole number 1-50")
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


async def review_list(request: web.Request) -> web.Response:
    """Questions for review, grouped and most asked first."""
    settings = settings_of(request)
    tracker_url = review.tracker_url_for(settings)
    try:
        items = review.residents_questions(tracker_url) if tracker_url else []
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable for the review list: %s", type(exc).__name__)
        return web.json_response({"error": "the conversation store is unavailable"}, status=503)
    for r in appdb.list_reviews(url=settings.app_database_url, verdict="wrong"):
        items.append(
            review.Asked(
                sender=f"staff:{r.username}",
                text=r.question,
                intent=r.intent,
                confidence=None,
                reasons={"staff_marked_wrong"},
            )
        )
    groups = review.group_questions(items)
    return web.json_response({"groups": [g.__dict__ for g in groups]})


async def conversation(request: web.Request) -> web.Response:
    """One resident conversation from the tracker store."""
    settings = settings_of(request)
    sender = request.match_info["sender"][:255]
    tracker_url = review.tracker_url_for(settings)
    try:
        turns = review.conversation(tracker_url, sender) if tracker_url else []
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable for a conversation: %s", type(exc).__name__)
        return web.json_response({"error": "the conversation store is unavailable"}, status=503)
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
    text = export_yaml(appdb.list_reviews(url=settings_of(request).app_database_url))
    audit.record(request["staff"], "export_nlu", "reviewed_nlu.yml", url=settings_of(request).app_database_url)
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
