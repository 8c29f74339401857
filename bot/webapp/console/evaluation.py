"""批量评测: the evaluation run on a case file uploaded to the console.

The evaluator (:mod:`bot.quality.evaluate`) is handed to the application by
``python -m bot.ops.webserver`` as ``app["evaluator"]``; without one the route answers 503.
"""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import web

from bot.webapp.console.common import settings_of

MAX_CASE_BYTES = 512 * 1024
MAX_CASES = 1000


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
        raw = field.file.read(MAX_CASE_BYTES + 1) if isinstance(field, web.FileField) else str(field or "").encode()
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
    settings = settings_of(request)
    url = request.app["rasa_url"]
    report = await asyncio.get_running_loop().run_in_executor(
        None, partial(evaluator.evaluate, cases, url=url, token=settings.rasa_api_token)
    )
    return web.json_response(report)
