"""The resident web page in a real headless Chromium (Debian's chromium + chromium-driver):
welcome, a question answered with its citation, a button, 👍, and the conversation surviving a
reload. Saves a screenshot to var/screenshots/webchat.png."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

def _wait(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _bot_texts(driver) -> list[str]:
    return [el.text for el in driver.find_elements("css selector", ".msg.bot .bubble")]


def test_resident_asks_reads_clicks_and_reloads(running_bot, browser):
    from selenium.webdriver.common.by import By

    browser.get(running_bot["web_url"] + "/")
    _wait(browser, lambda d: any("政务问答助手" in t for t in _bot_texts(d)))
    assert browser.find_elements(By.CSS_SELECTOR, ".buttons button"), "welcome has example questions"

    browser.find_element(By.ID, "input").send_keys("毕业生落户需要什么")
    browser.find_element(By.ID, "send").click()
    citation = _wait(browser, lambda d: next(
        (c for c in d.find_elements(By.CSS_SELECTOR, ".citation") if "第（二十二）项" in c.text), None))
    assert "全面放开人才落户限制" in citation.text
    answer = citation.find_element(By.XPATH, "..")
    assert "毕业证" in answer.text and answer.get_attribute("data-measures") == "22"

    buttons = browser.find_elements(By.CSS_SELECTOR, ".msg.bot .buttons")[-1].find_elements(By.TAG_NAME, "button")
    assert [b.text for b in buttons] == ["查看原文", "👍 有帮助", "👎 没帮助"]
    buttons[0].click()
    _wait(browser, lambda d: any("可同时办理共同居住生活的配偶" in t for t in _bot_texts(d)))

    count_before = len(browser.find_elements(By.CSS_SELECTOR, ".msg"))
    browser.refresh()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg")) >= count_before)
    assert any("第（二十二）项" in c.text for c in browser.find_elements(By.CSS_SELECTOR, ".citation"))

    feedback = [b for b in browser.find_elements(By.CSS_SELECTOR, "button.feedback") if b.is_enabled()]
    feedback[0].click()
    _wait(browser, lambda d: any("谢谢您的肯定" in t for t in _bot_texts(d)))

    shots = ROOT / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shots / "webchat.png"))


@pytest.mark.parametrize(
    "body, status",
    [(b"{", 400), (b'{"sender": "a"}', 400), (b'{"sender": "a", "message": "' + b"x" * 3000 + b'"}', 413),
     (b"x" * 20000, 413)],
    ids=["bad-json", "no-message", "long-message", "huge-body"],
)
def test_web_api_rejects_bad_requests(running_bot, body, status):
    req = urllib.request.Request(running_bot["web_url"] + "/api/message", data=body,
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == status


def test_web_api_forwards_to_rasa(running_bot):
    req = urllib.request.Request(running_bot["web_url"] + "/api/message",
                                 data=json.dumps({"sender": "w1", "message": "居住证办理条件"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        messages = json.loads(resp.read())
    assert any((m.get("custom") or {}).get("measures") == [24] for m in messages)
