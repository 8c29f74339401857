"""What happens to a message from WeChat: claim it once, ask Rasa, reply in time or deliver later.

:class:`WeChatChannel` holds the protocol's flow and knows nothing of Sanic (the unit tests drive
it directly; :class:`~bot.rasa_ext.channels.wechat.channel.WeChatInput` serves it). WeChat waits
5 s for a reply and sends the same message again up to three times: each message is claimed once
in the store (:func:`~bot.rasa_ext.channels.wechat.protocol.parse` gives its key), and a retry is
served the cached reply, or ``success`` while the first is still working. An answer not ready
within ``WECHAT_REPLY_TIMEOUT`` seconds, or longer than one message, is answered ``success`` and
delivered through the customer-service API (:class:`~bot.rasa_ext.channels.wechat.api.WeChatAPI`).

By kind of message:

- Text goes to Rasa with the OpenID's keyed pseudonym (``wx-…``,
  :func:`bot.security.senders.pseudonym`) as the sender, so a conversation continues across
  messages and no OpenID is stored: the real one stays in the request, where a late answer
  needs it (the customer-service API), and message keys carry only its digest. A reply of just
  a button's number sends that button's payload; the last buttons shown are remembered per
  pseudonym in the store.
- Voice with a transcript (``Recognition``, when the account has speech recognition on) is
  answered as if typed: the transcript goes through the same guard and to Rasa.
- A ``subscribe`` event sends ``/greet`` (the welcome is a domain response).
- A menu click (``CLICK``, key ``topic:<name>``, see :mod:`~bot.rasa_ext.channels.wechat.menu`)
  sends :data:`MENU_PAYLOAD` with the topic in the message's metadata (:data:`MENU_TOPIC`):
  the payload's rule runs ``action_answer_measure`` without NLU, and the action answers with the
  topic's overview. A key naming no topic gets ``wechat_menu_unknown``, without the dialogue.
  Other events get ``success`` (no reply).
- Images, voice without a transcript, locations, links, videos and anything else get
  ``wechat_text_only``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable, Mapping

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from wechatpy.crypto import WeChatCrypto

from bot import config
from bot.rasa_ext import guard
from bot.rasa_ext.channels.wechat import menu, protocol
from bot.rasa_ext.channels.wechat.api import WeChatAPI
from bot.rasa_ext.channels.wechat.protocol import (
    MAX_BODY_BYTES,
    NOT_CONFIGURED,
    SUCCESS,
    HttpReply,
    Incoming,
    error,
    short_openid,
)
from bot.rasa_ext.channels.wechat.render import MAX_MESSAGE_BYTES, button_choice, render_messages, utf8_len
from bot.rasa_ext.channels.wechat.store import MessageStore, make_store, quietly, stored_json
from bot.replies import render
from bot.security import senders
from bot.storage import refusals

log = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"  # the input channel's name: the URL segment and UserMessage.input_channel
GREET = "/greet"
# A menu click asks for a topic's overview: this payload's rule (data/rules/conversation.yml)
# runs action_answer_measure with no NLU, and the action reads the topic from the message's
# metadata under MENU_TOPIC (actions/actions.py reads the same key).
MENU_PAYLOAD = "/out_of_scope"
MENU_TOPIC = "menu_topic"
# WeChat retries within 15 s; a claimed message is remembered well beyond that.
DEDUPE_TTL = 300
BUTTONS_TTL = 24 * 3600


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
# What goes to the dialogue: the text and the message's metadata; None for a menu key we do not know.
Turn = tuple[str, dict[str, str] | None] | None


class WeChatChannel:
    """The WeChat protocol: checks, parsing, de-duplication, replies and late delivery."""

    def __init__(
        self, settings: config.Settings, store: MessageStore | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.token = settings.wechat_token
        self.reply_timeout = settings.wechat_reply_timeout
        self.store = store or make_store(settings.redis_url)
        self.crypto = None
        if self.token and settings.wechat_aes_key:
            self.crypto = WeChatCrypto(self.token, settings.wechat_aes_key, settings.wechat_app_id or "")
        self.api = None
        if settings.wechat_app_id and settings.wechat_app_secret:
            self.api = WeChatAPI(
                settings.wechat_api_base, settings.wechat_app_id, settings.wechat_app_secret, self.store
            )
        self._clock = clock
        self._tasks: set[asyncio.Future] = set()

    @property
    def enabled(self) -> bool:
        """Whether WECHAT_TOKEN is set."""
        return bool(self.token)

    # -- verification (the checks and parsing are in protocol.py) ------------------------

    def verify(self, args: Mapping[str, Any]) -> HttpReply:
        """GET: WeChat's server URL verification."""
        if not self.token:  # not enabled
            return error(404, NOT_CONFIGURED)
        return protocol.verify(self.token, args, self._clock())

    # -- replies -----------------------------------------------------------------------------

    def _passive(self, incoming: Incoming, text: str, args: Mapping[str, Any]) -> HttpReply:
        return protocol.passive(incoming, text, args, self.crypto, self._clock())

    async def receive(self, args: Mapping[str, Any], body: bytes, on_new_message: OnNewMessage) -> HttpReply:
        """POST: a message or event from WeChat; returns the passive reply (or ``success``)."""
        if not self.token:  # not enabled
            return error(404, NOT_CONFIGURED)
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"request body over {MAX_BODY_BYTES} bytes")
        if not protocol.signed(self.token, args, self._clock()):
            return error(403, "bad signature")
        incoming = protocol.parse(args, body, self.crypto)
        if isinstance(incoming, HttpReply):
            return incoming
        message = incoming.message
        if incoming.key is None:
            if message.type == "event":
                return SUCCESS  # unsubscribe, menu links (VIEW), …: nothing to say
            return self._passive(incoming, render("wechat_text_only")["text"], args)

        claimed = await quietly(
            self.store.add(incoming.key, json.dumps({"state": "processing"}), DEDUPE_TTL),
            "claim a message",
            default=True,  # without a store, process rather than drop
        )
        if not claimed:
            state = stored_json(await quietly(self.store.get(incoming.key), "read a cached reply"), {})
            log.info("WeChat retry of %s (%s)", incoming.key, state.get("state"))
            if state.get("state") == "done" and state.get("text"):
                return self._passive(incoming, state["text"], args)
            return SUCCESS

        task = self._spawn(self._process(incoming, self._turn(incoming), on_new_message))
        try:
            answer = await asyncio.wait_for(asyncio.shield(task), self.reply_timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            # Too slow, or WeChat hung up (the request was cancelled): the answer goes by the API.
            log.info(
                "WeChat answer to %s not ready in %.3g s; it will be sent as a customer-service message",
                incoming.key,
                self.reply_timeout,
            )
            task.add_done_callback(lambda done: self._spawn(self._deliver_late(incoming, done)))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return SUCCESS
        if answer and utf8_len(answer) < MAX_MESSAGE_BYTES:
            await quietly(
                self.store.set(incoming.key, json.dumps({"state": "done", "text": answer}), DEDUPE_TTL), "cache a reply"
            )
            return self._passive(incoming, answer, args)
        await quietly(self.store.set(incoming.key, json.dumps({"state": "sent"}), DEDUPE_TTL), "mark a reply sent")
        if answer:  # too long for one message: all of it goes as customer-service messages, in order
            self._spawn(self._deliver(incoming.openid, answer))
        return SUCCESS

    # -- processing --------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Future:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _turn(self, incoming: Incoming) -> Turn:
        """What a claimed message says to the dialogue (see the module docstring)."""
        message = incoming.message
        if message.type != "event":
            return incoming.text, None
        if message.event != protocol.CLICK_EVENT:
            return GREET, None
        topic = menu.topic_of_key(message.key)
        if topic is None:
            log.info("WeChat menu click from %s with a key naming no topic", short_openid(incoming.openid))
            return None
        return MENU_PAYLOAD, {MENU_TOPIC: topic}

    async def _process(self, incoming: Incoming, turn: Turn, on_new_message: OnNewMessage) -> str:
        """Send the message to Rasa; returns the reply text (buttons numbered) and remembers the buttons."""
        if turn is None:
            return render("wechat_menu_unknown")["text"]
        text, metadata = turn
        # the conversation is the OpenID's pseudonym: the OpenID itself stays in this request
        conversation = senders.pseudonym(incoming.openid, self.settings, senders.WECHAT_PREFIX)
        buttons_key = f"buttons:{conversation}"
        chosen = False
        number = button_choice(text) if incoming.message.type == "text" else None
        if number:
            payloads = stored_json(await quietly(self.store.get(buttons_key), "read the last buttons"), [])
            if isinstance(payloads, list) and 1 <= number <= len(payloads) and isinstance(payloads[number - 1], str):
                text, chosen = payloads[number - 1], True
        prepared = guard.prepare(text, conversation, None, self.settings)
        if prepared.refused:
            refusals.COUNTER.count(CHANNEL_NAME, prepared.refused)
            return render(prepared.refused)["text"]
        collector = CollectingOutputChannel()
        failed = False
        try:
            await on_new_message(
                UserMessage(
                    prepared.text,
                    collector,
                    conversation,
                    input_channel=CHANNEL_NAME,
                    message_id=incoming.key,
                    metadata=metadata,
                )
            )
        except Exception:  # noqa: BLE001 - the resident gets an apology, never a trace
            log.exception("WeChat message %s failed", incoming.key)
            failed = True
        answer, buttons = render_messages(collector.messages)
        if not answer and failed:
            answer = render("wechat_unavailable")["text"]
        elif not answer:
            answer = render("unavailable")["text"]
        for notice in prepared.notices:
            answer = f"{answer}\n\n{render(notice)['text']}"
        if buttons:
            payloads = [b["payload"] for b in buttons]
            await quietly(
                self.store.set(buttons_key, json.dumps(payloads, ensure_ascii=False), BUTTONS_TTL),
                "remember the buttons",
            )
        elif not chosen:
            # A new question without buttons retires the old numbers; a chosen button keeps them.
            await quietly(self.store.delete(buttons_key), "forget the buttons")
        return answer

    async def _deliver_late(self, incoming: Incoming, task: asyncio.Future) -> None:
        if incoming.key is not None:  # always set here: only messages with a key are processed
            await quietly(self.store.set(incoming.key, json.dumps({"state": "sent"}), DEDUPE_TTL), "mark a reply sent")
        if task.cancelled() or task.exception() is not None:
            return
        answer = task.result()
        if answer:
            await self._deliver(incoming.openid, answer)

    async def _deliver(self, openid: str, text: str) -> bool:
        if self.api is None:
            log.error(
                "WeChat answer for %s not delivered: WECHAT_APP_ID and WECHAT_APP_SECRET are needed "
                "for customer-service messages",
                short_openid(openid),
            )
            return False
        return await self.api.send_text(openid, text)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (a little) for deliveries in flight, e.g. before the server stops."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        """Release the store's connections."""
        await quietly(self.store.close(), "close the store")
