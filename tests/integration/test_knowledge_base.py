"""The built knowledge base, queried through the repository, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

import pytest

from knowledge.parser import to_chinese_numeral
from knowledge.repository import FACT_TYPES, MeasureInfo
from tests.support.paths import SOURCE

SECTION_OF = {
    range(1, 9): "一、强化严打整治",
    range(9, 37): "二、优化审批服务",
    range(37, 45): "三、规范涉企执法",
    range(45, 49): "四、提升亲企服务",
    range(49, 51): "五、狠抓督察保障",
}

TITLES = {
    1: "严厉打击突出刑事犯罪",
    9: "精减行政审批事项",
    11: "积极推进“一次办”",
    14: "大力推进“马上办”",
    22: "全面放开人才落户限制",
    23: "放宽集体户设置限制",
    24: "创新居住证办理和服务",
    25: "推进印章刻制服务便利化",
    26: "进一步压缩居民身份证制发周期",
    28: "放宽出入境业务办理",
    35: "试点实行5+2服务模式",
    39: "依法慎重采取查封、扣押、冻结措施",
    47: "实行重点企业挂牌服务",
    49: "开展优化营商环境专项督察",
    50: "营造优化营商环境良好氛围",
}

# (measure, fact type, value as written) that must be found.
FACTS = [
    (9, "threshold", "4层"),
    (9, "threshold", "800平方米"),
    (9, "threshold", "14个标准间"),
    (9, "place", "村"),
    (10, "place", "南宁市"),
    (11, "time_limit", "2018年底前"),
    (11, "threshold", "80%以上"),
    (11, "threshold", "25项"),
    (14, "time_limit", "1小时"),
    (18, "channel", "微信"),
    (18, "channel", "支付宝"),
    (18, "channel", "网上支付"),
    (19, "document", "驾驶证"),
    (19, "threshold", "5类"),
    (21, "time_limit", "20个工作日"),
    (21, "time_limit", "3个工作日"),
    (22, "document", "毕业证"),
    (22, "document", "身份证"),
    (22, "document", "国家职业资格证"),
    (22, "threshold", "14个设区市"),
    (22, "department", "人社部门"),
    (24, "document", "居住证"),
    (24, "threshold", "满半年"),
    (25, "time_limit", "1天"),
    (25, "channel", "一次不用跑"),
    (26, "time_limit", "15个工作日"),
    (26, "time_limit", "18个工作日"),
    (26, "time_limit", "8个工作日"),
    (26, "time_limit", "10个工作日"),
    (26, "channel", "快递"),
    (26, "place", "偏远地区"),
    (26, "place", "农村"),
    (26, "place", "城区"),
    (28, "document", "出入境证件"),
    (28, "time_limit", "三个月"),
    (28, "time_limit", "一年"),
    (29, "threshold", "10人以上"),
    (30, "threshold", "50%"),
    (35, "time_limit", "周六周日"),
    (35, "department", "户政"),
    (44, "channel", "八桂警察阳光执法网"),
    (45, "time_limit", "每季度"),
    (46, "department", "经侦部门"),
    (47, "threshold", "前100位"),
    (47, "threshold", "前30位"),
    (47, "threshold", "前20位"),
    (47, "threshold", "前10位"),
    (49, "phone", "12389"),
    (49, "phone", "110"),
    (49, "time_limit", "7个工作日"),
]


def _source_line(number: int) -> str:
    label = f"（{to_chinese_numeral(number)}）"
    return next(ln.strip() for ln in SOURCE.read_text(encoding="utf-8").splitlines() if ln.startswith(label))


@pytest.mark.parametrize("number", range(1, 51))
def test_every_measure_matches_the_document(kb, number):
    m = kb.measure(number)
    assert isinstance(m, MeasureInfo)
    raw = _source_line(number)
    assert m.label == f"（{to_chinese_numeral(number)}）"
    assert raw == m.label + m.text
    assert m.title == raw[len(m.label) :].split("。")[0]
    if number in TITLES:
        assert m.title == TITLES[number]
    assert m.section == next(v for r, v in SECTION_OF.items() if number in r)
    assert "".join(s.text for s in m.sentences) == m.text
    assert m.sentences[0].text == m.title + "。"
    assert [s.position for s in m.sentences] == list(range(len(m.sentences)))
    for f in m.facts:
        assert f.type in FACT_TYPES
        assert f.value in m.sentences[f.sentence].text


@pytest.mark.parametrize("number, fact_type, value", FACTS)
def test_facts_are_extracted(kb, number, fact_type, value):
    facts = kb.facts(number, fact_type)
    assert value in [f.value for f in facts], [f.value for f in facts]


def test_facts_carry_their_sentence(kb):
    courier = [f for f in kb.facts(26, "time_limit") if f.value in ("8个工作日", "10个工作日")]
    station = [f for f in kb.facts(26, "time_limit") if f.value in ("15个工作日", "18个工作日")]
    sentences = kb.measure(26).sentences
    assert {f.sentence for f in courier} == {2} and "快递" in sentences[2].text
    assert {f.sentence for f in station} == {1} and "派出所" in sentences[1].text


def test_canonical_names(kb):
    assert ("身份证", "居民身份证") in [(f.value, f.canonical) for f in kb.facts(22, "document")]
    assert ("交通管理", "交管") in [(f.value, f.canonical) for f in kb.facts(18, "department")]


def test_no_number_outside_the_notice(kb):
    assert kb.measure(0) is None and kb.measure(51) is None
    assert kb.measures([]) == []
    assert [m.number for m in kb.measures([3, 1, 2])] == [1, 2, 3]


def test_unknown_fact_type_is_an_error(kb):
    with pytest.raises(ValueError, match="unknown fact type"):
        kb.facts(22, "colour")


def test_document(kb):
    doc = kb.document()
    assert doc.title == "广西公安机关深化“放管服”改革优化营商环境实施意见"
    assert doc.issuer == "广西壮族自治区公安厅" and doc.publication == "依申请公开"
    assert doc.issued_on_cn == "2018年8月10日"
    assert re.fullmatch(r"[0-9a-f]{64}", doc.content_digest)


@pytest.mark.parametrize(
    "alias, term",
    [("暂住证", "居住证"), ("驾照", "驾驶证"), ("港澳通行证", "出入境证件"), ("刻章", "印章刻制"), ("户口", "户籍")],
)
def test_alias_resolution(kb, alias, term):
    assert kb.resolve_alias(alias) == term


def test_unknown_alias(kb):
    assert kb.resolve_alias("火星签证") is None
    assert kb.resolve_alias("") is None
    assert kb.normalize_terms("暂住证和驾照") == "居住证和驾驶证"


@pytest.mark.parametrize(
    "query, first",
    [
        ("毕业生落户", 22),
        ("暂住证怎么办", 24),
        ("刻章要几天", 25),
        ("集体户", 23),
        ("身份证快递", 26),
        ("12389", 49),
        ("外籍高层次人才签证", 29),
        ("冻结账户 冻结", 39),
    ],
)
def test_search_ranks_the_right_measure_first(kb, query, first):
    hits = kb.search(query)
    assert hits and hits[0].number == first, [(h.number, h.score) for h in hits]


@pytest.mark.parametrize("query", ["", "   ", "的了吗", "%", "_", "' OR 1=1 --", "天气预报" * 100])
def test_search_with_odd_input_returns_nothing_or_hits_safely(kb, query):
    hits = kb.search(query)
    assert isinstance(hits, list)
    if query.strip() in ("", "的了吗", "%", "_", "' OR 1=1 --"):
        assert hits == []
