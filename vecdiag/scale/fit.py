"""The vecdiag.fixes transformers on a Dask corpus: fit from one pass, transform lazily.

``Center``, ``Whiten`` and ``AllButTheTop`` fit from the mean and covariance of one pass
over the blocks (:func:`vecdiag.scale.covariance.scatter`); every transformer's
``transform`` of a Dask array is a lazy Dask array, one task per row block, that names
zero rows by their global row number and transforms its block :data:`.PIECE_BYTES` of
rows at a time (exact copies in the block given one output, as in memory).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .block_top import checked_block
from .chunks import check_dask_matrix, row_pieces, rows_per_piece
from .covariance import scatter

__all__ = ["dask_fit", "dask_transform"]


def dask_fit(est, X):
    """``(d, dtype, mean, cov)`` of a Dask corpus for ``est.fit``: one pass over the blocks
    (:func:`vecdiag.scale.covariance.scatter`), rows unit-normalised first when
    ``est.normalize_first``; sets ``n_features_in_``."""
    X, n, mean, S = scatter(X, unit=est.normalize_first, zero=est.zero)
    est.n_features_in_ = X.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        cov = S / max(n - 1, 1)
    return X.shape[1], X.dtype, mean.astype(X.dtype), cov


def dask_transform(est, X, width: int):
    """``est.transform`` of a Dask array: a lazy Dask array, one task per row block."""
    check_is_fitted(est)
    X = check_dask_matrix(X, "X")
    if X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input")
    return X.map_blocks(_transform_block, est, dtype=X.dtype,
                        chunks=(X.chunks[0], (width,)), meta=np.empty((0, width), X.dtype))


def _transform_block(block, est, block_info=None):
    """One row block through ``est.transform``; NaN/inf rows (and zero rows, when they are
    normalised) named by their global row, as the transform of the whole array names them
    (the block's own check would name them by their row in the block)."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    unit = getattr(est, "normalize_first", False) and est.zero == "raise"
    checked_block(block, start, "cosine" if unit else "dot", "X")
    B = np.asarray(block)
    rows = rows_per_piece(B.shape[1])
    if B.shape[0] <= rows:
        return est.transform(B)
    # a piece at a time: the transform of a whole block held its unit rows, centred rows
    # and products at once (Whiten: 4.2 float64 copies of a float64 block)
    out = None
    for a, P in row_pieces(B, rows):
        T = est.transform(P)
        if out is None:
            out = np.empty((B.shape[0],) + T.shape[1:], dtype=T.dtype)
        out[a:a + P.shape[0]] = T
    # a copy in another piece was rounded by where it stood in its piece: set it to its
    # original's output, as the transform of the whole block does
    from ..fixes.checking import copies_alike

    return copies_alike(B, out)
