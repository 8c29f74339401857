"""The REST channel residents' clients use: Rasa's REST protocol with input checks.

``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "..."}`` as Rasa's own
``RestInput``, but:

- a body that is not a JSON object, nested deeper than :data:`bot.text.jsonlimits.MAX_DEPTH`, with a
  number out of range, a sender that is missing, empty or over 128 characters (never truncated:
  two long ids must not share a conversation), or a message that is not text gets 400 with a JSON
  error instead of a server error; a body over :data:`MAX_BODY_BYTES` gets 413 (the Rasa
  server's Sanic refuses far larger ones from ``Content-Length`` before reading them);
- every message goes through :mod:`bot.rasa_ext.guard` (rate limits with ``Retry-After``, length,
  typed payloads checked, privacy redaction, a sender id holding a personal number replaced by
  a pseudonym, an apology when the dialogue gave no answer, an empty message treated as not
  understood rather than silently ignored).

:class:`bot.rasa_ext.channels.staff.StaffInput` is the same protocol for the console and the evaluation,
behind the API token.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import config
from bot.rasa_ext import guard, parts
from bot.security import ratelimit
from bot.storage import refusals
from bot.text.jsonlimits import JsonBodyError, loads
from bot.text.privacy import PrivacyDataError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


class RestInput(InputChannel):
    """Rasa's REST channel protocol with strict input handling (see the module docstring).

    Subclasses change who may post (:meth:`refuse`) and whether the rate limits apply
    (:attr:`limited`).
    """

    limited = True

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

    def refuse(self, request: Request) -> HTTPResponse | None:
        """The response for a caller who may not post here, or None (anyone may, on REST)."""
        return None

    def client_address(self, request: Request) -> str | None:
        """The address the per-address rate limit counts: the peer, or the client behind a trusted proxy.

        :func:`bot.security.ratelimit.client_ip` (``TRUSTED_PROXIES`` networks, the right-most
        untrusted ``X-Forwarded-For`` entry); None for a local tool.
        """
        return ratelimit.client_ip(request.ip, request.headers.get("X-Forwarded-For"), self.settings)

    @staticmethod
    def parse_body(request: Request) -> tuple[str, str] | HTTPResponse:
        """``(sender, text)`` from the request, or the error response to send."""
        if len(request.body or b"") > MAX_BODY_BYTES:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            body = loads(request.body, max_bytes=MAX_BODY_BYTES)
        except JsonBodyError as exc:
            return _error(400, str(exc))
        if not isinstance(body, dict):
            return _error(400, 'body must be a JSON object {"sender": ..., "message": ...}')
        sender, text = body.get("sender"), body.get("message", "")
        problem = guard.sender_problem(sender)
        if problem:
            return _error(400, problem)
        if text is None:
            text = ""
        if not isinstance(text, str):
            return _error(400, "message must be a string")
        return str(sender).strip(), text

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """GET / (health) and POST /webhook."""
        hook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refused = self.refuse(request)
            if refused is not None:
                return refused
            parsed = self.parse_body(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            given, text = parsed
            try:
                sender = guard.safe_sender(given, self.settings)
            except PrivacyDataError as exc:
                log.error("redaction unavailable, message refused: %s", exc)
                refusals.COUNTER.count(self.name(), "unavailable")
                return response.json(guard.reply_messages(["unavailable"], "-"))
            ip = self.client_address(request)
            prepared = guard.prepare(text, sender, ip, self.settings, limited=self.limited)
            if prepared.refused:
                refusals.COUNTER.count(self.name(), prepared.refused)
            if prepared.refused == "rate_limited":
                return response.json(
                    guard.reply_messages([prepared.refused], sender),
                    status=429,
                    headers={"Retry-After": str(int(ratelimit.WINDOW_S))},
                )
            if prepared.refused:
                return response.json(guard.reply_messages([prepared.refused], sender))
            collector = CollectingOutputChannel()
            try:
                message = UserMessage(prepared.text, collector, sender, input_channel=self.name())
                await on_new_message(await parts.annotate(getattr(request.app.ctx, "agent", None), message))
            except Exception:  # noqa: BLE001 - the resident gets an apology, never a trace
                log.exception("%s message from %s failed", self.name(), guard.log_id(sender))
            return response.json(
                guard.finish(collector.messages, prepared, sender), headers=guard.stored_headers(text, prepared)
            )

        return hook
