"""``docs/layout.md`` lists every module with its line count and docstring (``scripts/layout_doc.py``)."""

from __future__ import annotations

import importlib.util

from tests.support.paths import ROOT


def test_the_layout_doc_is_up_to_date():
    spec = importlib.util.spec_from_file_location("layout_doc", ROOT / "scripts" / "layout_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = module.DOC.read_text(encoding="utf-8")
    assert module.render(current) == current, "docs/layout.md is out of date: run scripts/layout_doc.py"
