"""Projections: vd.pca / scratch.pca against scikit-learn, UMAP, faithfulness, plots."""

from __future__ import annotations

import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import vecdiag as vd
from vecdiag.projection import Faithfulness, Projection
from vecdiag.projection.faithfulness import faithfulness


# ----------------------------------------------------------------------------- helpers

def sk_pca(X, c):
    from sklearn.decomposition import PCA

    return PCA(n_components=c, svd_solver="full").fit(X)


def aligned(a, b):
    """Flip each row of b to match a's sign (for references without our sign rule)."""
    signs = np.sign(np.sum(a * b, axis=1))
    return b * signs[:, None]


def spread(n, d, rng, top=5.0, bottom=0.2):
    """Gaussian data with well separated variances along random orthogonal axes."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (rng.normal(size=(n, d)) * np.geomspace(top, bottom, d)) @ q.T + rng.normal(size=d)


# ----------------------------------------------------------------------------- vd.pca

@pytest.mark.parametrize("solver", ["auto", "covariance", "gram"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pca_matches_sklearn_on_random_data(solver, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 24)) * rng.uniform(0.5, 3.0, size=24) + 7.0
    p = vd.pca(X, n_components=6, solver=solver)
    ref = sk_pca(X, 6)
    # sklearn's svd_flip on components uses the same rule: largest |loading| positive
    np.testing.assert_allclose(p.components, ref.components_, atol=1e-8)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(p.explained_variance, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(p.coords, ref.transform(X), atol=1e-8)
    np.testing.assert_allclose(p.mean, X.mean(axis=0), atol=1e-12)


@pytest.mark.parametrize("solver", ["covariance", "gram"])
def test_pca_matches_sklearn_on_low_rank_data(solver):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3)) @ (rng.normal(size=(3, 40)) * [[4.0], [2.0], [1.0]]) + 1.5
    p = vd.pca(X, n_components=3, solver=solver)
    ref = sk_pca(X, 3)
    np.testing.assert_allclose(p.components, aligned(p.components, ref.components_), atol=1e-8)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               atol=1e-6, rtol=0)
    assert p.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("solver", ["covariance", "gram", "scratch"])
def test_pca_beyond_the_rank_completes_an_orthonormal_basis(solver):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 6))      # rank 2 (rank 2 after centring)
    if solver == "scratch":
        with warnings.catch_warnings():
            warnings.simplefilter("error")                    # converges: no warning
            p = vd.scratch.pca(X, n_components=5)
    else:
        p = vd.pca(X, n_components=5, solver=solver)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(5), atol=1e-8)
    np.testing.assert_allclose(p.explained_variance_ratio[2:], 0.0, atol=1e-10)
    assert np.isfinite(p.coords).all()


@pytest.mark.parametrize("solver", ["gram", "covariance", "randomized"])
def test_pca_completion_when_the_seed_drew_the_data(solver):
    """Data drawn from default_rng(0), fitted with random_state=0 (both defaults of
    countless notebooks): the gram solver's random completion rows were the data rows
    themselves, their residuals all the mean, and the completed basis was not
    orthonormal (|W Wᵀ - I| = 0.99; coordinates of 1.36 along components of variance
    0). Every solver now gives an orthonormal basis and zero coordinates there."""
    X = np.random.default_rng(0).normal(size=(4, 8))
    X[3] = X[1]                                            # rank 2 after centring
    p = vd.pca(X, n_components=4, solver=solver, random_state=0)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(p.coords[:, 2:], 0.0, atol=1e-12)
    np.testing.assert_allclose(p.explained_variance_ratio[2:], 0.0, atol=1e-12)


def test_pca_randomized_solver_on_a_clear_spectrum():
    rng = np.random.default_rng(5)
    X = spread(400, 60, rng, top=20.0, bottom=0.01)
    p = vd.pca(X, n_components=3, solver="randomized")
    ref = sk_pca(X, 3)
    np.testing.assert_allclose(np.abs(np.sum(p.components * ref.components_, axis=1)), 1.0,
                               atol=1e-6)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-6)


def test_pca_sign_rule_and_determinism():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(100, 10))
    a = vd.pca(X, n_components=4)
    b = vd.pca(X[rng.permutation(100)], n_components=4)      # same data, other row order
    top = np.abs(a.components).argmax(axis=1)
    assert (a.components[np.arange(4), top] > 0).all()
    np.testing.assert_allclose(a.components, b.components, atol=1e-10)
    # negating the data negates the coordinates but not the (sign-fixed) components
    c = vd.pca(-X, n_components=4)
    np.testing.assert_allclose(c.components, a.components, atol=1e-10)
    np.testing.assert_allclose(c.coords, -a.coords, atol=1e-10)


def test_pca_float32_stays_float32_and_is_accurate():
    rng = np.random.default_rng(7)
    X = spread(2000, 32, rng).astype(np.float32)
    p = vd.pca(X, n_components=3)
    assert p.coords.dtype == np.float32
    ref = sk_pca(X.astype(np.float64), 3)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(p.components, ref.components_, atol=1e-4)


@pytest.mark.parametrize("offset", [0.0, 0.5, 50.0])
@pytest.mark.parametrize("order", ["C", "F"])
def test_pca_raw_and_shifted_passes_agree_with_sklearn(offset, order):
    """Small means take the raw XᵀX pass, large ones (or F-ordered input) the shifted one."""
    rng = np.random.default_rng(19)
    X = np.asarray(rng.normal(size=(3000, 10)) * np.linspace(2, 0.5, 10) + offset, order=order)
    p = vd.pca(X, n_components=4)
    ref = sk_pca(X, 4)
    np.testing.assert_allclose(p.components, ref.components_, atol=1e-9)
    np.testing.assert_allclose(p.explained_variance, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(p.coords, ref.transform(X), atol=1e-9)


@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_pca_streams_a_memmap_in_blocks(offset, tmp_path, monkeypatch):
    """Tiny block sizes force many blocks (raw and shifted passes) over a memmap."""
    from vecdiag.projection import _pca

    monkeypatch.setattr(_pca, "_BLOCK_BYTES", 8 * 37 * 8)          # 37 rows per block
    monkeypatch.setattr(_pca, "_MEMMAP_BLOCK_BYTES", 8 * 53 * 8)   # 53 rows per block
    X = np.random.default_rng(22).normal(size=(1000, 8)) * np.linspace(3, 1, 8) + offset
    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    p = vd.pca(M, n_components=3)
    ref = sk_pca(X, 3)
    np.testing.assert_allclose(p.components, ref.components_, atol=1e-9)
    np.testing.assert_allclose(p.explained_variance, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(p.coords, ref.transform(X), atol=1e-9)


def test_pca_large_offset_does_not_cancel():
    """A mean 10^4 times the spread: the uncentred XᵀX - nμμᵀ would lose every digit in
    float32; the shifted one-pass covariance keeps them."""
    rng = np.random.default_rng(8)
    base = spread(3000, 16, rng, top=1.0, bottom=0.3)
    X = (base + 1e4).astype(np.float32)
    exact = X.astype(np.float64)
    p = vd.pca(X, n_components=2)
    ref = sk_pca(exact, 2)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               atol=1e-4)
    np.testing.assert_allclose(p.components, ref.components_, atol=1e-3)
    np.testing.assert_allclose(p.coords, ref.transform(exact), atol=1e-2)


@pytest.mark.parametrize("offset", [1e6, 1e8])
def test_pca_randomized_solver_far_from_the_origin(offset):
    """float32 rows 1e8 + a spread of a few units: the randomized solver's X Q - μ·Q
    cancelled every digit (explained-variance ratios of 1.2e5, components off by 0.9);
    shifted by the mean it agrees with scikit-learn on the same (rounded) data."""
    rng = np.random.default_rng(8)
    X = (spread(300, 8, rng, top=4.0, bottom=1.0) + offset).astype(np.float32)
    exact = X.astype(np.float64)
    p = vd.pca(X, n_components=2, solver="randomized")
    ref = sk_pca(exact, 2)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-4)
    np.testing.assert_allclose(p.explained_variance, ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(p.components, aligned(p.components, ref.components_),
                               atol=1e-3)


@pytest.mark.parametrize("solver", ["covariance", "gram", "randomized"])
def test_pca_of_huge_values_far_out_warns_nothing(solver):
    """Rows 1e158 from the origin with a spread of 1e150 (squares still finite): the
    test "is the mean long next to the spread" computed ‖μ‖² = inf and every solver
    emitted 'RuntimeWarning: overflow encountered in matmul' for a correct result; the
    decision (far: centre first) is the same, without the warning."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(50, 4)) * [4.0, 3.0, 2.0, 1.0] + 1e8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = vd.pca(base * 1e150, n_components=2, solver=solver)
        np.testing.assert_allclose(p.transform(base[:3] * 1e150), p.coords[:3], rtol=1e-6)
    np.testing.assert_allclose(p.explained_variance_ratio,
                               sk_pca(base, 2).explained_variance_ratio_, rtol=1e-9)
    assert p.params["center_blocks"] is True


@given(arrays(np.float64, st.tuples(st.integers(3, 25), st.integers(2, 8)),
              elements=st.floats(-100, 100, allow_nan=False, width=32)))
def test_pca_properties(X):
    """Orthonormal components, sorted variances, coordinates carrying those variances."""
    if np.ptp(X, axis=0).max() < 1e-3:
        return  # (near-)constant: refused, tested below
    c = min(X.shape)
    p = vd.pca(X, n_components=c)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(c), atol=1e-7)
    assert np.all(np.diff(p.explained_variance) <= 1e-9 * max(1.0, p.explained_variance[0]))
    assert p.explained_variance_ratio.sum() <= 1 + 1e-9
    np.testing.assert_allclose(p.coords.var(axis=0, ddof=1), p.explained_variance,
                               atol=1e-6 * max(1.0, p.explained_variance[0]))



@given(arrays(np.float64, st.tuples(st.integers(2, 12), st.integers(1, 5)),
              elements=st.floats(-100, 100, allow_nan=False, width=32)))
def test_property_scratch_pca_equals_fast_pca_and_sklearn(X):
    """scratch.pca (power iteration), vd.pca (eigh of the covariance) and scikit-learn
    (SVD of the centred data) on any small matrix, d = 1 and n = 2 included: the same
    variances and ratios, and the same components (sign rule included) wherever the
    eigenvalue is separated from its neighbours, so that the direction is defined."""
    if np.ptp(X, axis=0).max() < 1e-3:
        return  # (near-)constant: refused, tested in test_bad_input
    c = min(X.shape)
    ref = sk_pca(X, c)
    fast = vd.pca(X, n_components=c)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        slow = vd.scratch.pca(X, n_components=c)
    top = ref.explained_variance_[0]
    for p in (fast, slow):
        np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                                   atol=1e-7)
        np.testing.assert_allclose(p.explained_variance, ref.explained_variance_,
                                   atol=1e-7 * top)
        np.testing.assert_allclose(p.mean, X.mean(axis=0), atol=1e-9)
    values = np.r_[np.inf, ref.explained_variance_, -np.inf]
    gap = np.minimum(values[:-2] - values[1:-1], values[1:-1] - values[2:])
    distinct = (gap > 1e-3 * top) & (ref.explained_variance_ > 1e-6 * top)
    np.testing.assert_allclose(fast.components[distinct],
                               aligned(fast.components[distinct], ref.components_[distinct]),
                               atol=1e-6)
    # the sign rule (largest |loading| positive) decides where that loading stands out
    loadings = np.sort(np.abs(ref.components_), axis=1)
    signed = distinct & (loadings[:, -1] - (loadings[:, -2] if c > 1 and X.shape[1] > 1
                                            else 0.0) > 1e-6)
    np.testing.assert_allclose(fast.components[signed], ref.components_[signed], atol=1e-6)
    if not caught:                 # a power iteration that converged: same directions, signs
        np.testing.assert_allclose(slow.components[signed], fast.components[signed],
                                   atol=1e-6)
        np.testing.assert_allclose(slow.components[distinct],
                                   aligned(slow.components[distinct], fast.components[distinct]),
                                   atol=1e-6)


def test_transform_of_fitted_data_returns_coords():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(50, 7))
    p = vd.pca(X, n_components=3)
    assert np.array_equal(p.transform(X), p.coords)
    np.testing.assert_allclose(p.transform(X[4]), p.coords[4], rtol=1e-14, atol=1e-14)
    assert p.transform(X[4]).shape == (3,)
    q = rng.normal(size=(2, 7))
    np.testing.assert_allclose(p.transform(q), sk_pca(X, 3).transform(q), atol=1e-10)
    with pytest.raises(ValueError, match="dimension mismatch.*fitted on dimension 7"):
        p.transform(np.ones((2, 5)))


def test_project_dispatches():
    X = np.random.default_rng(10).normal(size=(20, 4))
    np.testing.assert_array_equal(vd.project(X, "pca", n_components=2).coords,
                                  vd.pca(X, 2).coords)
    with pytest.raises(ValueError, match="method must be one of 'pca', 'umap'"):
        vd.project(X, method="tsne")


@pytest.mark.parametrize("X", [
    np.outer([1, -1, -1, 2, 1, -2, -1, 0, 1, -2, 1], [1.0, -1.0, 1.0]),
    np.outer([3, 0, -2, -2, 1, 0, 1, 0], [1.0, -1.0, 1.0, 1.0]),
    np.array([[3, 3, -3, -1], [0, 0, 0, 0], [-1, -1, 1, 1], [-2, -2, 2, 0], [-3, -3, 3, 0],
              [1, 1, -1, 1]], dtype=float),
], ids=["negated column", "four tied loadings", "three tied of four"])
def test_pca_sign_rule_with_loadings_tied_in_size(X):
    """A column and its copy or negation give loadings equal in size, which the solvers
    compute different in the last bit: 'the largest |loading|' was decided by rounding,
    and vd.pca's covariance and Gram solvers and scratch.pca returned opposite signs for
    the same data (the docstring promises no flips between solvers). The first of the
    tied loadings now decides, so every solver agrees, and the direction is
    scikit-learn's up to sign."""
    from sklearn.decomposition import PCA

    fits = {solver: vd.pca(X, n_components=1, solver=solver).components[0]
            for solver in ("covariance", "gram", "randomized")}
    fits["scratch"] = vd.scratch.pca(X, n_components=1).components[0]
    ref = PCA(n_components=1, svd_solver="full").fit(X).components_[0]
    size = np.abs(ref)
    first_tied = int(np.flatnonzero(size > size.max() * (1 - 1e-6))[0])
    expected = ref * np.sign(ref[first_tied])          # that loading made positive
    for name, w in fits.items():
        np.testing.assert_allclose(w, expected, atol=1e-9, err_msg=name)


# ----------------------------------------------------------------------------- scratch

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scratch_pca_agrees_with_fast_pca(seed):
    rng = np.random.default_rng(seed)
    X = spread(40, 6, rng)
    fast, slow = vd.pca(X, n_components=4), vd.scratch.pca(X, n_components=4)
    np.testing.assert_allclose(slow.components, fast.components, atol=1e-8)
    np.testing.assert_allclose(slow.explained_variance_ratio, fast.explained_variance_ratio,
                               atol=1e-10)
    np.testing.assert_allclose(slow.coords, fast.coords, atol=1e-7)
    np.testing.assert_allclose(slow.mean, fast.mean, atol=1e-12)


def test_scratch_pca_hand_example():
    """Points on the line y = 2x: (0,0), (1,2), (2,4), (3,6).

    Mean (1.5, 3). Centred: t·(1, 2) with t = -1.5, -0.5, 0.5, 1.5. Covariance
    (Σt² = 5, over n-1 = 3): (5/3)·[[1, 2], [2, 4]], eigenvalues 25/3 and 0, top
    eigenvector (1, 2)/√5. So PC1 explains 100%, coordinates t·√5 = ±3.3541, ±1.1180.
    """
    for fn in (vd.scratch.pca, vd.pca):
        p = fn([[0, 0], [1, 2], [2, 4], [3, 6]], n_components=2)
        np.testing.assert_allclose(p.explained_variance_ratio, [1.0, 0.0], atol=1e-12)
        np.testing.assert_allclose(p.explained_variance[0], 25 / 3, rtol=1e-12)
        np.testing.assert_allclose(p.components[0], np.array([1, 2]) / np.sqrt(5), atol=1e-12)
        np.testing.assert_allclose(p.coords[:, 0], np.array([-1.5, -0.5, 0.5, 1.5]) * np.sqrt(5),
                                   atol=1e-12)
        assert p.axis_labels()[0] == "PC1 (100.0%)"


def test_scratch_pca_warns_when_it_cannot_converge():
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.warns(RuntimeWarning, match="did not converge"):
        vd.scratch.pca(X, n_components=1, max_iter=2)


def test_scratch_pca_takes_the_seeds_vd_pca_takes():
    """random_state as vd.pca takes it: np.int64(7) seeded as 7 (it was silently 0, as was
    "0", 1.5, True or a Generator); None is seed 0; a Generator or RandomState gives one
    seed; anything else is a TypeError naming random_state, a negative int a ValueError.
    The seed shows in the arbitrary directions of a zero-variance subspace: the rows vary
    along x only, so components 2 and 3 are any orthonormal pair of the y-z plane."""
    X = np.zeros((6, 3))
    X[:, 0] = np.arange(6.0)

    def fit(rs):
        return vd.scratch.pca(X, n_components=3, random_state=rs).components

    np.testing.assert_array_equal(fit(np.int64(7)), fit(7))
    np.testing.assert_array_equal(fit(None), fit(0))
    assert abs(fit(7)[1] @ fit(0)[1]) < 0.99                # another seed, another pair
    assert abs(fit(np.random.RandomState(3))[1] @ fit(0)[1]) < 0.99
    np.testing.assert_array_equal(fit(np.random.default_rng(3)),
                                  fit(np.random.default_rng(3)))
    for bad in ("0", 1.5, True, [1]):
        with pytest.raises(TypeError, match=r"random_state must be an int, None, a numpy "
                                            r"Generator or RandomState, got"):
            vd.scratch.pca(X, random_state=bad)
    with pytest.raises(ValueError, match=r"random_state must be a non-negative int seed"):
        vd.scratch.pca(X, random_state=-1)


def test_scratch_pca_refuses_identical_rows_as_vd_pca_does():
    """50 copies of one row: the mean (sum / n) is not exactly the row in floating point,
    and scratch.pca returned a component with variance 6e-31 where vd.pca says the data
    has no variance. Centred about the first row first, the deviations are exact zeros:
    the same ValueError. Far from the origin (1e6 + noise) it still equals numpy.cov's
    eigenvalues (float64, centred)."""
    same = [[0.1, 0.7, 1 / 3, -2.9]] * 50
    for fn in (vd.pca, vd.scratch.pca):
        with pytest.raises(ValueError, match=r"X has zero variance: all 50 rows are the same"):
            fn(same, n_components=1)
    X = 1e6 + np.random.default_rng(2).normal(scale=1e-2, size=(40, 4))
    ref = np.sort(np.linalg.eigvalsh(np.cov(X - X.mean(axis=0), rowvar=False)))[::-1]
    p = vd.scratch.pca(X, n_components=2)
    np.testing.assert_allclose(p.explained_variance, ref[:2], rtol=1e-6)
    np.testing.assert_allclose(p.mean, X.mean(axis=0), rtol=1e-15)


def test_scratch_pca_names_a_bad_max_iter_or_tol():
    """max_iter=1.5 failed inside range() with "'float' object cannot be interpreted as an
    integer", tol=None inside a comparison, naming neither; max_iter=0 (or -3) returned
    the random start directions and tol=-1 or nan ran every step to the limit, each
    behind a 'did not converge' warning. They are refused by name, as vd.pca's options."""
    X = np.random.default_rng(0).normal(size=(30, 4))
    for bad in (1.5, "10", True):
        with pytest.raises(TypeError, match=r"max_iter must be an integer"):
            vd.scratch.pca(X, max_iter=bad)
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"max_iter must be at least 1, got {bad}"):
            vd.scratch.pca(X, max_iter=bad)
    for bad in (None, "1e-9", -1.0, 0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"tol must be a positive finite number"):
            vd.scratch.pca(X, tol=bad)
    p = vd.scratch.pca(X, max_iter=np.int64(500), tol=np.float32(1e-9))   # NumPy numbers do
    np.testing.assert_allclose(p.explained_variance_ratio,
                               vd.pca(X).explained_variance_ratio, atol=1e-8)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("fn", [vd.pca, vd.scratch.pca])
def test_bad_input(fn, with_nan_rows):
    with pytest.raises(ValueError, match=r"n_components=5 is larger than min\(n_samples, "
                                         r"n_features\) = min\(10, 4\) = 4"):
        fn(np.random.default_rng(0).normal(size=(10, 4)), n_components=5)
    with pytest.raises(ValueError, match="at least 2 vectors"):
        fn([[1.0, 2.0, 3.0]], n_components=1)
    with pytest.raises(ValueError, match="zero variance: all 6 rows are the same vector"):
        fn(np.tile([1.0, 2.0, 3.0], (6, 1)), n_components=2)
    with pytest.raises(ValueError, match=r"X has 3 rows \(17, 42, 99\) with NaN or inf"):
        fn(with_nan_rows, n_components=2)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        fn(np.eye(3), n_components=0)
    with pytest.raises(TypeError, match="n_components must be an integer"):
        fn(np.eye(3), n_components=1.5)


@pytest.mark.parametrize("solver", ["covariance", "gram", "randomized"])
def test_nan_rows_are_named_by_every_solver(solver, with_nan_rows):
    with pytest.raises(ValueError, match=r"X has 3 rows \(17, 42, 99\) with NaN or inf"):
        vd.pca(with_nan_rows.astype(np.float32), n_components=2, solver=solver)


def test_pca_float32_squares_that_overflow_are_redone_in_float64():
    rng = np.random.default_rng(23)
    X = rng.normal(size=(200, 5)) * 3e19                  # squares beyond float32's 3.4e38
    p = vd.pca(X.astype(np.float32), n_components=2)
    ref = sk_pca(X.astype(np.float32).astype(np.float64), 2)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="squares overflow even in float64"):
        vd.pca(np.array([[1e200, 0.0], [-1e200, 1.0], [0.0, 2.0]]), n_components=1)


def test_bad_solver():
    with pytest.raises(ValueError, match="solver must be one of"):
        vd.pca(np.eye(3), 2, solver="arpack")


def test_import_vecdiag_projection_stays_light():
    code = ("import sys, vecdiag, vecdiag.projection; vecdiag.pca; "
            "print([m for m in ('sklearn', 'scipy', 'matplotlib', 'umap', 'pandas', "
            "'plotly') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


# ----------------------------------------------------------------------------- faithfulness

def test_identity_projection_is_perfectly_faithful():
    X = np.random.default_rng(11).normal(size=(120, 6))
    f = vd.pca(X, n_components=6).faithfulness(k=10)
    assert isinstance(f, Faithfulness)
    np.testing.assert_array_equal(f.overlap, 1.0)
    assert f.trustworthiness == pytest.approx(1.0, abs=1e-12)


def test_shuffled_map_scores_at_chance():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(600, 8))
    good = vd.pca(X, n_components=2)
    shuffled = Projection(coords=good.coords[rng.permutation(600)], method="pca", data=X)
    k = 10
    f = shuffled.faithfulness(k=k)
    chance = k / 599
    assert f.chance == pytest.approx(chance)
    # each overlap is ~Binomial(k, chance)/k: the mean of 600 has sd ~ sqrt(chance/(600 k))
    assert abs(f.mean_overlap - chance) < 5 * np.sqrt(chance / (600 * k))
    assert f.trustworthiness < 0.6 < good.faithfulness(k).trustworthiness


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_trustworthiness_matches_sklearn(metric):
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(13)
    X = spread(250, 12, rng, top=3.0, bottom=0.5)
    p = vd.pca(X, n_components=2)
    for k in (1, 5, 12):
        f = p.faithfulness(k=k, metric=metric)
        ref = trustworthiness(X, p.coords, n_neighbors=k, metric=metric)
        assert f.trustworthiness == pytest.approx(ref, abs=1e-12)


def test_overlap_matches_brute_force():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(14)
    X = rng.normal(size=(80, 5)).astype(np.float32)
    p = vd.pca(X, n_components=2)
    f = p.faithfulness(k=7, metric="cosine")
    dx = cdist(X.astype(np.float64), X.astype(np.float64), "cosine")
    dy = cdist(p.coords.astype(np.float64), p.coords.astype(np.float64))
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    nx, ny = np.argsort(dx, axis=1)[:, :7], np.argsort(dy, axis=1)[:, :7]
    expected = [len(set(a) & set(b)) / 7 for a, b in zip(nx, ny)]
    np.testing.assert_allclose(f.overlap, expected)
    assert p.faithfulness(k=7, metric="cosine") is f          # cached
    frame = f.to_frame()
    assert list(frame.columns) == ["point", "overlap"] and len(frame) == 80
    assert "trustworthiness" in f._repr_html_()
    assert f.worst(3).tolist() == np.argsort(f.overlap, kind="stable")[:3].tolist()
    assert f.worst(0).tolist() == []
    with pytest.raises(ValueError, match="n"):
        f.worst(-1)          # was every point but the last (a slice [:-1])


def test_faithfulness_with_ties_follows_the_lower_index_rule():
    """Integer data full of exact ties: brute force with a stable sort (ties by lower
    index) on exact distances gives the same overlaps and trustworthiness."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(21)
    X = rng.integers(0, 3, size=(70, 4)).astype(np.float64)
    Y = rng.integers(0, 4, size=(70, 2)).astype(np.float64)
    n, k = 70, 6
    f = Projection(coords=Y, method="pca", data=X).faithfulness(k=k)

    def order(D):
        np.fill_diagonal(D, np.inf)
        return np.argsort(D, axis=1, kind="stable")

    ox, oy = order(cdist(X, X, "sqeuclidean")), order(cdist(Y, Y, "sqeuclidean"))
    rank = np.empty_like(ox)
    rank[np.arange(n)[:, None], ox] = np.arange(1, n + 1)
    penalty = sum(rank[i, j] - k for i in range(n) for j in oy[i, :k] if j not in ox[i, :k])
    expected = 1 - 2 / (n * k * (2 * n - 3 * k - 1)) * penalty
    overlap = [len(set(ox[i, :k]) & set(oy[i, :k])) / k for i in range(n)]
    np.testing.assert_allclose(f.overlap, overlap)
    assert f.trustworthiness == pytest.approx(expected, abs=1e-12)




@given(st.integers(7, 30).flatmap(lambda n: st.tuples(
    arrays(np.int64, st.tuples(st.just(n), st.integers(1, 4)), elements=st.integers(-2, 2)),
    arrays(np.int64, (n, 2), elements=st.integers(-2, 2)),
    st.integers(1, (n - 1) // 2), st.integers(1, n))))
def test_property_faithfulness_equals_brute_force_with_ties(case):
    """Small-integer points, full of exact ties, in the original space and on the map:
    overlap and trustworthiness equal brute force on exact squared distances with ties by
    lower index (scipy's cdist, stable sorts), and a sample's overlaps are the full ones
    at its points."""
    from scipy.spatial.distance import cdist

    X, Y, k, m = case
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    n = X.shape[0]

    def order(A):
        D = cdist(A, A, "sqeuclidean")
        np.fill_diagonal(D, np.inf)
        return np.argsort(D, axis=1, kind="stable")

    ox, oy = order(X), order(Y)
    rank = np.empty_like(ox)
    rank[np.arange(n)[:, None], ox] = np.arange(1, n + 1)
    penalty = sum(rank[i, j] - k for i in range(n) for j in oy[i, :k] if j not in ox[i, :k])
    full = faithfulness(X, Y, k)
    np.testing.assert_allclose(full.overlap, [len(set(ox[i, :k]) & set(oy[i, :k])) / k
                                              for i in range(n)])
    assert full.trustworthiness == pytest.approx(
        1 - 2 / (n * k * (2 * n - 3 * k - 1)) * penalty, abs=1e-12)
    part = faithfulness(X, Y, k, sample=m, random_state=m)
    points = np.arange(n) if part.points is None else part.points
    np.testing.assert_array_equal(part.overlap, full.overlap[points])



def test_faithfulness_of_a_map_built_by_hand_with_integer_or_list_data():
    """A Projection wrapping a map made elsewhere may hold integer vectors or lists:
    integer data failed with 'OverflowError: cannot convert float infinity to integer'
    (the rank pass writes -inf into the scores), a list with "'list' object has no
    attribute 'shape'". Both now give the figures of the same data as floats, which
    brute force on exact squared distances confirms; a map with another number of points
    than vectors is refused by name."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    X = rng.integers(-3, 4, size=(30, 4))
    Y = rng.normal(size=(30, 2))
    n, k = 30, 5
    ox = np.argsort(np.where(np.eye(n, dtype=bool), np.inf, cdist(X, X, "sqeuclidean")),
                    axis=1, kind="stable")
    oy = np.argsort(np.where(np.eye(n, dtype=bool), np.inf, cdist(Y, Y, "sqeuclidean")),
                    axis=1, kind="stable")
    rank = np.empty_like(ox)
    rank[np.arange(n)[:, None], ox] = np.arange(1, n + 1)
    penalty = sum(rank[i, j] - k for i in range(n) for j in oy[i, :k] if j not in ox[i, :k])
    expected = 1 - 2 / (n * k * (2 * n - 3 * k - 1)) * penalty
    for data, coords in ((X, Y), (X.tolist(), Y.tolist()), (X.astype(np.int8), Y)):
        f = Projection(coords=coords, method="t-sne", data=data).faithfulness(k=k)
        assert f.trustworthiness == pytest.approx(expected, abs=1e-12)
        np.testing.assert_allclose(f.overlap, [len(set(ox[i, :k]) & set(oy[i, :k])) / k
                                               for i in range(n)])
    with pytest.raises(ValueError, match="data has 30 vectors but coords has 29 points"):
        faithfulness(X, Y[:29], k)


def test_a_map_built_by_hand_from_lists_plots_and_shows():
    """Projection(coords=<list>, data=<list>) (a map made elsewhere, e.g. t-SNE output
    saved as JSON): faithfulness worked but plot, to_frame, n_components, the display
    and transform failed with "'list' object has no attribute 'shape'". The lists are
    now read as arrays when the Projection is built; the picture holds the points."""
    coords = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.5], [-1.0, 0.5], [3.0, -2.0]]
    data = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]]
    p = Projection(coords=coords, method="t-sne", data=data)
    assert p.n_components == 2
    frame = p.to_frame()
    assert list(frame.columns) == ["T-SNE1", "T-SNE2"]
    np.testing.assert_array_equal(frame.to_numpy(), coords)
    ax = p.plot()
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), coords)
    assert ax.get_xlabel() == "T-SNE 1"
    assert "5 points on a 2-D T-SNE map" in p._repr_html_()
    np.testing.assert_array_equal(p.transform(data), coords)
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("offset, dtype", [(1e8, np.float64), (-3e7, np.float64),
                                           (1e4, np.float32)])
def test_trustworthiness_of_data_far_from_the_origin(offset, dtype):
    """Points 1e8 from the origin with a spread of 1: the ranks behind trustworthiness
    came from 2 x·y - |x|² - |y|², which cancels every digit there (0.70 instead of 0.78;
    sklearn.manifold.trustworthiness, built the same way, is off too). Distances do not
    change when every point moves by the same vector: brute force on the differences
    themselves (scipy's cdist), ties by lower index, is the reference, at any offset."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(5)
    base = rng.normal(size=(150, 6))
    Y = vd.pca(base, n_components=2).coords
    X = (base + offset).astype(dtype)
    n, k = 150, 10
    f = Projection(coords=Y, method="pca", data=X).faithfulness(k=k)

    def order(D):
        np.fill_diagonal(D, np.inf)
        return np.argsort(D, axis=1, kind="stable")

    ox, oy = order(cdist(X.astype(np.float64), X.astype(np.float64))), order(cdist(Y, Y))
    rank = np.empty_like(ox)
    rank[np.arange(n)[:, None], ox] = np.arange(1, n + 1)
    penalty = sum(rank[i, j] - k for i in range(n) for j in oy[i, :k] if j not in ox[i, :k])
    expected = 1 - 2 / (n * k * (2 * n - 3 * k - 1)) * penalty
    np.testing.assert_allclose(f.overlap, [len(set(ox[i, :k]) & set(oy[i, :k])) / k
                                           for i in range(n)])
    assert f.trustworthiness == pytest.approx(expected, abs=1e-12)


def test_faithfulness_of_float32_near_1e20_or_1e_minus_20_is_that_of_the_data_scaled():
    """float32 vectors near 1e20 (squares overflow) or 1e-20 (squares underflow) were
    refused by Projection.faithfulness ("vectors too long for euclidean scores in
    float32"), though vd.diagnose computes the same data by dividing it by one power of two
    (exact). Scaled the same way now: the overlaps and trustworthiness of data times 2**±67
    are those of the data itself: scikit-learn's trustworthiness(X, coords, n_neighbors=4)
    in float64 gives 0.7936170212765957 (metric="cosine": 0.7531914893617021), pinned here
    since importing scikit-learn takes longer than this test."""
    X = np.random.default_rng(3).normal(size=(30, 5)).astype(np.float32)
    proj = vd.pca(X)
    plain = {m: proj.faithfulness(k=4, metric=m) for m in ("euclidean", "cosine")}
    assert plain["euclidean"].trustworthiness == pytest.approx(0.7936170212765957, abs=1e-12)
    assert plain["cosine"].trustworthiness == pytest.approx(0.7531914893617021, abs=1e-12)
    for power in (67, -67):
        scale = np.float32(2.0 ** power)
        far = Projection(coords=proj.coords * scale, method="pca", data=X * scale)
        for metric, expected in plain.items():
            got = far.faithfulness(k=4, metric=metric)
            np.testing.assert_array_equal(got.overlap, expected.overlap)
            assert got.trustworthiness == expected.trustworthiness
    assert X.dtype == np.float32 and proj.coords.dtype == np.float32   # inputs not touched


def test_faithfulness_on_a_sample():
    rng = np.random.default_rng(20)
    X = spread(400, 10, rng, top=3.0, bottom=0.5)
    X[7] = X[3]                                           # an exact duplicate pair
    p = vd.pca(X, n_components=2)
    full = p.faithfulness(k=8, metric="cosine")
    part = p.faithfulness(k=8, metric="cosine", sample=150, random_state=1)
    assert part.points.shape == (150,) and np.all(np.diff(part.points) > 0)
    np.testing.assert_array_equal(part.overlap, full.overlap[part.points])
    assert part.trustworthiness == pytest.approx(full.trustworthiness, abs=0.02)
    assert set(part.worst(5)) <= set(part.points.tolist())
    assert p.faithfulness(k=8, metric="cosine", sample=1000).points is None   # >= n: all


@pytest.mark.parametrize("lazy_coords", [False, True])
def test_faithfulness_of_a_pca_of_a_dask_array(monkeypatch, lazy_coords):
    # vd.pca takes a Dask array and keeps it as the fitted data; faithfulness (and the
    # plot coloured by it) failed inside Dask's fancy indexing
    da = pytest.importorskip("dask.array")
    from scipy.spatial.distance import cdist
    from sklearn.manifold import trustworthiness

    from vecdiag.projection import result

    if lazy_coords:                            # coords too large to compute: lazy as well
        monkeypatch.setattr(result, "COORDS_IN_MEMORY", 10)
    X = np.random.default_rng(22).normal(size=(120, 6)) * [4, 3, 2, 1, 1, 1]
    p = vd.pca(da.from_array(X, chunks=(50, 6)), n_components=2)
    coords = np.asarray(p.coords)              # computes lazy coords
    k = 5
    for metric in ("euclidean", "cosine"):
        f = p.faithfulness(k, metric=metric)
        assert f.trustworthiness == pytest.approx(
            trustworthiness(X, coords, n_neighbors=k, metric=metric), abs=1e-12)
        far = cdist(X, X, metric if metric == "cosine" else "sqeuclidean")
        on_map = cdist(coords, coords, "sqeuclidean")
        np.fill_diagonal(far, np.inf)
        np.fill_diagonal(on_map, np.inf)
        true_nn, map_nn = np.argsort(far, axis=1)[:, :k], np.argsort(on_map, axis=1)[:, :k]
        np.testing.assert_allclose(
            f.overlap, [len(set(a) & set(b)) / k for a, b in zip(true_nn, map_nn)])
    part = p.faithfulness(k, sample=30)
    np.testing.assert_array_equal(part.overlap, p.faithfulness(k).overlap[part.points])
    ax = p.plot(color_by="faithfulness", k=k)
    np.testing.assert_allclose(ax.collections[0].get_array(), p.faithfulness(k).overlap)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_faithfulness_samples_from_a_generator_are_fresh_draws():
    # A Generator hands out a new sample on every call (the scikit-learn convention),
    # so repeated estimates vary; it used to be cached by the Generator object and the
    # same sample came back.
    X = np.random.default_rng(21).normal(size=(300, 6))
    p = vd.pca(X, n_components=2)
    full = p.faithfulness(k=5)
    gen = np.random.default_rng(3)
    first = p.faithfulness(k=5, sample=40, random_state=gen)
    second = p.faithfulness(k=5, sample=40, random_state=gen)
    assert not np.array_equal(first.points, second.points)
    for part in (first, second):
        np.testing.assert_array_equal(part.overlap, full.overlap[part.points])
    # a seed still gives the same sample, computed once
    assert p.faithfulness(k=5, sample=40, random_state=3) is \
        p.faithfulness(k=5, sample=40, random_state=3)


def test_faithfulness_bad_k():
    p = vd.pca(np.random.default_rng(15).normal(size=(20, 3)), 2)
    with pytest.raises(ValueError, match=r"k=10 is too large for trustworthiness on 20 "
                                         r"points: it needs k < n/2; use k <= 9"):
        p.faithfulness(k=10)
    # k past n - 1 was told "use k <= 19" (check_k's bound), then refused again for k=19;
    # two points were told "use k <= 0"
    with pytest.raises(ValueError, match=r"k=25 is too large for trustworthiness on 20 "
                                         r"points: it needs k < n/2; use k <= 9"):
        faithfulness(p.data, p.coords, 25)
    with pytest.raises(ValueError, match=r"faithfulness needs at least 3 points "
                                         r"\(trustworthiness asks for 1 <= k < n/2\), but "
                                         r"the map has 2"):
        vd.pca([[0.0, 1.0], [2.0, 0.5]], 1).faithfulness(k=1)
    assert vd.pca(p.data[:3], 1).faithfulness(k=1).k == 1       # 3 points: k=1 works
    with pytest.raises(ValueError, match="does not hold the fitted vectors"):
        Projection(coords=p.coords, method="pca").faithfulness(3)


def test_faithfulness_under_cosine_names_the_zero_rows_of_the_projected_vectors(
        with_zero_row):
    # a PCA of data with a zero row is fine; its cosine neighbours are not: the message
    # used to speak of a "corpus" the user never passed
    p = vd.pca(with_zero_row, 2)
    with pytest.raises(ValueError, match=r"projected vectors have zero vectors in 1 row "
                                         r"\(7\); use metric='euclidean'"):
        p.faithfulness(5, metric="cosine")
    assert p.faithfulness(5).overlap.shape == (len(with_zero_row),)


# ----------------------------------------------------------------------------- plots

@pytest.fixture
def topics():
    """Three well separated topics in 16-D, 60 points each, with texts."""
    rng = np.random.default_rng(16)
    centres = rng.normal(size=(3, 16)) * 4
    X = np.concatenate([c + rng.normal(size=(60, 16)) for c in centres])
    labels = np.repeat(["sport", "<b>music</b>", "science"], 60)
    texts = [f"doc {i} about {lab}" for i, lab in enumerate(labels)]
    return X, labels, texts


def test_plot_labels_legend_axes_and_highlight(topics):
    import matplotlib.pyplot as plt

    X, labels, texts = topics
    p = vd.pca(X, n_components=2)
    neighbors = vd.knn(X[5:6], X, k=4)
    ax = p.plot(labels=labels, highlight={"query": X[5] + 0.1, "neighbors": neighbors,
                                           "expected": [100, 150]})
    ratio = p.explained_variance_ratio
    assert ax.get_xlabel() == f"PC1 ({100 * ratio[0]:.1f}%)"
    assert ax.get_ylabel() == f"PC2 ({100 * ratio[1]:.1f}%)"
    assert ax.get_title().startswith("PCA map of 180 vectors")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "<b>music</b> (60)" in legend and "sport (60)" in legend
    assert {"query (1)", "neighbors (4)", "expected (2)"} <= set(legend)
    query = [c for c in ax.collections if c.get_label() == "query (1)"][0]
    np.testing.assert_allclose(query.get_offsets()[0], p.transform(X[5] + 0.1))
    assert query.get_zorder() > max(c.get_zorder() for c in ax.collections[:3])
    expected = [c for c in ax.collections if c.get_label() == "expected (2)"][0]
    np.testing.assert_allclose(expected.get_offsets(), p.coords[[100, 150]])
    plt.close("all")


def test_plot_color_by_faithfulness_and_values(topics):
    import matplotlib.pyplot as plt

    X, _, _ = topics
    p = vd.pca(X, n_components=2)
    ax = p.plot(color_by="faithfulness", k=5)
    f = p.faithfulness(5)
    np.testing.assert_allclose(ax.collections[0].get_array(), f.overlap)
    assert "trustworthiness" in ax.get_title()
    assert len(ax.figure.axes) == 2          # the colour bar
    ax2 = p.plot(color_by=np.arange(180.0), dims=(1, 0), title="mine")
    assert ax2.get_title() == "mine" and ax2.get_xlabel().startswith("PC2")
    assert f.plot().get_xlabel().startswith("share of each point's 5 nearest")
    cos = p.faithfulness(5, metric="cosine")
    ax3 = p.plot(color_by=cos)
    np.testing.assert_allclose(ax3.collections[0].get_array(), cos.overlap)
    with pytest.raises(ValueError, match="without sample="):
        p.plot(color_by=p.faithfulness(5, sample=20))
    plt.close("all")


def test_plot_bad_options(topics):
    X, labels, _ = topics
    p = vd.pca(X, n_components=2)
    with pytest.raises(ValueError, match=r"labels must have one entry per point \(180\)"):
        p.plot(labels=labels[:10])
    with pytest.raises(ValueError, match=r"outside 0\.\.179"):
        p.plot(highlight={"expected": [3, 500]})
    with pytest.raises(ValueError, match="color_by must be one of"):
        p.plot(color_by="rainbow")
    with pytest.raises(ValueError, match="dims must be two map dimensions"):
        p.plot(dims=(0, 2))


def test_plot_color_by_text_is_refused_by_name():
    """color_by=<one topic name per point> failed with "could not convert string to
    float: np.str_('a')", naming nothing; it is now refused by name, pointing to labels=
    (numbers are still drawn as given, on a colour bar)."""
    import matplotlib.pyplot as plt

    X = np.random.default_rng(5).normal(size=(6, 3))
    p = vd.pca(X, n_components=2)
    with pytest.raises(TypeError, match=r"color_by must hold one number per point .*got "
                                        r"text \(dtype <U5\); pass categories such as "
                                        r"topics as labels= instead"):
        p.plot(color_by=["sport", "news", "sport", "arts", "news", "arts"])
    ax = p.plot(color_by=[3, 1, 4, 1, 5, 9])
    np.testing.assert_array_equal(ax.collections[0].get_array(), [3, 1, 4, 1, 5, 9])
    plt.close("all")


def test_plot_dims_must_be_integers():
    """dims=(0.5, 1) drew dimensions (0, 1) and dims="12" drew (1, 2): int() read any
    number or digit silently; both are now refused by name. Integer dims of any kind
    (tuple, list, NumPy array) pick the axes drawn."""
    import matplotlib.pyplot as plt

    p = vd.pca(np.random.default_rng(5).normal(size=(10, 4)), n_components=3)
    for bad in [(0.5, 1), "12", (True, 0), 1]:
        with pytest.raises(TypeError, match=r"dims must be two integers, the map "
                                            r"dimensions to draw \(in 0\.\.2\)"):
            p.plot(dims=bad)
    ax = p.plot(dims=np.array([2, 0]))
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), p.coords[:, [2, 0]])
    assert ax.get_xlabel().startswith("PC3 (") and ax.get_ylabel().startswith("PC1 (")
    plt.close("all")


def test_plot_names_highlight_vectors_in_its_errors():
    """A highlighted query of the wrong dimension or with NaN was refused in the words of
    transform ("Y has dimension 3 ...", "Y has 1 non-finite values"), an argument the
    caller of plot never wrote; the errors now name the highlight entry."""
    X = np.random.default_rng(5).normal(size=(12, 4))
    p = vd.pca(X, n_components=2)
    with pytest.raises(ValueError, match=r"dimension mismatch: highlight\['query'\] holds "
                                         r"vectors of dimension 3 but the projection was "
                                         r"fitted on dimension 4"):
        p.plot(highlight={"query": [0.5, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"^highlight\['query'\] has 1 row \(1\) with NaN"):
        p.plot(highlight={"query": [[1.0, 2.0, 3.0, 4.0], [np.nan, 0.0, 0.0, 0.0]]})
    with pytest.raises(ValueError, match=r"highlight\['highlighted'\] holds vectors of "
                                         r"dimension 2 .* or row positions as integers"):
        p.plot(highlight=[1.0, 2.0])


@pytest.mark.parametrize("n_components, k", [(2, 1), (2, 5), (2, 10), (3, 7)])
def test_faithfulness_histogram_has_one_bar_per_overlap_value(n_components, k):
    # bins used to be spaced 1/(k+1) instead of 1/k: points drifted into the wrong bars
    # and an overlap of 1 (every neighbour kept: the whole of a rotation) fell outside
    import matplotlib.pyplot as plt

    X = np.random.default_rng(23).normal(size=(60, 3))
    f = vd.pca(X, n_components).faithfulness(k)
    ax = f.plot()
    bars = ax.patches
    assert len(bars) == k + 1
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    np.testing.assert_allclose(centres, np.arange(k + 1) / k, atol=1e-12)
    shared = np.rint(f.overlap * k).astype(int)              # neighbours kept, 0..k
    np.testing.assert_array_equal([b.get_height() for b in bars],
                                  np.bincount(shared, minlength=k + 1))
    plt.close("all")


def test_plot_numeric_labels_with_gaps_draws_every_point(topics):
    # many distinct numbers: a colour bar; rows whose label is missing (NaN) used to get
    # the colour map's transparent "bad" colour and vanish from the picture
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from vecdiag.plot.projection import point_style

    X, _, _ = topics
    p = vd.pca(X, n_components=2)
    labels = np.linspace(0.0, 1.0, len(X))
    gaps = np.arange(0, len(X), 9)
    labels[gaps] = np.nan
    ax = p.plot(labels=labels)
    ax.figure.canvas.draw()
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets(), p.coords)
    colours = points.get_facecolors()
    assert colours.shape == (len(X), 4)
    np.testing.assert_allclose(colours[:, 3], colours[0, 3])     # all equally visible
    assert colours[0, 3] == pytest.approx(point_style(len(X))["alpha"])
    kept = np.setdiff1d(np.arange(len(X)), gaps)
    expected = colormaps["viridis"](Normalize(labels[kept].min(), labels[kept].max())(
        labels[kept]))
    np.testing.assert_allclose(colours[kept, :3], expected[:, :3], atol=1e-6)
    grey = colours[gaps[0], :3]
    np.testing.assert_allclose(colours[gaps, :3], np.tile(grey, (gaps.size, 1)))
    assert np.abs(expected[:, :3] - grey).sum(axis=1).min() > 0.05   # not a map colour
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"no value ({gaps.size})"]
    plt.close("all")


@pytest.mark.parametrize("interactive", [False, True])
def test_plot_many_highlight_groups_all_drawn(topics, interactive):
    # one group per topic member, say: more named groups than the styles to cycle
    # (16 used to end in StopIteration)
    if interactive:
        pytest.importorskip("plotly")
    import matplotlib.pyplot as plt

    X, _, _ = topics
    p = vd.pca(X, n_components=2)
    groups = {f"group {g}": [g, g + 20] for g in range(20)}
    out = p.plot(highlight=groups, interactive=interactive)
    if interactive:
        drawn = {t.name: np.column_stack([t.x, t.y]) for t in out.data[1:]}
    else:
        drawn = {c.get_label(): np.asarray(c.get_offsets()) for c in out.collections[1:]}
        drawn = {name.rsplit(" (", 1)[0]: xy for name, xy in drawn.items()}
    assert sorted(drawn) == sorted(groups)
    for name, rows in groups.items():
        np.testing.assert_allclose(drawn[name], p.coords[rows])
    plt.close("all")


def test_plot_is_readable_at_scale():
    from vecdiag.plot.projection import point_style

    big, small = point_style(100_000), point_style(50)
    assert big["rasterized"] and not small["rasterized"]
    assert big["s"] <= 3 and big["alpha"] <= 0.3 and small["s"] >= 20
    X = np.random.default_rng(17).normal(size=(20_000, 5)).astype(np.float32)
    ax = vd.pca(X).plot(labels=np.arange(20_000) % 7)
    assert ax.collections[0].get_rasterized()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_works_headless(tmp_path):
    """No display, no MPLBACKEND: the plot must still draw (Agg) and save."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND",
                                                            "WAYLAND_DISPLAY")}
    out = tmp_path / "map.png"
    code = ("import numpy as np, vecdiag as vd, matplotlib; "
            "ax = vd.pca(np.random.default_rng(0).normal(size=(50, 4))).plot(); "
            f"ax.figure.savefig({str(out)!r}); print(matplotlib.get_backend().lower())")
    backend = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env).stdout.strip()
    assert backend == "agg" and out.stat().st_size > 1000


def test_interactive_plot_has_hover_texts(topics):
    X, labels, texts = topics
    p = vd.pca(X, n_components=2)
    fig = p.plot(labels=labels, texts=texts, highlight={"query": X[0]}, interactive=True)
    assert type(fig).__module__.startswith("plotly")
    hover = [t for trace in fig.data for t in (() if trace.text is None else trace.text)]
    assert "doc 3 about sport [sport]" in hover
    assert [tr.name for tr in fig.data][-1] == "query"
    assert fig.layout.xaxis.title.text.startswith("PC1 (")
    fig = p.plot(color_by="faithfulness", k=5, interactive=True)
    np.testing.assert_allclose(fig.data[0].marker.color, p.faithfulness(5).overlap)
    assert (fig.data[0].marker.cmin, fig.data[0].marker.cmax) == (0.0, 1.0)


def test_interactive_plot_shows_user_strings_as_text_not_plotly_html():
    # plotly reads trace names, hover texts and titles as HTML: a text "x < y and y > z"
    # lost "< y and y >" as an unknown tag, "<a href=...>" became a link, "<b>" bold
    pytest.importorskip("plotly")
    import html

    X = np.random.default_rng(4).normal(size=(12, 5))
    texts = ["x < y and y > z", '<a href="https://evil.example">click</a>', "a &amp; b",
             "<img src=x onerror=alert(1)>"] + [f"t{i}" for i in range(8)]
    labels = ["<b>L</b>"] * 6 + ["M & N"] * 6
    fig = vd.pca(X).plot(texts=texts, labels=labels, highlight={"<u>h</u>": [0, 3]},
                         interactive=True, title="A <i>title</i>")
    shown = [t for tr in fig.data for t in tr.text] + [tr.name for tr in fig.data] \
        + [fig.layout.title.text]
    assert not any("<" in s or ">" in s for s in shown)
    hover = {html.unescape(t) for tr in fig.data[:2] for t in tr.text}
    assert {f"{t} [{lab}]" for t, lab in zip(texts, labels)} == hover
    assert html.unescape(fig.data[-1].text[1]) == f"<u>h</u>: {texts[3]} [{labels[3]}]"
    assert sorted(html.unescape(tr.name) for tr in fig.data) == ["<b>L</b> (6)", "<u>h</u>",
                                                                 "M & N (6)"]
    assert html.unescape(fig.layout.title.text) == "A <i>title</i>"


def test_interactive_plot_axis_titles_show_a_user_method_name_as_text():
    """A map built by hand with its own method name: the title escaped it, but the axis
    titles ("<B>X</B> & Y 1") went to plotly raw, which read them as HTML (bold, and an
    "&" that starts an entity)."""
    pytest.importorskip("plotly")
    import html

    X = np.random.default_rng(4).normal(size=(8, 3))
    p = Projection(coords=X[:, :2], method="<b>x</b> & y", data=X)
    fig = p.plot(interactive=True, color_by=np.arange(8))
    titles = [fig.layout.xaxis.title.text, fig.layout.yaxis.title.text,
              fig.data[0].marker.colorbar.title.text]
    assert titles == ["&lt;B&gt;X&lt;/B&gt; &amp; Y 1", "&lt;B&gt;X&lt;/B&gt; &amp; Y 2",
                      "value"]
    assert html.unescape(titles[0]) == p.axis_labels()[0]


def test_interactive_without_plotly_names_the_extra(topics, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    p = vd.pca(topics[0])
    with pytest.raises(ImportError, match=r'pip install "vecdiag\[interactive\]"'):
        p.plot(interactive=True)


def test_projection_display(topics):
    p = vd.pca(topics[0], n_components=3)
    assert list(p.to_frame().columns) == ["PC1", "PC2", "PC3"]
    html = p._repr_html_()
    assert "PC3" in html and "cumulative" in html
    assert "Projection(" in repr(p) and "method='pca'" in repr(p)


def test_display_of_a_wrapped_pca_that_gives_only_its_ratios():
    """scikit-learn's PCA wrapped by hand, Projection(coords=..., method="pca",
    explained_variance_ratio=...): plot and axis labels worked, the notebook display
    failed with "'NoneType' object is not iterable" (the variances were zipped). The
    table now shows each ratio and the running sum, with the variance left blank."""
    import re

    ratio = [0.5, 0.3125]
    p = Projection(coords=np.zeros((4, 2)), method="pca", explained_variance_ratio=ratio)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", p._repr_html_())
    assert cells == ["PC1", "", "0.5", "0.5", "PC2", "", "0.3125", "0.8125"]


def test_projection_display_escapes_a_method_named_by_the_user():
    # a map made elsewhere (t-SNE, ...) wrapped in a Projection to plot and check it
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.text = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

        def handle_data(self, data):
            self.text.append(data)

    X = np.random.default_rng(4).normal(size=(20, 5))
    p = Projection(coords=X[:, :2], method="<i>t-sne</i>", data=X)
    parsed = Tags()
    parsed.feed(p._repr_html_())
    assert "i" not in parsed.tags
    assert "20 points on a 2-D <I>T-SNE</I> map" in "".join(parsed.text)


@pytest.mark.shared
def test_pca_on_real_embeddings(shared_data):
    """Cranfield MiniLM embeddings (float32, unit length): vd.pca == sklearn, and the map
    keeps a measurable share of each document's cosine neighbours."""
    X = np.load(shared_data / "cranfield" / "emb_minilm_corpus.npy", allow_pickle=False)
    p = vd.pca(X, n_components=10)
    ref = sk_pca(X.astype(np.float64), 10)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.abs(np.sum(p.components * ref.components_, axis=1)), 1,
                               atol=1e-4)
    f = vd.pca(X, n_components=2).faithfulness(10, metric="cosine")
    assert f.chance < f.mean_overlap < 1


# ----------------------------------------------------------------------------- UMAP

def test_umap_bad_input_is_refused_before_importing_umap(with_zero_row):
    with pytest.raises(ValueError, match="metric='dot' is not available for UMAP"):
        vd.umap(np.eye(5), metric="dot")
    with pytest.raises(ValueError, match="zero vector"):
        vd.umap(with_zero_row)
    with pytest.raises(ValueError, match="at least 4 points"):
        vd.umap(np.eye(3))
    with pytest.raises(ValueError, match="n_neighbors must be at least 2"):
        vd.umap(np.eye(6), n_neighbors=1)


def test_umap_refuses_a_min_dist_that_is_not_a_number(monkeypatch):
    """min_dist='0.1' failed inside umap-learn with NumPy's UFuncTypeError ('ufunc less
    did not contain a loop...') and min_dist=nan with scipy's 'Optimal parameters not
    found: Number of calls to function has reached maxfev = 600', naming neither
    min_dist; both are refused by name before umap-learn is imported (and a stand-in
    module proves it is never reached)."""
    monkeypatch.setitem(sys.modules, "umap", None)        # importing it would fail loudly
    X = np.random.default_rng(0).normal(size=(20, 4))
    for bad in ("0.1", float("nan"), float("inf"), -0.5, True, None):
        with pytest.raises(ValueError, match=r"min_dist must be a finite number >= 0"):
            vd.umap(X, min_dist=bad)


@pytest.fixture(scope="module")
def umap_fit():
    """One small UMAP fit (and a refit with the same seed) for the whole module."""
    pytest.importorskip("umap")
    rng = np.random.default_rng(18)
    centres = rng.normal(size=(3, 12)) * 3
    X = np.concatenate([c + rng.normal(size=(20, 12)) for c in centres]).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = vd.umap(X, n_neighbors=80, random_state=3)
        again = vd.umap(X, n_neighbors=80, random_state=3)
    return X, first, again, caught


@pytest.mark.slow
def test_umap_reproducible_clipped_and_transforms(umap_fit):
    X, first, again, caught = umap_fit
    assert first.coords.shape == (60, 2) and first.method == "umap"
    assert first.explained_variance_ratio is None
    assert first.axis_labels() == ["UMAP 1", "UMAP 2"]
    np.testing.assert_array_equal(first.coords, again.coords)
    messages = [str(w.message) for w in caught]
    assert any("n_neighbors=80 is more than the 59 other points" in m for m in messages)
    assert first.params["n_neighbors"] == 59
    assert not any("overridden to 1" in m for m in messages)
    np.testing.assert_array_equal(first.transform(X), first.coords)
    new = first.transform(X[:3] + 0.01)
    assert new.shape == (3, 2) and np.isfinite(new).all()


@pytest.mark.slow
def test_umap_faithfulness_and_plot(umap_fit):
    import matplotlib.pyplot as plt

    X, first, _, _ = umap_fit
    f = first.faithfulness(k=5)
    assert f.metric == "cosine" and 0 <= f.trustworthiness <= 1
    ax = first.plot(labels=np.repeat(["a", "b", "c"], 20), highlight={"query": X[0]})
    assert ax.get_xlabel() == "UMAP 1"
    plt.close("all")


@pytest.mark.parametrize("factor", [1e150, 1e-150, 1e100, 2.0 ** -500])
def test_scratch_pca_agrees_with_the_fast_path_at_extreme_scales(factor):
    """Squares of 1e150 overflow and of 1e-150 underflow: scratch.pca returned a random,
    not even descending, spectrum without a warning. It now works on rows divided by a
    power of two and gives vd.pca's ratios, variances and coordinates."""
    X = np.random.default_rng(0).normal(size=(6, 3)) * factor
    slow, fast = vd.scratch.pca(X), vd.pca(X)
    np.testing.assert_allclose(slow.explained_variance_ratio, fast.explained_variance_ratio,
                               rtol=1e-9)
    np.testing.assert_allclose(slow.explained_variance, fast.explained_variance, rtol=1e-9)
    np.testing.assert_allclose(np.abs(slow.coords), np.abs(fast.coords), rtol=1e-7)
    with pytest.raises(ValueError, match="squares overflow"):
        vd.scratch.pca(X / factor * 1e300)


@pytest.mark.parametrize("solver", ["covariance", "gram", "randomized"])
@pytest.mark.parametrize("dtype,factor", [(np.float64, 1e-160), (np.float32, 1e-22),
                                          (np.float32, 1e-30)])
def test_pca_of_tiny_values_whose_squares_are_subnormal(solver, dtype, factor):
    """Deviations of 1e-160 (1e-22, 1e-30 in float32) have squares among the subnormal
    numbers or below them: vd.pca gave wrong ratios and directions without a word, or
    refused the data as having variance 0. It now fits the data scaled by a power of
    two; scikit-learn on the data scaled up to a safe range is the reference."""
    X = (spread(40, 5, np.random.default_rng(3)) * factor).astype(dtype)
    safe = X.astype(np.float64) / factor
    ref = sk_pca(safe, 3)
    p = vd.pca(X, n_components=3, solver=solver)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=rtol)
    np.testing.assert_allclose(p.explained_variance / factor**2, ref.explained_variance_,
                               rtol=1e-3 if factor**2 < 1e-308 else rtol)
    np.testing.assert_allclose(p.components, aligned(p.components, ref.components_),
                               atol=rtol)
    np.testing.assert_allclose(np.abs(p.coords) / factor, np.abs(ref.transform(safe)),
                               rtol=rtol, atol=rtol)


@pytest.mark.parametrize("solver", ["gram", "randomized"])
def test_every_solver_refuses_squares_past_float64_by_name(solver):
    """Squares of 1e160 overflow float64: the covariance solver said so, but the gram
    solver failed in LAPACK ('Eigenvalues did not converge') and the randomized one
    returned NaN ratios; both now give the covariance solver's message."""
    X = np.random.default_rng(0).normal(size=(8, 3)) * 1e160
    with pytest.raises(ValueError, match="squares overflow even in float64"):
        vd.pca(X, n_components=2, solver=solver)
    p = vd.pca((X / 1e160 * 3e19).astype(np.float32), n_components=2, solver=solver)
    ref = sk_pca((X / 1e160 * 3e19).astype(np.float32).astype(np.float64), 2)
    np.testing.assert_allclose(p.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-4)


def test_transform_of_a_dask_array_names_nan_rows_by_global_row():
    """A lazy transform refuses a NaN row when computed, naming its row in the whole
    array as the in-memory transform does (it returned NaN coordinates)."""
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(0).normal(size=(60, 5))
    p = vd.pca(X, n_components=2)
    np.testing.assert_allclose(p.transform(da.from_array(X, chunks=(20, 5))).compute(),
                               (X - X.mean(axis=0)) @ p.components.T, atol=1e-12)
    Y = X.copy()
    Y[43, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y has 1 row \(43\) with NaN"):
        p.transform(Y)
    with pytest.raises(ValueError, match=r"Y has 1 row \(43\) with NaN"):
        p.transform(da.from_array(Y, chunks=(20, 5))).compute()


@pytest.mark.slow
def test_umap_takes_any_non_negative_int_seed(umap_fit):
    """random_state is any non-negative int, as everywhere in vecdiag; umap-learn's own
    RandomState refuses seeds of 2**32 and more ("Seed must be between 0 and 2**32 - 1"),
    so vd.umap(X, random_state=2**40) crashed inside umap-learn."""
    X = umap_fit[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = vd.umap(X, n_neighbors=10, random_state=2**40)
        again = vd.umap(X, n_neighbors=10, random_state=2**40)
    assert first.coords.shape == (60, 2) and np.isfinite(first.coords).all()
    np.testing.assert_array_equal(first.coords, again.coords)


def test_one_far_from_the_origin_rule_for_every_centring_pca_path():
    """Projection.from_linear (coordinates), the randomized solver (X Q - μ·Q) and
    faithfulness' ranks each wrote the test 'mean long next to the spread' themselves;
    one rule now: ‖μ‖² > 100 · total variance, an overflowing ‖μ‖² counted as far
    without a warning. Here the rule and from_linear's decision at the boundary: data 9.9
    and 10.1 spreads out (mean (a, 0), rows ±1 in the second dimension, total variance
    n/(n-1)); the randomized solver and faithfulness by the tests far from the origin above."""
    from vecdiag.projection._offset import far_from_origin

    n = 8
    var = n / (n - 1)
    for a, far in [(9.9 * np.sqrt(var), False), (10.1 * np.sqrt(var), True)]:
        X = np.column_stack([np.full(n, a), np.tile([1.0, -1.0], n // 2)])
        assert far_from_origin(X.mean(axis=0), var) is far
        assert vd.pca(X, n_components=1).params["center_blocks"] is far
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert far_from_origin(np.array([1e200, 1e200]), 1e300) is True


@pytest.mark.parametrize("interactive", [False, True])
def test_plot_missing_labels_are_one_no_label_group(interactive):
    # labels from a pandas column with gaps: None went into the legend and hover as
    # "None" (joined with a real label "None"), NaN as "nan", pd.NA as "<NA>"
    if interactive:
        pytest.importorskip("plotly")
    import matplotlib.pyplot as plt
    import pandas as pd

    X = np.random.default_rng(5).normal(size=(8, 3))
    labels = pd.Series([None, np.nan, "a", "None", "nan", pd.NA, "a", "None"], dtype=object)
    out = vd.pca(X).plot(labels=labels, interactive=interactive)
    if interactive:
        names = [tr.name for tr in out.data]
        hover = [t for tr in out.data for t in tr.text]
        assert sorted(hover) == sorted(f"row {i} [{lab}]" for i, lab in enumerate(
            ["(no label)"] * 2 + ["a", "None", "nan", "(no label)", "a", "None"]))
    else:
        names = [t.get_text() for t in out.get_legend().get_texts()]
    assert names == ["(no label) (3)", "None (2)", "a (2)", "nan (1)"]
    numeric = vd.pca(X).plot(labels=[1.0, np.nan, 2.0, 1.0, 2.0, 1.0, np.nan, 2.0])
    assert [t.get_text() for t in numeric.get_legend().get_texts()] == [
        "1.0 (3)", "2.0 (3)", "(no label) (2)"]
    plt.close("all")


@pytest.mark.parametrize("interactive", [False, True])
def test_plot_says_which_points_have_no_position(interactive):
    # a map wrapped by hand with NaN/inf coordinates: matplotlib and plotly skipped those
    # points without a word, the title still said "map of 10 vectors"
    if interactive:
        pytest.importorskip("plotly")
    import matplotlib.pyplot as plt

    coords = np.random.default_rng(6).normal(size=(10, 2))
    coords[3, 1], coords[7, 0] = np.nan, np.inf
    out = Projection(coords=coords, method="t-sne").plot(interactive=interactive)
    title = out.layout.title.text if interactive else out.get_title()
    sep = "<br>" if interactive else "\n"
    assert title == f"T-SNE map of 10 vectors{sep}not drawn: 2 rows (3, 7) with a NaN or inf position"
    plt.close("all")
