"""The learned parts of the decision, as the action server runs them: NumPy only, no scikit-learn.

The models, trained by :mod:`bot.quality.decision` (``python -m bot train``) and stored together
in one ``.npz`` bundle that is read with ``allow_pickle=False`` (no code in a model file):

* two :class:`TextModel` s, character 1–3-grams, TF-IDF with sublinear counts and L2 norm,
  logistic regression: the aspect model (what is asked: 费用, 有效期, 条件 … or ``general``) and
  the answerable model (does the notice answer a question worded like this at all: ``yes`` /
  ``no``, learned from the labelled near-scope and answered questions). :func:`char_grams` is
  the analyser training uses too, so both sides see the same features.
* :class:`NeighbourIndex`, the labelled questions nearest to the message.
* :class:`PairModel`, P(candidate intent answers the question), a logistic regression over
  standardised features (:mod:`actions.decision.features`), with the threshold chosen by
  grouped cross-validation.

Invariants checked on load (:class:`ModelFileError` otherwise, never a wrong answer): the bundle's
format version, the feature names equal to the code's, array shapes that agree, finite numbers,
a threshold in (0, 1).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

FORMAT = 2
NGRAMS = (1, 3)


class ModelFileError(ValueError):
    """The decision model file is missing, malformed or for other features; names the file."""


def char_grams(text: str) -> list[str]:
    """The character n-grams of ``text`` (lower-cased, spaces dropped), 1 to 3 long."""
    text = "".join(text.lower().split())
    low, high = NGRAMS
    return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


@dataclass(frozen=True)
class TextModel:
    """A question's class (its aspect; whether it is answerable), as probabilities over :attr:`classes`."""

    classes: tuple[str, ...]
    vocabulary: Mapping[str, int]
    idf: np.ndarray  # (n_features,)
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)

    def proba(self, text: str) -> np.ndarray:
        """P(class) for ``text``, in the order of :attr:`classes`."""
        idx, x = tfidf(text, self.vocabulary, self.idf)
        logits = self.intercept.copy()
        if len(idx):
            logits += self.coef[:, idx] @ x
        logits -= logits.max()
        p = np.exp(logits)
        return p / p.sum()


def tfidf(text: str, vocabulary: Mapping[str, int], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of the L2-normalised TF-IDF vector of ``text`` (sublinear counts)."""
    counts: dict[int, int] = {}
    for gram in char_grams(text):
        index = vocabulary.get(gram)
        if index is not None:
            counts[index] = counts.get(index, 0) + 1
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    idx = np.fromiter(counts, dtype=np.int64)
    x = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * idf[idx]
    return idx, x / np.linalg.norm(x)


@dataclass(frozen=True)
class NeighbourIndex:
    """Labelled questions, by gram (column-major), for the nearest answered and unanswered ones.

    Each entry is a question with a measure: one it answers (``positive``) or the closest one
    that does not answer it (a near-scope question's ``related``; 0 for none).
    """

    vocabulary: Mapping[str, int]
    idf: np.ndarray  # (n_grams,)
    indptr: np.ndarray  # (n_grams + 1,) column pointers
    rows: np.ndarray  # entry of each stored value
    values: np.ndarray
    positive: np.ndarray  # (n_entries,) bool
    measure: np.ndarray  # (n_entries,) int

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to every entry."""
        idx, x = tfidf(text, self.vocabulary, self.idf)
        out = np.zeros(len(self.positive))
        for j, w in zip(idx, x, strict=False):
            lo, hi = self.indptr[j], self.indptr[j + 1]
            out[self.rows[lo:hi]] += w * self.values[lo:hi]
        return out


@dataclass(frozen=True)
class PairModel:
    """P(a candidate intent answers the question) from its feature vector."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_features,)
    intercept: float
    threshold: float

    def proba(self, rows: np.ndarray) -> np.ndarray:
        """P(answers) for each row of ``rows`` (candidates × :attr:`features`)."""
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class Bundle:
    """The decision's models and what training derived with them."""

    aspects: TextModel
    answerable: TextModel  # classes ("no", "yes")
    pair: PairModel
    neighbours: NeighbourIndex
    # intent → the words of its measures, facts, aliases and training examples, one text
    intent_text: Mapping[str, str]
    # words that occur in the training examples of many intents: never "uncovered"
    generic_words: frozenset[str]
    meta: Mapping[str, object]

    def answerable_probability(self, text: str) -> float:
        """P(the notice answers a question worded as ``text``), from the answerable model."""
        return float(self.answerable.proba(text)[self.answerable.classes.index("yes")])


def save(path: Path, bundle: Bundle) -> None:
    """Write ``bundle`` to ``path`` (an ``.npz``; written whole, then renamed into place)."""
    p, n = bundle.pair, bundle.neighbours
    header = {
        "format": FORMAT,
        **_text_header("aspect", bundle.aspects),
        **_text_header("answerable", bundle.answerable),
        "neighbour_vocabulary": sorted(n.vocabulary, key=n.vocabulary.__getitem__),
        "pair_features": list(p.features),
        "pair_intercept": p.intercept,
        "threshold": p.threshold,
        "intent_text": dict(bundle.intent_text),
        "generic_words": sorted(bundle.generic_words),
        "meta": dict(bundle.meta),
    }
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        header=np.array(json.dumps(header, ensure_ascii=False)),
        **_text_arrays("aspect", bundle.aspects),
        **_text_arrays("answerable", bundle.answerable),
        pair_mean=p.mean,
        pair_scale=p.scale,
        pair_coef=p.coef,
        neighbour_idf=n.idf,
        neighbour_indptr=n.indptr,
        neighbour_rows=n.rows,
        neighbour_values=n.values,
        neighbour_positive=n.positive,
        neighbour_measure=n.measure,
    )
    tmp.replace(path)


def load(path: Path, features: Sequence[str]) -> Bundle:
    """Read and check a bundle written by :func:`save` for the code's ``features``.

    Raises:
        ModelFileError: naming ``path`` and what is wrong.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no decision model (run `make train`)") from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{path}: not a decision model file ({exc})") from exc
    try:
        header = json.loads(str(arrays.pop("header")))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ModelFileError(
                f"{path}: format {header.get('format') if isinstance(header, dict) else '?'}, expected {FORMAT}"
            )
        if list(header["pair_features"]) != list(features):
            raise ModelFileError(f"{path}: trained for other features; run `make train` again")
        aspects = _text_model(path, "aspect", header, arrays)
        answerable = _text_model(path, "answerable", header, arrays)
        if answerable.classes != ANSWERABLE_CLASSES:
            raise ModelFileError(f"{path}: the answerable model's classes are not {ANSWERABLE_CLASSES}")
        mean, scale, pcoef = arrays["pair_mean"], arrays["pair_scale"], arrays["pair_coef"]
        threshold = float(header["threshold"])
        ngrams = [str(g) for g in header["neighbour_vocabulary"]]
        nidf, indptr, nrows = arrays["neighbour_idf"], arrays["neighbour_indptr"], arrays["neighbour_rows"]
        nvalues, positive, measure = (
            arrays["neighbour_values"],
            arrays["neighbour_positive"],
            arrays["neighbour_measure"],
        )
        entries = len(positive)
        neighbours_ok = (
            nidf.shape == (len(ngrams),)
            and indptr.shape == (len(ngrams) + 1,)
            and nrows.shape == nvalues.shape == (int(indptr[-1]) if len(indptr) else 0,)
            and measure.shape == (entries,)
            and (np.diff(indptr) >= 0).all()
            and (len(nrows) == 0 or (nrows.min() >= 0 and nrows.max() < entries))
        )
        if not neighbours_ok:
            raise ModelFileError(f"{path}: the neighbour index is inconsistent")
        if not mean.shape == scale.shape == pcoef.shape == (len(features),):
            raise ModelFileError(f"{path}: array shapes disagree with the header")
        numbers = [mean, scale, pcoef, nidf, nvalues]
        numbers.append(np.array([threshold, float(header["pair_intercept"])]))
        if not all(np.isfinite(x).all() for x in numbers) or not (scale > 0).all():
            raise ModelFileError(f"{path}: numbers that are not finite (or a zero scale)")
        if not 0.0 < threshold < 1.0:
            raise ModelFileError(f"{path}: threshold {threshold} outside (0, 1)")
        intent_text = {str(k): str(v) for k, v in dict(header["intent_text"]).items()}
        generic = frozenset(str(w) for w in header["generic_words"])
        meta = dict(header.get("meta") or {})
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: malformed decision model ({exc!r})") from exc
    return Bundle(
        aspects=aspects,
        answerable=answerable,
        pair=PairModel(tuple(features), mean, scale, pcoef, float(header["pair_intercept"]), threshold),
        neighbours=NeighbourIndex(
            {g: i for i, g in enumerate(ngrams)}, nidf, indptr, nrows, nvalues, positive.astype(bool), measure
        ),
        intent_text=intent_text,
        generic_words=generic,
        meta=meta,
    )


ANSWERABLE_CLASSES = ("no", "yes")


def _text_header(prefix: str, m: TextModel) -> dict:
    return {
        f"{prefix}_classes": list(m.classes),
        f"{prefix}_vocabulary": sorted(m.vocabulary, key=m.vocabulary.__getitem__),
    }


def _text_arrays(prefix: str, m: TextModel) -> dict[str, np.ndarray]:
    return {f"{prefix}_idf": m.idf, f"{prefix}_coef": m.coef, f"{prefix}_intercept": m.intercept}


def _text_model(path: Path, prefix: str, header: dict, arrays: dict[str, np.ndarray]) -> TextModel:
    """The :class:`TextModel` stored under ``prefix``, its shapes and numbers checked."""
    classes = tuple(str(c) for c in header[f"{prefix}_classes"])
    grams = [str(g) for g in header[f"{prefix}_vocabulary"]]
    idf, coef, intercept = (arrays[f"{prefix}_{k}"] for k in ("idf", "coef", "intercept"))
    if not (
        idf.shape == (len(grams),) and coef.shape == (len(classes), len(grams)) and intercept.shape == (len(classes),)
    ):
        raise ModelFileError(f"{path}: array shapes disagree with the header ({prefix} model)")
    if not all(np.isfinite(x).all() for x in (idf, coef, intercept)):
        raise ModelFileError(f"{path}: numbers that are not finite ({prefix} model)")
    return TextModel(classes, {g: i for i, g in enumerate(grams)}, idf, coef, intercept)
