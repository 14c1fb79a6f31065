"""One corpus block's part of a Dask search: its top k, the first bound, the merge.

What :mod:`.search` sends to the workers: :func:`block_top` (vecdiag's exact engine on one
row block, only its top k returned, with global row numbers), :func:`source_top` (the same
for a chunk of an ``.npy`` file that the task reads itself), :func:`sample_kth` (each
query's k-th best score among a sample of rows: the bound every block starts from),
:func:`merge_tops` (per-block top k merged with the tie rule) and :func:`gather_rows`
(sampled rows read from the files). See :mod:`.search` for why the result is bit-identical
to the in-memory engine.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from ..neighbors.engine import search
from ..neighbors.rows import Rows, check_reach
from ..neighbors.search import query_rows
from .chunks import compute, row_blocks
from .direct import (ALIGN, file_sources, read_positions, read_rows, scratch_buffer,
                     source_pieces)
from .formats import read_npy_rows
from .npy import npy_layout, npy_memmap
from .tasks import reuse_freed_memory

__all__ = ["block_top", "source_top", "sample_kth", "sample_pieces", "gather_rows",
           "chunk_rows", "merge_tops", "keep_top", "check_lengths", "checked_block",
           "refuse_bad_rows", "BadRows", "SAMPLE_ROWS", "SEEK_ROWS"]

SAMPLE_ROWS = 8192                    # corpus rows scored first, for a bound on every block


class BadRows(V.DataError):
    """Rows a block refused (NaN/inf, or zero under cosine); ``.name`` the argument."""

    def __init__(self, message: str, name: str):
        super().__init__(message, name)
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


def _bad_rows(block, start, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(NaN/inf rows, zero rows under cosine) of a block, as global row numbers."""
    block = np.asarray(block)
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    norms = row_norms(block)
    bad = _label(np.flatnonzero(~np.isfinite(block).all(axis=1)), start) \
        if not np.isfinite(norms).all() else np.zeros(0, np.int64)
    zero = _label(np.flatnonzero(norms == 0), start) if metric == "cosine" \
        else np.zeros(0, np.int64)
    return bad, zero


def _refusal(bad, zero, name: str) -> str | None:
    """The in-memory checks' words for these rows; None when there are none."""
    if len(bad):
        return f"{name} has {V.format_rows(bad)} with NaN or inf; drop or impute them first"
    if len(zero):
        w = V.zero_vectors(zero)
        return f"{name} has {w.rows}, which {w.has} no direction, so its cosine is " \
            f"undefined; drop {w.them} first"
    return None


def checked_block(block, start, metric: str, name: str) -> np.ndarray:
    """A block of rows as a float array; NaN/inf rows and (cosine) zero rows refused with
    their global row numbers (``start`` + local row, or ``start[local row]`` for an array
    of row numbers), the same words as the in-memory checks (:class:`BadRows`; a block
    sees only its own rows: :func:`refuse_bad_rows` names those of the whole corpus)."""
    block = np.asarray(block)
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    message = _refusal(*_bad_rows(block, start, metric), name)
    if message:
        raise BadRows(message, name)
    return block


def refuse_bad_rows(X, metric: str, name: str = "corpus") -> None:
    """Raise :class:`BadRows` naming every NaN/inf row (and, under cosine, zero row) of
    the Dask array ``X``, as the in-memory checks do; one pass, for the error path only
    (a block task that refuses its rows cannot know about the other blocks')."""
    import dask

    task = dask.delayed(_bad_rows, pure=True)
    parts = compute(*[task(b.data, b.start, metric) for b in row_blocks(X)])
    message = _refusal(np.concatenate([p[0] for p in parts]),
                       np.concatenate([p[1] for p in parts]), name)
    if message:
        raise BadRows(message, name)


def _label(local: np.ndarray, start) -> np.ndarray:
    return np.asarray(start)[local] if np.ndim(start) else local + start


def block_top(block, start: int, queries, q_start: int, k: int, metric: str,
               self_rows, q_name: str, batch_size, budget: int, show_progress=False,
               known=None, dtype=None):
    """Top k of the queries among corpus rows ``start:start+len(block)`` (one task).

    ``self_rows``: for each query, the corpus row it must skip (its own; -1 for none), or
    None. ``known``: each query's k-th best score among a sample of the corpus (see
    :func:`vecdiag.neighbors.engine.search`): rows of this block that cannot beat it are
    left out. Returns ``(indices, scores, lengths)``: global indices (padded with -1 when
    the block has fewer than k eligible rows) and ``lengths`` = (longest query, longest
    corpus row, the candidate dtype) for the global length check.

    ``dtype``: the working dtype of a ``block`` of another dtype (a float16 memmap) that
    the caller has checked (:func:`vecdiag.neighbors.search.checked_corpus`): it is then
    converted chunk by chunk as it is searched, never whole.
    """
    reuse_freed_memory()
    X = block if dtype is not None else checked_block(block, start, metric, "corpus")
    Qa = checked_block(queries, q_start, metric, q_name)
    n = X.shape[0]
    m = Qa.shape[0]
    # normalised chunk by chunk (copy=False): a unit copy of a whole block would be a fresh
    # block-sized array (page faults, huge-page compaction: 0.3 s per 128 MB measured)
    base = Rows(X, metric, "corpus", dtype=dtype, copy=False)
    Q, C, cand = query_rows(Qa, base, lambda dt: Rows(X, metric, "corpus", dtype=dt,
                                                      copy=False), "numpy")
    low = np.float32 if cand is not None else C.dtype
    lengths = (0.0, 0.0, np.dtype(low).str)
    if metric != "cosine":
        lengths = (float(Q.max_norm), float(C.max_norm), np.dtype(low).str)
        floor = float(np.sqrt(np.finfo(low).tiny * 8))
        if 0 < Q.max_norm + C.max_norm < floor:
            # decided on all blocks by check_lengths; a larger bound only costs re-checks
            C.max_norm = floor
    inside = None
    if self_rows is not None:
        self_rows = np.asarray(self_rows, np.int64)
        inside = (self_rows >= start) & (self_rows < start + n)
    kb = min(n, k + (1 if inside is not None and inside.any() else 0))
    idx = np.full((m, k), -1, np.int64)
    sc = np.full((m, k), np.inf if metric == "euclidean" else -np.inf, C.dtype)
    if m == 0 or n == 0:                  # no queries, or a block with no rows: nothing
        return idx, sc, lengths
    found, scores = search(Q, C, kb, backend="numpy", batch_size=batch_size, budget=budget,
                           show_progress=show_progress, cand_rows=cand, known=known)
    found = np.where(found >= 0, found + start, -1)
    if inside is not None and inside.any():
        # each row keeps its first k entries that are not its own row (order kept)
        keep = found != self_rows[:, None]
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        w = order.shape[1]
        kept = np.take_along_axis(keep, order, axis=1)
        idx[:, :w] = np.where(kept, np.take_along_axis(found, order, axis=1), -1)
        sc[:, :w] = np.where(kept, np.take_along_axis(scores, order, axis=1), sc[:, :w])
    else:
        w = min(k, kb)
        idx[:, :w] = found[:, :w]
        sc[:, :w] = scores[:, :w]
    return idx, sc, lengths


def source_top(source, start: int, *args, **kwargs):
    """:func:`block_top` of a chunk of an ``.npy`` file that this task reads itself, into
    the buffer its thread used for the previous chunk (:func:`.direct.scratch_buffer`):
    no fresh block-sized array per task. Only the top k leave the task."""
    path, first, stop, direct = source
    layout = npy_layout(path)
    nbytes = (stop - first) * layout[1][1] * layout[2].itemsize + 2 * ALIGN
    block = read_rows(path, first, stop, layout, direct=direct,
                      into=scratch_buffer("search-chunk", nbytes))
    if block is None:                             # Fortran order: through a memmap
        block = np.array(npy_memmap(path, layout)[first:stop], order="C")
    return block_top(block, start, *args, **kwargs)


def sample_kth(pieces, queries, q_start: int, k: int, metric: str, self_rows, q_name: str,
                batch_size, budget: int):
    """Each query's k-th best exact score among the rows of ``pieces`` (a sample of the
    corpus; its own row excluded by taking the (k+1)-th when it may be there), ±inf when
    the sample is too small: a bound every block's search can start from."""
    rows = np.concatenate([np.asarray(p) for p in pieces])
    if rows.dtype not in (np.float32, np.float64):
        rows = rows.astype(np.float64)
    norms = row_norms(rows)             # bad rows are named by their own block's task
    usable = np.isfinite(norms) & ((norms > 0) if metric == "cosine" else True)
    rows = rows[usable] if not usable.all() else rows
    kk = k + (1 if self_rows is not None else 0)
    m = len(queries)
    worst = np.inf if metric == "euclidean" else -np.inf
    if rows.shape[0] < kk:
        return np.full(m, worst)
    _, sc, _ = block_top(rows, 0, queries, q_start, kk, metric, None, q_name, batch_size,
                          budget)
    return sc[:, kk - 1].astype(np.float64)


def sample_pieces(X, blocks, sources):
    """Up to :data:`SAMPLE_ROWS` corpus rows, from the first block and the middle one: read
    straight from the files when the array comes from :func:`vecdiag.open_vectors` (no
    whole chunk is read for them), else sliced from the blocks (``dask.delayed``)."""
    import dask

    picks = sorted({0, len(blocks) // 2})
    each = max(1, SAMPLE_ROWS // len(picks))
    out = []
    for i in picks:
        b = blocks[i]
        stop = min(b.stop, b.start + each)
        if sources is not None:
            path, first, _, direct = sources[i]
            out.append(dask.delayed(read_npy_rows, pure=True)(path, first, first + stop - b.start,
                                                                X.dtype, direct))
        else:
            out.append(dask.delayed(_head, pure=True)(b.data, stop - b.start))
    return out


def _head(block, rows: int) -> np.ndarray:
    return np.array(np.asarray(block)[:rows])


SEEK_ROWS = 64      # rows a stream reads in the time of one row read on its own (measured
                    # here: 65 µs per scattered 1.5 KB row, 0.75 µs per row in a stream)


def chunk_rows(source, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (ascending file rows) of one chunk ``source`` of
    :attr:`open_vectors' row_sources <vecdiag.scale.io>`: read one by one when they are
    few (:data:`SEEK_ROWS`), else the chunk is streamed once and they are taken from it."""
    path, first, stop, _ = source
    rows = np.asarray(rows, np.int64)
    if rows.size * SEEK_ROWS < stop - first:
        return read_positions(path, rows)
    reuse_freed_memory()
    local = rows - first
    out = None
    for a, R in source_pieces(source):
        out = np.empty((rows.size, R.shape[1]), R.dtype) if out is None else out
        lo, hi = np.searchsorted(local, [a, a + R.shape[0]])
        out[lo:hi] = R[local[lo:hi] - a]
    return out


def gather_rows(X, rows: np.ndarray) -> np.ndarray:
    """Corpus rows ``rows`` (ascending, unique) as one array. From the files of a
    :func:`vecdiag.open_vectors` array, one task per chunk that holds some
    (:func:`chunk_rows`: a sample is read row by row, many rows of a chunk in one
    stream); else computed from the Dask array (only the blocks holding them).

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(2, 2))
    >>> gather_rows(X, np.array([1, 4])).tolist()
    [[2.0, 3.0], [8.0, 9.0]]
    """
    import dask

    rows = np.asarray(rows, np.int64)
    blocks = row_blocks(X)
    sources = file_sources(getattr(X, "row_sources", None), blocks)
    if sources is None:
        return compute(X[rows])[0] if rows.size else np.empty((0, X.shape[1]), X.dtype)
    starts = np.array([b.start for b in blocks])
    which = np.searchsorted(starts, rows, side="right") - 1
    parts = []
    for i in np.unique(which):
        first = sources[i][1]
        local = rows[which == i] - blocks[i].start + first
        parts.append(dask.delayed(chunk_rows, pure=True)(sources[i], local))
    if not parts:
        return np.empty((0, X.shape[1]), X.dtype)
    return np.concatenate(compute(*parts)).astype(X.dtype, copy=False)


def merge_tops(parts, k: int, metric: str):
    """Merge per-block top k: higher score first (lower distance), then lower index."""
    idx, sc = keep_top([p[0] for p in parts], [p[1] for p in parts], k, metric)
    lengths = (max(p[2][0] for p in parts), max(p[2][1] for p in parts), parts[0][2][2])
    return idx, sc, lengths


def keep_top(indices: list, scores: list, k: int, metric: str):
    """The ``k`` best of per-block lists (each ``(rows, k_i)``, global row indices, -1 for
    none), side by side: higher score first (lower distance under euclidean), then lower
    index, -1 last: the engine's tie rule across blocks."""
    idx = np.concatenate(indices, axis=1)
    sc = np.concatenate(scores, axis=1)
    rank = np.where(idx < 0, np.inf, sc if metric == "euclidean" else -sc)
    order = np.lexsort((np.where(idx < 0, np.iinfo(np.int64).max, idx), rank),
                       axis=-1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(sc, order, axis=1)


def check_lengths(lengths, metric: str) -> None:
    """The engine's underflow check on the lengths of all blocks (see the module notes):
    :func:`vecdiag.neighbors.rows.check_reach` with the engine's words (overflow has
    already been refused block by block, in the same words)."""
    if metric == "cosine":
        return
    q_max, c_max, low = lengths
    low = np.dtype(low)
    check_reach(q_max, c_max, metric, low)
