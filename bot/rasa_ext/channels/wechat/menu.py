"""The Official Account's custom menu (自定义菜单), read from YAML and checked against WeChat's limits.

The menu lives in ``menu.yml`` next to this module; ``python -m bot.ops.wechat_menu create``
sends it to WeChat. Its shape is WeChat's own JSON body for ``/cgi-bin/menu/create``::

    version: 1
    button:                         # 1 to 3 top-level buttons
      - name: 证件户籍               # at most 16 UTF-8 bytes at the top level
        sub_button:                 # 1 to 5 sub-buttons, each a click
          - {type: click, name: 户口和落户, key: "topic:settlement"}   # name ≤ 60 bytes, key ≤ 128
      - {type: click, name: 消防审批, key: "topic:fire"}

Every key is ``topic:<name>`` with a topic of ``knowledge/topics.yml``: a click on it is answered
with that topic's overview (:mod:`~bot.rasa_ext.channels.wechat.handler`), so a key the
assistant would not understand is refused here rather than discovered by a resident.
:func:`parse_menu` reports every problem at once, each naming its entry.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any, Iterable

from knowledge.vocabulary import load_topics
from knowledge.yamlfile import read_yaml

MENU_PATH = Path(__file__).resolve().with_name("menu.yml")
TOPIC_KEY_PREFIX = "topic:"
CLICK = "click"
# WeChat's limits for a custom menu.
MAX_TOP_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_TOP_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
# A menu file is a few hundred bytes; anything far larger is not one.
MAX_MENU_FILE_BYTES = 64 * 1024
MAX_MENU_NODES = 2000

_TOP_FIELDS = {"name", "type", "key", "sub_button"}
_SUB_FIELDS = {"name", "type", "key"}


class MenuError(ValueError):
    """The menu file is unreadable or breaks WeChat's rules; the message lists every problem."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def topic_key(topic: str) -> str:
    """The click key of a topic of ``knowledge/topics.yml``: ``topic:<name>``."""
    return f"{TOPIC_KEY_PREFIX}{topic}"


def topic_of_key(key: object, topics: Iterable[str] | None = None) -> str | None:
    """The topic a click key names, or None when it names none of ``topics`` (default: all)."""
    if not isinstance(key, str) or not key.startswith(TOPIC_KEY_PREFIX):
        return None
    name = key[len(TOPIC_KEY_PREFIX) :]
    known = set(load_topics()) if topics is None else set(topics)
    return name if name in known else None


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _name_problem(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "its name is missing (a text is needed)"
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        return "its name has a control or invisible character"
    if _bytes(value) > limit:
        return f"its name is {_bytes(value)} UTF-8 bytes, WeChat allows {limit}"
    return None


def _label(path: list[int], names: list[object]) -> str:
    parts = []
    for level, (number, name) in enumerate(zip(path, names, strict=True)):
        kind = "button" if level == 0 else "sub-button"
        parts.append(f"{kind} {number}" + (f" ({name})" if isinstance(name, str) and name.strip() else ""))
    return ", ".join(parts)


def _click(entry: dict, where: str, topics: set[str], seen: dict[str, str], problems: list[str]) -> dict[str, str]:
    """Check a click entry's type and key; returns WeChat's form of it (name set by the caller)."""
    kind = entry.get("type")
    if not isinstance(kind, str) or kind.lower() != CLICK:
        problems.append(f"{where}: type must be click (got {kind!r})")
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        problems.append(f"{where}: a click needs a key (topic:<name>)")
        return {"type": CLICK, "key": ""}
    if _bytes(key) > MAX_KEY_BYTES:
        problems.append(f"{where}: its key is {_bytes(key)} UTF-8 bytes, WeChat allows {MAX_KEY_BYTES}")
    elif topic_of_key(key, topics) is None:
        problems.append(
            f"{where}: key {key[:40]!r} is not topic:<name> of a topic in knowledge/topics.yml "
            f"({', '.join(sorted(topics))})"
        )
    if key in seen:
        problems.append(f"{where}: key {key[:40]!r} is already used by {seen[key]}")
    else:
        seen[key] = where
    return {"type": CLICK, "key": key}


def parse_menu(data: object, topics: Iterable[str] | None = None, source: str = "menu") -> dict[str, Any]:
    """Check a menu (the parsed YAML) and return the JSON body WeChat's menu API takes.

    Args:
        data: the YAML document: ``{"version": 1, "button": [...]}``.
        topics: the topic names a key may name (default: those of ``knowledge/topics.yml``).
        source: how errors name the menu (its file).

    Returns:
        ``{"button": [...]}``, each top-level button either ``{"type": "click", "name", "key"}``
        or ``{"name", "sub_button": [click, …]}``, in the file's order.

    Raises:
        MenuError: every problem found, each naming its entry.
    """
    known = set(load_topics()) if topics is None else set(topics)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise MenuError(source, ["expected a mapping with `button:` at the top level"])
    for extra in sorted(set(map(str, data)) - {"version", "button"}):
        problems.append(f"unknown field {extra!r} at the top level (only version and button)")
    version = data.get("version", 1)
    if type(version) is not int or version != 1:
        problems.append(f"version must be 1 (got {data.get('version')!r})")
    buttons = data.get("button")
    if not isinstance(buttons, list) or not buttons:
        raise MenuError(source, [*problems, "`button:` must be a list of 1 to 3 buttons"])
    if len(buttons) > MAX_TOP_BUTTONS:
        problems.append(f"{len(buttons)} top-level buttons, WeChat allows {MAX_TOP_BUTTONS}")
    seen: dict[str, str] = {}
    menu: list[dict[str, Any]] = []
    for number, top in enumerate(buttons, 1):
        if not isinstance(top, dict):
            problems.append(f"button {number}: expected a mapping (name, and type and key or sub_button)")
            continue
        where = _label([number], [top.get("name")])
        for extra in sorted(set(map(str, top)) - _TOP_FIELDS):
            problems.append(f"{where}: unknown field {extra!r} (name, type, key, sub_button)")
        problem = _name_problem(top.get("name"), MAX_TOP_NAME_BYTES)
        if problem:
            problems.append(f"{where}: {problem}")
        name = top.get("name") if isinstance(top.get("name"), str) else ""
        if "sub_button" not in top:
            menu.append({**_click(top, where, known, seen, problems), "name": name})
            continue
        if "type" in top or "key" in top:
            problems.append(f"{where}: a button with sub_button has no type or key of its own")
        subs = top.get("sub_button")
        if not isinstance(subs, list) or not subs:
            problems.append(f"{where}: sub_button must be a list of 1 to {MAX_SUB_BUTTONS} buttons")
            continue
        if len(subs) > MAX_SUB_BUTTONS:
            problems.append(f"{where}: {len(subs)} sub-buttons, WeChat allows {MAX_SUB_BUTTONS}")
        checked = []
        for sub_number, sub in enumerate(subs, 1):
            if not isinstance(sub, dict):
                problems.append(f"{where}, sub-button {sub_number}: expected a mapping (type, name, key)")
                continue
            sub_where = _label([number, sub_number], [top.get("name"), sub.get("name")])
            for extra in sorted(set(map(str, sub)) - _SUB_FIELDS):
                problems.append(f"{sub_where}: unknown field {extra!r} (type, name, key; no deeper sub_button)")
            problem = _name_problem(sub.get("name"), MAX_SUB_NAME_BYTES)
            if problem:
                problems.append(f"{sub_where}: {problem}")
            sub_name = sub.get("name") if isinstance(sub.get("name"), str) else ""
            checked.append({**_click(sub, sub_where, known, seen, problems), "name": sub_name})
        menu.append({"name": name, "sub_button": checked})
    if problems:
        raise MenuError(source, problems)
    return {"button": [_ordered(b) for b in menu]}


def _ordered(button: dict[str, Any]) -> dict[str, Any]:
    """WeChat's field order (type, name, key / name, sub_button), for a readable --dry-run."""
    if "sub_button" in button:
        return {"name": button["name"], "sub_button": [_ordered(s) for s in button["sub_button"]]}
    return {"type": button["type"], "name": button["name"], "key": button["key"]}


class _Unreadable(Exception):
    """read_yaml's error: the file is missing, too large, or not YAML."""


def load_menu(path: Path | str = MENU_PATH, topics: Iterable[str] | None = None) -> dict[str, Any]:
    """Read and check a menu file (see the module docstring); raises :class:`MenuError`."""
    try:
        data = read_yaml(path, _Unreadable, max_bytes=MAX_MENU_FILE_BYTES, max_nodes=MAX_MENU_NODES, aliases=False)
    except _Unreadable as exc:
        # read_yaml's message starts with the path already
        raise MenuError(str(path), [str(exc).removeprefix(f"{path}: ")]) from exc
    return parse_menu(data, topics, source=str(path))
