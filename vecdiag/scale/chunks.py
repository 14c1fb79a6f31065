"""A Dask corpus as row blocks: recognise it, check it, walk it, compute it.

Every Dask path in vecdiag goes through these few functions, so that they agree on
three things:

* **What a Dask corpus is**: a 2-D ``dask.array.Array`` of real numbers with known chunk
  sizes. float32 and float64 stay as they are (as :func:`vecdiag._validate.as_vectors`
  does for NumPy); other real dtypes become float64 block by block. The columns are put
  in one chunk (a row block always holds whole vectors); rows keep their chunking.
* **How it is walked**: :func:`row_blocks` gives one :class:`RowBlock` per row chunk, with
  its global ``start``/``stop`` and a ``dask.delayed`` object for its values. Work is
  written per block (a NumPy function of one block) and merged afterwards, so no task
  ever holds more than one block, and nothing gathers the corpus to one worker.
* **Where it runs**: :func:`compute` calls ``dask.compute``, which uses the active
  scheduler: a ``distributed.Client`` if one exists, Dask's threads otherwise.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from .._optional import require
from .formats import out_dtype

__all__ = ["RowBlock", "is_dask_array", "require_dask", "check_dask_matrix", "row_blocks",
           "row_pieces", "PIECE_BYTES", "rows_per_piece", "block_pieces", "compute",
           "float64_rows", "aligned_empty"]

PIECE_BYTES = 4 * 2**20
"""float64 values a task holds per temporary while it walks its block a piece at a time
(:func:`block_pieces`): the unit rows, differences, products and hashes of a piece stay a
few MB whatever the chunk size (a whole 128 MB block made several float64 copies of itself
at once, and a worker with a few hundred MB per task was killed)."""


def is_dask_array(x) -> bool:
    """True for a ``dask.array.Array``; never imports dask.

    Examples
    --------
    >>> import numpy as np
    >>> is_dask_array(np.zeros((2, 2)))
    False
    """
    if "dask.array" not in sys.modules:
        return False
    return isinstance(x, sys.modules["dask.array"].Array)


def require_dask(feature: str = "this call"):
    """Import and return ``dask.array``, or raise an ImportError naming the extra."""
    require("dask", feature)
    return require("dask.array", feature)


def check_dask_matrix(X, name: str = "X", *, ndim: int = 2):
    """A checked Dask array: real dtype, ``ndim`` dimensions, known chunk sizes, not empty.

    Returns the array with float32/float64 kept (big-endian ones in native order, as
    :func:`vecdiag._validate.as_vectors` does in memory; other real dtypes cast to
    float64) and, for 2-D input, its columns in one chunk. Finiteness is not checked
    here (that would read the whole corpus): the first pass over the data checks each
    block.
    """
    da = require_dask(f"a Dask {name}")
    if not isinstance(X, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(X).__name__}")
    kind = X.dtype.kind
    if kind not in "fiub":
        raise TypeError(f"{name} has dtype {X.dtype}; pass real numbers (float32 or float64)")
    if X.ndim != ndim:
        # the hints of the NumPy path (vecdiag._validate.as_vectors)
        hint = (f"; use {name}.reshape(1, -1) for a single vector" if ndim == 2 and X.ndim == 1
                else f"; reshape it to (n_vectors, dim), e.g. {name}.reshape(-1, "
                     f"{X.shape[-1]})" if ndim == 2 and X.ndim > 2 else "")
        raise ValueError(f"{name} must be {ndim}-D, got {X.ndim}-D with shape {X.shape}{hint}")
    if any(np.isnan(s) for s in X.shape):
        raise ValueError(f"{name} has unknown chunk sizes (shape {X.shape}); call "
                         f"{name}.compute_chunk_sizes() first")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); pass at least one vector")
    if ndim == 2 and X.shape[1] == 0:
        raise ValueError(f"{name} has vectors of dimension 0 (shape {X.shape})")
    if X.dtype not in (np.float32, np.float64):
        # big-endian float32 ('>f4') stays float32, in native order, as in memory and in
        # open_vectors' files; other real dtypes become float64
        X = X.astype(out_dtype(X.dtype))
    if ndim == 2 and len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


@dataclasses.dataclass(frozen=True)
class RowBlock:
    """One row chunk of a Dask corpus: rows ``start:stop`` as a ``dask.delayed`` array."""

    start: int
    stop: int
    data: object


def row_blocks(X) -> list[RowBlock]:
    """The row chunks of a checked 2-D Dask array, in order, with their offsets."""
    delayed = X.to_delayed().ravel()
    blocks, start = [], 0
    for size, part in zip(X.chunks[0], delayed):
        blocks.append(RowBlock(start, start + size, part))
        start += size
    return blocks


def row_pieces(block: np.ndarray, rows: int):
    """``(offset, rows)`` views of ``block``, ``rows`` rows each: how a task works through
    its block a few MB at a time (one empty piece for an empty block).

    Examples
    --------
    >>> [(a, p.shape[0]) for a, p in row_pieces(np.zeros((5, 2)), 2)]
    [(0, 2), (2, 2), (4, 1)]
    """
    step = max(1, rows)
    return ((a, block[a:a + step]) for a in range(0, max(1, block.shape[0]), step))


def rows_per_piece(width: int) -> int:
    """Rows per piece when each row's temporaries are ``width`` float64 values: rows that
    take :data:`PIECE_BYTES` (at least 1).

    Examples
    --------
    >>> rows_per_piece(64), rows_per_piece(10**7)
    (8192, 1)
    """
    return max(1, PIECE_BYTES // (8 * max(1, width)))


def block_pieces(block, width: int | None = None):
    """``(offset, rows)`` pieces of a block (:func:`row_pieces`) of :func:`rows_per_piece`
    rows, ``width`` float64 values per row (default: the block's columns).

    Examples
    --------
    >>> [(a, p.shape[0]) for a, p in block_pieces(np.zeros((3, 2**19)))]
    [(0, 1), (1, 1), (2, 1)]
    """
    B = np.asarray(block)
    return row_pieces(B, rows_per_piece(B.shape[1] if width is None else width))


def compute(*objs):
    """``dask.compute`` with the active scheduler (a distributed Client if one exists).

    Arrays that come back are made C-contiguous and 64-byte aligned: an array returned
    from a worker can arrive misaligned, and BLAS on it runs several times slower.
    """
    dask = require("dask", "computing a Dask result")
    out = dask.compute(*objs)
    return tuple(_aligned(o) for o in out)


def float64_rows(X, rows) -> np.ndarray:
    """``X[rows]`` (a slice or positions) as a float64 NumPy array, computing only those
    rows when ``X`` is a Dask array (drift's set comparisons read both kinds alike).

    Examples
    --------
    >>> float64_rows(np.arange(6, dtype=np.float32).reshape(3, 2), slice(1, 3)).tolist()
    [[2.0, 3.0], [4.0, 5.0]]
    """
    if is_dask_array(X):
        return np.asarray(compute(X[rows])[0], dtype=np.float64)
    return np.asarray(X[rows], dtype=np.float64)


def _aligned(x):
    if isinstance(x, np.ndarray) and x.ndim and (not x.flags.c_contiguous
                                                  or x.ctypes.data % 64):
        y = aligned_empty(x.shape, x.dtype)
        y[...] = x
        return y
    return x


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-ordered array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(nbytes + 64, dtype=np.uint8)
    offset = (-buf.ctypes.data) % 64
    return buf[offset:offset + nbytes].view(dtype).reshape(shape)
