"""数据看板: ``GET /console/api/stats?days=N`` and its CSV, the figures of :mod:`bot.webapp.stats`.

The page's charts, its tables and the CSV all read this one source. The most frequent unanswered
question groups come from the review list (:mod:`bot.webapp.review`), restricted to the period.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from functools import partial

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import audit
from bot.text.privacy import redact
from bot.webapp import review, stats, turns
from bot.webapp.console import wording
from bot.webapp.console.common import settings_of

log = logging.getLogger(__name__)


def _days(request: web.Request) -> int:
    """The ``days`` query parameter (30 when absent).

    Raises:
        web.HTTPBadRequest: not one of :data:`bot.webapp.stats.PERIODS`.
    """
    raw = request.query.get("days", "30")
    if raw not in {str(d) for d in stats.PERIODS}:
        raise web.HTTPBadRequest(
            text=web.json_response({"error": wording.error("days")}).text, content_type="application/json"
        )
    return int(raw)


def unanswered_groups(texts: list[tuple[str, str, int]], top: int = stats.TOP_UNANSWERED) -> list[dict]:
    """Merge the most asked unanswered texts into groups by the review list's rule, most asked first.

    Args:
        texts: ``(text, outcome, count)`` from :func:`bot.webapp.stats.unanswered_texts`.
        top: how many groups to return.
    """
    groups: list[dict] = []
    for stored, outcome, count in texts:
        text = redact(stored)  # the guard redacted it before Rasa stored it; this is for older rows
        key = review.group_key(text)
        words = review.group_words(key)
        reason = stats.UNANSWERED[outcome]
        for group in groups:
            if review.similar(key, words, group["key"], group["words"]):
                group["count"] += count
                group["reasons"].add(reason)
                if len(group["examples"]) < 5 and text not in group["examples"]:
                    group["examples"].append(text)
                break
        else:
            groups.append(
                {
                    "key": key,
                    "words": words,
                    "text": redact(text),
                    "count": count,
                    "reasons": {reason},
                    "examples": [redact(text)],
                }
            )
    groups.sort(key=lambda g: (-g["count"], g["text"]))
    return [
        {
            "key": g["key"],
            "text": g["text"],
            "count": g["count"],
            "reasons": sorted(g["reasons"]),
            "reason_labels": [wording.label("reasons", r) for r in sorted(g["reasons"])],
            "examples": g["examples"],
        }
        for g in groups[:top]
    ]


def figures(request: web.Request, days: int) -> stats.Stats:
    """The period's figures (blocking: run it in an executor)."""
    settings = settings_of(request)
    kb = request.app["kb"]
    titles = {m.number: (m.label, m.title) for m in kb.measures()}
    tracker_url = review.tracker_url_for(settings)
    outcomes = wording.load()["outcomes"]
    result = stats.compute(tracker_url, settings.app_database_url, days, outcomes, measure_titles=titles)
    if tracker_url:
        result.unanswered = unanswered_groups(stats.unanswered_texts(tracker_url, result.since, result.until, outcomes))
    return result


async def _computed(request: web.Request) -> stats.Stats | web.Response:
    days = _days(request)
    try:
        return await asyncio.get_running_loop().run_in_executor(None, partial(figures, request, days))
    except (SQLAlchemyError, turns.UnsupportedStore) as exc:
        log.warning("dashboard figures unavailable: %s", type(exc).__name__)
        return web.json_response({"error": wording.error("tracker_unavailable")}, status=503)


async def stats_json(request: web.Request) -> web.Response:
    """The figures of the last ``days`` (7, 30 or 90) days as JSON."""
    result = await _computed(request)
    if isinstance(result, web.Response):
        return result
    return web.json_response(result.to_json())


def to_csv(result: stats.Stats) -> str:
    """The figures as CSV: one table per figure, each under its own heading row, all labels in Chinese."""
    text = wording.load()["csv"]
    outcome_codes = list(result.outcomes)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([text["per_day"], f"{result.since.isoformat()} — {result.until.isoformat()}"])
    w.writerow([text["day"], text["total"]] + [wording.label("outcomes", c) for c in outcome_codes])
    for day in result.per_day:
        w.writerow([day["day"], day["total"]] + [day["outcomes"][c] for c in outcome_codes])
    w.writerow([])
    w.writerow([text["top_measures"]])
    w.writerow([text["measure"], text["title"], text["asked"], "👍", "👎"])
    for m in result.top_measures:
        w.writerow([m["label"], m["title"], m["asked"], m["up"], m["down"]])
    w.writerow([])
    w.writerow([text["channels"], text["count"]])
    for code, n in result.channels.items():
        w.writerow([wording.label("channels", code), n])
    w.writerow([])
    w.writerow([text["feedback"], text["count"]])
    for code, n in result.feedback.items():
        w.writerow([wording.label("feedback", code), n])
    w.writerow([])
    w.writerow([text["reply_ms"], text["replies_timed"]])
    w.writerow([result.reply_ms["median"], result.reply_ms["count"]])
    return out.getvalue()


async def stats_csv(request: web.Request) -> web.Response:
    """The same figures as a CSV download (UTF-8 with a byte-order mark, so Excel reads the Chinese)."""
    result = await _computed(request)
    if isinstance(result, web.Response):
        return result
    settings = settings_of(request)
    audit.record(
        actor=request["staff"],
        action="export_stats",
        target=f"{result.days}",
        detail=f"{result.since.isoformat()}..{result.until.isoformat()}",
        url=settings.app_database_url,
    )
    name = f"gxga-stats-{result.since.isoformat()}-{result.until.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + to_csv(result)).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


SUMMARY_EVERY_S = 30.0
SUMMARY_BUDGET_S = 20.0
SUMMARY_TASK: web.AppKey[asyncio.Task] = web.AppKey("dashboard_summary")


async def _keep_summary(app: web.Application) -> None:
    """Catch the dashboard's summary up every :data:`SUMMARY_EVERY_S` seconds (a first build in slices)."""
    settings = app["settings"]
    loop = asyncio.get_running_loop()
    while True:
        tracker_url = review.tracker_url_for(settings)
        if tracker_url:
            try:
                done = await loop.run_in_executor(
                    None,
                    partial(turns.catch_up, tracker_url, wording.load()["outcomes"], budget_s=SUMMARY_BUDGET_S),
                )
            except (SQLAlchemyError, turns.UnsupportedStore) as exc:
                log.warning("dashboard summary not caught up: %s", type(exc).__name__)
                done = True
            if not done:
                continue  # a first build: go on with the next slices at once
        await asyncio.sleep(SUMMARY_EVERY_S)


async def start_summary(app: web.Application) -> None:
    """Start :func:`_keep_summary` with the application (``on_startup``)."""
    app[SUMMARY_TASK] = asyncio.get_running_loop().create_task(_keep_summary(app))


async def stop_summary(app: web.Application) -> None:
    """Stop it with the application (``on_cleanup``)."""
    task = app.get(SUMMARY_TASK)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


ROUTES = (
    ("GET", "/console/api/stats", stats_json),
    ("GET", "/console/api/stats.csv", stats_csv),
)
