"""Accessibility of the resident page, the console's login and the console, in headless Chromium.

axe-core (pinned in ``web/package.json``, installed by ``make web-deps``; read from
``web/node_modules`` and injected with ``execute_script``, no CDN) finds no violation of the WCAG
2.0/2.1 A and AA rules: on the resident page in both modes, before and after a conversation, with
按主题浏览 open; on the login page (axe's best practices too there and on the resident page:
the issue's "no main landmark" and "content outside landmarks" are among them); on each console
tab. A resident gets through a conversation with the keyboard alone (ask, 查看原文, 👍, 重新开始,
按主题浏览), every focused element outlined. 大字模式: text of 20 px and more, AAA contrast,
targets of 44 px and more, remembered and turned on by ``?mode=large``. At 320 px and at 200 %
zoom (1366×768 seen at 200 % is a 683×384 window) nothing scrolls sideways. Screenshots:
``var/screenshots/resident-375.png``, ``resident-375-large.png``, ``resident-1366.png``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from tests.support.botrun import add_console_user
from tests.support.browser import log_in_to_console, wait_until
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e

AXE_JS = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PUBLIC_PAGE_TAGS = [*WCAG_TAGS, "best-practice"]
# The console's pages: the WCAG rules and the two landmark rules the issue found broken on the login.
CONSOLE_RULES = ("region", "landmark-one-main")
PASSWORD = "correct horse battery staple"
SHOTS = ROOT / "var" / "screenshots"
MIN_LARGE_FONT_PX = 20
MIN_LARGE_TARGET_PX = 44

# axe over the document: the violations as {id, impact, help, nodes: [target and why]}.
AXE_RUN = """
const [tags, rules, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const options = rules.length ? {runOnly: {type: 'rule', values: rules}} : {runOnly: {type: 'tag', values: tags}};
axe.run(document, options).then(
  (r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))),
  (e) => done([{id: 'axe-error', help: String(e), nodes: []}]));
"""

# The active element, as the keyboard test follows it.
ACTIVE = """
const e = document.activeElement, style = getComputedStyle(e);
return {tag: e.tagName, id: e.id, cls: e.className, text: (e.textContent || '').trim(),
        label: e.getAttribute('aria-label'),
        card: e.closest('.msg.faq, .msg.examples') ? e.closest('.msg').className : '',
        outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth)};
"""

# Rendered text smaller than arguments[0] px, and controls smaller than arguments[1] px either way.
TOO_SMALL = """
const [minFont, minTarget] = arguments;
const small = [], targets = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!n.nodeValue.trim() || !el || el.closest('template, script, .sr-only') || !el.getClientRects().length) continue;
  const size = parseFloat(getComputedStyle(el).fontSize);
  if (size < minFont) small.push(`${el.tagName}.${el.className} ${size}px: ${n.nodeValue.trim().slice(0, 20)}`);
}
document.querySelectorAll('button, summary, input:not([type=hidden]), a[href]').forEach((el) => {
  if (!el.getClientRects().length) return;
  const r = el.getBoundingClientRect();
  if (r.width < minTarget || r.height < minTarget) targets.push(`${el.outerHTML.slice(0, 80)} ${r.width}×${r.height}`);
});
return {small: small, targets: targets};
"""

# Whether anything reaches past the right edge of the window (the page would scroll sideways).
OVERFLOW = """
const width = document.documentElement.clientWidth;
const wide = Array.from(document.querySelectorAll('body *')).filter((el) => {
  if (el.closest('template, .sr-only, .skip') || !el.getClientRects().length) return false;
  return el.getBoundingClientRect().right > width + 0.5;
}).map((el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right));
return {scroll: document.documentElement.scrollWidth, width: width, wide: wide.slice(0, 10)};
"""


def axe(driver, tags=WCAG_TAGS, rules=()) -> list[dict]:
    """The violations axe-core finds on the current page (axe injected from ``web/node_modules``)."""
    assert AXE_JS.is_file(), f"{AXE_JS} is missing: run `make web-deps`"
    driver.set_script_timeout(120)
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    return driver.execute_async_script(AXE_RUN, list(tags), list(rules))


def assert_no_violations(driver, where: str, tags=WCAG_TAGS, rules=()) -> None:
    """Fail unless axe finds nothing (the message lists each violation, its elements and why)."""
    found = axe(driver, tags, rules)
    assert found == [], f"{where}:\n" + json.dumps(found, ensure_ascii=False, indent=1)


@contextmanager
def window(driver, width: int, height: int):
    """The page area of the session's Chromium at ``width``×``height`` CSS pixels, restored afterwards."""
    before = driver.get_window_size()
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if inner != [width, height]:  # the window's size counts its own decorations
        size = driver.get_window_size()
        driver.set_window_size(size["width"] + width - inner[0], size["height"] + height - inner[1])
    try:
        yield driver
    finally:
        driver.set_window_size(before["width"], before["height"])


def _bot_texts(driver) -> list[str]:
    return [el.text for el in driver.find_elements("css selector", ".msg.bot .bubble")]


def _citations(driver, label: str) -> list:
    return [c for c in driver.find_elements("css selector", ".citation") if f"第{label}项" in c.text]


@pytest.fixture
def resident(running_bot, browser):
    """The resident page, new: nothing kept from earlier tests; left clean (normal mode, no history)."""
    from selenium.webdriver.common.by import By

    web = running_bot["web_url"]
    # cleared on a page of the origin that runs no chat.js (whose answers would be saved after the clear)
    browser.get(web + "/health")
    browser.execute_script("localStorage.clear();")

    def open_page(query: str = "") -> None:
        browser.get(web + "/" + query)
        wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.faq .buttons button"))
        wait_until(browser, lambda d: d.find_element(By.ID, "browse").is_displayed())

    browser.open_page = open_page
    yield browser
    browser.get(web + "/health")
    browser.execute_script("localStorage.clear();")


def _click(driver, element) -> None:
    """Click ``element`` scrolled to the middle of the window.

    WebDriver's own scrolling leaves it under the question box where that stays at the window's
    bottom (the keyboard's does not: the page's scroll-padding keeps a focused element clear of it).
    """
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def _ask(driver, question: str) -> None:
    from selenium.webdriver.common.by import By

    answers = len(_bot_texts(driver))
    driver.find_element(By.ID, "input").send_keys(question)
    driver.find_element(By.ID, "send").click()
    wait_until(driver, lambda d: len(_bot_texts(d)) > answers and not d.find_element(By.ID, "status").text)


def _open_section(driver, index: int):
    """按主题浏览 opened, and its section ``index``; that section's element."""
    from selenium.webdriver.common.by import By

    toggle = driver.find_element(By.ID, "browse-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    section = driver.find_elements(By.CSS_SELECTOR, "#topics details.topic")[index]
    if not section.get_attribute("open"):
        section.find_element(By.TAG_NAME, "summary").click()
    return section


@pytest.mark.parametrize("mode", ["normal", "large"])
def test_resident_page_has_no_axe_violations(resident, mode):
    """Welcome, 按主题浏览 open, a measure chosen, an example tapped, a typed question, 查看原文: all clean."""
    from selenium.webdriver.common.by import By

    resident.open_page("?mode=large" if mode == "large" else "")
    assert resident.execute_script("return document.documentElement.classList.contains('large')") is (mode == "large")
    assert resident.execute_script("return document.documentElement.lang") == "zh-CN"
    assert_no_violations(resident, f"{mode}: the welcome", PUBLIC_PAGE_TAGS)

    section = _open_section(resident, 1)  # 二、优化审批服务
    assert_no_violations(resident, f"{mode}: 按主题浏览 open", PUBLIC_PAGE_TAGS)
    _click(resident, section.find_element(By.CSS_SELECTOR, "button.measure[data-number='22']"))
    wait_until(resident, lambda d: _citations(d, "（二十二）") and d.find_elements(By.CSS_SELECTOR, ".msg.examples"))
    examples = resident.find_elements(By.CSS_SELECTOR, ".msg.examples .buttons button")
    assert 1 <= len(examples) <= 3
    _click(resident, examples[0])
    wait_until(resident, lambda d: len(_citations(d, "（二十二）")) >= 2)

    _ask(resident, "居住证办理条件")
    buttons = resident.find_elements(By.CSS_SELECTOR, ".msg.bot .buttons")[-1].find_elements(By.TAG_NAME, "button")
    _click(resident, buttons[0])  # 查看原文
    wait_until(resident, lambda d: any("原文" in t for t in _bot_texts(d)[-1:]))
    assert_no_violations(resident, f"{mode}: after a conversation", PUBLIC_PAGE_TAGS)
    resident.refresh()  # the conversation drawn again from localStorage
    wait_until(resident, lambda d: len(_citations(d, "（二十四）")) >= 1)
    assert_no_violations(resident, f"{mode}: the conversation after a reload", PUBLIC_PAGE_TAGS)


def test_large_mode_is_big_high_contrast_remembered_and_linkable(resident):
    """Text ≥ 20 px, targets ≥ 44 px, AAA contrast; kept in localStorage; on with ?mode=large."""
    from selenium.webdriver.common.by import By

    resident.open_page()
    toggle = resident.find_element(By.ID, "large")
    assert toggle.get_attribute("aria-pressed") == "false"
    normal = resident.execute_script(TOO_SMALL, MIN_LARGE_FONT_PX, MIN_LARGE_TARGET_PX)
    assert normal["small"] and normal["targets"], "the check finds small text and targets in the normal mode"

    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert resident.execute_script("return localStorage.getItem('gxga.large')") == "1"
    _ask(resident, "毕业生落户需要什么")
    _open_section(resident, 1)
    found = resident.execute_script(TOO_SMALL, MIN_LARGE_FONT_PX, MIN_LARGE_TARGET_PX)
    assert found == {"small": [], "targets": []}
    assert_no_violations(resident, "大字模式: contrast of AAA (7:1)", rules=["color-contrast-enhanced"])
    # the normal mode meets AA only: 大字模式 is the stronger one
    toggle.click()
    assert axe(resident, rules=["color-contrast-enhanced"]), "the normal mode is not already AAA"

    # remembered: off stays off, on stays on, across reloads
    resident.refresh()
    assert resident.find_element(By.ID, "large").get_attribute("aria-pressed") == "false"
    resident.find_element(By.ID, "large").click()
    resident.refresh()
    assert resident.find_element(By.ID, "large").get_attribute("aria-pressed") == "true"
    assert resident.execute_script("return document.documentElement.classList.contains('large')")

    # ?mode=large turns it on whatever was kept; switching it off there drops ?mode= from the address
    resident.find_element(By.ID, "large").click()
    resident.open_page("?mode=large")
    assert resident.find_element(By.ID, "large").get_attribute("aria-pressed") == "true"
    resident.find_element(By.ID, "large").click()
    assert "mode=" not in resident.current_url
    resident.refresh()
    assert resident.find_element(By.ID, "large").get_attribute("aria-pressed") == "false"


@pytest.mark.parametrize(
    "query, on", [("?mode=large", True), ("?mode=normal", False), ("?mode=LARGE", False), ("?mode=<b>", False)]
)
def test_mode_parameter(resident, query, on):
    resident.open_page(query)
    assert resident.execute_script("return document.documentElement.classList.contains('large')") is on


def _press(driver, *keys) -> dict:
    """Keys sent to the focused element; what is focused then."""
    driver.switch_to.active_element.send_keys(*keys)
    return driver.execute_script(ACTIVE)


def _tab_to(driver, found, backwards: bool = False, limit: int = 60) -> dict:
    """Tab (Shift+Tab) until ``found(active)``; every element on the way visibly outlined."""
    from selenium.webdriver.common.keys import Keys

    keys = (Keys.SHIFT, Keys.TAB) if backwards else (Keys.TAB,)
    for _ in range(limit):
        active = _press(driver, *keys)
        assert active["tag"] == "BODY" or (active["outline"] != "none" and active["outlineWidth"] >= 2), active
        if found(active):
            return active
    pytest.fail(f"not reached with the keyboard in {limit} presses")


def test_keyboard_only(resident):
    """Ask, 查看原文, 👍, 重新开始, 清除聊天记录, 大字模式, 按主题浏览, an example question: Tab, Enter, Space."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    resident.open_page()
    order = [_tab_to(resident, lambda a: True) for _ in range(6)]
    assert [(a["tag"], a["id"] or a["cls"]) for a in order] == [
        ("A", "skip"),
        ("BUTTON", "large"),
        ("BUTTON", "restart"),
        ("BUTTON", "clear"),
        ("BUTTON", "browse-toggle"),
        ("OL", "log"),
    ]
    _tab_to(resident, lambda a: a["cls"] == "skip", backwards=True)
    assert _press(resident, Keys.ENTER)["id"] == "input", "the skip link leads to the question box"

    # ask (Enter in the box), hear the answer
    _press(resident, "毕业生落户需要什么", Keys.ENTER)
    wait_until(resident, lambda d: _citations(d, "（二十二）"))
    announcer = resident.find_element(By.ID, "announcer")
    wait_until(resident, lambda d: "毕业证" in announcer.get_attribute("textContent"))
    announced = announcer.get_attribute("textContent")
    assert announced.startswith("助手回答：") and "第（二十二）项" in announced, announced

    # 查看原文 (Shift+Tab back from the box through 👎, 👍), then 👍 with Tab and Enter
    _tab_to(resident, lambda a: a["text"] == "查看原文", backwards=True)
    _press(resident, Keys.ENTER)
    wait_until(resident, lambda d: any("可同时办理共同居住生活的配偶" in t for t in _bot_texts(d)))
    assert resident.execute_script(ACTIVE)["text"] == "查看原文", "focus stays where it was"
    up = _tab_to(resident, lambda a: "feedback" in a["cls"])
    assert up["label"] == "有帮助（评价这条回答）" and up["text"] == "👍 有帮助"
    assert _press(resident, Keys.ENTER)["id"] == "input", "from the disabled 👍 to the question box"
    wait_until(resident, lambda d: any("谢谢您的肯定" in t for t in _bot_texts(d)))

    # 大字模式 with Space, 重新开始 with Enter
    _tab_to(resident, lambda a: a["id"] == "large", backwards=True)
    _press(resident, Keys.SPACE)
    assert resident.find_element(By.ID, "large").get_attribute("aria-pressed") == "true"
    _press(resident, Keys.SPACE)
    assert _press(resident, Keys.TAB)["id"] == "restart"
    _press(resident, Keys.ENTER)
    wait_until(resident, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.faq") and not _citations(d, "（二十二）"))
    assert not resident.find_elements(By.CSS_SELECTOR, ".msg.user")

    # 清除聊天记录 with Enter: said in the status line, which a screen reader hears
    assert _press(resident, Keys.TAB)["id"] == "clear"
    _press(resident, Keys.ENTER)
    wait_until(
        resident, lambda d: d.find_element(By.ID, "status").text and d.find_elements(By.CSS_SELECTOR, ".msg.faq")
    )

    # 按主题浏览: open, a section, a measure; then one of its example questions
    assert _press(resident, Keys.TAB)["id"] == "browse-toggle"
    _press(resident, Keys.ENTER)
    assert resident.find_element(By.ID, "browse-toggle").get_attribute("aria-expanded") == "true"
    _tab_to(resident, lambda a: a["tag"] == "SUMMARY" and "二、" in a["text"])
    _press(resident, Keys.ENTER)
    chosen = _tab_to(resident, lambda a: a["cls"] == "measure" and "全面放开人才落户限制" in a["text"])
    assert chosen["text"] == "第（二十二）项 全面放开人才落户限制"
    assert _press(resident, Keys.ENTER)["id"] == "browse-toggle", "the list closes, focus on its button"
    assert resident.find_element(By.ID, "browse-panel").get_attribute("hidden") is not None
    wait_until(resident, lambda d: _citations(d, "（二十二）") and d.find_elements(By.CSS_SELECTOR, ".msg.examples"))
    assert resident.find_elements(By.CSS_SELECTOR, ".msg.user")[-1].text == "第（二十二）项 全面放开人才落户限制"
    example = _tab_to(resident, lambda a: "examples" in a["card"])
    _press(resident, Keys.ENTER)
    wait_until(resident, lambda d: resident.find_elements(By.CSS_SELECTOR, ".msg.user")[-1].text == example["text"])
    wait_until(resident, lambda d: len(_citations(d, "（二十二）")) >= 2)

    # Escape closes 按主题浏览 from inside it
    _tab_to(resident, lambda a: a["id"] == "browse-toggle", backwards=True)
    _press(resident, Keys.ENTER)
    _press(resident, Keys.TAB)
    assert _press(resident, Keys.ESCAPE)["id"] == "browse-toggle"
    assert resident.find_element(By.ID, "browse-toggle").get_attribute("aria-expanded") == "false"


def test_faq_under_the_welcome_sends_its_text(resident, running_bot):
    """常见问题 lists GET /api/faq; a tap sends the question's text and it is answered; no question twice."""
    import urllib.request

    from selenium.webdriver.common.by import By

    with urllib.request.urlopen(running_bot["web_url"] + "/api/faq", timeout=30) as resp:
        questions = json.loads(resp.read())["questions"]
    resident.open_page()
    card = resident.find_element(By.CSS_SELECTOR, ".msg.faq")
    assert card.find_element(By.CSS_SELECTOR, "h2").text == "常见问题"
    shown = [b.text for b in card.find_elements(By.CSS_SELECTOR, "button")]
    assert shown == [q["text"] for q in questions][:6]
    on_page = [b.text for b in resident.find_elements(By.CSS_SELECTOR, ".msg.bot button")]
    assert len(on_page) == len(set(on_page)), "the welcome's own examples are not listed twice"
    _click(resident, card.find_elements(By.CSS_SELECTOR, "button")[0])
    wait_until(resident, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.user"))
    assert resident.find_elements(By.CSS_SELECTOR, ".msg.user")[-1].text == questions[0]["text"]
    wait_until(resident, lambda d: d.find_elements(By.CSS_SELECTOR, ".citation"))
    measures = resident.find_elements(By.CSS_SELECTOR, ".msg.bot .bubble[data-measures]")[-1]
    assert str(questions[0]["measure"]) in measures.get_attribute("data-measures").split(",")


# What a hostile or broken server could send for 按主题浏览 and 常见问题: markup in every text,
# wrong types, a hundred questions.
HOSTILE_TOPICS = {
    "sections": [
        {
            "name": "<img src=x onerror=window.__pwned=1>",
            "measures": [
                {
                    "number": 1,
                    "label": "<b>x</b>",
                    "title": "<script>window.__pwned=2</script>",
                    "payload": "/greet",
                    "examples": "not a list",
                },
                {"number": 2, "label": "（二）", "title": "no payload", "payload": 7},
                None,
            ],
        },
        {"name": "no measures", "measures": "nope"},
        "not a section",
        None,
    ]
}
HOSTILE_FAQ = {"questions": [{"text": "<i>q</i>" + str(i), "payload": 1} for i in range(100)] + [{"text": 5}, None]}
STUB_FETCH = """
const bodies = %s;
const real = window.fetch;
window.fetch = function (url, init) {
  if (bodies[url]) return Promise.resolve(new Response(JSON.stringify(bodies[url]),
    {status: 200, headers: {'Content-Type': 'application/json'}}));
  return real.call(this, url, init);
};
"""


@pytest.mark.parametrize(
    "kept",
    ['{"a": 1}', '[1, null, "x", {"from": "bot", "text": 5}, {"from": "bot", "buttons": [null]}]', "{"],
    ids=["an-object", "junk-items", "not-json"],
)
def test_hostile_topics_faq_and_history_are_drawn_as_text(resident, running_bot, kept):
    """Markup from the APIs is shown as text, malformed entries are left out; junk kept in localStorage is dropped."""
    from selenium.webdriver.common.by import By

    bodies = json.dumps({"/api/topics": HOSTILE_TOPICS, "/api/faq": HOSTILE_FAQ})
    stub = resident.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STUB_FETCH % bodies})
    try:
        resident.execute_script("localStorage.setItem('gxga.history', arguments[0]);", kept)
        resident.open_page()
        assert resident.execute_script("return window.__pwned") is None
        assert not resident.find_elements(By.CSS_SELECTOR, "#topics img, #topics script, #topics b, .msg.faq i")
        sections = resident.find_elements(By.CSS_SELECTOR, "#topics details.topic")
        assert len(sections) == 1, "only the section with a measure that has a payload"
        assert (
            sections[0].find_element(By.TAG_NAME, "summary").get_attribute("textContent")
            == (HOSTILE_TOPICS["sections"][0]["name"])
        )
        measures = sections[0].find_elements(By.CSS_SELECTOR, "button.measure")
        assert [m.get_attribute("textContent") for m in measures] == ["第<b>x</b>项 <script>window.__pwned=2</script>"]
        faq = [b.text for b in resident.find_elements(By.CSS_SELECTOR, ".msg.faq button")]
        assert faq == [f"<i>q</i>{i}" for i in range(6)]
        assert any("政务问答助手" in t for t in _bot_texts(resident)), "the welcome, the junk dropped"
        _open_section(resident, 0)
        _click(resident, measures[0])  # its payload is /greet; "examples" is not a list: no example card
        wait_until(resident, lambda d: len([t for t in _bot_texts(d) if "政务问答助手" in t]) >= 2)
        assert not resident.find_elements(By.CSS_SELECTOR, ".msg.examples")
    finally:
        resident.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": stub["identifier"]})


@pytest.mark.parametrize("mode", ["normal", "large"])
@pytest.mark.parametrize("size", [(320, 640), (683, 384)], ids=["320px", "200%-zoom"])
def test_narrow_and_zoomed_windows_do_not_scroll_sideways(resident, mode, size):
    """At 320 px and at 200 % zoom (1366×768 at 200 %) nothing is cut off; the question box stays in view."""
    from selenium.webdriver.common.by import By

    with window(resident, *size):
        resident.open_page("?mode=large" if mode == "large" else "")
        _ask(resident, "毕业生落户需要什么")
        _open_section(resident, 1)
        for state in ("browse open", "browse closed"):
            found = resident.execute_script(OVERFLOW)
            assert found["scroll"] <= found["width"] and not found["wide"], (state, found)
            for scrolled in ("top", "bottom"):
                resident.execute_script(
                    "window.scrollTo(0, arguments[0] === 'top' ? 0 : document.body.scrollHeight)", scrolled
                )
                box = resident.execute_script(
                    "return document.getElementById('input').getBoundingClientRect().toJSON()"
                )
                assert box["top"] >= 0 and box["bottom"] <= size[1] + 0.5, (state, scrolled, box)
                assert box["width"] >= 120, "room to type"
            if state == "browse open":
                resident.find_element(By.ID, "browse-toggle").click()
        assert resident.find_element(By.ID, "send").is_displayed()


def test_screenshots(resident):
    """The page at 375×812 in both modes and at 1366×768, after a question (look at them)."""
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    with window(resident, 375, 812):
        resident.open_page()
        _ask(resident, "毕业生落户需要什么")
        assert resident.save_screenshot(str(SHOTS / "resident-375.png"))
        resident.find_element(By.ID, "large").click()
        assert resident.save_screenshot(str(SHOTS / "resident-375-large.png"))
        resident.find_element(By.ID, "large").click()
    with window(resident, 1366, 768):
        resident.refresh()
        wait_until(resident, lambda d: _citations(d, "（二十二）"))
        assert resident.save_screenshot(str(SHOTS / "resident-1366.png"))


@pytest.mark.parametrize("query", ["", "?failed=1", "?locked=1"])
def test_login_page_has_no_axe_violations(running_bot, browser, query):
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(running_bot["web_url"] + "/console/login" + query)
    wait_until(browser, lambda d: d.find_element(By.ID, "csrf").get_attribute("value"))
    assert browser.find_elements(By.CSS_SELECTOR, "main h1")
    assert_no_violations(browser, f"login{query}", PUBLIC_PAGE_TAGS)
    with window(browser, 320, 640):
        found = browser.execute_script(OVERFLOW)
        assert found["scroll"] <= found["width"] and not found["wide"], found


def test_console_tabs_have_no_axe_violations(running_bot, browser):
    """Logged in as an administrator (every tab shown), each tab in turn; 测试问答 with an answer shown."""
    from selenium.webdriver.common.by import By

    account = add_console_user(running_bot, "a11yadmin01", PASSWORD, "admin")
    web = running_bot["web_url"]
    with window(browser, 1366, 768):
        try:
            log_in_to_console(browser, web, account)
            tabs = wait_until(
                browser,
                lambda d: [
                    t for t in d.find_elements(By.CSS_SELECTOR, "[role=tablist] [role=tab]") if t.is_displayed()
                ],
            )
            assert len(tabs) == 7, "an administrator sees every tab"
            for tab in tabs:
                tab.click()
                name = tab.get_attribute("data-tab")
                wait_until(browser, lambda d, n=name: d.find_element(By.ID, n).is_displayed())
                if name == "ask":
                    browser.find_element(By.ID, "question").send_keys("毕业生落户需要什么")
                    browser.find_element(By.ID, "ask-button").click()
                    wait_until(browser, lambda d: d.find_element(By.ID, "result").is_displayed())
                if name == "knowledge":
                    wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#kb-sections *"))
                assert_no_violations(browser, f"console tab {name}")
                assert_no_violations(browser, f"console tab {name}: landmarks", rules=CONSOLE_RULES)
        finally:
            browser.delete_all_cookies()
