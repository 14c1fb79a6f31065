"""Exact copies in a Dask corpus in O(n·d): per-block row hashes, collisions checked.

Each row block hashes its own rows (:func:`vecdiag.diagnostics.duplicates.row_hashes`,
one task per block); only the hashes travel (8 bytes a row). Rows whose hash is shared are
the candidates: just those rows are gathered and compared value by value, so a hash
collision between different rows never joins them. Nothing else of the corpus is gathered.
"""

from __future__ import annotations

import numpy as np

from ..diagnostics.duplicates import groups_from_hashes, hash_multipliers, row_hashes
from .chunks import check_dask_matrix, compute, require_dask, row_blocks

__all__ = ["exact_duplicate_groups_dask", "gather_rows"]


def _hash_block(block, multipliers) -> np.ndarray:
    return row_hashes(np.asarray(block), multipliers)


def _take(block, rows: np.ndarray) -> np.ndarray:
    return np.asarray(block)[rows]


def gather_rows(X, positions: np.ndarray) -> np.ndarray:
    """Rows ``positions`` (ascending ints) of a checked Dask array, as one NumPy array.

    Each row block gives only its own requested rows (one small task per block that holds
    any), so nothing but those rows travels.
    """
    require_dask("gathering rows")
    import dask as dask_core

    positions = np.asarray(positions, dtype=np.int64)
    tasks, order = [], []
    for block in row_blocks(X):
        lo, hi = np.searchsorted(positions, [block.start, block.stop])
        if hi > lo:
            local = positions[lo:hi] - block.start
            tasks.append(dask_core.delayed(_take, pure=True)(block.data, local))
            order.append((lo, hi))
    out = np.empty((positions.size, X.shape[1]), dtype=X.dtype)
    for (lo, hi), part in zip(order, compute(*tasks)):
        out[lo:hi] = part
    return out


def exact_duplicate_groups_dask(X) -> list[list[int]]:
    """Groups (≥ 2 rows) of identical rows of a Dask corpus, largest group first.

    Equal to :func:`vecdiag.diagnostics.duplicates.exact_duplicate_groups` on the same
    rows as a NumPy array.

    Parameters
    ----------
    X : dask.array.Array, (n, d)
        The corpus (checked here).

    Returns
    -------
    list of list of int
        Row positions per group, ascending.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1., 2], [0, 1], [1, 2], [-0., 1]]), chunks=(2, 2))
    >>> exact_duplicate_groups_dask(X)
    [[0, 2], [1, 3]]
    """
    import dask as dask_core

    X = check_dask_matrix(X, "X")
    multipliers = hash_multipliers(X.shape[1], X.dtype)
    task = dask_core.delayed(_hash_block, pure=True)
    parts = compute(*[task(b.data, multipliers) for b in row_blocks(X)])
    hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
    return groups_from_hashes(hashes, lambda rows: gather_rows(X, np.sort(rows)))
