"""The application's own tables (residents' feedback), separate from the knowledge base.

The knowledge base is rebuilt by swapping its file, so nothing residents or staff write may
live there: these tables are in ``APP_DATABASE_URL`` (``var/app.db`` by default). Text is
passed through :func:`bot.text.privacy.redact` before it is stored.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Integer, String, Text, select
from sqlalchemy.orm import DeclarativeMeta, declarative_base

from bot.text.privacy import redact
from knowledge import db
from knowledge.parser import EXPECTED_MEASURES

# SQLAlchemy 1.4 ships no type information: the annotation tells mypy that Base is a class
# (made by DeclarativeMeta), so the models below may subclass it.
Base: DeclarativeMeta = declarative_base()


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
    sender_id: str,
    value: str,
    question: str,
    intent: str | None,
    measures,
    channel: str | None = None,
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
        created_at=datetime.now(timezone.utc),
        sender_id=str(sender_id)[:128],
        value=value,
        question=redact(question or "")[:1000],
        intent=(intent or None),
        channel=channel,
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
                id=r.id,
                created_at=r.created_at,
                sender_id=r.sender_id,
                value=r.value,
                question=r.question,
                intent=r.intent,
                measures=tuple(int(n) for n in r.measures.split(",") if n),
                channel=r.channel,
            )
            for r in rows
        ]


class StaffUser(Base):
    """A hall staff account for the console; the password is stored as a bcrypt hash only."""

    __tablename__ = "staff_user"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(128), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)


class StaffSession(Base):
    """A console login; only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "staff_session"

    token_sha256 = Column(String(64), primary_key=True)
    user_id = Column(Integer, nullable=False, index=True)
    expires_at = Column(DateTime(timezone=True), nullable=False)


class StaffReview(Base):
    """A staff verdict on an answer: right, or wrong with the right measure/intent and a comment."""

    __tablename__ = "staff_review"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False)
    username = Column(String(64), nullable=False)
    question = Column(Text, nullable=False)
    intent = Column(String(100))
    cited = Column(String(100), nullable=False, default="")
    verdict = Column(String(8), nullable=False)
    correct_intent = Column(String(100))
    correct_measure = Column(Integer)
    comment = Column(Text, nullable=False, default="")


@dataclass(frozen=True)
class ReviewRecord:
    """A stored staff review."""

    id: int
    created_at: datetime
    username: str
    question: str
    intent: str | None
    cited: tuple[int, ...]
    verdict: str
    correct_intent: str | None
    correct_measure: int | None
    comment: str


USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD_CHARS = 10
BCRYPT_ROUNDS = 12
_DUMMY_LOCK = threading.Lock()
_dummy_hash: bytes | None = None


def _unknown_user_hash() -> bytes:
    """A bcrypt hash (cost :data:`BCRYPT_ROUNDS`) of a random secret, made once per process on first use.

    Checking a password against it costs what checking a real account's does, so the time of a
    failed login does not tell whether the username exists.
    """
    global _dummy_hash
    with _DUMMY_LOCK:
        if _dummy_hash is None:
            import secrets

            import bcrypt

            _dummy_hash = bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(rounds=BCRYPT_ROUNDS))
        return _dummy_hash


def prepare_login() -> None:
    """Make the stand-in hash of :func:`login` now.

    A server calls this at start-up, so even the first login for an unknown name costs one bcrypt
    check, not two.
    """
    _unknown_user_hash()


def _hash_token(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_staff_user(username: str, password: str, url: str | None = None) -> int:
    """Create a console account (bcrypt at :data:`BCRYPT_ROUNDS`).

    Raises:
        ValueError: a malformed username, a password under :data:`MIN_PASSWORD_CHARS`
            characters, or a username that exists.
    """
    import bcrypt

    if not USERNAME_RE.match(username or ""):
        raise ValueError("username: 2-64 letters, digits, '_', '.' or '-'")
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise ValueError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    url = url or app_url()
    ensure_schema(url)
    digest = bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")
    with db.session_scope(url) as session:
        if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
            raise ValueError(f"username {username!r} exists")
        user = StaffUser(username=username, password_hash=digest, created_at=datetime.now(timezone.utc))
        session.add(user)
        session.flush()
        return user.id


def login(username: str, password: str, hours: float, url: str | None = None) -> str | None:
    """A new session token for valid credentials, else None.

    Exactly one bcrypt check runs whether or not the account exists (an unknown name is checked
    against a stand-in hash of the same cost), so the time taken does not reveal usernames.
    """
    import secrets
    from datetime import timedelta

    import bcrypt

    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == (username or ""))).scalar_one_or_none()
        stored = user.password_hash.encode("ascii") if user else _unknown_user_hash()
        matches = bcrypt.checkpw((password or "").encode("utf-8")[:72], stored)
        if user is None or not matches:
            return None
        token = secrets.token_urlsafe(32)
        session.add(
            StaffSession(
                token_sha256=_hash_token(token),
                user_id=user.id,
                expires_at=datetime.now(timezone.utc) + timedelta(hours=hours),
            )
        )
        return token


def session_user(token: str | None, url: str | None = None) -> str | None:
    """The username of a live session, or None (unknown or expired; expired ones are deleted)."""
    if not token:
        return None
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        row = session.get(StaffSession, _hash_token(token))
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        if expires <= datetime.now(timezone.utc):
            session.delete(row)
            return None
        user = session.get(StaffUser, row.user_id)
        return user.username if user else None


def logout(token: str | None, url: str | None = None) -> None:
    """End a session."""
    if not token:
        return
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        row = session.get(StaffSession, _hash_token(token))
        if row is not None:
            session.delete(row)


def record_review(
    username: str,
    question: str,
    intent: str | None,
    cited,
    verdict: str,
    correct_intent: str | None = None,
    correct_measure: int | None = None,
    comment: str = "",
    url: str | None = None,
) -> int:
    """Store a staff verdict (question and comment redacted).

    Raises:
        ValueError: verdict not "right"/"wrong", or a correct measure outside 1-50.
    """
    if verdict not in ("right", "wrong"):
        raise ValueError("verdict must be 'right' or 'wrong'")
    if correct_measure is not None and not 1 <= int(correct_measure) <= EXPECTED_MEASURES:
        raise ValueError(f"correct_measure must be 1-{EXPECTED_MEASURES}")
    url = url or app_url()
    ensure_schema(url)
    row = StaffReview(
        created_at=datetime.now(timezone.utc),
        username=username,
        question=redact(question or "")[:1000],
        intent=intent or None,
        cited=",".join(str(int(n)) for n in cited or ()),
        verdict=verdict,
        correct_intent=(correct_intent or None),
        correct_measure=correct_measure,
        comment=redact(comment or "")[:2000],
    )
    with db.session_scope(url) as session:
        session.add(row)
        session.flush()
        return row.id


def list_reviews(url: str | None = None, verdict: str | None = None, limit: int = 500) -> list[ReviewRecord]:
    """Staff reviews, newest first, optionally of one verdict."""
    url = url or app_url()
    ensure_schema(url)
    stmt = select(StaffReview).order_by(StaffReview.id.desc()).limit(limit)
    if verdict:
        stmt = stmt.where(StaffReview.verdict == verdict)
    with db.session_scope(url) as session:
        return [
            ReviewRecord(
                id=r.id,
                created_at=r.created_at,
                username=r.username,
                question=r.question,
                intent=r.intent,
                cited=tuple(int(n) for n in r.cited.split(",") if n),
                verdict=r.verdict,
                correct_intent=r.correct_intent,
                correct_measure=r.correct_measure,
                comment=r.comment,
            )
            for r in session.execute(stmt).scalars()
        ]
