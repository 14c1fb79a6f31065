"""The three two-sample tests behind :func:`vecdiag.drift`, as private cores.

Inputs are already checked (float64, finite, same dimension, enough rows). Each core
takes the pooled sample ``Z`` (reference rows first, ``m`` of them, then ``n`` current
rows) and returns the observed statistic and its permutation null distribution.

Permutation p-values use the add-one rule ``p = (1 + #{null >= observed}) / (1 + P)``,
which is a valid p-value for any number of permutations ``P``: under no drift,
``P(p <= alpha) <= alpha`` exactly (Phipson & Smyth 2010).
"""

from __future__ import annotations

import numpy as np

from .._progress import progress_bar

# Permutations evaluated per matrix product: bounds memory to ~(N x _CHUNK) floats.
_CHUNK = 128


def random_subsets(rng: np.random.Generator, N: int, m: int, P: int) -> np.ndarray:
    """(N, P) 0/1 matrix: column j marks a uniformly random m-subset of N positions."""
    keys = rng.random((P, N))
    chosen = np.argpartition(keys, m - 1, axis=1)[:, :m] if m < N else np.tile(np.arange(N), (P, 1))
    A = np.zeros((N, P))
    A[chosen, np.arange(P)[:, None]] = 1.0
    return A


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """Add-one permutation p-value (larger statistics are more extreme)."""
    return float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))


def critical_value(null: np.ndarray, alpha: float) -> float:
    """The statistic value above which the test rejects at level ``alpha``.

    With the add-one rule, ``p <= alpha`` holds exactly when fewer than
    ``j + 1 = floor(alpha (P + 1))`` null values reach the observed one, i.e. when the
    observed statistic exceeds the ``(j + 1)``-th largest null value: ``drifted`` is
    ``statistic > threshold``.
    """
    j = int(np.floor(alpha * (null.size + 1) + 1e-9)) - 1
    if j < 0:
        return float("inf")
    return float(np.sort(null)[::-1][j])


def _run_permutations(stat_of, rng, N: int, m: int, P: int, desc: str,
                      seconds_per_perm: float, show) -> tuple[float, np.ndarray]:
    """Observed statistic (identity labelling) and ``P`` permuted ones, in chunks."""
    identity = np.zeros((N, 1))
    identity[:m] = 1.0
    observed = float(stat_of(identity)[0])
    null = np.empty(P)
    with progress_bar(P, desc=desc, show=show, expected_seconds=seconds_per_perm * P) as bar:
        for start in range(0, P, _CHUNK):
            stop = min(P, start + _CHUNK)
            null[start:stop] = stat_of(random_subsets(rng, N, m, stop - start))
            bar.update(stop - start)
    return observed, null


# --------------------------------------------------------------------------- MMD


def squared_distances(Z: np.ndarray) -> np.ndarray:
    """(N, N) squared euclidean distances ``|z_i|² + |z_j|² - 2 z_i·z_j``, clipped at 0."""
    sq = np.einsum("ij,ij->i", Z, Z)
    D = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
    np.maximum(D, 0.0, out=D)
    np.fill_diagonal(D, 0.0)
    return D


def median_bandwidth(D: np.ndarray) -> tuple[float, str]:
    """Median heuristic: σ = median distance between distinct pooled points.

    Falls back to the median of the non-zero distances when more than half the pairs
    coincide, and to σ = 1 when every point is the same (the kernel is then constant).
    """
    upper = D[np.triu_indices(D.shape[0], k=1)]
    med = float(np.median(upper))
    if med > 0:
        return float(np.sqrt(med)), "median heuristic"
    positive = upper[upper > 0]
    if positive.size:
        return float(np.sqrt(np.median(positive))), "median of non-zero distances"
    return 1.0, "all points coincide (kernel constant)"


def mmd_permutation(Z: np.ndarray, m: int, bandwidth: float | None, P: int,
                    rng: np.random.Generator, show=None) -> dict:
    """Unbiased MMD² with an RBF kernel and its permutation null.

    With ``K0`` the pooled kernel matrix with a zero diagonal, ``a`` the 0/1 indicator
    of the reference rows, ``r = K0 1`` and ``S = 1ᵀ K0 1``::

        Σ_{i≠j ∈ ref} k = aᵀ K0 a        Σ_{i ∈ ref, j ∈ cur} k = aᵀ r - aᵀ K0 a
        Σ_{i≠j ∈ cur} k = S - 2 aᵀ r + aᵀ K0 a

    so one matrix product ``K0 @ A`` scores a whole block of permutations.
    """
    N = Z.shape[0]
    n = N - m
    D = squared_distances(Z)
    if bandwidth is None:
        sigma, rule = median_bandwidth(D)
    else:
        sigma, rule = float(bandwidth), "given"
    K = np.exp(D / (-2.0 * sigma * sigma), out=D)  # reuse D's memory
    np.fill_diagonal(K, 0.0)
    r = K.sum(axis=1)
    S = float(r.sum())

    def stat_of(A: np.ndarray) -> np.ndarray:
        KA = K @ A
        xx = np.einsum("ij,ij->j", A, KA)
        ar = A.T @ r
        xy = ar - xx
        yy = S - 2.0 * ar + xx
        return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)

    observed, null = _run_permutations(stat_of, rng, N, m, P, "MMD permutations",
                                       2.0 * N * N / 4e9, show)
    return {"statistic": observed, "null": null, "bandwidth": sigma, "bandwidth_rule": rule}


def mmd2_unbiased(X: np.ndarray, Y: np.ndarray, sigma: float) -> float:
    """Unbiased MMD² between two samples for a fixed RBF bandwidth σ (no test).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> round(mmd2_unbiased(X, X + 5.0, 1.0), 4)
    0.7617
    """
    Z = np.vstack([X, Y])
    K = np.exp(squared_distances(Z) / (-2.0 * sigma * sigma))
    m, n = X.shape[0], Y.shape[0]
    Kxx, Kyy, Kxy = K[:m, :m], K[m:, m:], K[:m, m:]
    return float((Kxx.sum() - np.trace(Kxx)) / (m * (m - 1))
                 + (Kyy.sum() - np.trace(Kyy)) / (n * (n - 1)) - 2.0 * Kxy.mean())


# ---------------------------------------------------------------------- mean shift


def mean_shift_permutation(Z: np.ndarray, m: int, P: int, rng: np.random.Generator,
                           show=None) -> dict:
    """Euclidean distance between the two means and its permutation null.

    For a 0/1 reference indicator ``a``: ``mean_ref = aᵀZ / m`` and
    ``mean_cur = (1ᵀZ - aᵀZ) / n``; ``Aᵀ Z`` scores a block of permutations at once.
    """
    N, d = Z.shape
    n = N - m
    total = Z.sum(axis=0)

    def stat_of(A: np.ndarray) -> np.ndarray:
        ref_sum = A.T @ Z
        diff = (total - ref_sum) / n - ref_sum / m
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))

    observed, null = _run_permutations(stat_of, rng, N, m, P, "mean-shift permutations",
                                       2.0 * N * d / 4e9, show)
    return {"statistic": observed, "null": null}


def standardized_shift(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per dimension ``(mean_cur - mean_ref) / s_pooled`` (Cohen's d).

    ``s_pooled² = ((m-1) s_ref² + (n-1) s_cur²) / (m + n - 2)``. A dimension constant in
    both sets scores 0 when the means agree and ±inf when they differ.
    """
    m, n = ref.shape[0], cur.shape[0]
    diff = cur.mean(axis=0) - ref.mean(axis=0)
    pooled = np.sqrt(((m - 1) * ref.var(axis=0, ddof=1) + (n - 1) * cur.var(axis=0, ddof=1))
                     / (m + n - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / pooled
    z[(pooled == 0) & (diff == 0)] = 0.0
    return z


# ---------------------------------------------------------------------- classifier


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


def classifier_permutation(Z: np.ndarray, m: int, P: int, rng: np.random.Generator,
                           n_folds: int, C: float, show=None) -> dict:
    """Cross-validated domain classifier: mean held-out ROC AUC and its null.

    A standardise + logistic-regression pipeline is fitted on ``n_folds - 1`` folds
    (stratified, shuffled) and scores the held-out fold; the statistic is the mean of
    the per-fold AUCs (as ``sklearn.model_selection.cross_val_score(scoring="roc_auc")``).
    Null: within each fold the held-out labels are permuted over the fixed held-out
    scores (no refit). AUC of a fold = ``(Σ ranks of current rows - n₁(n₁+1)/2) / (n₁ n₀)``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    N = Z.shape[0]
    y = np.r_[np.zeros(m, dtype=int), np.ones(N - m, dtype=int)]
    seed = int(rng.integers(2**31 - 1))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_auc = []
    null = np.zeros(P)
    converged = True
    with progress_bar(n_folds, desc="domain classifier folds", show=show,
                      expected_seconds=N * Z.shape[1] * n_folds / 2e7) as bar:
        for train, test in folds.split(Z, y):
            model = make_pipeline(StandardScaler(),
                                  LogisticRegression(C=C, max_iter=1000))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(Z[train], y[train])
            converged &= not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            ranks = _midranks(model.decision_function(Z[test]))
            y_test = y[test]
            n1 = int(y_test.sum())
            n0 = y_test.size - n1
            base = n1 * (n1 + 1) / 2.0
            fold_auc.append((ranks[y_test == 1].sum() - base) / (n1 * n0))
            A = random_subsets(rng, y_test.size, n1, P)
            null += (ranks @ A - base) / (n1 * n0)
            bar.update(1)
    null /= n_folds
    return {"statistic": float(np.mean(fold_auc)), "null": null,
            "fold_auc": [float(a) for a in fold_auc], "cv_seed": seed,
            "converged": bool(converged)}
