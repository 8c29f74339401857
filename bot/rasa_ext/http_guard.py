"""The Rasa server's request framing, checked before a body is read (Sanic 21.12 inside Rasa 3.6.21).

Sanic 21.12 (``sanic/http.py``, ``Http.http1_request_header``) treats a body as chunked only when
``Transfer-Encoding`` is exactly ``chunked``; any other value (``chunked, identity``) sends it to
``headers["content-length"]``, a ``KeyError`` answered with 500 when there is none, and a request
with both ``Content-Length`` and ``Transfer-Encoding`` is read by its ``Content-Length`` and the
connection kept open, so what follows is answered as another request (RFC 9112 §6.1: such a
message must be handled as an error or the connection closed after it; proxies that read it
the other way are how requests are smuggled). Sanic also takes a compressed body as it is.

:func:`check_framing` runs on Sanic's ``http.lifecycle.request`` signal, which Sanic dispatches
inline once the headers are parsed and before it looks at the body's framing. It raises:

- 400 for both ``Content-Length`` and ``Transfer-Encoding``, and for a ``Transfer-Encoding``
  other than exactly ``chunked`` (one header, one coding);
- 415 for a ``Content-Encoding`` other than ``identity``.

An exception raised there is answered by Sanic's error handler while the connection is still in
its request stage, and Sanic closes a connection after an error in that stage
(``Http.error_response`` sets ``keep_alive = False``), so nothing pipelined after it is read.

:func:`install` wraps ``rasa.core.run.configure_app`` (which ``serve_application`` calls by that
name) so the signal is registered on the app Rasa serves; ``tests/e2e/test_rasa_framing.py``
sends the requests to the real server. Pinned to Sanic 21.12.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

SANIC_VERSION = "21.12"
EVENT = "http.lifecycle.request"


def framing_problem(headers: Any) -> tuple[int, str] | None:
    """``(status, message)`` for a request whose headers frame its body in a way refused here, else None.

    Args:
        headers: Sanic's ``Header`` (a multidict with ``getall``), lower-case names.
    """
    codings = headers.getall("transfer-encoding", [])
    if codings and headers.getall("content-length", []):
        return 400, "both Content-Length and Transfer-Encoding: send one of them"
    if codings and codings != ["chunked"]:
        return 400, "unsupported Transfer-Encoding: only 'chunked' is accepted"
    encodings = [e.strip().lower() for v in headers.getall("content-encoding", []) for e in v.split(",")]
    if any(e and e != "identity" for e in encodings):
        return 415, "Content-Encoding is not supported: send the body uncompressed"
    return None


async def check_framing(request: Any, **_: Any) -> None:
    """The ``http.lifecycle.request`` handler: raise a Sanic error for :func:`framing_problem`'s refusals."""
    from sanic.exceptions import SanicException

    problem = framing_problem(request.headers)
    if problem is not None:
        status, message = problem
        log.info("request refused with %d: %s", status, message)
        raise SanicException(message, status_code=status)


def register(app: Any) -> Any:
    """Register :func:`check_framing` on the Sanic ``app`` (once); returns ``app``."""
    if not getattr(app.ctx, "framing_checked", False):
        app.signal(EVENT)(check_framing)
        app.ctx.framing_checked = True
    return app


def install() -> None:
    """Make ``rasa.core.run.configure_app`` register :func:`check_framing` on every app it builds (idempotent)."""
    import sanic
    from rasa.core import run

    if not sanic.__version__.startswith(SANIC_VERSION):
        log.warning("Sanic %s is not %s: request framing is left to Sanic", sanic.__version__, SANIC_VERSION)
        return
    original = run.configure_app
    if getattr(original, "framing_checked", False):
        return

    @functools.wraps(original)
    def configure_app(*args: Any, **kwargs: Any) -> Any:
        return register(original(*args, **kwargs))

    configure_app.framing_checked = True  # type: ignore[attr-defined]
    run.configure_app = configure_app
