"""Load the term lexicon and the alias table (both YAML data files) and check them.

The lexicon lists the document's own terms by fact type; the alias table maps what residents
say to those terms. From both, :func:`jieba_userdict_lines` makes the jieba user dictionary
that the knowledge-base builder and the Rasa NLU pipeline share, so that both cut a question
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knowledge.yamlfile import read_yaml

FACT_TERM_TYPES = ("place", "document", "department", "channel", "phone")


class LexiconError(ValueError):
    """The lexicon or alias file is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Term:
    """One term as the document writes it, with the canonical name facts are stored under."""

    type: str
    term: str
    canonical: str


def _load_yaml(path: Path) -> dict:
    return read_yaml(path, LexiconError)


def load_terms(path: Path) -> list[Term]:
    """Read the lexicon.

    Raises:
        LexiconError: unknown fact type, an entry that is not a string or {term, canonical},
            or a term listed twice.
    """
    data = _load_yaml(path)
    terms: list[Term] = []
    seen: dict[str, str] = {}
    for key, entries in data.items():
        if key == "version":
            continue
        if key not in FACT_TERM_TYPES:
            raise LexiconError(f"{path}: unknown fact type {key!r}; use one of {', '.join(FACT_TERM_TYPES)}")
        if not isinstance(entries, list):
            raise LexiconError(f"{path}: {key} must be a list of terms")
        for entry in entries:
            if isinstance(entry, (str, int)):
                term = canonical = str(entry)
            elif isinstance(entry, dict) and "term" in entry:
                term = str(entry["term"])
                canonical = str(entry.get("canonical") or term)
            else:
                raise LexiconError(f"{path}: {key}: entry {entry!r} is neither a term nor {{term:, canonical:}}")
            term = term.strip()
            if not term:
                raise LexiconError(f"{path}: {key}: empty term")
            if term in seen:
                raise LexiconError(f"{path}: term {term!r} is listed under {seen[term]} and {key}")
            seen[term] = key
            terms.append(Term(type=key, term=term, canonical=canonical.strip()))
    return terms


def load_aliases(path: Path) -> dict[str, str]:
    """Read the alias table: alias → document term.

    Raises:
        LexiconError: the file has no ``aliases`` mapping, or an entry is empty or maps to itself.
    """
    data = _load_yaml(path)
    aliases = data.get("aliases")
    if not isinstance(aliases, dict):
        raise LexiconError(f"{path}: expected an 'aliases:' mapping of 居民说法: 文件用语")
    result: dict[str, str] = {}
    for alias, target in aliases.items():
        alias, target = str(alias or "").strip(), str(target or "").strip()
        if not alias or not target:
            raise LexiconError(f"{path}: alias {alias!r} → {target!r}: both sides must be non-empty")
        if alias == target:
            raise LexiconError(f"{path}: alias {alias!r} maps to itself")
        result[alias] = target
    return result


def check_aliases(aliases: dict[str, str], terms: list[Term], document_text: str) -> None:
    """Every alias must resolve to a term of the knowledge base.

    A target resolves when it is a lexicon term or canonical name, or a phrase of the document.

    Raises:
        LexiconError: naming every alias whose target resolves to nothing.
    """
    known = {t.term for t in terms} | {t.canonical for t in terms}
    bad = [f"{a} → {t}" for a, t in aliases.items() if t not in known and t not in document_text]
    if bad:
        raise LexiconError(
            "aliases whose target is not a term of the document (fix the target or add the term to "
            "knowledge/lexicon.yml): " + "; ".join(bad)
        )


def check_terms(terms: list[Term], document_text: str) -> None:
    """Every lexicon term must occur in the document, or it could never produce a fact.

    Raises:
        LexiconError: naming every term that does not occur.
    """
    missing = [f"{t.type}:{t.term}" for t in terms if t.term not in document_text]
    if missing:
        raise LexiconError("lexicon terms that do not occur in the source document: " + ", ".join(missing))


def jieba_userdict_lines(terms: list[Term], aliases: dict[str, str]) -> list[str]:
    """Lines of a jieba user dictionary (``word freq tag``) for terms, canonical names and aliases.

    Frequencies are high enough that jieba keeps each entry whole. Sorted, so the file is
    byte-identical for the same input (the Rasa model's fingerprint depends on it).
    """
    words: dict[str, str] = {}
    for t in terms:
        for w in (t.term, t.canonical):
            if len(w) > 1 and " " not in w:
                words.setdefault(w, "nz")
    for alias, target in aliases.items():
        for w in (alias, target):
            if len(w) > 1 and " " not in w:
                words.setdefault(w, "nz")
    return [f"{w} {max(2000, 500 * len(w))} {tag}" for w, tag in sorted(words.items())]


def nlu_documents_yaml(terms: list[Term], aliases: dict[str, str]) -> str:
    """Rasa NLU data for the ``document`` entity: a lookup table and synonyms.

    The lookup table holds the document's certificate terms and the aliases residents use for them;
    the synonyms map each to its canonical name.

    Deterministic (sorted), so regenerating an unchanged lexicon changes nothing.
    """
    canonical_of = {t.term: t.canonical for t in terms if t.type == "document"}
    canonical_of.update({t.canonical: t.canonical for t in terms if t.type == "document"})
    for alias, target in aliases.items():
        if target in canonical_of:
            canonical_of[alias] = canonical_of[target]
    # Longest first: the lookup regex tries alternatives in order (居住证明 before 居住证).
    words = sorted(canonical_of, key=lambda w: (-len(w), w))
    lines = [
        "# Generated by `python -m knowledge build` from knowledge/lexicon.yml and knowledge/aliases.yml.",
        "# Do not edit: change those files and run `make kb`.",
        'version: "3.1"',
        "nlu:",
        "  - lookup: document",
        "    examples: |",
    ]
    lines += [f"      - {w}" for w in words]
    by_canonical: dict[str, list[str]] = {}
    for word, canonical in canonical_of.items():
        if word != canonical:
            by_canonical.setdefault(canonical, []).append(word)
    for canonical in sorted(by_canonical):
        lines += [f"  - synonym: {canonical}", "    examples: |"]
        lines += [f"      - {w}" for w in sorted(by_canonical[canonical])]
    return "\n".join(lines) + "\n"
