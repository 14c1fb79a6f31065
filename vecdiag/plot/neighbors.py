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
    rows = np.arange(min(n_q, 10)) if queries is None else np.atleast_1d(queries)
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
