"""The words that tell what a question asks and the topics residents ask about, loaded and checked.

They come from ``knowledge/answerability.yml`` and ``knowledge/topics.yml`` and are checked into
dataclasses.

Both files are data a maintainer edits; nothing here decides anything. The decision is
:mod:`actions.decision`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from knowledge.yamlfile import read_yaml

HERE = Path(__file__).resolve().parent
ANSWERABILITY_PATH = HERE / "answerability.yml"
TOPICS_PATH = HERE / "topics.yml"
MEASURE_RANGE = range(1, 51)


class VocabularyError(ValueError):
    """One of the two files is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Aspect:
    """One kind of thing a question asks (费用, 有效期 …) and what answers it."""

    name: str
    label: str
    asks: tuple[str, ...]
    supported_by: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    generic: bool = False
    decisive: bool = False
    weak_asks: tuple[str, ...] = ()
    ask_patterns: tuple[re.Pattern, ...] = ()


@dataclass(frozen=True)
class Agency:
    """Another agency's business: the objects that belong to it and where residents ask."""

    name: str
    where: str
    objects: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Everything of ``answerability.yml``."""

    aspects: tuple[Aspect, ...]
    agencies: tuple[Agency, ...]
    document_suffixes: tuple[str, ...]
    default_where: str
    persons: dict[str, str] = field(default_factory=dict)
    decision_labels: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    question_markers: tuple[str, ...] = ()
    origin_before: tuple[str, ...] = ()
    origin_after: tuple[str, ...] = ()
    origin_alone: tuple[str, ...] = ()
    target_after: tuple[str, ...] = ()
    guangxi_words: tuple[str, ...] = ()
    refer_back: tuple[str, ...] = ()
    topic_shift: tuple[str, ...] = ()

    def aspect(self, name: str) -> Aspect:
        """The aspect called ``name`` (KeyError if there is none)."""
        for aspect in self.aspects:
            if aspect.name == name:
                return aspect
        raise KeyError(name)


@dataclass(frozen=True)
class Topic:
    """A topic broader than one intent (出入境证件, 交管业务 …)."""

    name: str
    label: str
    words: tuple[str, ...]
    measures: tuple[int, ...]
    intents: tuple[str, ...]
    primary: str | None = None
    overview: bool = False


def _strings(value: object, where: str, required: bool = True) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if (
        not isinstance(value, list)
        or (required and not value)
        or not all(isinstance(v, (str, int)) and str(v).strip() for v in value)
    ):
        raise VocabularyError(f"{where}: expected a {'non-empty ' if required else ''}list of words")
    return tuple(str(v).strip() for v in value)


def _patterns(value: object, where: str) -> tuple[re.Pattern, ...]:
    patterns = []
    for source in _strings(value, where, required=False):
        try:
            patterns.append(re.compile(source))
        except re.error as exc:
            raise VocabularyError(f"{where}: {source!r} is not a regular expression: {exc}") from exc
    return tuple(patterns)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise VocabularyError(f"{where}: expected a non-empty string")
    return value.strip()


def parse_vocabulary(data: object, path: Path | str = ANSWERABILITY_PATH) -> Vocabulary:
    """Check and convert the content of ``answerability.yml``.

    Raises:
        VocabularyError: naming the file, the entry and what is wrong.
    """
    if not isinstance(data, dict) or not isinstance(data.get("aspects"), dict) or not data["aspects"]:
        raise VocabularyError(f"{path}: expected an 'aspects:' mapping")
    aspects = []
    for name, body in data["aspects"].items():
        where = f"{path}: aspect {name!r}"
        if not isinstance(body, dict):
            raise VocabularyError(f"{where}: expected a mapping with label, asks, supported_by")
        unknown = set(body) - {
            "label",
            "asks",
            "supported_by",
            "facts",
            "generic",
            "decisive",
            "weak_asks",
            "ask_patterns",
        }
        if unknown:
            raise VocabularyError(f"{where}: unknown keys {sorted(unknown)}")
        aspects.append(
            Aspect(
                name=str(name),
                label=_text(body.get("label"), f"{where} label"),
                asks=_strings(body.get("asks"), f"{where} asks"),
                supported_by=_strings(body.get("supported_by"), f"{where} supported_by", required=False),
                facts=_strings(body.get("facts"), f"{where} facts", required=False),
                generic=bool(body.get("generic", False)),
                decisive=bool(body.get("decisive", False)),
                weak_asks=_strings(body.get("weak_asks"), f"{where} weak_asks", required=False),
                ask_patterns=_patterns(body.get("ask_patterns"), f"{where} ask_patterns"),
            )
        )
    raw_agencies = data.get("agencies") or {}
    if not isinstance(raw_agencies, dict):
        raise VocabularyError(f"{path}: 'agencies' must map a name to where/objects")
    agencies = []
    for name, body in raw_agencies.items():
        where = f"{path}: agency {name!r}"
        if not isinstance(body, dict):
            raise VocabularyError(f"{where}: expected a mapping with where and objects")
        agencies.append(
            Agency(
                name=str(name),
                where=_text(body.get("where"), f"{where} where"),
                objects=_strings(body.get("objects"), f"{where} objects"),
            )
        )
    persons = data.get("persons") or {}
    if not isinstance(persons, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in persons.items()
    ):
        raise VocabularyError(f"{path}: 'persons' must map a word residents use to the notice's word")
    texts = {}
    for key in ("decision_labels", "reasons"):
        raw = data.get(key) or {}
        if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
            raise VocabularyError(f"{path}: '{key}' must map a name to a non-empty text")
        texts[key] = {str(k): v for k, v in raw.items()}
    phrasing = data.get("phrasing")
    if not isinstance(phrasing, dict):
        raise VocabularyError(f"{path}: expected a 'phrasing:' mapping")
    words = {
        key: _strings(phrasing.get(key), f"{path}: phrasing {key}")
        for key in (
            "question_markers",
            "origin_before",
            "origin_after",
            "origin_alone",
            "target_after",
            "guangxi_words",
            "refer_back",
            "topic_shift",
        )
    }
    return Vocabulary(
        aspects=tuple(aspects),
        agencies=tuple(agencies),
        persons=dict(persons),
        decision_labels=texts["decision_labels"],
        reasons=texts["reasons"],
        question_markers=words["question_markers"],
        origin_before=words["origin_before"],
        origin_after=words["origin_after"],
        origin_alone=words["origin_alone"],
        target_after=words["target_after"],
        guangxi_words=words["guangxi_words"],
        refer_back=words["refer_back"],
        topic_shift=words["topic_shift"],
        document_suffixes=_strings(data.get("document_suffixes"), f"{path}: document_suffixes"),
        default_where=_text(data.get("default_where"), f"{path}: default_where"),
    )


def parse_topics(data: object, path: Path | str = TOPICS_PATH) -> dict[str, Topic]:
    """Check and convert the content of ``topics.yml``.

    Raises:
        VocabularyError: naming the file, the topic and what is wrong.
    """
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict) or not data["topics"]:
        raise VocabularyError(f"{path}: expected a 'topics:' mapping")
    topics = {}
    for name, body in data["topics"].items():
        where = f"{path}: topic {name!r}"
        if not isinstance(body, dict):
            raise VocabularyError(f"{where}: expected a mapping with label, words, measures, intents")
        unknown = set(body) - {"label", "words", "measures", "intents", "primary", "overview"}
        if unknown:
            raise VocabularyError(f"{where}: unknown keys {sorted(unknown)}")
        measures = body.get("measures")
        if (
            not isinstance(measures, list)
            or not measures
            or not all(isinstance(n, int) and not isinstance(n, bool) and n in MEASURE_RANGE for n in measures)
        ):
            raise VocabularyError(f"{where}: 'measures' must be a non-empty list of measure numbers 1-50")
        intents = _strings(body.get("intents"), f"{where} intents")
        primary = body.get("primary")
        if primary is not None and primary not in intents:
            raise VocabularyError(f"{where}: primary {primary!r} is not one of its intents")
        topics[str(name)] = Topic(
            name=str(name),
            label=_text(body.get("label"), f"{where} label"),
            words=_strings(body.get("words"), f"{where} words"),
            measures=tuple(measures),
            intents=intents,
            primary=primary,
            overview=bool(body.get("overview", False)),
        )
    return topics


@lru_cache(maxsize=4)
def load_vocabulary(path: Path = ANSWERABILITY_PATH) -> Vocabulary:
    """Read ``answerability.yml`` (once per path)."""
    return parse_vocabulary(read_yaml(path, VocabularyError), path)


@lru_cache(maxsize=4)
def load_topics(path: Path = TOPICS_PATH) -> dict[str, Topic]:
    """Read ``topics.yml`` (once per path)."""
    return parse_topics(read_yaml(path, VocabularyError), path)
