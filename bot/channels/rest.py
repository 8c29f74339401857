"""The REST channel residents' clients use: Rasa's REST protocol with input checks.

``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "..."}`` as Rasa's own
``RestInput``, but: a body that is not a JSON object, or a sender or message of the wrong type,
gets 400 with a JSON error instead of a server error; a body over :data:`MAX_BODY_BYTES` gets
413; and every message goes through :mod:`bot.channels.guard` (rate limits, length, privacy
redaction, an apology when the dialogue gave no answer, an empty message treated as not
understood rather than silently ignored).
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import config
from bot.channels import guard

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_SENDER_CHARS = 128


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


class RestInput(InputChannel):
    """Rasa's REST channel protocol with strict input handling (see the module docstring)."""

    @classmethod
    def name(cls) -> Text:
        """The URL segment: /webhooks/rest/webhook, as Rasa's own REST channel."""
        return "rest"

    def __init__(self) -> None:
        self.settings = config.load()

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[Text, Any]]) -> "RestInput":
        """No credentials are needed (limits come from bot.config)."""
        return cls()

    @staticmethod
    def parse_body(request: Request) -> tuple[str, str] | HTTPResponse:
        """``(sender, text)`` from the request, or the error response to send."""
        if len(request.body or b"") > MAX_BODY_BYTES:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            body = request.json
        except Exception:  # noqa: BLE001 - sanic raises its own InvalidUsage for bad JSON
            return _error(400, "body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, 'body must be a JSON object {"sender": ..., "message": ...}')
        sender, text = body.get("sender", "default"), body.get("message", "")
        if not isinstance(sender, (str, int)) or not str(sender).strip():
            return _error(400, "sender must be a non-empty string")
        if text is None:
            text = ""
        if not isinstance(text, str):
            return _error(400, "message must be a string")
        return str(sender).strip()[:MAX_SENDER_CHARS], text

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """GET / (health) and POST /webhook."""
        hook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            parsed = self.parse_body(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, text = parsed
            ip = guard.client_ip(request.ip, request.headers.get("X-Forwarded-For"), self.settings)
            prepared = guard.prepare(text, sender, ip, self.settings)
            if prepared.refused:
                status = 429 if prepared.refused == "rate_limited" else 200
                return response.json(guard.reply_messages([prepared.refused], sender), status=status)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(prepared.text, collector, sender, input_channel=self.name()))
            except Exception:  # noqa: BLE001 - the resident gets an apology, never a trace
                log.exception("REST message from %s failed", sender)
            return response.json(guard.finish(collector.messages, prepared, sender))

        return hook
