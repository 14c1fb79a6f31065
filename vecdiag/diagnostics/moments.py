"""One streaming pass over the corpus: the sums every O(n·d) statistic is built from.

Inputs already checked. The corpus is read in row blocks (a memmap larger than memory
is fine); nothing of size ``n × n`` and nothing larger than one block is created,
apart from the per-row norms. Sums are accumulated in float64 whatever the input
dtype, so float32 corpora of a million rows still give statistics good to ~1e-12.

From these sums come, exactly and without sampling:

* the mean cosine of distinct pairs (anisotropy) ``(‖Σ û‖² − n) / (n(n − 1))``;
* each dimension's share of it (rogue dimensions) ``((Σ û_j)² − Σ û_j²) / (n(n − 1))``;
* the norm distribution;
* the Gram matrix ``Σ (x − r)(x − r)ᵀ`` of the rows of the space the metric sees (unit
  rows for cosine, raw rows otherwise) shifted by a reference row ``r`` (the first),
  hence the covariance, its PCA spectrum, the participation ratio, IsoScore, and the
  uncentred ``XᵀX`` whose eigenvectors :func:`isotropy` uses.

subtle: the covariance as ``E[xxᵀ] − E[x]E[x]ᵀ`` of the rows as given loses every digit
of the variance when the rows sit far from the origin compared with their spread (rows
1e3 + noise 1e-2 keep none in float32 sums; identical rows gave a participation ratio of
1.7 instead of 0). Summing ``x − r`` instead keeps them: identical rows sum to exactly 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import cache_keys
from .._scaling import power_of_two_scale
from ..linalg import row_norms

__all__ = ["Moments", "compute_moments", "cached_moments", "block_rows", "unit_rows",
           "moved_sums", "refuse_zero_rows", "resolve"]

# Rows per block: about 32 MB of float64 per block whatever the dimension.
_BLOCK_BYTES = 32 * 2**20


def block_rows(d: int) -> int:
    """Rows per block for vectors of dimension ``d``."""
    return max(1, _BLOCK_BYTES // (8 * max(1, d)))


def unit_rows(block: np.ndarray, norms: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows divided by their norms (float64 by default); zero rows stay zero."""
    safe = np.where(norms > 0, norms, 1.0)
    return (block.astype(dtype, copy=False) / safe[:, None].astype(dtype)).astype(dtype, copy=False)


def moved_sums(shifted_sum, gram, n: int, delta):
    """``Σ (x − r + δ)`` and ``Σ (x − r + δ)(x − r + δ)ᵀ`` from the sums about ``r``.

    ``s + n δ`` and ``G + s δᵀ + δ sᵀ + n δ δᵀ`` (``s = Σ (x − r)``, ``G`` its Gram
    matrix, or None): with ``δ = r`` the sums of the rows themselves
    (:attr:`Moments.gram`); with ``δ = r − r'`` the sums about another row ``r'``
    (:func:`vecdiag.scale.block_sums.rebase`). A new array, even for ``δ = 0``.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 5.0]])
    >>> s, G = moved_sums((X - X[0]).sum(0), (X - X[0]).T @ (X - X[0]), 2, X[0])
    >>> s.tolist(), G.tolist()                     # Σ x and Σ x xᵀ
    ([4.0, 7.0], [[10.0, 17.0], [17.0, 29.0]])
    """
    if gram is not None:
        gram = gram + np.outer(shifted_sum, delta) + np.outer(delta, shifted_sum) \
            + n * np.outer(delta, delta)
    return shifted_sum + n * delta, gram


@dataclasses.dataclass(frozen=True, eq=False)
class Moments:
    """Sums over the corpus (float64), all from one pass."""

    n: int
    """Rows summed."""
    d: int
    """Dimension."""
    space: str
    """"unit" (rows scaled to length 1, the cosine view) or "raw" (rows as given)."""
    norms: np.ndarray
    """(n,) Euclidean norm of every row (of the raw vectors)."""
    sum_unit: np.ndarray
    """(d,) Σ û_i, the sum of unit rows."""
    sumsq_unit: np.ndarray
    """(d,) Σ û_ij² per dimension."""
    sum_space: np.ndarray
    """(d,) Σ x_i of the rows in ``space``."""
    shifted_gram: np.ndarray | None
    """(d, d) Σ (x_i − r)(x_i − r)ᵀ of the rows in ``space``, ``r`` = :attr:`shift` (None
    when a Dask pass was asked for the O(n d) sums only)."""
    scale: float = 1.0
    """Power of two the raw rows were divided by before summing (exact; keeps the Gram
    matrix of huge or tiny vectors finite). Every figure derived here is scale-free."""
    shift: np.ndarray | None = None
    """(d,) The reference row ``r`` subtracted before the Gram matrix was summed (a row
    of the corpus, in ``space`` and divided by ``scale``); None: no shift (zeros)."""
    shifted_sum: np.ndarray | None = None
    """(d,) Σ (x_i − r), summed as such (not ``sum_space − n r``, which cancels);
    None: :attr:`sum_space` (no shift)."""

    def _shift_parts(self):
        zero = self.shift is None
        r = np.zeros(self.d) if zero else self.shift
        s = self.sum_space if zero or self.shifted_sum is None else self.shifted_sum
        return r, s

    @property
    def gram(self) -> np.ndarray | None:
        """(d, d) Σ x_i x_iᵀ of the rows in ``space`` (uncentred), rebuilt from the
        shifted sums: ``G_r + s rᵀ + r sᵀ + n r rᵀ`` (:func:`moved_sums`)."""
        if self.shifted_gram is None or self.shift is None:
            return self.shifted_gram
        r, s = self._shift_parts()
        return moved_sums(s, self.shifted_gram, self.n, r)[1]

    @property
    def covariance(self) -> np.ndarray:
        """Population covariance of the rows in ``space``, from the shifted sums:
        ``G_r / n − m mᵀ`` with ``m = Σ (x − r) / n`` (small when ``r`` is a row, so
        nothing cancels; exactly 0 for identical rows)."""
        _, s = self._shift_parts()
        mean = s / self.n
        cov = self.shifted_gram / self.n - np.outer(mean, mean)
        return (cov + cov.T) / 2


def compute_moments(X: np.ndarray, *, space: str = "unit", progress=None,
                    scale: float | None = None, centre=None) -> Moments:
    """Stream ``X`` once (inputs already checked: finite, no zero rows when space="unit").

    ``progress``: an object with ``update(n_rows)`` (a tqdm bar) or None. ``scale``:
    power of two dividing the raw rows (None: found with an extra pass when
    ``space="raw"``, so that ``XᵀX`` of vectors near 1e200 or 1e-200 stays finite).
    ``centre``: a (d,) vector subtracted from every row (in float64) as it is read: the
    sums of ``X − centre`` without a centred copy of ``X`` (only with ``space="unit"``).
    """
    if centre is not None and space != "unit":
        raise ValueError("centre is only taken with space='unit'")
    if scale is None:
        scale = 1.0
        if space == "raw":
            step = block_rows(X.shape[1])
            peak = max(float(np.abs(np.asarray(X[a:a + step])).max())
                       for a in range(0, X.shape[0], step))
            scale = power_of_two_scale(peak)
    n, d = X.shape
    norms = np.empty(n, dtype=np.float64)
    sum_unit = np.zeros(d)
    sumsq_unit = np.zeros(d)
    sum_space = np.zeros(d)
    shifted_sum = np.zeros(d)
    gram = np.zeros((d, d))
    shift = None                    # the first row, as the space sees it
    step = block_rows(d)
    for start in range(0, n, step):
        block = np.ascontiguousarray(X[start:start + step])   # sums in row order
        if centre is not None:
            block = block.astype(np.float64) - centre
        b_norms = row_norms(block).astype(np.float64)
        norms[start:start + block.shape[0]] = b_norms
        U = unit_rows(block, b_norms)
        sum_unit += U.sum(axis=0)
        sumsq_unit += np.einsum("ij,ij->j", U, U)
        S = U if space == "unit" else block.astype(np.float64) / scale
        sum_space += S.sum(axis=0)
        if shift is None:
            shift = S[0].copy()
        C = S - shift                # subtle: x − r, not x, so the variance survives
        shifted_sum += C.sum(axis=0)
        gram += C.T @ C
        if progress is not None:
            progress.update(block.shape[0])
    return Moments(n=n, d=d, space=space, norms=norms, sum_unit=sum_unit,
                   sumsq_unit=sumsq_unit, sum_space=sum_space, shifted_gram=gram,
                   scale=scale, shift=np.zeros(d) if shift is None else shift,
                   shifted_sum=shifted_sum)


def resolve(X, name: str = "X"):
    """``(matrix, cache)``: a checked matrix, and the Index's cache dict (or None).

    Accepts a :class:`vecdiag.Index` (its vectors are already checked and its
    ``cache`` holds results computed earlier) or any array-like.
    """
    from ..neighbors import Index
    from .. import _validate as V
    from ..scale.chunks import check_dask_matrix, is_dask_array

    if isinstance(X, Index):
        return X.vectors, X.cache
    if is_dask_array(X):             # checked block by block by the first pass
        return check_dask_matrix(X, name), None
    return V.as_matrix(X, name), None


def cached_moments(X: np.ndarray, cache: dict | None, space: str = "unit",
                   gram: bool = True) -> Moments:
    """:func:`compute_moments` once per Index (cache key ``("moments", space)``).

    Zero rows are refused (with their row numbers) when unit rows are needed. A Dask
    array is summed by :func:`vecdiag.scale.moments.moments` (one task per row block),
    which also refuses NaN/inf rows, naming them; ``gram=False`` (statistics that need
    only the O(n d) sums) skips its Gram matrix there (``Moments.gram`` is then None).
    """
    from ..scale.chunks import is_dask_array

    key = cache_keys.moments(space)
    if cache is not None and key in cache:
        return cache[key]
    if is_dask_array(X):
        from ..scale.moments import moments as dask_moments

        moments = dask_moments(X, space=space, gram=gram)
    else:
        moments = compute_moments(X, space=space)
    if space == "unit":
        refuse_zero_rows(moments.norms)
    if cache is not None and moments.shifted_gram is not None:   # a cached entry is whole
        cache[key] = moments
    return moments


def refuse_zero_rows(norms: np.ndarray, name: str = "X") -> None:
    """Raise, naming the rows, when any norm is 0 (cosine statistics need a direction)."""
    from .. import _validate as V

    zero = np.flatnonzero(norms == 0)
    if zero.size:
        w = V.zero_vectors(zero)
        raise V.DataError(f"{name} has {w.rows}: {w.they} {w.has} no direction, so cosine "
                          f"statistics are undefined; drop {w.them} first (vd.diagnose "
                          "reports zero vectors and leaves them out)")
