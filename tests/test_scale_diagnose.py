"""vd.diagnose on a Dask corpus, and the switch to sampled statistics for large corpora.

References: the NumPy path on the same rows. The O(n·d) findings (anisotropy, rogue
dimensions, norms, metric check, isotropy) must carry the same numbers as the exact
NumPy diagnosis; the O(n²·d) ones (hubness, near-duplicates, TwoNN) are sampled on a Dask
corpus and must equal, figure for figure, the NumPy diagnosis of the same rows when it
switches to sampled statistics (same seed: same sampled rows, exact search both ways).
"""

from __future__ import annotations

import numpy as np
import pytest

from _dask_cluster import worker_tasks

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
dask = pytest.importorskip("dask")

import vecdiag as vd  # noqa: E402
from vecdiag.diagnostics import sampling  # noqa: E402

EXACT_STATS = ("anisotropy", "isotropy", "isoscore", "participation_ratio", "rogue_share",
               "norm_cv", "norm_mean", "n_used", "n_non_finite", "n_zero", "n_vectors", "dim")
SAMPLED_STATS = ("hubness_skewness", "hub_share", "antihub_share", "near_duplicate_share",
                 "exact_duplicate_rows", "n_distinct", "intrinsic_dimension", "sample")


def planted(n=1200, d=24, seed=0, dtype=np.float32):
    """A rogue dimension (7) and a shared offset (anisotropy), exact copies, a hub."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 7] += 9.0                                   # rogue dimension, hence anisotropy
    X[n - 20:] = X[:20]                              # 20 exact copies
    return X.astype(dtype)


def _same_number(a, b, rtol=1e-6):
    if a is None or b is None or isinstance(a, (str, bool, list)):
        assert a == b
    else:
        assert b == pytest.approx(a, rel=rtol, abs=1e-12)


def _by_code(diag):
    return {f.code: f for f in diag.findings}


@pytest.fixture
def sampled_beyond(monkeypatch):
    """Make diagnose switch to sampled statistics beyond ``limit`` rows."""
    def set_limit(limit):
        monkeypatch.setattr(sampling, "SAMPLED_ABOVE", limit)
    return set_limit


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_dask_diagnosis_equals_the_sampled_numpy_diagnosis(metric, sampled_beyond):
    X = planted()
    D = da.from_array(X, chunks=(250, 24))
    with dask.config.set(scheduler="threads"):
        got = vd.diagnose(D, k=5, metric=metric, sample=300, random_state=1)
    exact = vd.diagnose(X, k=5, metric=metric, random_state=1)   # the graph path
    sampled_beyond(100)
    ref = vd.diagnose(X, k=5, metric=metric, sample=300, random_state=1)
    assert ref.stats["sampled"] is True and got.stats["sampled"] is True
    for key in EXACT_STATS:
        _same_number(exact.stats[key], got.stats[key])
    assert got.stats["rogue_dims"] == exact.stats["rogue_dims"]
    for key in SAMPLED_STATS:
        _same_number(ref.stats[key], got.stats[key])
    assert set(_by_code(got)) == set(_by_code(ref)) == set(_by_code(exact))
    for code, f in _by_code(got).items():
        assert f.severity == _by_code(ref)[code].severity, code
        assert f.summary == _by_code(ref)[code].summary, code
    for code in ("anisotropy", "rogue_dimensions", "norm_spread"):
        assert _by_code(got)[code].severity == _by_code(exact)[code].severity
        _same_number(_by_code(exact)[code].evidence["value"], _by_code(got)[code].evidence["value"])


def test_planted_findings_are_found_on_dask():
    D = da.from_array(planted(seed=3), chunks=(300, 24))
    with dask.config.set(scheduler="threads"):
        diag = vd.diagnose(D, k=5, sample=400)
    f = _by_code(diag)
    assert f["anisotropy"].severity == "critical"
    assert f["rogue_dimensions"].severity != "ok" and 7 in f["rogue_dimensions"].evidence["dims"]
    assert diag.stats["exact_duplicate_rows"] == 20           # hashing every row: exact
    for code in ("hubness", "near_duplicates"):
        assert "estimated from 400 sampled rows, 95% interval" in f[code].summary
    assert "400 sampled rows" in f["near_duplicates"].evidence["search"]
    assert diag.norms.shape == (1200,) and diag.k_occurrence is None
    assert set(diag.stats["seconds"]) == {"moments", "isotropy", "near_duplicates", "hubness",
                                          "intrinsic_dimension", "total"}


def test_bad_rows_are_reported_with_global_rows_and_left_out():
    X = planted(dtype=np.float64)
    X[[5, 700]] = np.nan
    X[[6, 1100]] = 0.0
    D = da.from_array(X, chunks=(128, 24))
    with dask.config.set(scheduler="threads"):
        got = vd.diagnose(D, k=5, sample=200)
    ref = vd.diagnose(X, k=5)
    for code in ("non_finite", "zero_vectors"):
        assert _by_code(got)[code].summary == _by_code(ref)[code].summary
        assert _by_code(got)[code].evidence == _by_code(ref)[code].evidence
    for key in EXACT_STATS:
        _same_number(ref.stats[key], got.stats[key])
    # evidence names input rows: the exact copies 0..19 of rows 1180..1199 survive the drop
    dup = _by_code(got)["near_duplicates"]
    assert any("row 1180" in e or "row 0 " in e or e.startswith("row 0") for e in
               dup.evidence["examples"])


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
@pytest.mark.parametrize("dtype, huge", [(np.float64, 1e300), (np.float32, 3e38)])
def test_a_huge_value_beside_a_nan_does_not_scale_the_rows_kept(metric, dtype, huge):
    """Row 150 holds a NaN and a huge finite value: it is reported and left out. Its
    huge value set the common scale of the rows kept (2^997 for 1e300), which made them
    ~1e-300 long, and the kNN graph refused them as "vectors too short for dot scores",
    in memory and on Dask. The rows kept give the statistics of the corpus without row
    150: the mean cosine of distinct pairs and the length spread, brute force."""
    rng = np.random.default_rng(15)
    X = rng.normal(size=(200, 6))
    X[:, 2] += 3
    X = X.astype(dtype)
    kept = np.delete(X, 150, axis=0).astype(np.float64)
    U = kept / np.linalg.norm(kept, axis=1, keepdims=True)
    C = U @ U.T
    mean_cosine = (C.sum() - np.trace(C)) / (len(U) * (len(U) - 1))
    lengths = np.linalg.norm(kept, axis=1)
    X[150, 0], X[150, 1] = huge, np.nan
    for corpus in (X, da.from_array(X, chunks=(50, 6))):
        diag = vd.diagnose(corpus, k=5, metric=metric)
        assert diag.stats["n_non_finite"] == 1 and diag.stats["n_used"] == 199
        assert diag.stats["anisotropy"] == pytest.approx(mean_cosine, rel=1e-5)
        assert diag.stats["norm_cv"] == pytest.approx(lengths.std() / lengths.mean(), rel=1e-5)


def test_queries_give_the_shift_finding_on_dask(sampled_beyond):
    X = planted()
    Q = planted(n=40, seed=9) + 5.0
    D = da.from_array(X, chunks=(300, 24))
    with dask.config.set(scheduler="threads"):
        got = vd.diagnose(D, queries=da.from_array(Q, chunks=20), k=5, sample=300)
    sampled_beyond(100)
    ref = vd.diagnose(X, queries=Q, k=5, sample=300)
    f, r = _by_code(got)["query_corpus_shift"], _by_code(ref)["query_corpus_shift"]
    assert f.summary == r.summary
    _same_number(ref.stats["query_far_share"], got.stats["query_far_share"])


def test_numpy_switches_to_sampled_beyond_the_named_size(sampled_beyond):
    X = planted(n=600)
    assert sampling.SAMPLED_ABOVE == 100_000
    assert "sampled" not in vd.diagnose(X, k=5).stats
    sampled_beyond(599)
    diag = vd.diagnose(X, k=5, sample=100)
    assert diag.stats["sampled"] is True and diag.stats["sample"] == 100
    assert "estimated from 100 sampled rows" in _by_code(diag)["hubness"].summary


def test_diagnose_runs_on_the_workers(dask_client):
    X = planted(n=2000, seed=4)
    D = da.from_array(X, chunks=(250, 24))
    with worker_tasks(dask_client) as ran:
        diag = vd.diagnose(D, k=5, sample=200)
    assert len(ran.workers) >= 1 and ran.n_tasks >= 16
    exact = vd.diagnose(X, k=5)
    for key in ("anisotropy", "isotropy", "rogue_share", "norm_cv"):
        _same_number(exact.stats[key], diag.stats[key])


def test_no_task_holds_the_whole_corpus():
    """Nothing of diagnose on a Dask corpus gathers it: every task's result (threaded
    scheduler, seen by a Dask callback) is smaller than the corpus."""
    from dask.callbacks import Callback

    X = planted(n=10_000, d=32)
    load = dask.delayed(lambda a, b: X[a:b].copy(), pure=True)   # one loader per chunk,
    D = da.concatenate([da.from_delayed(load(a, a + 500), (500, 32), X.dtype)  # as on disk
                        for a in range(0, 10_000, 500)])
    largest = []

    class Sizes(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            largest.append(getattr(result, "nbytes", 0))

    with dask.config.set(scheduler="threads"), Sizes():
        diag = vd.diagnose(D, k=5, sample=300, random_state=0)
    assert diag.stats["sampled"] is True and diag.stats["intrinsic_dimension"] is not None
    assert len(largest) > 8 and max(largest) < X.nbytes / 2, (max(largest), X.nbytes)


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_huge_values_are_divided_without_gathering_the_corpus(metric):
    """float32 values near 2^45 are divided by a power of two before the neighbour
    search (their squared sums would overflow float32 at larger d); on a Dask corpus the
    division stays lazy, block by block: np.asarray(X, float64) / scale computed the
    whole corpus in one task."""
    from dask.callbacks import Callback

    X = planted(n=10_000, d=32) * np.float32(2.0 ** 45)
    D = da.from_array(X, chunks=(500, 32))
    largest = []

    class Sizes(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            largest.append(getattr(result, "nbytes", 0))

    with dask.config.set(scheduler="threads"), Sizes():
        diag = vd.diagnose(D, k=5, sample=300, metric=metric, random_state=0)
    assert diag.stats["sampled"] is True
    assert len(largest) > 8 and max(largest) < X.nbytes / 2, (max(largest), X.nbytes)


def test_an_unresolved_sampled_skewness_is_not_judged():
    # 12 sampled rows of Gaussian data: the estimate (24.6) is noise, and SampledHubness
    # says so (not_estimable), but the finding judged it anyway: "critical: a few hub items
    # crowd everyone's top-10", fix csls, for data whose exact skewness is 0.03
    from scipy import stats

    X = np.random.default_rng(0).normal(size=(600, 8))
    S = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (
        X / np.linalg.norm(X, axis=1, keepdims=True)).T
    np.fill_diagonal(S, -np.inf)
    counts = np.bincount(np.argsort(-S, axis=1)[:, :10].ravel(), minlength=600)
    assert abs(stats.skew(counts)) < 0.5                 # no hubs at all
    with dask.config.set(scheduler="threads"):
        diag = vd.diagnose(da.from_array(X, chunks=(150, 8)), sample=12, random_state=8,
                           show_progress=False)
    hub = _by_code(diag)["hubness"]
    assert "skewness" in hub.evidence["not_estimable"]
    assert hub.severity == "ok" and hub.fix is None
    assert hub.summary.startswith("Hubness not judged: the spread of N_k is not resolved")


def test_sampled_hub_examples_are_hubs():
    """The sampled path listed the five busiest items as "top_hubs" whatever their N_k;
    the graph path lists hubs only (N_k >= 2k). With every row sampled the counts are
    exact, so both lists must be the items with N_k >= 2k, brute force."""
    X = np.random.default_rng(1).normal(size=(2000, 384)).astype(np.float32)
    U = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    counts = np.bincount(np.argsort(-S, axis=1, kind="stable")[:, :10].ravel(), minlength=2000)
    hubs = np.flatnonzero(counts >= 20)
    assert 0 < hubs.size < 5            # fewer hubs than the five examples shown
    with dask.config.set(scheduler="threads"):
        diag = vd.diagnose(da.from_array(X, chunks=(500, -1)), k=10, random_state=0,
                           show_progress=False)
    assert diag.stats["sampled"] is True
    listed = _by_code(diag)["hubness"].evidence["top_hubs"]
    assert sorted(int(e.split()[1]) for e in listed) == hubs.tolist()


def test_near_copies_in_a_narrow_cone_are_judged_on_centred_rows(sampled_beyond):
    """Under cosine, an anisotropic corpus (a narrow cone, no rogue dimension) has its
    near-copies judged on the centred unit rows, as in memory; a Dask corpus was judged on
    its raw cosines, which put two thirds of these distinct rows within 0.98 of another:
    'About 53% of items are redundant ... critical' where the rows hold 10 copies in 300
    (3.3%). Reference: NumPy brute force over every pair of centred unit rows, groups as
    connected components, Σ (group size − 1) / n; every row sampled, so the estimate is
    that figure."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 12)) + 2.0
    X[:, 5] *= 6
    X[250:260] = X[0:10]                             # 10 exact copies
    with dask.config.set(scheduler="threads"):
        got = vd.diagnose(da.from_array(X, chunks=(70, 12)), sample=300, random_state=1)
    assert got.stats["sampled"] is True
    assert got.stats["anisotropy"] >= 0.3 and _by_code(got)["rogue_dimensions"].severity == "ok"

    def redundant(V):
        U = V / np.linalg.norm(V, axis=1, keepdims=True)
        S = U @ U.T
        r, c = np.nonzero(np.triu(S >= 0.98, 1))
        _, labels = connected_components(coo_matrix((np.ones(r.size), (r, c)),
                                                    shape=(300, 300)), directed=False)
        return (300 - np.unique(labels).size) / 300

    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert redundant(X) > 0.3                        # the raw cosines: most rows "copies"
    assert got.stats["near_duplicate_share"] == pytest.approx(redundant(unit - unit.mean(0)),
                                                             abs=1e-12)
    sampled_beyond(100)                              # the NumPy sampled path agrees
    ref = vd.diagnose(X, sample=300, random_state=1)
    assert ref.stats["sampled"] is True
    _same_number(ref.stats["near_duplicate_share"], got.stats["near_duplicate_share"])
    assert _by_code(got)["near_duplicates"].severity == _by_code(ref)["near_duplicates"].severity


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_findings_of_equal_severity_and_strength_in_one_order_on_every_path(metric):
    """Two rows: hubness and near_duplicates are both "ok" with strength 0. The NumPy path
    listed hubness first, the Dask path (whose sampled stages judge near-copies first)
    near_duplicates first; both now list them in the exact path's order."""
    X = np.array([[0.3, -1.2, 0.5, 2.0], [1.1, 0.4, -0.7, 0.2]])
    codes = [f.code for f in vd.diagnose(X, metric=metric).findings]
    dask_codes = [f.code for f in vd.diagnose(da.from_array(X, chunks=(1, 4)),
                                               metric=metric).findings]
    assert codes.index("hubness") + 1 == codes.index("near_duplicates")
    assert dask_codes == codes
