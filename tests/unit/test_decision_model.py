"""The learned models as the action server runs them (actions/decision/model.py): NumPy only.

Each is checked against scikit-learn, which trains them, on fixed examples; the bundle reads
back what was written, and every malformed file is refused with its path, never loaded.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from actions.decision import model
from actions.decision.features import FEATURES
from bot.quality.decision import fit

TEXTS = ["身份证要几天", "办身份证要多少钱", "居住证要带什么材料", "刻章去哪里办", "驾照考试要多少钱", "落户要什么材料"]


def tiny_bundle(threshold: float = 0.5) -> model.Bundle:
    aspects = fit.fit_aspects(
        [
            ("要多少钱", "fee"),
            ("收费吗", "fee"),
            ("要交钱吗", "fee"),
            ("带什么材料", "materials"),
            ("要什么证件", "materials"),
            ("要哪些材料", "materials"),
        ],
        1.0,
    )
    exs = [
        fit.Example(
            "g", (), t, t, (26,) if i % 2 else (), None, [], [], np.zeros((0, len(FEATURES))), np.zeros((0, 20)), (24,)
        )
        for i, t in enumerate(TEXTS)
    ]
    known = [(26, "身份证办理时限"), (24, "居住证申领条件")]
    index = fit.build_index(known, exs).index
    # answered: the odd TEXTS and one known answered text; unanswered: the even ones
    answerable = fit.fit_answerable([(25, "刻章要多少钱")], exs, 1.0)
    n = len(FEATURES)
    coef = np.zeros(n)
    coef[FEATURES.index("nlu_confidence")] = 8.0
    pair = model.PairModel(FEATURES, np.zeros(n), np.ones(n), coef, -4.0, threshold)
    return model.Bundle(
        aspects,
        answerable,
        pair,
        index,
        {"ask_id_card_issue_time": "身份证 工作日"},
        frozenset({"怎么"}),
        {"note": "test"},
    )


def test_tfidf_is_scikit_learns():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=model.char_grams, sublinear_tf=True, norm="l2").fit(TEXTS)
    vocabulary = {k: int(v) for k, v in vectorizer.vocabulary_.items()}
    for query in ["身份证要多少钱钱", "居住证", "完全无关的话 abc"]:
        idx, values = model.tfidf(query, vocabulary, vectorizer.idf_)
        dense = np.zeros(len(vocabulary))
        dense[idx] = values
        assert np.allclose(dense, vectorizer.transform([query]).toarray()[0])


def test_the_aspect_model_reads_what_is_asked_both_ways():
    aspects = tiny_bundle().aspects
    fee = aspects.proba("办居住证要多少钱")
    materials = aspects.proba("办居住证要带什么材料")
    assert aspects.classes[int(np.argmax(fee))] == "fee"
    assert aspects.classes[int(np.argmax(materials))] == "materials"
    assert np.isclose(fee.sum(), 1.0) and np.isclose(materials.sum(), 1.0)


def test_the_answerable_model_learns_both_sides():
    bundle = tiny_bundle()
    assert bundle.answerable.classes == ("no", "yes")
    answered = [bundle.answerable_probability(t) for t in TEXTS[1::2]]
    unanswered = [bundle.answerable_probability(t) for t in TEXTS[::2]]
    assert min(answered) > 0.5 > max(unanswered)
    assert 0.0 < bundle.answerable_probability("") < 1.0  # no gram known: the prior, not an error


def test_the_answerable_model_needs_both_kinds_of_turn():
    exs = [
        fit.Example("g", (), t, t, (26,), None, [], [], np.zeros((0, len(FEATURES))), np.zeros((0, 20))) for t in TEXTS
    ]
    with pytest.raises(ValueError, match="answered and unanswered"):
        fit.fit_answerable([], exs, 1.0)


def test_neighbour_similarities_are_cosines():
    index = tiny_bundle().neighbours
    sims = index.similarities("身份证要几天")
    assert sims.shape == index.positive.shape
    assert np.isclose(sims.max(), 1.0)  # the entry with that very text
    assert (sims >= -1e-9).all() and (sims <= 1 + 1e-9).all()
    assert index.similarities("").max() == 0.0


def test_a_bundle_reads_back_what_was_written(tmp_path):
    bundle = tiny_bundle(0.37)
    path = tmp_path / "decision.npz"
    model.save(path, bundle)
    back = model.load(path, FEATURES)
    assert back.pair.threshold == 0.37 and back.meta == {"note": "test"}
    assert back.aspects.classes == bundle.aspects.classes
    assert np.allclose(back.aspects.proba("要多少钱"), bundle.aspects.proba("要多少钱"))
    assert np.isclose(
        back.answerable_probability("办身份证要多少钱"), bundle.answerable_probability("办身份证要多少钱")
    )
    assert np.allclose(back.neighbours.similarities("居住证"), bundle.neighbours.similarities("居住证"))
    rows = np.random.default_rng(1).random((3, len(FEATURES)))
    assert np.allclose(back.pair.proba(rows), bundle.pair.proba(rows))
    assert back.intent_text == bundle.intent_text and back.generic_words == bundle.generic_words


def _rewrite(path, change):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    change(header, arrays)
    arrays["header"] = np.array(json.dumps(header, ensure_ascii=False))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h, a: h.update(format=99), "format"),
        (lambda h, a: h.update(pair_features=["x"]), "other features"),
        (lambda h, a: h.update(threshold=1.5), "threshold"),
        (lambda h, a: a.update(pair_coef=np.full_like(a["pair_coef"], np.nan)), "not finite"),
        (lambda h, a: a.update(aspect_idf=a["aspect_idf"][:-1]), "shapes"),
        (lambda h, a: a.update(answerable_coef=a["answerable_coef"][:1]), "answerable model"),
        (lambda h, a: a.update(answerable_intercept=np.array([np.inf, 0.0])), "not finite"),
        (lambda h, a: h.update(answerable_classes=["yes", "no"]), "classes"),
        (lambda h, a: a.update(neighbour_rows=a["neighbour_rows"] + 10_000), "neighbour index"),
        (lambda h, a: h.pop("aspect_classes"), "malformed"),
        (lambda h, a: a.pop("pair_scale"), "malformed"),
    ],
)
def test_a_malformed_bundle_is_refused_with_its_path(tmp_path, change, message):
    path = tmp_path / "decision.npz"
    model.save(path, tiny_bundle())
    _rewrite(path, change)
    with pytest.raises(model.ModelFileError) as caught:
        model.load(path, FEATURES)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_files_that_are_no_bundle_are_refused(tmp_path):
    missing = tmp_path / "none.npz"
    with pytest.raises(model.ModelFileError, match="make train"):
        model.load(missing, FEATURES)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(model.ModelFileError, match="not a decision model"):
        model.load(garbage, FEATURES)
    # an object array needs pickle to load: refused, never unpickled
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, header=np.array([{"format": 1}], dtype=object))
    with pytest.raises(model.ModelFileError):
        model.load(pickled, FEATURES)
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(model.ModelFileError):
        model.load(tmp_path / "empty.npz", FEATURES)
