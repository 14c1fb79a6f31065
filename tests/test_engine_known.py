"""engine.search(known=...): a bound from a sample of the corpus changes the work, not the answer.

Reference: the same engine without the bound (itself checked against sklearn/faiss and the
stored outputs in tests/test_engine_reference.py). The bound is each query's k-th best
exact score over a random subset of the corpus (what vecdiag.scale.search passes to every
row block); the top k over the whole corpus must come back identical, bit for bit, under
every metric, with exact copies and ties; a bound no row can beat leaves rows short
(-1 and -inf padding) instead of inventing neighbours.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vecdiag.neighbors.engine import search
from vecdiag.neighbors.rows import Rows


def _data(seed, n, d, dtype, copies):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.5
    if copies:
        X[rng.integers(0, n, copies)] = X[rng.integers(0, n, copies)]   # exact ties
    X = np.round(X, 1).astype(dtype)                                     # more ties
    Q = np.vstack([np.round(rng.normal(size=(7, d)) + 0.5, 1).astype(dtype), X[:3]])
    return Q, X


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 400), d=st.integers(2, 24),
       k=st.integers(1, 12), metric=st.sampled_from(["cosine", "dot", "euclidean"]),
       dtype=st.sampled_from([np.float32, np.float64]), copies=st.integers(0, 20),
       share=st.floats(0.05, 1.0))
def test_a_bound_from_any_subset_keeps_the_top_k_bit_for_bit(seed, n, d, k, metric, dtype,
                                                              copies, share):
    Q, X = _data(seed, n, d, dtype, copies)
    k = min(k, n)
    ref_idx, ref_sc = search(Rows(Q, metric, "q"), Rows(X, metric, "c"), k)
    subset = np.random.default_rng(seed + 1).random(n) < share
    if subset.sum() < k:
        return
    _, sub_sc = search(Rows(Q, metric, "q"), Rows(X[subset], metric, "c"), k)
    known = sub_sc[:, k - 1].astype(np.float64)
    idx, sc = search(Rows(Q, metric, "q"), Rows(X, metric, "c"), k, known=known,
                     batch_size=int(np.random.default_rng(seed).integers(1, 64)))
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_a_bound_nothing_beats_leaves_rows_short(metric):
    Q, X = _data(3, 200, 8, np.float32, 0)
    # no row scores +inf; under euclidean only a copy of the query is at distance 0
    best = np.inf if metric != "euclidean" else 0.0
    known = np.full(len(Q), best)
    known[0] = -np.inf if metric != "euclidean" else np.inf       # query 0: no bound
    idx, sc = search(Rows(Q, metric, "q"), Rows(X, metric, "c"), 5, known=known)
    ref_idx, ref_sc = search(Rows(Q, metric, "q"), Rows(X, metric, "c"), 5)
    np.testing.assert_array_equal(idx[0], ref_idx[0])
    np.testing.assert_array_equal(sc[0], ref_sc[0])
    assert (idx[1:7] == -1).all()                                 # random queries: none
    assert (sc[1:7] == (np.inf if metric == "euclidean" else -np.inf)).all()
    if metric == "euclidean":                                     # queries 7-9 are rows 0-2
        assert idx[7:, 0].tolist() == [0, 1, 2] and (sc[7:, 0] == 0).all()
