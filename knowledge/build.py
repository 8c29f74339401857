"""Build the knowledge base from the source document, atomically.

Everything is parsed and analysed in memory first, so a bad source never touches the
database. The new content then replaces the old in one step: a SQLite file is written beside
the old one and renamed over it; any other database (PostgreSQL) is rewritten inside a single
transaction. Either way a failed build leaves the previous knowledge base intact and usable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from knowledge import db, models
from knowledge.facts import extractor_for
from knowledge.lexicon import (
    check_aliases,
    check_terms,
    jieba_userdict_lines,
    load_aliases,
    load_terms,
    nlu_documents_yaml,
)
from knowledge.parser import ParsedDocument, parse_file

log = logging.getLogger(__name__)

# Bump when the parser or fact rules change what is stored, so `build` rewrites the tables.
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class BuildReport:
    """What a build did."""

    database_url: str
    content_digest: str
    changed: bool
    sections: int
    measures: int
    sentences: int
    facts: int
    userdict_path: Path | None


def analyse(source: Path, lexicon: Path, aliases_path: Path) -> tuple[dict, list[str]]:
    """Parse and analyse everything into plain rows, touching no database.

    Returns:
        The rows by table, and the jieba user dictionary lines.

    Raises:
        SourceError: the source document is malformed.
        LexiconError: the lexicon or alias table is malformed or does not fit the document.
    """
    doc: ParsedDocument = parse_file(source)
    terms = load_terms(lexicon)
    aliases = load_aliases(aliases_path)
    full_text = "".join(m.text for m in doc.measures)
    check_terms(terms, full_text)
    check_aliases(aliases, terms, full_text)
    userdict = jieba_userdict_lines(terms, aliases)
    extractor = extractor_for(tuple(terms), tuple(userdict))

    rows: dict = {
        "document": {
            "notice_title": doc.notice_title,
            "title": doc.title,
            "issuer": doc.issuer,
            "issued_on": doc.issued_on.isoformat(),
            "publication": doc.publication,
            "source_sha256": doc.source_sha256,
        },
        "sections": [{"number": s.number, "label": s.label, "title": s.title} for s in doc.sections],
        "measures": [],
        "sentences": [],
        "facts": [],
        "terms": [{"term": t.term, "type": t.type, "canonical": t.canonical} for t in terms],
        "aliases": [{"alias": a, "term": t} for a, t in sorted(aliases.items())],
    }
    sentence_id = 0
    for m in doc.measures:
        rows["measures"].append(
            {
                "number": m.number,
                "label": m.label,
                "title": m.title,
                "section_number": m.section_number,
                "text": m.text,
                "source_line": m.line,
            }
        )
        for sentence in extractor.analyse(m.text):
            sentence_id += 1
            rows["sentences"].append(
                {
                    "id": sentence_id,
                    "measure_number": m.number,
                    "position": sentence.position,
                    "text": sentence.text,
                }
            )
            for f in sentence.facts:
                rows["facts"].append(
                    {
                        "measure_number": m.number,
                        "sentence_id": sentence_id,
                        "type": f.type,
                        "value": f.value,
                        "canonical": f.canonical,
                        "start": f.start,
                        "end": f.end,
                    }
                )
    payload = json.dumps({"schema": SCHEMA_VERSION, **rows}, ensure_ascii=False, sort_keys=True)
    rows["document"]["content_digest"] = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return rows, userdict


def current_digest(url: str) -> str | None:
    """The content digest of the knowledge base at ``url``, or None when there is none."""
    try:
        with db.session_scope(url) as session:
            return session.execute(select(models.Document.content_digest)).scalar_one_or_none()
    except (OperationalError, ProgrammingError):
        return None


def build(
    url: str,
    source: Path,
    lexicon: Path,
    aliases: Path,
    userdict_path: Path | None = None,
    force: bool = False,
    nlu_documents_path: Path | None = None,
) -> BuildReport:
    """Build (or confirm) the knowledge base at ``url``.

    Idempotent: when the stored content digest equals the new one, nothing is written.

    Raises:
        SourceError, LexiconError: bad input; the database is left as it was.
    """
    rows, userdict = analyse(source, lexicon, aliases)
    digest = rows["document"]["content_digest"]
    changed = force or current_digest(url) != digest
    if changed:
        target = _sqlite_file(url)
        if target:
            _swap_sqlite(url, target, rows)
        else:
            _rewrite_in_transaction(url, rows)
        log.info("knowledge base written to %s (digest %s)", db.safe_url(url), digest[:12])
    if userdict_path is not None:
        _write_if_different(userdict_path, "\n".join(userdict) + "\n")
    if nlu_documents_path is not None:
        _write_if_different(nlu_documents_path, nlu_documents_yaml(load_terms(lexicon), load_aliases(aliases)))
    return BuildReport(
        database_url=db.safe_url(url),
        content_digest=digest,
        changed=changed,
        sections=len(rows["sections"]),
        measures=len(rows["measures"]),
        sentences=len(rows["sentences"]),
        facts=len(rows["facts"]),
        userdict_path=userdict_path,
    )


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _insert(session: Session, rows: dict) -> None:
    session.add(models.Document(**{**rows["document"], "issued_on": _date(rows["document"]["issued_on"])}))
    session.add_all(models.Section(**r) for r in rows["sections"])
    session.flush()
    session.add_all(models.Measure(**r) for r in rows["measures"])
    session.flush()
    session.add_all(models.Sentence(**r) for r in rows["sentences"])
    session.flush()
    session.add_all(models.Fact(**r) for r in rows["facts"])
    session.add_all(models.Term(**r) for r in rows["terms"])
    session.add_all(models.Alias(**r) for r in rows["aliases"])


def _date(iso: str):
    from datetime import date

    return date.fromisoformat(iso)


def _swap_sqlite(url: str, target: Path, rows: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp_url = f"sqlite:///{tmp}"
    try:
        engine = db.get_engine(tmp_url)
        models.Base.metadata.create_all(engine)
        with db.session_scope(tmp_url) as session:
            _insert(session, rows)
    except BaseException:
        db.dispose_engine(tmp_url)
        tmp.unlink(missing_ok=True)
        raise
    db.dispose_engine(tmp_url)
    os.replace(tmp, target)
    db.dispose_engine(url)


def _rewrite_in_transaction(url: str, rows: dict) -> None:
    # PostgreSQL's DDL is transactional: readers see the old tables until the commit.
    with db.session_scope(url) as session:
        conn = session.connection()
        models.Base.metadata.drop_all(conn)
        models.Base.metadata.create_all(conn)
        _insert(session, rows)


def _write_if_different(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
