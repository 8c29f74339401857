"""The packages import each other in one direction only (README "Layout").

    knowledge  ←  bot.text, bot.replies, bot.storage, bot.security  ←  actions  ←  bot.rasa_ext, bot.webapp
                                                                      bot.ops, bot.quality: anything

``bot.config`` (the settings) may be imported by every layer above ``knowledge`` and imports no
project module. The thin entry-point aliases (``bot/__main__.py``, ``bot/console.py`` …,
``knowledge/__main__.py``) may import anything: they only hand over to ``bot.ops``/``bot.quality``.
Imports are read with :mod:`ast`, wherever they are in a module (inside functions too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("knowledge", "actions", "bot")
BASE = {"bot.config"}
LOW = BASE | {"knowledge", "bot.text"}
ALLOWED: dict[str, set[str] | None] = {
    "bot.config": set(),
    "knowledge": {"knowledge"},
    "bot.text": LOW,
    "bot.replies": LOW | {"bot.replies"},
    "bot.storage": LOW | {"bot.storage"},
    "bot.security": LOW | {"bot.security"},
    "actions": LOW | {"actions", "bot.replies", "bot.storage"},
    "bot.rasa_ext": LOW | {"bot.rasa_ext", "bot.replies", "bot.storage", "bot.security"},
    "bot.webapp": LOW | {"bot.webapp", "bot.replies", "bot.storage", "bot.security"},
    "bot.ops": None,  # anything
    "bot.quality": None,
}
ENTRY_ALIASES = {
    "bot.__main__",
    "bot.console",
    "bot.web",
    "bot.validate",
    "bot.cluster",
    "bot.rasa_server",
    "bot.action_server",
    "knowledge.__main__",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    return max((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), key=len, default=None)


def project_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of a project module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from bot import replies` imports bot.replies: name the submodule when it is one
            names = [
                f"{node.module}.{alias.name}"
                if (ROOT / node.module.replace(".", "/") / alias.name).exists()
                or (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in PROJECT]
    return found


def source_files() -> list[Path]:
    return sorted(p for top in PROJECT for p in (ROOT / top).rglob("*.py"))


def test_every_module_has_a_layer():
    homeless = [
        module_name(p)
        for p in source_files()
        if module_name(p) not in ENTRY_ALIASES and module_name(p) != "bot" and layer_of(module_name(p)) is None
    ]
    assert not homeless, f"modules outside every layer (add them to a package by role): {homeless}"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: module_name(p))
def test_imports_go_one_way(path):
    module = module_name(path)
    if module in ENTRY_ALIASES or module == "bot":
        return
    allowed = ALLOWED[layer_of(module)]
    if allowed is None:
        return
    wrong = [
        f"line {line}: {name}"
        for line, name in project_imports(path)
        if not any(name == ok or name.startswith(ok + ".") for ok in allowed) and name != "bot"
    ]  # `from bot import config` is read as bot.config
    assert not wrong, f"{module} ({layer_of(module)}) imports against the direction: {wrong}"


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bot.ops import services\n    import actions.actions\n", encoding="utf-8")
    assert [name for _, name in project_imports(bad)] == ["bot.ops.services", "actions.actions"]
