"""Exact copies in a Dask corpus in O(n·d): per-block row hashes, collisions checked.

Each row block hashes its own rows (:func:`vecdiag.diagnostics.duplicates.row_hashes`,
one task per block); only the hashes travel (8 bytes a row). Rows whose hash is shared are
the candidates: just those rows are gathered and compared value by value, so a hash
collision between different rows never joins them. Nothing else of the corpus is gathered.
"""

from __future__ import annotations

import numpy as np

from ..diagnostics.duplicates import groups_from_hashes, hash_multipliers, row_hashes
from .chunks import check_dask_matrix, compute, row_blocks, row_pieces, rows_per_piece
from .block_top import gather_rows
from .direct import chunk_inputs, source_pieces
from .tasks import reuse_freed_memory

__all__ = ["exact_duplicate_groups_dask", "gather_rows", "copied_rows_dask",
           "transform_copies_alike"]


def _hash_pieces(pieces, multipliers) -> np.ndarray:
    hashes = [row_hashes(P, multipliers) for P in pieces]
    return np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)


def _piece_rows(d: int, itemsize: int) -> int:
    """Rows whose 64-bit words (one per value, float32 too) take :data:`.PIECE_BYTES`
    (:func:`.rows_per_piece`), not by ``itemsize``: a float32 piece's words are twice its
    size."""
    return rows_per_piece(d)


def _hash_block(block, multipliers) -> np.ndarray:
    """Row hashes of one block, a few MB of rows at a time (runs on a worker): hashing a
    128 MB block at once made 640 MB of copies and 64-bit words."""
    reuse_freed_memory()
    B = np.asarray(block)
    return _hash_pieces((P for _, P in row_pieces(B, _piece_rows(B.shape[1], B.itemsize))),
                        multipliers)


def _stream_hash(source, multipliers) -> np.ndarray:
    """The same for one chunk of an ``.npy`` file, read by this task while it hashes."""
    reuse_freed_memory()
    return _hash_pieces((P for _, P in source_pieces(source, _piece_rows)), multipliers)


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

    sources = getattr(X, "row_sources", None)          # vd.open_vectors of .npy files
    X = check_dask_matrix(X, "X")
    multipliers = hash_multipliers(X.shape[1], X.dtype)
    fn, chunks = chunk_inputs(row_blocks(X), sources, _hash_block, _stream_hash)
    task = dask_core.delayed(fn, pure=True)
    parts = compute(*[task(chunk, multipliers) for chunk in chunks])
    hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
    return groups_from_hashes(hashes, lambda rows: gather_rows(X, np.sort(rows)))


def copied_rows_dask(X) -> tuple[np.ndarray, np.ndarray] | None:
    """``(members, first)`` of a Dask corpus, as
    :func:`vecdiag.neighbors.scoring.corpus_copies` gives them in memory: every row that
    repeats a lower row (ascending) and the lowest row of its group; None when no row
    repeats another. One hashing pass (:func:`exact_duplicate_groups_dask`).

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1., 2], [0, 1], [1, 2], [1, 2]]), chunks=(2, 2))
    >>> copied_rows_dask(X)
    (array([2, 3]), array([0, 0]))
    """
    groups = exact_duplicate_groups_dask(X)
    if not groups:
        return None
    members = np.concatenate([np.asarray(g[1:], dtype=np.int64) for g in groups])
    first = np.concatenate([np.full(len(g) - 1, g[0], dtype=np.int64) for g in groups])
    order = np.argsort(members, kind="stable")
    return members[order], first[order]


def transform_copies_alike(X, T, transform, copies):
    """``T``, a lazy row-by-row transform of the Dask corpus ``X`` (one task per row block),
    with every row of a group of identical rows of ``X`` (``copies`` from
    :func:`copied_rows_dask`) set to one value: ``transform`` of the group's first row,
    computed once here. A matrix product computed per block rounds a row by where it
    stands in its block, and a copy in another block came out a last bit off its
    original (the tie rule then ranked copies out of index order)."""
    if copies is None:
        return T
    members, first = copies
    heads = np.unique(first)
    canon = np.asarray(transform(gather_rows(X, heads)))
    rows = np.concatenate([heads, members])
    values = np.concatenate([canon, canon[np.searchsorted(heads, first)]])
    order = np.argsort(rows, kind="stable")
    return T.map_blocks(_put_rows, rows[order], values[order], dtype=T.dtype, meta=T._meta)


def _put_rows(block, rows: np.ndarray, values: np.ndarray, block_info=None):
    """The rows of ``rows`` (global, ascending) that fall in this block set to ``values``."""
    start, stop = block_info[0]["array-location"][0]
    a, b = np.searchsorted(rows, [start, stop])
    if a == b:
        return block
    out = np.array(block, copy=True)
    out[rows[a:b] - start] = values[a:b].astype(out.dtype, copy=False)
    return out
