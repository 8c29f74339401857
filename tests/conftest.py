"""Session-wide fixtures every layer may use.

The knowledge base on SQLite, and the throw-away PostgreSQL and Redis servers (one each per
session, shared by the integration and end-to-end tests). The layers' own fixtures are in
``tests/unit``, ``tests/integration`` and ``tests/e2e``; importable helpers are in
``tests/support`` (nothing imports from a conftest).
"""

from __future__ import annotations

import os

import pytest

from tests.support.paths import build_kb

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def sqlite_kb_url(tmp_path_factory) -> str:
    """A knowledge base built once into a temporary SQLite file (read-only use)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'knowledge.db'}"
    build_kb(url)
    return url


@pytest.fixture(scope="session")
def postgres_server_url():
    """A real PostgreSQL server on loopback for this test session."""
    from tests.support.pgserver import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    """A throw-away Redis server on loopback for this test session (or ``TEST_REDIS_URL``)."""
    from tests.support.wechat_fake import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _dispose_new_engines():
    """Close the pooled connections of the database engines a test made.

    ``knowledge.db`` keeps one engine per URL for the life of the process; a test's throw-away
    database would otherwise keep its connections open, and the session's one PostgreSQL server
    runs out of them ("too many clients") after a few dozen such tests.
    """
    from knowledge import db

    before = set(db._engines)
    yield
    for url in set(db._engines) - before:
        db.dispose_engine(url)
