"""What the launchers share: the environment every Rasa process gets, and waiting for Ctrl-C.

``python -m bot run`` (:meth:`bot.ops.services.Services.watch`), ``make cluster``
(:func:`bot.ops.cluster.main`) and training (:func:`bot.ops.training.ensure_model`) use these,
so a process started by any of them behaves the same way.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable


def telemetry_env() -> dict[str, str]:
    """``RASA_TELEMETRY_ENABLED`` for a child process: off unless the environment turns it on.

    A government service does not report to Rasa's telemetry or Sentry unless told to.
    """
    return {"RASA_TELEMETRY_ENABLED": os.environ.get("RASA_TELEMETRY_ENABLED", "false")}


class StopSignals:
    """SIGINT and SIGTERM recorded instead of raised, from construction on.

    Installed before a slow start, a Ctrl-C during it is kept for :meth:`wait` instead of
    interrupting the start half-way.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.received = signum

    def wait(self, check: Callable[[], int | None], interval: float = 0.3) -> int:
        """Call ``check`` every ``interval`` seconds until a signal arrives or it returns an exit code.

        Returns:
            ``check``'s exit code, or 0 after SIGINT or SIGTERM.
        """
        while self.received is None:
            code = check()
            if code is not None:
                return code
            time.sleep(interval)
        return 0
