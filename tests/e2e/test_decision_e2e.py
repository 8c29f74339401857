"""The learned decision through the running stack: parts, corrections, attractors, other regions.

And the trained decision's named refusals, checked against the coverage table over the dev sets.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_rest_e2e import cited, rest, texts

pytestmark = pytest.mark.e2e


def payloads(replies) -> list[dict]:
    return [r["custom"] for r in replies if isinstance(r.get("custom"), dict) and "measures" in r["custom"]]


def test_two_questions_in_one_message_get_two_cited_answers(running_bot):
    replies = rest(running_bot, "身份证要几天能拿到？另外刻章要多久？")
    parts = [p for p in payloads(replies) if p.get("part")]
    assert [p["part"]["index"] for p in parts] == [1, 2], replies
    assert parts[0]["measures"][:1] == [26] and parts[1]["measures"][:1] == [25], replies


def test_a_correction_answers_what_the_resident_meant(running_bot):
    replies = rest(running_bot, "我不是问身份证，是问刻章要多久")
    assert cited(replies)[:1] == [25], texts(replies)


@pytest.mark.parametrize("text", ["2+3等于几", "123456", "啊"])
def test_attractors_cite_nothing(running_bot, text):
    assert cited(rest(running_bot, text)) == []


@pytest.mark.parametrize("text", ["上海户口怎么落", "在长沙办居住证要什么"])
def test_another_regions_rules_are_not_guangxis(running_bot, text):
    replies = rest(running_bot, text)
    assert cited(replies) == [] and any((r.get("custom") or {}).get("reply") == "other_region" for r in replies), texts(
        replies
    )


def test_a_resident_from_elsewhere_asking_about_guangxi_is_answered(running_bot):
    assert cited(rest(running_bot, "我老家湖南的，在南宁读完大专想落户，要准备什么材料"))[:1] == [22]


def test_the_payload_shows_the_models_inputs(running_bot):
    [payload] = payloads(rest(running_bot, "毕业生落户需要什么材料"))[:1]
    model = payload["answerability"]["model"]
    assert 0 <= model["probability"] <= 1 and 0 < model["threshold"] < 1
    assert model["candidates"][0]["intent"] == payload["intent"]


def test_the_offline_replay_is_the_stack(running_bot, trained_model):
    """Make eval-cv replays the action's own decision in one process: it cites what the stack cites."""
    from actions.loaded import KnowledgeCache
    from bot import config
    from bot.ops.training import decision_model_path
    from bot.quality.decision.cases import load
    from bot.quality.decision.harness import Parser, part_texts
    from bot.quality.decision.run import replay
    from bot.quality.evaluate import evaluate, load_cases
    from knowledge.repository import KnowledgeBase
    from tests.support.paths import ROOT

    settings = config.load()
    path = ROOT / "tests" / "data" / "heldout3_cases.yml"
    conversations = load(path)
    memory = KnowledgeCache(KnowledgeBase(settings.database_url), decision_model=decision_model_path(settings)).get()
    texts = [t.text for c in conversations for t in c.turns]
    parses = Parser(trained_model, settings.var_dir / "decision").parse_all(
        texts + [p for t in texts for p in part_texts(t)]
    )
    offline = [r["cited"][:1] for r in replay(memory, conversations, parses)]
    stack = [
        c["cited"][:1] for c in evaluate(load_cases(path), url=running_bot["url"], token=running_bot["token"])["cases"]
    ]
    assert len(offline) == len(stack)
    differ = [i for i, (a, b) in enumerate(zip(offline, stack, strict=True)) if a != b]
    assert not differ, [(conversations[i].turns[-1].text, offline[i], stack[i]) for i in differ]


def test_every_named_refusal_names_an_aspect_the_measure_does_not_state(trained_model):
    """Over the public sets, with the trained decision: "没有规定X" is said only where coverage.yml lacks X."""
    from actions.decision import Kind
    from actions.loaded import KnowledgeCache
    from bot import config
    from bot.ops.training import decision_model_path
    from bot.quality.decision.cases import load_all
    from bot.quality.decision.harness import Parser, decide_message, next_previous, part_texts
    from knowledge.coverage import load_coverage
    from knowledge.repository import KnowledgeBase
    from tests.support.paths import ROOT

    settings = config.load()
    conversations = load_all(sorted((ROOT / "tests" / "data").glob("*_cases.yml")))
    memory = KnowledgeCache(KnowledgeBase(settings.database_url), decision_model=decision_model_path(settings)).get()
    texts = [t.text for c in conversations for t in c.turns]
    parses = Parser(trained_model, settings.var_dir / "decision").parse_all(
        texts + [p for t in texts for p in part_texts(t)]
    )
    coverage, named = load_coverage(), 0
    for conv in conversations:
        previous = None
        for turn in conv.turns:
            for decision in decide_message(memory, parses[turn.text], parses, turn.text, previous):
                previous = next_previous(decision, previous)
                if decision is not None and decision.kind is Kind.NOT_COVERED and decision.named_aspect:
                    named += 1
                    assert decision.spec is not None, turn.text
                    assert not coverage.states(decision.spec.measures, decision.named_aspect), (
                        turn.text,
                        decision.to_json(),
                    )
    assert named > 0  # the check saw named refusals
