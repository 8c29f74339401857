"""WeChat's customer-service message API (客服消息), for answers too late or too long to be passive.

A passive reply must be sent within WeChat's 5 s and be one message; anything else goes through
``/cgi-bin/message/custom/send`` with an access token, which :class:`WeChatAPI` fetches, caches
in the :class:`~bot.rasa_ext.channels.wechat.store.MessageStore` and renews when WeChat refuses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from bot.rasa_ext.channels.wechat.protocol import short_openid
from bot.rasa_ext.channels.wechat.render import split_message
from bot.rasa_ext.channels.wechat.store import MessageStore, quietly

log = logging.getLogger(__name__)

API_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
# errcodes of the customer-service API: the token expired or is invalid (fetch a new one and
# retry once), and the two "you may not send now" answers, which are logged and not retried.
TOKEN_ERRORS = {40001, 40014, 42001}
QUOTA_ERRORS = {
    45015: "the user has not written to the account in the last 48 hours",
    45047: "too many customer-service messages since the user last wrote",
}


class WeChatAPI:
    """The customer-service message API with a cached access token (async, with timeouts).

    The token is kept in the :class:`MessageStore` until shortly before it expires, so replicas
    sharing a Redis store share one token. A send that WeChat refuses with an expired-token
    errcode fetches a new token and is retried once; any other failure is logged and dropped.
    """

    def __init__(
        self, base: str, app_id: str, app_secret: str, store: MessageStore, timeout: aiohttp.ClientTimeout = API_TIMEOUT
    ) -> None:
        self.base = base.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.store = store
        self.timeout = timeout
        self._lock = asyncio.Lock()

    @property
    def _token_key(self) -> str:
        return f"token:{self.app_id}"

    async def _fetch_token(self, session: aiohttp.ClientSession) -> str | None:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        async with session.get(f"{self.base}/cgi-bin/token", params=params) as resp:
            data = await resp.json(content_type=None)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            errcode = data.get("errcode") if isinstance(data, dict) else None
            errmsg = data.get("errmsg") if isinstance(data, dict) else None
            log.error("WeChat access token refused (HTTP %s, errcode %s: %s)", resp.status, errcode, errmsg)
            return None
        try:
            expires = int(data.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires = 7200
        # Refresh a little before WeChat expires it (5 minutes, or a fifth of a short lifetime).
        ttl = max(1, expires - min(300, expires // 5))
        await quietly(self.store.set(self._token_key, token, ttl), "store the access token")
        return token

    async def access_token(self, session: aiohttp.ClientSession, stale: str | None = None) -> str | None:
        """The cached token, or a new one; with ``stale``, one that is not ``stale``."""
        cached = await quietly(self.store.get(self._token_key), "read the access token")
        if cached and cached != stale:
            return cached
        async with self._lock:
            # Another request may have fetched one while this one waited.
            cached = await quietly(self.store.get(self._token_key), "read the access token")
            if cached and cached != stale:
                return cached
            return await self._fetch_token(session)

    async def _post_text(self, session: aiohttp.ClientSession, token: str, openid: str, text: str) -> tuple[Any, Any]:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        async with session.post(
            f"{self.base}/cgi-bin/message/custom/send",
            params={"access_token": token},
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as resp:
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            return None, f"HTTP {resp.status}, not a JSON object"
        return data.get("errcode", 0), data.get("errmsg")

    async def send_text(self, openid: str, text: str) -> bool:
        """Send ``text`` to ``openid`` as one or more text messages; True when all arrived."""
        chunks = split_message(text)
        if not chunks:
            return True
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                token = await self.access_token(session)
                if token is None:
                    return False
                retried = False
                for number, chunk in enumerate(chunks, 1):
                    while True:
                        errcode, errmsg = await self._post_text(session, token, openid, chunk)
                        if errcode == 0:
                            break
                        if errcode in TOKEN_ERRORS and not retried:
                            retried = True
                            log.info("WeChat access token rejected (errcode %s); fetching a new one", errcode)
                            token = await self.access_token(session, stale=token)
                            if token is not None:
                                continue
                        if errcode in QUOTA_ERRORS:
                            log.warning(
                                "WeChat customer-service message %d/%d not sent to %s: errcode %s (%s)",
                                number,
                                len(chunks),
                                short_openid(openid),
                                errcode,
                                QUOTA_ERRORS[errcode],
                            )
                        else:
                            log.error(
                                "WeChat customer-service message %d/%d not sent to %s: errcode %s: %s",
                                number,
                                len(chunks),
                                short_openid(openid),
                                errcode,
                                errmsg,
                            )
                        return False
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.error(
                "WeChat customer-service API unreachable for %s: %s", short_openid(openid), exc or type(exc).__name__
            )
            return False
        return True
