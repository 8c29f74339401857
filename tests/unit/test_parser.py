"""The parser reads the real notice right and stops, naming the line, on a broken one."""

from __future__ import annotations

import re

import pytest

from knowledge.parser import SourceError, chinese_numeral, parse_file, parse_text, to_chinese_numeral
from tests.support.paths import SOURCE


@pytest.mark.parametrize(
    "text, number",
    [("一", 1), ("九", 9), ("十", 10), ("十一", 11), ("二十", 20), ("二十二", 22), ("三十六", 36), ("五十", 50)],
)
def test_chinese_numerals_round_trip(text, number):
    assert chinese_numeral(text) == number
    assert to_chinese_numeral(number) == text


@pytest.mark.parametrize("bad", ["", "十十", "二二", "百", "1", "十二三"])
def test_bad_chinese_numerals_are_rejected(bad):
    with pytest.raises(ValueError):
        chinese_numeral(bad)


def test_front_matter():
    doc = parse_file(SOURCE)
    assert doc.title == "广西公安机关深化“放管服”改革优化营商环境实施意见"
    assert doc.notice_title == "广西壮族自治区公安厅关于印发广西公安机关深化“放管服”改革优化营商环境实施意见的通知"
    assert doc.issuer == "广西壮族自治区公安厅"
    assert doc.issued_on.isoformat() == "2018-08-10"
    assert doc.publication == "依申请公开"
    assert re.fullmatch(r"[0-9a-f]{64}", doc.source_sha256)


def test_sections_and_measures():
    doc = parse_file(SOURCE)
    assert [s.label + s.title for s in doc.sections] == [
        "一、强化严打整治",
        "二、优化审批服务",
        "三、规范涉企执法",
        "四、提升亲企服务",
        "五、狠抓督察保障",
    ]
    assert [m.number for m in doc.measures] == list(range(1, 51))
    by_section = {}
    for m in doc.measures:
        by_section.setdefault(m.section_number, []).append(m.number)
    assert {k: (v[0], v[-1]) for k, v in by_section.items()} == {
        1: (1, 8),
        2: (9, 36),
        3: (37, 44),
        4: (45, 48),
        5: (49, 50),
    }
    m22 = doc.measures[21]
    assert (m22.label, m22.title) == ("（二十二）", "全面放开人才落户限制")
    assert m22.text.startswith("全面放开人才落户限制。大中专院校（含技工院校）毕业生凭毕业证和身份证")
    assert m22.text.endswith("可同时办理共同居住生活的配偶、未成年子女落户手续。")


def _lines() -> list[str]:
    return SOURCE.read_text(encoding="utf-8").splitlines()


def _line_of(prefix: str) -> int:
    return next(i for i, ln in enumerate(_lines()) if ln.startswith(prefix))


def _without(prefix: str) -> str:
    lines = _lines()
    del lines[_line_of(prefix)]
    return "\n".join(lines)


def _swapped(a: str, b: str) -> str:
    lines = _lines()
    i, j = _line_of(a), _line_of(b)
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _duplicated(prefix: str) -> str:
    lines = _lines()
    i = _line_of(prefix)
    lines.insert(i + 1, lines[i])
    return "\n".join(lines)


def _truncated_after(prefix: str, keep_chars: int | None = None) -> str:
    lines = _lines()
    i = _line_of(prefix)
    kept = lines[: i + 1]
    if keep_chars is not None:
        kept[-1] = kept[-1][:keep_chars]
    return "\n".join(kept)


def _inserted_before(prefix: str, line: str) -> str:
    lines = _lines()
    lines.insert(_line_of(prefix), line)
    return "\n".join(lines)


BROKEN = [
    pytest.param(lambda: "", None, "empty", id="empty"),
    pytest.param(lambda: "  \n\n \t\n", None, "empty", id="whitespace-only"),
    pytest.param(lambda: "hello\x00world（一）", None, "NUL", id="binary"),
    pytest.param(lambda: "这不是那份通知。\n没有任何措施。", None, "no numbered measure", id="unrelated-text"),
    pytest.param(lambda: _without("（十三）"), "（十四）", "measure （十三） is missing", id="measure-missing"),
    pytest.param(lambda: _duplicated("（七）"), "（七）", "repeats the number", id="number-repeated"),
    pytest.param(lambda: _swapped("（十二）", "（十三）"), "（十三）", "（十二） is missing", id="reordered"),
    pytest.param(
        lambda: _without("三、规范涉企执法"), "四、提升亲企服务", "section header 三、 is missing", id="section-missing"
    ),
    pytest.param(
        lambda: _without("一、强化严打整治"), "（一）", "before any section header", id="first-section-missing"
    ),
    pytest.param(
        lambda: _without("五、狠抓督察保障"), "四、提升亲企服务", "found 4 section headers", id="last-section-missing"
    ),
    pytest.param(lambda: _truncated_after("（三十）"), "（三十）", "found 30 measures", id="truncated-at-measure"),
    pytest.param(lambda: _truncated_after("（五十）", 20), "（五十）", "truncated|cut off", id="truncated-mid-line"),
    pytest.param(lambda: _truncated_after("（五十）"), "（五十）", "公开方式", id="footer-missing"),
    pytest.param(
        lambda: "\n".join(_lines()).replace("2018年8月10日", "2018年13月10日", 1),
        "2018年13月10日",
        "not a real date",
        id="bad-date",
    ),
    pytest.param(
        lambda: _inserted_before("（一）", "（公开方式：依申请公开）"),
        None,
        "found 0 measures",
        id="publication-before-measures",
    ),
    pytest.param(
        lambda: _inserted_before("（一）", "抄送：本厅领导，驻厅纪检组，厅属各单位。"),
        None,
        "found 0 measures",
        id="footer-before-measures",
    ),
]


@pytest.mark.parametrize("make_text, line_prefix, message", BROKEN)
def test_broken_source_is_rejected_with_the_line(make_text, line_prefix, message):
    text = make_text()
    with pytest.raises(SourceError) as info:
        parse_text(text)
    assert re.search(message, str(info.value)), str(info.value)
    if line_prefix is not None:
        # The last line with the prefix: for a repeated measure, the repetition is the bad line.
        expected_line = max(i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip().startswith(line_prefix))
        assert info.value.line == expected_line, str(info.value)
        assert f"line {expected_line}" in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        parse_file(tmp_path / "nope.txt")


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("第一行\n".encode("utf-8") + "落户".encode("gbk"))
    with pytest.raises(SourceError) as info:
        parse_file(path)
    assert "not UTF-8" in str(info.value) and ":2" in str(info.value)


def test_multi_paragraph_measure_is_joined():
    lines = _lines()
    i = _line_of("（二十二）")
    head, tail = lines[i].split("上述人员")
    lines[i : i + 1] = [head, "上述人员" + tail]
    doc = parse_text("\n".join(lines))
    assert doc.measures[21].text == parse_file(SOURCE).measures[21].text
