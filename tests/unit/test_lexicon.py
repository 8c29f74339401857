"""The lexicon and alias table are data; malformed entries are reported by name."""

from __future__ import annotations

import pytest

from knowledge.lexicon import (
    LexiconError,
    check_aliases,
    check_terms,
    jieba_userdict_lines,
    load_aliases,
    load_terms,
)
from knowledge.parser import parse_file
from tests.support.paths import ALIASES, LEXICON, SOURCE


@pytest.fixture(scope="module")
def document_text() -> str:
    return "".join(m.text for m in parse_file(SOURCE).measures)


def test_shipped_lexicon_and_aliases_fit_the_document(document_text):
    terms = load_terms(LEXICON)
    aliases = load_aliases(ALIASES)
    check_terms(terms, document_text)
    check_aliases(aliases, terms, document_text)
    assert len(terms) > 50 and len(aliases) > 30


@pytest.mark.parametrize(
    "content, message",
    [
        ("colour:\n  - 红\n", "unknown fact type"),
        ("place: 南宁市\n", "must be a list"),
        ("place:\n  - [a, b]\n", "neither a term"),
        ("place:\n  - 南宁市\ndocument:\n  - 南宁市\n", "listed under place and document"),
        ("place:\n  - ''\n", "empty term"),
        ("- just\n- a list\n", "mapping at the top level"),
        ("place: [unclosed\n", "not valid UTF-8 YAML"),
    ],
)
def test_malformed_lexicon(tmp_path, content, message):
    path = tmp_path / "lexicon.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message):
        load_terms(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("aliases: []\n", "expected an 'aliases:' mapping"),
        ("aliases:\n  驾照: ''\n", "non-empty"),
        ("aliases:\n  驾驶证: 驾驶证\n", "maps to itself"),
        ("nothing: here\n", "expected an 'aliases:' mapping"),
    ],
)
def test_malformed_aliases(tmp_path, content, message):
    path = tmp_path / "aliases.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message):
        load_aliases(path)


def test_alias_to_an_unknown_term_is_named(document_text):
    terms = load_terms(LEXICON)
    with pytest.raises(LexiconError, match="飞行执照 → 飞机驾驶证"):
        check_aliases({"飞行执照": "飞机驾驶证", "驾照": "驾驶证"}, terms, document_text)


def test_missing_file(tmp_path):
    with pytest.raises(LexiconError, match="not found"):
        load_aliases(tmp_path / "none.yml")


def test_userdict_lines_are_sorted_and_well_formed():
    lines = jieba_userdict_lines(load_terms(LEXICON), load_aliases(ALIASES))
    assert lines == sorted(lines)
    for line in lines:
        word, freq, tag = line.split(" ")
        assert word and int(freq) >= 2000 and tag == "nz"
