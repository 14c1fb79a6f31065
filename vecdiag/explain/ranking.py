"""Whole-corpus scores and exact ranks for one query (inputs already checked).

Top-k search answers "which k documents?"; an explanation also needs "where is document
417?", even at rank 9,000. Scoring one query against every row costs ``O(n d)``, so the
whole score vector is computed once and every rank is read from it.

Ranks follow the library's tie rule: higher similarity (lower distance) first, equal
scores by lower corpus row. The rank of row ``i`` is therefore
``1 + #{j : key_j > key_i} + #{j < i : key_j == key_i}`` with ``key = score`` for
similarities and ``key = -distance`` for euclidean.
"""

from __future__ import annotations

import numpy as np

from ..linalg import row_norms

__all__ = ["full_scores", "keys_of", "ranks_of", "top_k"]


def full_scores(index, Q: np.ndarray) -> np.ndarray:
    """Scores of each row of ``Q`` (m, d) against every corpus row: (m, n).

    Cosine: unit query · unit documents; dot: raw products; euclidean: distances
    (exact ``‖q − c‖`` for a single query, the expanded form for several).
    """
    metric = index.metric
    C = index.vectors
    Q = np.asarray(Q)
    if metric == "cosine":
        prepared = getattr(index, "_prepared", None)
        if prepared is None:
            prepared = C / row_norms(C)[:, None]
        norms = row_norms(Q)
        return (Q / np.where(norms > 0, norms, 1)[:, None]) @ prepared.T
    if metric == "dot":
        return Q @ C.T
    if Q.shape[0] == 1:
        diff = C - Q[0]
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))[None, :]
    sq = np.einsum("ij,ij->i", Q, Q)[:, None] + np.einsum("ij,ij->i", C, C)[None, :] - 2 * Q @ C.T
    return np.sqrt(np.maximum(sq, 0))


def keys_of(scores: np.ndarray, metric: str) -> np.ndarray:
    """Ranking keys, higher is better: scores, or negated distances for euclidean."""
    scores = np.asarray(scores)
    return -scores if metric == "euclidean" else scores


def ranks_of(keys: np.ndarray, positions) -> np.ndarray:
    """1-based ranks of ``positions`` in the ordering of ``keys`` (ties: lower row first).

    Examples
    --------
    >>> ranks_of(np.array([0.2, 0.9, 0.9, 0.1]), [0, 1, 2, 3]).tolist()
    [3, 1, 2, 4]
    """
    keys = np.asarray(keys)
    out = []
    rows = np.arange(keys.shape[0])
    for p in np.atleast_1d(positions).tolist():
        v = keys[p]
        better = np.count_nonzero(keys > v)
        ties_before = np.count_nonzero((keys == v) & (rows < p))
        out.append(1 + better + ties_before)
    return np.array(out, dtype=np.int64)


def top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k best keys, best first, ties by lower row.

    Examples
    --------
    >>> top_k(np.array([0.2, 0.9, 0.9, 0.1]), 2).tolist()
    [1, 2]
    """
    keys = np.asarray(keys)
    n = keys.shape[0]
    k = min(k, n)
    if k < n:
        kth = np.partition(keys, n - k)[n - k]
        cand = np.flatnonzero(keys >= kth)
    else:
        cand = np.arange(n)
    order = np.lexsort((cand, -keys[cand]))
    return cand[order][:k]
