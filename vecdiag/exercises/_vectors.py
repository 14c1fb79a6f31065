"""Exercises of notebooks 01-04: dot, norm, normalize, cosine, euclidean, knn, pca.

Each exercise's cases are here; its model answer (``solution_*``, what
:func:`vecdiag.exercises.solution` prints) is in :mod:`._vector_answers`, and the wrong
answers learners really write, with the hint that names each (``MISTAKES``), are in
:mod:`._vector_mistakes`.
"""

from __future__ import annotations

import math

import numpy as np

from . import _vector_answers
from ._grader import Case
from ._vector_mistakes import MISTAKES

__all__ = ["MISTAKES", "SIGNATURES", "SOLUTIONS", "cases"]

HUGE = [1e200, 1e200]
TINY = [1e-200, 0.0]
F32 = np.array([0.1, 0.2, 0.3], dtype=np.float32)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------------- cases
def _pca_reference(X, n):
    centred = np.asarray(X, dtype=float) - np.mean(X, axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    return vectors[:, ::-1][:, :n].T.tolist()


def _rotated_cloud():
    rng = np.random.default_rng(1)
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    return (rng.normal(size=(300, 3)) * [6.0, 3.0, 1.0]) @ rotation.T + [5.0, -2.0, 1.0]


def cases(name):
    if name == "dot":
        return [
            Case("small vectors", ([1, 2, 3], [4, 5, 6]), 32.0, "multiply matching entries and add them all up"),
            Case("negative entries", ([1, -2], [-3, 4]), -11.0, "keep the signs: negative products lower the sum"),
            Case("float32 arrays", (F32, F32), float(np.dot(F32.astype(np.float64), F32.astype(np.float64))),
                 "accept NumPy arrays as well as lists", tol=1e-6),
            Case("a longer than b", ([1, 2, 3], [1, 2]), ValueError,
                 "vectors of different lengths have no dot product: check len(a) == len(b) and raise "
                 "ValueError"),
            Case("b longer than a", ([1, 2], [1, 2, 3]), ValueError,
                 "vectors of different lengths have no dot product: check len(a) == len(b) and raise "
                 "ValueError"),
        ]
    if name == "norm":
        return [
            Case("3-4-5 triangle", ([3, 4],), 5.0, "square each entry, add, take the square root"),
            Case("negative entries", ([-3, 4],), 5.0, "square each entry: a negative entry adds to the length"),
            Case("all entries negative", ([-3, -4],), 5.0,
                 "a length is never negative: scale by the largest |entry|, not the largest entry"),
            Case("zero vector", ([0, 0],), 0.0, "the zero vector has length 0 (don't divide by zero)"),
            Case("float32 array", (F32,), float(np.linalg.norm(F32.astype(np.float64))),
                 "accept NumPy arrays as well as lists", tol=1e-6),
            Case("huge values", (HUGE,), math.hypot(*HUGE),
                 "fails for vectors with huge values: (1e200)**2 overflows to inf; divide by the "
                 "largest |entry| first, square after scaling, multiply it back"),
            Case("tiny values", (TINY,), 1e-200,
                 "fails for tiny values: (1e-200)**2 underflows to 0; scale by the largest |entry| first"),
        ]
    if name == "normalize":
        return [
            Case("3-4-5 triangle", ([3, 4],), [0.6, 0.8], "divide every entry by the vector's length"),
            Case("array input", (np.array([3.0, 4.0]),), [0.6, 0.8], "return a new vector; leave the input alone"),
            Case("all entries negative", ([-3, -4],), [-0.6, -0.8],
                 "keep the direction: divide by the length, which is positive (scale by the largest "
                 "|entry|, not the largest entry)"),
            Case("huge values", (HUGE,), [math.sqrt(0.5)] * 2,
                 "fails for huge values: compute the length without overflow (scale before squaring)"),
            Case("tiny values", (TINY,), [1.0, 0.0],
                 "fails for tiny values: the squared length underflows to 0; scale before squaring"),
            Case("zero vector", ([0.0, 0.0],), [0.0, 0.0],
                 "a zero vector has no direction: raise ValueError (or return zeros), never NaN",
                 accept_error=True),
        ]
    if name == "cosine":
        return [
            Case("45 degrees", ([1, 0], [1, 1]), math.sqrt(0.5), "dot product divided by both lengths"),
            Case("perpendicular", ([1, 0], [0, 3]), 0.0, "perpendicular vectors have cosine 0"),
            Case("opposite", ([2, 0], [-5, 0]), -1.0, "opposite directions give -1: keep the sign"),
            Case("scale does not matter", ([1, 2, 3], [10, 20, 30]), 1.0,
                 "cosine ignores length: divide by both norms", tol=1e-12),
            Case("never above 1", ([0.17, 0.82, 0.01], [0.17, 0.82, 0.01]), 1.0,
                 "rounding can give 1.0000000000000002: clip the result to [-1, 1]", tol=0.0, compare="le1"),
            Case("huge values", ([1e200, 0.0], HUGE), math.sqrt(0.5),
                 "fails for vectors with huge values: square after scaling (the norms overflow to inf)"),
            Case("float32 arrays", (F32, F32[::-1].copy()), float(np.dot(_unit(F32), _unit(F32[::-1]))),
                 "accept NumPy float32 arrays", tol=1e-6),
            Case("zero vector", ([0, 0], [1, 0]), 0.0,
                 "a zero vector has no direction: raise ValueError (or return 0.0), never NaN",
                 accept_error=True),
        ]
    if name == "euclidean":
        return [
            Case("3-4-5 triangle", ([0, 0], [3, 4]), 5.0, "the length of the difference a - b"),
            Case("identical vectors", ([0.1, 0.7], [0.1, 0.7]), 0.0, "identical vectors are at distance exactly 0",
                 tol=0.0),
            Case("negative entries", ([-1, -1], [2, 3]), 5.0, "square the differences (negative ones too)"),
            Case("huge values", ([3e200, 0], [0, 4e200]), 5e200,
                 "fails for huge values: scale the difference before squaring"),
            Case("different lengths", ([1, 2], [1, 2, 3]), ValueError,
                 "vectors of different lengths: raise ValueError instead of dropping entries"),
        ]
    if name == "knn":
        corpus = [[1, 0], [0, 1], [1, 1], [2, 0], [-1, 0]]
        units = [[0, 1], [1, 0], [-1, 0], [0.6, 0.8]]
        dup = [[0.3, 0.7], [0.9, 0.1], [0.5, 0.5], [0.9, 0.1]]      # rows 1 and 3 are copies
        return [
            Case("nearest first", ([1, 0.2], units, 2), [1, 3],
                 "score every row by cosine, then sort highest first and keep k", compare="exact"),
            Case("cosine, not dot", ([1, 0.1], [[10, 10], [1, 0]], 1), [1],
                 "rank by cosine: a long vector must not win just by length", compare="exact"),
            Case("direction, not distance", ([1, 0], [[5, 0.5], [0.5, 0.3]], 1), [0],
                 "rank by cosine: a long vector pointing the query's way is far away but similar",
                 compare="exact"),
            Case("a long copy of the query", ([1, 1], [[3, 3], [0.5, 0.6], [1, 0]], 2), [0, 1],
                 "rank by cosine: [3, 3] points exactly the query's way, however far it is",
                 compare="exact"),
            Case("k results", ([0.1, 1], corpus, 2), [1, 2], "return exactly k indices, best first",
                 compare="exact"),
            Case("best first, not by index", ([1, 0], [[0.2, 1], [2, 1], [1, 0.1], [0, 1], [3, 1]], 3),
                 [2, 4, 1], "return the k best in order of similarity, best first, not in corpus order",
                 compare="exact"),
            Case("ties by lower index", ([1, 0], dup, 2), [1, 3],
                 "ties: rows 1 and 3 are exact copies; keep the lower index first (a stable sort does)",
                 compare="exact"),
        ]
    if name == "pca":
        line = np.outer(np.linspace(-2, 2, 9), [3.0, 4.0]) / 5.0 + [10.0, -3.0]
        cloud = _rotated_cloud()
        return [
            Case("points on a line", (line, 1), [[0.6, 0.8]],
                 "the first direction of points on a line is the line's unit direction, [[0.6, 0.8]] "
                 "(or its negative): centre the data, then take the unit eigenvector of the "
                 "covariance with the largest eigenvalue, as a row",
                 tol=1e-6, compare="sign"),
            Case("rotated cloud, 2 directions", (cloud, 2), _pca_reference(cloud, 2),
                 "return an array of shape (n_components, d): one direction per row, strongest first",
                 tol=1e-4, compare="sign"),
            Case("rotated cloud, all directions", (cloud, 3), _pca_reference(cloud, 3),
                 "one direction per row, strongest first", tol=1e-4, compare="sign"),
        ]
    raise KeyError(name)


SIGNATURES = {
    "dot": "dot(a, b) -> float (ValueError when the lengths differ)",
    "norm": "norm(a) -> float",
    "normalize": "normalize(a) -> vector of length 1 (raise ValueError, or return zeros, for a zero vector)",
    "cosine": "cosine(a, b) -> float in [-1, 1] (raise ValueError, or return 0.0, for a zero vector)",
    "euclidean": "euclidean(a, b) -> float (ValueError when the lengths differ)",
    "knn": "knn(query, corpus, k) -> k row indices of corpus, most cosine-similar first, ties by lower index",
    "pca": "pca(X, n_components) -> (n_components, d) array of principal directions, strongest first",
}

SOLUTIONS = {name: getattr(_vector_answers, f"solution_{name}") for name in SIGNATURES}
