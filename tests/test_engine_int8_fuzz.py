"""Adversarial cases of the int8 candidate stage (vecdiag/neighbors/_lowp.py, _bf16.py):
inputs built to sit where the bound's reasoning is thinnest.

Reference: the exact float64 products of the same prepared rows (the bound's own
definition, :meth:`vecdiag.neighbors._bf16.Stage.tolerance`), and the engine's float
path (both stages off) for the results, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _bf16_switch import needs_int8, switch_on

from vecdiag.neighbors import _bf16
from vecdiag.neighbors.engine import search
from vecdiag.neighbors.rows import Rows

pytestmark = needs_int8

_TINY = 2.0 ** -126


@pytest.fixture
def int8(monkeypatch):
    return switch_on(monkeypatch, "int8")


def _product_errors(X, Q, metric):
    """Per query the stage may score (its bound finite): the largest error of the
    stage's keys against the exact float64 keys of the rows the scan multiplies (``2q``
    under euclidean), over the stage's own part of the bound (the default part 0). Not
    centred, the products before the euclidean ``− ‖c‖²`` (the engine's own part of the
    bound covers that subtraction); centred, the keys with ``q·s`` added back (the row
    terms, ``− ‖c‖²`` in them, are the stage's). Also returns the stage."""
    C, Qr = Rows(X, metric, "corpus"), Rows(Q, metric, "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    assert stage.codec.name == "int8"
    pos = np.arange(Qr.n)
    own = stage.tolerance(pos, np.zeros(pos.size))
    pos, own = pos[np.isfinite(own)], own[np.isfinite(own)]
    Qb = Qr.take(pos) * (2 if metric == "euclidean" else 1)
    S = np.empty((C.n, pos.size), X.dtype)
    exact = Qb.astype(np.float64) @ C.data.astype(np.float64).T
    if stage.corpus.centred:
        stage.into(stage.prepare(Qb), 0, C.n, S)
        key = stage.absolute(pos, S.T)
        if metric == "euclidean":
            exact -= C.sq.astype(np.float64)
    else:
        stage.codec.into(stage.torch, stage.corpus.rows, 0, C.n, stage.prepare(Qb), S)
        key = S.T.astype(np.float64)
    return np.abs(key - exact).max(axis=1, initial=0.0) / own, stage


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [2, 8, 64])
def test_euclidean_queries_are_bounded_as_the_scan_doubles_them(int8, dtype, d):
    """A corpus of integers up to 127 (its scale exactly 1: the int8 copy is the rows,
    no residual) and queries of integers up to 100 times 2^-126: a query's own scale is
    held at 2^-126, so its int8 copy is exact too. Under euclidean the scan multiplies
    ``2q``, whose scale (200/127 x 2^-126) is not twice the query's: its rounding
    error must be in the bound all the same."""
    rng = np.random.default_rng(d)
    X = rng.integers(-127, 128, (300, d)).astype(dtype)
    X[0, 0] = 127
    Q = (rng.integers(-100, 101, (6, d)) * _TINY).astype(dtype)
    Q[:, 0] = 100 * _TINY
    ratio, stage = _product_errors(X, Q, "euclidean")
    assert not stage.corpus.centred and ratio.size == Q.shape[0]
    assert ratio.max() <= 1.0
    assert ratio.max() >= 0.01


def _rows(kind, rng, n, d):
    """Rows where the int8 bound is thin: integers up to 127 (a scale of exactly 1, no
    residual), integers times 2^-126 (scales held at 2^-126), a rogue dimension (one
    scale for every entry), lengths over 80 binades, sparse rows, duplicates and zero
    rows, a narrow cone (centred), and plain normal rows."""
    X = rng.normal(size=(n, d))
    if kind == "int127":
        X = rng.integers(-127, 128, (n, d)).astype(float)
        X[0, 0] = 127
    elif kind == "tiny ints":
        X = rng.integers(-127, 128, (n, d)) * _TINY * 2.0 ** int(rng.integers(0, 4))
    elif kind == "rogue":
        X[:, int(rng.integers(d))] *= 1e4
    elif kind == "mixed":
        X *= np.exp2(rng.integers(-40, 40, (n, 1)))
    elif kind == "sparse":
        X *= rng.random((n, d)) < 0.1
    elif kind == "copies":
        X[rng.integers(0, n, n // 2)] = X[0]
        X[rng.integers(0, n, n // 4)] = 0.0
    elif kind == "cone":
        X = 10.0 + 1e-3 * X
    return X


_KINDS = ["normal", "int127", "tiny ints", "rogue", "mixed", "sparse", "copies", "cone"]


@settings(max_examples=300, deadline=None)
@given(corpus=st.sampled_from(_KINDS), queries=st.sampled_from(_KINDS + ["rows"]),
       seed=st.integers(0, 10_000), n=st.integers(2, 200),
       d=st.sampled_from([2, 3, 8, 33, 100]),
       metric=st.sampled_from(["cosine", "dot", "euclidean"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_int8_keys_stay_inside_the_stage_bound(corpus, queries, seed, n, d, metric, dtype):
    """The stage's keys against exact float64 keys, on rows built where the bound's
    reasoning is thinnest (see :func:`_rows`), queries of another kind than the corpus
    (scales far apart) or its own rows: never past the stage's own part of the bound."""
    rng = np.random.default_rng(seed)
    X = _rows(corpus, rng, n, d).astype(dtype)
    Q = (X[rng.integers(0, n, 5)] if queries == "rows"
         else _rows(queries, rng, 5, d).astype(dtype))
    if metric == "cosine":                    # zero rows have no cosine
        X[~X.any(axis=1), 0] = 1
        Q[~Q.any(axis=1), 0] = 1
    with pytest.MonkeyPatch.context() as mp:
        switch_on(mp, "int8")
        ratio, _ = _product_errors(X, Q, metric)
    assert ratio.max(initial=0.0) <= 1.0


@settings(max_examples=40, deadline=None)
@given(corpus=st.sampled_from(_KINDS), queries=st.sampled_from(_KINDS + ["rows"]),
       seed=st.integers(0, 10_000), n=st.integers(2, 200), d=st.sampled_from([2, 5, 40]),
       k=st.integers(1, 200), metric=st.sampled_from(["cosine", "dot", "euclidean"]),
       dtype=st.sampled_from([np.float32, np.float64]),
       entry=st.sampled_from(["search", "known", "exclude_self"]))
def test_int8_results_match_the_float_path_bit_for_bit(corpus, queries, seed, n, d, k,
                                                       metric, dtype, entry):
    """The same rows through the engine as its callers call it: a plain search, a
    ``known`` floor from a subset of the corpus (as vecdiag.scale.search passes it), and
    the kNN of a corpus through another Rows of the same array (exclude_self): the
    float path's indices and scores, bit for bit, inputs untouched."""
    rng = np.random.default_rng(seed)
    X = _rows(corpus, rng, n, d).astype(dtype)
    Q = (X[rng.integers(0, n, 6)] if queries == "rows"
         else _rows(queries, rng, 6, d).astype(dtype))
    if metric == "cosine":
        X[~X.any(axis=1), 0] = 1
        Q[~Q.any(axis=1), 0] = 1
    k, options = min(k, n), {}
    if entry == "exclude_self":
        if n < 2:
            return
        Q, k, options = X, min(k, n - 1), {"exclude_self": True}
    if entry == "known":
        subset = np.sort(rng.choice(n, int(rng.integers(k, n + 1)), replace=False))
        _, top = search(Rows(Q, metric, "q"), Rows(X[subset], metric, "s"), k)
        options["known"] = top[:, -1].astype(np.float64)
    before = (X.copy(), Q.copy())
    with pytest.MonkeyPatch.context() as mp:
        switch_on(mp, "int8")
        got = search(Rows(Q, metric, "q"), Rows(X, metric, "c"), k, **options)
        mp.setenv("VECDIAG_INT8", "0")
        ref = search(Rows(Q, metric, "q"), Rows(X, metric, "c"), k, **options)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(Q, before[1])
