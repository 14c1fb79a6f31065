"""Exact nearest-neighbour search in bounded memory: knn, Index, Neighbors.

FOUNDATION VERSION: correct and blocked, not yet tuned (issue 3 tunes it, adds the faiss
backend and progress bars). The public names and the tie rule are final.

Scores: ``cosine`` and ``dot`` are similarities (higher is closer), ``euclidean`` is a
distance (lower is closer). Ties break by lower corpus index.
"""

from __future__ import annotations

import numpy as np

from . import _validate as V
from .linalg import row_norms
from .results import Result, html_block, html_table, result, shorten

__all__ = ["knn", "Index", "Neighbors"]

_DEFAULT_BUDGET = 256 * 2**20  # bytes for one block of scores


@result
class Neighbors(Result):
    """The k nearest corpus items of each query."""

    indices: np.ndarray
    """(n_queries, k) int64 corpus positions, best first."""
    scores: np.ndarray
    """(n_queries, k) scores: similarities (cosine, dot) or distances (euclidean)."""
    metric: str
    """"cosine", "dot" or "euclidean"."""
    k: int
    """Neighbours per query."""
    ids: np.ndarray | None = None
    """(n_queries, k) ids of the Index's items, or None when the Index has no ids."""
    texts: np.ndarray | None = None
    """The Index's texts (one per corpus item) when it has them, for display."""

    def to_frame(self, ids=None, texts=None):
        """One row per query × rank: query, rank (1-based), index, id, score, text."""
        import pandas as pd

        n_q, k = self.indices.shape
        flat = self.indices.ravel()
        frame = pd.DataFrame({"query": np.repeat(np.arange(n_q), k),
                              "rank": np.tile(np.arange(1, k + 1), n_q),
                              "index": flat, "score": self.scores.ravel()})
        id_source = ids if ids is not None else None
        if id_source is not None:
            frame["id"] = np.asarray(list(id_source), dtype=object)[flat]
        elif self.ids is not None:
            frame["id"] = self.ids.ravel()
        text_source = texts if texts is not None else self.texts
        if text_source is not None:
            frame["text"] = np.asarray(list(text_source), dtype=object)[flat]
        return frame

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        shown = frame[frame["query"] < 5]
        cols = [c for c in ("query", "rank", "id", "index", "score", "text") if c in shown]
        rows = [[shorten(v, 80) if c == "text" else v for c, v in zip(cols, r)]
                for r in shown[cols].itertuples(index=False)]
        note = "" if self.indices.shape[0] <= 5 else \
            f"<p class='vd-muted'>first 5 of {self.indices.shape[0]} queries</p>"
        return html_block(f"Neighbors (k={self.k}, metric={self.metric})",
                          html_table(rows, cols, numeric={"score", "rank", "index"}), note)


def _prepare(X: np.ndarray, metric: str, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit rows for cosine (zero rows refused), squared norms for euclidean."""
    if metric == "cosine":
        norms = row_norms(X)
        V.zero_rows(norms, name, "raise")
        return X / norms[:, None], None
    if metric == "euclidean":
        return X, np.einsum("ij,ij->i", X, X)
    return X, None


def _topk_block(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each row of ``keys`` (higher is better), ties by lower column."""
    n, m = keys.shape
    if k < m:
        kth = np.partition(keys, m - k, axis=1)[:, m - k]
        rows, cols = np.nonzero(keys >= kth[:, None])
    else:
        rows, cols = np.divmod(np.arange(n * m), m)
    vals = keys[rows, cols]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n))
    take = (starts[:, None] + np.arange(k)).ravel()
    return cols[take].reshape(n, k), vals[take].reshape(n, k)


def _search(Q: np.ndarray, C: np.ndarray, k: int, metric: str, exclude_self: bool,
            batch_size: int | None, c_sq: np.ndarray | None = None,
            q_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Core search; inputs already checked and prepared (unit rows for cosine)."""
    n_q, n_c = Q.shape[0], C.shape[0]
    dtype = np.result_type(Q.dtype, C.dtype)
    if batch_size is None:
        batch_size = max(1, min(n_q, _DEFAULT_BUDGET // max(1, n_c * 8 * 3)))
    indices = np.empty((n_q, k), dtype=np.int64)
    scores = np.empty((n_q, k), dtype=dtype)
    if metric == "euclidean":
        q_sq_all = np.einsum("ij,ij->i", Q, Q)
    for start in range(0, n_q, batch_size):
        stop = min(n_q, start + batch_size)
        block = Q[start:stop] @ C.T
        if metric == "euclidean":
            block = q_sq_all[start:stop, None] + c_sq[None, :] - 2 * block
            np.maximum(block, 0, out=block)
            keys = -block
        else:
            keys = block
        if exclude_self:
            rows = np.arange(stop - start)
            keys[rows, rows + start + q_offset] = -np.inf
        idx, val = _topk_block(keys, k)
        if metric == "euclidean":
            diffs = Q[start:stop, None, :] - C[idx]
            val = np.sqrt(np.einsum("ijk,ijk->ij", diffs, diffs))
            # exact distances may reorder near-ties of the expanded form: sort again
            order = np.lexsort((idx, val), axis=-1)
            idx = np.take_along_axis(idx, order, axis=1)
            val = np.take_along_axis(val, order, axis=1)
        indices[start:stop] = idx
        scores[start:stop] = val
    return indices, scores


def knn(queries, corpus, k: int = 10, *, metric: str = "cosine", exclude_self: bool = False,
        backend: str = "numpy", batch_size: int | None = None) -> Neighbors:
    """Exact k nearest neighbours of each query in the corpus.

    Examples
    --------
    >>> res = knn([[1, 0]], [[1, 0.1], [0, 1], [1, 0]], k=2)
    >>> res.indices.tolist()
    [[2, 0]]
    """
    V.check_metric(metric)
    corpus = V.as_matrix(corpus, "corpus")
    queries = V.as_matrix(queries, "queries", allow_empty=True)
    V.check_same_dim(queries, "queries", corpus, "corpus")
    k = V.check_k(k, corpus.shape[0], exclude_self=exclude_self)
    if exclude_self and queries.shape[0] != corpus.shape[0]:
        raise ValueError("exclude_self=True needs queries to be the corpus itself "
                         f"({queries.shape[0]} queries vs {corpus.shape[0]} corpus rows)")
    C, c_sq = _prepare(corpus, metric, "corpus")
    Q, _ = _prepare(queries, metric, "queries") if queries.shape[0] else (queries, None)
    idx, sc = _search(Q, C, k, metric, exclude_self, batch_size, c_sq)
    return Neighbors(indices=idx, scores=sc, metric=metric, k=k)


class Index:
    """A corpus ready for search: vectors (normalised once for cosine), ids and texts."""

    def __init__(self, corpus, *, ids=None, texts=None, metric: str = "cosine",
                 backend: str = "numpy"):
        self.metric = V.check_metric(metric)
        self.backend = backend
        self.vectors = V.as_matrix(corpus, "corpus")
        self.ids = V.check_ids(ids, self.vectors.shape[0], "ids")
        self.texts = None if texts is None else np.asarray(list(texts), dtype=object)
        self._prepared, self._c_sq = _prepare(self.vectors, metric, "corpus")
        self.cache: dict = {}

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def search(self, queries, k: int = 10) -> Neighbors:
        Q = V.as_matrix(queries, "queries", allow_empty=True)
        V.check_same_dim(Q, "queries", self.vectors, "corpus")
        k = V.check_k(k, len(self))
        Qp, _ = _prepare(Q, self.metric, "queries") if Q.shape[0] else (Q, None)
        idx, sc = _search(Qp, self._prepared, k, self.metric, False, None, self._c_sq)
        return Neighbors(indices=idx, scores=sc, metric=self.metric, k=k,
                         ids=None if self.ids is None else self.ids[idx], texts=self.texts)

    def knn_graph(self, k: int = 10) -> Neighbors:
        k = V.check_k(k, len(self), exclude_self=True)
        idx, sc = _search(self._prepared, self._prepared, k, self.metric, True, None, self._c_sq)
        return Neighbors(indices=idx, scores=sc, metric=self.metric, k=k,
                         ids=None if self.ids is None else self.ids[idx], texts=self.texts)
