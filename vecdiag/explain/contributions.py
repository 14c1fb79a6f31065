"""Per-dimension contributions: which coordinates make a score.

A similarity is a sum over dimensions, so each dimension's share can be read off:

* cosine: ``cos(q, d) = Σ_i q̂_i d̂_i`` (unit vectors), dimension i adds ``q̂_i d̂_i``;
* dot: ``q·d = Σ_i q_i d_i``, dimension i adds ``q_i d_i``;
* euclidean: ``‖q − d‖² = Σ_i (q_i − d_i)²``, dimension i adds ``(q_i − d_i)²`` to the
  squared distance (here "adds most" means pushes the document farthest away).

The dimensions that *separate* the top hit from an expected document are those where the
top hit gains most over it: largest ``c_i(top) − c_i(expected)`` for similarities, largest
``c_i(expected) − c_i(top)`` for euclidean (the expected document loses most distance).
"""

from __future__ import annotations

import numpy as np

__all__ = ["per_dimension", "top_dims", "separating_dims"]


def per_dimension(query: np.ndarray, docs: np.ndarray, metric: str, unit_query=None,
                  unit_docs=None) -> np.ndarray:
    """(m, d) per-dimension contributions of ``docs`` (m, d) to their score with ``query``.

    For cosine pass the unit vectors (``unit_query``, ``unit_docs``) so that each row sums
    to the cosine.

    Examples
    --------
    >>> per_dimension(np.array([1.0, 2.0]), np.array([[3.0, 4.0]]), "dot").tolist()
    [[3.0, 8.0]]
    """
    if metric == "cosine":
        return unit_docs * unit_query[None, :]
    if metric == "dot":
        return docs * query[None, :]
    return (docs - query[None, :]) ** 2


def top_dims(contrib_row: np.ndarray, top: int) -> list:
    """``[(dim, value), ...]`` for the ``top`` largest contributions (ties: lower dim)."""
    order = np.argsort(-contrib_row, kind="stable")[:top]
    return [(int(i), float(contrib_row[i])) for i in order]


def separating_dims(top_row: np.ndarray, expected_row: np.ndarray, metric: str,
                    top: int) -> np.ndarray:
    """Dimensions where the top hit beats the expected document most, largest first.

    Only dimensions with a positive advantage are listed (at most ``top``).

    Examples
    --------
    >>> separating_dims(np.array([0.5, 0.1, 0.3]), np.array([0.1, 0.2, 0.1]), "cosine", 5).tolist()
    [0, 2]
    """
    adv = expected_row - top_row if metric == "euclidean" else top_row - expected_row
    order = np.argsort(-adv, kind="stable")[:top]
    return order[adv[order] > 0].astype(np.int64)
