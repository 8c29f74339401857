"""Fill the action replies of ``bot/replies/replies.yml`` and send them.

A reply is a text template with ``{variables}`` and optional buttons. Missing variables are
a programming error caught by the tests, but at run time they render as an empty string rather
than failing the resident's request.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from knowledge.yamlfile import read_yaml

log = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).resolve().parent / "replies.yml"


class RepliesError(ValueError):
    """The replies file is malformed; the message names the reply."""


@dataclass(frozen=True)
class Reply:
    """A reply template."""

    name: str
    text: str
    buttons: tuple[tuple[str, str], ...] = ()

    def variables(self) -> set[str]:
        """The variable names the template uses."""
        names = set()
        for template in (self.text, *(t for b in self.buttons for t in b)):
            names |= {field for _, field, _, _ in string.Formatter().parse(template) if field}
        return names


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        log.error("reply variable %r missing", key)
        return ""


@lru_cache(maxsize=4)
def load_replies(path: Path = DEFAULT_PATH) -> dict[str, Reply]:
    """Read and check the replies file.

    Raises:
        RepliesError: not a mapping of name → {text, buttons}, or a template that does not parse.
    """
    raw = read_yaml(path, RepliesError).get("replies")
    if not isinstance(raw, dict):
        raise RepliesError(f"{path}: expected a 'replies:' mapping")
    replies = {}
    for name, body in raw.items():
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
            raise RepliesError(f"{path}: reply {name!r} needs a non-empty 'text'")
        buttons = []
        for button in body.get("buttons") or []:
            if not isinstance(button, dict) or not button.get("title") or not button.get("payload"):
                raise RepliesError(f"{path}: reply {name!r}: each button needs a title and a payload")
            buttons.append((str(button["title"]), str(button["payload"])))
        reply = Reply(name=name, text=body["text"], buttons=tuple(buttons))
        try:
            reply.variables()
        except ValueError as exc:
            raise RepliesError(f"{path}: reply {name!r}: bad template: {exc}") from exc
        replies[name] = reply
    return replies


def render(name: str, **values: Any) -> dict[str, Any]:
    """The message for reply ``name``: ``{"text": ..., "buttons": [...]}`` (buttons only if any)."""
    reply = load_replies()[name]
    fill = _Blank({k: "" if v is None else v for k, v in values.items()})
    message: dict[str, Any] = {"text": reply.text.format_map(fill)}
    if reply.buttons:
        message["buttons"] = [
            {"title": title.format_map(fill), "payload": payload.format_map(fill)} for title, payload in reply.buttons
        ]
    return message


def send(
    dispatcher: CollectingDispatcher,
    name: str,
    json_message: dict | None = None,
    buttons: list[dict] | None = None,
    **values: Any,
) -> None:
    """Render reply ``name`` and send it (extra ``buttons`` are appended after the reply's own)."""
    message = render(name, **values)
    all_buttons = message.get("buttons", []) + list(buttons or [])
    # The reply's name travels in the custom payload so clients and the eval can tell replies apart.
    payload = {"reply": name, **(json_message or {})}
    dispatcher.utter_message(text=message["text"], buttons=all_buttons or None, json_message=payload)


def as_messages(names: list[str], recipient: str) -> list[dict]:
    """Bot messages, as Rasa's REST channel returns them, for the named replies."""
    return [{"recipient_id": recipient, **render(name)} for name in names]
