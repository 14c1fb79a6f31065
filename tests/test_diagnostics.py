"""The statistics behind vd.diagnose, each against an independent reference.

References: brute force over all pairs (scipy.spatial.distance.cdist), scipy.stats.skew,
scipy.stats.spearmanr, closed forms (offset model, IsoScore of k-of-n dimensions,
Pareto ratios for TwoNN), and explicit loops.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from scipy.stats import skew, spearmanr

import vecdiag as vd
from vecdiag.diagnostics import isoscore, norm_spread, participation_ratio, query_corpus_shift
from vecdiag.diagnostics.duplicates import exact_duplicate_groups
from vecdiag.diagnostics.intrinsic import twonn


def brute_cosines(X):
    """All pairwise cosines, diagonal removed (float64)."""
    C = 1.0 - cdist(X, X, "cosine")
    return C[~np.eye(len(X), dtype=bool)]


# --- anisotropy -----------------------------------------------------------------------

def test_anisotropy_iid_gaussian_is_near_zero(rng):
    X = rng.normal(size=(2000, 64))
    # the null's standard error is sqrt(2 / (n^2 d)) ~ 9e-5: 0.005 is ~50 SE
    assert abs(vd.anisotropy(X)) < 0.005


def test_anisotropy_offset_with_equal_energy_is_one_half(rng):
    n, d, sigma = 3000, 128, 1.0
    mu = rng.normal(size=d)
    mu *= np.sqrt(d) * sigma / np.linalg.norm(mu)          # ‖μ‖² = d σ²
    X = mu + sigma * rng.normal(size=(n, d))
    assert vd.anisotropy(X) == pytest.approx(0.5, abs=0.02)


@given(arrays(np.float64, st.tuples(st.integers(2, 25), st.integers(1, 6)),
              elements=st.floats(-100, 100, allow_nan=False, width=64)))
def test_anisotropy_exact_equals_brute_force(X):
    norms = np.linalg.norm(X, axis=1)
    if np.any(norms < 1e-3):
        X = X + 1000.0          # keep rows well away from the zero vector
    assert vd.anisotropy(X) == pytest.approx(brute_cosines(X).mean(), abs=1e-10)


def test_anisotropy_float32_and_sampled_estimate(rng):
    X = rng.normal(size=(500, 16)) + 0.5
    exact = brute_cosines(X).mean()
    assert vd.anisotropy(X.astype(np.float32)) == pytest.approx(exact, abs=1e-6)
    est = vd.anisotropy(X, exact=False, n_pairs=20_000, random_state=1)
    sd = brute_cosines(X).std() / np.sqrt(20_000)
    assert abs(est - exact) < 5 * sd
    assert est == vd.anisotropy(X, exact=False, n_pairs=20_000, random_state=1)


def test_anisotropy_refuses_zero_rows_and_single_vectors(with_zero_row):
    with pytest.raises(ValueError, match=r"has a zero vector at row 7: it has no direction"):
        vd.anisotropy(with_zero_row)
    with pytest.raises(ValueError, match="at least 2 vectors"):
        vd.anisotropy([[1.0, 2.0]])


def test_results_are_cached_on_an_index(rng, monkeypatch):
    index = vd.Index(rng.normal(size=(300, 8)))
    a = vd.anisotropy(index)
    r = vd.rogue_dimensions(index)
    h = vd.hubness(index, 5)
    assert {("anisotropy",), ("rogue_dimensions", 5), ("hubness", 5), ("k_occurrence", 5),
            ("knn_graph", 5), ("moments", "unit")} <= set(index.cache)

    def boom(*args, **kwargs):
        raise AssertionError("recomputed instead of using the cache")

    monkeypatch.setattr(index, "search", boom)
    monkeypatch.setattr("vecdiag.diagnostics.moments.compute_moments", boom)
    assert vd.anisotropy(index) == a
    assert vd.rogue_dimensions(index) is r
    assert vd.hubness(index, 5) is h
    np.testing.assert_array_equal(index.cache[("k_occurrence", 5)], h.k_occurrence)


# --- rogue dimensions -----------------------------------------------------------------

def test_rogue_contributions_sum_to_mean_cosine_and_match_brute_force(rng):
    X = rng.normal(size=(60, 5)) + [2.0, 0, 0, -1.0, 0]
    r = vd.rogue_dimensions(X, top=2)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    off = ~np.eye(60, dtype=bool)
    brute = np.array([np.outer(U[:, j], U[:, j])[off].mean() for j in range(5)])
    np.testing.assert_allclose(r.contribution, brute, atol=1e-12)
    assert r.contribution.sum() == pytest.approx(brute_cosines(X).mean(), abs=1e-12)
    assert r.mean_cosine == pytest.approx(vd.anisotropy(X), abs=1e-12)
    assert r.dims.tolist() == list(np.argsort(-brute)[:2])


def test_planted_offset_on_one_coordinate_takes_the_share(rng):
    X = rng.normal(size=(1000, 64))
    shares = []
    for offset in (0.0, 5.0, 20.0, 80.0):
        Y = X.copy()
        Y[:, 17] += offset
        r = vd.rogue_dimensions(Y, top=1)
        shares.append(r.share)
        if offset:
            assert r.dims[0] == 17
    gaps = np.abs(np.array(shares) - 1.0)
    assert gaps[0] > 0.5                       # no offset: no dimension takes the share
    assert gaps[1] > gaps[2] > gaps[3]         # a larger offset: closer to all of it
    assert gaps[3] < 1e-4


def test_rogue_frame_and_bad_top(rng):
    r = vd.rogue_dimensions(rng.normal(size=(50, 4)) + 1, top=2)
    frame = r.to_frame()
    assert list(frame.columns) == ["dimension", "contribution", "share"]
    assert "RogueDimensions" in r._repr_html_()
    with pytest.raises(ValueError, match="top must be at least 1"):
        vd.rogue_dimensions(np.ones((3, 3)), top=0)


# --- isotropy ---------------------------------------------------------------------------

def test_isotropy_against_direct_partition_function(rng):
    X = rng.normal(size=(200, 6)) * [3, 2, 1, 1, 0.5, 0.2] + 0.3
    _, vecs = np.linalg.eigh(X.T @ X)
    Z = np.exp(X @ np.hstack([vecs, -vecs])).sum(axis=0)       # small values: no overflow
    assert vd.isotropy(X) == pytest.approx(Z.min() / Z.max(), rel=1e-9)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(U.T @ U)
    Zu = np.exp(U @ np.hstack([vecs, -vecs])).sum(axis=0)
    assert vd.isotropy(X, normalize=True) == pytest.approx(Zu.min() / Zu.max(), rel=1e-9)


def test_isotropy_perfect_and_overflow_safe():
    E = np.vstack([np.eye(4), -np.eye(4)])
    assert vd.isotropy(E) == pytest.approx(1.0)
    value = vd.isotropy(np.array([[1e3, 0.0], [1e3, 1.0], [1e3, -1.0]]))
    assert np.isfinite(value) and 0 <= value < 1e-10


@pytest.mark.parametrize("k, n", [(1, 4), (2, 4), (3, 7), (5, 10), (10, 10)])
def test_isoscore_k_of_n_dimensions_closed_form(k, n):
    X = np.zeros((2 * k, n))
    X[np.arange(k), np.arange(k)] = 1.0
    X[k + np.arange(k), np.arange(k)] = -1.0               # equal variance in k dims
    assert isoscore(X) == pytest.approx((k - 1) / (n - 1), abs=1e-12)


def test_isoscore_degenerate_inputs():
    assert isoscore(np.ones((5, 3))) == 0.0                  # no variance at all
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        isoscore(np.arange(5.0).reshape(-1, 1))


def test_participation_ratio_matches_sklearn_pca(rng):
    from sklearn.decomposition import PCA

    X = rng.normal(size=(400, 10)) * np.linspace(0.1, 3, 10)
    lam = PCA().fit(X).explained_variance_
    assert vd.intrinsic_dimension(X, method="participation_ratio") == pytest.approx(
        lam.sum() ** 2 / (lam ** 2).sum(), rel=1e-9)
    assert participation_ratio(np.zeros(3)) == 0.0


# --- hubness ----------------------------------------------------------------------------

def brute_k_occurrence(X, k, metric):
    D = -(X @ X.T) if metric == "dot" else \
        cdist(X, X, "sqeuclidean" if metric == "euclidean" else metric)
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]          # ties: lower index first
    return np.bincount(idx.ravel(), minlength=len(X))


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_k_occurrence_equals_brute_force(rng, metric):
    X = rng.normal(size=(150, 12))
    h = vd.hubness(X, 7, metric=metric)
    np.testing.assert_array_equal(h.k_occurrence, brute_k_occurrence(X, 7, metric))
    assert h.k_occurrence.sum() == 150 * 7
    assert h.skewness == pytest.approx(skew(h.k_occurrence), abs=1e-12)
    assert set(h.hubs) == set(np.flatnonzero(h.k_occurrence >= 14))
    assert set(h.antihubs) == set(np.flatnonzero(h.k_occurrence == 0))
    rh = np.abs(h.k_occurrence - 7).sum() / (2 * 150 * 7)
    assert h.robinhood == pytest.approx(rh)


def test_skewness_grows_with_dimension(rng):
    low = vd.hubness(rng.normal(size=(1000, 3)), 10, metric="euclidean").skewness
    high = vd.hubness(rng.normal(size=(1000, 100)), 10, metric="euclidean").skewness
    assert high > low + 1.5


def test_hubness_over_a_query_log(rng):
    X, Q = rng.normal(size=(100, 6)), rng.normal(size=(40, 6))
    h = vd.hubness(X, 5, queries=Q)
    D = cdist(Q, X, "cosine")
    brute = np.bincount(np.argsort(D, axis=1, kind="stable")[:, :5].ravel(), minlength=100)
    np.testing.assert_array_equal(h.k_occurrence, brute)
    assert h.source == "queries" and h.n_lists == 40 and h.expected == pytest.approx(2.0)
    assert set(h.hubs) == set(np.flatnonzero(brute >= 4))


def test_hubness_constant_k_occurrence_is_zero_not_nan():
    X = np.eye(4) + 0.1
    h = vd.hubness(X, 3)                                       # n = k + 1: all equal
    assert h.skewness == 0.0 and h.robinhood == 0.0


def test_hubness_bad_k(rng):
    with pytest.raises(ValueError, match=r"k=5 is larger than the corpus \(5 vectors minus"):
        vd.hubness(rng.normal(size=(5, 3)), 5)
    with pytest.raises(ValueError, match="at least 2 vectors"):
        vd.hubness([[1.0, 2.0]], 1)


def test_hubness_display(rng):
    h = vd.hubness(rng.normal(size=(80, 30)), 5, metric="euclidean")
    assert "Hubness" in h._repr_html_() and "skewness" in h._repr_html_()
    assert h.to_frame()["k_occurrence"].sum() == 400
    ax = h.plot()
    assert ax.get_yscale() == "log"


# --- norms ------------------------------------------------------------------------------

def test_norm_spread_and_spearman(rng):
    norms = rng.lognormal(size=300)
    nk = rng.poisson(norms * 3)
    s = norm_spread(norms, nk)
    assert s.cv == pytest.approx(norms.std() / norms.mean())
    assert s.k_occurrence_corr == pytest.approx(spearmanr(norms, nk)[0], abs=1e-12)
    assert not s.unit
    assert norm_spread(np.ones(5), np.full(5, 3)).k_occurrence_corr is None


# --- duplicates -------------------------------------------------------------------------

def brute_groups(X, threshold):
    import scipy.sparse.csgraph as csg

    C = 1.0 - cdist(X, X, "cosine")
    A = (C >= threshold) | (X[:, None, :] == X[None, :, :]).all(axis=2)
    _, labels = csg.connected_components(A, directed=False)
    groups = [np.flatnonzero(labels == g).tolist() for g in np.unique(labels)]
    return sorted([g for g in groups if len(g) > 1], key=lambda g: (-len(g), g[0]))


def test_near_duplicates_equal_brute_force(rng):
    X = rng.normal(size=(300, 8))
    X[50] = X[3]
    X[120] = X[3] * 1.0000001
    X[7] = X[200] + 0.01
    X[9] = -X[10]                                               # opposite: not duplicates
    for threshold in (0.98, 0.9, 0.7):
        assert vd.near_duplicates(X, threshold=threshold) == brute_groups(X, threshold)


def test_exact_copies_always_reported():
    X = np.array([[1.0, 2.0, 3.0], [0.0, -0.0, 1.0], [1.0, 2.0, 3.0], [-0.0, 0.0, 1.0],
                  [3.0, 2.0, 1.0]])
    assert vd.near_duplicates(X, threshold=1.0) == [[0, 2], [1, 3]]
    assert exact_duplicate_groups(X.astype(np.float32)) == [[0, 2], [1, 3]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_copies_group_just_under_one_and_exact_copies_at_one(dtype):
    """The documented rule for ``threshold`` near 1 (no rounding margin): x, 3x and
    x·(1 + 1e-7) have cosine 1 - 7e-16 or closer (exact arithmetic on the stored
    values), so 0.9999 groups them with x's exact copy and leaves the random row out;
    ``threshold=1`` may split them but always keeps x with its exact copy and never
    links the random row. Checked against the float64 cosines by brute force."""
    rng = np.random.default_rng(7)
    for d in (3, 16, 384):
        x = rng.normal(size=d)
        X = np.array([x, 3 * x, x * (1 + 1e-7), rng.normal(size=d), x]).astype(dtype)
        assert vd.near_duplicates(X, threshold=0.9999) == [[0, 1, 2, 4]]
        assert vd.near_duplicates(X, threshold=0.9999) == brute_groups(X, 0.9999)
        at_one = vd.near_duplicates(X, threshold=1)
        assert [0, 4] in [[r for r in g if r in (0, 4)] for g in at_one], at_one
        assert sorted(r for g in at_one for r in g if r not in (1, 2)) == [0, 4], at_one


def test_near_duplicates_reads_a_cached_cosine_graph(monkeypatch):
    """A cosine Index whose kNN graph is cached: near_duplicates computes only the tiles
    the graph leaves open, with the groups of the full pass. explain_neighbors built the
    graph, then its deduplicate counterfactual paid a second pass over every pair (n =
    20,000 x 384 float32 in a cone: 1.3 s, as long as the graph; now 0.06 s)."""
    from vecdiag.diagnostics import duplicates as D

    rng = np.random.default_rng(0)
    X = rng.normal(size=(640, 16)).astype(np.float32)
    X[1:13] = X[0] + 0.01 * rng.normal(size=(12, 16))  # 12 near-copies of row 0: > k = 10
    X[600] = X[300] + 0.03 * rng.normal(size=16)         # a near-copy pair across tiles
    X[550] = X[100]                                      # exact copies: grouped by hashing
    monkeypatch.setattr(D, "PAIR_BLOCK", 64)             # 10 row blocks, 55 tiles
    full = vd.near_duplicates(X, threshold=0.98)
    assert full == brute_groups(X.astype(np.float64), 0.98)
    assert [0, *range(1, 13)] in full and [300, 600] in full and [100, 550] in full
    index = vd.Index(X)
    index.knn_graph(10)
    tiles = []
    real = D.block_pairs
    monkeypatch.setattr(D, "block_pairs",
                        lambda A, B, a, b, t: tiles.append((a, b)) or real(A, B, a, b, t))
    assert vd.near_duplicates(index, threshold=0.98) == full
    # block 0 holds rows with more near-copies than their list: all its tiles; the pair
    # 300-600: one tile; the exact copies 100 and 550 none
    assert sorted(tiles) == [(0, b) for b in range(0, 640, 64)] + [(256, 576)]
    tiles.clear()
    groups = vd.fixes.duplicate_groups(index, threshold=0.98)   # deduplicate's groups
    assert [g.tolist() for g in groups] == sorted(full, key=lambda g: g[0])
    assert len(tiles) == 11


def test_near_duplicates_bad_input(with_zero_row):
    with pytest.raises(ValueError, match="threshold must be a number in"):
        vd.near_duplicates(np.eye(3), threshold=1.5)
    with pytest.raises(ValueError, match="zero vectors"):
        vd.near_duplicates(with_zero_row)


# --- intrinsic dimension ----------------------------------------------------------------

def test_twonn_square_in_50d_is_two(rng):
    coords = rng.uniform(size=(3000, 2))
    basis = np.linalg.qr(rng.normal(size=(50, 2)))[0].T
    X = coords @ basis + 5.0
    assert vd.intrinsic_dimension(X) == pytest.approx(2.0, abs=0.15)


def test_twonn_pareto_closed_form(rng):
    for d in (1.0, 4.0, 10.0):
        mu = rng.pareto(d, size=50_000) + 1.0
        assert twonn(np.ones_like(mu), mu) == pytest.approx(d, rel=0.03)


def test_twonn_robust_to_duplicates_and_sampling(rng):
    X = rng.normal(size=(1500, 5))
    base = vd.intrinsic_dimension(X)
    with_copies = np.vstack([X, X[:400], X[:100]])
    assert vd.intrinsic_dimension(with_copies) == pytest.approx(base, rel=1e-12)
    assert vd.intrinsic_dimension(X, sample=500) == pytest.approx(base, rel=0.2)
    assert 4.0 < base < 6.0


def test_twonn_degenerate_inputs():
    with pytest.raises(ValueError, match="1 distinct vector"):
        vd.intrinsic_dimension(np.ones((10, 3)))
    with pytest.raises(ValueError, match="method must be one of"):
        vd.intrinsic_dimension(np.eye(3), method="mle")


# --- query shift --------------------------------------------------------------------------

def test_query_shift_null_and_shifted(rng):
    docs = rng.normal(size=(2000, 10))
    same = query_corpus_shift(rng.normal(size=(1000, 10)), docs, metric="euclidean")
    assert same.far_share == pytest.approx(0.05, abs=0.03)
    moved = query_corpus_shift(rng.normal(size=(200, 10)) + 3, docs, metric="euclidean")
    assert moved.far_share > 0.5 and moved.mean_gap > 2
    brute = cdist(docs, docs)
    np.fill_diagonal(brute, np.inf)
    np.testing.assert_allclose(np.sort(same.corpus_nn), np.sort(brute.min(axis=1)), rtol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_query_shift_with_exact_copies_does_not_depend_on_the_cache(metric):
    """A quarter of the documents are exact copies. The reference D_c read a 1-NN graph,
    where every member of a copy group lists its copy first (distance 0) and was left
    out, unless an earlier call had cached a deeper graph: the same call gave 0.16 on a
    fresh Index and 0.18 after vd.hubness(index, 10). D_c is now every document's
    distance to its nearest distinct document (scipy's cdist, copies masked), either way."""
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(400, 16))
    docs[rng.choice(400, 100, replace=False)] = docs[rng.choice(400, 100)]
    queries = rng.normal(size=(50, 16)) * 1.1
    dist = cdist(docs, docs, metric=metric)
    dist[cdist(docs, docs) == 0] = np.inf                      # itself and its copies
    expected = np.sort(dist.min(axis=1))
    fresh = query_corpus_shift(queries, vd.Index(docs, metric=metric))
    cached = vd.Index(docs, metric=metric)
    vd.hubness(cached, k=10)
    after = query_corpus_shift(queries, cached)
    for res in (fresh, after):
        np.testing.assert_allclose(np.sort(res.corpus_nn), expected, rtol=1e-9, atol=1e-12)
        ref = np.quantile(expected, 0.95)
        far = cdist(queries, docs, metric=metric).min(axis=1) > ref
        assert res.far_share == pytest.approx(far.mean())


def test_timing_of_cached_hubness_is_negligible(rng):
    index = vd.Index(rng.normal(size=(400, 16)))
    vd.hubness(index, 10)
    t0 = time.perf_counter()
    for _ in range(100):
        vd.hubness(index, 10)
    assert time.perf_counter() - t0 < 0.5


def test_k_occurrence_with_many_exact_copies_follows_the_tie_rule(rng):
    X = rng.normal(size=(60, 5))
    X[[10, 20, 30, 40, 50]] = X[5]            # six copies: more than k + 1
    h = vd.hubness(X, 2)
    np.testing.assert_array_equal(h.k_occurrence, brute_k_occurrence(X, 2, "cosine"))
    assert h.k_occurrence.sum() == 120


def test_chunked_graph_fallback_equals_brute_force(rng):
    """Without Index.knn_graph(show_progress=...), the graph is searched in chunks."""
    from vecdiag.diagnostics._graph import knn_graph

    class PlainIndex(vd.Index):
        def knn_graph(self, k=10):          # the minimal signature: forces the fallback
            return super().knn_graph(k)

    X = rng.normal(size=(90, 6))
    X[[30, 60, 61, 62]] = X[4]              # copies: self may fall outside the k + 1
    for metric in ("cosine", "euclidean", "dot"):
        graph = knn_graph(PlainIndex(X, metric=metric), 3, chunks=7)
        nk = np.bincount(graph.indices.ravel(), minlength=90)
        np.testing.assert_array_equal(nk, brute_k_occurrence(X, 3, metric))


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("n_pairs", [0, -5, 2.5])
def test_anisotropy_checks_n_pairs_whichever_estimate_runs(rng, exact, n_pairs):
    """n_pairs is only used by the sampled estimate, but a wrong value is refused by
    both (scikit-learn checks every parameter, used or not)."""
    X = rng.normal(size=(20, 4))
    with pytest.raises((ValueError, TypeError), match="n_pairs"):
        vd.anisotropy(X, n_pairs=n_pairs, exact=exact)
    if exact:                                  # a valid n_pairs changes nothing there
        assert vd.anisotropy(X, n_pairs=7) == vd.anisotropy(X)


@pytest.mark.parametrize("n_pairs", [50, 5000])
def test_sampled_anisotropy_names_the_input_rows_that_are_zero(rng, n_pairs, tmp_path):
    """exact=False named positions in its pair sample (row 1009 of 300), or, with few
    pairs, missed the zero rows and returned a value. An array in memory is checked row by
    row as exact=True is; a memmap names the sampled zero rows by their input row."""
    X = rng.normal(size=(300, 8))
    X[[3, 7]] = 0.0
    for exact in (True, False):
        with pytest.raises(ValueError, match=r"2 rows \(3, 7\) that are zero"):
            vd.anisotropy(X, exact=exact, n_pairs=n_pairs)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    if n_pairs == 5000:                       # both rows are all but surely drawn
        with pytest.raises(ValueError, match=r"rows \(3, 7\) that are zero"):
            vd.anisotropy(mm, exact=False, n_pairs=n_pairs)


def test_query_shift_ok_wording_says_when_queries_sit_apart_beyond_chance(rng):
    """Below the warning line the finding is ok, but a share far beyond the 5% of queries
    drawn like documents was summarised as 'Queries sit among the documents' (the demo:
    19% of 69). The far share is counted here by brute force (scipy's cdist)."""
    docs = rng.normal(size=(1500, 8))
    brute = cdist(docs, docs)
    np.fill_diagonal(brute, np.inf)
    bar = np.quantile(brute.min(axis=1), 0.95)
    for n_far, words in ((0, "Queries sit among the documents:"),
                         (20, "Most queries sit among the documents, some apart:")):
        queries = np.vstack([rng.normal(size=(200 - n_far, 8)),
                             rng.normal(size=(n_far, 8)) + 6.0])
        far = float(np.mean(cdist(queries, docs).min(axis=1) > bar))
        finding = next(f for f in vd.diagnose(docs, queries=queries, metric="euclidean",
                                              k=5).findings
                       if f.code == "query_corpus_shift")
        assert finding.severity == "ok" and finding.evidence["value"] == pytest.approx(far)
        assert finding.summary.startswith(words)
        assert (far > 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)) == bool(n_far)


@pytest.mark.parametrize("path", ["graph", "sampled"])
def test_query_shift_under_euclidean_names_a_length_mismatch(rng, path):
    """Queries left unnormalised (3x) against unit documents, by euclidean distance: they
    point where the documents are, yet every one is far, by its length alone. The finding
    said 'queries live elsewhere' and advised add_prefix; it now names the lengths and the
    fix normalize, which (applied, checked by brute force here) brings them back."""
    centres = rng.normal(size=(8, 64))
    X = centres[rng.integers(0, 8, 700)] * 0.4 + rng.normal(size=(700, 64)) * 0.1
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    docs, held = X[:600], X[600:]
    corpus = docs       # a Dask corpus takes the sampled path (as beyond 100,000 rows)
    if path == "sampled":
        corpus = pytest.importorskip("dask.array").from_array(docs, chunks=200)
    bar = np.quantile(np.sort(cdist(docs, docs), axis=1)[:, 1], 0.95)
    for scale, words in ((3.0, "3x longer"), (0.25, "4x shorter")):
        Q = held * scale
        assert np.mean(cdist(Q, docs).min(axis=1) > bar) > 0.5     # far, by brute force
        f = next(f for f in vd.diagnose(corpus, queries=Q, metric="euclidean", k=5).findings
                 if f.code == "query_corpus_shift")
        assert f.severity == "critical" and f.fix == "normalize"
        assert ("sampled" in f.evidence["corpus_reference"]) == (path == "sampled")
        assert words in f.summary and "live elsewhere" not in f.summary
        assert f.evidence["query_length_ratio"] == pytest.approx(
            np.median(np.linalg.norm(Q, axis=1)) / np.median(np.linalg.norm(docs, axis=1)))
        Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)              # the fix it names
        assert np.mean(cdist(Qn, docs).min(axis=1) > bar) < 0.2
    # lengths alike: the reading is not about length
    f = next(f for f in vd.diagnose(corpus, queries=held * 1.2, metric="euclidean",
                                    k=5).findings
             if f.code == "query_corpus_shift")
    assert f.fix != "normalize" and "longer" not in f.summary


@pytest.mark.parametrize("sample", [None, 8])
def test_hubness_of_an_index_refuses_another_metric_instead_of_ignoring_it(sample):
    """vd.hubness(vd.Index(X, metric="dot"), 3, metric="euclidean") returned the dot
    product's hubness (.metric 'dot') in silence; diagnose already refused it. Leaving
    metric out still measures the Index under its own metric."""
    X = np.random.default_rng(3).normal(size=(12, 4)) * np.arange(1, 13)[:, None]
    index = vd.Index(X, metric="dot")
    with pytest.raises(ValueError, match="metric='euclidean', but the Index searches by 'dot'"):
        vd.hubness(index, 3, metric="euclidean", sample=sample)
    with pytest.raises(ValueError, match="metric must be one of"):
        vd.hubness(index, 3, metric="Dot", sample=sample)
    own = vd.hubness(index, 3, sample=sample)
    named = vd.hubness(index, 3, metric="dot", sample=sample)
    plain = vd.hubness(X, 3, metric="dot", sample=sample)
    assert own.metric == named.metric == "dot"
    assert own.skewness == named.skewness == plain.skewness


def test_query_shift_spread_keeps_its_digits_far_from_the_origin():
    """The corpus spread of query_corpus_shift (the unit of its mean gap) was
    sqrt(E‖x‖² − ‖E x‖²): rows 1e6 + noise of 1e-2 gave 0.03125 for numpy's 0.028137
    (every digit of the variance cancelled), identical rows a spread of 7e-8 and so a
    huge gap. Summed about the first row now: equal to the centred rows' rms distance
    to their mean (float64 reference), and 0.0 for identical rows."""
    from vecdiag.diagnostics.shift import query_corpus_shift, space_mean_and_spread

    rng = np.random.default_rng(1)
    X = 1e6 + rng.normal(scale=1e-2, size=(400, 8))
    spread = np.sqrt(((X - X.mean(axis=0)) ** 2).sum(axis=1).mean())
    mean, got = space_mean_and_spread(X, False)
    assert got == pytest.approx(spread, rel=1e-9)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-15)
    Q = X[:20] + 0.02
    gap = np.linalg.norm(Q.mean(axis=0) - X.mean(axis=0)) / spread
    assert query_corpus_shift(Q, X, metric="euclidean").mean_gap == pytest.approx(gap,
                                                                                  rel=1e-6)
    same = np.tile(rng.normal(size=(1, 8)), (50, 1))
    assert space_mean_and_spread(same, False)[1] == 0.0
    assert space_mean_and_spread(same, True)[1] == 0.0


def test_participation_ratio_is_scale_free():
    """(Σλ)² / Σλ² of two equal variances is 2 at any scale: 1e200 raised an OverflowError
    (its square overflows) and 1e-200 returned 0.0, "no variance" (its square underflows).
    The variances are divided by a power of two first (exact: 3 and 1 still give 16/10
    bit for bit); NaN or inf is refused instead of read as 0.0."""
    from vecdiag.diagnostics import participation_ratio

    for scale in (1.0, 1e200, 1e-200, 1e308, 5e-324):
        assert participation_ratio(np.array([scale, scale, 0.0])) == 2.0
    assert participation_ratio(np.array([3.0, 1.0])) == 16 / 10
    assert participation_ratio(np.array([3e-300, 1e-300])) == pytest.approx(1.6, rel=1e-15)
    assert participation_ratio(np.zeros(3)) == 0.0
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="variances must be finite"):
            participation_ratio(np.array([1.0, bad]))


def test_rogue_dimensions_html_gives_the_share_as_a_percent_that_reads():
    """The HTML head read "mean cosine 8.416e-04; the top 5 dimensions carry 171.613% of
    it" for 500 x 16 standard normal float32 vectors (seed 0): an exponent, three decimals
    of a percent, and a share over 100% left unexplained. It now reads as the diagnose
    findings do, and says why the share can pass 100%."""
    import re

    X = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    r = vd.rogue_dimensions(X)
    assert r.share == pytest.approx(1.71613, abs=1e-4)
    assert re.search("<p>.*?</p>", r._repr_html_()).group(0) == (
        "<p>mean cosine 0.001; the top 5 dimensions carry 172% of it (more than all of it: "
        "the other dimensions pull the mean cosine down)</p>")
    Y = np.random.default_rng(0).normal(size=(200, 8)) + 1
    Y[:, 3] += 5
    assert re.search("<p>.*?</p>", vd.rogue_dimensions(Y)._repr_html_()).group(0) == (
        "<p>mean cosine 0.863; the top 5 dimensions carry 94% of it</p>")


def test_near_duplicates_also_checks_no_pair_inside_an_exact_copy_group(monkeypatch):
    """near_duplicates(also=...) re-scored every pair in the other frame, the pairs of
    one exact-copy group too, which ``exact`` joins anyway: 300 identical rows were 44,850
    pairs of (pairs x d) float64 gathers (3,000 rows: 4.5 million). Now only pairs
    across groups are checked, in pieces; the groups are the same."""
    from vecdiag.diagnostics import sampled_duplicates as SD

    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 16))
    X[100:400] = X[0]                                   # 301 identical rows
    X[1] = X[2] * (1 + 1e-4 * rng.normal(size=16))      # a near-copy pair
    also = X * rng.uniform(0.5, 2.0, size=(400, 1))      # same cosines, other lengths
    seen = []
    real = SD.cosines_in
    monkeypatch.setattr(SD, "cosines_in",
                        lambda a, r, c: seen.append(r.size) or real(a, r, c))
    got = vd.near_duplicates(X, also=also)
    assert sorted(map(sorted, got)) == sorted(map(sorted, vd.near_duplicates(X)))
    assert sorted(map(len, got)) == [2, 301]
    assert seen == [1]                                  # the pair (1, 2) alone
