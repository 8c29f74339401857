"""Building is idempotent, and a failed build leaves the previous knowledge base usable."""

from __future__ import annotations

import pytest

from knowledge.build import build, current_digest
from knowledge.lexicon import LexiconError
from knowledge.parser import SourceError
from knowledge.repository import KnowledgeBase
from tests.support.kb_builds import broken_source as _broken_source
from tests.support.kb_builds import dump as _dump
from tests.support.paths import ALIASES, LEXICON, SOURCE, build_kb


def test_build_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    first = build_kb(url, userdict=tmp_path / "jieba" / "userdict.txt")
    assert first.changed and (first.measures, first.sections) == (50, 5)
    before = _dump(url)
    second = build_kb(url, userdict=tmp_path / "jieba" / "userdict.txt")
    assert not second.changed and second.content_digest == first.content_digest
    forced = build(url, source=SOURCE, lexicon=LEXICON, aliases=ALIASES, force=True)
    assert forced.changed and _dump(url) == before


def test_userdict_is_generated_and_stable(tmp_path):
    path = tmp_path / "jieba" / "userdict.txt"
    build_kb(f"sqlite:///{tmp_path / 'kb.db'}", userdict=path)
    text = path.read_text(encoding="utf-8")
    words = [line.split(" ")[0] for line in text.splitlines()]
    assert {"居住证", "暂住证", "印章刻制", "港澳通行证", "出入境证件"} <= set(words)
    assert words == sorted(words)
    build_kb(f"sqlite:///{tmp_path / 'kb2.db'}", userdict=path)
    assert path.read_text(encoding="utf-8") == text


def test_failed_sqlite_build_keeps_the_previous_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    good = build_kb(url)
    with pytest.raises(SourceError, match="（十三）"):
        build_kb(url, source=_broken_source(tmp_path))
    assert current_digest(url) == good.content_digest
    assert KnowledgeBase(url).measure(13).title == "全面落实“就近办”"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.txt", "kb.db"]


def test_failure_while_writing_sqlite_keeps_the_previous_file(tmp_path, monkeypatch):
    import knowledge.build as kb_build

    url = f"sqlite:///{tmp_path / 'kb.db'}"
    good = build_kb(url)

    def explode(session, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(kb_build, "_insert", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        build(url, source=SOURCE, lexicon=LEXICON, aliases=ALIASES, force=True)
    assert current_digest(url) == good.content_digest
    assert [p.name for p in tmp_path.iterdir()] == ["kb.db"]


def test_bad_lexicon_stops_the_build(tmp_path):
    lexicon = tmp_path / "lexicon.yml"
    lexicon.write_text("place:\n  - 火星基地\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="火星基地"):
        build(f"sqlite:///{tmp_path / 'kb.db'}", source=SOURCE, lexicon=lexicon, aliases=ALIASES)
    assert not (tmp_path / "kb.db").exists()


def test_current_digest_of_nothing(tmp_path):
    assert current_digest(f"sqlite:///{tmp_path / 'empty.db'}") is None
