"""bot.rasa_ext.lock_store.AtomicRedisLockStore on a real Redis: unique tickets, serialised processing."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from bot.rasa_ext.lock_store import AtomicRedisLockStore


def stores(redis_url: str, n: int = 2) -> list[AtomicRedisLockStore]:
    """``n`` lock stores on the same Redis, as ``n`` replicas would have (separate clients)."""
    url = urlsplit(redis_url)
    return [AtomicRedisLockStore(host=url.hostname, port=url.port, db=1, key_prefix="locktest") for _ in range(n)]


def test_concurrent_tickets_from_two_replicas_are_unique(redis_url):
    a, b = stores(redis_url)
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(16)

    def take(i: int) -> int:
        barrier.wait()
        return (a if i % 2 else b).issue_ticket(conversation, 60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        tickets = list(pool.map(take, range(16)))
    assert sorted(tickets) == list(range(16)), tickets
    lock = a.get_lock(conversation)
    assert [t.number for t in lock.tickets] == list(range(16))


def test_cleanup_deletes_only_when_no_one_waits(redis_url):
    a, b = stores(redis_url)
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    first, second = a.issue_ticket(conversation, 60), b.issue_ticket(conversation, 60)
    a.cleanup(conversation, first)
    assert [t.number for t in b.get_lock(conversation).tickets] == [second]
    b.cleanup(conversation, second)
    assert a.get_lock(conversation) is None


def test_expired_tickets_are_dropped(redis_url):
    (a,) = stores(redis_url, 1)
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    a.issue_ticket(conversation, -1)  # already expired
    live = a.issue_ticket(conversation, 60)
    a.update_lock(conversation)
    assert [t.number for t in a.get_lock(conversation).tickets] == [live]


def test_lock_serialises_one_conversation_across_replicas(redis_url):
    """Eight messages of one conversation on two replicas: never two inside the lock at once."""
    replicas = stores(redis_url)
    conversation = f"c-{uuid.uuid4().hex[:8]}"
    inside, overlaps, done = [0], [0], []

    async def message(i: int) -> None:
        async with replicas[i % 2].lock(conversation, lock_lifetime=60, wait_time_in_seconds=0.02):
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            await asyncio.sleep(0.03)
            inside[0] -= 1
            done.append(i)

    async def main() -> None:
        await asyncio.gather(*(message(i) for i in range(8)))

    asyncio.run(main())
    assert sorted(done) == list(range(8)) and overlaps[0] == 1
    assert replicas[0].get_lock(conversation) is None


def test_redis_down_is_a_lock_error():
    from rasa.core.lock_store import LockError

    from tests.support.ports import free_port

    store = AtomicRedisLockStore(host="127.0.0.1", port=free_port(), socket_timeout=0.5)
    with pytest.raises(LockError):
        store.issue_ticket("c-down", 60)
