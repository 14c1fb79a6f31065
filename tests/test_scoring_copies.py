"""Exact copies of a corpus row score as that row in every path that scores every document.

A matrix product does not promise one result for one row: BLAS kernels compute the rows at
the edge of a tile apart, and a copy placed there scored a last bit off its original, so
the tie rule (equal scores: lower index first) ranked copies out of order. On this
project's CI machine (OpenBLAS Haswell kernels) every test below failed before
``neighbors.scoring.tie_copies`` and ``fixes.checking.copies_alike``. The engine
(``vd.knn``) re-scores pair by pair and is the reference.
"""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd
from vecdiag import fixes
from vecdiag.neighbors.scoring import corpus_copies, full_scores, tie_copies


def _corpora():
    rng = np.random.default_rng(3)
    for n in (37, 41, 46, 53):
        for d in (7, 16):
            for dtype in (np.float32, np.float64):
                X = rng.normal(size=(n, d)).astype(dtype)
                X[n - 2] = X[0]
                X[n - 1] = X[0]                     # copies at the tile's edge
                Q = rng.normal(size=(5, d)).astype(dtype)
                Q[1] = X[0]                         # a query equal to the copied row
                yield X, Q


def _assert_copies_tie(indices, scores, n, where, same_scores=True):
    copies = (0, n - 2, n - 1)
    for row in range(indices.shape[0]):
        place = {int(c): i for i, c in enumerate(indices[row])}
        if not all(c in place for c in copies):
            continue
        got = [scores[row, place[c]] for c in copies]
        assert len(set(got)) == 1 or not same_scores, (where, row, got)
        assert sorted(copies, key=place.get) == list(copies), (where, row)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_copies_tie_through_every_fix_and_reranker(metric):
    for X, Q in _corpora():
        n = X.shape[0]
        for corpus in (vd.Index(X, metric=metric), X):
            for code in ("center", "whiten", "all_but_the_top", "csls", "mutual_proximity",
                         "deduplicate"):
                r = fixes.apply_fix(code, Q, corpus, n, metric=metric)
                # deduplicate demotes the copies to the end (score -inf, or +inf distance)
                _assert_copies_tie(r.indices, r.scores, n, (code, type(corpus).__name__),
                                   same_scores=code != "deduplicate")
        ranked = vd.knn(Q, X, n, metric=metric)
        _assert_copies_tie(ranked.indices, ranked.scores, n, "knn")
        S = full_scores(vd.Index(X, metric=metric), Q)
        assert (S[:, [n - 2, n - 1]] == S[:, [0]]).all()


def test_copies_tie_through_chunk_documents():
    """chunk_documents scored the short documents in one product without tying copies:
    14 of these 48 result lists ranked them out of index order. Row 5's long text is
    scored by its chunks (a toy embedder: each chunk's vector from its letters)."""
    from vecdiag.fixes.text import chunk_documents

    class Letters:
        def encode(self, texts, kind="document"):
            return np.array([[len(t) % 7 + j * t.count("a") for j in range(d)] for t in texts],
                            dtype=float)

    for X, Q in _corpora():
        n, d = X.shape
        texts = ["short"] * n
        texts[5] = "a " * 300
        for metric in ("cosine", "dot", "euclidean"):
            r = chunk_documents(Q, X, texts, Letters(), k=n, metric=metric, chunk_words=50,
                                overlap=0)
            _assert_copies_tie(r.indices, r.scores, n, ("chunk_documents", metric))


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_copies_tie_through_cosine_metric_on_an_index(metric):
    """The cosine_metric fix on a dot or euclidean Index (and so explain's cosine_metric
    counterfactual) scored the unit rows in one product without tying copies: 12 of
    these 32 result lists ranked them out of index order."""
    for X, Q in _corpora():
        n = X.shape[0]
        r = fixes.apply_fix("cosine_metric", Q, vd.Index(X, metric=metric), n, metric=metric)
        _assert_copies_tie(r.indices, r.scores, n, ("cosine_metric", metric))


def test_a_query_equal_to_a_row_is_zero_from_it_and_its_copies_after_a_fix():
    for X, Q in _corpora():
        n = X.shape[0]
        for code in ("whiten", "all_but_the_top", "center"):
            r = fixes.apply_fix(code, Q, vd.Index(X, metric="euclidean"), 3,
                                metric="euclidean")
            assert r.indices[1].tolist() == [0, n - 2, n - 1], code
            assert r.scores[1].tolist() == [0.0, 0.0, 0.0], code


def test_explanation_counterfactuals_keep_copies_in_index_order():
    for X, Q in _corpora():
        n = X.shape[0]
        e = vd.explain_neighbors(Q[1], vd.Index(X, metric="euclidean"), k=3, expected=[5],
                                 metric="euclidean")
        tops = {cf.fix: list(cf.top) for cf in e.counterfactuals}
        for code in ("center", "whiten", "all_but_the_top"):
            assert tops[code] == [0, n - 2, n - 1], (code, tops[code])


def test_corpus_copies_groups_rows_value_for_value_and_tie_copies_never_changes_its_input(
        tmp_path, monkeypatch):
    from vecdiag.neighbors import _copies

    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [3.0, 4.0], [-0.0, 1.0], [0.0, 1.0]])
    kept_x = X.copy()
    members, first = corpus_copies(X)
    assert members.tolist() == [2, 3, 5] and first.tolist() == [0, 1, 4]   # -0.0 is 0.0
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert [a.tolist() for a in corpus_copies(mm)] == [[2, 3, 5], [0, 1, 4]]
    # every hash colliding: the rows themselves decide, value for value
    monkeypatch.setattr(_copies, "_row_hashes", lambda src, *_: np.zeros(len(src), np.uint64))
    assert [a.tolist() for a in corpus_copies(mm)] == [[2, 3, 5], [0, 1, 4]]
    assert np.array_equal(np.signbit(X), np.signbit(kept_x))                # X unchanged
    index = vd.Index(X, metric="dot")
    assert [a.tolist() for a in corpus_copies(X, index)] == [[2, 3, 5], [0, 1, 4]]
    assert corpus_copies(np.eye(4)) is None
    S = np.arange(12.0).reshape(2, 6)
    kept = S.copy()
    out = tie_copies(S, (members, first))
    assert np.array_equal(S, kept)
    assert out.tolist() == [[0, 1, 0, 1, 4, 4], [6, 7, 6, 7, 10, 10]]
    assert tie_copies(S, None) is S


def test_copies_holding_negative_zeros_tie_with_their_original():
    """A copy of row 0 with -0.0 where row 0 holds 0.0 is the same vector (equal scores
    against every query, pair by pair: the engine ranks it in index order). Compared as
    bytes it was not a copy: 12 result lists of csls, 16 of mutual proximity and 9 of
    all-but-the-top on an Index ranked the copies out of index order, full scores put
    them a last bit off row 0, on these corpora under cosine (OpenBLAS Haswell)."""
    for X, Q in _corpora():
        n = X.shape[0]
        X[0, :3] = 0.0
        X[n - 2:] = X[0]
        X[n - 2, :3] = -0.0                         # the same vector, other bytes
        X[n - 1, 1] = -0.0
        Q[1] = X[0]
        for metric in ("cosine", "dot"):
            index = vd.Index(X, metric=metric)
            for code in ("all_but_the_top", "csls", "mutual_proximity"):
                r = fixes.apply_fix(code, Q, index, n, metric=metric)
                _assert_copies_tie(r.indices, r.scores, n, (code, metric))
            S = full_scores(index, Q)
            assert (S[:, [n - 2, n - 1]] == S[:, [0]]).all(), metric


def test_mmr_picks_copies_in_index_order():
    rng = np.random.default_rng(5)
    for n in range(37, 60, 2):
        for d in (7, 16):
            for dtype in (np.float32, np.float64):
                X = rng.normal(size=(n, d)).astype(dtype)
                X[n - 2] = X[0]
                X[n - 1] = X[0]
                for metric in ("cosine", "dot", "euclidean"):
                    for lambda_ in (1.0, 0.7, 0.0):
                        picked = fixes.mmr(X[0] + 0.01, X, 8, lambda_=lambda_, candidates=n,
                                           metric=metric).indices[0].tolist()
                        at = [picked.index(c) for c in (0, n - 2, n - 1) if c in picked]
                        assert at == sorted(at), (n, d, metric, lambda_, picked)


def test_copies_tie_on_a_dask_corpus_through_the_fixes_and_explanations():
    da = pytest.importorskip("dask.array", reason="the Dask path needs the dask extra")
    rng = np.random.default_rng(3)
    for n in (37, 41):
        for dtype in (np.float32, np.float64):
            X = rng.normal(size=(n, 16)).astype(dtype)
            X[n - 2] = X[0]
            X[n - 1] = X[0]                         # copies in the last block of 17 rows
            Q = rng.normal(size=(5, 16)).astype(dtype)
            for metric in ("cosine", "dot", "euclidean"):
                index = vd.Index(da.from_array(X, chunks=(17, 16)), metric=metric)
                for code in ("center", "whiten", "all_but_the_top"):
                    r = fixes.apply_fix(code, Q, index, n, metric=metric)
                    _assert_copies_tie(r.indices, r.scores, n, (code, "dask"))
                e = vd.explain_neighbors(X[0] + 0.001, index, k=3, expected=[5],
                                         metric=metric)
                for cf in e.counterfactuals:
                    top = list(cf.top)
                    at = [top.index(c) for c in (0, n - 2, n - 1) if c in top]
                    assert at == sorted(at), (cf.fix, metric, top)
