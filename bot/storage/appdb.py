"""The application's own tables (residents' feedback), separate from the knowledge base.

The knowledge base is rebuilt by swapping its file, so nothing residents or staff write may
live there: these tables are in ``APP_DATABASE_URL`` (``var/app.db`` by default). Text is
passed through :func:`bot.text.privacy.redact` before it is stored.

Staff accounts have a role, :data:`ADMIN` (管理员: manages accounts, reads the audit log) or
:data:`STAFF` (工作人员: everything else), and may be disabled; there is always at least one
active administrator (:class:`AccountError` ``last_admin`` otherwise). Disabling an account or
resetting its password ends its sessions at once, and :func:`session_account` refuses a disabled
account even with a session it still holds.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Integer, String, Text, delete, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeMeta, Session, declarative_base

from bot.text.privacy import redact
from knowledge import db
from knowledge.parser import EXPECTED_MEASURES

log = logging.getLogger(__name__)

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


def joined(numbers) -> str:
    """Measure numbers as the tables store them: "22,23" (empty for none)."""
    return ",".join(str(int(n)) for n in numbers or ())


def numbers_of(stored: str | None) -> tuple[int, ...]:
    """The measure numbers of a stored "22,23" (anything that is not a number left out)."""
    return tuple(int(n) for n in (stored or "").split(",") if n.strip().isdigit())


def app_url() -> str:
    """The URL of the application database."""
    from bot import config

    return config.load().app_database_url


_UPGRADED: set[str] = set()  # the URLs whose tables were brought up to date by this process
_UPGRADE_LOCK = threading.Lock()


def ensure_schema(url: str | None = None) -> None:
    """Create the application tables if they do not exist, and bring older ones up to date.

    ``create_all`` only adds missing tables; the columns later versions added to existing ones
    are added by :func:`_upgrade_staff_user`, checked once per URL and process.

    Raises:
        SQLAlchemyError: the database cannot be reached or refused the upgrade.
    """
    url = url or app_url()
    engine = db.get_engine(url)
    Base.metadata.create_all(engine)
    if url in _UPGRADED:
        return
    with _UPGRADE_LOCK:
        if url not in _UPGRADED:
            _upgrade_staff_user(engine)
            _UPGRADED.add(url)


def _redacted_or_none(value: str | None, limit: int) -> str | None:
    """A short text field as stored: redacted and cut to ``limit``, or None when empty."""
    return redact(str(value))[:limit] if value else None


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
        sender_id=redact(str(sender_id))[:128],
        value=value,
        question=redact(question or "")[:1000],
        intent=_redacted_or_none(intent, 100),
        channel=_redacted_or_none(channel, 64),
        measures=joined(measures),
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
                measures=numbers_of(r.measures),
                channel=r.channel,
            )
            for r in rows
        ]


ADMIN = "admin"  # 管理员: manages accounts and reads the audit log
STAFF = "staff"  # 工作人员: everything else
ROLES = (ADMIN, STAFF)


class StaffUser(Base):
    """A hall staff account for the console; the password is stored as a bcrypt hash only.

    ``role``, ``disabled_at`` and ``last_login_at`` came later: :func:`_upgrade_staff_user` adds
    them to a table made before.
    """

    __tablename__ = "staff_user"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(128), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    role = Column(String(16), nullable=False, default=STAFF, server_default=STAFF)
    disabled_at = Column(DateTime(timezone=True))
    last_login_at = Column(DateTime(timezone=True))


# The columns added to staff_user after its first version, in the order they are added.
ADDED_STAFF_COLUMNS = ("role", "disabled_at", "last_login_at")


def _upgrade_staff_user(engine: Engine) -> None:
    """Add the :data:`ADDED_STAFF_COLUMNS` a ``staff_user`` table made by an older version lacks.

    Accounts that existed before roles become :data:`STAFF`, except that when none is an
    administrator the oldest becomes :data:`ADMIN`, so an upgraded install is never without one.
    Another process upgrading the same database at the same moment makes one of the two
    ``ALTER TABLE`` fail: the columns are then looked up again, and only a column still missing
    is an error.

    Raises:
        SQLAlchemyError: a column could not be added.
    """
    missing = _missing_staff_columns(engine)
    if not missing:
        return
    table = StaffUser.__table__
    try:
        with engine.begin() as conn:
            for name in missing:
                ddl = f"ALTER TABLE staff_user ADD COLUMN {name} {table.c[name].type.compile(dialect=engine.dialect)}"
                if name == "role":
                    ddl += f" NOT NULL DEFAULT '{STAFF}'"
                conn.execute(text(ddl))
            if "role" in missing:
                _promote_oldest(conn)
    except SQLAlchemyError:
        if _missing_staff_columns(engine):
            raise
        return
    log.info("app database: added %s to staff_user", ", ".join(missing))


def _missing_staff_columns(engine: Engine) -> list[str]:
    """The :data:`ADDED_STAFF_COLUMNS` the database's ``staff_user`` table has not got."""
    have = {column["name"] for column in inspect(engine).get_columns("staff_user")}
    return [name for name in ADDED_STAFF_COLUMNS if name not in have]


def _promote_oldest(conn: Connection) -> None:
    """Make the oldest account an administrator when no account is one."""
    if conn.execute(select(StaffUser.id).where(StaffUser.role == ADMIN).limit(1)).first() is not None:
        return
    oldest = conn.execute(select(StaffUser.id).order_by(StaffUser.created_at, StaffUser.id).limit(1)).scalar()
    if oldest is not None:
        conn.execute(StaffUser.__table__.update().where(StaffUser.id == oldest).values(role=ADMIN))
        log.info("app database: no administrator among the existing accounts; the oldest one is now one")


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


USERNAME_RE = re.compile(r"\A[A-Za-z0-9_.-]{2,64}\Z")  # \Z: no newline may follow the name
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256  # what the login form reads of a password
# bcrypt reads only the first 72 bytes of a password: a longer one is refused when it is set
# (never cut silently, which would make everything after byte 72 meaningless). Passwords set
# before this rule still log in: login() checks their first 72 bytes, as bcrypt always did.
MAX_PASSWORD_BYTES = 72
BCRYPT_ROUNDS = 12
_DUMMY_LOCK = threading.Lock()
_dummy_hash: bytes | None = None


class AccountError(ValueError):
    """An account change refused; ``code`` names the console's message for it (``wording.yml`` ``errors``).

    The codes: ``username_invalid``, ``password_short``, ``password_long``, ``username_exists``,
    ``role_invalid``, ``unknown_user``, ``last_admin``. The exception's own text is the English
    one the command line prints.
    """

    def __init__(self, code: str, message: str) -> None:
        """Keep the message code beside the English message."""
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StaffAccount:
    """A console account as the console shows it (never its password hash); times are UTC."""

    username: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None

    @property
    def disabled(self) -> bool:
        """Whether the account is disabled (it cannot log in, and has no session)."""
        return self.disabled_at is not None


def _aware(value: datetime | None) -> datetime | None:
    """``value`` as timezone-aware UTC (SQLite hands back naive datetimes)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _account(user: StaffUser) -> StaffAccount:
    created = _aware(user.created_at)
    assert created is not None  # the column is NOT NULL
    return StaffAccount(
        username=user.username,
        role=user.role,
        created_at=created,
        disabled_at=_aware(user.disabled_at),
        last_login_at=_aware(user.last_login_at),
    )


def _check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise AccountError("username_invalid", "username: 2-64 letters, digits, '_', '.' or '-'")
    return username


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise AccountError("password_short", f"password: at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise AccountError("password_long", f"password: at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit)")
    return password


def _check_role(role: object) -> str:
    if role not in ROLES:
        raise AccountError("role_invalid", f"role: one of {', '.join(ROLES)}")
    return str(role)


def _hash_password(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")


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


def _active_admins(session: Session) -> list[int]:
    """The ids of the active administrators, their rows locked until the transaction ends.

    On PostgreSQL the lock (``SELECT ... FOR UPDATE``) makes two concurrent changes that could each
    leave no administrator wait for one another, so the second sees the first's result; SQLite
    runs one writer at a time.
    """
    stmt = select(StaffUser.id).where(StaffUser.role == ADMIN, StaffUser.disabled_at.is_(None)).with_for_update()
    return list(session.execute(stmt).scalars())


def _user_row(session: Session, username: str) -> StaffUser:
    """The account's row, locked for the change.

    Raises:
        AccountError: ``unknown_user``.
    """
    stmt = select(StaffUser).where(StaffUser.username == username).with_for_update()
    user = session.execute(stmt).scalar_one_or_none()
    if user is None:
        raise AccountError("unknown_user", f"no account {username!r}")
    return user


def _end_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))


def add_staff_user(username: str, password: str, url: str | None = None, role: str | None = None) -> int:
    """Create a console account (bcrypt at :data:`BCRYPT_ROUNDS`); returns its id.

    Args:
        username: matches :data:`USERNAME_RE`.
        password: at least :data:`MIN_PASSWORD_CHARS` characters and at most :data:`MAX_PASSWORD_BYTES`
            bytes of UTF-8.
        url: the application database (default ``APP_DATABASE_URL``).
        role: :data:`ADMIN` or :data:`STAFF`; None (the command line's default) makes the account
            an administrator when there is no active one (the first account of an install), a
            member of staff otherwise.

    Raises:
        AccountError: a malformed username, a password too short or too long, an unknown role,
            or a username that exists (a ``ValueError``).
    """
    _check_username(username)
    _check_password(password)
    if role is not None:
        _check_role(role)
    url = url or app_url()
    ensure_schema(url)
    digest = _hash_password(password)
    with db.session_scope(url) as session:
        if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
            raise AccountError("username_exists", f"username {username!r} exists")
        if role is None:
            role = STAFF if _active_admins(session) else ADMIN
        user = StaffUser(username=username, password_hash=digest, created_at=datetime.now(timezone.utc), role=role)
        session.add(user)
        session.flush()
        return user.id


def list_staff_users(url: str | None = None) -> list[StaffAccount]:
    """Every console account, oldest first."""
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        rows = session.execute(select(StaffUser).order_by(StaffUser.created_at, StaffUser.id)).scalars()
        return [_account(u) for u in rows]


def get_staff_user(username: str, url: str | None = None) -> StaffAccount | None:
    """One account, or None when there is none of that name."""
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        return _account(user) if user else None


def set_disabled(username: str, disabled: bool, url: str | None = None) -> tuple[StaffAccount, bool]:
    """Disable an account (its sessions end at once) or enable it again.

    Returns:
        The account after the change, and whether anything changed (False when it already was).

    Raises:
        AccountError: ``unknown_user``; ``last_admin`` when it is the last active administrator.
    """
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        admins = _active_admins(session)
        user = _user_row(session, username)
        if disabled == (user.disabled_at is not None):
            return _account(user), False
        if disabled:
            if admins == [user.id]:
                raise AccountError("last_admin", f"{username!r} is the last active administrator")
            user.disabled_at = datetime.now(timezone.utc)
            _end_sessions(session, user.id)
        else:
            user.disabled_at = None
        session.flush()
        return _account(user), True


def set_role(username: str, role: str, url: str | None = None) -> tuple[StaffAccount, str]:
    """Give an account another role; it takes effect on the account's next request.

    Returns:
        The account after the change, and the role it had before (``role`` itself when nothing
        changed).

    Raises:
        AccountError: ``role_invalid``, ``unknown_user``; ``last_admin`` when this would demote
            the last active administrator.
    """
    _check_role(role)
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        admins = _active_admins(session)
        user = _user_row(session, username)
        previous = user.role
        if previous == role:
            return _account(user), previous
        if role != ADMIN and admins == [user.id]:
            raise AccountError("last_admin", f"{username!r} is the last active administrator")
        user.role = role
        session.flush()
        return _account(user), previous


def reset_password(username: str, password: str, url: str | None = None) -> StaffAccount:
    """Give an account a new password; every session it has ends.

    Raises:
        AccountError: ``password_short``, ``password_long``, ``unknown_user``.
    """
    _check_password(password)
    url = url or app_url()
    ensure_schema(url)
    digest = _hash_password(password)
    with db.session_scope(url) as session:
        user = _user_row(session, username)
        user.password_hash = digest
        _end_sessions(session, user.id)
        session.flush()
        return _account(user)


def login(username: str, password: str, hours: float, url: str | None = None) -> str | None:
    """A new session token for valid credentials of an enabled account, else None.

    Exactly one bcrypt check runs whether or not the account exists (an unknown name is checked
    against a stand-in hash of the same cost), so the time taken does not reveal usernames. The
    account's ``last_login_at`` becomes now.
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
        if user is None or not matches or user.disabled_at is not None:
            return None
        token = secrets.token_urlsafe(32)
        now = datetime.now(timezone.utc)
        user.last_login_at = now
        expires = now + timedelta(hours=hours)
        session.add(StaffSession(token_sha256=_hash_token(token), user_id=user.id, expires_at=expires))
        return token


def session_account(token: str | None, url: str | None = None) -> StaffAccount | None:
    """The account of a live session, with its role as it is now, or None.

    None for an unknown or expired token, and for an account that is disabled or gone; the
    session row is then deleted.
    """
    if not token:
        return None
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        row = session.get(StaffSession, _hash_token(token))
        if row is None:
            return None
        expires = _aware(row.expires_at)
        user = session.get(StaffUser, row.user_id)
        if expires is None or expires <= datetime.now(timezone.utc) or user is None or user.disabled_at is not None:
            session.delete(row)
            return None
        return _account(user)


def session_user(token: str | None, url: str | None = None) -> str | None:
    """The username of a live session, or None (see :func:`session_account`)."""
    account = session_account(token, url)
    return account.username if account else None


def logout(token: str | None, url: str | None = None) -> str | None:
    """End a session; returns the username it belonged to (None when there was none)."""
    if not token:
        return None
    url = url or app_url()
    ensure_schema(url)
    with db.session_scope(url) as session:
        row = session.get(StaffSession, _hash_token(token))
        if row is None:
            return None
        user = session.get(StaffUser, row.user_id)
        session.delete(row)
        return user.username if user else None


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
        intent=_redacted_or_none(intent, 100),
        cited=joined(cited),
        verdict=verdict,
        correct_intent=_redacted_or_none(correct_intent, 100),
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
                cited=numbers_of(r.cited),
                verdict=r.verdict,
                correct_intent=r.correct_intent,
                correct_measure=r.correct_measure,
                comment=r.comment,
            )
            for r in session.execute(stmt).scalars()
        ]
