"""Column means do not depend on how the rows are laid out in memory.

The same numbers as a C-ordered array, a Fortran-ordered one, a strided view and a
memmap must give the same mean bit for bit (NumPy's own ``X.mean(axis=0)`` adds a
Fortran-ordered array in another order), and so must everything computed from it.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vecdiag.fixes import AllButTheTop, Center, Whiten
from vecdiag.linalg import COLUMN_BLOCK, column_mean


_FILES = tempfile.TemporaryDirectory()       # the memmaps' files, removed at exit
_COUNT = itertools.count()


def layouts(X: np.ndarray) -> dict:
    """The same values as C- and Fortran-ordered arrays, a strided view and a memmap."""
    strided = np.empty((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)[:, ::2]
    strided[...] = X
    path = Path(_FILES.name) / f"X{next(_COUNT)}.dat"
    mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mm[...] = X
    mm.flush()
    return {"C": X, "F": np.asfortranarray(X), "strided": strided,
            "memmap": np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)}


def rows(max_rows=40, max_dim=9):
    """Offset Gaussian-like rows (the case where the order of the sums shows)."""
    shapes = st.tuples(st.integers(1, max_rows), st.integers(1, max_dim))
    values = st.floats(-1e3, 1e3, allow_nan=False, width=32)
    return st.tuples(shapes, st.sampled_from([np.float32, np.float64])).flatmap(
        lambda sd: hnp.arrays(sd[1], sd[0], elements=values))


def test_fortran_order_gave_another_mean():
    """The defect: NumPy sums these 200 x 3 values in another order as a Fortran array."""
    X = np.random.default_rng(3).normal(5.0, 1.0, size=(200, 3))
    assert not np.array_equal(X.mean(axis=0), np.asfortranarray(X).mean(axis=0))
    assert np.array_equal(column_mean(np.asfortranarray(X)), X.mean(axis=0))


@given(rows())
def test_column_mean_is_the_same_in_every_layout(X):
    means = {name: column_mean(A) for name, A in layouts(X).items()}
    assert all(np.array_equal(m, means["C"]) and m.dtype == np.float64
               for m in means.values())
    # a float32 array and its float64 copy: the same float64 mean
    assert np.array_equal(column_mean(X.astype(np.float64)), means["C"])
    exact = np.mean(np.ascontiguousarray(X, np.float64), axis=0)
    scale = np.abs(X).astype(np.float64).mean(axis=0) + 1e-300
    np.testing.assert_array_less(np.abs(means["C"] - exact) / scale, 1e-12)


def test_column_mean_over_several_blocks_keeps_numpy_c_order_bits():
    """Blocks carry the running sum: a C-ordered array's mean is NumPy's, bit for bit."""
    X = np.random.default_rng(0).normal(3.0, 1.0, size=(2 * COLUMN_BLOCK + 5, 4))
    for dtype in (np.float32, np.float64):
        A = X.astype(dtype)
        assert np.array_equal(column_mean(A, dtype=dtype), A.mean(axis=0))
        assert np.array_equal(column_mean(np.asfortranarray(A), dtype=dtype), A.mean(axis=0))
    assert np.array_equal(column_mean(X.astype(np.float32)),
                          X.astype(np.float32).mean(axis=0, dtype=np.float64))


def test_column_mean_of_inf_and_nan_columns():
    X = np.array([[np.inf, np.nan, 1.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(column_mean(np.asfortranarray(X)), [np.inf, np.nan, 2.0])


@settings(max_examples=20)
@given(rows(max_rows=30, max_dim=6).filter(lambda X: X.shape[1] >= 2))
def test_vector_fixes_fit_the_same_in_every_layout(X):
    X = X + np.arange(1, X.shape[1] + 1, dtype=X.dtype)   # no zero rows, an offset mean
    for fix in (Center(), Whiten(normalize_first=False),
                AllButTheTop(n_remove=1, normalize_first=False)):
        fitted = [(fix.fit(A).mean_, fix.transform(X)) for A in layouts(X).values()]
        assert all(np.array_equal(mean, fitted[0][0]) and mean.dtype == X.dtype
                   and np.array_equal(out, fitted[0][1]) for mean, out in fitted), fix


def _figures(stats: dict) -> dict:
    """diagnose's stats without its timing, NaN made comparable."""
    return {k: repr(v) for k, v in stats.items() if k != "seconds"}


@settings(max_examples=6)
@given(rows(max_rows=40, max_dim=8).filter(lambda X: X.shape[0] >= 12 and X.shape[1] >= 2))
def test_diagnose_gives_the_same_figures_in_every_layout(X):
    import vecdiag as vd

    X = X + np.arange(1, X.shape[1] + 1, dtype=X.dtype) * 50   # no zero rows, an offset mean
    stats = [_figures(vd.diagnose(A, k=3).stats) for A in layouts(X).values()]
    assert all(s == stats[0] for s in stats), [
        k for k in stats[0] if any(s[k] != stats[0][k] for s in stats)]


@settings(max_examples=15)
@given(rows(max_rows=30, max_dim=8).filter(lambda X: X.shape[0] >= 4 and X.shape[1] >= 3),
       st.sampled_from(["covariance", "gram", "randomized"]))
def test_pca_is_the_same_in_every_layout(X, solver):
    import vecdiag as vd

    X = X + np.arange(1, X.shape[1] + 1, dtype=X.dtype) * 10   # an offset mean
    X[0, 0] += 7                                   # never constant
    fits = [vd.pca(A, 2, solver=solver) for A in layouts(X).values()]
    assert all(np.array_equal(p.mean, fits[0].mean) and np.array_equal(p.coords, fits[0].coords)
               and np.array_equal(p.components, fits[0].components) for p in fits)


def _drift_figures(r) -> list:
    return [r.statistic, r.p_value, r.threshold, repr(r.details), r.reference_coords.tolist(),
            r.current_coords.tolist(), r.mean_coords.tolist()]


@settings(max_examples=10)
@given(rows(max_rows=40, max_dim=6).filter(lambda X: X.shape[0] >= 20),
       st.sampled_from(["mmd", "classifier", "mean_shift"]))
def test_drift_is_the_same_in_every_layout(X, method):
    import vecdiag as vd

    X = X + np.arange(1, X.shape[1] + 1, dtype=X.dtype) * 10
    X[-1] += 1                                     # the two sets are never identical
    half = X.shape[0] // 2
    results = [_drift_figures(vd.drift(A[:half], A[half:], method=method, n_permutations=20,
                                       n_folds=2))
               for A in layouts(X).values()]
    assert all(r == results[0] for r in results)


@settings(max_examples=15)
@given(rows(max_rows=30, max_dim=6).filter(lambda X: X.shape[0] >= 6),
       st.sampled_from(["cosine", "dot"]))
def test_mutual_proximity_is_the_same_in_every_layout(X, metric):
    from vecdiag.fixes import mutual_proximity

    X = X + np.arange(1, X.shape[1] + 1, dtype=X.dtype) * 10   # no zero rows
    lists = [mutual_proximity(X[:3], A, 3, metric=metric) for A in layouts(X).values()]
    assert all(np.array_equal(r.scores, lists[0].scores)
               and np.array_equal(r.indices, lists[0].indices) for r in lists)


@settings(max_examples=15)
@given(rows(max_rows=40, max_dim=8).filter(lambda X: X.shape[0] >= 9))
def test_near_copy_standardisation_is_the_same_in_every_layout(X):
    """The rows diagnose judges near-copies on when rogue dimensions dominate."""
    from vecdiag.diagnostics.copy_stages import standardised

    X = X + np.arange(1, X.shape[1] + 1, dtype=X.dtype) * 10
    outs = [standardised(A, True) for A in layouts(X).values()]
    assert all(np.array_equal(o, outs[0]) and o.dtype == outs[0].dtype for o in outs)
