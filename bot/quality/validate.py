"""``python -m bot.quality.validate`` (``make validate``): cross-check the data, domain and knowledge files.

It checks the training data, the domain and the knowledge files against each other before training.

It runs ``rasa data validate --fail-on-warnings`` (a subprocess with this Python) and the project's
own checks below, prints each problem as ``<file>: <problem> — fix: <what to do>`` and a short
summary, and exits 1 when anything failed, 0 otherwise (2 for bad arguments).

Every input path is an option (``--domain``, ``--data``, ``--intents``, ``--aliases``,
``--lexicon``, ``--cases`` …) defaulting to the project's files, so tests can point the checks at
deliberately broken copies; :func:`run_checks` is the in-process entry point, without Rasa.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from bot.config import PROJECT_ROOT

# Fewer examples than this and the classifier has too little to learn an intent from.
MIN_EXAMPLES = 20
MEASURES = range(1, 51)
ANSWER_ACTION = "action_answer_measure"


@dataclass(frozen=True)
class Problem:
    """One failed check, with the file to change and how."""

    check: str
    file: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem} — fix: {self.fix}"


@dataclass(frozen=True)
class Paths:
    """The files the checks read; :meth:`defaults` are the project's own."""

    domain: Path
    data: Path
    intents: Path
    aliases: Path
    lexicon: Path
    cases: Path
    source: Path
    replies: Path
    actions: Path
    config: Path
    privacy: Path = PROJECT_ROOT / "bot" / "replies" / "privacy.yml"
    answerability: Path = PROJECT_ROOT / "knowledge" / "answerability.yml"
    topics: Path = PROJECT_ROOT / "knowledge" / "topics.yml"

    @classmethod
    def defaults(cls) -> "Paths":
        """The project's own files, as ``make validate`` checks them."""
        return cls(
            domain=PROJECT_ROOT / "domain.yml",
            data=PROJECT_ROOT / "data",
            intents=PROJECT_ROOT / "knowledge" / "intents.yml",
            aliases=PROJECT_ROOT / "knowledge" / "aliases.yml",
            lexicon=PROJECT_ROOT / "knowledge" / "lexicon.yml",
            cases=PROJECT_ROOT / "tests" / "data" / "eval_cases.yml",
            source=PROJECT_ROOT / "knowledge" / "source" / "gxga_fangguanfu_2018.txt",
            replies=PROJECT_ROOT / "bot" / "replies" / "replies.yml",
            actions=PROJECT_ROOT / "actions",
            config=PROJECT_ROOT / "config.yml",
            privacy=PROJECT_ROOT / "bot" / "replies" / "privacy.yml",
            answerability=PROJECT_ROOT / "knowledge" / "answerability.yml",
            topics=PROJECT_ROOT / "knowledge" / "topics.yml",
        )

    @property
    def documents_yml(self) -> Path:
        """The NLU data ``make kb`` generates for the ``document`` entity."""
        return self.data / "nlu" / "documents.yml"


def show(path: Path | str) -> str:
    """A path as printed: relative to the project when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


# --- reading the inputs ------------------------------------------------------------------------


class InputError(ValueError):
    """A file could not be read; the message starts with the path."""


@dataclass
class Example:
    """One NLU training example: its text (markup stripped), its intent and the file it is in."""

    text: str
    intent: str
    file: Path


@dataclass
class Step:
    """One step of a rule or story: ``kind`` is intent/action, ``name`` what it names."""

    kind: str
    name: str


@dataclass
class Flow:
    """A rule or a story."""

    kind: str  # rule | story
    name: str
    file: Path
    steps: list[Step]


@dataclass
class Inputs:
    """Everything the checks look at, read once.

    A file that could not be read is ``None`` in its field and named in ``errors``; checks that
    need it are skipped.
    """

    paths: Paths
    errors: list[Problem] = field(default_factory=list)
    domain: dict | None = None
    domain_intents: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    intent_map: dict | None = None  # name -> IntentSpec
    followups: list | None = None
    cases: list | None = None


_MARKUP = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def strip_markup(text: str) -> str:
    """An NLU example without entity annotations: ``第[22](measure_number)项`` → ``第22项``."""
    return _MARKUP.sub(r"\1", text).strip()


def _example_lines(examples: object) -> Iterator[str]:
    if isinstance(examples, str):
        for line in examples.splitlines():
            line = line.strip()
            if line.startswith("-"):
                line = line[1:].strip()
            if line:
                yield line
    elif isinstance(examples, list):
        for item in examples:
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str) and text.strip():
                yield text.strip()


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def _domain_names(entries: Iterable[object] | None) -> list[str]:
    """Names from a domain list whose items are a name or a one-key mapping."""
    names = []
    for entry in entries or []:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict) and len(entry) == 1:
            names.append(str(next(iter(entry))))
    return names


def read_inputs(paths: Paths) -> Inputs:
    """Read the domain, training data, intent map and case file; unreadable files become problems."""
    from bot.quality.evaluate import CaseFileError, load_cases
    from knowledge.intent_map import IntentMapError, parse_intent_map
    from knowledge.yamlfile import read_yaml

    inputs = Inputs(paths=paths)

    def unreadable(check: str, path: Path, exc: Exception, fix: str) -> None:
        message = str(exc)
        for prefix in (f"{path}: ", f"{show(path)}: "):
            message = message.removeprefix(prefix)
        inputs.errors.append(Problem(check, show(path), message, fix))

    try:
        inputs.domain = read_yaml(paths.domain, InputError)
        inputs.domain_intents = _domain_names(inputs.domain.get("intents"))
    except InputError as exc:
        unreadable("files", paths.domain, exc, "give the path of the Rasa domain (a YAML mapping)")

    if not paths.data.exists():
        inputs.errors.append(
            Problem(
                "files",
                show(paths.data),
                "training data not found",
                "give the folder of the NLU data, rules and stories",
            )
        )
    for path in _yaml_files(paths.data) if paths.data.exists() else []:
        try:
            content = read_yaml(path, InputError)
        except InputError as exc:
            unreadable("files", path, exc, "fix the YAML (Rasa training data format 3.1)")
            continue
        for block in content.get("nlu") or []:
            if isinstance(block, dict) and isinstance(block.get("intent"), str):
                for line in _example_lines(block.get("examples")):
                    inputs.examples.append(Example(strip_markup(line), block["intent"], path))
        for kind, key in (("rule", "rules"), ("story", "stories")):
            for flow in content.get(key) or []:
                if not isinstance(flow, dict):
                    continue
                steps = []
                for step in flow.get("steps") or []:
                    if not isinstance(step, dict):
                        continue
                    for step_kind in ("intent", "action"):
                        if isinstance(step.get(step_kind), str):
                            steps.append(Step(step_kind, step[step_kind]))
                    for option in step.get("or") or []:
                        if isinstance(option, dict) and isinstance(option.get("intent"), str):
                            steps.append(Step("intent", option["intent"]))
                inputs.flows.append(Flow(kind, str(flow.get(kind) or "?"), path, steps))

    try:
        raw = read_yaml(paths.intents, IntentMapError)
        inputs.intent_map = parse_intent_map(raw, show(paths.intents))
        inputs.followups = [str(f) for f in raw.get("followups") or []]
    except IntentMapError as exc:
        unreadable("files", paths.intents, exc, "see the key reference at the top of knowledge/intents.yml")

    case_files = [paths.cases]
    if paths.cases.name == "eval_cases.yml":
        # the dev sets beside it (near-scope, dialogue, held-out) must stay unseen too
        case_files += sorted(p for p in paths.cases.parent.glob("*_cases.yml") if p != paths.cases)
    inputs.cases = []
    for path in case_files:
        try:
            inputs.cases.extend((show(path), case) for case in load_cases(path))
        except CaseFileError as exc:
            unreadable("files", path, exc, "see the case format in bot/quality/evaluate.py")
            inputs.cases = None
            break
    return inputs


# --- the checks --------------------------------------------------------------------------------


def check_domain_intents(inputs: Inputs) -> Iterator[Problem]:
    """Every domain intent is mapped or handled, and every intent with examples is in the domain.

    Mapped means an ask_* intent of intents.yml; handled means a conversation intent that a rule
    or story handles.
    """
    if inputs.domain is None:
        return
    handled = {s.name for f in inputs.flows for s in f.steps if s.kind == "intent"}
    mapped = set(inputs.intent_map or {})
    domain = show(inputs.paths.domain)
    for intent in inputs.domain_intents:
        if intent in mapped:
            continue
        if intent.startswith("ask_"):
            if inputs.intent_map is not None:
                yield Problem(
                    "domain-intents",
                    domain,
                    f"intent {intent} is not mapped to any measure in {show(inputs.paths.intents)}",
                    f"add `{intent}:` with measures, topic, aspect, label (and focus) to "
                    f"{show(inputs.paths.intents)}, or remove the intent from the domain and data/nlu",
                )
        elif intent not in handled:
            yield Problem(
                "domain-intents",
                domain,
                f"conversation intent {intent} appears in no rule or story (no `intent: {intent}` step)",
                f"add a rule for it under {show(inputs.paths.data)}/rules, or remove it from the domain",
            )
    declared = set(inputs.domain_intents)
    reported = set()
    for ex in inputs.examples:
        if ex.intent not in declared and ex.intent not in reported:
            reported.add(ex.intent)
            yield Problem(
                "domain-intents",
                show(ex.file),
                f"intent {ex.intent} has training examples but is not in {domain}",
                f"add it to the `intents:` list of {domain}, or remove its examples",
            )
    for intent in inputs.followups or []:
        if intent not in declared:
            yield Problem(
                "domain-intents",
                show(inputs.paths.intents),
                f"follow-up {intent} is not an intent of {domain}",
                f"add it to the `intents:` list of {domain} with examples and a rule to action_answer_followup",
            )


def check_measure_coverage(inputs: Inputs) -> Iterator[Problem]:
    """Every measure 1–50 is answered by an intent, and every mapped measure is in the knowledge base."""
    if inputs.intent_map is None:
        return
    intents_file = show(inputs.paths.intents)
    answered = defaultdict(list)
    for spec in inputs.intent_map.values():
        for n in spec.measures:
            answered[n].append(spec.intent)
    stored, problem = knowledge_base_measures(inputs.paths)
    if problem:
        yield problem
    expected = sorted(set(MEASURES) | (stored or set()))
    for n in expected:
        if not answered.get(n):
            yield Problem(
                "measure-coverage",
                intents_file,
                f"measure {n} is answered by no intent",
                f"map an intent to it (`measures: [{n}]`) in {intents_file}, with examples, a domain entry and a rule",
            )
    if stored is not None:
        for n in sorted(set(answered) - stored):
            yield Problem(
                "measure-coverage",
                intents_file,
                f"measure {n} (used by {', '.join(answered[n])}) is not in the knowledge base",
                f"use a measure number of the notice ({min(stored)}-{max(stored)})",
            )


def knowledge_base_measures(paths: Paths) -> tuple[set[int] | None, Problem | None]:
    """The measure numbers of a knowledge base built from the source into a temporary SQLite file.

    A lexicon or alias table that does not fit the document is the aliases check's business,
    so the build then falls back to no aliases, then to no lexicon either (the measures do not
    depend on them).
    """
    from knowledge import db
    from knowledge.build import build
    from knowledge.lexicon import LexiconError
    from knowledge.parser import SourceError
    from knowledge.repository import KnowledgeBase

    with tempfile.TemporaryDirectory(prefix="gxga-validate-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'knowledge.db'}"
        empty_lexicon, empty_aliases = Path(tmp) / "lexicon.yml", Path(tmp) / "aliases.yml"
        empty_lexicon.write_text("version: 1\n", encoding="utf-8")
        empty_aliases.write_text("aliases: {}\n", encoding="utf-8")
        attempts = [(paths.lexicon, paths.aliases), (paths.lexicon, empty_aliases), (empty_lexicon, empty_aliases)]
        try:
            for i, (lexicon, aliases) in enumerate(attempts):
                try:
                    with warnings.catch_warnings():
                        # spaCy warns that an empty lexicon gives its EntityRuler no patterns
                        warnings.simplefilter("ignore")
                        build(url, source=paths.source, lexicon=lexicon, aliases=aliases)
                    break
                except LexiconError:
                    if i == len(attempts) - 1:
                        raise
            return {m.number for m in KnowledgeBase(url).measures()}, None
        except SourceError as exc:
            return None, Problem(
                "measure-coverage",
                show(paths.source),
                f"the knowledge base cannot be built: {exc}",
                "fix the source document (see `python -m knowledge build`)",
            )
        finally:
            db.dispose_engine(url)


def check_example_count(inputs: Inputs) -> Iterator[Problem]:
    """Every intent has at least MIN_EXAMPLES distinct training examples."""
    by_intent: dict[str, set[str]] = defaultdict(set)
    files: dict[str, Path] = {}
    for ex in inputs.examples:
        by_intent[ex.intent].add(ex.text)
        files.setdefault(ex.intent, ex.file)
    intents = list(dict.fromkeys([*inputs.domain_intents, *by_intent]))
    for intent in intents:
        count = len(by_intent.get(intent, ()))
        if count < MIN_EXAMPLES:
            where = show(files[intent]) if intent in files else f"{show(inputs.paths.data)}/nlu"
            yield Problem(
                "example-count",
                where,
                f"intent {intent} has {count} training example{'s' if count != 1 else ''}, fewer than {MIN_EXAMPLES}",
                f"write at least {MIN_EXAMPLES - count} more colloquial examples for it (not copies of eval cases)",
            )


def check_duplicate_examples(inputs: Inputs) -> Iterator[Problem]:
    """No example (entity markup removed) is listed under two intents."""
    seen: dict[str, dict[str, Path]] = defaultdict(dict)
    for ex in inputs.examples:
        seen[ex.text].setdefault(ex.intent, ex.file)
    for text, where in seen.items():
        if len(where) > 1:
            places = ", ".join(f"{intent} ({show(path)})" for intent, path in where.items())
            yield Problem(
                "duplicate-examples",
                show(next(iter(where.values()))),
                f"example {text!r} is listed under {len(where)} intents: {places}",
                "keep it under the one intent it means and delete the other copies",
            )


def check_aliases(inputs: Inputs) -> Iterator[Problem]:
    """Every alias resolves to a term of the knowledge base; every lexicon term is in the notice."""
    from knowledge import lexicon
    from knowledge.parser import SourceError, parse_file

    paths = inputs.paths
    try:
        text = "".join(m.text for m in parse_file(paths.source).measures)
    except SourceError:
        return  # reported by the measure-coverage check
    try:
        terms = lexicon.load_terms(paths.lexicon)
        aliases = lexicon.load_aliases(paths.aliases)
    except lexicon.LexiconError as exc:
        path = paths.lexicon if str(exc).startswith(str(paths.lexicon)) else paths.aliases
        yield Problem(
            "aliases",
            show(path),
            str(exc).removeprefix(f"{path}: "),
            "fix the entry (see the comment at the top of the file)",
        )
        return
    try:
        lexicon.check_terms(terms, text)
    except lexicon.LexiconError as exc:
        yield Problem(
            "aliases", show(paths.lexicon), str(exc), "spell each term exactly as the notice does, or remove it"
        )
    for alias, target in aliases.items():
        try:
            lexicon.check_aliases({alias: target}, terms, text)
        except lexicon.LexiconError:
            yield Problem(
                "aliases",
                show(paths.aliases),
                f"alias {alias} → {target}: {target!r} is not a term of the knowledge base "
                "(neither a lexicon term nor a phrase of the notice)",
                f"point {alias} at the notice's own word, "
                f"or add {target} to {show(paths.lexicon)} if the notice uses it",
            )


def check_eval_leak(inputs: Inputs) -> Iterator[Problem]:
    """No eval case question or turn appears verbatim in the training data."""
    if inputs.cases is None:
        return
    by_text: dict[str, Example] = {}
    for example in inputs.examples:
        by_text.setdefault(example.text, example)
    numbers: Counter = Counter()
    for cases, case in inputs.cases:
        numbers[cases] += 1
        for turn in case.turns:
            ex = by_text.get(turn.strip())
            if ex is not None:
                yield Problem(
                    "eval-leak",
                    show(ex.file),
                    f"example {ex.text!r} (intent {ex.intent}) is case {numbers[cases]} of {cases}",
                    "reword or delete the training example: evaluation cases must stay unseen",
                )


# How the actions use a reply of bot/replies/replies.yml: sent to the resident, or rendered into one.
REPLY_USE = r'replies\.(?:send\(\s*dispatcher,|render\()\s*"(\w+)"'


def check_responses(inputs: Inputs) -> Iterator[Problem]:
    """Every response a rule, story or action uses exists."""
    from bot.replies import RepliesError, load_replies

    if inputs.domain is not None:
        responses = set((inputs.domain.get("responses") or {}).keys())
        domain = show(inputs.paths.domain)
        for flow in inputs.flows:
            for step in flow.steps:
                if step.kind == "action" and step.name.startswith("utter_") and step.name not in responses:
                    yield Problem(
                        "responses",
                        show(flow.file),
                        f"{flow.kind} {flow.name!r} uses response {step.name}, which is not in {domain}",
                        f"add {step.name} under `responses:` in {domain}, or correct the name",
                    )
    sources = sorted(inputs.paths.actions.glob("*.py")) if inputs.paths.actions.is_dir() else [inputs.paths.actions]
    try:
        replies = set(load_replies(inputs.paths.replies))
    except RepliesError as exc:
        yield Problem(
            "responses",
            show(inputs.paths.replies),
            str(exc).removeprefix(f"{inputs.paths.replies}: "),
            "fix the reply (text and optional buttons)",
        )
        replies = None
    for source in sources:
        code = source.read_text(encoding="utf-8")
        if inputs.domain is not None:
            for name in sorted(set(re.findall(r'response\s*=\s*"(utter_\w+)"', code)) - responses):
                yield Problem(
                    "responses",
                    show(source),
                    f"the code sends domain response {name}, which is not in {domain}",
                    f"add {name} under `responses:` in {domain}, or correct the name",
                )
        if replies is not None:
            for name in sorted(set(re.findall(REPLY_USE, code)) - replies):
                yield Problem(
                    "responses",
                    show(source),
                    f"the code sends reply {name!r}, which is not in {show(inputs.paths.replies)}",
                    f"add `{name}:` with a text under `replies:` in {show(inputs.paths.replies)}, or correct the name",
                )


def check_answer_rules(inputs: Inputs) -> Iterator[Problem]:
    """Every intent of intents.yml is a domain intent with a rule to action_answer_measure."""
    if inputs.intent_map is None:
        return
    answered = set()
    for flow in inputs.flows:
        if flow.kind != "rule":
            continue
        for step, following in zip(flow.steps, flow.steps[1:], strict=False):  # consecutive pairs
            if step.kind == "intent" and following.kind == "action" and following.name == ANSWER_ACTION:
                answered.add(step.name)
    intents_file = show(inputs.paths.intents)
    for intent in inputs.intent_map:
        if inputs.domain is not None and intent not in inputs.domain_intents:
            yield Problem(
                "answer-rules",
                intents_file,
                f"intent {intent} is not in {show(inputs.paths.domain)}",
                f"add `- {intent}` to the `intents:` list of {show(inputs.paths.domain)}",
            )
        if intent not in answered:
            yield Problem(
                "answer-rules",
                intents_file,
                f"intent {intent} has no rule to {ANSWER_ACTION}",
                f"add to {show(inputs.paths.data)}/rules/answers.yml: `- rule: answer {intent}` with steps "
                f"`- intent: {intent}` and `- action: {ANSWER_ACTION}`",
            )


def check_documents(inputs: Inputs) -> Iterator[Problem]:
    """data/nlu/documents.yml is what the lexicon and alias table generate."""
    from knowledge import lexicon

    path = inputs.paths.documents_yml
    try:
        expected = lexicon.nlu_documents_yaml(
            lexicon.load_terms(inputs.paths.lexicon), lexicon.load_aliases(inputs.paths.aliases)
        )
    except lexicon.LexiconError:
        return  # reported by the aliases check
    actual = path.read_text(encoding="utf-8") if path.is_file() else None
    if actual != expected:
        state = "is missing" if actual is None else "is out of date with the lexicon and alias table"
        yield Problem(
            "documents",
            show(path),
            f"the generated document lookup table {state}",
            "run `make kb` (it rewrites the file; do not edit it by hand)",
        )


def check_privacy(inputs: Inputs) -> Iterator[Problem]:
    """bot/replies/privacy.yml gives each kind of personal number a placeholder.

    Redaction refuses to run without them, so a broken file would stop every channel.
    """
    from bot.text.privacy import PrivacyDataError, load_placeholders

    path = inputs.paths.privacy
    try:
        load_placeholders.__wrapped__(path)
    except PrivacyDataError as exc:
        yield Problem(
            "privacy",
            show(path),
            str(exc).removeprefix(f"{path}: "),
            "give each of id_card, mobile and bank_card a short text without digits under `placeholders:`",
        )


def check_answerability(inputs: Inputs) -> Iterator[Problem]:
    """knowledge/answerability.yml and knowledge/topics.yml parse and agree with the intents.

    Every topic names existing intents, each intent is on exactly one topic, and aspects name
    known fact types.
    """
    from knowledge.repository import FACT_TYPES
    from knowledge.vocabulary import VocabularyError, load_topics, load_vocabulary

    try:
        vocabulary = load_vocabulary.__wrapped__(inputs.paths.answerability)
    except VocabularyError as exc:
        yield Problem(
            "answerability",
            show(inputs.paths.answerability),
            str(exc).removeprefix(f"{inputs.paths.answerability}: "),
            "see the key reference at the top of the file",
        )
        vocabulary = None
    if vocabulary is not None:
        for aspect in vocabulary.aspects:
            unknown = [t for t in aspect.facts if t not in FACT_TYPES]
            if unknown:
                yield Problem(
                    "answerability",
                    show(inputs.paths.answerability),
                    f"aspect {aspect.name!r} names unknown fact types {unknown}",
                    f"use fact types of the knowledge base: {', '.join(FACT_TYPES)}",
                )
    try:
        topics = load_topics.__wrapped__(inputs.paths.topics)
    except VocabularyError as exc:
        yield Problem(
            "answerability",
            show(inputs.paths.topics),
            str(exc).removeprefix(f"{inputs.paths.topics}: "),
            "see the key reference at the top of the file",
        )
        return
    if inputs.intent_map is None:
        return
    seen: dict[str, str] = {}
    for topic in topics.values():
        for intent in topic.intents:
            if intent not in inputs.intent_map:
                yield Problem(
                    "answerability",
                    show(inputs.paths.topics),
                    f"topic {topic.name!r} names intent {intent!r}, which knowledge/intents.yml does not map",
                    "name an intent of knowledge/intents.yml or remove it",
                )
            elif intent in seen:
                yield Problem(
                    "answerability",
                    show(inputs.paths.topics),
                    f"intent {intent!r} is on topics {seen[intent]!r} and {topic.name!r}",
                    "keep each intent on one topic",
                )
            seen.setdefault(intent, topic.name)
    for intent in inputs.intent_map:
        if intent not in seen:
            yield Problem(
                "answerability",
                show(inputs.paths.topics),
                f"intent {intent!r} is on no topic",
                "add it to the `intents:` of the topic it is about",
            )


@dataclass(frozen=True)
class Check:
    """One named check: its key (for :func:`run_checks`' ``only``), what it checks, and the function that runs it."""

    key: str
    description: str
    run: Callable[[Inputs], Iterable[Problem]]


CHECKS: tuple[Check, ...] = (
    Check(
        "domain-intents",
        "every domain intent is an ask_* intent mapped in knowledge/intents.yml, or a "
        "conversation intent with an `intent:` step in a rule or story; intents with examples and follow-ups "
        "are in the domain",
        check_domain_intents,
    ),
    Check(
        "measure-coverage",
        "every measure 1–50 is answered by at least one intent; every mapped measure is "
        "in the knowledge base (built from the notice into a temporary SQLite file)",
        check_measure_coverage,
    ),
    Check(
        "example-count",
        f"every intent has at least {MIN_EXAMPLES} distinct training examples under data/nlu",
        check_example_count,
    ),
    Check(
        "duplicate-examples", "no example (entity markup removed) is listed under two intents", check_duplicate_examples
    ),
    Check(
        "aliases",
        "every alias in knowledge/aliases.yml resolves to a term of the knowledge base; every "
        "lexicon term occurs in the notice",
        check_aliases,
    ),
    Check(
        "eval-leak",
        "no question or turn of tests/data/eval_cases.yml appears verbatim in the training data",
        check_eval_leak,
    ),
    Check(
        "responses",
        '`action: utter_*` steps and `response="utter_*"` in actions/*.py exist in domain.yml; '
        '`replies.send(dispatcher, "name"` names exist in bot/replies/replies.yml',
        check_responses,
    ),
    Check(
        "answer-rules",
        "every intent of knowledge/intents.yml is in domain.yml and has a rule to action_answer_measure",
        check_answer_rules,
    ),
    Check(
        "documents",
        "data/nlu/documents.yml equals what `make kb` generates from the lexicon and aliases",
        check_documents,
    ),
    Check(
        "privacy",
        "bot/replies/privacy.yml has a placeholder without digits for each kind of personal number",
        check_privacy,
    ),
    Check(
        "answerability",
        "knowledge/answerability.yml and knowledge/topics.yml parse, topics name mapped intents, "
        "every intent is on exactly one topic",
        check_answerability,
    ),
)


def run_checks(paths: Paths | None = None, only: Iterable[str] | None = None) -> list[Problem]:
    """Run the project's own checks (not Rasa's) and return every problem found."""
    inputs = read_inputs(paths or Paths.defaults())
    problems = list(inputs.errors)
    wanted = set(only) if only is not None else None
    for check in CHECKS:
        if wanted is None or check.key in wanted:
            problems.extend(check.run(inputs))
    return problems


# --- Rasa's own validation ---------------------------------------------------------------------

_RASA_MESSAGE = re.compile(
    r"(?:UserWarning|MissingDependencyException|YamlValidationException|"
    r"InvalidDomain|YamlException|RasaException)\s*:\s*(.+)|\b(?:WARNING|ERROR)\b\s+[\w.]+\s+-\s+(.+)"
)


def run_rasa(paths: Paths, timeout: float = 900) -> list[Problem]:
    """``rasa data validate --fail-on-warnings`` on the same files; each warning or error a problem."""
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        str(paths.domain),
        "--data",
        str(paths.data),
        "--config",
        str(paths.config),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        result = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return [
            Problem("rasa", "rasa data validate", f"did not finish within {timeout:.0f} s", "run it by hand to see why")
        ]
    if result.returncode == 0:
        return []
    where = f"{show(paths.domain)} + {show(paths.data)}"
    fix = "see Rasa's message; `rasa data validate --fail-on-warnings` must pass before training"
    messages = []
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        match = _RASA_MESSAGE.search(line)
        if match:
            message = (match.group(1) or match.group(2)).strip()
            if message and message not in messages:
                messages.append(message)
    if not messages:
        tail = [text for text in (result.stderr or result.stdout).strip().splitlines() if text.strip()][-1:] or [
            "no output"
        ]
        messages = [f"exited with {result.returncode}: {tail[0].strip()}"]
    return [Problem("rasa", f"{where} (rasa data validate)", m, fix) for m in messages]


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    d = Paths.defaults()
    parser = argparse.ArgumentParser(
        prog="python -m bot.quality.validate",
        description="Check the Rasa data, the domain and knowledge/ against each other "
        "(rasa data validate --fail-on-warnings plus the project's own checks).",
    )
    options = {
        "domain": "the Rasa domain",
        "data": "the training data folder (nlu/, rules/, stories/)",
        "intents": "the intent → measure map",
        "aliases": "the alias table",
        "lexicon": "the term lexicon",
        "cases": "the evaluation cases",
        "source": "the notice",
        "replies": "the action replies",
        "actions": "the actions package (folder of .py files)",
        "config": "the Rasa config (for rasa data validate)",
        "privacy": "the redaction placeholders",
        "answerability": "what questions ask and what answers them",
        "topics": "the topics and their measures",
    }
    for name, what in options.items():
        parser.add_argument(
            f"--{name}", type=Path, default=getattr(d, name), help=f"{what} (default: {show(getattr(d, name))})"
        )
    parser.add_argument("--skip-rasa", action="store_true", help="only the project's own checks (fast)")
    args = parser.parse_args(argv)
    paths = Paths(**{name: getattr(args, name).resolve() for name in options})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    problems = run_checks(paths)
    if not args.skip_rasa:
        problems += run_rasa(paths)
    for problem in problems:
        print(problem)
    checks = [c.key for c in CHECKS] + ([] if args.skip_rasa else ["rasa"])
    if problems:
        failed = Counter(p.check for p in problems)
        detail = ", ".join(f"{key} {n}" for key, n in failed.items())
        print(
            f"\nvalidate: {len(problems)} problem{'s' if len(problems) != 1 else ''} ({detail}); "
            f"{len(checks) - len([c for c in checks if c in failed])} of {len(checks)} checks passed"
        )
        return 1
    print(
        f"validate: all {len(checks)} checks passed ({', '.join(checks)})"
        + (" — rasa data validate skipped" if args.skip_rasa else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
