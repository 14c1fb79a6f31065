"""Public entry points of exact search: :func:`knn` and :class:`Index`."""

from __future__ import annotations

import inspect

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..linalg import normalize, row_norms
from .engine import DEFAULT_BUDGET, search
from .rows import Rows
from .result import Neighbors

__all__ = ["knn", "Index"]

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
        never copied whole), or a ``dask.array.Array``: then searched one row block per
        task on the active Dask scheduler, with the same answer bit for bit
        (:func:`vecdiag.scale.search.knn_dask`; queries may be a Dask array too).
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
    corpus = V.as_matrix(corpus, "corpus")
    queries = V.as_matrix(queries, "queries", allow_empty=True)
    V.check_same_dim(queries, "queries", corpus, "corpus")
    k = V.check_k(k, corpus.shape[0], exclude_self=exclude_self)
    if exclude_self and queries.shape[0] != corpus.shape[0]:
        raise ValueError("exclude_self=True needs queries to be the corpus itself, row for "
                         f"row ({queries.shape[0]} queries vs {corpus.shape[0]} corpus rows); "
                         "pass the corpus as queries, or use Index(corpus).knn_graph(k)")
    base = Rows(corpus, metric, "corpus")
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
    low = queries.astype(base.dtype)
    norms = row_norms(low)
    info = np.finfo(base.dtype)
    if np.isfinite(norms).all() and (norms > float(info.tiny) * 2**24).all() and \
            float(norms.max()) < float(info.max) ** 0.25:
        return Q, C, (Rows(low, base.metric, "queries"), base)
    return Q, C, None


class Index:
    """A corpus ready for search: vectors (unit rows prepared once for cosine), ids, texts.

    Parameters
    ----------
    corpus : array-like, (n, d)
        The vectors; a memmap is kept as is (normalised block by block when searched). A
        ``dask.array.Array`` gives a :class:`vecdiag.scale.index.DaskIndex` (searched one
        row block per task, the corpus never gathered).
    ids : sequence, optional
        One unique id per row; results then carry ``ids``. Unique also once read as
        strings (``7`` and ``"7"`` are one id to :func:`vecdiag.evaluate` and in TREC
        files, so an Index refuses to hold both).
    texts : sequence of str, optional
        One text per row, shown by the results.
    metric, backend, memory_budget : see :func:`knn`.

    Attributes
    ----------
    vectors : ndarray
        The checked corpus (not a copy when it was already float32/float64).
    ids, texts : ndarray of object or None
    metric, backend : str
    cache : dict
        Corpus-wide statistics computed once by other modules (e.g. k-occurrence); the
        keys are defined in :mod:`vecdiag.cache_keys`.
    rows : vecdiag.neighbors.rows.Rows
        The corpus as every scoring path reads it (unit rows prepared once under cosine).
    unit_rows : ndarray
        Every row scaled to length 1 (zero rows stay zero); see :attr:`unit_rows`.
    norms : ndarray
        The length of every row (in the corpus dtype).

    Notes
    -----
    Like scikit-learn's estimators, the Index keeps a float32/float64 array (and a
    memmap) without copying it for ``dot`` and ``euclidean`` (cosine keeps its own unit
    rows). Its row norms (taken when it is built), its cached kNN graph and statistics
    (taken when first needed) go stale if the array changes: build a new Index instead.

    Examples
    --------
    >>> index = Index([[1, 0], [0, 1], [1, 1]], ids=["x", "y", "xy"])
    >>> index.search([[1, 0.2]], k=2).ids.tolist()
    [['x', 'xy']]
    >>> index.knn_graph(k=1).indices.ravel().tolist()
    [2, 2, 0]
    """

    def __new__(cls, corpus=None, *args, **kwargs):
        # vd.Index(dask_array) is an Index over a Dask corpus (vecdiag.scale.index)
        if cls is Index and is_dask_array(corpus):
            from ..scale.index import DaskIndex

            cls = DaskIndex
        return super().__new__(cls)

    def __init__(self, corpus, *, ids=None, texts=None, metric: str = "cosine",
                 backend: str = "numpy", memory_budget: int = DEFAULT_BUDGET):
        self.metric = V.check_metric(metric)
        _, self.memory_budget = check_options(backend, None, memory_budget, None)
        self.backend = backend
        self.vectors = V.as_matrix(corpus, "corpus")
        self.ids = V.check_ids(ids, self.vectors.shape[0], "ids")
        self.texts = check_texts(texts, self.vectors.shape[0])
        self._rows = Rows(self.vectors, metric, "corpus")
        self._faiss = None
        self.cache: dict = {}

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def __repr__(self) -> str:
        n, d = self.vectors.shape
        return (f"Index(n={n}, dim={d}, metric={self.metric!r}, backend={self.backend!r}, "
                f"ids={'yes' if self.ids is not None else 'no'}, "
                f"texts={'yes' if self.texts is not None else 'no'})")

    @property
    def rows(self) -> Rows:
        """The corpus prepared for scoring, once: what search, the re-rankers, the fixes
        and explanations all read (:class:`vecdiag.neighbors.rows.Rows`)."""
        return self._rows

    @property
    def norms(self) -> np.ndarray:
        """Row lengths ``‖x‖`` in the corpus dtype (computed once, when the Index was built)."""
        return self._rows.raw_norms

    @property
    def unit_rows(self) -> np.ndarray:
        """Every corpus row divided by its length, in the corpus dtype (zero rows stay 0).

        Under cosine these are the rows the search scores, prepared once when the Index
        was built (no copy). Otherwise, or for a memmap corpus (normalised block by
        block when searched), they are computed on first use and kept in :attr:`cache`.
        Read-only: do not modify the array.
        """
        if self.metric == "cosine" and self._rows.data is not None:
            return self._rows.data
        key = cache_keys.unit_rows()
        if key not in self.cache:
            # normalize, not vectors / norms: a length past the float range is inf there
            self.cache[key] = normalize(self.vectors, zero="ignore")
        return self.cache[key]

    def _rows_in(self, dtype) -> Rows:
        """The corpus prepared in ``dtype`` (float64 queries on a float32 Index, say).

        The Index's own dtype is prepared once when built. Another dtype keeps only its
        row norms (computed once, cached here) and converts the corpus chunk by chunk as
        it is searched, never a whole float64 copy of a float32 corpus.
        """
        dtype = np.dtype(dtype)
        if dtype == self._rows.dtype:
            return self._rows
        key = cache_keys.rows_in(dtype.str)
        if key not in self.cache:
            self.cache[key] = Rows(self.vectors, self.metric, "corpus", dtype=dtype,
                                   copy=False)
        return self.cache[key]

    def _faiss_index(self):
        if self.backend == "faiss" and self._faiss is None:
            from .faiss_backend import build_index

            self._faiss = build_index(self._rows)
        return self._faiss

    def _result(self, idx, sc, k) -> Neighbors:
        return Neighbors(indices=idx, scores=sc, metric=self.metric, k=k,
                         ids=None if self.ids is None else self.ids[idx], texts=self.texts)

    def search(self, queries, k: int = 10, *, batch_size: int | None = None,
               show_progress: bool | None = None) -> Neighbors:
        """Exact k nearest corpus items of each query (see :func:`knn`).

        Parameters
        ----------
        queries : array-like, (n_queries, d)
            May be empty; any real dtype (the corpus is then used in the common dtype:
            float64 queries on a float32 Index find candidates in float32 against the
            rows prepared once, then score and rank them exactly in float64, with the
            same answer as :func:`knn`; the corpus is never copied whole in float64).
        k : int
            ``1 <= k <= len(self)``.
        batch_size, show_progress : see :func:`knn`.

        Returns
        -------
        Neighbors
            With ``ids`` (n_queries, k) when the Index has ids, and the Index's texts.
        """
        batch_size, _ = check_options(self.backend, batch_size, self.memory_budget,
                                       show_progress)
        Q = V.as_matrix(queries, "queries", allow_empty=True)
        V.check_same_dim(Q, "queries", self.vectors, "corpus")
        k = V.check_k(k, len(self))
        Qr, C, cand_rows = query_rows(Q, self._rows, self._rows_in, self.backend)
        idx, sc = search(Qr, C, k, backend=self.backend, batch_size=batch_size,
                         budget=self.memory_budget, show_progress=show_progress,
                         faiss_index=self._faiss_index(), cand_rows=cand_rows)
        return self._result(idx, sc, k)

    def knn_graph(self, k: int = 10, *, batch_size: int | None = None,
                  show_progress: bool | None = None) -> Neighbors:
        """The k nearest neighbours of every corpus item among the others (self excluded).

        Notes
        -----
        Only the item's own row is skipped: an exact duplicate at another row is found at
        cosine 1.0 / distance 0.0. Memory stays within the Index's ``memory_budget`` (plus
        the (n, k) result); a bar shows progress when the build looks long.

        Returns
        -------
        Neighbors
            ``indices`` (n, k): row i holds the k nearest other rows of item i.
        """
        batch_size, _ = check_options(self.backend, batch_size, self.memory_budget,
                                       show_progress)
        k = V.check_k(k, len(self), exclude_self=True)
        graph = cached_graph(self, k)
        if graph is not None:
            return graph
        idx, sc = search(self._rows, self._rows, k, exclude_self=True, backend=self.backend,
                         batch_size=batch_size, budget=self.memory_budget,
                         show_progress=show_progress, faiss_index=self._faiss_index())
        graph = self._result(idx, sc, k)
        self.cache[cache_keys.knn_graph(k)] = graph
        return graph




# help(), IDEs and inspect show __init__'s parameters, not __new__'s (corpus=None, *args,
# **kwargs), which only picks the Dask subclass
Index.__signature__ = inspect.signature(Index.__init__).replace(
    parameters=list(inspect.signature(Index.__init__).parameters.values())[1:])


def cached_graph(index, k: int):
    """The index's cached kNN graph for ``k`` neighbours, or None.

    The graph is exact and deterministic, so it is cached per Index (key
    ``cache_keys.knn_graph(k)``, shared with vecdiag.diagnostics and the CSLS re-ranker);
    a cached graph with more neighbours serves a smaller ``k`` as its prefix.
    """
    cached = [key[1] for key in index.cache if cache_keys.is_knn_graph(key) and key[1] >= k]
    if not cached:
        return None
    graph = index.cache[cache_keys.knn_graph(min(cached))]
    if graph.k == k:
        return graph
    return index._result(graph.indices[:, :k].copy(), graph.scores[:, :k].copy(), k)

def check_texts(texts, n: int):
    """Texts as an object array, one per corpus row (or None)."""
    if texts is None:
        return None
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of strings, one per row, not a single string")
    arr = np.asarray(list(V.check_ordered(texts, "texts")), dtype=object)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"texts has {arr.shape[0] if arr.ndim else 0} entries but the corpus "
                         f"has {n} rows; pass one text per row")
    return arr
