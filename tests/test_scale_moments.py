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
from _peaks import lowest_peak

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
dask = pytest.importorskip("dask")

import vecdiag as vd  # noqa: E402
from vecdiag.diagnostics import isoscore  # noqa: E402
from vecdiag.diagnostics.moments import compute_moments  # noqa: E402
from vecdiag.scale import chunks as scale_chunks  # noqa: E402
from vecdiag.scale import moments as M  # noqa: E402

RTOL = 1e-6


def _corpus(dtype, magnitude, seed=0, n=1003, d=24):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + np.linspace(0, 3, d)      # a shared offset: anisotropic
    X[:, min(5, d - 1)] *= 20                                           # and a rogue dimension
    return (X * magnitude).astype(dtype)


MAGNITUDES = {np.float64: (1.0, 1e200, 1e-200), np.float32: (1.0, 1e30, 1e-30)}
CASES = [(dt, mag) for dt, mags in MAGNITUDES.items() for mag in mags]


def _uncentred(part):
    """Σ x xᵀ of a partial sum, whose Gram matrix is about its reference row."""
    from vecdiag.scale.block_sums import rebase

    return rebase(part["shifted_sum"], part["gram"], part["n"], part["shift"], 0.0)[1]


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


@pytest.mark.parametrize("direct", [False, True])
def test_log_partition_of_files_read_by_their_tasks(tmp_path, monkeypatch, direct):
    """The isotropy pass over vd.open_vectors streams each chunk from its file, in reads
    smaller than a chunk and projections smaller than a read; bad and zero rows are left
    out as on a Dask block (drop=True); the same numbers as the NumPy pass."""
    from vecdiag.diagnostics import moments as dm
    from vecdiag.diagnostics.isotropy import log_partition

    from vecdiag.scale import direct as dr

    monkeypatch.setattr(dr, "STREAM_READ_BYTES", 3000)         # several reads per chunk
    monkeypatch.setattr(dm, "_BLOCK_BYTES", 1000)              # several pieces per read
    X = _corpus(np.float32, 1.0, seed=6, n=1300, d=16)
    dirs = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))[0]
    D = vd.open_vectors(_shards(tmp_path, X, 500), chunks=200, direct=direct)
    assert len(D.row_sources) == D.numblocks[0] == 8       # chunks never straddle a file: 3 + 3 + 2
    with dask.config.set(scheduler="threads"):
        for space in ("unit", "raw"):
            _close(log_partition(X, dirs, space), M.log_partition(D, dirs, space))
        Y = X.copy()
        Y[[3, 700]] = np.nan
        Y[[10, 1299]] = 0
        keep = np.setdiff1d(np.arange(1300), [3, 10, 700, 1299])
        (tmp_path / "bad").mkdir()
        B = vd.open_vectors(_shards(tmp_path / "bad", Y, 500), chunks=200, direct=direct)
        _close(log_partition(X[keep], dirs, "unit"), M.log_partition(B, dirs, "unit", drop=True))


def test_on_a_cluster_of_worker_processes(dask_client):
    X = _corpus(np.float32, 1.0, seed=4, n=4000, d=32)
    D = da.from_array(X, chunks=(500, 32))
    with worker_tasks(dask_client) as ran:
        got = M.moments(D, space="raw")
        iso = vd.isotropy(D, normalize=True)
    assert len(ran.workers) >= 1 and ran.n_tasks >= 8       # one task per block at least
    _close(compute_moments(X, space="raw").gram, got.gram)
    assert iso == pytest.approx(vd.isotropy(X, normalize=True), rel=RTOL)


# --- PCA and the vector fixes: fitted from one pass (vecdiag.scale.covariance) ----------

def _spread_corpus(dtype, offset=0.0, n=1500, d=12, seed=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.linspace(1, 5, d) + offset).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_pca_of_a_dask_array_equals_numpy(dtype, offset):
    if dtype == np.float32 and offset:
        offset = 1e2                 # float32 keeps ~7 digits: 1e6 + N(0, 5) has 1-2 left
    X = _spread_corpus(dtype, offset)
    with dask.config.set(scheduler="threads"):
        got = vd.pca(da.from_array(X, chunks=(256, 12)), n_components=3)
    # the Dask pass sums in float64: compare with the NumPy path on the same values in
    # float64 (the float32 NumPy path itself is good to ~1e-7 only)
    ref = vd.pca(X.astype(np.float64), n_components=3)
    for field in ("explained_variance", "explained_variance_ratio", "components", "mean"):
        _close(getattr(ref, field), getattr(got, field))
    assert isinstance(got.coords, np.ndarray) and got.coords.dtype == X.dtype
    _close(ref.coords, got.coords, 1e-6 if dtype == np.float64 else 1e-5)
    lazy = got.transform(da.from_array(X[:10], chunks=5))
    assert vd.scale.is_dask_array(lazy)
    _close(got.transform(X[:10]), lazy.compute())


def test_pca_of_a_dask_array_of_tiny_deviations_keeps_its_digits():
    """Deviations near 1e-160 have subnormal squares: the Dask PCA took its eigenpairs
    from the scatter at that scale, and its ratios were off in the 5th digit (0.661491
    for 0.661500); at 1e-200 the variance is 0 in float64 and the rows were said to be
    "all the same vector". Reference: scikit-learn on the same rows times 1e160 (ratios
    do not change with the scale)."""
    from sklearn.decomposition import PCA

    X = _spread_corpus(np.float64, n=200) * 1e-160
    want = PCA(n_components=3, svd_solver="full").fit(X * 1e160).explained_variance_ratio_
    got = vd.pca(da.from_array(X, chunks=(64, 12)), n_components=3)
    np.testing.assert_allclose(got.explained_variance_ratio, want, rtol=1e-9)
    with pytest.raises(ValueError, match="variance 0.0 in floating point although its rows "
                                         "differ"):
        vd.pca(da.from_array(X * 1e-40, chunks=(64, 12)), n_components=3)


def test_pca_coords_stay_lazy_beyond_the_limit(monkeypatch):
    from vecdiag.projection import result

    monkeypatch.setattr(result, "COORDS_IN_MEMORY", 100)
    X = _spread_corpus(np.float64)
    got = vd.pca(da.from_array(X, chunks=(256, 12)), n_components=2)
    assert vd.scale.is_dask_array(got.coords)
    _close(vd.pca(X, n_components=2).coords, got.coords.compute())


def test_pca_of_a_dask_array_refuses_what_numpy_refuses():
    X = _spread_corpus(np.float64, n=40)
    X[[3, 33]] = np.nan
    with pytest.raises(ValueError, match=r"2 rows \(3, 33\) with NaN or inf"):
        vd.pca(da.from_array(X, chunks=10), n_components=2)
    with pytest.raises(ValueError, match="n_components=13"):
        vd.pca(da.from_array(np.ones((20, 12)), chunks=10), n_components=13)
    with pytest.raises(ValueError, match="zero variance"):
        vd.pca(da.from_array(np.ones((20, 12)), chunks=10), n_components=2)
    with pytest.raises(ValueError, match="solver='covariance'"):
        vd.pca(da.from_array(np.ones((20, 12)), chunks=10), solver="gram")


FIXES = [("Center", {}), ("Center", {"normalize_first": False}), ("Whiten", {}),
         ("Whiten", {"n_components": 4, "normalize_first": False}),
         ("AllButTheTop", {"n_remove": 2}), ("AllButTheTop", {"normalize_first": False}),
         ("Normalize", {})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params", FIXES)
def test_fixes_fit_on_dask_equal_numpy_and_transform_lazily(dtype, name, params):
    from vecdiag import fixes

    X = _spread_corpus(dtype, offset=2.0)
    D = da.from_array(X, chunks=(256, 12))
    with dask.config.set(scheduler="threads"):
        got = getattr(fixes, name)(**params).fit(D)
        out = got.transform(D)
        assert vd.scale.is_dask_array(out) and out.dtype == X.dtype
        computed = out.compute()
    ref = getattr(fixes, name)(**params).fit(X.astype(np.float64))   # float64 sums, as Dask
    for attr in ("mean_", "components_", "explained_variance_", "scale_"):
        if hasattr(ref, attr):
            _close(getattr(ref, attr), getattr(got, attr))
            assert getattr(got, attr).shape == getattr(ref, attr).shape
    assert got.n_features_in_ == 12
    tol = 1e-6 if dtype == np.float64 else 1e-5
    _close(ref.transform(X.astype(np.float64)), computed, tol)
    same = getattr(fixes, name)(**params).fit(X)          # the NumPy path on the same dtype
    _close(same.transform(X), computed, tol)


def test_fixes_on_dask_name_bad_rows():
    from vecdiag.fixes import Center, Normalize

    X = _spread_corpus(np.float64, n=60)
    X[[7, 45]] = 0
    D = da.from_array(X, chunks=20)
    with pytest.raises(ValueError, match=r"2 rows \(7, 45\) that are zero vectors"):
        Center().fit(D)
    Center(zero="ignore").fit(D)                 # kept at 0, as the NumPy path does
    # transform is lazy: the first block computed names its zero row by its global number
    with pytest.raises(ValueError, match=r"zero vector at row (7|45)\b"):
        Normalize().fit(D).transform(D).compute()
    X[50, 1] = np.inf
    with pytest.raises(ValueError, match=r"1 row \(50\) with NaN or inf"):
        Center(normalize_first=False).fit(da.from_array(X, chunks=20))
    with pytest.raises(ValueError, match="expecting 12 features"):
        Center().fit(np.ones((3, 12))).transform(da.ones((4, 5)))


@pytest.mark.parametrize("name", ["Center", "Whiten", "AllButTheTop", "Normalize"])
def test_fixes_transform_on_dask_names_bad_rows_by_their_global_row(name):
    """A NaN row in the third block was named by its row in the block ("1 row (3)"),
    and a zero row alone in a one-row first block as "X is a zero vector" (no row):
    the transform of the same rows in memory names row 43 and row 0."""
    from vecdiag import fixes

    X = _spread_corpus(np.float64, n=60)
    est = getattr(fixes, name)().fit(X)
    bad = X.copy()
    bad[43, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 row \(43\) with NaN or inf"):
        est.transform(bad)                       # the in-memory words, the reference
    with pytest.raises(ValueError, match=r"1 row \(43\) with NaN or inf"):
        est.transform(da.from_array(bad, chunks=20)).compute(scheduler="sync")
    bad = X.copy()
    bad[0] = 0
    with pytest.raises(ValueError, match=r"zero vector at row 0\b"):
        est.transform(bad)
    with pytest.raises(ValueError, match=r"zero vector at row 0\b"):
        est.transform(da.from_array(bad, chunks=((1, 59), 12))).compute(scheduler="sync")


@pytest.mark.parametrize("name", ["Whiten", "AllButTheTop"])
def test_fixes_transform_a_dask_block_in_pieces(name, monkeypatch):
    """A fix's transform of a Dask corpus ran est.transform on a whole row block: its
    unit rows, centred rows and products were all held at once (a 100,000 x 64 float32
    block, 25.6 MB: Whiten 76.8 MB, AllButTheTop 102.4 MB; 37.3 MB now). A task now
    transforms PIECE_BYTES of rows at a time, exact copies in other pieces of the block
    given their first row's output (as the whole block's transform gives them): here
    32 KB pieces of an 8,000 x 32 float32 block keep the peak under one float64 copy of
    it (2 MB; 1.4 MB now, its output 1 MB of it; 4.3-5.3 MB before), the output equal to
    the whole block's transform to rounding."""
    from vecdiag import fixes
    from vecdiag.scale import fit as dask_fit

    X = _spread_corpus(np.float32, n=8000, d=32, offset=0.5)
    copies = [4000, 4001, 4002, 4003, 5555, 7998, 7999]   # at each place in its piece
    X[copies] = X[3]
    est = getattr(fixes, name)().fit(X[:1000])
    whole = dask_fit._transform_block(X, est)          # one piece: est.transform(X)
    assert np.array_equal(whole, est.transform(X))
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 32 * 2**10)
    dask_fit._transform_block(X, est)                  # one block's task, measured alone
    out, peak = lowest_peak(lambda: dask_fit._transform_block(X, est))
    assert peak < X.size * 8
    _close(whole, out, 1e-6)
    assert all(np.array_equal(out[r], out[3]) for r in copies)


@pytest.mark.parametrize("piece_bytes", [None, 128])
def test_a_dask_copy_with_minus_zero_is_transformed_as_its_original(piece_bytes, monkeypatch):
    """A Dask block's transform gives a copy its original's output whether the block is
    one piece (est.transform of the block, which compared rows as bytes: the -0.0 copy of
    row 0 came out 1e-16 off it) or several (2-row pieces here, whose copies were found
    by value): one rule, fixes.checking.copies_alike, -0.0 equal to 0.0."""
    from vecdiag.fixes import Whiten

    if piece_bytes is not None:
        monkeypatch.setattr(scale_chunks, "PIECE_BYTES", piece_bytes)   # 2 rows of 8
    X = np.random.default_rng(0).normal(size=(5, 8))
    X[0, 0] = 0.0
    X[4] = X[0]
    X[4, 0] = -0.0
    est = Whiten().fit(X)
    with dask.config.set(scheduler="sync"):
        T = est.transform(da.from_array(X, chunks=(5, 8))).compute()
    assert T[4].tobytes() == T[0].tobytes()
    _close(est.transform(X), T, 1e-12)


def test_pca_and_whiten_run_on_the_workers(dask_client):
    from vecdiag.fixes import Whiten

    X = _spread_corpus(np.float32, n=3000, d=16)
    D = da.from_array(X, chunks=(400, 16))
    with worker_tasks(dask_client) as ran:
        p = vd.pca(D, n_components=2)
        w = Whiten().fit(D)
        Z = w.transform(D).compute()
    assert ran.workers and ran.n_tasks >= 16
    ref = vd.pca(X.astype(np.float64), n_components=2)
    _close(ref.explained_variance, p.explained_variance)
    _close(Whiten().fit(X.astype(np.float64)).transform(X.astype(np.float64)), Z, 1e-5)


# --- the streamed pass over .npy files, and the fast and careful paths of block_sums ------

def _shards(tmp_path, X, rows):
    for i, a in enumerate(range(0, X.shape[0], rows)):
        np.save(tmp_path / f"part-{i}.npy", X[a:a + rows])
    return str(tmp_path / "part-*.npy")


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("space", ["unit", "raw"])
def test_streamed_files_equal_the_numpy_pass(tmp_path, monkeypatch, direct, dtype, space):
    from vecdiag.scale import block_sums

    monkeypatch.setattr(block_sums, "SUB_BYTES", 4096)     # many pieces per chunk
    X = _corpus(dtype, 1.0, n=2500, d=16)
    D = vd.open_vectors(_shards(tmp_path, X, 900), chunks=400, direct=direct)
    assert D.row_sources is not None and len(D.row_sources) == D.numblocks[0]
    ref = compute_moments(X, space=space)
    with dask.config.set(scheduler="threads"):
        got = M.moments(D, space=space)
        plain = M.moments(D[:], space=space)                # a derived array: block path
    for m in (got, plain):
        assert (m.n, m.scale) == (ref.n, ref.scale)
        for field in ("norms", "sum_unit", "sumsq_unit", "sum_space", "gram"):
            _close(getattr(ref, field), getattr(m, field))
    np.testing.assert_array_equal(got.norms, plain.norms)


def test_streamed_files_report_bad_rows_by_global_row(tmp_path, monkeypatch):
    from vecdiag.scale import block_sums

    monkeypatch.setattr(block_sums, "SUB_BYTES", 2048)
    X = _corpus(np.float32, 1.0, n=1200, d=16)
    X[[7, 650, 1100]] = np.nan
    X[[40, 651]] = 0
    D = vd.open_vectors(_shards(tmp_path, X, 500), chunks=300)
    with dask.config.set(scheduler="threads"):
        m, report = M.moments(D, space="unit", drop=True)
        with pytest.raises(ValueError, match=r"3 rows \(7, 650, 1100\) with NaN or inf"):
            M.moments(D, space="raw")
    assert (report.bad.tolist(), report.zero.tolist()) == ([7, 650, 1100], [40, 651])
    keep = np.setdiff1d(np.arange(1200), [7, 40, 650, 651, 1100])
    ref = compute_moments(X[keep], space="unit")
    assert m.n == keep.size
    for field in ("norms", "sum_unit", "gram"):
        _close(getattr(ref, field), getattr(m, field))
    dropped = np.concatenate([start + r for start, r in zip((0, 300, 500, 800, 1000),
                                                            report.dropped)])
    assert dropped.tolist() == [7, 40, 650, 651, 1100]


def test_fast_and_careful_piece_sums_agree():
    from vecdiag.scale.block_sums import careful_block_sums, fast_block_sums

    for dtype, space in [(np.float64, "unit"), (np.float64, "raw"), (np.float32, "raw")]:
        P = _corpus(dtype, 1.0, seed=5, n=700, d=12)
        fast, (f_norms, _) = fast_block_sums(P, 0, space)
        slow, (s_norms, _) = careful_block_sums(P, 0, space, False)
        assert fast["e"] == slow["e"] and fast["peak"] == slow["peak"]
        np.testing.assert_array_equal(f_norms, s_norms)      # row_norms' own numbers
        rtol = 1e-12 if dtype == np.float64 else 1e-6
        for key in ("sum_unit", "sumsq_unit", "sum_space", "gram"):
            _close(slow[key], fast[key], rtol)
    for bad in (np.nan, np.inf, 0.0, 1e30):                    # not clean: careful path
        P = _corpus(np.float32, 1.0, n=50, d=4)
        P[3] = bad
        assert fast_block_sums(P, 0, "unit") is None


@pytest.mark.parametrize("space", ["unit", "raw"])
def test_the_o_nd_sums_alone_equal_the_full_pass(tmp_path, space):
    X = _corpus(np.float32, 1.0, n=1500, d=16)
    X[[3, 900]] = np.nan
    D = vd.open_vectors(_shards(tmp_path, X, 700), chunks=250)
    with dask.config.set(scheduler="threads"):
        full, r_full = M.moments(D, space=space, drop=True)
        sums, r_sums = M.moments(D, space=space, drop=True, gram=False)
        plain, _ = M.moments(D[:], space=space, drop=True, gram=False)
    assert sums.gram is None and plain.gram is None and full.gram is not None
    assert (r_sums.bad.tolist(), sums.n, sums.scale) == (r_full.bad.tolist(), full.n, full.scale)
    for field in ("norms", "sum_unit", "sumsq_unit", "sum_space"):
        for m in (sums, plain):
            _close(getattr(full, field), getattr(m, field), 1e-7)
    # anisotropy and rogue dimensions need only these sums
    Y = np.delete(X, [3, 900], axis=0)
    with dask.config.set(scheduler="threads"):
        assert vd.anisotropy(da.from_array(Y, chunks=300)) == pytest.approx(vd.anisotropy(Y),
                                                                             rel=RTOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("space", ["unit", "raw"])
def test_pieces_added_in_place_equal_the_pairwise_merge_and_the_careful_pass(dtype, space):
    """block_sums adds each piece into one total (add_into), in buffers reused from piece
    to piece; pieces of very different scales (so different exponents in raw space, in
    both orders) must give what merging fresh partial sums gives, and what the float64
    careful pass gives for the whole block."""
    from vecdiag.scale.block_sums import (add_into, block_sums, careful_block_sums,
                                          merge_sums, piece_sums)

    big = 1e30 if dtype == np.float32 else 1e200
    scales = [1.0, big ** 0.5, 1e-3, big ** 0.25, 7.0]
    B = np.concatenate([_corpus(dtype, s, seed=i, n=90, d=12) for i, s in enumerate(scales)])
    pieces = [(a, B[a:a + 90]) for a in range(0, len(B), 90)]
    got, (norms, dropped) = block_sums(iter(pieces), 1000, space, False)
    merged = None
    for a, P in pieces:
        part = piece_sums(P.copy(), 1000 + a, space, False)[0]
        merged = part if merged is None else merge_sums(merged, part, space)
    whole, (ref_norms, _) = careful_block_sums(B, 1000, space, False)
    assert got["n"] == merged["n"] == whole["n"] == len(B) and got["e"] == whole["e"]
    np.testing.assert_array_equal(norms, ref_norms.astype(np.float64))
    assert dropped.size == 0
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for key in ("sum_unit", "sumsq_unit", "sum_space"):
        _close(merged[key], got[key], 1e-12)          # the same sums, added in place
        _close(whole[key], got[key], rtol)
    # the Gram matrices are about reference rows (the block's first row for the pieces
    # of one block; each piece's own, moved when merged): compare them about 0
    _close(_uncentred(merged), _uncentred(got), rtol)
    _close(_uncentred(whole), _uncentred(got), rtol)
    # add_into never touches the part it adds, and works on a total it owns
    one = piece_sums(pieces[0][1], 0, space, False)[0]
    two = piece_sums(pieces[1][1], 90, space, False)[0]
    before = {k: np.copy(two[k]) for k in ("sum_space", "gram")}
    total = add_into({k: (np.array(v, dtype=np.float64) if isinstance(v, np.ndarray)
                          and k not in ("bad", "zero") else v) for k, v in one.items()},
                     two, space)
    for k in before:
        np.testing.assert_array_equal(two[k], before[k])
    _close(merge_sums(one, two, space)["gram"], total["gram"], 1e-12)


def test_without_the_peak_clean_unit_pieces_give_the_same_sums():
    from vecdiag.scale.block_sums import block_sums

    B = _corpus(np.float32, 3.0, n=3000, d=20)
    with_peak, _ = block_sums(B, 0, "unit", False)
    without, _ = block_sums(B, 0, "unit", False, peak=False)
    assert with_peak["peak"] == float(np.abs(B).max()) and without["peak"] == 0.0
    for key in ("sum_unit", "sumsq_unit", "sum_space", "gram"):
        np.testing.assert_array_equal(with_peak[key], without[key])


def test_pieces_of_changing_length_and_layout_give_the_same_sums():
    """A short first piece, then longer ones, Fortran-ordered and strided pieces, and a
    float64 piece after float32 ones: each is summed right (the buffers are remade when
    a piece does not fit them)."""
    from vecdiag.scale.block_sums import block_sums, careful_block_sums

    B = _corpus(np.float32, 2.0, seed=8, n=700, d=10)
    cuts = [0, 5, 300, 310, 700]
    pieces = [(a, B[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    pieces[1] = (pieces[1][0], np.asfortranarray(pieces[1][1]))
    pieces[3] = (pieces[3][0], np.repeat(pieces[3][1], 2, axis=0)[::2])   # strided rows
    got, (norms, _) = block_sums(iter(pieces), 0, "unit", False)
    ref, (ref_norms, _) = careful_block_sums(B, 0, "unit", False)
    assert got["n"] == 700
    np.testing.assert_allclose(norms, ref_norms, rtol=1e-6)
    for key in ("sum_unit", "sumsq_unit", "sum_space", "gram"):
        _close(ref[key], got[key], 1e-6)
    mixed = [(0, B[:300]), (300, B[300:].astype(np.float64))]
    got, _ = block_sums(iter(mixed), 0, "raw", False)
    ref, _ = careful_block_sums(B.astype(np.float64), 0, "raw", False)
    for key in ("sum_space", "gram"):
        _close(ref[key], got[key], 1e-6)


@pytest.mark.parametrize("direct", [False, True])
def test_exact_copies_of_files_hashed_by_their_tasks(tmp_path, monkeypatch, direct):
    """Row hashes of a vd.open_vectors corpus come from each task's own reads, a few rows
    at a time; the groups equal the NumPy path's (copies across files and chunks, -0.0
    equal to 0.0), and so do a derived array's (the block path)."""
    from vecdiag.diagnostics.duplicates import exact_duplicate_groups
    from vecdiag.scale import direct as direct_reads
    from vecdiag.scale import hashing

    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 200)
    monkeypatch.setattr(direct_reads, "STREAM_READ_BYTES", 1000)
    X = _corpus(np.float32, 1.0, seed=2, n=900, d=8)
    X[[5, 480, 899]] = X[100]                     # one group across files
    X[620] = X[7]
    X[7, 0], X[620, 0] = 0.0, -0.0                # equal numbers, different bytes
    D = vd.open_vectors(_shards(tmp_path, X, 350), chunks=128, direct=direct)
    assert len(D.row_sources) == D.numblocks[0] == 8       # chunks never straddle a file: 3 + 3 + 2
    want = exact_duplicate_groups(X)
    assert want == [[5, 100, 480, 899], [7, 620]]
    with dask.config.set(scheduler="threads"):
        assert hashing.exact_duplicate_groups_dask(D) == want
        assert hashing.exact_duplicate_groups_dask(D[:]) == want
        np.testing.assert_array_equal(
            hashing._stream_hash((D.row_sources[0][0], 0, 128, direct),
                                 hashing.hash_multipliers(8, np.float32)),
            hashing._hash_block(X[:128], hashing.hash_multipliers(8, np.float32)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_hashes_of_a_block_stay_under_one_copy_of_it(dtype, monkeypatch):
    """Hashing a Dask block for exact copies counted its pieces in the rows' own bytes,
    but hashes 64-bit words (a float32 piece made words twice its size), and multiplied
    them into another array: a 100,000 x 64 float32 block (25.6 MB) peaked at 21.7 MB,
    a float64 one of 12.8 MB at 13 MB (7.1 and 8.8 MB now). Pieces are now counted in
    words, multiplied in place: 64 KB of 4,000 x 16 rows keep the peak under one copy of
    the block (256 KB float32: 0.19 MB, 0.41 MB before), the same hashes (checked
    against Python integers mod 2^64, -0.0 hashed as 0.0)."""
    from vecdiag.diagnostics.duplicates import hash_multipliers
    from vecdiag.scale import hashing

    rng = np.random.default_rng(6)
    X = rng.normal(size=(4000 if dtype == np.float32 else 2000, 16)).astype(dtype)
    X[7] = -0.0
    m = hash_multipliers(16, dtype)
    whole = hashing._hash_block(X, m)
    unsigned = np.uint32 if dtype == np.float32 else np.uint64
    for r in (0, 7, 1999):
        words = (X[r] + dtype(0)).view(unsigned)
        assert int(whole[r]) == sum(int(w) * int(k) for w, k in zip(words, m)) % 2**64
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    hashing._hash_block(X, m)
    pieces, peak = lowest_peak(lambda: hashing._hash_block(X, m))
    assert peak < X.nbytes
    assert np.array_equal(pieces, whole)


@pytest.mark.parametrize("space", ["unit", "raw"])
def test_the_covariance_keeps_its_digits_far_from_the_origin(space):
    """Rows 1e3 + noise of 1e-2 (float32): the covariance and participation ratio of the
    NumPy pass and the Dask pass (fast pieces, and a careful piece with a NaN row) equal
    numpy.cov of the centred float64 rows; E[xxᵀ] − E[x]E[x]ᵀ kept no digit (Dask: PR
    6.7 against 15.46). Identical rows have no variance: participation ratio 0.0, as
    documented (it was 1.7 to 3.6 from rounding)."""
    from vecdiag.diagnostics.isotropy import participation_ratio, spectrum

    rng = np.random.default_rng(5)
    Y = (1e3 + rng.normal(scale=1e-2, size=(300, 8))).astype(np.float32)
    Z = Y.astype(np.float64)
    if space == "unit":
        Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    ref = np.cov(Z - Z.mean(axis=0), rowvar=False, bias=True)
    vals = np.linalg.eigvalsh(ref)
    ref_pr = vals.sum() ** 2 / (vals ** 2).sum()
    Yn = Y.copy()
    Yn[130] = np.nan                       # that piece takes the careful float64 path
    with dask.config.set(scheduler="threads"):
        dask_m = M.moments(da.from_array(Y, chunks=(70, 8)), space=space)
        dropped, _ = M.moments(da.from_array(Yn, chunks=(70, 8)), space=space, drop=True)
    Zk = np.delete(Z, 130, axis=0)
    ref_k = np.cov(Zk - Zk.mean(axis=0), rowvar=False, bias=True)
    # unit rows: their float32 norms (rounded to 6e-8) already move them by 1e-3 of the
    # spread (1e-5 of their length)
    tol = 1e-4 if space == "raw" else 1e-2
    for m, r in ((compute_moments(Y, space=space), ref), (dask_m, ref), (dropped, ref_k)):
        scale = (m.scale if space == "raw" else 1.0) ** 2
        _close(r, m.covariance * scale, tol)
    for m in (compute_moments(Y, space=space), dask_m):
        assert participation_ratio(spectrum(m)) == pytest.approx(ref_pr, rel=tol)
    same = np.tile((3.7 * rng.normal(size=(1, 16))).astype(np.float32), (500, 1))
    with dask.config.set(scheduler="threads"):
        passes = [compute_moments(same, space=space),
                  M.moments(da.from_array(same, chunks=(100, 16)), space=space)]
    for m in passes:
        assert participation_ratio(spectrum(m)) == 0.0
    metric = "cosine" if space == "unit" else "euclidean"
    assert vd.intrinsic_dimension(same, method="participation_ratio", metric=metric) == 0.0


@pytest.mark.parametrize("space", ["unit", "raw"])
def test_identical_rows_beside_a_nan_row_have_no_spread(space):
    """A float32 corpus of one repeated row and a NaN row, on Dask with drop=True: the
    NaN row's block is summed the careful way (float64 unit rows), the others the fast
    way (float32 unit rows); the same row differed by 1e-8 between them and the
    participation ratio was 1.0 under cosine. The careful path now takes the fast path's
    unit rows for the rows the fast path would take: 0.0, as on the NumPy path."""
    from vecdiag.diagnostics.isotropy import participation_ratio, spectrum

    rng = np.random.default_rng(0)
    same = np.tile((3.7 * rng.normal(size=(1, 16))).astype(np.float32), (500, 1))
    same[250] = np.nan
    with dask.config.set(scheduler="threads"):
        m, report = M.moments(da.from_array(same, chunks=(100, 16)), space=space, drop=True)
    assert report.n_bad == 1 and m.n == 499
    assert participation_ratio(spectrum(m)) == 0.0
    np.testing.assert_array_equal(m.covariance, np.zeros((16, 16)))


def test_scatter_walks_a_block_in_pieces(monkeypatch):
    """The scatter behind vd.pca and the fits of Whiten/AllButTheTop held a whole row block
    as float64 five times over (a 100,000 x 64 float32 block, 25.6 MB, peaked at 155 MB in
    its task; 13 MB now). A task now sums its block PIECE_BYTES of rows at a time, merged
    by exact powers of two: here 64 KB pieces of a 4,000 x 16 block peak under one float64
    copy of it (512 KB), and give the NumPy scatter to 1e-12, also when the first pieces,
    or the first block, are all zero (rows equal to the shift) and the others of size
    1e-160: a piece or block of zeros set the scale (2^0) the tiny sums were rounded to,
    and the scatter came out 1433.24 where it is 1433.12 (in units of 2^-1062)."""
    from vecdiag.scale import covariance

    rng = np.random.default_rng(8)
    X = rng.normal(size=(4000, 16)) * np.linspace(1, 3, 16) + 2.0
    tiny = np.vstack([np.zeros((1100, 16)), rng.normal(size=(2900, 16)) * 1e-160])

    def reference(A):
        C = A - A.mean(axis=0)
        return C.T @ C

    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    with dask.config.set(scheduler="sync"):
        lazy = da.from_array(X, chunks=(4000, 16))
        covariance.scaled_scatter(lazy[:10])       # imports and first-call set-up, not measured
        (_, n, mean, G, e), peak = lowest_peak(lambda: covariance.scaled_scatter(lazy))
        assert peak < X.size * 8
        assert n == 4000
        np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(np.ldexp(G, 2 * e), reference(X), rtol=1e-12, atol=1e-9)
        found = [covariance.scaled_scatter(da.from_array(tiny, chunks=(rows, 16)))
                 for rows in (4000, 1100)]      # zero pieces; a zero block
    big = np.ldexp(tiny, 531)                      # the same rows, of size ~1e0
    for _, _, mean, G, e in found:
        np.testing.assert_allclose(np.ldexp(mean, 531), big.mean(axis=0), rtol=1e-12,
                                   atol=1e-15)
        np.testing.assert_allclose(np.ldexp(G, 2 * (e + 531)), reference(big), rtol=1e-12,
                                   atol=1e-9)


def test_raw_moments_of_tiny_rows_after_zero_rows(monkeypatch):
    """The raw-space sums (vd.row_norms' moments, the dot-product statistics) of rows of
    size 1e-160 lost digits when a block, or a piece of a block, held only zero rows: its
    exponent 0 set the scale of the merge, and the tiny rows' Gram matrix kept 7 digits
    (1367.21240 where it is 1367.21226, in units of 2^-1062, with 1,100-row chunks). A
    part of zeros now leaves the scale to the others: the NumPy sums to 1e-12, for zero
    blocks (chunks of 1,100 rows) and zero pieces (one chunk, 256-row pieces)."""
    from vecdiag.scale import block_sums

    rng = np.random.default_rng(8)
    tiny = np.vstack([np.zeros((1100, 16)), rng.normal(size=(2900, 16)) * 1e-160])
    big = np.ldexp(tiny, 531)                      # the same rows, of size ~1e0
    monkeypatch.setattr(block_sums, "SUB_BYTES", 1)
    with dask.config.set(scheduler="sync"):
        for rows in (1100, 4000):
            m = M.moments(da.from_array(tiny, chunks=(rows, 16)), space="raw", name="X")
            unit = m.scale * 2.0 ** 531
            np.testing.assert_allclose(m.gram * unit ** 2, big.T @ big, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(m.sum_space * unit, big.sum(axis=0), rtol=1e-12,
                                       atol=1e-12)


def test_one_shift_rule_moves_the_sums_of_numpy_and_dask():
    """Moving sums from one reference row to another (Moments.gram: to the origin; the
    Dask merge, block_sums.rebase: to another block's first row) is one rule,
    diagnostics.moments.moved_sums. On small integers every step is exact: the Gram
    matrix about any row, moved to the origin or to another row, is Σ x xᵀ (resp. the sums
    about that row) exactly, and Moments.gram of the NumPy and the Dask pass are X.T @ X."""
    from vecdiag.diagnostics.moments import moved_sums
    from vecdiag.scale.block_sums import rebase

    X = np.array([[1.0, 2.0, 0.0], [3.0, 5.0, -1.0], [0.0, 0.0, 0.0], [4.0, -2.0, 7.0]])
    about = {i: ((X - X[i]).sum(axis=0), (X - X[i]).T @ (X - X[i])) for i in range(4)}
    s, G = moved_sums(*about[1], 4, X[1])
    assert s.tolist() == X.sum(axis=0).tolist() and G.tolist() == (X.T @ X).tolist()
    s, G = rebase(*about[1], 4, X[1], X[3])
    assert s.tolist() == about[3][0].tolist() and G.tolist() == about[3][1].tolist()
    assert rebase(*about[2], 4, X[2], X[2])[1] is about[2][1]     # nothing to move
    assert moved_sums(*about[2], 4, X[2])[1] is not about[2][1]   # a new array
    numpy_m = compute_moments(X, space="raw")
    with dask.config.set(scheduler="sync"):
        dask_m = M.moments(da.from_array(X, chunks=(2, 3)), space="raw")
    for m in (numpy_m, dask_m):
        assert m.scale == 8.0
        assert (m.gram * 64.0).tolist() == (X.T @ X).tolist()


def test_one_rule_keeps_a_part_of_zeros_out_of_the_exponent():
    """A part whose values are all 0 (sums exactly 0) does not set the exponent of a merge:
    one rule, block_sums.common_exponent, for the moments' merges (merge_sums, add_into)
    and the scatter's (covariance). A corpus without spread has a scatter of exactly 0
    (exponent 0; the scatter's own sentinel exponent was -16384 there, the same 0 matrix)."""
    from vecdiag.scale import covariance
    from vecdiag.scale.block_sums import common_exponent

    tiny, zeros, big = {"e": -531, "peak": 1e-160}, {"e": 0, "peak": 0.0}, {"e": 3, "peak": 5.0}
    assert [common_exponent(tiny, zeros), common_exponent(zeros, tiny)] == [-531, -531]
    assert [common_exponent(tiny, big), common_exponent(zeros, zeros)] == [3, 0]
    X = np.full((30, 4), 3.0)
    with dask.config.set(scheduler="sync"):
        _, n, mean, G, e = covariance.scaled_scatter(da.from_array(X, chunks=(7, 4)))
    assert (n, e, mean.tolist(), G.tolist()) == (30, 0, [3.0] * 4, [[0.0] * 4] * 4)
