"""Several questions in one message and corrections (bot/text/split.py), in both directions."""

from __future__ import annotations

import pytest

from bot.text.split import MAX_PARTS, correction, split


@pytest.mark.parametrize(
    "text, parts",
    [
        ("居住证要带什么？另外港澳签注能自助办吗？", ("居住证要带什么？", "港澳签注能自助办吗？")),
        (
            "老伴的驾驶证快到期了,公安会不会发短信提醒?换证可以在网上办吗?",
            ("老伴的驾驶证快到期了,公安会不会发短信提醒?", "换证可以在网上办吗?"),
        ),
        ("刻章要几天。还有，身份证丢了去哪补办", ("刻章要几天", "身份证丢了去哪补办")),
        ("身份证多久能拿到？顺便问一下居住证怎么办？", ("身份证多久能拿到？", "居住证怎么办？")),
    ],
)
def test_two_questions_are_split(text, parts):
    found = split(text)
    assert found.parts == parts and not found.corrected and found.changed


@pytest.mark.parametrize(
    "text",
    [
        "身份证要几天",
        "我是玉林师院今年刚毕业的，还没签工作，家里在农村，想把户口落到玉林市区，是不是只要毕业证身份证就可以",
        "你好？身份证要几天？",  # a greeting is not a question of its own
        "要钱吗？要多久？",  # too short to stand alone: one follow-up
        "在吗？",
        "",
    ],
)
def test_one_question_is_not_split(text):
    found = split(text)
    assert found.parts == (text,) and not found.changed


def test_at_most_three_parts_the_rest_stays_with_the_last():
    found = split("身份证要几天？居住证怎么办理？刻章要去哪里？驾照考试在哪考？")
    assert len(found.parts) == MAX_PARTS
    assert found.parts[-1] == "刻章要去哪里？驾照考试在哪考？"


@pytest.mark.parametrize(
    "text, asked",
    [
        ("我不是问身份证，是问驾驶证到期了怎么换", "驾驶证到期了怎么换"),
        ("不是问户口，我想问的是公司账户被冻结怎么办", "公司账户被冻结怎么办"),
        ("我刚才问错了,不是问户口,我想问的是公司账户被冻结了还能用吗?", "公司账户被冻结了还能用吗?"),
        ("问错了，应该是港澳通行证签注怎么办", "港澳通行证签注怎么办"),
    ],
)
def test_a_correction_asks_what_it_corrects_to(text, asked):
    assert correction(text) == asked
    found = split(text)
    assert found.corrected and found.parts == (asked,)


@pytest.mark.parametrize("text", ["这不是问题", "是不是要带身份证", "不是本地人能落户吗", "我不是问了吗"])
def test_no_correction_without_both_halves(text):
    assert correction(text) is None
