"""Exact search, the object: :class:`Index` (a corpus prepared once, searched many times).

Its searches run through the same checks (:mod:`.search`) and engine (:mod:`.engine`) as
:func:`vecdiag.knn`; what it keeps between them lives in ``Index.cache`` under the keys of
:mod:`vecdiag.cache_keys`.
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..linalg import normalize
from .engine import DEFAULT_BUDGET, search
from .result import Neighbors
from .rows import Rows
from .search import check_options, is_dask_array, query_rows

__all__ = ["Index"]


class Index:
    """A corpus ready for search: vectors (unit rows prepared once for cosine), ids, texts.

    Parameters
    ----------
    corpus : array-like, (n, d)
        The vectors; a float32 or float64 memmap is kept as is (normalised block by
        block when searched). A memmap of another dtype is converted whole into
        :attr:`vectors` (float16 and integers to float64: four times a float16 file);
        :func:`knn` searches such a file converting it chunk by chunk. A
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

        The graph is cached on the Index (the diagnostics and re-rankers read it from
        there), so its arrays are read-only: copy them before changing them
        (``graph.scores.copy()``).

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
        return keep_graph(self, self._result(idx, sc, k))




# help(), IDEs and inspect show __init__'s parameters, not __new__'s (corpus=None, *args,
# **kwargs), which only picks the Dask subclass
Index.__signature__ = inspect.signature(Index.__init__).replace(
    parameters=list(inspect.signature(Index.__init__).parameters.values())[1:])


def keep_graph(index, graph):
    """Cache ``graph`` as the index's kNN graph with ``graph.k`` neighbours and return it,
    its arrays made read-only.

    Every later ``knn_graph`` call, and every statistic that reads the cache (hubness,
    CSLS, explanations), gets this very object: a caller writing into its arrays (say
    similarities turned into distances in place) would silently change all of them.

    Examples
    --------
    >>> index = Index([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> graph = index.knn_graph(1)
    >>> graph.indices.flags.writeable, index.cache[cache_keys.knn_graph(1)] is graph
    (False, True)
    """
    for values in (graph.indices, graph.scores, graph.ids):
        if values is not None:
            values.flags.writeable = False
    index.cache[cache_keys.knn_graph(graph.k)] = graph
    return graph


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
