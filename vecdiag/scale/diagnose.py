""":func:`vecdiag.diagnose` on a Dask corpus: the preflight and the moments in one pass.

The NumPy preflight scans the rows for NaN/inf and zero vectors and then copies the usable
ones (``X[keep]``); a Dask corpus may not fit anywhere, so here one pass
(:func:`vecdiag.scale.moments.moments` with ``drop=True``) both finds those rows (by
global row number) and sums the usable ones. The usable rows then stay a *lazy* Dask
array (:func:`usable_rows`: each block drops its own bad rows; chunk sizes known), which
the later stages read: the isotropy pass and the sampled statistics of
:mod:`vecdiag.diagnostics.sampled_stages` (hubness, near-duplicates, TwoNN, query
shift). Nothing of size ``n`` reaches the client except the ``n`` norms.
"""

from __future__ import annotations

import numpy as np

from ..diagnostics import stages as S
from .chunks import row_blocks
from .moments import describe_rows, moments

__all__ = ["preflight", "usable_rows", "input_rows"]


def _drop_rows(block, dropped, block_info=None):
    i = block_info[0]["chunk-location"][0] if block_info else 0
    out = np.delete(np.asarray(block), dropped[i], axis=0)
    return out


def usable_rows(X, dropped):
    """``X`` without the rows ``dropped`` (per block, positions in it): a lazy Dask array.

    Parameters
    ----------
    X : dask.array.Array (n, d)
        A checked corpus (columns in one chunk).
    dropped : sequence of ndarray
        One array per row block, as :attr:`vecdiag.scale.moments.RowReport.dropped`.

    Returns
    -------
    dask.array.Array
        ``X`` itself when nothing is dropped; otherwise one task per block, chunk sizes
        known.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(3, 2))
    >>> usable_rows(X, [np.array([1]), np.array([], dtype=int)]).compute()[:, 0].tolist()
    [0.0, 4.0, 6.0, 8.0, 10.0]
    """
    if not any(len(r) for r in dropped):
        return X
    sizes = tuple(int(c - len(r)) for c, r in zip(X.chunks[0], dropped))
    return X.map_blocks(_drop_rows, [np.asarray(r) for r in dropped], dtype=X.dtype,
                        chunks=(sizes, X.chunks[1]), meta=np.empty((0, X.shape[1]), X.dtype))


def input_rows(X, dropped):
    """A function mapping a usable row (of :func:`usable_rows`) to its input row number.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.zeros((6, 2)), chunks=(3, 2))
    >>> f = input_rows(X, [np.array([1]), np.array([], dtype=int)])
    >>> [f(i) for i in range(5)]
    [0, 2, 3, 4, 5]
    """
    blocks = row_blocks(X)
    kept = np.array([b.stop - b.start - len(r) for b, r in zip(blocks, dropped)])
    ends = np.cumsum(kept)

    def mapping(i: int) -> int:
        b = int(np.searchsorted(ends, i, side="right"))
        local = i - (ends[b] - kept[b])
        rows = np.delete(np.arange(blocks[b].stop - blocks[b].start), dropped[b])
        return int(blocks[b].start + rows[local])

    return mapping


def preflight(w: S.Work) -> None:
    """The preflight and the moments stage of a Dask corpus, in one pass.

    Fills ``w.m`` (the sums over the usable rows, with their norms), ``w.peak``,
    ``w.W`` (the usable rows, lazy), ``w.input_row`` and the non_finite / zero_vectors /
    small_corpus findings, worded as the NumPy preflight's.
    """
    space = "unit" if w.metric == "cosine" else "raw"
    w.m, report = moments(w.X, space=space, name="corpus", drop=True)
    w.peak = report.peak
    w.W = usable_rows(w.X, report.dropped)
    w.input_row = input_rows(w.X, report.dropped)
    S.row_findings(w, report.n_bad, describe_rows(report.n_bad, report.bad), report.bad,
                   report.n_zero, describe_rows(report.n_zero, report.zero), report.zero)
