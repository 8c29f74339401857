"""WeChat voice messages and the Official Account's menu, end to end.

Real signed requests (plaintext and safe mode) against ``python -m bot run`` (``running_bot``):
a voice message with a transcript (``Recognition``) is answered as if typed, with its citation;
without one the resident is asked to type; a spoken phone number (一三九…, 幺八六…) is never
stored raw; hostile voice bodies are refused. A menu click (``CLICK``, ``topic:<name>``) is
answered with the topic's overview, a key naming no topic politely. ``python -m bot.ops.wechat_menu
create`` sends exactly the YAML's menu to the fake WeChat API, and reports WeChat's refusals.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from bot import config
from bot.ops import wechat_menu
from bot.rasa_ext.channels.wechat import MAX_MESSAGE_BYTES
from bot.rasa_ext.channels.wechat.api import WeChatAPI
from bot.rasa_ext.channels.wechat.handler import MENU_PAYLOAD
from bot.rasa_ext.channels.wechat.menu import MENU_PATH, load_menu
from bot.rasa_ext.channels.wechat.store import MemoryStore
from bot.replies import render
from bot.text.normalize import normalize_text
from bot.text.privacy import load_placeholders
from knowledge.vocabulary import load_topics
from tests.e2e.test_privacy_wechat import stored_everywhere
from tests.support import wechat_fake as wf
from tests.support.paths import ROOT
from tests.support.stored_numbers import leaks
from tests.support.wechat_users import new_msg_id, new_openid, user_turns

e2e = pytest.mark.e2e
CITATION = "依据：《广西公安机关深化“放管服”改革优化营商环境实施意见》（2018年8月10日）"
_create_times = iter(range(int(time.time()) - 60, 10**10))  # distinct CreateTimes, so clicks are not retries


def say(bot, openid: str, recognition: str | None, encrypt: bool = False) -> wf.Response:
    return wf.post(bot["url"], wf.voice_xml(openid, recognition, new_msg_id()), encrypt=encrypt)


def click(bot, openid: str, key: str, encrypt: bool = False, create_time: int | None = None) -> wf.Response:
    return wf.post(bot["url"], wf.click_xml(openid, key, create_time or next(_create_times)), encrypt=encrypt)


def passive_text(response: wf.Response, openid: str) -> str:
    assert response.status == 200, response.body
    xml = response.xml
    assert (xml["MsgType"], xml["ToUserName"], xml["FromUserName"]) == ("text", openid, wf.ACCOUNT)
    assert len(xml["Content"].encode("utf-8")) < MAX_MESSAGE_BYTES
    return xml["Content"]


# -- voice ---------------------------------------------------------------------------------------


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
def test_voice_with_a_transcript_is_answered_with_a_citation(running_bot, encrypt):
    openid = new_openid("voice")
    response = say(running_bot, openid, "毕业生落户需要什么？", encrypt=encrypt)
    if encrypt:
        assert "<Encrypt>" in response.raw and "毕业证" not in response.raw
    text = passive_text(response, openid)
    assert "毕业证" in text and CITATION in text and "第（二十二）项" in text and "回复 1 查看原文" in text
    assert user_turns(running_bot, openid) == ["毕业生落户需要什么？"]
    # The conversation continues by voice or by text, and the numbers work after a voice answer.
    full = passive_text(wf.post(running_bot["url"], wf.text_xml(openid, "1", new_msg_id()), encrypt=encrypt), openid)
    assert "可同时办理共同居住生活的配偶" in full


@e2e
def test_a_voice_retry_is_answered_once(running_bot):
    openid, msg_id = new_openid("vretry"), new_msg_id()
    xml = wf.voice_xml(openid, "刻章要多久", msg_id)
    first, retry = wf.post(running_bot["url"], xml), wf.post(running_bot["url"], xml)
    assert passive_text(first, openid) == passive_text(retry, openid) and "1天" in first.content
    assert user_turns(running_bot, openid) == ["刻章要多久"]


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize("recognition", [None, "", "   ", "\u200b"], ids=["absent", "empty", "blank", "invisible"])
def test_voice_without_a_transcript_is_asked_to_type(running_bot, recognition, encrypt):
    openid = new_openid("novoice")
    response = say(running_bot, openid, recognition, encrypt=encrypt)
    assert passive_text(response, openid) == render("wechat_text_only")["text"]
    assert user_turns(running_bot, openid) == []


SPOKEN = [
    # (the question, the number as speech recognition wrote it, as digits, a word the answer has)
    ("我的手机号是{}，身份证多久能拿到", "一三九一二三四五六七八", "13912345678", "身份证"),
    ("电话{}，刻章要多久", "幺八六零七七一九八七六", "18607719876", "1天"),
    ("手机{}，居住证怎么办理", "一五八 七七零一 二三四五", "15877012345", "居住证"),
    ("我的手机号是{}。毕业生落户需要什么", "15877012345", "15877012345", "毕业证"),
]


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize("question, number, digits, topic", SPOKEN, ids=["chinese", "yao-and-ling", "spaced", "arabic"])
def test_a_spoken_phone_number_is_never_stored_raw(running_bot, fake_wechat, question, number, digits, topic, encrypt):
    openid = new_openid("vpii")
    response = say(running_bot, openid, question.format(number), encrypt=encrypt)
    answer = passive_text(response, openid)
    assert CITATION in answer and topic in answer, answer
    assert render("privacy_notice")["text"] in answer
    # The dialogue saw the question with the placeholder …
    assert user_turns(running_bot, openid) == [question.format(load_placeholders()["mobile"])]
    # … and no form of the number is in the tracker store, the log, the app database or a reply.
    forms = {number, json.dumps(number)[1:-1], normalize_text(number), digits, "".join(number.split())}
    assert not leaks(forms, stored_everywhere(running_bot, fake_wechat))
    assert not any(form in response.raw for form in forms)


@e2e
def test_an_oversized_transcript_gets_the_too_long_reply(running_bot):
    openid = new_openid("vlong")
    response = say(running_bot, openid, "我想问一下落户的事情" * 200)
    assert passive_text(response, openid) == render("too_long")["text"]
    assert user_turns(running_bot, openid) == []


@e2e
def test_control_and_invisible_characters_are_taken_out_of_a_transcript(running_bot):
    openid = new_openid("vctl")
    body = wf.voice_xml(openid, "PLACEHOLDER", new_msg_id()).replace(
        "<![CDATA[PLACEHOLDER]]>", "刻章&#x85;要多久&#x7f;<![CDATA[\u200b\u202e]]>"
    )
    text = passive_text(wf.post(running_bot["url"], body), openid)
    assert "1天" in text and CITATION in text
    assert user_turns(running_bot, openid) == ["刻章 要多久"]


HOSTILE_VOICE = {
    "nested": "<Recognition><b>刻章要多久</b></Recognition>",
    "c0-reference": "<Recognition>刻章&#1;要多久</Recognition>",
    "c0-raw": "<Recognition>刻章\x01要多久</Recognition>",
    "cdata-end": "<Recognition>刻章]]>要多久</Recognition>",
    "entity": "<Recognition>&xxe;</Recognition>",
    "dtd": "DTD",
}


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize("name", list(HOSTILE_VOICE))
def test_hostile_voice_bodies_are_refused(running_bot, name, encrypt):
    openid = new_openid("vevil")
    xml = wf.voice_xml(openid, None, new_msg_id())
    if name == "dtd":
        xml = '<!DOCTYPE xml [<!ENTITY a "一三九一二三四五六七八">]>' + xml.replace(
            "<MsgId>", "<Recognition>&a;</Recognition><MsgId>"
        )
    else:
        xml = xml.replace("<MsgId>", HOSTILE_VOICE[name] + "<MsgId>")
    response = wf.post(running_bot["url"], xml, encrypt=encrypt)
    assert response.status == 400 and "error" in json.loads(response.body)
    assert user_turns(running_bot, openid) == []


# -- menu clicks ---------------------------------------------------------------------------------


def overview_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("· 第")]


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize("name", ["exit_entry", "settlement", "online_service"])
def test_a_menu_click_gets_the_topics_overview(running_bot, name, encrypt):
    topic = load_topics()[name]
    openid = new_openid("click")
    text = passive_text(click(running_bot, openid, f"topic:{name}", encrypt=encrypt), openid)
    assert text.startswith(f"关于{topic.label}，《实施意见》有以下几项规定：")
    assert len(overview_lines(text)) == len(topic.measures)
    numbered = [line for line in text.splitlines() if line.startswith("回复 ")]
    assert len(numbered) == len(topic.measures) and numbered[0].startswith("回复 1 第")
    assert user_turns(running_bot, openid) == [MENU_PAYLOAD]
    # "1" chooses the first measure of the overview: an answer with its citation.
    first = passive_text(wf.post(running_bot["url"], wf.text_xml(openid, "1", new_msg_id()), encrypt=encrypt), openid)
    assert CITATION in first


@e2e
def test_a_click_after_an_answer_still_gets_the_overview(running_bot):
    openid = new_openid("clickafter")
    assert "1天" in passive_text(wf.post(running_bot["url"], wf.text_xml(openid, "刻章要多久", new_msg_id())), openid)
    text = passive_text(click(running_bot, openid, "topic:fire"), openid)
    assert text.startswith("关于消防审批，") and len(overview_lines(text)) == len(load_topics()["fire"].measures)


@e2e
def test_a_click_retry_is_answered_once_and_two_clicks_in_one_second_are_two(running_bot):
    openid, second = new_openid("clickretry"), next(_create_times)
    first = click(running_bot, openid, "topic:seal", create_time=second)
    retry = click(running_bot, openid, "topic:seal", create_time=second)
    other = click(running_bot, openid, "topic:fire", create_time=second)
    assert passive_text(first, openid) == passive_text(retry, openid) and "印章刻制" in first.content
    assert "消防审批" in passive_text(other, openid)
    assert user_turns(running_bot, openid) == [MENU_PAYLOAD, MENU_PAYLOAD]


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize(
    "key",
    ["topic:weather", "fire", "", "topic:", "<script>alert(1)</script>", "topic:fire' OR '1'='1", "k" * 128],
    ids=["unknown-topic", "no-prefix", "empty", "prefix-only", "html", "sql", "128-bytes"],
)
def test_a_click_naming_no_topic_gets_the_polite_default(running_bot, key, encrypt):
    openid = new_openid("clickbad")
    response = click(running_bot, openid, key, encrypt=encrypt)
    assert passive_text(response, openid) == render("wechat_menu_unknown")["text"]
    assert user_turns(running_bot, openid) == []


@e2e
def test_other_menu_events_get_no_reply(running_bot):
    openid = new_openid("view")
    for event in ("VIEW", "scancode_push", "LOCATION"):
        response = wf.post(running_bot["url"], wf.event_xml(openid, event))
        assert (response.status, response.body) == (200, "success")
    assert user_turns(running_bot, openid) == []


# -- creating the menu -----------------------------------------------------------------------------


def menu_env(fake_wechat, **changes: str) -> dict[str, str]:
    env = {
        **os.environ,
        "WECHAT_APP_ID": wf.APP_ID,
        "WECHAT_APP_SECRET": wf.APP_SECRET,
        "WECHAT_API_BASE": fake_wechat.url,
        "REDIS_URL": "",
        **changes,
    }
    return {k: v for k, v in env.items() if v is not None}


def test_the_documented_command_sends_exactly_the_yamls_menu(fake_wechat):
    before = len(fake_wechat.recorded("/cgi-bin/menu/create"))
    done = subprocess.run(
        [sys.executable, "-m", "bot.ops.wechat_menu", "create"],
        cwd=ROOT,
        env=menu_env(fake_wechat),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "menu created" in done.stdout
    [sent] = fake_wechat.recorded("/cgi-bin/menu/create")[before:]
    assert sent.method == "POST" and set(sent.query) == {"access_token"}
    assert sent.query["access_token"] in fake_wechat.issued
    assert sent.json == load_menu(MENU_PATH) == fake_wechat.menu
    assert (
        json.loads(sent.body.decode("utf-8")) == sent.json and "证件户籍".encode() in sent.body
    )  # UTF-8, not \\u escapes


def test_dry_run_prints_the_json_and_sends_nothing(fake_wechat, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("WECHAT_APP_ID", raising=False)  # no credentials needed
    path = tmp_path / "menu.yml"
    path.write_text(
        "version: 1\nbutton:\n  - {type: click, name: 消防, key: 'topic:fire'}\n"
        "  - name: 证件\n    sub_button:\n      - {type: CLICK, name: 居住证, key: 'topic:residence_permit'}\n",
        encoding="utf-8",
    )
    before = len(fake_wechat.recorded())
    assert wechat_menu.main(["create", "--file", str(path), "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "button": [
            {"type": "click", "name": "消防", "key": "topic:fire"},
            {"name": "证件", "sub_button": [{"type": "click", "name": "居住证", "key": "topic:residence_permit"}]},
        ]
    }
    assert len(fake_wechat.recorded()) == before


def test_a_custom_file_is_sent_as_written(fake_wechat, monkeypatch, capsys, tmp_path):
    for name, value in menu_env(fake_wechat).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "menu.yml"
    path.write_text("button:\n  - {type: click, name: 投诉, key: 'topic:complaint'}\n", encoding="utf-8")
    assert wechat_menu.main(["create", "--file", str(path)]) == 0
    assert fake_wechat.menu == {"button": [{"type": "click", "name": "投诉", "key": "topic:complaint"}]}


@pytest.mark.parametrize("errcode", [40016, 48001, -1])
def test_wechats_refusal_is_reported_with_exit_2(fake_wechat, monkeypatch, capsys, errcode):
    for name, value in menu_env(fake_wechat).items():
        monkeypatch.setenv(name, value)
    fake_wechat.fail_next_menu(errcode)
    assert wechat_menu.main(["create"]) == 2
    err = capsys.readouterr().err
    assert f"errcode {errcode}" in err and "menu refused by WeChat" in err


def test_an_expired_token_is_renewed_and_the_menu_sent_once_more(fake_wechat, monkeypatch):
    for name, value in menu_env(fake_wechat).items():
        monkeypatch.setenv(name, value)
    store = MemoryStore()
    asyncio.run(store.set(f"token:{wf.APP_ID}", "EXPIRED-TOKEN", 600))
    before = len(fake_wechat.recorded("/cgi-bin/menu/create"))
    api = WeChatAPI(config.load().wechat_api_base, wf.APP_ID, wf.APP_SECRET, store)
    asyncio.run(api.create_menu(load_menu()))
    sent = fake_wechat.recorded("/cgi-bin/menu/create")[before:]
    assert [r.query["access_token"] == "EXPIRED-TOKEN" for r in sent] == [True, False]
    assert fake_wechat.menu == load_menu()


@pytest.mark.parametrize(
    "changes, code, phrase",
    [
        ({"WECHAT_APP_SECRET": "wrong"}, 2, "errcode 40013"),
        ({"WECHAT_APP_ID": None}, 2, "WECHAT_APP_ID and WECHAT_APP_SECRET must be set"),
        ({"WECHAT_APP_SECRET": ""}, 2, "WECHAT_APP_ID and WECHAT_APP_SECRET must be set"),
        ({"WECHAT_API_BASE": "ftp://example.com"}, 2, "configuration error"),
        ({"WECHAT_API_BASE": "http://127.0.0.1:9"}, 1, "unreachable"),
    ],
    ids=["wrong-secret", "no-app-id", "empty-secret", "bad-base", "unreachable"],
)
def test_missing_or_refused_credentials_and_an_unreachable_api(fake_wechat, monkeypatch, capsys, changes, code, phrase):
    for name, value in menu_env(fake_wechat, **changes).items():
        monkeypatch.setenv(name, value)
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
    before = fake_wechat.menu
    fake_wechat.menu = None
    try:
        assert wechat_menu.main(["create"]) == code
        assert phrase in capsys.readouterr().err and fake_wechat.menu is None
    finally:
        fake_wechat.menu = before


@pytest.mark.parametrize(
    "content, phrase",
    [
        (
            "button:\n  - {type: click, name: 消防审批业务, key: 'topic:fire'}\n",
            "button 1 (消防审批业务): its name is 18",
        ),
        ("button:\n  - {type: click, name: 消防, key: 'topic:weather'}\n", "key 'topic:weather' is not topic:<name>"),
        ("button: [unclosed\n", "not valid UTF-8 YAML"),
    ],
    ids=["long-name", "unknown-topic", "not-yaml"],
)
def test_a_malformed_file_is_refused_before_any_request(fake_wechat, monkeypatch, capsys, tmp_path, content, phrase):
    for name, value in menu_env(fake_wechat).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "menu.yml"
    path.write_text(content, encoding="utf-8")
    before = len(fake_wechat.recorded())
    assert wechat_menu.main(["create", "--file", str(path)]) == 2
    assert phrase in capsys.readouterr().err and len(fake_wechat.recorded()) == before
    assert wechat_menu.main(["create", "--file", str(tmp_path / "missing.yml")]) == 2
    assert "file not found" in capsys.readouterr().err
