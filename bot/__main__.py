"""``python -m bot run|train|eval|shell``: the command line is :mod:`bot.ops.cli`."""

import sys

from bot.ops.cli import main

sys.exit(main())
