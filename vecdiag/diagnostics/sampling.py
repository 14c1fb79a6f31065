"""Sampled corpus statistics: what is shared by sampled hubness and near-duplicates.

The exact kNN graph behind hubness and near-duplicates costs ``O(n²·d)``: 10M × 384 is
some 7.7e16 multiply-adds. Their sampled versions score ``s`` rows drawn at random
(without replacement) against all ``n`` (``O(s·n·d)``) and say how sure they are with a
confidence interval. This module holds what both share:

* :data:`SAMPLED_ABOVE` and :data:`DEFAULT_SAMPLE`: beyond how many rows
  :func:`vecdiag.diagnose` uses the sampled statistics, and how many rows it samples;
* :func:`draw_rows` (the sample), :func:`sampled_lists` (each sampled row's neighbours,
  itself excluded, on a NumPy or a Dask corpus), :func:`wilson_interval` (a proportion
  from a sample without replacement) and :func:`sampled_phrase` (the wording every sampled
  finding uses: "estimated from 10,000 sampled rows, 95% interval ...").
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as V

__all__ = ["SAMPLED_ABOVE", "DEFAULT_SAMPLE", "CONFIDENCE", "check_sample", "draw_rows",
           "sampled_lists", "wilson_interval", "sampled_phrase", "normal_quantile"]

SAMPLED_ABOVE = 100_000
"""Corpus rows beyond which :func:`vecdiag.diagnose` estimates hubness and near-duplicates
from sampled rows instead of the exact kNN graph (at 100,000 × 384 the exact graph is
about 4e12 multiply-adds, tens of seconds on a laptop; it grows with n²)."""

DEFAULT_SAMPLE = 10_000
"""Rows sampled by :func:`vecdiag.diagnose` beyond :data:`SAMPLED_ABOVE`."""

CONFIDENCE = 0.95
"""Confidence level of every sampled interval."""


def check_sample(sample, n: int, name: str = "sample") -> int:
    """The number of sampled rows: an int ``2 ≤ sample``, capped at ``n`` (all rows).

    Examples
    --------
    >>> check_sample(500, 10_000), check_sample(50_000, 10_000)
    (500, 10000)
    """
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise TypeError(f"{name} must be a number of rows (an int), got {sample!r}; "
                        f"e.g. {name}=10_000")
    if sample < 2:
        raise ValueError(f"{name}={sample} is too small: an interval needs at least 2 "
                         f"sampled rows; use {name}=10_000 or more")
    return int(min(sample, n))


def check_confidence(confidence) -> float:
    """A confidence level in (0, 1)."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}; "
                         "e.g. confidence=0.95")
    return float(confidence)


def draw_rows(n: int, s: int, random_state) -> np.ndarray:
    """``s`` distinct row positions of ``0..n-1`` drawn uniformly, ascending.

    Examples
    --------
    >>> draw_rows(10, 4, 0).tolist()
    [2, 4, 5, 7]
    """
    rng = V.check_random_state(random_state)
    if s >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=s, replace=False)).astype(np.int64)


def sampled_lists(X, rows: np.ndarray, k: int, metric: str):
    """Indices and scores (s, k) of each sampled row's k nearest other rows (self excluded).

    ``X`` is a :class:`vecdiag.Index` (over a NumPy or a Dask corpus) or a checked Dask
    array. The lists are those of the exact kNN graph (``Index.knn_graph(k)``), tie rule
    included. A Dask corpus goes through :func:`vecdiag.scale.search.knn_rows` (one task
    per row block; only the s sampled rows are gathered).
    """
    from ..scale.chunks import is_dask_array
    from ._graph import drop_self

    vectors = getattr(X, "vectors", X)
    if is_dask_array(vectors):
        from ..scale.search import knn_rows

        res = knn_rows(vectors, rows, k, metric=metric)
        return np.asarray(res.indices), np.asarray(res.scores)
    res = X.search(vectors[rows], k=k + 1)
    return drop_self(np.asarray(res.indices), np.asarray(res.scores), rows, k)


def normal_quantile(confidence: float) -> float:
    """The two-sided standard normal quantile ``z`` for a confidence level (1.96 at 0.95).

    Examples
    --------
    >>> round(normal_quantile(0.95), 4)
    1.96
    """
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, s: int, n: int, confidence: float = CONFIDENCE):
    """Wilson score interval for a share from ``s`` rows sampled without replacement of ``n``.

    The finite population correction enters as an effective sample size
    ``s·(n − 1)/(n − s)`` (the variance of a share drawn without replacement is
    ``p(1 − p)/s · (n − s)/(n − 1)``); when every row is sampled the interval is the exact
    share itself.

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(5, 100, 10**9)]
    [0.0215, 0.1118]
    >>> wilson_interval(5, 100, 100)
    (0.05, 0.05)
    >>> wilson_interval(300, 300, 3000)[1]
    1.0
    """
    p = successes / s
    if s >= n:
        return (p, p)
    m = s * (n - 1) / (n - s)
    z = normal_quantile(confidence)
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z / (1 + z * z / m) * math.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    # subtle: at p = 0 (or 1) the low (high) end is exactly 0 (1); rounding can leave
    # 1e-17 (0.99999999) and an interval that misses a share it should touch.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == s else min(1.0, centre + half)
    return (low, high)


def sampled_phrase(s: int, confidence: float = CONFIDENCE) -> str:
    """The words every sampled statistic is shown with.

    Examples
    --------
    >>> sampled_phrase(10_000)
    'estimated from 10,000 sampled rows, 95% interval'
    """
    return f"estimated from {s:,} sampled rows, {confidence:.0%} interval"
