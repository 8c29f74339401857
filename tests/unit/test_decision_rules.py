"""The word rules of the decision (actions/decision/rules.py: what the learned model judges), both ways.

It runs on the real knowledge base, vocabulary, topics and gazetteer, with NLU's choice given;
both directions, so a check that refused too much fails as surely as one that let a wrong
citation through.
"""

from __future__ import annotations

import pytest

from actions import decision as A
from actions.decision import rules, words
from actions.loaded import KnowledgeCache
from knowledge.intent_map import load_intent_map
from knowledge.repository import KnowledgeBase
from knowledge.vocabulary import VocabularyError, load_topics, parse_topics, parse_vocabulary


@pytest.fixture(scope="module")
def memory(sqlite_kb_url):
    return KnowledgeCache(KnowledgeBase(sqlite_kb_url), decision_model=None).get()


def decide(memory, text, intent, confidence=0.8, ranking=None, previous=None):
    specs = load_intent_map()
    ranking = ranking if ranking is not None else [{"name": intent, "confidence": confidence}]
    ctx = A.Context(specs=specs, topics=load_topics(), measures=memory.measures_of, previous=specs.get(previous or ""))
    return rules.decide(memory.analyser, memory.analyser.analyse(text), intent, confidence, ranking, ctx)


# Questions near a measure that it does not answer: nothing may be cited as the answer.
NOT_COVERED = [
    ("居住证丢了怎么补办", "ask_residence_permit_conditions", "replacement"),
    ("居住证有效期几年", "ask_residence_permit_conditions", "validity"),
    ("身份证办理要交多少钱", "ask_id_card_issue_time", "fee"),
    ("网上交罚款有手续费吗", "ask_service_online_payment", "fee"),
    ("驾驶证到期换证要带什么", "ask_sms_reminder", "replacement"),
    ("办身份证要带什么材料", "ask_id_card_issue_time", "materials"),
    ("居住证能在网上办吗", "ask_residence_permit_conditions", "channel"),
    ("占用应急车道被拍了扣几分", "ask_traffic_lenient_enforcement", "penalty_amount"),
    ("每次去香港最多能待几天", "ask_exit_entry_business_endorsement", "stay"),
    ("投诉能匿名吗", "ask_complaint_channels", "anonymity"),
    ("身份证能加急吗", "ask_id_card_issue_time", "expedite"),
    ("没放年检标志当场也拿不出来要罚好多", "ask_traffic_lenient_enforcement", "penalty_amount"),
    ("身份证过期两个月了还能坐火车不", "ask_id_card_issue_time", "validity"),
    ("科目二考些啥", "ask_traffic_driving_test", "exam_content"),
    ("能不能让民警上门给老人办身份证", "ask_id_card_issue_time", "in_person"),
]


@pytest.mark.parametrize("text, intent, aspect", NOT_COVERED)
def test_an_aspect_the_measure_does_not_state_is_not_answered(memory, text, intent, aspect):
    decision = decide(memory, text, intent)
    assert decision.kind == "not_covered", decision.to_json()
    assert decision.support.missing_aspect == aspect
    assert decision.spec.intent == intent  # kept as the related pointer


@pytest.mark.parametrize(
    "text, intent, word, where",
    [
        ("外国人来广西旅游要办签证吗", "ask_foreign_talent_visa", "旅游", "公安"),
        ("结婚证丢了能补吗", "ask_household_transfer_approval", "结婚证", "民政"),
        ("落户以后社保关系要怎么转过来", "ask_settle_graduate_materials", "社保关系", "人力资源"),
        ("小孩刚出生怎么上户口", "ask_settle_family_members", "刚出生", "公安"),
    ],
)
def test_another_agencys_business_is_not_answered(memory, text, intent, word, where):
    decision = decide(memory, text, intent)
    assert decision.kind == "not_covered" and decision.support.unknown_object.word == word
    assert where in A.where_to_ask(memory.analyser.vocabulary, decision)


# Questions the measure does answer must stay answered, from the intent NLU chose.
ANSWERED = [
    ("毕业生落户需要什么", "ask_settle_graduate_materials"),
    ("居住证办理条件", "ask_residence_permit_conditions"),
    ("身份证快递要几天", "ask_id_card_issue_time"),
    ("刻章要跑几次", "ask_seal_engraving"),
    ("刻章要多久", "ask_seal_engraving"),
    ("刚从技校毕业想在南宁上户口要带啥", "ask_settle_graduate_materials"),
    ("考了中级电工能在柳州落户不", "ask_settle_skilled_worker"),
    ("住多久才能办居住证", "ask_residence_permit_conditions"),
    ("没放年检标志被交警查到会罚款吗", "ask_traffic_lenient_enforcement"),
    ("投诉多久给答复", "ask_complaint_channels"),
    ("商务签注能签几次", "ask_exit_entry_business_endorsement"),
    ("外籍专家居留能给多长时间", "ask_foreign_talent_visa"),
    ("学生证能办居住证吗", "ask_residence_permit_conditions"),
    ("支付宝能交办证费吗", "ask_service_online_payment"),
    ("老家湖南，能办居住证吗", "ask_residence_permit_conditions"),
    ("从四川来南宁，想办居住证", "ask_residence_permit_conditions"),
    ("湖北户口的员工能在南宁办港澳通行证吗", "ask_exit_entry_out_of_province_staff"),
    ("阳朔办身份证要多久", "ask_id_card_issue_time"),
    ("东兴的企业想刻章", "ask_seal_engraving"),
    ("企业出海安全培训", "ask_enterprise_overseas_security"),
    ("银行营业场所要新建一个金库，市里能批吗", "ask_permit_delegation"),
]


@pytest.mark.parametrize("text, intent", ANSWERED)
def test_a_question_the_measure_answers_stays_answered(memory, text, intent):
    decision = decide(memory, text, intent)
    assert decision.kind == "answer", decision.to_json()
    assert decision.spec.intent == intent


@pytest.mark.parametrize(
    "text, region",
    [
        ("昆明人才引进落户要什么学历", "昆明"),
        ("我在义乌做生意，想问刻章要几天", "义乌"),
        ("深圳宝安区的居住证怎么办", "深圳"),
        ("我户口在广西，现在在云南河口县做边贸，想在河口办出入境证件", "云南"),
        ("在北京怎么办居住证", "北京"),
    ],
)
def test_a_place_outside_guangxi_is_told_the_notice_is_guangxis(memory, text, region):
    decision = decide(memory, text, "ask_settle_urgent_talent")
    assert decision.kind == "other_region" and decision.question.region == region


@pytest.mark.parametrize(
    "text, topic, first",
    [
        ("出入境证件怎么办", "exit_entry", 28),
        ("港澳通行证怎么办", "exit_entry", 28),
    ],
)
def test_a_topic_without_a_single_measure_gets_the_overview(memory, text, topic, first):
    decision = decide(memory, text, "out_of_scope", 0.7)
    assert decision.kind == "overview" and decision.topic.name == topic
    assert decision.overview_measures[0] == first and len(decision.overview_measures) > 1


def test_an_unsure_general_question_on_a_broad_topic_gets_the_overview_with_nlus_choice_first(memory):
    decision = decide(memory, "消防审批", "ask_fire_approval_relaxed_acceptance", 0.3)
    assert decision.kind == "overview" and decision.overview_measures[0] == 32
    assert decide(memory, "消防审批", "ask_fire_approval_relaxed_acceptance", 0.9).kind == "answer"


def test_a_specific_question_on_a_topic_gets_the_honest_reply_not_the_overview(memory):
    decision = decide(memory, "港澳通行证多少钱", "out_of_scope", 0.7)
    assert decision.kind == "not_covered" and decision.support.missing_aspect == "fee"


@pytest.mark.parametrize(
    "text, previous, intent, kind, answering",
    [
        ("要交钱吗", "ask_residence_permit_conditions", "ask_service_online_payment", "not_covered", None),
        (
            "是不是得住满一段时间",
            "ask_residence_permit_conditions",
            "ask_service_immediate",
            "answer",
            "ask_residence_permit_conditions",
        ),
        ("在哪办", "ask_id_card_issue_time", "followup_place", "answer", "ask_id_card_issue_time"),
        (
            "那办好了能干什么",
            "ask_residence_permit_conditions",
            "followup_benefits",
            "answer",
            "ask_residence_permit_benefits",
        ),
        ("多久会给我答复", "ask_complaint_channels", "followup_time", "answer", "ask_complaint_channels"),
        (
            "那还用去报消防审批吗",
            "ask_fire_homestay_exemption",
            "ask_fire_approval_relaxed_acceptance",
            "answer",
            "ask_fire_homestay_exemption",
        ),
        (
            "那落户能自己选哪个市吗",
            "ask_settle_urgent_talent",
            "ask_settle_family_members",
            "answer",
            "ask_settle_urgent_talent",
        ),
        ("他老婆孩子能一块办吗", "ask_foreign_talent_visa", "ask_settle_family_members", "not_covered", None),
        ("那要多久", "ask_residence_permit_conditions", "followup_time", "not_covered", None),
        ("那身份证呢", "ask_residence_permit_conditions", "followup_other_case", "answer", "ask_id_card_issue_time"),
        ("那办出入境证件呢", "ask_service_weekend", "followup_other_case", "answer", "ask_service_weekend"),
        # nothing NLU ranked says it, but one sentence of the notice does: 补换领驾驶证 in （十二）
        ("那驾照补换领呢", "ask_traffic_vehicle_inspection", "followup_other_case", "answer", "ask_service_online"),
        ("那周日几点开门", "ask_service_weekend", "followup_time", "not_covered", None),
    ],
)
def test_follow_ups_keep_the_topic_unless_they_name_another(memory, text, previous, intent, kind, answering):
    decision = decide(memory, text, intent, 0.5, previous=previous)
    assert decision.kind == kind, decision.to_json()
    if answering:
        assert decision.spec.intent == answering


@pytest.mark.parametrize(
    "text, previous, intent",
    [
        ("明天天气怎么样", "ask_id_card_issue_time", "out_of_scope"),
        ("讲个笑话吧", "ask_exit_entry_business_endorsement", "out_of_scope"),
        ("附近有啥好吃的", "ask_seal_engraving", "out_of_scope"),
    ],
)
def test_a_short_message_about_something_else_is_not_answered(memory, text, previous, intent):
    assert previous in load_intent_map()
    decision = decide(memory, text, intent, 0.6, previous=previous)
    assert decision.kind not in ("answer", "overview"), decision.to_json()


@pytest.mark.parametrize(
    "text, nlu, wanted",
    [
        (
            "我去年刚办了居住证，现在想给公司刻章，刻章要几天能拿到",
            "ask_residence_permit_conditions",
            "ask_seal_engraving",
        ),
        (
            "我在钦州开物流公司，上周货车在路边停了两分钟就被罚了款，我觉得不合理，想投诉一下，多少天能给我答复",
            "ask_traffic_lenient_enforcement",
            "ask_complaint_channels",
        ),
    ],
)
def test_in_a_story_the_asked_part_decides(memory, text, nlu, wanted):
    ranking = [{"name": nlu, "confidence": 0.6}, {"name": wanted, "confidence": 0.2}]
    decision = decide(memory, text, nlu, 0.6, ranking)
    assert decision.question.is_story
    assert decision.kind == "answer" and decision.spec.intent == wanted, decision.to_json()


def test_a_story_keeps_the_intent_when_its_measure_names_what_is_asked(memory):
    text = (
        "我是玉林师院今年刚毕业的，还没签工作，家里在农村，想把户口落到玉林市区，"
        "是不是只要毕业证身份证就可以，不用社保吧"
    )
    decision = decide(memory, text, "ask_settle_graduate_materials", 0.7)
    assert decision.kind == "answer" and decision.spec.intent == "ask_settle_graduate_materials"


@pytest.mark.parametrize(
    "text", ["{{7*7}}怎么办居住证", "落户' OR '1'='1'", "<script>落户</script>", "select * from kb_measure where 落户"]
)
def test_code_around_chinese_words_gets_a_clarification_not_a_measure(memory, text):
    decision = decide(memory, text, "ask_service_weekend", 0.6)
    assert decision.kind == "clarify"


@pytest.mark.parametrize("text", ["", "？？？", "。。。！", "x" * 2000, "落户" * 600])
def test_degenerate_input_never_crashes(memory, text):
    decision = decide(memory, text, "ask_settle_graduate_materials", 0.5)
    assert decision.kind in A.KINDS
    assert decision.to_json()["decision"] == decision.kind


def test_spans_are_deterministic_longest_first():
    assert words.find_spans("身份证快过期了", ["过期了", "快过期", "过期"]) == [(3, 6, "快过期")]


@pytest.mark.parametrize(
    "text, is_story, asked",
    [
        ("居住证怎么办", False, "居住证怎么办"),
        (
            "我在北海做生意好几年了，一直租房，也没有挂靠单位，听说可以落在社区集体户，是真的吗",
            True,
            "听说可以落在社区集体户，是真的吗",
        ),
        ("我是南宁人，前两年办了身份证，现在单位让我去香港出差，要啥", True, "现在单位让我去香港出差，要啥"),
    ],
)
def test_asked_part(memory, text, is_story, asked):
    assert A.asked_part(text, memory.analyser.vocabulary.question_markers) == (asked, is_story)


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "expected an 'aspects:' mapping"),
        ({"aspects": {"fee": {"label": "收费", "asks": []}}}, "asks"),
        ({"aspects": {"fee": {"label": "收费", "asks": ["钱"], "colour": 1}}}, "unknown keys"),
        ({"aspects": {"fee": {"label": "收费", "asks": ["钱"]}}, "agencies": {"民政": {"objects": ["结婚"]}}}, "where"),
        ({"aspects": {"fee": {"label": "收费", "asks": ["钱"]}}}, "phrasing"),
        (
            {"aspects": {"fee": {"label": "收费", "asks": ["钱"], "ask_patterns": ["(多少"]}}},
            "not a regular expression",
        ),
        ({"aspects": {"fee": {"label": "收费", "asks": ["钱"]}}, "reasons": {"x": ""}}, "reasons"),
    ],
)
def test_malformed_answerability_file_is_named(data, message):
    with pytest.raises(VocabularyError, match=message):
        parse_vocabulary(data, "answerability.yml")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"topics": {}}, "expected a 'topics:' mapping"),
        ({"topics": {"x": {"label": "X", "words": ["x"], "measures": [51], "intents": ["a"]}}}, "1-50"),
        (
            {"topics": {"x": {"label": "X", "words": ["x"], "measures": [1], "intents": ["a"], "primary": "b"}}},
            "primary",
        ),
        ({"topics": {"x": {"label": "", "words": ["x"], "measures": [1], "intents": ["a"]}}}, "label"),
    ],
)
def test_malformed_topics_file_is_named(data, message):
    with pytest.raises(VocabularyError, match=message):
        parse_topics(data, "topics.yml")
