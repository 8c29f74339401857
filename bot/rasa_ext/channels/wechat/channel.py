"""The Rasa input channel for a WeChat Official Account (微信公众号), named in ``credentials.yml``.

Routes (under ``/webhooks/wechat/``; all answer 404 with a JSON error while ``WECHAT_TOKEN`` is
unset, i.e. the channel is off):

- ``GET /webhook``: WeChat's URL verification (the signature over token, timestamp and nonce
  checked, ``echostr`` echoed; a bad signature gets 403).
- ``POST /webhook``: a message or event, plaintext or safe mode; the answer is a passive XML text
  reply, or ``success`` and a customer-service message later.
- ``GET /``: health.

This module is only the Sanic adapter; the package's other modules do the work:
:mod:`~bot.rasa_ext.channels.wechat.handler` (what happens to a message),
:mod:`~bot.rasa_ext.channels.wechat.protocol` (signatures, hostile input, XML),
:mod:`~bot.rasa_ext.channels.wechat.render` (buttons as numbered lines, message sizes),
:mod:`~bot.rasa_ext.channels.wechat.api` (customer-service messages) and
:mod:`~bot.rasa_ext.channels.wechat.store` (de-duplication, buttons, the access token).
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Text

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import config
from bot.rasa_ext import parts
from bot.rasa_ext.channels.wechat.handler import CHANNEL_NAME, OnNewMessage, WeChatChannel
from bot.rasa_ext.channels.wechat.protocol import NOT_CONFIGURED, HttpReply, error
from bot.rasa_ext.channels.wechat.store import MessageStore

log = logging.getLogger(__name__)


class WeChatInput(InputChannel):
    """Rasa input channel for a WeChat Official Account (see the module docstring).

    Its settings come from the environment through :mod:`bot.config` (``WECHAT_*``,
    ``REDIS_URL``), not from ``credentials.yml``, so no secret is written in a file.
    """

    def __init__(self, settings: config.Settings | None = None, store: MessageStore | None = None) -> None:
        self.channel = WeChatChannel(settings or config.load(), store)
        if self.channel.enabled:
            log.info(
                "WeChat channel on (%s mode, store: %s, customer-service API: %s)",
                "safe/plaintext" if self.channel.crypto else "plaintext",
                type(self.channel.store).__name__,
                "on" if self.channel.api else "off",
            )

    @classmethod
    def name(cls) -> Text:
        """The URL segment: /webhooks/wechat/webhook."""
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[Text, Any]]) -> "WeChatInput":
        """Settings are read from the environment (bot/config.py); credentials.yml holds none."""
        return cls()

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """GET / (health), GET and POST /webhook."""
        hook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        channel = self.channel

        def _send(reply: HttpReply) -> HTTPResponse:
            return response.text(reply.body, status=reply.status, content_type=reply.content_type)

        def _args(request: Request) -> dict[str, str]:
            return {name: request.args.get(name) for name in request.args}

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            if not channel.enabled:
                return _send(error(404, NOT_CONFIGURED))
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET", "POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if request.method == "GET":
                return _send(channel.verify(_args(request)))
            handle = parts.annotating(on_new_message, getattr(request.app.ctx, "agent", None))
            return _send(await channel.receive(_args(request), request.body or b"", handle))

        @hook.listener("before_server_stop")
        async def _drain(app, loop) -> None:
            await channel.drain()
            await channel.close()

        return hook
