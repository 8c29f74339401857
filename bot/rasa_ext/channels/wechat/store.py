"""The WeChat channel's short-lived state.

Message de-duplication, each user's last buttons, and the API access token.

A small key → string store with expiry. :class:`MemoryStore` keeps it in the process (the
default; bounded in size, entries expire); :class:`RedisStore` keeps it in Redis
(``REDIS_URL``), so that several replicas of the Rasa server behind one Official Account see the
same messages, buttons and token. :func:`make_store` picks one from the settings.

The interface is four coroutines; ``add`` is the only one with a guarantee that matters:
of several callers adding the same key, exactly one gets ``True`` (Redis ``SET NX``), which is
how a message that WeChat delivers up to four times is processed once.
"""

from __future__ import annotations

import abc
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

# Keys in Redis are namespaced so the channel can share a Redis server with other things.
REDIS_PREFIX = "gxga:wechat:"


class MessageStore(abc.ABC):
    """Strings under keys, each with a time to live in seconds."""

    @abc.abstractmethod
    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds nothing (or something expired).

        Returns:
            True when this call stored it; False when the key was already taken.
        """

    @abc.abstractmethod
    async def get(self, key: str) -> str | None:
        """The value under ``key``, or None when there is none or it expired."""

    @abc.abstractmethod
    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` under ``key``, replacing what was there."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (nothing happens when it is absent)."""

    async def close(self) -> None:
        """Release connections (the in-process store has none).

        Not abstract: a store without connections needs no override, so this default does nothing.
        """
        return None


class MemoryStore(MessageStore):
    """The in-process store: a dict with expiry, at most ``max_entries`` keys.

    When full, the least recently written keys are dropped first; expired keys are dropped
    when read and in a sweep every ``max_entries // 10`` writes. Not shared between processes.
    """

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._writes = 0

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._clock():
            del self._data[key]
            return None
        return value

    def _write(self, key: str, value: str, ttl: float) -> None:
        self._data.pop(key, None)
        self._data[key] = (self._clock() + ttl, value)
        self._writes += 1
        if self._writes % max(1, self.max_entries // 10) == 0:
            now = self._clock()
            for stale in [k for k, (expires, _) in self._data.items() if expires <= now]:
                del self._data[stale]
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds nothing live; True when this call stored it."""
        # No await between the check and the write: atomic within the event loop.
        if self._live(key) is not None:
            return False
        self._write(key, value, ttl)
        return True

    async def get(self, key: str) -> str | None:
        """The live value under ``key``, or None (an expired entry is dropped)."""
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing what was there."""
        self._write(key, value, ttl)

    async def delete(self, key: str) -> None:
        """Remove ``key`` from the process's store (nothing happens when it is absent)."""
        self._data.pop(key, None)


class RedisStore(MessageStore):
    """The shared store: Redis (redis-py's asyncio client), keys prefixed with :data:`REDIS_PREFIX`."""

    def __init__(self, url: str, prefix: str = REDIS_PREFIX, timeout: float = 2.0) -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self._redis = aioredis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Store ``value`` with Redis ``SET NX PX``: True only for the one caller that stored it."""
        return bool(await self._redis.set(self.prefix + key, value, px=self._ms(ttl), nx=True))

    async def get(self, key: str) -> str | None:
        """The value under the prefixed ``key`` in Redis, or None (Redis drops expired keys)."""
        return await self._redis.get(self.prefix + key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` under the prefixed ``key`` in Redis, expiring after ``ttl`` seconds."""
        await self._redis.set(self.prefix + key, value, px=self._ms(ttl))

    async def delete(self, key: str) -> None:
        """Remove the prefixed ``key`` from Redis (nothing happens when it is absent)."""
        await self._redis.delete(self.prefix + key)

    async def close(self) -> None:
        """Close the Redis client and its connection pool."""
        await self._redis.close()


def make_store(redis_url: str | None, max_entries: int = 10_000) -> MessageStore:
    """Redis when ``redis_url`` is set (``REDIS_URL``), the in-process store otherwise."""
    return RedisStore(redis_url) if redis_url else MemoryStore(max_entries)


async def quietly(awaitable: Awaitable[Any], what: str, default: Any = None) -> Any:
    """Run a store operation; a store failure (e.g. Redis down) is logged, not raised.

    Args:
        awaitable: the operation, e.g. ``store.get(key)``.
        what: what it does, for the log ("read the last buttons").
        default: the result when it fails.
    """
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - the resident still gets an answer without the store
        log.error("WeChat channel could not %s: %s", what, exc)
        return default


def stored_json(raw: str | None, default: Any) -> Any:
    """A stored JSON value; ``default`` when there is none, it does not parse or is of another type."""
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        log.error("WeChat channel: unreadable value in the store: %.80r", raw)
        return default
    return value if isinstance(value, type(default)) else default
