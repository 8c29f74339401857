"""The web page's channel: the REST protocol at ``/webhooks/web/webhook``, for ``bot.webapp.server``.

The resident page's server forwards each message here instead of to the public REST channel, so
its conversations are stored with ``input_channel: web`` and the dashboard can tell the page from
other REST clients. Everything else (the checks, the limits per sender and per forwarded client
address, the redaction) is :class:`bot.rasa_ext.channels.rest.RestInput`'s. Which of the two a
client posts to decides only how its messages are counted.
"""

from __future__ import annotations

from typing import Text

from bot.rasa_ext.channels.rest import RestInput

CHANNEL = "web"


class WebInput(RestInput):
    """:class:`RestInput` under the name ``web`` (see the module docstring)."""

    @classmethod
    def name(cls) -> Text:
        """The URL segment (/webhooks/web/webhook) and the stored ``input_channel``."""
        return CHANNEL
