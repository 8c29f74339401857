"""What every public channel does to a resident's message before and after the dialogue.

Before: per-sender and per-client-IP rate limits, a maximum length, and privacy redaction
(ID-card, mobile and bank-card numbers are replaced by placeholders, so raw values never reach
the tracker store or the logs). After: an apology when the dialogue produced no answer (e.g. the
action server is down), and a notice when numbers were removed. The wording is in
``bot/replies/replies.yml``.

The rate limits (:mod:`bot.security.ratelimit`) are counted in Redis when ``REDIS_URL`` is set, so
every replica behind a balancer shares them; while Redis is unreachable each process falls back to
its own in-memory counters (fail open: residents keep getting answers).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from bot import config
from bot.rasa_ext import payload
from bot.security.ratelimit import WINDOW_S, client_ip, limiter_for
from bot.security.senders import (
    EARLIER_HEADER,
    MAX_SENDER_CHARS,
    PSEUDONYM_PREFIX,
    STORED_HEADER,
    log_id,
    safe_sender,
    sender_problem,
)
from bot.text.privacy import MESSAGE_BOUNDARY, PrivacyDataError, complete_number, number_tail, redact

log = logging.getLogger(__name__)

# The replies (bot/replies/replies.yml) this module and the channels send on its behalf.
REPLIES = ("privacy_notice", "rate_limited", "too_long", "unavailable", "restarted")
# Rasa's own commands that end a conversation; they answer nothing, so the resident is told it worked.
RESTART_COMMANDS = ("/restart", "/session_start")
# An empty message is handed to the dialogue as "NLU did not understand".
EMPTY_MESSAGE = "/nlu_fallback"
# A number split across messages is caught when its parts come this close together.
SPLIT_NUMBER_WINDOW_S = 120.0


class NumberTails:
    """The end of each sender's previous message that could begin a personal number.

    Kept so that a number typed across two messages (``我的手机是139`` then ``12345678``) is
    still caught.

    Only redacted text is kept (a tail never holds a whole number), for
    :data:`SPLIT_NUMBER_WINDOW_S` seconds. With ``REDIS_URL`` set the tails are kept in Redis, so
    the next message may reach another replica; while Redis is unreachable each process keeps its
    own (bounded).
    """

    def __init__(self, window: float = SPLIT_NUMBER_WINDOW_S, max_keys: int = 50_000):
        self.window = window
        self._local: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._clients: dict[str, object] = {}

    def _redis(self, url: str):
        import redis

        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = redis.Redis.from_url(
                    url, socket_timeout=0.25, socket_connect_timeout=0.25
                )
            return client

    def take(self, sender: str, settings: config.Settings) -> str:
        """The tail kept for ``sender`` (removed), or "" when none is recent."""
        if settings.redis_url:
            from redis.exceptions import RedisError

            try:
                value = self._redis(settings.redis_url).getdel(f"gxga:tail:{sender}")
                return value.decode("utf-8") if value else ""
            except RedisError:
                pass
        with self._lock:
            kept = self._local.pop(sender, None)
        return kept[1] if kept and time.monotonic() - kept[0] <= self.window else ""

    def keep(self, sender: str, tail: str, settings: config.Settings) -> None:
        """Remember ``tail`` (redacted text) for ``sender``'s next message; "" keeps nothing."""
        if not tail:
            return
        if settings.redis_url:
            from redis.exceptions import RedisError

            try:
                self._redis(settings.redis_url).set(
                    f"gxga:tail:{sender}", tail.encode("utf-8"), ex=max(1, int(self.window))
                )
                return
            except RedisError:
                pass
        with self._lock:
            if len(self._local) >= self._max_keys:
                self._local.pop(next(iter(self._local)))
            self._local[sender] = (time.monotonic(), tail)


TAILS = NumberTails()


class EarlierParts:
    """Parts of a number in a sender's stored messages, until the tracker store redacts them.

    When a message completes a number begun in earlier ones (``139`` … ``1234`` … ``5678``), the
    earlier messages are already stored with their parts of it. :func:`prepare` records those parts
    here and the tracker store (:class:`bot.rasa_ext.tracker_store.SQLTrackerStore`) rewrites those
    rows when it saves the turn: the message and its save happen in the same Rasa process, so
    this is kept in memory (bounded; what a restart loses between the two is one turn's).
    """

    def __init__(self, max_keys: int = 10_000):
        self._parts: dict[str, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def add(self, sender: str, parts: list[tuple[str, str]]) -> None:
        """Remember ``parts`` (oldest first, each with its placeholder) of ``sender``'s stored messages."""
        with self._lock:
            if len(self._parts) >= self._max_keys:
                self._parts.pop(next(iter(self._parts)))
            self._parts[sender] = parts

    def take(self, sender: str) -> list[tuple[str, str]]:
        """The parts remembered for ``sender`` (removed), or []."""
        with self._lock:
            return self._parts.pop(sender, [])


EARLIER = EarlierParts()


@dataclass
class Prepared:
    """A message ready for the dialogue, or the reason it is refused."""

    text: str
    refused: str | None = None
    notices: list[str] = field(default_factory=list)
    # the parts of a number this message completed in the sender's earlier messages (oldest
    # first, each with its placeholder): the tracker store redacts them; the web page too
    earlier: list[tuple[str, str]] = field(default_factory=list)


def prepare(
    text: str, sender: str, ip: str | None, settings: config.Settings | None = None, limited: bool = True
) -> Prepared:
    """Apply the limits, the payload check and redaction to one incoming message.

    Args:
        text: the message as received.
        sender: the conversation id (already passed through :func:`safe_sender`).
        ip: the client's address, None for our own tools.
        settings: the process's settings.
        limited: False for the authenticated staff channel (no rate limits).
    """
    settings = settings or config.load()
    limiter = limiter_for(settings)
    if limited and not limiter.allow(f"sender:{sender}", settings.rate_limit_sender):
        return Prepared(text="", refused="rate_limited")
    if limited and ip and not limiter.allow(f"ip:{ip}", settings.rate_limit_ip):
        return Prepared(text="", refused="rate_limited")
    if len(text) > settings.max_message_chars:
        return Prepared(text="", refused="too_long")
    text = payload.sanitize(text)
    try:
        tail = TAILS.take(sender, settings)
        completed = complete_number(tail, text)
        cleaned = redact(text if completed is None else completed[0])
        earlier: list[tuple[str, str]] = []
        if completed is None:
            # the digits so far go on, so a number split over more messages is caught
            TAILS.keep(sender, number_tail(f"{tail}{MESSAGE_BOUNDARY}{cleaned}" if tail else cleaned), settings)
        else:
            TAILS.keep(sender, number_tail(cleaned), settings)
            earlier = [(part, completed[2]) for part in completed[1].split(MESSAGE_BOUNDARY)]
            EARLIER.add(sender, earlier)
    except PrivacyDataError as exc:
        # nothing may be stored unredacted: refuse politely until the data file is mended
        log.error("redaction unavailable, message refused: %s", exc)
        return Prepared(text="", refused="unavailable")
    notices = ["privacy_notice"] if cleaned != text else []
    return Prepared(text=cleaned if cleaned.strip() else EMPTY_MESSAGE, notices=notices, earlier=earlier)


def stored_headers(typed: str, prepared: Prepared) -> dict[str, str]:
    """The REST channels' headers for a message stored other than as typed ({} otherwise).

    :data:`bot.security.senders.STORED_HEADER` and :data:`~bot.security.senders.EARLIER_HEADER`.
    """
    headers = {}
    if prepared.text != typed and not prepared.refused:
        headers[STORED_HEADER] = json.dumps(prepared.text)
    if prepared.earlier:
        headers[EARLIER_HEADER] = json.dumps(prepared.earlier)
    return headers


def reply_messages(names: list[str], recipient: str) -> list[dict]:
    """Bot messages (as the REST channel returns them) for the named replies."""
    from bot.replies import as_messages

    return as_messages(names, recipient)


def finish(messages: list[dict], prepared: Prepared, recipient: str) -> list[dict]:
    """The dialogue's messages, with an apology if it gave no text and the notices appended."""
    out = list(messages)
    if not any(m.get("text") for m in out):
        restarted = prepared.text.strip() in RESTART_COMMANDS and not prepared.refused
        out += reply_messages(["restarted" if restarted else "unavailable"], recipient)
    return out + reply_messages(prepared.notices, recipient)


__all__ = [
    "EARLIER",
    "MAX_SENDER_CHARS",
    "PSEUDONYM_PREFIX",
    "WINDOW_S",
    "Prepared",
    "client_ip",
    "finish",
    "limiter_for",
    "log_id",
    "prepare",
    "reply_messages",
    "safe_sender",
    "stored_headers",
    "sender_problem",
]
