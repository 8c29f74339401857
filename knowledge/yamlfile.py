"""Read the project's YAML data files with errors that name the file.

Files that come from outside (a case file uploaded to the console's 批量评测) are read with
limits: a size in bytes, a number of YAML nodes, a nesting depth, and no aliases (``&a [*b, *b, …]`` expands a
few hundred bytes into millions of entries for whoever walks the result).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_KINDS = {dict: "a mapping", list: "a list", str: "a text", type(None): "nothing"}


class YamlLimitError(yaml.YAMLError):
    """The document is over a limit of :func:`read_yaml`."""


def _loader(max_nodes: int | None, aliases: bool, max_depth: int | None = None) -> type[yaml.SafeLoader]:
    class Limited(yaml.SafeLoader):
        """SafeLoader that counts nodes, bounds their nesting and may refuse aliases.

        PyYAML's composer is recursive (``compose_node`` → ``compose_sequence_node`` → ``compose_node``),
        so a document nested a few thousand levels deep raises RecursionError; the depth is refused
        here, on the way down, long before that (the parser and scanner below it are iterative).
        """

        nodes = 0
        depth = 0

        def compose_node(self, parent, index):
            """Compose the next node as PyYAML does, after refusing an alias, counting it and checking its depth."""
            if not aliases and self.check_event(yaml.AliasEvent):
                raise YamlLimitError("aliases (*name) are not allowed in this file")
            self.nodes += 1
            if max_nodes is not None and self.nodes > max_nodes:
                raise YamlLimitError(f"more than {max_nodes} YAML nodes")
            self.depth += 1
            try:
                if max_depth is not None and self.depth > max_depth:
                    raise YamlLimitError(f"nested more than {max_depth} levels deep")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return Limited


def _kind(expect: type | tuple[type, ...]) -> str:
    kinds = expect if isinstance(expect, tuple) else (expect,)
    return " or ".join(_KINDS.get(k, k.__name__) for k in kinds if k is not type(None) or len(kinds) == 1)


def read_yaml(
    path: Path | str,
    error: type[Exception],
    expect: type | tuple[type, ...] = dict,
    max_bytes: int | None = None,
    max_nodes: int | None = None,
    aliases: bool = True,
    max_depth: int | None = None,
) -> Any:
    """Parse ``path`` as UTF-8 YAML whose top level is an ``expect`` (dict by default).

    Args:
        path: the file.
        error: the exception class to raise.
        expect: the type (or types) the top level must have.
        max_bytes: refuse a larger file.
        max_nodes: refuse a document of more YAML nodes (scalars, lists and mappings).
        aliases: False refuses ``*alias`` references.
        max_depth: refuse lists and mappings nested deeper than this (checked before PyYAML's
            recursive composer could overflow the stack).

    Raises:
        error: the file is missing, unreadable, over a limit, not UTF-8 YAML, or of the wrong
            top-level type; the message starts with the path.
    """
    try:
        if max_bytes is not None and Path(path).stat().st_size > max_bytes:
            raise error(f"{path}: larger than {max_bytes} bytes")
        text = Path(path).read_text(encoding="utf-8")
        if max_nodes is None and aliases and max_depth is None:
            data = yaml.safe_load(text)
        else:
            data = yaml.load(text, Loader=_loader(max_nodes, aliases, max_depth))  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError as exc:
        raise error(f"{path}: file not found") from exc
    except YamlLimitError as exc:
        raise error(f"{path}: {exc}") from exc
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid UTF-8 YAML: {exc}") from exc
    if not isinstance(data, expect):
        raise error(f"{path}: expected {_kind(expect)} at the top level")
    return data


def entry_lines(path: Path | str, key: str | None = None) -> dict[Any, int]:
    """The line (1-based) where each entry of the top level starts: list index → line, or mapping key → line.

    With ``key``, the entries of the top-level mapping's ``key`` instead. For error messages of a
    file that :func:`read_yaml` already read; an unreadable file gives no lines.
    """
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    if key is not None and isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == key), None)
    if isinstance(node, yaml.SequenceNode):
        return {i: item.start_mark.line + 1 for i, item in enumerate(node.value, 1)}
    if isinstance(node, yaml.MappingNode):
        return {_scalar(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return {}


def _scalar(value: str) -> Any:
    return int(value) if value.isdigit() else value
