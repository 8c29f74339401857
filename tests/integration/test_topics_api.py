"""按主题浏览 and 常见问题: the resident page's GET /api/topics and GET /api/faq, in-process.

The topics come from the session's knowledge base; the 常见问题 from conversations written by
Rasa's own ``SQLTrackerStore`` (SQLite and PostgreSQL), counted as the dashboard counts them.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.parse

import pytest

from bot import config
from bot.rasa_ext import payload as payloads
from bot.webapp import topics
from bot.webapp.console.knowledge import training_examples
from knowledge.intent_map import load_intent_map
from knowledge.parser import EXPECTED_MEASURES
from tests.support import trackers
from tests.support.webapp import make_settings, request, serve

SECTIONS = ["一、强化严打整治", "二、优化审批服务", "三、规范涉企执法", "四、提升亲企服务", "五、狠抓督察保障"]
# What a resident typed, which must never come back as a 常见问题.
RESIDENT_TEXT = "我姓覃住在青秀区民族大道我家刻章的事情怎么弄"
HOSTILE_QUERIES = [
    "q=<script>alert(1)</script>",
    "days=999999999999999999999&limit=-1",
    "measure=1%27%20OR%201%3D1--&sender=../../etc/passwd",
    "days=7&days=90&size=100000",
    urllib.parse.urlencode({"q": "刻章" * 300}),
    "%ff%fe=%00%01",
]


def get(url: str) -> tuple[int, dict, dict]:
    status, headers, body = request(url)
    return status, headers, json.loads(body)


@pytest.fixture(scope="module")
def quiet(sqlite_kb_url, tmp_path_factory):
    """The web app over the session's knowledge base, before Rasa made any tracker store."""
    tmp = tmp_path_factory.mktemp("topics")
    settings = make_settings(tmp, database_url=sqlite_kb_url, tracker_db=tmp / "no-tracker.db")
    with serve(settings) as server:
        yield server


def _measures(answer: dict) -> dict[int, dict]:
    return {m["number"]: m for s in answer["sections"] for m in s["measures"]}


# --- GET /api/topics --------------------------------------------------------------------------


def test_topics_are_the_five_sections_and_fifty_measures(quiet):
    status, headers, answer = get(quiet["url"] + "/api/topics")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=300"
    assert [s["name"] for s in answer["sections"]] == SECTIONS
    assert [s["number"] for s in answer["sections"]] == [1, 2, 3, 4, 5]
    for section in answer["sections"]:
        assert section["name"] == section["label"] + section["title"] and section["label"].endswith("、")
        assert set(section) == {"number", "name", "label", "title", "measures"}
    measures = _measures(answer)
    assert sorted(measures) == list(range(1, EXPECTED_MEASURES + 1))
    for m in measures.values():
        assert set(m) == {"number", "label", "title", "payload", "examples"}
        assert m["label"].startswith("（") and m["label"].endswith("）") and m["title"], m
    assert measures[22]["title"] == "全面放开人才落户限制" and measures[22]["label"] == "（二十二）"


def test_every_payload_asks_for_its_own_measure_and_passes_the_payload_check(quiet):
    specs = load_intent_map()
    for number, m in _measures(get(quiet["url"] + "/api/topics")[2]).items():
        sent = m["payload"]
        assert payloads.sanitize(sent) == sent, sent  # nothing dropped: the check accepts it whole
        match = payloads.PAYLOAD_RE.match(sent)
        assert match and match["intent"] in payloads.domain_intents(), sent
        if match["intent"] == "show_measure":
            assert json.loads(match["entities"]) == {"measure_number": str(number)}
        else:
            assert not match["entities"] and specs[match["intent"]].primary == number, sent


def test_examples_are_a_few_training_examples_of_the_measures_intents(quiet):
    examples = training_examples()
    specs = load_intent_map()
    for number, m in _measures(get(quiet["url"] + "/api/topics")[2]).items():
        own = {t for spec in specs.values() if spec.primary == number for t in examples.get(spec.intent, ())}
        assert 1 <= len(m["examples"]) <= topics.EXAMPLES_PER_MEASURE, m
        assert len(set(m["examples"])) == len(m["examples"])
        for text in m["examples"]:
            assert text in own and "[" not in text and "](" not in text, (number, text)
        # the first example is one of the payload's own intent, so tapping it asks the same
        intent = m["payload"][1:]
        assert m["examples"][0] in examples[intent]


def test_a_measure_several_intents_answer_first_shows_examples_of_each(quiet):
    measure = _measures(get(quiet["url"] + "/api/topics")[2])[30]
    examples = training_examples()
    intents = {i for text in measure["examples"] for i in examples if text in examples[i]}
    assert {"ask_traffic_driving_test", "ask_traffic_vehicle_inspection", "ask_traffic_vehicle_transport"} <= intents


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
@pytest.mark.parametrize("path", ["/api/topics", "/api/faq"])
def test_query_strings_are_ignored(quiet, path, query):
    plain = get(quiet["url"] + path)
    status, headers, answer = get(f"{quiet['url']}{path}?{query}")
    assert status == 200 and answer == plain[2] and headers["Cache-Control"] == "public, max-age=300"
    assert "<script>" not in json.dumps(answer)


@pytest.mark.parametrize("path", ["/api/topics", "/api/faq"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get(quiet, path, method):
    status, _, _ = request(quiet["url"] + path, data=b"{}", method=method)
    assert status == 405


@pytest.mark.parametrize("path", ["/api/topics", "/api/faq"])
def test_public_and_framed_as_the_resident_page(quiet, path):
    status, headers, _ = request(quiet["url"] + path, headers={"Cookie": "gxga_session=forged"})
    assert status == 200
    assert headers["X-Content-Type-Options"] == "nosniff" and "frame-ancestors" in headers["Content-Security-Policy"]
    assert headers["Content-Type"].startswith("application/json")


def test_topics_without_a_knowledge_base_is_503_and_not_cached(tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty-kb.db'}"
    settings = make_settings(tmp_path, database_url=empty, tracker_db=tmp_path / "no-tracker.db")
    with serve(settings) as server:
        status, headers, answer = get(server["url"] + "/api/topics")
        assert status == 503 and headers["Cache-Control"] == "no-store" and answer["error"]
        assert "sections" not in server["app"][topics.TOPICS_KEY]
        # the 常见问题 need no knowledge base: the intents and the training data suffice
        status, _, faq = get(server["url"] + "/api/faq")
        assert status == 200 and [q["text"] for q in faq["questions"]] == [q.text for q in topics.load_faq_examples()]


def test_topics_are_built_once(quiet, monkeypatch):
    calls = []
    real = topics.sections
    monkeypatch.setattr(topics, "sections", lambda measures: calls.append(1) or real(measures))
    quiet["app"][topics.TOPICS_KEY].clear()
    first = [get(quiet["url"] + "/api/topics")[2] for _ in range(3)]
    assert len(calls) == 1 and first[0] == first[1] == first[2]


# --- GET /api/faq -----------------------------------------------------------------------------


def test_faq_without_a_tracker_store_is_the_fixed_list(quiet):
    status, headers, answer = get(quiet["url"] + "/api/faq")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=300"
    fixed = topics.load_faq_examples()
    assert answer == {"questions": [q.to_json() for q in fixed]}
    assert 1 <= len(answer["questions"]) <= topics.FAQ_SIZE
    assert answer["questions"][0] == {
        "text": "毕业生落户需要什么",
        "measure": 22,
        "payload": "/ask_settle_graduate_materials",
    }


def _now_minus(hours: float) -> float:
    return time.time() - hours * 3600


def user(text: str, intent: str, ts: float, channel: str = "web"):
    from rasa.shared.core.events import UserUttered

    parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return UserUttered(text, intent=parse["intent"], parse_data=parse, input_channel=channel, timestamp=ts)


def answer(ts: float, measure: int, reply: str = "measure_answer"):
    from rasa.shared.core.events import BotUttered

    return BotUttered("……", data={"custom": {"reply": reply, "measures": [measure]}}, timestamp=ts)


def conversations() -> dict[str, list]:
    """Measure 30 answered three times, 24 twice, 49 once (as a resident's own words), 22 once.

    Also: the console's own questions on measure 1 (left out), answers older than 30 days on
    measure 2 (left out) and a question that was not answered (measure 3 only as a pointer).
    """
    old = time.time() - 40 * 86400
    convs: dict[str, list] = {}
    for i in range(3):
        convs[f"web-traffic-{i}"] = [
            user("驾考能在县里考吗", "ask_traffic_driving_test", _now_minus(5 + i)),
            answer(_now_minus(5 + i) + 0.2, 30),
        ]
    convs["web-permit"] = [
        user("居住证办理条件", "ask_residence_permit_conditions", _now_minus(4)),
        answer(_now_minus(4) + 0.3, 24),
        user("办居住证需要什么条件", "ask_residence_permit_conditions", _now_minus(3.9)),
        answer(_now_minus(3.9) + 0.3, 24),
    ]
    convs["wechat-own-words"] = [
        user(RESIDENT_TEXT, "ask_complaint_channels", _now_minus(3), "wechat"),
        answer(_now_minus(3) + 0.3, 49),
    ]
    convs["rest-grad"] = [
        user("毕业生落户", "ask_settle_graduate_materials", _now_minus(2), "rest"),
        answer(_now_minus(2) + 1, 22),
    ]
    convs["console-hall01-1"] = [
        user(f"员工测试{i}", "ask_crime_gang_crackdown", _now_minus(1 + i / 10), "staff") for i in range(5)
    ] + [answer(_now_minus(0.5), 1)]
    for i in range(5):
        convs[f"old-{i}"] = [user("工地被阻工", "ask_crime_enterprise_surroundings", old + i), answer(old + i + 0.1, 2)]
    convs["web-pointer"] = [
        user("商业秘密被盗怎么办", "ask_crime_intellectual_property", _now_minus(1)),
        answer(_now_minus(1) + 0.1, 3, reply="not_covered_related"),
    ]
    return convs


@pytest.fixture(params=["sqlite", "postgres"])
def busy(request, sqlite_kb_url, tmp_path):
    """The web app reading a tracker store (on each database) that holds :func:`conversations`."""
    server_url = request.getfixturevalue("postgres_server_url") if request.param == "postgres" else None
    base = make_settings(tmp_path, database_url=sqlite_kb_url)
    settings, url = trackers.tracker_settings(base, request.param, tmp_path, server_url)
    trackers.save(url, conversations())
    with serve(settings) as server:
        yield server


def test_faq_puts_the_most_answered_measures_first_in_training_examples(busy):
    status, _, answer = get(busy["url"] + "/api/faq")
    assert status == 200
    questions = answer["questions"]
    measures = [q["measure"] for q in questions]
    assert measures[:4] == [30, 24, 22, 49], questions  # 22 and 49 once each: the lower number first
    fixed = [q.measure for q in topics.load_faq_examples() if q.measure not in (30, 24, 22, 49)]
    assert measures[4:] == fixed[:2] and len(questions) == topics.FAQ_SIZE
    assert 1 not in measures and 2 not in measures and 3 not in measures
    examples = training_examples()
    for q in questions:
        intent = q["payload"][1:]
        assert q["text"] in examples[intent] and load_intent_map()[intent].primary == q["measure"], q
        assert payloads.sanitize(q["payload"]) == q["payload"]
    body = json.dumps(answer, ensure_ascii=False)
    assert RESIDENT_TEXT not in body and "青秀区" not in body and "员工测试" not in body
    assert questions[0] == {"text": "驾考能在县里考吗", "measure": 30, "payload": "/ask_traffic_driving_test"}


def test_faq_is_computed_once_per_five_minutes(sqlite_kb_url, tmp_path, monkeypatch):
    settings, url = trackers.tracker_settings(make_settings(tmp_path, database_url=sqlite_kb_url), "sqlite", tmp_path)
    calls = []
    real = topics.most_answered

    def counted(settings: config.Settings, days: int = topics.FAQ_DAYS) -> list[int]:
        calls.append(days)
        time.sleep(0.3)  # long enough for the concurrent requests below to wait on the lock
        return real(settings, days)

    monkeypatch.setattr(topics, "most_answered", counted)
    fixed = [q.to_json() for q in topics.load_faq_examples()]
    with serve(settings) as server:
        assert get(server["url"] + "/api/faq")[2]["questions"] == fixed  # no store yet
        trackers.save(url, conversations())
        for _ in range(3):
            assert get(server["url"] + "/api/faq")[2]["questions"] == fixed  # still the cached list
        assert calls == [30]
        cache = server["app"][topics.FAQ_CACHE_KEY]
        assert 290 < cache.expires - time.monotonic() <= topics.FAQ_TTL_S
        cache.expires = 0.0  # five minutes later
        answers: list[dict] = []
        threads = [
            threading.Thread(target=lambda: answers.append(get(server["url"] + "/api/faq")[2])) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert calls == [30, 30] and len(answers) == 4
        assert all(a == answers[0] for a in answers) and answers[0]["questions"][0]["measure"] == 30


@pytest.mark.parametrize(
    "content",
    [b"this is not a database" * 100, b"", b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["garbage", "empty", "corrupt"],
)
def test_faq_from_an_unreadable_tracker_store_is_the_fixed_list(sqlite_kb_url, tmp_path, content):
    store = tmp_path / "tracker.db"
    store.write_bytes(content)
    settings = dataclasses.replace(make_settings(tmp_path, database_url=sqlite_kb_url), tracker_db=store)
    with serve(settings) as server:
        status, _, answer = get(server["url"] + "/api/faq")
    assert status == 200 and answer["questions"] == [q.to_json() for q in topics.load_faq_examples()]


def test_faq_without_traffic_in_thirty_days_is_the_fixed_list(sqlite_kb_url, tmp_path):
    settings, url = trackers.tracker_settings(make_settings(tmp_path, database_url=sqlite_kb_url), "sqlite", tmp_path)
    old = time.time() - 31 * 86400
    trackers.save(url, {"old": [user("居住证办理条件", "ask_residence_permit_conditions", old), answer(old + 1, 24)]})
    with serve(settings) as server:
        answer_ = get(server["url"] + "/api/faq")[2]
    assert answer_["questions"] == [q.to_json() for q in topics.load_faq_examples()]
