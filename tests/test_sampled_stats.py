"""Sampled hubness and near-duplicates: exact when every row is sampled, unbiased where
the estimator says so (checked by enumerating every sample), equal on NumPy and Dask,
and intervals whose coverage of the exact value (full kNN graph) is checked over seeds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

import vecdiag as vd
from vecdiag.diagnostics import sampled_estimators as E
from vecdiag.diagnostics.duplicates import exact_duplicate_groups, groups_from_hashes
from vecdiag.diagnostics.hubness import skewness
from vecdiag.diagnostics.sampled_hubness import SampledHubness
from vecdiag.diagnostics.sampling import (check_sample, sampled_lists, sampled_phrase,
                                          wilson_interval)


def gaussian(n, d, seed=0):
    """High-dimensional Gaussian: hubness grows with d (Radovanović et al. 2010)."""
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def clustered(n, d, seed=0):
    """20 clusters of unequal spread: strong hubs (skewness ≈ 2)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, d)) * 2
    return (centres[rng.integers(0, 20, n)] + rng.standard_normal((n, d))).astype(np.float32)


def low_dim(n, seed=0):
    """3-D Gaussian: no hubness to speak of (N_k nearly symmetric)."""
    return np.random.default_rng(seed).standard_normal((n, 3)).astype(np.float32)


# --- exactness and unbiasedness -------------------------------------------------------

def test_every_row_sampled_gives_the_exact_figures():
    X = clustered(600, 20)
    exact = vd.hubness(X, k=5)
    est = vd.hubness(X, k=5, sample=600)
    nk = exact.k_occurrence
    assert est.skewness == pytest.approx(exact.skewness, abs=1e-9)
    assert est.skewness_ci == pytest.approx((exact.skewness, exact.skewness), abs=1e-9)
    assert est.hub_share == pytest.approx(np.mean(nk >= 10))
    assert est.antihub_share == pytest.approx(np.mean(nk == 0))
    assert est.not_estimable == {} and est.exact


def test_sampled_lists_are_rows_of_the_exact_graph():
    X = gaussian(500, 30)
    X[7] = X[3]                                   # a copy: the tie rule matters
    index = vd.Index(X)
    rows = np.array([0, 3, 7, 250, 499])
    idx, sc = sampled_lists(index, rows, 6, "cosine")
    graph = index.knn_graph(6)
    np.testing.assert_array_equal(idx, graph.indices[rows])
    np.testing.assert_allclose(sc, graph.scores[rows], rtol=1e-6)


def test_factorial_moment_sums_are_unbiased_over_every_sample():
    """Average over all C(8, 4) samples of the lists of a small graph = the exact sums."""
    X = clustered(8, 5, seed=3)
    graph = vd.Index(X).knn_graph(3).indices
    n, s = 8, 4
    nk = np.bincount(graph.ravel(), minlength=n).astype(float)
    truth = [(nk * (nk - 1)).sum(), (nk * (nk - 1) * (nk - 2)).sum()]
    sums = []
    for rows in itertools.combinations(range(n), s):
        c = np.bincount(graph[list(rows)].ravel(), minlength=n).astype(float)
        sums.append([(c * (c - 1)).sum() * E._falling_scale(n, s, 2),
                     (c * (c - 1) * (c - 2)).sum() * E._falling_scale(n, s, 3)])
    np.testing.assert_allclose(np.mean(sums, axis=0), truth, rtol=1e-12)


def test_antihub_weights_are_unbiased_under_binomial_thinning():
    f = 0.6
    for N in range(0, 12):
        c = np.arange(N + 1)
        expected = (stats.binom.pmf(c, N, f) * E._antihub_weights(c, f)).sum()
        assert expected == pytest.approx(float(N == 0), abs=1e-12)


def test_wilson_matches_scipy_for_a_large_population():
    for hits, s in [(0, 50), (5, 100), (37, 120), (200, 200)]:
        ref = stats.binomtest(hits, s).proportion_ci(method="wilson")
        assert wilson_interval(hits, s, 10**12) == pytest.approx((ref.low, ref.high), abs=1e-6)


def test_hash_collisions_are_split_by_comparing_rows():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 6.0], [3.0, 4.0]])
    same = np.zeros(5, dtype=np.uint64)          # every row collides
    assert groups_from_hashes(same, lambda rows: X[rows]) == [[0, 2], [1, 4]]
    pairs = np.array([7, 7, 9, 9, 7], dtype=np.uint64)   # two candidate groups
    fetched = []
    assert groups_from_hashes(pairs, lambda rows: fetched.append(rows.tolist()) or X[rows],
                              batch_rows=2) == [[1, 4]]
    assert fetched == [[0, 1, 4], [2, 3]]                 # one group per batch, rows ascending


# --- what the user reads ---------------------------------------------------------------

def test_text_and_html_say_sampled_and_why_not_estimable():
    X = gaussian(2000, 40)
    est = vd.hubness(X, k=10, sample=100, random_state=1)
    assert isinstance(est, SampledHubness)
    text = est._repr_mimebundle_()["text/plain"]
    assert "estimated from 100 sampled rows, 95% interval" in text
    assert "hub_share" in est.not_estimable and "antihub_share" in est.not_estimable
    assert "not estimable" in text and "at most" in text
    assert est.hub_share is None and est.hub_share_ci is None
    assert "estimated from 100 sampled rows" in est._repr_html_()
    dup = vd.near_duplicates(X, sample=300)
    assert sampled_phrase(300) in str(dup) and sampled_phrase(300) in dup._repr_html_()


@pytest.mark.parametrize("bad, error", [(1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_sample_is_named(bad, error):
    with pytest.raises(error, match="sample"):
        vd.hubness(gaussian(50, 4), k=3, sample=bad)
    with pytest.raises(error, match="sample"):
        check_sample(bad, 50)


def test_sample_and_queries_cannot_be_combined():
    X = gaussian(50, 4)
    with pytest.raises(ValueError, match="queries and sample"):
        vd.hubness(X, k=3, sample=10, queries=X[:5])


def test_near_duplicates_sampled_finds_every_exact_copy():
    X = gaussian(1500, 16)
    X[700:760] = X[:60]
    X[900:930] = X[100:130] * 1.0001             # near copies, not exact
    est = vd.near_duplicates(X, sample=1500)
    exact = vd.near_duplicates(X)
    assert est.share == pytest.approx(sum(map(len, exact)) / 1500)
    assert est.exact_groups == exact_duplicate_groups(X) and len(est.exact_groups) == 60


def test_redundant_share_counts_each_group_once_like_the_unsampled_groups():
    """Groups of 2-5 mutual near-copies and exact copies: sampling every row, the
    redundant share equals Σ (group size − 1) / n of the unsampled groups; sampling a
    third, its interval holds that figure, and the copy share is about twice it."""
    rng = np.random.default_rng(4)
    X = gaussian(2000, 24, seed=4)
    row = 1000
    for size in (2, 3, 4, 5) * 12:                 # near-copies of row i: i + tiny noise
        src = int(rng.integers(0, 900))
        X[row:row + size - 1] = X[src] + 1e-4 * rng.normal(size=(size - 1, 24))
        row += size - 1
    X[1900:1930] = X[900:930]                      # 30 exact-copy pairs
    groups = vd.near_duplicates(X)
    truth = sum(len(g) - 1 for g in groups) / 2000
    every = vd.near_duplicates(X, sample=2000)
    assert every.redundant_share == pytest.approx(truth)
    for seed in range(3):
        est = vd.near_duplicates(X, sample=700, random_state=seed)
        lo, hi = est.redundant_share_ci
        assert lo <= truth <= hi and lo <= est.redundant_share <= hi
        assert est.share / 2 <= est.redundant_share <= est.share


def test_sampled_diagnosis_judges_copies_on_the_same_figure_as_the_graph(monkeypatch):
    """Copy pairs: 6% of the items redundant, 12% with a copy (critical from 10%). The
    graph path and the sampled path give the same value and severity (the sampled path
    used to judge the 12%)."""
    from vecdiag.diagnostics import sampling

    X = gaussian(3000, 24, seed=7)
    X[2820:3000] = X[:180] + 1e-5 * np.random.default_rng(7).normal(size=(180, 24))
    exact = vd.diagnose(X, k=5)
    monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 100)
    sampled = vd.diagnose(X, k=5, sample=3000)
    a = next(f for f in exact.findings if f.code == "near_duplicates")
    b = next(f for f in sampled.findings if f.code == "near_duplicates")
    assert a.evidence["value"] == pytest.approx(0.06)
    assert b.evidence["value"] == pytest.approx(0.06)
    assert b.evidence["with_copy_share"] == pytest.approx(0.12)
    assert a.severity == b.severity == "warning"
    assert sampled.stats["near_duplicate_share"] == pytest.approx(0.06)


@pytest.mark.parametrize("plant, metric", [("rogue", "cosine"), ("rogue", "dot"),
                                           ("rogue", "euclidean"), ("cone", "dot"),
                                           ("offset", "euclidean")])
@pytest.mark.parametrize("source", ["memmap", "large array"])
def test_a_corpus_too_large_to_copy_is_judged_on_the_same_vectors(monkeypatch, tmp_path,
                                                                     plant, metric, source):
    """Rogue dimensions (any metric), a narrow cone under dot, an offset under euclidean:
    near-copies are judged on standardised or centred vectors. A memmap, or an array
    larger than the copy limit, was judged on the raw ones instead: one dimension of 30x
    the spread read as 39% of the items being near-copies (critical), with none planted.
    Transformed one piece at a time, it gives the in-memory figures, and the planted
    copies (200 pairs: 200 / 3000 of the items redundant) are found."""
    from vecdiag.diagnostics import chunked_copies, sampled_stages, sampling

    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 32)).astype(np.float32)
    if plant == "rogue":
        X[:, 3] *= 30
    else:
        X += 4
    X[1500:1700] = X[:200] * np.float32(1.0001)
    monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 1000)
    monkeypatch.setattr(chunked_copies, "_PIECE_BYTES", 100_000)    # several pieces
    in_memory = vd.diagnose(X, metric=metric, sample=600, show_progress=False)
    if source == "memmap":
        np.save(tmp_path / "x.npy", X)
        big = np.load(tmp_path / "x.npy", mmap_mode="r")
    else:
        big = X.copy()
        monkeypatch.setattr(sampled_stages, "_CENTRED_BYTES", 0)
    pieces = vd.diagnose(big, metric=metric, sample=600, show_progress=False)
    a = next(f for f in in_memory.findings if f.code == "near_duplicates")
    b = next(f for f in pieces.findings if f.code == "near_duplicates")
    assert b.evidence["search"] == a.evidence["search"]
    assert ("standardised" if plant == "rogue" else "centred") in b.evidence["search"]
    assert b.evidence["value"] == pytest.approx(a.evidence["value"], abs=1e-12)
    lo, hi = b.evidence["interval"]
    assert lo <= 200 / 3000 <= hi
    assert b.severity == a.severity == "warning"


@pytest.mark.parametrize("plant", ["plain", "rogue"])
def test_diagnose_told_no_progress_shows_no_bar_of_its_searches(monkeypatch, capsys, plant):
    """vd.diagnose(show_progress=False) on a corpus past SAMPLED_ABOVE showed the "knn
    search" bars of the sampled searches it ran (each decided for itself, and a search of
    seconds showed one). Its own bar, or its show_progress=False, now covers them; a
    search called directly still shows its bar."""
    from vecdiag import _progress
    from vecdiag.diagnostics import sampling

    monkeypatch.setattr(_progress, "AUTO_SECONDS", -1.0)     # every bar left to decide shows
    monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 1000)
    X = np.random.default_rng(0).normal(size=(3000, 32)).astype(np.float32)
    if plant == "rogue":
        X[:, 3] *= 30
    vd.diagnose(X, queries=X[:20] + 0.1, sample=500, show_progress=False)
    assert capsys.readouterr().err == ""
    vd.knn(X[:20], X, k=5)
    assert "knn search" in capsys.readouterr().err


# --- NumPy and Dask agree --------------------------------------------------------------

def test_dask_equals_numpy(dask_client):
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
    from _dask_cluster import worker_tasks

    X = clustered(1200, 24)
    X[1000:1040] = X[:40]
    D = da.from_array(X, chunks=(250, 24))
    with worker_tasks(dask_client) as ran:
        h_dask = vd.hubness(D, k=8, sample=400, random_state=3)
        d_dask = vd.near_duplicates(D, sample=300, random_state=4)
    assert ran.workers
    h_np = vd.hubness(X, k=8, sample=400, random_state=3)
    d_np = vd.near_duplicates(X, sample=300, random_state=4)
    for name in ("skewness", "skewness_ci", "hub_share", "hub_share_ci", "antihub_at_most"):
        assert getattr(h_dask, name) == pytest.approx(getattr(h_np, name), abs=1e-9)
    np.testing.assert_array_equal(h_dask.rows, h_np.rows)
    assert d_dask.exact_groups == d_np.exact_groups == exact_duplicate_groups(X)
    assert (d_dask.share, d_dask.share_ci) == (d_np.share, d_np.share_ci)


# --- calibration: 95% intervals cover the exact value in 90-99% of seeds ---------------

def _coverage(X, k, s, seeds, which):
    """Coverage of the exact value over seeds (sampled lists = rows of the exact graph)."""
    n = X.shape[0]
    graph = vd.Index(X).knn_graph(k).indices
    nk = np.bincount(graph.ravel(), minlength=n)
    truth = {"skewness": skewness(nk), "hub": np.mean(nk >= 2 * k),
             "antihub": np.mean(nk == 0)}[which]
    hits = reported = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        lists = graph[np.sort(rng.choice(n, s, replace=False))]
        if which == "skewness":
            est, se, _ = E.skewness_estimate(lists, n)
        elif which == "hub":
            est, se, _ = E.hub_estimate(lists, n, rng)
        else:
            est, se, _, _ = E.antihub_estimate(lists, n)
        if se is None:
            continue
        reported += 1
        hits += abs(est - truth) <= (E.hub_quantile(0.95) if which == "hub" else 1.96) * se
    return hits / max(reported, 1), reported


@pytest.mark.parametrize("name, X, k, s, which, upper", [
    ("clustered", clustered(2000, 50), 10, 400, "skewness", 0.99),
    ("clustered", clustered(2000, 50), 10, 1000, "hub", 1.0),
    ("clustered", clustered(2000, 50), 10, 1200, "antihub", 1.0),
    ("gaussian d=100", gaussian(2000, 100), 10, 800, "skewness", 0.99),
    ("low-dim", low_dim(2000), 10, 1000, "hub", 1.0),
])
def test_interval_coverage_over_seeds(name, X, k, s, which, upper):
    """100 seeds: a 95% interval's coverage has sd ≈ 2.2%, so a badly calibrated one
    (too narrow by a third: ~80%) fails the ≥ 0.88 bound. The upper bound is 1.0 where
    the jackknife is known to be conservative (see benchmarks/bench_sampling.py)."""
    seeds = 100 if which == "skewness" else 60
    coverage, reported = _coverage(X, k, s, seeds, which)
    assert reported >= 0.8 * seeds, f"{name}: reported in only {reported} of {seeds} seeds"
    assert 0.88 <= coverage <= upper, f"{name} {which}: coverage {coverage:.2f}"


def test_too_narrow_an_interval_would_fail_the_coverage_check():
    """The check has teeth: the same skewness intervals at 60% of their width cover
    clearly less than 88% of seeds."""
    X = clustered(2000, 50)
    n, k, s = 2000, 10, 400
    graph = vd.Index(X).knn_graph(k).indices
    truth = skewness(np.bincount(graph.ravel(), minlength=n))
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        est, se, _ = E.skewness_estimate(graph[rng.choice(n, s, replace=False)], n)
        hits += abs(est - truth) <= 0.6 * 1.96 * se
    assert hits / 100 < 0.85


def test_wilson_touches_zero_and_one_at_the_extremes():
    """Every sampled row a copy (a dense 3-D corpus): the interval must reach 1.0 exactly."""
    assert wilson_interval(900, 900, 3000)[1] == 1.0
    assert wilson_interval(0, 900, 3000)[0] == 0.0


def test_copy_share_never_below_the_exact_copies_and_inside_its_interval():
    """Exact copies are known completely: the estimate and its interval start there."""
    X = gaussian(1196, 32, seed=5)
    X[1000:1018] = X[:18]                         # 18 exact-copy pairs: 3.01% of items
    for seed in range(5):
        est = vd.near_duplicates(X, sample=300, random_state=seed)
        assert est.exact_share == pytest.approx(36 / 1196)
        assert est.exact_share <= est.share_ci[0] <= est.share <= est.share_ci[1]


def test_a_dask_index_is_sampled_like_its_array():
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
    import dask

    X = clustered(800, 16)
    D = da.from_array(X, chunks=(300, 16))
    with dask.config.set(scheduler="threads"):
        a = vd.hubness(vd.Index(D), k=5, sample=200, random_state=2)
        b = vd.hubness(D, k=5, sample=200, random_state=2)
        d = vd.near_duplicates(vd.Index(D), sample=100, random_state=2)
    assert (a.skewness, a.skewness_ci) == (b.skewness, b.skewness_ci)
    assert d.share == vd.near_duplicates(X, sample=100, random_state=2).share


def test_dask_zero_and_nan_rows_are_named():
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
    import dask

    X = gaussian(400, 8)
    X[123] = 0
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError, match="123"):
            vd.near_duplicates(da.from_array(X, chunks=100), sample=50)
        with pytest.raises(ValueError, match="123"):
            vd.hubness(da.from_array(X, chunks=100), k=3, sample=50)
    X[123] = np.nan
    with pytest.raises(ValueError, match="123"):
        vd.hubness(X, k=3, sample=50)


# --- the sampled diagnose reads lengths as the graph path does ---------------------------

def _sampled_diagnose(X, metric):
    """vd.diagnose on the sampled path (a Dask corpus), every row sampled."""
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
    d = vd.diagnose(da.from_array(X, chunks=(500, X.shape[1])), metric=metric,
                    sample=X.shape[0])
    assert d.stats["sampled"] is True
    return d


def test_sampled_dot_hubs_made_by_length_point_to_normalising():
    # 5% of unit documents made 1.5 times longer: the hubs are those long ones, and the
    # sampled path prescribed CSLS where the graph path says normalise
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 32)) + 0.3
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    long = rng.choice(1500, 75, replace=False)
    X[long] *= 1.5
    d, full = _sampled_diagnose(X, "dot"), vd.diagnose(X, metric="dot")
    hub = d["hubness"]
    assert hub.severity != "ok" and hub.fix == "normalize", hub.summary
    assert d.stats["hub_length_ratio"] == pytest.approx(full.stats["hub_length_ratio"])
    assert hub.evidence["hub_length_ratio"] >= 1.2
    assert "Long vectors are the hubs" in d["norm_spread"].summary
    clean = X.copy()
    clean[long] /= 1.5
    assert _sampled_diagnose(clean, "dot")["hubness"].fix != "normalize"


def test_sampled_euclidean_length_spread_is_about_the_centre():
    # a clean Gaussian blob moved far from the origin: lengths from the origin are nearly
    # equal, distances to the centre vary as a Gaussian's do; both paths judge the latter
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 8))
    for Y in (X, X + 10.0):
        f, g = (_sampled_diagnose(Y, "euclidean")["norm_spread"],
                vd.diagnose(Y, metric="euclidean")["norm_spread"])
        assert f.severity == g.severity == "ok"
        assert f.evidence["centred_cv"] == pytest.approx(g.evidence["centred_cv"], rel=1e-9)
    scaled = X * rng.lognormal(0, 0.5, size=(2000, 1)) + 10.0
    f = _sampled_diagnose(scaled, "euclidean")["norm_spread"]
    assert f.severity == "critical" and f.fix == "normalize"


def test_likely_hubs_are_hubs_not_every_item_seen_once():
    """likely_hubs took every item whose estimate c·n/s reached 2k: with 200 of 2,000
    rows sampled at k = 5 (n/s = 2k) every item seen once was "likely" a hub: 722 items,
    most of them no hub (240 hubs in all). Now an item is listed when its N_k interval at
    level 1 − 0.05/n is above 2k (vd.diagnostics.clearly_hubs): 3 items, each a hub. Reference: brute-force
    N_k with scikit-learn; with every row sampled, the hubs exactly."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, 16)) + 1.0
    X[:3] = 1.0 + 0.02 * rng.standard_normal((3, 16))        # planted near the mean
    nn = NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(X)
    lists = [[j for j in row if j != i][:5] for i, row in enumerate(nn.kneighbors(X)[1])]
    kocc = np.bincount(np.ravel(lists), minlength=len(X))
    h = vd.hubness(X, k=5, sample=200, random_state=0)
    assert h.likely_hubs.size >= 1 and all(kocc[r] >= 10 for r in h.likely_hubs)
    seen = np.unique(np.asarray(lists)[h.rows])
    assert h.likely_hubs.size < seen.size // 10
    small = X[:300]
    full = vd.hubness(small, k=5, sample=300)
    assert sorted(full.likely_hubs.tolist()) == sorted(vd.hubness(small, k=5).hubs.tolist())
