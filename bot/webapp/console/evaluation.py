"""批量评测: the evaluation run on a case file uploaded to the console.

The evaluator (:mod:`bot.quality.evaluate`) is handed to the application by
``python -m bot.ops.webserver`` as ``app["evaluator"]``; without one the route answers 503.
"""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import web

from bot.webapp.bodies import BodyError, read_bounded, read_form
from bot.webapp.console import wording
from bot.webapp.console.common import error_response, settings_of

MAX_CASE_BYTES = 512 * 1024
MAX_CASES = 1000


async def run_eval(request: web.Request) -> web.Response:
    """Run the eval command on an uploaded case file (multipart field ``cases`` or a raw body).

    400 in Chinese for a multipart body without a valid boundary or that does not match it, and for
    a case file the evaluator refuses (:func:`bot.quality.evaluate.load_cases`: too deep, keys that
    are not text, a question over its length, …); 413 over :data:`MAX_CASE_BYTES` or
    :data:`MAX_CASES`.
    """
    import tempfile
    from pathlib import Path

    evaluator = request.app["evaluator"]
    if evaluator is None:
        return error_response(503, "eval_unavailable")
    try:
        if request.content_type.startswith("multipart/"):
            form = await read_form(request)
            field = form.get("cases")
            raw = field.file.read(MAX_CASE_BYTES + 1) if isinstance(field, web.FileField) else str(field or "").encode()
        else:
            raw = await read_bounded(request, MAX_CASE_BYTES)
    except BodyError as exc:
        if exc.status == 413:
            return error_response(413, "case_file_too_large", limit=MAX_CASE_BYTES)
        return error_response(exc.status, exc.code)
    if len(raw) > MAX_CASE_BYTES:
        return error_response(413, "case_file_too_large", limit=MAX_CASE_BYTES)
    with tempfile.NamedTemporaryFile("wb", suffix=".yml", delete=False) as tmp:
        tmp.write(raw)
    try:
        cases = evaluator.load_cases(tmp.name)
    except evaluator.CaseFileError as exc:
        # The checker's own words name the case and the field (the file's keys are English).
        detail = str(exc).replace(tmp.name, wording.error("case_file_name"))
        return error_response(400, "case_file_invalid", detail=detail)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    if len(cases) > MAX_CASES:
        return error_response(413, "too_many_cases", max=MAX_CASES)
    settings = settings_of(request)
    url = request.app["rasa_url"]
    report = await asyncio.get_running_loop().run_in_executor(
        None, partial(evaluator.evaluate, cases, url=url, token=settings.rasa_api_token)
    )
    return web.json_response(report)
