"""vecdiag.scale.moments: the O(n·d) statistics of a Dask corpus equal the NumPy path's.

Reference: the NumPy path (itself checked against scipy/scikit-learn and closed forms in
tests/test_diagnostics.py), on corpora of both float dtypes, raw and unit space, huge and
tiny magnitudes, uneven chunks; bad rows named by their global row numbers. Run on the
threaded scheduler and on a LocalCluster of worker processes (tasks checked to run there).
"""

from __future__ import annotations

import numpy as np
import pytest

from _dask_cluster import worker_tasks

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
dask = pytest.importorskip("dask")

import vecdiag as vd  # noqa: E402
from vecdiag.diagnostics import isoscore  # noqa: E402
from vecdiag.diagnostics.moments import compute_moments  # noqa: E402
from vecdiag.scale import moments as M  # noqa: E402

RTOL = 1e-6


def _corpus(dtype, magnitude, seed=0, n=1003, d=24):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + np.linspace(0, 3, d)      # a shared offset: anisotropic
    X[:, min(5, d - 1)] *= 20                                           # and a rogue dimension
    return (X * magnitude).astype(dtype)


MAGNITUDES = {np.float64: (1.0, 1e200, 1e-200), np.float32: (1.0, 1e30, 1e-30)}
CASES = [(dt, mag) for dt, mags in MAGNITUDES.items() for mag in mags]


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.abs(a).max()), 1e-300)
    assert float(np.abs(a - b).max()) <= rtol * scale, (a, b)


@pytest.mark.parametrize("dtype, magnitude", CASES)
@pytest.mark.parametrize("space", ["unit", "raw"])
def test_moments_equal_the_numpy_pass(dtype, magnitude, space):
    X = _corpus(dtype, magnitude)
    D = da.from_array(X, chunks=(137, 7))          # uneven rows, columns split on purpose
    ref = compute_moments(X, space=space)
    with dask.config.set(scheduler="threads"):
        got = M.moments(D, space=space)
    assert (got.n, got.d, got.space, got.scale) == (ref.n, ref.d, ref.space, ref.scale)
    for field in ("norms", "sum_unit", "sumsq_unit", "sum_space", "gram"):
        _close(getattr(ref, field), getattr(got, field))
    assert np.isfinite(got.gram).all()


@pytest.mark.parametrize("dtype, magnitude", CASES)
def test_statistics_dispatch_and_equal_numpy(dtype, magnitude):
    X = _corpus(dtype, magnitude, seed=1)
    D = da.from_array(X, chunks=(200, 24))
    with dask.config.set(scheduler="threads"):
        assert vd.anisotropy(D) == pytest.approx(vd.anisotropy(X), rel=RTOL)
        r_np, r_da = vd.rogue_dimensions(X, top=3), vd.rogue_dimensions(D, top=3)
        assert r_da.dims.tolist() == r_np.dims.tolist()
        _close(r_np.contribution, r_da.contribution)
        assert r_da.share == pytest.approx(r_np.share, rel=RTOL)
        for normalize in (False, True):
            assert vd.isotropy(D, normalize=normalize) == pytest.approx(
                vd.isotropy(X, normalize=normalize), rel=RTOL, abs=1e-300)
            assert isoscore(D, normalize=normalize) == pytest.approx(
                isoscore(X, normalize=normalize), rel=RTOL)
        lazy = vd.row_norms(D)
        assert vd.scale.is_dask_array(lazy)
        _close(vd.row_norms(X), lazy.compute())
        s_np, s_da = vd.diagnostics.norm_spread(vd.row_norms(X)), vd.diagnostics.norm_spread(lazy)
        assert s_da.cv == pytest.approx(s_np.cv, rel=RTOL)
        assert s_da.mean == pytest.approx(s_np.mean, rel=RTOL)


def test_rogue_dimension_planted_is_found_on_dask():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 32))
    X[:, 11] += 12.0                                   # one coordinate shared by all rows
    r = vd.rogue_dimensions(da.from_array(X, chunks=300), top=1)
    assert r.dims.tolist() == [11] and r.share > 0.9


def test_nan_rows_are_named_by_global_row():
    X = _corpus(np.float64, 1.0)
    X[[5, 400, 401, 999, 1000]] = np.nan
    X[700, 3] = np.inf
    D = da.from_array(X, chunks=(128, 24))
    with pytest.raises(ValueError) as ref:
        vd.anisotropy(X)
    with pytest.raises(ValueError) as got:
        vd.anisotropy(D)
    assert str(got.value) == str(ref.value)
    assert "6 rows (first: 5, 400, 401, 700, 999)" in str(got.value)


def test_zero_rows_refused_for_cosine_but_fine_raw():
    X = _corpus(np.float32, 1.0)
    X[[0, 300, 1002]] = 0
    D = da.from_array(X, chunks=(250, 24))
    with pytest.raises(ValueError) as ref:
        vd.anisotropy(X)
    with pytest.raises(ValueError) as got:
        vd.rogue_dimensions(D)
    assert "3 rows (0, 300, 1002)" in str(got.value) and str(got.value) == str(ref.value)
    # raw space keeps zero rows (they are vectors at the origin)
    _close(compute_moments(X, space="raw").gram, M.moments(D, space="raw").gram)
    assert vd.isotropy(D) == pytest.approx(vd.isotropy(X), rel=RTOL)


def test_drop_mode_reports_and_leaves_out_bad_rows():
    X = _corpus(np.float64, 1.0)
    X[[3, 500]] = np.nan
    X[[10, 900]] = 0
    keep = np.setdiff1d(np.arange(X.shape[0]), [3, 500, 10, 900])
    m, report = M.moments(da.from_array(X, chunks=100), space="unit", drop=True)
    ref = compute_moments(X[keep], space="unit")
    assert (report.n_bad, report.bad.tolist(), report.n_zero, report.zero.tolist()) == \
        (2, [3, 500], 2, [10, 900])
    assert m.n == keep.size
    for field in ("norms", "sum_unit", "sumsq_unit", "gram"):
        _close(getattr(ref, field), getattr(m, field))
    assert report.peak == float(np.abs(X[np.isfinite(X).all(axis=1)]).max())


def test_one_block_and_one_row_per_block():
    X = _corpus(np.float64, 1.0, n=9, d=4)
    for chunks in ((9, 4), (1, 4)):
        got = M.moments(da.from_array(X, chunks=chunks), space="raw")
        _close(compute_moments(X, space="raw").gram, got.gram)


def test_log_partition_equals_numpy():
    from vecdiag.diagnostics.isotropy import log_partition

    X = _corpus(np.float64, 1.0)
    dirs = np.linalg.qr(np.random.default_rng(0).normal(size=(24, 24)))[0]
    D = da.from_array(X, chunks=(150, 24))
    for space in ("unit", "raw"):
        _close(log_partition(X, dirs, space), M.log_partition(D, dirs, space))


def test_on_a_cluster_of_worker_processes(dask_client):
    X = _corpus(np.float32, 1.0, seed=4, n=4000, d=32)
    D = da.from_array(X, chunks=(500, 32))
    with worker_tasks(dask_client) as ran:
        got = M.moments(D, space="raw")
        iso = vd.isotropy(D, normalize=True)
    assert len(ran.workers) >= 1 and ran.n_tasks >= 8       # one task per block at least
    _close(compute_moments(X, space="raw").gram, got.gram)
    assert iso == pytest.approx(vd.isotropy(X, normalize=True), rel=RTOL)
