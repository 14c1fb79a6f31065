"""``vd.Index`` over a Dask corpus: search per row block, nothing gathered.

``vd.Index(dask_array, ids=..., texts=..., metric=...)`` returns a :class:`DaskIndex` (a
:class:`vecdiag.Index`): :meth:`~DaskIndex.search` and :meth:`~DaskIndex.knn_graph` run
through :mod:`vecdiag.scale.search` (the same answers as an in-memory Index, bit for bit),
:attr:`~DaskIndex.vectors` is the Dask array, :attr:`~DaskIndex.norms` is computed once by
one pass over the blocks, :attr:`~DaskIndex.unit_rows` is a lazy Dask array. What would
need the whole corpus prepared in memory (:attr:`~DaskIndex.rows`) raises an error that
says what to do instead. :func:`full_scores` scores a few queries against every row,
block by block (what explanations need: O(n) memory per query).
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _validate as V
from ..linalg import normalize, row_norms
from ..neighbors.engine import DEFAULT_BUDGET
from ..neighbors.result import Neighbors
from ..neighbors.scoring import direct_scores, pairwise_scores
from ..neighbors.index import Index, cached_graph, check_texts, keep_graph
from ..neighbors.search import check_options
from .block_top import BadRows, checked_block, refuse_bad_rows
from .chunks import block_pieces, check_dask_matrix, compute, row_blocks
from .search import knn_dask, query_parts, search_blocks

__all__ = ["DaskIndex", "full_scores", "GRAPH_WARN_SECONDS"]

GRAPH_WARN_SECONDS = 60.0             # knn_graph warns of its cost above this estimate
_ASSUMED_FLOPS = 3e10                 # the engine's guess of this machine's product rate


def _block_norms(block, start: int) -> np.ndarray:
    block = np.asarray(block)
    norms = row_norms(block)
    if not np.isfinite(norms).all():
        rows = np.flatnonzero(~np.isfinite(block).all(axis=1)) + start
        raise BadRows(f"corpus has {V.format_rows(rows)} with NaN or inf; drop or impute "
                      "them first", "corpus")
    return norms


def _unit_block(block):
    # normalize, not block / norms: a float32 row of 3e38s has length inf (a row of zeros
    # then), a subnormal one a rounded length (a row not 1 long)
    return normalize(np.asarray(block), zero="ignore")


def _checked_unit_block(block, block_info=None):
    """:func:`_unit_block` of one block of :attr:`DaskIndex.unit_rows`, NaN/inf rows named
    by their global row (normalize's own check would name their row in the block)."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    return _unit_block(checked_block(block, start, "dot", "corpus"))


class DaskIndex(Index):
    """An :class:`vecdiag.Index` whose vectors are a Dask array (built by ``vd.Index``).

    Parameters
    ----------
    corpus : dask.array.Array, (n, d)
        Real numbers with known chunk sizes; float32/float64 kept. Never computed whole.
    ids, texts, metric, memory_budget : see :class:`vecdiag.Index`
        ``ids`` and ``texts`` are held in memory (one entry per row).
    backend : {"numpy"}
        Each row block is searched by the NumPy engine; "faiss" is refused.

    Notes
    -----
    Searches run on the active Dask scheduler (a distributed Client if one exists,
    threads otherwise). Only per-block top k travel back. Zero rows under cosine and
    NaN/inf rows are found by the first pass that reads them (a search, or
    :attr:`norms`), named by their global row numbers.

    Examples
    --------
    >>> import dask.array as da, vecdiag as vd
    >>> X = da.from_array(np.array([[1., 0], [0, 1], [1, 1]]), chunks=2)
    >>> index = vd.Index(X, ids=["x", "y", "xy"])
    >>> type(index).__name__, len(index)
    ('DaskIndex', 3)
    >>> index.search([[1, 0.2]], k=2).ids.tolist()
    [['x', 'xy']]
    """

    def __init__(self, corpus, *, ids=None, texts=None, metric: str = "cosine",
                 backend: str = "numpy", memory_budget: int = DEFAULT_BUDGET):
        self.metric = V.check_metric(metric)
        if backend != "numpy":
            raise ValueError(f"backend={backend!r} cannot search a Dask corpus: each row "
                             "block is searched by the NumPy engine; pass backend='numpy'")
        self.backend = backend
        _, self.memory_budget = check_options(backend, None, memory_budget, None)
        self.vectors = check_dask_matrix(corpus, "corpus")
        n = self.vectors.shape[0]
        self.ids = V.check_ids(ids, n, "ids")
        self.texts = check_texts(texts, n)
        self._faiss = None
        self._norms = None
        self.cache: dict = {}

    @property
    def rows(self):
        """Not available on a Dask corpus: it is the whole corpus prepared in memory."""
        raise TypeError("Index.rows is the whole corpus prepared in memory, and this Index "
                        "holds a Dask array; use index.search / index.knn_graph, "
                        "vecdiag.scale.index.full_scores(index, queries) for every score of "
                        "a few queries, index.unit_rows (a Dask array), or build "
                        "vd.Index(corpus.compute()) if the corpus fits in memory")

    @property
    def norms(self) -> np.ndarray:
        """Row lengths ``‖x‖`` in the corpus dtype: one pass over the blocks, then cached."""
        if self._norms is None:
            import dask
            import dask.array as da

            parts = [da.from_delayed(dask.delayed(_block_norms, pure=True)(b.data, b.start),
                                     shape=(b.stop - b.start,), dtype=self.vectors.dtype)
                     for b in row_blocks(self.vectors)]
            try:
                (self._norms,) = compute(da.concatenate(parts))
            except BadRows:       # a block names its own rows: name those of every block
                refuse_bad_rows(self.vectors, "dot")
                raise
        return self._norms

    @property
    def unit_rows(self):
        """Every row divided by its length, as a lazy Dask array (zero rows stay 0).

        The same numbers as :attr:`vecdiag.Index.unit_rows` of the computed corpus, block
        by block; nothing is computed until asked.
        """
        return self.vectors.map_blocks(_checked_unit_block, dtype=self.vectors.dtype)

    def _rows_in(self, dtype):
        raise TypeError("a Dask Index prepares its rows block by block, per search")

    def search(self, queries, k: int = 10, *, batch_size: int | None = None,
               show_progress: bool | None = None) -> Neighbors:
        """Exact k nearest corpus items of each query, one task per row block.

        Parameters
        ----------
        queries : array-like or dask.array.Array, (n_queries, d)
        k : int
            ``1 <= k <= len(self)``.
        batch_size, show_progress : see :func:`vecdiag.knn`.

        Returns
        -------
        Neighbors
            The same as :meth:`vecdiag.Index.search` on the computed corpus, with ids and texts.

        Examples
        --------
        >>> import dask.array as da, vecdiag as vd
        >>> index = vd.Index(da.from_array(np.eye(3), chunks=1), metric="dot")
        >>> index.search([[0., 2, 1]], k=2).indices.tolist()
        [[1, 2]]
        """
        batch_size, _ = check_options(self.backend, batch_size, self.memory_budget,
                                      show_progress)
        res = knn_dask(queries, self.vectors, k, metric=self.metric, batch_size=batch_size,
                       memory_budget=self.memory_budget, show_progress=show_progress)
        return self._result(res.indices, res.scores, res.k)

    def knn_graph(self, k: int = 10, *, batch_size: int | None = None,
                  show_progress: bool | None = None) -> Neighbors:
        """The k nearest other items of every row: exact, O(n² d) work.

        Every row block of the corpus is searched against every other (query parts are
        the corpus's own blocks, nothing gathered). A warning states the estimated cost
        when it exceeds :data:`GRAPH_WARN_SECONDS`; for corpus-wide statistics on a large
        corpus prefer the sampled ones (``vd.hubness(X, k, sample=...)``), or
        :func:`vecdiag.scale.search.knn_rows` for the neighbours of a few rows.

        Parameters
        ----------
        k : int
            ``1 <= k <= len(self) - 1``.
        batch_size, show_progress : see :func:`vecdiag.knn`.

        Returns
        -------
        Neighbors
            ``indices`` (n, k); cached per Index like :meth:`vecdiag.Index.knn_graph`
            (read-only arrays: copy them before changing them).

        Examples
        --------
        >>> import dask.array as da, vecdiag as vd
        >>> X = da.from_array(np.array([[1., 0], [0, 1], [1, 1]]), chunks=2)
        >>> vd.Index(X).knn_graph(k=1).indices.ravel().tolist()
        [2, 2, 0]
        """
        batch_size, _ = check_options(self.backend, batch_size, self.memory_budget,
                                      show_progress)
        n, d = self.vectors.shape
        k = V.check_k(k, n, exclude_self=True)
        graph = cached_graph(self, k)
        if graph is not None:
            return graph
        seconds = 2.0 * n * n * d / _ASSUMED_FLOPS
        if seconds > GRAPH_WARN_SECONDS:
            warnings.warn(f"the exact kNN graph of {n:,} vectors of dimension {d} is "
                          f"O(n² d): about {2.0 * n * n * d:.2g} flop, some "
                          f"{seconds / 3600:.3g} hours at {_ASSUMED_FLOPS:.0e} flop/s on one "
                          "machine; divide by the cores of the cluster, or use sampled "
                          "statistics (vd.hubness(X, k, sample=...))", stacklevel=2)
        parts, _ = query_parts(self.vectors, self.metric, "corpus", self_rows=True)
        idx, sc = search_blocks(self.vectors, parts, k, self.metric, batch_size=batch_size,
                                budget=self.memory_budget, show_progress=show_progress)
        return keep_graph(self, self._result(idx, sc, k))


def _scores_block(block, start: int, Q: np.ndarray, metric: str) -> np.ndarray:
    """:func:`~vecdiag.neighbors.scoring.pairwise_scores` of one row block (a row's score
    does not depend on the rows sharing its block), its NaN/inf rows named by global row."""
    C = checked_block(block, start, "dot", "corpus")
    if C.shape[0] == 0:
        return direct_scores(Q, C, metric, unit_rows=lambda: _unit_block(C))
    # a piece at a time: the block's unit rows (cosine) or differences (euclidean) were
    # a whole copy of it, and their float64 products another (a 25.6 MB block: 52 MB)
    out = np.empty((Q.shape[0], C.shape[0]), dtype=np.result_type(Q.dtype, C.dtype))
    for a, P in block_pieces(C):
        out[:, a:a + P.shape[0]] = pairwise_scores(Q, P, metric)
    return out


def full_scores(index, Q) -> np.ndarray:
    """Scores of each row of ``Q`` (m, d) against every row of a Dask Index: (m, n).

    Computed one row block per task and concatenated (O(n) memory per query: meant for a
    few queries, as explanations use it); a task scores its block :data:`.PIECE_BYTES` of
    rows at a time, so its memory is its block, its scores and a few MB. The same formulas as
    :func:`vecdiag.neighbors.scoring.full_scores` (unit query · unit rows for cosine, a
    zero query scoring 0; raw products for dot; distances for euclidean), equal to it up
    to the rounding of the matrix product (a few units in the last place).

    Parameters
    ----------
    index : DaskIndex
        An Index over a Dask corpus (``vd.Index(dask_array)``).
    Q : array-like, (m, d)
        Queries, checked (finite, the Index's dimension).

    Returns
    -------
    ndarray (m, n)
        Similarities (cosine, dot) or distances (euclidean).

    Examples
    --------
    >>> import dask.array as da, vecdiag as vd
    >>> index = vd.Index(da.from_array(np.array([[3., 4], [0, 1], [1, 0]]), chunks=2),
    ...                  metric="euclidean")
    >>> full_scores(index, [[0., 0]]).round(4).tolist()
    [[5.0, 1.0, 1.0]]
    """
    import dask

    Q = V.as_matrix(Q, "queries", allow_empty=True)
    V.check_same_dim(Q, "queries", index.vectors, "corpus")
    X = index.vectors
    dtype = np.result_type(Q.dtype, X.dtype)
    Q = Q.astype(dtype, copy=False)
    task = dask.delayed(_scores_block, pure=True)
    try:
        parts = compute(*[task(b.data, b.start, Q, index.metric) for b in row_blocks(X)])
    except BadRows as err:        # a block names its own rows: name those of every block
        if err.name == "corpus":
            refuse_bad_rows(X, "dot")
        raise
    return np.concatenate(parts, axis=1)
