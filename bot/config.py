"""The one place that reads environment variables.

Every setting has a default that runs offline with no secrets: SQLite files under
``var/``, the action server on 5055 and the Rasa server on 5005. Other modules ask this
module instead of reading ``os.environ`` themselves, so the full list of knobs lives here
and in the README's table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting from the environment is malformed; the message names the variable."""


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a port number (1-65535)") from exc
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is out of range: a port is 1-65535")
    return port


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

    @property
    def action_endpoint_url(self) -> str:
        """The URL the Rasa server calls for custom actions."""
        return f"http://127.0.0.1:{self.action_port}/webhook"

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
    return Settings(
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
    )
