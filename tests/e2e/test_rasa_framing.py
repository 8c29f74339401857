"""The Rasa server of the running stack against ambiguous framing, and residents' addresses behind proxies.

Raw sockets to the real Sanic server (``bot.rasa_ext.http_guard``); through the web server as if
from behind the Ingress (the test is the proxy: ``TRUSTED_PROXIES`` is 127.0.0.0/8 on the stack).
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from tests.support.webapp import request

pytestmark = pytest.mark.e2e
BODY = b'{"sender": "framing", "message": "\xe4\xbd\xa0\xe5\xa5\xbd"}'
CHUNKED = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)


def _exchange(port: int, data: bytes, timeout: float = 30.0) -> tuple[bytes, bool]:
    """``(everything answered, whether the server closed the connection)`` for ``data`` sent on one connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got, closed = b"", False
        sock.settimeout(3)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                got += chunk
        except socket.timeout:
            pass
    return got, closed


def _post(path: str, headers: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n".encode() + body


PIPELINED = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "name, headers, body, status",
    [
        # a valid chunked body whose Content-Length matches too: Sanic 21.12 answered it and then the
        # pipelined request (the attack's finding)
        ("cl-and-te", f"Content-Length: {len(CHUNKED)}\r\nTransfer-Encoding: chunked\r\n", CHUNKED, 400),
        ("te-and-cl", f"Transfer-Encoding: chunked\r\nContent-Length: {len(CHUNKED)}\r\n", CHUNKED, 400),
        # a Content-Length shorter than the chunked body: the rest would be read as another request
        ("cl-short-te", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", CHUNKED, 400),
        (
            "chunked-identity",
            "Transfer-Encoding: chunked, identity\r\n",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY),
            400,
        ),
        ("identity", "Transfer-Encoding: identity\r\n", BODY, 400),
        ("two-te-headers", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", 400),
        ("gzip", f"Content-Encoding: gzip\r\nContent-Length: {len(BODY)}\r\n", BODY, 415),
    ],
)
def test_ambiguous_framing_is_refused_and_the_connection_closed(running_bot, name, headers, body, status):
    """400/415, never 500, and nothing pipelined after the request is answered (RFC 9112 §6.1)."""
    answer, closed = _exchange(running_bot["rasa_port"], _post("/webhooks/rest/webhook", headers, body) + PIPELINED)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (name, answer[:200])
    assert answer.count(b"HTTP/1.1 ") == 1 and closed, (name, answer)


def test_chunked_bodies_count_against_the_size_limit(running_bot):
    """Sanic counts a chunked body against SANIC_REQUEST_MAX_SIZE (1 MiB) as it reads: 413 once past it.

    17 chunks of 64 KiB are sent (just past the limit, no final chunk), then the answer is read.
    """
    piece = b"a" * 65536
    with socket.create_connection(("127.0.0.1", running_bot["rasa_port"]), timeout=30) as sock:
        sock.sendall(_post("/webhooks/rest/webhook", "Transfer-Encoding: chunked\r\n", b""))
        for _ in range(17):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_plain_requests_still_work(running_bot):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
    for headers, body in ((f"Content-Length: {len(BODY)}\r\n", BODY), ("Transfer-Encoding: chunked\r\n", chunked)):
        answer, _ = _exchange(
            running_bot["rasa_port"], _post("/webhooks/rest/webhook", headers + "Connection: close\r\n", body)
        )
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


def _message(web: str, sender: str, client: str) -> int:
    status, _, _ = request(
        web + "/api/message",
        json.dumps({"sender": sender, "message": "你好"}).encode(),
        {"Content-Type": "application/json", "X-Forwarded-For": client},
    )
    return status


def test_an_attacker_behind_the_proxy_cannot_rate_limit_another_resident(running_bot):
    """125 messages of one address through the proxy: it alone gets 429, a resident elsewhere is answered.

    The web server resolves the address (127.0.0.0/8 trusted) and hands it to Rasa's web channel
    with the API token; Rasa's per-address limit (120 a minute) counts the attacker, not the proxy.
    """
    web = running_bot["web_url"]
    attacker, resident = "203.0.113.77", "198.51.100.23"
    statuses = [_message(web, f"atk-{uuid.uuid4().hex[:8]}", f"{attacker}, 10.244.3.9") for _ in range(125)]
    assert statuses.count(429) >= 5 and set(statuses) <= {200, 429}, statuses
    assert _message(web, f"res-{uuid.uuid4().hex[:8]}", resident) == 200


def test_the_resident_address_header_needs_the_token(running_bot):
    """Without the API token, X-Resident-Address is ignored: the limit counts the forwarded address."""
    url = f"http://127.0.0.1:{running_bot['rasa_port']}/webhooks/web/webhook"
    statuses = []
    for i in range(123):
        statuses.append(
            request(
                url,
                json.dumps({"sender": f"spoof-{uuid.uuid4().hex[:8]}", "message": "你好"}).encode(),
                {
                    "Content-Type": "application/json",
                    "X-Forwarded-For": "203.0.113.88",
                    "X-Resident-Address": f"198.18.0.{i % 250 + 1}",
                    "Authorization": "Bearer not-the-token",
                },
            )[0]
        )
    assert statuses[-1] == 429 and statuses.count(429) >= 3, statuses
