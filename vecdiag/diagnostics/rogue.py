"""Rogue dimensions: a few coordinates that decide every cosine.

Timkey & van Schijndel (2021), "All bark and no bite: rogue dimensions in transformer
language models obscure representational quality", EMNLP.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..results import Result, html_block, html_table, result
from .isotropy import spectrum
from .moments import Moments, cached_moments, compute_moments, resolve
from .rogue_rules import rotated_top_quantile, variance_share
from .rules import THRESHOLDS, decimals, percent

__all__ = ["rogue_dimensions", "RogueDimensions", "rogue_about"]


@result
class RogueDimensions(Result):
    """Each dimension's share of the expected cosine between two random items.

    Returned by :func:`vecdiag.rogue_dimensions`.

    Attributes
    ----------
    contribution : ndarray, shape (d,), float64
        E over distinct pairs of û_j·v̂_j; sums to :attr:`mean_cosine`.
    dims : ndarray
        Indices of the ``top`` dimensions with the largest contribution, largest first.
    share : float
        Their summed contribution divided by the mean cosine (0.0 when the mean cosine
        is not positive).
    mean_cosine : float
        The expected cosine of two distinct items (the anisotropy).
    top : int
        How many dimensions :attr:`dims` holds.
    energy : ndarray, shape (d,), float64
        ``E[û_j²]``: each dimension's share of a unit vector's squared length (sums to
        1). A zero-mean dimension of huge variance takes no share of the *mean* cosine
        but a large one here, and then decides which items score alike.
    energy_dims : ndarray
        The ``top`` dimensions with the largest energy, largest first.
    energy_share : float
        Their summed energy (``top / d`` when spread evenly).
    variance_null : float or None
        The top-``top`` share of the unit coordinates' variance that a random rotation
        of the same corpus reaches once in a hundred (None when the share is below the
        warning level of vd.diagnose anyway, or the unit vectors' covariance was not
        summed: a Dask pass of the O(n·d) sums only).
    direction_share : float or None
        The ``top`` largest squared coordinates of the mean unit vector as a share of its
        squared length (every pair, each item with itself included). A corpus whose
        directions no axis singles out has it distributed as a random direction's (see
        :func:`~.rogue_rules.null_top_quantile`); :attr:`share`, over distinct pairs
        only, is not: leaving out the ``n`` self-pairs removes about ``1/d`` of them
        from every dimension, which raises the top dimensions' share of a small mean
        cosine (from 0.7 to 0.79 at ``d = 12``, ``n = 300``, mean cosine 0.02).

    Examples
    --------
    >>> import vecdiag as vd
    >>> r = vd.rogue_dimensions([[10, 1, 0], [9, 0, 1], [11, 1, 1]], top=1)
    >>> r.dims.tolist(), round(r.share, 4), round(r.mean_cosine, 4)
    ([0], 0.9936, 0.9935)
    """

    contribution: np.ndarray
    """(d,) float64: E over distinct pairs of û_j·v̂_j; sums to :attr:`mean_cosine`."""
    dims: np.ndarray
    """Indices of the ``top`` dimensions with the largest contribution, largest first."""
    share: float
    """Their summed contribution divided by the mean cosine (0.0 when the mean cosine is
    not positive: there is no shared similarity to take a share of)."""
    mean_cosine: float
    """The expected cosine of two distinct items (the anisotropy)."""
    top: int
    """How many dimensions :attr:`dims` holds."""
    energy: np.ndarray | None = None
    """(d,) float64: ``E[û_j²]``, each dimension's share of the squared length."""
    energy_dims: np.ndarray | None = None
    """The ``top`` dimensions with the largest energy, largest first."""
    energy_share: float = 0.0
    """Their summed energy (``top / d`` when spread evenly)."""
    variance_null: float | None = None
    """The 99th percentile of the top-``top`` share of the variance of the unit
    coordinates under a random rotation of the corpus (see
    :func:`~.rogue_rules.rotated_top_quantile`); None when not computed (a share below
    the warning level, or no Gram matrix of the unit rows)."""
    direction_share: float | None = None
    """The ``top`` largest squared coordinates of the mean unit vector over its squared
    length (self-pairs included): what a random rotation of the corpus leaves
    distributed as a random direction's, the figure judged against chance."""

    @property
    def shares(self) -> np.ndarray:
        """Per-dimension share ``contribution / mean_cosine`` (zeros if it is ≤ 0)."""
        if self.mean_cosine <= 0:
            return np.zeros_like(self.contribution)
        return self.contribution / self.mean_cosine

    def to_frame(self):
        """One row per dimension, largest contribution first."""
        import pandas as pd

        order = np.argsort(-self.contribution, kind="stable")
        return pd.DataFrame({"dimension": order, "contribution": self.contribution[order],
                             "share": self.shares[order]})

    def _repr_html_(self) -> str:
        rows = [[int(j), self.contribution[j], self.shares[j]] for j in self.dims]
        # subtle: near a mean cosine of 0 the top dimensions can carry more than all of it
        # (the others pull it down): a share over 100% says that, not a rounding slip
        over = (" (more than all of it: the other dimensions pull the mean cosine down)"
                if self.share > 1 else "")
        head = (f"<p>mean cosine {decimals(self.mean_cosine)}; the top {self.top} dimensions "
                f"carry {percent(self.share)}% of it{over}</p>")
        return html_block("RogueDimensions", head,
                          html_table(rows, ["dimension", "contribution", "share"],
                                     numeric={"dimension", "contribution", "share"}))

    def plot(self, ax=None):
        """Bars: contribution of the largest dimensions to the mean cosine."""
        from ..plot.diagnostics import draw_contributions

        return draw_contributions(self.contribution, self.dims, self.mean_cosine, ax=ax)


def rogue_from_moments(m: Moments, top: int) -> RogueDimensions:
    """Exact per-dimension contributions from the streamed sums (inputs checked, n ≥ 2).
    ``variance_null`` needs the Gram matrix of the unit rows (``m.space == "unit"``)."""
    contribution = (m.sum_unit ** 2 - m.sumsq_unit) / (m.n * (m.n - 1))
    total = float(contribution.sum())
    top = min(top, m.d)
    dims = np.argsort(-contribution, kind="stable")[:top]
    share = float(contribution[dims].sum() / total) if total > 0 else 0.0
    energy = m.sumsq_unit / max(float(m.sumsq_unit.sum()), np.finfo(float).tiny)
    energy_dims = np.argsort(-energy, kind="stable")[:top]
    variance_null = None
    if m.space == "unit" and m.shifted_gram is not None and _variance_excess(energy, contribution,
                                                                     top) > 0:
        variance_null = rotated_top_quantile(spectrum(m), top)
    squared = m.sum_unit ** 2
    length = float(squared.sum())
    direction_share = (float(-np.sort(-squared)[:top].sum() / length) if length > 0
                       else None)
    return RogueDimensions(contribution=contribution, dims=dims, share=share,
                           mean_cosine=total, top=top, energy=energy,
                           energy_dims=energy_dims,
                           energy_share=float(energy[energy_dims].sum()),
                           variance_null=variance_null, direction_share=direction_share)


def rogue_about(X, centre, top: int) -> RogueDimensions | None:
    """Rogue dimensions of the rows less ``centre`` (the corpus mean: how euclidean
    search sees directions, since a shared offset moves no euclidean distance), in one
    pass over ``X`` (a matrix, a memmap read in blocks, or a Dask array, centred lazily)
    with the unit rows' Gram matrix (the variance sign's rotation null). Rows equal to
    ``centre`` have no direction from it and are left out; None with fewer than two
    others. The shared rule of :func:`vecdiag.diagnose` and :func:`vecdiag.explain_neighbors`
    under euclidean.

    Examples
    --------
    >>> X = np.array([[101.0, 0.0], [99.0, 0.0], [100.0, 1.0], [100.0, -1.0], [100.0, 0.0]])
    >>> r = rogue_about(X, X.mean(axis=0), top=1)
    >>> r.mean_cosine < 0, np.round(r.energy, 2).tolist()   # row 4, at the centre: left out
    (True, [0.5, 0.5])
    """
    from ..scale.chunks import is_dask_array

    centre = np.asarray(centre, dtype=np.float64)
    if is_dask_array(X):
        from ..scale.moments import moments as dask_moments

        m = dask_moments(X.astype(np.float64) - centre, space="unit", name="X", drop=True)[0]
    else:
        m = compute_moments(X, space="unit", centre=centre)
        if np.any(m.norms == 0):        # (rare) rows at the centre: summed without them
            keep = np.flatnonzero(m.norms > 0)
            m = compute_moments(np.asarray(X)[keep], space="unit", centre=centre)
    return rogue_from_moments(m, top) if m.n >= 2 else None


def _variance_excess(energy, contribution, top: int) -> float:
    """How far the top-``top`` share of the unit coordinates' variance goes beyond its
    even share and the energy warning level (positive: the rotation null is needed)."""
    var, _, _, excess = variance_share(energy, contribution, top)
    if var is None:
        return 0.0
    return excess - THRESHOLDS["rogue_dimensions"]["energy_warning"] + 1e-9


def rogue_dimensions(X, *, top: int = 5) -> RogueDimensions:
    """Per-dimension share of the expected cosine, and the few dimensions that dominate.

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
        At least two non-zero vectors. An Index keeps the result in its cache
        (key ``("rogue_dimensions", top)``).
    top : int
        How many of the largest contributors to report in ``dims`` and ``share``.

    Returns
    -------
    RogueDimensions

    Notes
    -----
    The cosine of two items is a sum over dimensions, ``cos(x, y) = Σ_j û_j v̂_j``, so
    its expectation over distinct pairs splits exactly into per-dimension terms
    (Timkey & van Schijndel 2021)::

        CC_j = E[û_j v̂_j] = ((Σ_i û_ij)² − Σ_i û_ij²) / (n (n − 1)),   Σ_j CC_j = E[cos]

    computed in one O(n·d) pass. A dimension with a large shared offset takes most of
    the expected cosine: similarity is then decided by that coordinate rather than by
    meaning. A zero-mean dimension of huge variance takes no share of it, but most of
    each vector's squared length, ``energy_j = E[û_j²]``: it then decides which items
    score alike (the variance of the cosine, Timkey & van Schijndel's second sign). ``share = Σ_{j in top} CC_j / E[cos]``; it is
    0.0 when ``E[cos] ≤ 0`` (no shared similarity to split). Individual ``CC_j`` may be
    negative, so ``share`` may exceed 1.

    Examples
    --------
    >>> X = [[5.0, 1.0, 0.0], [5.0, 0.0, 1.0], [5.0, -1.0, 0.0], [5.0, 0.0, -1.0]]
    >>> r = rogue_dimensions(X, top=1)
    >>> int(r.dims[0]), round(r.share, 4)   # dim 0 carries all of it (others are < 0)
    (0, 1.0135)
    >>> bool(np.isclose(r.contribution.sum(), r.mean_cosine))
    True
    """
    top = V.check_positive_int(top, "top")
    X, cache = resolve(X)
    if X.shape[0] < 2:
        raise ValueError(f"X has {X.shape[0]} vector; the expected cosine is a mean over "
                         "pairs: pass at least 2 vectors")
    key = cache_keys.rogue_dimensions(top)
    if cache is not None and key in cache:
        return cache[key]
    res = rogue_from_moments(cached_moments(X, cache, "unit", gram=False), top)
    if cache is not None:
        cache[key] = res
    return res
