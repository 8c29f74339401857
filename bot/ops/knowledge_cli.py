"""Command line: ``python -m knowledge build|show|search``.

Exit codes: 0 done, 1 not found, 2 bad input (source, lexicon, arguments or configuration).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

# spaCy's thinc imports TensorFlow when it is installed (Rasa brings it); keep its banner quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bot import config
from knowledge.lexicon import LexiconError
from knowledge.parser import SourceError


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m knowledge", description="广西公安“放管服”知识库")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL or var/knowledge.db)")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="parse the source document and (re)build the knowledge base")
    b.add_argument("--source", help="source document (default: knowledge/source/…)")
    b.add_argument("--force", action="store_true", help="rewrite even when the content is unchanged")
    s = sub.add_parser("show", help="show one measure")
    s.add_argument("number", type=int, help="measure number, 1-50")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    q = sub.add_parser("search", help="keyword search over the measures")
    q.add_argument("query")
    q.add_argument("--limit", type=int, default=5)
    q.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = config.load()
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    url = args.database_url or settings.database_url
    try:
        if args.command == "build":
            return _build(args, settings, url)
        return _query(args, url)
    except (SourceError, LexiconError) as exc:
        print(f"knowledge base not built: {exc}", file=sys.stderr)
        return 2


def _build(args, settings: config.Settings, url: str) -> int:
    from pathlib import Path

    from knowledge.build import build

    report = build(
        url,
        source=Path(args.source) if args.source else settings.source_path,
        lexicon=settings.lexicon_path,
        aliases=settings.aliases_path,
        userdict_path=settings.jieba_userdict,
        force=args.force,
        nlu_documents_path=settings.nlu_documents_path,
    )
    state = "built" if report.changed else "unchanged"
    print(
        f"knowledge base {state}: {report.database_url}\n"
        f"  {report.sections} sections, {report.measures} measures, {report.sentences} sentences, "
        f"{report.facts} facts; digest {report.content_digest[:16]}\n"
        f"  jieba user dictionary: {report.userdict_path}"
    )
    return 0


def _query(args, url: str) -> int:
    from knowledge.repository import KnowledgeBase, KnowledgeBaseMissing

    kb = KnowledgeBase(url)
    try:
        kb.document()
    except KnowledgeBaseMissing as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - any driver error means "not built / unreachable"
        print(f"cannot read the knowledge base at {url}: {type(exc).__name__}: run `make kb` first", file=sys.stderr)
        return 2
    if args.command == "show":
        measure = kb.measure(args.number)
        if measure is None:
            print(f"no measure numbered {args.number}: the notice has measures 1-{kb.measure_count()}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(measure.to_json(), ensure_ascii=False, indent=2))
        else:
            print(f"{measure.label}{measure.title}  [{measure.section}]\n")
            for s in measure.sentences:
                print(f"  {s.position + 1}. {s.text}")
            print()
            for f in measure.facts:
                print(f"  - {f.type}: {f.value}" + (f" ({f.canonical})" if f.canonical != f.value else ""))
        return 0
    hits = kb.search(args.query, limit=args.limit)
    if args.json:
        print(json.dumps([h.__dict__ | {"matched": list(h.matched)} for h in hits], ensure_ascii=False, indent=2))
    elif not hits:
        print(f"no measure mentions {args.query!r}")
    else:
        for h in hits:
            print(f"{h.number:>2} {h.label}{h.title}  score {h.score}  ({'、'.join(h.matched)})")
    return 0 if hits or args.command != "search" else 1


if __name__ == "__main__":
    sys.exit(main())
