"""ID-card, mobile and bank-card numbers are found and replaced; ordinary figures are not."""

from __future__ import annotations

import pytest

from bot.privacy import CARD_PLACEHOLDER, ID_PLACEHOLDER, PHONE_PLACEHOLDER, is_valid_id_number, luhn_ok, redact

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
