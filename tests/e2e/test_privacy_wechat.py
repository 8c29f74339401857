"""Residents' ID-card, mobile and bank-card numbers sent through WeChat are never kept raw.

End to end against ``python -m bot run`` at the real WeChat webhook, with signed requests in
plaintext and safe (encrypted) mode: ``running_bot`` answers passively; ``slow_bot`` answers every
message through the fake WeChat API's customer-service send and keeps its channel state in Redis.
For each number (valid check digits, generated here; as typed by residents: plain, with spaces or
hyphens, full width) the test checks that

- the resident still gets the answer, and the privacy notice of ``bot/replies/replies.yml``;
- the tracker store holds the question with the number replaced by its placeholder, and the 👎
  feedback row holds the same redacted question;
- no form of the number (as typed, JSON-escaped, normalised, digits only) is in any file under
  the bot's directory (tracker and application databases, the servers' log) or under ``var/``,
  in any reply or customer-service message WeChat received, or in the Redis store.

Ordinary figures (800平方米, 15个工作日, 12389) are kept as typed, with no notice.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest

from bot import config
from bot.replies import render
from bot.text.privacy import load_placeholders
from tests.support import wechat_fake as wf
from tests.support.stored_numbers import CARD_19, ID_X, card_number, files_under, forms, full_width, id_number, leaks
from tests.support.wechat_users import conversation_of, new_msg_id, new_openid, user_turns

e2e = pytest.mark.e2e

ID_LEAP = id_number("450203", "20000229", "418")
ID_PLAIN = id_number("450103", "19880517", "263")
MOBILE = "15877012345"
MOBILE_2 = "18607719876"
CARD_16 = card_number("621700123456789")
# kind, the number as the resident types it, the question it is typed in, a word the answer has
# (None: any answer from the knowledge base; see test_id_placeholder_does_not_steer_the_topic).
CASES = [
    ("id_card", ID_PLAIN, "我的身份证号是{}，想问居住证怎么办", None),
    ("id_card", ID_X, "身份证{}的，身份证办下来要多久", "身份证"),
    ("id_card", full_width(ID_LEAP), "我身份证号码{}，毕业生落户需要什么", "毕业证"),
    ("mobile", MOBILE, "我手机号{}，身份证多久能拿到", "身份证"),
    ("mobile", "186 0771 9876", "有事打我电话 {}，居住证怎么办理", "居住证"),
    ("mobile", full_width(MOBILE_2), "联系电话{}，刻章要多久", "1天"),
    ("bank_card", CARD_16, "我的银行卡号是{}，毕业生落户需要什么", "毕业证"),
    ("bank_card", " ".join(CARD_19[i : i + 4] for i in range(0, 19, 4)), "银行卡{}，身份证快递要几天", "10个工作日"),
]
CASE_IDS = [
    "id",
    "id-x",
    "id-fullwidth-leap-day",
    "mobile",
    "mobile-spaced",
    "mobile-fullwidth",
    "card-16",
    "card-19-spaced",
]


def redis_value(client, key: bytes) -> bytes:
    """The value at ``key`` as bytes, whatever its Redis type."""
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"hash":
        return b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
    if kind == b"list":
        return b"\n".join(client.lrange(key, 0, -1))
    if kind in (b"set", b"zset"):
        return b"\n".join(client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1))
    return b""  # streams and modules' types: not used by the bot


def stored_everywhere(bot, fake_wechat, redis_url: str | None = None) -> dict[str, bytes]:
    """Everything the bot stored or sent, by where it was found.

    The bytes of every file the bot wrote (its run directory, with the tracker and application
    databases and the servers' log, and ``var/``), every request the fake WeChat API got, and
    every key and value in the Redis store.
    """
    haystacks = {str(p): p.read_bytes() for p in files_under(bot["tracker"].parent, config.PROJECT_ROOT / "var")}
    haystacks["the fake WeChat API's requests"] = b"\n".join(
        r.body + json.dumps(r.query).encode() for r in fake_wechat.recorded()
    )
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            haystacks["Redis"] = b"\n".join(k + b"=" + redis_value(client, k) for k in client.scan_iter())
        finally:
            client.close()
    return haystacks


def answer_text(response: wf.Response, fake_wechat, openid: str, expect: str, sent_before: int = 0) -> str:
    """The answer: the passive reply, or the customer-service messages sent for it.

    The customer-service messages are taken once the last one, which ends with ``expect``, has arrived.
    """
    assert response.status == 200, response.body
    if response.content is not None:
        return response.content
    deadline = time.monotonic() + 60
    while True:
        text = "\n".join(r.json["text"]["content"] for r in fake_wechat.sends_to(openid)[sent_before:])
        if expect in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def ask_with_number(bot, fake_wechat, typed: str, question: str, encrypt: bool) -> tuple[str, str, str]:
    """Send ``question`` with ``typed`` in it, then 👎 on the answer; returns (openid, text, answer)."""
    openid = new_openid("pii")
    text = question.format(typed)
    notice = render("privacy_notice")["text"]
    response = wf.post(bot["url"], wf.text_xml(openid, text, new_msg_id()), encrypt=encrypt)
    for form in forms(typed):
        assert form not in response.raw
    answer = answer_text(response, fake_wechat, openid, notice)
    down = re.search(r"^回复 (\d+) 👎", answer, re.MULTILINE)
    assert down, f"no 👎 button in the answer:\n{answer}"
    sent = len(fake_wechat.sends_to(openid))
    thanks = wf.post(bot["url"], wf.text_xml(openid, down.group(1), new_msg_id()), encrypt=encrypt)
    assert "反馈已记录" in answer_text(thanks, fake_wechat, openid, "反馈已记录", sent)
    return openid, text, answer


def check_never_kept_raw(
    bot,
    fake_wechat,
    kind: str,
    typed: str,
    question: str,
    topic: str | None,
    encrypt: bool,
    redis_url: str | None = None,
) -> None:
    """Ask with a number, give 👎, then check the answer, the stored turn and feedback.

    And every place the number could have been kept (see the module docstring).
    """
    openid, text, answer = ask_with_number(bot, fake_wechat, typed, question, encrypt)
    # (a) The resident is answered, and told not to send such numbers.
    assert "依据：" in answer and (topic is None or topic in answer), answer
    assert render("privacy_notice")["text"] in answer
    # The dialogue saw the question with the placeholder, and 👎 stored that question.
    redacted = text.replace(typed, load_placeholders()[kind])
    assert user_turns(bot, openid)[0] == redacted
    with sqlite3.connect(bot["app_db"]) as conn:
        rows = conn.execute(
            "SELECT value, channel, question FROM feedback WHERE sender_id = ?", (conversation_of(openid),)
        ).fetchall()
    assert rows == [("down", "wechat", redacted)]
    # (b), (c) No form of the number anywhere it could have been kept or sent.
    assert not leaks(forms(typed), stored_everywhere(bot, fake_wechat, redis_url))


def test_generated_numbers_have_valid_check_digits():
    assert id_number("110105", "19491231", "002") == "11010519491231002X"  # the standard's example
    assert card_number("622202123456789012") == "6222021234567890128"
    assert ID_X.endswith("X") and len({ID_PLAIN, ID_X, ID_LEAP}) == 3
    assert len(CARD_16) == 16 and len(CARD_19) == 19


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize("kind, typed, question, topic", CASES, ids=CASE_IDS)
def test_passive_reply_path_never_keeps_numbers_raw(running_bot, fake_wechat, kind, typed, question, topic, encrypt):
    check_never_kept_raw(running_bot, fake_wechat, kind, typed, question, topic, encrypt)


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize(
    "kind, typed, question, topic", [CASES[0], CASES[4], CASES[7]], ids=["id", "mobile-spaced", "card-19-spaced"]
)
def test_customer_service_path_never_keeps_numbers_raw(
    slow_bot, fake_wechat, redis_url, kind, typed, question, topic, encrypt
):
    check_never_kept_raw(slow_bot, fake_wechat, kind, typed, question, topic, encrypt, redis_url)


@e2e
@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize(
    "question",
    ["民宿不超过800平方米要审批吗？15个工作日能办好吗，还是打12389问", "８００平方米的民宿消防审批要多久"],
    ids=["ascii", "fullwidth"],
)
def test_ordinary_figures_are_kept(running_bot, fake_wechat, question, encrypt):
    openid = new_openid("fig")
    response = wf.post(running_bot["url"], wf.text_xml(openid, question, new_msg_id()), encrypt=encrypt)
    answer = answer_text(response, fake_wechat, openid, "依据：")
    assert answer and render("privacy_notice")["text"] not in answer
    assert user_turns(running_bot, openid) == [question]


@e2e
def test_id_placeholder_does_not_steer_the_topic(running_bot, fake_wechat):
    openid = new_openid("topic")
    response = wf.post(
        running_bot["url"], wf.text_xml(openid, f"我的身份证号是{ID_PLAIN}，想问居住证怎么办", new_msg_id())
    )
    assert "第（二十四）项" in answer_text(response, fake_wechat, openid, "依据：")
