"""Exercises of notebooks 01-04: dot, norm, normalize, cosine, euclidean, knn, pca.

Each ``solution_*`` is the model answer :func:`vecdiag.exercises.solution` prints; each
``Mistake`` is a wrong answer learners really write, with the hint that names it.
"""

from __future__ import annotations

import math

import numpy as np

from ._grader import Case, Mistake

HUGE = [1e200, 1e200]
TINY = [1e-200, 0.0]
F32 = np.array([0.1, 0.2, 0.3], dtype=np.float32)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------------- model answers
def solution_dot(a, b):
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} entries but b has {len(b)}: vectors must have the same length")
    total = 0.0
    for x, y in zip(a, b):
        total += float(x) * float(y)
    return total


def solution_norm(a):
    a = [float(x) for x in a]
    scale = max((abs(x) for x in a), default=0.0)
    if scale == 0.0:
        return 0.0                                 # the zero vector: no division by 0
    return scale * math.sqrt(sum((x / scale) ** 2 for x in a))   # square after scaling


def solution_normalize(a):
    length = solution_norm(a)
    if length == 0.0:
        raise ValueError("a is the zero vector: it has no direction to keep")
    scale = max(abs(float(x)) for x in a)
    # divide by the scale first: x / length could underflow for tiny entries
    return [(float(x) / scale) / (length / scale) for x in a]


def solution_cosine(a, b):
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} entries but b has {len(b)}")
    ua, ub = solution_normalize(a), solution_normalize(b)   # raises for a zero vector
    value = sum(x * y for x, y in zip(ua, ub))
    return max(-1.0, min(1.0, value))             # rounding can step just outside [-1, 1]


def solution_euclidean(a, b):
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} entries but b has {len(b)}")
    return solution_norm([float(x) - float(y) for x, y in zip(a, b)])


def solution_knn(query, corpus, k):
    if not 1 <= k <= len(corpus):
        raise ValueError(f"k={k} must be between 1 and the corpus size {len(corpus)}")
    scores = [solution_cosine(query, row) for row in corpus]
    # sorted() is stable: equal scores keep corpus order, so ties go to the lower index
    return sorted(range(len(corpus)), key=lambda i: -scores[i])[:k]


def solution_pca(X, n_components, n_iter=500):
    X = np.asarray(X, dtype=np.float64)
    X = X - X.mean(axis=0)                        # variance is spread around the mean
    C = X.T @ X / (len(X) - 1)                    # covariance, d x d
    rng = np.random.default_rng(0)
    components = []
    for _ in range(n_components):                 # power iteration, then deflation
        v = rng.normal(size=C.shape[0])
        for _ in range(n_iter):
            w = C @ v
            if np.linalg.norm(w) == 0:
                break
            v = w / np.linalg.norm(w)
        components.append(v)
        C = C - (v @ C @ v) * np.outer(v, v)      # remove what was found
    return np.array(components)                   # one row per direction, strongest first


# ---------------------------------------------------------------------------- wrong answers
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

SIGNATURES = {
    "dot": "dot(a, b) -> float (ValueError when the lengths differ)",
    "norm": "norm(a) -> float",
    "normalize": "normalize(a) -> vector of length 1 (raise ValueError, or return zeros, for a zero vector)",
    "cosine": "cosine(a, b) -> float in [-1, 1] (raise ValueError, or return 0.0, for a zero vector)",
    "euclidean": "euclidean(a, b) -> float (ValueError when the lengths differ)",
    "knn": "knn(query, corpus, k) -> k row indices of corpus, most cosine-similar first, ties by lower index",
    "pca": "pca(X, n_components) -> (n_components, d) array of principal directions, strongest first",
}

SOLUTIONS = {name: globals()[f"solution_{name}"] for name in SIGNATURES}
