"""``python -m bot.console``: kept for operators and scripts; the code is in :mod:`bot.webapp.console`."""

import sys

from bot.webapp.console import main

if __name__ == "__main__":
    sys.exit(main())
