"""Principal components from first principles: power iteration with deflation.

The fourth lesson of :mod:`vecdiag.scratch`: :func:`pca` centres the data, builds the
covariance matrix and finds its top directions one at a time with the unchecked cores
below it (``_power_iteration``, ``_unit``, ``_matvec``, and ``_dot`` from
:mod:`~vecdiag.scratch.vectors`).
"""

from __future__ import annotations

import math
import numbers
import random
import warnings

import numpy as np

from .. import _validate as V
from ..projection.result import Projection
from .vectors import _dot, _power_of_two_above

__all__ = ["pca"]


def pca(X, n_components: int = 2, *, max_iter: int = 10_000, tol: float = 1e-12,
        random_state=0) -> Projection:
    """Principal components by power iteration with deflation, in plain Python.

    Centre the data, build the covariance matrix, find the direction of most variance
    (:func:`_power_iteration`), remove that direction's variance from the covariance,
    and repeat. Returns a :class:`vecdiag.Projection` like :func:`vecdiag.pca` (the
    arithmetic is plain Python; the result is wrapped in arrays at the end so it plots
    the same way).

    Parameters
    ----------
    X : array-like, 2-D, shape (n, d)
        At least two rows, not all identical.
    n_components : int
        How many principal components to find (at most ``d``).
    max_iter : int
        Power-iteration steps per component before giving up (with a RuntimeWarning);
        at least 1.
    tol : float
        Stop when one step moves the unit direction by less than this (positive).
    random_state : int, None, numpy Generator or RandomState
        Seed of the random start directions, as :func:`vecdiag.pca` takes it: a
        non-negative int, None (seed 0), or a numpy Generator or RandomState (one seed
        drawn from it). Anything else raises a TypeError naming ``random_state``.

    Notes
    -----
    Covariance ``C[a][b] = Σ_i (x_ia - μ_a)(x_ib - μ_b) / (n - 1)``. The eigenvalue of
    a direction v is ``λ = vᵀ C v``. Deflation: ``C ← C - λ v vᵀ`` leaves the other
    eigenpairs unchanged, so the next round finds the second component. Signs follow
    :func:`vecdiag.pca`: the largest absolute loading is positive (the first one, of
    loadings tied in size).

    Examples
    --------
    >>> p = pca([[0, 0], [1, 2], [2, 4], [3, 6]], n_components=1)
    >>> p.explained_variance_ratio.round(6).tolist()   # a line: one direction
    [1.0]
    >>> p.components[0].round(4).tolist()            # along (1, 2) / √5
    [0.4472, 0.8944]
    """
    arr, n_components = V.check_pca_input(X, n_components)
    max_iter = V.check_positive_int(max_iter, "max_iter")
    tol = V.check_positive_number(tol, "tol")
    # the random start's seed, as vd.pca takes it (an int, None = 0, or one seed drawn
    # from a numpy Generator or RandomState); anything else is refused by name
    drawn = V.check_random_state(random_state)
    seed = (0 if random_state is None else int(random_state)
            if isinstance(random_state, numbers.Integral) else int(drawn.integers(2**32)))
    rows = arr.tolist()
    n, d = len(rows), len(rows[0])
    # 1. Centre: subtract each dimension's mean, so variance is measured around it.
    # subtle: the mean of 50 copies of 0.1 is not exactly 0.1 in floating point, and
    # identical rows then had a variance of 1e-31 instead of none. Subtracting the first
    # row first (exact: identical rows give exact zeros) keeps the mean's rounding off
    # the deviations; the mean is that row plus the mean of the differences.
    first = rows[0]
    shifted = [[x - f for x, f in zip(row, first)] for row in rows]
    offset = [sum(row[j] for row in shifted) / n for j in range(d)]
    mean = [f + o for f, o in zip(first, offset)]
    centred = [[x - o for x, o in zip(row, offset)] for row in shifted]
    # 2. Covariance: how every pair of dimensions varies together.
    # subtle: squares of 1e150 overflow and of 1e-150 underflow, and power iteration then
    # returns a random direction. The covariance is built from the rows divided by a
    # power of two near their largest entry (exact: directions and ratios do not change);
    # the variances are multiplied back by its square at the end, as vd.pca reports them.
    peak = max(abs(x) for row in centred for x in row)
    scale = _power_of_two_above(peak)
    unit = [[x / scale for x in row] for row in centred]
    cov = [[sum(r[a] * r[b] for r in unit) / (n - 1) for b in range(d)] for a in range(d)]
    total = sum(cov[a][a] for a in range(d))        # total variance = trace of C
    if total == 0.0:
        raise V.constant_data_error(n, arr)
    if not math.isfinite(total * scale * scale):
        raise ValueError(f"X has values so large that their squares overflow even in "
                         f"float64 (largest |x| = {peak:.3g}); scale the vectors down first")
    if total * scale * scale == 0.0:
        raise V.constant_data_error(n, arr)
    rand = random.Random(seed)
    components, variances = [], []
    for c in range(n_components):
        # 3. The direction of most variance left, orthogonal to the ones found.
        v, converged = _power_iteration(cov, components, total, rand, max_iter, tol)
        if not converged:
            warnings.warn(f"scratch.pca: power iteration for component {c + 1} did not "
                          f"converge in {max_iter} steps (its eigenvalue is close to the "
                          "next one); raise max_iter or use vd.pca", RuntimeWarning,
                          stacklevel=2)
        # 4. Its variance: λ = vᵀ C v.
        lam = max(_dot(v, _matvec(cov, v)), 0.0)
        # 5. Fix the sign: the largest absolute loading is positive. subtle: loadings
        #    equal in size (a column and its negation) differ in the last bit from one
        #    solver to another, so the first one within 1e-9 of the largest decides
        #    (as vd.pca does).
        largest = max(abs(x) for x in v)
        top = next(j for j in range(d) if abs(v[j]) >= largest * (1 - 1e-9))
        if v[top] < 0:
            v = [-x for x in v]
        components.append(v)
        variances.append(lam)
        # 6. Deflate: remove this direction's variance, C ← C - λ v vᵀ.
        cov = [[cov[a][b] - lam * v[a] * v[b] for b in range(d)] for a in range(d)]
    # 7. Coordinates: each centred row's projection on each component.
    coords = [[_dot(row, comp) for comp in components] for row in centred]
    square = scale * scale                          # back to the data's own units
    return Projection(coords=np.array(coords), method="pca",
                      explained_variance_ratio=np.array([lam / total for lam in variances]),
                      explained_variance=np.array([lam * square for lam in variances]),
                      components=np.array(components), mean=np.array(mean),
                      params={"solver": "power_iteration", "n_samples": n,
                              "total_variance": total * square, "center_blocks": False},
                      data=arr)


# --- the unchecked cores: lists of floats in, floats out -------------------------------

def _matvec(M: list, v: list) -> list:
    return [_dot(row, v) for row in M]


def _power_iteration(cov: list, found: list, total: float, rand, max_iter: int, tol: float):
    """The top eigenvector of ``cov`` orthogonal to ``found``: ``(v, converged)``.

    Multiply a vector by the covariance again and again: ``v ← C v / ‖C v‖`` turns it
    towards the direction of most variance, at rate ``λ₂/λ₁`` per step (slow when the
    top two eigenvalues are nearly equal).
    """
    d = len(cov)
    # subtle: start from a random direction; a fixed start such as (1, 0, ...) could be
    # exactly orthogonal to the answer and never turn towards it.
    v = _unit([rand.gauss(0.0, 1.0) for _ in range(d)], found)
    for _ in range(max_iter):
        w = _matvec(cov, v)                                            # C v
        # subtle: once the rank of the data is reached the variance left is rounding
        # noise and C v points anywhere: then any direction orthogonal to the ones
        # found is an answer. Otherwise keep w orthogonal to them (Gram-Schmidt).
        left = math.sqrt(sum(x * x for x in w))
        w = _unit(w, found) if left > 1e-12 * total else None
        if w is None:                       # nothing left: any orthogonal direction
            return _unit([rand.gauss(0.0, 1.0) for _ in range(d)], found), True
        change = math.sqrt(sum((x - y) ** 2 for x, y in zip(w, v)))
        v = w
        if change < tol:                    # it stopped turning
            return v, True
    return v, False


def _unit(v: list, basis: list) -> list | None:
    """``v`` minus its parts along the (orthonormal) ``basis``, scaled to length 1.

    Returns None when nothing is left (``v`` lies in the span of ``basis``).
    """
    for u in basis:                              # Gram-Schmidt: remove each known direction
        along = sum(x * y for x, y in zip(v, u))
        v = [x - along * y for x, y in zip(v, u)]
    length = math.sqrt(sum(x * x for x in v))
    if length <= 1e-300:
        return None
    return [x / length for x in v]
