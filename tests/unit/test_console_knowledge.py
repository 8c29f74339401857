"""知识库浏览's reading of the Rasa training data: annotations stripped, bad files left out."""

from __future__ import annotations

import logging
import os

import pytest

from bot.webapp.console.knowledge import strip_annotations, training_examples


@pytest.mark.parametrize(
    "example, expected",
    [
        ("[南宁](city)的户口怎么迁", "南宁的户口怎么迁"),
        ("看第[22](measure_number)项原文", "看第22项原文"),
        ("[暂住证](document:居住证)怎么办", "暂住证怎么办"),
        ('[南宁]{"entity": "city", "value": "南宁市"}落户', "南宁落户"),
        ("从[柳州](city)迁到[南宁](city)", "从柳州迁到南宁"),
        ("没有标注的问题", "没有标注的问题"),
        ("方括号[不是标注]也留着", "方括号[不是标注]也留着"),
        ("  [桂林](city)  ", "桂林"),
        ("", ""),
    ],
)
def test_entity_annotations_are_stripped(example, expected):
    assert strip_annotations(example) == expected


NLU = """version: "3.1"
nlu:
  - intent: ask_a
    examples: |
      - 在[南宁](city)办居住证
      - 第二个
      - 第二个
  - intent: ask_b
    examples:
      - text: 列表形式的[例子](thing)
      - 直接写的例子
  - synonym: 居住证
    examples: |
      - 暂住证
  - lookup: city
    examples: |
      - 南宁
"""


def test_examples_in_file_order_without_annotations_or_repeats(tmp_path):
    (tmp_path / "a.yml").write_text(NLU, encoding="utf-8")
    (tmp_path / "b.yml").write_text('version: "3.1"\nnlu:\n  - intent: ask_a\n    examples: |\n      - 第三个\n')
    (tmp_path / "notes.txt").write_text("not training data")
    assert training_examples(tmp_path) == {
        "ask_a": ("在南宁办居住证", "第二个", "第三个"),
        "ask_b": ("列表形式的例子", "直接写的例子"),
    }


@pytest.mark.parametrize(
    "content",
    ["nlu: [unclosed\n", "nlu: 3\n", "- a list\n", b"\xff\xfe not utf-8"],
    ids=["not-yaml", "nlu-not-a-list", "not-a-mapping", "not-utf8"],
)
def test_a_bad_file_is_logged_and_left_out(tmp_path, caplog, content):
    (tmp_path / "a.yml").write_text(NLU, encoding="utf-8")
    bad = tmp_path / "bad.yml"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    with caplog.at_level(logging.WARNING, logger="bot.webapp.console.knowledge"):
        found = training_examples(tmp_path)
    assert set(found) == {"ask_a", "ask_b"}
    assert "bad.yml" in caplog.text


def test_a_missing_directory_gives_no_examples(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.webapp.console.knowledge"):
        assert training_examples(tmp_path / "nowhere") == {}
    assert "nowhere" in caplog.text


def test_read_once_and_again_when_a_file_changes(tmp_path):
    path = tmp_path / "a.yml"
    path.write_text(NLU, encoding="utf-8")
    first = training_examples(tmp_path)
    assert training_examples(tmp_path) is first
    path.write_text(NLU.replace("第二个", "改过的"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert training_examples(tmp_path)["ask_a"] == ("在南宁办居住证", "改过的")


def test_the_project_training_data_is_read():
    examples = training_examples()
    assert len(examples["ask_residence_permit_conditions"]) >= 3
    assert "看第22项原文" in examples["show_measure"]
