"""The application's own tables (residents' feedback), separate from the knowledge base.

The knowledge base is rebuilt by swapping its file, so nothing residents or staff write may
live there: these tables are in ``APP_DATABASE_URL`` (``var/app.db`` by default). Text is
passed through :func:`bot.privacy.redact` before it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Integer, String, Text, select
from sqlalchemy.orm import declarative_base

from bot.privacy import redact
from knowledge import db

Base = declarative_base()


class Feedback(Base):
    """A resident's 👍/👎 on an answer."""

    __tablename__ = "feedback"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False)
    sender_id = Column(String(128), nullable=False, index=True)
    value = Column(String(8), nullable=False)
    question = Column(Text, nullable=False)
    intent = Column(String(100))
    measures = Column(String(100), nullable=False, default="")
    channel = Column(String(32))


@dataclass(frozen=True)
class FeedbackRecord:
    """A stored feedback row."""

    id: int
    created_at: datetime
    sender_id: str
    value: str
    question: str
    intent: str | None
    measures: tuple[int, ...]
    channel: str | None


def app_url() -> str:
    """The URL of the application database."""
    from bot import config

    return config.load().app_database_url


def ensure_schema(url: str | None = None) -> None:
    """Create the application tables if they do not exist."""
    Base.metadata.create_all(db.get_engine(url or app_url()))


def record_feedback(
    sender_id: str, value: str, question: str, intent: str | None, measures, channel: str | None = None,
    url: str | None = None,
) -> int:
    """Store one feedback row (question redacted); returns its id.

    Raises:
        ValueError: ``value`` is not "up" or "down".
    """
    if value not in ("up", "down"):
        raise ValueError(f"feedback value must be 'up' or 'down', got {value!r}")
    url = url or app_url()
    ensure_schema(url)
    row = Feedback(
        created_at=datetime.now(timezone.utc), sender_id=str(sender_id)[:128], value=value,
        question=redact(question or "")[:1000], intent=(intent or None), channel=channel,
        measures=",".join(str(int(n)) for n in measures or ()),
    )
    with db.session_scope(url) as session:
        session.add(row)
        session.flush()
        return row.id


def list_feedback(url: str | None = None, limit: int = 100) -> list[FeedbackRecord]:
    """The newest feedback first."""
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        rows = session.execute(select(Feedback).order_by(Feedback.id.desc()).limit(limit)).scalars().all()
        return [
            FeedbackRecord(
                id=r.id, created_at=r.created_at, sender_id=r.sender_id, value=r.value, question=r.question,
                intent=r.intent, measures=tuple(int(n) for n in r.measures.split(",") if n), channel=r.channel,
            )
            for r in rows
        ]
