"""ID-card, mobile and bank-card numbers are found and replaced; ordinary figures are not."""

from __future__ import annotations

import functools
import json
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import privacy
from bot.text.normalize import normalize_text
from bot.text.privacy import CARD_PLACEHOLDER, ID_PLACEHOLDER, PHONE_PLACEHOLDER, is_valid_id_number, luhn_ok, redact

VALID_ID = "11010519491231002X"  # the standard's published example
VALID_CARD = "6222021234567890128"  # Luhn-valid, 19 digits


def test_known_values():
    assert is_valid_id_number(VALID_ID)
    assert not is_valid_id_number("110105194912310021")  # wrong check digit
    assert not is_valid_id_number("110105194913310027")  # month 13
    assert luhn_ok(VALID_CARD) and not luhn_ok("6222021234567890129")


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"我的身份证号是{VALID_ID}能办吗", f"我的身份证号是{ID_PLACEHOLDER}能办吗"),
        ("电话13812345678联系我", f"电话{PHONE_PLACEHOLDER}联系我"),
        ("手机 138-1234-5678", f"手机 {PHONE_PLACEHOLDER}"),
        (f"卡号{VALID_CARD}被冻结了", f"卡号{CARD_PLACEHOLDER}被冻结了"),
        ("不超过800平方米、15个工作日、拨打12389", "不超过800平方米、15个工作日、拨打12389"),
        ("2018年8月10日发布，前100位企业", "2018年8月10日发布，前100位企业"),
        ("订单号1234567890123456", "订单号1234567890123456"),
        ("", ""),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("手机１３８１２３４５６７８", f"手机{PHONE_PLACEHOLDER}"),  # full width (全角), as IMEs type
        ("身份证１１０１０５１９４９１２３１００２Ｘ", f"身份证{ID_PLACEHOLDER}"),
        ("电话138\u200b1234\u200b5678好", f"电话{PHONE_PLACEHOLDER}好"),  # zero-width spaces inside
        ("电话 138  1234\u30005678。", f"电话 {PHONE_PLACEHOLDER}。"),
        ("卡号６２２２ ０２１２ ３４５６ ７８９０ １２８", f"卡号{CARD_PLACEHOLDER}"),
        ("１５个工作日，８００平方米", "１５个工作日，８００平方米"),
    ],
    ids=["fullwidth-mobile", "fullwidth-id", "zero-width", "ideographic-space", "fullwidth-card", "fullwidth-ordinary"],
)
def test_redact_sees_numbers_as_the_normaliser_will(text, expected):
    assert redact(text) == expected
    if expected != text:  # what NLU stores after normalising has no digits left
        assert not any(ch.isdigit() for ch in normalize_text(expected))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("电话13912345678，15877012345", f"电话{PHONE_PLACEHOLDER}，{PHONE_PLACEHOLDER}"),
        ("电话13912345678 15877012345", f"电话{PHONE_PLACEHOLDER} {PHONE_PLACEHOLDER}"),
        (f"卡号{VALID_CARD} 13912345678", f"卡号{CARD_PLACEHOLDER} {PHONE_PLACEHOLDER}"),
        (f"{VALID_ID}、13912345678", f"{ID_PLACEHOLDER}、{PHONE_PLACEHOLDER}"),
        (f"{VALID_ID}13912345678", f"{ID_PLACEHOLDER}{PHONE_PLACEHOLDER}"),
        ("8613912345678", PHONE_PLACEHOLDER),
        ("服务器172.217.160.14连不上", "服务器172.217.160.14连不上"),  # an IPv4 address, not a mobile
        ("2018 15 800 12389", "2018 15 800 12389"),
        ("订单1234567890123456 12389", "订单1234567890123456 12389"),
    ],
    ids=[
        "two-mobiles-comma",
        "two-mobiles-space",
        "card-then-mobile",
        "id-then-mobile",
        "id-x-touching-mobile",
        "country-code",
        "ipv4",
        "ordinary-figures-spaced",
        "order-number-and-hotline",
    ],
)
def test_numbers_next_to_each_other_are_each_found(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [" ".join("1" * 2000), "1" + " -" * 5000 + "x", "１" * 3000, "一" * 3000],
    ids=["spaced-digits", "separator-run", "fullwidth-run", "chinese-numeral-run"],
)
def test_long_hostile_runs(text):
    # a run this long is no personal number; the text comes back as it was
    assert redact(text) == text


def test_placeholders_come_from_the_data_file():
    data = yaml.safe_load(privacy.DEFAULT_PATH.read_text(encoding="utf-8"))["placeholders"]
    assert dict(privacy.load_placeholders()) == data
    assert (ID_PLACEHOLDER, PHONE_PLACEHOLDER, CARD_PLACEHOLDER) == (data["id_card"], data["mobile"], data["bank_card"])
    assert privacy.load_placeholders() is privacy.load_placeholders()  # read once
    with pytest.raises(AttributeError):
        privacy.NOT_A_PLACEHOLDER  # noqa: B018 - the bare attribute access is what must raise


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        ("placeholders: [x", "not valid UTF-8 YAML"),
        ("version: 1\n", "expected a 'placeholders:' mapping"),
        ("placeholders:\n  id_card: '[证]'\n  mobile: '[手机]'\n", "missing bank_card"),
        (
            "placeholders:\n  id_card: '[证]'\n  mobile: '[手机]'\n  bank_card: '[卡]'\n  passport: '[护照]'\n",
            "unknown passport",
        ),
        ("placeholders:\n  id_card: ''\n  mobile: '[手机]'\n  bank_card: '[卡]'\n", "placeholders.id_card"),
        ("placeholders:\n  id_card: '[证]'\n  mobile: '[手机1]'\n  bank_card: '[卡]'\n", "placeholders.mobile"),
        ("placeholders:\n  id_card: '[证]'\n  mobile: '[手机]'\n  bank_card: [1]\n", "placeholders.bank_card"),
    ],
    ids=["missing-file", "not-yaml", "no-mapping", "missing-kind", "unknown-kind", "empty", "digit", "not-text"],
)
def test_broken_placeholder_file_is_named(tmp_path, content, message):
    path = tmp_path / "privacy.yml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(privacy.PrivacyDataError, match=re.escape(message)) as info:
        privacy.load_placeholders(path)
    assert str(info.value).startswith(str(path))


def test_redact_fails_closed_when_the_file_is_broken(tmp_path, monkeypatch):
    broken = tmp_path / "privacy.yml"
    broken.write_text("placeholders: {}\n", encoding="utf-8")
    monkeypatch.setattr(privacy, "load_placeholders", functools.partial(privacy.load_placeholders, broken))
    with pytest.raises(privacy.PrivacyDataError, match="missing id_card"):
        redact("电话13812345678")


# Forms an attack run found stored raw (issue 11): separators inside, letters touching, other
# Unicode digit forms, Chinese numerals.
@pytest.mark.parametrize(
    "text, expected",
    [
        ("我的身份证 110105 19491231 002X 想办居住证", f"我的身份证 {ID_PLACEHOLDER} 想办居住证"),
        ("110105-19491231-002X", ID_PLACEHOLDER),
        ("1 3 9 1 2 3 4 5 6 7 8", PHONE_PLACEHOLDER),
        ("6222 - 0212 - 3456 - 7890 - 128", CARD_PLACEHOLDER),
        ("139.1234.5678", PHONE_PLACEHOLDER),
        ("139—1234—5678", PHONE_PLACEHOLDER),
        ("139/1234/5678", PHONE_PLACEHOLDER),
        ("身份证11010519491231002Xok", f"身份证{ID_PLACEHOLDER}ok"),
        ("tel13912345678ok", f"tel{PHONE_PLACEHOLDER}ok"),
        ("手机⑬912345678", f"手机{PHONE_PLACEHOLDER}"),
        ("手机\u0661\u0663\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", f"手机{PHONE_PLACEHOLDER}"),
        ("一三九一二三四五六七八", PHONE_PLACEHOLDER),
        ("幺三九幺二三四五六七八", PHONE_PLACEHOLDER),
        ("我的号码是一三九 一二三四 五六七八谢谢", f"我的号码是{PHONE_PLACEHOLDER}谢谢"),
    ],
)
def test_redact_every_form_of_a_number(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2018-08-10",
        "2018.08.10",
        "居住证1年2次 3-5天",
        "一次办、一年多次、三个月多次",
        "第一二项",
        "电话0771-1234567",
        "12, 13, 14, 15, 16, 17",
        "不超过4层、800平方米、14个标准间",
        "10人以上、前100位、前30位",
        "拨打12389或110",
    ],
)
def test_ordinary_figures_stay(text):
    assert redact(text) == text


_SEPARATORS = st.sampled_from(["", "", " ", "-", "—", ".", "·", "/", " - ", "\u200b", "\u3000"])
_FORMS = [
    str.maketrans("0123456789", f)
    for f in (
        "0123456789",
        "０１２３４５６７８９",
        "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
        "〇一二三四五六七八九",
        "零幺二三四五六七八九",
    )
]


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["13", "15", "18", "19"]),
    rest=st.text("0123456789", min_size=9, max_size=9),
    seps=st.lists(_SEPARATORS, min_size=10, max_size=10),
    form=st.integers(0, len(_FORMS) - 1),
    before=st.sampled_from(["", "手机", "电话是", "tel", "号码"]),
    after=st.sampled_from(["", "谢谢", "ok", "，"]),
)
def test_any_mobile_number_with_any_separators_and_digit_forms_is_redacted(prefix, rest, seps, form, before, after):
    digits = (prefix + rest).translate(_FORMS[form])
    typed = digits[0] + "".join(sep + d for sep, d in zip(seps, digits[1:], strict=True))
    out = redact(before + typed + after)
    assert PHONE_PLACEHOLDER in out and out.endswith(after) and out.startswith(before)
    assert not any(ch.isdigit() for ch in normalize_text(out))


# Forms the attack run of issue 22 found stored raw: other numerals, marks, prefixes, brackets,
# more separators, the ID's X after a separator or as 叉, the old 15-digit ID, a 17-digit ID.
OLD_ID = "110105491231002"  # the 15-digit form: region, YYMMDD, sequence


@pytest.mark.parametrize(
    "text, expected",
    [
        ("手机壹叁玖壹贰叁肆伍陆柒捌", f"手机{PHONE_PLACEHOLDER}"),
        ("手机壹參玖壹貳參肆伍陸柒捌", f"手机{PHONE_PLACEHOLDER}"),
        ("幺三九○一二三四五六七", PHONE_PLACEHOLDER),
        ("幺三九◯一二三四五六七", PHONE_PLACEHOLDER),
        ("一三九零两三四五六七八", PHONE_PLACEHOLDER),
        ("一三九零兩三四五六七八好", f"{PHONE_PLACEHOLDER}好"),
        ("1️⃣3️⃣9️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣谢谢", f"{PHONE_PLACEHOLDER}谢谢"),
        ("1\u03323\u03329\u03321\u03322\u03323\u03324\u03325\u03326\u03327\u03328\u0332", PHONE_PLACEHOLDER),
        ("1\ufe0e39123\ufe0f45678", PHONE_PLACEHOLDER),
        ("⒈⒊⒐⒈⒉⒊⒋⒌⒍⒎⒏", PHONE_PLACEHOLDER),
        ("⑴⑶⑼⑴⑵⑶⑷⑸⑹⑺⑻", PHONE_PLACEHOLDER),
        ("电话+86 139 1234 5678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话+8613912345678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话＋８６ １３９１２３４５６７８", f"电话{PHONE_PLACEHOLDER}"),
        ("电话0086 13912345678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话008613912345678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话013912345678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话(139)1234-5678", f"电话({PHONE_PLACEHOLDER}"),
        ("电话（139）1234-5678", f"电话（{PHONE_PLACEHOLDER}"),
        ("电话139―1234―5678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话139~1234~5678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话139～1234～5678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话139。1234。5678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话139：1234：5678", f"电话{PHONE_PLACEHOLDER}"),
        ("电话139*1234*5678", f"电话{PHONE_PLACEHOLDER}"),
        ("身份证11010519491231002 X", f"身份证{ID_PLACEHOLDER}"),
        ("身份证11010519491231002-x", f"身份证{ID_PLACEHOLDER}"),
        ("身份证11010519491231002叉", f"身份证{ID_PLACEHOLDER}"),
        ("身份证11010519491231002 叉 丢了", f"身份证{ID_PLACEHOLDER} 丢了"),
        ("身份证11010519491231002×", f"身份证{ID_PLACEHOLDER}"),
        ("身份证一一零一零五一九四九一二三一零零二叉", f"身份证{ID_PLACEHOLDER}"),
        (f"老身份证{OLD_ID}还能用吗", f"老身份证{ID_PLACEHOLDER}还能用吗"),
        ("身份证11010519491231002", f"身份证{ID_PLACEHOLDER}"),  # the check character still to come
        ("身份证110105194912310021", f"身份证{ID_PLACEHOLDER}"),  # a wrong check digit is still an ID
    ],
)
def test_redact_round_two_forms(text, expected):
    assert redact(text) == expected
    assert not any(ch.isdigit() for ch in normalize_text(redact(text)))


@pytest.mark.parametrize(
    "text",
    [
        "开放时间 9:00-12:00 14:30-17:30",
        "第1、2、3、4、5、6、7、8、9、10、11项",
        "电话0771-5812345、0771-5812346",
        "2018年8月10日至2019年12月31日",
        "两三天、两个工作日、一两次",
        "零零散散、一五一十、三三两两",
        "（1）（2）（3）（4）（5）（6）",
        "⑴⑵⑶ 三点",
        "20180810 20191231",
    ],
)
def test_round_two_folding_leaves_ordinary_figures(text):
    assert redact(text) == text


def _spread(number: str, seps: list[str]) -> str:
    return number[0] + "".join(sep + d for sep, d in zip(seps, number[1:], strict=False))


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(["450103", "450802", "110105", "139012", "451302"]),
    year=st.integers(1940, 2020),
    day=st.integers(1, 28),
    month=st.integers(1, 12),
    seq=st.integers(0, 999),
    seps=st.lists(st.sampled_from(["", "", "", " ", "-", " - ", "。", "～"]), min_size=17, max_size=17),
    x_form=st.sampled_from(["X", "x", "Ｘ", "叉", "×"]),
)
def test_an_id_is_matched_before_a_mobile_inside_it(region, year, day, month, seq, seps, x_form):
    from tests.support.stored_numbers import id_number

    number = id_number(region, f"{year}{month:02d}{day:02d}", f"{seq:03d}")
    typed = _spread(number[:17] + (x_form if number.endswith("X") else number[17]), seps)
    out = redact(f"我的身份证{typed}丢了")
    assert out == f"我的身份证{ID_PLACEHOLDER}丢了", (typed, out)


# The end-to-end scan of every store (tests/support/stored_numbers.py) tested itself: it finds a
# planted number in every form the stores write, and nothing in a clean file.
@pytest.mark.parametrize(
    "planted",
    [
        "13912345678",
        json.dumps({"text": "手机１３９１２３４５６７８"}),  # JSON-escaped full width, as Rasa stores it
        "幺三九一二三四五六七八",
        "壹叁玖壹贰叁肆伍陆柒捌",
        "1️⃣3️⃣9️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣",
        "139-1234-5678",
        '{"a": "139"} {"b": "12345678"}',  # parts in two fields run on
    ],
)
def test_the_stores_scan_finds_a_planted_number(planted):
    from tests.support.stored_numbers import folded_leaks

    page = b"SQLite format 3\x00" + bytes(range(256)) + planted.encode("utf-8") + b"\xff\xfe tail"
    assert folded_leaks({"13912345678"}, {"db": page}) == ["'13912345678' in db"]
    assert folded_leaks({"13912345678"}, {"db": page.replace(planted.encode("utf-8"), b"[x]")}) == []
