"""Test doubles for the WeChat channel: a fake WeChat API, a throw-away Redis, request helpers.

The helpers build signed (and encrypted) requests with wechatpy's own crypto. The fake API
(``http.server`` on a loopback port, in a thread) serves ``/cgi-bin/token``,
``/cgi-bin/message/custom/send`` and ``/cgi-bin/menu/create`` as WeChat does, records every
request (the last menu created in ``.menu``), and can be told to expire tokens or to answer the
next send or menu with an errcode.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

TOKEN = "gxga-test-token"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "test-app-secret-" + "0" * 16
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"  # 43 characters, like WeChat's EncodingAESKey
ACCOUNT = "gh_0123456789ab"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Recorded:
    """One request the fake API received."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    json: object = None


@dataclass
class FakeWeChatAPI:
    """The fake API's state; the HTTP handler reads and changes it under ``lock``."""

    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    requests: list[Recorded] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    send_errors: list[int] = field(default_factory=list)
    menu_errors: list[int] = field(default_factory=list)
    menu: object = None  # the body of the last menu created
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def expire_tokens(self) -> None:
        """Every token issued so far is now rejected with errcode 40001."""
        with self.lock:
            self.valid_tokens.clear()

    def fail_next_send(self, errcode: int) -> None:
        """The next customer-service send gets this errcode."""
        with self.lock:
            self.send_errors.append(errcode)

    def fail_next_menu(self, errcode: int) -> None:
        """The next menu creation gets this errcode."""
        with self.lock:
            self.menu_errors.append(errcode)

    def recorded(self, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def sends_to(self, openid: str) -> list[Recorded]:
        return [
            r
            for r in self.recorded("/cgi-bin/message/custom/send")
            if isinstance(r.json, dict) and r.json.get("touser") == openid
        ]

    def wait_for_sends(self, openid: str, count: int = 1, timeout: float = 60.0) -> list[Recorded]:
        """The send requests for ``openid`` once there are ``count`` of them (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sends = self.sends_to(openid)
            if len(sends) >= count:
                return sends
            time.sleep(0.1)
        raise AssertionError(
            f"the fake WeChat API got {len(self.sends_to(openid))} sends to {openid}, expected {count}"
        )

    # -- the HTTP side -----------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict]:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self.lock:
            self.requests.append(Recorded(method, path, query, body, parsed))
            if path == "/cgi-bin/token" and method == "GET":
                if (query.get("grant_type"), query.get("appid"), query.get("secret")) != (
                    "client_credential",
                    self.app_id,
                    self.app_secret,
                ):
                    return 200, {"errcode": 40013, "errmsg": "invalid appid"}
                token = f"ACCESS-{next(self._counter)}-{os.urandom(4).hex()}"
                self.valid_tokens.add(token)
                self.issued.append(token)
                return 200, {"access_token": token, "expires_in": 7200}
            if path == "/cgi-bin/message/custom/send" and method == "POST":
                if query.get("access_token") not in self.valid_tokens:
                    return 200, {
                        "errcode": 40001,
                        "errmsg": "invalid credential, access_token is invalid or not latest",
                    }
                if self.send_errors:
                    code = self.send_errors.pop(0)
                    return 200, {"errcode": code, "errmsg": f"fake error {code}"}
                if not isinstance(parsed, dict):
                    return 200, {"errcode": 47001, "errmsg": "data format error"}
                return 200, {"errcode": 0, "errmsg": "ok"}
            if path == "/cgi-bin/menu/create" and method == "POST":
                if query.get("access_token") not in self.valid_tokens:
                    return 200, {
                        "errcode": 40001,
                        "errmsg": "invalid credential, access_token is invalid or not latest",
                    }
                if self.menu_errors:
                    code = self.menu_errors.pop(0)
                    return 200, {"errcode": code, "errmsg": f"fake error {code}"}
                if not isinstance(parsed, dict) or not isinstance(parsed.get("button"), list):
                    return 200, {"errcode": 40016, "errmsg": "invalid button size"}
                self.menu = parsed
                return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": -1, "errmsg": "not found"}


@contextmanager
def fake_wechat_api() -> Iterator[FakeWeChatAPI]:
    """Run a :class:`FakeWeChatAPI` on a loopback port; its base URL is ``.url``."""
    state = FakeWeChatAPI()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = state.handle(method, parts.path, query, body)
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # http.server names its handlers do_<METHOD>
            self._serve("GET")

        def do_POST(self) -> None:  # http.server names its handlers do_<METHOD>
            self._serve("POST")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield the URL of a throw-away Redis server on loopback (or ``TEST_REDIS_URL``)."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    from bot.ops.localdb import redis_server as local_redis

    with local_redis() as url:
        yield url


# -- requests as WeChat sends them ------------------------------------------------------------


def signature(timestamp: str, nonce: str, token: str = TOKEN) -> str:
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return signer.signature


def signed_query(token: str = TOKEN, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or os.urandom(5).hex()
    return {"signature": signature(timestamp, nonce, token), "timestamp": timestamp, "nonce": nonce}


def text_xml(openid: str, content: str, msg_id: int, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event></xml>"
    )


def voice_xml(openid: str, recognition: str | None, msg_id: int, create_time: int | None = None) -> str:
    """A voice message; ``recognition`` is put in CDATA as WeChat does (None: no Recognition element)."""
    heard = "" if recognition is None else f"<Recognition><![CDATA[{recognition}]]></Recognition>"
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
        f"<MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[amr]]></Format>{heard}<MsgId>{msg_id}</MsgId></xml>"
    )


def click_xml(openid: str, key: str, create_time: int | None = None) -> str:
    """A menu click (``Event=CLICK``) on the entry whose key is ``key``."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def image_xml(openid: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        f"<PicUrl><![CDATA[http://mmbiz.example/pic.jpg]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def crypto() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID)


@dataclass
class Response:
    status: int
    body: str  # decrypted, for a safe-mode reply
    raw: str = ""  # as received
    seconds: float = 0.0

    @property
    def xml(self) -> dict:
        return xmltodict.parse(self.body)["xml"]

    @property
    def content(self) -> str | None:
        """The text of a passive reply (None for ``success``)."""
        if self.body in ("success", ""):
            return None
        return self.xml["Content"]


def http(url: str, data: bytes | None = None, timeout: float = 60) -> Response:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "text/xml"} if data is not None else {})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read().decode("utf-8")
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode("utf-8", errors="replace"), exc.code
    return Response(status, body, body, time.monotonic() - start)


def post(
    base_url: str, xml: str | bytes, encrypt: bool = False, query: dict[str, str] | None = None, timeout: float = 60
) -> Response:
    """POST a message to the channel as WeChat does (safe mode with ``encrypt``); decrypts the reply."""
    from urllib.parse import urlencode

    query = dict(query or signed_query())
    body = xml.encode("utf-8") if isinstance(xml, str) else xml
    if encrypt:
        enc = crypto().encrypt_message(body.decode("utf-8"), query["nonce"], query["timestamp"])
        outer = xmltodict.parse(enc)["xml"]
        # WeChat's safe-mode body: the account and the ciphertext; the signature is in the URL.
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{outer['Encrypt']}]]></Encrypt></xml>"
        ).encode()
        query.update(encrypt_type="aes", msg_signature=outer["MsgSignature"])
    response = http(f"{base_url}/webhooks/wechat/webhook?{urlencode(query)}", body, timeout)
    if encrypt and response.status == 200 and response.body.startswith("<xml>"):
        reply = xmltodict.parse(response.body)["xml"]
        plain = crypto().decrypt_message(response.body, reply["MsgSignature"], reply["TimeStamp"], reply["Nonce"])
        return Response(response.status, plain, response.raw, response.seconds)
    return response
