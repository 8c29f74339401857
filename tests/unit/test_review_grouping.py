"""The review list's grouping, indexed (issue 22 point 7): the same groups as comparing every pair."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.webapp.review import Asked, group_key, group_questions, group_words, similar

WORDS = [
    "居住证",
    "办理",
    "条件",
    "身份证",
    "多久",
    "补办",
    "户口",
    "落户",
    "毕业生",
    "材料",
    "怎么",
    "需要",
    "驾驶证",
    "消防",
]


def naive(items: list[Asked], threshold: float) -> list[tuple[str, int, tuple[str, ...]]]:
    """The rule as the review list states it, by comparing each question with every group in order."""
    groups: list[tuple[str, frozenset[str], list[Asked]]] = []
    for item in items:
        key = group_key(item.text)
        words = group_words(key)
        for gkey, gwords, members in groups:
            if similar(key, words, gkey, gwords, threshold):
                members.append(item)
                break
        else:
            groups.append((key, words, [item]))
    out = [(members[0].text, len(members), tuple(m.text for m in members)) for _, _, members in groups]
    return sorted(out, key=lambda g: (-g[1], g[0]))


def indexed(items: list[Asked], threshold: float) -> list[tuple[str, int, tuple[str, ...]]]:
    return [(g.text, g.count, tuple(g.examples)) for g in group_questions(items, threshold)]


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=5).map("".join), min_size=0, max_size=40),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0]),
)
def test_the_indexed_grouping_is_the_pairwise_one(texts, threshold):
    items = [Asked(sender=f"s{i}", text=t or "？", intent=None, confidence=None) for i, t in enumerate(texts)]
    expected = naive(items, threshold)
    # examples are the distinct texts (first ten): compare those of the naive groups the same way
    expected = [(t, n, tuple(dict.fromkeys(members))[:10]) for t, n, members in expected]
    assert indexed(items, threshold) == expected


def _dies_in_a_worker(value: int) -> int:
    import multiprocessing
    import os

    if multiprocessing.current_process().name != "MainProcess":
        os._exit(3)  # the worker process dies
    return value * 2


def _doubled(value: int) -> int:
    return value * 2


def test_the_review_lists_worker_process_computes_and_a_dead_one_is_replaced():
    import asyncio

    from bot.webapp.console import reviews

    assert asyncio.run(reviews.computed_apart(_doubled, 21)) == 42  # in the worker process
    assert asyncio.run(reviews.computed_apart(_dies_in_a_worker, 5)) == 10  # the worker died: in a thread
    assert asyncio.run(reviews.computed_apart(_doubled, 4)) == 8  # a new worker
