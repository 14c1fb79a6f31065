"""Which tiles of the pairwise pass of :func:`vecdiag.diagnostics.near_duplicates` can
hold a near-copy pair, read from a cosine Index's cached kNN graph (an explanation or a
diagnosis builds it): the tiles the graph rules out are not multiplied again.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cosine_graph", "blocks_with_pairs"]


def cosine_graph(X):
    """The kNN graph cached on ``X`` when ``X`` is a cosine :class:`vecdiag.Index` that
    has one (the one with the most neighbours), else None."""
    from .. import cache_keys
    from ..neighbors import Index

    if not isinstance(X, Index) or X.metric != "cosine":
        return None
    ks = [key[1] for key in X.cache if cache_keys.is_knn_graph(key)]
    return X.cache[cache_keys.knn_graph(max(ks))] if ks else None


def blocks_with_pairs(graph, step: int, threshold: float, dtype, d: int,
                      exact=()) -> np.ndarray:
    """Which tiles ``(a, b)``, ``a <= b``, of the pairwise pass of :func:`near_duplicates`
    (row blocks of ``step``) can hold a pair at cosine ``>= threshold``, read from the exact
    cosine kNN graph of the same rows: a bool matrix over blocks (upper triangle).

    Every row left out of row i's list scores at most its k-th score ``s_k(i)``. The
    graph's scores and a tile's products each differ from the true cosine by at most about
    ``2 (d + 2) eps`` (unit rows whose lengths are rounded, ``d`` products summed), so with
    ``tol = 8 (d + 4) eps`` (twice the two bounds together): a row with
    ``s_k(i) < threshold - tol`` finds every partner at or above the threshold in its list,
    scored ``>= threshold - tol`` there, and the tiles of those listed pairs are kept; a row
    with ``s_k(i) >= threshold - tol`` (more near-copies than its list holds) keeps every
    tile of its block. The tiles kept are computed as in the full pass, so the pairs found
    are the same, bit for bit; the others hold none. A listed pair of rows in one group of
    ``exact`` copies (grouped by hashing whatever their cosine) keeps no tile.
    """
    idx = np.asarray(graph.indices)
    scores = np.asarray(graph.scores, dtype=np.float64)
    n = idx.shape[0]
    n_blocks = -(-n // step)
    if idx.shape[1] == 0:
        return np.triu(np.ones((n_blocks, n_blocks), dtype=bool))
    floor = threshold - 8 * (d + 4) * float(np.finfo(dtype).eps)
    rep = np.arange(n)                    # each row's first exact copy
    for g in exact:
        rep[g] = g[0]
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    near = (scores >= floor) & (rep[rows] != rep[idx])
    rows, cols = rows[near], idx[near]
    needed = np.zeros((n_blocks, n_blocks), dtype=bool)
    needed[np.minimum(rows, cols) // step, np.maximum(rows, cols) // step] = True
    dense = np.unique(np.flatnonzero(scores[:, -1] >= floor) // step)
    needed[dense, :] = True
    needed[:, dense] = True
    return np.triu(needed)
