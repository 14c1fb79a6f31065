"""The paired tests themselves: one metric's per-query differences in, a p-value and an
interval out (randomization, t-test, bootstrap), and Holm's correction across metrics.

:mod:`vecdiag.evaluation.significance` builds :func:`vecdiag.compare` on them; its
docstring describes each test and its references.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _validate as V
from .._resampling import check_resamples, fewest_resamples

__all__ = ["METHODS", "check_alpha", "check_resolution", "holm", "paired_test", "within_range"]

METHODS = ("randomization", "ttest", "bootstrap")
_CHUNK = 2_000  # resamples per block: bounds memory at _CHUNK * n_queries values


def check_alpha(alpha) -> float:
    """A significance level: a real number strictly between 0 and 1 (bools refused).

    Examples
    --------
    >>> check_alpha(np.float32(0.25))
    0.25
    """
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a number between 0 and 1 (e.g. 0.05), got "
                        f"{type(alpha).__name__} {alpha!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    return float(alpha)


def check_resolution(n_resamples, alpha: float, *, method: str, exact, tests: int = 1) -> int:
    """``n_resamples`` (a positive int), refused when no p-value could be below ``alpha``.

    A Monte Carlo p-value (randomization or bootstrap) is ``(1 + c) / (1 + B)``, at least
    ``1/(1 + B)``: with ``1/(1 + B) >= alpha`` nothing can be significant (``p < alpha``),
    so such a ``B`` is a ValueError naming ``n_resamples``, worded as :func:`vecdiag.drift`
    words it. The automatic enumeration (``2**n <= B``) is covered too: its smallest
    p-value ``2/2**n`` (the signs seen and their mirror image) is then at least ``2/B``.
    Not checked for the t-test (it draws nothing) or with ``exact=True`` (every sign
    pattern enumerated, whatever ``B``: the smallest p-value, ``2/2**n``, is set by the
    ``n`` queries; at alpha = 0.05 five or fewer can never be significant, which is the
    data's limit, not an error). Holm's correction over ``tests`` metrics raises the
    smallest adjusted p-value to ``tests/(1 + B)``: below ``tests/alpha`` resamples no
    metric can be significant either, which is a UserWarning (not an error: one metric
    can still be read on its own p-value).

    Examples
    --------
    >>> check_resolution(19, 0.05, method="randomization", exact=None)
    Traceback (most recent call last):
    ...
    ValueError: n_resamples=19 cannot give a p-value below alpha=0.05 (the smallest is 1/(n_resamples+1)); use at least 20, better 10000
    """
    n_resamples = V.check_positive_int(n_resamples, "n_resamples")
    if exact is not None:
        exact = V.check_bool(exact, "exact")
    if method != "ttest" and exact is not True:
        check_resamples(n_resamples, "n_resamples", alpha, strict=True, usual=10_000)
        needed = fewest_resamples(alpha, strict=True, tests=tests)
        if n_resamples < needed:
            warnings.warn(f"n_resamples={n_resamples} cannot give a Holm-adjusted p-value "
                          f"below alpha={alpha:.4g} over {tests} metrics (the smallest is "
                          f"{tests}/(n_resamples+1)): none can be significant; use at least "
                          f"{needed}", UserWarning, stacklevel=3)
    return n_resamples


def holm(p_values) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given).

    Notes
    -----
    Sort ``p_(1) <= ... <= p_(m)``; ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
    Rejecting where ``p~ < alpha`` keeps the family-wise error rate at ``alpha``.
    NaN p-values stay NaN and do not count in ``m``. ``p_values`` must be 1-D, with
    every other value in [0, 1] (anything else is refused, not clipped).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        # a (fixes, metrics) table failed as an IndexError, a single p as "too many indices"
        raise ValueError(f"p_values must be a 1-D sequence of p-values (one family), got "
                         f"shape {p.shape}; pass [p] for one, or adjust each row of a table")
    outside = np.flatnonzero(~np.isnan(p) & ~((p >= 0) & (p <= 1)))
    if outside.size:
        # -0.1 came back as 0 and 1.5 as 1: a wrong input turned into a plausible p-value
        raise ValueError(f"p_values must lie in [0, 1] (NaN for a missing one); "
                         f"{outside.size} do not (first at position {int(outside[0])}: "
                         f"{float(p[outside[0]])!r})")
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def _signs(n: int, start: int, stop: int) -> np.ndarray:
    """Sign patterns ``start..stop-1`` of all ``2**n`` (bit j of the pattern flips d_j)."""
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return 1.0 - 2.0 * ((codes >> np.arange(n, dtype=np.int64)) & 1)


def _randomization(d: np.ndarray, n_resamples: int, rng, exact: bool | None):
    """p-value of the sign-flip test, and whether it was exact."""
    n = d.shape[0]
    observed = abs(d.mean())
    tol = _rounding(d)
    if exact is None:
        exact = n <= 30 and 2 ** n <= n_resamples
    if exact:
        if n > 30:
            raise ValueError(f"exact enumeration needs 2**{n} sign patterns; use exact=False")
        total, count = 2 ** n, 0
        for start in range(0, total, _CHUNK * 8):
            stop = min(total, start + _CHUNK * 8)
            means = _signs(n, start, stop) @ d / n
            count += int(np.sum(np.abs(means) >= observed - tol))
        return count / total, True
    count = 0
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(size, n))
        count += int(np.sum(np.abs(signs @ d / n) >= observed - tol))
    return (1 + count) / (1 + n_resamples), False


def _rounding(d: np.ndarray) -> float:
    """The level of rounding of sums of ``d``: 1e-12 of its largest magnitude.

    Relative, not absolute: differences of 1e-13 are data when every one is that small,
    and a 1e-16 residue beside zeros is a (tiny) spread, not a shift (an absolute floor of
    1e-12 once made ``[1e-16, 0, 0]`` a certain change for the t-test, p = 0, where
    ``scipy.stats.ttest_rel`` gives 0.42, and ``[1e-13, ..., 1e-12]`` no change at all for
    the randomization test, p = 1, where scipy's permutation test gives 0.002).
    """
    return 1e-12 * float(np.abs(d).max(initial=0.0))


def _centred(d: np.ndarray) -> np.ndarray:
    """``d - mean(d)``, with rounding residues of the mean (within 1e-12 of the largest
    difference) set to 0: ten copies of 1/3 average to 0.33333333333333337, and the
    residue would read as a spread."""
    z = d - d.mean()
    z[np.abs(z) <= _rounding(d)] = 0.0
    return z


def _bootstrap_t(d: np.ndarray, n_resamples: int, rng) -> np.ndarray:
    """The t statistics of ``n_resamples`` resamples of the centred differences (the
    bootstrap-t null distribution)."""
    n = d.shape[0]
    t = np.empty(n_resamples)
    z = _centred(d)
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        if n < 2:        # one difference: no spread to studentize by (t unused then)
            t[start:start + size] = 0.0
            continue
        zs = z[idx]
        m, sd = zs.mean(axis=1), zs.std(axis=1, ddof=1)
        # subtle: three copies of 1/6 have a spread of 3e-17 (their mean rounds), and a t
        # of 1e16 made a finite interval end of -1.4e15 where the spread is none
        sd[sd <= _rounding(d)] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            # a resample of one repeated value has no spread: t is ±inf, or 0 at 0
            t[start:start + size] = np.where(m == 0, 0.0, m * math.sqrt(n) / sd)
    return t


def _studentized_interval(delta: float, sd: float, n: int, t_null: np.ndarray,
                          alpha: float) -> tuple:
    """Bootstrap-t interval of the mean ``delta`` of ``n`` differences (standard deviation
    ``sd``, of the centred differences) at level ``1 - alpha``, from the resampled t
    statistics of the centred differences: ``(mean - q_hi se, mean - q_lo se)``.

    subtle: the order statistics themselves (no interpolation): a resample of one repeated
    value has t = ±inf, and interpolating between two infinities gives NaN.
    """
    if sd == 0:          # one difference, or all equal: no spread to scale by
        return (delta, delta)
    se = sd / math.sqrt(n)
    q_lo = float(np.quantile(t_null, alpha / 2, method="lower"))
    q_hi = float(np.quantile(t_null, 1 - alpha / 2, method="higher"))
    return (delta - q_hi * se, delta - q_lo * se)


def paired_test(d, *, method: str = "randomization", n_resamples: int = 10_000,
                random_state=0, confidence: float = 0.95, exact: bool | None = None) -> dict:
    """Test per-query differences ``d`` against a zero mean; the core of :func:`compare`.

    Returns a dict with ``delta`` (the mean), ``ci`` (lower, upper), ``p_value`` and
    ``exact`` (randomization only: whether all sign patterns were enumerated).

    Notes
    -----
    All differences equal to zero give ``p = 1`` and the interval ``(0, 0)`` for every
    method. The interval is Student's t for ``ttest`` and the studentized (bootstrap-t)
    interval otherwise: with ``se = sd(d) / sqrt(n)`` and ``q`` the quantiles of the
    resampled t statistics (the null of the bootstrap test),
    ``(mean - q[1 - a/2] se, mean - q[a/2] se)``. It is unbounded (``±inf``) when more
    than ``a/2`` of the resamples repeat one value (two or three queries, or about five
    when most differences are equal): so few differences do not bound the mean. (The
    percentile interval of the resampled means covered the true mean 74% of the time at
    n = 3, 82% at n = 5 and 89% at n = 10 for 95% asked; this one 93-96% from n = 5 on.)
    One difference gives ``(d, d)``. Fewer than ``2 / (1 - confidence) - 1`` resamples
    (39 at 95%) put the interval's ends at the extremes of the resampled t statistics,
    covering ``(B - 1) / (B + 1)`` only: a UserWarning says so.

    Examples
    --------
    >>> paired_test([0.1, 0.2, 0.3], method="randomization")["p_value"]  # 2 of 8 as extreme
    0.25
    """
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError("paired differences must be a non-empty 1-D sequence")
    if not np.isfinite(d).all():
        bad = np.flatnonzero(~np.isfinite(d))
        raise ValueError(f"paired differences d have {bad.size} NaN or inf values (first "
                         f"positions: {', '.join(map(str, bad[:3].tolist()))}); drop those "
                         "queries from both runs or score them")
    V.check_choice(method, "method", METHODS)
    rng = V.check_random_state(random_state)
    n_resamples = V.check_positive_int(n_resamples, "n_resamples")
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(confidence, numbers.Real):
        # "0.9" failed deep as "'<' not supported between 'int' and 'str'"
        raise TypeError(f"confidence must be a number between 0 and 1 (e.g. 0.95), got "
                        f"{type(confidence).__name__} {confidence!r:.40}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    if exact is not None:
        # the string "no" is truthy: it forced full enumeration instead of forbidding it
        exact = V.check_bool(exact, "exact")
    n, delta = d.size, float(d.mean())
    alpha = 1 - confidence
    out = {"delta": delta, "exact": None}
    if not np.any(d):
        out.update(ci=(0.0, 0.0), p_value=1.0)
        return out
    sd = float(_centred(d).std(ddof=1)) if n > 1 else 0.0
    if method == "ttest":
        from scipy import stats

        if n < 2:
            raise ValueError("the paired t-test needs at least 2 shared queries; "
                             "use method='randomization'")
        if sd == 0:  # every query moved by the same non-zero amount
            out.update(ci=(delta, delta), p_value=0.0)
            return out
        se = sd / math.sqrt(n)
        t = delta / se
        p = float(2 * stats.t.sf(abs(t), df=n - 1))
        half = float(stats.t.ppf(1 - alpha / 2, df=n - 1)) * se
        out.update(ci=(delta - half, delta + half), p_value=p, statistic=t)
        return out
    if method == "bootstrap" and n < 2:
        # one difference resamples to itself: no spread, and any change would look certain
        raise ValueError("the bootstrap test needs at least 2 shared queries (one "
                         "difference resamples only to itself); use method='randomization'")
    needed = fewest_resamples(alpha / 2, strict=False)
    if sd > 0 and n_resamples < needed:
        # the interval's ends are then the extremes of the resampled t statistics, which
        # hold the truth with probability (B - 1) / (B + 1), not the confidence asked
        warnings.warn(f"n_resamples={n_resamples} puts the {confidence:.0%} interval's ends at "
                      f"the extremes of {n_resamples} resampled t statistics: it covers about "
                      f"{1 - 2 / (n_resamples + 1):.1%}; use at least {needed}", UserWarning,
                      stacklevel=2)
    t_null = _bootstrap_t(d, n_resamples, rng)
    ci = _studentized_interval(delta, sd, n, t_null, alpha)
    if method == "bootstrap":
        # the studentized statistic (Efron & Tibshirani 1993, sec. 16.4): the raw mean
        # of a few differences of one sign never reaches its own value when centred
        # (two queries gave p = 1e-4), its t does
        t_obs = math.inf if sd == 0 else abs(delta) * math.sqrt(n) / sd
        count = int(np.sum(np.abs(t_null) >= t_obs * (1 - 1e-12)))
        p = (1 + count) / (1 + n_resamples)
    else:
        p, out["exact"] = _randomization(d, n_resamples, rng, exact)
    out.update(ci=ci, p_value=float(p))
    return out


def within_range(ci, va: np.ndarray, vb: np.ndarray) -> tuple:
    """``ci`` cut to [-1, 1] when every per-query value of both sides lies in [0, 1] (as
    every vecdiag metric's does): the mean difference cannot leave that range, and an
    interval past it (Student's t or bootstrap-t over a few queries: recall@100's reached
    +1.2 over 5 queries; unbounded over three) only looked informative. Same coverage.

    Examples
    --------
    >>> within_range((-0.3, 1.2), np.array([0.0, 1.0]), np.array([1.0, 0.5]))
    (-0.3, 1.0)
    >>> within_range((-0.3, 1.2), np.array([0.0, 2.0]), np.array([1.0, 0.5]))
    (-0.3, 1.2)
    """
    lo, hi = (float(x) for x in ci)
    if ((va >= 0) & (va <= 1) & (vb >= 0) & (vb <= 1)).all():
        lo, hi = max(lo, -1.0), min(hi, 1.0)
    return lo, hi
