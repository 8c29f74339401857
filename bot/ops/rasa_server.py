"""``python -m bot.ops.rasa_server run …``: Rasa's own command line, hardened.

The API token comes from the environment instead of the command line; requests are limited; logs are redacted.

- ``rasa run --auth-token=…`` shows the token to anyone who can list processes (``ps``,
  ``/proc/PID/cmdline``). This launcher reads ``RASA_API_TOKEN`` and hands it to Rasa's argument
  parser in-process, so the process's command line never carries it.
- Sanic accepts bodies up to 100 MB and waits 60 s for a request's headers; the REST channel's
  own 64 KiB cap is only checked once the body is buffered. Here Sanic refuses a body whose
  ``Content-Length`` is over :data:`REQUEST_MAX_SIZE` with 413 before reading it (nothing we use
  of Rasa's API takes more: messages, ``/model/parse``, the WeChat channel's XML; models are not
  uploaded over the API), drops a client whose headers take longer than :data:`REQUEST_TIMEOUT`,
  and Rasa's response timeout (which is also Sanic's idle timeout while a body is read) is
  :data:`RESPONSE_TIMEOUT` instead of Rasa's hour. The limits are ``SANIC_REQUEST_MAX_SIZE`` and
  ``SANIC_REQUEST_TIMEOUT`` in the environment (Sanic 21.12 reads ``SANIC_*`` when Rasa creates its
  app), so an operator can still set them; ``--response-timeout`` on the command line wins too.
- A request whose body framing is ambiguous or unsupported (``Content-Length`` with
  ``Transfer-Encoding``, a transfer coding other than ``chunked``) gets 400 and the connection is
  closed; a compressed body (``Content-Encoding``) gets 415 (:mod:`bot.rasa_ext.http_guard`).
- Every log record is redacted (:mod:`bot.text.logredact`), Rasa's tracker dumps included.
- ``run`` does not import what serving our model never uses (TensorFlow, matplotlib …:
  :mod:`bot.rasa_ext.lean_imports`), which more than halves the server's memory; the other
  commands (``train``, ``shell``, ``test`` …) import Rasa as usual.

Everything else is exactly ``python -m rasa``.
"""

from __future__ import annotations

import os
import sys

TOKEN_VARIABLE = "RASA_API_TOKEN"
REQUEST_MAX_SIZE = 1024 * 1024  # bytes; nginx and the Ingress allow 1m as well
REQUEST_TIMEOUT = 10  # seconds to receive the headers
RESPONSE_TIMEOUT = 120  # seconds; above the web server's 30 s and nginx's 60 s wait for Rasa


def argv_with_token(argv: list[str], environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """``argv`` (``rasa``'s arguments) with ``--enable-api --auth-token=TOKEN`` added if needed.

    They are added when the variable is set and the command is ``run``.
    """
    token = (environ.get(TOKEN_VARIABLE) or "").strip()
    if not token or not argv or argv[0] != "run":
        return list(argv)
    # one argument with "=": a random token may start with "-", which argparse would take for an option
    return [*argv, "--enable-api", f"--auth-token={token}"]


def argv_with_limits(argv: list[str]) -> list[str]:
    """``argv`` with ``--response-timeout`` set to :data:`RESPONSE_TIMEOUT` unless it names one."""
    if not argv or argv[0] != "run" or any(a.split("=")[0] == "--response-timeout" for a in argv):
        return list(argv)
    return [*argv, f"--response-timeout={RESPONSE_TIMEOUT}"]


def sanic_limits(environ: dict[str, str] | os._Environ = os.environ) -> dict[str, str]:
    """The ``SANIC_*`` variables to set: the limits above, unless the environment sets them."""
    defaults = {"SANIC_REQUEST_MAX_SIZE": str(REQUEST_MAX_SIZE), "SANIC_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
    return {name: value for name, value in defaults.items() if not (environ.get(name) or "").strip()}


def serves(argv: list[str]) -> bool:
    """Whether ``argv`` (``rasa``'s arguments) is ``run``: not ``train``, ``shell``, ``test`` ….

    Only ``run`` gets :mod:`bot.rasa_ext.lean_imports` (``run actions``, Rasa SDK's server, is
    indifferent to it).
    """
    return argv[:1] == ["run"]


def main() -> int:
    """Run Rasa's command line with the token, the limits and log redaction added.

    The Rasa server (``run``) also gets :func:`bot.rasa_ext.lean_imports.install`, before Rasa is
    imported, and :func:`bot.rasa_ext.rasa_patches.apply_serving` (graphs run without dask's scheduler).

    Returns:
        0 when Rasa's command returns (Rasa itself exits with 1 on a failure).
    """
    from bot.text import logredact

    logredact.install()
    os.environ.update(sanic_limits())
    if serves(sys.argv[1:]):
        from bot.rasa_ext import lean_imports

        lean_imports.install()
    from rasa.__main__ import main as rasa_main

    sys.argv = [sys.argv[0], *argv_with_limits(argv_with_token(sys.argv[1:]))]
    if serves(sys.argv[1:]):
        from bot.rasa_ext import http_guard, rasa_patches

        rasa_patches.apply_serving()
        http_guard.install()  # framing and Content-Encoding checked before a body is read
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
