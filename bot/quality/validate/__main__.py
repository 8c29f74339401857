"""``python -m bot.quality.validate``."""

import sys

from bot.quality.validate import main

sys.exit(main())
