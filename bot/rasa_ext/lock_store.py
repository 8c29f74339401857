"""Rasa's Redis lock store with atomic ticket operations, so replicas cannot share a ticket.

Rasa processes each message of a conversation inside ``lock_store.lock(sender_id)``: it takes a
ticket and waits until the ticket is served. Rasa 3.6's ``RedisLockStore`` keeps the ticket queue
as one JSON value and changes it with a GET, a change in Python and a SET. Two replicas taking a
ticket for the same conversation at the same moment can both read the old queue and both write
ticket N: both are "now serving", process the conversation together, and ``SQLTrackerStore.save``
then drops one of the resident's messages (measured by ``bench/bench_lock_store.py``). Cleaning up
has the same gap: a replica may delete the queue just after another added a ticket to it.

:class:`AtomicRedisLockStore` keeps Rasa's data format and waiting loop and makes every
read-change-write of the queue one Redis transaction (``WATCH`` the key, read, ``MULTI``/``EXEC``
the write, retried if another replica changed the key in between). ``endpoints.production.yml``
names it as ``lock_store: type: bot.rasa_ext.lock_store.AtomicRedisLockStore``.
"""

from __future__ import annotations

import json
import logging
from typing import Callable, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose ticket queue changes are Redis transactions (see the module)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs) -> None:
        """Build from Rasa's endpoint configuration (``url`` is the host) or keyword arguments.

        Args:
            endpoint_config: what Rasa passes for ``type: bot.rasa_ext.lock_store.AtomicRedisLockStore``;
                its ``url`` is the Redis host and its other keys (port, db, password, key_prefix,
                socket_timeout, ...) are ``RedisLockStore``'s arguments.
            **kwargs: ``RedisLockStore``'s arguments, when built directly.
        """
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _change(self, conversation_id: Text, change: Callable[[Optional[TicketLock]], Optional[TicketLock]]):
        """Apply ``change`` to the stored lock in one transaction; None from it deletes the lock.

        Returns:
            The lock as written (None when deleted).
        """
        key = self.key_prefix + conversation_id

        def attempt(pipe) -> Optional[TicketLock]:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            changed = change(lock)
            pipe.multi()
            if changed is None or not changed.tickets:
                pipe.delete(key)
                return None
            pipe.set(key, changed.dumps())
            return changed

        return self.red.transaction(attempt, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Append a ticket to the conversation's queue atomically; returns its number."""
        issued: list[int] = []

        def take(lock: Optional[TicketLock]) -> TicketLock:
            lock = lock or self.create_lock(conversation_id)
            issued[:] = [lock.issue_ticket(lock_lifetime)]
            return lock

        try:
            self._change(conversation_id, take)
        except Exception as exc:  # noqa: BLE001 - Rasa's contract: any failure is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
        return issued[0]

    def update_lock(self, conversation_id: Text) -> None:
        """Drop expired tickets atomically (a missing lock stays missing)."""

        def expire(lock: Optional[TicketLock]) -> Optional[TicketLock]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock

        self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove ``ticket_number`` from the queue atomically (the lock goes when it empties)."""

        def finish(lock: Optional[TicketLock]) -> Optional[TicketLock]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Finish ``ticket_number`` and delete the lock if no one waits, in one transaction."""
        self.finish_serving(conversation_id, ticket_number)
