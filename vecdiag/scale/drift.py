"""``vd.drift`` on Dask arrays: check each set in one pass, move only the sampled rows.

Every drift test runs on a subsample of at most ``max_samples`` rows per set (see
:mod:`vecdiag.drift.api`); the corpus-sized work is checking the sets. On a Dask array:

* :func:`checked_set` makes one pass over the blocks (per block: rows holding NaN or
  inf, the largest magnitude, the column sums in float64, walked :data:`.PIECE_BYTES` of
  rows at a time) and raises the errors
  :func:`vecdiag.drift` raises for a NumPy array, naming the offending rows;
* :func:`same_rows` answers "are these the same vectors?" from the column sums and, only
  when those agree, an exact per-row hash (integer arithmetic on the float64 bits, so it
  does not depend on how the rows are blocked), then the rows themselves;
* :func:`sample_rows` draws the subsample with the same generator calls as the NumPy
  path (``np.sort(rng.choice(n, size, replace=False))``) and computes only those rows, so
  a Dask input gives exactly the NumPy result for the same data and ``random_state``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .chunks import (block_pieces, check_dask_matrix, compute, float64_rows, is_dask_array,
                     require_dask, row_blocks)

__all__ = ["SetSummary", "checked_set", "same_rows", "sample_rows"]

# Rows compared per step when two sets hash alike (never more on the client at once).
_COMPARE_ROWS = 65_536


class SetSummary:
    """What one pass over a set measured: rows, largest magnitude, float64 column sums."""

    def __init__(self, n: int, top: float, sums: np.ndarray):
        self.n, self.top, self.sums = n, top, sums


def _block_summary(block, start: int):
    bad, n_bad, top = [], 0, 0.0
    sums = np.zeros(np.shape(block)[1])
    # a piece at a time: a whole block's finite rows, magnitudes and float64 words were
    # copies of it
    for a, b in block_pieces(block):
        finite = np.isfinite(b).all(axis=1)
        rows = np.flatnonzero(~finite)
        bad.append(rows[:5] + start + a)
        n_bad += int(rows.size)
        if finite.any():
            top = max(top, float(np.abs(b[finite]).max()))
        # the running sums lead the piece, so its rows are added to them one by one as
        # the block's column sum adds them (the same sums, bit for bit)
        sums = np.concatenate([sums[None], b]).sum(axis=0, dtype=np.float64)
    return (np.concatenate(bad)[:5], n_bad, top, sums)


def checked_set(X, name: str):
    """``(X, summary)``: a checked Dask set (see :func:`~.chunks.check_dask_matrix`) and
    its :class:`SetSummary`; NaN/inf rows are refused like ``vd.drift`` refuses them."""
    require_dask(f"drift on a Dask {name}")
    import dask

    X = check_dask_matrix(X, name)
    parts = [dask.delayed(_block_summary)(b.data, b.start) for b in row_blocks(X)]
    results = compute(*parts)
    n_bad = sum(r[1] for r in results)
    if n_bad:
        shown = np.concatenate([r[0] for r in results])[:5].tolist()
        rows = V.format_rows(shown) if n_bad <= 5 else (
            f"{n_bad} rows (first: {', '.join(map(str, shown))})")
        raise ValueError(f"{name} has {rows} with NaN or inf; drop or impute them first")
    top = max(r[2] for r in results)
    sums = np.sum([r[3] for r in results], axis=0)
    return X, SetSummary(X.shape[0], top, sums)


def summary_of(X: np.ndarray) -> SetSummary:
    """The :class:`SetSummary` of an already checked NumPy set."""
    return SetSummary(X.shape[0], float(np.abs(X).max()), X.sum(axis=0, dtype=np.float64))


def _row_hash(block, weights: np.ndarray) -> np.ndarray:
    """Per row, an exact hash of its float64 values (wrapping uint64 arithmetic), a piece
    of :data:`.PIECE_BYTES` at a time (a row's hash is its own: the same hashes as the
    whole block's, whose float64 rows and 64-bit products were two copies of it)."""
    out = np.empty(np.shape(block)[0], dtype=np.uint64)
    for a, p in block_pieces(block):
        b = np.asarray(p, dtype=np.float64) + 0.0  # -0.0 -> 0.0: equal values, equal hash
        bits = np.ascontiguousarray(b).view(np.uint64)
        with np.errstate(over="ignore"):
            out[a:a + p.shape[0]] = (bits * weights).sum(axis=1, dtype=np.uint64)
    return out


def _hashes(X, weights) -> np.ndarray:
    if not is_dask_array(X):
        return np.concatenate([_row_hash(X[i:i + _COMPARE_ROWS], weights)
                               for i in range(0, X.shape[0], _COMPARE_ROWS)])
    import dask

    parts = [dask.delayed(_row_hash)(b.data, weights) for b in row_blocks(X)]
    return np.concatenate(compute(*parts))


def same_rows(a, sa: SetSummary, b, sb: SetSummary) -> bool:
    """True when ``b`` holds exactly the rows of ``a`` in any order (either may be Dask)."""
    if a.shape != b.shape:
        return False
    if not np.allclose(sa.sums, sb.sums, rtol=1e-9, atol=1e-12):
        return False
    weights = np.random.default_rng(12345).integers(1, 2**63, size=a.shape[1],
                                                    dtype=np.uint64) | np.uint64(1)
    ha, hb = _hashes(a, weights), _hashes(b, weights)
    oa, ob = np.argsort(ha, kind="stable"), np.argsort(hb, kind="stable")
    if not np.array_equal(ha[oa], hb[ob]):
        return False
    for i in range(0, a.shape[0], _COMPARE_ROWS):  # hashes agree: compare the rows themselves
        if not np.array_equal(float64_rows(a, np.sort(oa[i:i + _COMPARE_ROWS])),
                              float64_rows(b, np.sort(ob[i:i + _COMPARE_ROWS]))[
                                  _match(oa[i:i + _COMPARE_ROWS], ob[i:i + _COMPARE_ROWS])]):
            return False
    return True


def _match(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Positions into ``b[sort(ib)]`` lined up with ``a[sort(ia)]`` (ia[j] pairs ib[j])."""
    pos_a = np.argsort(ia, kind="stable")            # a rows in sorted order -> pair j
    rank_b = np.empty_like(ib)
    rank_b[np.argsort(ib, kind="stable")] = np.arange(ib.size)
    return rank_b[pos_a]


def sample_rows(X, size: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``size`` rows of a Dask set as float64, drawn exactly as the NumPy path draws
    them: all rows when there are at most ``size``, else ``np.sort(rng.choice(n, size,
    replace=False))``. Only the chosen rows are computed and travel."""
    n = X.shape[0]
    if n <= size:
        return np.asarray(compute(X)[0], dtype=np.float64)
    return float64_rows(X, np.sort(rng.choice(n, size=size, replace=False)))
