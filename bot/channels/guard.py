"""What every public channel does to a resident's message before and after the dialogue.

Before: per-sender and per-client-IP rate limits, a maximum length, and privacy redaction
(ID-card, mobile and bank-card numbers are replaced by placeholders, so raw values never reach
the tracker store or the logs). After: an apology when the dialogue produced no answer (e.g. the
action server is down), and a notice when numbers were removed. The wording is in
``knowledge/replies.yml``.

The rate limits are counted in Redis when ``REDIS_URL`` is set, so every replica behind a balancer
shares them; while Redis is unreachable each process falls back to its own in-memory counters
(fail open: residents keep getting answers) and returns to Redis by itself.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from itertools import takewhile

from bot import config
from bot.channels import payload
from bot.privacy import PrivacyDataError, contains_personal_number, number_tail, redact, redact_continuation

log = logging.getLogger(__name__)

# The replies (knowledge/replies.yml) this module and the channels send on its behalf.
REPLIES = ("privacy_notice", "rate_limited", "too_long", "unavailable", "restarted")
# Rasa's own commands that end a conversation; they answer nothing, so the resident is told it worked.
RESTART_COMMANDS = ("/restart", "/session_start")
# An empty message is handed to the dialogue as "NLU did not understand".
EMPTY_MESSAGE = "/nlu_fallback"
WINDOW_S = 60.0
RECORD_WINDOW_S = 3600.0  # how long record() keeps an event
# A number split across messages is caught when its parts come this close together.
SPLIT_NUMBER_WINDOW_S = 120.0
MAX_SENDER_CHARS = 128
# Sender ids that hold a personal number are replaced by this prefix and a keyed hash.
PSEUDONYM_PREFIX = "anon-"


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
        return limit <= 0 or self.reserve(key, limit, window, now) is not None

    def reserve(self, key: str, limit: int, window: float, now: float | None = None) -> float | None:
        """Take one of ``limit`` slots of ``key`` within ``window`` seconds, atomically.

        Like :meth:`allow`, but the slot can be handed back with :meth:`release` (a console login
        reserves its attempt before the password is checked and releases it when the password
        was right, so concurrent guesses cannot all pass a check made before any is counted).

        Returns:
            The slot's token for :meth:`release`, or None when all ``limit`` slots are taken.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._recent(key, window, now)
            if len(hits) >= limit:
                return None
            hits.append(now)
            return now

    def release(self, key: str, token: float) -> None:
        """Hand back the slot :meth:`reserve` gave as ``token`` (nothing when it is gone already)."""
        with self._lock:
            hits = self._hits.get(key)
            try:
                if hits is not None:
                    hits.remove(token)
            except ValueError:
                pass  # expired, evicted or released before

    def count(self, key: str, window: float = WINDOW_S, now: float | None = None) -> int:
        """How many events ``key`` had within ``window`` seconds (older events are kept)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return sum(1 for _ in takewhile(lambda hit: now - hit <= window, reversed(self._hits.get(key, ()))))

    def record(self, key: str, now: float | None = None) -> None:
        """Count one event for ``key`` without a limit (e.g. a failed login); kept an hour."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(key, RECORD_WINDOW_S, now).append(now)


# Scores are integer milliseconds: Lua prints numbers with 14 significant digits, which keeps
# millisecond timestamps exact. When the caller gives no time the script uses the server's clock,
# so replicas with skewed clocks still agree.
_LUA_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""
_LUA_ALLOW = _LUA_NOW + """
local limit, window, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - 1)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""
_LUA_COUNT = _LUA_NOW + """
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[2]), '+inf')
"""
_LUA_RECORD = _LUA_NOW + """
local window, ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - 1)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -cap - 1)
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""

_LUA_RELEASE = """
return redis.call('ZREM', KEYS[1], ARGV[1])
"""


class RedisRateLimiter:
    """The :class:`RateLimiter` interface over sorted sets in Redis, shared by every replica.

    Each key is a sorted set of event timestamps (``gxga:rl:<namespace>:<key>``); each operation is
    one Lua script, so concurrent replicas cannot both take the last slot, and every write sets an
    EXPIRE so idle keys disappear. When Redis fails (refused, timed out, any ``RedisError``) the call
    is answered by the in-process ``fallback`` instead, and Redis is left alone for ``retry_after``
    seconds so that an unreachable host costs at most one short timeout per interval; after that it
    is tried again, with no restart needed.

    Args:
        url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        namespace: separates independent sets of limits (chat messages, console logins) that may
            use the same keys.
        fallback: the in-process limiter used while Redis is unavailable.
        timeout: socket connect and read timeout in seconds.
        retry_after: seconds to skip Redis after a failure.
    """

    RECORD_CAP = 1000  # events kept per recorded key

    def __init__(self, url: str, namespace: str = "chat", fallback: RateLimiter | None = None,
                 timeout: float = 0.25, retry_after: float = 1.0):
        self.url = url
        self.prefix = f"gxga:rl:{namespace}:"
        self.fallback = fallback if fallback is not None else RateLimiter()
        self._timeout = timeout
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._client = None
        self._scripts: dict = {}
        self._down_until = 0.0
        self._down_since: float | None = None
        self._last_warning = float("-inf")

    def _redis(self):
        with self._lock:
            if self._client is None:
                import redis

                client = redis.Redis.from_url(self.url, socket_timeout=self._timeout,
                                              socket_connect_timeout=self._timeout)
                self._scripts = {name: client.register_script(source) for name, source in
                                 (("allow", _LUA_ALLOW), ("count", _LUA_COUNT), ("record", _LUA_RECORD),
                                  ("release", _LUA_RELEASE))}
                self._client = client
            return self._scripts

    def _run(self, script: str, key: str, args: list):
        """The script's result, or None when Redis is unavailable (the caller falls back)."""
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:
            return None
        try:
            result = self._redis()[script](keys=[self.prefix + key], args=args)
        except RedisError as exc:
            self._failed(exc)
            return None
        if self._down_since is not None:
            log.info("Redis rate limiter at %s is reachable again after %.0f s", self._safe_url(),
                     time.monotonic() - self._down_since)
            self._down_since = None
        return result

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + self._retry_after
        if self._down_since is None:
            self._down_since = now
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning("Redis rate limiter at %s unavailable (%s: %s): using per-process limits",
                        self._safe_url(), type(exc).__name__, exc)

    def _safe_url(self) -> str:
        """The URL without its password, for the log."""
        head, sep, tail = self.url.rpartition("@")
        return f"{self.url.split('://', 1)[0]}://***@{tail}" if sep else self.url

    @staticmethod
    def _ms(seconds: float | None) -> str:
        return "" if seconds is None else str(int(round(seconds * 1000)))

    @staticmethod
    def _member() -> str:
        return os.urandom(8).hex()

    def allow(self, key: str, limit: int, window: float = WINDOW_S, now: float | None = None) -> bool:
        """Count one request for ``key``; False when it is over ``limit`` within ``window`` seconds.

        ``now`` is in seconds on a clock every replica shares (Unix time); None uses Redis's clock.
        """
        if limit <= 0:
            return True
        result = self._run("allow", key, [self._ms(now), limit, self._ms(window), self._member(),
                                          max(1, int(window) + 1)])
        return self.fallback.allow(key, limit, window, now) if result is None else bool(result)

    def reserve(self, key: str, limit: int, window: float, now: float | None = None) -> str | float | None:
        """Take one of ``limit`` slots of ``key`` within ``window`` seconds in one Lua script, so
        concurrent callers on every replica cannot overshoot ``limit`` (see :meth:`RateLimiter.reserve`).

        Returns:
            The slot's token for :meth:`release` (the sorted-set member; the fallback's token while
            Redis is unavailable), or None when all ``limit`` slots are taken.
        """
        member = self._member()
        result = self._run("allow", key, [self._ms(now), limit, self._ms(window), member, max(1, int(window) + 1)])
        if result is None:
            return self.fallback.reserve(key, limit, window, now)
        return member if result else None

    def release(self, key: str, token: str | float) -> None:
        """Hand back the slot :meth:`reserve` gave as ``token`` (one ``ZREM``, in a Lua script)."""
        if not isinstance(token, str):
            self.fallback.release(key, token)
        elif self._run("release", key, [token]) is None:
            # the slot stays counted until its window passes: a success may then count as an attempt
            log.warning("a reserved rate-limit slot could not be released while Redis is unavailable")

    def count(self, key: str, window: float = WINDOW_S, now: float | None = None) -> int:
        """How many events ``key`` had within ``window`` seconds (Redis's clock when ``now`` is None)."""
        result = self._run("count", key, [self._ms(now), self._ms(window)])
        return self.fallback.count(key, window, now) if result is None else int(result)

    def record(self, key: str, now: float | None = None) -> None:
        """Count one event for ``key`` without a limit (e.g. a failed login); kept an hour."""
        result = self._run("record", key, [self._ms(now), self._ms(RECORD_WINDOW_S), int(RECORD_WINDOW_S),
                                           self._member(), self.RECORD_CAP])
        if result is None:
            self.fallback.record(key, now)


# The in-process limiter of the chat channels (also their fallback while Redis is down).
LIMITER = RateLimiter()
_LOCAL: dict[str, RateLimiter] = {"chat": LIMITER}
_SHARED: dict[tuple[str, str], RedisRateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(settings: config.Settings, namespace: str = "chat") -> RateLimiter | RedisRateLimiter:
    """The limiter to use under ``settings``: in Redis when ``REDIS_URL`` is set, else in process.

    Args:
        settings: the process's settings (only ``redis_url`` is read).
        namespace: which set of limits; ``"chat"`` for the public channels, another name (e.g.
            ``"console"``) for counters whose keys must not mix with theirs.

    Returns:
        One limiter per (URL, namespace), cached for the life of the process.
    """
    with _REGISTRY_LOCK:
        local = _LOCAL.setdefault(namespace, RateLimiter())
        if not settings.redis_url:
            return local
        shared = _SHARED.get((settings.redis_url, namespace))
        if shared is None:
            shared = _SHARED[(settings.redis_url, namespace)] = RedisRateLimiter(
                settings.redis_url, namespace, fallback=local)
        return shared


class NumberTails:
    """The end of each sender's previous message that could begin a personal number, so that a
    number typed across two messages (``我的手机是139`` then ``12345678``) is still caught.

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
                client = self._clients[url] = redis.Redis.from_url(url, socket_timeout=0.25,
                                                                   socket_connect_timeout=0.25)
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
                self._redis(settings.redis_url).set(f"gxga:tail:{sender}", tail.encode("utf-8"),
                                                    ex=max(1, int(self.window)))
                return
            except RedisError:
                pass
        with self._lock:
            if len(self._local) >= self._max_keys:
                self._local.pop(next(iter(self._local)))
            self._local[sender] = (time.monotonic(), tail)


TAILS = NumberTails()


def _sender_key(settings: config.Settings) -> bytes:
    """The pseudonym key: ``SENDER_HASH_KEY``, or a random one kept in ``var/sender_hash.key``."""
    if settings.sender_hash_key:
        return settings.sender_hash_key.encode("utf-8")
    path = settings.var_dir / "sender_hash.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return key


def safe_sender(sender: str, settings: config.Settings) -> str:
    """The conversation id to store for ``sender``: itself, or, when it holds an ID-card, mobile
    or bank-card number (``13912345678`` as a REST sender), a keyed hash of it, the same every
    time, so the conversation continues without the number being stored or logged.

    Raises:
        PrivacyDataError: ``knowledge/privacy.yml`` is broken.
    """
    if not contains_personal_number(sender):
        return sender
    import hmac

    return PSEUDONYM_PREFIX + hmac.new(_sender_key(settings), sender.encode("utf-8"), "sha256").hexdigest()[:32]


def log_id(sender: str) -> str:
    """How a sender appears in our logs: a short hash, never the id itself."""
    import hashlib

    return "s:" + hashlib.sha256(sender.encode("utf-8")).hexdigest()[:12]


def sender_problem(sender: object) -> str | None:
    """Why ``sender`` cannot name a conversation (missing, empty, not text, too long), or None."""
    if sender is None:
        return "sender is required"
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        return "sender must be a string"
    text = str(sender).strip()
    if not text:
        return "sender must not be empty"
    if len(text) > MAX_SENDER_CHARS:
        return f"sender over {MAX_SENDER_CHARS} characters"
    if any(unicodedata.category(ch)[0] == "C" for ch in text):
        return "sender must not contain control characters"
    return None


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


def prepare(text: str, sender: str, ip: str | None, settings: config.Settings | None = None,
            limited: bool = True) -> Prepared:
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
        cleaned = redact(redact_continuation(tail, text) if tail else text)
        TAILS.keep(sender, number_tail(cleaned), settings)
    except PrivacyDataError as exc:
        # nothing may be stored unredacted: refuse politely until the data file is mended
        log.error("redaction unavailable, message refused: %s", exc)
        return Prepared(text="", refused="unavailable")
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
        restarted = prepared.text.strip() in RESTART_COMMANDS and not prepared.refused
        out += reply_messages(["restarted" if restarted else "unavailable"], recipient)
    return out + reply_messages(prepared.notices, recipient)
