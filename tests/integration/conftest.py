"""Fixtures of the integration tests: the same read-only knowledge base on SQLite and on PostgreSQL.

The PostgreSQL one is on the session's throw-away server.
"""

from __future__ import annotations

import pytest

from tests.support.paths import build_kb


@pytest.fixture(scope="session")
def postgres_kb_url(postgres_server_url) -> str:
    """A knowledge base built once into a fresh PostgreSQL database (read-only use)."""
    from tests.support.pgserver import create_database

    url = create_database(postgres_server_url)
    build_kb(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def kb_url(request) -> str:
    """The same read-only knowledge base on each supported database."""
    return request.getfixturevalue(f"{request.param}_kb_url")


@pytest.fixture
def kb(kb_url):
    """A repository over :func:`kb_url`."""
    from knowledge.repository import KnowledgeBase

    return KnowledgeBase(kb_url)
