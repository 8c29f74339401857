"""Sender ids: which are acceptable, which hold a personal number, and how they appear in our logs.

A sender id that holds a personal number becomes a pseudonym.
"""

from __future__ import annotations

import os
import unicodedata

from bot import config
from bot.text.privacy import contains_personal_number

MAX_SENDER_CHARS = 128
# Sender ids that hold a personal number are replaced by this prefix and a keyed hash.
PSEUDONYM_PREFIX = "anon-"
# How the WeChat channel names a conversation: the OpenID's pseudonym (see :func:`pseudonym`).
WECHAT_PREFIX = "wx-"
# Response headers of the REST channels when a message was stored other than as typed: the stored
# text (a JSON string) and the earlier messages' parts replaced (a JSON list of [part, placeholder]).
# The web server passes them on, so the resident's page shows and keeps only what was stored.
STORED_HEADER = "X-Stored-Message"
EARLIER_HEADER = "X-Stored-Earlier"
# A hex digest spelt in letters: 0-9a-f → a-p.
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _sender_key(settings: config.Settings) -> bytes:
    """The pseudonym key: ``SENDER_HASH_KEY``, or a random one kept in ``var/sender_hash.key``."""
    if settings.sender_hash_key:
        return settings.sender_hash_key.encode("utf-8")
    path = settings.var_dir / "sender_hash.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return key


def safe_sender(sender: str, settings: config.Settings) -> str:
    """The conversation id to store for ``sender``: itself, or a keyed hash if it holds a personal number.

    A personal number is an ID-card, mobile or bank-card number (``13912345678`` as a REST sender).
    The hash is the same every time, so the conversation continues without the number being stored
    or logged.

    Raises:
        PrivacyDataError: ``bot/replies/privacy.yml`` is broken.
    """
    if not contains_personal_number(sender):
        return sender
    return pseudonym(sender, settings)


def pseudonym(sender: str, settings: config.Settings, prefix: str = PSEUDONYM_PREFIX) -> str:
    """``sender`` as a keyed hash (HMAC-SHA-256 with :func:`_sender_key`): stable, not reversible.

    Written in the letters a-p rather than hex digits, so that no pseudonym holds a run of digits
    that reads as a personal number (one hex digest in ten has eleven digits in a row). The WeChat
    channel stores every OpenID this way (``prefix`` :data:`WECHAT_PREFIX`): an OpenID
    names a person to whoever holds the account's API credentials.
    """
    import hmac

    digest = hmac.new(_sender_key(settings), sender.encode("utf-8"), "sha256").hexdigest()[:32]
    return prefix + digest.translate(_LETTERS)


def log_id(sender: str) -> str:
    """How a sender appears in our logs: a short hash, never the id itself."""
    import hashlib

    return "s:" + hashlib.sha256(sender.encode("utf-8")).hexdigest()[:12]


def sender_problem(sender: object) -> str | None:
    """Why ``sender`` cannot name a conversation (missing, empty, not text, too long), or None."""
    if sender is None:
        return "sender is required"
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        return "sender must be a string"
    text = str(sender).strip()
    if not text:
        return "sender must not be empty"
    if len(text) > MAX_SENDER_CHARS:
        return f"sender over {MAX_SENDER_CHARS} characters"
    if any(unicodedata.category(ch)[0] == "C" for ch in text):
        return "sender must not contain control characters"
    return None
