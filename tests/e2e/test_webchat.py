"""The resident web page in a real headless Chromium (Debian's chromium + chromium-driver).

Welcome, a question answered with its citation, a button, 👍, and the conversation surviving a
reload (saves a screenshot to var/screenshots/webchat.png); a rate-limited resident shown the
polite text and held back for Retry-After seconds; both pages working under their
Content-Security-Policy.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest

from tests.support.browser import wait_until as _wait
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e


def _bot_texts(driver) -> list[str]:
    return [el.text for el in driver.find_elements("css selector", ".msg.bot .bubble")]


def test_resident_asks_reads_clicks_and_reloads(running_bot, browser):
    from selenium.webdriver.common.by import By

    browser.get(running_bot["web_url"] + "/")
    _wait(browser, lambda d: any("政务问答助手" in t for t in _bot_texts(d)))
    assert browser.find_elements(By.CSS_SELECTOR, ".buttons button"), "welcome has example questions"

    browser.find_element(By.ID, "input").send_keys("毕业生落户需要什么")
    browser.find_element(By.ID, "send").click()
    citation = _wait(
        browser,
        lambda d: next((c for c in d.find_elements(By.CSS_SELECTOR, ".citation") if "第（二十二）项" in c.text), None),
    )
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


def test_script_holds_no_wording():
    """Every text the page shows comes from index.html or the replies; chat.js reads none."""
    import re

    code = (ROOT / "web" / "static" / "chat.js").read_text(encoding="utf-8")
    assert not re.search(r"[\u4e00-\u9fff]", code)


def test_page_draws_the_citation_from_the_payload_not_the_wording(running_bot, browser):
    from selenium.webdriver.common.by import By

    browser.get(running_bot["web_url"] + "/")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.bot"))
    # the server's answers, stubbed: a text that merely reads like a source line, then a cited answer
    browser.execute_script("""
        const replies = [
          [{text: "甲\\n依据：不是引用"}],
          [{text: "答案一句\\n（任意措辞）", buttons: []},
           {custom: {measures: [22], answer: "答案一句",
                     citation: {document: "某文件", date: "2018年8月10日", year: 2018, label: "（二十二）",
                                title: "某标题", number: 22}}}],
        ];
        window.fetch = function () {
          const body = replies.shift();
          return Promise.resolve({ok: true, status: 200, json: function () { return Promise.resolve(body); }});
        };""")
    box = browser.find_element(By.ID, "input")
    before = len(browser.find_elements(By.CSS_SELECTOR, ".citation"))
    box.send_keys("问一")
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: any("不是引用" in t for t in _bot_texts(d)))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".citation")) == before
    box.send_keys("问二")
    browser.find_element(By.ID, "send").click()
    citation = _wait(
        browser, lambda d: next((c for c in d.find_elements(By.CSS_SELECTOR, ".citation") if "某标题" in c.text), None)
    )
    assert citation.text == "依据：《某文件》（2018年8月10日）第（二十二）项「某标题」"
    bubble = citation.find_element(By.XPATH, "..")
    assert [el.text for el in bubble.find_elements(By.CSS_SELECTOR, ".line")] == ["答案一句"]
    assert bubble.find_element(By.CSS_SELECTOR, ".note").text.startswith("提示：以上为2018年文件的规定")
    assert bubble.get_attribute("data-measures") == "22"
    browser.find_element(By.ID, "restart").click()  # leave no stubbed conversation behind


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{", 400),
        (b'{"sender": "a"}', 400),
        (b'{"sender": "a", "message": "' + b"x" * 3000 + b'"}', 413),
        (b"x" * 20000, 413),
    ],
    ids=["bad-json", "no-message", "long-message", "huge-body"],
)
def test_web_api_rejects_bad_requests(running_bot, body, status):
    req = urllib.request.Request(
        running_bot["web_url"] + "/api/message", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == status


def test_web_api_forwards_to_rasa(running_bot):
    req = urllib.request.Request(
        running_bot["web_url"] + "/api/message",
        data=json.dumps({"sender": "w1", "message": "居住证办理条件"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        messages = json.loads(resp.read())
    assert any((m.get("custom") or {}).get("measures") == [24] for m in messages)


# --- hostile and hasty clients, and the Content-Security-Policy in the browser -----------------


def _post(web_url: str, sender: str, text: str):
    """``(status, headers, messages)`` of one POST /api/message."""
    req = urllib.request.Request(
        web_url + "/api/message",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def _flood(web_url: str, sender: str) -> tuple:
    """Send until the REST channel's per-sender limit answers 429; that answer."""
    from bot import config

    for _ in range(config.load().rate_limit_sender + 1):
        answer = _post(web_url, sender, "你好")
        if answer[0] != 200:
            return answer
    pytest.fail("no 429 after the per-sender limit")


def _polite_text() -> str:
    from bot.replies import load_replies

    return load_replies()["rate_limited"].text


def test_rate_limited_message_is_429_with_retry_after_and_the_polite_text(running_bot):
    status, headers, messages = _flood(running_bot["web_url"], "flood-" + os.urandom(4).hex())
    assert status == 429
    assert headers["Retry-After"].isdigit() and 1 <= int(headers["Retry-After"]) <= 60
    assert [m["text"] for m in messages if m.get("text")] == [_polite_text()]


def _watch_csp(driver) -> None:
    """Record the page's Content-Security-Policy violations in ``window.__csp`` (every page load)."""
    if not getattr(driver, "_csp_watched", False):
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": (
                    "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) {"
                    " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"
                )
            },
        )
        driver._csp_watched = True


def csp_violations(driver) -> list[str]:
    """What the current page's Content-Security-Policy blocked so far."""
    return driver.execute_script("return window.__csp || ['no CSP watcher on this page'];")


def test_page_waits_retry_after_when_rate_limited(running_bot, browser):
    """On 429 the page shows the polite text, sends nothing for Retry-After seconds, then sends."""
    from selenium.webdriver.common.by import By

    _watch_csp(browser)
    browser.get(running_bot["web_url"] + "/")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.bot"))
    browser.find_element(By.ID, "restart").click()  # a sender of this test's own
    _wait(
        browser, lambda d: any("政务问答助手" in t for t in _bot_texts(d)) and not d.find_element(By.ID, "status").text
    )
    sender = browser.execute_script("return localStorage.getItem('gxga.sender');")
    status, headers, _ = _flood(running_bot["web_url"], sender)
    assert status == 429
    browser.find_element(By.ID, "input").send_keys("居住证办理条件")
    browser.find_element(By.ID, "send").click()
    limited_at = time.monotonic()
    _wait(browser, lambda d: d.find_element(By.ID, "status").text == _polite_text())
    assert not browser.find_element(By.ID, "send").is_enabled()
    # Enter in the box sends nothing while the page waits, and keeps what was typed.
    count = len(browser.find_elements(By.CSS_SELECTOR, ".msg.user"))
    box = browser.find_element(By.ID, "input")
    box.send_keys("居住证有效期多久")
    browser.execute_script("document.getElementById('ask').requestSubmit();")
    time.sleep(1)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".msg.user")) == count and box.get_attribute("value")
    _wait(browser, lambda d: d.find_element(By.ID, "send").is_enabled(), timeout=int(headers["Retry-After"]) + 20)
    assert time.monotonic() - limited_at >= int(headers["Retry-After"]) - 2
    assert browser.find_element(By.ID, "status").text == ""
    answers = len(_bot_texts(browser))
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: len(_bot_texts(d)) > answers)
    assert csp_violations(browser) == []


def test_page_and_console_run_under_their_csp(running_bot, browser):
    """Nothing the pages need is blocked, and the policy is in force.

    An injected inline script does not run.
    """
    from selenium.webdriver.common.by import By

    _watch_csp(browser)
    for path, ready in (("/", (By.CSS_SELECTOR, ".msg.bot")), ("/console/login", (By.ID, "login"))):
        browser.get(running_bot["web_url"] + path)
        _wait(browser, lambda d, ready=ready: d.find_elements(*ready))
        assert csp_violations(browser) == [], path
    assert browser.find_element(By.ID, "csrf").get_attribute("value"), "login.js filled in the CSRF token"
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.__ran = 1;';document.body.appendChild(s);"
    )
    _wait(browser, lambda d: csp_violations(d))
    assert browser.execute_script("return window.__ran;") is None
    assert any(v.startswith("script-src") for v in csp_violations(browser))
