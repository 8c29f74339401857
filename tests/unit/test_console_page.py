"""The console page's script and HTML: its words come from wording.yml, nothing inline, no HTML insertion.

``web/static/console.js`` shows only words it reads from ``GET /console/api/wording``: each
``t("name")`` must be in the file's ``ui`` section, each ``ui`` word must be used, and the entity
labels it looks up must cover the entities NLU finds.
"""

from __future__ import annotations

import re

import pytest
import yaml

from bot.webapp.console import wording
from tests.support.paths import ROOT

SCRIPT = (ROOT / "web" / "static" / "console.js").read_text(encoding="utf-8")
PAGE = (ROOT / "web" / "console.html").read_text(encoding="utf-8")
CJK = re.compile(r"[\u4e00-\u9fff]")
NESTED = ("entities", "aspects")  # ui mappings the script reads as W.ui.<name>[code]


def _used_words() -> set[str]:
    return set(re.findall(r"\bt\(\"([a-z_]+)\"", SCRIPT))


def test_every_word_the_script_shows_is_in_the_ui_section():
    missing = _used_words() - set(wording.load()["ui"])
    assert not missing, f"console.js uses ui words wording.yml lacks: {sorted(missing)}"


def test_every_ui_word_is_used():
    ui = set(wording.load()["ui"])
    unused = ui - _used_words() - set(NESTED)
    assert not unused, f"wording.yml ui words console.js never shows: {sorted(unused)}"
    for name in NESTED:
        assert f"W.ui.{name}" in SCRIPT


def test_ui_words_are_chinese_or_a_date_pattern():
    for name, text in wording.load()["ui"].items():
        values = text.values() if isinstance(text, dict) else [text]
        for value in values:
            assert isinstance(value, str), name
            assert CJK.search(value), f"ui.{name} = {value!r} is not Chinese"


def _calls(name: str) -> list[str]:
    """The argument text of every ``t("name", ...)`` call in the script (balanced parentheses)."""
    found = []
    for match in re.finditer(r"\bt\(\"" + name + r"\"", SCRIPT):
        depth, end = 0, match.start() + 1
        for end in range(match.start() + 1, len(SCRIPT)):
            depth += {"(": 1, ")": -1}.get(SCRIPT[end], 0)
            if depth == 0:
                break
        found.append(SCRIPT[match.end() : end])
    return found


def test_the_placeholders_are_the_ones_the_script_fills():
    """Each ``{name}`` of a ui word is a value the script passes to ``t`` for it."""
    ui = wording.load()["ui"]
    for name in _used_words():
        names = set(re.findall(r"\{(\w+)\}", ui[name]))
        calls = _calls(name)
        assert calls, name
        for arguments in calls:
            if not names:
                assert arguments == "", (name, arguments)
            elif arguments.strip(", ").startswith("{"):
                given = set(re.findall(r"(\w+):", arguments))
                assert names <= given, (name, names, arguments)
            else:  # a variable holding the values (the date parts)
                assert re.fullmatch(r",\s*\w+", arguments), (name, arguments)


def test_dates_are_written_the_chinese_way():
    ui = wording.load()["ui"]
    fill = {"y": 2026, "m": 12, "d": 1, "hh": "09", "mm": "05"}
    assert ui["date_long"].format(**fill) == "2026年12月1日"
    assert ui["date_short"].format(**fill) == "12月1日"
    assert ui["datetime"].format(**fill) == "2026年12月1日 09:05"


def test_every_entity_has_a_label():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert set(domain["entities"]) <= set(wording.load()["ui"]["entities"])


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"\.innerHTML\b", "user text would be parsed as HTML"),
        (r"\.outerHTML\b", "user text would be parsed as HTML"),
        (r"insertAdjacentHTML", "user text would be parsed as HTML"),
        (r"document\.write", "user text would be parsed as HTML"),
        (r"\beval\(|new Function\(", "code from text"),
        (r"setAttribute\(\s*\"style\"", "inline style attributes are refused by the CSP"),
        (r"https?://", "everything comes from this origin"),
    ],
)
def test_the_script_never(pattern, why):
    assert not re.search(pattern, SCRIPT), why


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"<script(?![^>]*\bsrc=)[^>]*>", "inline script (the CSP refuses it)"),
        (r"<style", "inline style (the CSP refuses it)"),
        (r"\sstyle\s*=", "style attribute (the CSP refuses it)"),
        (r"\son[a-z]+\s*=", "inline event handler (the CSP refuses it)"),
        (r"https?://|\bsrc=\"//", "another host"),
    ],
)
def test_the_page_has_no(pattern, why):
    assert not re.search(pattern, PAGE), why


def test_the_tabs_are_in_order_and_each_has_its_panel():
    tabs = re.findall(r'<button[^>]*role="tab"[^>]*id="tab-([a-z]+)"[^>]*aria-controls="([a-z]+)"[^>]*>([^<]+)<', PAGE)
    assert [(t[0], t[2]) for t in tabs] == [
        ("dashboard", "数据看板"),
        ("ask", "测试问答"),
        ("review", "待审问题"),
        ("eval", "批量评测"),
        ("knowledge", "知识库"),
        ("accounts", "账号管理"),
        ("audit", "操作日志"),
    ]
    for tab, panel, _ in tabs:
        assert tab == panel
        assert re.search(rf'<section id="{panel}" class="panel" role="tabpanel" aria-labelledby="tab-{tab}"', PAGE)


def test_every_table_has_a_caption_and_scoped_headers():
    for table in re.findall(r"<table\b.*?</table>", PAGE, flags=re.S):
        assert "<caption" in table, table[:80]
        for th in re.findall(r"<th\b[^>]*>", table):
            assert "scope=" in th, th


def test_the_existing_element_ids_are_kept():
    """The ids tests/e2e/test_console.py drives."""
    for name in (
        "user", "question", "ask-button", "normalized", "tokens", "ranking", "reply", "decision", "entities",
        "cited", "measure-text", "mark-right", "mark-wrong", "correct-intent", "correct-measure", "comment",
        "save-wrong", "saved", "tab-review", "groups", "conversation", "export", "eval-form", "cases", "run-eval",
        "eval-summary", "eval-table", "error", "result", "wrong-form",
    ):  # fmt: skip
        assert f'id="{name}"' in PAGE, name
