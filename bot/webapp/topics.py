"""按主题浏览 and 常见问题 of the resident page: ``GET /api/topics`` and ``GET /api/faq``.

``GET /api/topics`` lists the notice's sections and their measures (from the knowledge base,
``app["kb"]``), each measure with the ``payload`` that gets its answer as if asked (``/<intent>``
of the first intent of ``knowledge/intents.yml`` whose primary measure it is, the button the
bot's own overviews send; ``/show_measure{"measure_number":"N"}`` for a measure no intent
answers first) and up to :data:`EXAMPLES_PER_MEASURE` training examples of those intents to tap.
It is built once per process.

``GET /api/faq`` lists up to :data:`FAQ_SIZE` questions: the measures most answered in the last
30 days, counted as the console's 数据看板 counts them (:func:`bot.webapp.stats.compute`), each
shown by a training example of its intent, never by what a resident wrote; then the fixed
questions of ``knowledge/faq.yml`` for the rest, and only those when there is no traffic or the
tracker store cannot be read. The list is computed at most once per :data:`FAQ_TTL_S` seconds.

Both are public (the resident page reads them before anyone has asked anything) and ignore their
query strings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.text.privacy import redact
from bot.webapp import review, stats, turns
from bot.webapp.console import wording
from bot.webapp.console.knowledge import new_section, training_examples
from knowledge.intent_map import IntentSpec, load_intent_map
from knowledge.repository import KnowledgeBaseMissing, MeasureInfo
from knowledge.yamlfile import read_yaml

log = logging.getLogger(__name__)

FAQ_PATH = config.PROJECT_ROOT / "knowledge" / "faq.yml"
EXAMPLES_PER_MEASURE = 3
FAQ_SIZE = 6
FAQ_DAYS = 30
FAQ_TTL_S = 300.0
CACHE_CONTROL = "public, max-age=300"
# Examples a resident would tap: a question rather than a bare keyword (刻章, 传销), short enough
# for a chip on a phone. When an intent has none such, its first examples are taken as they are.
MIN_TAP_CHARS = 5
MAX_TAP_CHARS = 20


class FaqExamplesError(ValueError):
    """``knowledge/faq.yml`` is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Question:
    """One 常见问题: what the page shows, the measure it answers and what the page sends."""

    text: str
    measure: int
    payload: str

    def to_json(self) -> dict[str, Any]:
        """The object of ``GET /api/faq``'s ``questions`` list."""
        return {"text": self.text, "measure": self.measure, "payload": self.payload}


@dataclass
class FaqCache:
    """The computed 常见问题 of one application and when they go stale (:func:`time.monotonic`)."""

    questions: list[Question] = field(default_factory=list)
    expires: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


TOPICS_KEY: web.AppKey[dict[str, Any]] = web.AppKey("resident_topics")  # {"sections": ...} once built
FAQ_FIXED_KEY: web.AppKey[list[Question]] = web.AppKey("resident_faq_fixed")
FAQ_CACHE_KEY: web.AppKey[FaqCache] = web.AppKey("resident_faq_cache")


def primary_intents(specs: dict[str, IntentSpec] | None = None) -> dict[int, list[str]]:
    """Measure number → the intents whose primary measure it is, in ``knowledge/intents.yml`` order."""
    found: dict[int, list[str]] = {}
    for spec in (specs if specs is not None else load_intent_map()).values():
        found.setdefault(spec.primary, []).append(spec.intent)
    return found


def payload_for(number: int, primaries: dict[int, list[str]]) -> str:
    """The message that gets measure ``number``'s answer as if asked (what the bot's overview buttons send)."""
    intents = primaries.get(number)
    if intents:
        return f"/{intents[0]}"
    return "/show_measure" + json.dumps({"measure_number": str(number)}, separators=(",", ":"))


def _tappable(text: str) -> bool:
    return MIN_TAP_CHARS <= len(text) <= MAX_TAP_CHARS


def examples_for(
    intents: list[str], examples: dict[str, tuple[str, ...]], limit: int = EXAMPLES_PER_MEASURE
) -> list[str]:
    """Up to ``limit`` training examples of ``intents``, taken from each in turn (the first intent's first).

    Questions of :data:`MIN_TAP_CHARS`–:data:`MAX_TAP_CHARS` characters are preferred; an example
    holding something that looks like a personal number is never offered.
    """
    clean = [[t for t in examples.get(intent, ()) if redact(t) == t] for intent in intents]
    picked: list[str] = []
    for pool in ([[t for t in texts if _tappable(t)] for texts in clean], clean):
        for row in zip_longest(*pool):
            for text in row:
                if text is not None and text not in picked and len(picked) < limit:
                    picked.append(text)
        if picked:
            break
    return picked


def sections(measures: list[MeasureInfo]) -> list[dict[str, Any]]:
    """The sections with their measures, as ``GET /api/topics`` lists them.

    Args:
        measures: the knowledge base's measures, in order.
    """
    primaries = primary_intents()
    examples = training_examples()
    found: dict[int, dict[str, Any]] = {}
    for m in measures:
        section = found.setdefault(m.section_number, new_section(m))
        section["measures"].append(
            {
                "number": m.number,
                "label": m.label,
                "title": m.title,
                "payload": payload_for(m.number, primaries),
                "examples": examples_for(primaries.get(m.number, []), examples),
            }
        )
    return [found[n] for n in sorted(found)]


def load_faq_examples(path: Path = FAQ_PATH) -> list[Question]:
    """The fixed 常见问题 of ``knowledge/faq.yml``, checked.

    Raises:
        FaqExamplesError: the file is unreadable or not a list of ``{intent, text}`` of at most
            :data:`FAQ_SIZE` entries; an intent unknown to ``knowledge/intents.yml``; a text that is
            not one of that intent's training examples; a measure listed twice.
    """
    data = read_yaml(path, FaqExamplesError)
    entries = data.get("faq_examples")
    if not isinstance(entries, list) or not 1 <= len(entries) <= FAQ_SIZE:
        raise FaqExamplesError(f"{path}: 'faq_examples' must be a list of 1 to {FAQ_SIZE} entries")
    specs = load_intent_map()
    examples = training_examples()
    questions: list[Question] = []
    for i, entry in enumerate(entries, 1):
        where = f"{path}: faq_examples entry {i}"
        if not isinstance(entry, dict) or set(entry) != {"intent", "text"}:
            raise FaqExamplesError(f"{where}: expected exactly 'intent' and 'text'")
        intent, text = entry["intent"], entry["text"]
        if not isinstance(intent, str) or intent not in specs:
            raise FaqExamplesError(f"{where}: intent {intent!r} is not in knowledge/intents.yml")
        if not isinstance(text, str) or text not in examples.get(intent, ()):
            raise FaqExamplesError(f"{where}: {text!r} is not a training example of {intent} in data/nlu/")
        measure = specs[intent].primary
        if any(q.measure == measure for q in questions):
            raise FaqExamplesError(f"{where}: measure {measure} is listed twice")
        questions.append(Question(text=text, measure=measure, payload=f"/{intent}"))
    return questions


def most_answered(settings: config.Settings, days: int = FAQ_DAYS) -> list[int]:
    """The measures answered in the last ``days`` days, most answered first (blocking).

    Counted by :func:`bot.webapp.stats.compute` over the tracker store, as the dashboard counts
    them (the console's own traffic left out); none when Rasa has not made the store yet.

    Raises:
        SQLAlchemyError: a database cannot be read.
        bot.webapp.turns.UnsupportedStore: the tracker store is of a kind the figures cannot read.
    """
    tracker_url = review.tracker_url_for(settings)
    if not tracker_url:
        return []
    figures = stats.compute(tracker_url, settings.app_database_url, days, wording.load()["outcomes"], {})
    return [m["number"] for m in figures.top_measures if m["asked"] > 0]


def faq(ranked: list[int], fixed: list[Question], size: int = FAQ_SIZE) -> list[Question]:
    """The 常见问题: the ``ranked`` measures that have a training example, then ``fixed`` ones, each measure once."""
    primaries = primary_intents()
    examples = training_examples()
    questions: list[Question] = []
    for number in ranked:
        intents = primaries.get(number, [])
        shown = examples_for(intents[:1], examples, limit=1)
        if shown:
            questions.append(Question(text=shown[0], measure=number, payload=payload_for(number, primaries)))
    for question in fixed:
        if all(q.measure != question.measure for q in questions):
            questions.append(question)
    return questions[:size]


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    cache = CACHE_CONTROL if status == 200 else "no-store"
    return web.json_response(body, status=status, headers={"Cache-Control": cache})


async def topics_json(request: web.Request) -> web.Response:
    """``GET /api/topics``: ``{"sections": [...]}`` (503 while the knowledge base cannot be read)."""
    app = request.app
    built = app[TOPICS_KEY]
    if "sections" not in built:
        kb = app["kb"]
        try:
            measures = await asyncio.get_running_loop().run_in_executor(None, kb.measures)
        except (KnowledgeBaseMissing, SQLAlchemyError) as exc:
            log.warning("knowledge base unreadable for the topics: %s", type(exc).__name__)
            return _json({"error": "the knowledge base is unavailable"}, status=503)
        if not measures:
            log.warning("knowledge base at %s has no measures: run `make kb`", kb.url)
            return _json({"error": "the knowledge base is unavailable"}, status=503)
        built["sections"] = sections(measures)
    return _json(built)


async def _questions(app: web.Application) -> list[Question]:
    """The cached 常见问题, recomputed (by one request at a time) once they are :data:`FAQ_TTL_S` old."""
    cache = app[FAQ_CACHE_KEY]
    if time.monotonic() < cache.expires:
        return cache.questions
    async with cache.lock:
        if time.monotonic() < cache.expires:  # another request recomputed them meanwhile
            return cache.questions
        try:
            ranked = await asyncio.get_running_loop().run_in_executor(None, partial(most_answered, app["settings"]))
        except (SQLAlchemyError, turns.UnsupportedStore) as exc:
            log.warning("常见问题 from the fixed list: the tracker store is unreadable (%s)", type(exc).__name__)
            ranked = []
        cache.questions = faq(ranked, app[FAQ_FIXED_KEY])
        cache.expires = time.monotonic() + FAQ_TTL_S
        return cache.questions


async def faq_json(request: web.Request) -> web.Response:
    """``GET /api/faq``: ``{"questions": [{"text", "measure", "payload"}]}``."""
    questions = await _questions(request.app)
    return _json({"questions": [q.to_json() for q in questions]})


def add_routes(app: web.Application) -> None:
    """Add both routes to ``app`` and load the fixed 常见问题 (a malformed ``knowledge/faq.yml`` stops here).

    Raises:
        FaqExamplesError: see :func:`load_faq_examples`.
    """
    app[TOPICS_KEY] = {}
    app[FAQ_FIXED_KEY] = load_faq_examples(FAQ_PATH)
    app[FAQ_CACHE_KEY] = FaqCache()
    app.router.add_get("/api/topics", topics_json)
    app.router.add_get("/api/faq", faq_json)
