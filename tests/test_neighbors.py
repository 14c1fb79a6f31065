"""Exact search: knn, Index, Neighbors and scratch.knn against independent references.

References: scikit-learn NearestNeighbors(algorithm="brute"), a full score matrix in
float64 ranked with np.lexsort (the tie rule written out), faiss when installed, and
scipy's cdist for euclidean accuracy.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vecdiag as vd
from vecdiag import scratch
from vecdiag.neighbors import Index, Neighbors, _filter, _scan, _select, engine, knn

METRICS = ("cosine", "dot", "euclidean")


# ---------------------------------------------------------------- references

def full_scores(Q, C, metric):
    """Every score in float64, computed independently of vecdiag."""
    Q = np.asarray(Q, float)
    C = np.asarray(C, float)
    if metric == "cosine":
        return (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ \
            (C / np.linalg.norm(C, axis=1, keepdims=True)).T
    if metric == "dot":
        return Q @ C.T
    from scipy.spatial.distance import cdist

    return cdist(Q, C)


def brute(Q, C, k, metric, exclude_self=False, decimals=9):
    """Top k by the written-out rule: best score first, equal (rounded) scores by lower index."""
    S = full_scores(Q, C, metric)
    key = S if metric == "euclidean" else -S
    key = np.round(key, decimals)          # exact ties in exact arithmetic: merge ulp noise
    if exclude_self:
        key[np.arange(len(Q)), np.arange(len(Q))] = np.inf
    cols = np.broadcast_to(np.arange(C.shape[0]), key.shape)
    order = np.lexsort((cols, key), axis=1)[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


def assert_same(res, idx, scores, *, rtol=1e-5, atol=1e-6, Q=None, C=None):
    """Same neighbours and scores; a differing index is allowed only at a near tie.

    With ``Q`` and ``C`` given, each returned neighbour's reference score must also equal
    the score reported for it (a swapped neighbour really ties).
    """
    np.testing.assert_allclose(res.scores, scores, rtol=rtol, atol=atol)
    if Q is not None:
        S = full_scores(Q, C, res.metric)
        np.testing.assert_allclose(np.take_along_axis(S, res.indices, axis=1), res.scores,
                                   rtol=rtol, atol=atol)
    else:
        assert (res.indices != idx).mean() < 0.01, "too many differing neighbours"


@pytest.fixture
def data(rng):
    C = rng.normal(size=(600, 24))
    Q = rng.normal(size=(57, 24))
    return Q, C


def tie_data(rng):
    """Integer vectors (every score exact) with planted duplicates straddling the k-th place."""
    C = rng.integers(-3, 4, size=(300, 8)).astype(float)
    C[np.abs(C).sum(axis=1) == 0, 0] = 1.0
    for src, copies in ((5, [40, 41, 90, 200, 299]), (7, [8, 9, 150]), (11, range(100, 130))):
        C[list(copies)] = C[src]
    Q = np.vstack([C[[5, 7, 11, 40, 100]], rng.integers(-3, 4, size=(20, 8))]).astype(float)
    Q[np.abs(Q).sum(axis=1) == 0, 0] = 1.0
    return Q, C


# ---------------------------------------------------------------- worked example

def test_worked_example_by_hand():
    """Query q = (1, 0); corpus a = (1, 0.1), b = (0, 1), c = (2, 0), d = (1, 0).

    cosine: a 1/sqrt(1.01) = 0.995037, b 0, c 1, d 1 → c and d tie at 1: the lower index
    (c, row 2) comes first. dot: c 2, then a and d tie at 1 → a (row 0) before d (row 3).
    euclidean: d 0, a 0.1, c 1.
    """
    q = [[1, 0]]
    C = [[1, 0.1], [0, 1], [2, 0], [1, 0]]
    res = knn(q, C, k=3)
    assert res.indices.tolist() == [[2, 3, 0]]
    np.testing.assert_allclose(res.scores, [[1.0, 1.0, 1 / np.sqrt(1.01)]])
    assert knn(q, C, k=3, metric="dot").indices.tolist() == [[2, 0, 3]]
    res = knn(q, C, k=3, metric="euclidean")
    assert res.indices.tolist() == [[3, 0, 2]]
    assert res.scores[0, 0] == 0.0
    np.testing.assert_allclose(res.scores[0, 1:], [0.1, 1.0])


# ---------------------------------------------------------------- against references

@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_equals_sklearn_brute(data, metric, dtype):
    from sklearn.neighbors import NearestNeighbors

    Q, C = (x.astype(dtype) for x in data)
    nn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric=metric).fit(C)
    dist, ind = nn.kneighbors(Q)
    res = knn(Q, C, k=10, metric=metric)
    expected = 1 - dist if metric == "cosine" else dist
    tol = 1e-5 if dtype == np.float32 else 1e-10
    assert_same(res, ind, expected, rtol=tol, atol=tol, Q=Q, C=C)
    assert res.indices.dtype == np.int64 and res.scores.dtype == dtype


@pytest.mark.parametrize("metric", METRICS)
def test_equals_written_out_rule(data, metric):
    Q, C = data
    idx, sc = brute(Q, C, 7, metric)
    res = knn(Q, C, k=7, metric=metric)
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_allclose(res.scores, sc, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_ties_break_by_lower_index(rng, metric):
    Q, C = tie_data(rng)
    for k in (1, 3, 4, 6, 12, 31):
        idx, sc = brute(Q, C, k, metric)
        res = knn(Q, C, k=k, metric=metric)
        if metric == "cosine":
            # different integer vectors can have equal cosines in exact arithmetic that
            # differ in the last bit once computed: only those may swap
            assert_same(res, idx, sc, rtol=1e-14, atol=1e-14, Q=Q, C=C)
        else:   # dot products and squared distances of small integers are exact
            np.testing.assert_array_equal(res.indices, idx)
        np.testing.assert_allclose(res.scores, sc, atol=1e-12)
    # the planted case: query = row 11, which has 30 copies at rows 100..129
    res = knn(Q[2:3], C, k=12, metric=metric)
    if metric != "dot":
        assert res.indices[0].tolist() == [11, *range(100, 111)]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_ties_against_sklearn_scores(rng, metric):
    """With duplicates sklearn picks tied members its own way: scores must still agree."""
    from sklearn.neighbors import NearestNeighbors

    Q, C = tie_data(rng)
    dist, _ = NearestNeighbors(n_neighbors=6, algorithm="brute", metric=metric).fit(C) \
        .kneighbors(Q)
    res = knn(Q, C, k=6, metric=metric)
    np.testing.assert_allclose(res.scores, 1 - dist if metric == "cosine" else dist,
                               atol=1e-12)


def test_duplicate_fixture_ties(with_duplicates):
    """Rows 3, 50, 120 are copies: row 3's neighbours are 50 then 120, at cosine 1."""
    res = Index(with_duplicates).knn_graph(k=2)
    assert res.indices[3].tolist() == [50, 120]
    assert res.indices[50].tolist() == [3, 120]
    assert res.indices[120].tolist() == [3, 50]
    np.testing.assert_array_equal(res.scores[[3, 50, 120]], 1.0)


def test_norm_outlier_wins_dot_not_cosine(with_norm_outlier):
    dot = knn(with_norm_outlier[:20], with_norm_outlier, k=1, metric="dot")
    cos = knn(with_norm_outlier[:20], with_norm_outlier, k=1, metric="cosine")
    assert (dot.indices[:, 0] == 11).mean() > 0.4
    assert (cos.indices[:, 0] == np.arange(20)).all()


# ---------------------------------------------------------------- euclidean care

def test_euclidean_exact_zero_and_never_negative(rng):
    # Far from the origin, the expanded form ‖q‖² + ‖c‖² − 2 q·c cancels badly.
    C = 1e4 + rng.normal(scale=1e-3, size=(300, 16))
    C[10] = C[3]
    Q = C[[3, 10, 50]]
    for dtype in (np.float64, np.float32):
        res = knn(Q.astype(dtype), C.astype(dtype), k=5, metric="euclidean")
        assert (res.scores >= 0).all()
        assert res.scores[0, 0] == 0.0 and res.scores[0, 1] == 0.0
        assert res.indices[0, :2].tolist() == [3, 10]
        assert res.indices[2, 0] == 50 and res.scores[2, 0] == 0.0
    res = knn(Q, C, k=5, metric="euclidean")
    from scipy.spatial.distance import cdist

    expected = np.sort(cdist(Q, C), axis=1)[:, :5]
    np.testing.assert_allclose(res.scores, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- scratch == numpy == faiss

@pytest.mark.parametrize("metric", METRICS)
def test_scratch_equals_numpy(rng, metric):
    Q, C = rng.normal(size=(6, 5)), rng.normal(size=(40, 5))
    a = scratch.knn(Q, C, k=4, metric=metric)
    b = knn(Q, C, k=4, metric=metric)
    assert isinstance(a, Neighbors)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12, atol=1e-12)
    c = scratch.knn(C, C, k=3, metric=metric, exclude_self=True)
    d = knn(C, C, k=3, metric=metric, exclude_self=True)
    np.testing.assert_array_equal(c.indices, d.indices)


@pytest.mark.parametrize("metric", METRICS)
def test_scratch_ties(rng, metric):
    Q, C = tie_data(rng)
    Q, C = Q[:6], C[:140]
    for k in (1, 4, 12):
        a, b = scratch.knn(Q, C, k=k, metric=metric), knn(Q, C, k=k, metric=metric)
        if metric == "cosine":
            assert_same(b, a.indices, a.scores, rtol=1e-14, atol=1e-14, Q=Q, C=C)
            np.testing.assert_array_equal(a.indices[:3], b.indices[:3])   # planted copies
        else:
            np.testing.assert_array_equal(a.indices, b.indices)


int_rows = hnp.arrays(np.int64, st.tuples(st.integers(2, 25), st.integers(1, 4)),
                      elements=st.integers(-3, 3))


@given(C=int_rows, n_q=st.integers(1, 4), k=st.integers(1, 25),
       metric=st.sampled_from(METRICS), chunk=st.integers(1, 7), threaded=st.booleans())
def test_property_chunked_scan_equals_scratch(C, n_q, k, metric, chunk, threaded):
    """Corpus chunks of a few rows (the running threshold filters every chunk after the
    first), pulled by one or two workers: still the written-out answer, ties included."""
    if metric == "cosine":
        C[np.abs(C).sum(axis=1) == 0, 0] = 1
    C = C.astype(float)
    k, n_q = min(k, C.shape[0]), min(n_q, C.shape[0])
    Q = C[:n_q] * 2 + 1
    a = scratch.knn(Q, C, k=k, metric=metric)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_scan, "_CORPUS_CHUNK", chunk)
        if threaded:
            mp.setattr(_scan, "_PARALLEL_FLOPS", 0.0)
        b = knn(Q, C, k=k, metric=metric)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12, atol=1e-12)
    if metric == "cosine":
        assert_same(b, a.indices, a.scores, rtol=1e-12, atol=1e-12, Q=Q, C=C)
    else:
        np.testing.assert_array_equal(a.indices, b.indices)


@given(S=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 300)),
                    elements=st.integers(-4, 4).map(float)),
       kk=st.integers(1, 40), cut=st.integers(-5, 5), by_column=st.booleans())
def test_property_select_keeps_the_top(S, kk, cut, by_column):
    """Integer scores (many ties): every entry at or above a row's kk-th largest value and
    above the threshold is returned; nothing at or below the threshold is."""
    from vecdiag.neighbors._filter import select

    lines, m = S.shape
    kk = min(kk, m)
    thr = np.full(lines, cut - 0.5, np.float32)
    thr[::2] = -np.inf
    line, cols, vals = select(np.ascontiguousarray(S.T) if by_column else S, kk, thr,
                              by_column=by_column)
    np.testing.assert_array_equal(vals, S[line, cols])
    assert (vals > thr[line]).all()
    assert len(set(zip(line.tolist(), cols.tolist()))) == line.size     # no repeats
    for r in range(lines):
        v_kk = np.sort(S[r])[::-1][kk - 1]
        got = set(cols[line == r].tolist())
        must = set(np.flatnonzero((S[r] > v_kk) & (S[r] > thr[r])).tolist())
        assert must <= got
        if thr[r] < v_kk:                      # then at least kk of the top are returned
            assert (S[r, sorted(got)] >= v_kk).sum() >= kk


@given(C=int_rows, n_q=st.integers(0, 4), k=st.integers(1, 25),
       metric=st.sampled_from(METRICS), dtype=st.sampled_from(["float64", "float32"]))
def test_property_scratch_equals_numpy(C, n_q, k, metric, dtype):
    """Small-integer vectors: every dot product and squared distance is exact, so the two
    paths must agree exactly, ties included (cosine: up to rounding of the norms)."""
    if metric == "cosine":
        C[np.abs(C).sum(axis=1) == 0, 0] = 1
    C = C.astype(dtype)
    k, n_q = min(k, C.shape[0]), min(n_q, C.shape[0])
    Q = C[::-1][:n_q] + (C[:n_q] if metric != "cosine" else 0)
    if metric == "cosine" and n_q:
        Q[np.abs(Q).sum(axis=1) == 0, 0] = 1
    a = scratch.knn(Q, C, k=k, metric=metric)
    b = knn(Q, C, k=k, metric=metric)
    assert b.indices.shape == (n_q, k) and b.scores.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(a.scores, b.scores, rtol=tol, atol=tol)
    if metric == "cosine":
        assert_same(b, a.indices, a.scores, rtol=tol, atol=tol, Q=Q, C=C)
    else:
        np.testing.assert_array_equal(a.indices, b.indices)


@given(C=int_rows, k=st.integers(1, 24), metric=st.sampled_from(["dot", "euclidean"]),
       batch=st.integers(1, 5), threaded=st.booleans())
def test_property_graph_scratch_equals_numpy(C, k, metric, batch, threaded):
    """The kNN graph (self excluded), with blocks that do not divide n: the symmetric pass
    (each pair of blocks once, selection along rows and columns), threaded or not."""
    C = C.astype(float)
    k = min(k, C.shape[0] - 1)
    a = scratch.knn(C, C, k=k, metric=metric, exclude_self=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_scan, "_MIN_GRAPH_BLOCK", 1)            # blocks of `batch` rows
        if threaded:
            mp.setattr(_scan, "_PARALLEL_FLOPS", 0.0)
        b = knn(C, C, k=k, metric=metric, exclude_self=True, batch_size=batch)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12, atol=1e-12)
    assert not (b.indices == np.arange(C.shape[0])[:, None]).any()


@settings(max_examples=40, deadline=None)
@given(C=int_rows, metric=st.sampled_from(["dot", "euclidean"]),
       exponent=st.sampled_from([-664, -530, -500, 0, 500, 515, 664]))
def test_property_scratch_refuses_scores_out_of_float64_as_knn_does(C, metric, exponent):
    """Scaled by 2^664 ≈ 1e200 (or 1e-200), dot scores overflow to inf (underflow to 0) in
    float64: vd.knn refused them, naming the fix, but scratch.knn ranked the inf (or 0)
    ties by index: for rows [1,0],[0,1],[2,0] at 1e-200 and the query [1,0], it gave
    [0, 1] (scores 0, 0) where the true order is [2, 0]. Both paths now refuse the same
    inputs with the same message, and agree on the others."""
    C = C.astype(float) * 2.0 ** exponent   # a power of two: every score stays exact
    Q = C[:2]
    k = min(3, C.shape[0])

    def outcome(fn):
        try:
            res = fn(Q, C, k=k, metric=metric)
        except ValueError as err:
            return str(err)
        return res.indices.tolist()

    assert outcome(scratch.knn) == outcome(knn)


def test_scratch_refuses_tiny_dot_scores_as_knn_does():
    C = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]) * 1e-200
    message = ("vectors too short for dot scores in float64: queries up to length "
               "1e-200, corpus up to 2e-200, which underflow when squared; multiply "
               "queries and corpus by one common large number first")
    for fn in (scratch.knn, knn):
        with pytest.raises(ValueError) as err:
            fn(C[:1], C, k=2, metric="dot")
        assert str(err.value) == message
    # scaled back up, both give the true order
    assert scratch.knn(C[:1] * 1e200, C * 1e200, k=2, metric="dot").indices.tolist() == [[2, 0]]


@pytest.mark.parametrize("metric", METRICS)
def test_faiss_backend_identical(rng, metric):
    pytest.importorskip("faiss")
    Q, C = tie_data(rng)
    R = rng.normal(size=(500, 16)).astype(np.float32)
    for q, c, k in ((Q, C, 6), (Q, C, 31), (R[:40], R, 10)):
        a = knn(q, c, k=k, metric=metric)
        b = knn(q, c, k=k, metric=metric, backend="faiss")
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.scores, b.scores)
    a = Index(R, metric=metric).knn_graph(k=5)
    b = Index(R, metric=metric, backend="faiss").knn_graph(k=5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_faiss_many_ties_beyond_margin():
    """60 copies of one row: faiss alone returns arbitrary copies; we return the first k."""
    pytest.importorskip("faiss")
    C = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    copies = np.arange(70, 130)
    C[copies] = C[70]
    for metric in METRICS:
        res = knn(C[70:71], C, k=25, metric=metric, backend="faiss")
        if metric != "dot":
            assert res.indices[0].tolist() == copies[:25].tolist()
            assert (res.scores == res.scores[0, 0]).all()
        np.testing.assert_array_equal(res.indices, knn(C[70:71], C, k=25, metric=metric).indices)


def test_faiss_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r'pip install "vecdiag\[faiss\]"'):
        knn([[1.0, 0.0]], [[1.0, 0.0]], k=1, backend="faiss")
    with pytest.raises(ImportError, match="faiss"):
        Index([[1.0, 0.0]], backend="faiss")


# ---------------------------------------------------------------- self, blocks, memory

@pytest.mark.parametrize("metric", METRICS)
def test_exclude_self_and_graph(rng, metric):
    from sklearn.neighbors import NearestNeighbors

    X = rng.normal(size=(300, 12))
    X[200] = X[100]                      # a copy is found (distance 0), only self is skipped
    res = knn(X, X, k=5, metric=metric, exclude_self=True)
    graph = Index(X, metric=metric).knn_graph(k=5)
    np.testing.assert_array_equal(res.indices, graph.indices)
    np.testing.assert_array_equal(res.scores, graph.scores)
    assert not (res.indices == np.arange(300)[:, None]).any()
    idx, sc = brute(X, X, 5, metric, exclude_self=True)
    np.testing.assert_array_equal(res.indices, idx)
    assert res.indices[100, 0] == 200 and res.indices[200, 0] == 100
    if metric != "dot":
        dist, ind = NearestNeighbors(n_neighbors=5, algorithm="brute", metric=metric) \
            .fit(X).kneighbors()
        np.testing.assert_allclose(res.scores, 1 - dist if metric == "cosine" else dist,
                                   atol=1e-12)
        # sklearn orders the tied copies 100 and 200 its own way: compare the rest
        plain = ~np.isin(res.indices, [100, 200]) & ~np.isin(ind, [100, 200])
        np.testing.assert_array_equal(res.indices[plain], ind[plain])


@pytest.mark.parametrize("metric", METRICS)
def test_blocked_equals_unblocked(rng, metric, monkeypatch):
    C = rng.normal(size=(9001, 8)).astype(np.float32)
    Q = rng.normal(size=(103, 8)).astype(np.float32)
    whole = knn(Q, C, k=9, metric=metric, batch_size=103)
    for batch in (1, 7, 50):
        res = knn(Q, C, k=9, metric=metric, batch_size=batch)
        np.testing.assert_array_equal(res.indices, whole.indices)
        np.testing.assert_array_equal(res.scores, whole.scores)
    # a small budget splits the corpus into chunks that do not divide n
    monkeypatch.setattr(_scan, "_PARALLEL_FLOPS", 0.0)   # also the threaded path
    res = knn(Q, C, k=9, metric=metric, memory_budget=2**20)
    np.testing.assert_array_equal(res.indices, whole.indices)
    np.testing.assert_array_equal(res.scores, whole.scores)
    bq, bc = _scan.plan(103, 9001, 8, 4, 2**20, 26, False, None, 2)
    assert bc < 9001 and 9001 % bc


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_symmetric_graph_equals_query_pass(rng, metric, dtype, monkeypatch):
    """The graph multiplies each pair of blocks once and selects along rows and columns;
    it must equal the plain pass of every row against the corpus (queries not the corpus
    object), for blocks that do not divide n, threaded or not, with exact copies."""
    X = rng.normal(size=(1203, 16)).astype(dtype)
    X[[5, 600, 1202]] = X[77]
    X[900] = 3 * X[300]                         # same direction, other length
    plain = knn(X, X.copy(), k=7, metric=metric, exclude_self=True)
    for threaded in (False, True):
        if threaded:
            monkeypatch.setattr(_scan, "_PARALLEL_FLOPS", 0.0)
        for batch in (None, 1, 100, 1203) if threaded else (None, 1, 64, 100, 1203):
            res = knn(X, X, k=7, metric=metric, exclude_self=True, batch_size=batch)
            np.testing.assert_array_equal(res.indices, plain.indices)
            np.testing.assert_array_equal(res.scores, plain.scores)
    idx, sc = brute(X, X, 7, metric, exclude_self=True)
    tol = 1e-5 if dtype == np.float32 else 1e-9
    assert_same(plain, idx, sc, rtol=tol, atol=tol, Q=X, C=X)


def test_select_keeps_every_top_entry_by_rows_and_columns(rng):
    """The threshold filter returns every entry among a row's kk largest above the
    threshold, and nothing at or below it; selecting down the columns of S equals
    selecting along the rows of S.T."""
    from vecdiag.neighbors._select import Best, select

    S = rng.normal(size=(300, 1003)).astype(np.float32)       # 1003: a tail of columns
    S[:, 17] = S[:, 18]                                        # ties
    for kk in (1, 5, 40, 400):
        for thr in (np.full(300, -np.inf), np.sort(S, axis=1)[:, -20] - 0.05):
            line, cols, vals = select(S, kk, thr)
            np.testing.assert_array_equal(vals, S[line, cols])
            assert (vals > thr[line]).all()
            for r in range(0, 300, 7):
                top = np.sort(S[r])[::-1][:kk]
                got = set(vals[line == r].tolist())
                assert {v for v in top.tolist() if v > thr[r]} <= got
            T = np.ascontiguousarray(S.T)
            c_line, c_cols, c_vals = select(T, kk, thr, by_column=True)
            assert sorted(zip(line, cols, vals)) == sorted(zip(c_line, c_cols, c_vals))
    best = Best(300, 12, np.float32)
    for c0 in range(0, 1003, 100):
        best.add(*select(S[:, c0:c0 + 100], 12, best.threshold()), offset=c0)
    np.testing.assert_array_equal(np.sort(best.key, axis=1), np.sort(S, axis=1)[:, -12:])
    np.testing.assert_array_equal(np.take_along_axis(S, best.idx, axis=1), best.key)


@given(st.integers(1, 12), st.integers(1, 6), st.integers(0, 2**32 - 1),
       st.sampled_from([0, 3, 64]))
def test_best_add_keeps_the_kp_largest_of_all_offers(kp, offers, seed, rounds):
    """Whatever way survivors are folded in (by rounds that replace each row's smallest
    key, ``rounds`` >= their count per row, or by a partition), the running best holds
    the kp largest keys offered to each row, each with its own position."""
    rng = np.random.default_rng(seed)
    lines = 9
    best = _select.Best(lines, kp, np.float32)
    offered = [[] for _ in range(lines)]
    old = _select._ROUNDS
    _select._ROUNDS = rounds
    try:
        for o in range(offers):
            size = int(rng.integers(0, 3 * kp * lines // 2 + 1))
            line = rng.integers(0, lines, size)                  # unsorted, repeated
            vals = rng.integers(-4, 5, size).astype(np.float32)  # many ties
            cols = rng.permutation(50)[:size] if size <= 50 else np.arange(size)
            best.add(line, cols, vals, offset=1000 * o)
            for r, c, v in zip(line, cols, vals):
                offered[r].append((float(v), 1000 * o + int(c)))
    finally:
        _select._ROUNDS = old
    for r in range(lines):
        keys = sorted((v for v, _ in offered[r]), reverse=True)[:kp]
        held = best.idx[r] >= 0
        assert sorted(best.key[r][held].tolist(), reverse=True) == keys
        assert best.filled[r] == len(keys)
        assert (best.key[r][~held] == -np.inf).all()
        pairs = set(offered[r])
        assert all((float(v), int(i)) in pairs for v, i in zip(best.key[r][held],
                                                                  best.idx[r][held]))
        assert len(set(best.idx[r][held].tolist())) == held.sum()


def test_plan_respects_budget():
    for n_q, n, d, budget, lazy in ((1000, 10**6, 384, 256 * 2**20, True),
                                    (1000, 100_000, 384, 256 * 2**20, False),
                                    (50_000, 50_000, 384, 64 * 2**20, False)):
        for workers in (1, 2):
            bq, bc = _scan.plan(n_q, n, d, 4, budget, 28, lazy, None, workers)
            used = workers * (bq * bc * 4 * (1 + 2 / _filter._GROUP) + bq * d * 4
                              + (bc * d * 4 if lazy else 0))
            assert used <= budget, (n_q, n, bq, bc)
            assert bc >= min(n, 1024) and bq >= 1
            for euclid in (False, True):
                b = _scan.plan_square(n, d, 4, budget, 28, lazy, None, workers, euclid)
                used = workers * (b * b * 4 * (1 + 2 / _filter._GROUP + euclid) + 2 * b * d * 4)
                assert used <= budget and b >= min(n, 1024), (n, b)


@pytest.mark.parametrize("metric", METRICS)
def test_memmap_corpus(tmp_path, rng, metric):
    X = rng.normal(size=(3001, 32)).astype(np.float32)
    path = tmp_path / "corpus.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    Q = X[:40] + 0.01
    expected = knn(Q, X, k=8, metric=metric)
    for budget in (256 * 2**20, 2**20):
        res = knn(Q, mm, k=8, metric=metric, memory_budget=budget)
        np.testing.assert_array_equal(res.indices, expected.indices)
        np.testing.assert_array_equal(res.scores, expected.scores)
    mixed = knn(Q.astype(np.float64), mm, k=8, metric=metric, memory_budget=2**20)
    in_ram = knn(Q.astype(np.float64), X, k=8, metric=metric)
    assert mixed.scores.dtype == np.float64
    np.testing.assert_array_equal(mixed.indices, in_ram.indices)
    np.testing.assert_array_equal(mixed.scores, in_ram.scores)
    index = Index(mm, metric=metric, memory_budget=2**20)
    assert isinstance(index.vectors, np.memmap)           # kept as is, never copied whole
    if metric == "cosine":
        assert index.rows.data is None                   # normalised block by block
    graph = index.knn_graph(k=4)
    np.testing.assert_array_equal(graph.indices, Index(X, metric=metric).knn_graph(4).indices)


def _traced_peak(call):
    """``(call(), peak bytes of Python-traced allocations during it)``."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("metric", METRICS)
def test_float16_and_integer_memmaps_are_not_copied_whole(tmp_path, rng, metric,
                                                           monkeypatch):
    """A float16 memmap (embeddings stored at half size) was converted whole to float64
    before the search: four times the file in memory (a 195 MB file, 1,025 MB peak RSS;
    497 MB now, of which the file's own pages 195). It is converted chunk by chunk now,
    to the same answer, bit for bit. Peak of traced allocations, 20,000 x 32 rows with
    512-row pieces: 5.5-7.5 MB before (the float64 copy is 4.9 MB), 1.5-2.7 MB now."""
    from vecdiag.neighbors import rows

    monkeypatch.setattr(rows, "_SCAN_ROWS", 512)
    n, d = 20_000, 32
    for dtype in (np.float16, np.int16):
        X = (rng.normal(size=(n, d)) * (1 if dtype == np.float16 else 100)).astype(dtype)
        np.save(tmp_path / "x.npy", X)
        mm = np.load(tmp_path / "x.npy", mmap_mode="r")
        Q = X[:5].astype(np.float64)
        res, peak = _traced_peak(lambda: knn(Q, mm, k=10, metric=metric))
        assert peak < n * d * 8                   # less than one float64 copy
        want = knn(Q, X.astype(np.float64), k=10, metric=metric)
        np.testing.assert_array_equal(res.indices, want.indices)
        np.testing.assert_array_equal(res.scores, want.scores)
        graph = knn(mm[:300], mm[:300], k=3, metric=metric, exclude_self=True)
        np.testing.assert_array_equal(graph.indices, Index(X[:300].astype(np.float64),
                                                           metric=metric).knn_graph(3).indices)

@pytest.mark.parametrize("metric", METRICS)
def test_knn_rows_on_a_float16_memmap_converts_chunk_by_chunk(tmp_path, rng, metric,
                                                             monkeypatch):
    """knn_rows (the sampled statistics' search) converted a float16 memmap whole to
    float64 first, as vd.knn did before e087bd2. Peak of traced allocations, 20,000 x 32
    float16 with 512-row pieces: 5.6-7.1 MB before (the float64 copy is 5.1 MB), 1.5-2.0
    MB now; the same neighbours and scores, bit for bit, and bad rows named as before."""
    from vecdiag import _validate
    from vecdiag.neighbors import rows
    from vecdiag.scale.search import knn_rows

    monkeypatch.setattr(rows, "_SCAN_ROWS", 512)
    monkeypatch.setattr(_validate, "_SCAN_ROWS", 512)
    n, d = 20_000, 32
    X = rng.normal(size=(n, d)).astype(np.float16)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    pos = [0, 5, 19_999, 5]
    res, peak = _traced_peak(lambda: knn_rows(mm, pos, k=4, metric=metric))
    assert peak < n * d * 8                       # less than one float64 copy
    want = knn_rows(X.astype(np.float64), pos, k=4, metric=metric)   # the converted array
    np.testing.assert_array_equal(res.indices, want.indices)
    np.testing.assert_array_equal(res.scores, want.scores)
    assert res.scores.dtype == np.float64
    # big-endian float32 is searched in float32, as the same rows in native order
    B = rng.normal(size=(300, 8)).astype(">f4")
    np.save(tmp_path / "b.npy", B)
    got = knn_rows(np.load(tmp_path / "b.npy", mmap_mode="r"), pos[:2], k=4, metric=metric)
    want = knn_rows(B.astype(np.float32), pos[:2], k=4, metric=metric)
    assert got.scores.dtype == np.float32
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.scores, want.scores)
    X[7] = np.nan if metric != "cosine" else 0
    np.save(tmp_path / "bad.npy", X)
    with pytest.raises(ValueError,
                       match=r"corpus has (a zero vector at row 7|1 row \(7\) with NaN)"):
        knn_rows(np.load(tmp_path / "bad.npy", mmap_mode="r"), [0], k=2, metric=metric)


def test_inputs_not_mutated_and_dtypes(any_dtype):
    X = any_dtype.copy()
    res = knn(X, X, k=3, metric="euclidean")
    np.testing.assert_array_equal(X, any_dtype)
    want = np.float32 if any_dtype.dtype == np.float32 else np.float64
    assert res.scores.dtype == want
    assert (res.scores[:, 0] == 0).all()


def test_float32_matches_float64(data):
    Q, C = data
    a = knn(Q.astype(np.float32), C.astype(np.float32), k=10)
    b = knn(Q, C, k=10)
    assert_same(a, b.indices, b.scores, rtol=1e-5, atol=1e-6, Q=Q, C=C)
    mixed = Index(C.astype(np.float32)).search(Q, k=10)        # float64 queries
    assert mixed.scores.dtype == np.float64
    assert_same(mixed, b.indices, b.scores, rtol=1e-6, atol=1e-6, Q=Q, C=C)


def test_near_ties_are_rechecked(rng, monkeypatch):
    """Scores closer than the rounding bound make the proof fail: those queries are
    searched again with a wider margin, and the answer is still the exact one."""
    base = rng.normal(size=16)
    C = base + rng.normal(scale=1e-9, size=(400, 16))     # 400 near-identical rows
    C = np.vstack([C, rng.normal(size=(200, 16))])
    calls = []
    original = engine.numpy_candidates

    def spy(*args, **kwargs):
        calls.append(args[3])
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "numpy_candidates", spy)
    # in float32 many of these rows are bit-identical: the margin, not the distinct-rows
    # path of _copies (tests/test_engine_copies.py), is what this test watches
    monkeypatch.setattr(engine._copies, "worth_it", lambda C, margin: False)
    res = knn(base[None, :].astype(np.float32), C.astype(np.float32), k=5)
    assert len(calls) > 1 and calls[1] > calls[0]
    idx, _ = brute(base[None, :].astype(np.float32).astype(float),
                   C.astype(np.float32).astype(float), 5, "cosine", decimals=6)
    scores_all = full_scores(base[None, :], C.astype(np.float32), "cosine")[0]
    assert set(res.indices[0]) <= set(np.flatnonzero(scores_all >= np.sort(scores_all)[-5] - 1e-6))


# ---------------------------------------------------------------- empty, Index, display

@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_empty_queries(backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    C = np.eye(4, dtype=np.float32)
    res = knn(np.zeros((0, 4), np.float32), C, k=2, backend=backend)
    assert res.indices.shape == (0, 2) and res.scores.shape == (0, 2)
    assert res.indices.dtype == np.int64 and res.scores.dtype == np.float32
    assert len(res.to_frame()) == 0
    assert "no queries" in res._repr_html_()
    assert Index(C, ids=list("abcd")).search(np.zeros((0, 4)), k=3).ids.shape == (0, 3)
    assert scratch.knn(np.zeros((0, 4)), C, k=2).indices.shape == (0, 2)


def test_index_ids_texts_and_cache(rng):
    X = rng.normal(size=(50, 6))
    ids = [f"doc{i}" for i in range(50)]
    index = Index(X, ids=ids, texts=[f"text {i}" for i in range(50)])
    res = index.search(X[:3], k=4)
    assert res.ids[:, 0].tolist() == ["doc0", "doc1", "doc2"]
    assert res.ids.shape == (3, 4)
    assert len(index) == 50 and index.cache == {} and index.metric == "cosine"
    np.testing.assert_allclose(np.linalg.norm(index.unit_rows, axis=1), 1.0)
    assert index.unit_rows is index.rows.data            # prepared once, not copied
    frame = res.to_frame()
    assert list(frame.columns) == ["query", "rank", "id", "index", "score", "text"]
    assert frame["text"].iloc[0] == "text 0" and frame["rank"].tolist()[:4] == [1, 2, 3, 4]
    other = res.to_frame(ids=[f"x{i}" for i in range(50)], texts=None)
    assert other["id"].iloc[0] == "x0"
    assert "Index(n=50" in repr(index)
    plain = knn(X[:2], X, k=2).to_frame()
    assert plain["id"].tolist() == plain["index"].tolist()


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_cosine_finds_float32_rows_whose_length_is_not_a_float32(rng, backend):
    """A float32 row of subnormal numbers has a rounded length ([3e-45, 4e-45]: 6e-45,
    not 5.05e-45) and one of 3e38s a length past float32 (inf): their unit rows came out
    0.9 long and all zeros, so the exact match of a query (cosine 1.0) was missed, for a
    plain search, a float64 query on a float32 Index and the kNN graph alike."""
    if backend == "faiss":
        pytest.importorskip("faiss")
    tiny = np.float32([3e-45, 4e-45])            # 2 and 3 steps of the smallest float32
    huge = np.float32([3e38, -2e38])
    angle = np.arctan2(3.0, 2.0) + rng.uniform(-0.3, 0.3, size=40)
    near = np.c_[np.cos(angle), np.sin(angle)]   # 40 rows near the direction (2, 3)
    C = np.vstack([near, tiny, huge]).astype(np.float32)
    Q = np.float32([[2, 3], [3, -2]])            # along the tiny row, along the huge one
    C64 = C.astype(np.float64)
    safe = C64 / np.abs(C64).max(axis=1, keepdims=True)   # same directions, no underflow
    idx, scores = brute(Q, safe, 3, "cosine")
    assert idx[:, 0].tolist() == [40, 41] and np.allclose(scores[:, 0], 1.0)
    index = Index(C, backend=backend)
    for res in (knn(Q, C, k=3, backend=backend), index.search(Q, k=3),
                index.search(Q.astype(np.float64), k=3)):
        np.testing.assert_array_equal(res.indices, idx)
        np.testing.assert_allclose(res.scores, scores, rtol=1e-6)
    graph = Index(np.vstack([C, Q]), backend=backend).knn_graph(k=1)
    assert graph.indices[-2:, 0].tolist() == [40, 41]


def test_to_frame_takes_tuple_ids_as_an_index_does():
    """(doc, chunk) tuples are valid ids (vd.Index keeps them whole), but
    Neighbors.to_frame(ids=...) turned them into a 2-D array and pandas failed with
    "Buffer has wrong number of dimensions"; each tuple is now one id."""
    C = np.eye(3)
    ids = [("a", 1), ("b", 2), ("c", 3)]
    res = knn([[1.0, 0.1, 0.0]], C, k=2)
    assert res.indices.tolist() == [[0, 1]]          # cosines 0.995 and 0.0995 by hand
    frame = res.to_frame(ids=ids, texts=["t0", "t1", "t2"])
    assert frame["id"].tolist() == [ids[0], ids[1]]
    assert frame["text"].tolist() == ["t0", "t1"]
    assert frame["id"].tolist() == Index(C, ids=ids).search([[1.0, 0.1, 0.0]], k=2
                                                            ).to_frame()["id"].tolist()


def test_repr_html_escapes_and_shortens(rng):
    X = rng.normal(size=(20, 4))
    texts = ["<script>alert('x')</script> " + "long " * 60] + [f"t{i}" for i in range(19)]
    ids = ["<b>id0</b>"] + [f"d{i}" for i in range(1, 20)]
    res = Index(X, ids=ids, texts=texts).search(X[:8], k=2)
    html = res._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>id0</b>" not in html and "&lt;b&gt;id0&lt;/b&gt;" in html
    assert "long " * 30 not in html and "…" in html
    assert "first 5 of 8 queries" in html
    assert "Neighbors(" in repr(res)
    bundle = res._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}


def test_plot_draws_stored_scores(rng):
    import matplotlib

    matplotlib.use("Agg")
    res = knn(rng.normal(size=(3, 4)), rng.normal(size=(30, 4)), k=5)
    ax = res.plot()
    assert len(ax.lines) == 3
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), res.scores[1])
    assert res.plot(queries=[2]).lines[0].get_xdata().tolist() == [1, 2, 3, 4, 5]


def test_plot_queries_are_checked_positions(rng):
    """A query position past the searched queries is named (it was NumPy's bare
    IndexError); -1 is the last query and is labelled by its position, not "query -1"."""
    import matplotlib

    matplotlib.use("Agg")
    res = knn(rng.normal(size=(3, 4)), rng.normal(size=(30, 4)), k=5)
    with pytest.raises(ValueError, match=r"queries .*outside the 3 queries.*\[40\]"):
        res.plot(queries=[40])
    with pytest.raises(TypeError, match="queries"):
        res.plot(queries=[0.5])
    line = res.plot(queries=-1).lines[0]
    assert line.get_label() == "query 2"
    np.testing.assert_array_equal(line.get_ydata(), res.scores[2])


def test_progress_bar(capsys, rng):
    X = rng.normal(size=(30, 4))
    knn(X, X, k=2, show_progress=True)
    assert "knn search" in capsys.readouterr().err
    Index(X).knn_graph(k=2, show_progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- bad input

def test_bad_k():
    C = np.eye(3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        knn(C, C, k=0)
    with pytest.raises(ValueError, match=r"k=4 is larger than the corpus \(3 vectors\)"):
        knn(C, C, k=4)
    with pytest.raises(ValueError, match="minus the item itself.*k <= 2"):
        knn(C, C, k=3, exclude_self=True)
    with pytest.raises(ValueError, match="minus the item itself"):
        Index(C).knn_graph(k=3)
    with pytest.raises(TypeError, match="k must be an integer"):
        knn(C, C, k=2.0)
    with pytest.raises(ValueError, match="larger than the corpus"):
        scratch.knn(C, C, k=4)


def test_bad_shapes_and_values(with_nan_rows, with_zero_row):
    C = np.ones((5, 3))
    with pytest.raises(ValueError, match="dimension mismatch: queries has dimension 4"):
        knn(np.ones((2, 4)), C, k=1)
    with pytest.raises(ValueError, match="dimension mismatch"):
        Index(C).search(np.ones((2, 4)))
    with pytest.raises(ValueError, match="dimension mismatch"):
        scratch.knn(np.ones((2, 4)), C, k=1)
    with pytest.raises(ValueError, match=r"reshape\(1, -1\)"):
        knn(np.ones(3), C, k=1)
    with pytest.raises(ValueError, match=r"corpus has 3 rows \(17, 42, 99\) with NaN or inf"):
        knn(np.ones((1, 16)), with_nan_rows, k=1)
    with pytest.raises(ValueError, match=r"queries has 3 rows .* with NaN or inf; drop"):
        knn(with_nan_rows, np.ones((4, 16)), k=1)
    with pytest.raises(ValueError, match=r"corpus has a zero vector at row 7.*drop"):
        knn(np.ones((1, 16)), with_zero_row, k=1)
    with pytest.raises(ValueError, match="queries has a zero vector at row"):
        Index(np.ones((4, 16))).search(with_zero_row, k=1)
    # zero rows are fine for dot and euclidean: they have a length, just no direction
    assert knn(np.ones((1, 16)), with_zero_row, k=1, metric="euclidean").indices.shape == (1, 1)
    with pytest.raises(ValueError, match="corpus is empty"):
        knn(np.ones((1, 3)), np.zeros((0, 3)), k=1)
    with pytest.raises(ValueError, match="queries to be the corpus itself.*knn_graph"):
        knn(np.ones((2, 3)), C, k=1, exclude_self=True)


def test_overflowing_lengths_refused():
    C = np.full((3, 4), 1e19, np.float32)
    with pytest.raises(ValueError, match="vectors too long for dot scores in float32.*divide"):
        knn(C, C, k=1, metric="dot")
    res = knn(C, C, k=1, metric="cosine")                 # cosine works on unit rows
    assert res.scores[0, 0] == 1.0
    assert knn(C.astype(np.float64), C.astype(np.float64), k=1, metric="euclidean") \
        .scores[0, 0] == 0.0



def test_length_refusals_name_a_fix_that_works_for_the_backend():
    """faiss scores in float32 whatever the input: float64 vectors of length 1e20 under
    dot were refused with "(or pass float64)", which they already were; the fix that
    works there is the NumPy backend (it then finds the answer, checked below)."""
    pytest.importorskip("faiss")
    C = np.array([[1e20, 0.0], [0.0, 1e20], [1e20, 1e20]])
    with pytest.raises(ValueError, match=r"overflow; divide queries and corpus by one common "
                       r"large number first \(or search with backend='numpy', which scores "
                       r"float64 input in float64\)$"):
        knn(C, C, k=2, metric="dot", backend="faiss")
    with pytest.raises(ValueError, match=r"first \(or search with backend='numpy' on float64 "
                       r"vectors\)$"):
        knn(C.astype(np.float32), C.astype(np.float32), k=2, metric="dot", backend="faiss")
    with pytest.raises(ValueError, match=r"underflow when squared; multiply queries and corpus "
                       r"by one common large number first \(or search with backend='numpy', "
                       r"which scores float64 input in float64\)$"):
        knn(C * 1e-45, C * 1e-45, k=2, metric="euclidean", backend="faiss")
    with pytest.raises(ValueError, match=r"underflow when squared.*first \(or pass float64\)$"):
        knn(np.float32(C * 1e-40), np.float32(C * 1e-40), k=2, metric="dot")
    res = knn(C, C, k=2, metric="dot")
    assert res.indices.tolist() == [[0, 2], [1, 2], [2, 0]]           # ties: lower row first
    assert res.scores.tolist() == [[1e40, 1e40], [1e40, 1e40], [2e40, 1e40]]

def test_bad_ids_texts_and_options():
    C = np.eye(3)
    with pytest.raises(ValueError, match="ids must be unique.*'a' at rows 0 and 2"):
        Index(C, ids=["a", "b", "a"])
    with pytest.raises(ValueError, match="ids has 2 entries but the corpus has 3 rows"):
        Index(C, ids=["a", "b"])
    with pytest.raises(ValueError, match="texts has 4 entries but the corpus has 3 rows"):
        Index(C, texts=["a", "b", "c", "d"])
    with pytest.raises(TypeError, match="texts must be a sequence"):
        Index(C, texts="abc")
    with pytest.raises(ValueError, match="metric must be one of"):
        knn(C, C, k=1, metric="manhattan")
    with pytest.raises(ValueError, match="backend must be one of 'numpy', 'faiss'"):
        knn(C, C, k=1, backend="annoy")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        knn(C, C, k=1, batch_size=0)
    with pytest.raises(ValueError, match="memory_budget is in bytes.*256 \\* 2\\*\\*20"):
        knn(C, C, k=1, memory_budget=1000)
    with pytest.raises(TypeError, match="show_progress must be True, False or None"):
        knn(C, C, k=1, show_progress="yes")
    with pytest.raises(ValueError, match="ids has 2 entries but the neighbours refer"):
        knn(C, C, k=3).to_frame(ids=["a", "b"])


# ---------------------------------------------------------------- real data

def test_real_embeddings_match_sklearn(cranfield_minilm):
    from sklearn.neighbors import NearestNeighbors

    corpus, queries = cranfield_minilm.corpus, cranfield_minilm.queries[:50]
    res = vd.knn(queries, corpus, k=10)
    dist, ind = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="cosine") \
        .fit(corpus).kneighbors(queries)
    assert_same(res, ind, 1 - dist, rtol=1e-5, atol=2e-6, Q=queries, C=corpus)
    graph = vd.Index(corpus).knn_graph(k=5)
    assert graph.indices.shape == (corpus.shape[0], 5)
    assert not (graph.indices == np.arange(corpus.shape[0])[:, None]).any()


def test_knn_graph_is_cached_per_index_and_prefix_of_larger_k():
    import vecdiag as vd

    rng = np.random.default_rng(11)
    X = rng.normal(size=(120, 6))
    X[40] = X[3]                                  # a tie the prefix must keep in order
    index = vd.Index(X)
    g10 = index.knn_graph(10)
    assert index.knn_graph(10) is g10             # second call: the cached object
    g4 = index.knn_graph(4)                       # served from the k=10 graph
    fresh = vd.knn(X, X, k=4, exclude_self=True)
    np.testing.assert_array_equal(g4.indices, fresh.indices)
    np.testing.assert_allclose(g4.scores, fresh.scores)



def test_cached_knn_graph_cannot_be_changed_through_the_returned_result():
    """The graph a caller gets is the one the Index caches for hubness, CSLS and later
    calls: writing into it in place (similarities turned into distances, say) raised no
    error and changed every later answer (hubness skewness of 200 normal rows, k=10:
    0.207 before, 13.37 after ``graph.indices[:, 0] = 0``). Its arrays are read-only."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 8))
    index = vd.Index(X, ids=[f"d{i}" for i in range(200)])
    graph = index.knn_graph(10)
    before = vd.hubness(vd.Index(X), k=10).skewness
    for values in (graph.indices, graph.scores, graph.ids):
        with pytest.raises(ValueError, match="read-only"):
            values[:, 0] = values[:, 1]
    assert vd.hubness(index, k=10).skewness == before
    fresh = vd.knn(X, X, k=10, exclude_self=True)
    np.testing.assert_array_equal(index.knn_graph(10).indices, fresh.indices)
    np.testing.assert_array_equal(index.knn_graph(10).scores, fresh.scores)
    assert index.knn_graph(4).indices.flags.writeable     # a prefix is the caller's copy

@pytest.mark.parametrize("metric", METRICS)
def test_refine_in_column_pieces_is_bitwise_equal(rng, metric, monkeypatch):
    """Asking for every item (k = n) re-scores in column pieces to bound memory; every
    score depends on its own pair only, so the pieces change nothing, bit for bit."""
    C = rng.normal(size=(700, 24)).astype(np.float32)
    Q = rng.normal(size=(9, 24)).astype(np.float32)
    whole = knn(Q, C, k=700, metric=metric)
    monkeypatch.setattr(engine, "_REFINE_BYTES", 24 * 4 * 50)     # 50 columns a piece
    pieces = knn(Q, C, k=700, metric=metric)
    np.testing.assert_array_equal(pieces.indices, whole.indices)
    np.testing.assert_array_equal(pieces.scores, whole.scores)
    idx, sc = brute(Q, C, 700, metric)
    assert_same(whole, idx, sc, Q=Q, C=C)


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
@pytest.mark.parametrize("metric", METRICS)
def test_float64_queries_on_float32_index(rng, metric, backend):
    """float64 queries on a float32 Index: candidates in float32 against the rows prepared
    once, exact float64 scores; the answer equals knn on the same inputs and knn on the
    corpus converted to float64 (candidates in float64), bit for bit, copies included,
    and the corpus is never copied whole in float64."""
    if backend == "faiss":
        pytest.importorskip("faiss")
    C = rng.normal(size=(3000, 16)).astype(np.float32)
    C[[10, 2000, 2999]] = C[500]
    Q = np.vstack([C[500].astype(np.float64) + 1e-3, rng.normal(size=(30, 16))])
    index = Index(C, metric=metric, backend=backend)
    for _ in range(2):                                 # the second call reuses the cache
        res = index.search(Q, k=8)
        ref = knn(Q, C, k=8, metric=metric)
        wide = knn(Q, C.astype(np.float64), k=8, metric=metric)
        assert res.scores.dtype == np.float64
        for other in (ref, wide):
            np.testing.assert_array_equal(res.indices, other.indices)
            np.testing.assert_array_equal(res.scores, other.scores)
    promoted = [v for key, v in index.cache.items()
                if key[0] == vd.cache_keys.rows_in("<f8")[0]]
    assert len(promoted) == 1 and promoted[0].data is None
    if metric == "cosine":                             # too small for float32: still exact
        tiny = index.search(Q * 1e-200, k=8)
        np.testing.assert_array_equal(tiny.indices, knn(Q * 1e-200, C, k=8).indices)
        np.testing.assert_array_equal(tiny.indices,
                                      knn(Q * 1e-200, C.astype(np.float64), k=8).indices)


def test_float64_queries_beyond_float32_on_a_float32_corpus_raise_no_warning():
    """A float64 query of length 1e300 on a float32 corpus (cosine) was searched right but
    warned "RuntimeWarning: overflow encountered in cast" (the cast to float32 for the
    candidates, which such a query skips). No warning now, same answer as in float64."""
    import warnings

    C = np.float32([[1, 1], [1, -1], [3, 1]])
    Q = np.array([[1e300, 1e300], [1e-300, -1e-300], [1, 0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = knn(Q, C, k=3)
        via_index = Index(C).search(Q, k=3)
    want = knn(Q, C.astype(np.float64), k=3)
    assert res.indices.tolist() == [[0, 2, 1], [1, 2, 0], [2, 0, 1]]
    for got in (res, via_index):
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.scores, want.scores)

def test_blas_workers_follow_the_callers_thread_limit():
    """The library walk is made once, but the thread count is read at each call: a
    caller's ``threadpool_limits`` still turns the engine's worker threads off."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from vecdiag.neighbors._threads import blas_workers

    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    numpy_blas = [lib for lib in blas if "numpy" in lib["filepath"]] or blas
    expected = max((lib["num_threads"] for lib in numpy_blas), default=1)
    assert blas_workers()[0] == expected
    with threadpool_limits(1, user_api="blas"):
        assert blas_workers() == (1, None)
    assert blas_workers()[0] == expected
    if expected == 1:
        pytest.skip("NumPy's BLAS runs one thread here: no worker threads to turn off")
    with threadpool_limits(2, user_api="blas"):
        assert blas_workers()[0] == 2


def test_searches_running_at_once_restore_the_callers_blas_threads():
    """Two searches in two threads of a program, the second started under the first
    one's one-thread limit and finished after it (the order below): each restored the
    thread count it had found, so BLAS stayed at one thread for the rest of the process
    (seen with 6 threads calling vd.knn at once: 2 -> 1), and the second one's workers
    ran on 2 BLAS threads each in between. One shared limit now: 1 while any search
    runs, the caller's 2 once the last one is done; the same with a Dask search."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from vecdiag.neighbors._threads import blas_workers, limited
    from vecdiag.scale.tasks import one_blas_thread

    def threads():                                # NumPy's BLAS, as blas_workers reads
        blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
        return max(lib["num_threads"] for lib in
                   [lib for lib in blas if "numpy" in lib["filepath"]] or blas)

    with threadpool_limits(2, user_api="blas"):
        if threads() != 2:
            pytest.skip("this BLAS cannot run two threads")
        _, controller = blas_workers()
        for second in (lambda: limited(controller, 2), lambda: one_blas_thread(True)):
            first, other = limited(controller, 2), second()
            first.__enter__()
            other.__enter__()
            assert threads() == 1
            first.__exit__(None, None, None)
            assert threads() == 1                 # the other search still runs
            other.__exit__(None, None, None)
            assert threads() == 2
        with limited(controller, 1):              # one worker: no limit at all
            assert threads() == 2
        # the first search in another thread, still alive when the last one ends here:
        # threadpoolctl ignores a restore from a thread other than the one that set it
        import threading

        started, ended, done, leave = (threading.Event() for _ in range(4))

        def first_search():
            with limited(controller, 2):
                started.set()
                ended.wait(5)
            done.set()
            leave.wait(5)

        other = threading.Thread(target=first_search)
        other.start()
        started.wait(5)
        with limited(controller, 2):
            assert threads() == 1
            ended.set()
            done.wait(5)
            assert threads() == 1
        assert other.is_alive() and threads() == 2
        leave.set()
        other.join()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_block_into_a_buffer_equals_a_new_block(tmp_path, rng, metric, dtype):
    """Rows prepared block by block (a memmap corpus, or copy=False) give the very same
    numbers whether the engine reuses its own buffer (``out=``) or takes a new array,
    also when the working dtype differs from the stored one."""
    from vecdiag.neighbors.rows import Rows

    X = rng.normal(size=(300, 12)) * rng.uniform(0.5, 3, size=(300, 1))
    path = tmp_path / "x.npy"
    np.save(path, X.astype(dtype))
    mm = np.load(path, mmap_mode="r")
    for source, work in ((mm, None), (X, np.float32)):
        rows = Rows(source, metric, "X", dtype=work, copy=False)
        # prepared block by block, unless the stored rows are already the prepared ones
        # (dot and euclidean in the working dtype: blocks are views then)
        assert (rows.data is None) == (metric == "cosine" or source.dtype != rows.dtype)
        buf = np.full((120, 12), np.nan, rows.dtype)
        for a, b in ((0, 120), (100, 220), (250, 300)):
            fresh = rows.block(a, b)
            into = rows.block(a, b, buf[:b - a])
            assert into.dtype == fresh.dtype == rows.dtype
            np.testing.assert_array_equal(into, fresh)
            expected = np.asarray(source[a:b]).astype(rows.dtype)
            if metric == "cosine":
                expected = expected / np.linalg.norm(expected.astype(float), axis=1,
                                                     keepdims=True).astype(rows.dtype)
                np.testing.assert_allclose(np.linalg.norm(fresh, axis=1), 1, rtol=1e-5)
            np.testing.assert_allclose(fresh, expected, rtol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("copy", [True, False])
def test_rows_take_and_scaled_into_a_buffer_equal_new_arrays(tmp_path, rng, metric, copy):
    """The refine step gathers candidate rows into one reused buffer per thread; the rows
    are the very same as a new gather, for a corpus held in memory, prepared block by
    block, on disk (memmap) or in another dtype, and the buffer is checked."""
    from vecdiag.neighbors.rows import Rows

    X = rng.normal(size=(200, 9)) * rng.uniform(1e-3, 1e3, size=(200, 1))
    path = tmp_path / "x.npy"
    np.save(path, X.astype(np.float32))
    mm = np.load(path, mmap_mode="r")
    idx = rng.integers(0, 200, size=(7, 5))
    for source, work in ((X, None), (X.astype(np.float32), None), (mm, None),
                         (X.astype(np.float32), np.float64), (X, np.float32)):
        rows = Rows(source, metric, "X", dtype=work, copy=copy)
        buf = np.full(idx.size * 9 + 11, np.nan, rows.dtype)
        for name in ("take", "scaled"):
            fresh = getattr(rows, name)(idx)
            into = getattr(rows, name)(idx, buf)
            assert into.shape == fresh.shape == (7, 5, 9)
            assert np.shares_memory(into, buf)
            np.testing.assert_array_equal(into, fresh)
        # scaled rows: the raw rows times a power of two, whatever the path
        raw = np.asarray(source[idx.ravel()]).astype(rows.dtype).reshape(7, 5, 9)
        ratio = rows.scaled(idx, buf) / raw
        np.testing.assert_array_equal(ratio, 2.0 ** np.round(np.log2(ratio)))
        # the buffer is the caller's promise: a wrong one is refused, never half-used
        with pytest.raises(ValueError, match="contiguous"):
            rows.take(idx, buf[:10])
        with pytest.raises(ValueError, match="contiguous"):
            rows.scaled(idx, np.empty(idx.size * 9, np.float16))
    held = Rows(X, metric, "X")                      # rows held in memory: np.take's path
    with pytest.raises(IndexError, match=r"\[0, 200\)"):
        held.take(np.array([3, 200]), np.empty(2 * 9))
    with pytest.raises(IndexError, match=r"\[0, 200\)"):
        held.take(np.array([-1, 3]), np.empty(2 * 9))


@pytest.mark.parametrize("metric", METRICS)
def test_exact_scores_with_reused_temporaries_equal_the_plain_expressions(rng, metric):
    """Refine's scores are written into reused buffers: bit for bit the numbers of the
    plain NumPy expressions, piece after piece with one scratch (larger, then smaller
    pieces reuse the first buffers)."""
    from vecdiag.neighbors.engine import _exact_scores, _Scratch
    from vecdiag.neighbors.rows import Rows

    X = rng.normal(size=(300, 33)).astype(np.float32) * rng.uniform(0.1, 10, (300, 1))
    X = X.astype(np.float32)
    Qx = rng.normal(size=(40, 33)).astype(np.float32)
    C, Q = Rows(X, metric, "X"), Rows(Qx, metric, "Q")
    scratch = _Scratch()
    for m, w in ((40, 12), (17, 5), (40, 30)):
        pos = rng.permutation(40)[:m]
        idx = rng.integers(0, 300, size=(m, w))
        got = _exact_scores(Q, C, pos, idx, scratch)
        q, c = Qx[pos][:, None, :], X[idx]
        if metric == "euclidean":
            diff = q - c
            want = np.sqrt(np.sum(diff * diff, axis=-1))
        elif metric == "cosine":
            q, c = Q.scaled(pos)[:, None, :], C.scaled(idx)
            want = np.clip(np.sum(q * c, axis=-1)
                           / np.sqrt(np.sum(q * q, axis=-1) * np.sum(c * c, axis=-1)), -1, 1)
        else:
            want = np.sum(q * c, axis=-1)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("work", [np.float32, np.float64])
def test_kept_squared_lengths_equal_fresh_ones_across_threads(rng, work):
    """Refine reads each corpus row's ``c·c`` (cosine, rows scaled by a power of two)
    from a sum kept the first time it is asked for, by whichever worker: every number is
    the plain expression's on a fresh gather, in the working dtype's products (float32
    rows under float64 queries too), for rows of every length, also past the float range
    or subnormal."""
    from concurrent.futures import ThreadPoolExecutor

    from vecdiag.neighbors.rows import Rows

    X = (rng.normal(size=(500, 21)) * rng.uniform(1e-3, 1e3, size=(500, 1))).astype(np.float32)
    X[7] = 3e38                                      # its length overflows float32
    X[8] = rng.normal(size=21) * 1e-42               # subnormal numbers
    rows = Rows(X, "cosine", "X")
    asks = [rng.integers(0, 500, size=(int(rng.integers(1, 40)), 6)) for _ in range(60)]
    asks.append(np.array([[7, 8, 7]]))

    def fresh(idx):
        c = rows.scaled(idx)
        out = np.empty(c.shape, work)
        np.multiply(c, c, out=out)
        return np.add.reduce(out, axis=-1)

    with ThreadPoolExecutor(2) as pool:
        kept = list(pool.map(lambda idx: rows.scaled_sq(idx, work), asks))
    for idx, got in zip(asks, kept):
        want = fresh(idx)
        assert got.dtype == want.dtype == np.dtype(work) and got.shape == idx.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(rows.scaled_sq(idx, work), want)    # now all kept
    assert np.isfinite(rows.scaled_sq(np.array([7, 8]), work)).all()


@pytest.mark.parametrize("scale", [1e-42, 1e-315])
def test_cosine_of_subnormal_vectors_is_exact_not_nan(rng, scale):
    """Rows whose numbers are subnormal (float32 lengths ~1e-42, float64 ~1e-315) have a
    direction like any other: refine scales them by a power of two beyond the float range
    (2**137 in float32) without forming that factor, so each scores exactly 1.0 with
    itself and the scores are those of the same (rounded) rows at length 1."""
    dtype = np.float32 if scale > 1e-300 else np.float64
    X = (rng.normal(size=(30, 6)) * scale).astype(dtype)
    assert (np.abs(X) < np.finfo(dtype).tiny).all() and (X != 0).any(axis=1).all()
    res = vd.knn(X[:4], X, k=5)
    assert np.isfinite(res.scores).all()
    np.testing.assert_array_equal(res.scores[:, 0], 1.0)
    np.testing.assert_array_equal(res.indices[:, 0], np.arange(4))
    # the same directions, exactly scaled into the normal range: the same ranking
    big = np.ldexp(X.astype(np.float64), 1100 if dtype == np.float64 else 140)
    ref = vd.knn(big[:4], big, k=5)
    np.testing.assert_allclose(res.scores, ref.scores, atol=1e-6)


def test_index_signature_shows_its_parameters():
    """help(vd.Index) and IDEs read the signature: it was __new__'s (corpus=None, *args,
    **kwargs), which hid ids, texts, metric and backend."""
    import inspect

    params = inspect.signature(vd.Index).parameters
    assert list(params) == ["corpus", "ids", "texts", "metric", "backend", "memory_budget"]
    assert params["metric"].default == "cosine" and params["ids"].default is None


def test_html_leaves_out_the_slots_a_store_did_not_fill():
    # a store that returned 1 of k=2 results for query 1: its padded slot (index -1, id
    # None, score NaN) was a table row reading id "nan", index -1, score "nan"
    import re

    from vecdiag.stores.base import StoreNeighbors

    res = StoreNeighbors(indices=np.array([[2, 0], [1, -1]]),
                         scores=np.array([[0.9, 0.5], [0.7, np.nan]]), metric="cosine", k=2,
                         ids=np.array([["c", "a"], ["b", None]], dtype=object),
                         raw_scores=np.array([[0.9, 0.5], [0.7, np.nan]]),
                         n_returned=np.array([2, 1]))
    page = res._repr_html_()
    assert re.findall(r"<td[^>]*>([^<]*)</td>", page) == [
        "0", "1", "c", "2", "0.9", "0", "2", "a", "0", "0.5", "1", "1", "b", "1", "0.7"]
    assert "1 of 4 slots empty: the store returned fewer than k" in page
