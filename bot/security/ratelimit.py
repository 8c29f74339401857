"""Rate limits and client addresses, shared by the chat channels' guard and the staff console.

:class:`RateLimiter` counts sliding windows in process; :class:`RedisRateLimiter` counts them in
Redis, so every replica behind a balancer shares them, and while Redis is unreachable falls back
to its in-process twin (fail open) and returns to Redis by itself. :func:`client_ip` reads the
resident's address behind trusted proxies only.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import threading
import time
from collections import deque
from itertools import takewhile

from bot import config
from knowledge.db import safe_url

log = logging.getLogger(__name__)

WINDOW_S = 60.0
# The web server (bot/webapp/server.py) tells the Rasa server's web channel which resident a message
# comes from in this header, with the Rasa API token as its bearer; the channel believes it only
# with that token (bot/rasa_ext/channels/web.py), wherever the request comes from.
RESIDENT_ADDRESS_HEADER = "X-Resident-Address"
RECORD_WINDOW_S = 3600.0  # how long record() keeps an event


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
_LUA_ALLOW = (
    _LUA_NOW
    + """
local limit, window, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - 1)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""
)
_LUA_COUNT = (
    _LUA_NOW
    + """
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[2]), '+inf')
"""
)
_LUA_RECORD = (
    _LUA_NOW
    + """
local window, ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - 1)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -cap - 1)
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""
)

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

    def __init__(
        self,
        url: str,
        namespace: str = "chat",
        fallback: RateLimiter | None = None,
        timeout: float = 0.25,
        retry_after: float = 1.0,
    ):
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

                client = redis.Redis.from_url(
                    self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
                )
                self._scripts = {
                    name: client.register_script(source)
                    for name, source in (
                        ("allow", _LUA_ALLOW),
                        ("count", _LUA_COUNT),
                        ("record", _LUA_RECORD),
                        ("release", _LUA_RELEASE),
                    )
                }
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
            log.info(
                "Redis rate limiter at %s is reachable again after %.0f s",
                safe_url(self.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        return result

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + self._retry_after
        if self._down_since is None:
            self._down_since = now
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning(
                "Redis rate limiter at %s unavailable (%s: %s): using per-process limits",
                safe_url(self.url),
                type(exc).__name__,
                exc,
            )

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
        result = self._run(
            "allow", key, [self._ms(now), limit, self._ms(window), self._member(), max(1, int(window) + 1)]
        )
        return self.fallback.allow(key, limit, window, now) if result is None else bool(result)

    def reserve(self, key: str, limit: int, window: float, now: float | None = None) -> str | float | None:
        """Take one of ``limit`` slots of ``key`` within ``window`` seconds in one Lua script.

        It is one script so that concurrent callers on every replica cannot overshoot ``limit`` (see
        :meth:`RateLimiter.reserve`).

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
        result = self._run(
            "record",
            key,
            [self._ms(now), self._ms(RECORD_WINDOW_S), int(RECORD_WINDOW_S), self._member(), self.RECORD_CAP],
        )
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
                settings.redis_url, namespace, fallback=local
            )
        return shared


@functools.lru_cache(maxsize=64)
def trusted_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``TRUSTED_PROXIES`` entries (addresses or CIDRs, as :func:`bot.config.load` checked them) as networks.

    An entry that is not an address or network is skipped with a warning (settings made in code
    bypass :func:`bot.config.load`'s check; from the environment a bad entry stops start-up).
    """
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("TRUSTED_PROXIES entry %r is not an address or network: ignored", entry)
    return tuple(networks)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an address (an IPv4-mapped IPv6 address as its IPv4 one), or None."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str | None) -> str | None:
    """``text`` as an address in canonical form (IPv4-mapped IPv6 as IPv4), or None when it is not one."""
    address = _address(text)
    return None if address is None else str(address)


def is_trusted(address: str | None, settings: config.Settings) -> bool:
    """Whether ``address`` lies in one of the ``TRUSTED_PROXIES`` networks."""
    parsed = _address(address)
    return parsed is not None and any(parsed in net for net in trusted_networks(tuple(settings.trusted_proxies)))


def client_ip(peer: str | None, forwarded_for: str | None, settings: config.Settings) -> str | None:
    """The resident's address, or None for our own local tools.

    The address is the peer, unless the peer lies in a ``TRUSTED_PROXIES`` network (addresses and
    CIDRs, :func:`trusted_networks`); then it is the right-most ``X-Forwarded-For`` entry that is
    not in one, since each trusted proxy appends the address it received the request from and
    everything to the left of the first untrusted hop was written by the client. An entry that is
    not an address stops the walk (only the client can have written it): the client is then the
    nearest trusted hop already walked, i.e. a client inside a trusted network. None for our own
    local tools (a trusted peer with no forwarded address, or with only trusted or unreadable ones).
    """
    if peer and not is_trusted(peer, settings):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    nearest: str | None = None
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return nearest
        if not is_trusted(hop, settings):
            return str(address)
        nearest = str(address)
    return None
