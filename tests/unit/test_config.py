"""bot.config: malformed numbers in the environment are refused with the variable named."""

from __future__ import annotations

import pytest

from bot import config


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("RASA_PORT", "http", "not a port number"),
        ("WEB_PORT", "0", "out of range"),
        ("ACTION_PORT", "70000", "out of range"),
        ("TRACKER_DB_PORT", "5432.5", "not a port number"),
        ("RATE_LIMIT_SENDER_PER_MIN", "many", "not a whole number"),
        ("MAX_MESSAGE_CHARS", "-1", "must not be negative"),
        ("LOCK_STORE_DB", "one", "Redis database number"),
    ],
)
def test_bad_numbers_are_named(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=message) as info:
        config.load()
    assert name in str(info.value)


@pytest.mark.parametrize(
    "name, value, field, expected",
    [
        ("RASA_PORT", " 5006 ", "rasa_port", 5006),
        ("RATE_LIMIT_IP_PER_MIN", "0", "rate_limit_ip", 0),
        ("MAX_MESSAGE_CHARS", "", "max_message_chars", 1000),
    ],
)
def test_good_numbers(monkeypatch, name, value, field, expected):
    monkeypatch.setenv(name, value)
    assert getattr(config.load(), field) == expected


def test_the_page_and_console_limits_follow_max_message_chars():
    from dataclasses import replace

    from bot.webapp.server import message_limits

    settings = config.load()
    assert message_limits(replace(settings, max_message_chars=1000)) == (2000, 16 * 1024)
    assert message_limits(replace(settings, max_message_chars=5000)) == (10000, 4 * 10000 + 1024)
