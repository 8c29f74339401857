"""The WeChat Official Account (微信公众号) channel.

Routes (under ``/webhooks/wechat/``; all answer 404 with a JSON error while ``WECHAT_TOKEN`` is
unset, i.e. the channel is off):

- ``GET /webhook``: WeChat's URL verification. The signature over token, timestamp and nonce is
  checked (``wechatpy.utils.check_signature``) and ``echostr`` echoed; a bad signature gets 403.
- ``POST /webhook``: a message or event, in plaintext or in safe mode (``encrypt_type=aes``:
  ``msg_signature`` checked and the message decrypted with ``wechatpy.crypto.WeChatCrypto``; the
  reply is encrypted the same way). The reply is a passive XML text reply (``wechatpy.replies``).
- ``GET /``: health.

What happens to a message:

- Text goes to Rasa with the user's OpenID as the sender, so a conversation continues across
  messages. Rasa's buttons become numbered lines (``wechat_button_line`` in
  ``bot/replies/replies.yml``); a reply of just such a number sends that button's payload. The
  last buttons shown are remembered per OpenID in the store.
- A ``subscribe`` event sends ``/greet`` (the welcome is a domain response). Other events get
  ``success`` (no reply).
- Images, voice, locations, links, videos and anything else get ``wechat_text_only``.
- WeChat waits 5 s for a reply and sends the same message again up to three times. Each
  message is claimed once in the store (by ``MsgId``; events by sender, ``CreateTime`` and event),
  and a retry is served the cached reply, or ``success`` while the first is still working.
- An answer not ready within ``WECHAT_REPLY_TIMEOUT`` seconds (default 4), or longer than one
  message, is answered ``success`` and delivered through the customer-service message API
  (:class:`WeChatAPI`), split into messages below :data:`MAX_MESSAGE_BYTES` bytes.

Hostile input: a body over :data:`MAX_BODY_BYTES` gets 413; a bad or stale signature 403;
a body with a DTD or entity declaration (entity expansion), malformed XML, or a message without
a valid sender gets 400. Nothing is processed in any of these cases.

:class:`WeChatChannel` holds the protocol and knows nothing of Sanic (the unit tests drive it
directly); :class:`WeChatInput` is the Rasa input channel that serves it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Optional, Text

import aiohttp
import xmltodict
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.replies import render
from bot import config
from bot.rasa_ext import guard
from bot.rasa_ext.channels.wechat_store import MessageStore, make_store

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Every text sent to WeChat (passive reply or customer-service message) is below this many
# UTF-8 bytes; WeChat's own limit for a text message is 2,048.
MAX_MESSAGE_BYTES = 2000
# A signed request whose timestamp is further than this from our clock is refused (a captured
# URL cannot be replayed later: in plaintext mode the signature does not cover the body).
MAX_CLOCK_SKEW = 300
MAX_ECHOSTR_CHARS = 512
# WeChat retries within 15 s; a claimed message is remembered well beyond that.
DEDUPE_TTL = 300
BUTTONS_TTL = 24 * 3600
API_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
# errcodes of the customer-service API: the token expired or is invalid (fetch a new one and
# retry once), and the two "you may not send now" answers, which are logged and not retried.
TOKEN_ERRORS = {40001, 40014, 42001}
QUOTA_ERRORS = {
    45015: "the user has not written to the account in the last 48 hours",
    45047: "too many customer-service messages since the user last wrote",
}
GREET = "/greet"
SUBSCRIBE_EVENTS = {"subscribe", "subscribe_scan"}

_HOSTILE_XML = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)
_OPENID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SENTENCE_END = "。！？；!?;"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, independent of the web framework."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


SUCCESS = Reply(200, "success")


def _error(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}, ensure_ascii=False), "application/json")


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_message(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split ``text`` into messages of fewer than ``limit`` UTF-8 bytes each.

    Cuts after a line break when one falls in the last two thirds of the window, else after a
    sentence end (。！？；), else between two characters (never inside a character).
    """
    if limit < 8:
        raise ValueError("limit must leave room for at least one character")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if _utf8_len(rest) < limit:
            chunks.append(rest)
            break
        size, cut = 0, 0
        for ch in rest:
            size += _utf8_len(ch)
            if size >= limit:
                break
            cut += 1
        window = rest[:cut]
        pos = window.rfind("\n")
        if pos < cut // 3:
            pos = max(window.rfind(mark) for mark in _SENTENCE_END) + 1
        if pos < cut // 3:
            pos = cut
        chunk = rest[:pos].strip()
        if chunk:
            chunks.append(chunk)
        rest = rest[pos:].strip()
    return chunks


def clean_text(text: str) -> str:
    """Text safe inside the CDATA of a reply: no control characters, no ``]]>``."""
    return _CONTROL.sub("", text).replace("]]>", "]] >")


def render_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """Rasa's bot messages as one WeChat text, and the buttons it numbers.

    Texts are separated by a blank line; each button becomes a ``wechat_button_line`` under its
    message, numbered from 1 across the whole reply. Custom payloads are not shown.
    """
    parts, buttons = [], []
    for message in messages:
        lines = []
        if isinstance(message.get("text"), str) and message["text"].strip():
            lines.append(message["text"].strip())
        for button in message.get("buttons") or []:
            title, payload = button.get("title"), button.get("payload")
            if not isinstance(title, str) or not isinstance(payload, str) or not payload:
                continue
            buttons.append({"title": title, "payload": payload})
            lines.append(render("wechat_button_line", number=len(buttons), title=title)["text"])
        if lines:
            parts.append("\n".join(lines))
    return clean_text("\n\n".join(parts)), buttons


def button_choice(text: str) -> int | None:
    """The number a resident typed to choose a button ("1", "１", " 2 "), or None."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 2 else None


class WeChatAPI:
    """The customer-service message API with a cached access token (async, with timeouts).

    The token is kept in the :class:`MessageStore` until shortly before it expires, so replicas
    sharing a Redis store share one token. A send that WeChat refuses with an expired-token
    errcode fetches a new token and is retried once; any other failure is logged and dropped.
    """

    def __init__(self, base: str, app_id: str, app_secret: str, store: MessageStore,
                 timeout: aiohttp.ClientTimeout = API_TIMEOUT) -> None:
        self.base = base.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.store = store
        self.timeout = timeout
        self._lock = asyncio.Lock()

    @property
    def _token_key(self) -> str:
        return f"token:{self.app_id}"

    async def _fetch_token(self, session: aiohttp.ClientSession) -> str | None:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        async with session.get(f"{self.base}/cgi-bin/token", params=params) as resp:
            data = await resp.json(content_type=None)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            errcode = data.get("errcode") if isinstance(data, dict) else None
            errmsg = data.get("errmsg") if isinstance(data, dict) else None
            log.error("WeChat access token refused (HTTP %s, errcode %s: %s)", resp.status, errcode, errmsg)
            return None
        try:
            expires = int(data.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires = 7200
        # Refresh a little before WeChat expires it (5 minutes, or a fifth of a short lifetime).
        ttl = max(1, expires - min(300, expires // 5))
        await _quietly(self.store.set(self._token_key, token, ttl), "store the access token")
        return token

    async def access_token(self, session: aiohttp.ClientSession, stale: str | None = None) -> str | None:
        """The cached token, or a new one; with ``stale``, one that is not ``stale``."""
        cached = await _quietly(self.store.get(self._token_key), "read the access token")
        if cached and cached != stale:
            return cached
        async with self._lock:
            # Another request may have fetched one while this one waited.
            cached = await _quietly(self.store.get(self._token_key), "read the access token")
            if cached and cached != stale:
                return cached
            return await self._fetch_token(session)

    async def _post_text(self, session: aiohttp.ClientSession, token: str, openid: str, text: str) -> tuple[Any, Any]:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        async with session.post(
            f"{self.base}/cgi-bin/message/custom/send", params={"access_token": token},
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as resp:
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            return None, f"HTTP {resp.status}, not a JSON object"
        return data.get("errcode", 0), data.get("errmsg")

    async def send_text(self, openid: str, text: str) -> bool:
        """Send ``text`` to ``openid`` as one or more text messages; True when all arrived."""
        chunks = split_message(text)
        if not chunks:
            return True
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                token = await self.access_token(session)
                if token is None:
                    return False
                retried = False
                for number, chunk in enumerate(chunks, 1):
                    while True:
                        errcode, errmsg = await self._post_text(session, token, openid, chunk)
                        if errcode == 0:
                            break
                        if errcode in TOKEN_ERRORS and not retried:
                            retried = True
                            log.info("WeChat access token rejected (errcode %s); fetching a new one", errcode)
                            token = await self.access_token(session, stale=token)
                            if token is not None:
                                continue
                        if errcode in QUOTA_ERRORS:
                            log.warning("WeChat customer-service message %d/%d not sent to %s: errcode %s (%s)",
                                        number, len(chunks), _short(openid), errcode, QUOTA_ERRORS[errcode])
                        else:
                            log.error("WeChat customer-service message %d/%d not sent to %s: errcode %s: %s",
                                      number, len(chunks), _short(openid), errcode, errmsg)
                        return False
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.error("WeChat customer-service API unreachable for %s: %s", _short(openid), exc or type(exc).__name__)
            return False
        return True


async def _quietly(awaitable: Awaitable[Any], what: str, default: Any = None) -> Any:
    """Run a store operation; a store failure (e.g. Redis down) is logged, not raised."""
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - the resident still gets an answer without the store
        log.error("WeChat channel could not %s: %s", what, exc)
        return default


def _json(raw: str | None, default: Any) -> Any:
    """A stored JSON value; ``default`` when there is none or it does not parse."""
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        log.error("WeChat channel: unreadable value in the store: %.80r", raw)
        return default
    return value if isinstance(value, type(default)) else default


def _short(openid: str) -> str:
    return openid[:6] + "…" if len(openid) > 8 else openid


@dataclass
class _Incoming:
    """A parsed, checked message."""

    message: Any  # a wechatpy message or event
    openid: str
    key: str | None  # the de-duplication key; None for replies that need no processing
    encrypted: bool


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WeChatChannel:
    """The WeChat protocol: checks, parsing, de-duplication, replies and late delivery."""

    def __init__(self, settings: config.Settings, store: MessageStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.token = settings.wechat_token
        self.reply_timeout = settings.wechat_reply_timeout
        self.store = store or make_store(settings.redis_url)
        self.crypto = None
        if self.token and settings.wechat_aes_key:
            self.crypto = WeChatCrypto(self.token, settings.wechat_aes_key, settings.wechat_app_id or "")
        self.api = None
        if settings.wechat_app_id and settings.wechat_app_secret:
            self.api = WeChatAPI(settings.wechat_api_base, settings.wechat_app_id, settings.wechat_app_secret, self.store)
        self._clock = clock
        self._tasks: set[asyncio.Future] = set()

    @property
    def enabled(self) -> bool:
        """Whether WECHAT_TOKEN is set."""
        return bool(self.token)

    # -- checks and parsing ------------------------------------------------------------------

    def _signed(self, args: Mapping[str, Any]) -> bool:
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not (signature and timestamp and nonce):
            return False
        try:
            check_signature(self.token, signature, timestamp, nonce)
            return abs(self._clock() - int(timestamp)) <= MAX_CLOCK_SKEW
        except (InvalidSignatureException, ValueError):
            return False

    def verify(self, args: Mapping[str, Any]) -> Reply:
        """GET: WeChat's server URL verification."""
        if not self.enabled:
            return _error(404, "the WeChat channel is not configured (WECHAT_TOKEN is unset)")
        if not self._signed(args):
            return _error(403, "bad signature")
        echostr = args.get("echostr")
        if not echostr or len(echostr) > MAX_ECHOSTR_CHARS:
            return _error(400, "echostr missing or too long")
        return Reply(200, echostr)

    def _parse(self, args: Mapping[str, Any], body: bytes) -> _Incoming | Reply:
        if _HOSTILE_XML.search(body):
            return _error(400, "DTDs and entity declarations are not accepted")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "body is not UTF-8")
        encrypt_type = (args.get("encrypt_type") or "raw").lower()
        encrypted = encrypt_type == "aes"
        if encrypted:
            if self.crypto is None:
                log.error("WeChat sent an encrypted message but WECHAT_AES_KEY is not set")
                return _error(400, "encrypted messages are not configured")
            msg_signature = args.get("msg_signature")
            if not msg_signature:
                return _error(403, "msg_signature missing")
            try:
                outer = xmltodict.parse(text, disable_entities=True)["xml"]
                if not isinstance(outer, dict) or not isinstance(outer.get("Encrypt"), str):
                    raise ValueError("no <Encrypt> element")
            except Exception:  # noqa: BLE001 - expat, KeyError, TypeError: all malformed input
                return _error(400, "malformed XML")
            try:
                text = self.crypto.decrypt_message(outer, msg_signature, args["timestamp"], args["nonce"])
            except (InvalidSignatureException, InvalidAppIdException):
                return _error(403, "bad msg_signature or app id")
            except Exception:  # noqa: BLE001 - bad base64, padding, length: a malformed message
                return _error(400, "cannot decrypt the message")
            if _HOSTILE_XML.search(text.encode("utf-8")):
                return _error(400, "DTDs and entity declarations are not accepted")
        elif encrypt_type != "raw":
            return _error(400, f"unknown encrypt_type {encrypt_type[:20]!r}")
        try:
            message = parse_message(text)
            raw = message._data if message is not None else None  # the parsed fields, as received
            if not isinstance(raw, dict):
                raise ValueError("empty message")
        except Exception:  # noqa: BLE001 - expat, KeyError, TypeError: all malformed input
            return _error(400, "malformed XML")
        openid, create_time, msg_id = raw.get("FromUserName"), raw.get("CreateTime"), raw.get("MsgId")
        target = raw.get("ToUserName")
        if not all(isinstance(v, str) and _OPENID.fullmatch(v) for v in (openid, target)):
            return _error(400, "FromUserName / ToUserName missing or malformed")
        if not isinstance(create_time, str) or not _DIGITS.fullmatch(create_time):
            return _error(400, "CreateTime missing or malformed")
        if msg_id is not None and (not isinstance(msg_id, str) or not _DIGITS.fullmatch(msg_id)):
            return _error(400, "MsgId malformed")
        if message.type == "text" and not isinstance(raw.get("Content") or "", str):
            return _error(400, "Content malformed")
        if message.type == "text":
            key = f"msg:{target}:{msg_id}" if msg_id else f"msg:{openid}:{create_time}"
        elif message.type == "event" and getattr(message, "event", None) in SUBSCRIBE_EVENTS:
            key = f"evt:{openid}:{create_time}:{message.event}"
        else:
            key = None
        return _Incoming(message=message, openid=openid, key=key, encrypted=encrypted)

    # -- replies -----------------------------------------------------------------------------

    def _passive(self, incoming: _Incoming, text: str, args: Mapping[str, Any]) -> Reply:
        xml = TextReply(message=incoming.message, content=clean_text(text)).render()
        if incoming.encrypted:
            xml = self.crypto.encrypt_message(xml, args["nonce"], str(int(self._clock())))
        return Reply(200, xml, "application/xml; charset=utf-8")

    async def receive(self, args: Mapping[str, Any], body: bytes, on_new_message: OnNewMessage) -> Reply:
        """POST: a message or event from WeChat; returns the passive reply (or ``success``)."""
        if not self.enabled:
            return _error(404, "the WeChat channel is not configured (WECHAT_TOKEN is unset)")
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        if not self._signed(args):
            return _error(403, "bad signature")
        incoming = self._parse(args, body)
        if isinstance(incoming, Reply):
            return incoming
        message = incoming.message
        if incoming.key is None:
            if message.type == "event":
                return SUCCESS  # unsubscribe, menu clicks, …: nothing to say
            return self._passive(incoming, render("wechat_text_only")["text"], args)

        claimed = await _quietly(
            self.store.add(incoming.key, json.dumps({"state": "processing"}), DEDUPE_TTL),
            "claim a message", default=True,  # without a store, process rather than drop
        )
        if not claimed:
            state = _json(await _quietly(self.store.get(incoming.key), "read a cached reply"), {})
            log.info("WeChat retry of %s (%s)", incoming.key, state.get("state"))
            if state.get("state") == "done" and state.get("text"):
                return self._passive(incoming, state["text"], args)
            return SUCCESS

        text = GREET if message.type == "event" else (message.content or "")
        task = self._spawn(self._process(incoming, text, on_new_message))
        try:
            answer = await asyncio.wait_for(asyncio.shield(task), self.reply_timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            # Too slow, or WeChat hung up (the request was cancelled): the answer goes by the API.
            log.info("WeChat answer to %s not ready in %.3g s; it will be sent as a customer-service message",
                     incoming.key, self.reply_timeout)
            task.add_done_callback(lambda done: self._spawn(self._deliver_late(incoming, done)))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return SUCCESS
        if answer and _utf8_len(answer) < MAX_MESSAGE_BYTES:
            await _quietly(self.store.set(incoming.key, json.dumps({"state": "done", "text": answer}), DEDUPE_TTL),
                           "cache a reply")
            return self._passive(incoming, answer, args)
        await _quietly(self.store.set(incoming.key, json.dumps({"state": "sent"}), DEDUPE_TTL), "mark a reply sent")
        if answer:  # too long for one message: all of it goes as customer-service messages, in order
            self._spawn(self._deliver(incoming.openid, answer))
        return SUCCESS

    # -- processing --------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Future:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _process(self, incoming: _Incoming, text: str, on_new_message: OnNewMessage) -> str:
        """Send the message to Rasa; returns the reply text (buttons numbered) and remembers the buttons."""
        openid, buttons_key = incoming.openid, f"buttons:{incoming.openid}"
        chosen = False
        number = button_choice(text) if incoming.message.type == "text" else None
        if number:
            payloads = _json(await _quietly(self.store.get(buttons_key), "read the last buttons"), [])
            if isinstance(payloads, list) and 1 <= number <= len(payloads) and isinstance(payloads[number - 1], str):
                text, chosen = payloads[number - 1], True
        prepared = guard.prepare(text, openid, None, self.settings)
        if prepared.refused:
            return render(prepared.refused)["text"]
        collector = CollectingOutputChannel()
        failed = False
        try:
            await on_new_message(UserMessage(prepared.text, collector, openid, input_channel=WeChatInput.name(),
                                             message_id=incoming.key))
        except Exception:  # noqa: BLE001 - the resident gets an apology, never a trace
            log.exception("WeChat message %s failed", incoming.key)
            failed = True
        answer, buttons = render_messages(collector.messages)
        if not answer and failed:
            answer = render("wechat_unavailable")["text"]
        elif not answer:
            answer = render("unavailable")["text"]
        for notice in prepared.notices:
            answer = f"{answer}\n\n{render(notice)['text']}"
        if buttons:
            payloads = [b["payload"] for b in buttons]
            await _quietly(self.store.set(buttons_key, json.dumps(payloads, ensure_ascii=False), BUTTONS_TTL),
                           "remember the buttons")
        elif not chosen:
            # A new question without buttons retires the old numbers; a chosen button keeps them.
            await _quietly(self.store.delete(buttons_key), "forget the buttons")
        return answer

    async def _deliver_late(self, incoming: _Incoming, task: asyncio.Future) -> None:
        await _quietly(self.store.set(incoming.key, json.dumps({"state": "sent"}), DEDUPE_TTL), "mark a reply sent")
        if task.cancelled() or task.exception() is not None:
            return
        answer = task.result()
        if answer:
            await self._deliver(incoming.openid, answer)

    async def _deliver(self, openid: str, text: str) -> bool:
        if self.api is None:
            log.error("WeChat answer for %s not delivered: WECHAT_APP_ID and WECHAT_APP_SECRET are needed "
                      "for customer-service messages", _short(openid))
            return False
        return await self.api.send_text(openid, text)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (a little) for deliveries in flight, e.g. before the server stops."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        """Release the store's connections."""
        await _quietly(self.store.close(), "close the store")


class WeChatInput(InputChannel):
    """Rasa input channel for a WeChat Official Account (see the module docstring).

    Its settings come from the environment through :mod:`bot.config` (``WECHAT_*``,
    ``REDIS_URL``), not from ``credentials.yml``, so no secret is written in a file.
    """

    def __init__(self, settings: config.Settings | None = None, store: MessageStore | None = None) -> None:
        self.channel = WeChatChannel(settings or config.load(), store)
        if self.channel.enabled:
            log.info("WeChat channel on (%s mode, store: %s, customer-service API: %s)",
                     "safe/plaintext" if self.channel.crypto else "plaintext",
                     type(self.channel.store).__name__, "on" if self.channel.api else "off")

    @classmethod
    def name(cls) -> Text:
        """The URL segment: /webhooks/wechat/webhook."""
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[Text, Any]]) -> "WeChatInput":
        """Settings are read from the environment (bot/config.py); credentials.yml holds none."""
        return cls()

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """GET / (health), GET and POST /webhook."""
        hook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        channel = self.channel

        def _send(reply: Reply) -> HTTPResponse:
            return response.text(reply.body, status=reply.status, content_type=reply.content_type)

        def _args(request: Request) -> dict[str, str]:
            return {name: request.args.get(name) for name in request.args}

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            if not channel.enabled:
                return _send(_error(404, "the WeChat channel is not configured (WECHAT_TOKEN is unset)"))
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET", "POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if request.method == "GET":
                return _send(channel.verify(_args(request)))
            return _send(await channel.receive(_args(request), request.body or b"", on_new_message))

        @hook.listener("before_server_stop")
        async def _drain(app, loop) -> None:
            await channel.drain()
            await channel.close()

        return hook
