"""English terms read as the notice's Chinese ones (bot/text/english.py, knowledge/english.yml)."""

from __future__ import annotations

import pytest

from bot.text import english
from bot.text.normalize import normalize_text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我的ID card丢了怎么补办", "我的身份证丢了怎么补办"),
        ("How long for a residence permit", "多久 for a 居住证"),
        ("business visa for foreigners", "商务签证 for 外国人"),  # the longer term first
        ("visa", "签证"),
        ("my drivers-license expired", "my 驾驶证 expired"),  # a hyphen between a term's words
        ("DRIVING   LICENCE", "驾驶证"),  # case and spacing ignored
        ("ｅ－ｂｉｋｅ上牌", "电动自行车上牌"),  # full width, after NFKC
        ("WeChat ID是多少", "微信号是多少"),
    ],
)
def test_english_terms_become_chinese(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I have an idea about a video",  # "id" inside words stays
        "cards and carbon",  # "car" inside words stays
        "居住证要多久",
        "Guangxi Nanning",
    ],
)
def test_text_without_a_whole_term_is_kept(text):
    assert normalize_text(text) == text


def test_a_term_next_to_digits_or_chinese_is_a_word():
    assert normalize_text("visa2次") == "签证2次"
    assert normalize_text("办passport要带啥") == "办护照要带啥"


@pytest.mark.parametrize(
    "document, message",
    [
        ({"terms": {"id": "身份证"}}, "version: 1"),
        ({"version": 1, "terms": ["id"]}, "version: 1"),
        ({"version": 1, "terms": {"ID Card": "身份证"}}, "lower-case"),
        ({"version": 1, "terms": {"id card": ""}}, "Chinese term"),
        ({"version": 1, "terms": {"id card": "id card"}}, "Chinese term"),
        ({"version": 1, "terms": {"id card": 3}}, "Chinese term"),
        ({"version": 1, "terms": {"身份证": "身份证"}}, "lower-case"),
    ],
)
def test_a_malformed_glossary_is_refused_with_its_file(document, message):
    with pytest.raises(english.GlossaryError, match=message) as caught:
        english.parse(document, "knowledge/english.yml", {})
    assert "knowledge/english.yml" in str(caught.value)


def test_a_bad_entry_names_its_line(tmp_path):
    path = tmp_path / "english.yml"
    path.write_text("version: 1\nterms:\n  id card: 身份证\n  Visa: 签证\n", encoding="utf-8")
    with pytest.raises(english.GlossaryError, match=r"english.yml:4: "):
        english.glossary.__wrapped__(path)
    path.write_text("version: 1\nterms: [unclosed\n", encoding="utf-8")
    with pytest.raises(english.GlossaryError, match="not valid UTF-8 YAML"):
        english.glossary.__wrapped__(path)


def test_the_project_glossary_loads_and_maps_to_chinese():
    pattern, terms = english.glossary()
    assert terms["id card"] == "身份证" and terms["residence permit"] == "居住证"
    assert all(not any("a" <= c <= "z" for c in v.lower()) for v in terms.values())
    assert pattern.search("x ID CARD y")


def test_a_term_inside_an_identifier_is_not_a_word():
    assert english.translate("ask_enforcement_case_progress_query") == "ask_enforcement_case_progress_query"
    assert english.translate("ask_business_environment") == "ask_business_environment"
    assert english.translate("progress 怎么查") != "progress 怎么查"
