"""Model answers of the exercises of notebooks 01-04 (dot, norm, normalize, cosine,
euclidean, knn, pca): what :func:`vecdiag.exercises.solution` prints, written to be read.
"""

from __future__ import annotations

import math

import numpy as np


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
