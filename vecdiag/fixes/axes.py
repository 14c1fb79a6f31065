"""Principal axes of a covariance matrix, for the fixes that rotate or drop directions
(:class:`~vecdiag.fixes.transformers.Whiten`, :class:`~vecdiag.fixes.transformers.AllButTheTop`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["principal_axes", "axes_of", "covariance_overflow", "null_variances"]


# float64 bytes of one block of centred rows: the covariance is summed block by block, so
# fitting a fix never holds a centred float64 copy of the whole corpus
_BLOCK_BYTES = 2**20


def principal_axes(X: np.ndarray, mean: np.ndarray,
                   n_axes: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Eigen-decomposition of the covariance of the rows ``X - mean``, largest variance first.

    Returns ``(variances, axes, total)``: the top ``n_axes`` (all when None) axes as rows,
    each signed so that its largest-magnitude entry is positive (a deterministic choice: an
    eigenvector's sign is arbitrary), and ``total``, the summed variance (trace of the
    covariance). Only the requested eigenpairs are computed.

    The rows are centred and turned to float64 one block of about 1 MB at a time and
    their products summed: memory stays at a block whatever ``n`` (a centred float64
    copy of a float32 corpus was twice its size, plus the float32 difference: 123 MB
    on top of 31 MB of 20,000 x 384 rows). A corpus within one block is computed exactly
    as before, in one product.
    """
    n, d = X.shape
    step = max(1, _BLOCK_BYTES // (8 * max(1, d)))
    scatter = np.zeros((d, d))
    squares = 0.0
    peak = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n, step):
            Xc = (X[start:start + step] - mean).astype(np.float64, order="C")  # row order
            scatter += Xc.T @ Xc
            squares += np.einsum("ij,ij->", Xc, Xc)
            if Xc.size:                           # max and -min: no |Xc| temporary
                peak = max(peak, float(Xc.max()), -float(Xc.min()))
        cov = scatter / max(n - 1, 1)
    if not np.isfinite(cov).all():
        raise covariance_overflow(peak)
    values, axes = axes_of(cov, n_axes)
    return values, axes, squares / max(n - 1, 1)


def covariance_overflow(peak: float | None) -> ValueError:
    largest = "" if peak is None else f" (largest |x| = {peak:.3g} after centring)"
    return ValueError(f"X has values so large{largest} that their covariance overflows "
                      "float64; divide the vectors by one common large number first, or keep "
                      "normalize_first=True")


def axes_of(cov: np.ndarray, n_axes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The top ``n_axes`` eigenpairs of a covariance matrix (see :func:`principal_axes`)."""
    from scipy.linalg import eigh

    d = cov.shape[0]
    m = d if n_axes is None else n_axes
    values, vectors = eigh(cov, subset_by_index=[d - m, d - 1], check_finite=False)
    values = np.clip(values[::-1], 0, None)
    axes = vectors[:, ::-1].T
    signs = np.sign(axes[np.arange(axes.shape[0]), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    return values, axes * signs[:, None]


def null_variances(values: np.ndarray, total: float, mean: np.ndarray) -> np.ndarray:
    """Which eigenvalues are at the level of rounding: directions the rows do not vary along.

    More dimensions than rows, or collinear columns, leave eigenvalues of about 1e-33 whose
    axes are an arbitrary basis of the null space (LAPACK's choice, which changes with the
    order of the rows). The level is judged against the largest eigenvalue and against the
    rows' own size (``total`` is the trace of the covariance, ``mean`` the mean row): on
    constant rows every eigenvalue is rounding, the largest included.
    """
    d = mean.shape[0]
    mean64 = np.asarray(mean, np.float64)   # float32 mean·mean overflows past 1.8e19
    size = max(float(values.max(initial=0.0)), (float(total) + float(mean64 @ mean64)) / d)
    return values <= 1e-12 * size * d                          # values are >= 0
