"""Exact nearest-neighbour search on a Dask corpus: per-block top-k, merged with the tie rule.

The corpus is walked as row blocks (:func:`vecdiag.scale.chunks.row_blocks`). One task per
(query part, corpus block) runs vecdiag's own exact engine (:func:`vecdiag.neighbors.engine.search`)
on that block and returns only its top k, with global indices (block start + local row).
The per-block results are merged in a small tree of tasks: higher score first (lower
distance under euclidean), equal scores by **lower corpus index**. Only the per-block
top k travel; no task holds more than one corpus block and one query part.

Why the answer is bit-identical to :func:`vecdiag.knn` on the computed array: the engine's
reported scores are re-computed one pair at a time, from the two rows alone, in a fixed
order (step 2 of :mod:`vecdiag.neighbors.engine`), and its proof guarantees that the
top k of those scores is returned. So the score of a (query, item) pair does not depend
on which rows share its block, and the top k of the union of the per-block top k is the
top k of all items. ``tests/test_scale_search.py`` checks this on random chunkings,
exact ties straddling block boundaries and blocks smaller than k.

Two checks of the engine look at the longest vector it is given (scores that would
overflow or underflow). Overflow is decided the same way per block (a block raises exactly
when the whole corpus would). Underflow is decided once, on the lengths of all blocks
(:func:`_check_lengths`), never by one block of short vectors alone.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from ..neighbors.engine import DEFAULT_BUDGET, search
from ..neighbors.result import Neighbors
from ..neighbors.rows import Rows
from ..neighbors.search import check_options, query_rows
from .._progress import AUTO_SECONDS
from .chunks import check_dask_matrix, compute, is_dask_array, row_blocks
from .direct import ALIGN, npy_layout, read_positions, read_rows, scratch_buffer
from .tasks import one_blas_thread, reuse_freed_memory, run_merged

__all__ = ["knn_dask", "knn_rows", "search_blocks", "QUERY_PART_BYTES"]

QUERY_PART_BYTES = 64 * 2**20         # queries sent with one task (larger sets are cut)
SAMPLE_ROWS = 8192                    # corpus rows scored first, for a bound on every block
_ASSUMED_FLOPS = 3e10                 # for the progress bar's "is this long?" guess


# --- one block -------------------------------------------------------------------------

def _checked(block, start, metric: str, name: str) -> np.ndarray:
    """A block of rows as a float array; NaN/inf rows and (cosine) zero rows refused with
    their global row numbers (``start`` + local row, or ``start[local row]`` for an array
    of row numbers), the same words as the in-memory checks."""
    block = np.asarray(block)
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    norms = row_norms(block)
    bad = ~np.isfinite(norms)
    if bad.any():
        rows = _label(np.flatnonzero(~np.isfinite(block).all(axis=1)), start)
        raise ValueError(f"{name} has {V.format_rows(rows)} with NaN or inf; "
                         "drop or impute them first")
    if metric == "cosine" and (norms == 0).any():
        rows = _label(np.flatnonzero(norms == 0), start)
        what = (f"has a zero vector at row {rows[0]}, which has" if rows.size == 1 else
                f"has {V.format_rows(rows)} that are zero vectors, which have")
        raise ValueError(f"{name} {what} no direction, so its cosine is undefined; "
                         "drop them first")
    return block


def _label(local: np.ndarray, start) -> np.ndarray:
    return np.asarray(start)[local] if np.ndim(start) else local + start


def _block_top(block, start: int, queries, q_start: int, k: int, metric: str,
               self_rows, q_name: str, batch_size, budget: int, show_progress=False,
               known=None):
    """Top k of the queries among corpus rows ``start:start+len(block)`` (one task).

    ``self_rows``: for each query, the corpus row it must skip (its own; -1 for none), or
    None. ``known``: each query's k-th best score among a sample of the corpus (see
    :func:`vecdiag.neighbors.engine.search`): rows of this block that cannot beat it are
    left out. Returns ``(indices, scores, lengths)``: global indices (padded with -1 when
    the block has fewer than k eligible rows) and ``lengths`` = (longest query, longest
    corpus row, the candidate dtype) for the global length check.
    """
    reuse_freed_memory()
    X = _checked(block, start, metric, "corpus")
    Qa = _checked(queries, q_start, metric, q_name)
    n = X.shape[0]
    m = Qa.shape[0]
    # normalised chunk by chunk (copy=False): a unit copy of a whole block would be a fresh
    # block-sized array (page faults, huge-page compaction: 0.3 s per 128 MB measured)
    base = Rows(X, metric, "corpus", copy=False)
    Q, C, cand = query_rows(Qa, base, lambda dt: Rows(X, metric, "corpus", dtype=dt,
                                                      copy=False), "numpy")
    low = np.float32 if cand is not None else C.dtype
    lengths = (0.0, 0.0, np.dtype(low).str)
    if metric != "cosine":
        lengths = (float(Q.max_norm), float(C.max_norm), np.dtype(low).str)
        floor = float(np.sqrt(np.finfo(low).tiny * 8))
        if 0 < Q.max_norm + C.max_norm < floor:
            # decided on all blocks by _check_lengths; a larger bound only costs re-checks
            C.max_norm = floor
    inside = None
    if self_rows is not None:
        self_rows = np.asarray(self_rows, np.int64)
        inside = (self_rows >= start) & (self_rows < start + n)
    kb = min(n, k + (1 if inside is not None and inside.any() else 0))
    idx = np.full((m, k), -1, np.int64)
    sc = np.full((m, k), np.inf if metric == "euclidean" else -np.inf, C.dtype)
    if m == 0:
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


def _source_top(source, start: int, *args, **kwargs):
    """:func:`_block_top` of a chunk of an ``.npy`` file that this task reads itself, into
    the buffer its thread used for the previous chunk (:func:`.direct.scratch_buffer`):
    no fresh block-sized array per task. Only the top k leave the task."""
    path, first, stop, direct = source
    layout = npy_layout(path)
    nbytes = (stop - first) * layout[1][1] * layout[2].itemsize + 2 * ALIGN
    block = read_rows(path, first, stop, layout, direct=direct,
                      into=scratch_buffer("search-chunk", nbytes))
    if block is None:                             # Fortran order: through a memmap
        block = np.array(np.load(path, mmap_mode="r")[first:stop], order="C")
    return _block_top(block, start, *args, **kwargs)


def _sample_kth(pieces, queries, q_start: int, k: int, metric: str, self_rows, q_name: str,
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
    _, sc, _ = _block_top(rows, 0, queries, q_start, kk, metric, None, q_name, batch_size,
                          budget)
    return sc[:, kk - 1].astype(np.float64)


def _sample_pieces(X, blocks, sources):
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
            from .formats import read_npy_rows

            path, first, _, direct = sources[i]
            out.append(dask.delayed(read_npy_rows, pure=True)(path, first, first + stop - b.start,
                                                                X.dtype, direct))
        else:
            out.append(dask.delayed(_head, pure=True)(b.data, stop - b.start))
    return out


def _head(block, rows: int) -> np.ndarray:
    return np.array(np.asarray(block)[:rows])


def _gather(X, rows: np.ndarray) -> np.ndarray:
    """Corpus rows ``rows`` (ascending, unique) as one array: read one by one from the
    files of a :func:`vecdiag.open_vectors` array (one task per chunk that holds some;
    no whole chunk is read for a sample), else computed from the Dask array."""
    import dask

    sources = getattr(X, "row_sources", None)
    blocks = row_blocks(X)
    if sources is None or [s[2] - s[1] for s in sources] != [b.stop - b.start
                                                              for b in blocks]:
        return compute(X[rows])[0]
    starts = np.array([b.start for b in blocks])
    which = np.searchsorted(starts, rows, side="right") - 1
    parts = []
    for i in np.unique(which):
        path, first, _, _ = sources[i]
        local = rows[which == i] - blocks[i].start + first
        parts.append(dask.delayed(read_positions, pure=True)(path, local))
    return np.concatenate(compute(*parts)).astype(X.dtype, copy=False)


def _merge(parts, k: int, metric: str):
    """Merge per-block top k: higher score first (lower distance), then lower index."""
    idx = np.concatenate([p[0] for p in parts], axis=1)
    sc = np.concatenate([p[1] for p in parts], axis=1)
    rank = np.where(idx < 0, np.inf, sc if metric == "euclidean" else -sc)
    order = np.lexsort((np.where(idx < 0, np.iinfo(np.int64).max, idx), rank),
                       axis=-1)[:, :k]
    lengths = (max(p[2][0] for p in parts), max(p[2][1] for p in parts), parts[0][2][2])
    return (np.take_along_axis(idx, order, axis=1), np.take_along_axis(sc, order, axis=1),
            lengths)


def _check_lengths(lengths, metric: str) -> None:
    """The engine's underflow check on the lengths of all blocks (see the module notes)."""
    if metric == "cosine":
        return
    q_max, c_max, low = lengths
    low = np.dtype(low)
    reach = q_max + c_max
    if 0 < reach < float(np.sqrt(np.finfo(low).tiny * 8)):
        raise ValueError(f"vectors too short for {metric} scores in {low}: lengths up to "
                         f"{max(q_max, c_max):.3g} underflow when squared; multiply queries "
                         "and corpus by one common large number first")


# --- many blocks -----------------------------------------------------------------------

def search_blocks(X, parts, k: int, metric: str, *, batch_size=None,
                  budget: int = DEFAULT_BUDGET, show_progress: bool | None = None):
    """Exact top k of query parts against a checked Dask corpus ``X``, per block.

    Parameters
    ----------
    X : dask.array.Array
        A corpus checked by :func:`vecdiag.scale.chunks.check_dask_matrix`.
    parts : list of (start, queries, self_rows, name)
        Query parts: ``queries`` an (m, d) array or a ``dask.delayed`` one, ``start`` its
        first row (for error messages), ``self_rows`` (m,) corpus rows to skip or None,
        ``name`` the argument named in errors.
    k : int
        Neighbours per query (already checked against the corpus size).
    metric : str
    batch_size, budget : passed to the engine for each block.
    show_progress : bool, optional
        A bar of scored (query, item) pairs, counted as blocks finish; None shows it when
        the work looks long.

    Returns
    -------
    (indices, scores) : ndarrays (sum of m, k)
        Bit-identical to the in-memory engine on the computed arrays.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1., 0], [0, 1], [1, 1], [1, 0]]), chunks=2)
    >>> idx, sc = search_blocks(X, [(0, np.array([[1., 0.1]]), None, "queries")], 2, "dot")
    >>> idx.tolist(), sc.round(4).tolist()
    ([[2, 0]], [[1.1, 1.0]])
    """
    import dask

    sources = getattr(X, "row_sources", None)
    blocks = row_blocks(X)
    if sources is not None and [s[2] - s[1] for s in sources] != [b.stop - b.start
                                                                   for b in blocks]:
        sources = None
    task = dask.delayed(_block_top, pure=True)
    from_file = dask.delayed(_source_top, pure=True)
    # a first bound for every block: the k-th best score among a sample (SAMPLE_ROWS)
    sample = _sample_pieces(X, blocks, sources) if len(blocks) > 2 else None
    tasks, pairs = [], {}
    for q_start, queries, self_rows, name in parts:
        m = len(self_rows) if self_rows is not None else (
            len(queries) if isinstance(queries, np.ndarray) else None)
        # one key each for the queries and their own rows, which every block task reads
        # (an array argument would be copied into every task of the graph)
        q_key = dask.delayed(queries, pure=True) if isinstance(queries, np.ndarray) \
            else queries
        s_key = dask.delayed(self_rows, pure=True) if self_rows is not None else None
        known = None if sample is None else dask.delayed(_sample_kth, pure=True)(
            sample, q_key, q_start, k, metric, s_key, name, batch_size, budget)
        if sources is not None:                   # each task reads its own chunk
            row = [from_file(src, b.start, q_key, q_start, k, metric, s_key, name,
                             batch_size, budget, known=known)
                   for src, b in zip(sources, blocks)]
        else:
            row = [task(b.data, b.start, q_key, q_start, k, metric, s_key, name,
                        batch_size, budget, known=known) for b in blocks]
        for b, t in zip(blocks, row):
            pairs[t.key] = (m or b.stop - b.start) * (b.stop - b.start)
        tasks.append(row)
    total = sum(pairs.values())
    if show_progress is None:
        show_progress = 2.0 * total * X.shape[1] / _ASSUMED_FLOPS > AUTO_SECONDS
    with one_blas_thread(len(blocks) > 1):
        results = run_merged(tasks, _merge, k, metric, pairs if show_progress else None)
    if results:                                   # lengths over all parts and blocks
        _check_lengths((max(r[2][0] for r in results), max(r[2][1] for r in results),
                        results[0][2][2]), metric)
    idx = np.concatenate([r[0] for r in results]) if results else np.zeros((0, k), np.int64)
    sc = np.concatenate([r[1] for r in results])
    if (idx < 0).any():                             # pragma: no cover - k is checked first
        raise RuntimeError("fewer than k eligible corpus rows; this is a bug")
    return idx, sc


def query_parts(queries, metric: str, name: str = "queries", self_rows: bool = False):
    """Cut queries (NumPy, or Dask) into parts for :func:`search_blocks`.

    NumPy queries (and Dask queries up to :data:`QUERY_PART_BYTES`, computed) are checked
    here and cut into parts of that size; larger Dask queries stay lazy, one part per row
    block, each checked by its task. ``self_rows=True``: query i skips corpus row i.
    """
    if is_dask_array(queries):
        queries = check_dask_matrix(queries, name)
        if queries.nbytes > QUERY_PART_BYTES:
            return [(b.start, b.data, np.arange(b.start, b.stop) if self_rows else None, name)
                    for b in row_blocks(queries)], queries.shape
        (queries,) = compute(queries)
    Q = V.as_matrix(queries, name, allow_empty=True)
    if metric == "cosine" and Q.shape[0]:
        V.zero_rows(row_norms(Q), name, "raise")
    step = max(1, QUERY_PART_BYTES // max(1, Q.shape[1] * Q.itemsize))
    parts = [(a, Q[a:a + step], np.arange(a, min(Q.shape[0], a + step)) if self_rows else None,
              name) for a in range(0, Q.shape[0], step)]
    return parts, Q.shape


# --- public entry points ---------------------------------------------------------------

def knn_dask(queries, corpus, k: int = 10, *, metric: str = "cosine",
             exclude_self: bool = False, batch_size: int | None = None,
             memory_budget: int = DEFAULT_BUDGET, show_progress: bool | None = None) -> Neighbors:
    """:func:`vecdiag.knn` for a Dask corpus (and/or Dask queries): same answer, bit for bit.

    Parameters
    ----------
    queries : array-like or dask.array.Array, (n_queries, d)
        Computed when small (they are sent with every block task); a large Dask query set
        stays lazy and is searched one of its row blocks at a time.
    corpus : dask.array.Array or array-like, (n, d)
        Searched one row block per task: a NumPy corpus with Dask queries is searched in
        memory after computing the queries.
    k, metric, exclude_self, batch_size, memory_budget, show_progress : see :func:`vecdiag.knn`
        ``exclude_self``: query i is corpus row i and skips it. The bar counts scored
        pairs as row blocks finish.

    Returns
    -------
    Neighbors

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1., 0], [0, 1], [1, 1], [1, 0]]), chunks=2)
    >>> knn_dask([[1, 0.1]], X, k=3).indices.tolist()
    [[0, 3, 2]]
    """
    V.check_metric(metric)
    batch_size, memory_budget = check_options("numpy", batch_size, memory_budget,
                                              show_progress)
    if not is_dask_array(corpus):
        from ..neighbors.search import knn

        if is_dask_array(queries):
            (queries,) = compute(check_dask_matrix(queries, "queries"))
        return knn(queries, corpus, k, metric=metric, exclude_self=exclude_self,
                   batch_size=batch_size, memory_budget=memory_budget,
                   show_progress=show_progress)
    X = check_dask_matrix(corpus, "corpus")
    k = V.check_k(k, X.shape[0], exclude_self=exclude_self)
    if is_dask_array(queries) and queries.ndim == 2:    # before computing any of them
        V.check_same_dim(queries, "queries", X, "corpus")
    parts, q_shape = query_parts(queries, metric, "queries", self_rows=exclude_self)
    V.check_same_dim(np.empty((0, q_shape[1])), "queries", X, "corpus")
    if exclude_self and q_shape[0] != X.shape[0]:
        raise ValueError("exclude_self=True needs queries to be the corpus itself, row for "
                         f"row ({q_shape[0]} queries vs {X.shape[0]} corpus rows); pass the "
                         "corpus as queries, or use Index(corpus).knn_graph(k)")
    if not q_shape[0]:
        return Neighbors(indices=np.zeros((0, k), np.int64),
                         scores=np.zeros((0, k), X.dtype), metric=metric, k=k)
    idx, sc = search_blocks(X, parts, k, metric, batch_size=batch_size, budget=memory_budget,
                            show_progress=show_progress)
    return Neighbors(indices=idx, scores=sc, metric=metric, k=k)


def knn_rows(corpus, positions, k: int = 10, *, metric: str = "cosine",
             batch_size: int | None = None, memory_budget: int = DEFAULT_BUDGET,
             show_progress: bool | None = None) -> Neighbors:
    """The k nearest neighbours of some corpus rows among all the others (self excluded).

    Row ``positions[i]`` of the corpus is searched against the whole corpus, skipping only
    itself (exact copies at other rows are found), as :meth:`vecdiag.Index.knn_graph`
    does for every row: the answer equals rows ``positions`` of
    ``vd.knn(X, X, k, exclude_self=True)``, bit for bit, for O(s n d) work instead of
    O(n² d). Used by the sampled statistics (hubness, near-duplicates).

    Parameters
    ----------
    corpus : dask.array.Array or array-like, (n, d)
        A Dask corpus is searched one row block per task (the sampled rows are gathered,
        the corpus never is); a NumPy corpus is searched the same way as one block.
    positions : sequence of int, (s,)
        Corpus rows to search for (repeats allowed; results in this order).
    k : int
        ``1 <= k <= n - 1``.
    metric, batch_size, memory_budget, show_progress : see :func:`vecdiag.knn`.

    Returns
    -------
    Neighbors
        ``indices`` (s, k) global corpus rows and their scores.

    Examples
    --------
    >>> X = np.array([[1., 0], [0, 1], [1, 1], [1, 0]])
    >>> knn_rows(X, [0, 2], k=2).indices.tolist()
    [[3, 2], [0, 1]]
    """
    V.check_metric(metric)
    batch_size, memory_budget = check_options("numpy", batch_size, memory_budget,
                                              show_progress)
    lazy = is_dask_array(corpus)
    X = check_dask_matrix(corpus, "corpus") if lazy else V.as_matrix(corpus, "corpus")
    n = X.shape[0]
    k = V.check_k(k, n, exclude_self=True)
    pos = np.asarray(positions)
    if pos.ndim != 1 or (pos.size and pos.dtype.kind not in "iu"):
        raise TypeError(f"positions must be a 1-D sequence of row numbers, got shape "
                        f"{pos.shape} and dtype {pos.dtype}")
    pos = pos.astype(np.int64)
    out = (pos < 0) | (pos >= n)
    if out.any():
        raise ValueError(f"positions has {V.format_rows(np.flatnonzero(out))} outside the "
                         f"corpus (0 to {n - 1}); pass row numbers of the corpus")
    if not pos.size:
        return Neighbors(indices=np.zeros((0, k), np.int64), scores=np.zeros((0, k), X.dtype),
                         metric=metric, k=k)
    if not lazy:
        idx, sc, lengths = _block_top(X, 0, X[pos], pos, k, metric, pos, "corpus",
                                      batch_size, memory_budget, show_progress)
        _check_lengths(lengths, metric)
        return Neighbors(indices=idx, scores=sc, metric=metric, k=k)
    uniq, back = np.unique(pos, return_inverse=True)
    rows = _gather(X, uniq)[back]
    step = max(1, QUERY_PART_BYTES // max(1, X.shape[1] * X.dtype.itemsize))
    # the gathered rows are checked by their tasks, named by their corpus rows
    parts = [(pos[a:a + step], rows[a:a + step], pos[a:a + step], "corpus")
             for a in range(0, pos.size, step)]
    idx, sc = search_blocks(X, parts, k, metric, batch_size=batch_size, budget=memory_budget,
                            show_progress=show_progress)
    return Neighbors(indices=idx, scores=sc, metric=metric, k=k)
