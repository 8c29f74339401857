"""The staff console in headless Chromium.

Login required everywhere, ask-and-inspect, verdicts, the review list from real conversations,
export as NLU YAML, eval on an uploaded case file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from bot.security import ratelimit
from bot.storage import appdb
from bot.webapp import console
from tests.support.botrun import add_console_user
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.webapp import csrf_token, login, make_settings, serve

PASSWORD = "correct horse battery staple"


def test_export_yaml_is_valid_nlu():
    rows = [
        appdb.ReviewRecord(
            1,
            datetime.now(timezone.utc),
            "a",
            "大学生落户呢",
            "followup_other_case",
            (),
            "wrong",
            "ask_settle_graduate_materials",
            22,
            "",
        ),
        appdb.ReviewRecord(
            2, datetime.now(timezone.utc), "a", "身份证几天", "ask_id_card_issue_time", (26,), "right", None, None, ""
        ),
    ]
    data = yaml.safe_load(console.export_yaml(rows))
    assert data == {
        "version": "3.1",
        "nlu": [{"intent": "ask_settle_graduate_materials", "examples": "- 大学生落户呢\n"}],
    }


@pytest.mark.parametrize(
    "username, password, message",
    [("a", PASSWORD, "username"), ("bob smith", PASSWORD, "username"), ("bob", "short", "password")],
)
def test_bad_accounts_are_refused(tmp_path, username, password, message):
    with pytest.raises(ValueError, match=message):
        appdb.add_staff_user(username, password, url=f"sqlite:///{tmp_path / 'a.db'}")


def test_sessions_expire(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    appdb.add_staff_user("carol", PASSWORD, url=url)
    token = appdb.login("carol", PASSWORD, hours=8, url=url)
    assert appdb.session_user(token, url=url) == "carol"
    from knowledge import db

    with db.session_scope(url) as s:
        for row in s.query(appdb.StaffSession).all():
            row.expires_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert appdb.session_user(token, url=url) is None
    assert appdb.login("carol", "wrong password!!", hours=8, url=url) is None
    assert appdb.session_user("forged", url=url) is None


def test_passwords_are_hashed(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    appdb.add_staff_user("dave", PASSWORD, url=url)
    from knowledge import db

    with db.session_scope(url) as s:
        [user] = s.query(appdb.StaffUser).all()
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("$2b$12$")
    with pytest.raises(ValueError, match="exists"):
        appdb.add_staff_user("dave", PASSWORD, url=url)


# --- login throttling, in process (real bcrypt, real limiters) ---------------------------------

FAILED, LOCKED, IN = "/console/login?failed=1", "/console/login?locked=1", "/console"


@pytest.fixture
def bcrypt_checks(monkeypatch):
    """The hashes of every real ``bcrypt.checkpw`` call (the check itself still runs)."""
    import bcrypt

    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    return calls


@pytest.fixture(params=["in-process", "redis"])
def login_limiter(request):
    """A fresh login limiter of each kind (Redis: the session's real server, a namespace of its own)."""
    if request.param == "in-process":
        return ratelimit.RateLimiter()
    return ratelimit.RedisRateLimiter(request.getfixturevalue("redis_url"), namespace=f"test-{os.urandom(4).hex()}")


def test_reserve_is_atomic_and_release_frees_the_slot(login_limiter):
    with ThreadPoolExecutor(16) as pool:
        tokens = list(pool.map(lambda _: login_limiter.reserve("acct", 5, 900), range(16)))
    granted = [t for t in tokens if t is not None]
    assert len(granted) == 5 and login_limiter.count("acct", 900) == 5
    login_limiter.release("acct", granted[0])
    assert login_limiter.count("acct", 900) == 4
    assert login_limiter.reserve("acct", 5, 900) is not None and login_limiter.reserve("acct", 5, 900) is None
    login_limiter.release("acct", granted[1])
    login_limiter.release("acct", granted[1])  # a second release of one slot frees nothing more
    assert login_limiter.count("acct", 900) == 4
    assert login_limiter.reserve("other", 5, 900) is not None  # keys are independent


def test_reserve_falls_back_to_the_process_while_redis_is_down():
    limiter = ratelimit.RedisRateLimiter(f"redis://127.0.0.1:{free_port()}", namespace="down", timeout=0.05)
    tokens = [limiter.reserve("acct", 2, 900) for _ in range(3)]
    assert tokens[2] is None and limiter.fallback.count("acct", 900) == 2
    limiter.release("acct", tokens[0])
    assert limiter.fallback.count("acct", 900) == 1


def test_concurrent_wrong_logins_check_at_most_the_limit(tmp_path, login_limiter, bcrypt_checks):
    """12 wrong passwords at once for one account from one address: only 5 reach bcrypt."""
    settings = make_settings(tmp_path)
    appdb.add_staff_user("target01", PASSWORD, url=settings.app_database_url)
    with serve(settings, limiter=login_limiter) as server:
        csrf = csrf_token(server["url"])
        start = threading.Barrier(12)

        def attempt(i: int) -> str:
            start.wait()
            return login(server["url"], "target01", f"guess number {i}", csrf=csrf)[0]

        with ThreadPoolExecutor(12) as pool:
            locations = list(pool.map(attempt, range(12)))
        assert len(bcrypt_checks) == console.LOGIN_FAILURES, locations
        assert locations.count(FAILED) == console.LOGIN_FAILURES and locations.count(LOCKED) == 7
        assert login(server["url"], "target01", PASSWORD)[0] == LOCKED
        assert len(bcrypt_checks) == console.LOGIN_FAILURES


def test_successful_logins_do_not_count_towards_the_lock(tmp_path, bcrypt_checks):
    settings = make_settings(tmp_path)
    appdb.add_staff_user("hall02", PASSWORD, url=settings.app_database_url)
    with serve(settings) as server:
        url = server["url"]
        assert [login(url, "hall02", "typo typo typo")[0] for _ in range(console.LOGIN_FAILURES - 1)] == [FAILED] * 4
        assert [login(url, "hall02", PASSWORD)[0] for _ in range(8)] == [IN] * 8
        assert login(url, "hall02", "typo typo typo")[0] == FAILED
        assert login(url, "hall02", PASSWORD)[0] == LOCKED


def test_unknown_and_known_users_cost_one_bcrypt_check_each(tmp_path, bcrypt_checks):
    """Login time does not tell whether an account exists (medians within 25 %)."""
    url = make_settings(tmp_path).app_database_url
    appdb.add_staff_user("known01", PASSWORD, url=url)
    appdb.login("warm-up", "x", hours=1, url=url)  # the stand-in hash is made once per process
    bcrypt_checks.clear()
    known, unknown = [], []
    for i in range(7):
        for name, times in (("known01", known), (f"nobody{i:02d}", unknown)):
            started = time.perf_counter()
            assert appdb.login(name, "wrong password 1", hours=1, url=url) is None
            times.append(time.perf_counter() - started)
    assert len(bcrypt_checks) == 14 and all(h.startswith(b"$2b$12$") for h in bcrypt_checks)
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"login medians: known {k * 1000:.0f} ms, unknown {u * 1000:.0f} ms")
    assert abs(k - u) / max(k, u) < 0.25, (known, unknown)


def test_throttle_keys_on_the_forwarded_address_behind_a_trusted_proxy(tmp_path):
    settings = make_settings(tmp_path, trusted_proxies=("127.0.0.1",))
    appdb.add_staff_user("target01", PASSWORD, url=settings.app_database_url)
    with serve(settings) as server:
        url = server["url"]
        attacker = "203.0.113.7"
        assert [login(url, "target01", f"guess {i}", attacker)[0] for i in range(6)] == [FAILED] * 5 + [LOCKED]
        assert login(url, "target01", PASSWORD, attacker)[0] == LOCKED
        # a hop the attacker writes in front of the proxy's does not change the address
        assert login(url, "target01", PASSWORD, f"198.51.100.20, {attacker}")[0] == LOCKED
        # the same account from the staff member's own address (B) is not locked
        assert login(url, "target01", PASSWORD, "198.51.100.20")[0] == IN


def test_forwarded_for_is_ignored_from_an_untrusted_peer(tmp_path):
    settings = make_settings(tmp_path, trusted_proxies=("192.0.2.1",))
    appdb.add_staff_user("target01", PASSWORD, url=settings.app_database_url)
    with serve(settings) as server:
        url = server["url"]
        locations = [login(url, "target01", f"guess {i}", f"203.0.113.{i}")[0] for i in range(6)]
        assert locations == [FAILED] * 5 + [LOCKED]
        assert login(url, "target01", PASSWORD, "198.51.100.20")[0] == LOCKED


def test_many_accounts_from_one_address_lock_the_address(tmp_path):
    settings = make_settings(tmp_path, trusted_proxies=("127.0.0.1",))
    appdb.add_staff_user("target01", PASSWORD, url=settings.app_database_url)
    per_account = console.LOGIN_FAILURES - 1
    names = [f"guess{i:02d}" for i in range(console.LOGIN_FAILURES_PER_IP // per_account)]
    with serve(settings) as server:
        url, csrf = server["url"], csrf_token(server["url"])
        with ThreadPoolExecutor(4) as pool:
            locations = list(
                pool.map(
                    lambda n: login(url, n, "wrong password", "203.0.113.9", csrf)[0],
                    [n for n in names for _ in range(per_account)],
                )
            )
        assert locations == [FAILED] * console.LOGIN_FAILURES_PER_IP
        assert login(url, "target01", PASSWORD, "203.0.113.9")[0] == LOCKED
        assert login(url, "target01", PASSWORD, "203.0.113.10")[0] == IN


def test_login_log_has_no_password(tmp_path, caplog):
    settings = make_settings(tmp_path)
    with serve(settings) as server, caplog.at_level("INFO"):
        for _ in range(console.LOGIN_FAILURES + 1):
            login(server["url"], "hall09", "s3cret-Passw0rd-guess")
    assert "hall09" in caplog.text and "s3cret-Passw0rd-guess" not in caplog.text


# --- end to end, against `python -m bot run` -------------------------------------------------


@pytest.fixture(scope="module")
def staff(running_bot):
    return add_console_user(running_bot, "hall01", PASSWORD)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.e2e
@pytest.mark.parametrize(
    "path, method",
    [
        ("/console/api/whoami", "GET"),
        ("/console/api/ask", "POST"),
        ("/console/api/review-list", "GET"),
        ("/console/api/export", "GET"),
        ("/console/api/eval", "POST"),
        ("/console/api/reviews", "POST"),
    ],
)
def test_console_api_needs_login(running_bot, path, method):
    req = urllib.request.Request(
        running_bot["web_url"] + path,
        data=b"{}" if method == "POST" else None,
        method=method,
        headers={"Cookie": "gxga_console=forged-token"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == 401


@pytest.mark.e2e
def test_console_page_redirects_to_login(running_bot):
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(running_bot["web_url"] + "/console", timeout=30)
    assert info.value.code == 302 and info.value.headers["Location"] == "/console/login"


def _csrf(web_url: str) -> str:
    with urllib.request.urlopen(web_url + "/console/login", timeout=30) as resp:
        cookie = resp.headers["Set-Cookie"]
    assert "gxga_csrf=" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0].split("=", 1)[1]


def _login(web_url: str, username: str, password: str, csrf: str | None = None, send_csrf: bool = True):
    """POST the login form; returns the redirect (HTTPError from the no-redirect opener)."""
    csrf = csrf or _csrf(web_url)
    opener = urllib.request.build_opener(_NoRedirect)
    fields = {"username": username, "password": password, **({"csrf": csrf} if send_csrf else {})}
    req = urllib.request.Request(
        web_url + "/console/login",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Cookie": f"gxga_csrf={csrf}"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(req, timeout=30)
    return info.value, csrf


@pytest.mark.e2e
def test_wrong_password_is_refused(running_bot, staff):
    redirect, _ = _login(running_bot["web_url"], "hall01", "not the password")
    assert redirect.headers["Location"] == "/console/login?failed=1"
    assert "gxga_console" not in (redirect.headers.get("Set-Cookie") or "")


@pytest.mark.e2e
def test_login_without_csrf_token_is_forbidden(running_bot, staff):
    refused, _ = _login(running_bot["web_url"], "hall01", PASSWORD, send_csrf=False)
    assert refused.code == 403


@pytest.mark.e2e
def test_repeated_failures_lock_the_account(running_bot, staff, tmp_path):
    web = running_bot["web_url"]
    env = {**os.environ, "APP_DATABASE_URL": f"sqlite:///{running_bot['app_db']}"}
    subprocess.run(
        [sys.executable, "-m", "bot.webapp.console", "add-user", "target01", "--password-stdin"],
        cwd=ROOT,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    locations = [
        _login(web, "target01", f"guess {i}")[0].headers["Location"] for i in range(console.LOGIN_FAILURES + 1)
    ]
    assert locations[-1] == "/console/login?locked=1"
    assert _login(web, "target01", PASSWORD)[0].headers["Location"] == "/console/login?locked=1"


@pytest.mark.e2e
def test_console_posts_need_the_csrf_header(running_bot, staff):
    redirect, csrf = _login(running_bot["web_url"], "hall01", PASSWORD)
    session = redirect.headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in redirect.headers["Set-Cookie"] and "SameSite=Strict" in redirect.headers["Set-Cookie"]
    req = urllib.request.Request(
        running_bot["web_url"] + "/console/api/ask",
        data=json.dumps({"text": "你好"}).encode(),
        headers={"Cookie": f"{session}; gxga_csrf={csrf}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == 403


@pytest.mark.e2e
def test_staff_workflow_in_chromium(running_bot, staff, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.support.browser import wait_until as _wait

    # A resident who got a fallback and gave 👎, so the review list has real conversations too.
    def rest(text, sender):
        req = urllib.request.Request(
            running_bot["url"] + "/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return json.loads(urllib.request.urlopen(req, timeout=30).read())

    rest("说个笑话听听", "resident-review-1")
    rest("说个笑话听听", "resident-review-2")

    web = running_bot["web_url"]
    browser.get(web + "/console")
    _wait(browser, lambda d: d.find_elements(By.ID, "username"))
    browser.find_element(By.ID, "username").send_keys(staff["username"])
    browser.find_element(By.ID, "password").send_keys(staff["password"])
    browser.find_element(By.ID, "login").click()
    _wait(browser, lambda d: d.find_element(By.ID, "user").text == "hall01")

    # 数据看板 is the first tab; 测试问答 is the second.
    browser.find_element(By.ID, "tab-ask").click()
    browser.find_element(By.ID, "question").send_keys("大学生落户呢")
    browser.find_element(By.ID, "ask-button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "normalized").text == "大学生落户呢")
    assert "/" in browser.find_element(By.ID, "tokens").text
    assert browser.find_elements(By.CSS_SELECTOR, "#ranking tr")
    assert browser.find_element(By.ID, "reply").text
    assert browser.find_element(By.ID, "decision").text.startswith("由措施作答：")

    browser.find_element(By.ID, "mark-wrong").click()
    Select(browser.find_element(By.ID, "correct-intent")).select_by_value("ask_settle_graduate_materials")
    browser.find_element(By.ID, "correct-measure").send_keys("22")
    browser.find_element(By.ID, "comment").send_keys("应答毕业生落户材料")
    browser.find_element(By.ID, "save-wrong").click()
    _wait(browser, lambda d: d.find_element(By.ID, "saved").is_displayed())

    # A question the notice does not answer: the decision and its reason are shown, with the
    # related measure's text beside it.
    question = browser.find_element(By.ID, "question")
    question.clear()
    question.send_keys("居住证有效期几年")
    browser.find_element(By.ID, "ask-button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "normalized").text == "居住证有效期几年")
    _wait(browser, lambda d: "文件未规定" in d.find_element(By.ID, "decision").text)
    decision = browser.find_element(By.ID, "decision").text
    assert "有效期" in decision and "相关：第24项" in decision, decision
    assert browser.find_element(By.ID, "cited").text == "（未引用）"
    assert "创新居住证办理和服务" in browser.find_element(By.ID, "measure-text").text

    browser.find_element(By.ID, "tab-review").click()
    rows = _wait(browser, lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#groups tbody tr")] or None)
    assert any("大学生落户呢" in r and "工作人员标错" in r for r in rows), rows
    assert any("说个笑话听听" in r and "2" in r for r in rows), rows
    browser.find_element(By.CSS_SELECTOR, "#groups tbody tr button.view-conversation").click()
    _wait(browser, lambda d: d.find_element(By.ID, "conversation").text)

    exported = browser.execute_async_script(
        "const done = arguments[0]; fetch('/console/api/export').then(r => r.text()).then(done);"
    )
    data = yaml.safe_load(exported)
    assert {"intent": "ask_settle_graduate_materials", "examples": "- 大学生落户呢\n"} in data["nlu"]

    shots = ROOT / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "console.png"))


@pytest.mark.e2e
def test_eval_upload(running_bot, staff):
    redirect, csrf = _login(running_bot["web_url"], "hall01", PASSWORD)
    cookie = f"{redirect.headers['Set-Cookie'].split(';')[0]}; gxga_csrf={csrf}"
    headers = {"Cookie": cookie, "Content-Type": "text/yaml", "X-CSRF-Token": csrf}
    cases = "- question: 身份证寄到乡下要等几天\n  measures: [26]\n- question: 明天会下雨吗\n  measures: [22]\n"
    req = urllib.request.Request(running_bot["web_url"] + "/console/api/eval", data=cases.encode(), headers=headers)
    report = json.loads(urllib.request.urlopen(req, timeout=120).read())
    assert [c["correct"] for c in report["cases"]] == [True, False]
    bad = urllib.request.Request(
        running_bot["web_url"] + "/console/api/eval", data=b"- question: x\n  measures: [99]\n", headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=30)
    assert info.value.code == 400 and "case 1" in json.loads(info.value.read())["error"]


@pytest.mark.e2e
def test_console_questions_are_staff_traffic_not_residents(running_bot, staff):
    """The console asks through the authenticated staff channel, so its questions stay out of the review list.

    That holds whatever the sender is called; the same question from a resident is listed.
    """
    web = running_bot["web_url"]
    question = "说个笑话听听"  # NLU falls back on it: a resident's asking is listed
    redirect, csrf = _login(web, "hall01", PASSWORD)
    headers = {
        "Cookie": f"{redirect.headers['Set-Cookie'].split(';')[0]}; gxga_csrf={csrf}",
        "X-CSRF-Token": csrf,
        "Content-Type": "application/json",
    }
    req = urllib.request.Request(
        web + "/console/api/ask", data=json.dumps({"text": question}).encode(), headers=headers
    )
    asked = json.loads(urllib.request.urlopen(req, timeout=60).read())
    assert any(m.get("text") for m in asked["replies"]), asked
    resident = urllib.request.Request(
        web + "/api/message",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"sender": "joke-resident", "message": question}).encode(),
    )
    urllib.request.urlopen(resident, timeout=60).read()
    listing = urllib.request.Request(web + "/console/api/review-list", headers=headers)
    groups = json.loads(urllib.request.urlopen(listing, timeout=60).read())["groups"]
    mine = [g for g in groups if "web-joke-resident" in g["senders"]]
    assert mine, "the resident's question is listed"
    senders = [s for g in groups for s in g["senders"]]
    assert not any(s.startswith("console-") for s in senders), senders
