"""The staff channel: the REST protocol for our own tools, behind the Rasa API token.

The console's 测试问答 and the evaluation (``python -m bot eval``, the console's 批量评测) post
``{"sender", "message"}`` to ``/webhooks/staff/webhook`` with ``Authorization: Bearer <token>``
(``RASA_API_TOKEN``). Their conversations are stored with ``input_channel: staff``, which is how
the review list and the figures tell them from residents' (a sender name proves nothing: anyone
can choose one). The messages are checked and redacted as on the public channel, without the
rate limits. Without the right token the channel answers 401 or 403; with no token configured
it is closed (403).
"""

from __future__ import annotations

import hmac
from typing import Text

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.rasa_ext.channels.rest import RestInput
from bot.security.staff import STAFF_CHANNEL, bearer_header

CHANNEL = STAFF_CHANNEL
__all__ = ["CHANNEL", "StaffInput", "bearer_header"]


class StaffInput(RestInput):
    """:class:`RestInput` for authenticated staff tools (see the module docstring)."""

    limited = False

    @classmethod
    def name(cls) -> Text:
        """The URL segment (/webhooks/staff/webhook) and the stored ``input_channel``."""
        return CHANNEL

    def refuse(self, request: Request) -> HTTPResponse | None:
        """401 without a bearer token, 403 with a wrong one or when no token is configured."""
        expected = self.settings.rasa_api_token
        if not expected:
            return response.json({"error": "the staff channel is closed: no RASA_API_TOKEN is set"}, status=403)
        scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return response.json({"error": "Authorization: Bearer <token> required"}, status=401)
        if not hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8")):
            return response.json({"error": "wrong token"}, status=403)
        return None
