"""The custom actions against a real temporary knowledge base."""

from __future__ import annotations

import asyncio

import pytest

from actions import actions as actions_module
from actions.actions import ActionAnswerMeasure, ActionShowMeasureText
from actions.answering import MAX_ANSWER_CHARS, compose, select_sentences
from knowledge.intent_map import IntentMapError, load_intent_map, parse_intent_map
from knowledge.repository import KnowledgeBase


@pytest.fixture
def use_kb(monkeypatch, sqlite_kb_url):
    kb = KnowledgeBase(sqlite_kb_url)
    monkeypatch.setattr(actions_module, "_kb", kb)
    return kb


def run(action, dispatcher, tracker, domain):
    return asyncio.run(action.run(dispatcher, tracker, domain))


@pytest.mark.parametrize(
    "intent, measure, must_contain",
    [
        ("ask_settle_graduate_materials", 22, ["毕业证", "身份证"]),
        ("ask_residence_permit_conditions", 24, ["不受居住登记满半年限制"]),
        ("ask_id_card_issue_time", 26, ["15个工作日", "10个工作日"]),
    ],
)
def test_answer_cites_the_measure(use_kb, dispatcher, make_tracker, domain, intent, measure, must_contain):
    events = run(ActionAnswerMeasure(), dispatcher, make_tracker("q", intent), domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_measure_answer"
    assert message["custom"] == {"measures": [measure]}
    assert message["measure_label"] == use_kb.measure(measure).label
    assert message["doc_date"] == "2018年8月10日" and message["doc_year"] == "2018"
    for text in must_contain:
        assert text in message["answer"]
    assert len(message["answer"]) <= MAX_ANSWER_CHARS + 120
    assert message["buttons"][0]["payload"] == f'/show_measure{{"measure_number":"{measure}"}}'
    assert events == [{"event": "slot", "timestamp": None, "name": "cited_measures", "value": [str(measure)]}]


def test_unmapped_intent_is_out_of_scope(use_kb, dispatcher, make_tracker, domain):
    run(ActionAnswerMeasure(), dispatcher, make_tracker("明天天气", "weather"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_out_of_scope"]


def test_missing_knowledge_base_gets_a_domain_reply(monkeypatch, tmp_path, dispatcher, make_tracker, domain):
    monkeypatch.setattr(actions_module, "_kb", KnowledgeBase(f"sqlite:///{tmp_path / 'missing.db'}"))
    run(ActionAnswerMeasure(), dispatcher, make_tracker("q", "ask_id_card_issue_time"), domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_kb_unavailable"]


@pytest.mark.parametrize(
    "slots, response",
    [
        ({"measure_number": "26"}, "utter_measure_text"),
        ({"measure_number": None, "cited_measures": ["22"]}, "utter_measure_text"),
        ({"measure_number": "99"}, "utter_ask_which_measure"),
        ({"measure_number": "二十二'; DROP TABLE kb_measure; --"}, "utter_ask_which_measure"),
        ({}, "utter_ask_which_measure"),
    ],
)
def test_show_measure_text(use_kb, dispatcher, make_tracker, domain, slots, response):
    run(ActionShowMeasureText(), dispatcher, make_tracker("查看原文", "show_measure", slots), domain)
    [message] = dispatcher.messages
    assert message["response"] == response
    if response == "utter_measure_text":
        number = int(slots.get("measure_number") or slots["cited_measures"][0])
        assert message["measure_text"] == use_kb.measure(number).text
    assert use_kb.measure_count() == 50


def test_every_response_the_actions_use_is_in_the_domain(domain):
    import re
    from pathlib import Path

    source = Path(actions_module.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'response="(utter_[a-z_]+)"', source))
    assert used and used <= set(domain["responses"])


def test_intent_map_covers_only_domain_intents(domain):
    assert set(load_intent_map()) <= set(domain["intents"])


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "top-level 'intents:'"),
        ({"intents": {"ask_x": {"measures": []}}}, "non-empty list"),
        ({"intents": {"ask_x": {"measures": [51]}}}, "1-50"),
        ({"intents": {"问落户": {"measures": [22]}}}, "ASCII snake_case"),
        ({"intents": {"ask_x": {"measures": [22], "aspect": "price"}}}, "aspect 'price'"),
        ({"intents": {"ask_x": {"measures": [22], "answer": "hard-coded"}}}, "unknown keys"),
    ],
)
def test_malformed_intent_map(data, message):
    with pytest.raises(IntentMapError, match=message):
        parse_intent_map(data, "intents.yml")


def test_sentence_selection_prefers_facts(sqlite_kb_url):
    kb = KnowledgeBase(sqlite_kb_url)
    spec = parse_intent_map({"intents": {"ask_x": {"measures": [26], "focus": ["快递"], "facts": ["time_limit"]}}})["ask_x"]
    chosen = select_sentences(kb.measure(26), spec)
    assert [s.position for s in chosen] == [2]
    answer = compose(kb.document(), kb.measure(26), spec)
    assert answer.answer.startswith("自愿选择通过快递方式领取的") and answer.measures == (26,)
