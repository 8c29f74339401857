"""按主题浏览 and 常见问题 against ``python -m bot run``: what the page would send gets the measure's answer.

Each measure's ``payload`` from ``GET /api/topics``, and its first example to tap, sent through the
web server's ``/api/message`` as the page sends them, come back citing that measure; so does the
``/show_measure`` form that a measure no intent answers first would get.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from bot.webapp import topics

pytestmark = pytest.mark.e2e

# A handful across the sections: one intent, several intents answering first (22, 30), the last.
MEASURES = [1, 22, 24, 26, 30, 35, 44, 50]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert resp.headers["Cache-Control"] == "public, max-age=300"
        return json.loads(resp.read())


def _send(bot: dict, text: str) -> list[dict]:
    req = urllib.request.Request(
        bot["web_url"] + "/api/message",
        data=json.dumps({"sender": f"topics-{uuid.uuid4().hex[:8]}", "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _cited(messages: list[dict]) -> list[int]:
    return next((m["custom"]["measures"] for m in messages if "measures" in (m.get("custom") or {})), [])


def _citation(messages: list[dict]) -> dict | None:
    return next((m["custom"]["citation"] for m in messages if "citation" in (m.get("custom") or {})), None)


@pytest.fixture(scope="module")
def measures(running_bot) -> dict[int, dict]:
    answer = _get(running_bot["web_url"] + "/api/topics")
    return {m["number"]: m for s in answer["sections"] for m in s["measures"]}


@pytest.mark.parametrize("number", MEASURES)
def test_a_measures_payload_gets_its_answer_with_its_citation(running_bot, measures, number):
    measure = measures[number]
    messages = _send(running_bot, measure["payload"])
    assert _cited(messages)[:1] == [number], (measure["payload"], messages)
    citation = _citation(messages)
    assert citation and citation["number"] == number and citation["title"] == measure["title"], messages
    assert any(f"第{measure['label']}项「{measure['title']}」" in (m.get("text") or "") for m in messages)


@pytest.mark.parametrize("number", MEASURES)
def test_a_measures_first_example_is_answered_by_it(running_bot, measures, number):
    example = measures[number]["examples"][0]
    assert _cited(_send(running_bot, example))[:1] == [number], example


@pytest.mark.parametrize("number", [7, 49])
def test_the_show_measure_form_cites_the_measure(running_bot, measures, number):
    # what a measure without an intent of its own would send (every measure has one today)
    sent = topics.payload_for(number, {})
    messages = _send(running_bot, sent)
    assert _cited(messages) == [number], messages
    text = "\n".join(m.get("text") or "" for m in messages)
    assert f"第{measures[number]['label']}项「{measures[number]['title']}」" in text and "原文" in text


def test_the_faq_questions_get_their_measures(running_bot):
    questions = _get(running_bot["web_url"] + "/api/faq")["questions"]
    assert 1 <= len(questions) <= topics.FAQ_SIZE
    for q in questions:
        assert _cited(_send(running_bot, q["payload"]))[:1] == [q["measure"]], q
        assert _cited(_send(running_bot, q["text"]))[:1] == [q["measure"]], q
