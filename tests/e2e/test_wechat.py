"""The WeChat Official Account channel (the package bot/rasa_ext/channels/wechat/).

End to end: real signed (and, in safe mode, encrypted) requests built with wechatpy's own crypto
against ``python -m bot run``: ``running_bot`` answers passively with the in-process store;
``slow_bot`` never answers in time (WECHAT_REPLY_TIMEOUT of 1 ms) so every answer goes through
the customer-service API of the fake WeChat server, and keeps its state in a real Redis server.
Unit tests: message splitting, button numbering, both stores, and the protocol class driven
directly with a fake Rasa.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from bot import config
from bot.rasa_ext.channels import wechat
from bot.rasa_ext.channels.wechat import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_BYTES,
    WeChatChannel,
    button_choice,
    render_messages,
    split_message,
)
from bot.rasa_ext.channels.wechat.store import MemoryStore, RedisStore, make_store
from bot.replies import load_replies, render
from tests.support import wechat_fake as wf
from tests.support.wechat_users import conversation_of, new_msg_id, new_openid, user_turns

CITATION = "依据：《广西公安机关深化“放管服”改革优化营商环境实施意见》（2018年8月10日）"


def ask(bot, openid: str, content: str, encrypt: bool = False, msg_id: int | None = None) -> wf.Response:
    return wf.post(bot["url"], wf.text_xml(openid, content, msg_id or new_msg_id()), encrypt=encrypt)


def assert_passive_text(response: wf.Response, openid: str) -> str:
    """The reply is a passive text reply to ``openid`` from the account; returns its text."""
    assert response.status == 200, response.body
    xml = response.xml
    assert (xml["MsgType"], xml["ToUserName"], xml["FromUserName"]) == ("text", openid, wf.ACCOUNT)
    assert int(xml["CreateTime"]) > 0
    assert len(xml["Content"].encode("utf-8")) < MAX_MESSAGE_BYTES
    return xml["Content"]


# -- end to end: passive replies ----------------------------------------------------------------

e2e = pytest.mark.e2e


@e2e
def test_url_verification(running_bot):
    query = wf.signed_query()
    url = f"{running_bot['url']}/webhooks/wechat/webhook"
    ok = wf.http(
        f"{url}?signature={query['signature']}&timestamp={query['timestamp']}&nonce={query['nonce']}"
        "&echostr=5838479218127813673"
    )
    assert (ok.status, ok.body) == (200, "5838479218127813673")
    bad = wf.http(f"{url}?signature={'0' * 40}&timestamp={query['timestamp']}&nonce={query['nonce']}&echostr=x")
    assert bad.status == 403 and "error" in json.loads(bad.body)
    stale = wf.signed_query(timestamp=str(int(time.time()) - 3600))
    old = wf.http(
        f"{url}?signature={stale['signature']}&timestamp={stale['timestamp']}&nonce={stale['nonce']}&echostr=x"
    )
    assert old.status == 403


@e2e
def test_text_round_trip_with_citation(running_bot):
    openid = new_openid("grad")
    response = ask(running_bot, openid, "毕业生落户需要什么")
    text = assert_passive_text(response, openid)
    assert "毕业证" in text and CITATION in text and "第（二十二）项「全面放开人才落户限制」" in text
    assert "回复 1 查看原文" in text and "measures" not in text
    assert user_turns(running_bot, openid) == ["毕业生落户需要什么"]


@e2e
def test_safe_mode_round_trip(running_bot):
    openid = new_openid("aes")
    response = ask(running_bot, openid, "住在农村，身份证快递要几天", encrypt=True)
    assert response.status == 200
    assert "<Encrypt>" in response.raw and "身份证" not in response.raw  # the reply itself is encrypted
    text = assert_passive_text(response, openid)
    assert "10个工作日" in text and "依据：" in text and "第（二十六）项" in text


@e2e
def test_conversation_keeps_its_context(running_bot):
    openid = new_openid("ctx")
    first = assert_passive_text(ask(running_bot, openid, "居住证怎么办理"), openid)
    assert "居住证" in first
    follow = assert_passive_text(ask(running_bot, openid, "那办好了能干什么"), openid)
    assert "上牌" in follow and "第（二十四）项" in follow


@e2e
def test_retry_with_the_same_msgid_is_processed_once(running_bot):
    openid, msg_id = new_openid("retry"), new_msg_id()
    xml = wf.text_xml(openid, "刻章要多久", msg_id)
    first = wf.post(running_bot["url"], xml)
    retry = wf.post(running_bot["url"], xml)  # WeChat's retry: a new nonce and signature, the same message
    assert assert_passive_text(first, openid) == assert_passive_text(retry, openid)
    assert "1天" in first.content
    assert user_turns(running_bot, openid) == ["刻章要多久"]


@e2e
def test_retries_arriving_together_are_processed_once(running_bot):
    openid, msg_id = new_openid("race"), new_msg_id()
    xml = wf.text_xml(openid, "身份证多久能拿到", msg_id)
    responses: list[wf.Response] = []
    threads = [threading.Thread(target=lambda: responses.append(wf.post(running_bot["url"], xml))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status for r in responses) == [200, 200, 200]
    texts = {r.content for r in responses if r.content is not None}
    assert len(texts) == 1 and "依据：" in texts.pop()  # the others said "success" or served the cache
    assert user_turns(running_bot, openid) == ["身份证多久能拿到"]


@e2e
def test_subscribe_event_gets_the_welcome(running_bot):
    openid = new_openid("sub")
    text = assert_passive_text(wf.post(running_bot["url"], wf.event_xml(openid, "subscribe")), openid)
    assert "政务问答助手" in text and "回复 1 毕业生落户需要什么" in text
    choice = assert_passive_text(ask(running_bot, openid, "1"), openid)
    assert "毕业证" in choice and "依据：" in choice  # "1" sent the first example question
    unsubscribe = wf.post(running_bot["url"], wf.event_xml(openid, "unsubscribe"))
    assert (unsubscribe.status, unsubscribe.body) == (200, "success")


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
def test_image_gets_the_text_only_reply(running_bot, encrypt):
    openid = new_openid("img")
    response = wf.post(running_bot["url"], wf.image_xml(openid, new_msg_id()), encrypt=encrypt)
    assert assert_passive_text(response, openid) == render("wechat_text_only")["text"]
    assert user_turns(running_bot, openid) == []


@e2e
@pytest.mark.parametrize(
    "kind, fields",
    [
        ("voice", "<MediaId>m</MediaId><Format>amr</Format>"),
        ("location", "<Location_X>22.8</Location_X><Location_Y>108.3</Location_Y><Scale>15</Scale><Label>南宁</Label>"),
        ("link", "<Title>t</Title><Description>d</Description><Url>http://example.com</Url>"),
        ("video", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>"),
        ("shortvideo", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>"),
        ("file", "<Title>a.pdf</Title>"),
    ],
)
def test_other_messages_get_the_text_only_reply(running_bot, kind, fields):
    openid = new_openid("other")
    xml = (
        f"<xml><ToUserName>{wf.ACCOUNT}</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{kind}</MsgType>{fields}<MsgId>{new_msg_id()}</MsgId></xml>"
    )
    assert assert_passive_text(wf.post(running_bot["url"], xml), openid) == render("wechat_text_only")["text"]


@e2e
def test_numbered_button_reply(running_bot):
    openid = new_openid("btn")
    answer = assert_passive_text(ask(running_bot, openid, "毕业生落户需要什么"), openid)
    lines = [line for line in answer.splitlines() if line.startswith("回复 ")]
    assert lines == ["回复 1 查看原文", "回复 2 👍 有帮助", "回复 3 👎 没帮助"]
    full = assert_passive_text(ask(running_bot, openid, "1"), openid)
    assert "原文" in full and "全面放开人才落户限制" in full and "可同时办理共同居住生活的配偶" in full
    assert user_turns(running_bot, openid)[-1].startswith("/show_measure")
    # The numbers of the answer still stand after a chosen button: "３" (full width) is 👎.
    thanks = assert_passive_text(ask(running_bot, openid, "３"), openid)
    assert "反馈已记录" in thanks
    with sqlite3.connect(running_bot["app_db"]) as conn:
        rows = conn.execute(
            "SELECT value, channel FROM feedback WHERE sender_id = ?", (conversation_of(openid),)
        ).fetchall()
    assert rows == [("down", "wechat")]


@e2e
def test_a_number_without_buttons_is_just_text(running_bot):
    openid = new_openid("num")
    response = ask(running_bot, openid, "7")
    assert response.status == 200 and user_turns(running_bot, openid) == ["7"]


@e2e
def test_bad_signature_on_post_is_refused_and_nothing_processed(running_bot):
    openid = new_openid("forged")
    forged = {**wf.signed_query(), "signature": "f" * 40}
    response = wf.post(running_bot["url"], wf.text_xml(openid, "毕业生落户需要什么", new_msg_id()), query=forged)
    assert response.status == 403 and "error" in json.loads(response.body)
    other_token = wf.signed_query(token="not-the-token")
    assert wf.post(running_bot["url"], wf.text_xml(openid, "你好", new_msg_id()), query=other_token).status == 403
    # Safe mode: the URL signature is right but the message signature is not.
    query = wf.signed_query()
    enc = wf.crypto().encrypt_message(wf.text_xml(openid, "你好", new_msg_id()), query["nonce"], query["timestamp"])
    query.update(encrypt_type="aes", msg_signature="0" * 40)
    assert (
        wf.http(
            f"{running_bot['url']}/webhooks/wechat/webhook?" + "&".join(f"{k}={v}" for k, v in query.items()),
            enc.encode(),
        ).status
        == 403
    )
    assert user_turns(running_bot, openid) == []


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]><xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>{openid}</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&j;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"
)
HOSTILE_BODIES = {
    "truncated": "<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>{openid}</FromUserName><Content>",
    "not-xml": "毕业生落户需要什么",
    "empty": "",
    "no-msgtype": "<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>{openid}</FromUserName></xml>",
    "bad-sender": "<xml><ToUserName>gh_x</ToUserName><FromUserName>../../x y</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>hi</Content><MsgId>3</MsgId></xml>",
    "nested-content": "<xml><ToUserName>gh_x</ToUserName><FromUserName>{openid}</FromUserName>"
    "<CreateTime>x</CreateTime><MsgType><a>text</a></MsgType></xml>",
    "nested-text": "<xml><ToUserName>gh_x</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content><b>hi</b></Content><MsgId>4</MsgId></xml>",
    "billion-laughs": BILLION_LAUGHS,
    "xxe": XXE,
    "lowercase-doctype": "<!doctype xml><xml></xml>",
}


@e2e
@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_xml_is_rejected(running_bot, name):
    openid = new_openid("evil")
    response = wf.post(running_bot["url"], HOSTILE_BODIES[name].replace("{openid}", openid))
    assert response.status == 400 and "error" in json.loads(response.body)
    assert response.seconds < 5
    assert user_turns(running_bot, openid) == []


@e2e
def test_hostile_xml_inside_an_encrypted_message_is_rejected(running_bot):
    openid = new_openid("evilaes")
    response = wf.post(running_bot["url"], BILLION_LAUGHS.replace("{openid}", openid), encrypt=True)
    assert response.status == 400 and user_turns(running_bot, openid) == []
    malformed_outer = wf.post(
        running_bot["url"],
        "<xml><Encrypt>",
        encrypt=False,
        query={**wf.signed_query(), "encrypt_type": "aes", "msg_signature": "0" * 40},
    )
    assert malformed_outer.status == 400


@e2e
def test_oversized_body_is_413(running_bot):
    openid = new_openid("big")
    body = wf.text_xml(openid, "落" * (MAX_BODY_BYTES // 3 + 10), new_msg_id())
    assert len(body.encode()) > MAX_BODY_BYTES
    response = wf.post(running_bot["url"], body)
    assert response.status == 413 and "error" in json.loads(response.body)
    assert user_turns(running_bot, openid) == []
    # … and the channel still answers.
    after = new_openid("after")
    assert "依据：" in assert_passive_text(ask(running_bot, after, "刻章要多久"), after)


# -- end to end: answers too slow for a passive reply ----------------------------------------


@e2e
def test_slow_answer_is_delivered_through_the_customer_service_api(slow_bot, fake_wechat):
    openid, msg_id = new_openid("slow"), new_msg_id()
    xml = wf.text_xml(openid, "毕业生落户需要什么", msg_id)
    response = wf.post(slow_bot["url"], xml)
    assert (response.status, response.body) == (200, "success")
    [sent] = fake_wechat.wait_for_sends(openid)
    assert sent.method == "POST" and sent.path == "/cgi-bin/message/custom/send"
    assert set(sent.query) == {"access_token"} and sent.query["access_token"] in fake_wechat.issued
    assert set(sent.json) == {"touser", "msgtype", "text"} and set(sent.json["text"]) == {"content"}
    assert (sent.json["touser"], sent.json["msgtype"]) == (openid, "text")
    content = sent.json["text"]["content"]
    assert "毕业证" in content and CITATION in content and "第（二十二）项" in content and "回复 1 查看原文" in content
    assert len(content.encode("utf-8")) < MAX_MESSAGE_BYTES
    token_requests = fake_wechat.recorded("/cgi-bin/token")
    assert token_requests and token_requests[0].method == "GET"
    assert token_requests[0].query == {"grant_type": "client_credential", "appid": wf.APP_ID, "secret": wf.APP_SECRET}
    # WeChat's retry of the same message: "success", and no second delivery (the Redis store knows it).
    assert wf.post(slow_bot["url"], xml).body == "success"
    time.sleep(1.5)
    assert len(fake_wechat.sends_to(openid)) == 1 and user_turns(slow_bot, openid) == ["毕业生落户需要什么"]
    # The buttons are remembered in Redis too: "1" sends the full text, again by the API.
    wf.post(slow_bot["url"], wf.text_xml(openid, "1", new_msg_id()))
    full = fake_wechat.wait_for_sends(openid, 2)[-1].json["text"]["content"]
    assert "可同时办理共同居住生活的配偶" in full


@e2e
def test_expired_access_token_is_refreshed_and_the_send_retried_once(slow_bot, fake_wechat):
    openid = new_openid("expired")
    ask(slow_bot, openid, "身份证多久能拿到")
    fake_wechat.wait_for_sends(openid)
    fake_wechat.expire_tokens()
    tokens_before = len(fake_wechat.recorded("/cgi-bin/token"))
    ask(slow_bot, openid, "刻章要多久")
    sends = fake_wechat.wait_for_sends(openid, 3)
    assert sends[1].query["access_token"] not in fake_wechat.valid_tokens  # refused with 40001
    assert sends[2].query["access_token"] in fake_wechat.valid_tokens and "1天" in sends[2].json["text"]["content"]
    assert len(fake_wechat.recorded("/cgi-bin/token")) == tokens_before + 1
    time.sleep(1)
    assert len(fake_wechat.sends_to(openid)) == 3


@e2e
@pytest.mark.parametrize("errcode", [45015, 45047])
def test_quota_errors_are_logged_and_not_retried(slow_bot, fake_wechat, errcode):
    openid = new_openid("quota")
    fake_wechat.fail_next_send(errcode)
    ask(slow_bot, openid, "刻章要多久")
    fake_wechat.wait_for_sends(openid)
    time.sleep(1.5)
    assert len(fake_wechat.sends_to(openid)) == 1
    slow_bot["log"].seek(0)
    assert f"errcode {errcode}" in slow_bot["log"].read()


@e2e
def test_startup_names_the_wechat_webhook(running_bot, slow_bot):
    running_bot["log"].seek(0)
    assert (
        f"http://127.0.0.1:{running_bot['rasa_port']}/webhooks/wechat/webhook (store: in-process)"
        in running_bot["log"].read()
    )
    slow_bot["log"].seek(0)
    assert "/webhooks/wechat/webhook (store: Redis)" in slow_bot["log"].read()


# -- unit: splitting, buttons, replies ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000,
        "落户" * 1500,
        "😀" * 1200,
        "\n".join(f"第{i}行：居住证办理条件。" for i in range(400)),
        ("居住证持有人可以在居住地办理机动车注册登记。" * 80),
        "x" * 1999,
        "字" * 666 + "a",
    ],
)
def test_split_message_stays_below_2000_bytes(text):
    chunks = split_message(text)
    assert all(0 < len(c.encode("utf-8")) < MAX_MESSAGE_BYTES for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())  # nothing lost, nothing cut in two
    if len(text.encode("utf-8")) < MAX_MESSAGE_BYTES:
        assert chunks == [text]


def test_split_message_prefers_line_and_sentence_ends():
    lines = [f"第{i}项：" + "居住证" * 20 for i in range(40)]
    chunks = split_message("\n".join(lines))
    assert len(chunks) > 1 and all(chunk.split("\n")[-1] in lines for chunk in chunks)
    sentences = "持有居住证的人可以办理。" * 200
    assert all(chunk.endswith("。") for chunk in split_message(sentences))
    assert split_message("") == [] and split_message("  \n ") == []
    assert split_message("x" * 2000) == ["x" * 1999, "x"]


def test_render_messages_numbers_buttons_across_messages():
    text, buttons = render_messages(
        [
            {"recipient_id": "u", "text": "第一条", "buttons": [{"title": "查看原文", "payload": "/show_measure"}]},
            {"recipient_id": "u", "custom": {"reply": "measure_answer", "measures": [22]}},
            {
                "recipient_id": "u",
                "text": "您是想问：",
                "buttons": [{"title": "甲", "payload": "/a"}, {"title": "乙", "payload": "/b"}],
            },
        ]
    )
    assert text == "第一条\n回复 1 查看原文\n\n您是想问：\n回复 2 甲\n回复 3 乙"
    assert [b["payload"] for b in buttons] == ["/show_measure", "/a", "/b"]
    assert render_messages([{"text": "a]]>b\x00"}])[0] == "a]] >b"


@pytest.mark.parametrize(
    "typed, number",
    [
        ("1", 1),
        (" 2 ", 2),
        ("３", 3),
        ("①", 1),
        ("12", 12),
        ("123", None),
        ("1个", None),
        ("", None),
        ("一", None),
        ("-1", None),
    ],
)
def test_button_choice(typed, number):
    assert button_choice(typed) == number


def test_every_reply_is_used_by_the_actions_or_the_wechat_channel():
    root = config.PROJECT_ROOT
    actions_source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((root / "actions").glob("*.py")))
    channel_source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(Path(wechat.__file__).parent.glob("*.py")))
    from bot.quality.validate import REPLY_USE

    by_actions = set(re.findall(REPLY_USE, actions_source))
    by_channel = set(re.findall(r'render\(\s*"([a-z_]+)"', channel_source))
    from bot.rasa_ext import guard

    assert {"wechat_text_only", "wechat_button_line", "wechat_unavailable"} <= by_channel
    assert by_channel <= set(load_replies()) | {"unavailable"}
    assert by_actions | by_channel | set(guard.REPLIES) == set(load_replies())
    assert load_replies()["wechat_button_line"].variables() == {"number", "title"}
    # No Chinese wording in the channel's code: it all comes from bot/replies/replies.yml.
    code = "\n".join(line for line in channel_source.splitlines() if not line.lstrip().startswith("#"))
    code = re.sub(r'"""[\s\S]*?"""', "", code)
    assert not re.search(r"[\u4e00-\u9fff]", code)


# -- unit: the stores -----------------------------------------------------------------------------


def test_memory_store_expiry_and_size_bound():
    now = [1000.0]
    store = MemoryStore(max_entries=5, clock=lambda: now[0])

    async def scenario():
        assert await store.add("a", "1", ttl=10) and not await store.add("a", "2", ttl=10)
        assert await store.get("a") == "1"
        now[0] += 11
        assert await store.get("a") is None and await store.add("a", "3", ttl=10)
        for i in range(10):
            await store.set(f"k{i}", str(i), ttl=100)
        assert len(store) == 5 and await store.get("k9") == "9" and await store.get("a") is None
        await store.delete("k9")
        assert await store.get("k9") is None
        now[0] += 101
        for i in range(5):  # the sweep drops what expired
            await store.set(f"n{i}", "x", ttl=1)
        assert await store.get("k5") is None

    asyncio.run(scenario())
    with pytest.raises(ValueError):
        MemoryStore(max_entries=0)


@pytest.fixture(params=["memory", "redis"])
def store_factory(request):
    """Makes stores of one kind; Redis stores of one test share a fresh key prefix (like replicas)."""
    if request.param == "memory":
        shared = MemoryStore()
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex}:"
    return lambda: RedisStore(url, prefix=prefix)


def test_store_contract(store_factory):
    async def scenario():
        store, replica = store_factory(), store_factory()
        assert await store.get("missing") is None
        assert await store.add("msg:1", "processing", ttl=30)
        assert not await replica.add("msg:1", "other", ttl=30)  # a second replica sees the claim
        assert await replica.get("msg:1") == "processing"
        await replica.set("msg:1", '{"state": "done"}', ttl=30)
        assert await store.get("msg:1") == '{"state": "done"}'
        await store.delete("msg:1")
        await store.delete("msg:1")
        assert await replica.get("msg:1") is None
        assert await store.add("short", "x", ttl=0.3)
        await asyncio.sleep(0.6)
        assert await store.get("short") is None and await replica.add("short", "y", ttl=5)
        results = await asyncio.gather(*(store_factory().add("race", str(i), ttl=30) for i in range(20)))
        assert results.count(True) == 1
        assert await store.set("中文键", "值 ✓", ttl=5) is None and await replica.get("中文键") == "值 ✓"
        for s in {id(store): store, id(replica): replica}.values():
            await s.close()

    asyncio.run(scenario())


def test_make_store(redis_url):
    assert isinstance(make_store(None), MemoryStore)
    store = make_store(redis_url)
    assert isinstance(store, RedisStore)
    asyncio.run(store.close())


# -- unit: the protocol class with a fake Rasa ----------------------------------------------------


def channel_settings(**changes) -> config.Settings:
    base = dict(
        wechat_token=wf.TOKEN,
        wechat_app_id=wf.APP_ID,
        wechat_app_secret=wf.APP_SECRET,
        wechat_aes_key=wf.AES_KEY,
        wechat_api_base="http://127.0.0.1:9",
        wechat_reply_timeout=2.0,
        redis_url=None,
    )
    return dataclasses.replace(config.load(), **{**base, **changes})


class FakeRasa:
    """Answers each message "答：<text>" with one button, after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0, answer: str | None = None, fail: bool = False) -> None:
        self.delay, self.answer, self.fail = delay, answer, fail
        self.received: list[tuple[str, str]] = []

    async def __call__(self, message) -> None:
        self.received.append((message.sender_id, message.text))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the dialogue broke")
        await message.output_channel.send_text_with_buttons(
            message.sender_id, self.answer or f"答：{message.text}", [{"title": "查看原文", "payload": "/show"}]
        )


def receive(channel: WeChatChannel, rasa: FakeRasa, xml: str, **query) -> wechat.HttpReply:
    return channel.receive({**wf.signed_query(), **query}, xml.encode("utf-8"), rasa)


def test_channel_is_off_without_a_token():
    channel = WeChatChannel(channel_settings(wechat_token=None))
    assert not channel.enabled
    assert channel.verify(wf.signed_query()).status == 404
    reply = asyncio.run(receive(channel, FakeRasa(), wf.text_xml("o1", "hi", 1)))
    assert reply.status == 404 and "WECHAT_TOKEN" in json.loads(reply.body)["error"]


def test_routes_answer_404_when_the_channel_is_off():
    """The Rasa input channel's real Sanic routes, served in process, with WECHAT_TOKEN unset."""
    import urllib.error
    import urllib.request

    from sanic import Sanic

    from bot.rasa_ext.channels.wechat import WeChatInput
    from tests.support.ports import free_port

    async def scenario():
        app = Sanic(f"wechat_off_{uuid.uuid4().hex[:8]}")
        channel = WeChatInput(channel_settings(wechat_token=None))
        rasa = FakeRasa()
        app.blueprint(channel.blueprint(rasa), url_prefix="/webhooks/wechat")
        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()

        def fetch(path: str, data: bytes | None = None) -> tuple[int, dict]:
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data), timeout=10
                ) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        loop = asyncio.get_running_loop()
        query = "&".join(f"{k}={v}" for k, v in wf.signed_query().items())
        try:
            results = [
                await loop.run_in_executor(None, fetch, path, data)
                for path, data in [
                    ("/webhooks/wechat/", None),
                    (f"/webhooks/wechat/webhook?{query}&echostr=1", None),
                    (f"/webhooks/wechat/webhook?{query}", wf.text_xml("o_off", "你好", 48).encode()),
                ]
            ]
        finally:
            await server.before_stop()
            await server.close()
            await server.after_stop()
        return results, rasa.received

    results, received = asyncio.run(scenario())
    assert [status for status, _ in results] == [404, 404, 404]
    assert all("WECHAT_TOKEN" in body["error"] for _, body in results) and received == []


def test_channel_dedupes_while_processing():
    rasa = FakeRasa(delay=0.3)
    channel = WeChatChannel(channel_settings())
    xml = wf.text_xml("o_dupe", "你好", 42)

    async def scenario():
        first = asyncio.ensure_future(receive(channel, rasa, xml))
        await asyncio.sleep(0.05)
        during = await receive(channel, rasa, xml)
        done = await first
        after = await receive(channel, rasa, xml)
        return during, done, after

    during, done, after = asyncio.run(scenario())
    assert during.body == "success" and rasa.received == [(conversation_of("o_dupe", channel.settings), "你好")]
    content = wf.Response(done.status, done.body).content
    assert content == "答：你好\n回复 1 查看原文" == wf.Response(after.status, after.body).content


def test_channel_delivers_by_the_api_when_wechat_hangs_up(fake_wechat):
    """WeChat closing the connection cancels the request; the answer still arrives by the API."""
    channel = WeChatChannel(channel_settings(wechat_api_base=fake_wechat.url))

    async def scenario():
        request = asyncio.ensure_future(receive(channel, FakeRasa(delay=0.2), wf.text_xml("o_hangup", "你好", 49)))
        await asyncio.sleep(0.05)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await asyncio.sleep(0.4)
        await channel.drain()

    asyncio.run(scenario())
    [sent] = fake_wechat.sends_to("o_hangup")
    assert sent.json["text"]["content"] == "答：你好\n回复 1 查看原文"


def test_channel_failure_gets_an_apology():
    channel = WeChatChannel(channel_settings())
    reply = asyncio.run(receive(channel, FakeRasa(fail=True), wf.text_xml("o_fail", "你好", 43)))
    assert render("wechat_unavailable")["text"] in reply.body


def test_channel_late_and_long_answers_use_the_customer_service_api(fake_wechat):
    channel = WeChatChannel(channel_settings(wechat_api_base=fake_wechat.url, wechat_reply_timeout=0.05))
    long_answer = "居住证持有人可以在居住地办理机动车注册登记。\n" * 120

    async def scenario():
        late = await receive(channel, FakeRasa(delay=0.3), wf.text_xml("o_late", "慢", 44))
        long = await receive(channel, FakeRasa(answer=long_answer), wf.text_xml("o_long", "长", 45))
        await asyncio.sleep(0.5)
        await channel.drain()
        return late, long

    tokens_before = len(fake_wechat.recorded("/cgi-bin/token"))
    late, long = asyncio.run(scenario())
    assert late.body == "success" and long.body == "success"
    [sent] = fake_wechat.sends_to("o_late")
    assert sent.json == {"touser": "o_late", "msgtype": "text", "text": {"content": "答：慢\n回复 1 查看原文"}}
    parts = [r.json["text"]["content"] for r in fake_wechat.sends_to("o_long")]
    assert len(parts) > 1 and all(len(p.encode()) < MAX_MESSAGE_BYTES for p in parts)
    assert "".join(parts).replace("\n", "") == (long_answer.strip() + "\n回复 1 查看原文").replace("\n", "")
    assert len(fake_wechat.recorded("/cgi-bin/token")) == tokens_before + 1  # the token was cached


def test_channel_without_api_credentials_logs_the_lost_answer(caplog):
    channel = WeChatChannel(channel_settings(wechat_app_secret=None, wechat_reply_timeout=0.01))
    assert channel.api is None

    async def scenario():
        reply = await receive(channel, FakeRasa(delay=0.1), wf.text_xml("o_nocreds", "慢", 46))
        await asyncio.sleep(0.3)
        await channel.drain()
        return reply

    assert asyncio.run(scenario()).body == "success"
    assert "WECHAT_APP_SECRET" in caplog.text


def test_channel_keeps_answering_when_redis_is_down():
    from tests.support.ports import free_port

    channel = WeChatChannel(channel_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    rasa = FakeRasa()
    reply = asyncio.run(receive(channel, rasa, wf.text_xml("o_noredis", "你好", 47)))
    assert "答：你好" in reply.body and rasa.received == [(conversation_of("o_noredis", channel.settings), "你好")]


def test_channel_unreachable_api_is_logged_not_raised(caplog):
    from tests.support.ports import free_port

    channel = WeChatChannel(channel_settings(wechat_api_base=f"http://127.0.0.1:{free_port()}"))
    assert asyncio.run(channel.api.send_text("o_x", "你好")) is False
    assert "unreachable" in caplog.text


def test_channel_token_refused_is_logged(fake_wechat, caplog):
    channel = WeChatChannel(channel_settings(wechat_api_base=fake_wechat.url, wechat_app_secret="wrong"))
    assert asyncio.run(channel.api.send_text("o_y", "你好")) is False
    assert "errcode 40013" in caplog.text and not fake_wechat.sends_to("o_y")


# -- unit: settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("WECHAT_AES_KEY", "too-short", "43-character"),
        ("WECHAT_AES_KEY", "!" * 43, "43-character"),
        ("WECHAT_REPLY_TIMEOUT", "5", "less than 5"),
        ("WECHAT_REPLY_TIMEOUT", "0", "more than 0"),
        ("WECHAT_REPLY_TIMEOUT", "soon", "seconds"),
        ("WECHAT_API_BASE", "api.weixin.qq.com", "https://"),
        ("REDIS_URL", "localhost:6379", "redis://"),
    ],
)
def test_bad_wechat_settings_are_named(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=message) as info:
        config.load()
    assert name in str(info.value)


def test_wechat_settings_defaults_and_secrets_kept_out_of_repr(monkeypatch):
    for name in (
        "WECHAT_TOKEN",
        "WECHAT_APP_ID",
        "WECHAT_APP_SECRET",
        "WECHAT_AES_KEY",
        "WECHAT_API_BASE",
        "WECHAT_REPLY_TIMEOUT",
        "REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = config.load()
    assert not settings.wechat_enabled and settings.redis_url is None
    assert (settings.wechat_api_base, settings.wechat_reply_timeout) == ("https://api.weixin.qq.com", 4.0)
    monkeypatch.setenv("WECHAT_TOKEN", "tok-secret")
    monkeypatch.setenv("WECHAT_APP_SECRET", "app-secret")
    monkeypatch.setenv("WECHAT_AES_KEY", wf.AES_KEY)
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:1234/")
    settings = config.load()
    assert settings.wechat_enabled and settings.wechat_api_base == "http://127.0.0.1:1234"
    assert (
        "tok-secret" not in repr(settings) and "app-secret" not in repr(settings) and wf.AES_KEY not in repr(settings)
    )
