"""The one place that reads environment variables.

Every setting has a default that runs offline with no secrets: SQLite files under
``var/``, the action server on 5055 and the Rasa server on 5005. Other modules ask this
module instead of reading ``os.environ`` themselves, so the full list of knobs lives here
and in the README's table.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting from the environment is malformed; the message names the variable."""


def _env_whole(name: str, what: str) -> tuple[int, str] | None:
    """``(value, raw text)`` of an integer variable, None when unset; ConfigError saying it is not ``what``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw), raw
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not {what}") from exc


def _env_port(name: str, default: int) -> int:
    found = _env_whole(name, "a port number (1-65535)")
    if found is None:
        return default
    port, raw = found
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is out of range: a port is 1-65535")
    return port


def _env_text(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _env_seconds(name: str, default: float, upper: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from exc
    if not 0 < seconds < upper:
        raise ConfigError(f"{name}={raw!r} is out of range: more than 0 and less than {upper:g} seconds")
    return seconds


def _env_secret(name: str, min_chars: int) -> str | None:
    raw = _env_text(name)
    if raw is not None and len(raw) < min_chars:
        raise ConfigError(
            f"{name} is too short: use at least {min_chars} random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return raw


def _env_aes_key(name: str) -> str | None:
    raw = _env_text(name)
    if raw is None:
        return None
    # WeChat's EncodingAESKey: 43 characters of base64 that decode (with one "=") to a 32-byte AES key.
    try:
        valid = len(raw) == 43 and len(base64.b64decode(raw + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ConfigError(f"{name} must be the 43-character EncodingAESKey from the WeChat admin console")
    return raw


@overload
def _env_url(name: str, default: str, schemes: tuple[str, ...]) -> str: ...


@overload
def _env_url(name: str, default: None, schemes: tuple[str, ...]) -> str | None: ...


def _env_url(name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise ConfigError(f"{name}={raw!r} must start with {' or '.join(s + '://' for s in schemes)}")
    return raw


def _env_int(name: str, default: int) -> int:
    found = _env_whole(name, "a whole number")
    if found is None:
        return default
    value, raw = found
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative (0 turns the limit off)")
    return value


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name, "").strip()
    return tuple(x.strip() for x in raw.split(",") if x.strip()) if raw else default


def _env_networks(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Addresses and CIDR networks (``10.244.0.0/16``, ``::1``) from variable ``name``, normalised.

    Each entry is read with :func:`ipaddress.ip_network` (a bare address is a /32 or /128 network);
    the result holds their canonical text (``10.244.0.0/16``), which
    :func:`bot.security.ratelimit.client_ip` turns back into networks.

    Raises:
        ConfigError: an entry is not an address or network (naming the entry); host bits set
            (``10.244.1.7/16``) count as malformed, since such an entry usually means a typo.
    """
    entries = _env_list(name, default)
    networks = []
    for entry in entries:
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=True)))
        except ValueError as exc:
            raise ConfigError(
                f"{name}: {entry!r} is not an IP address or network (e.g. 10.244.0.0/16, 127.0.0.1, ::1): {exc}"
            ) from exc
    return tuple(networks)


_HOST_SOURCE = re.compile(
    r"(?:https?://)?(?:\*|(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(?P<port>\d{1,5}|\*))?(?:/[a-z0-9._~%/-]*)?",
    re.IGNORECASE,
)


def _env_frame_ancestors(name: str) -> str:
    """CSP ``frame-ancestors`` sources from variable ``name``, space-joined.

    Accepted: ``'self'`` (the default), ``'none'`` alone, ``https:``/``http:``, or hosts and origins
    (``https://*.example.gov.cn:8443``); commas or spaces between them. ConfigError for anything else
    (a bare ``self``, a ``;`` that would start another directive, a port out of range).
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return "'self'"
    if any(unicodedata.category(ch)[0] == "C" for ch in raw):
        raise ConfigError(f"{name} must not contain control characters or line breaks")
    sources = [s for s in re.split(r"[\s,]+", raw) if s]
    for source in sources:
        lowered = source.lower()
        if lowered in ("'self'", "'none'", "https:", "http:"):
            continue
        host = _HOST_SOURCE.fullmatch(source)
        port = host and host.group("port")
        if lowered in ("self", "none") or not host or (port and port != "*" and not 0 < int(port) < 65536):
            raise ConfigError(
                f"{name}={raw!r}: {source!r} is not a frame-ancestors source; use 'self' or 'none' (with the "
                "single quotes), https:, or origins such as https://www.example.gov.cn"
            )
    if "'none'" in (s.lower() for s in sources) and len(sources) > 1:
        raise ConfigError(f"{name}={raw!r}: 'none' cannot be combined with other sources")
    return " ".join(s.lower() if s.lower() in ("'self'", "'none'") else s for s in sources)


def _env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name, "").strip()
    path = Path(raw) if raw else default
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration; build one with :func:`load`."""

    var_dir: Path
    database_url: str
    app_database_url: str
    source_path: Path
    aliases_path: Path
    lexicon_path: Path
    jieba_dict_dir: Path
    models_dir: Path
    tracker_db: Path
    rasa_host: str
    rasa_port: int
    action_port: int
    rasa_api_token: str | None
    web_host: str
    web_port: int
    console_session_hours: float
    console_secure_cookie: bool
    rate_limit_sender: int
    rate_limit_ip: int
    max_message_chars: int
    trusted_proxies: tuple[str, ...]
    cors_origins: tuple[str, ...]
    # The WeChat Official Account channel (bot/rasa_ext/channels/wechat.py); on only when wechat_token is set.
    # (secrets are kept out of the dataclass repr, so logging the settings does not leak them)
    wechat_token: str | None = field(default=None, repr=False)
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = field(default=None, repr=False)
    wechat_aes_key: str | None = field(default=None, repr=False)
    # ACTION_SERVER_TOKEN: the secret the action server requires and Rasa sends (bot/ops/action_server.py)
    action_server_token: str | None = field(default=None, repr=False)
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_reply_timeout: float = 4.0
    redis_url: str | None = None
    # SENDER_HASH_KEY: the key of the pseudonyms that replace sender ids holding a personal number
    # (bot/rasa_ext/guard.py); unset, a random key is kept in var/sender_hash.key.
    sender_hash_key: str | None = field(default=None, repr=False)
    # BOT_ENV=production (bot/ops/services.py, bot/ops/cluster.py): endpoints.production.yml, i.e. Rasa's
    # SQLTrackerStore on PostgreSQL (TRACKER_DB_*) and the Redis lock store of bot/rasa_ext/lock_store.py
    # (LOCK_STORE_*).
    bot_env: str = "embedded"
    action_endpoint: str | None = None
    tracker_db_host: str | None = None
    tracker_db_port: int = 5432
    tracker_db_name: str = "rasa_tracker"
    tracker_db_user: str = "postgres"
    tracker_db_password: str = field(default="", repr=False)
    lock_store_host: str | None = None
    lock_store_port: int = 6379
    lock_store_db: int = 1
    cluster_port: int = 8000  # CLUSTER_PORT: nginx in front of `make cluster`
    # RASA_URL: where the web server and the console reach Rasa (a Service or nginx in production).
    rasa_api_url: str | None = None
    # WEB_FRAME_ANCESTORS: who may embed the resident page in a frame (CSP frame-ancestors sources,
    # space-separated); the staff console may never be framed.
    web_frame_ancestors: str = "'self'"
    # WEB_HEADER_TIMEOUT / WEB_BODY_TIMEOUT / WEB_KEEPALIVE_TIMEOUT / WEB_MAX_CONNECTIONS_PER_IP: the web
    # server's connection limits (bot/webapp/connections.py).
    web_header_timeout: float = 10.0
    web_body_timeout: float = 10.0
    web_keepalive_timeout: float = 15.0
    web_max_connections_per_ip: int = 32

    @property
    def production(self) -> bool:
        """Whether ``BOT_ENV=production`` (PostgreSQL tracker store, Redis lock store)."""
        return self.bot_env == "production"

    @property
    def endpoints_file(self) -> Path:
        """The Rasa endpoints file for :attr:`bot_env`."""
        return PROJECT_ROOT / ("endpoints.production.yml" if self.production else "endpoints.yml")

    @property
    def tracker_url(self) -> str:
        """An SQLAlchemy URL of Rasa's tracker store (with the password: do not print it as is)."""
        if self.production:
            from urllib.parse import quote

            password = f":{quote(self.tracker_db_password, safe='')}" if self.tracker_db_password else ""
            return (
                f"postgresql+psycopg2://{quote(self.tracker_db_user, safe='')}{password}@{self.tracker_db_host}"
                f":{self.tracker_db_port}/{self.tracker_db_name}"
            )
        return f"sqlite:///{self.tracker_db}"

    def production_problems(self) -> list[str]:
        """What keeps these settings from running several replicas (empty when all is shared)."""
        problems = []
        if self.tracker_db_host is None:
            problems.append("TRACKER_DB_HOST is not set (Rasa's tracker store on PostgreSQL)")
        if self.lock_store_host is None:
            problems.append("LOCK_STORE_HOST (or REDIS_URL) is not set (Rasa's lock store on Redis)")
        if self.redis_url is None:
            problems.append("REDIS_URL is not set (the WeChat channel's store would be per process)")
        if self.action_server_token is None:
            problems.append("ACTION_SERVER_TOKEN is not set (the secret the action servers require from Rasa)")
        for name, url in (("DATABASE_URL", self.database_url), ("APP_DATABASE_URL", self.app_database_url)):
            if url.startswith("sqlite"):
                problems.append(f"{name} is SQLite ({url}); point it at PostgreSQL")
        return problems

    @property
    def wechat_enabled(self) -> bool:
        """Whether the WeChat channel answers (it needs at least the server token)."""
        return self.wechat_token is not None

    @property
    def action_endpoint_url(self) -> str:
        """The URL the Rasa server calls for custom actions (``ACTION_ENDPOINT_URL`` in production)."""
        if self.production and self.action_endpoint:
            return self.action_endpoint
        return f"http://127.0.0.1:{self.action_port}/webhook"

    @property
    def rasa_url(self) -> str:
        """The Rasa server the web page and the staff console call (``RASA_URL``, else this host's)."""
        return self.rasa_api_url or f"http://127.0.0.1:{self.rasa_port}"

    @property
    def nlu_documents_path(self) -> Path:
        """The generated NLU data for the ``document`` entity (lookup table and synonyms)."""
        return PROJECT_ROOT / "data" / "nlu" / "documents.yml"

    @property
    def jieba_userdict(self) -> Path:
        """The generated jieba user dictionary file inside :attr:`jieba_dict_dir`."""
        return self.jieba_dict_dir / "userdict.txt"


def load() -> Settings:
    """Read the environment now and return the settings.

    Returns:
        The settings, with relative paths resolved against the project root.

    Raises:
        ConfigError: a variable is set to something unusable (e.g. a port that is not a number).
    """
    var_dir = PROJECT_ROOT / "var"
    knowledge_dir = PROJECT_ROOT / "knowledge"
    database_url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'knowledge.db'}"
    if "://" not in database_url:
        raise ConfigError(f"DATABASE_URL={database_url!r} is not a database URL such as sqlite:///var/knowledge.db")
    app_database_url = os.environ.get("APP_DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'app.db'}"
    if "://" not in app_database_url:
        raise ConfigError(f"APP_DATABASE_URL={app_database_url!r} is not a database URL such as sqlite:///var/app.db")
    bot_env = os.environ.get("BOT_ENV", "").strip().lower() or "embedded"
    if bot_env not in ("embedded", "production"):
        raise ConfigError(f"BOT_ENV={bot_env!r} must be 'embedded' (the default) or 'production'")
    redis_url = _env_url("REDIS_URL", None, ("redis", "rediss", "unix"))
    return Settings(
        **_production_settings(bot_env, redis_url),
        var_dir=var_dir,
        database_url=database_url,
        app_database_url=app_database_url,
        source_path=_env_path("KB_SOURCE", knowledge_dir / "source" / "gxga_fangguanfu_2018.txt"),
        aliases_path=_env_path("KB_ALIASES", knowledge_dir / "aliases.yml"),
        lexicon_path=_env_path("KB_LEXICON", knowledge_dir / "lexicon.yml"),
        # config.yml names this folder as the JiebaTokenizer's dictionary_path, so it is fixed.
        jieba_dict_dir=var_dir / "jieba",
        models_dir=_env_path("MODELS_DIR", PROJECT_ROOT / "models"),
        tracker_db=_env_path("TRACKER_DB", var_dir / "tracker.db"),
        rasa_host=os.environ.get("RASA_HOST", "").strip() or "0.0.0.0",
        rasa_port=_env_port("RASA_PORT", 5005),
        action_port=_env_port("ACTION_PORT", 5055),
        rasa_api_token=os.environ.get("RASA_API_TOKEN", "").strip() or None,
        action_server_token=_env_secret("ACTION_SERVER_TOKEN", min_chars=16),
        wechat_token=_env_text("WECHAT_TOKEN"),
        wechat_app_id=_env_text("WECHAT_APP_ID"),
        wechat_app_secret=_env_text("WECHAT_APP_SECRET"),
        wechat_aes_key=_env_aes_key("WECHAT_AES_KEY"),
        wechat_api_base=_env_url("WECHAT_API_BASE", "https://api.weixin.qq.com", ("https", "http")).rstrip("/"),
        # WeChat gives up on a reply after 5 s; the channel must answer (or say "success") before that.
        wechat_reply_timeout=_env_seconds("WECHAT_REPLY_TIMEOUT", 4.0, upper=5.0),
        redis_url=redis_url,
        sender_hash_key=_env_text("SENDER_HASH_KEY"),
        web_host=os.environ.get("WEB_HOST", "").strip() or "0.0.0.0",
        web_port=_env_port("WEB_PORT", 8080),
        web_frame_ancestors=_env_frame_ancestors("WEB_FRAME_ANCESTORS"),
        web_header_timeout=_env_seconds("WEB_HEADER_TIMEOUT", 10.0, upper=600.0),
        web_body_timeout=_env_seconds("WEB_BODY_TIMEOUT", 10.0, upper=600.0),
        web_keepalive_timeout=_env_seconds("WEB_KEEPALIVE_TIMEOUT", 15.0, upper=600.0),
        web_max_connections_per_ip=_env_int("WEB_MAX_CONNECTIONS_PER_IP", 32),
        console_session_hours=_env_seconds("CONSOLE_SESSION_HOURS", 8.0, upper=24 * 30),
        # Set CONSOLE_SECURE_COOKIE=1 when the console is served over HTTPS (behind a proxy).
        console_secure_cookie=os.environ.get("CONSOLE_SECURE_COOKIE", "").strip().lower() in ("1", "true", "yes"),
        rate_limit_sender=_env_int("RATE_LIMIT_SENDER_PER_MIN", 20),
        rate_limit_ip=_env_int("RATE_LIMIT_IP_PER_MIN", 120),
        max_message_chars=_env_int("MAX_MESSAGE_CHARS", 1000),
        trusted_proxies=_env_networks("TRUSTED_PROXIES", ("127.0.0.1", "::1")),
        cors_origins=_env_list("CORS_ORIGINS", ()),
    )


def load_or_report() -> Settings | None:
    """:func:`load` for command-line entry points: None when the environment is unusable.

    The problem is printed to stderr first.
    """
    try:
        return load()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None


def _production_settings(bot_env: str, redis_url: str | None) -> dict:
    """The BOT_ENV=production knobs; the lock store defaults to REDIS_URL's host and port (db 1)."""
    from urllib.parse import urlsplit

    lock_host, lock_port = _env_text("LOCK_STORE_HOST"), _env_port("LOCK_STORE_PORT", 0)
    if lock_host is None and redis_url and redis_url.startswith(("redis://", "rediss://")):
        parsed = urlsplit(redis_url)
        lock_host, lock_port = parsed.hostname, lock_port or parsed.port or 6379
    raw_db = os.environ.get("LOCK_STORE_DB", "").strip() or "1"
    if not raw_db.isdigit():
        raise ConfigError(f"LOCK_STORE_DB={raw_db!r} is not a Redis database number")
    return {
        "bot_env": bot_env,
        "action_endpoint": _env_url("ACTION_ENDPOINT_URL", None, ("http", "https")),
        "tracker_db_host": _env_text("TRACKER_DB_HOST"),
        "tracker_db_port": _env_port("TRACKER_DB_PORT", 5432),
        "tracker_db_name": _env_text("TRACKER_DB_NAME") or "rasa_tracker",
        "tracker_db_user": _env_text("TRACKER_DB_USER") or "postgres",
        "tracker_db_password": os.environ.get("TRACKER_DB_PASSWORD", ""),
        "lock_store_host": lock_host,
        "lock_store_port": lock_port or 6379,
        "lock_store_db": int(raw_db),
        "cluster_port": _env_port("CLUSTER_PORT", 8000),
        "rasa_api_url": (_env_url("RASA_URL", None, ("http", "https")) or "").rstrip("/") or None,
    }
