"""``python -m bot.rasa_server``: kept for operators and scripts; the code is in :mod:`bot.ops.rasa_server`."""

import sys

from bot.ops.rasa_server import main

if __name__ == "__main__":
    sys.exit(main())
