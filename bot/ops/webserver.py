"""``python -m bot.ops.webserver`` (alias ``python -m bot.web``): run the web server.

The residents' page and the staff console (:func:`bot.webapp.server.make_app`), with the
evaluation (:mod:`bot.quality.evaluate`) handed to the console's 批量评测 and every log line
redacted (:mod:`bot.text.logredact`), served through :mod:`bot.webapp.connections` (timeouts, a cap on
connections per address, no decompression).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from bot import config
from bot.quality import evaluate
from bot.text import logredact
from bot.webapp.connections import serve
from bot.webapp.server import make_app


def main(argv: list[str] | None = None) -> int:
    """Run the web server until interrupted.

    Returns:
        0 once the server has stopped.
    """
    settings = config.load_or_report()  # a malformed setting (e.g. a TRUSTED_PROXIES entry) stops start-up
    if settings is None:
        return 2
    parser = argparse.ArgumentParser(prog="python -m bot.web")
    parser.add_argument("--port", type=int, default=settings.web_port)
    parser.add_argument("--host", default=settings.web_host)
    parser.add_argument("--rasa-url", default=settings.rasa_url, help="the Rasa server (default: RASA_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logredact.install()  # no personal number or secret in any log line
    # served through bot.webapp.connections: header and body deadlines, connections per address, no decompression
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(serve(make_app(args.rasa_url, settings, evaluator=evaluate), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
