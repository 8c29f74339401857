"""Every written form of a resident's number the attack run of issue 11 found stored raw.

Unit level: typed payloads keep only entities NLU could have found, a number split across two
messages of one sender is caught (in process and in Redis), sender ids holding a number become
a keyed pseudonym, and malformed senders are named. End to end, against ``python -m bot run``:
each form is sent through the REST channel, the web page's ``/api/message`` and the WeChat
webhook, and then every file under the bot's run directory and ``var/`` (tracker store,
application database, the servers' log with its access lines) and every reply is searched for
the number in every form it could have been stored in.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import config
from bot.rasa_ext import guard, payload
from bot.text.privacy import contains_personal_number, load_placeholders
from tests.support import wechat_fake as wf
from tests.support.stored_numbers import CARD_19, ID_X, files_under, folded_leaks, forms, leaks
from tests.support.wechat_users import new_msg_id, new_openid

e2e = pytest.mark.e2e
VALID_ID = "11010519491231002X"
PHONE = "13912345678"
CARD = "6222020200112233446"  # Luhn-valid (the "6222 - 0202 - 0011 - 2233 - 446")
ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in PHONE)


# --- typed payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, expected",
    [
        ('/ask_service_weekend{"city":"南宁"}', '/ask_service_weekend{"city":"南宁"}'),
        (
            '/ask_service_weekend{"city":"\\u0031\\u0033\\u0039\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038"}',
            "/ask_service_weekend",
        ),
        ('/ask_service_weekend{"city":"<script>alert(1)</script>请拨打4001234567"}', "/ask_service_weekend"),
        ('/ask_service_weekend{"city":"北京"}', "/ask_service_weekend"),  # a city, but not one of ours
        ('/ask_service_weekend{"city":["南宁"]}', "/ask_service_weekend"),
        ('/ask_service_weekend{"city":"南宁","role":"x","password":"1"}', '/ask_service_weekend{"city":"南宁"}'),
        ('/ask_service_weekend{"city":"南宁"}然后说点别的13912345678', '/ask_service_weekend{"city":"南宁"}'),
        ('/ask_service_weekend{"city":', "/ask_service_weekend"),
        ('/ask_service_weekend{"city":"南宁"', "/ask_service_weekend"),
        ("/ask_service_weekend{" + '"a":' * 50 + "1}", "/ask_service_weekend"),
        ('/show_measure{"measure_number":"22"}', '/show_measure{"measure_number":"22"}'),
        ('/show_measure{"measure_number":22}', '/show_measure{"measure_number":"22"}'),
        ('/show_measure{"measure_number":"99999999999999999999999"}', "/show_measure"),
        ('/show_measure{"measure_number":"0"}', "/show_measure"),
        ('/show_measure{"measure_number":1e400}', "/show_measure"),
        ('/show_measure{"measure_number":true}', "/show_measure"),
        ('/ask_id_card_pickup{"pickup_method":"快递"}', '/ask_id_card_pickup{"pickup_method":"快递"}'),
        ("/ask_settlement_graduates@0.9", "/ask_settlement_graduates@0.9"),
        ("/restart", "/restart"),  # Rasa's own command: passed on
        ('/not_an_intent{"city":"x"}', '/not_an_intent{"city":"x"}'),  # words for NLU, not a payload
        ("毕业生落户需要什么", "毕业生落户需要什么"),
        ("", ""),
    ],
)
def test_typed_payloads_keep_only_values_nlu_could_find(typed, expected):
    assert payload.sanitize(typed) == expected


def test_payload_lookups_come_from_the_training_data():
    tables = payload.lookup_values()
    assert {"city", "document", "pickup_method", "area"} <= set(tables)
    assert "南宁" in tables["city"] and "崇左" in tables["city"] and "北京" not in tables["city"]
    assert "measure_number" in payload.NUMBER_ENTITIES and "ask_service_weekend" in payload.domain_intents()


# --- numbers split across messages ---------------------------------------------------------------

SPLITS = [
    ("我的手机是139", "12345678", PHONE),
    ("我的手机是139 ", "1234 5678，居住证怎么办", PHONE),
    ("手机139-1234", "-5678", PHONE),
    ("我的电话一三九", "一二三四五六七八", PHONE),
    ("身份证110105", "19491231002X", VALID_ID),
    ("身份证 110105 1949", "1231 002X 想办居住证", VALID_ID),
    ("卡号6222 0202 ", "0011 2233 446", CARD),
]


def _prepare_all(messages: list[str], sender: str, settings: config.Settings) -> list[str]:
    return [guard.prepare(m, sender, None, settings, limited=False).text for m in messages]


@pytest.fixture(params=["local", "redis"])
def split_settings(request) -> config.Settings:
    if request.param == "local":
        return replace(config.load(), redis_url=None)
    return replace(config.load(), redis_url=request.getfixturevalue("redis_url"))


@pytest.mark.parametrize("first, second, number", SPLITS)
def test_number_split_across_two_messages_is_caught(split_settings, first, second, number):
    stored = _prepare_all([first, second], f"split-{uuid.uuid4().hex}", split_settings)
    assert not contains_personal_number("".join(stored)), stored
    assert stored[1] != second and any(p in stored[1] for p in load_placeholders().values())
    assert stored[0] == first  # the first part alone is not a number and stays as typed


# Splits the attack run of issue 22 found stored raw: after a separator, over three or four
# messages, 17 digits of an ID and its X in the next message.
SPLITS_MANY = [
    (["我的手机139，", "12345678"], PHONE),
    (["我的手机139", "1234", "5678"], PHONE),
    (["手机 139", "-1234-", "56", "78"], PHONE),
    (["我的电话一三九，", "一二三四，", "五六七八"], PHONE),
    (["身份证110105", "19491231", "002X"], VALID_ID),
    (["身份证11010519491231002", "X"], VALID_ID),
    (["卡号6222", "0202", "0011 2233", "446"], CARD),
]


@pytest.mark.parametrize("messages, number", SPLITS_MANY)
def test_number_split_across_several_messages_is_caught(split_settings, messages, number):
    stored = _prepare_all(messages, f"many-{uuid.uuid4().hex}", split_settings)
    assert not contains_personal_number("".join(stored)), stored
    assert any(p in "".join(stored) for p in load_placeholders().values()), stored


@settings(max_examples=60, deadline=None)
@given(
    rest=st.text("0123456789", min_size=8, max_size=8),
    cuts=st.lists(st.integers(1, 10), min_size=1, max_size=3, unique=True),
    punct=st.sampled_from(["", " ", "，", "-", "。"]),
)
def test_any_mobile_split_over_two_to_four_messages_is_caught(rest, cuts, punct):
    number = "139" + rest
    bounds = [0, *sorted(cuts), 11]
    parts = [number[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    messages = [f"我的手机{parts[0]}{punct}", *(p + punct for p in parts[1:-1]), parts[-1]]
    stored = _prepare_all(messages, f"gen-{uuid.uuid4().hex}", replace(config.load(), redis_url=None))
    assert not contains_personal_number("".join(stored).replace(punct, "") if punct else "".join(stored)), stored
    assert number not in "".join(stored).replace(punct, "")


@pytest.mark.parametrize(
    "messages",
    [
        ["我等了15", "天了"],
        ["办证要2018", "年的材料吗"],
        ["第22", "项说的是什么"],
        ["12389", "打不通"],
        ["我的手机是139", "你好"],
        ["我的手机是139", "居住证怎么办"],
        ["第1", "2", "3项"],
        ["办了2", "次，", "15天"],
    ],
)
def test_ordinary_figures_across_messages_are_kept(split_settings, messages):
    assert _prepare_all(messages, f"keep-{uuid.uuid4().hex}", split_settings) == messages


def test_split_number_is_caught_for_the_same_sender_only_and_within_the_window(monkeypatch):
    settings = replace(config.load(), redis_url=None)
    a, b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    guard.prepare("我的手机是139", a, None, settings, limited=False)
    assert guard.prepare("12345678", b, None, settings, limited=False).text == "12345678"
    monkeypatch.setattr(guard.TAILS, "window", 0.0)
    guard.prepare("我的手机是139", a, None, settings, limited=False)
    time.sleep(0.01)
    assert guard.prepare("12345678", a, None, settings, limited=False).text == "12345678"


def test_redis_keeps_only_redacted_tails_and_they_expire(redis_url):
    import redis

    settings = replace(config.load(), redis_url=redis_url)
    sender = f"r-{uuid.uuid4().hex}"
    guard.prepare(f"电话{PHONE}，卡号6222 0202 ", sender, None, settings, limited=False)
    client = redis.Redis.from_url(redis_url)
    try:
        key = f"gxga:tail:{sender}".encode()
        assert client.get(key) == "6222 0202 ".encode() and 0 < client.ttl(key) <= guard.SPLIT_NUMBER_WINDOW_S
        assert PHONE.encode() not in b"".join(client.get(k) or b"" for k in client.scan_iter(b"gxga:tail:*"))
    finally:
        client.close()


def test_redis_down_still_catches_split_numbers():
    settings = replace(config.load(), redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    stored = _prepare_all(["我的手机是139", "12345678"], f"down-{uuid.uuid4().hex}", settings)
    assert not contains_personal_number("".join(stored))


def _closed_port() -> int:
    from tests.support.ports import free_port

    return free_port()


# --- senders ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender, problem",
    [
        (None, "required"),
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 129, "over 128"),
        (["a"], "string"),
        ({"a": 1}, "string"),
        (True, "string"),
        (1.5, "string"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("x" * 128, None),
        ("web-3f2a", None),
        (42, None),
        ("微信用户", None),
    ],
)
def test_sender_problems_are_named(sender, problem):
    found = guard.sender_problem(sender)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(
    "sender",
    [
        PHONE,
        f"user-{PHONE}",
        f"{VALID_ID}",
        "139 1234 5678",
        "１３９１２３４５６７８",
        f"0086{PHONE}",
        "+86 139 1234 5678",
        "壹叁玖壹贰叁肆伍陆柒捌",
        "110105491231002",
    ],
)
def test_sender_ids_with_numbers_become_stable_pseudonyms(tmp_path, sender):
    settings = replace(config.load(), var_dir=tmp_path, sender_hash_key=None)
    pseudonym = guard.safe_sender(sender, settings)
    assert pseudonym.startswith(guard.PSEUDONYM_PREFIX) and not contains_personal_number(pseudonym)
    assert guard.safe_sender(sender, settings) == pseudonym  # the conversation continues
    assert (tmp_path / "sender_hash.key").stat().st_mode & 0o077 == 0  # the key is the owner's only
    other_key = replace(settings, sender_hash_key="another installation's key")
    assert guard.safe_sender(sender, other_key) != pseudonym  # keyed: not a plain hash of the number
    assert guard.log_id(sender) != sender and PHONE not in guard.log_id(sender)


@pytest.mark.parametrize("sender", ["web-3f2a9c", "oFk2s0abcDEF", "g-12345", "2018"])
def test_ordinary_sender_ids_are_kept(sender):
    assert guard.safe_sender(sender, config.load()) == sender


# --- end to end: every channel, every store ---------------------------------------------------

# (case id, the messages one resident sends in a row, the number they hold)
FORMS = [
    ("id-spaced", ["我的身份证 110105 19491231 002X 想办居住证"], VALID_ID),
    ("id-dashed", ["身份证110105-19491231-002X丢了怎么补"], VALID_ID),
    ("id-letters-touching", [f"身份证{VALID_ID}ok"], VALID_ID),
    ("id-x-generated", [f"身份证号{ID_X}，身份证办下来要多久"], ID_X),
    ("mobile-spaced-digits", ["电话 1 3 9 1 2 3 4 5 6 7 8 居住证怎么办"], PHONE),
    ("mobile-dots", ["手机139.1234.5678，刻章要多久"], PHONE),
    ("mobile-em-dash", ["手机139—1234—5678，刻章要多久"], PHONE),
    ("mobile-enclosed", ["手机⑬912345678，居住证怎么办"], PHONE),
    ("mobile-arabic-indic", [f"手机{ARABIC_INDIC}，居住证怎么办"], PHONE),
    ("mobile-chinese", ["我的手机一三九一二三四五六七八，居住证怎么办"], PHONE),
    ("mobile-split", ["我的手机是159", "77018642"], "15977018642"),
    ("card-spaced-dashes", ["卡号6222 - 0202 - 0011 - 2233 - 446，身份证快递要几天"], CARD),
    ("card-19-spaced", [f"银行卡{' '.join(CARD_19[i : i + 4] for i in range(0, 19, 4))}，身份证快递要几天"], CARD_19),
    # issue 22's attack forms
    ("mobile-daxie", ["手机壹叁玖壹贰叁肆伍陆柒捌，居住证怎么办"], PHONE),
    ("mobile-circle-zero-liang", ["电话幺三九○两三四五六七八，刻章要多久"], "13902345678"),
    ("mobile-keycaps", ["".join(d + "\ufe0f\u20e3" for d in PHONE) + "居住证怎么办"], PHONE),
    ("mobile-combining", ["手机" + "".join(d + "\u0332" for d in PHONE) + "，居住证怎么办"], PHONE),
    ("mobile-dotted-numerals", ["手机⒈⒊⒐⒈⒉⒊⒋⒌⒍⒎⒏，居住证怎么办"], PHONE),
    ("mobile-0086", ["电话0086 139 1234 5678，居住证怎么办"], PHONE),
    ("mobile-plus86", ["电话+86 13912345678，居住证怎么办"], PHONE),
    ("mobile-leading-zero", ["电话013912345678，居住证怎么办"], PHONE),
    ("mobile-brackets", ["电话（139）1234-5678，居住证怎么办"], PHONE),
    ("mobile-tilde-colon", ["电话139～1234：5678，居住证怎么办"], PHONE),
    ("id-space-before-x", ["身份证11010519491231002 X，身份证办下来要多久"], VALID_ID),
    ("id-cha", ["身份证一一零一零五一九四九一二三一零零二叉，身份证丢了怎么补"], VALID_ID),
    ("id-old-15", ["老身份证110105491231002还能用吗"], "110105491231002"),
]

# Numbers typed over several messages: afterwards no message of the conversation keeps a digit.
SPLIT_FORMS = [
    ("three-messages", ["我的手机139", "1234", "5678，居住证怎么办"]),
    ("after-comma", ["我的手机139，", "12345678"]),
    ("id-17-then-x", ["身份证11010519491231002", "X，身份证丢了怎么补"]),
    ("card-four-messages", ["卡号6222", "0202", "0011 2233", "446"]),
]


def _post_json(url: str, body: dict, headers: dict | None = None) -> tuple[int, object, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)


def _send(bot, channel: str, sender: str, message: str) -> str:
    """Send one message on ``channel``; the text of every reply, joined."""
    if channel == "wechat":
        response = wf.post(bot["url"], wf.text_xml(sender, message, new_msg_id()), encrypt=True)
        assert response.status == 200, response.body
        return response.content or ""
    url = f"{bot['url']}/webhooks/rest/webhook" if channel == "rest" else f"{bot['web_url']}/api/message"
    status, replies, _ = _post_json(url, {"sender": sender, "message": message})
    assert status == 200, replies
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in replies)


def _stored(bot) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in files_under(bot["tracker"].parent, config.PROJECT_ROOT / "var")}


@e2e
@pytest.mark.parametrize("channel", ["rest", "web", "wechat"])
@pytest.mark.parametrize("case, messages, number", FORMS, ids=[f[0] for f in FORMS])
def test_no_form_of_a_number_is_stored_or_logged(running_bot, channel, case, messages, number):
    sender = new_openid("forms") if channel == "wechat" else f"forms-{uuid.uuid4().hex[:8]}"
    replies = [_send(running_bot, channel, sender, message) for message in messages]
    time.sleep(0.3)  # the servers' log lines are flushed
    # the number, and each message up to its first comma as typed (short ASCII forms match anything)
    typed = {form for m in messages for form in forms(m.split("，")[0]) if not form.isascii() or len(form) > 8}
    needles = forms(number) | typed | ({messages[-1]} if case == "mobile-split" else set())
    haystacks = {"the replies": "\n".join(replies).encode("utf-8"), **_stored(running_bot)}
    assert not leaks(needles, haystacks)
    assert not folded_leaks({number}, haystacks)  # its digits in any form, anywhere


@e2e
@pytest.mark.parametrize("channel", ["rest", "web", "wechat"])
@pytest.mark.parametrize("case, messages", SPLIT_FORMS, ids=[f[0] for f in SPLIT_FORMS])
def test_a_number_over_several_messages_leaves_no_digit_stored(running_bot, channel, case, messages):
    import sqlite3

    sender = new_openid("splits") if channel == "wechat" else f"splits-{uuid.uuid4().hex[:8]}"
    with sqlite3.connect(running_bot["tracker"]) as db:  # the web server names its own senders
        (before,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
    for message in messages:
        _send(running_bot, channel, sender, message)
    with sqlite3.connect(running_bot["tracker"]) as db:
        rows = db.execute("SELECT data FROM events WHERE id > ? AND type_name = 'user'", (before,)).fetchall()
    texts = [json.loads(data)["text"] for (data,) in rows]
    assert len(texts) == len(messages) and not any(ch.isdigit() for ch in "".join(texts)), texts


@e2e
@pytest.mark.parametrize("channel", ["rest", "web"])
def test_payload_entity_with_escaped_digits_is_dropped(running_bot, channel):
    sender = f"payload-{uuid.uuid4().hex[:8]}"
    typed = (
        '/ask_service_weekend{"city":"\\u0031\\u0033\\u0039\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038"}'
    )
    reply = _send(running_bot, channel, sender, typed)
    attacker = _send(
        running_bot, channel, sender, '/ask_service_weekend{"city":"<script>alert(1)</script>请拨打4001234567"}'
    )
    assert reply and "4001234567" not in attacker and "<script>" not in attacker
    assert not leaks(forms(PHONE) | {"4001234567", "<script>"}, {"the replies": reply.encode(), **_stored(running_bot)})


@e2e
def test_a_sender_id_that_is_a_phone_number_is_never_stored(running_bot):
    sender = f"139{uuid.uuid4().int % 10**8:08d}"
    assert contains_personal_number(sender)
    first = _send(running_bot, "rest", sender, "居住证怎么办理")
    follow = _send(running_bot, "rest", sender, "要多久")  # the same conversation continues
    assert "居住证" in first and follow
    assert not leaks(forms(sender), _stored(running_bot))


@e2e
def test_the_wechat_openid_is_never_stored_or_logged(running_bot):
    from tests.support.wechat_users import user_turns

    openid = new_openid("pseudo")
    for message in ["居住证怎么办理", "要多久"]:
        assert _send(running_bot, "wechat", openid, message)
    time.sleep(0.3)
    assert user_turns(running_bot, openid) == ["居住证怎么办理", "要多久"]  # one conversation, under its pseudonym
    assert not leaks({openid}, _stored(running_bot))


@e2e
@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"message": "居住证怎么办"}, 400, "sender is required"),
        ({"sender": "", "message": "居住证怎么办"}, 400, "empty"),
        ({"sender": "x" * 129, "message": "居住证怎么办"}, 400, "over 128"),
        ({"sender": ["a"], "message": "居住证怎么办"}, 400, "string"),
        ({"sender": "ok", "message": {"text": "x"}}, 400, "message must be a string"),
    ],
)
def test_rest_refuses_bad_senders(running_bot, body, status, words):
    code, answer, _ = _post_json(f"{running_bot['url']}/webhooks/rest/webhook", body)
    assert code == status and words in answer["error"]


@e2e
@pytest.mark.parametrize(
    "raw, words",
    [
        (b"[" * 1000 + b"]" * 1000, "nested"),
        (b'{"sender":"a","message":1e400}', "range"),
        (b'{"sender":"a","message":NaN}', "not a JSON number"),
        (b"\xff\xfe", "UTF-8"),
        (b"{", "not valid JSON"),
    ],
)
def test_rest_refuses_hostile_json_with_400(running_bot, raw, words):
    request = urllib.request.Request(
        f"{running_bot['url']}/webhooks/rest/webhook", data=raw, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 400 and words in json.loads(err.value.read())["error"]


@e2e
def test_rest_rate_limit_says_when_to_come_back(running_bot):
    sender = f"fast-{uuid.uuid4().hex[:8]}"
    for _ in range(config.load().rate_limit_sender):
        _post_json(f"{running_bot['url']}/webhooks/rest/webhook", {"sender": sender, "message": "/greet"})
    status, replies, headers = _post_json(
        f"{running_bot['url']}/webhooks/rest/webhook", {"sender": sender, "message": "/greet"}
    )
    assert status == 429 and int(headers["Retry-After"]) > 0
    from bot.replies import render

    assert replies[0]["text"] == render("rate_limited")["text"]


@e2e
def test_staff_channel_needs_the_token_and_is_not_a_residents_conversation(running_bot):
    from bot.security.staff import bearer_header
    from bot.webapp import review

    url = f"{running_bot['url']}/webhooks/staff/webhook"
    body = {"sender": f"console-x-{uuid.uuid4().hex[:6]}", "message": "qwxz zzkq vvbn"}
    assert _post_json(url, body)[0] == 401
    assert _post_json(url, body, bearer_header("wrong"))[0] == 403
    status, replies, _ = _post_json(url, body, bearer_header(running_bot["token"]))
    assert status == 200 and replies
    # a resident who calls itself like our tools is still a resident
    resident = {"sender": f"eval-{uuid.uuid4().hex[:6]}", "message": "qwxz zzkq vvbn"}
    assert _post_json(f"{running_bot['url']}/webhooks/rest/webhook", resident)[0] == 200
    listed = {a.sender for a in review.residents_questions(f"sqlite:///{running_bot['tracker']}")}
    assert resident["sender"] in listed and body["sender"] not in listed
