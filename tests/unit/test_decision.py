"""The learned decision (actions/decision/decide.py) on the real knowledge base with a fixed model.

The pair model of these tests trusts NLU's confidence alone, so each test sets what the model
sees and checks what the decision makes of it, in both directions.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from actions import actions as actions_module
from actions.decision import Kind, Learned, jieba_idf
from actions.loaded import KnowledgeCache
from knowledge.coverage import Coverage, load_coverage
from knowledge.repository import KnowledgeBase
from tests.unit.test_decision_model import tiny_bundle


@pytest.fixture(scope="module")
def rules_only(sqlite_kb_url):
    return KnowledgeCache(KnowledgeBase(sqlite_kb_url), decision_model=None).get()


def with_model(memory, coverage=None, **changes):
    bundle = tiny_bundle()
    if changes:
        bundle = replace(bundle, pair=replace(bundle.pair, **changes))
    learned = Learned(bundle, coverage or load_coverage(), jieba_idf(), memory.aspect_labels)
    return replace(memory, learned=learned)


def ranking(intent, confidence):
    return [{"name": intent, "confidence": confidence}, {"name": "out_of_scope", "confidence": 1 - confidence}]


def test_a_confident_candidate_is_cited_and_a_doubtful_one_is_not(rules_only):
    memory = with_model(rules_only)
    sure = memory.decide("身份证要几天", "ask_id_card_issue_time", 0.95, ranking("ask_id_card_issue_time", 0.95), None)
    assert sure.kind is Kind.ANSWER and sure.spec.intent == "ask_id_card_issue_time"
    assert sure.scores is not None and sure.scores.probability >= sure.scores.threshold
    doubtful = memory.decide(
        "身份证要几天", "ask_id_card_issue_time", 0.1, ranking("ask_id_card_issue_time", 0.1), None
    )
    assert doubtful.kind is Kind.NOT_COVERED and doubtful.spec.intent == "ask_id_card_issue_time"  # related only
    assert doubtful.scores.probability < doubtful.scores.threshold
    payload = doubtful.to_json()["model"]
    assert payload["candidates"][0]["intent"] == "ask_id_card_issue_time" and 0 <= payload["probability"] <= 1


def test_the_threshold_is_the_models(rules_only):
    low = with_model(rules_only, threshold=0.01)
    decided = low.decide("身份证要几天", "ask_id_card_issue_time", 0.1, ranking("ask_id_card_issue_time", 0.1), None)
    assert decided.kind is Kind.ANSWER


def test_a_refusal_names_an_aspect_only_when_the_measure_does_not_state_it(rules_only):
    question = "办身份证要多少钱"
    args = ("ask_id_card_issue_time", 0.05, ranking("ask_id_card_issue_time", 0.05), None)
    unstated = with_model(rules_only, coverage=Coverage({26: {"time": "工作日"}})).decide(question, *args)
    assert unstated.kind is Kind.NOT_COVERED and unstated.named_aspect == "fee"
    stated = with_model(rules_only, coverage=Coverage({26: {"fee": "工作日"}})).decide(question, *args)
    assert stated.kind is Kind.NOT_COVERED and stated.named_aspect is None


def test_an_unsure_aspect_is_never_named(rules_only):
    decided = with_model(rules_only, coverage=Coverage({})).decide(
        "身份证的事情想问一下", "ask_id_card_issue_time", 0.05, ranking("ask_id_card_issue_time", 0.05), None
    )
    assert decided.kind is Kind.NOT_COVERED and decided.named_aspect is None


@pytest.mark.parametrize("text", ["2+3等于几", "3乘4", "12345", "？？？", "证", "a", "123+456=?", "一加一等于几"])
def test_attractors_never_cite(rules_only, text):
    memory = with_model(rules_only, threshold=0.01)
    decided = memory.decide(text, "ask_service_weekend", 0.99, ranking("ask_service_weekend", 0.99), None)
    assert decided.kind is Kind.OUT_OF_SCOPE, decided.to_json()


@pytest.mark.parametrize("text", ["身份证要几天", "12389投诉要多久答复", "我2019年毕业的能落户吗", "驾照C1"])
def test_questions_with_digits_or_letters_are_no_attractors(rules_only, text):
    assert not rules_only.analyser.is_attractor(text)


def test_every_kind_has_a_reply():
    assert set(actions_module.REPLIES) == set(Kind)


def test_a_broad_question_keeps_its_overview_and_a_specific_one_does_not(rules_only):
    from bot.quality.decision import fit

    question = ("出入境证件怎么办", "out_of_scope", 0.6, ranking("out_of_scope", 0.6), None)
    assert rules_only.decide(*question).kind is Kind.OVERVIEW  # what the rules propose
    # the tiny aspect model reads "materials" (0.74, over aspect_confident): a specific aspect, so
    # the honest reply on the topic, never its list
    specific = with_model(rules_only).decide(*question)
    assert specific.scores.aspect == "materials" and specific.kind is Kind.NOT_COVERED
    assert specific.topic is not None and specific.topic.name == "exit_entry"
    # an aspect model that knows broad questions keeps the overview
    broad_aspects = fit.fit_aspects(
        [
            ("怎么办", "general"),
            ("怎么办理", "general"),
            ("有什么规定", "general"),
            ("要多少钱", "fee"),
            ("收费吗", "fee"),
        ],
        1.0,
    )
    memory = with_model(rules_only)
    memory = replace(
        memory, learned=replace(memory.learned, bundle=replace(memory.learned.bundle, aspects=broad_aspects))
    )
    broad = memory.decide(*question)
    assert broad.kind is Kind.OVERVIEW and broad.scores.aspect == "general"


@pytest.mark.parametrize("text", ["驾照扣十二分得多少钱", "罚款200元加扣3分吗", "身份证15个工作日能拿到吗"])
def test_numbers_in_a_question_are_no_sum(rules_only, text):
    assert not rules_only.analyser.is_attractor(text)
