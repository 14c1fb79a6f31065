"""The sampled near-copy search on transformed vectors, without a transformed copy.

When rogue dimensions decide the raw cosines, or a narrow cone or an offset decides them
under dot or Euclidean distance, :func:`vecdiag.diagnose` judges near-copies on the
vectors as the fix would leave them: standardised dimensions, or the centred rows. An
in-memory corpus is copied so transformed (up to a size); a memmap, or a larger array, is
not: here the sampled rows are transformed once, the corpus one piece at a time, and each
piece searched for the sampled rows' nearest; the pieces' lists are merged with the tie
rule (higher cosine first, then lower index). Memory: one piece, never the corpus.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .moments import unit_rows

__all__ = ["Transform", "standard_params", "transformed_lists"]

_PIECE_BYTES = 64 * 2**20             # transformed corpus rows held at once

Transform = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``transform(rows, positions)``: the transformed rows (the positions index per-row
figures such as lengths)."""


def piece_rows(d: int, itemsize: int) -> int:
    """Corpus rows per piece: :data:`_PIECE_BYTES` of transformed rows."""
    return max(1024, _PIECE_BYTES // max(1, d * itemsize))


def standard_params(X, centre: bool, transform: Transform | None = None):
    """``(mean, scale)`` (float64, per dimension) that standardise the rows of ``X``
    (after ``transform`` when given): the mean when ``centre`` (else 0) and one over the
    root mean square about it (1 where a dimension is constant). Two passes, one piece of
    rows at a time."""
    n, d = X.shape
    step = piece_rows(d, 8)

    def pieces():
        for a in range(0, n, step):
            rows = np.asarray(X[a:a + step])
            if transform is not None:
                rows = transform(rows, np.arange(a, a + rows.shape[0]))
            yield np.asarray(rows, np.float64, order="C")   # sums in row order, any layout

    mean = np.zeros(d)
    if centre:
        for B in pieces():
            mean += B.sum(axis=0)
        mean /= max(n, 1)
    sq = np.zeros(d)
    for B in pieces():
        B = B - mean
        sq += np.einsum("ij,ij->j", B, B)
    rms = np.sqrt(sq / max(n, 1))
    scale = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 1.0)
    return mean, scale


def unit_then(norms: np.ndarray, dtype, then: Transform | None = None) -> Transform:
    """The transform dividing each row by its length (``norms`` of every corpus row), then
    applying ``then``."""
    def transform(rows, positions):
        out = unit_rows(rows, norms[positions], dtype)
        return out if then is None else then(out, positions)
    return transform


def affine(mean: np.ndarray, scale: np.ndarray | None, dtype) -> Transform:
    """The transform ``(rows - mean) * scale`` in ``dtype`` (``scale`` None: centring)."""
    mean = np.asarray(mean).astype(dtype)
    factor = None if scale is None else np.asarray(scale).astype(dtype)

    def transform(rows, positions):
        out = rows.astype(dtype, copy=False) - mean
        return out if factor is None else out * factor
    return transform


def transformed_lists(X, rows: np.ndarray, k: int, transform: Transform):
    """Indices and cosines (s, k) of each sampled row's ``k`` nearest other rows, the
    cosines those of ``transform``'s rows; the corpus is transformed one piece at a time.

    Raises ValueError (from the search) when a transformed row has no direction (a zero
    row), as the search of a transformed copy would.
    """
    from ..neighbors import knn
    from ..scale.block_top import keep_top
    from ._graph import drop_self

    n, d = X.shape
    Q = transform(np.asarray(X[rows]), rows)
    step = piece_rows(d, Q.dtype.itemsize)
    want = min(k + 1, n)
    idx = np.zeros((rows.size, 0), np.int64)
    scores = np.zeros((rows.size, 0), Q.dtype)
    for a in range(0, n, step):
        piece = transform(np.asarray(X[a:a + step]), np.arange(a, min(n, a + step)))
        res = knn(Q, piece, k=min(want, piece.shape[0]), metric="cosine",
                  show_progress=False)
        # the tie rule across pieces: higher cosine first, then lower index
        idx, scores = keep_top([idx, res.indices + a], [scores, res.scores], want, "cosine")
    return drop_self(idx, scores, rows, want - 1)
