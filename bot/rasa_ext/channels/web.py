"""The web page's channel: the REST protocol at ``/webhooks/web/webhook``, for ``bot.webapp.server``.

The resident page's server forwards each message here instead of to the public REST channel, so
its conversations are stored with ``input_channel: web`` and the dashboard can tell the page from
other REST clients. Everything else (the checks, the limits per sender and per forwarded client
address, the redaction) is :class:`bot.rasa_ext.channels.rest.RestInput`'s. Which of the two a
client posts to decides only how its messages are counted, with one exception: the resident's
address.

The web server resolves the resident's address itself (its own ``TRUSTED_PROXIES``: the Ingress)
and sends it as ``X-Resident-Address`` with ``Authorization: Bearer <RASA_API_TOKEN>``. Only a
request carrying that token has the header believed (:meth:`WebInput.client_address`), so the
per-address limit counts residents, not the web pods, and no one else can choose the address a
message is counted against by writing the header; without the token the REST rule applies (the
peer, or ``X-Forwarded-For`` behind a proxy in ``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import hmac
from typing import Text

from sanic.request import Request

from bot.rasa_ext.channels.rest import RestInput
from bot.security import ratelimit

CHANNEL = "web"


class WebInput(RestInput):
    """:class:`RestInput` under the name ``web`` (see the module docstring)."""

    @classmethod
    def name(cls) -> Text:
        """The URL segment (/webhooks/web/webhook) and the stored ``input_channel``."""
        return CHANNEL

    def client_address(self, request: Request) -> str | None:
        """``X-Resident-Address`` when the request carries the API token as bearer, else the REST rule.

        A header that is not an address, or one without the token, is ignored.
        """
        expected = self.settings.rasa_api_token
        given = request.headers.get(ratelimit.RESIDENT_ADDRESS_HEADER)
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if (
            expected
            and given
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8"))
        ):
            address = ratelimit.parse_address(given)
            if address is not None:
                return address
        return super().client_address(request)
