"""vd.exercises.check: correct solutions pass, each classic mistake gets its own hint."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vecdiag as vd
from vecdiag import scratch


@pytest.mark.parametrize("name", ["dot", "norm", "normalize", "cosine", "euclidean"])
def test_scratch_solutions_pass(name):
    res = vd.exercises.check(name, getattr(scratch, name))
    assert res.passed, repr(res)
    assert res.hint is None


def test_fast_solutions_pass():
    for name in ["dot", "norm", "normalize", "cosine", "euclidean"]:
        assert vd.exercises.check(name, getattr(vd, name)).passed


def good_knn(query, corpus, k):
    scores = vd.cosine_matrix([query], corpus)[0]
    return np.argsort(-scores, kind="stable")[:k].tolist()


def good_pca(X, n):
    X = np.asarray(X, dtype=float)
    centred = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:n]


def test_knn_and_pca_solutions_pass():
    assert vd.exercises.check("knn", good_knn).passed
    assert vd.exercises.check("pca", good_pca).passed
    assert vd.exercises.check("pca", vd.scratch.pca).passed   # a Projection is accepted too
    assert vd.exercises.check("pca", vd.pca).passed


def naive_norm(a):
    return math.sqrt(sum(x * x for x in a))


def naive_cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (naive_norm(a) * naive_norm(b))


def inplace_normalize(a):
    a = np.asarray(a, dtype=float) if not isinstance(a, np.ndarray) else a
    a /= vd.norm(a)
    return a


@pytest.mark.parametrize(
    "name, fn, words",
    [
        ("dot", lambda a, b: sum(x * y for x, y in zip(a, b)), "zip stops at the shorter vector"),
        ("norm", naive_norm, "square after scaling"),
        ("cosine", naive_cosine, "clip the result"),
        ("cosine", lambda a, b: max(-1.0, min(1.0, naive_cosine(a, b))), "square after scaling"),
        ("euclidean", lambda a, b: naive_norm([x - y for x, y in zip(a, b)]), "scale the difference"),
        ("knn", lambda q, c, k: np.argsort(-np.asarray(c, float) @ np.asarray(q, float), kind="stable")[:k].tolist(),
         "rank by cosine"),
        ("knn", lambda q, c, k: np.argsort(vd.cosine_matrix([q], c)[0], kind="stable")[:k].tolist(), "highest first"),
        ("knn", lambda q, c, k: np.argsort(-vd.cosine_matrix([q], c)[0], kind="stable")[:k + 1].tolist(), "exactly k"),
        ("knn", lambda q, c, k: (len(c) - 1 - np.argsort(-vd.cosine_matrix([q], c)[0][::-1], kind="stable")[:k]).tolist(),
         "lower index first"),
        ("pca", lambda X, n: np.linalg.svd(np.asarray(X, float), full_matrices=False)[2][:n], "centre the data"),
    ],
)
def test_mistakes_get_specific_hints(name, fn, words):
    res = vd.exercises.check(name, fn)
    assert not res.passed
    assert words in res.hint or any(words in m for _, _, m in res.cases), repr(res)


def test_mutation_is_caught():
    def mutating(a):
        arr = np.asarray(a, dtype=float)
        arr /= vd.norm(arr)
        return arr

    class Spy:
        pass

    res = vd.exercises.check("normalize", inplace_normalize)
    # lists are copied by np.asarray, so mutation shows only for array inputs: check directly
    from vecdiag.exercises import _Case, _run_case

    ok, message = _run_case(mutating, _Case("array input", (np.array([3.0, 4.0]),), [0.6, 0.8], "h"))
    assert not ok and "changed its input" in message
    # check() itself catches an in-place normaliser: it also passes a NumPy array
    assert not res.passed
    assert [label for label, ok, _ in res.cases if not ok][0] == "NumPy array"
    assert "changed its input" in dict((c[0], c[2]) for c in res.cases)["NumPy array"]
    assert "a / n" in res.hint


def test_nan_on_zero_vector_fails_with_hint():
    def nan_cosine(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.clip(a @ b / (vd.norm(a) * vd.norm(b)), -1, 1))

    res = vd.exercises.check("cosine", nan_cosine)
    zero = [c for c in res.cases if c[0] == "zero vector"][0]
    assert zero[1] is False


def test_display_and_errors():
    res = vd.exercises.check("norm", naive_norm)
    assert "Hint:" in repr(res) and "✗ huge values" in repr(res)
    assert "not yet" in res._repr_html_()
    assert list(res.to_frame().columns) == ["case", "passed", "message"]
    with pytest.raises(ValueError, match="no exercise named 'cos'"):
        vd.exercises.check("cos", naive_cosine)
    with pytest.raises(TypeError, match="fn must be a function"):
        vd.exercises.check("cosine", 3)
