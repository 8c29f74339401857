"""``python -m bot.quality.decision --rasa-model M --out F``: train the decision model into ``F``.

Run by :func:`bot.ops.training.ensure_decision_model` in a process of its own, as ``rasa train`` is:
what earlier code did to jieba's dictionary in the calling process (a test session teaching it
other terms) must not change the words the model is trained on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot import config
from bot.quality.decision.cases import CaseFileError
from bot.quality.decision.run import write_bundle


def main(argv: list[str] | None = None) -> int:
    """Train and write the bundle; exit 2 on a malformed case file."""
    parser = argparse.ArgumentParser(prog="python -m bot.quality.decision", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rasa-model", type=Path, required=True, help="the trained Rasa model the cases are parsed with"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the decision model (.npz)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        write_bundle(config.load(), args.rasa_model, args.out)
    except CaseFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
