"""Estimators of N_k's skewness, hub share and antihub share from sampled neighbour lists.

Inputs already checked: ``lists`` (s, k) holds the neighbours (self excluded) of ``s`` rows
drawn without replacement from the ``n`` rows of the corpus. For an item ``x`` with true
k-occurrence ``N_x``, its count ``c_x`` among the sampled lists is hypergeometric
(``n`` lists, ``N_x`` of them contain ``x``, ``s`` drawn). Hence:

* **skewness**: the factorial moments ``E[c^(r)] = N^(r)·s^(r)/n^(r)`` (``a^(r)`` the
  falling factorial) make ``Σ_x c_x^(r)·n^(r)/s^(r)`` unbiased for ``Σ_x N_x^(r)``, r = 1..3,
  hence N_k's raw moments and its skewness (a ratio of them: consistent, not unbiased);
* **antihub share** ``P(N = 0)``: under binomial thinning (f = s/n)
  ``E[(1 − 1/f)^c] = (1 − f + f·(1 − 1/f))^N = 0^N``, which makes the (nearly) unbiased ``(1/n)·Σ_x (1 − 1/f)^(c_x)`` (items in no sampled list count 1); its weights are
  bounded only when ``f ≥ 1/2``: below, antihubs cannot be told from items in few lists;
* **hub share** ``P(N ≥ 2k)``: a deconvolution: the distribution of N is estimated by its
  nonparametric maximum likelihood (EM over a grid, hypergeometric kernel) and the share
  read from it; it is resolved when an item at the threshold is expected in
  ``2k·f ≥`` :data:`HUB_MIN_COUNT` sampled lists.

Intervals: the delete-one jackknife over sampled rows (skewness, antihubs; ``O(s·k)``
through count updates) or a delete-a-group jackknife (hub share, :data:`GROUPS` refits),
times the finite population correction ``1 − s/n``, with a normal quantile (Student's t
with ``GROUPS − 1`` degrees of freedom for the hub share). The jackknife
overstates the higher-order parts of a U-statistic's variance (Efron & Stein 1981); for
the skewness a share (:data:`PAIR_SHARE`) of the pairwise interactions between sampled
lists that share an item is taken off. All three stay conservative where the figure is
estimable (antihubs markedly: coverage near 100% in the benchmark).
"""

from __future__ import annotations

import numpy as np

__all__ = ["skewness_estimate", "antihub_estimate", "hub_estimate", "hub_quantile", "HUB_MIN_COUNT",
           "ANTIHUB_MIN_FRACTION", "GROUPS", "SPREAD_MAX_CV", "PAIR_SHARE"]

HUB_MIN_COUNT = 10.0
"""The hub share is estimated when an item at the threshold (N = 2k) is expected in at
least this many sampled lists (``2k·s/n``); below, the deconvolution is not resolved."""

ANTIHUB_MIN_FRACTION = 0.5
"""The antihub share is estimated when at least this share of the rows is sampled."""

SPREAD_MAX_CV = 0.25
"""Skewness is reported when the spread of N_k (its variance) is estimated to within
this relative standard error; a ratio over a noisy denominator has no honest interval."""

GROUPS = 10
"""Groups of the delete-a-group jackknife behind the hub share's interval (its variance
has GROUPS − 1 degrees of freedom: the interval uses Student's t, see :func:`hub_quantile`)."""


def hub_quantile(confidence: float) -> float:
    """Two-sided Student t quantile with ``GROUPS − 1`` degrees of freedom (2.26 at 0.95).

    Examples
    --------
    >>> round(hub_quantile(0.95), 2)
    2.26
    """
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, GROUPS - 1))

PAIR_SHARE = 0.25
"""Share of the pairwise interactions taken off the skewness's jackknife variance: the
delete-one jackknife counts the k-th order part of a U-statistic's variance about k times
(Efron & Stein 1981) and the pairwise sum C(k, 2) times, so removing a quarter leaves
weights 1, 1.75, 2.25 for orders 1-3: conservative, but far less than the jackknife alone
on weakly hubby corpora (measured in benchmarks/bench_sampling.py)."""

_EM_ITERATIONS = 400


def _counts(lists: np.ndarray):
    """Compressed per-item counts: (unique items, counts, lists as compressed ids)."""
    items, inverse = np.unique(lists, return_inverse=True)
    compressed = inverse.reshape(lists.shape)
    return items, np.bincount(compressed.ravel(), minlength=items.size), compressed


def _falling_scale(n: int, m, r: int):
    """``n^(r) / m^(r)`` (0 where m < r: no r distinct lists to share an item)."""
    m = np.asarray(m, dtype=np.float64)
    out = np.ones_like(m)
    for j in range(r):
        out = out * (n - j) / np.where(m - j > 0, m - j, np.inf)
    return out


def _moments(S: np.ndarray, n: int, m):
    """(skewness, variance) of N from sums S[..., r-1] = Σ c^(r), r = 1..3, over m lists."""
    F = np.stack([S[..., r] * _falling_scale(n, m, r + 1) / n for r in range(3)], axis=-1)
    m1, m2 = F[..., 0], F[..., 1] + F[..., 0]
    m3 = F[..., 2] + 3 * F[..., 1] + F[..., 0]
    var = m2 - m1 ** 2
    central3 = m3 - 3 * m1 * m2 + 2 * m1 ** 3
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(var > 1e-12 * np.maximum(m2, 1.0), central3 / np.abs(var) ** 1.5, 0.0)
    return skew, var


def _jackknife_se(replicates: np.ndarray, s: int, n: int, groups: int | None = None) -> float:
    """Jackknife standard error with the finite population correction ``1 − s/n``."""
    g = replicates.size if groups is None else groups
    spread = float(((replicates - replicates.mean()) ** 2).sum())
    return float(np.sqrt((g - 1) / g * spread * max(0.0, 1 - s / n)))


def skewness_estimate(lists: np.ndarray, n: int):
    """(skewness, its standard error or None, reason or None) from sampled lists.

    The estimate is the skewness of N_k's factorial-moment estimates; the standard error
    the delete-one jackknife (each replicate drops one sampled list: ``O(k)`` count
    updates). None with a reason when the spread of N_k is not resolved.
    """
    s, k = lists.shape
    _, c, compressed = _counts(lists)
    c = c.astype(np.float64)
    S = np.array([c.sum(), (c * (c - 1)).sum(), (c * (c - 1) * (c - 2)).sum()])
    skew, var = _moments(S, n, s)
    if s >= n:
        return float(skew), 0.0, None
    if s < 4:
        return float(skew), None, f"{s} sampled rows are too few for a jackknife"
    less = c[compressed] - 1  # counts without list i, for the k items of list i
    dS = np.stack([np.full(s, float(k)), 2 * less.sum(axis=1),
                   3 * (less * (less - 1)).sum(axis=1)], axis=1)
    reps_skew, reps_var = _moments(S[None, :] - dS, n, s - 1)
    var_se = _jackknife_se(reps_var, s, n)
    if not var > 0 or var_se > SPREAD_MAX_CV * var:
        return float(skew), None, (
            f"the spread of N_k is not resolved by {s:,} rows (variance {var:.3g} ± "
            f"{var_se:.3g}); sample more rows")
    se = _jackknife_se(reps_skew, s, n)
    spread = _pair_interactions(compressed, c, S, dS, reps_skew, float(skew), n)
    if spread is not None:
        # Efron–Stein: the jackknife counts the k-th order part of the variance k times
        # (see PAIR_SHARE)
        jack = se ** 2 / max(1e-300, 1 - s / n)
        se = float(np.sqrt(max(jack - PAIR_SHARE * spread, 0.25 * jack) * (1 - s / n)))
    return float(skew), se, None


_MAX_PAIRS = 2_000_000  # ~100 MB of sparse pairs at most; beyond, the plain jackknife


def _pair_interactions(compressed, c, S, dS, reps, skew, n):
    """Σ over pairs of sampled lists sharing an item of their second-order jackknife
    interaction ``(T − T₋ᵢ − T₋ⱼ + T₋ᵢⱼ)²`` (pairs sharing nothing are left out: their
    interaction is only the curvature of the ratio, and leaving it out keeps the
    correction conservative). None when the pairs are too many to list."""
    from scipy import sparse

    s, k = compressed.shape
    if float((c * (c - 1)).sum()) / 2 > _MAX_PAIRS:
        return None
    A = sparse.csr_matrix((np.ones(s * k), (np.repeat(np.arange(s), k), compressed.ravel())),
                          shape=(s, c.size))
    shared = sparse.triu(A @ A.T, k=1).tocoo()
    if shared.nnz == 0:
        return 0.0
    third = A @ sparse.diags(6 * (c - 2)) @ A.T
    i, j = shared.row, shared.col
    S_ij = S[None, :] - dS[i] - dS[j]
    S_ij[:, 1] += 2 * shared.data
    S_ij[:, 2] += np.asarray(third[i, j]).ravel()
    T_ij, _ = _moments(S_ij, n, s - 2)
    return float(((skew - reps[i] - reps[j] + T_ij) ** 2).sum())


def _antihub_weights(c: np.ndarray, f: float) -> np.ndarray:
    return (1.0 - 1.0 / f) ** c


def antihub_estimate(lists: np.ndarray, n: int):
    """(share, standard error, upper bound, reason or None) of items with N_k = 0.

    ``upper bound``: the share of items in none of the sampled lists (every antihub is
    one). The estimate needs ``s/n ≥`` :data:`ANTIHUB_MIN_FRACTION`; below it is None.
    """
    s, k = lists.shape
    _, c, compressed = _counts(lists)
    unseen = (n - c.size) / n
    if s >= n:
        return unseen, 0.0, unseen, None
    f = s / n
    if f < ANTIHUB_MIN_FRACTION:
        return None, None, unseen, (
            f"only {f:.1%} of the rows are sampled: an item in one list is missed with "
            f"probability {1 - f:.1%}, so items in no list cannot be told from items in "
            f"few (the unbiased estimator needs ≥ {ANTIHUB_MIN_FRACTION:.0%})")
    share = ((n - c.size) + _antihub_weights(c, f).sum()) / n
    f1 = (s - 1) / n
    base = (n - c.size) + _antihub_weights(c, f1).sum()
    cl = c[compressed].astype(np.float64)
    change = (_antihub_weights(cl - 1, f1) - _antihub_weights(cl, f1)).sum(axis=1)
    se = _jackknife_se((base + change) / n, s, n)
    return float(share), se, unseen, None


def _grid(k: int, n: int, f: float, c_max: int) -> np.ndarray:
    """Support of N for the deconvolution: every integer up to 6k, geometric above."""
    top = int(min(n - 1, np.ceil((c_max + 4 * np.sqrt(c_max) + 4) / f)))
    low = np.arange(0, min(top, 6 * k) + 1)
    if top <= low[-1]:
        return low.astype(np.float64)
    high = np.unique(np.round(np.geomspace(low[-1] + 1, top, 120)))
    return np.concatenate([low, high]).astype(np.float64)


def _hypergeom_pmf(c, n: int, N, s: int):
    """P(c | N): c of the s sampled lists among the N (of n) that hold the item."""
    from scipy.special import gammaln

    def log_choose(a, b):
        ok = (b >= 0) & (b <= a)
        a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
        return np.where(ok, gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1), -np.inf)

    return np.exp(log_choose(N, c) + log_choose(n - N, s - c) - log_choose(float(n), float(s)))


def _npmle_share(c: np.ndarray, n: int, s: int, grid: np.ndarray, threshold: float) -> float:
    """Share of items with N ≥ threshold under the NPMLE of N's distribution (EM)."""
    values, counts = np.unique(np.concatenate([c, [0]]), return_counts=True)
    counts[0] += n - c.size - 1  # unseen items (the appended 0 counted once)
    kernel = np.maximum(_hypergeom_pmf(values[:, None].astype(np.float64), n, grid[None, :], s),
                        1e-300)
    weights = np.full(grid.size, 1.0 / grid.size)
    share_of_items = counts / n
    for _ in range(_EM_ITERATIONS):
        mix = kernel @ weights
        weights = weights * (kernel.T @ (share_of_items / mix))
    return float(weights[grid >= threshold].sum() / weights.sum())


def hub_estimate(lists: np.ndarray, n: int, rng: np.random.Generator):
    """(share, standard error, reason or None) of items with N_k ≥ 2k (hubs)."""
    s, k = lists.shape
    _, c, compressed = _counts(lists)
    threshold = 2 * k
    if s >= n:
        return float((c >= threshold).sum() / n), 0.0, None
    f = s / n
    if threshold * f < HUB_MIN_COUNT:
        return None, None, (
            f"an item at the hub threshold (N_k = {threshold}) is expected in "
            f"{threshold * f:.2g} of the {s:,} sampled lists; telling hubs from the rest "
            f"needs ≥ {HUB_MIN_COUNT:g} (sample ≥ {int(np.ceil(HUB_MIN_COUNT / threshold * n)):,} rows)")
    grid = _grid(k, n, f, int(c.max()))
    share = _npmle_share(c, n, s, grid, threshold)
    groups = np.array_split(rng.permutation(s), GROUPS)
    reps = []
    for g in groups:
        left_out = np.bincount(compressed[g].ravel(), minlength=c.size)
        reps.append(_npmle_share(c - left_out, n, s - g.size, grid, threshold))
    return share, _jackknife_se(np.array(reps), s, n, GROUPS), None
