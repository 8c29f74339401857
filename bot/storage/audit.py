"""The audit log: who changed an account, gave a review verdict or exported data, and when.

Rows live in the application database (``APP_DATABASE_URL``, table ``audit_log``) beside the
accounts. The actor is a staff username, the action an English code (its Chinese label is in
``bot/webapp/console/wording.yml``, section ``audit_actions``), the target what was acted on (a
username, a review id) and the detail a short free text, passed through
:func:`bot.text.privacy.redact` and cut to :data:`MAX_DETAIL_CHARS` before it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Integer, String, Text, select

from bot.storage import appdb
from bot.text.privacy import redact
from knowledge import db

MAX_ACTOR_CHARS = 64
MAX_ACTION_CHARS = 40
MAX_TARGET_CHARS = 200
MAX_DETAIL_CHARS = 500
MAX_ENTRIES = 1000


class AuditRow(appdb.Base):
    """One audit entry as stored."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, index=True)
    actor = Column(String(MAX_ACTOR_CHARS), nullable=False, index=True)
    action = Column(String(MAX_ACTION_CHARS), nullable=False, index=True)
    target = Column(String(MAX_TARGET_CHARS), nullable=False, default="")
    detail = Column(Text, nullable=False, default="")


@dataclass(frozen=True)
class AuditEntry:
    """A stored audit entry; ``at`` is timezone-aware UTC."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


def _aware(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC (SQLite hands back naive datetimes)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def record(actor: str, action: str, target: str = "", detail: str = "", url: str | None = None) -> int:
    """Write one audit entry now; returns its id.

    ``target`` and ``detail`` are redacted (they may quote what someone typed) and cut to their
    column's length; ``actor`` and ``action`` are cut to theirs.

    Raises:
        ValueError: an empty ``actor`` or ``action``.
    """
    if not actor or not action:
        raise ValueError("an audit entry needs an actor and an action")
    url = url or appdb.app_url()
    appdb.ensure_schema(url)
    row = AuditRow(
        at=datetime.now(timezone.utc),
        actor=str(actor)[:MAX_ACTOR_CHARS],
        action=str(action)[:MAX_ACTION_CHARS],
        target=redact(str(target or ""))[:MAX_TARGET_CHARS],
        detail=redact(str(detail or ""))[:MAX_DETAIL_CHARS],
    )
    with db.session_scope(url) as session:
        session.add(row)
        session.flush()
        return int(row.id)


def entries(
    url: str | None = None,
    limit: int = 100,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """Audit entries, newest first.

    Args:
        url: the application database (default ``APP_DATABASE_URL``).
        limit: at most this many (clamped to 1-:data:`MAX_ENTRIES`).
        before: only entries with an id below this one: pass the last id of a page for the next.
        actor: only this actor's entries.
        action: only entries of this action code.
    """
    url = url or appdb.app_url()
    appdb.ensure_schema(url)
    stmt = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(int(limit), MAX_ENTRIES)))
    if before is not None:
        stmt = stmt.where(AuditRow.id < int(before))
    if actor:
        stmt = stmt.where(AuditRow.actor == actor)
    if action:
        stmt = stmt.where(AuditRow.action == action)
    with db.session_scope(url) as session:
        return [
            AuditEntry(id=r.id, at=_aware(r.at), actor=r.actor, action=r.action, target=r.target, detail=r.detail)
            for r in session.execute(stmt).scalars()
        ]
