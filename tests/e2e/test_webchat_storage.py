"""The resident page's own storage (issue 22 point 8), in a real headless Chromium.

The page keeps only what the server stored: a number typed in a message is shown and kept as its
placeholder once the server answers, also when it was split over two messages; messages expire
after 7 days; a malformed or huge stored history is dropped and the page still works;
清除聊天记录 removes the history and the sender id from the device.
"""

from __future__ import annotations

import json
import time

import pytest

from bot.text.privacy import load_placeholders
from tests.support.browser import wait_until as _wait

pytestmark = pytest.mark.e2e
DAY_MS = 24 * 3600 * 1000


def _fresh(browser, url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url + "/")
    browser.execute_script("localStorage.clear();")
    browser.refresh()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.faq") and not d.find_element(By.ID, "status").text)


def _ask(browser, text: str) -> None:
    from selenium.webdriver.common.by import By

    answers = len(browser.find_elements(By.CSS_SELECTOR, ".msg.bot:not(.faq)"))
    browser.find_element(By.ID, "input").send_keys(text)
    browser.find_element(By.ID, "send").click()
    _wait(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, ".msg.bot:not(.faq)")) > answers
            and not d.find_element(By.ID, "status").text
        ),
    )


def _user_bubbles(browser) -> list[str]:
    return [el.text for el in browser.find_elements("css selector", ".msg.user .bubble")]


def _kept(browser) -> str:
    return browser.execute_script("return localStorage.getItem('gxga.history') || '';")


@pytest.mark.parametrize(
    "messages",
    [["我的手机13912345678，居住证怎么办"], ["我的手机139", "12345678"], ["身份证11010519491231002 X 丢了怎么补"]],
    ids=["one-message", "split", "id-x-after-space"],
)
def test_the_page_shows_and_keeps_only_what_was_stored(running_bot, browser, messages):
    _fresh(browser, running_bot["web_url"])
    for message in messages:
        _ask(browser, message)
    placeholders = set(load_placeholders().values())
    shown = _user_bubbles(browser)
    assert len(shown) == len(messages) and not any(ch.isdigit() for ch in "".join(shown)), shown
    assert any(p in "".join(shown) for p in placeholders)
    kept = json.loads(_kept(browser))
    assert not any(ch.isdigit() for item in kept if item["from"] == "user" for ch in item["text"]), kept
    browser.refresh()  # drawn again from storage: still the placeholders
    _wait(browser, lambda d: len(_user_bubbles(d)) == len(messages))
    assert _user_bubbles(browser) == shown


def test_messages_older_than_seven_days_and_unstamped_ones_are_dropped(running_bot, browser):
    _fresh(browser, running_bot["web_url"])
    now = browser.execute_script("return Date.now();")
    history = [
        {"from": "user", "text": "八天前的问题", "at": now - 8 * DAY_MS},
        {"from": "user", "text": "没有时间的旧记录"},
        {"from": "user", "text": "昨天的问题", "at": now - DAY_MS},
    ]
    browser.execute_script("localStorage.setItem('gxga.history', arguments[0]);", json.dumps(history))
    browser.refresh()
    _wait(browser, lambda d: _user_bubbles(d))
    assert _user_bubbles(browser) == ["昨天的问题"]


@pytest.mark.parametrize(
    "kept",
    ["[" * 100_000, "x" * 2_000_000, json.dumps([{"from": "user", "text": "问" * 30_000, "at": 0}] * 3), "{]"],
    ids=["deep", "two-megabytes", "huge-items", "not-json"],
)
def test_a_malformed_or_huge_history_is_dropped_and_the_page_works(running_bot, browser, kept):
    from selenium.webdriver.common.by import By

    _fresh(browser, running_bot["web_url"])
    browser.execute_script("localStorage.setItem('gxga.history', arguments[0]);", kept)
    browser.refresh()
    _wait(browser, lambda d: any("政务问答助手" in el.text for el in d.find_elements(By.CSS_SELECTOR, ".msg.bot")))
    assert len(_kept(browser)) < 100_000  # replaced by the new conversation
    _ask(browser, "居住证怎么办理")
    assert "居住证" in browser.find_elements(By.CSS_SELECTOR, ".msg.bot")[-1].text


def test_clear_removes_the_history_and_the_sender_from_the_device(running_bot, browser):
    from selenium.webdriver.common.by import By

    _fresh(browser, running_bot["web_url"])
    _ask(browser, "居住证怎么办理")
    sender = browser.execute_script("return localStorage.getItem('gxga.sender');")
    browser.find_element(By.ID, "clear").click()
    cleared = browser.find_element(By.CSS_SELECTOR, "#strings").get_attribute("innerHTML")
    assert 'data-key="cleared"' in cleared
    _wait(browser, lambda d: d.find_element(By.ID, "status").text and not _user_bubbles(d))
    assert browser.execute_script("return localStorage.getItem('gxga.sender');") != sender
    assert "居住证怎么办理" not in _kept(browser)
    time.sleep(0.2)
    browser.refresh()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.bot"))
    assert not _user_bubbles(browser)
