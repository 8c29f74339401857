"""The validation's inputs: the problem record, the paths of the files checked, and reading them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from bot.config import PROJECT_ROOT
from knowledge.parser import EXPECTED_MEASURES

# Fewer examples than this and the classifier has too little to learn an intent from.
MIN_EXAMPLES = 20
MEASURES = range(1, EXPECTED_MEASURES + 1)
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
        # and the first-look set (bot/quality/decision/cases.py layout); the blind batches train
        # the decision and are measured by cross-validation only (tests/data/blind/README.md)
        case_files += sorted(paths.cases.parent.glob("firstlook/*.yml"))
    inputs.cases = []
    for path in case_files:
        try:
            inputs.cases.extend((show(path), case) for case in load_cases(path))
        except CaseFileError as exc:
            unreadable("files", path, exc, "see the case format in bot/quality/evaluate.py")
            inputs.cases = None
            break
    return inputs
