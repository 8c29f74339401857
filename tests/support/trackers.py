"""Rasa's own tracker store on a throw-away database, and settings that make our code read it.

The figures, the review list and 已处理 are tested on conversations written by Rasa's
``SQLTrackerStore`` itself, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from sqlalchemy.engine import make_url

from bot import config


def rasa_store(url: str, cls=None, domain=None):
    """Rasa's ``SQLTrackerStore`` (or ``cls``, a subclass) over the database at ``url`` (SQLite or PostgreSQL)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    cls = cls or SQLTrackerStore
    domain = domain or Domain.empty()
    parts = make_url(url)
    if parts.drivername.startswith("sqlite"):
        return cls(domain, dialect="sqlite", db=parts.database)
    return cls(
        domain,
        dialect="postgresql",
        host=parts.host,
        port=parts.port,
        db=parts.database,
        username=parts.username,
        password=parts.password,
    )


def save(url: str, conversations: dict[str, list]) -> None:
    """Write ``{sender: [Rasa events]}`` with Rasa's store, as the running bot would."""
    from rasa.shared.core.trackers import DialogueStateTracker

    store = rasa_store(url)

    async def save_all():
        for sender, events in conversations.items():
            await store.save(DialogueStateTracker.from_events(sender, events))

    try:
        asyncio.run(save_all())
    finally:
        store.engine.dispose()


def tracker_settings(
    base: config.Settings, kind: str, tmp_path: Path, postgres_server_url: str | None = None
) -> tuple[config.Settings, str]:
    """``base`` reading a fresh tracker store of ``kind`` ("sqlite" or "postgres"), and its URL.

    On PostgreSQL the settings are production's (``BOT_ENV=production`` and the ``TRACKER_DB_*``
    of a new database on the session's server), so the code under test finds it as it would there.
    """
    if kind == "sqlite":
        settings = dataclasses.replace(base, tracker_db=tmp_path / "tracker.db")
    else:
        from tests.support.pgserver import create_database

        if postgres_server_url is None:
            raise ValueError("a PostgreSQL tracker store needs the session's server")
        parts = make_url(create_database(postgres_server_url))
        settings = dataclasses.replace(
            base,
            bot_env="production",
            tracker_db_host=parts.host,
            tracker_db_port=parts.port,
            tracker_db_name=parts.database,
            tracker_db_user=parts.username,
            tracker_db_password=parts.password or "",
        )
    return settings, settings.tracker_url
