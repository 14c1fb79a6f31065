"""Whole-corpus scores and exact ranks for one query (inputs already checked).

Top-k search answers "which k documents?"; an explanation also needs "where is document
417?", even at rank 9,000. Scoring one query against every row costs ``O(n d)``, so the
whole score vector is computed once and every rank is read from it.

The scoring itself is vecdiag's one scoring module, :mod:`vecdiag.neighbors.scoring`
(the Index's unit rows, the library's tie rule); this module names what explanations use.
Ranks follow the tie rule: higher similarity (lower distance) first, equal scores by lower
corpus row, so the rank of row ``i`` is ``1 + #{j : key_j > key_i} + #{j < i : key_j ==
key_i}`` with ``key = score`` for similarities and ``key = -distance`` for euclidean.
"""

from __future__ import annotations

import numpy as np

from ..neighbors.scoring import full_scores, keys_of, ranks_of, top_rows
from ..scale.chunks import is_dask_array

__all__ = ["full_scores", "keys_of", "ranks_of", "top_rows", "top_k", "vectors_of"]

top_k = top_rows  # the old name here: positions of the k best keys of one ranking


def vectors_of(index, rows) -> np.ndarray:
    """The corpus vectors of a few rows, as a NumPy array (only those rows of a Dask
    corpus are computed)."""
    rows = np.asarray(rows, dtype=np.int64)
    if is_dask_array(index.vectors):
        from ..scale.chunks import compute

        order = np.argsort(rows, kind="stable")
        got = compute(index.vectors[rows[order]])[0]
        out = np.empty_like(got)
        out[order] = got
        return out
    return index.vectors[rows]
