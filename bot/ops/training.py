"""Train the Rasa model only when its inputs changed.

The model file is named after a fingerprint of everything training reads (config, domain,
training data, the generated jieba dictionary, our NLU components and the Rasa version), so
an unchanged project reuses ``models/<fingerprint>.tar.gz`` and a test session trains once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

from bot import config
from bot.ops.process import telemetry_env

log = logging.getLogger(__name__)


def training_inputs(root: Path = config.PROJECT_ROOT) -> list[Path]:
    """Every file whose content decides the trained model, in a stable order."""
    files = [root / "config.yml", root / "domain.yml"]
    files += sorted((root / "data").rglob("*.yml"))
    files += sorted((root / "var" / "jieba").glob("*"))
    # Our NLU components and the normalisation rules they apply are part of the model too.
    files += sorted((root / "bot" / "rasa_ext" / "nlu").glob("*.py"))
    files += [root / "bot" / "text" / "normalize.py", root / "bot" / "text" / "english.py"]
    files += [root / "knowledge" / "english.yml"]
    return [f for f in files if f.is_file()]


def decision_inputs(root: Path = config.PROJECT_ROOT) -> list[Path]:
    """Every file the decision model is trained from, besides the Rasa model itself."""
    from bot.quality.decision.run import case_files

    files = case_files(root)
    files += [
        root / "knowledge" / n
        for n in ("coverage.yml", "decision.yml", "intents.yml", "answerability.yml", "topics.yml")
    ]
    files += sorted((root / "actions" / "decision").glob("*.py")) + sorted(
        (root / "bot" / "quality" / "decision").glob("*.py")
    )
    return [f for f in files if f.is_file()]


def fingerprint(root: Path = config.PROJECT_ROOT) -> str:
    """A hex digest of the training inputs and the Rasa version."""
    import rasa

    return _digest(training_inputs(root), root, f"rasa={rasa.__version__}\n")


def _digest(paths: list[Path], root: Path, seed: str) -> str:
    digest = hashlib.sha256(seed.encode())
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def decision_model_path(settings: config.Settings | None = None, root: Path = config.PROJECT_ROOT) -> Path:
    """Where the decision model for the current Rasa model and decision inputs is stored."""
    settings = settings or config.load()
    rasa_model = model_path(settings, root)
    return settings.models_dir / f"decision-{_digest(decision_inputs(root), root, rasa_model.name)}.npz"


def model_path(settings: config.Settings | None = None, root: Path = config.PROJECT_ROOT) -> Path:
    """Where the model for the current inputs is (or will be) stored."""
    settings = settings or config.load()
    return settings.models_dir / f"gxga-{fingerprint(root)}.tar.gz"


def ensure_model(settings: config.Settings | None = None, root: Path = config.PROJECT_ROOT) -> Path:
    """Return the model for the current inputs, training it first if it does not exist.

    Raises:
        RuntimeError: the jieba dictionary is missing (run ``make kb``) or training failed.
    """
    settings = settings or config.load()
    if not settings.jieba_userdict.is_file():
        raise RuntimeError(f"{settings.jieba_userdict} is missing: run `make kb` before training")
    target = model_path(settings, root)
    if target.is_file():
        log.info("model up to date: %s", target)
    else:
        _train_rasa(target, root)
    ensure_decision_model(settings, target, root)
    return target


def ensure_decision_model(settings: config.Settings, rasa_model: Path, root: Path = config.PROJECT_ROOT) -> Path:
    """The decision model for ``rasa_model`` and the labelled cases, trained first when missing."""
    target = decision_model_path(settings, root)
    if target.is_file():
        log.info("decision model up to date: %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("training the decision model from the labelled cases (about a minute)")
    # in a process of its own, as rasa train: the caller's jieba state must not change the words
    cmd = [sys.executable, "-m", "bot.quality.decision", "--rasa-model", str(rasa_model), "--out", str(target)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **telemetry_env()}
    result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0 or not target.is_file():
        raise RuntimeError(f"training the decision model failed (exit {result.returncode}); see its output above")
    return target


def _train_rasa(target: Path, root: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(target.parent),
        "--fixed-model-name",
        target.name[: -len(".tar.gz")],
    ]
    log.info("training: %s", " ".join(cmd))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **telemetry_env()}
    result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0 or not target.is_file():
        raise RuntimeError(f"rasa train failed (exit {result.returncode}); see its output above")


def model_or_report(settings: config.Settings) -> Path | None:
    """:func:`ensure_model` for command-line entry points: None (the error printed) when it fails."""
    try:
        return ensure_model(settings)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
