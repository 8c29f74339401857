"""The WeChat Official Account (微信公众号) channel, as ``credentials.yml`` names it.

``bot.rasa_ext.channels.wechat.WeChatInput`` is the Rasa input channel; the modules, in the
order a message meets them:

- :mod:`.channel`: :class:`WeChatInput`, the Sanic routes (``/webhooks/wechat/webhook``);
- :mod:`.protocol`: signatures, hostile-input checks, XML parsing and passive replies;
- :mod:`.handler`: :class:`WeChatChannel`, de-duplication, the Rasa turn, reply in time or later;
- :mod:`.render`: Rasa's messages as WeChat text (numbered buttons, message sizes);
- :mod:`.api`: the customer-service message API, for late and long answers, and the menu API;
- :mod:`.menu`: the account's menu (``menu.yml``), checked against WeChat's limits, and the
  ``topic:<name>`` keys its clicks carry;
- :mod:`.store`: short-lived state (claimed messages, last buttons, the access token), in
  memory or Redis.

Hostile input: a body over :data:`MAX_BODY_BYTES` gets 413; a bad or stale signature 403; a body
with a DTD or entity declaration, malformed XML, or a message without a valid sender gets 400.
Nothing is processed in any of these cases.
"""

from bot.rasa_ext.channels.wechat.channel import WeChatInput
from bot.rasa_ext.channels.wechat.handler import WeChatChannel
from bot.rasa_ext.channels.wechat.protocol import MAX_BODY_BYTES, HttpReply
from bot.rasa_ext.channels.wechat.render import MAX_MESSAGE_BYTES, button_choice, render_messages, split_message

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_MESSAGE_BYTES",
    "HttpReply",
    "WeChatChannel",
    "WeChatInput",
    "button_choice",
    "render_messages",
    "split_message",
]
