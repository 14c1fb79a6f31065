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
(:func:`.block_top.check_lengths`), never by one block of short vectors alone.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from ..neighbors.engine import DEFAULT_BUDGET
from ..neighbors.result import Neighbors
from ..neighbors.search import check_options, checked_corpus
from .._progress import AUTO_SECONDS
from .chunks import check_dask_matrix, compute, is_dask_array, row_blocks
from .direct import file_sources
from .block_top import (BadRows, block_top, check_lengths, gather_rows, merge_tops,
                        refuse_bad_rows, sample_kth, sample_pieces, source_top)
from .tasks import one_blas_thread, run_merged, shared

__all__ = ["knn_dask", "knn_rows", "search_blocks", "QUERY_PART_BYTES"]

QUERY_PART_BYTES = 64 * 2**20         # queries sent with one task (larger sets are cut)
_ASSUMED_FLOPS = 3e10                 # for the progress bar's "is this long?" guess


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

    blocks = row_blocks(X)
    sources = file_sources(getattr(X, "row_sources", None), blocks)
    task = dask.delayed(block_top, pure=True)
    from_file = dask.delayed(source_top, pure=True)
    # a first bound for every block: the k-th best score among a sample (SAMPLE_ROWS)
    sample = sample_pieces(X, blocks, sources) if len(blocks) > 2 else None
    tasks, pairs = [], {}
    for q_start, queries, self_rows, name in parts:
        m = len(self_rows) if self_rows is not None else (
            len(queries) if isinstance(queries, np.ndarray) else None)
        # one key each for the queries and their own rows, which every block task reads
        # (an array argument would be copied into every task of the graph); large query
        # sets are scattered to the workers of a distributed cluster (tasks.shared)
        q_key = shared(queries) if isinstance(queries, np.ndarray) else queries
        s_key = dask.delayed(self_rows, pure=True) if self_rows is not None else None
        known = None if sample is None else dask.delayed(sample_kth, pure=True)(
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
    try:
        with one_blas_thread(len(blocks) > 1):
            results = run_merged(tasks, merge_tops, k, metric, pairs if show_progress else None)
    except BadRows as err:
        if err.name == "corpus":    # a block named its own bad rows: name all of them
            refuse_bad_rows(X, metric)
        raise
    if results:                                   # lengths over all parts and blocks
        check_lengths((max(r[2][0] for r in results), max(r[2][1] for r in results),
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
    if is_dask_array(queries) and queries.ndim == 2 and queries.shape[0] == 0:
        queries = np.zeros(queries.shape, queries.dtype)       # no queries: empty answer
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

        if is_dask_array(queries) and queries.ndim == 2 and queries.shape[0] == 0:
            queries = np.zeros(queries.shape, queries.dtype)   # an empty answer, as NumPy's
        elif is_dask_array(queries):
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
        the corpus never is); a NumPy corpus is searched the same way as one block (an
        ``np.memmap`` of float16 or integers converted chunk by chunk, never whole).
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
    # a float16 or integer memmap is checked where it lies and converted chunk by chunk
    X, dtype = (check_dask_matrix(corpus, "corpus"), None) if lazy else \
        checked_corpus(corpus)
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
        return Neighbors(indices=np.zeros((0, k), np.int64),
                         scores=np.zeros((0, k), dtype or X.dtype), metric=metric, k=k)
    if not lazy:
        # the rows in the working dtype, as the corpus is read (big-endian float32: float32)
        rows = np.asarray(X[pos]).astype(dtype or X.dtype, copy=False)
        idx, sc, lengths = block_top(X, 0, rows, pos, k, metric, pos, "corpus",
                                      batch_size, memory_budget, show_progress,
                                      dtype=None if dtype == X.dtype else dtype)
        check_lengths(lengths, metric)
        return Neighbors(indices=idx, scores=sc, metric=metric, k=k)
    uniq, back = np.unique(pos, return_inverse=True)
    rows = gather_rows(X, uniq)[back]
    step = max(1, QUERY_PART_BYTES // max(1, X.shape[1] * X.dtype.itemsize))
    # the gathered rows are checked by their tasks, named by their corpus rows
    parts = [(pos[a:a + step], rows[a:a + step], pos[a:a + step], "corpus")
             for a in range(0, pos.size, step)]
    idx, sc = search_blocks(X, parts, k, metric, batch_size=batch_size, budget=memory_budget,
                            show_progress=show_progress)
    return Neighbors(indices=idx, scores=sc, metric=metric, k=k)
