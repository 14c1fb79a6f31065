"""Intrinsic dimension: how many degrees of freedom the data really has.

TwoNN: Facco, d'Errico, Rodriguez & Laio (2017), "Estimating the intrinsic dimension of
datasets by a minimal neighborhood information", Scientific Reports 7, 12140.
Participation ratio of the PCA spectrum: (Σλ)² / Σλ² (e.g. Gao et al. 2017, "A theory
of multineuronal dimensionality").
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from .._scaling import ranking_rows
from .moments import block_rows, cached_moments, refuse_zero_rows, unit_rows
from .duplicates import exact_duplicate_groups
from .isotropy import participation_ratio, spectrum

__all__ = ["intrinsic_dimension", "twonn", "representatives"]

DISCARD = 0.1  # fraction of the largest ratios left out of the fit, as in Facco et al.


def twonn(r1: np.ndarray, r2: np.ndarray, *, discard: float = DISCARD) -> float:
    """TwoNN estimate from each point's first and second neighbour distances.

    Raises ValueError when fewer than 3 usable points remain or every ratio is 1.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> mu = rng.pareto(3.0, size=20_000) + 1.0     # μ ~ Pareto(d = 3) exactly
    >>> round(twonn(np.ones_like(mu), mu), 1)
    3.0
    """
    r1 = np.asarray(r1, dtype=np.float64)
    r2 = np.asarray(r2, dtype=np.float64)
    ok = (r1 > 0) & np.isfinite(r2 / np.where(r1 > 0, r1, 1))
    mu = np.sort(r2[ok] / r1[ok])
    n = mu.size
    if n < 3:
        raise ValueError(f"TwoNN needs at least 3 points with distinct neighbours, got {n}")
    # empirical CDF F(μ_i) = i/n; keep the smallest (1 − discard) share of the ratios
    keep = max(2, int(np.floor(n * (1 - discard))))
    x = np.log(mu[:keep])
    y = -np.log(1 - np.arange(1, keep + 1) / n)
    sxx = float(x @ x)
    if sxx <= 0:
        raise ValueError("TwoNN is undefined: every point's two nearest neighbours are "
                         "equally far (a regular lattice or heavy ties)")
    return float((x @ y) / sxx)


def twonn_median(r1: np.ndarray, r2: np.ndarray) -> float | None:
    """TwoNN from the median ratio alone: ``ln 2 / ln(median μ)`` (μ ~ Pareto(d) has
    median ``2^(1/d)``); None when undefined.

    The fit of :func:`twonn` uses the whole distribution; this one ignores how the largest
    ratios fall, so a minority of items with a neighbour far closer than their next
    (near-copies) does not pull it down. The two agree on data without such a minority.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> mu = rng.pareto(3.0, size=20_000) + 1.0
    >>> round(twonn_median(np.ones_like(mu), mu), 1)
    3.0
    """
    r1 = np.asarray(r1, dtype=np.float64)
    r2 = np.asarray(r2, dtype=np.float64)
    ok = (r1 > 0) & np.isfinite(r2 / np.where(r1 > 0, r1, 1))
    if np.count_nonzero(ok) < 3:
        return None
    med = float(np.median(r2[ok] / r1[ok]))
    return float(np.log(2.0) / np.log(med)) if med > 1 else None


def representatives(X: np.ndarray) -> tuple[np.ndarray, int]:
    """``(rep, n_removed)``: each row's first identical row, and how many rows are copies."""
    rep = np.arange(X.shape[0])
    removed = 0
    for group in exact_duplicate_groups(X):
        rep[group] = group[0]
        removed += len(group) - 1
    return rep, removed


def _pair_distances(S, rows: np.ndarray, cols: np.ndarray, unit: bool) -> np.ndarray:
    """Exact Euclidean distance between rows ``rows`` and ``cols`` of S (unit rows if asked)."""
    out = np.empty(rows.size)
    step = block_rows(S.shape[1])
    for a in range(0, rows.size, step):
        A = np.asarray(S[rows[a:a + step]]).astype(np.float64)
        B = np.asarray(S[cols[a:a + step]]).astype(np.float64)
        if unit:
            A = unit_rows(A, row_norms(A))
            B = unit_rows(B, row_norms(B))
        out[a:a + step] = row_norms(A - B)
    return out


def twonn_from_lists(S, indices: np.ndarray, rows: np.ndarray, rep: np.ndarray,
                     unit: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """First and second *distinct* neighbours from ranked lists; ``(r1, r2, n_skipped)``.

    ``indices[i]`` ranks neighbours of point ``rows[i]``; copies (same ``rep``) of the
    point or of its first neighbour are skipped. Points without two distinct
    neighbours in their list are skipped and counted.
    """
    cand_rep = rep[indices]
    valid = cand_rep != rep[rows][:, None]
    has1 = valid.any(axis=1)
    c1 = np.argmax(valid, axis=1)
    first_rep = cand_rep[np.arange(rows.size), c1]
    valid2 = valid & (cand_rep != first_rep[:, None])
    has2 = has1 & valid2.any(axis=1)
    c2 = np.argmax(valid2, axis=1)
    sel = np.flatnonzero(has2)
    j1 = indices[sel, c1[sel]]
    j2 = indices[sel, c2[sel]]
    d1 = _pair_distances(S, rows[sel], j1, unit)
    d2 = _pair_distances(S, rows[sel], j2, unit)
    return np.minimum(d1, d2), np.maximum(d1, d2), int(rows.size - sel.size)


def intrinsic_dimension(X, *, method: str = "twonn", metric: str = "euclidean",
                        sample: int | None = None, random_state=0) -> float:
    """Intrinsic dimension: TwoNN (default) or the PCA participation ratio.

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
    method : {"twonn", "participation_ratio"}
    metric : {"euclidean", "cosine"}
        Geometry for TwoNN: distances between the vectors as given, or between their
        unit-length versions (chord distance ``√(2 − 2 cos)``, the geometry cosine
        search sees). Also selects raw or unit rows for the participation ratio.
    sample : int, optional
        TwoNN only: estimate from this many random (distinct) points, each searched
        against all distinct points. The ratios are a sample of the same distribution,
        so the estimate is unbiased; its standard error is about ``d̂ / √sample``.
        None: every point (``n²·d`` work).
    random_state : int, None or Generator
        Seed of the sample; checked also without one.

    Returns
    -------
    float

    Notes
    -----
    TwoNN (Facco et al. 2017): with ``r1 < r2`` a point's first two neighbour distances,
    ``μ = r2 / r1`` follows a Pareto law ``F(μ) = 1 − μ^(−d)`` when density is locally
    constant, so ``−log(1 − F(μ)) = d log μ``: ``d`` is the slope of a line through the
    origin fitted to ``(log μ_i, −log(1 − i/N))`` over the sorted ratios, leaving out the
    largest 10% (Facco et al.'s choice, against outliers).

    Duplicates make ``r1 = 0`` and ``μ`` infinite, so exact copies are removed first (one
    representative each) and neighbours that are copies of each other count once.
    Fewer than 3 distinct points, or every ratio equal to 1: ValueError. ``μ`` is
    scale-free, so vectors beyond 2^±60 (float32 near 1e20) are divided by one power of
    two before the search instead of refused for overflowing squares.

    Participation ratio: ``(Σ λ)² / Σ λ²`` of the covariance eigenvalues, between 1 and
    d: the number of linear directions the variance effectively spreads over.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> square = rng.uniform(size=(2000, 2)) @ rng.normal(size=(2, 50))  # a plane in 50-D
    >>> round(intrinsic_dimension(square))
    2
    """
    from ..neighbors import Index

    V.check_choice(method, "method", ("twonn", "participation_ratio"))
    V.check_choice(metric, "metric", ("euclidean", "cosine"))
    V.check_seed(random_state)   # a wrong seed fails with or without sample=
    if isinstance(X, Index):
        X = X.vectors
    X = V.as_matrix(X, "X")
    unit = metric == "cosine"
    if method == "participation_ratio":
        return participation_ratio(spectrum(cached_moments(X, None, "unit" if unit else "raw")))
    return twonn(*twonn_distances(X, unit, sample, random_state))


def twonn_distances(X: np.ndarray, unit: bool, sample: int | None,
                    random_state) -> tuple[np.ndarray, np.ndarray]:
    """``(r1, r2)``: each (sampled) distinct point's first two distinct neighbour
    distances among all distinct points, what :func:`twonn` and :func:`twonn_median` read.

    X already checked; ``unit``: distances between unit rows. ValueError below 3 distinct
    points.
    """
    from ..neighbors import knn

    S = X
    if unit:
        norms = row_norms(X)
        refuse_zero_rows(norms)
        S = unit_rows(X, norms, X.dtype)
    else:   # μ = r2 / r1 is scale-free: vectors near 1e20 in float32 are divided exactly
        S, _ = ranking_rows(X, "euclidean")
    rep, _ = representatives(S)
    distinct = np.flatnonzero(rep == np.arange(S.shape[0]))
    if distinct.size < 3:
        raise ValueError(f"X has {distinct.size} distinct vector(s); TwoNN needs at least 3")
    queries = distinct
    if sample is not None:
        sample = V.check_positive_int(sample, "sample")
        if sample < distinct.size:
            rng = V.check_random_state(random_state)
            queries = np.sort(rng.choice(distinct, size=sample, replace=False))
    corpus = S[distinct]
    res = knn(S[queries], corpus, k=3, metric="euclidean")
    r1, r2, _ = twonn_from_lists(corpus, res.indices, np.searchsorted(distinct, queries),
                                 np.arange(distinct.size), False)
    return r1, r2
