"""A throw-away PostgreSQL server on loopback for the tests.

Uses ``TEST_DATABASE_URL`` when set (a server someone already runs); otherwise starts Debian's
PostgreSQL (installed by ``make system-deps``) from ``initdb`` in a temporary folder, on a
free port bound to 127.0.0.1, and removes it afterwards. The server itself is
:func:`bot.ops.localdb.postgres_server`, which ``make cluster`` uses too.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from bot.ops import localdb
from bot.ops.localdb import PostgresUnavailable  # noqa: F401  (re-exported for the tests)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of an empty database on a running PostgreSQL server."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    with localdb.postgres_server() as url:
        yield url


def create_database(server_url: str) -> str:
    """Create a fresh database on the server; returns its URL."""
    return localdb.create_database(server_url)
