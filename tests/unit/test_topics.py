"""按主题浏览 and 常见问题 without a server: payloads, examples to tap, the fixed list and its checks."""

from __future__ import annotations

import pytest
import yaml

from bot.rasa_ext import payload as payloads
from bot.webapp import topics
from bot.webapp.console.knowledge import training_examples
from knowledge.intent_map import load_intent_map


@pytest.mark.parametrize(
    "number, primaries, expected",
    [
        (22, {22: ["ask_settle_graduate_materials", "ask_settle_skilled_worker"]}, "/ask_settle_graduate_materials"),
        (7, {}, '/show_measure{"measure_number":"7"}'),
        (50, {22: ["ask_settle_graduate_materials"]}, '/show_measure{"measure_number":"50"}'),
    ],
)
def test_payload_is_the_first_primary_intent_else_show_measure(number, primaries, expected):
    sent = topics.payload_for(number, primaries)
    assert sent == expected and payloads.sanitize(sent) == sent


def test_every_measure_has_a_payload_the_check_keeps():
    primaries = topics.primary_intents()
    for number in range(1, 51):
        sent = topics.payload_for(number, primaries)
        assert payloads.sanitize(sent) == sent


def test_primary_intents_follow_the_intent_map_order():
    primaries = topics.primary_intents()
    order = list(load_intent_map())
    for intents in primaries.values():
        assert intents == sorted(intents, key=order.index)
    assert primaries[30][0] == "ask_traffic_driving_test"


EXAMPLES = {
    "a": ("刻章", "公司刻章怎么办", "新公司刻章要什么材料", "网上能刻章吗"),
    "b": ("短", "技能人才落户要什么", "我的电话13812345678"),
    "c": ("一", "二"),
    "long": ("这是一个非常非常非常非常非常非常非常非常长的问题吗",),
}


@pytest.mark.parametrize(
    "intents, limit, expected",
    [
        (["a"], 3, ["公司刻章怎么办", "新公司刻章要什么材料", "网上能刻章吗"]),  # the bare keyword left out
        (["a", "b"], 3, ["公司刻章怎么办", "技能人才落户要什么", "新公司刻章要什么材料"]),  # in turn
        (["b"], 3, ["技能人才落户要什么"]),  # never the one with a mobile number
        (["c"], 3, ["一", "二"]),  # none tappable: the first ones as they are
        (["long", "c"], 1, ["这是一个非常非常非常非常非常非常非常非常长的问题吗"]),
        (["a"], 1, ["公司刻章怎么办"]),
        (["a"], 0, []),
        ([], 3, []),
        (["unknown"], 3, []),
    ],
)
def test_examples_to_tap(intents, limit, expected):
    assert topics.examples_for(intents, EXAMPLES, limit) == expected


def test_the_shipped_fixed_list_loads():
    fixed = topics.load_faq_examples()
    examples = training_examples()
    specs = load_intent_map()
    assert 1 <= len(fixed) <= topics.FAQ_SIZE
    assert len({q.measure for q in fixed}) == len(fixed)
    for q in fixed:
        intent = q.payload[1:]
        assert q.text in examples[intent] and specs[intent].primary == q.measure
        assert payloads.sanitize(q.payload) == q.payload


GOOD = {"intent": "ask_seal_engraving", "text": "刻章要跑几次"}


@pytest.mark.parametrize(
    "content, complaint",
    [
        (None, "file not found"),
        ("- just\n- a list\n", "mapping at the top level"),
        ("faq_examples: {}\n", "list of 1 to 6"),
        ("faq_examples: []\n", "list of 1 to 6"),
        (yaml.safe_dump({"faq_examples": [GOOD] * 7}), "list of 1 to 6"),
        (yaml.safe_dump({"faq_examples": ["刻章要跑几次"]}), "exactly 'intent' and 'text'"),
        (yaml.safe_dump({"faq_examples": [{**GOOD, "measure": 25}]}), "exactly 'intent' and 'text'"),
        (yaml.safe_dump({"faq_examples": [{"intent": "ask_nothing", "text": "刻章要跑几次"}]}), "not in knowledge"),
        (yaml.safe_dump({"faq_examples": [{"intent": 25, "text": "刻章要跑几次"}]}), "not in knowledge"),
        (yaml.safe_dump({"faq_examples": [{"intent": ["ask_seal_engraving"], "text": "x"}]}), "not in knowledge"),
        (
            yaml.safe_dump({"faq_examples": [{"intent": "ask_seal_engraving", "text": "<script>alert(1)</script>"}]}),
            "not a training example",
        ),
        (
            yaml.safe_dump({"faq_examples": [{"intent": "ask_seal_engraving", "text": "我家刻章的事"}]}),
            "not a training example",
        ),
        (
            yaml.safe_dump({"faq_examples": [{"intent": "ask_seal_engraving", "text": ["刻章要跑几次"]}]}),
            "not a training example",
        ),
        (
            yaml.safe_dump({"faq_examples": [{"intent": "ask_id_card_issue_time", "text": "刻章要跑几次"}]}),
            "not a training example",
        ),
        (
            yaml.safe_dump({"faq_examples": [GOOD, {"intent": "ask_seal_engraving", "text": "网上能刻章吗"}]}),
            "listed twice",
        ),
        ("faq_examples: [\n", "not valid UTF-8 YAML"),
    ],
    ids=[
        "missing",
        "not-a-mapping",
        "not-a-list",
        "empty",
        "too-many",
        "bare-text",
        "extra-key",
        "unknown-intent",
        "intent-number",
        "intent-list",
        "html",
        "resident-words",
        "text-list",
        "other-intents-example",
        "measure-twice",
        "broken-yaml",
    ],
)
def test_a_malformed_fixed_list_is_refused_naming_the_file(tmp_path, content, complaint):
    path = tmp_path / "faq.yml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(topics.FaqExamplesError) as info:
        topics.load_faq_examples(path)
    assert str(path) in str(info.value) and complaint in str(info.value)


def test_a_malformed_fixed_list_stops_the_web_server(tmp_path, monkeypatch):
    from bot.webapp.server import make_app
    from tests.support.webapp import make_settings

    broken = tmp_path / "faq.yml"
    broken.write_text("faq_examples: []\n", encoding="utf-8")
    monkeypatch.setattr(topics, "FAQ_PATH", broken)
    with pytest.raises(topics.FaqExamplesError):
        make_app("http://127.0.0.1:9", make_settings(tmp_path))


FIXED = [
    topics.Question("毕业生落户需要什么", 22, "/ask_settle_graduate_materials"),
    topics.Question("居住证办理条件", 24, "/ask_residence_permit_conditions"),
    topics.Question("刻章要跑几次", 25, "/ask_seal_engraving"),
]


@pytest.mark.parametrize(
    "ranked, size, measures",
    [
        ([], 6, [22, 24, 25]),
        ([30, 24], 6, [30, 24, 22, 25]),
        ([24, 22, 25, 30, 1, 2, 3], 6, [24, 22, 25, 30, 1, 2]),
        ([30, 24], 1, [30]),
        ([999, 0, -1, 30], 6, [30, 22, 24, 25]),  # measures no intent answers have no example: left out
    ],
)
def test_faq_ranked_first_then_the_fixed_list(ranked, size, measures):
    questions = topics.faq(ranked, FIXED, size)
    assert [q.measure for q in questions] == measures
    examples = training_examples()
    for q in questions:
        assert q.text in examples[q.payload[1:]]
    if 24 in measures:
        assert questions[measures.index(24)].text == "居住证办理条件"
