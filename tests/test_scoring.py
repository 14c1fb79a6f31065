"""The one scoring module (vecdiag.neighbors.scoring) and the rows an Index prepares once.

References: scikit-learn's normalize for unit rows, a NumPy lexsort for the tie rule,
vecdiag.fixes.apply_fix for explain's counterfactual ranks (they must be the same path).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import normalize

import vecdiag as vd
from vecdiag.neighbors import scoring


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_unit_rows_are_prepared_once_and_match_sklearn(metric, rng):
    X = rng.normal(size=(60, 7)).astype(np.float32)
    if metric != "cosine":
        X[5] = 0.0                                   # zero rows stay zero off cosine
    index = vd.Index(X, metric=metric)
    U = index.unit_rows
    assert U.dtype == X.dtype and U is index.unit_rows   # computed at most once
    np.testing.assert_allclose(U, normalize(X), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(index.norms, np.linalg.norm(X, axis=1), rtol=1e-6)
    if metric == "cosine":
        assert U is index.rows.data                  # the very rows the search scores
        assert vd.cache_keys.unit_rows() not in index.cache
    else:
        assert not U[5].any()
        assert index.cache[vd.cache_keys.unit_rows()] is U


def test_memmap_index_keeps_no_copy_until_unit_rows_are_asked(tmp_path, rng):
    X = rng.normal(size=(40, 5))
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    index = vd.Index(mm)
    assert index.rows.data is None and index.cache == {}
    np.testing.assert_allclose(index.unit_rows, normalize(X), rtol=1e-12)


def _reference_top_k(keys, k):
    cols = np.arange(keys.shape[1])
    order = np.array([np.lexsort((cols, -row)) for row in keys])[:, :k]
    return order, np.take_along_axis(keys, order, axis=1)


@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**31 - 1),
       st.sampled_from([2, 5, 1000]))
def test_top_k_follows_the_tie_rule(n, m, seed, levels):
    """Few distinct values force ties; both selection paths (k < m/4 and sort) checked."""
    keys = np.random.default_rng(seed).integers(0, levels, size=(n, m)).astype(float)
    for k in {1, max(1, m // 5), m}:
        idx, val = scoring.top_k(keys, k)
        ref_idx, ref_val = _reference_top_k(keys, k)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(val, ref_val)
        np.testing.assert_array_equal(scoring.top_rows(keys[0], k), ref_idx[0])
        np.testing.assert_array_equal(scoring.ranks_of(keys[0], ref_idx[0]),
                                      np.arange(1, k + 1))


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_full_scores_match_a_direct_computation(metric, rng):
    X, Q = rng.normal(size=(50, 6)), rng.normal(size=(4, 6))
    index = vd.Index(X, metric=metric)
    got = scoring.full_scores(index, Q)
    if metric == "cosine":
        ref = normalize(Q) @ normalize(X).T
    elif metric == "dot":
        ref = Q @ X.T
    else:
        ref = np.linalg.norm(Q[:, None] - X[None], axis=2)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_counterfactual_ranks_are_the_ranks_apply_fix_gives(metric, rng):
    """Explain's counterfactuals and apply_fix on the same Index: one path, same ranks."""
    from vecdiag.explain.counterfactuals import transformed_ranking

    X = rng.normal(size=(120, 10)) + 2.0
    X[40] = X[41]                                    # an exact tie
    index = vd.Index(X, metric=metric)
    q = X[41] + 0.01
    for fix in ("center", "whiten", "all_but_the_top"):
        ranking = transformed_ranking(index, q, fix, k=10)
        full = vd.fixes.apply_fix(fix, q[None], index, k=len(index))
        rows = np.arange(len(index))
        where = np.empty(len(index), np.int64)
        where[full.indices[0]] = rows + 1
        np.testing.assert_array_equal(ranking.ranks(rows), where)
        np.testing.assert_array_equal(ranking.top(10), full.indices[0, :10])
    fitted = [key for key in index.cache if key[0] == vd.cache_keys.fix_fitted("c", "m", {})[0]]
    assert len(fitted) == 3                          # fitted once each, shared with apply_fix


def test_counterfactual_where_the_fix_leaves_zero_vectors_scores_zero():
    """Rows of one direction are all equal to their mean once unit-normalised: centring
    maps every one to 0. apply_fix refuses (cosine of nothing); the counterfactual ranks
    them as ties (score 0), by corpus index, as explanations always did."""
    from vecdiag.explain.counterfactuals import transformed_ranking

    X = np.array([[1.0, 2.0], [2.0, 4.0], [0.5, 1.0], [3.0, 6.0]])
    index = vd.Index(X, metric="cosine")
    ranking = transformed_ranking(index, np.array([1.0, 0.0]), "center", k=2)
    assert ranking.top(4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="corpus after the fix"):
        vd.fixes.apply_fix("center", [[1.0, 0.0]], index, k=2)


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_rows_whose_length_is_not_a_float32_get_unit_rows_and_true_cosines(metric, tmp_path):
    """float32 [3e38, 3e38] has length inf in float32 and [3e-45, 4e-45] a rounded one:
    unit_rows (memmap or non-cosine Index), full_scores and the pair scores behind
    score_percentile gave rows of zeros / 0.9 long rows, and cosines of 0.0 and 0.75
    where scikit-learn (on the rows scaled to a safe range) says 0.707 and 0.98."""
    from scipy.spatial.distance import pdist

    from vecdiag.scores import random_pair_scores

    X = np.array([[3e38, 3e38], [1, 0], [0, 1], [3e-45, 4e-45]], np.float32)
    X64 = X.astype(np.float64)
    safe = X64 / np.abs(X64).max(axis=1, keepdims=True)   # same directions
    mm = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    for corpus in (X, mm):
        index = vd.Index(corpus, metric=metric)
        np.testing.assert_allclose(index.unit_rows, normalize(safe), rtol=1e-6)
    index = vd.Index(X)
    np.testing.assert_allclose(scoring.full_scores(index, np.float32([[1, 1], [2, 3]])),
                               normalize([[1, 1], [2, 3]]) @ normalize(safe).T, rtol=1e-6)
    np.testing.assert_allclose(random_pair_scores(X), np.sort(1 - pdist(safe, "cosine")),
                               rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_pairwise_scores_do_not_depend_on_the_other_rows(metric, dtype):
    """pairwise_scores, what a Dask corpus's full scores (scale.index) and counterfactual
    keys (scale.explain_fixes) both call per row block: scipy's cdist to rounding, the
    input dtype kept, a zero row scoring 0 under cosine, and a row's score the same to
    the last bit whatever rows share its block (an exact copy in a block of another size
    ties its original exactly: the tie rule then puts the lower row first)."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    C = rng.normal(size=(23, 9)).astype(dtype)
    C[4] = 0.0
    C[17] = C[1]
    Q = rng.normal(size=(3, 9)).astype(dtype)
    got = scoring.pairwise_scores(Q, C, metric)
    assert got.dtype == dtype and got.shape == (3, 23)
    nz = np.r_[0:4, 5:23]
    want = {"cosine": 1 - cdist(Q, C[nz], "cosine"), "dot": Q.astype(np.float64) @ C[nz].T,
            "euclidean": cdist(Q, C[nz])}[metric]
    np.testing.assert_allclose(got[:, nz], want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    if metric == "cosine":
        assert np.array_equal(got[:, 4], np.zeros(3, dtype))
    for a, b in [(0, 1), (0, 7), (15, 23), (1, 18)]:    # blocks of other sizes
        assert np.array_equal(scoring.pairwise_scores(Q, C[a:b], metric), got[:, a:b])
    assert np.array_equal(got[:, 1], got[:, 17])
