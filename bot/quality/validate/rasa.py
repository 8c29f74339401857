"""Rasa's own validation (``rasa data validate --fail-on-warnings``) as problems."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from bot.config import PROJECT_ROOT
from bot.quality.validate.inputs import Paths, Problem, show

# --- Rasa's own validation ---------------------------------------------------------------------

_RASA_MESSAGE = re.compile(
    r"(?:UserWarning|MissingDependencyException|YamlValidationException|"
    r"InvalidDomain|YamlException|RasaException)\s*:\s*(.+)|\b(?:WARNING|ERROR)\b\s+[\w.]+\s+-\s+(.+)"
)


def run_rasa(paths: Paths, timeout: float = 900) -> list[Problem]:
    """``rasa data validate --fail-on-warnings`` on the same files; each warning or error a problem."""
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        str(paths.domain),
        "--data",
        str(paths.data),
        "--config",
        str(paths.config),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        result = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return [
            Problem("rasa", "rasa data validate", f"did not finish within {timeout:.0f} s", "run it by hand to see why")
        ]
    if result.returncode == 0:
        return []
    where = f"{show(paths.domain)} + {show(paths.data)}"
    fix = "see Rasa's message; `rasa data validate --fail-on-warnings` must pass before training"
    messages = []
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        match = _RASA_MESSAGE.search(line)
        if match:
            message = (match.group(1) or match.group(2)).strip()
            if message and message not in messages:
                messages.append(message)
    if not messages:
        tail = [text for text in (result.stderr or result.stdout).strip().splitlines() if text.strip()][-1:] or [
            "no output"
        ]
        messages = [f"exited with {result.returncode}: {tail[0].strip()}"]
    return [Problem("rasa", f"{where} (rasa data validate)", m, fix) for m in messages]
