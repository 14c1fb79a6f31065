"""Pictures of nearest-neighbour results (draw only)."""

from __future__ import annotations

import numpy as np

from . import get_ax


def draw_neighbors(neighbors, queries=None, ax=None):
    """Score against rank, one line per query: how fast the similarity falls off.

    A flat line means the top-k is decided by tiny score differences (low margin); a
    steep first step means one clear winner.
    """
    ax = get_ax(ax)
    n_q, k = neighbors.scores.shape
    rows = np.arange(min(n_q, 10)) if queries is None else _query_rows(queries, n_q)
    ranks = np.arange(1, k + 1)
    for q in rows:
        ax.plot(ranks, neighbors.scores[q], marker="o", markersize=3, label=f"query {int(q)}")
    ax.set_xlabel("rank")
    better = "distance (lower is closer)" if neighbors.metric == "euclidean" \
        else f"{neighbors.metric} (higher is closer)"
    ax.set_ylabel(better)
    ax.set_title(f"{len(rows)} of {n_q} queries, k={k}")
    if len(rows) and len(rows) <= 10:
        ax.legend(fontsize="small")
    return ax


def _query_rows(queries, n_q: int) -> np.ndarray:
    """``queries`` as row positions in [0, n_q) (negative ones count from the end, as in
    NumPy, and are labelled by their position); others are refused by name."""
    rows = np.atleast_1d(np.asarray(queries))
    if rows.ndim != 1 or not (rows.size == 0 or np.issubdtype(rows.dtype, np.integer)):
        raise TypeError(f"queries must be query row positions (integers), got {queries!r:.60}")
    bad = rows[(rows >= n_q) | (rows < -n_q)]
    if bad.size:
        raise ValueError(f"queries holds {bad.size} position(s) outside the {n_q} queries "
                         f"searched: {bad[:5].tolist()}")
    return np.where(rows < 0, rows + n_q, rows).astype(np.int64)
