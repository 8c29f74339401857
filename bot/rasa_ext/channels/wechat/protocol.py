"""WeChat's side of the wire: signatures, the hostile-input checks, parsing and passive replies.

Nothing here knows Rasa or Sanic. :func:`signed` checks the URL signature WeChat puts on every
request (and its timestamp, so a captured URL cannot be replayed), :func:`parse` turns a POST
body, plaintext or safe mode (``encrypt_type=aes``), into a checked :class:`Incoming` or the
:class:`HttpReply` that refuses it, and :func:`passive` renders the XML text reply (encrypted
when the message was).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.rasa_ext.channels.wechat.render import clean_text

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# A signed request whose timestamp is further than this from our clock is refused (a captured
# URL cannot be replayed later: in plaintext mode the signature does not cover the body).
MAX_CLOCK_SKEW = 300
MAX_ECHOSTR_CHARS = 512
SUBSCRIBE_EVENTS = {"subscribe", "subscribe_scan"}
# A menu click (``Event=CLICK``) names its button's key; WeChat's keys are at most 128 bytes.
CLICK_EVENT = "click"
MAX_EVENT_KEY_BYTES = 128
NOT_CONFIGURED = "the WeChat channel is not configured (WECHAT_TOKEN is unset)"

_HOSTILE_XML = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)
_OPENID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_DIGITS = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class HttpReply:
    """An HTTP answer to WeChat, independent of the web framework.

    Not to be confused with :class:`bot.replies.Reply` (a rendered reply to a resident): this is
    the status, body and content type the input channel sends back.
    """

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


SUCCESS = HttpReply(200, "success")


def error(status: int, message: str) -> HttpReply:
    """A JSON ``{"error": message}`` answer with ``status``."""
    return HttpReply(status, json.dumps({"error": message}, ensure_ascii=False), "application/json")


def short_openid(openid: str) -> str:
    """The first characters of an OpenID, enough to follow one user through the log."""
    return openid[:6] + "…" if len(openid) > 8 else openid


@dataclass
class Incoming:
    """A parsed, checked message."""

    message: Any  # a wechatpy message or event
    openid: str
    key: str | None  # the de-duplication key; None for replies that need no processing
    encrypted: bool
    text: str = ""  # what the resident said: a text's Content, a voice message's transcript


def transcript(recognition: str | None) -> str:
    """A voice message's ``Recognition`` as text for the dialogue ("" when there is none).

    WeChat's speech recognition writes plain words; a control character (C0, DEL, C1: XML lets
    some through as character references) becomes a space and an invisible format character
    (zero-width, bidi overrides) is dropped, then runs of white space are folded into one.
    """
    kept = []
    for ch in recognition or "":
        category = unicodedata.category(ch)
        kept.append(" " if category == "Cc" else "" if category == "Cf" else ch)
    return " ".join("".join(kept).split())


def signed(token: str, args: Mapping[str, Any], now: float) -> bool:
    """Whether the query carries a valid signature over ``token`` and a timestamp near ``now``."""
    signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
    if not (signature and timestamp and nonce):
        return False
    try:
        check_signature(token, signature, timestamp, nonce)
        return abs(now - int(timestamp)) <= MAX_CLOCK_SKEW
    except (InvalidSignatureException, ValueError):
        return False


def verify(token: str, args: Mapping[str, Any], now: float) -> HttpReply:
    """WeChat's server URL verification: ``echostr`` echoed when the signature is good."""
    if not signed(token, args, now):
        return error(403, "bad signature")
    echostr = args.get("echostr")
    if not echostr or len(echostr) > MAX_ECHOSTR_CHARS:
        return error(400, "echostr missing or too long")
    return HttpReply(200, echostr)


def _decrypt(text: str, args: Mapping[str, Any], crypto: WeChatCrypto | None) -> str | HttpReply:
    """The plaintext XML of a safe-mode message, or the answer that refuses it."""
    if crypto is None:
        log.error("WeChat sent an encrypted message but WECHAT_AES_KEY is not set")
        return error(400, "encrypted messages are not configured")
    msg_signature = args.get("msg_signature")
    if not msg_signature:
        return error(403, "msg_signature missing")
    try:
        outer = xmltodict.parse(text, disable_entities=True)["xml"]
        if not isinstance(outer, dict) or not isinstance(outer.get("Encrypt"), str):
            raise ValueError("no <Encrypt> element")
    except Exception:  # noqa: BLE001 - expat, KeyError, TypeError: all malformed input
        return error(400, "malformed XML")
    try:
        text = crypto.decrypt_message(outer, msg_signature, args["timestamp"], args["nonce"])
    except (InvalidSignatureException, InvalidAppIdException):
        return error(403, "bad msg_signature or app id")
    except Exception:  # noqa: BLE001 - bad base64, padding, length: a malformed message
        return error(400, "cannot decrypt the message")
    if _HOSTILE_XML.search(text.encode("utf-8")):
        return error(400, "DTDs and entity declarations are not accepted")
    return text


def parse(args: Mapping[str, Any], body: bytes, crypto: WeChatCrypto | None) -> Incoming | HttpReply:
    """A POST body as a checked message, or the 400/403 answer that refuses it.

    Args:
        args: the query (``encrypt_type``, ``msg_signature``, ``timestamp``, ``nonce``).
        body: the raw body; a DTD or entity declaration is refused before any XML parser sees it.
        crypto: safe mode's decrypter, None when ``WECHAT_AES_KEY`` is unset.

    Returns:
        An :class:`Incoming` with its de-duplication key (by ``MsgId`` for text and for voice
        with a transcript, by sender, ``CreateTime`` and event for a subscription or a menu
        click; None for what is answered without the dialogue), or the refusal.
    """
    if _HOSTILE_XML.search(body):
        return error(400, "DTDs and entity declarations are not accepted")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return error(400, "body is not UTF-8")
    encrypt_type = (args.get("encrypt_type") or "raw").lower()
    encrypted = encrypt_type == "aes"
    if encrypted:
        decrypted = _decrypt(text, args, crypto)
        if isinstance(decrypted, HttpReply):
            return decrypted
        text = decrypted
    elif encrypt_type != "raw":
        return error(400, f"unknown encrypt_type {encrypt_type[:20]!r}")
    try:
        message = parse_message(text)
        raw = message._data if message is not None else None  # the parsed fields, as received
        if not isinstance(raw, dict):
            raise ValueError("empty message")
    except Exception:  # noqa: BLE001 - expat, KeyError, TypeError: all malformed input
        return error(400, "malformed XML")
    openid, create_time, msg_id = raw.get("FromUserName"), raw.get("CreateTime"), raw.get("MsgId")
    target = raw.get("ToUserName")
    if not (
        isinstance(openid, str) and _OPENID.fullmatch(openid) and isinstance(target, str) and _OPENID.fullmatch(target)
    ):
        return error(400, "FromUserName / ToUserName missing or malformed")
    if not isinstance(create_time, str) or not _DIGITS.fullmatch(create_time):
        return error(400, "CreateTime missing or malformed")
    if msg_id is not None and (not isinstance(msg_id, str) or not _DIGITS.fullmatch(msg_id)):
        return error(400, "MsgId malformed")
    if message.type == "text" and not isinstance(raw.get("Content") or "", str):
        return error(400, "Content malformed")
    if message.type == "voice" and not isinstance(raw.get("Recognition") or "", str):
        return error(400, "Recognition malformed")
    event = getattr(message, "event", None) if message.type == "event" else None
    if event == CLICK_EVENT:
        event_key = raw.get("EventKey") or ""
        if not isinstance(event_key, str) or len(event_key.encode("utf-8")) > MAX_EVENT_KEY_BYTES:
            return error(400, "EventKey malformed")
    text = ""
    if message.type == "text":
        text = raw.get("Content") or ""
    elif message.type == "voice":
        text = transcript(raw.get("Recognition"))
    # keys are stored (the reply cache, Rasa's message_id) and logged: the OpenID only as a digest
    who = hashlib.sha256(openid.encode("utf-8")).hexdigest()[:16]
    message_key = f"msg:{target}:{msg_id}" if msg_id else f"msg:{who}:{create_time}"
    if message.type == "text" or (message.type == "voice" and text):
        key: str | None = message_key
    elif event in SUBSCRIBE_EVENTS:
        key = f"evt:{who}:{create_time}:{event}"
    elif event == CLICK_EVENT:
        # two entries clicked within one second are two questions; the key's digest keeps the
        # store key and the log free of whatever the request put there
        clicked = hashlib.sha256((raw.get("EventKey") or "").encode("utf-8")).hexdigest()[:16]
        key = f"evt:{who}:{create_time}:{event}:{clicked}"
    else:
        key = None  # voice without a transcript, images …: asked to type; other events: no reply
    return Incoming(message=message, openid=openid, key=key, encrypted=encrypted, text=text)


def passive(
    incoming: Incoming, text: str, args: Mapping[str, Any], crypto: WeChatCrypto | None, now: float
) -> HttpReply:
    """The passive XML text reply to ``incoming``, encrypted (timestamp ``now``) when it was."""
    xml = TextReply(message=incoming.message, content=clean_text(text)).render()
    if incoming.encrypted:
        if crypto is None:  # parse() accepts an encrypted message only with crypto configured
            raise ValueError("an encrypted message needs the crypto that decrypted it")
        xml = crypto.encrypt_message(xml, args["nonce"], str(int(now)))
    return HttpReply(200, xml, "application/xml; charset=utf-8")
