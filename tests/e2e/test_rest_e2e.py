"""`python -m bot run` end to end over the REST channel.

Answers from the knowledge base with their citation, context across turns, feedback, the tracker
store, and hostile input. (Ctrl-C stopping both servers is checked by the ``running_bot``
fixture's teardown.)
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
import uuid

import pytest

from tests.support.proc import listening as _listening

pytestmark = pytest.mark.e2e


def rest(bot, message: str, sender: str | None = None) -> list[dict]:
    body = json.dumps({"sender": sender or f"t-{uuid.uuid4().hex[:8]}", "message": message}).encode()
    req = urllib.request.Request(
        f"{bot['url']}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def texts(replies) -> str:
    return "\n".join(r["text"] for r in replies if r.get("text"))


def cited(replies) -> list[int]:
    return next((r["custom"]["measures"] for r in replies if "measures" in (r.get("custom") or {})), [])


def test_startup_prints_where_services_listen(running_bot):
    running_bot["log"].seek(0)
    out = running_bot["log"].read()
    assert f"http://127.0.0.1:{running_bot['action_port']}/webhook" in out
    assert f"http://127.0.0.1:{running_bot['rasa_port']}/webhooks/rest/webhook" in out


def test_greeting_offers_example_questions(running_bot):
    replies = rest(running_bot, "你好")
    assert "政务问答助手" in replies[0]["text"] and len(replies[0]["buttons"]) >= 3
    assert cited(replies) == []


def test_knowledge_base_answer_with_citation_and_full_text(running_bot):
    sender = "resident-grad"
    replies = rest(running_bot, "毕业生落户需要什么", sender)
    assert "毕业证" in texts(replies) and "第（二十二）项「全面放开人才落户限制」" in texts(replies)
    assert "《广西公安机关深化“放管服”改革优化营商环境实施意见》（2018年8月10日）" in texts(replies)
    assert cited(replies) == [22]
    full = rest(running_bot, replies[0]["buttons"][0]["payload"], sender)
    assert "可同时办理共同居住生活的配偶" in texts(full)


@pytest.mark.parametrize(
    "question, measure, fact",
    [("住在农村，身份证快递要几天", 26, "10个工作日"), ("柳州周末能办户口吗", 35, "南宁市"), ("刻章要多久", 25, "1天")],
)
def test_facts_fit_the_question(running_bot, question, measure, fact):
    replies = rest(running_bot, question)
    assert cited(replies)[:1] == [measure] and fact in texts(replies)


def test_weekend_outside_nanning_is_told_it_is_a_pilot(running_bot):
    assert "试点" in texts(rest(running_bot, "柳州周末能办户口吗"))


def test_follow_up_keeps_the_topic(running_bot):
    sender = f"follow-{uuid.uuid4().hex[:6]}"
    rest(running_bot, "居住证怎么办理", sender)
    replies = rest(running_bot, "那办好了能干什么", sender)
    assert cited(replies) == [24] and "上牌" in texts(replies)


def custom(replies) -> dict:
    return next((r["custom"] for r in replies if "answerability" in (r.get("custom") or {})), {})


@pytest.mark.parametrize(
    "turns, reply, measures, related, words",
    [
        # follow-ups keep the topic; what the measure does not say is said honestly
        (["居住证怎么办理", "要交钱吗"], "not_covered", [], [24], ["没有规定居住证的收费标准"]),
        (["刻章怎么办", "要多久"], "measure_answer", [25], [], ["1天内"]),
        (["我家在村里想把自建房改成民宿", "三层楼十二间房", "那还用去审批吗"], "measure_answer", [9], [], ["取消"]),
        (["投诉公安慢作为打哪个电话", "多久会给我答复"], "measure_answer", [49], [], ["7个工作日"]),
        (["居住证怎么办理", "是不是得住满一段时间"], "measure_answer", [24], [], ["满半年"]),
        (["居住证怎么办理", "那身份证呢"], "measure_answer", [26], [], ["工作日"]),
        # near a measure, not answered by it
        (["居住证丢了怎么补办"], "not_covered", [], [24], ["补办"]),
        (["身份证办理要交多少钱"], "not_covered", [], [26], ["收费标准"]),
        (["外国人来广西旅游要办签证吗"], "not_covered", [], [29], ["旅游"]),
        # topics the welcome promises, answered by an overview rather than out of scope
        (["出入境证件怎么办"], "topic_overview", [28, 35, 10, 16, 18], [], ["出入境证件", "放宽出入境业务办理"]),
        # other regions by the gazetteer, Guangxi's own places and origins answered
        (["昆明人才引进落户要什么学历"], "other_region", None, [], ["不适用于昆明"]),
        (["我在义乌做生意，想问刻章要几天"], "other_region", None, [], ["不适用于义乌"]),
        (["从四川来南宁打工，能办居住证吗"], "measure_answer", [24], [], []),
        # typos mapped before classification
        (["居往证怎么办"], "measure_answer", [24], [], []),
        (["刻张要几天"], "measure_answer", [25], [], ["1天内"]),
        # a story: the asked part decides
        (
            ["我去年刚办了居住证，住在南宁，今年想给新开的公司刻个公章，刻章一般要几天能拿到"],
            "measure_answer",
            [25],
            [],
            ["1天内"],
        ),
    ],
)
def test_dialogues_through_the_real_stack(running_bot, turns, reply, measures, related, words):
    sender = f"dlg-{uuid.uuid4().hex[:8]}"
    for turn in turns:
        replies = rest(running_bot, turn, sender)
    payload = custom(replies)
    assert payload.get("reply") == reply, (texts(replies), payload)
    if measures is not None:
        assert payload.get("measures", []) == measures
    assert payload.get("related", []) == related
    for word in words:
        assert word in texts(replies), texts(replies)
    if reply != "measure_answer":
        assert "依据：" not in texts(replies)


@pytest.mark.parametrize(
    "message", ["{{7*7}}怎么办居住证", "落户' OR '1'='1'", "？？？", "。。。", "hello world", "落户" * 400]
)
def test_bad_input_never_gets_a_measure_by_accident(running_bot, message):
    replies = rest(running_bot, message)
    assert cited(replies) == [] and texts(replies)


@pytest.mark.parametrize("question", ["今天南宁天气怎么样", "广东落户需要什么条件", "社保卡怎么办"])
def test_out_of_scope_cites_nothing(running_bot, question):
    replies = rest(running_bot, question)
    assert cited(replies) == [] and texts(replies)


def test_feedback_is_stored_without_raw_numbers(running_bot):
    sender = f"fb-{uuid.uuid4().hex[:6]}"
    rest(running_bot, "我手机13812345678，身份证多久能拿到", sender)
    thanks = rest(running_bot, "/feedback_negative", sender)
    assert texts(thanks)
    with sqlite3.connect(running_bot["app_db"]) as conn:
        rows = conn.execute("SELECT value, question FROM feedback WHERE sender_id = ?", (sender,)).fetchall()
    assert rows and rows[0][0] == "down" and "13812345678" not in rows[0][1]


def test_conversation_is_in_the_sqlite_tracker_store(running_bot):
    sender = f"trk-{uuid.uuid4().hex[:6]}"
    rest(running_bot, "身份证多久能拿到", sender)
    with sqlite3.connect(running_bot["tracker"]) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0] > 0


HOSTILE = [
    "",
    "   ",
    "😀😀😀🎉",
    "落户" * 2500,
    "Hello 我想問一下 passport 落戶 ok?",
    "居住证\x00\x07\x1b[31m办理",
    "'; DROP TABLE events; --",
    "<script>alert(1)</script>",
    "{{7*7}} ${jndi:ldap://x}",
    "\u202e证份身",
]


@pytest.mark.parametrize("message", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_input_gets_a_polite_reply_and_the_bot_stays_up(running_bot, message):
    replies = rest(running_bot, message)
    reply = texts(replies)
    assert reply and "Traceback" not in reply and "Error" not in reply
    if not any("\u4e00" <= ch <= "\u9fff" for ch in message):
        assert cited(replies) == []
    assert cited(rest(running_bot, "身份证多久能拿到")) == [26]


@pytest.mark.parametrize(
    "body, status",
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"sender": "x", "message": 5}', 400),
        (b'{"sender": "", "message": "hi"}', 400),
        (b'{"sender": "x", "message": "' + b"a" * 70000 + b'"}', 413),
    ],
    ids=["not-json", "not-object", "message-not-string", "empty-sender", "oversized"],
)
def test_malformed_requests_are_rejected_cleanly(running_bot, body, status):
    req = urllib.request.Request(
        f"{running_bot['url']}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == status and "error" in json.loads(info.value.read())
    assert cited(rest(running_bot, "身份证多久能拿到")) == [26]


def test_internal_services_are_closed(running_bot):
    # the action server listens on loopback only: nothing but the local Rasa server reaches it
    assert _listening(running_bot["action_port"]) == {"127.0.0.1"}
    # the API token reaches Rasa through its environment, not a command line anyone can list
    from tests.support.proc import command_lines

    lines = command_lines()
    rasa = [line for line in lines if "bot.ops.rasa_server" in line and str(running_bot["rasa_port"]) in line]
    assert rasa, "the Rasa server runs through bot.ops.rasa_server"
    assert not any(running_bot["token"] in line for line in lines)


@pytest.mark.parametrize("command", ["/restart", "/session_start"])
def test_typed_restart_commands_start_a_new_conversation_with_a_confirmation(running_bot, command):
    from bot.replies import render

    sender = f"restart-{uuid.uuid4().hex[:6]}"
    rest(running_bot, "居住证怎么办理", sender)
    replies = rest(running_bot, command, sender)
    assert render("restarted")["text"] in texts(replies)
    assert render("unavailable")["text"] not in texts(replies)
    # the old topic is gone: a bare follow-up has nothing to continue
    assert cited(rest(running_bot, "那要多久", sender)) == []
