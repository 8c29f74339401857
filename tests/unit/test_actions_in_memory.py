"""What an action call does once the knowledge base is in memory: no SQL, no YAML, no parsing.

And the shortcuts that keep a call short (words looked up by an index, a message cut only when a
reading needs its words, no idle CORS middleware) give what the plain way gives.
"""

from __future__ import annotations

import asyncio
import random
import shutil

import pytest
import sqlalchemy as sa
import yaml

from actions import loaded as loaded_module
from actions.actions import ActionAnswerMeasure, ActionShowMeasureText
from actions.base import loaded
from actions.decision import words as A
from bot.quality.evaluate import load_cases
from knowledge import db
from knowledge import intent_map as intent_map_module
from knowledge.repository import KnowledgeBase
from tests.support.paths import ROOT

# Questions through every reading: plain answers, stories, places, documents, other regions, no topic.
QUESTIONS = [
    ("身份证要几天", "ask_id_card_issue_time"),
    ("毕业生落户需要什么", "ask_settle_graduate_materials"),
    ("在北京怎么办居住证", "ask_residence_permit_conditions"),
    ("南宁周末能办户口吗", "ask_service_weekend"),
    ("学生证丢了怎么补办", "ask_id_card_issue_time"),
    ("我是玉林师院今年刚毕业的，还没签工作，家里在农村，想把户口落到玉林市区，是不是只要毕业证身份证就可以", None),
    ("明天天气怎么样", "out_of_scope"),
    ("驾驶证到期了能网上换吗", "ask_traffic_vehicle_inspection"),
    ("出入境证件怎么办", "nlu_fallback"),
    ("刻章要多久", "ask_seal_engraving"),
]


def run(action, dispatcher, tracker, domain):
    return asyncio.run(action.run(dispatcher, tracker, domain))


@pytest.fixture
def kb(sqlite_kb_url, tmp_path, monkeypatch):
    """A knowledge base of its own (a copy of the session's), so a test may change it."""
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    copy = tmp_path / "knowledge.db"
    shutil.copyfile(sqlite_kb_url.removeprefix("sqlite:///"), copy)
    return KnowledgeBase(f"sqlite:///{copy}")


@pytest.fixture
def clock(monkeypatch):
    """The monotonic clock of actions.loaded, moved on by hand."""
    now = [1000.0]
    monkeypatch.setattr(loaded_module.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def statements(kb):
    """The SQL statements run on ``kb``'s database from now on."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.get_engine(kb.url)
    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


def ask_all(kb, dispatcher, make_tracker, domain, times=2) -> None:
    for _ in range(times):
        for text, intent in QUESTIONS:
            run(ActionAnswerMeasure(kb), dispatcher, make_tracker(text, intent or "nlu_fallback"), domain)
    run(
        ActionShowMeasureText(kb),
        dispatcher,
        make_tracker("/show_measure", "show_measure", {"measure_number": "22"}),
        domain,
    )


def test_no_sql_per_call_once_loaded_and_one_query_per_check(kb, clock, statements, dispatcher, make_tracker, domain):
    run(ActionAnswerMeasure(kb), dispatcher, make_tracker("请问", "ask_id_card_issue_time"), domain)
    assert statements, "the first call reads the knowledge base"
    statements.clear()
    ask_all(kb, dispatcher, make_tracker, domain)  # 21 calls, every reading
    assert statements == []
    clock[0] += loaded_module.RECHECK_SECONDS + 0.1
    ask_all(kb, dispatcher, make_tracker, domain)
    # the digest is checked once; the same digest reads nothing more
    assert len(statements) == 1 and "content_digest" in statements[0]


def test_no_yaml_read_and_the_intent_map_parsed_once_per_reading(
    kb, clock, monkeypatch, dispatcher, make_tracker, domain
):
    parsed = []
    real_parse = intent_map_module.parse_intent_map
    monkeypatch.setattr(intent_map_module, "parse_intent_map", lambda *a, **k: parsed.append(1) or real_parse(*a, **k))
    run(ActionAnswerMeasure(kb), dispatcher, make_tracker("请问", "ask_id_card_issue_time"), domain)
    assert len(parsed) == 1
    yaml_reads = []
    for name in ("load", "safe_load"):
        real = getattr(yaml, name)
        monkeypatch.setattr(yaml, name, lambda *a, _real=real, **k: yaml_reads.append(1) or _real(*a, **k))
    ask_all(kb, dispatcher, make_tracker, domain)
    assert len(parsed) == 1 and yaml_reads == []


def test_a_new_digest_is_read_again_with_its_intent_map(kb, clock, monkeypatch, dispatcher, make_tracker, domain):
    parsed = []
    real_parse = intent_map_module.parse_intent_map
    monkeypatch.setattr(intent_map_module, "parse_intent_map", lambda *a, **k: parsed.append(1) or real_parse(*a, **k))
    first = loaded(kb)
    assert loaded(kb) is first and len(parsed) == 1
    with db.session_scope(kb.url) as session:
        session.execute(sa.text("UPDATE kb_document SET content_digest = 'rebuilt'"))
    assert loaded(kb) is first  # not checked again before RECHECK_SECONDS
    clock[0] += loaded_module.RECHECK_SECONDS + 0.1
    second = loaded(kb)
    assert second is not first and second.document.content_digest == "rebuilt" and len(parsed) == 2
    assert second.specs == first.specs and second.specs is not first.specs
    run(ActionAnswerMeasure(kb), dispatcher, make_tracker("身份证要几天", "ask_id_card_issue_time"), domain)
    assert dispatcher.messages[-1]["custom"]["measures"][0] == 26 and len(parsed) == 2


def random_words_and_texts(seed: int, alphabet: str, other: str, most_words: int, longest_text: int):
    """2,000 random (word list, text) pairs over ``alphabet`` (texts also use ``other``)."""
    rng = random.Random(seed)
    for _ in range(2000):
        words = ["".join(rng.choices(alphabet, k=rng.randint(1, 4))) for _ in range(rng.randint(0, most_words))]
        yield words, "".join(rng.choices(alphabet + other, k=rng.randint(0, longest_text)))


def test_the_word_finder_finds_the_spans_the_plain_scan_finds():
    for words, text in random_words_and_texts(20181, "身份证件居住过期了快", "，？", 12, 30):
        assert A.WordFinder(words).spans(text) == A.find_spans(text, words), (words, text)
    assert A.WordFinder(["", "过期"]).spans("快过期") == A.find_spans("快过期", ["", "过期"])


def test_occurrence_says_whether_any_word_occurs():
    for words, text in random_words_and_texts(8, "南宁柳州桂林市区县", "的吗", 10, 20):
        assert A.Occurrence(words).any_in(text) == any(w in text for w in words), (words, text)
    assert A.Occurrence([""]).any_in("") and not A.Occurrence([]).any_in("南宁")


@pytest.fixture(scope="module")
def memory(sqlite_kb_url):
    return loaded_module.KnowledgeCache(KnowledgeBase(sqlite_kb_url)).get()


def eval_questions() -> list[str]:
    cases = load_cases(ROOT / "tests" / "data" / "eval_cases.yml")
    return [turn for case in cases for turn in case.turns]


def test_a_message_is_cut_only_when_a_reading_needs_its_words(memory, monkeypatch):
    analyser = memory.analyser
    real_segment = analyser.segment
    cut = []
    monkeypatch.setattr(analyser, "segment", lambda text: cut.append(text) or real_segment(text))
    analyser.analyse("出租屋消防检查要多久")  # no place, no document suffix
    assert cut == []
    analyser.analyse("身份证要几天")  # a document word may end in 证
    analyser.analyse("南宁周末能办户口吗")  # a place must be a word of its own
    assert cut == ["身份证要几天", "南宁周末能办户口吗"]


def test_a_message_left_uncut_has_no_document_word_and_no_place(memory, monkeypatch):
    analyser = memory.analyser
    real_segment = analyser.segment
    suffixes = analyser.vocabulary.document_suffixes
    checked = 0
    for text in eval_questions():
        cut = []
        monkeypatch.setattr(analyser, "segment", lambda t, _cut=cut: _cut.append(t) or real_segment(t))
        analyser.analyse(text)
        if not cut:
            question = analyser.analyse(text)
            # the objects are read from the asked part (all of a short message), the place from all of it
            assert not any(token.strip().endswith(suffixes) for token in real_segment(question.asked)), text
            assert analyser.gazetteer.find(question.text) == [], text
            checked += 1
    assert checked > 50


def test_the_idle_cors_response_middleware_is_dropped_and_adds_nothing():
    from multidict import CIMultiDict
    from sanic_cors.core import get_cors_headers
    from sanic_cors.extension import _make_cors_response_middleware_function

    from bot.ops.action_server import create_app, drop_cors_response_middleware

    app = create_app("actions", "a-secret-of-enough-characters")
    context = app.ctx.sanic_cors
    # what it would add: nothing, whatever the origin and method (revisit the drop if this changes)
    for _, options in context.resources:
        for headers in ({}, {"Origin": "http://elsewhere.example"}, {"Origin": "null"}):
            for method in ("GET", "POST", "OPTIONS"):
                assert not get_cors_headers(options, CIMultiDict(headers), method)

    async def ours(request, response):
        return None

    _make_cors_response_middleware_function(app, context=context)  # what Sanic-CORS does when the server starts
    app.response_middleware.append(ours)
    requests_before = list(app.request_middleware)
    assert drop_cors_response_middleware(app) == 1
    assert list(app.response_middleware) == [ours] and list(app.request_middleware) == requests_before
    assert drop_cors_response_middleware(app) == 0


def test_warm_up_loads_the_reading_before_the_first_call(kb, clock):
    import jieba

    from actions.base import warm_up

    assert warm_up(kb) is True
    statements = []
    sa.event.listen(db.get_engine(kb.url), "before_cursor_execute", lambda *a: statements.append(a[2]))
    loaded(kb)
    assert statements == []  # the first call reads nothing more
    assert jieba.dt.initialized


def test_warm_up_without_a_knowledge_base_says_so_and_does_not_raise(tmp_path):
    from actions.base import warm_up

    assert warm_up(KnowledgeBase(f"sqlite:///{tmp_path / 'none.db'}")) is False
