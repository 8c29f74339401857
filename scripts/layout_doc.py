"""Regenerate the file tables of ``docs/layout.md`` from the code, keeping its words.

Each package section (a heading ``## `path/` ``) keeps its introduction; its table is rebuilt
with every ``.py`` file under the folder, its line count and the first line of its docstring.
The ``tests/`` table's file lists are rebuilt from the folders. Everything else is left alone.

    .venv/bin/python scripts/layout_doc.py           # rewrite docs/layout.md
    .venv/bin/python scripts/layout_doc.py --check   # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "layout.md"
TABLE_HEAD = "| file | lines | what |"
SECTION = re.compile(r"^## `([^`]+)/`$")
TEST_ROW = re.compile(r"^\| `(tests(?:/[a-z0-9]+)?/)` \| (.*) \| ([^|]*) \|$")


def first_docstring_line(path: Path) -> str:
    """The first line of a module's docstring, or "" when it has none."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def package_table(folder: Path) -> list[str]:
    """The table of a package section: every .py file under ``folder``, sorted by path."""
    rows = [TABLE_HEAD, "| --- | ---: | --- |"]
    for path in sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        what = first_docstring_line(path).replace("``", "`").replace(":mod:", "").replace("|", "\\|")
        rows.append(f"| `{path.relative_to(folder).as_posix()}` | {lines} | {what} |")
    return rows


def test_files(folder: Path) -> str:
    """The test folder's own files (not ``__init__.py``), as the table lists them."""
    names = sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".yml") and p.name != "__init__.py"
    )
    return ", ".join(f"`{n}`" for n in names)


def render(text: str) -> str:
    """``docs/layout.md`` with its tables brought up to date."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        section = SECTION.match(line)
        if section and (ROOT / section.group(1)).is_dir() and section.group(1) != "tests":
            i += 1
            while i < len(lines) and lines[i] != TABLE_HEAD and not lines[i].startswith("## "):
                out.append(lines[i])
                i += 1
            if i < len(lines) and lines[i] == TABLE_HEAD:
                while i < len(lines) and lines[i].startswith("|"):
                    i += 1
                out.extend(package_table(ROOT / section.group(1)))
            continue
        row = TEST_ROW.match(line)
        if row:
            out[-1] = f"| `{row.group(1)}` | {row.group(2)} | {test_files(ROOT / row.group(1))} |"
        i += 1
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the file, or with ``--check`` say whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/layout.md is out of date")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("docs/layout.md is out of date: run .venv/bin/python scripts/layout_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
