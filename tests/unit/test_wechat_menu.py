"""The WeChat menu file, voice transcripts and menu clicks, without servers.

The menu YAML's checks (table-driven: every WeChat limit, every malformed shape), the default
``menu.yml``, the parsing of voice messages and menu clicks (:func:`protocol.parse`), the channel's
flow with a fake Rasa, and the action's overview for a clicked topic against a real temporary
knowledge base.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from actions import actions as actions_module
from actions.actions import ActionAnswerMeasure
from bot import config
from bot.rasa_ext.channels.wechat import WeChatChannel, handler, protocol
from bot.rasa_ext.channels.wechat.menu import (
    MAX_KEY_BYTES,
    MAX_SUB_NAME_BYTES,
    MAX_TOP_NAME_BYTES,
    MENU_PATH,
    MenuError,
    load_menu,
    parse_menu,
    topic_key,
    topic_of_key,
)
from bot.replies import render
from knowledge.repository import KnowledgeBase
from knowledge.vocabulary import load_topics
from tests.support import wechat_fake as wf

ROOT = Path(__file__).resolve().parents[2]


def click(name: str, key: str) -> dict:
    return {"type": "click", "name": name, "key": key}


def group(name: str, *subs: dict) -> dict:
    return {"name": name, "sub_button": list(subs)}


FIRE = click("消防审批", "topic:fire")
SEAL = click("印章刻制", "topic:seal")


# -- the menu file ----------------------------------------------------------------------------


def test_the_default_menu_offers_every_topic_once_within_wechats_limits():
    menu = load_menu()
    assert set(menu) == {"button"} and 1 <= len(menu["button"]) <= 3
    keys = []
    for top in menu["button"]:
        assert len(top["name"].encode()) <= MAX_TOP_NAME_BYTES
        for sub in top.get("sub_button", [top]):
            assert sub["type"] == "click" and len(sub["name"].encode()) <= MAX_SUB_NAME_BYTES
            keys.append(sub["key"])
    assert sorted(keys) == sorted(topic_key(name) for name in load_topics())
    # The JSON is WeChat's body as the file says it, in the file's order.
    raw = yaml.safe_load(MENU_PATH.read_text(encoding="utf-8"))
    assert menu == {"button": raw["button"]}


@pytest.mark.parametrize(
    "menu",
    [
        {"button": [FIRE]},
        {"version": 1, "button": [FIRE, group("证件", SEAL)]},
        {
            "button": [
                group("一二三四五", *(click(f"第{i}项", f"topic:{t}") for i, t in enumerate(list(load_topics())[:5])))
            ]
        },
        {"button": [click("消防", "topic:fire"), click("刻章", "topic:seal"), click("投诉", "topic:complaint")]},
        {"button": [{"type": "CLICK", "name": "消防", "key": "topic:fire"}]},  # WeChat writes CLICK in events
        {"button": [group("a" * MAX_TOP_NAME_BYTES, click("字" * (MAX_SUB_NAME_BYTES // 3), "topic:fire"))]},
    ],
    ids=["one-click", "click-and-group", "five-subs", "three-clicks", "upper-case-type", "names-at-the-limit"],
)
def test_valid_menus_are_sent_as_written(menu):
    result = parse_menu(menu)
    assert len(result["button"]) == len(menu["button"])
    assert all(b.get("type", "click") == "click" for top in result["button"] for b in top.get("sub_button", [top]))
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


LONG_KEY = "topic:" + "x" * (MAX_KEY_BYTES - 5)
BAD_MENUS = [
    # (the YAML document, a phrase the error must contain)
    (None, "expected a mapping"),
    ([FIRE], "expected a mapping"),
    ({}, "`button:` must be a list"),
    ({"button": []}, "`button:` must be a list"),
    ({"button": "消防"}, "`button:` must be a list"),
    ({"button": [FIRE], "buttons": []}, "unknown field 'buttons'"),
    ({"version": 2, "button": [FIRE]}, "version must be 1"),
    ({"version": True, "button": [FIRE]}, "version must be 1"),
    ({"button": [FIRE, SEAL, click("投诉", "topic:complaint"), click("犯罪", "topic:crime")]}, "4 top-level buttons"),
    ({"button": ["消防"]}, "button 1: expected a mapping"),
    ({"button": [click("消防审批业务", "topic:fire")]}, "button 1 (消防审批业务): its name is 18 UTF-8 bytes"),
    ({"button": [click("", "topic:fire")]}, "button 1: its name is missing"),
    ({"button": [click("   ", "topic:fire")]}, "its name is missing"),
    ({"button": [{"type": "click", "name": 110, "key": "topic:fire"}]}, "its name is missing"),
    ({"button": [click("消\u200b防", "topic:fire")]}, "control or invisible character"),
    ({"button": [click("消\n防", "topic:fire")]}, "control or invisible character"),
    ({"button": [{"type": "view", "name": "网站", "url": "https://example.com"}]}, "unknown field 'url'"),
    ({"button": [{"type": "view", "name": "网站", "key": "topic:fire"}]}, "type must be click (got 'view')"),
    ({"button": [{"name": "消防", "key": "topic:fire"}]}, "type must be click (got None)"),
    ({"button": [{"type": "click", "name": "消防"}]}, "button 1 (消防): a click needs a key"),
    ({"button": [click("消防", "fire")]}, "key 'fire' is not topic:<name>"),
    ({"button": [click("消防", "topic:weather")]}, "key 'topic:weather' is not topic:<name>"),
    ({"button": [click("消防", "topic:Fire")]}, "is not topic:<name>"),
    ({"button": [click("消防", "topic:fire' OR 1=1 --")]}, "is not topic:<name>"),
    (
        {"button": [click("消防", LONG_KEY)]},
        f"its key is {MAX_KEY_BYTES + 1} UTF-8 bytes, WeChat allows {MAX_KEY_BYTES}",
    ),
    ({"button": [FIRE, group("又是", click("消防", "topic:fire"))]}, "key 'topic:fire' is already used by button 1"),
    ({"button": [group("证件")]}, "button 1 (证件): sub_button must be a list of 1 to 5"),
    ({"button": [group("证件", *[FIRE] * 0)]}, "sub_button must be a list"),
    ({"button": [{"name": "证件", "sub_button": FIRE}]}, "sub_button must be a list"),
    (
        {"button": [group("证件", *(click(f"第{i}项", f"topic:{t}") for i, t in enumerate(load_topics())))]},
        f"{len(load_topics())} sub-buttons, WeChat allows 5",
    ),
    ({"button": [{**group("证件", SEAL), "type": "click", "key": "topic:fire"}]}, "has no type or key of its own"),
    ({"button": [group("证件", "刻章")]}, "button 1 (证件), sub-button 1: expected a mapping"),
    (
        {"button": [group("证件", click("字" * (MAX_SUB_NAME_BYTES // 3 + 1), "topic:seal"))]},
        f"sub-button 1 ({'字' * 21}): its name is 63 UTF-8 bytes, WeChat allows {MAX_SUB_NAME_BYTES}",
    ),
    ({"button": [group("证件", {**SEAL, "sub_button": [FIRE]})]}, "unknown field 'sub_button' (type, name, key"),
    ({"button": [group("证件", {**SEAL, "key": "<script>alert(1)</script>"})]}, "is not topic:<name>"),
    ({"button": [group("<b>证件户籍</b>", SEAL)]}, "its name is 19 UTF-8 bytes"),
]


@pytest.mark.parametrize("menu, phrase", BAD_MENUS, ids=[f"{i}-{p[:24]}" for i, (_, p) in enumerate(BAD_MENUS)])
def test_malformed_menus_are_refused_naming_the_entry(menu, phrase):
    with pytest.raises(MenuError) as info:
        parse_menu(menu, source="menu.yml")
    message = str(info.value)
    assert message.startswith("menu.yml: ") and phrase in message, message


def test_every_problem_is_reported_at_once():
    with pytest.raises(MenuError) as info:
        parse_menu({"button": [click("消防审批业务", "topic:nope"), group("证件", {"name": "", "key": "x"})]})
    problems = info.value.problems
    assert len(problems) == 5, problems
    assert any("button 1 (消防审批业务)" in p and "bytes" in p for p in problems)
    assert any(p.startswith("button 2 (证件), sub-button 1:") and "name is missing" in p for p in problems)


@pytest.mark.parametrize(
    "content, phrase",
    [
        (None, "file not found"),
        ("button: [unclosed", "not valid UTF-8 YAML"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("a: &x [1, 2]\nb: *x\n", "aliases"),
        ("button:\n" + "  - x\n" * 40_000, "larger than"),
        (b"button: \xff\xfe", "not valid UTF-8 YAML"),
    ],
    ids=["missing", "not-yaml", "a-list", "alias", "huge", "not-utf8"],
)
def test_unreadable_menu_files_are_refused(tmp_path, content, phrase):
    path = tmp_path / "menu.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(MenuError) as info:
        load_menu(path)
    assert str(info.value).startswith(str(path)) and phrase in str(info.value)


@pytest.mark.parametrize(
    "key, topic",
    [
        ("topic:fire", "fire"),
        ("topic:exit_entry", "exit_entry"),
        ("topic:", None),
        ("topic:nope", None),
        ("fire", None),
        ("TOPIC:fire", None),
        (" topic:fire", None),
        ("topic:fire ", None),
        ("", None),
        (None, None),
        (42, None),
        ("topic:" + "x" * 5000, None),
    ],
)
def test_topic_of_key(key, topic):
    assert topic_of_key(key) == topic


# -- parsing voice messages and menu clicks ---------------------------------------------------


@pytest.mark.parametrize(
    "recognition, text",
    [
        ("身份证多久能拿到", "身份证多久能拿到"),
        ("  身份证多久能拿到。 ", "身份证多久能拿到。"),
        ("身份证\u0085多久", "身份证 多久"),  # C1 control (XML lets &#x85; through)
        ("身份证\x7f多久", "身份证 多久"),
        ("身\u200b份\u202e证", "身份证"),  # zero-width space, right-to-left override
        ("第一行\n\n\t第二行", "第一行 第二行"),
        ("   ", ""),
        ("\u200b", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_transcript(recognition, text):
    assert protocol.transcript(recognition) == text


def parse(xml: str) -> protocol.Incoming | protocol.HttpReply:
    return protocol.parse(wf.signed_query(), xml.encode("utf-8"), None)


def voice(recognition_xml: str, msg_id: int = 7) -> str:
    return (
        f"<xml><ToUserName>{wf.ACCOUNT}</ToUserName><FromUserName>o_v</FromUserName><CreateTime>1</CreateTime>"
        f"<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format>{recognition_xml}<MsgId>{msg_id}</MsgId></xml>"
    )


@pytest.mark.parametrize(
    "recognition_xml, text",
    [
        ("<Recognition><![CDATA[身份证多久能拿到]]></Recognition>", "身份证多久能拿到"),
        ("<Recognition>身份证多久能拿到</Recognition>", "身份证多久能拿到"),
        ("<Recognition>身份证&#x85;多久</Recognition>", "身份证 多久"),
        ("<Recognition>&lt;script&gt;alert(1)&lt;/script&gt;</Recognition>", "<script>alert(1)</script>"),
        ("<Recognition><![CDATA[a]]]]><![CDATA[>b]]></Recognition>", "a]]>b"),  # a CDATA end, split
        ("<Recognition><![CDATA[' OR 1=1; DROP TABLE events; --]]></Recognition>", "' OR 1=1; DROP TABLE events; --"),
    ],
    ids=["cdata", "plain", "c1-control", "escaped-html", "split-cdata", "sql"],
)
def test_voice_with_a_transcript_is_a_message_to_answer(recognition_xml, text):
    incoming = parse(voice(recognition_xml))
    assert isinstance(incoming, protocol.Incoming)
    assert incoming.text == text and incoming.key == f"msg:{wf.ACCOUNT}:7"


@pytest.mark.parametrize(
    "recognition_xml",
    [
        "",
        "<Recognition></Recognition>",
        "<Recognition><![CDATA[]]></Recognition>",
        "<Recognition>   </Recognition>",
        "<Recognition><![CDATA[ \u200b ]]></Recognition>",
    ],
    ids=["absent", "empty", "empty-cdata", "blank", "invisible"],
)
def test_voice_without_a_transcript_is_not_processed(recognition_xml):
    incoming = parse(voice(recognition_xml))
    assert isinstance(incoming, protocol.Incoming) and incoming.key is None and incoming.text == ""


@pytest.mark.parametrize(
    "recognition_xml, status",
    [
        ("<Recognition><b>身份证</b></Recognition>", 400),
        ("<Recognition>身份证&#1;多久</Recognition>", 400),  # a C0 control: not XML at all
        ("<Recognition>身份证\x01多久</Recognition>", 400),
        ("<Recognition>身份证]]>多久</Recognition>", 400),
        ("<Recognition>&xxe;</Recognition>", 400),
        ("<Recognition>身份证", 400),
    ],
    ids=["nested", "c0-reference", "c0-raw", "cdata-end", "undeclared-entity", "truncated"],
)
def test_hostile_voice_is_refused(recognition_xml, status):
    reply = parse(voice(recognition_xml))
    assert isinstance(reply, protocol.HttpReply) and reply.status == status


def test_a_dtd_in_a_voice_message_is_refused_before_parsing():
    body = '<!DOCTYPE xml [<!ENTITY a "一三九一二三四五六七八">]>' + voice("<Recognition>&a;</Recognition>")
    reply = parse(body)
    assert isinstance(reply, protocol.HttpReply) and reply.status == 400 and "DTD" in reply.body


def click_xml(key_xml: str, event: str = "CLICK", create_time: int = 1) -> str:
    return (
        f"<xml><ToUserName>{wf.ACCOUNT}</ToUserName><FromUserName>o_c</FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType>event</MsgType><Event>{event}</Event>{key_xml}</xml>"
    )


def test_menu_clicks_are_claimed_per_entry_and_second():
    fire = parse(click_xml("<EventKey>topic:fire</EventKey>"))
    seal = parse(click_xml("<EventKey>topic:seal</EventKey>"))
    later = parse(click_xml("<EventKey>topic:fire</EventKey>", create_time=2))
    again = parse(click_xml("<EventKey>topic:fire</EventKey>"))
    assert all(isinstance(i, protocol.Incoming) for i in (fire, seal, later, again))
    keys = [i.key for i in (fire, seal, later, again) if isinstance(i, protocol.Incoming)]
    assert keys[0] == keys[3] and len(set(keys[:3])) == 3  # WeChat's retry is the same message
    # the OpenID ("o_c") only as its digest: keys are stored and logged
    assert all(k is not None and k.startswith("evt:") and "topic" not in k and "o_c" not in k for k in keys)
    view = parse(click_xml("<EventKey>https://example.com</EventKey>", event="VIEW"))
    assert isinstance(view, protocol.Incoming) and view.key is None


@pytest.mark.parametrize(
    "key_xml",
    [
        "<EventKey><a>topic:fire</a></EventKey>",
        f"<EventKey>{'k' * 129}</EventKey>",
        f"<EventKey>{'字' * 43}</EventKey>",
    ],
    ids=["nested", "129-bytes", "129-bytes-cjk"],
)
def test_malformed_click_keys_are_refused(key_xml):
    reply = parse(click_xml(key_xml))
    assert isinstance(reply, protocol.HttpReply) and reply.status == 400


# -- the channel's flow, with a fake Rasa -------------------------------------------------------


class FakeRasa:
    """Answers each message with its text, recording text and metadata."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict | None]] = []

    async def __call__(self, message) -> None:
        self.received.append((message.text, message.metadata))
        await message.output_channel.send_text_with_buttons(message.sender_id, f"答：{message.text}", [])


def channel() -> WeChatChannel:
    settings = dataclasses.replace(
        config.load(),
        wechat_token=wf.TOKEN,
        wechat_app_id=None,
        wechat_app_secret=None,
        wechat_aes_key=wf.AES_KEY,
        wechat_reply_timeout=2.0,
        redis_url=None,
    )
    return WeChatChannel(settings)


def content(reply) -> str | None:
    return wf.Response(reply.status, reply.body).content


def test_voice_and_clicks_reach_the_dialogue_as_text_and_payload():
    rasa, wechat = FakeRasa(), channel()

    async def scenario():
        replies = []
        for xml in (
            wf.voice_xml("o_flow", "身份证多久能拿到", 101),
            wf.voice_xml("o_flow", "我的手机是一三九一二三四五六七八", 102),
            wf.voice_xml("o_flow", "落" * 1001, 103),
            wf.voice_xml("o_flow", None, 104),
            wf.click_xml("o_flow", "topic:exit_entry", 1000),
            wf.click_xml("o_flow", "topic:nope", 1001),
            wf.click_xml("o_flow", "topic:nope", 1001),  # WeChat's retry
            wf.event_xml("o_flow", "VIEW"),
        ):
            replies.append(await wechat.receive(wf.signed_query(), xml.encode("utf-8"), rasa))
        return replies

    replies = asyncio.run(scenario())
    assert [r.status for r in replies] == [200] * 8
    assert content(replies[0]) == "答：身份证多久能拿到"
    assert content(replies[1]).startswith("答：我的手机是[手机号]") and render("privacy_notice")["text"] in content(
        replies[1]
    )
    assert content(replies[2]) == render("too_long")["text"]
    assert content(replies[3]) == render("wechat_text_only")["text"]
    assert content(replies[4]) == f"答：{handler.MENU_PAYLOAD}"
    assert content(replies[5]) == content(replies[6]) == render("wechat_menu_unknown")["text"]
    assert replies[7].body == "success"
    assert rasa.received == [
        ("身份证多久能拿到", None),
        ("我的手机是[手机号]", None),
        (handler.MENU_PAYLOAD, {handler.MENU_TOPIC: "exit_entry"}),
    ]


def test_the_channel_and_the_action_agree_on_the_menu_payload():
    assert handler.MENU_TOPIC == actions_module.MENU_TOPIC
    intent = handler.MENU_PAYLOAD.removeprefix("/")
    rules = yaml.safe_load((ROOT / "data" / "rules" / "conversation.yml").read_text(encoding="utf-8"))["rules"]
    assert any(
        [s.get("intent") for s in r["steps"]][:1] == [intent] and r["steps"][1] == {"action": "action_answer_measure"}
        for r in rules
    )
    from bot.rasa_ext import payload

    assert payload.sanitize(handler.MENU_PAYLOAD) == handler.MENU_PAYLOAD  # the guard keeps it


# -- the action: a clicked topic gets its overview ----------------------------------------------


@pytest.fixture
def kb(monkeypatch, sqlite_kb_url, tmp_path):
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    return KnowledgeBase(sqlite_kb_url)


def menu_tracker(make_tracker, metadata, slots: dict | None = None):
    tracker = make_tracker(handler.MENU_PAYLOAD, "out_of_scope", slots)
    tracker.latest_message["metadata"] = metadata
    return tracker


@pytest.mark.parametrize("name", list(load_topics()))
def test_a_clicked_topic_gets_its_overview(kb, dispatcher, make_tracker, domain, name):
    topic = load_topics()[name]
    # After another answer too: the click is not read as a follow-up of it.
    slots = {"last_intent": "ask_service_weekend", "topic": "online_service"}
    events = asyncio.run(
        ActionAnswerMeasure(kb).run(dispatcher, menu_tracker(make_tracker, {"menu_topic": name}, slots), domain)
    )
    [message] = dispatcher.messages
    custom = message["custom"]
    assert (custom["reply"], custom["topic"]) == ("topic_overview", name)
    assert custom["measures"] == list(topic.measures) and custom["answerability"]["decision"] == "overview"
    assert message["text"].startswith(f"关于{topic.label}，")
    assert len(message["buttons"]) == len(topic.measures)
    assert [(e["name"], e["value"]) for e in events] == [("cited_measures", [str(n) for n in topic.measures])]


@pytest.mark.parametrize(
    "metadata",
    [None, {}, {"menu_topic": "weather"}, {"menu_topic": ["fire"]}, {"menu_topic": None}, "menu_topic=fire", ["fire"]],
)
def test_without_a_known_menu_topic_the_payload_is_answered_as_before(kb, make_tracker, domain, metadata):
    from rasa_sdk.executor import CollectingDispatcher

    def reply_names(tracker) -> list:
        dispatcher = CollectingDispatcher()
        asyncio.run(ActionAnswerMeasure(kb).run(dispatcher, tracker, domain))
        return [(m.get("custom") or {}).get("reply") for m in dispatcher.messages]

    plain = reply_names(make_tracker(handler.MENU_PAYLOAD, "out_of_scope"))
    assert "topic_overview" not in plain
    assert reply_names(menu_tracker(make_tracker, metadata)) == plain
