"""Read the project's YAML data files with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path | str, error: type[Exception], expect: type = dict) -> Any:
    """Parse ``path`` as UTF-8 YAML whose top level is an ``expect`` (dict by default).

    Raises:
        error: the file is missing, unreadable, not UTF-8 YAML, or of the wrong top-level type;
            the message starts with the path.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path}: file not found") from exc
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid UTF-8 YAML: {exc}") from exc
    if not isinstance(data, expect):
        kind = "a mapping" if expect is dict else "a list" if expect is list else expect.__name__
        raise error(f"{path}: expected {kind} at the top level")
    return data
