"""``python -m bot.rasa_server run …``: Rasa's own command line, with the API token from the
environment instead of the command line.

``rasa run --auth-token=…`` shows the token to anyone who can list processes (``ps``,
``/proc/PID/cmdline``). This launcher reads ``RASA_API_TOKEN`` and hands it to Rasa's argument
parser in-process, so the process's command line never carries it; everything else is exactly
``python -m rasa``.
"""

from __future__ import annotations

import os
import sys

TOKEN_VARIABLE = "RASA_API_TOKEN"


def argv_with_token(argv: list[str], environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """``argv`` (``rasa``'s arguments) with ``--enable-api --auth-token=TOKEN`` added when the
    variable is set and the command is ``run``."""
    token = (environ.get(TOKEN_VARIABLE) or "").strip()
    if not token or not argv or argv[0] != "run":
        return list(argv)
    # one argument with "=": a random token may start with "-", which argparse would take for an option
    return [*argv, "--enable-api", f"--auth-token={token}"]


def main() -> None:
    """Run Rasa's command line with the token added."""
    from rasa.__main__ import main as rasa_main

    sys.argv = [sys.argv[0], *argv_with_token(sys.argv[1:])]
    rasa_main()


if __name__ == "__main__":
    main()
