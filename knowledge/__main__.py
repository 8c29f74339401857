"""``python -m knowledge build|show|search``: the command line is :mod:`bot.ops.knowledge_cli`.

That module reads the settings; the package itself takes database URLs as arguments.
"""

import sys

from bot.ops.knowledge_cli import main

sys.exit(main())
