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

from ..neighbors.scoring import full_scores, keys_of, ranks_of, top_rows

__all__ = ["full_scores", "keys_of", "ranks_of", "top_rows", "top_k"]

top_k = top_rows  # the old name here: positions of the k best keys of one ranking
