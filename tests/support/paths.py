"""Project paths the tests read, and building a knowledge base from them."""

from __future__ import annotations

from pathlib import Path

from bot import config

ROOT = config.PROJECT_ROOT
SOURCE = ROOT / "knowledge" / "source" / "gxga_fangguanfu_2018.txt"
LEXICON = ROOT / "knowledge" / "lexicon.yml"
ALIASES = ROOT / "knowledge" / "aliases.yml"


def build_kb(url: str, source: Path = SOURCE, userdict: Path | None = None):
    """Build a knowledge base at ``url`` from ``source`` with the project's lexicon and aliases."""
    from knowledge.build import build

    return build(url, source=source, lexicon=LEXICON, aliases=ALIASES, userdict_path=userdict)
