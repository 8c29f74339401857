"""Comparing knowledge-base builds, and a broken copy of the notice to fail one with."""

from __future__ import annotations

import sqlalchemy as sa

from knowledge import db
from tests.support.paths import SOURCE


def dump(url: str) -> dict[str, list]:
    """Every row of every knowledge-base table, ordered, for comparing two builds."""
    engine = db.get_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in ("kb_document", "kb_section", "kb_measure", "kb_sentence", "kb_fact", "kb_term", "kb_alias"):
            out[table] = [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]
    return out


def broken_source(tmp_path):
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.txt"
    broken.write_text("\n".join(ln for ln in lines if not ln.startswith("（十三）")), encoding="utf-8")
    return broken
