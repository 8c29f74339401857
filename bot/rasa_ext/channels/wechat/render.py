"""Rasa's bot messages as WeChat text: numbered buttons, safe characters, messages cut to size.

WeChat shows plain text only, so each button becomes a numbered line (``wechat_button_line`` in
``bot/replies/replies.yml``) and the resident answers with the number (:func:`button_choice`).
Every text sent to WeChat is below :data:`MAX_MESSAGE_BYTES` UTF-8 bytes (:func:`split_message`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bot.replies import render

# Every text sent to WeChat (passive reply or customer-service message) is below this many
# UTF-8 bytes; WeChat's own limit for a text message is 2,048.
MAX_MESSAGE_BYTES = 2000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SENTENCE_END = "。！？；!?;"


def utf8_len(text: str) -> int:
    """The length of ``text`` in UTF-8 bytes, which is what WeChat counts."""
    return len(text.encode("utf-8"))


def split_message(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split ``text`` into messages of fewer than ``limit`` UTF-8 bytes each.

    Cuts after a line break when one falls in the last two thirds of the window, else after a
    sentence end (。！？；), else between two characters (never inside a character).
    """
    if limit < 8:
        raise ValueError("limit must leave room for at least one character")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if utf8_len(rest) < limit:
            chunks.append(rest)
            break
        size, cut = 0, 0
        for ch in rest:
            size += utf8_len(ch)
            if size >= limit:
                break
            cut += 1
        window = rest[:cut]
        pos = window.rfind("\n")
        if pos < cut // 3:
            pos = max(window.rfind(mark) for mark in _SENTENCE_END) + 1
        if pos < cut // 3:
            pos = cut
        chunk = rest[:pos].strip()
        if chunk:
            chunks.append(chunk)
        rest = rest[pos:].strip()
    return chunks


def clean_text(text: str) -> str:
    """Text safe inside the CDATA of a reply: no control characters, no ``]]>``."""
    return _CONTROL.sub("", text).replace("]]>", "]] >")


def render_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """Rasa's bot messages as one WeChat text, and the buttons it numbers.

    Texts are separated by a blank line; each button becomes a ``wechat_button_line`` under its
    message, numbered from 1 across the whole reply. Custom payloads are not shown.
    """
    parts, buttons = [], []
    for message in messages:
        lines = []
        if isinstance(message.get("text"), str) and message["text"].strip():
            lines.append(message["text"].strip())
        for button in message.get("buttons") or []:
            title, payload = button.get("title"), button.get("payload")
            if not isinstance(title, str) or not isinstance(payload, str) or not payload:
                continue
            buttons.append({"title": title, "payload": payload})
            lines.append(render("wechat_button_line", number=len(buttons), title=title)["text"])
        if lines:
            parts.append("\n".join(lines))
    return clean_text("\n\n".join(parts)), buttons


def button_choice(text: str) -> int | None:
    """The number a resident typed to choose a button ("1", "１", " 2 "), or None."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 2 else None
