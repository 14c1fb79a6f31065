"""The tie rule of :func:`vecdiag.neighborhood_change`: which neighbours count as kept when
scores tie at the k-th place, in the old space or in the new one.

Exact search breaks ties by the lower row. Equal scores (binary or quantised embeddings
tie often) and rounding noise (scores equal in exact arithmetic differ in the last bit)
order the tied items differently in each space, though no score changed, and the order
of the rows decides which of them is listed. An item's kept count is therefore the
largest ``|old list ∩ new list|`` over the orders of the items tied with the k-th score
of each space, among the items listed in either space. Inputs already checked.
"""

from __future__ import annotations

import numpy as np

from ..linalg import row_norms
from ..scale.chunks import is_dask_array

__all__ = ["TIE_RTOL", "TIE_ATOL", "kept_with_ties"]

TIE_RTOL, TIE_ATOL = 1e-5, 1e-8     # a tie at the k-th place, as vd.ann_recall counts one
# Rows compared per step when intersecting neighbour lists: (rows x k x k) booleans.
_ROWS_PER_STEP = 8_192
# Vectors copied (as float64) per step when scoring pairs: never a copy of the corpus.
_VECTORS_PER_STEP = 65_536


def kept_with_ties(A, B, rows, old, new, metric: str) -> np.ndarray:
    """Per item, how many of its k neighbours are kept, ties at the k-th place counted.

    ``old`` and ``new`` are the neighbours (indices and scores, best first) of the items
    ``rows`` (None: every row) in ``A`` and ``B``. In each space an item listed in either
    list is *strict* (scores better than that space's k-th score: it is in every top-k),
    *tied* (with the k-th score: any of them may fill the places the strict ones leave)
    or neither. With ``c_ab`` the items strict/tied (``a``) in the old space and
    strict/tied (``b``) in the new one, and ``p_old``, ``p_new`` the places for tied
    items, the largest overlap over the orders of the tied items is::

        c_SS + x + y + z,   x = min(c_ST, p_new),  y = min(c_TS, p_old),
                            z = min(c_TT, p_new - x, p_old - y)

    (items tied in one space take a place there; items tied in both take one in each,
    so they come last).
    """
    old_nn, new_nn = np.asarray(old.indices), np.asarray(new.indices)
    if np.array_equal(np.sort(old_nn, axis=1), np.sort(new_nn, axis=1)):
        return np.full(old_nn.shape[0], old_nn.shape[1])   # the same lists: all kept
    items = np.arange(A.shape[0]) if rows is None else np.asarray(rows)
    old_kth, old_tol = _kth_and_tolerance(A, items, old, metric)
    new_kth, new_tol = _kth_and_tolerance(B, items, new, metric)
    # each list's own items, tied or strict in their own space (the search's scores)
    old_tied = np.abs(np.asarray(old.scores, np.float64) - old_kth[:, None]) <= old_tol[:, None]
    new_tied = np.abs(np.asarray(new.scores, np.float64) - new_kth[:, None]) <= new_tol[:, None]
    shared, shared_new_tied = _shared(old_nn, new_nn, new_tied)
    new_only = ~_shared(new_nn, old_nn, old_tied)[0]
    # the other space's score of an item its list does not hold
    old_only_new_tied = _tied_pairs(B, items, old_nn, ~shared, new_kth, new_tol, metric)
    new_only_old_tied = _tied_pairs(A, items, new_nn, new_only, old_kth, old_tol, metric)
    # the old list's items, by status in the new space (strict, tied)
    in_new_strict = shared & ~shared_new_tied
    in_new_tied = shared_new_tied | old_only_new_tied
    count = lambda mask: mask.sum(axis=1)  # noqa: E731
    c_SS = count(~old_tied & in_new_strict)
    c_ST = count(~old_tied & in_new_tied)
    c_TS = count(old_tied & in_new_strict) + count(new_only_old_tied & ~new_tied)
    c_TT = count(old_tied & in_new_tied) + count(new_only_old_tied & new_tied)
    places_old, places_new = count(old_tied), count(new_tied)
    x = np.minimum(c_ST, places_new)
    y = np.minimum(c_TS, places_old)
    z = np.minimum(np.minimum(c_TT, places_new - x), places_old - y)
    return c_SS + x + y + z


def _shared(a: np.ndarray, b: np.ndarray, b_flag: np.ndarray):
    """Per entry of ``a`` (an (n, k) index array, no repeats in a row): whether ``b``'s
    row holds it, and the ``b_flag`` of that entry of ``b``. Compared a block of rows at
    a time: (rows x k x k) booleans per step."""
    held = np.empty(a.shape, dtype=bool)
    flag = np.empty(a.shape, dtype=bool)
    for start in range(0, a.shape[0], _ROWS_PER_STEP):
        stop = start + _ROWS_PER_STEP
        eq = a[start:stop, :, None] == b[start:stop, None, :]
        held[start:stop] = eq.any(axis=2)
        flag[start:stop] = (eq & b_flag[start:stop, None, :]).any(axis=2)
    return held, flag


def _kth_and_tolerance(X, items: np.ndarray, nbrs, metric: str):
    """The k-th score of each item and its tie tolerance ``TIE_ATOL·s + TIE_RTOL·|k-th|``."""
    kth = np.asarray(nbrs.scores, np.float64)[:, -1]
    scale = _score_scale(X, items, np.asarray(nbrs.indices)[:, -1], metric)
    return kth, TIE_ATOL * scale + TIE_RTOL * np.abs(kth)


def _score_scale(X, items: np.ndarray, kth_rows: np.ndarray, metric: str):
    """Per item, the scale of its scores, for the absolute part of the tie tolerance: 1
    for cosine, ``‖x_i‖·‖x_k‖`` for dot and ``max(‖x_i‖, ‖x_k‖)`` for euclidean (x_k: its
    k-th neighbour), so that scaling a space does not change what ties.

    subtle: a fixed 1e-8 made every dot score of vectors of length ~1e-4 "tied" (an
    unrelated new space read as 100% kept). Only these rows of a Dask set are gathered.
    """
    if metric == "cosine":
        return 1.0
    needed = np.concatenate([items, kth_rows])
    lengths = np.concatenate([row_norms(_gather(X, needed[s:s + _VECTORS_PER_STEP]))
                              for s in range(0, needed.size, _VECTORS_PER_STEP)])
    a, k = lengths[:items.size], lengths[items.size:]
    return a * k if metric == "dot" else np.maximum(a, k)


def _tied_pairs(X, items, nn: np.ndarray, mask: np.ndarray, kth, tol, metric: str):
    """(rows, k) booleans: where ``mask`` is set, whether the score in ``X`` of that
    neighbour (of the other space's list) ties the k-th score of ``X``'s own list."""
    out = np.zeros(mask.shape, dtype=bool)
    rs, cs = np.nonzero(mask)
    step = _VECTORS_PER_STEP // 2
    for start in range(0, rs.size, step):
        r, c = rs[start:start + step], cs[start:start + step]
        R = _gather(X, np.concatenate([items[r], nn[r, c]]))
        a, b = R[:r.size], R[r.size:]
        # subtle: lengths by row_norms, unit rows before the cosine: |a|²·|b|² underflows
        # to 0 for vectors of length ~1e-80 (cosine +-inf, "tied"), overflows for ~1e+80
        if metric == "euclidean":
            score = row_norms(a - b)
        else:
            if metric == "cosine":
                a, b = a / row_norms(a)[:, None], b / row_norms(b)[:, None]
            score = np.einsum("ij,ij->i", a, b)
        out[r, c] = np.abs(score - kth[r]) <= tol[r]
    return out


def _gather(X, rows: np.ndarray) -> np.ndarray:
    """Rows of X as float64; for a Dask X only these rows are computed, not the corpus."""
    needed, inverse = np.unique(rows, return_inverse=True)
    if is_dask_array(X):
        from ..scale.block_top import gather_rows

        return np.asarray(gather_rows(X, needed), np.float64)[inverse]
    return np.asarray(X[needed], np.float64)[inverse]
