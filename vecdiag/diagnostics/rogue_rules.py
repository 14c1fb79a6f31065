"""The rogue-dimension rule: its finding, and the null shares it is judged against.

Thresholds (``THRESHOLDS["rogue_dimensions"]``) and why they are where they are:
:mod:`.rules`.
"""

from __future__ import annotations

import functools

import numpy as np

from .finding import SEVERITIES, Finding
from .rules import THRESHOLDS, _limits, severity_of

__all__ = ["rogue_finding", "rogue_top", "null_top_share", "null_top_quantile", "by_chance",
           "too_many_to_judge",
           "rotated_top_quantile", "variance_chance", "variance_share",
           "energy_null_quantile", "SMALL_N", "variance_decides"]


def rogue_top(d: int) -> int:
    """Dimensions judged by the rogue rule: ``min(5, ⌈d/10⌉)``."""
    return max(1, min(5, -(-d // 10)))


def null_top_share(d: int, m: int, draws: int = 2000) -> float:
    """Mean share of the ``m`` largest squared coordinates of a random unit vector in d-D.

    Examples
    --------
    >>> round(null_top_share(16, 2), 2)
    0.46
    """
    g = np.random.default_rng(0).normal(size=(draws, d)) ** 2
    top = -np.sort(-g, axis=1)[:, :m].sum(axis=1)
    return float(np.mean(top / g.sum(axis=1)))


@functools.lru_cache(maxsize=64)
def null_top_quantile(d: int, m: int, q: float = 0.99, draws: int = 2000) -> float:
    """The ``q`` quantile of the share of the ``m`` largest squared coordinates of a
    random unit direction in d-D (Monte Carlo, seed 0; 1.0 when ``m ≥ d``).

    A shared direction, or a direction of large variance, that points anywhere (the mean
    of a few topic clusters, their spread) has squared coordinates this uneven by
    chance: the top 4 of 32 hold more than 67% of it once in a hundred. Both signs of the
    rule are judged only beyond it, so that a rotated copy of the corpus (the same
    cosines) gets the same verdict.

    Examples
    --------
    >>> round(null_top_quantile(32, 4), 2)
    0.67
    """
    if m >= d:
        return 1.0
    g = np.random.default_rng(0).normal(size=(draws, d)) ** 2
    top = -np.sort(-g, axis=1)[:, :m].sum(axis=1)
    return float(np.quantile(top / g.sum(axis=1), q))


def too_many_to_judge(top: int, d: int) -> bool:
    """Whether ``top`` dimensions are more than a quarter of ``d``: then every dimension is
    a large share, and the top ones single out nothing (not judged)."""
    return top > d / 4


def by_chance(r, d: int) -> bool:
    """Whether the shared direction of ``r`` (a :class:`~.rogue.RogueDimensions`) puts
    no more of itself in its top ``r.top`` dimensions than a random direction does once
    in a hundred (:func:`null_top_quantile`): then no axis is singled out, whatever the
    share of the mean cosine. Judged on ``r.direction_share``, the squared mean unit
    vector's top share, which a random rotation of the corpus leaves distributed as the
    null's (``r.share``, over distinct pairs, exceeded the null's 99th percentile in 3%
    of corpora of topics around random centres at ``n = 300, d = 12`` and 8% at
    ``n = 60, d = 16``; ``direction_share`` in 1.7% and 1.3%, 300 draws each)."""
    share = r.share if r.direction_share is None else r.direction_share
    return share <= null_top_quantile(d, r.top)


def rotated_top_quantile(variances, m: int, q: float = 0.99, draws: int = 400,
                         rank: int = 16) -> float:
    """The ``q`` quantile of the top-``m`` share of the diagonal of a covariance whose
    eigenvalues are ``variances``, under a uniformly random rotation (Monte Carlo, seed 0).

    The diagonal of ``Q Λ Qᵀ`` is ``Σ_k λ_k Q_jk²``: the ``rank`` largest eigenvalues
    are rotated exactly (the first columns of a Haar orthogonal matrix, from the QR of a
    Gaussian matrix), the rest replaced by their mean (an even share). All variance along
    one direction gives :func:`null_top_quantile`; variance spread evenly gives ``m / d``.

    Examples
    --------
    >>> round(rotated_top_quantile([1.0] + [0.0] * 31, 4), 2)   # one random direction
    0.69
    >>> round(rotated_top_quantile([1.0] * 32, 4), 3)           # no direction special
    0.125
    """
    lam = np.sort(np.clip(np.asarray(variances, dtype=np.float64), 0.0, None))[::-1]
    d = lam.size
    total = float(lam.sum())
    if m >= d or total <= 0:
        return 1.0
    r = min(rank, d - 1)
    rest = float(lam[r:].mean())
    top_lam = lam[:r] - rest
    rng = np.random.default_rng(0)
    step = max(1, min(draws, 2_000_000 // (d * r)))     # draws per batch: a few MB
    share = []
    for start in range(0, draws, step):
        Q = np.linalg.qr(rng.normal(size=(min(step, draws - start), d, r)))[0]
        diag = rest + (Q * Q) @ top_lam
        share.append(-np.sort(-diag, axis=1)[:, :m].sum(axis=1) / total)
    return float(np.quantile(np.concatenate(share), q))


def variance_chance(r, d: int) -> float:
    """The top-``r.top`` share of the unit coordinates' variance that a random rotation
    of the corpus reaches once in a hundred: ``r.variance_null`` (from the spectrum of
    the unit vectors' covariance) or, when that spectrum was not computed, the most any
    spectrum gives, all variance along one random direction (:func:`null_top_quantile`)."""
    v = getattr(r, "variance_null", None)
    return float(v) if v is not None else null_top_quantile(d, r.top)


SMALL_N = 50        # below this many rows, rogue-dimension nulls depend on n (see below)


def energy_null_quantile(n: int, d: int, m: int, q: float = 0.99, draws: int = 200) -> float:
    """The ``q`` quantile of the squared-length excess of the top ``m`` of ``d``
    dimensions for ``n`` i.i.d. Gaussian rows (Monte Carlo, seed 0).

    The null ``m / d`` of the energy sign holds for many rows; with a handful, the mean
    of a few squared coordinates is noisy and the top ``m`` take more by chance (0.3 at
    ``n = 5, d = 16``; below 0.08 from ``n = 50`` for every ``d``).
    """
    rng = np.random.default_rng(0)
    step = max(1, 1_000_000 // (n * d))             # draws per batch: a few MB at most
    share = []
    for start in range(0, draws, step):
        X = rng.normal(size=(min(step, draws - start), n, d))
        e = (X ** 2 / (X ** 2).sum(axis=2, keepdims=True)).mean(axis=1)
        e /= e.sum(axis=1, keepdims=True)
        share.append(-np.sort(-e, axis=1)[:, :m].sum(axis=1))
    share = np.concatenate(share)
    null = m / d
    return float(np.quantile((share - null) / (1 - null), q)) if null < 1 else 1.0


def variance_share(energy, contribution, top: int):
    """``(shares, dims, share, excess)`` of the unit coordinates' variance ``E[û_j²] −
    E[û_j]²`` (from each dimension's energy less its contribution): the per-dimension
    shares, the ``top`` largest (largest first), their summed share, and how far that
    goes from the even ``top / d`` toward 1, ``(share − top/d) / (1 − top/d)``;
    ``(None, [], 0.0, 0.0)`` when there is no variance or ``top > d / 4`` (not judged)."""
    var = np.clip(np.asarray(energy) - np.asarray(contribution), 0.0, None)
    total = float(var.sum())
    if total <= 0 or too_many_to_judge(top, var.size):
        return None, np.zeros(0, dtype=int), 0.0, 0.0
    var = var / total
    dims = np.argsort(-var, kind="stable")[:top]
    held = float(var[dims].sum())
    even = top / var.size
    return var, dims, held, (held - even) / (1 - even)


def variance_decides(f: Finding, var) -> tuple | None:
    """``(share, excess)`` when the rogue-dimension finding ``f``, judged on energy, names
    dimensions that also hold the *variance* ``var`` (per dimension; not a shared offset):
    they then decide euclidean distances too. None otherwise. ``share`` is their part of
    the total variance, ``excess`` its excess over their share of the dimensions, at or
    above ``THRESHOLDS["rogue_dimensions"]["energy_warning"]``.

    Examples
    --------
    >>> f = Finding("rogue_dimensions", "warning", "", {"judged_on": "energy_excess",
    ...                                                 "energy_dims": [0]}, "whiten")
    >>> variance_decides(f, [9.0, 1.0, 1.0, 1.0]), variance_decides(f, [1.0] * 4)
    ((0.75, 0.6666666666666666), None)
    """
    if f.code != "rogue_dimensions" or f.evidence.get("judged_on") != "energy_excess":
        return None
    var = np.clip(np.asarray(var, dtype=np.float64), 0.0, None)
    total = float(var.sum())
    if total <= 0:
        return None
    dims = np.asarray(f.evidence["energy_dims"], dtype=int)
    null = dims.size / var.size
    share = float(var[dims].sum()) / total
    excess = (share - null) / (1 - null) if null < 1 else 0.0
    if excess < THRESHOLDS["rogue_dimensions"]["energy_warning"]:
        return None
    return share, excess


def rogue_finding(r, d: int, n: int | None = None) -> Finding:
    """The rogue-dimension finding (thresholds: :mod:`.rules`). ``n`` (rows): below
    :data:`SMALL_N`, both signs are judged against what ``n`` random rows give by chance
    (the mean cosine's own noise, ``3 sqrt(2 / (n (n - 1) d))``, and the 99th percentile
    of :func:`energy_null_quantile`): a handful of Gaussian vectors read as rogue. Both
    signs are also judged only beyond what a random rotation of the corpus gives once in
    a hundred (:func:`null_top_quantile`, :func:`variance_chance`; evidence
    ``null_share_q99`` and ``energy_null_rotated``): rogue dimensions are the axes', and
    a rotated copy of the corpus has the same cosines."""
    t = THRESHOLDS["rogue_dimensions"]
    null = null_top_share(d, r.top) if r.top < d else 1.0
    excess = (r.share - null) / (1 - null) if null < 1 else 0.0
    small = n is not None and 2 <= n < SMALL_N
    min_cos = t["min_mean_cosine"]
    if small:
        min_cos = max(min_cos, 3.0 * float(np.sqrt(2.0 / (n * (n - 1) * d))))
    # "value" is the figure the severity was judged on, beside its own thresholds: the
    # excess of the top dimensions' share of the mean cosine over chance (the share
    # itself is "share"), or, below, the excess of their share of the squared length
    ev = {"value": excess, "share": r.share, "dims": [int(j) for j in r.dims],
          "mean_cosine": r.mean_cosine, "null_share": null, "excess": excess,
          "judged_on": "excess", "min_mean_cosine": min_cos,
          **_limits("rogue_dimensions")}
    judged = r.mean_cosine >= min_cos and not too_many_to_judge(r.top, d)
    sev = severity_of("rogue_dimensions", excess) if judged else "ok"
    # a shared direction pointing anywhere (a narrow cone, the mean of a few clusters)
    # takes a share this large by chance in one rotation of a hundred: not the axes'
    chance = null_top_quantile(d, r.top)
    ev["null_share_q99"] = chance
    ev["direction_share"] = r.direction_share
    if sev != "ok" and by_chance(r, d):
        sev = "ok"
    e_sev, var, var_dims, e_ev = _variance_sign(r, d, n if small else None)
    ev.update(e_ev)
    if SEVERITIES.index(e_sev) < SEVERITIES.index(sev):     # (most severe first)
        ev.update(judged_on="energy_excess", value=e_ev["energy_excess"],
                  warning_at=t["energy_warning"], critical_at=t["energy_critical"],
                  excess_warning_at=t["warning"], excess_critical_at=t["critical"])
        return Finding("rogue_dimensions", e_sev, _variance_summary(var, var_dims, d), ev,
                       "whiten")
    dims = ", ".join(str(int(j)) for j in r.dims)
    if not judged:
        why = (f"with {n} vectors the mean cosine ({r.mean_cosine:.2f}) is within its "
               "own noise" if small and t["min_mean_cosine"] <= r.mean_cosine < min_cos
               else "the mean cosine is near 0, so there is no shared similarity for a few "
               "dimensions to dominate" if r.mean_cosine < min_cos
               else f"with {d} dimensions every dimension is a large share")
        summary = f"Not judged: {why}."
        ev["judged"] = False
    elif sev == "ok":
        summary = (f"No dimension dominates: the top {r.top} ({dims}) carry "
                   f"{100 * r.share:.0f}% of the mean cosine ({100 * null:.0f}% by chance"
                   + (f", up to {100 * chance:.0f}% for a shared direction pointing anywhere"
                      if r.share > null + t["warning"] * (1 - null) else "") + ").")
    else:
        # named: the top one, and every other of the top dims carrying half of its share
        # or ten times its even share (one rogue dimension of 32 was named with three
        # dimensions of share 0.00, as if they too should be standardised)
        first = float(r.contribution[r.dims[0]])
        big = [int(j) for i, j in enumerate(r.dims)
               if i == 0 or r.contribution[j] >= min(0.5 * first, 10 / d * r.mean_cosine)]
        held = float(r.contribution[big].sum() / r.mean_cosine)
        many = len(big) > 1
        summary = (f"Dimension{'s' if many else ''} {', '.join(map(str, big))} "
                   f"carr{'y' if many else 'ies'} {100 * held:.0f}% of the mean cosine "
                   f"(the top {r.top} of {d} carry {100 * null:.0f}% by chance): "
                   f"{'they' if many else 'it'}, not the meaning, decide"
                   f"{'' if many else 's'} the scores; standardise/whiten the dimensions.")
    return Finding("rogue_dimensions", sev, summary, ev, None if sev == "ok" else "whiten")


def _variance_sign(r, d: int, small_n: int | None):
    """The second sign: a few dimensions holding most of the variance of the unit vectors
    (huge variance, no shared offset) decide which items score alike. ``(severity,
    shares, dims, evidence)``; ``small_n``: the rows, when below :data:`SMALL_N`.

    Judged on the variance ``E[û_j²] − E[û_j]² = (n − 1)/n · (energy_j −
    contribution_j)``, not on the energy: a shared offset (the first sign's, and
    anisotropy's) would otherwise read as rogue, since the squares of any one direction
    are uneven (a narrow cone around a random direction: top 5 of 48 dimensions holding
    44% of the energy). Same figure as vecdiag.explain's spread_dimensions.
    """
    t = THRESHOLDS["rogue_dimensions"]
    e_null = r.top / d
    var, var_dims, var_share, e_excess = (
        variance_share(r.energy, r.contribution, r.top) if r.energy is not None
        else (None, np.zeros(0, int), 0.0, 0.0))
    e_sev = ("critical" if e_excess >= t["energy_critical"] else
             "warning" if e_excess >= t["energy_warning"] else "ok")
    if small_n is not None and e_sev != "ok" and \
            e_excess <= energy_null_quantile(small_n, d, r.top):
        e_sev = "ok"                    # no more than n random rows give by chance
    # variance along a few directions that point anywhere (a few topic clusters) is
    # uneven over the axes by chance: judged beyond what a random rotation of the same
    # corpus gives once in a hundred (rotation-invariant structure is not the axes')
    e_chance = variance_chance(r, d)
    if e_sev != "ok" and var_share <= e_chance:
        e_sev = "ok"
    # energy_share / energy_dims: of the variance (the figure judged)
    ev = dict(energy_share=var_share, energy_null=e_null, energy_excess=e_excess,
              energy_dims=[int(j) for j in var_dims], energy_null_rotated=e_chance)
    return e_sev, var, var_dims, ev


def _variance_summary(var, var_dims, d: int) -> str:
    """The second sign's sentence, naming the top dimension and every other of the top
    ones holding half of its variance or ten times its even share."""
    first = var[var_dims[0]]
    big = [int(j) for i, j in enumerate(var_dims)
           if i == 0 or var[j] >= min(0.5 * first, 10 / d)]
    held = float(var[big].sum())
    many = len(big) > 1
    return (f"Dimension{'s' if many else ''} {', '.join(map(str, big))} "
            f"hold{'' if many else 's'} {100 * held:.0f}% of the variance of "
            f"the vectors' directions ({100 * len(big) / d:.1f}% if spread evenly): "
            f"{'they' if many else 'it'}, not the meaning, "
            f"decide{'' if many else 's'} which items score alike; "
            "standardise/whiten the dimensions.")
