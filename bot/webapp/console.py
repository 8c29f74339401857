"""The hall staff console at /console (same server as the resident page, ``bot.webapp.server``).

Staff log in (accounts from ``python -m bot.webapp.console add-user NAME``; bcrypt hashes; sessions
that expire), ask a question and see everything behind the answer, mark answers right or wrong,
work through the review list built from real conversations, export the corrections as Rasa NLU
YAML, and run the eval on an uploaded case file. Without a session every page redirects to the
login page and every API answers 401.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
import uuid
from functools import partial

import yaml
from aiohttp import ClientError, web
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.webapp import review
from bot.storage import appdb
from bot.security.staff import STAFF_CHANNEL
from bot.security.staff import bearer_header
from bot.text.jsonlimits import JsonBodyError, bounded_int, loads
from bot.text.normalize import normalize_text

log = logging.getLogger(__name__)

COOKIE = "gxga_console"
CSRF_COOKIE = "gxga_csrf"
CSRF_HEADER = "X-CSRF-Token"
# Login throttling. Each attempt takes a slot before the password is checked, and a right
# password hands its slots back, so only failures (and attempts in flight) count: this many per
# account *and client address*, and this many per address over all accounts, in the window. There
# is deliberately no limit per account alone: it would let anyone, from anywhere, lock a staff
# member out; guessing from many addresses is bounded per address instead, and by the bcrypt cost
# and the minimum password length (bot.storage.appdb).
LOGIN_FAILURES = 5
LOGIN_FAILURES_PER_IP = 20  # a hall shares one address: lock an account sooner than the address
LOGIN_WINDOW_S = 15 * 60
# The login limiter (bot.security.ratelimit; in Redis when REDIS_URL is set).
LIMITER_KEY = web.AppKey("console_login_limiter", object)
MAX_CASE_BYTES = 512 * 1024
MAX_CASES = 1000
MAX_JSON_BYTES = 16 * 1024
MAX_CITED = 20  # a review's cited measures (the column holds about 30 numbers)
MAX_NAME_CHARS = 100  # intent names, as the review columns hold them


def _settings(request: web.Request) -> config.Settings:
    return request.app["settings"]


def current_user(request: web.Request) -> str | None:
    """The logged-in staff member, or None."""
    return appdb.session_user(request.cookies.get(COOKIE), url=_settings(request).app_database_url)


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(config.PROJECT_ROOT / "web" / name, headers={"Cache-Control": "no-store"})


def _failure_counter(settings: config.Settings):
    """The login limiter: in Redis (shared by every replica) when REDIS_URL is set."""
    from bot.security.ratelimit import limiter_for

    return limiter_for(settings, namespace="console")


def client_address(request: web.Request) -> str:
    """The staff member's address: the peer, or behind a proxy in ``TRUSTED_PROXIES`` the last
    untrusted ``X-Forwarded-For`` hop (the channel guard's rule, so a client cannot choose its
    address by writing the header); the peer itself when that leaves none (a local tool)."""
    from bot.security.ratelimit import client_ip

    peer = request.remote
    return client_ip(peer, request.headers.get("X-Forwarded-For"), _settings(request)) or peer or "unknown"


def _reserve_attempt(request: web.Request, username: str, address: str) -> list[tuple[str, object]] | None:
    """Take a slot of every login limit for this attempt before the password is checked, each in
    one atomic step, so concurrent guesses cannot all pass the limit; None (nothing kept) when one
    is full.

    Returns:
        ``(key, token)`` of each slot, to hand back with :func:`_release` after a right password.
    """
    limiter = request.app[LIMITER_KEY]
    limits = ((f"ip:{address}", LOGIN_FAILURES_PER_IP), (f"user:{username.lower()}|ip:{address}", LOGIN_FAILURES))
    taken: list[tuple[str, object]] = []
    for key, limit in limits:
        token = limiter.reserve(key, limit, LOGIN_WINDOW_S)
        if token is None:
            _release(request, taken)
            return None
        taken.append((key, token))
    return taken


def _release(request: web.Request, slots: list[tuple[str, object]]) -> None:
    limiter = request.app[LIMITER_KEY]
    for key, token in slots:
        limiter.release(key, token)


def _csrf_ok(request: web.Request, submitted: str | None) -> bool:
    """Double-submit check: the form field or header must equal the CSRF cookie."""
    import hmac

    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))


def _with_csrf_cookie(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Give the browser a CSRF token (readable by our page's script) if it has none."""
    import secrets

    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, samesite="Strict",
                            path="/console", secure=_settings(request).console_secure_cookie)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form (?failed=1 after a wrong password, ?locked=1 when throttled)."""
    return _with_csrf_cookie(request, _page("login.html"))


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the CSRF token, the throttle and the credentials; on success set the session cookie.

    The attempt takes its throttle slots (:func:`_reserve_attempt`) before the one bcrypt check
    of :func:`bot.storage.appdb.login`, and gives them back when the password was right.
    """
    form = await request.post()
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="CSRF token missing or wrong: reload the login page")
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:256]
    settings = _settings(request)
    address = client_address(request)
    slots = _reserve_attempt(request, username, address)
    if slots is None:
        log.warning("console login throttled for %r from %s", username, address)
        raise web.HTTPFound("/console/login?locked=1")
    try:
        token = await asyncio.get_running_loop().run_in_executor(
            None, partial(appdb.login, username, password, settings.console_session_hours, settings.app_database_url)
        )
    except Exception:
        _release(request, slots)  # the account database failed: no verdict on the password
        raise
    if token is None:
        log.warning("console login failed for %r from %s", username, address)
        raise web.HTTPFound("/console/login?failed=1")
    _release(request, slots)  # a right password: only wrong ones (and a dropped request) keep theirs
    response = web.HTTPFound("/console")
    response.set_cookie(COOKIE, token, max_age=int(settings.console_session_hours * 3600), httponly=True,
                        samesite="Strict", path="/console", secure=settings.console_secure_cookie)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (the form carries the CSRF token)."""
    form = await request.post()
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    appdb.logout(request.cookies.get(COOKIE), url=_settings(request).app_database_url)
    response = web.HTTPFound("/console/login")
    response.del_cookie(COOKIE, path="/console")
    raise response


async def console_page(request: web.Request) -> web.StreamResponse:
    """The console (login required)."""
    if current_user(request) is None:
        raise web.HTTPFound("/console/login")
    return _with_csrf_cookie(request, _page("console.html"))


@web.middleware
async def require_staff(request: web.Request, handler):
    """401 for every /console/api/ call without a live session."""
    if request.path.startswith("/console/api/"):
        user = current_user(request)
        if user is None:
            return web.json_response({"error": "login required"}, status=401)
        if request.method == "POST" and not _csrf_ok(request, request.headers.get(CSRF_HEADER)):
            return web.json_response({"error": "CSRF token missing or wrong: reload the console"}, status=403)
        request["staff"] = user
    return await handler(request)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json_body(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict:
    """The request's JSON object, parsed within :mod:`bot.text.jsonlimits` limits.

    Raises:
        web.HTTPRequestEntityTooLarge: over ``limit`` bytes (refused from ``Content-Length`` first).
        web.HTTPBadRequest: not UTF-8, not JSON, nested too deep, a number out of range, or not an
            object (a JSON ``{"error": ...}`` body saying which).
    """
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    raw = await request.read()
    if len(raw) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(raw))
    try:
        body = loads(raw, max_bytes=limit, empty={})
    except JsonBodyError as exc:
        raise _bad_request(str(exc)) from exc
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


def _tokens(text: str) -> list[str]:
    import jieba

    return [t for t in jieba.lcut(text) if t.strip()]


async def ask(request: web.Request) -> web.Response:
    """Everything behind an answer: normalised text, tokens, intent ranking, entities, the reply
    a resident would get, the cited measures with their full text."""
    body = await _json_body(request)
    question = body.get("text")
    from bot.webapp.server import message_limits

    max_chars = message_limits(_settings(request))[0]
    if not isinstance(question, str) or not question.strip() or len(question) > max_chars:
        return web.json_response({"error": f"text must be 1-{max_chars} characters"}, status=400)
    settings, session = _settings(request), request.app["rasa_session"]
    if not settings.rasa_api_token:
        return web.json_response({"error": "RASA_API_TOKEN is not set: the console cannot reach the staff channel"},
                                 status=503)
    base = request.app["rasa_url"]
    try:
        async with session.post(f"{base}/model/parse", params={"token": settings.rasa_api_token or ""},
                                json={"text": question}) as resp:
            parsed = await resp.json() if resp.status == 200 else {}
        # The staff channel (bot/rasa_ext/channels/staff.py) stores the conversation as staff traffic.
        sender = f"console-{request['staff']}-{uuid.uuid4().hex[:8]}"
        async with session.post(f"{base}/webhooks/{STAFF_CHANNEL}/webhook", json={"sender": sender, "message": question},
                                headers=bearer_header(settings.rasa_api_token)) as resp:
            if resp.status != 200:
                log.warning("the staff channel answered %s", resp.status)
                return web.json_response({"error": f"the Rasa server's staff channel answered {resp.status}"},
                                         status=502)
            replies = await resp.json()
    except (ClientError, asyncio.TimeoutError):
        return web.json_response({"error": "the Rasa server is unavailable"}, status=503)
    cited = next((m["custom"]["measures"] for m in replies if "measures" in (m.get("custom") or {})), [])
    # The action's answerability decision and its reason (actions/answerability.py), and the
    # measure offered only as related when the notice does not answer.
    decision = next((m["custom"]["answerability"] for m in replies if "answerability" in (m.get("custom") or {})), None)
    related = next((m["custom"]["related"] for m in replies if "related" in (m.get("custom") or {})), [])
    kb = request.app["kb"]
    shown = cited or related
    measures = [{"number": m.number, "label": m.label, "title": m.title, "section": m.section, "text": m.text}
                for m in kb.measures(shown)] if shown else []
    normalized = normalize_text(question)
    return web.json_response({
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
    })


def _optional_text(body: dict, name: str, max_chars: int | None = None) -> str | None:
    """``body[name]`` as text (None when absent, null or empty).

    Raises:
        ValueError: not a string, or over ``max_chars`` characters.
    """
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(f"{name} over {max_chars} characters")
    return value


def review_fields(body: dict) -> dict:
    """The arguments of :func:`bot.storage.appdb.record_review` from a review request's body.

    Raises:
        ValueError: a field of the wrong type or out of range: ``verdict`` not right/wrong,
            ``cited`` not a list of at most :data:`MAX_CITED` measure numbers 1-50,
            ``correct_measure`` not a measure number 1-50 (a number or its digits), a text field
            that is not text, an intent name over :data:`MAX_NAME_CHARS` characters.
    """
    verdict = body.get("verdict")
    if verdict not in ("right", "wrong"):
        raise ValueError("verdict must be 'right' or 'wrong'")
    cited = body.get("cited")
    if cited is None:
        cited = []
    if not isinstance(cited, list) or len(cited) > MAX_CITED:
        raise ValueError(f"cited must be a list of at most {MAX_CITED} measure numbers")
    numbers = [bounded_int(n, 1, 50) for n in cited]
    if None in numbers:
        raise ValueError("cited measure numbers must be whole numbers 1-50")
    correct_measure = body.get("correct_measure")
    if correct_measure is not None and correct_measure != "":
        correct_measure = bounded_int(correct_measure, 1, 50)
        if correct_measure is None:
            raise ValueError("correct_measure must be a whole number 1-50")
    else:
        correct_measure = None
    return {
        "question": _optional_text(body, "question") or "", "intent": _optional_text(body, "intent", MAX_NAME_CHARS),
        "cited": numbers, "verdict": verdict, "correct_measure": correct_measure,
        "correct_intent": _optional_text(body, "correct_intent", MAX_NAME_CHARS),
        "comment": _optional_text(body, "comment") or "",
    }


async def add_review(request: web.Request) -> web.Response:
    """Store a right/wrong verdict on an answer (400 for any field of the wrong type or range)."""
    body = await _json_body(request)
    try:
        fields = review_fields(body)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    review_id = appdb.record_review(username=request["staff"], url=_settings(request).app_database_url, **fields)
    return web.json_response({"id": review_id}, status=201)


async def review_list(request: web.Request) -> web.Response:
    """Questions for review, grouped and most asked first."""
    settings = _settings(request)
    tracker_url = review.tracker_url_for(settings)
    try:
        items = review.residents_questions(tracker_url) if tracker_url else []
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable for the review list: %s", type(exc).__name__)
        return web.json_response({"error": "the conversation store is unavailable"}, status=503)
    for r in appdb.list_reviews(url=settings.app_database_url, verdict="wrong"):
        items.append(review.Asked(sender=f"staff:{r.username}", text=r.question, intent=r.intent, confidence=None,
                                  reasons={"staff_marked_wrong"}))
    groups = review.group_questions(items)
    return web.json_response({"groups": [g.__dict__ for g in groups]})


async def conversation(request: web.Request) -> web.Response:
    """One resident conversation from the tracker store."""
    settings = _settings(request)
    sender = request.match_info["sender"][:255]
    tracker_url = review.tracker_url_for(settings)
    try:
        turns = review.conversation(tracker_url, sender) if tracker_url else []
    except SQLAlchemyError as exc:
        log.warning("tracker store unreadable for a conversation: %s", type(exc).__name__)
        return web.json_response({"error": "the conversation store is unavailable"}, status=503)
    return web.json_response({"sender": sender, "turns": turns})


def export_yaml(reviews: list[appdb.ReviewRecord]) -> str:
    """Rasa NLU YAML: the questions staff marked wrong, under their corrected intents."""
    by_intent: dict[str, list[str]] = {}
    for r in reviews:
        if r.verdict == "wrong" and r.correct_intent and r.question.strip():
            examples = by_intent.setdefault(r.correct_intent, [])
            if r.question not in examples:
                examples.append(r.question.replace("\n", " ").strip())
    nlu = [{"intent": intent, "examples": "".join(f"- {q}\n" for q in qs)} for intent, qs in sorted(by_intent.items())]
    header = "# Exported from the staff console: reviewed questions under their corrected intents.\n"
    return header + yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, sort_keys=False)


async def export(request: web.Request) -> web.Response:
    """Download the corrections as data/nlu YAML for maintainers to merge."""
    text = export_yaml(appdb.list_reviews(url=_settings(request).app_database_url))
    return web.Response(text=text, content_type="text/yaml", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="reviewed_nlu.yml"'})


async def run_eval(request: web.Request) -> web.Response:
    """Run the eval command on an uploaded case file (multipart field ``cases`` or a raw body)."""
    import tempfile
    from pathlib import Path

    evaluator = request.app["evaluator"]
    if evaluator is None:
        return web.json_response({"error": "the evaluation is not available on this server"}, status=503)
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        field = form.get("cases")
        raw = field.file.read(MAX_CASE_BYTES + 1) if hasattr(field, "file") else str(field or "").encode()
    else:
        raw = await request.read()
    if len(raw) > MAX_CASE_BYTES:
        return web.json_response({"error": f"case file over {MAX_CASE_BYTES} bytes"}, status=413)
    with tempfile.NamedTemporaryFile("wb", suffix=".yml", delete=False) as tmp:
        tmp.write(raw)
    try:
        cases = evaluator.load_cases(tmp.name)
    except evaluator.CaseFileError as exc:
        return web.json_response({"error": str(exc).replace(tmp.name, "uploaded file")}, status=400)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    if len(cases) > MAX_CASES:
        return web.json_response({"error": f"at most {MAX_CASES} cases"}, status=413)
    settings = _settings(request)
    url = request.app["rasa_url"]
    report = await asyncio.get_running_loop().run_in_executor(
        None, partial(evaluator.evaluate, cases, url=url, token=settings.rasa_api_token)
    )
    return web.json_response(report)


async def whoami(request: web.Request) -> web.Response:
    """The logged-in staff member and the intents to choose from when correcting."""
    from knowledge.intent_map import load_intent_map

    specs = load_intent_map()
    intents = [{"intent": s.intent, "label": s.label, "measures": list(s.measures)} for s in specs.values()]
    return web.json_response({"user": request["staff"], "intents": intents})


async def _prepare_login(app: web.Application) -> None:
    """Make the login's stand-in hash before the first request (bot.storage.appdb.prepare_login)."""
    await asyncio.get_running_loop().run_in_executor(None, appdb.prepare_login)


def add_routes(app: web.Application) -> None:
    """Mount the console on ``app`` (its middleware guards /console/api/; ``app["settings"]``
    must be set)."""
    app[LIMITER_KEY] = _failure_counter(app["settings"])
    app.on_startup.append(_prepare_login)
    app.middlewares.append(require_staff)
    app.router.add_get("/console", console_page)
    app.router.add_get("/console/", console_page)
    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login_submit)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/console/api/whoami", whoami)
    app.router.add_post("/console/api/ask", ask)
    app.router.add_post("/console/api/reviews", add_review)
    app.router.add_get("/console/api/review-list", review_list)
    app.router.add_get("/console/api/conversation/{sender}", conversation)
    app.router.add_get("/console/api/export", export)
    app.router.add_post("/console/api/eval", run_eval)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.webapp.console add-user NAME [--password-stdin]``: create a staff account."""
    parser = argparse.ArgumentParser(prog="python -m bot.webapp.console")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="create a console account")
    add.add_argument("username")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    try:
        appdb.add_staff_user(args.username, password, url=config.load().app_database_url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created console account {args.username}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
