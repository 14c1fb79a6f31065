"""vd.drift, vd.drift_over_time and the neighbourhood overlap on Dask arrays: the same result
as the NumPy input on the same data (same random_state), on a LocalCluster with worker
processes and on the threaded scheduler; bad inputs named like the NumPy path names them."""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.scale import chunks as scale_chunks
from _dask_cluster import worker_tasks
from _peaks import lowest_peak

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
dask = pytest.importorskip("dask")


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def _sets(n_ref=700, n_cur=650, d=12, shift=0.25, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(n_ref, d)).astype(dtype)
    cur = (rng.normal(size=(n_cur, d)) + shift * (np.arange(d) == 3)).astype(dtype)
    return ref, cur


def _same_result(a, b):
    assert a.method == b.method
    assert a.statistic == b.statistic
    assert a.p_value == b.p_value and a.threshold == b.threshold and a.drifted == b.drifted
    assert (a.n_reference, a.n_current) == (b.n_reference, b.n_current)
    assert a.details.keys() == b.details.keys()
    for key, value in a.details.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, b.details[key])
        else:
            assert value == b.details[key] or (value != value and b.details[key] != b.details[key])
    for name in ("reference_coords", "current_coords", "mean_coords", "explained_variance_ratio"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# the three methods, each subsampling (max_samples below the set sizes)
CASES = [("mmd", {"max_samples": 300, "n_permutations": 99}),
         ("classifier", {"max_samples": 400, "n_permutations": 49}),
         ("mean_shift", {"max_samples": 500, "n_permutations": 199})]


@pytest.mark.parametrize("method,options", CASES)
def test_drift_dask_equals_numpy_on_workers(dask_client, method, options):
    ref, cur = _sets()
    want = vd.drift(ref, cur, method=method, random_state=3, **options)
    with worker_tasks(dask_client) as ran:
        got = vd.drift(da.from_array(ref, chunks=(97, 12)), da.from_array(cur, chunks=(128, 6)),
                       method=method, random_state=3, **options)
    assert ran.workers  # the checking pass and the sampled rows came from the workers
    _same_result(want, got)
    assert got.details["subsampled"] and got.details["n_used_reference"] == options["max_samples"]


@pytest.mark.parametrize("method,options", CASES)
def test_drift_dask_equals_numpy_threads(threads, method, options):
    ref, cur = _sets(dtype=np.float64, seed=1)
    for kwargs in ({}, {"max_samples": 2_000}):  # subsampled, and the whole sets
        opts = dict(options, **kwargs)
        want = vd.drift(ref, cur, method=method, random_state=7, **opts)
        got = vd.drift(da.from_array(ref, chunks=200), cur, method=method, random_state=7, **opts)
        _same_result(want, got)
        got2 = vd.drift(ref, da.from_array(cur, chunks=100), method=method, random_state=7, **opts)
        _same_result(want, got2)


def test_drift_dask_int_dtype_and_generator_seed(threads):
    rng = np.random.default_rng(5)
    ref = rng.integers(-5, 5, size=(300, 6))
    cur = rng.integers(-5, 6, size=(300, 6))
    want = vd.drift(ref, cur, method="mean_shift", random_state=np.random.default_rng(9),
                    max_samples=120)
    got = vd.drift(da.from_array(ref, chunks=70), da.from_array(cur, chunks=70),
                   method="mean_shift", random_state=np.random.default_rng(9), max_samples=120)
    _same_result(want, got)


def test_drift_dask_swapped_sets_give_the_numpy_result(threads, monkeypatch):
    """Two sets of 300 rows agreeing on their first 50, subsampled to 120: the order of
    the draws is set by the first row where they differ, read 16 rows at a time from the
    Dask set (only those rows computed); drift(a, b) and drift(b, a) give the NumPy
    result both ways."""
    from vecdiag.drift import sets

    monkeypatch.setattr(sets, "_COMPARE_BYTES", 16 * 6 * 8)
    ref, cur = _sets(n_ref=300, n_cur=300, d=6, shift=0.3, dtype=np.float64, seed=4)
    cur[:50] = ref[:50]
    kw = dict(method="mean_shift", max_samples=120, n_permutations=99, random_state=1)
    want = vd.drift(ref, cur, **kw)
    got = vd.drift(da.from_array(ref, chunks=70), cur, **kw)
    swapped = vd.drift(cur, da.from_array(ref, chunks=70), **kw)
    _same_result(want, got)
    assert (swapped.statistic, swapped.p_value, swapped.threshold) == \
        (want.statistic, want.p_value, want.threshold)


def test_drift_detects_a_shift_on_dask(threads):
    ref, cur = _sets(n_ref=3000, n_cur=3000, shift=0.6, seed=2)
    res = vd.drift(da.from_array(ref, chunks=500), da.from_array(cur, chunks=500),
                   method="mean_shift", random_state=0)
    assert res.drifted and res.details["top_dims"][0] == 3
    same = vd.drift(da.from_array(ref[:1500], chunks=500), da.from_array(ref[1500:], chunks=500),
                    method="mean_shift", random_state=0)
    assert not same.drifted


def test_drift_over_time_dask_equals_numpy(dask_client):
    ref, _ = _sets(n_ref=800, seed=4)
    rng = np.random.default_rng(8)
    days = [(rng.normal(size=(150 + 20 * i, 12)) + np.array([i * 0.4] + [0.0] * 11)).astype(np.float32)
            for i in range(3)]
    want = vd.drift_over_time(ref, days, method="mean_shift", max_samples=120,
                              n_permutations=99, random_state=11)
    got = vd.drift_over_time(da.from_array(ref, chunks=300),
                             [da.from_array(d, chunks=64) if i != 1 else d
                              for i, d in enumerate(days)],
                             method="mean_shift", max_samples=120, n_permutations=99,
                             random_state=11)
    assert got.drifted == want.drifted
    for a, b in zip(want, got):
        _same_result(a, b)


# ------------------------------------------------------------------ bad inputs
def test_dask_nan_rows_named(threads):
    ref, cur = _sets()
    bad = cur.copy()
    bad[[5, 300, 301]] = np.nan
    with pytest.raises(ValueError, match=r"current has 3 rows \(5, 300, 301\) with NaN or inf"):
        vd.drift(da.from_array(ref, chunks=100), da.from_array(bad, chunks=100))
    ref_bad = ref.copy()
    ref_bad[list(range(10, 17))] = np.inf
    with pytest.raises(ValueError, match=r"reference has 7 rows \(first: 10, 11, 12, 13, 14\)"):
        vd.drift(da.from_array(ref_bad, chunks=3), cur)


def test_dask_same_set_refused_even_shuffled_and_mixed(threads):
    ref, _ = _sets(n_ref=500)
    perm = np.random.default_rng(0).permutation(500)
    with pytest.raises(ValueError, match="hold the same 500 vectors"):
        vd.drift(da.from_array(ref, chunks=64), da.from_array(ref[perm], chunks=100))
    with pytest.raises(ValueError, match="hold the same 500 vectors"):
        vd.drift(ref.astype(np.float64), da.from_array(ref[perm], chunks=77))
    nearly = ref[perm].copy()
    nearly[17, 2] = np.nextafter(nearly[17, 2], np.float32(np.inf))  # one value one ulp off
    res = vd.drift(da.from_array(ref, chunks=64), da.from_array(nearly, chunks=100),
                   method="mean_shift", n_permutations=99)
    assert not res.drifted


def test_dask_bad_shapes_and_sizes(threads):
    ref, cur = _sets()
    with pytest.raises(ValueError, match="current has 5 vectors; a drift test needs at least 10"):
        vd.drift(da.from_array(ref), da.from_array(cur[:5]))
    with pytest.raises(ValueError, match="dimension mismatch: reference has dimension 12 but "
                                         "current has dimension 11"):
        vd.drift(da.from_array(ref), da.from_array(cur[:, :11]))
    with pytest.raises(ValueError, match="reference must be 2-D"):
        vd.drift(da.from_array(ref[0]), cur)
    with pytest.raises(ValueError, match=r"reference has values of magnitude 3.9e\+120, too large"):
        vd.drift(da.from_array(ref.astype(np.float64) * 1e120), cur)
    x = da.from_array(cur, chunks=100)
    unknown = x[x[:, 0] > -10]
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        vd.drift(ref, unknown)
    with pytest.raises(TypeError, match="current has dtype complex128"):
        vd.drift(ref, da.from_array(cur.astype(complex)))
    with pytest.raises(ValueError, match="batches must be a list of 2-D arrays"):
        vd.drift_over_time(ref, da.from_array(cur))


def test_dask_input_not_mutated_and_small_graph(threads):
    ref, cur = _sets()
    keep = ref.copy()
    X = da.from_array(ref, chunks=100)
    vd.drift(X, cur, method="mean_shift", n_permutations=99, max_samples=50)
    np.testing.assert_array_equal(ref, keep)


# ------------------------------------------------------------ neighbourhood overlap
def _two_models(n=400, seed=0):
    rng = np.random.default_rng(seed)
    old = rng.normal(size=(n, 16)).astype(np.float32)
    new = (old @ rng.normal(size=(16, 12)) + 0.8 * rng.normal(size=(n, 12))).astype(np.float32)
    return old, new


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_neighborhood_change_dask_equals_numpy(threads, metric):
    old, new = _two_models()
    full = vd.neighborhood_change(old, new, k=7, metric=metric)
    # every item on Dask (n below DASK_SAMPLE): the same as the all-pairs NumPy path
    got = vd.neighborhood_change(da.from_array(old, chunks=(90, -1)),
                                 da.from_array(new, chunks=(70, -1)), k=7, metric=metric)
    assert got.rows is None
    np.testing.assert_array_equal(got.old_neighbors, full.old_neighbors)
    np.testing.assert_array_equal(got.new_neighbors, full.new_neighbors)
    np.testing.assert_array_equal(got.overlap, full.overlap)
    np.testing.assert_array_equal(got.most_changed, full.most_changed)
    # sampled: the same items for NumPy and Dask, and their rows of the full answer
    a = vd.neighborhood_change(old, new, k=7, metric=metric, sample=60, random_state=4)
    b = vd.neighborhood_change(da.from_array(old, chunks=(90, -1)), new, k=7, metric=metric,
                               sample=60, random_state=4)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert a.rows.size == 60 and np.all(np.diff(a.rows) > 0)
    np.testing.assert_array_equal(a.overlap, b.overlap)
    np.testing.assert_array_equal(a.overlap, full.overlap[a.rows])
    np.testing.assert_array_equal(a.old_neighbors, full.old_neighbors[a.rows])
    assert set(a.most_changed.tolist()) == set(a.rows.tolist())
    assert "over 60 sampled items" in a.summary()
    frame = a.to_frame()
    assert frame["index"].tolist() == a.rows.tolist()
    assert "sampled" in a._repr_html_()


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_neighborhood_change_dask_keeps_ties_as_numpy_does(threads, metric):
    # binary embeddings rotated: every score the same to 1e-15, the tied k-th places
    # ordered differently by rounding; in memory they count as kept, and on Dask too
    # (the plain set overlap read about a tenth of the items as changed)
    rng = np.random.default_rng(3)
    X = np.sign(rng.normal(size=(400, 48)))
    Y = X @ np.linalg.qr(rng.normal(size=(48, 48)))[0]
    want = vd.neighborhood_overlap(X, Y, k=10, metric=metric)
    assert (want == 1.0).all()
    got = vd.neighborhood_change(da.from_array(X, chunks=(70, -1)), Y, k=10, metric=metric)
    np.testing.assert_array_equal(got.overlap, want)
    sampled = vd.neighborhood_change(da.from_array(X, chunks=(70, -1)),
                                     da.from_array(Y, chunks=(90, -1)), k=10, metric=metric,
                                     sample=50, random_state=1)
    in_memory = vd.neighborhood_change(X, Y, k=10, metric=metric, sample=50, random_state=1)
    np.testing.assert_array_equal(sampled.overlap, in_memory.overlap)
    assert (sampled.overlap == 1.0).all()


def test_neighborhood_overlap_dask_default_sample_on_workers(dask_client):
    from vecdiag.drift.overlap import DASK_SAMPLE

    old, new = _two_models(n=DASK_SAMPLE + 300, seed=1)
    with worker_tasks(dask_client) as ran:
        got = vd.neighborhood_change(da.from_array(old, chunks=(1000, -1)),
                                     da.from_array(new, chunks=(1000, -1)), k=5)
    assert ran.workers
    assert got.rows.size == DASK_SAMPLE
    want = vd.neighborhood_overlap(old, new, k=5, sample=DASK_SAMPLE)
    np.testing.assert_array_equal(got.overlap, want)


def test_neighborhood_change_dask_bad_inputs(threads):
    old, new = _two_models(n=100)
    with pytest.raises(ValueError, match="old has 100 items but new has 99"):
        vd.neighborhood_change(da.from_array(old), da.from_array(new[:99]))
    zero = old.copy()
    zero[[4, 60]] = 0
    with pytest.raises(ValueError, match=r"old has 2 rows \(4, 60\) that are zero vectors"):
        vd.neighborhood_change(da.from_array(zero, chunks=30), new)
    with pytest.raises(ValueError, match="sample"):
        vd.neighborhood_change(old, new, sample=0)


def test_dask_check_pass_walks_a_block_in_pieces(threads, monkeypatch):
    """drift's checking pass took a whole row block at once: its finite rows and their
    magnitudes were two copies of it (a 25.6 MB float64 block: 51 MB). A task now checks
    and sums its block PIECE_BYTES of rows at a time: the same summary, column sums bit
    for bit (each piece's rows added to the running sums one by one, as the block's own
    sum adds them), the same rows named; 64 KB pieces of a 4,000 x 16 float64 block keep
    the peak under one copy of it (512 KB; 0.16 MB now, 1.06 MB before)."""
    from vecdiag.scale import drift as dask_drift

    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 16)) * 10.0 ** rng.integers(-8, 9, size=(4000, 1))
    X[[2, 3999]] = 0.0
    _, whole = dask_drift.checked_set(da.from_array(X, chunks=(4000, 16)), "current")
    assert whole.n == 4000 and whole.top == np.abs(X).max()
    assert np.array_equal(whole.sums, X.sum(axis=0))
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    D = da.from_array(X, chunks=(4000, 16))
    dask_drift.checked_set(D, "current")
    (_, pieces), peak = lowest_peak(lambda: dask_drift.checked_set(D, "current"))
    assert peak < X.size * 8
    assert pieces.top == whole.top and np.array_equal(pieces.sums, whole.sums)
    bad = X.copy()
    bad[[5, 1500, 3000, 3001, 3999, 3998]] = np.nan       # rows named across pieces
    with pytest.raises(ValueError, match=r"current has 6 rows \(first: 5, 1500, 3000, 3001, "
                                         r"3998\) with NaN or inf"):
        dask_drift.checked_set(da.from_array(bad, chunks=(4000, 16)), "current")


def test_dask_row_hashes_walk_a_block_in_pieces(threads, monkeypatch):
    """The exact row hashes that tell a shuffled copy of the reference took a whole row
    block at once: its float64 rows and their 64-bit products were two float64-sized
    copies of it (a 25.6 MB block: 51.6 MB). A task now hashes PIECE_BYTES of rows at a
    time: the same hashes (a row's hash is its own; checked against Python integers mod
    2^64), and 64 KB pieces of a 4,000 x 16 float32 block keep the peak under one float64
    copy of it (512 KB; 0.26 MB now, 1.12 MB before)."""
    from vecdiag.scale import drift as dask_drift

    rng = np.random.default_rng(8)
    X = rng.normal(size=(4000, 16)).astype(np.float32)
    X[1] = 0.0
    X[3999] = -0.0                                    # equal values, equal hash
    D = da.from_array(X, chunks=(4000, 16))
    w = rng.integers(1, 2**63, size=16, dtype=np.uint64) | np.uint64(1)
    whole = dask_drift._hashes(D, w)
    for r in (0, 1, 2500, 3999):
        bits = (X[r].astype(np.float64) + 0.0).view(np.uint64)
        want = sum(int(b) * int(m) for b, m in zip(bits, w)) % 2**64
        assert int(whole[r]) == want
    assert whole[1] == whole[3999] and whole[0] != whole[1]
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    dask_drift._hashes(D, w)
    pieces, peak = lowest_peak(lambda: dask_drift._hashes(D, w))
    assert peak < X.size * 8
    assert np.array_equal(pieces, whole)
    assert np.array_equal(dask_drift._hashes(X, w), whole)      # the NumPy path's too
