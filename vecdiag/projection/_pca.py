"""Principal component analysis, the fast way: one streamed pass for the covariance, then eigh.

The lesson version (power iteration with deflation, plain Python) is
:func:`vecdiag.scratch.pca`; both return a :class:`~vecdiag.projection.Projection` and the
tests check they agree with each other and with scikit-learn.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .._progress import progress_bar
from ..linalg import column_mean
from ._offset import far_from_origin
from .result import Projection, is_dask_array

__all__ = ["pca"]

SOLVERS = ("auto", "covariance", "gram", "randomized")
# auto: the d x d covariance up to this dimension, beyond it the n x n Gram matrix when n
# is at most this, otherwise a randomized range finder.
_EXACT_LIMIT = 4096
# Rows per block of the streamed pass: ~8 MB of input, so a block stays in cache while it
# is centred and multiplied, and a memmap larger than RAM is read in pieces.
_BLOCK_BYTES = 8 * 2**20
# Pieces of a memmap in the raw (unshifted) pass.
_MEMMAP_BLOCK_BYTES = 64 * 2**20


def _tiny_variance(dtype) -> float:
    """Below this total variance (float64: about 1e-292, float32: 1e-31) the squared
    deviations are subnormal numbers with few digits left, or 0."""
    info = np.finfo(dtype)
    return float(info.tiny / info.eps)


def _too_large(X) -> ValueError:
    return ValueError(f"X has values so large that their squares overflow even in "
                      f"float64 (largest |x| = {float(np.abs(X).max()):.3g}); "
                      "scale the vectors down first")


# Loadings this close (relatively) to a component's largest count as tied with it.
SIGN_TIE = 1e-9


def sign_flip(components: np.ndarray) -> np.ndarray:
    """Make each component's largest absolute loading positive (in place; returned).

    Eigenvectors are defined up to sign; this fixes the sign so results never flip
    between runs or solvers (the convention of scikit-learn's ``svd_flip`` on components).
    Loadings within :data:`SIGN_TIE` of the largest are tied with it, and the first of
    them decides (ties by lower index, as everywhere in vecdiag).

    subtle: loadings equal in exact arithmetic (a column and its copy or negation) come
    out of two solvers different in the last bit, so "the largest" was decided by
    rounding: the covariance and Gram solvers (and scratch.pca) gave opposite signs.
    """
    rows = np.arange(components.shape[0])
    size = np.abs(components)
    top = np.argmax(size >= size.max(axis=1, keepdims=True) * (1 - SIGN_TIE), axis=1)
    signs = np.where(components[rows, top] < 0, -1.0, 1.0).astype(components.dtype)
    components *= signs[:, None]
    return components


def _block_rows(X: np.ndarray) -> int:
    return max(1, _BLOCK_BYTES // (X.shape[1] * X.dtype.itemsize))


def _scatter(X: np.ndarray, show_progress) -> tuple[np.ndarray, np.ndarray]:
    """Mean (float64) and scatter matrix ``Σ (x - μ)(x - μ)ᵀ`` (float64) in one pass.

    Inputs already checked. Every block ``B`` of rows gives its Gram product ``BᵀB``
    (NumPy hands it to BLAS syrk, a symmetric rank-k update: half the flops of a general
    product) and its column sums. With ``m`` the mean of ``x - s`` for a shift ``s``, the
    exact identity ``Σ (x-μ)(x-μ)ᵀ = Σ (x-s)(x-s)ᵀ - n m mᵀ`` gives the scatter.

    subtle: with ``s = 0`` (the uncentred ``XᵀX - n μμᵀ`` of scikit-learn's
    covariance_eigh) the subtraction cancels the digits of ``‖μ‖² / variance``: harmless
    for embeddings (mean about as long as the spread) but every digit is lost for data
    far from the origin. So when the first rows show a mean longer than the spread,
    each block is shifted by their mean first (``s ≈ μ``: the correction is tiny).
    """
    if not X.flags.c_contiguous and not isinstance(X, np.memmap):
        # subtle: a Fortran-ordered array or a strided view took the shifted, blocked path
        # below and a C-ordered copy of the same numbers one BLAS call: means and
        # variances a few units in the last place apart (36.79999847 for 36.8 in float32)
        X = np.ascontiguousarray(X)
    n, d = X.shape
    head = np.array(X[: min(n, 1024)], dtype=np.float64, order="C")   # sums in row order
    centre = column_mean(head)
    spread = float(np.square(head - centre).sum()) / head.shape[0]   # total variance, estimated
    shifted = bool(centre @ centre > spread) or not X.flags.c_contiguous
    shift = centre.astype(X.dtype) if shifted else None
    # Shifted blocks are copies into one reused buffer small enough to stay in cache.
    # Raw blocks are views: one BLAS call for an in-memory array (each call is a thread
    # synchronisation), 64 MB pieces for a memmap (read from disk once, in order).
    if shifted:
        rows = _block_rows(X)
    elif isinstance(X, np.memmap):
        rows = max(_block_rows(X), _MEMMAP_BLOCK_BYTES // (d * X.dtype.itemsize))
    else:
        rows = n
    scatter = np.zeros((d, d))
    total = np.zeros(d)
    steps = range(0, n, rows)
    bar = progress_bar(len(steps), desc="pca: covariance", show=show_progress,
                       expected_seconds=n * d * d / 2e10)
    buffer = np.empty((min(rows, n), d), dtype=X.dtype) if shifted else None
    ones = np.ones(min(rows, n), dtype=X.dtype)
    with bar:
        for start in steps:
            stop = min(n, start + rows)
            if shifted:
                block = buffer[: stop - start]
                np.subtract(X[start:stop], shift, out=block)
            else:
                block = X[start:stop]
            scatter += block.T @ block                  # BLAS syrk: BᵀB of one operand
            total += ones[: stop - start] @ block        # column sums of the block
            bar.update()
    m = total / n
    scatter -= n * np.outer(m, m)
    mean = m if shift is None else shift.astype(np.float64) + m
    return mean, scatter


def _top_eigh(C: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``c`` largest eigenvalues (descending) of symmetric ``C`` and their eigenvectors
    as rows. (LAPACK's divide and conquer on the whole matrix: for d in the hundreds it
    is far faster than asking for a subset.)"""
    values, vectors = np.linalg.eigh(C)
    return values[::-1][:c].copy(), vectors[:, ::-1][:, :c].T.copy()


def _complete_basis(components: np.ndarray, good: np.ndarray, rng) -> np.ndarray:
    """Replace rows where ``good`` is False by unit vectors orthogonal to all others.

    Directions of zero variance are arbitrary; any orthonormal completion is correct.

    subtle: random rows with the kept directions projected out were orthonormalised on
    their own, which fails when those rows are dependent: with ``random_state=0`` and
    data drawn from ``default_rng(0)`` the random rows *are* the data rows, the residuals
    all equal the mean, and the completion was not orthogonal (|W Wᵀ - I| = 0.92, rows
    of zero variance with coordinates of 59). A Householder QR of the kept rows followed
    by the random ones gives orthonormal columns whatever the rank; its first columns
    span the kept rows, the rest complete them.
    """
    if good.all():
        return components
    d = components.shape[1]
    kept = components[good]
    fill = rng.standard_normal((int((~good).sum()), d))
    q, _ = np.linalg.qr(np.vstack([kept, fill]).T)
    components[~good] = q[:, kept.shape[0]:].T
    return components


def _dask_pca(X, n_components, solver) -> Projection:
    """:func:`pca` of a Dask array: the covariance solver, one pass over the row blocks."""
    from ..scale.covariance import pca_fit

    if V.check_choice(solver, "solver", SOLVERS) not in ("auto", "covariance"):
        raise ValueError(f"solver={solver!r} is not available for a Dask array; use "
                         "solver='covariance' (the d x d covariance, one pass over the blocks)")
    X, mean, variance, components, total_var, ratio = pca_fit(X, n_components)
    if not total_var > 0:
        raise V.constant_data_error(X.shape[0])
    components = sign_flip(np.ascontiguousarray(components, dtype=np.float64))
    return Projection.from_linear(X, method="pca", components=components, mean=mean,
                                  explained_variance=variance, total_variance=total_var,
                                  params={"solver": "covariance", "n_samples": X.shape[0]},
                                  explained_variance_ratio=ratio)


def _covariance_solver(X, c, show_progress, rng):
    n = X.shape[0]
    with np.errstate(all="ignore"):             # non-finite results are checked below
        mean, scatter = _scatter(X, show_progress)
    # X was not scanned for NaN/inf up front: a NaN or inf anywhere in a column makes that
    # column's diagonal entry of the scatter non-finite, so checking the d x d result is
    # enough, and saves a full pass over X. Only then is X scanned, to name the rows.
    if not np.isfinite(scatter).all():
        V.as_matrix(X, "X")                     # raises: X has rows with NaN or inf
        # finite input whose squares overflow (|x| > ~1e19 in float32): redo in float64
        with np.errstate(all="ignore"):
            mean, scatter = _scatter(X.astype(np.float64), show_progress)
        if not np.isfinite(scatter).all():
            raise _too_large(X)
    total_var = float(np.trace(scatter)) / (n - 1)
    values, components = _top_eigh(scatter, c)
    return mean, np.maximum(values, 0.0) / (n - 1), components, total_var


def _gram_solver(X, c, show_progress, rng):
    """Exact, through the n x n Gram matrix of the centred rows (for d much larger than n)."""
    n = X.shape[0]
    mean = column_mean(X)
    Xc = X.astype(np.float64, order="C") - mean
    with np.errstate(over="ignore", invalid="ignore"):
        total_var = float(np.einsum("ij,ij->", Xc, Xc)) / (n - 1)
    if not np.isfinite(total_var):             # eigh would fail to converge on inf
        raise _too_large(X)
    values, vectors = _top_eigh(Xc @ Xc.T, c)
    values = np.maximum(values, 0.0)
    good = values > values[0] * 1e-12 if values[0] > 0 else np.zeros(c, dtype=bool)
    components = np.zeros((c, X.shape[1]))
    # right singular vectors: v = Xcᵀ u / σ, with σ² the Gram eigenvalue
    components[good] = (vectors[good] @ Xc) / np.sqrt(values[good])[:, None]
    components = _complete_basis(components, good, rng)
    return mean, values / (n - 1), components, total_var


def _randomized_solver(X, c, show_progress, rng, n_oversamples=10, n_iter=7):
    """Halko-Martinsson-Tropp range finder on the implicitly centred X (no centred copy).

    Approximate: accurate when the top eigenvalues stand out from the rest; on a flat
    spectrum (near-isotropic data) the directions found can be far from the true ones.
    """
    n, d = X.shape
    mean = column_mean(X)
    mu = mean.astype(X.dtype)
    rows = _block_rows(X)
    with np.errstate(over="ignore", invalid="ignore"):
        total_var = sum(float(np.square(X[i:i + rows] - mu).sum(dtype=np.float64))
                        for i in range(0, n, rows)) / (n - 1)
    if not np.isfinite(total_var):             # the products below would be inf and NaN
        if X.dtype != np.float64:              # squares past float32: redo in float64
            return _randomized_solver(X.astype(np.float64), c, show_progress, rng,
                                      n_oversamples, n_iter)
        raise _too_large(X)
    # subtle: X Q - μ·Q cancels the digits of ‖μ‖ / spread, as the uncentred covariance
    # does: float32 rows 1e8 + N(0, 3²) gave explained-variance ratios of 1e5. When the
    # mean is long next to the spread (far_from_origin, Projection.from_linear's test),
    # each block is shifted by μ rounded to X's dtype, and only the small rest μ - shift
    # is subtracted after the product (and its share n‖μ - shift‖² taken out of the total
    # variance).
    shift = None
    if far_from_origin(mean, total_var):
        rest = mean - mu.astype(np.float64)
        shift, mu = mu, rest.astype(X.dtype)
        total_var -= n * float(rest @ rest) / (n - 1)

    def blocks():
        for i in range(0, n, rows):
            yield slice(i, i + rows), X[i:i + rows] - shift

    def times(Q):          # (X - 1 μᵀ) Q
        if shift is None:
            return X @ Q - mu @ Q
        out = np.empty((n, Q.shape[1]), dtype=np.result_type(X, Q))
        for part, block in blocks():
            out[part] = block @ Q
        return out - mu @ Q

    def t_times(P):        # (X - 1 μᵀ)ᵀ P
        if shift is None:
            return X.T @ P - np.outer(mu, P.sum(axis=0))
        out = sum(block.T @ P[part] for part, block in blocks())
        return out - np.outer(mu, P.sum(axis=0))

    width = min(d, n, c + n_oversamples)
    Q = rng.standard_normal((d, width)).astype(X.dtype)
    for _ in range(n_iter):
        Q, _ = np.linalg.qr(times(Q))
        Q, _ = np.linalg.qr(t_times(Q))
    Q, _ = np.linalg.qr(times(Q))
    B = t_times(Q).T.astype(np.float64)          # (width, d) = Qᵀ (X - 1 μᵀ)
    _, s, vt = np.linalg.svd(B, full_matrices=False)
    return mean, s[:c] ** 2 / (n - 1), vt[:c].copy(), total_var


def pca(X, n_components: int = 2, *, solver: str = "auto", random_state=0,
        show_progress: bool | None = None) -> Projection:
    """Project onto the directions of largest variance (principal components).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Vectors, at least 2 rows, finite. float32 stays float32 in the coordinates.
    n_components : int
        Number of components, at most ``min(n, d)``.
    solver : {"auto", "covariance", "gram", "randomized"}
        ``"covariance"``: eigh of the d x d covariance, built in one streamed pass over X
        (exact; the default for ``d <= 4096``). ``"gram"``: eigh of the n x n Gram matrix
        of the centred rows (exact; auto when d > 4096 and n <= 4096). ``"randomized"``:
        a randomized range finder (approximate, auto otherwise; unreliable when the
        spectrum is flat).
    random_state : int, None or numpy Generator
        Seeds the randomized solver and the arbitrary directions of zero-variance
        components (default 0).
    show_progress : bool or None
        Progress bar over the data pass; None shows it only for large inputs.

    Returns
    -------
    Projection
        ``coords`` (n, n_components), ``components`` (rows, unit length),
        ``explained_variance``, ``explained_variance_ratio``, ``mean``; ``transform``
        places new points (queries) on the same map.

    Notes
    -----
    With centred rows ``x_i - μ`` the covariance is ``C = Σ_i (x_i - μ)(x_i - μ)ᵀ / (n-1)``.
    Its eigenvectors ``w_1, w_2, ...`` (largest eigenvalue first) are the components, the
    eigenvalue ``λ_j`` is the variance along ``w_j``, the ratio is ``λ_j / trace(C)``, and
    the coordinates are ``(x - μ) · w_j``. Each component's sign is fixed so that its
    largest absolute loading is positive, the first one of loadings tied in size (results
    do not flip between runs or solvers).

    Degenerate cases: constant data (``trace(C) = 0``) raises, since every ratio would be
    0/0. When ``n_components`` exceeds the rank of the centred data, the extra components
    have variance 0 and are an arbitrary orthonormal completion. Equal eigenvalues make
    the directions inside their eigenspace arbitrary (only the subspace is defined).

    The same numbers give the same result bit for bit whatever their memory layout
    (C- or Fortran-ordered, a strided view, a memmap): the mean is
    :func:`vecdiag.linalg.column_mean`, and the covariance solver copies an in-memory
    array that is not C-ordered to C order (a memmap is read in C-ordered blocks).

    A ``dask.array.Array`` is fitted with the covariance solver in one pass over its row
    blocks (:func:`vecdiag.scale.covariance.pca_fit`; nothing of size ``n`` is gathered).
    Its ``coords`` are computed (a NumPy array) when ``n × n_components`` is at most
    :data:`vecdiag.projection.result.COORDS_IN_MEMORY` values, and are otherwise a lazy
    Dask array (compute or store them block by block); ``transform`` of a Dask array is
    lazy too.

    Examples
    --------
    Points on a line: one direction explains all the variance.

    >>> import vecdiag as vd
    >>> p = vd.pca([[0, 0], [1, 2], [2, 4], [3, 6]], n_components=2)
    >>> p.explained_variance_ratio.round(6).tolist()
    [1.0, 0.0]
    >>> p.components[0].round(4).tolist()      # the unit vector along (1, 2)
    [0.4472, 0.8944]
    >>> p.coords[:, 0].round(4).tolist()
    [-3.3541, -1.118, 1.118, 3.3541]
    """
    if is_dask_array(X):
        return _dask_pca(X, n_components, solver)
    X, c = V.check_pca_input(X, n_components, finite=False)
    V.check_choice(solver, "solver", SOLVERS)
    rng = V.check_random_state(random_state)
    n, d = X.shape
    if solver == "auto":
        solver = "covariance" if d <= _EXACT_LIMIT else ("gram" if n <= _EXACT_LIMIT
                                                          else "randomized")
    if solver != "covariance":                  # the covariance pass checks NaN/inf itself
        X = V.as_matrix(X, "X")
    fit = {"covariance": _covariance_solver, "gram": _gram_solver,
           "randomized": _randomized_solver}[solver]
    mean, variance, components, total_var = fit(X, c, show_progress, rng)
    ratio = None
    peak = float(np.abs(X).max()) if total_var < _tiny_variance(X.dtype) else 0.0
    if peak > 0:
        # subtle: deviations of 1e-160 (1e-22 in float32) have squares among the subnormal
        # numbers, and the directions and ratios come out wrong, or the variance 0. Fit X
        # scaled by a power of two (exact, as scratch.pca does), then scale the mean and
        # variances back.
        e = int(np.frexp(peak)[1])          # ldexp: 2**149 itself is not a float32
        mean, variance, components, total_var = fit(np.ldexp(X, -e), c, show_progress, rng)
        if total_var > 0:                   # else every row is the same: refused below
            ratio = np.asarray(variance, dtype=np.float64) / total_var
        mean, variance = np.ldexp(mean, e), np.ldexp(np.asarray(variance, np.float64), 2 * e)
        total_var = float(np.ldexp(total_var, 2 * e))
    if not total_var > 0:
        raise V.constant_data_error(n, X)
    components = sign_flip(np.ascontiguousarray(components, dtype=np.float64))
    # (ratio: the scaled fit's, which keep their digits)
    return Projection.from_linear(X, method="pca", components=components, mean=mean,
                                  explained_variance=variance,
                                  total_variance=total_var,
                                  params={"solver": solver, "n_samples": n},
                                  explained_variance_ratio=ratio)
