"""``python -m bot.ops.action_server``: Rasa SDK's action server, answering only the Rasa server.

``python -m rasa_sdk`` listens with no authentication: anyone who reaches its port can list the
actions (``GET /actions``) and run any of them with a forged tracker (``POST /webhook``), e.g.
write feedback rows past the channels' checks and rate limits. This launcher builds the same
Sanic application (:func:`rasa_sdk.endpoint.create_app`, the actions of ``--actions``) and adds:

- **a shared secret**: every route but ``/health`` requires the secret in ``ACTION_SERVER_TOKEN``,
  which Rasa sends as the ``token`` query parameter when the endpoints file gives the action
  endpoint ``token: ${ACTION_SERVER_TOKEN}`` (``rasa.utils.endpoints.EndpointConfig`` adds
  ``params[token_name] = token`` to every request; ``token_name`` defaults to ``token``). An
  ``Authorization: Bearer`` header is accepted too, for tools that should not put it in a URL.
  No secret → 401, a wrong one → 403, compared in constant time. The secret is read from the
  environment only, never from the command line, and the server refuses to start without one;
- **size and time limits** before anything is buffered: Sanic refuses a body whose
  ``Content-Length`` is over :data:`REQUEST_MAX_SIZE` with 413 without reading it, and drops a
  client that sends its headers slower than :data:`REQUEST_TIMEOUT`;
- **no echo of the tracker**: Rasa SDK's error handler answers a failing action with the whole
  request (the tracker, residents' messages included) in the body, which Rasa then writes into its
  log at ERROR level. Here a failure is logged (redacted, :mod:`bot.text.logredact`) and answered with a
  short error only;
- **redacted logs** (:func:`bot.text.logredact.install`) and no access log (its request line would
  carry the ``token`` parameter);
- **no idle CORS work**: Sanic-CORS's response middleware, which never adds a header here (no
  origin is allowed), is removed (:func:`drop_cors_response_middleware`); ``OPTIONS`` is answered
  as before.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys

TOKEN_VARIABLE = "ACTION_SERVER_TOKEN"
# Rasa posts the conversation's events since its session started plus the domain with every
# action call: measured, 7 KiB for the domain and 4-6 KiB per turn (a message of the full 1,000
# characters adds 12 KiB: its text twice, JSON-escaped), so 16 MiB holds some 3,000 ordinary
# turns of one session (it ends after 60 idle minutes). A longer one gets 413 and the apology.
REQUEST_MAX_SIZE = 16 * 1024 * 1024
REQUEST_TIMEOUT = 10  # seconds to receive a request's headers (the Rasa server sends at once)
RESPONSE_TIMEOUT = 60  # seconds of silence while reading a body or running an action
OPEN_PATHS = frozenset({"/health"})

log = logging.getLogger(__name__)


class MissingSecret(RuntimeError):
    """``ACTION_SERVER_TOKEN`` is not set: the server would be open to anyone."""


def secret_from_environment(environ: dict[str, str] | os._Environ = os.environ) -> str:
    """The shared secret.

    Raises:
        MissingSecret: the variable is unset or blank.
    """
    secret = (environ.get(TOKEN_VARIABLE) or "").strip()
    if not secret:
        raise MissingSecret(
            f"{TOKEN_VARIABLE} is not set: the action server does not run without the secret the Rasa "
            f"server sends (endpoints.yml: token: ${{{TOKEN_VARIABLE}}}). `python -m bot run` sets a "
            "random one; in Kubernetes it comes from the gxga-secrets Secret."
        )
    return secret


def presented_secret(args: dict, headers: dict) -> str | None:
    """The secret a request presents, or None when it presents none.

    That is the ``token`` query parameter (what Rasa sends), else an ``Authorization: Bearer`` header.
    """
    token = args.get("token")
    if token:
        return token
    authorization = headers.get("authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def secret_matches(presented: str, secret: str) -> bool:
    """Constant-time comparison (the time does not depend on how much of the secret matches)."""
    return hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


def create_app(actions: str, secret: str):
    """Rasa SDK's Sanic application for ``actions``, closed by ``secret`` and limited in size.

    Args:
        actions: the package or module with the ``Action`` classes (``actions``).
        secret: what Rasa sends as the action endpoint's ``token``.

    Raises:
        MissingSecret: ``secret`` is empty.
    """
    if not secret:
        raise MissingSecret(f"{TOKEN_VARIABLE} is empty")
    from rasa_sdk.endpoint import create_app as sdk_app
    from sanic import response
    from sanic.exceptions import SanicException

    from bot.text import logredact

    app = sdk_app(actions, cors_origins=None)  # no browser ever calls it: no CORS
    app.config.REQUEST_MAX_SIZE = REQUEST_MAX_SIZE
    app.config.REQUEST_TIMEOUT = REQUEST_TIMEOUT
    app.config.RESPONSE_TIMEOUT = RESPONSE_TIMEOUT

    @app.middleware("request")
    async def require_secret(request):
        # "NONE": the stand-in Sanic makes to answer an error before a request was read (408 …)
        if request.path in OPEN_PATHS or request.method == "NONE":
            return None
        presented = presented_secret(request.args, request.headers)
        if presented is None:
            return response.json(
                {"error": "the action server requires its token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="action server"'},
            )
        if not secret_matches(presented, secret):
            return response.json({"error": "wrong token"}, status=403)
        return None

    @app.exception(Exception)
    async def failed(request, exception: Exception):
        if isinstance(exception, SanicException):  # 404, 405, 413, 408 …: Sanic's own status
            return response.json({"error": str(exception)}, status=exception.status_code)
        # Rasa SDK answers with the request (the tracker) in the body; Rasa logs that body.
        log.error("action call %s failed", request.path, exc_info=exception)
        return response.json({"error": "the action failed; see the action server's log"}, status=500)

    @app.listener("before_server_start")
    async def cover_log_handlers(_app, _loop):
        logredact.cover_handlers()  # handlers Sanic or the actions added while starting

    @app.listener("before_server_start")
    async def without_idle_cors_middleware(app_, _loop):
        # registered after Sanic-CORS's own listener, which adds its middleware: so it runs after it
        drop_cors_response_middleware(app_)

    return app


def drop_cors_response_middleware(app) -> int:
    """Remove Sanic-CORS's response middleware from ``app``; how many were removed.

    Rasa SDK always installs Sanic-CORS; with no allowed origin (``cors_origins=None``) its response
    middleware never adds a header, yet it matches the path, builds the headers and formats its
    debug lines on every response (some 5 % of an action call). Its request middleware, which
    answers ``OPTIONS`` (200, empty), and its error handler stay, so every response is unchanged.
    """
    from sanic_cors.extension import unapplied_cors_response_middleware

    kept = [m for m in app.response_middleware if getattr(m, "func", None) is not unapplied_cors_response_middleware]
    removed = len(app.response_middleware) - len(kept)
    app.response_middleware.clear()
    app.response_middleware.extend(kept)
    return removed


def main(argv: list[str] | None = None) -> int:
    """Run the action server until interrupted; 2 when the secret is missing."""
    parser = argparse.ArgumentParser(prog="python -m bot.ops.action_server", description=__doc__.split("\n")[0])
    parser.add_argument("--actions", default="actions", help="the package with the actions (actions)")
    parser.add_argument("--port", type=int, default=None, help="the port (default: ACTION_PORT or 5055)")
    parser.add_argument(
        "--host", default=None, help="the address to listen on (default: SANIC_HOST, else 0.0.0.0; 127.0.0.1 embedded)"
    )
    args = parser.parse_args(argv)
    try:
        secret = secret_from_environment()
    except MissingSecret as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from rasa_sdk import utils
    from rasa_sdk.plugin import plugin_manager

    from bot import config
    from bot.text import logredact

    settings = config.load_or_report()
    if settings is None:
        return 2
    # as `python -m rasa_sdk` does, then redaction over whatever that set up
    utils.configure_colored_logging(logging.INFO)
    utils.update_sanic_log_level()
    logredact.install()
    app = create_app(args.actions, secret)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    if args.actions == "actions":
        from actions.base import warm_up

        warm_up()
    host = args.host or os.environ.get("SANIC_HOST") or "0.0.0.0"
    port = args.port or settings.action_port
    log.info("action server on http://%s:%s (every route but /health requires %s)", host, port, TOKEN_VARIABLE)
    app.run(host, port, workers=utils.number_of_sanic_workers(), access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
