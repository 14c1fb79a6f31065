"""The two sets of a drift test, checked once: NumPy arrays, or Dask arrays checked in one
pass over their blocks (:mod:`vecdiag.scale.drift`)."""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..scale.chunks import float64_rows, is_dask_array

__all__ = ["MIN_SAMPLES", "check_reference", "check_current", "current_first"]

# Fewer rows than this per set and the tests have almost no power (and the classifier's
# 5 folds would hold one or two rows each).
MIN_SAMPLES = 10
# Values of each set compared per step when ordering two sets of equal size.
_COMPARE_BYTES = 4 * 2**20


def _check_size(arr, name: str, top: float | None = None) -> None:
    """Enough rows, and magnitudes the float64 statistics survive (``top``: the largest
    magnitude when already measured, as for a Dask set)."""
    if arr.shape[0] < MIN_SAMPLES:
        count = f"{arr.shape[0]} vector{'' if arr.shape[0] == 1 else 's'}"
        raise ValueError(f"{name} has {count}; a drift test needs at least "
                         f"{MIN_SAMPLES} in each set (and a few hundred for useful power): "
                         "collect more rows before testing")
    # subtle: the statistics square distances in float64; beyond ~1e±100 they overflow
    # (NaN statistic) or underflow (every distance 0: "no drift"), silently.
    if top is None:
        top = float(np.abs(arr).max())
    if top > 1e100 or 0 < top < 1e-100:
        raise ValueError(f"{name} has values of magnitude {top:.3g}, too "
                         f"{'large' if top > 1 else 'small'} for stable drift statistics; "
                         "scale reference and current by one common factor first")


def _checked(x, name: str):
    """``(array, summary)``: a NumPy set (summary None) or a Dask set checked in one pass
    over its blocks (:mod:`vecdiag.scale.drift`; summary: rows, magnitude, column sums)."""
    if is_dask_array(x):
        from ..scale.drift import checked_set

        return checked_set(x, name)
    try:
        return V.as_matrix(x, name), None
    except ValueError:
        # a set of samples given as one 1-D array is most often n numbers, not one vector
        # (whose reshape(1, -1), the usual hint, then fails the minimum of rows)
        try:
            numbers = np.ndim(x) == 1 and np.size(x) >= MIN_SAMPLES
        except ValueError:                      # ragged: not a set of numbers either
            numbers = False
        if numbers:
            raise ValueError(f"{name} must be 2-D, one row per sample, got 1-D with shape "
                             f"{np.shape(x)}; use {name}.reshape(-1, 1) for samples of one "
                             "number each") from None
        raise


def check_reference(reference):
    """``(reference, summary)`` checked (summary None for NumPy, see :func:`_checked`)."""
    ref, summary = _checked(reference, "reference")
    _check_size(ref, "reference", None if summary is None else summary.top)
    return ref, summary


def check_current(checked_ref, current, name: str = "current"):
    """Check ``current`` against an already checked reference (NumPy or Dask, each)."""
    ref, ref_summary = checked_ref
    cur, summary = _checked(current, name)
    # most often a model upgrade (384 -> 768 dimensions): say what compares two models
    V.check_same_dim(ref, "reference", cur, name,
                     fix="To see what a new model changes, embed the same items with both "
                         "models and compare their neighbours: vd.neighborhood_change(old, new) "
                         "(the dimensions may differ)")
    _check_size(cur, name, None if summary is None else summary.top)
    if _same_rows(ref, cur, ref_summary, summary):
        raise ValueError(f"reference and {name} hold the same {ref.shape[0]} vectors "
                         "(the same file twice?); a set compared with itself cannot drift and "
                         "the test says nothing: pass two different samples")
    return cur


def _same_rows(a, b, summary_a=None, summary_b=None) -> bool:
    """True when ``b`` holds exactly the rows of ``a`` (in any order). A Dask set comes
    with the summary its checking pass measured (:mod:`vecdiag.scale.drift`).

    subtle: NumPy sets go through the same exact per-row hash as Dask ones (integer
    arithmetic on the float64 bits). A float hash ``rows @ w`` differed in the last bit
    for the same row at another position (BLAS sums a block's rows in other orders), so
    a set and the same set reversed or shuffled were not recognised: 50 rows against
    themselves reversed ran the test (MMD p = 1.0, "no drift") instead of the error.
    """
    if a.shape != b.shape:
        return False
    from ..scale.drift import SetSummary, same_rows, summary_of

    if is_dask_array(a) or is_dask_array(b):
        return same_rows(a, summary_a or summary_of(a), b, summary_b or summary_of(b))
    # column sums in float64 accumulators (no copy of the data): the cheap screen
    sa, sb = (SetSummary(x.shape[0], 0.0, x.sum(axis=0, dtype=np.float64)) for x in (a, b))
    return same_rows(a, sa, b, sb)


def current_first(ref, cur) -> bool:
    """Whether ``cur`` comes first in the order both sets' random draws follow, an order
    that does not depend on which argument came first: the set with fewer rows, and for
    equal sizes the one holding the smaller value at the first position where the two
    differ (row by row, then column by column).

    Sets holding the same values at every position are refused before (the same rows);
    then either order gives the same draws. Compares :data:`_COMPARE_BYTES` of rows at a
    time (a Dask set computes only those), usually only the first.
    """
    if ref.shape[0] != cur.shape[0]:
        return cur.shape[0] < ref.shape[0]
    step = max(1, _COMPARE_BYTES // (8 * max(1, ref.shape[1])))
    for start in range(0, ref.shape[0], step):
        a, b = (float64_rows(x, slice(start, start + step)) for x in (ref, cur))
        differ = np.argwhere(a != b)   # row-major: the first position where they differ
        if differ.size:
            i, j = differ[0]
            return bool(b[i, j] < a[i, j])
    return False
