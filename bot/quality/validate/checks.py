"""The project's own checks: each reads the inputs and yields the problems it finds."""

from __future__ import annotations

import re
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from bot.quality.validate.decision import check_decision_data, check_decision_replay
from bot.quality.validate.inputs import (
    ANSWER_ACTION,
    MEASURES,
    MIN_EXAMPLES,
    Example,
    Inputs,
    Paths,
    Problem,
    read_inputs,
    show,
)

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


def check_english(inputs: Inputs) -> Iterator[Problem]:
    """knowledge/english.yml maps lower-case English terms to Chinese ones (read before NLU)."""
    from bot.text.english import GLOSSARY_FILE, GlossaryError, glossary

    try:
        glossary.__wrapped__(GLOSSARY_FILE)
    except GlossaryError as exc:
        yield Problem(
            "english",
            show(GLOSSARY_FILE),
            str(exc).removeprefix(f"{GLOSSARY_FILE}"),
            "write each entry as `english words: 中文` under `terms:`",
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
    Check("english", "knowledge/english.yml maps lower-case English terms to Chinese terms", check_english),
    Check(
        "answerability",
        "knowledge/answerability.yml and knowledge/topics.yml parse, topics name mapped intents, "
        "every intent is on exactly one topic",
        check_answerability,
    ),
    Check(
        "decision-data",
        "knowledge/decision.yml and knowledge/coverage.yml parse, every coverage quote is in its measure, "
        "the labelled case files parse",
        check_decision_data,
    ),
    Check(
        "decision-replay",
        "no intent's training example and no measure's sentence is refused by the trained decision",
        check_decision_replay,
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
