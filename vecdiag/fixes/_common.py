"""Shared machinery of the re-rankers: inputs, similarity blocks, exact top-k.

Every re-ranker works with similarities (higher is closer): cosine, dot, or the negative
euclidean distance. Scores handed back for ``metric="euclidean"`` are turned back into
"lower is closer" values so that a :class:`~vecdiag.neighbors.Neighbors` always reads the
same way for its metric. Ties break by lower corpus index, as in :func:`vecdiag.knn`.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from ..neighbors import Index, Neighbors

_BLOCK_BYTES = 128 * 2**20  # budget for one (queries x corpus) block of scores


def resolve_corpus(corpus, metric: str | None, ids=None):
    """``(matrix, metric, ids, index_or_None)`` from an array-like or a :class:`vecdiag.Index`.

    An Index brings its vectors, metric (unless ``metric`` is given) and ids.
    """
    if isinstance(corpus, Index):
        metric = V.check_metric(metric or corpus.metric)
        return corpus.vectors, metric, corpus.ids if ids is None else V.check_ids(
            ids, len(corpus)), corpus
    metric = V.check_metric(metric or "cosine")
    C = V.as_matrix(corpus, "corpus")
    return C, metric, V.check_ids(ids, C.shape[0]), None


def check_queries(queries, C: np.ndarray, *, name: str = "queries") -> tuple[np.ndarray, bool]:
    """2-D checked queries (a single 1-D query is promoted) and whether it was 1-D."""
    Q = V.as_vectors(queries, name, ndim=(1, 2))
    single = Q.ndim == 1
    Q = Q.reshape(1, -1) if single else Q
    V.check_same_dim(Q, name, C, "corpus")
    return Q, single


def prepare(X: np.ndarray, metric: str, name: str) -> np.ndarray:
    """Unit rows for cosine (zero rows refused with their indices); unchanged otherwise."""
    if metric != "cosine":
        return X
    norms = row_norms(X)
    V.zero_rows(norms, name, "raise")
    return X / norms[:, None]


def prepare_corpus(C: np.ndarray, metric: str, index) -> np.ndarray:
    """:func:`prepare` for the corpus, reusing an Index's unit rows under cosine.

    An Index normalises its rows once when built (the same row norms and division as
    :func:`prepare`); a re-ranker called on it then skips a copy of the whole corpus.
    """
    if (index is not None and metric == "cosine" and index.metric == "cosine"
            and index._prepared is not None and index._prepared.dtype == C.dtype):
        return index._prepared
    return prepare(C, metric, "corpus")


def similarity(Q: np.ndarray, C: np.ndarray, metric: str, c_sq: np.ndarray | None = None) -> np.ndarray:
    """Similarity block of prepared rows: ``Q @ C.T``, or ``-||q - c||`` for euclidean."""
    S = Q @ C.T
    if metric == "euclidean":
        if c_sq is None:
            c_sq = np.einsum("ij,ij->i", C, C)
        q_sq = np.einsum("ij,ij->i", Q, Q)
        scale = q_sq[:, None] + c_sq[None, :]
        D = scale - 2 * S
        np.maximum(D, 0, out=D)
        # subtle: the expanded form loses every digit when q and c nearly coincide;
        # recompute those pairs directly (relative error then ~eps**0.75 at most).
        close = D <= np.finfo(D.dtype).eps ** 0.25 * scale
        if close.any():
            r, c = np.nonzero(close)
            diff = Q[r] - C[c]
            D[r, c] = np.einsum("ij,ij->i", diff, diff)
        S = -np.sqrt(D)
    return S


def block_rows(n_rows: int, n_cols: int, factor: int = 4) -> int:
    """Rows per block so that ``factor`` float64 arrays of (rows, n_cols) fit the budget."""
    return max(1, min(max(n_rows, 1), _BLOCK_BYTES // max(1, n_cols * 8 * factor)))


def rerank_blocks(Qp: np.ndarray, Cp: np.ndarray, metric: str, k: int, select, *,
                  factor: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Score prepared queries against the prepared corpus block by block, keeping what
    ``select(S) -> (indices, values)`` picks from each float64 similarity block ``S``
    (higher is closer: negated distances under euclidean). Memory: ``factor`` blocks of
    (rows, n) float64 within the budget, never the whole (n_queries, n) matrix.
    """
    c_sq = np.einsum("ij,ij->i", Cp, Cp) if metric == "euclidean" else None
    n_q = Qp.shape[0]
    indices = np.empty((n_q, k), dtype=np.int64)
    values = np.empty((n_q, k), dtype=np.float64)
    step = block_rows(n_q, Cp.shape[0], factor)
    for start in range(0, n_q, step):
        stop = min(n_q, start + step)
        S = similarity(Qp[start:stop], Cp, metric, c_sq).astype(np.float64)
        indices[start:stop], values[start:stop] = select(S)
    return indices, values


def top_k(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k columns of each row (higher key first; ties by lower column)."""
    n, m = keys.shape
    if k < m // 4:
        part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(keys, part, axis=1).min(axis=1)
        out_idx = np.empty((n, k), dtype=np.int64)
        for r in range(n):  # candidates >= k-th value, then an exact (key, index) sort
            cand = np.flatnonzero(keys[r] >= kth[r])
            order = np.lexsort((cand, -keys[r, cand]))[:k]
            out_idx[r] = cand[order]
    else:
        out_idx = np.argsort(-keys, axis=1, kind="stable")[:, :k].astype(np.int64)
    return out_idx, np.take_along_axis(keys, out_idx, axis=1)


def make_neighbors(indices: np.ndarray, scores: np.ndarray, metric: str, ids, index) -> Neighbors:
    """A Neighbors result, carrying ids (and texts of an Index) when known."""
    texts = index.texts if index is not None else None
    return Neighbors(indices=indices, scores=scores, metric=metric, k=indices.shape[1],
                     ids=None if ids is None else ids[indices], texts=texts)
