"""What counts as a hub, in one place: the rows of a kNN graph with N_k ≥ 2·E[N_k].

Every surface of vecdiag reads hubs from here (docs/guide/check-corpus.md, "Two bars for a
hub"): :func:`vecdiag.diagnose` and :func:`vecdiag.hubness` list :func:`hub_rows` (N_k ≥
2k over the corpus's own graph), the explorer marks them, and marks apart the strong hubs
(≥ 3k), the bar :func:`vecdiag.explain_neighbors` needs to name a hub as one query's
cause. From sampled lists, :func:`clearly_hubs` says which estimates are clearly over a bar.
"""

from __future__ import annotations

import numpy as np

from .sampling import wilson_interval

__all__ = ["HUB_FACTOR", "STRONG_HUB_FACTOR", "hub_rows", "clearly_hubs", "k_occurrence_interval"]

HUB_FACTOR = 2.0
"""A hub is in at least this many times E[N_k] lists (``2k`` over the corpus's own
graph): what :func:`vecdiag.diagnose`, :func:`vecdiag.hubness` and the explorer call a hub."""
STRONG_HUB_FACTOR = 3.0
"""A strong hub is in at least this many times k lists: the stronger bar
:func:`vecdiag.explain_neighbors` needs before it names a hub as the cause of one
query's failure (the explorer marks these apart, as "strong hub")."""


def hub_rows(k_occurrence, k: int, *, n_lists: int | None = None,
             factor: float = HUB_FACTOR) -> np.ndarray:
    """Rows that are hubs of a kNN graph: ``N_k ≥ factor · E[N_k]``, most occurrences first.

    Parameters
    ----------
    k_occurrence : array-like (n,)
        N_k of every item (:attr:`vecdiag.Hubness.k_occurrence`), exact or estimated.
    k : int
        Neighbours per list.
    n_lists : int, optional
        How many lists were counted; None means one per item (the corpus's own graph,
        itself excluded), so ``E[N_k] = k``. With a query log of m queries ``m·k/n``.
    factor : float
        :data:`HUB_FACTOR` (2: a hub) or :data:`STRONG_HUB_FACTOR` (3: a strong hub).

    Returns
    -------
    ndarray of int64: the rows, by N_k descending, ties by lower row. Empty when no list
    was counted.

    Examples
    --------
    >>> hub_rows([1, 25, 0, 20, 31, 19], 10).tolist()
    [4, 1, 3]
    >>> hub_rows([1, 25, 0, 20, 31, 19], 10, factor=STRONG_HUB_FACTOR).tolist()
    [4]
    """
    nk = np.asarray(k_occurrence)
    n = nk.size
    expected = k if n_lists is None else (n_lists * k / n if n else 0.0)
    order = np.argsort(-nk, kind="stable").astype(np.int64)
    if expected <= 0:
        return order[:0]
    return order[nk[order] >= factor * expected]


def k_occurrence_interval(count: int, s: int, n: int) -> tuple[float, float]:
    """``(low, high)`` of N_k for an item in ``count`` of ``s`` sampled lists of ``n``:
    the Wilson interval of its share drawn without replacement
    (:func:`~vecdiag.diagnostics.sampling.wilson_interval`) at level ``1 − 0.05/n``
    (Bonferroni over the n items), times n.

    Examples
    --------
    >>> [round(v, 1) for v in k_occurrence_interval(12, 200, 2000)]
    [40.4, 329.9]
    """
    low, high = wilson_interval(int(count), s, n, confidence=1 - 0.05 / n)
    return low * n, high * n


def clearly_hubs(counts, s: int, n: int, k: int, *, factor: float = HUB_FACTOR) -> np.ndarray:
    """Which items are clearly hubs from their counts among ``s`` sampled lists of ``n``.

    An item in ``c`` of the sampled lists has N_k estimated as ``c·n/s``, in steps of
    ``n/s``; "estimate ≥ 2k" calls an ordinary item a hub once ``n/s ≥ 2k`` (seen once
    among 200 of 2,000 lists at k = 5, N_k ≈ 10). It is *clearly* one when the whole
    interval of its N_k (:func:`k_occurrence_interval`: Wilson for a share drawn without
    replacement, at level ``1 − 0.05/n``, Bonferroni over the n items) lies at or above
    ``factor · k``. With every row sampled
    the counts are N_k and this is ``N_k ≥ factor · k`` exactly (:func:`hub_rows`).

    Parameters
    ----------
    counts : array-like of int
        Each item's count among the sampled lists.
    s, n : int
        Sampled lists; all lists (the corpus rows).
    k : int
        Neighbours per list.
    factor : float
        :data:`HUB_FACTOR` (hubs, 2k) or :data:`STRONG_HUB_FACTOR` (strong hubs, 3k).

    Returns
    -------
    ndarray of bool, one per count.

    Examples
    --------
    >>> clearly_hubs([1, 3, 12, 40], 200, 2000, 5).tolist()    # estimates 10, 30, 120, 400
    [False, False, True, True]
    >>> clearly_hubs([9, 10], 2000, 2000, 5).tolist()          # every row sampled: exact
    [False, True]
    """
    c = np.asarray(counts, dtype=np.int64)
    values, inverse = np.unique(c, return_inverse=True)
    bar = factor * k
    if s >= n:      # every list counted: the counts are N_k (no rounding at the bar)
        low = values.astype(float)
    else:
        low = np.array([k_occurrence_interval(v, s, n)[0] for v in values])
    return (low >= bar)[inverse.reshape(c.shape)] if c.size else np.zeros(c.shape, bool)
