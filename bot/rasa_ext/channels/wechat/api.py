"""WeChat's server APIs: customer-service messages (客服消息) and the custom menu (自定义菜单).

A passive reply must be sent within WeChat's 5 s and be one message; anything else goes through
``/cgi-bin/message/custom/send`` with an access token, which :class:`WeChatAPI` fetches, caches
in the :class:`~bot.rasa_ext.channels.wechat.store.MessageStore` and renews when WeChat refuses it.
:meth:`WeChatAPI.create_menu` sends the account's menu (``/cgi-bin/menu/create``) with the same
token; it raises the :class:`WeChatAPIError` that says what failed, for the command line to report.
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


class WeChatAPIError(Exception):
    """A call to WeChat's API failed; the subclasses say how."""


class APIUnreachable(WeChatAPIError):
    """WeChat's API did not answer in time, refused the connection, or answered no JSON object."""


class APIRefused(WeChatAPIError):
    """WeChat answered with an errcode other than 0."""

    def __init__(self, what: str, errcode: object, errmsg: object) -> None:
        self.errcode, self.errmsg = errcode, errmsg
        super().__init__(f"{what} refused by WeChat: errcode {errcode}: {errmsg}")


class TokenRefused(APIRefused):
    """WeChat gave no access token (wrong app id or secret, or this IP not on the whitelist)."""

    def __init__(self, what: str, errcode: object, errmsg: object, status: int) -> None:
        self.status = status
        super().__init__(what, errcode, errmsg)


class WeChatAPI:
    """WeChat's customer-service message and menu APIs with a cached access token (async, with timeouts).

    The token is kept in the :class:`MessageStore` until shortly before it expires, so replicas
    sharing a Redis store share one token. A send that WeChat refuses with an expired-token
    errcode fetches a new token and is retried once; any other failure is logged and dropped.
    :meth:`create_menu` retries the same way but raises what failed.
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
        try:
            return await self._new_token(session)
        except TokenRefused as exc:
            log.error("WeChat access token refused (HTTP %s, errcode %s: %s)", exc.status, exc.errcode, exc.errmsg)
            return None

    async def _new_token(self, session: aiohttp.ClientSession) -> str:
        """A new access token from WeChat, cached in the store; raises :class:`TokenRefused`."""
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        async with session.get(f"{self.base}/cgi-bin/token", params=params) as resp:
            data = await resp.json(content_type=None)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            errcode = data.get("errcode") if isinstance(data, dict) else None
            errmsg = data.get("errmsg") if isinstance(data, dict) else None
            raise TokenRefused("access token", errcode, errmsg, resp.status)
        try:
            expires = int(data.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires = 7200
        # Refresh a little before WeChat expires it (5 minutes, or a fifth of a short lifetime).
        ttl = max(1, expires - min(300, expires // 5))
        await quietly(self.store.set(self._token_key, token, ttl), "store the access token")
        return token

    async def _cached_token(self, stale: str | None) -> str | None:
        cached = await quietly(self.store.get(self._token_key), "read the access token")
        return cached if cached and cached != stale else None

    async def access_token(self, session: aiohttp.ClientSession, stale: str | None = None) -> str | None:
        """The cached token, or a new one; with ``stale``, one that is not ``stale``; None if refused."""
        cached = await self._cached_token(stale)
        if cached:
            return cached
        async with self._lock:
            # Another request may have fetched one while this one waited.
            return await self._cached_token(stale) or await self._fetch_token(session)

    async def _token_or_raise(self, session: aiohttp.ClientSession, stale: str | None = None) -> str:
        """As :meth:`access_token`, raising :class:`TokenRefused` rather than returning None."""
        cached = await self._cached_token(stale)
        if cached:
            return cached
        async with self._lock:
            return await self._cached_token(stale) or await self._new_token(session)

    async def _post(self, session: aiohttp.ClientSession, path: str, token: str, body: dict) -> tuple[int, Any]:
        """POST ``body`` as JSON to one of WeChat's APIs; the HTTP status and the decoded answer."""
        async with session.post(
            f"{self.base}{path}",
            params={"access_token": token},
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def _post_text(self, session: aiohttp.ClientSession, token: str, openid: str, text: str) -> tuple[Any, Any]:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        status, data = await self._post(session, "/cgi-bin/message/custom/send", token, body)
        if not isinstance(data, dict):
            return None, f"HTTP {status}, not a JSON object"
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

    async def _post_json(self, session: aiohttp.ClientSession, path: str, token: str, body: dict) -> tuple[Any, Any]:
        status, data = await self._post(session, path, token, body)
        if not isinstance(data, dict):
            raise APIUnreachable(f"{path}: HTTP {status}, not a JSON object")
        return data.get("errcode", 0), data.get("errmsg")

    async def create_menu(self, menu: dict) -> None:
        """Replace the account's custom menu with ``menu`` (WeChat's JSON body, ``{"button": [...]}``).

        The access token is the cached one (shared with the running channel through the store)
        or a new one; one refused as expired is renewed and the call retried once.

        Raises:
            TokenRefused: no access token (wrong app id or secret, IP not whitelisted).
            APIRefused: WeChat refused the menu (its errcode and errmsg, e.g. 40016 for a bad
                number of buttons, 48001 for an account without the menu permission).
            APIUnreachable: no answer within the timeout, a connection error, or no JSON.
        """
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                token = await self._token_or_raise(session)
                errcode, errmsg = await self._post_json(session, "/cgi-bin/menu/create", token, menu)
                if errcode in TOKEN_ERRORS:
                    log.info("WeChat access token rejected (errcode %s); fetching a new one", errcode)
                    token = await self._token_or_raise(session, stale=token)
                    errcode, errmsg = await self._post_json(session, "/cgi-bin/menu/create", token, menu)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise APIUnreachable(f"WeChat's API at {self.base} unreachable: {exc or type(exc).__name__}") from exc
        if errcode != 0:
            raise APIRefused("menu", errcode, errmsg)
