"""Anisotropy: how much every pair of vectors shares one direction.

Ethayarajh (2019), "How contextual are contextualized word representations?", EMNLP:
the mean cosine of random pairs measures how far a space is from isotropic (0 for
directions spread evenly, 1 when every vector points the same way).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..linalg import row_norms
from .moments import Moments, cached_moments, refuse_zero_rows, resolve

__all__ = ["anisotropy"]


def anisotropy_from_moments(m: Moments) -> float:
    """Exact mean cosine of distinct pairs from the streamed sums (inputs checked, n ≥ 2)."""
    self_terms = float(m.sumsq_unit.sum())          # Σ ‖û_i‖² (= n up to rounding)
    total = float(m.sum_unit @ m.sum_unit)          # ‖Σ û_i‖² = Σ_i Σ_j û_i·û_j
    # subtle: identical rows give total ≈ n² and the difference rounds a hair past 1
    return min(1.0, (total - self_terms) / (m.n * (m.n - 1)))


def anisotropy(X, *, n_pairs: int = 10_000, random_state=0, exact: bool = True) -> float:
    """Mean cosine similarity of distinct pairs: the anisotropy of a set of vectors.

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
        At least two non-zero vectors. An Index keeps the result in its cache.
    n_pairs : int
        Pairs drawn when ``exact=False``.
    random_state : int, None or Generator
        Seed of the pair sample when ``exact=False`` (checked either way).
    exact : bool
        True (default): the exact mean over all ``n(n − 1)`` ordered pairs, in O(n·d).
        False: the mean over ``n_pairs`` random distinct pairs (the textbook estimate,
        kept for comparison and teaching).

    Returns
    -------
    float
        In [-1/(n-1), 1]: about 0 when directions are spread evenly, 1 when all vectors
        point the same way.

    Notes
    -----
    With unit rows ``û_i = x_i / ‖x_i‖`` and ``s = Σ û_i``::

        ‖s‖² = Σ_i Σ_j û_i·û_j = Σ_i ‖û_i‖² + Σ_{i≠j} cos(x_i, x_j)
        anisotropy = (‖s‖² − Σ_i ‖û_i‖²) / (n (n − 1))

    so the mean over all pairs costs one pass over the data, no pair matrix, no
    sampling error. For i.i.d. isotropic Gaussian data it is ≈ 0 (standard error about
    ``sqrt(2 / (n² d))``); adding a common offset ``μ`` with ``‖μ‖² = a·dσ²`` gives
    ≈ ``a / (1 + a)`` (0.5 for ``a = 1``): the share of each vector's energy in the
    shared direction. Reference: Ethayarajh (2019), EMNLP.

    Degenerate cases: zero vectors have no direction and are refused (drop them, or use
    :func:`vecdiag.diagnose`, which reports and excludes them); fewer than two vectors
    have no pairs and are refused.

    Examples
    --------
    >>> anisotropy([[1, 0], [0, 1]])
    0.0
    >>> anisotropy([[1, 0], [1, 0.0001], [2, 0]]) > 0.99
    True
    """
    X, cache = resolve(X)
    # checked even when unused (exact=True): a wrong value is a mistake either way
    n_pairs = V.check_positive_int(n_pairs, "n_pairs")
    exact = V.check_bool(exact, "exact")
    V.check_seed(random_state)
    if X.shape[0] < 2:
        raise ValueError(f"X has {X.shape[0]} vector; anisotropy is a mean over pairs: "
                         "pass at least 2 vectors")
    if not exact:
        rng = V.check_random_state(random_state)
        n = X.shape[0]
        i = rng.integers(0, n, size=n_pairs)
        j = (i + rng.integers(1, n, size=n_pairs)) % n      # j != i, uniform over others
        if type(X) is np.ndarray:    # in memory: every row checked, as exact=True does
            refuse_zero_rows(row_norms(X))
        a, b = np.asarray(X[i]), np.asarray(X[j])
        na, nb = row_norms(a), row_norms(b)
        if not (na.all() and nb.all()):   # a memmap or Dask array: the sampled rows, by row
            norms = np.ones(n)
            norms[np.concatenate([i[na == 0], j[nb == 0]])] = 0.0
            refuse_zero_rows(norms)
        cos = np.einsum("ij,ij->i", a, b, dtype=np.float64) / (na * nb)
        return float(np.clip(cos, -1, 1).mean())
    key = cache_keys.anisotropy()
    if cache is not None and key in cache:
        return cache[key]
    value = anisotropy_from_moments(cached_moments(X, cache, "unit", gram=False))
    if cache is not None:
        cache[key] = value
    return value
