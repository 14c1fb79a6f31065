"""Planted-failure corpora for the explain_neighbors test suite.

Each generator returns a :class:`Case`: a corpus where one cause, and only that cause,
makes a known query miss a known expected document (plus a healthy control). They take
``rng``, ``n`` (rows) and ``d`` (dimension) so the suite can vary sizes, dimensions and
seeds; each generator states the mechanism it plants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass
class Case:
    corpus: np.ndarray
    query: np.ndarray
    expected: list
    metric: str = "cosine"
    k: int = 10
    kwargs: dict = field(default_factory=dict)


def healthy_corpus(rng, n, d):
    """Clustered corpus: random centres, each document its centre plus noise (cosine to
    the centre about 0.75). No shared direction, no hubs, no copies."""
    n_clusters = max(5, n // 25)
    centers = unit(rng.normal(size=(n_clusters, d)))
    labels = rng.integers(0, n_clusters, n)
    return centers[labels] + 0.9 * unit(rng.normal(size=(n, d)))


def control(rng, n, d):
    """Healthy corpus; the query is a noisy copy of the expected document."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(n))
    q = unit(X[e]) + 0.3 * unit(rng.normal(size=d))
    return Case(X, q, [e])


def hub(rng, n, d, k=10):
    """A weak shared direction mu (mean cosine ~0.23) and k+4 documents lying almost on
    it: they are in nearly every document's top-k. The query leans on mu, so the hubs
    outrank the expected document, whose own direction the query shares. Hubness is a
    high-dimensional effect: use d >= 64."""
    m = 0.55
    mu = unit(rng.normal(size=d))
    Z = rng.normal(size=(n, d))
    Z = unit(Z - np.outer(Z @ mu, mu))  # every document has exactly the same share of mu
    X = m * mu + Z
    n_h = k + 4
    X[:n_h] = m * mu + 0.35 * unit(rng.normal(size=(n_h, d)))
    e = int(rng.integers(n_h, n))
    q = m * mu + 0.2 * Z[e] + 0.03 * unit(rng.normal(size=d))
    return Case(X, q, [e], k=k)


def norm_bias(rng, n, d, k=10):
    """Dot-product search; k+2 documents are 15x longer than the rest and point
    loosely towards the query, so they beat the expected (same-direction) document."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(k + 2, n))
    q = unit(X[e]) + 0.2 * unit(rng.normal(size=d))
    long_rows = np.arange(k + 2)
    X[long_rows] = 15 * unit(0.6 * unit(q) + unit(rng.normal(size=(k + 2, d))))
    return Case(X, q, [e], metric="dot", k=k)


def metric_mismatch(rng, n, d, k=10):
    """Euclidean search over vectors whose lengths vary from 0.3 to 3; the expected
    document points exactly along the query but is 3x longer, so documents of the
    query's length but other directions are closer in euclidean distance."""
    X = unit(healthy_corpus(rng, n, d)) * rng.uniform(0.3, 3.0, size=(n, 1))
    e = int(rng.integers(n))
    q = unit(X[e] + 0.1 * unit(rng.normal(size=d)))
    X[e] = 3.0 * unit(X[e])
    return Case(X, q, [e], metric="euclidean", k=k)


def rogue_dimensions(rng, n, d, k=10):
    """Three dimensions carry a large offset with a large spread (rogue dimensions);
    the query's values there are high, the expected document's low, so documents with
    high rogue values win the cosine although their other dimensions are unrelated."""
    X = healthy_corpus(rng, n, d)
    dims = rng.choice(d, size=3, replace=False)
    X[:, dims] = rng.normal(4.0, 1.5, size=(n, 3))
    e = int(rng.integers(n))
    q = X[e] + 0.2 * unit(rng.normal(size=d))
    X[e, dims] = 1.0
    q[dims] = 8.0
    return Case(X, q, [e], k=k)


def rogue_variance(rng, n, d, k=10):
    """Three zero-mean dimensions of sd 2.5 (a healthy vector is about 1 long): they
    decide which documents score alike; the query is large there, its document 0."""
    X = healthy_corpus(rng, n, d)
    dims = rng.choice(d, size=3, replace=False)
    X[:, dims] = rng.normal(0.0, 2.5, size=(n, 3))
    e = int(rng.integers(n))
    q = X[e] + 0.2 * unit(rng.normal(size=d))
    X[e, dims] = 0.0
    q[dims] = rng.choice([-1, 1], size=3) * 6.0
    return Case(X, q, [e], k=k)


def anisotropy(rng, n, d, k=10):
    """Every document shares one direction (spread over all dimensions) with weight
    a in [1, 3] on top of its own unit-length meaning; the query has a large weight, the
    expected document a small one. Cosine then prefers documents with a similar share
    of the common direction over the one with the same meaning; centring removes it."""
    mu = unit(rng.normal(size=d))
    Z = unit(healthy_corpus(rng, n, d))
    a = rng.uniform(1.0, 3.0, size=(n, 1))
    X = a * mu + Z
    e = int(rng.integers(n))
    X[e] = 0.6 * mu + Z[e]
    q = 3.0 * mu + Z[e] + 0.2 * unit(rng.normal(size=d))
    return Case(X, q, [e], k=k)


def near_duplicates(rng, n, d, k=10):
    """k+2 near-copies (cosine > 0.99) of one document close to the query fill the top-k
    ahead of the expected document (rank k+3 or so)."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(k + 3, n))
    q = unit(X[e]) + 0.3 * unit(rng.normal(size=d))
    base = unit(q) + 0.25 * unit(rng.normal(size=d))
    X[:k + 2] = base + 0.01 * unit(rng.normal(size=(k + 2, d)))
    return Case(X, q, [e], k=k)


def low_margin(rng, n, d, k=10):
    """Healthy corpus; the expected document is placed at cosine (k-th score - 1e-5)
    from the query: rank k+1 by a hair."""
    X = healthy_corpus(rng, n, d)
    q = unit(X[int(rng.integers(n))] + 0.3 * unit(rng.normal(size=d)))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[3 * k])
    kth = np.sort(cos)[::-1][k - 1]
    target = kth - 1e-5
    orth = unit(X[e] - (X[e] @ q) * q)
    X[e] = target * q + np.sqrt(1 - target ** 2) * orth
    return Case(X, q, [e], k=k)


def expected_far(rng, n, d, k=10):
    """Healthy corpus; the expected document is an unrelated one (another cluster):
    nothing about the vectors will bring it to the query."""
    X = healthy_corpus(rng, n, d)
    a = int(rng.integers(n))
    q = unit(X[a]) + 0.3 * unit(rng.normal(size=d))
    cos = unit(X) @ unit(q)
    e = int(np.argsort(cos)[n // 3])  # a third of the way from the bottom
    return Case(X, q, [e], k=k)


def out_of_distribution(rng, n, d, k=10):
    """Tight clusters (documents near their centre); the query is a random direction
    far from every cluster, and the expected document its best guess among them."""
    n_clusters = max(5, n // 25)
    centers = unit(rng.normal(size=(n_clusters, d)))
    X = centers[rng.integers(0, n_clusters, n)] + 0.4 * unit(rng.normal(size=(n, d)))
    q = unit(rng.normal(size=d))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[2 * k])
    return Case(X, q, [e], k=k)


def ann_miss(rng, n, d, k=10):
    """Healthy corpus and query; the production index returned the exact top-k with the
    expected document (exact rank 3) swapped for the k+1-th."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(n))
    q = unit(X[e]) + 0.3 * unit(rng.normal(size=d))
    order = np.argsort(-(unit(X) @ unit(q)), kind="stable")
    e = int(order[2])
    returned = [int(r) for r in order[:k + 1] if r != e][:k]
    return Case(X, q, [e], k=k, kwargs={"returned": returned})


GENERATORS = {"hub": hub, "norm_bias": norm_bias, "metric_mismatch": metric_mismatch,
              "rogue_dimensions": rogue_dimensions, "anisotropy": anisotropy,
              "near_duplicates": near_duplicates, "low_margin": low_margin,
              "expected_far": expected_far, "out_of_distribution": out_of_distribution,
              "ann_miss": ann_miss}


# ------------------------------------------------------------ entangled causes (issue 14)
def duplicate_hub(rng, n, d, k=10):
    """Root cause over symptom: 14 near-copies (cosine > 0.99) of one document close to the
    query fill the top-k ahead of the expected document; 40 documents around them list
    copies among their neighbours, and the copies list each other, so every copy has a
    large k-occurrence: they look like hubs, but de-duplication is what brings the
    expected document back (it is second once the copies take one place)."""
    X = healthy_corpus(rng, n, d)
    q = unit(rng.normal(size=d))
    base = unit(q + 0.25 * unit(rng.normal(size=d)))
    n_copies, n_around = 14, 40
    X[:n_copies] = base + 0.01 * unit(rng.normal(size=(n_copies, d)))
    # documents around the copies, farther from the query: their nearest are the copies
    side = rng.normal(size=(n_around, d))
    side -= np.outer(side @ unit(q), unit(q))
    X[n_copies:n_copies + n_around] = base + 0.55 * unit(side)
    e = n_copies + n_around + int(rng.integers(n - n_copies - n_around))
    X[e] = unit(q) + 0.38 * unit(rng.normal(size=d))
    return Case(X, q, [e], k=k)


def centroid_low_margin(rng, n, d, k=10):
    """Low margin among centroid documents: a shared direction, 30 documents close to the
    corpus centroid (hubs: near everyone) and a query near the centroid too, so the top-k
    are centroid documents; the expected document scores the k-th score minus 1e-5. A
    hub fix flips that gap, but so would any change: the root cause is the margin."""
    mu = unit(rng.normal(size=d))
    X = 0.6 * mu + unit(healthy_corpus(rng, n, d))
    X[:30] = mu + 0.35 * unit(rng.normal(size=(30, d)))
    q = unit(mu + 0.4 * unit(rng.normal(size=d)))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[3 * k])
    kth = np.sort(cos)[::-1][k - 1]
    target = kth - 1e-5
    orth = unit(X[e] - (X[e] @ q) * q)
    X[e] = target * q + np.sqrt(1 - target ** 2) * orth
    return Case(X, q, [e], k=k)


ENTANGLED = {"near_duplicates": duplicate_hub, "low_margin": centroid_low_margin}
"""Planted cause -> generator where a symptom (hubs) competes with the root cause."""
