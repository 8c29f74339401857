"""The custom actions against a real temporary knowledge base."""

from __future__ import annotations

import asyncio

import pytest

from actions import actions as actions_module
from actions.actions import (
    ActionAnswerFollowup,
    ActionAnswerMeasure,
    ActionClarifyQuestion,
    ActionRecordFeedback,
    ActionShowMeasureText,
)
from actions.answering import MAX_ANSWER_CHARS, clarify_choices, compose, select_sentences
from bot.storage import appdb
from knowledge.intent_map import IntentMapError, load_intent_map, parse_intent_map
from knowledge.repository import KnowledgeBase


@pytest.fixture
def use_kb(monkeypatch, sqlite_kb_url, tmp_path):
    """A temporary knowledge base, given to each action as rasa-sdk's knowledge-base action is given one."""
    kb = KnowledgeBase(sqlite_kb_url)
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    return kb


def run(action, dispatcher, tracker, domain):
    return asyncio.run(action.run(dispatcher, tracker, domain))


def names(dispatcher) -> list[str]:
    """Which reply (bot/replies/replies.yml) or domain response each message was."""
    return [(m.get("custom") or {}).get("reply") or m.get("response") for m in dispatcher.messages]


def slots_of(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize(
    "intent, measure, must_contain",
    [
        ("ask_settle_graduate_materials", 22, ["毕业证", "身份证"]),
        ("ask_settle_family_members", 22, ["配偶"]),
        ("ask_residence_permit_conditions", 24, ["不受居住登记满半年限制"]),
        ("ask_residence_permit_benefits", 24, ["上牌入户"]),
        ("ask_id_card_issue_time", 26, ["15个工作日", "10个工作日"]),
        ("ask_fire_design_review_time", 21, ["3个工作日"]),
        ("ask_complaint_channels", 49, ["12389"]),
    ],
)
def test_answer_cites_the_measure(use_kb, dispatcher, make_tracker, domain, intent, measure, must_contain):
    events = run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker("请问", intent), domain)
    [message] = dispatcher.messages
    assert names(dispatcher) == ["measure_answer"]
    assert message["custom"]["measures"][0] == measure and message["custom"]["intent"] == intent
    m = use_kb.measure(measure)
    answer, source, reminder = message["text"].split("\n")
    assert (
        source
        == f"依据：《广西公安机关深化“放管服”改革优化营商环境实施意见》（2018年8月10日）第{m.label}项「{m.title}」"
    )
    assert reminder.startswith("提示：以上为2018年文件的规定")
    for text in must_contain:
        assert text in answer
    assert len(answer) <= MAX_ANSWER_CHARS + 150
    assert [b["title"] for b in message["buttons"]] == ["查看原文", "👍 有帮助", "👎 没帮助"]
    assert message["buttons"][0]["payload"] == f'/show_measure{{"measure_number":"{measure}"}}'
    spec = load_intent_map()[intent]
    assert slots_of(events) == {
        "cited_measures": [str(n) for n in spec.measures],
        "topic": spec.topic,
        "last_intent": intent,
    }
    # the source line as data, for clients that show it without reading the wording
    assert message["custom"]["citation"] == {
        "document": "广西公安机关深化“放管服”改革优化营商环境实施意见",
        "date": "2018年8月10日",
        "year": 2018,
        "label": m.label,
        "title": m.title,
        "number": measure,
    }
    assert message["custom"]["answer"] == answer


@pytest.mark.parametrize(
    "slots, present, absent",
    [
        ({"pickup_method": "快递"}, "8个工作日", "15个工作日"),
        ({"pickup_method": "自取"}, "15个工作日", "快递"),
        ({"area": "农村"}, "10个工作日", "15个工作日"),
    ],
)
def test_answer_fits_the_residents_case(use_kb, dispatcher, make_tracker, domain, slots, present, absent):
    run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker("身份证要几天", "ask_id_card_issue_time", slots), domain)
    answer = dispatcher.messages[-1]["text"].split("\n")[0]
    assert present in answer and absent not in answer


def test_pilot_city_is_told(use_kb, dispatcher, make_tracker, domain):
    run(
        ActionAnswerMeasure(use_kb),
        dispatcher,
        make_tracker("柳州周末能办户口吗", "ask_service_weekend", {"city": "柳州"}),
        domain,
    )
    assert names(dispatcher) == ["pilot_only", "measure_answer"]
    assert "南宁市试点" in dispatcher.messages[0]["text"] and "柳州" in dispatcher.messages[0]["text"]


def test_no_pilot_note_for_nanning(use_kb, dispatcher, make_tracker, domain):
    run(
        ActionAnswerMeasure(use_kb),
        dispatcher,
        make_tracker("南宁周末能办户口吗", "ask_service_weekend", {"city": "南宁"}),
        domain,
    )
    assert names(dispatcher) == ["measure_answer"]


def test_unmapped_intent_is_out_of_scope(use_kb, dispatcher, make_tracker, domain):
    run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker("明天天气", "weather"), domain)
    assert names(dispatcher) == ["out_of_scope"]


def test_missing_knowledge_base_gets_a_domain_reply(monkeypatch, tmp_path, dispatcher, make_tracker, domain):
    missing = KnowledgeBase(f"sqlite:///{tmp_path / 'missing.db'}")
    run(ActionAnswerMeasure(missing), dispatcher, make_tracker("请问", "ask_id_card_issue_time"), domain)
    assert names(dispatcher) == ["kb_unavailable"] and "知识库暂时无法访问" in dispatcher.messages[0]["text"]


@pytest.mark.parametrize(
    "action, intent", [(ActionClarifyQuestion, "nlu_fallback"), (ActionShowMeasureText, "show_measure")]
)
def test_every_knowledge_action_apologises_when_the_knowledge_base_is_missing(
    tmp_path, dispatcher, make_tracker, domain, action, intent
):
    missing = KnowledgeBase(f"sqlite:///{tmp_path / 'missing.db'}")
    run(action(missing), dispatcher, make_tracker("落户要什么", intent, {"measure_number": "22"}), domain)
    assert names(dispatcher) == ["kb_unavailable"]


def test_actions_default_to_the_configured_knowledge_base(monkeypatch):
    configured = KnowledgeBase("sqlite:///configured.db")
    from actions import base

    monkeypatch.setattr(base, "_kb", configured)
    assert ActionAnswerMeasure().kb is configured and ActionShowMeasureText().kb is configured


def test_feedback_is_stored_when_the_knowledge_base_is_missing(use_kb, tmp_path, dispatcher, make_tracker, domain):
    tracker = make_tracker("👍", "feedback_positive", {"cited_measures": ["24"]})
    missing = KnowledgeBase(f"sqlite:///{tmp_path / 'missing.db'}")
    assert run(ActionRecordFeedback(missing), dispatcher, tracker, domain) == []
    [row] = appdb.list_feedback()
    assert row.value == "up" and row.measures == ()


RESIDENCE = {"topic": "residence_permit", "last_intent": "ask_residence_permit_conditions"}
ID_CARD = {"topic": "id_card", "last_intent": "ask_id_card_issue_time"}


@pytest.mark.parametrize(
    "text, intent, slots, response, expect",
    [
        ("那办好了能干什么", "followup_benefits", RESIDENCE, "measure_answer", "上牌入户"),
        ("那要多久", "followup_time", RESIDENCE, "not_covered", "这份文件没有直接回答您的问题"),
        ("那要多久", "followup_time", ID_CARD, "measure_answer", "工作日"),
        ("那农村呢", "followup_other_case", {**ID_CARD, "area": "农村"}, "measure_answer", "10个工作日"),
        ("要交钱吗", "ask_service_online_payment", RESIDENCE, "not_covered", "这份文件没有直接回答您的问题"),
        ("那要多久", "followup_time", {}, "ask_topic", None),
        ("那要多久", "followup_time", {"topic": "x", "last_intent": "ask_nothing"}, "ask_topic", None),
    ],
)
def test_followups_keep_the_topic(use_kb, dispatcher, make_tracker, domain, text, intent, slots, response, expect):
    run(ActionAnswerFollowup(use_kb), dispatcher, make_tracker(text, intent, slots), domain)
    assert names(dispatcher)[-1] == response
    if expect:
        assert expect in dispatcher.messages[-1]["text"]
    custom = dispatcher.messages[-1]["custom"]
    assert bool(custom.get("measures")) == (response == "measure_answer")


def test_not_covered_reply_cites_nothing_and_points_to_the_related_measure(use_kb, dispatcher, make_tracker, domain):
    events = run(
        ActionAnswerMeasure(use_kb),
        dispatcher,
        make_tracker("居住证有效期几年", "ask_residence_permit_conditions"),
        domain,
    )
    [message] = dispatcher.messages
    custom = message["custom"]
    assert custom["reply"] == "not_covered" and custom["measures"] == [] and custom["related"] == [24]
    assert custom["answerability"]["decision"] == "not_covered"
    # the word rules read a validity question; with no aspect model (rules alone) the reply names
    # no aspect: it claims only what is known (tests/e2e test the trained model's named refusals)
    assert custom["answerability"]["missing_aspect"] == "validity"
    assert custom["answerability"]["named_aspect"] is None
    assert message["text"].startswith("这份文件没有直接回答您的问题")
    assert "依据：" not in message["text"] and "第（二十四）项" in message["text"]
    assert "citation" not in custom and custom["related_citation"]["number"] == 24
    assert custom["related_citation"]["label"] == "（二十四）"
    assert message["buttons"][0] == {"title": "查看相关原文", "payload": '/show_measure{"measure_number":"24"}'}
    assert [b["payload"] for b in message["buttons"][1:]] == ["/feedback_positive", "/feedback_negative"]
    assert slots_of(events)["last_intent"] == "ask_residence_permit_conditions"


def test_topic_overview_lists_the_measures_with_buttons(use_kb, dispatcher, make_tracker, domain):
    run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker("出入境证件怎么办", "out_of_scope"), domain)
    [message] = dispatcher.messages
    custom = message["custom"]
    assert custom["reply"] == "topic_overview" and custom["measures"][0] == 28 and custom["topic"] == "exit_entry"
    assert len(message["buttons"]) == len(custom["measures"])
    assert message["buttons"][0]["payload"] == "/ask_exit_entry_out_of_province_staff"
    assert "放宽出入境业务办理" in message["text"]


def test_clarify_offers_choices_titled_from_the_knowledge_base(use_kb, dispatcher, make_tracker, domain):
    tracker = make_tracker("落户", "nlu_fallback")
    tracker.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 1.0},
        {"name": "ask_settle_graduate_materials", "confidence": 0.41},
        {"name": "ask_settle_collective_household", "confidence": 0.38},
        {"name": "ask_settle_skilled_worker", "confidence": 0.11},
    ]
    run(ActionClarifyQuestion(use_kb), dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert names(dispatcher) == ["did_you_mean"] and message["text"] == "您是想问："
    assert message["buttons"] == [
        {"title": "全面放开人才落户限制", "payload": "/ask_settle_graduate_materials"},
        {"title": "放宽集体户设置限制", "payload": "/ask_settle_collective_household"},
    ]


@pytest.mark.parametrize(
    "ranking, response",
    [
        ([{"name": "nlu_fallback", "confidence": 1.0}, {"name": "out_of_scope", "confidence": 0.3}], "out_of_scope"),
        ([{"name": "nlu_fallback", "confidence": 1.0}, {"name": "greet", "confidence": 0.3}], "default"),
        ([], "default"),
    ],
)
def test_clarify_without_candidates(use_kb, dispatcher, make_tracker, domain, ranking, response):
    tracker = make_tracker("明天要下雨吗", "nlu_fallback")
    tracker.latest_message["intent_ranking"] = ranking
    run(ActionClarifyQuestion(use_kb), dispatcher, tracker, domain)
    assert names(dispatcher) == [response]


def test_same_measure_choices_use_labels():
    specs = load_intent_map()
    ranking = [
        {"name": "ask_settle_graduate_materials", "confidence": 0.4},
        {"name": "ask_settle_skilled_worker", "confidence": 0.35},
    ]
    titles = [c.title for c in clarify_choices(ranking, specs, {22: "全面放开人才落户限制"})]
    assert titles == ["毕业生落户", "技能人才落户"]


@pytest.mark.parametrize(
    "slots, response",
    [
        ({"measure_number": "26"}, "measure_text"),
        ({"measure_number": None, "cited_measures": ["22"]}, "measure_text"),
        ({"measure_number": "99"}, "ask_which_measure"),
        ({"measure_number": "二十二'; DROP TABLE kb_measure; --"}, "ask_which_measure"),
        ({}, "ask_which_measure"),
    ],
)
def test_show_measure_text(use_kb, dispatcher, make_tracker, domain, slots, response):
    run(ActionShowMeasureText(use_kb), dispatcher, make_tracker("查看原文", "show_measure", slots), domain)
    [message] = dispatcher.messages
    assert names(dispatcher) == [response]
    if response == "measure_text":
        number = int(slots.get("measure_number") or slots["cited_measures"][0])
        assert use_kb.measure(number).text in message["text"]
        assert message["custom"]["measures"] == [number]
    else:
        assert f"第1至第{use_kb.measure_count()}项" in message["text"]
    assert use_kb.measure_count() == 50


# Measure numbers a typed payload (/show_measure{"measure_number": …}) or NLU can put in the slot:
# only a whole number 1–50 is looked up; anything else gets the "which measure" reply, never an
# exception (99999999999999999999999 raised OverflowError in SQLite's driver, with a traceback and
# Rasa's tracker dump in the logs).
@pytest.mark.parametrize(
    "value, shown",
    [
        ("1", 1),
        ("50", 50),
        (" 22 ", 22),
        ("２２", 22),
        (22, 22),
        (22.0, 22),
        ("99999999999999999999999", None),
        ("-99999999999999999999999", None),
        (10**30, None),
        ("0", None),
        ("51", None),
        ("-1", None),
        (0, None),
        (51, None),
        ("22.5", None),
        (22.5, None),
        ("1e3", None),
        ("0x16", None),
        ("二十二", None),
        ("22项", None),
        ("inf", None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        (["22"], None),
        ({"n": 22}, None),
        ("²²", 22),
        ("٢٢", None),  # read as NFKC folds it (as NLU does): superscripts yes, Arabic-Indic no
    ],
)
def test_show_measure_accepts_only_whole_numbers_1_to_50(use_kb, dispatcher, make_tracker, domain, value, shown):
    events = run(
        ActionShowMeasureText(use_kb),
        dispatcher,
        make_tracker("/show_measure", "show_measure", {"measure_number": value}),
        domain,
    )
    assert names(dispatcher) == ["measure_text" if shown else "ask_which_measure"]
    if shown:
        assert dispatcher.messages[0]["custom"]["measures"] == [shown]
    assert slots_of(events) == {"measure_number": None}


@pytest.mark.parametrize(
    "cited, shown",
    [
        (["22"], 22),
        ([22], 22),
        (["99999999999999999999999", "24"], 24),
        (["0"], None),
        ("22", None),
        (7, None),
        (None, None),
        ([], None),
    ],
)
def test_show_measure_falls_back_to_a_valid_cited_measure(use_kb, dispatcher, make_tracker, domain, cited, shown):
    run(
        ActionShowMeasureText(use_kb),
        dispatcher,
        make_tracker("查看原文", "show_measure", {"cited_measures": cited}),
        domain,
    )
    assert names(dispatcher) == ["measure_text" if shown else "ask_which_measure"]


@pytest.mark.parametrize(
    "cited, stored",
    [(["24"], (24,)), (["24", "99999999999999999999999", "0", "x", "7"], (24, 7)), (["²"], (2,)), (5, ()), ("24", ())],
)
def test_feedback_keeps_only_valid_cited_measures(use_kb, dispatcher, make_tracker, domain, cited, stored):
    tracker = make_tracker("👍", "feedback_positive", {"cited_measures": cited})
    tracker.events = [{"event": "user", "text": "刻章要多久", "parse_data": {"intent": {"name": "ask_seal_time"}}}]
    assert run(ActionRecordFeedback(use_kb), dispatcher, tracker, domain) == []
    [row] = appdb.list_feedback()
    assert row.measures == stored


def test_feedback_is_stored_redacted(use_kb, dispatcher, make_tracker, domain):
    tracker = make_tracker("👎", "feedback_negative", {"cited_measures": ["24"]})
    tracker.events = [
        {
            "event": "user",
            "text": "我电话13812345678，暂住证怎么办",
            "parse_data": {"intent": {"name": "ask_residence_permit_conditions"}},
        },
        {"event": "bot", "text": "…"},
        {"event": "user", "text": "👎", "parse_data": {"intent": {"name": "feedback_negative"}}},
    ]
    run(ActionRecordFeedback(use_kb), dispatcher, tracker, domain)
    assert dispatcher.messages == []  # the rule's utter_feedback_down thanks the resident
    [row] = appdb.list_feedback()
    assert row.value == "down" and row.measures == (24,) and row.intent == "ask_residence_permit_conditions"
    assert "13812345678" not in row.question and "[手机号]" in row.question


def test_feedback_with_a_broken_privacy_file_stores_nothing_and_does_not_fail(
    use_kb, dispatcher, make_tracker, domain, tmp_path, monkeypatch, caplog
):
    import functools

    from bot.text import privacy

    broken = tmp_path / "privacy.yml"
    broken.write_text("placeholders: {}\n", encoding="utf-8")
    monkeypatch.setattr(privacy, "load_placeholders", functools.partial(privacy.load_placeholders, broken))
    tracker = make_tracker("👎", "feedback_negative", {"cited_measures": ["24"]})
    tracker.events = [
        {
            "event": "user",
            "text": "我电话13812345678，暂住证怎么办",
            "parse_data": {"intent": {"name": "ask_residence_permit_conditions"}},
        }
    ]
    assert run(ActionRecordFeedback(use_kb), dispatcher, tracker, domain) == []
    assert appdb.list_feedback() == []
    assert "could not store feedback" in caplog.text and "test-user" not in caplog.text


def test_every_reply_the_actions_use_exists(domain):
    import re
    from pathlib import Path

    from actions import replying
    from bot.replies import load_replies

    source = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in (actions_module, replying))
    from bot.quality.validate import REPLY_USE

    responses = set(re.findall(r'response="(utter_[a-z_]+)"', source))
    assert responses <= set(domain["responses"])
    sent = set(re.findall(REPLY_USE, source))
    assert {"measure_answer", "not_covered_related", "topic_overview", "out_of_scope"} <= sent <= set(load_replies())


def test_intent_map_covers_only_domain_intents(domain):
    assert set(load_intent_map()) <= set(domain["intents"])


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "top-level 'intents:'"),
        ({"intents": {"ask_x": {"measures": [], "topic": "t", "label": "l"}}}, "non-empty list"),
        ({"intents": {"ask_x": {"measures": [51], "topic": "t", "label": "l"}}}, "1-50"),
        ({"intents": {"问落户": {"measures": [22], "topic": "t", "label": "l"}}}, "ASCII snake_case"),
        ({"intents": {"ask_x": {"measures": [22], "topic": "t", "label": "l", "aspect": "price"}}}, "aspect 'price'"),
        (
            {"intents": {"ask_x": {"measures": [22], "topic": "t", "label": "l", "answer": "hard-coded"}}},
            "unknown keys",
        ),
        ({"intents": {"ask_x": {"measures": [22], "label": "l"}}}, "'topic' is required"),
    ],
)
def test_malformed_intent_map(data, message):
    with pytest.raises(IntentMapError, match=message):
        parse_intent_map(data, "intents.yml")


def test_sentence_selection_prefers_facts(sqlite_kb_url):
    kb = KnowledgeBase(sqlite_kb_url)
    spec = parse_intent_map(
        {
            "intents": {
                "ask_x": {"measures": [26], "topic": "t", "label": "l", "focus": ["快递"], "facts": ["time_limit"]}
            }
        }
    )["ask_x"]
    chosen = select_sentences(kb.measure(26), spec)
    assert [s.position for s in chosen] == [2]
    answer = compose(kb.document(), kb.measure(26), spec)
    assert answer.answer.startswith("自愿选择通过快递方式领取的") and answer.measures == (26,)


def test_follow_up_without_context_takes_the_best_topical_reading(use_kb, dispatcher, make_tracker, domain):
    tracker = make_tracker("大学生落户呢", "followup_other_case")
    tracker.latest_message["intent_ranking"] = [
        {"name": "followup_other_case", "confidence": 0.56},
        {"name": "ask_settle_graduate_materials", "confidence": 0.24},
    ]
    events = run(ActionAnswerFollowup(use_kb), dispatcher, tracker, domain)
    assert names(dispatcher) == ["measure_answer"] and "毕业证" in dispatcher.messages[0]["text"]
    assert slots_of(events)["topic"] == "talent_settlement"


def test_secondary_measure_is_quoted_when_it_speaks_to_the_question(use_kb, dispatcher, make_tracker, domain):
    run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker("超限货物通行", "ask_traffic_vehicle_transport"), domain)
    assert names(dispatcher) == ["measure_answer", "also_see"]
    assert dispatcher.messages[0]["custom"]["measures"] == [30, 47]
    assert "第（四十七）项「实行重点企业挂牌服务」" in dispatcher.messages[1]["text"]
    assert "超限货物" in dispatcher.messages[1]["text"]


@pytest.mark.parametrize(
    "intent, text, reply",
    [
        ("ask_settle_graduate_materials", "广东落户需要什么条件", "other_region"),
        ("ask_residence_permit_conditions", "在北京怎么办居住证", "other_region"),
        ("ask_settle_urgent_talent", "昆明人才引进落户要什么学历", "other_region"),
        ("ask_seal_engraving", "我在义乌做生意，想问刻章要几天", "other_region"),
        ("ask_residence_permit_conditions", "老家湖南的能办居住证吗", "measure_answer"),
        ("ask_residence_permit_conditions", "湖南人在这边能办居住证吗", "measure_answer"),
        ("ask_settle_graduate_materials", "广东毕业的能落户广西吗", "measure_answer"),
        ("ask_settle_graduate_materials", "广东毕业想落南宁", "measure_answer"),
        ("ask_exit_entry_out_of_province_staff", "湖北户口办通行证", "measure_answer"),
        ("ask_id_card_issue_time", "阳朔办身份证要多久", "measure_answer"),
    ],
)
def test_other_regions_are_not_answered_from_a_guangxi_notice(
    use_kb, dispatcher, make_tracker, domain, intent, text, reply
):
    run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker(text, intent), domain)
    assert names(dispatcher) == [reply]
    if reply == "other_region":
        custom = dispatcher.messages[0]["custom"]
        assert "measures" not in custom and custom["answerability"]["region"] in dispatcher.messages[0]["text"]


@pytest.mark.parametrize("text", ["${jndi:ldap://x}", "<script>alert(1)</script>", "12345", "ok?"])
def test_text_without_chinese_is_not_answered_from_a_measure(use_kb, dispatcher, make_tracker, domain, text):
    run(ActionAnswerMeasure(use_kb), dispatcher, make_tracker(text, "ask_service_weekend"), domain)
    assert names(dispatcher) == ["default"]


def _parse(text, intent, confidence=0.95):
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }


def _with_parts(make_tracker, text, parses, corrected=False):
    tracker = make_tracker(text, parses[0]["intent"]["name"])
    tracker.latest_message["metadata"] = {actions_module.PARTS_KEY: {"corrected": corrected, "parts": parses}}
    return tracker


def test_two_questions_get_two_answers_each_with_its_citation(use_kb, dispatcher, make_tracker, domain):
    parses = [_parse("身份证要几天", "ask_id_card_issue_time"), _parse("刻章要多久", "ask_seal_engraving")]
    events = run(
        ActionAnswerMeasure(use_kb), dispatcher, _with_parts(make_tracker, "身份证要几天？刻章要多久？", parses), domain
    )
    answers = [m for m in dispatcher.messages if (m.get("custom") or {}).get("reply") == "measure_answer"]
    assert [m["custom"]["measures"][0] for m in answers] == [26, 25]
    assert [m["custom"]["part"]["index"] for m in answers] == [1, 2] and answers[0]["custom"]["part"]["of"] == 2
    assert answers[0]["text"].startswith("关于“身份证要几天”") and answers[1]["text"].startswith("关于“刻章要多久”")
    assert slots_of(events)["last_intent"] == "ask_seal_engraving"  # the last part is what a follow-up continues


def test_a_correction_answers_what_it_corrects_to(use_kb, dispatcher, make_tracker, domain):
    parses = [_parse("刻章要多久", "ask_seal_engraving")]
    tracker = _with_parts(make_tracker, "我不是问身份证，是问刻章要多久", parses, corrected=True)
    tracker.latest_message["intent"] = {"name": "ask_id_card_issue_time", "confidence": 0.9}
    run(ActionAnswerMeasure(use_kb), dispatcher, tracker, domain)
    [message] = [m for m in dispatcher.messages if (m.get("custom") or {}).get("reply") == "measure_answer"]
    assert message["custom"]["measures"][0] == 25 and message["custom"]["part"]["corrected"] is True
    assert not message["text"].startswith("关于")  # one question: no heading


@pytest.mark.parametrize(
    "metadata",
    [{"parts": "x"}, {"parts": {"parts": [1, 2]}}, {"parts": {"parts": []}}, {"parts": {"parts": [{"text": 3}]}}, "x"],
)
def test_malformed_parts_are_ignored(use_kb, dispatcher, make_tracker, domain, metadata):
    tracker = make_tracker("身份证要几天", "ask_id_card_issue_time")
    tracker.latest_message["metadata"] = metadata
    run(ActionAnswerMeasure(use_kb), dispatcher, tracker, domain)
    assert names(dispatcher) == ["measure_answer"]


def test_the_parts_key_is_the_channels():
    from bot.rasa_ext import parts

    assert parts.PARTS_KEY == actions_module.PARTS_KEY
