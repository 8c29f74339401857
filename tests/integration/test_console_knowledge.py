"""知识库浏览: the console's GET /console/api/knowledge on the real knowledge base, in-process."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from bot.webapp.console.knowledge import EXAMPLES_PER_INTENT, MAX_QUERY_CHARS, training_examples
from knowledge.intent_map import load_intent_map
from knowledge.parser import EXPECTED_MEASURES
from tests.support.webapp import make_settings, request, serve, staff_headers

CJK = re.compile(r"[\u4e00-\u9fff]")
SECTIONS = ["一、强化严打整治", "二、优化审批服务", "三、规范涉企执法", "四、提升亲企服务", "五、狠抓督察保障"]


@pytest.fixture(scope="module")
def console(sqlite_kb_url, tmp_path_factory):
    """The console over the session's SQLite knowledge base, logged in."""
    settings = make_settings(tmp_path_factory.mktemp("knowledge"), database_url=sqlite_kb_url)
    with serve(settings) as server:
        yield {**server, "headers": staff_headers(server["url"], settings)}


def _browse(console, q: str | None = None) -> tuple[int, dict]:
    path = "/console/api/knowledge" + ("?" + urllib.parse.urlencode({"q": q}) if q is not None else "")
    status, _, body = request(console["url"] + path, headers=console["headers"])
    return status, json.loads(body)


def _measures(answer: dict) -> dict[int, dict]:
    return {m["number"]: m for s in answer["sections"] for m in s["measures"]}


def test_all_measures_by_section_with_text_and_facts(console):
    status, answer = _browse(console)
    assert status == 200
    assert answer["document"]["issued_on"] == "2018-08-10" and "放管服" in answer["document"]["title"]
    assert [s["name"] for s in answer["sections"]] == SECTIONS
    measures = _measures(answer)
    assert sorted(measures) == list(range(1, EXPECTED_MEASURES + 1)) and answer["total"] == EXPECTED_MEASURES
    for section in answer["sections"]:
        numbers = [m["number"] for m in section["measures"]]
        assert numbers == sorted(numbers) and numbers
    for m in measures.values():
        assert CJK.search(m["text"]) and m["title"] and m["label"].startswith("（")
        for fact in m["facts"]:
            assert fact["value"] and CJK.search(fact["type_label"]), fact
    assert {"type": "threshold", "type_label": "数量标准", "value": "满半年", "canonical": "满半年"} in measures[24][
        "facts"
    ]


def test_each_intent_is_shown_under_the_measures_it_cites_with_a_few_examples(console):
    measures = _measures(_browse(console)[1])
    examples = training_examples()
    for spec in load_intent_map().values():
        for number in spec.measures:
            [shown] = [i for i in measures[number]["intents"] if i["intent"] == spec.intent]
            assert shown["label"] == spec.label and shown["primary"] == (number == spec.primary)
            assert 0 < len(shown["examples"]) <= EXAMPLES_PER_INTENT, spec.intent
            assert set(shown["examples"]) <= set(examples[spec.intent])
    cited = {n for spec in load_intent_map().values() for n in spec.measures}
    for number, m in measures.items():
        assert bool(m["intents"]) == (number in cited)
    permit = next(i for i in measures[24]["intents"] if i["intent"] == "ask_residence_permit_conditions")
    assert all("[" not in e and "](" not in e for e in permit["examples"])


@pytest.mark.parametrize(
    "q, word, includes",
    [
        ("居住证", "居住证", {24}),
        ("暂住证", "居住证", {24}),  # the resident's word finds the document's term
        ("  居住证  ", "居住证", {24}),
        ("12389", "12389", set()),
        ("80%", "80%", set()),
        ("消防", "消防", set()),
    ],
)
def test_the_keyword_filter_keeps_the_measures_that_hold_it(console, q, word, includes):
    status, answer = _browse(console, q)
    assert status == 200 and answer["query"] == q.strip()
    measures = _measures(answer)
    assert measures and includes <= set(measures)
    assert all(word in m["title"] + m["text"] for m in measures.values())
    everything = _measures(_browse(console)[1])
    assert set(measures) == {n for n, m in everything.items() if word in m["title"] + m["text"]}
    assert answer["total"] == len(measures) and all(s["measures"] for s in answer["sections"])


@pytest.mark.parametrize("q", ["<script>alert(1)</script>", "' OR 1=1 --", "%_%", "没有这个词"])
def test_a_keyword_no_measure_holds_finds_nothing(console, q):
    status, answer = _browse(console, q)
    assert status == 200 and answer["sections"] == [] and answer["total"] == 0


@pytest.mark.parametrize("q", ["", "   "])
def test_an_empty_keyword_is_no_filter(console, q):
    status, answer = _browse(console, q)
    assert status == 200 and answer["total"] == EXPECTED_MEASURES


@pytest.mark.parametrize("q", ["居" * (MAX_QUERY_CHARS + 1), "x" * 5000])
def test_an_over_long_keyword_is_refused_in_chinese(console, q):
    status, answer = _browse(console, q)
    assert status == 400 and CJK.search(answer["error"])


def test_an_unbuilt_knowledge_base_answers_503_in_chinese(tmp_path):
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with serve(settings) as server:
        status, _, body = request(
            server["url"] + "/console/api/knowledge", headers=staff_headers(server["url"], settings)
        )
    assert status == 503 and CJK.search(json.loads(body)["error"])


def test_the_knowledge_browser_needs_a_session(console):
    status, _, _ = request(console["url"] + "/console/api/knowledge")
    assert status == 401
