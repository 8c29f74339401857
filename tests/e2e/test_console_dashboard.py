"""The console's 数据看板 and its Chinese wording, in headless Chromium against ``python -m bot run``.

Residents' questions go through the real REST channel first; then an administrator logs in, the
dashboard is the first tab, its charts are drawn (a canvas in each) and its tables hold the
figures ``GET /console/api/stats`` gives, for 7, 30 and 90 days; the CSV downloads. Every tab is
visited and no code (``staff_marked_wrong``, ``nlu_fallback``, ``answered``…) is what staff read:
codes appear only in the small type meant for maintainers. The chart library is served by our own
server (no other host) and a missing one answers a clear 404.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.request

import pytest
import yaml

from bot.webapp import server
from bot.webapp.console import wording
from tests.support.botrun import add_console_user
from tests.support.browser import log_in_to_console
from tests.support.paths import ROOT
from tests.support.webapp import make_settings, request, serve, staff_headers

PASSWORD = "correct horse battery staple"
TABS = ["数据看板", "测试问答", "待审问题", "批量评测", "知识库", "账号管理", "操作日志"]
ADMIN_TABS = {"账号管理", "操作日志"}
QUESTIONS = [
    ("dash-resident-1", "毕业生落户需要什么"),
    ("dash-resident-2", "身份证寄到乡下要等几天"),
    ("dash-resident-3", "居住证有效期几年"),
    ("dash-resident-4", "说个笑话听听"),
    ("dash-resident-5", "说个笑话听听"),
]
CODE_LIKE = re.compile(r"[a-z]+(?:_[a-z]+)+")

# The page's text as staff read it: every text node and <option> outside <script>/<style> and
# outside the small type for maintainers (class "code" or "small"), hidden or not (closed
# <details> tables included).
VISIBLE_TEXT = """
const skip = (node) => node.closest('script, style, .code, .small, small.code');
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement && !skip(n.parentElement)) out.push(n.nodeValue);
}
out.push(document.title);
return out.join('\\n');
"""

TABLE = """
const table = document.getElementById(arguments[0]);
return Array.from(table.tBodies[0].rows).map((row) => ({
  data: Object.assign({}, row.dataset),
  cells: Array.from(row.cells).map((c) => ({text: c.textContent.trim(), outcome: c.dataset.outcome || null})),
}));
"""

# The body as text: chromedriver hands objects back with their keys sorted, and the order of the
# outcomes is part of what is checked.
FETCH_TEXT = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'})
  .then((r) => r.text())
  .then(done, (e) => done(JSON.stringify({error: String(e)})));
"""

FETCH_BYTES = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'}).then(async (r) => {
  const bytes = new Uint8Array(await r.arrayBuffer());
  let text = '';
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  done({status: r.status, type: r.headers.get('Content-Type'), body: btoa(text)});
}, (e) => done({error: String(e)}));
"""


def _code_words() -> set[str]:
    """Every code staff must never read as a label: intents (domain.yml), outcomes and reasons."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    words = set(domain["intents"]) | set(wording.load()["outcomes"]) | set(wording.load()["reasons"])
    return {w for w in words if isinstance(w, str)}


def english_codes(text: str, codes: set[str]) -> list[str]:
    """The tokens of ``text`` that are codes: snake_case words, or intent/outcome/reason names."""
    tokens = re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)
    return sorted({t for t in tokens if CODE_LIKE.fullmatch(t) or t in codes})


@pytest.mark.parametrize(
    "text, found",
    [
        ("原因：工作人员标错", []),
        ("原因：staff_marked_wrong", ["staff_marked_wrong"]),
        ("意图 nlu_fallback 0.912", ["nlu_fallback"]),
        ("问候 greet", ["greet"]),
        ("结果：answered", ["answered"]),
        ("接口（REST） hall01 127.0.0.1 CSV", []),
        ("ask_seal_engraving（刻章）", ["ask_seal_engraving"]),
    ],
)
def test_english_codes_finds_codes_and_nothing_else(text, found):
    assert english_codes(text, _code_words()) == found


# --- the chart library and the page's hosts, in process ------------------------------------


def test_echarts_is_served_as_javascript_from_our_server(tmp_path):
    settings = make_settings(tmp_path)
    with serve(settings) as srv:
        status, headers, body = request(srv["url"] + "/static/vendor/echarts.min.js")
    assert status == 200, body[:200]
    assert headers["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert body == server.VENDOR_FILES["echarts.min.js"].read_bytes()
    assert b"echarts" in body[:2000] and len(body) > 500_000
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    package = json.loads((ROOT / "web" / "package.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"5\.\d+\.\d+", package["dependencies"]["echarts"]), "an exact echarts 5.x version"


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/zrender.min.js",
        "/static/vendor/..%2F..%2Fconsole.html",
        "/static/vendor/%2e%2e/package.json",
        "/static/vendor/echarts.min.js%00.png",
        "/static/vendor/<script>alert(1)</script>",
    ],
)
def test_other_vendor_paths_are_not_found(tmp_path, path):
    with serve(make_settings(tmp_path)) as srv:
        status, _, body = request(srv["url"] + path)
    assert status == 404, body[:200]
    assert b"<script>" not in body


def test_a_missing_echarts_is_a_clear_404_and_a_log_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(server.VENDOR_FILES, "echarts.min.js", tmp_path / "nowhere" / "echarts.min.js")
    with serve(make_settings(tmp_path)) as srv, caplog.at_level(logging.WARNING, logger="bot.webapp.server"):
        status, _, body = request(srv["url"] + "/static/vendor/echarts.min.js")
        healthy, _, _ = request(srv["url"] + "/health")
    assert status == 404 and b"make web-deps" in body
    assert healthy == 200
    messages = [r.getMessage() for r in caplog.records]
    assert any("echarts.min.js is missing" in m and "make web-deps" in m for m in messages), messages


def test_the_console_page_loads_nothing_from_another_host(tmp_path):
    settings = make_settings(tmp_path)
    with serve(settings) as srv:
        headers = staff_headers(srv["url"], settings)
        status, page_headers, page = request(srv["url"] + "/console", headers=headers)
        assert status == 200
        html = page.decode("utf-8")
        references = re.findall(r"""(?:src|href|action)\s*=\s*["']([^"']*)["']""", html)
        assert "/static/vendor/echarts.min.js" in references and "/static/console.js" in references
        for ref in references:
            assert ref.startswith(("/", "#")) and not ref.startswith("//"), ref
        assert not re.search(r"https?://", html)
        for asset in ("/static/console.js", "/static/console.css"):
            code, _, text = request(srv["url"] + asset)
            assert code == 200 and not re.search(rb"https?://", text), asset
        csp = page_headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "http" not in csp
        # no inline script or style for the policy to refuse
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and "<style" not in html
        assert not re.search(r"\sstyle\s*=", html) and not re.search(r"\son[a-z]+\s*=", html)


# --- in Chromium, against `python -m bot run` ---------------------------------------------


def _add_user(running_bot, username: str, role: str) -> dict:
    return add_console_user(running_bot, username, PASSWORD, role)


@pytest.fixture(scope="module")
def dash_admin(running_bot):
    """An administrator of the running bot's console."""
    return _add_user(running_bot, "dashadmin01", "admin")


@pytest.fixture(scope="module")
def dash_staff(running_bot):
    """A member of staff (no administrator) of the running bot's console."""
    return _add_user(running_bot, "dashstaff01", "staff")


@pytest.fixture(scope="module")
def residents_asked(running_bot):
    """Residents' questions through the REST webhook, and one through the web page."""
    for sender, text in QUESTIONS:
        req = urllib.request.Request(
            running_bot["url"] + "/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert json.loads(urllib.request.urlopen(req, timeout=60).read())
    page = urllib.request.Request(
        running_bot["web_url"] + "/api/message",
        data=json.dumps({"sender": "dash-web-1", "message": "驾驶证到期怎么换"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert json.loads(urllib.request.urlopen(page, timeout=60).read())
    return QUESTIONS


@pytest.fixture
def wide_browser(browser):
    """The session's Chromium at 1366×768, without anyone's session; its size restored afterwards."""
    before = browser.get_window_size()
    browser.set_window_size(1366, 768)
    inner = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    if inner[1] != 768:  # the window size counts the window's own decorations: make the page 1366×768
        size = browser.get_window_size()
        browser.set_window_size(size["width"] + 1366 - inner[0], size["height"] + 768 - inner[1])
    yield browser
    browser.delete_all_cookies()
    browser.set_window_size(before["width"], before["height"])


def fetch_json(driver, path: str):
    """``path`` fetched by the page (with its session), parsed here so that key order survives."""
    return json.loads(driver.execute_async_script(FETCH_TEXT, path))


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _check_tables_match(driver, stats: dict) -> None:
    """The dashboard's tables hold exactly the figures of ``stats``."""
    labels = wording.load()
    daily = driver.execute_script(TABLE, "table-daily")
    assert [row["data"]["day"] for row in daily] == [d["day"] for d in stats["per_day"]]
    assert len(daily) == stats["days"]
    for row, d in zip(daily, stats["per_day"], strict=True):
        by_outcome = {c["outcome"]: _number(c["text"]) for c in row["cells"] if c["outcome"]}
        assert by_outcome == {code: d["outcomes"].get(code, 0) for code in stats["outcomes"]}, d["day"]
        assert _number(row["cells"][-1]["text"]) == d["total"]
    assert list(stats["outcomes"]) == list(labels["outcomes"])
    header = driver.execute_script(
        "return Array.from(document.querySelectorAll('#table-daily thead th')).map((th) => th.textContent)"
    )
    assert header[1:-1] == [labels["outcomes"][c]["label"] for c in stats["outcomes"]]
    measures = driver.execute_script(TABLE, "table-measures")
    top = stats["top_measures"]
    if top:
        assert [int(r["data"]["number"]) for r in measures] == [m["number"] for m in top]
        for row, m in zip(measures, top, strict=True):
            assert m["title"] in row["cells"][0]["text"]
            assert [_number(c["text"]) for c in row["cells"][1:]] == [m["asked"], m["up"], m["down"]]
    channels = driver.execute_script(TABLE, "table-channels")
    assert {r["data"]["channel"]: _number(r["cells"][1]["text"]) for r in channels} == stats["channels"]
    assert [r["cells"][0]["text"] for r in channels] == [labels["channels"][c] for c in stats["channels"]]
    unanswered = driver.execute_script(TABLE, "table-unanswered")
    if stats["unanswered"]:
        assert [(r["cells"][0]["text"], _number(r["cells"][1]["text"])) for r in unanswered] == [
            (g["text"], g["count"]) for g in stats["unanswered"]
        ]
    total = driver.execute_script("return document.getElementById('fig-total').textContent")
    assert _number(total) == stats["total"]


REOPEN = """
const done = arguments[arguments.length - 1];
const csrf = decodeURIComponent((document.cookie.match(/(?:^|; )gxga_csrf=([^;]*)/) || [])[1] || '');
fetch('/console/api/review-groups/reopen', {method: 'POST', credentials: 'same-origin',
  headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify({key: arguments[0]})})
  .then((r) => done(r.status), (e) => done(String(e)));
"""


GROUP_ROWS = """
return Array.from(document.querySelectorAll('#groups tbody tr')).map((row) => ({
  key: row.dataset.key === undefined ? null : row.dataset.key,
  text: row.innerText,
  buttons: Array.from(row.querySelectorAll('button')).map((b) => b.className),
}));
"""


def _group_rows(driver, key: str) -> list[dict]:
    """The review list's rows of group ``key`` (read in one go: the list re-renders under us)."""
    return [r for r in driver.execute_script(GROUP_ROWS) if r["key"] == key]


def _click(driver, key: str, button: str) -> None:
    driver.execute_script(
        "Array.from(document.querySelectorAll('#groups tbody tr'))"
        ".find((r) => r.dataset.key === arguments[0]).querySelector('button.' + arguments[1]).click()",
        key,
        button,
    )


def _handle_and_reopen(driver, question: str, username: str) -> None:
    """标记已处理 hides the group, 显示已处理 shows it with 上次处理, 重新打开 brings it back."""
    from selenium.webdriver.common.by import By

    from tests.support.browser import wait_until

    rows = [r for r in driver.execute_script(GROUP_ROWS) if question in r["text"]]
    assert rows and rows[0]["key"] is not None, rows
    key = rows[0]["key"]
    try:
        assert "mark-handled" in rows[0]["buttons"], rows[0]
        _click(driver, key, "mark-handled")
        wait_until(driver, lambda d: not _group_rows(d, key))
        assert "已处理" in driver.find_element(By.ID, "review-total").text
        driver.find_element(By.ID, "review-handled").click()
        [shown] = wait_until(driver, lambda d: _group_rows(d, key))
        assert f"上次处理：{username}，" in shown["text"], shown
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", shown["text"]), shown
        _click(driver, key, "reopen")
        wait_until(driver, lambda d: [r for r in _group_rows(d, key) if "mark-handled" in r["buttons"]])
        driver.find_element(By.ID, "review-handled").click()
        wait_until(driver, lambda d: _group_rows(d, key))
    finally:  # the group stays open for the other tests of the session, whatever happened
        driver.execute_async_script(REOPEN, key)


@pytest.mark.e2e
def test_dashboard_and_every_tab_speak_chinese(running_bot, residents_asked, dash_admin, wide_browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from tests.support.browser import wait_until

    driver, web = wide_browser, running_bot["web_url"]
    log_in_to_console(driver, web, dash_admin)
    driver.execute_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    tabs = driver.find_elements(By.CSS_SELECTOR, "[role=tablist] [role=tab]")
    assert [t.text for t in tabs] == TABS
    assert tabs[0].get_attribute("aria-selected") == "true"
    assert [t.get_attribute("aria-selected") for t in tabs[1:]] == ["false"] * (len(TABS) - 1)
    assert driver.find_element(By.ID, "dashboard").is_displayed()

    # 7 days (the default): charts drawn, tables equal to the API's figures
    wait_until(driver, lambda d: len(d.execute_script(TABLE, "table-daily")) == 7)
    stats = fetch_json(driver, "/console/api/stats?days=7")
    assert stats["days"] == 7 and stats["total"] >= len(QUESTIONS), stats
    assert sum(stats["channels"].values()) >= len(QUESTIONS)
    for chart in ("chart-daily", "chart-measures", "chart-channels"):
        wait_until(driver, lambda d, c=chart: d.find_elements(By.CSS_SELECTOR, f"#{c} canvas"))
    _check_tables_match(driver, stats)
    period = driver.find_element(By.ID, "stats-period").text
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 至 \d{4}年\d{1,2}月\d{1,2}日（7 天）", period), period
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    shots = ROOT / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [1366, 768]
    driver.save_screenshot(str(shots / "console-dashboard.png"))
    # a tooltip (drawn on the canvas: no inline style for the CSP to refuse)
    ActionChains(driver).move_to_element(driver.find_element(By.ID, "chart-daily")).perform()

    # 30 and 90 days
    for days in (30, 90):
        driver.find_element(By.ID, f"period-{days}").click()
        wait_until(driver, lambda d, n=days: len(d.execute_script(TABLE, "table-daily")) == n)
        assert driver.find_element(By.ID, f"period-{days}").get_attribute("aria-pressed") == "true"
        assert f"（{days} 天）" in driver.find_element(By.ID, "stats-period").text
        stats = fetch_json(driver, f"/console/api/stats?days={days}")
        _check_tables_match(driver, stats)
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    assert driver.execute_script("return window.__csp") == [], "no Content-Security-Policy violation"

    # the CSV download, of the period shown
    href = driver.find_element(By.ID, "stats-csv").get_attribute("href")
    assert href.endswith("/console/api/stats.csv?days=90"), href
    csv = driver.execute_async_script(FETCH_BYTES, href)
    body = base64.b64decode(csv["body"])
    assert csv["status"] == 200 and csv["type"].startswith("text/csv"), csv["type"]
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, for Excel"
    text = body.decode("utf-8-sig")
    assert "日期" in text and stats["since"] in text and stats["until"] in text

    # an unanswered question leads to 待审问题
    links = driver.find_elements(By.CSS_SELECTOR, "#table-unanswered a.to-review")
    if links:
        links[0].click()
        wait_until(driver, lambda d: d.find_element(By.ID, "tab-review").get_attribute("aria-selected") == "true")
        wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#groups tbody tr"))

    codes = _code_words()
    texts = {}
    for tab in tabs:
        tab.click()
        name = tab.get_attribute("data-tab")
        wait_until(driver, lambda d, n=name: d.find_element(By.ID, n).is_displayed())
        if name == "ask":
            question = driver.find_element(By.ID, "question")
            question.clear()
            question.send_keys("说个笑话听听")
            driver.find_element(By.ID, "ask-button").click()
            wait_until(driver, lambda d: d.find_element(By.ID, "normalized").text == "说个笑话听听")
            ranking = driver.find_element(By.ID, "ranking")
            assert ranking.find_elements(By.CSS_SELECTOR, "small.code"), "intent codes in small type"
            assert "nlu_fallback" not in driver.execute_script(VISIBLE_TEXT)
        elif name == "review":

            def listed(d):
                rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#groups tbody tr")]
                return rows if any("说个笑话听听" in r and "未理解" in r for r in rows) else None

            assert wait_until(driver, listed)
            _handle_and_reopen(driver, "说个笑话听听", dash_admin["username"])
            reasons = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#review-reason option")]
            assert reasons[1:] == list(wording.load()["reasons"].values())
        elif name == "eval":
            cases = tmp_path / "cases.yml"
            cases.write_text(
                "- question: 身份证寄到乡下要等几天\n  measures: [26]\n- question: 明天会下雨吗\n  measures: []\n",
                encoding="utf-8",
            )
            driver.find_element(By.ID, "cases").send_keys(str(cases))
            driver.find_element(By.ID, "run-eval").click()
            wait_until(driver, lambda d: "用例数" in d.find_element(By.ID, "eval-summary").text, timeout=120)
            summary = driver.find_element(By.ID, "eval-summary").text
            for word in ("范围内准确率", "不应引用准确率", "要点命中率", "中位响应时间", "用例数"):
                assert word in summary, summary
        elif name == "knowledge":
            wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#kb-sections details"))
            box = driver.find_element(By.ID, "kb-q")
            box.send_keys("落户")
            driver.find_element(By.ID, "kb-search").click()
            wait_until(driver, lambda d: "落户" in d.find_element(By.ID, "kb-count").text)
            assert "全面放开人才落户限制" in driver.find_element(By.ID, "kb-sections").text
        elif name == "accounts":
            mine = f"#users tr[data-username='{dash_admin['username']}']"
            wait_until(driver, lambda d, css=mine: d.find_elements(By.CSS_SELECTOR, css))
            row = driver.find_element(By.CSS_SELECTOR, mine)
            assert "管理员" in row.text
        elif name == "audit":
            wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr[data-id]"))
            assert "登录" in driver.find_element(By.ID, "audit-table").text
        texts[name] = driver.execute_script(VISIBLE_TEXT)
        driver.save_screenshot(str(tmp_path / f"console-{name}.png"))  # kept in pytest's tmp dir, for a look
        assert driver.find_element(By.ID, "error").text == "", (name, driver.find_element(By.ID, "error").text)
        assert english_codes(texts[name], codes) == [], name
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), name
    assert set(texts) == {"dashboard", "ask", "review", "eval", "knowledge", "accounts", "audit"}
    assert driver.execute_script("return window.__csp") == []


@pytest.mark.e2e
def test_staff_do_not_see_the_administrators_tabs(running_bot, dash_staff, wide_browser):
    from selenium.webdriver.common.by import By

    from tests.support.browser import wait_until

    driver = wide_browser
    log_in_to_console(driver, running_bot["web_url"], dash_staff)
    wait_until(driver, lambda d: d.find_element(By.ID, "role").text == "工作人员")
    shown = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "[role=tab]") if t.is_displayed()]
    assert shown == [t for t in TABS if t not in ADMIN_TABS]
    users = fetch_json(driver, "/console/api/users")
    assert "error" in users and "users" not in users
