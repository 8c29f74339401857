"""测试问答: a question asked as a resident would, with everything behind the answer.

``POST /console/api/ask`` goes through the staff channel (its conversation is stored as staff
traffic) and Rasa's ``/model/parse``, and shows the normalised text, the tokens, the intent
ranking, the entities, the replies, the answerability decision and the cited measures in full.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiohttp import ClientError, web

from bot.security.staff import STAFF_CHANNEL, bearer_header
from bot.text.normalize import normalize_text
from bot.webapp.console.common import error_response, json_body, settings_of

log = logging.getLogger(__name__)


def _tokens(text: str) -> list[str]:
    import jieba

    return [t for t in jieba.lcut(text) if t.strip()]


async def ask(request: web.Request) -> web.Response:
    """Everything behind an answer, for staff.

    That is the normalised text, tokens, intent ranking, entities, the reply a resident would get,
    and the cited measures with their full text.
    """
    body = await json_body(request)
    question = body.get("text")
    from bot.webapp.server import message_limits

    max_chars = message_limits(settings_of(request))[0]
    if not isinstance(question, str) or not question.strip() or len(question) > max_chars:
        return error_response(400, "ask_text", max=max_chars)
    settings, session = settings_of(request), request.app["rasa_session"]
    if not settings.rasa_api_token:
        return error_response(503, "staff_token_missing")
    base = request.app["rasa_url"]
    try:
        async with session.post(
            f"{base}/model/parse", params={"token": settings.rasa_api_token or ""}, json={"text": question}
        ) as resp:
            parsed = await resp.json() if resp.status == 200 else {}
        # The staff channel (bot/rasa_ext/channels/staff.py) stores the conversation as staff traffic.
        sender = f"console-{request['staff']}-{uuid.uuid4().hex[:8]}"
        async with session.post(
            f"{base}/webhooks/{STAFF_CHANNEL}/webhook",
            json={"sender": sender, "message": question},
            headers=bearer_header(settings.rasa_api_token),
        ) as resp:
            if resp.status != 200:
                log.warning("the staff channel answered %s", resp.status)
                return error_response(502, "staff_channel_status", status=resp.status)
            replies = await resp.json()
    except (ClientError, asyncio.TimeoutError):
        return error_response(503, "rasa_unavailable")
    # Measure numbers, as the action's citation payload lists them (actions/base.py).
    cited: list[int] = next((m["custom"]["measures"] for m in replies if "measures" in (m.get("custom") or {})), [])
    # The action's answerability decision and its reason (actions/decision/), and the
    # measure offered only as related when the notice does not answer.
    decision = next((m["custom"]["answerability"] for m in replies if "answerability" in (m.get("custom") or {})), None)
    related: list[int] = next((m["custom"]["related"] for m in replies if "related" in (m.get("custom") or {})), [])
    kb = request.app["kb"]
    shown = cited or related
    measures = (
        [
            {"number": m.number, "label": m.label, "title": m.title, "section": m.section, "text": m.text}
            for m in kb.measures(shown)
        ]
        if shown
        else []
    )
    normalized = normalize_text(question)
    return web.json_response(
        {
            "question": question,
            "normalized": normalized,
            "tokens": _tokens(normalized),
            "intent": parsed.get("intent"),
            "intent_ranking": (parsed.get("intent_ranking") or [])[:6],
            "entities": parsed.get("entities") or [],
            "replies": replies,
            "cited": cited,
            "related": related,
            "answerability": decision,
            "measures": measures,
        }
    )
