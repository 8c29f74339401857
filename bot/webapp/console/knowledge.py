"""知识库浏览: what the assistant knows, for staff: the notice's measures by section.

``GET /console/api/knowledge`` lists each measure with its text and facts (from the knowledge
base, ``app["kb"]``), the intents that cite it (``knowledge/intents.yml``) and a few of their
training examples (the Rasa NLU files under ``data/nlu/``, entity annotations stripped).
``?q=`` keeps the measures whose title or text holds the keyword (or the document's term for it:
暂住证 finds 居住证).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.webapp.console import wording
from bot.webapp.console.common import error_response
from knowledge.intent_map import IntentSpec, load_intent_map
from knowledge.repository import KnowledgeBaseMissing, MeasureInfo
from knowledge.yamlfile import read_yaml

log = logging.getLogger(__name__)

NLU_DIR = config.PROJECT_ROOT / "data" / "nlu"
MAX_QUERY_CHARS = 50
EXAMPLES_PER_INTENT = 3
# Rasa's entity annotations: [南宁](city), [南宁](city:南宁市), [南宁]{"entity": "city", ...}
_ANNOTATION = re.compile(r"\[([^\[\]\n]*)\](?:\([^()\n]*\)|\{[^{}\n]*\})")


class TrainingDataError(ValueError):
    """An NLU training file cannot be read; the message names it."""


def strip_annotations(example: str) -> str:
    """A training example as a resident would type it: ``[南宁](city)的户口`` → ``南宁的户口``."""
    return _ANNOTATION.sub(r"\1", example).strip()


def _examples_of(item: dict) -> list[str]:
    """The examples of one ``- intent:`` item: a ``|`` block of ``- `` lines, or a list of texts."""
    raw = item.get("examples")
    if isinstance(raw, str):
        lines = [line.strip() for line in raw.splitlines()]
        texts: list[object] = [line[1:].strip() for line in lines if line.startswith("-")]
    elif isinstance(raw, list):
        texts = [e.get("text") if isinstance(e, dict) else e for e in raw]
    else:
        return []
    return [strip_annotations(t) for t in texts if isinstance(t, str) and t.strip()]


def _read_file(path: Path) -> dict[str, list[str]]:
    """Intent → examples of one NLU file.

    Raises:
        TrainingDataError: unreadable, not YAML, or without an ``nlu:`` list.
    """
    data = read_yaml(path, TrainingDataError)
    nlu = data.get("nlu", [])
    if not isinstance(nlu, list):
        raise TrainingDataError(f"{path}: 'nlu' must be a list")
    found: dict[str, list[str]] = {}
    for item in nlu:
        if isinstance(item, dict) and isinstance(item.get("intent"), str):
            found.setdefault(item["intent"], []).extend(_examples_of(item))
    return found


@lru_cache(maxsize=4)
def _read_examples(directory: Path, stamp: tuple[tuple[str, int, int], ...]) -> dict[str, tuple[str, ...]]:
    """Intent → its examples in file order, from every file of ``stamp`` (a file that fails is logged, skipped)."""
    examples: dict[str, list[str]] = {}
    for name, _mtime, _size in stamp:
        try:
            found = _read_file(directory / name)
        except TrainingDataError as exc:
            log.warning("training data left out of the knowledge browser: %s", exc)
            continue
        for intent, texts in found.items():
            examples.setdefault(intent, []).extend(texts)
    return {intent: tuple(dict.fromkeys(texts)) for intent, texts in examples.items()}


def training_examples(directory: Path = NLU_DIR) -> dict[str, tuple[str, ...]]:
    """Intent → its training examples (annotations stripped, duplicates dropped), in file order.

    Read once and kept while the files' names, sizes and modification times stay the same; a
    missing directory gives none, a file that cannot be read is left out (and logged).
    """
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    except OSError as exc:
        log.warning("no training data for the knowledge browser in %s: %s", directory, type(exc).__name__)
        return {}
    return _read_examples(directory, stamp)


def new_section(m: MeasureInfo) -> dict[str, Any]:
    """The JSON of the section ``m`` is in, with no measures yet (this browser's and ``/api/topics``)."""
    return {
        "number": m.section_number,
        "name": m.section,
        "label": m.section_label,
        "title": m.section_title,
        "measures": [],
    }


def _facts(measure: MeasureInfo) -> list[dict[str, str]]:
    """The measure's facts, each once (by type and value), with its type's Chinese label."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for fact in measure.facts:
        seen.setdefault(
            (fact.type, fact.value),
            {
                "type": fact.type,
                "type_label": wording.label("fact_types", fact.type),
                "value": fact.value,
                "canonical": fact.canonical,
            },
        )
    return list(seen.values())


def _intents(number: int, specs: list[IntentSpec], examples: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    return [
        {
            "intent": spec.intent,
            "label": spec.label,
            "primary": spec.primary == number,
            "examples": list(examples.get(spec.intent, ())[:EXAMPLES_PER_INTENT]),
        }
        for spec in specs
    ]


def browse(measures: list[MeasureInfo], terms: set[str] | None = None) -> list[dict[str, Any]]:
    """The sections with their measures, each with text, facts and citing intents.

    Args:
        measures: the knowledge base's measures, in order.
        terms: keep only measures whose title or text holds one of these (all when None or empty).
    """
    specs = load_intent_map()
    examples = training_examples()
    citing: dict[int, list[IntentSpec]] = {}
    for spec in specs.values():
        for number in spec.measures:
            citing.setdefault(number, []).append(spec)
    wanted = {t.lower() for t in terms or () if t}
    sections: dict[int, dict[str, Any]] = {}
    for m in measures:
        if wanted and not any(t in m.title.lower() or t in m.text.lower() for t in wanted):
            continue
        section = sections.setdefault(m.section_number, new_section(m))
        section["measures"].append(
            {
                "number": m.number,
                "label": m.label,
                "title": m.title,
                "text": m.text,
                "facts": _facts(m),
                "intents": _intents(m.number, citing.get(m.number, []), examples),
            }
        )
    return [sections[n] for n in sorted(sections)]


async def knowledge(request: web.Request) -> web.Response:
    """``GET /console/api/knowledge[?q=关键词]``: the measures by section (503 if the knowledge base is unreadable)."""
    query = (request.query.get("q") or "").strip()
    if len(query) > MAX_QUERY_CHARS:
        return error_response(400, "knowledge_query", max=MAX_QUERY_CHARS)
    kb = request.app["kb"]
    try:
        document = kb.document()
        measures = kb.measures()
        terms = {query, kb.normalize_terms(query)} if query else set()
    except (KnowledgeBaseMissing, SQLAlchemyError) as exc:
        log.warning("knowledge base unreadable for the knowledge browser: %s", type(exc).__name__)
        return error_response(503, "kb_unavailable")
    sections = browse(measures, terms)
    return web.json_response(
        {
            "document": {
                "title": document.title,
                "issuer": document.issuer,
                "issued_on": document.issued_on.isoformat(),
                "issued_on_label": document.issued_on_cn,
            },
            "query": query,
            "total": sum(len(s["measures"]) for s in sections),
            "sections": sections,
        }
    )


ROUTES = (("GET", "/console/api/knowledge", knowledge),)
