"""``python -m bot.webapp.console add-user NAME``: see :mod:`bot.webapp.console.accounts`."""

import sys

from bot.webapp.console.accounts import main

sys.exit(main())
