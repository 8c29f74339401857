"""Text normalisation applied to every channel before NLU."""

from __future__ import annotations

import pytest

from bot.text.normalize import MAX_CHARS, normalize_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("畢業生落戶需要什麼", "毕业生落户需要什么"),
        ("居住證辦理條件", "居住证办理条件"),
        ("ＡＢＣ１２３", "ABC123"),
        ("身份证　多久", "身份证 多久"),
        ("怎么办？？？？", "怎么办?"),
        ("真的吗!!!!!", "真的吗!"),
        ("好。。。。", "好。"),
        ("  前后空格\t\n ", "前后空格"),
        ("a\x00b\x07c", "abc"),
        ("零\u200b宽\ufeff字符", "零宽字符"),
        ("👍", "👍"),
        ("", ""),
        (None, ""),
        (12345, ""),
    ],
)
def test_normalize(raw, expected):
    assert normalize_text(raw) == expected


def test_long_text_is_capped():
    assert len(normalize_text("落户" * 5000)) == MAX_CHARS


def test_idempotent():
    text = "畢業生  落戶？？ＡＢＣ"
    assert normalize_text(normalize_text(text)) == normalize_text(text)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("我的身份证号是[身份证号]，想问居住证怎么办", "我的身份证号是 ,想问居住证怎么办"),
        ("[手机号] 收不到短信", "收不到短信"),
        ("[银行卡号]", "[银行卡号]"),  # nothing else left: kept, so NLU still sees a message
        ("身份证号码怎么查", "身份证号码怎么查"),
    ],
)
def test_nlu_component_blanks_privacy_placeholders(raw, expected):
    from rasa.shared.nlu.training_data.message import Message

    from bot.rasa_ext.nlu.normalizer import TextNormalizer

    message = Message(data={"text": raw})
    TextNormalizer({}).process([message])
    assert message.get("text") == expected


@pytest.mark.parametrize(
    "payload",
    [
        "/ask_enforcement_case_progress_query",
        "/ask_business_environment_publicity",
        '/show_measure{"measure_number":"37"}',
        "/ask_id_card_ＦＵＬＬＷＩＤＴＨ",
    ],
)
def test_a_button_payload_reaches_rasa_as_sent(payload):
    # Rasa reads the intent name from the text after the pipeline; the glossary once turned
    # "progress" into 进度 here and the button got "您是想问" instead of its answer.
    from rasa.shared.nlu.training_data.message import Message

    from bot.rasa_ext.nlu.normalizer import TextNormalizer

    message = Message(data={"text": payload})
    TextNormalizer({}).process([message])
    assert message.get("text") == payload
