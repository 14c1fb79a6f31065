"""Isotropy: are the vectors spread evenly over all directions?

Two measures: the partition-function isotropy of Mu & Viswanath (2018) and IsoScore of
Rudman, Gillman, Rayne & Eickhoff (2022); plus the PCA participation ratio, the number
of directions the variance effectively uses.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from .moments import Moments, cached_moments, resolve, unit_rows
from ..linalg import row_norms

__all__ = ["isotropy", "isoscore", "participation_ratio"]

# float64 bytes of the ± projections of one block of rows in log_partition_parts
_PROJECTION_BYTES = 2 * 2**20


def _space(normalize: bool) -> str:
    return "unit" if normalize else "raw"


def log_partition(X: np.ndarray, directions: np.ndarray, space: str) -> np.ndarray:
    """``log Z(c) = log Σ_i exp(c·x_i)`` for each column ``c`` of ``directions`` and of
    ``−directions`` (first the ``+c``, then the ``−c``).

    Streamed over row blocks with a running log-sum-exp, so no overflow for long
    vectors and no ``n × d`` matrix. Inputs already checked.
    """
    peak, acc = log_partition_parts(X, directions, space)
    return peak + np.log(acc)


def log_partition_parts(X: np.ndarray, directions: np.ndarray, space: str, peak=None,
                        acc=None) -> tuple[np.ndarray, np.ndarray]:
    """The running log-sum-exp of :func:`log_partition` as ``(peak, acc)``
    (``log Z = peak + log(acc)``), continued from a previous ``(peak, acc)`` when given:
    what a Dask block task returns (:func:`vecdiag.scale.moments.log_partition`).

    The projections are made a few rows at a time (their ``± c·x`` values about 2 MiB of
    float64, exponentiated in place), so memory does not grow with the rows given: a
    128 MB block projected on d directions at once was 2 GB of float64 temporaries, and
    ``block_rows(d)`` rows (32 MiB of float64) still made 270 MB of them at d = 384.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> peak, acc = log_partition_parts(X[:1], np.eye(2), "raw")
    >>> peak, acc = log_partition_parts(X[1:], np.eye(2), "raw", peak, acc)
    >>> np.allclose(peak + np.log(acc), log_partition(X, np.eye(2), "raw"))
    True
    """
    k = directions.shape[1]
    peak = np.full(2 * k, -np.inf) if peak is None else peak
    acc = np.zeros(2 * k) if acc is None else acc
    step = max(1, _PROJECTION_BYTES // (16 * max(1, k)))
    for start in range(0, X.shape[0], step):
        block = np.asarray(X[start:start + step])
        if space == "unit":
            block = unit_rows(block, row_norms(block).astype(np.float64))
        both = np.empty((block.shape[0], 2 * k))
        np.matmul(block.astype(np.float64, copy=False), directions, out=both[:, :k])
        np.negative(both[:, :k], out=both[:, k:])         # c and −c from one product
        new_peak = np.maximum(peak, both.max(axis=0))
        np.exp(np.subtract(both, new_peak, out=both), out=both)
        acc = acc * np.exp(peak - new_peak) + both.sum(axis=0)
        peak = new_peak
    return peak, acc


def isotropy_from_moments(X: np.ndarray, m: Moments) -> float:
    """Mu & Viswanath's I(X) over ± the eigenvectors of the streamed Gram matrix."""
    from ..scale.chunks import is_dask_array

    _, vecs = np.linalg.eigh(m.gram)
    if is_dask_array(X):   # one task per row block, merged (not a compute per slice)
        from ..scale.moments import log_partition as blockwise_log_partition

        logz = blockwise_log_partition(X, vecs, m.space)
    else:
        logz = log_partition(X, vecs, m.space)
    return float(np.exp(logz.min() - logz.max()))


def isotropy(X, *, normalize: bool = False) -> float:
    """Partition-function isotropy of Mu & Viswanath (2018), in [0, 1].

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
    normalize : bool
        Scale rows to unit length first (the view cosine similarity has; what
        :func:`vecdiag.diagnose` reports under ``metric="cosine"``). Default False: the
        vectors as given, as in the paper.

    Returns
    -------
    float
        1.0 for a perfectly isotropic set; near 0 when one direction dominates; 0.0
        when the true value, positive, is below the smallest float (about 1e-308).

    Notes
    -----
    With the partition function ``Z(c) = Σ_i exp(cᵀx_i)`` for unit directions ``c``
    (Mu & Viswanath 2018, "All-but-the-top", ICLR; after Arora et al. 2016)::

        I(X) = min_c Z(c) / max_c Z(c)

    approximated, as in the paper, over the eigenvectors of ``XᵀX`` (its columns). An
    eigenvector's sign is arbitrary, so both ``c`` and ``−c`` are used; the result does
    not depend on the sign the solver returns. ``Z`` is accumulated as a log-sum-exp, so
    long vectors do not overflow. Cost: one pass for ``XᵀX`` and one for ``Z``.

    Without ``normalize``, the value depends on the vectors' scale, not only on their
    directions: ``Z`` exponentiates ``cᵀx``, so multiplying every vector by 10 usually
    moves ``I(X)`` towards 0 and shrinking them towards 1 (a set symmetric under ``−x``
    along every eigenvector stays at 1). Compare spaces with ``normalize=True`` (or at a
    common scale).

    Degenerate cases: rows that all point one way give a tiny value (about
    ``exp(−2‖x‖)``), never NaN or an overflow; once ``log max Z − log min Z`` exceeds
    about 708 that value underflows to 0.0 (vectors a thousand times longer than unit
    ones often do: the definition is not scale-free, see above); zero rows are refused
    with ``normalize=True``.

    Examples
    --------
    >>> isotropy([[1, 0], [-1, 0], [0, 1], [0, -1]])
    1.0
    >>> isotropy([[1, 0], [1, 0.1], [1, -0.1]]) < 0.2
    True
    >>> isotropy([[1000, 0], [1000, 100], [1000, -100]])   # exp(−2000) underflows
    0.0
    """
    X, cache = resolve(X)
    space = _space(V.check_bool(normalize, "normalize"))
    key = cache_keys.isotropy(space)
    if cache is not None and key in cache:
        return cache[key]
    value = isotropy_from_moments(X, cached_moments(X, cache, space))
    if cache is not None:
        cache[key] = value
    return value


def spectrum(m: Moments) -> np.ndarray:
    """Eigenvalues of the covariance, largest first, clipped at 0 against rounding."""
    vals = np.linalg.eigvalsh(m.covariance)[::-1]
    return np.clip(vals, 0, None)


def isoscore_from_spectrum(variances: np.ndarray) -> float:
    """IsoScore from the variances along the principal axes (Rudman et al. 2022)."""
    n = variances.size
    length = float(np.linalg.norm(variances))
    if n < 2:
        raise ValueError("IsoScore needs vectors of at least 2 dimensions")
    if length == 0:
        return 0.0
    scaled = np.sqrt(n) * variances / length
    defect = np.linalg.norm(scaled - 1) / np.sqrt(2 * (n - np.sqrt(n)))
    used = (n - defect ** 2 * (n - np.sqrt(n))) ** 2 / n ** 2
    return float(np.clip((n * used - 1) / (n - 1), 0.0, 1.0))


def isoscore(X, *, normalize: bool = False) -> float:
    """IsoScore (Rudman et al. 2022): the fraction of dimensions used evenly, in [0, 1].

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
        Vectors of at least 2 dimensions.
    normalize : bool
        Scale rows to unit length first (the cosine view). Default False.

    Notes
    -----
    Rudman, Gillman, Rayne & Eickhoff (2022), "IsoScore: measuring the uniformity of
    embedding space utilization", Findings of ACL. With ``Σ_D`` the variances along the
    principal axes (eigenvalues of the covariance) of ``n``-dimensional data::

        Σ̂ = √n Σ_D / ‖Σ_D‖                        (same length as the all-ones vector)
        δ = ‖Σ̂ − 1‖ / √(2(n − √n))                  (isotropy defect, in [0, 1])
        φ = (n − δ²(n − √n))² / n²                   (fraction of dimensions used)
        IsoScore = (nφ − 1) / (n − 1)

    Data using ``k`` of ``n`` dimensions with equal variance scores exactly
    ``(k − 1)/(n − 1)``; isotropic data scores 1; data along one line scores 0. Zero
    variance (every row identical) scores 0.0. Fewer than 2 dimensions: ValueError.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.zeros((1000, 4)); X[:, :2] = rng.normal(size=(1000, 2))
    >>> round(isoscore(X), 1)   # 2 of 4 dimensions used: (2 - 1) / (4 - 1)
    0.3
    """
    X, cache = resolve(X)
    space = _space(V.check_bool(normalize, "normalize"))
    return isoscore_from_spectrum(spectrum(cached_moments(X, cache, space)))


def participation_ratio(variances: np.ndarray) -> float:
    """``(Σ λ)² / Σ λ²``: how many principal directions the variance effectively uses.

    Between 1 (one direction) and d (all equal); 0.0 when there is no variance. Scale-free:
    the variances are divided by the power of two above the largest first (exact), so
    1e200 (whose square overflowed: an OverflowError) and 1e-200 (whose square
    underflowed: 0.0) give what 1 gives. NaN or inf: a ValueError.

    Examples
    --------
    >>> participation_ratio(np.array([1.0, 1.0, 0.0]))
    2.0
    >>> participation_ratio(np.array([1e200, 1e200])), participation_ratio(np.array([1e-200, 0]))
    (2.0, 1.0)
    """
    variances = np.asarray(variances, dtype=np.float64)
    if not np.isfinite(variances).all():
        raise ValueError("variances must be finite (NaN or inf has no participation ratio); "
                         "pass the eigenvalues of a covariance matrix")
    peak = float(variances.max(initial=0.0))
    if not peak > 0:
        return 0.0
    scaled = np.ldexp(variances, -int(np.frexp(peak)[1]))   # below 1, exactly
    total = float(scaled.sum())
    return total ** 2 / float((scaled ** 2).sum())
