"""English words residents mix into a question, read as the Chinese terms of the notice.

``knowledge/english.yml`` maps an English term to Chinese ("ID card" → 身份证). :func:`translate`
replaces whole English words only (a term never matches inside a longer word: "idea" keeps its
"id"), ignoring case and the spacing or hyphen between a term's words, longest term first. It runs
inside :func:`bot.text.normalize.normalize_text`, so NLU, the answer decision and training see the
same text.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from knowledge.yamlfile import entry_lines, read_yaml

GLOSSARY_FILE = Path(__file__).resolve().parents[2] / "knowledge" / "english.yml"
_TERM = re.compile(r"[a-z][a-z' -]*[a-z]|[a-z]")


class GlossaryError(ValueError):
    """``knowledge/english.yml`` is malformed; the message names the file and the line."""


def parse(data: object, where: str, lines: dict[str, int] | None = None) -> dict[str, str]:
    """The term → Chinese mapping of a loaded glossary document, checked."""
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("terms"), dict):
        raise GlossaryError(f"{where}: expected a mapping with version: 1 and terms: {{english: 中文}}")
    out: dict[str, str] = {}
    for term, chinese in data["terms"].items():
        at = f"{where}:{(lines or {}).get(str(term), '?')}"
        if not isinstance(term, str) or not _TERM.fullmatch(term):
            raise GlossaryError(f"{at}: the term {term!r} must be lower-case English words")
        if not isinstance(chinese, str) or not chinese.strip() or _TERM.search(chinese.lower()):
            raise GlossaryError(f"{at}: {term!r} must map to a Chinese term, got {chinese!r}")
        out[term] = chinese.strip()
    return out


@functools.lru_cache(maxsize=1)
def glossary(path: Path = GLOSSARY_FILE) -> tuple[re.Pattern[str], dict[str, str]]:
    """The compiled pattern of every term (longest first) and the mapping by normalised term."""
    terms = parse(read_yaml(path, GlossaryError), str(path), entry_lines(path, "terms"))
    ordered = sorted(terms, key=len, reverse=True)
    alternatives = "|".join(r"[\s-]*".join(re.escape(w) for w in re.split(r"[\s-]+", t)) for t in ordered)
    pattern = re.compile(rf"(?<![A-Za-z_])(?:{alternatives})(?![A-Za-z_])", re.IGNORECASE)
    return pattern, {_key(t): c for t, c in terms.items()}


def _key(term: str) -> str:
    return re.sub(r"[\s-]+", " ", term.lower())


def translate(text: str) -> str:
    """``text`` with every English term of the glossary replaced by its Chinese term."""
    if not any("a" <= ch.lower() <= "z" for ch in text):
        return text
    pattern, terms = glossary()
    return pattern.sub(lambda m: terms.get(_key(m.group(0)), m.group(0)), text)
