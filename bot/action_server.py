"""``python -m bot.action_server``: kept for operators and scripts; the code is in :mod:`bot.ops.action_server`."""

import sys

from bot.ops.action_server import main

if __name__ == "__main__":
    sys.exit(main())
