"""``python -m bot.cluster``: kept for operators and scripts; the code is in :mod:`bot.ops.cluster`."""

import sys

from bot.ops.cluster import main

if __name__ == "__main__":
    sys.exit(main())
