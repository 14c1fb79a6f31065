"""Norm spread: how much the vectors' lengths differ, and whether long ones become hubs.

Under the dot product a score is ``‖q‖ ‖x‖ cos(q, x)``: a document twice as long scores
twice as high for every query. Long vectors then become hubs (Radovanović et al. 2010
relate hubness to closeness to the data mean; for dot, length plays that role).
"""

from __future__ import annotations

import numpy as np

from ..results import Result, html_block, html_table, result

__all__ = ["NormSpread", "norm_spread", "spearman", "gaussian_distance_cv"]

# A corpus counts as unit-normalised when every norm is within this of 1 (float32
# normalisation leaves errors of ~1e-7; anything beyond 1e-3 was not normalised).
UNIT_TOLERANCE = 1e-3


@result
class NormSpread(Result):
    """Distribution of vector lengths."""

    norms: np.ndarray
    """(n,) Euclidean length of every vector."""
    mean: float
    """Mean length."""
    std: float
    """Standard deviation of the lengths (population)."""
    cv: float
    """Coefficient of variation ``std / mean`` (0.0 when every length is 0)."""
    quantiles: dict
    """Lengths at the 0, 1, 50, 99 and 100th percentiles."""
    unit: bool
    """Every length within 1e-3 of 1: the vectors are unit-normalised."""
    k_occurrence_corr: float | None
    """Spearman correlation of length with N_k (None when N_k was not given or constant)."""

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"norm": self.norms})

    def _repr_html_(self) -> str:
        rows = [["mean", self.mean], ["std", self.std], ["cv", self.cv],
                *[[f"p{q}", v] for q, v in self.quantiles.items()],
                ["unit length", self.unit],
                ["Spearman(norm, N_k)", "n/a" if self.k_occurrence_corr is None
                 else self.k_occurrence_corr]]
        return html_block("NormSpread", html_table(rows, ["statistic", "value"],
                                                   numeric={"value"}))

    def plot(self, ax=None):
        from ..plot.diagnostics import draw_norms

        return draw_norms(self.norms, ax=ax)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as scipy.stats.rankdata."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], x.size] - 1
    avg = (first + last) / 2.0 + 1
    ranks = np.empty(x.size)
    ranks[order] = avg[group]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation; None when either side is constant (undefined).

    Examples
    --------
    >>> spearman(np.array([1.0, 2.0, 3.0]), np.array([10, 30, 20]))
    0.5
    >>> spearman(np.array([1.0, 1.0]), np.array([1, 2])) is None
    True
    """
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra @ ra) * (rb @ rb)))
    if denom == 0:
        return None
    return float(np.clip((ra @ rb) / denom, -1, 1))


def norm_spread(norms: np.ndarray, k_occurrence: np.ndarray | None = None) -> NormSpread:
    """Summarise vector lengths (already computed) and relate them to N_k.

    Parameters
    ----------
    norms : ndarray (n,) or dask.array.Array (n,)
        Euclidean lengths (e.g. ``vd.row_norms(X)``; for a Dask corpus
        ``vd.row_norms(X)`` is a lazy Dask array, computed here: ``n`` floats).
    k_occurrence : ndarray (n,), optional
        N_k of the same items (from :func:`hubness`).

    Notes
    -----
    ``cv = std(‖x‖) / mean(‖x‖)``. Under ``metric="dot"`` a relative length difference
    of ``cv`` moves scores by about that fraction, enough to reorder near-ties; under
    cosine lengths do not matter. A strong positive Spearman correlation between length
    and N_k says long vectors are the hubs.

    Examples
    --------
    >>> s = norm_spread(np.array([1.0, 1.0, 1.0, 1.0]))
    >>> s.cv, s.unit
    (0.0, True)
    """
    from ..scale.chunks import compute, is_dask_array

    if is_dask_array(norms):
        norms, = compute(norms)
    if is_dask_array(k_occurrence):
        k_occurrence, = compute(k_occurrence)
    norms = np.asarray(norms, dtype=np.float64)
    top = float(norms.max()) if norms.size else 0.0
    # subtle: lengths near 1e200 overflow when squared for the variance; work relative
    # to the longest one and scale back
    rel = norms / top if top > 0 else norms
    mean = float(rel.mean()) * (top if top > 0 else 1.0)
    std = float(rel.std()) * (top if top > 0 else 1.0)
    q = np.quantile(norms, [0, 0.01, 0.5, 0.99, 1])
    corr = None
    if k_occurrence is not None:
        corr = spearman(norms, np.asarray(k_occurrence))
    cv = float(rel.std() / rel.mean()) if mean > 0 else 0.0
    return NormSpread(norms=norms, mean=mean, std=std, cv=cv,
                      quantiles=dict(zip((0, 1, 50, 99, 100), map(float, q))),
                      unit=bool(np.all(np.abs(norms - 1) <= UNIT_TOLERANCE)),
                      k_occurrence_corr=corr)


def gaussian_distance_cv(nu: float, n: int) -> tuple[float, float]:
    """``(cv, se)``: the coefficient of variation of the distances of a Gaussian cloud's
    points to its centre, and the standard error of a sample cv of ``n`` of them.

    ``‖x − μ‖²`` of a Gaussian whose covariance has eigenvalues λ has mean ``Σλ`` and
    variance ``2Σλ²``: a scaled χ² with ``ν = (Σλ)² / Σλ²`` degrees of freedom (the
    participation ratio; Satterthwaite's approximation, exact for an isotropic cloud of
    ``ν`` dimensions). So the distances follow a scaled χ_ν, whose raw moments are
    ``E[r^j] = 2^(j/2) Γ((ν + j)/2) / Γ(ν/2)``; ``1 / sqrt(2ν)`` is only its large-ν limit
    (0.5 for ν = 2, where χ_2 gives 0.523). The sample cv's standard error is the delta
    method's ``sqrt(cv² (cv² − cv·γ₁ + (κ − 1)/4) / n)`` (γ₁ skewness, κ kurtosis of χ_ν).

    Examples
    --------
    >>> cv, se = gaussian_distance_cv(2.0, 1000)          # a Rayleigh law
    >>> round(cv, 4), round(float(np.sqrt(4 / np.pi - 1)), 4), round(se, 4)
    (0.5227, 0.5227, 0.0117)
    """
    from scipy.special import gammaln

    nu = float(nu)
    m1, m2, m3, m4 = (float(np.exp(j / 2 * np.log(2.0) + gammaln((nu + j) / 2)
                                   - gammaln(nu / 2))) for j in (1, 2, 3, 4))
    var = max(m2 - m1 * m1, 0.0)
    if var <= 0 or m1 <= 0:
        return 0.0, 0.0
    cv = float(np.sqrt(var) / m1)
    skew = (m3 - 3 * m1 * m2 + 2 * m1 ** 3) / var ** 1.5
    kurt = (m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1 ** 4) / var ** 2
    se2 = cv * cv * (cv * cv - cv * skew + (kurt - 1) / 4) / max(int(n), 1)
    return cv, float(np.sqrt(max(se2, 0.0)))
