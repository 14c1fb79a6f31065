"""Exact search, the function: :func:`knn`, and the option and query checks that
:class:`vecdiag.neighbors.index.Index` shares."""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from .engine import DEFAULT_BUDGET, search
from .rows import Rows
from .result import Neighbors

__all__ = ["knn"]

BACKENDS = ("numpy", "faiss")
_MIN_BUDGET = 2**20


def is_dask_array(x) -> bool:
    """True for a Dask array (:func:`vecdiag.scale.chunks.is_dask_array`, imported lazily:
    vecdiag.scale builds on this module)."""
    if type(x).__module__.split(".")[0] != "dask":
        return False
    from ..scale.chunks import is_dask_array as check

    return check(x)


def check_options(backend, batch_size, memory_budget, show_progress):
    """Checked search options: ``(batch_size, memory_budget)`` (see :func:`knn`)."""
    V.check_choice(backend, "backend", BACKENDS)
    if backend == "faiss":
        from .faiss_backend import faiss_module

        faiss_module()
    if batch_size is not None:
        batch_size = V.check_positive_int(batch_size, "batch_size")
    memory_budget = V.check_positive_int(memory_budget, "memory_budget")
    if memory_budget < _MIN_BUDGET:
        raise ValueError(f"memory_budget is in bytes and must be at least {_MIN_BUDGET} "
                         f"(1 MiB), got {memory_budget}; e.g. memory_budget=256 * 2**20")
    if show_progress not in (None, True, False):
        raise TypeError(f"show_progress must be True, False or None (automatic), "
                        f"got {show_progress!r}")
    return batch_size, memory_budget


def knn(queries, corpus, k: int = 10, *, metric: str = "cosine", exclude_self: bool = False,
        backend: str = "numpy", batch_size: int | None = None,
        memory_budget: int = DEFAULT_BUDGET, show_progress: bool | None = None) -> Neighbors:
    """Exact k nearest neighbours of each query in the corpus.

    Parameters
    ----------
    queries : array-like, (n_queries, d)
        May be empty (0 rows): the result then has 0 rows.
    corpus : array-like, (n, d)
        Any real dtype, C or F order, or an ``np.memmap`` larger than RAM (read in chunks,
        never copied whole, float16 or integers too), or a ``dask.array.Array``: then
        searched one row block per task on the active Dask scheduler, with the same
        answer bit for bit (:func:`vecdiag.scale.search.knn_dask`; queries may be a Dask
        array too).
    k : int
        Neighbours per query, ``1 <= k <= n`` (``n - 1`` with ``exclude_self``).
    metric : {"cosine", "dot", "euclidean"}
        cosine and dot are similarities (sorted descending), euclidean is a distance
        (sorted ascending).
    exclude_self : bool
        Queries are the corpus itself (query i is corpus row i): skip each item's own row.
        Exact duplicates of the item at other rows are still found.
    backend : {"numpy", "faiss"}
        Who computes the candidate scores. Both give the same result (same refine, same
        tie rule). "faiss" needs ``pip install "vecdiag[faiss]"``.
    batch_size : int, optional
        Queries per block; automatic (256, or fewer to fit ``memory_budget``) when None.
    memory_budget : int
        Bytes of working memory for one block of scores (default 256 MiB). The
        (n_queries × n) score matrix is never held whole.
    show_progress : bool, optional
        Force the progress bar on or off; None shows it when the work looks long.

    Returns
    -------
    Neighbors
        ``indices`` (n_queries, k) int64 and ``scores`` (float32 for float32 inputs).

    Raises
    ------
    ValueError
        k out of range, dimension mismatch, NaN/inf rows, zero rows under cosine,
        ``exclude_self`` with queries that are not the corpus.
    ImportError
        ``backend="faiss"`` without faiss installed.

    Notes
    -----
    cosine: ``q·c / (‖q‖ ‖c‖)``, from unit rows (normalised once), clipped to [-1, 1];
    zero vectors have no direction and are refused. dot: ``q·c``. euclidean:
    ``‖q − c‖``; candidates are ranked by the expanded form ``2 q·c − ‖c‖²`` (one matrix
    product), and the reported distances are recomputed from the differences, so
    identical vectors are exactly 0.0 apart and no distance is negative.

    Ties: equal scores are ordered by lower corpus index. Scores equal in exact
    arithmetic can differ in the last bit in floating point (e.g. parallel vectors of
    different lengths under cosine); the rule applies to the computed scores, which are
    the same in every backend (see :mod:`vecdiag.neighbors.engine`).

    Examples
    --------
    >>> res = knn([[1, 0]], [[1, 0.1], [0, 1], [1, 0]], k=2)
    >>> res.indices.tolist()
    [[2, 0]]
    >>> knn([[0, 0]], [[3, 4], [0, 0], [0, 0]], k=2, metric="euclidean").scores.tolist()
    [[0.0, 0.0]]
    """
    V.check_metric(metric)
    exclude_self = V.check_bool(exclude_self, "exclude_self")
    batch_size, memory_budget = check_options(backend, batch_size, memory_budget,
                                               show_progress)
    if is_dask_array(corpus) or is_dask_array(queries):
        return _knn_dask(queries, corpus, k, metric, exclude_self, backend, batch_size,
                         memory_budget, show_progress)
    same = queries is corpus
    corpus, dtype = checked_corpus(corpus)
    queries = corpus if same else V.as_matrix(queries, "queries", allow_empty=True)
    V.check_same_dim(queries, "queries", corpus, "corpus")
    k = V.check_k(k, corpus.shape[0], exclude_self=exclude_self)
    if exclude_self and queries.shape[0] != corpus.shape[0]:
        raise ValueError("exclude_self=True needs queries to be the corpus itself, row for "
                         f"row ({queries.shape[0]} queries vs {corpus.shape[0]} corpus rows); "
                         "pass the corpus as queries, or use Index(corpus).knn_graph(k)")
    base = Rows(corpus, metric, "corpus", dtype=dtype)
    if exclude_self and queries is corpus:
        Q, C, cand_rows = base, base, None
    else:
        Q, C, cand_rows = query_rows(
            queries, base, lambda dtype: Rows(corpus, metric, "corpus", dtype=dtype,
                                              copy=False), backend)
    idx, sc = search(Q, C, k, exclude_self=exclude_self, backend=backend,
                     batch_size=batch_size, budget=memory_budget, show_progress=show_progress,
                     cand_rows=cand_rows)
    return Neighbors(indices=idx, scores=sc, metric=metric, k=k)


def checked_corpus(corpus):
    """``(corpus checked, the float dtype it is scored in)``, as
    :func:`vecdiag._validate.as_matrix` gives them, except that an ``np.memmap`` of
    another real dtype (float16, int8 on disk) is checked where it lies and not converted
    whole (a float64 copy of a float16 file is four times its size): :class:`.rows.Rows`
    converts it chunk by chunk, to the same numbers."""
    if isinstance(corpus, np.memmap) and corpus.ndim == 2 and corpus.size and \
            corpus.dtype not in (np.float32, np.float64):
        dtype = V.as_matrix(corpus[:1], "corpus").dtype      # the dtype, on one row
        V.check_finite(corpus, "corpus")                     # chunk by chunk
        return corpus, dtype
    corpus = V.as_matrix(corpus, "corpus")
    return corpus, corpus.dtype


def _knn_dask(queries, corpus, k, metric, exclude_self, backend, batch_size, memory_budget,
              show_progress):
    """vd.knn with a Dask corpus or Dask queries: :func:`vecdiag.scale.search.knn_dask`."""
    if backend != "numpy" and is_dask_array(corpus):
        raise ValueError(f"backend={backend!r} cannot search a Dask corpus: each row block is "
                         "searched by the NumPy engine; pass backend='numpy'")
    from ..scale.search import knn_dask

    return knn_dask(queries, corpus, k, metric=metric, exclude_self=exclude_self,
                    batch_size=batch_size, memory_budget=memory_budget,
                    show_progress=show_progress)


def query_rows(queries: np.ndarray, base: Rows, promoted, backend: str):
    """(query rows, corpus rows, candidate rows) for searching ``base`` with ``queries``.

    Both sides are scored in their common dtype. When that is wider than the corpus's
    (float64 queries on a float32 corpus), ``promoted(dtype)`` gives the corpus converted
    chunk by chunk, never copied whole, and the candidates come from ``base`` itself with
    the queries cast down (when they fit): exact scores and the proof then run in the
    wide dtype with the narrow one's rounding bound, as for the faiss backend.
    """
    dtype = np.result_type(queries.dtype, base.dtype)
    C = base if dtype == base.dtype else promoted(dtype)
    Q = Rows(queries, base.metric, "queries", dtype=C.dtype)
    if C is base or backend != "numpy" or not queries.shape[0]:
        return Q, C, None
    with np.errstate(over="ignore", invalid="ignore"):
        # a query beyond the narrow range (1e300 to float32) becomes inf there: no
        # candidates in it then (checked below), not a RuntimeWarning for a valid query
        low = queries.astype(base.dtype)
        norms = row_norms(low)
    info = np.finfo(base.dtype)
    if np.isfinite(norms).all() and (norms > float(info.tiny) * 2**24).all() and \
            float(norms.max()) < float(info.max) ** 0.25:
        return Q, C, (Rows(low, base.metric, "queries"), base)
    return Q, C, None
