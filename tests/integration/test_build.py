"""Building on PostgreSQL: a failed build leaves the previous knowledge base usable."""

from __future__ import annotations

import pytest

from knowledge.build import build, current_digest
from knowledge.parser import SourceError
from knowledge.repository import KnowledgeBase
from tests.support.kb_builds import broken_source as _broken_source
from tests.support.paths import ALIASES, LEXICON, SOURCE, build_kb


def test_failed_postgres_build_rolls_back(postgres_server_url, monkeypatch, tmp_path):
    import knowledge.build as kb_build
    from tests.support.pgserver import create_database

    url = create_database(postgres_server_url)
    good = build_kb(url)
    with pytest.raises(SourceError):
        build_kb(url, source=_broken_source(tmp_path))
    real_insert = kb_build._insert

    def half_then_fail(session, rows):
        real_insert(session, rows)
        session.flush()
        raise RuntimeError("connection lost")

    monkeypatch.setattr(kb_build, "_insert", half_then_fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        build(url, source=SOURCE, lexicon=LEXICON, aliases=ALIASES, force=True)
    assert current_digest(url) == good.content_digest
    assert KnowledgeBase(url).measure_count() == 50
