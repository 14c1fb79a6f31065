"""Wrong answers learners really write to the exercises of notebooks 01-04, each with
the hint that names its mistake (:data:`MISTAKES`, read by the grader's diagnosis).
"""

from __future__ import annotations

import math

import numpy as np

from ._grader import Mistake
from ._vector_answers import (solution_cosine, solution_euclidean, solution_knn,
                              solution_norm, solution_normalize)


def _naive_norm(a):
    return math.sqrt(sum(x * x for x in a))


def _pow_norm(a):
    return sum(x ** 2 for x in a) ** 0.5


def _checked(fn):
    """fn with the length check of the model answer: a wrong answer with one mistake only."""
    def wrapped(a, b):
        if len(a) != len(b):
            raise ValueError(f"a has {len(a)} entries but b has {len(b)}")
        return fn(a, b)
    return wrapped


def _scaled_norm_no_zero_check(a):
    scale = max(abs(x) for x in a)
    return scale * math.sqrt(sum((x / scale) ** 2 for x in a))


def _signed_scale_norm(a):
    a = [float(x) for x in a]
    scale = max(a, default=0.0)                   # the largest entry, not the largest |entry|
    if scale == 0.0:
        return 0.0
    return scale * math.sqrt(sum((x / scale) ** 2 for x in a))


def _signed_scale_normalize(a):
    length = _signed_scale_norm(a)
    if length == 0.0:
        raise ValueError("a is the zero vector: it has no direction to keep")
    return [float(x) / length for x in a]


def _naive_cosine_clipped(a, b):
    return max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b)) / (_naive_norm(a) * _naive_norm(b))))


def _cosine_unclipped(a, b):
    ua, ub = solution_normalize(a), solution_normalize(b)
    return sum(x * y for x, y in zip(ua, ub))


def _cosine_zero_division(a, b):
    na, nb = solution_norm(a), solution_norm(b)
    value = sum((x / na) * (y / nb) for x, y in zip(a, b))
    return max(-1.0, min(1.0, value))


def _knn_by(score):
    def knn(query, corpus, k):
        s = [score(query, row) for row in corpus]
        return sorted(range(len(corpus)), key=lambda i: -s[i])[:k]
    return knn


def _knn_euclidean(query, corpus, k):
    d = [solution_euclidean(query, row) for row in corpus]
    return sorted(range(len(corpus)), key=lambda i: d[i])[:k]


def _knn_ascending(query, corpus, k):
    s = [solution_cosine(query, row) for row in corpus]
    return sorted(range(len(corpus)), key=lambda i: s[i])[:k]


def _knn_index_order(query, corpus, k):
    return sorted(solution_knn(query, corpus, k))  # the right k rows, in corpus order


def _knn_ties_reversed(query, corpus, k):
    s = np.array([solution_cosine(query, row) for row in corpus])
    return np.argsort(s)[::-1][:k].tolist()      # reversing an ascending sort flips ties


def _pca_uncentred(X, n):
    return np.linalg.svd(np.asarray(X, dtype=float), full_matrices=False)[2][:n]


def _pca_eigh_ascending(X, n):
    X = np.asarray(X, dtype=float)
    X = X - X.mean(axis=0)
    values, vectors = np.linalg.eigh(X.T @ X)
    return vectors.T[:n]                          # eigh sorts eigenvalues ascending


def _pca_transposed(X, n):
    X = np.asarray(X, dtype=float)
    X = X - X.mean(axis=0)
    values, vectors = np.linalg.eigh(X.T @ X)
    return vectors[:, ::-1][:, :n]                # directions are the *columns* of eigh's result


MISTAKES = {
    "dot": [
        Mistake("zip_truncates", lambda a, b: sum(x * y for x, y in zip(a, b)),
                "zip stops silently at the shorter vector, so different lengths give a number: "
                "compare len(a) and len(b) first and raise ValueError"),
        Mistake("index_error", lambda a, b: sum(a[i] * b[i] for i in range(len(a))),
                "looping over range(len(a)) reads past the end of a shorter b (IndexError) and "
                "ignores the rest of a longer b: check the lengths first and raise ValueError"),
        Mistake("no_sum", lambda a, b: [x * y for x, y in zip(a, b)],
                "you return the products one by one: the dot product is their sum, one number"),
    ],
    "norm": [
        Mistake("overflow", _pow_norm,
                "squaring first overflows ((1e200)**2 is too large) and underflows ((1e-200)**2 is 0): "
                "divide by the largest |entry|, square after scaling, multiply it back"),
        Mistake("overflow", _naive_norm,
                "squaring first overflows ((1e200)**2 is inf) and underflows ((1e-200)**2 is 0): "
                "divide by the largest |entry|, square after scaling, multiply it back"),
        Mistake("zero_division", _scaled_norm_no_zero_check,
                "scaling by the largest |entry| divides by 0 for the zero vector: return 0.0 "
                "when every entry is 0"),
        Mistake("signed_scale", _signed_scale_norm,
                "you scaled by the largest entry, max(a): for [-3, -4] that is -3 and the length "
                "comes out negative; scale by the largest |entry|, max(abs(x) for x in a)"),
        Mistake("no_sqrt", lambda a: sum(float(x) ** 2 for x in a),
                "that is the squared length: take the square root of the sum of squares"),
    ],
    "normalize": [
        Mistake("overflow", lambda a: [x / _pow_norm(a) for x in a],
                "the length overflows or underflows when you square first: compute it by scaling "
                "(your norm from notebook 02), and give the zero vector a ValueError"),
        Mistake("overflow", lambda a: [x / _naive_norm(a) for x in a],
                "the length overflows or underflows when you square first: compute it by scaling "
                "(your norm from notebook 02), and give the zero vector a ValueError"),
        Mistake("zero_division", lambda a: [x / solution_norm(a) for x in a],
                "a zero vector makes you divide by 0 (ZeroDivisionError or NaN): check for "
                "length 0 and raise ValueError('zero vector has no direction')"),
        Mistake("signed_scale", _signed_scale_normalize,
                "you scaled by the largest entry, max(a): for [-3, -4] the length comes out "
                "negative and the direction flips; scale by the largest |entry|"),
        Mistake("in_place", lambda a: np.divide(a, solution_norm(a), out=a) if isinstance(a, np.ndarray)
                else [x / solution_norm(a) for x in a],
                "you divided the input in place (a /= n): the caller's vector changed; return a new one"),
    ],
    "cosine": [
        Mistake("no_clip", _cosine_unclipped,
                "rounding can give 1.0000000000000002 for a vector with itself: clip to [-1, 1]"),
        Mistake("overflow", lambda a, b: max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b))
                                                      / (_pow_norm(a) * _pow_norm(b)))),
                "the norms overflow for huge values: scale before squaring, e.g. normalise each "
                "vector with a safe norm first"),
        Mistake("overflow", _naive_cosine_clipped,
                "the norms overflow for huge values (inf / inf is NaN): scale before squaring, "
                "e.g. normalise each vector with a safe norm first"),
        Mistake("zero_division", _cosine_zero_division,
                "a zero vector has length 0 and you divide by it (ZeroDivisionError): detect it and "
                "raise ValueError, or return 0.0 on purpose"),
    ],
    "euclidean": [
        Mistake("overflow", _checked(lambda a, b: _pow_norm([x - y for x, y in zip(a, b)])),
                "the squared differences overflow for huge values: scale the difference before "
                "squaring"),
        Mistake("overflow", _checked(lambda a, b: _naive_norm([x - y for x, y in zip(a, b)])),
                "the squared differences overflow for huge values: scale the difference before "
                "squaring, and check the lengths match"),
        Mistake("squared", _checked(lambda a, b: sum((float(x) - float(y)) ** 2 for x, y in zip(a, b))),
                "that is the squared distance: take the square root"),
        Mistake("manhattan", _checked(lambda a, b: sum(abs(float(x) - float(y)) for x, y in zip(a, b))),
                "summing |a_i - b_i| is the Manhattan (L1) distance: square the differences, add, "
                "take the square root"),
    ],
    "knn": [
        Mistake("dot", _knn_by(lambda q, r: sum(x * y for x, y in zip(q, r))),
                "you ranked by the dot product, so a long vector wins by length: rank by cosine"),
        Mistake("euclidean", _knn_euclidean,
                "you ranked by euclidean distance: on vectors of different lengths a near vector "
                "can point elsewhere; the exercise asks for cosine (they agree only on unit vectors)"),
        Mistake("ascending", _knn_ascending,
                "you sorted lowest cosine first: sort by descending score (key=-score)"),
        Mistake("index_order", _knn_index_order,
                "you return the right rows but in corpus order: list them best first (highest "
                "cosine first); sorting the indices themselves loses that order"),
        Mistake("ties_reversed", _knn_ties_reversed,
                "reversing an ascending argsort also reverses ties: sort by -score with a stable "
                "sort so equal scores keep the lower index first"),
    ],
    "pca": [
        Mistake("uncentred", _pca_uncentred,
                "you did not centre the data: subtract the mean of each column first, or the first "
                "direction points at the mean instead of along the spread"),
        Mistake("eigh_ascending", _pca_eigh_ascending,
                "np.linalg.eigh returns eigenvalues in ascending order: your first row is the "
                "weakest direction; reverse the order (vectors[:, ::-1])"),
        Mistake("transposed", _pca_transposed,
                "eigh returns eigenvectors as columns: take the transpose so each row is a "
                "direction, shape (n_components, d)"),
    ],
}
