"""``python -m bot.validate``: kept for operators and scripts; the code is in :mod:`bot.quality.validate`."""

import sys

from bot.quality.validate import main

if __name__ == "__main__":
    sys.exit(main())
