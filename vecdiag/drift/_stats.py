"""The three two-sample tests behind :func:`vecdiag.drift`, as private cores.

Inputs are already checked (float64, finite, same dimension, enough rows). Each core
takes the pooled sample ``Z`` (the first set's rows, ``m`` of them, then the ``n`` rows
of the other) and returns the observed statistic and its permutation null distribution.
Every statistic is symmetric in the two sets, so :func:`vecdiag.drift` passes them in an
order of its own (the smaller first), not the order of its arguments.

Each core also returns the ``tolerance`` of its statistic: a bound on its float64
rounding error, within which a null value counts as equal to the observed one (see
:mod:`._permutation`, which draws the permutations and turns a null into a p-value).
"""

from __future__ import annotations

import numpy as np

from ._permutation import run_permutations

# Rows of the N x N distance matrix screened for rounding noise at a time.
_ROWS_PER_STEP = 512


# --------------------------------------------------------------------------- MMD


def squared_distances(Z: np.ndarray) -> np.ndarray:
    """(N, N) squared euclidean distances ``|z_i|² + |z_j|² - 2 z_i·z_j``, at least 0.

    subtle: the formula's rounding error is about ``d·eps·(|z_i|² + |z_j|²)``, so two
    exact copies came out at a distance of 1e-13 or so, not 0, and the median heuristic
    took that noise for the bandwidth when most pairs are copies. A distance within
    that error is 0. For the same reason the rows are centred first (distances do not
    change): a common offset large beside the spread (values 1e9 + N(0, 1)) made every
    distance rounding noise.
    """
    N, d = Z.shape
    Z = Z - Z.mean(axis=0)
    sq = np.einsum("ij,ij->i", Z, Z)
    D = Z @ Z.T  # then in place: one N x N matrix, no temporaries of that size
    D *= -2.0
    D += sq[:, None]
    D += sq[None, :]
    resolution = 4.0 * (d + 2) * np.finfo(np.float64).eps
    for start in range(0, N, _ROWS_PER_STEP):
        block = D[start:start + _ROWS_PER_STEP]  # a view: zeroed in place
        block[block <= resolution * (sq[start:start + _ROWS_PER_STEP, None] + sq)] = 0.0
    np.fill_diagonal(D, 0.0)
    return D


def median_bandwidth(D: np.ndarray) -> tuple[float, str]:
    """Median heuristic: σ = median distance between distinct pooled points.

    Falls back to the median of the non-zero distances when more than half the pairs
    coincide, and to σ = 1 when every point is the same (the kernel is then constant).
    """
    dist = np.sqrt(D[np.triu_indices(D.shape[0], k=1)])
    med = float(np.median(dist))
    if med > 0:
        return med, "median heuristic"
    positive = dist[dist > 0]
    if positive.size:
        return float(np.median(positive)), "median of non-zero distances"
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

    observed, null = run_permutations(stat_of, rng, N, m, P, "MMD permutations",
                                      2.0 * N * N / 4e9, show)
    # subtle: each kernel sum above is a sum of N non-negative terms at most S, with a
    # rounding error within N·eps·S (S itself is shared by every labelling); twice the
    # few such errors of each term, for the observed and for a null value
    scale = S * (1.0 / (m * (m - 1)) + 1.0 / (n * (n - 1)) + 2.0 / (m * n))
    tolerance = 16.0 * N * np.finfo(np.float64).eps * scale
    return {"statistic": observed, "null": null, "tolerance": tolerance, "bandwidth": sigma,
            "bandwidth_rule": rule}


def mmd2_unbiased(X: np.ndarray, Y: np.ndarray, sigma: float) -> float:
    """Unbiased MMD² between two samples for a fixed RBF bandwidth σ (no test).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> round(mmd2_unbiased(X, X + 5.0, 1.0), 4)
    0.8963
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
    # subtle: the rows are centred first (a difference of means does not change): with a
    # common offset large beside the spread (values 1e12 + N(0, 1)) the sums' rounding
    # bound below grew past every statistic, and a 1-sd shift read as p = 1, "no drift"
    Z = Z - Z.mean(axis=0)
    total = Z.sum(axis=0)

    def stat_of(A: np.ndarray) -> np.ndarray:
        ref_sum = A.T @ Z
        diff = (total - ref_sum) / n - ref_sum / m
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))

    observed, null = run_permutations(stat_of, rng, N, m, P, "mean-shift permutations",
                                      2.0 * N * d / 4e9, show)
    # subtle: a column sum of N terms errs by at most N·eps·Σ|z|, which the two means
    # scale by 1/m and 1/n; then d squares summed (for the observed and a null value)
    spread = float(np.linalg.norm(np.abs(Z).sum(axis=0))) * (1.0 / m + 1.0 / n)
    tolerance = 4.0 * np.finfo(np.float64).eps * (N * spread + d * observed)
    return {"statistic": observed, "null": null, "tolerance": tolerance}


def standardized_shift(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per dimension ``(mean_cur - mean_ref) / s_pooled`` (Cohen's d).

    ``s_pooled² = ((m-1) s_ref² + (n-1) s_cur²) / (m + n - 2)``. A dimension constant in
    both sets scores 0 when the means agree and ±inf when they differ, "constant" and
    "agree" read to rounding: a column of 0.1 in both sets has means that differ in the
    last bit and a spread of 1e-17, which would otherwise make a shift of ~1 s.d.

    Examples
    --------
    >>> ref = np.c_[np.arange(5.0), np.full(5, 0.1)]
    >>> standardized_shift(ref, np.c_[np.arange(7.0) + 1, np.full(7, 0.1)])[1]
    np.float64(0.0)
    """
    m, n = ref.shape[0], cur.shape[0]
    mean_ref, mean_cur = ref.mean(axis=0), cur.mean(axis=0)
    diff = mean_cur - mean_ref
    pooled = np.sqrt(((m - 1) * ref.var(axis=0, ddof=1) + (n - 1) * cur.var(axis=0, ddof=1))
                     / (m + n - 2))
    # rounding of a mean of values near |mu|: a few ulps of the column's own scale
    scale = np.maximum(np.abs(ref).max(axis=0), np.abs(cur).max(axis=0))
    noise = 64 * np.finfo(np.float64).eps * scale
    flat = pooled <= noise
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / pooled
    z[flat & (np.abs(diff) <= noise)] = 0.0
    z[flat & (np.abs(diff) > noise)] = np.sign(diff[flat & (np.abs(diff) > noise)]) * np.inf
    return z


# ---------------------------------------------------------------------- classifier


def random_folds(rng: np.random.Generator, Z: np.ndarray, m: int, n_folds: int) -> np.ndarray:
    """Fold number of each row of ``Z`` (``m`` reference rows, then current rows): a
    uniformly random partition into near-equal folds.

    Not stratified on purpose: folds drawn independently of the labels keep the
    permutation test exact (a stratified split depends on the labels it is tested on).

    subtle: the partition is drawn over the rows sorted by content (their bytes), not by
    position. By position, a vector's fold depended on whether it stood among the first
    ``m`` rows (reference) or the last ``n`` (current), so ``drift(a, b)`` and
    ``drift(b, a)`` split the same vectors differently: held-out AUC 0.650 against 0.623
    for 40 vs 30 rows. By content, a vector gets the same fold in both calls, and the
    AUC (symmetric in the two classes) is the same. Copies of one vector in both sets
    (binary vectors, a popular query) are ordered by set, the same set first in both
    calls (:func:`_first_set`); which copy takes which of their folds does not change
    the multiset of (vector, fold) pairs, so the folds stay independent of the labels.
    """
    N = Z.shape[0]
    rows = np.ascontiguousarray(Z).view(np.dtype((np.void, Z.dtype.itemsize * Z.shape[1])))
    rows = rows.ravel()
    by_set = np.arange(N) if _first_set(rows[:m], rows[m:]) == 0 else np.r_[m:N, 0:m]
    by_content = by_set[np.argsort(rows[by_set], kind="stable")]
    folds = np.empty(N, dtype=np.int64)
    folds[by_content[rng.permutation(N)]] = np.arange(N) % n_folds
    return folds


def _first_set(a: np.ndarray, b: np.ndarray) -> int:
    """0 or 1: which of two sets of rows (as bytes) comes first, whatever their order of
    arguments: the smaller set, or for equal sizes the one whose sorted rows come first."""
    if a.size != b.size:
        return 0 if a.size < b.size else 1
    sa, sb = np.sort(a), np.sort(b)
    differ = np.flatnonzero(sa != sb)
    if differ.size == 0:
        return 0          # the same rows: either order gives the same folds
    i = differ[0]
    return 0 if sa[i].tobytes() < sb[i].tobytes() else 1


def auc_columns(S: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """ROC AUC of each column of scores ``S`` against the 0/1 labels in ``Y``.

    Mann-Whitney form with mid-ranks for ties:
    ``AUC = (Σ ranks of the positives - n₁(n₁+1)/2) / (n₁ n₀)``.
    """
    from scipy.stats import rankdata

    ranks = rankdata(S, axis=0)
    n1 = Y.sum(axis=0)
    n0 = Y.shape[0] - n1
    return (np.einsum("ij,ij->j", ranks, Y) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def _standardized_folds(Z: np.ndarray, folds: np.ndarray, n_folds: int):
    """Per fold: train rows, test rows, both standardised with the training mean/sd."""
    eps = np.finfo(np.float64).eps
    for f in range(n_folds):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        mu = Z[train].mean(axis=0)
        sd = Z[train].std(axis=0)
        # subtle: a column constant in the training rows (0.3 in every row) has a spread
        # of rounding noise (4e-16), and dividing by it made a constant ±1 feature, an
        # intercept that shifted each fold's scores; constant to rounding by the bound
        # of scikit-learn's StandardScaler, it is left unscaled (about 0) instead
        n = train.size
        sd[sd * sd <= n * eps * sd * sd + (n * eps * mu) ** 2] = 1.0
        yield train, test, (Z[train] - mu) / sd, (Z[test] - mu) / sd


def _ridge_scorer(Xtr: np.ndarray, Xte: np.ndarray, penalty: float):
    """Held-out scores ``Xte w`` of ridge regression on 0/1 labels, for many label columns.

    ``w = (XᵀX + λI)⁻¹ Xᵀ y`` (training columns centred, so no intercept is needed and
    the held-out ranking ignores it). The factorisation depends on X only: one Cholesky
    serves every permutation. Uses the n x n dual form when there are fewer rows than
    dimensions.
    """
    from scipy.linalg import cho_solve

    n, d = Xtr.shape
    if n >= d:
        factor = _ridge_factor(Xtr.T @ Xtr, penalty)
        return lambda Ytr: Xte @ cho_solve(factor, Xtr.T @ Ytr)
    factor = _ridge_factor(Xtr @ Xtr.T, penalty)
    cross = Xte @ Xtr.T
    return lambda Ytr: cross @ cho_solve(factor, Ytr)


def _ridge_factor(gram: np.ndarray, penalty: float):
    """Cholesky factor of ``gram + λI``; a λ lost in the rounding of a singular Gram
    matrix (copies, constant columns, more dimensions than rows) is a clear error."""
    from scipy.linalg import LinAlgError, cho_factor

    try:
        return cho_factor(gram + penalty * np.eye(gram.shape[0]))
    except LinAlgError:
        raise ValueError(f"penalty={penalty!r} is too small for the classifier's ridge "
                         "system: with repeated rows, constant columns or more dimensions "
                         "than rows it is singular in float64; use a larger penalty (the "
                         "default 1.0)") from None


def _logistic_scorer(Xtr: np.ndarray, Xte: np.ndarray, penalty: float):
    """Held-out scores of a logistic regression refitted for every label column.

    A training fold holding one class only (a small set beside a large one, few folds:
    some permutations put every row of the small set in the held-out fold) has no
    classifier to fit: its intercept-only model scores every held-out row alike (0, as
    ridge's weights are 0 on centred features then).
    """
    from sklearn.linear_model import LogisticRegression

    def score(Ytr: np.ndarray) -> np.ndarray:
        out = np.zeros((Xte.shape[0], Ytr.shape[1]))
        for j in range(Ytr.shape[1]):
            if Ytr[:, j].min() == Ytr[:, j].max():
                continue
            model = LogisticRegression(C=1.0 / penalty, max_iter=1000).fit(Xtr, Ytr[:, j])
            out[:, j] = Xte @ model.coef_[0]  # the intercept does not change a ranking
        return out

    return score


def classifier_permutation(Z: np.ndarray, m: int, P: int, rng: np.random.Generator,
                           n_folds: int, penalty: float, model: str = "ridge",
                           show=None) -> dict:
    """Cross-validated domain classifier: held-out ROC AUC, and its exact permutation null.

    Rows are split into ``n_folds`` random folds; a standardise + linear classifier
    fitted on the other folds scores each held-out row, and the statistic is the ROC
    AUC of all held-out scores (the last ``n`` rows = positive class; swapping the
    classes flips every refitted model's scores and leaves the AUC as it was: ridge on
    centred features scores ``1 - y`` as ``-1 x`` those of ``y``, logistic regression with
    its intercept is symmetric in its classes). Each permutation relabels
    the rows and *refits* every fold's classifier, so the null is exact. For
    ``model="ridge"`` (least squares on 0/1 labels, L2 penalty λ) the refit is one
    matrix product for all permutations; ``model="logistic"`` refits
    ``n_folds * n_permutations`` logistic regressions (C = 1/λ).
    """
    N, d = Z.shape
    folds = random_folds(rng, Z, m, n_folds)
    make = _ridge_scorer if model == "ridge" else _logistic_scorer
    prepared = [(train, test, make(Xtr, Xte, penalty))
                for train, test, Xtr, Xte in _standardized_folds(Z, folds, n_folds)]

    def stat_of(A: np.ndarray) -> np.ndarray:
        Y = 1.0 - A  # the last n rows are the positive class
        S = np.empty_like(Y)
        for train, test, score in prepared:
            S[test] = score(Y[train])
        return auc_columns(S, Y)

    per_perm = (2.0 * N * d / 4e9) if model == "ridge" else 0.02 * n_folds * (1 + N * d / 1e5)
    observed, null = run_permutations(stat_of, rng, N, m, P, f"classifier ({model}) permutations",
                                      per_perm, show)
    # sums of (mid-)ranks are exact in float64 and every AUC shares one denominator
    return {"statistic": observed, "null": null, "tolerance": 0.0}
