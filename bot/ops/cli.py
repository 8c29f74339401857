"""Command line: ``python -m bot train|run|shell``.

``run`` prints where each service listens and stops them all on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys

from bot import config


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="广西公安“放管服”政务问答助手")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train the Rasa model unless it is up to date")
    sub.add_parser("run", help="start the action server and the Rasa server (REST channel)")
    sub.add_parser("shell", help="chat in the terminal")
    ev = sub.add_parser("eval", help="run a case file through the real stack and report accuracy")
    ev.add_argument(
        "cases", nargs="+", help="YAML case file(s) (see bot/quality/evaluate.py); their cases are run together"
    )
    ev.add_argument("--out", help="write per-case results and the summary as JSON here")
    ev.add_argument("--url", help="a running Rasa server (default: start one for the run)")
    ev.add_argument("--token", help="its API token, to read back intents (default: RASA_API_TOKEN)")
    cv = sub.add_parser("eval-cv", help="cross-validate the answer decision, grouped by author batch")
    cv.add_argument("--out", default="var/eval/cv.json", help="write the per-turn results and the report here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bot.text import logredact

    logredact.install()
    settings = config.load_or_report()
    if settings is None:
        return 2

    if args.command == "eval":
        return _eval(args, settings)
    if args.command == "eval-cv":
        return _eval_cv(args, settings)
    if settings.production and args.command in ("run", "shell") and settings.production_problems():
        # BOT_ENV=production shares every state between replicas; refuse a half-shared setup.
        print("BOT_ENV=production, but:\n  " + "\n  ".join(settings.production_problems()), file=sys.stderr)
        return 2

    from bot.ops.training import model_or_report

    model = model_or_report(settings)
    if model is None:
        return 1
    if args.command == "train":
        print(f"model: {model}")
        return 0

    import secrets
    from dataclasses import replace

    from bot.ops.services import Services, service_env

    if settings.rasa_api_token is None:
        # The console reads NLU details from Rasa's HTTP API, which is never on without a token:
        # make one for this run, shared only with our own processes.
        settings = replace(settings, rasa_api_token=secrets.token_urlsafe(24))
    if settings.action_server_token is None:
        # The action server answers only requests carrying this secret (Rasa sends it): one per run.
        settings = replace(settings, action_server_token=secrets.token_urlsafe(32))
    logredact.add_secrets([settings.rasa_api_token, settings.action_server_token])
    services = Services(settings=settings, model=model)
    if args.command == "shell":
        services.start()
        for name in ("rasa", "web"):
            services.processes.pop(name).kill()
        try:
            return subprocess.call(
                # through bot.ops.rasa_server: Rasa's own shell, with redacted logs
                [
                    sys.executable,
                    "-m",
                    "bot.ops.rasa_server",
                    "shell",
                    "--model",
                    str(model),
                    "--endpoints",
                    settings.endpoints_file.name,
                ],
                cwd=config.PROJECT_ROOT,
                env=service_env(settings),
            )
        finally:
            services.stop()

    services.start()
    try:
        services.wait_ready()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        services.stop()
        return 1
    lock = (
        (
            f"  lock store     redis://{settings.lock_store_host}:{settings.lock_store_port}/{settings.lock_store_db}"
            " (lock store: bot.rasa_ext.lock_store.AtomicRedisLockStore)\n"
        )
        if settings.production
        else ""
    )
    wechat = (
        (
            f"  WeChat         http://127.0.0.1:{settings.rasa_port}/webhooks/wechat/webhook"
            f" (store: {'Redis' if settings.redis_url else 'in-process'})\n"
        )
        if settings.wechat_enabled
        else ""
    )
    from knowledge.db import safe_url

    print(
        "\n广西公安“放管服”政务问答助手 is running:\n"
        f"  action server  http://127.0.0.1:{settings.action_port}/webhook\n"
        f"  Rasa server    http://127.0.0.1:{settings.rasa_port}/  (REST: POST {services.rest_url})\n"
        f"  web chat       http://127.0.0.1:{settings.web_port}/\n"
        f"  staff console  http://127.0.0.1:{settings.web_port}/console"
        "  (accounts: python -m bot.webapp.console add-user NAME)\n"
        f"{wechat}"
        f"  knowledge base {safe_url(settings.database_url)}\n"
        f"  tracker store  {safe_url(settings.tracker_url)}\n"
        f"{lock}"
        "Press Ctrl-C to stop them all.\n",
        flush=True,
    )
    return services.watch()


def _eval_cv(args, settings: config.Settings) -> int:
    from pathlib import Path

    from bot.ops.training import model_or_report
    from bot.quality.decision.cases import CaseFileError
    from bot.quality.decision.run import cross_validate, format_report

    model = model_or_report(settings)
    if model is None:
        return 1
    try:
        report = cross_validate(settings, model, Path(args.out))
    except CaseFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    print(f"per-turn results: {args.out}")
    return 0


def _eval(args, settings: config.Settings) -> int:
    import json
    from pathlib import Path

    from bot.quality.evaluate import CaseFileError, evaluate, format_summary, load_cases

    try:
        cases = [case for path in args.cases for case in load_cases(path)]
    except CaseFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = evaluate(cases, url=args.url, token=args.token or settings.rasa_api_token)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(format_summary(report["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
