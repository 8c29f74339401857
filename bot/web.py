"""``python -m bot.web``: kept for operators and scripts; the code is in :mod:`bot.ops.webserver`."""

import sys

from bot.ops.webserver import main

if __name__ == "__main__":
    sys.exit(main())
