"""Dividing vectors by one power of two (exact) so that their scores neither overflow nor
underflow: the one rule of :func:`vecdiag.diagnose`, :func:`vecdiag.hubness`,
:func:`vecdiag.intrinsic_dimension` and :meth:`vecdiag.Projection.faithfulness`.

Dividing every vector by the same power of two changes no digit of any value, so
rankings under dot and Euclidean (and every ratio of distances) are those of the data as
given; only scores that would leave the float range (float32 near 1e20 or 1e-20, whose
squares overflow or underflow) become computable. Shared here, upstream of both
:mod:`vecdiag.projection` and :mod:`vecdiag.diagnostics`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["power_of_two_scale", "largest_magnitude", "ranking_rows"]


def power_of_two_scale(maxabs: float) -> float:
    """The power of two nearest above ``maxabs`` (1.0 for 0): dividing by it is exact.

    Examples
    --------
    >>> power_of_two_scale(5.0), power_of_two_scale(0.0)
    (8.0, 1.0)
    """
    if not maxabs > 0 or not np.isfinite(maxabs):
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(maxabs)[1])))


def largest_magnitude(X) -> float:
    """The largest ``|x|`` of a checked array, 0.0 for None or no values (two passes, no
    copy of ``X``)."""
    return max(float(X.max()), -float(X.min())) if X is not None and X.size else 0.0


def ranking_rows(X: np.ndarray, metric: str, peak: float | None = None):
    """``(rows, scale)``: ``X`` to search when only its rankings are wanted (a kNN graph's
    lists, TwoNN's distance ratios), and the power of two it was divided by.

    Rankings under dot and Euclidean do not change when every vector is divided by one
    positive number; values beyond 2^±60 (2^±40 in float32; ``peak``, the largest ``|x|``,
    found when None) are divided in float64 by :func:`power_of_two_scale` (exact), so
    that scores that would overflow or underflow (float32 near 1e20 or 1e-20) are
    computed. Cosine scores
    unit rows whatever the lengths: ``X`` is returned as it is (scale 1.0), as it is for
    values in range. The one rule of :func:`vecdiag.diagnose`, :func:`vecdiag.hubness`,
    :func:`vecdiag.intrinsic_dimension` and :meth:`vecdiag.Projection.faithfulness`.

    >>> rows, scale = ranking_rows(np.array([[3e20, 0.0], [0.0, 1e20]], np.float32), "dot")
    >>> rows.dtype, scale == 2.0 ** 69
    (dtype('float64'), True)
    """
    if metric == "cosine":
        return X, 1.0
    if peak is None:
        peak = largest_magnitude(X)
    # subtle: a float32 row of d values near 2^60 is sqrt(d) times longer, and the engine
    # refuses lengths past about 2^61 (their squared sums overflow): at 2^59.5 and d=384 it
    # did, so float32 is divided from 2^40 on (room for d up to 2^40)
    # (X.dtype, not np.asarray(X).dtype: a Dask array would be computed whole)
    limit = 2.0 ** (40 if np.dtype(X.dtype).itemsize <= 4 else 60)
    scale = 1.0 if 1 / limit < peak < limit else power_of_two_scale(peak)
    if scale == 1.0:
        return X, 1.0
    # in float64: a float32 corpus divided in float32 would lose its shortest rows to zero
    # (astype, not np.asarray: a Dask corpus stays lazy, divided block by block)
    rows = X.astype(np.float64) if hasattr(X, "astype") else np.asarray(X, np.float64)
    return rows / scale, scale
