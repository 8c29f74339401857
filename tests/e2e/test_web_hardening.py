"""Attacks on the web server of the running stack: gzip bombs, chunked floods, slowloris, slow bodies, 500s.

The stack is the session's ``running_bot`` (``python -m bot run`` with ``WEB_HEADER_TIMEOUT=1.5`` and
``WEB_BODY_TIMEOUT=2``); memory is the web server process's own peak (``VmHWM`` in /proc). The cap
on connections per address needs an untrusted peer, so it is tested on the in-process server
(:mod:`tests.support.webapp`, the same :class:`bot.webapp.connections.GuardedRunner`).
"""

from __future__ import annotations

import gzip
import json
import pathlib
import socket
import threading
import time

import pytest

from bot.webapp.console import MAX_CASE_BYTES, wording
from tests.support.botrun import add_console_user
from tests.support.webapp import csrf_token, make_settings, serve

pytestmark = pytest.mark.e2e
PASSWORD = "hardening password 1"


def _web_pid(port: int) -> int:
    """The pid of ``python -m bot.ops.webserver --port PORT``."""
    for path in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = path.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bot.ops.webserver" in args and str(port).encode() in args:
            return int(path.parent.name)
    raise AssertionError(f"no web server process on port {port}")


def _peak_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _raw(port: int, data: bytes, timeout: float = 30.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it or ``timeout`` passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return got


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _chunked(body: bytes, piece: int = 8192) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece]) for i in range(0, len(body), piece)
    )
    return out + b"0\r\n\r\n"


BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # about 200 KiB of gzip


def _bomb_request(path: str, content_type: str, cookie: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Encoding: gzip\r\n"
        f"Transfer-Encoding: chunked\r\nConnection: close\r\n{cookie}\r\n"
    ).encode()
    return head + _chunked(BOMB)


def test_gzip_bombs_are_refused_without_memory(running_bot):
    """Four bombs at once to /api/message and four to /console/login: 415, peak memory within 20 MiB."""
    port = running_bot["web_port"]
    pid = _web_pid(port)
    _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    before = _peak_kib(pid)
    requests = [_bomb_request("/api/message", "application/json")] * 4 + [
        _bomb_request("/console/login", "application/x-www-form-urlencoded")
    ] * 4
    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda r=r: answers.append(_raw(port, r))) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(_status(a) for a in answers) == [415] * 8, [a[:120] for a in answers]
    assert b"Content-Encoding" in answers[0]
    grown = (_peak_kib(pid) - before) / 1024
    assert grown < 20, f"the web server's peak memory grew {grown:.0f} MiB"


def test_chunked_bodies_count_against_the_limit(running_bot):
    """A chunked /api/message body of 4 MiB is refused with 413 once it passes the limit, without growing memory."""
    port = running_bot["web_port"]
    pid = _web_pid(port)
    before = _peak_kib(pid)
    body = b'{"sender": "chunky", "message": "' + b"a" * (4 * 1024 * 1024) + b'"}'
    head = (
        b"POST /api/message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer = _raw(port, head + _chunked(body))
    assert _status(answer) == 413, answer[:200]
    assert (_peak_kib(pid) - before) / 1024 < 20


def test_slow_headers_are_cut_off(running_bot):
    """Slowloris: 40 connections that send a header line every 0.5 s are all closed within the 1.5 s deadline."""
    port = running_bot["web_port"]
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
    started = time.monotonic()
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    closed: set[int] = set()
    while len(closed) < len(socks) and time.monotonic() - started < 8:
        time.sleep(0.5)
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.sendall(b"X-Slow: 1\r\n")
                s.setblocking(False)
                try:
                    if s.recv(4096, socket.MSG_PEEK) == b"":
                        closed.add(i)
                    else:
                        assert s.recv(4096).startswith(b"HTTP/1.1 408"), "closed with anything but 408"
                        closed.add(i)
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                closed.add(i)
    elapsed = time.monotonic() - started
    for s in socks:
        s.close()
    assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow connections still open after {elapsed:.1f} s"
    assert elapsed < 5
    # the server still answers
    assert _status(_raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200


def test_idle_connections_are_closed_silently(running_bot):
    started = time.monotonic()
    answer = _raw(running_bot["web_port"], b"", timeout=10)
    assert answer == b"" and 1.0 < time.monotonic() - started < 5


def test_slow_bodies_get_408(running_bot):
    head = b"POST /api/message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    started = time.monotonic()
    answer = _raw(running_bot["web_port"], head + b'{"sender":', timeout=15)
    assert _status(answer) == 408, answer[:200]
    assert time.monotonic() - started < 6


@pytest.fixture(scope="module")
def console_session(running_bot):
    """``(cookie header, csrf)`` of a logged-in console account of the running bot."""
    import re
    import urllib.parse

    from tests.support.webapp import request

    add_console_user(running_bot, "harden01", PASSWORD)
    web = running_bot["web_url"]
    csrf = csrf_token(web)
    status, headers, _ = request(
        web + "/console/login",
        urllib.parse.urlencode({"username": "harden01", "password": PASSWORD, "csrf": csrf}).encode(),
        {"Cookie": f"gxga_csrf={csrf}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302 and headers["Location"] == "/console"
    session = re.search(r"gxga_console=[^;]+", headers["Set-Cookie"]).group(0)
    return f"{session}; gxga_csrf={csrf}", csrf


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "XyZ") -> bytes:
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in parts
    )
    return body + f"--{boundary}--\r\n".encode()


def _form_cases(csrf: str) -> list[tuple[str, str, bytes, str]]:
    """(id, Content-Type, body, expected wording code) of every malformed login/logout form of the attack."""
    good = [("csrf", csrf.encode()), ("username", b"harden01"), ("password", b"wrong")]
    return [
        ("no-boundary", "multipart/form-data", _multipart(good), "form_boundary"),
        ("empty-boundary", "multipart/form-data; boundary=", _multipart(good), "form_boundary"),
        ("long-boundary", "multipart/form-data; boundary=" + "b" * 71, _multipart(good), "form_boundary"),
        ("wrong-boundary", "multipart/form-data; boundary=Other", _multipart(good), "form_invalid"),
        (
            "long-charset",
            "multipart/form-data; boundary=XyZ",
            _multipart([("_charset_", b"x" * 5000), *good]),
            "form_invalid",
        ),
        (
            "unknown-charset",
            "multipart/form-data; boundary=XyZ",
            _multipart([("_charset_", b"klingon"), *good]),
            "form_invalid",
        ),
        ("not-a-form", "application/json", b'{"csrf": "x"}', "form_type"),
    ]


@pytest.mark.parametrize("path", ["/console/login", "/console/logout"])
@pytest.mark.parametrize("case", range(7))
def test_malformed_console_forms_get_400_in_chinese(running_bot, path, case):
    """Every login and logout form the attack sent (500 before) is a 400 with the console's wording."""
    from tests.support.webapp import request

    csrf = csrf_token(running_bot["web_url"])
    name, content_type, body, code = _form_cases(csrf)[case]
    status, _, answer = request(
        running_bot["web_url"] + path, body, {"Content-Type": content_type, "Cookie": f"gxga_csrf={csrf}"}
    )
    assert (status, answer.decode()) == (400, wording.error(code)), name


DEEP = "- " * 1 + "[" * 3000 + "]" * 3000 + "\n"


@pytest.mark.parametrize(
    "name, content_type, body, status, code",
    [
        ("deep", "text/yaml", DEEP.encode(), 400, "case_file_invalid"),
        ("mixed-keys", "text/yaml", "- question: 落户\n  measures: [22]\n  1: x\n".encode(), 400, "case_file_invalid"),
        (
            "long-question",
            "text/yaml",
            f"- question: {'问' * 70_000}\n  measures: [22]\n".encode(),
            400,
            "case_file_invalid",
        ),
        (
            "no-boundary",
            "multipart/form-data",
            _multipart([("cases", b"- question: x\n  measures: []\n")]),
            400,
            "form_boundary",
        ),
        ("wrong-boundary", "multipart/form-data; boundary=Q", _multipart([("cases", b"x")]), 400, "form_invalid"),
        ("chunked-too-large", "text/yaml", b"#" * (600 * 1024), 413, "case_file_too_large"),
    ],
)
def test_eval_uploads_that_failed_get_4xx(running_bot, console_session, name, content_type, body, status, code):
    """批量评测's 500s of the attack: a 4xx with a Chinese message, and no traceback in the log."""
    cookie, csrf = console_session
    log_before = running_bot["log_path"].stat().st_size
    head = (
        f"POST /console/api/eval HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nCookie: {cookie}\r\n"
        f"X-CSRF-Token: {csrf}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = _raw(running_bot["web_port"], head + _chunked(body))
    assert _status(answer) == status, (name, answer[:300])
    error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    assert error.startswith(wording.error(code, detail="", limit=MAX_CASE_BYTES)), (name, error)
    with open(running_bot["log_path"], "rb") as log:
        log.seek(log_before)
        assert b"Traceback" not in log.read(), name


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_connections_per_address_are_capped(tmp_path, loop):
    """The fourth connection of one untrusted address gets 503; a freed slot is usable again.

    Also on uvloop's loop, whose transports are no ``asyncio.WriteTransport``: CI's whole suite
    runs there once Rasa installed uvloop's policy, and a refusal checking ``isinstance`` wrote
    nothing (b"" after the linger).
    """
    import asyncio

    import uvloop

    settings = make_settings(tmp_path, trusted_proxies=("192.0.2.1",), web_max_connections_per_ip=3)
    new_loop = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with serve(settings, new_loop=new_loop) as server:
        port = int(server["url"].rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        time.sleep(0.2)
        started = time.monotonic()
        answer = _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", timeout=30)
        assert _status(answer) == 503, (answer, time.monotonic() - started)
        # a request already waiting, unread, when the server refuses (closed at once, the socket
        # answered with a reset that lost the 503), and one sent after the refusal: both read it
        for delay in (0.0, 0.0, 0.0, 0.3):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as late:
                time.sleep(delay)
                late.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 65536)
                assert _status(late.recv(65536)) == 503, delay
        held.pop().close()
        time.sleep(0.2)
        assert _status(_raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200
        for s in held:
            s.close()


def test_an_attacker_behind_a_cidr_proxy_cannot_lock_out_the_administrator(tmp_path):
    """21 wrong logins through the proxy (127.0.0.0/8 trusted, as a pod network) lock only the attacker's address.

    Each failure is audited with the account tried and the address, never the password.
    """
    from bot.storage import appdb, audit
    from tests.support.webapp import login

    settings = make_settings(tmp_path, trusted_proxies=("127.0.0.0/8",))
    appdb.add_staff_user("admin01", PASSWORD, url=settings.app_database_url, role="admin")
    with serve(settings) as server:
        base = server["url"]
        attempts = [login(base, "admin01", f"guess-{i}-secret", forwarded_for="203.0.113.50")[0] for i in range(21)]
        assert attempts[-1] == "/console/login?locked=1" and attempts[0] == "/console/login?failed=1"
        assert login(base, "admin01", PASSWORD, forwarded_for="198.51.100.9, 127.0.0.1")[0] == "/console"
    failed = audit.entries(url=settings.app_database_url, action="login_failed", limit=100)
    assert {(e.target, e.detail) for e in failed} == {("admin01", "203.0.113.50")}
    assert 5 <= len(failed) <= 20  # only the checked ones; throttled attempts are not checked
    assert not any("guess-" in e.detail + e.target for e in audit.entries(url=settings.app_database_url))


def test_staff_reads_of_a_conversation_are_audited(tmp_path):
    from bot.storage import audit
    from tests.support.webapp import request, staff_headers

    settings = make_settings(tmp_path)
    with serve(settings) as server:
        headers = staff_headers(server["url"], settings)
        status, _, _ = request(server["url"] + "/console/api/conversation/web-resident-42", headers=headers)
    assert status in (200, 503)
    [entry] = audit.entries(url=settings.app_database_url, action="conversation_read")
    assert (entry.actor, entry.target) == ("hall01", "web-resident-42")
