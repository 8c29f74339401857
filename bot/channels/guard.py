"""What every public channel does to a resident's message before and after the dialogue.

Before: per-sender and per-client-IP rate limits, a maximum length, and privacy redaction
(ID-card, mobile and bank-card numbers are replaced by placeholders, so raw values never reach
the tracker store or the logs). After: an apology when the dialogue produced no answer (e.g. the
action server is down), and a notice when numbers were removed. The wording is in
``knowledge/replies.yml``.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from bot import config
from bot.privacy import redact

# The replies (knowledge/replies.yml) this module and the channels send on its behalf.
REPLIES = ("privacy_notice", "rate_limited", "too_long", "unavailable")
# An empty message is handed to the dialogue as "NLU did not understand".
EMPTY_MESSAGE = "/nlu_fallback"
WINDOW_S = 60.0


class RateLimiter:
    """Sliding-window request counts per key, in process (bounded)."""

    def __init__(self, max_keys: int = 50_000):
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def _recent(self, key: str, window: float, now: float) -> deque:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._hits.pop(next(iter(self._hits)))
            hits = self._hits[key] = deque()
        while hits and now - hits[0] > window:
            hits.popleft()
        return hits

    def allow(self, key: str, limit: int, window: float = WINDOW_S, now: float | None = None) -> bool:
        """Count one request for ``key``; False when it is over ``limit`` within ``window`` seconds."""
        if limit <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._recent(key, window, now)
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def count(self, key: str, window: float = WINDOW_S, now: float | None = None) -> int:
        """How many events ``key`` had within ``window`` seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return len(self._recent(key, window, now))

    def record(self, key: str, now: float | None = None) -> None:
        """Count one event for ``key`` without a limit (e.g. a failed login); kept an hour."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(key, 3600.0, now).append(now)


LIMITER = RateLimiter()


@dataclass
class Prepared:
    """A message ready for the dialogue, or the reason it is refused."""

    text: str
    refused: str | None = None
    notices: list[str] = field(default_factory=list)


def client_ip(peer: str | None, forwarded_for: str | None, settings: config.Settings) -> str | None:
    """The resident's address: the peer, or, behind a trusted proxy, the last untrusted hop of
    ``X-Forwarded-For``. None for our own local tools (a trusted peer with no forwarded address)."""
    trusted = set(settings.trusted_proxies)
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    if peer and peer not in trusted:
        return peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            continue
        if hop not in trusted:
            return hop
    return None


def prepare(text: str, sender: str, ip: str | None, settings: config.Settings | None = None) -> Prepared:
    """Apply the limits and redaction to one incoming message."""
    settings = settings or config.load()
    if not LIMITER.allow(f"sender:{sender}", settings.rate_limit_sender):
        return Prepared(text="", refused="rate_limited")
    if ip and not LIMITER.allow(f"ip:{ip}", settings.rate_limit_ip):
        return Prepared(text="", refused="rate_limited")
    if len(text) > settings.max_message_chars:
        return Prepared(text="", refused="too_long")
    cleaned = redact(text)
    notices = ["privacy_notice"] if cleaned != text else []
    return Prepared(text=cleaned if cleaned.strip() else EMPTY_MESSAGE, notices=notices)


def reply_messages(names: list[str], recipient: str) -> list[dict]:
    """Bot messages (as the REST channel returns them) for the named replies."""
    from actions.replies import render

    return [{"recipient_id": recipient, **render(name)} for name in names]


def finish(messages: list[dict], prepared: Prepared, recipient: str) -> list[dict]:
    """The dialogue's messages, with an apology if it gave no text and the notices appended."""
    out = list(messages)
    if not any(m.get("text") for m in out):
        out += reply_messages(["unavailable"], recipient)
    return out + reply_messages(prepared.notices, recipient)
