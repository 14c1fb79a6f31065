"""Tests for vecdiag.fixes: transformers against scikit-learn, re-rankers against
brute-force re-implementations of their formulas, apply_fix against the steps it chains."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import norm as normal_dist
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

import vecdiag as vd
from vecdiag.fixes import (AllButTheTop, Center, Normalize, Whiten, apply_fix, csls, deduplicate,
                           hybrid, mmr, mutual_proximity)


def unit(X):
    X = np.asarray(X, dtype=float)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def rank_order(keys):
    """Reference ranking: key descending, ties by lower index (np.lexsort, stable)."""
    return np.array([np.lexsort((np.arange(row.size), -row)) for row in keys])


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    shared = rng.normal(size=12) * 3  # a common direction: anisotropic like real embeddings
    C = rng.normal(size=(120, 12)) + shared
    Q = rng.normal(size=(9, 12)) + shared
    return Q, C


# ----------------------------------------------------------------- transformers

ESTIMATORS = [Center(normalize_first=False), Whiten(normalize_first=False),
              Whiten(n_components=2, normalize_first=False, regularization=0.0),
              AllButTheTop(normalize_first=False), AllButTheTop(n_remove=1, normalize_first=False),
              Center(zero="ignore"), Normalize(zero="ignore"), Whiten(zero="ignore"),
              AllButTheTop(zero="ignore")]


@pytest.mark.parametrize("est", ESTIMATORS, ids=repr)
def test_check_estimator(est):
    check_estimator(est)


@pytest.mark.parametrize("est", [Center(), Normalize(), Whiten(), AllButTheTop()], ids=repr)
def test_check_estimator_defaults_only_refuse_zero_rows(est):
    """With the defaults every sklearn check passes except the one feeding integer data
    that contains an all-zero row: vecdiag refuses to give a zero vector a direction."""
    results = check_estimator(est, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert [r["check_name"] for r in failed] == ["check_estimators_dtypes"]
    assert "zero vector" in str(failed[0]["exception"])


def test_center_zero_mean_and_normalize_first(data):
    _, C = data
    out = Center().fit_transform(C)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out, unit(C) - unit(C).mean(axis=0))
    raw = Center(normalize_first=False).fit(C)
    np.testing.assert_allclose(raw.mean_, C.mean(axis=0))


def test_fitted_on_corpus_applied_to_queries(data):
    Q, C = data
    fix = Center().fit(C)
    np.testing.assert_allclose(fix.transform(Q), unit(Q) - unit(C).mean(axis=0))


def test_normalize_and_zero_rows(with_zero_row):
    out = Normalize().fit_transform(with_zero_row[:5])
    assert out.shape == (5, 16)
    with pytest.raises(ValueError, match=r"zero vector at row 7.*zero=.ignore."):
        Normalize().fit_transform(with_zero_row)
    kept = Normalize(zero="ignore").fit_transform(with_zero_row)
    assert np.all(kept[7] == 0)
    np.testing.assert_allclose(np.linalg.norm(np.delete(kept, 7, 0), axis=1), 1)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_whiten_identity_covariance(data, normalize_first):
    _, C = data
    Z = Whiten(normalize_first=normalize_first).fit_transform(C)
    # after unit-normalising, one direction (the norm constraint) keeps tiny variance:
    # only check the directions that carry variance well above the regulariser.
    cov = np.cov(Z, rowvar=False)
    keep = np.diag(cov) > 0.5
    assert keep.sum() >= C.shape[1] - 1
    np.testing.assert_allclose(cov[np.ix_(keep, keep)], np.eye(keep.sum()), atol=1e-4)


def test_whiten_matches_sklearn_pca_whiten(data):
    _, C = data
    ours = Whiten(n_components=5, regularization=0.0, normalize_first=False).fit(C)
    ref = PCA(n_components=5, whiten=True, svd_solver="full").fit(C)
    a, b = ours.transform(C), ref.transform(C)
    signs = np.sign((a * b).sum(axis=0))  # axes are defined up to sign
    np.testing.assert_allclose(a, b * signs, atol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_)
    assert list(ours.get_feature_names_out()) == [f"whiten{i}" for i in range(5)]


def test_whiten_float32_stays_float32(data):
    _, C = data
    out = Whiten().fit(C.astype(np.float32)).transform(C.astype(np.float32))
    assert out.dtype == np.float32


def test_whiten_float32_far_from_the_origin_matches_float64(rng):
    """Vectors around 3e19 fit float32, but mean·mean (9e38 x d) does not: judged in
    float32 it overflowed, every direction read as without variance and every output
    was 0. The float32 fit now equals the float64 one."""
    X = 3e19 + 1e19 * rng.normal(size=(200, 4))
    ref = Whiten(normalize_first=False).fit(X)
    ours = Whiten(normalize_first=False).fit(X.astype(np.float32))
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-5)
    out = ours.transform(X.astype(np.float32))
    np.testing.assert_allclose(np.cov(out.astype(np.float64).T), np.eye(4), atol=1e-3)


@pytest.mark.parametrize("d, expected", [(2, 1), (12, 1), (149, 1), (150, 2), (249, 2),
                                         (250, 3), (384, 4), (768, 8), (1536, 15)])
def test_all_but_the_top_default_d(d, expected):
    from vecdiag.fixes.transformers import default_n_remove

    assert default_n_remove(d) == expected


def test_all_but_the_top_default_used_by_fit():
    X = np.random.default_rng(0).normal(size=(30, 250))  # fewer rows than dimensions is fine
    fix = AllButTheTop().fit(X)
    assert fix.n_remove_ == 3 and fix.components_.shape == (3, 250)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_all_but_the_top_orthogonal_and_zero_mean(data, normalize_first):
    Q, C = data
    fix = AllButTheTop(n_remove=3, normalize_first=normalize_first).fit(C)
    out = fix.transform(C)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out @ fix.components_.T, 0, atol=1e-12)
    np.testing.assert_allclose(fix.transform(Q) @ fix.components_.T, 0, atol=1e-12)
    X = unit(C) if normalize_first else C
    ref = PCA(n_components=3, svd_solver="full").fit(X)
    np.testing.assert_allclose(np.abs(fix.components_ @ ref.components_.T), np.eye(3), atol=1e-8)
    assert list(fix.get_feature_names_out()) == [f"x{i}" for i in range(C.shape[1])]


@pytest.mark.parametrize("n_remove", [4, 5, 8])
def test_all_but_the_top_past_the_corpus_rank_removes_only_real_directions(n_remove):
    """5 rows in 10 dimensions vary along 4 directions. Asked for more, the fix removed
    directions the corpus does not vary along either: an arbitrary basis of the null
    space (LAPACK's choice, which changed with the row order), cutting arbitrary parts
    off the queries (outputs differed by 1.6 between two orders of the same rows).
    Reference: the query minus its projection on the span of the centred rows."""
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(5, 10)), rng.normal(size=(3, 10))
    Xc, Qc = X - X.mean(axis=0), Q - X.mean(axis=0)
    ref = Qc - Qc @ np.linalg.pinv(Xc) @ Xc        # all 4 real directions removed
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 0, 2, 4, 3]):
        fix = AllButTheTop(n_remove=n_remove, normalize_first=False).fit(X[order])
        np.testing.assert_allclose(fix.transform(Q), ref, atol=1e-12)
        assert fix.n_remove_ == 4 and fix.components_.shape == (4, 10)


@pytest.mark.parametrize("est", [Whiten, AllButTheTop])
def test_a_copy_with_minus_zero_is_transformed_as_its_original(est):
    """A row equal to another but for -0.0 where the other has 0.0 is the same vector
    (the same score against every query under every metric), but the check that gives
    copies their original's output compared bytes: here (5 x 8, float64) the -0.0 copy
    came out 1e-16 off its original (BLAS rounds the last row of a tile apart) and could
    rank out of index order. It now gets exactly the original's output, as a copy does."""
    X = np.random.default_rng(0).normal(size=(5, 8))
    X[0, 0] = 0.0
    X[4] = X[0]
    X[4, 0] = -0.0
    T = est().fit(X).transform(X)
    assert T[4].tobytes() == T[0].tobytes()


def test_pipeline(data):
    Q, C = data
    pipe = make_pipeline(AllButTheTop(n_remove=2), Whiten(n_components=4)).fit(C)
    a = AllButTheTop(n_remove=2).fit(C)
    w = Whiten(n_components=4).fit(a.transform(C))
    np.testing.assert_allclose(pipe.transform(Q), w.transform(a.transform(Q)))


def test_transformer_bad_input(data):
    Q, C = data
    with pytest.raises(ValueError, match="n_remove=12 must be smaller than the dimension"):
        AllButTheTop(n_remove=12).fit(C)
    with pytest.raises(ValueError, match="n_components=13 is larger than the dimension"):
        Whiten(n_components=13).fit(C)
    with pytest.raises(ValueError, match="X has 3 features, but Center is expecting 12"):
        Center().fit(C).transform(Q[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        Center().fit(np.where(np.eye(12, dtype=bool)[:1], np.nan, C[:1]))


# ----------------------------------------------------------------- CSLS

def brute_csls(Q, C, K):
    S = unit(Q) @ unit(C).T
    CC = unit(C) @ unit(C).T
    np.fill_diagonal(CC, -np.inf)
    r_d = np.sort(CC, axis=1)[:, -K:].mean(axis=1)
    r_q = np.sort(S, axis=1)[:, -K:].mean(axis=1)
    return 2 * S - r_q[:, None] - r_d[None, :], S, r_d


@pytest.mark.parametrize("K", [1, 5, 10])
def test_csls_equals_formula(data, K):
    Q, C = data
    keys, S, r_d = brute_csls(Q, C, K)
    res = csls(Q, C, k=len(C), n_neighbors=K)
    order = rank_order(keys)
    np.testing.assert_array_equal(res.indices, order)
    np.testing.assert_allclose(res.scores, np.take_along_axis(keys, order, 1), atol=1e-12)
    # the documented equivalence: cosine minus half the document's neighbourhood mean
    np.testing.assert_array_equal(res.indices, rank_order(S - r_d[None, :] / 2))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reranker", [csls, mutual_proximity])
def test_rerankers_demote_a_planted_hub(seed, reranker):
    """Row 0 is the corpus's shared direction itself: close to every document (a hub)."""
    rng = np.random.default_rng(seed)
    shared = unit(rng.normal(size=(1, 16)))[0]
    C = unit(shared + 0.9 * unit(rng.normal(size=(300, 16))))
    C[0] = shared
    # CSLS demotes the hub even when the query sits nearer the hub than any document;
    # Gaussian MP saturates there (Φ -> 1 on both sides), so it is tested on a query
    # between the hub and a document, where it demotes the hub strictly overall.
    w = 1.2 if reranker is csls else 0.6
    q = unit((w * shared + C[7])[None])[0]
    before = vd.knn(q[None], C, k=300).indices[0].tolist()
    after = reranker(q[None], C, k=300).indices[0].tolist()
    assert after.index(0) >= before.index(0) + (reranker is csls)
    assert after.index(7) <= before.index(7)


def test_mutual_proximity_demotes_hub_on_average():
    moved = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        shared = unit(rng.normal(size=(1, 16)))[0]
        C = unit(shared + 0.9 * unit(rng.normal(size=(300, 16))))
        C[0] = shared
        q = unit((0.6 * shared + C[7])[None])[0]
        before = vd.knn(q[None], C, k=300).indices[0].tolist().index(0)
        moved.append(mutual_proximity(q[None], C, k=300).indices[0].tolist().index(0) - before)
    assert min(moved) >= 0 and sum(moved) >= 6


def test_csls_euclidean_and_index_cache(data):
    Q, C = data
    res = csls(Q, C, k=5, n_neighbors=3, metric="euclidean")
    D = np.linalg.norm(Q[:, None] - C[None], axis=2)
    DC = np.linalg.norm(C[:, None] - C[None], axis=2)
    np.fill_diagonal(DC, np.inf)
    r_d = np.sort(DC, axis=1)[:, :3].mean(axis=1)
    r_q = np.sort(D, axis=1)[:, :3].mean(axis=1)
    dist = 2 * D - r_q[:, None] - r_d[None, :]
    order = rank_order(-dist)[:, :5]
    np.testing.assert_array_equal(res.indices, order)
    np.testing.assert_allclose(res.scores, np.take_along_axis(dist, order, 1), atol=1e-9)
    ids = [f"doc-{i}" for i in range(len(C))]
    index = vd.Index(C, ids=ids)
    a = csls(Q, index, k=4)
    assert vd.cache_keys.csls_penalty("cosine", 10)[0] in {key[0] for key in index.cache}
    np.testing.assert_array_equal(a.indices, csls(Q, C, k=4).indices)
    assert a.ids[0, 0] == ids[a.indices[0, 0]]


def test_csls_bank_of_queries(data):
    Q, C = data
    bank = Q[:5]
    res = csls(Q, C, k=len(C), n_neighbors=2, bank=bank)
    S = unit(Q) @ unit(C).T
    r_d = np.sort(unit(C) @ unit(bank).T, axis=1)[:, -2:].mean(axis=1)
    np.testing.assert_array_equal(res.indices, rank_order(S - r_d / 2))


# ----------------------------------------------------------------- mutual proximity

def test_mutual_proximity_equals_gaussian_formula(data):
    Q, C = data
    S = unit(Q) @ unit(C).T
    CC = unit(C) @ unit(C).T
    off = ~np.eye(len(C), dtype=bool)
    mu_d = np.array([CC[i, off[i]].mean() for i in range(len(C))])
    sd_d = np.array([CC[i, off[i]].std() for i in range(len(C))])
    mu_q, sd_q = S.mean(axis=1, keepdims=True), S.std(axis=1, keepdims=True)
    mp = normal_dist.cdf((S - mu_q) / sd_q) * normal_dist.cdf((S - mu_d) / sd_d)
    res = mutual_proximity(Q, C, k=20)
    order = rank_order(mp)[:, :20]
    np.testing.assert_array_equal(res.indices, order)
    np.testing.assert_allclose(res.scores, np.take_along_axis(mp, order, 1), rtol=1e-9)


def test_mutual_proximity_sampled_and_euclidean(data):
    Q, C = data
    exact = mutual_proximity(Q, C, k=10)
    sampled = mutual_proximity(Q, C, k=10, n_samples=100, random_state=1)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact.indices, sampled.indices)])
    assert overlap > 0.7
    euc = mutual_proximity(Q, C, k=10, metric="euclidean")
    assert np.all(np.diff(euc.scores, axis=1) >= 0) and np.all((euc.scores >= 0) & (euc.scores <= 1))


def test_mutual_proximity_random_state_behaves_as_its_docstring_says(data):
    """The docstring said "random_state : int ... Seed of that sample" while a RandomState
    was accepted and advanced (scikit-learn's rule for an instance). Documented now: an
    int seed gives the same sample every call; a RandomState or Generator is drawn from
    only when a sample is drawn; queries and corpus are never written to."""
    Q, C = data
    Q, C = Q.copy(), C.copy()
    Q.setflags(write=False)
    C.setflags(write=False)
    Q0, C0 = Q.copy(), C.copy()
    a = mutual_proximity(Q, C, k=10, n_samples=30, random_state=3)
    b = mutual_proximity(Q, C, k=10, n_samples=30, random_state=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    for make, state in ((lambda: np.random.RandomState(3), lambda r: r.get_state()[1].tolist()),
                        (lambda: np.random.default_rng(3), lambda r: r.bit_generator.state)):
        closed, sampled = make(), make()
        mutual_proximity(Q, C, k=10, random_state=closed)            # closed form: no sample
        mutual_proximity(Q, C, k=10, n_samples=30, random_state=sampled)
        assert state(closed) == state(make()) and state(sampled) != state(make())
    np.testing.assert_array_equal(Q, Q0)
    np.testing.assert_array_equal(C, C0)


# ----------------------------------------------------------------- MMR

def brute_mmr(q, C, k, lam):
    """Greedy MMR written directly from the definition (cosine)."""
    rel = unit(C) @ unit(q[None])[0]
    sim = unit(C) @ unit(C).T
    chosen = []
    for _ in range(k):
        best, best_val = None, -np.inf
        for d in range(len(C)):
            if d in chosen:
                continue
            red = max((sim[d, t] for t in chosen), default=0.0)
            val = lam * rel[d] - (1 - lam) * red
            if lam == 0 and not chosen:    # every objective 0: start from the most relevant
                val = rel[d]
            if val > best_val:
                best, best_val = d, val
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("lam", [1.0, 0.7, 0.3, 0.0])
def test_mmr_equals_definition(data, lam):
    Q, C = data
    for q in Q[:3]:
        assert mmr(q, C, k=8, lambda_=lam).indices[0].tolist() == brute_mmr(q, C, 8, lam)


def test_mmr_lambda_zero_starts_from_the_query_s_best_match():
    """λ = 0: every first objective is 0; the first pick is the most relevant document
    (it was corpus row 0 whatever the query), then pure novelty."""
    corpus = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    for q, first in (([-1.0, 0.05], 2), ([0.05, -1.0], 3)):
        got = mmr(q, corpus, k=2, lambda_=0.0).indices[0].tolist()
        assert got[0] == first == vd.knn([q], corpus, k=1).indices[0, 0]
        assert got == mmr(q, corpus, k=2, lambda_=1e-9).indices[0].tolist()


@settings(max_examples=25)
@given(arrays(np.float64, (30, 5), elements=st.floats(-10, 10, allow_nan=False)),
       st.integers(1, 30))
def test_mmr_lambda_one_is_the_base_ranking(X, k):
    X = X + np.eye(30, 5)  # no zero rows
    X[np.linalg.norm(X, axis=1) == 0, 0] = 1
    for metric in ("cosine", "dot", "euclidean"):
        base = vd.knn(X[:2], X, k=k, metric=metric)
        got = mmr(X[:2], X, k=k, lambda_=1.0, metric=metric)
        np.testing.assert_allclose(got.scores, base.scores, rtol=1e-7, atol=1e-9)
        if metric != "euclidean":  # euclidean distances may tie differently in the last ulp
            np.testing.assert_array_equal(got.indices, base.indices)


def test_mmr_candidates_and_errors(data):
    Q, C = data
    full = mmr(Q[0], C, k=5, lambda_=1.0)
    pooled = mmr(Q[0], C, k=5, lambda_=1.0, candidates=10)
    np.testing.assert_array_equal(full.indices, pooled.indices)
    with pytest.raises(ValueError, match="lambda_ must be a number between 0 and 1"):
        mmr(Q[0], C, lambda_=1.5)
    with pytest.raises(ValueError, match="candidates=3 is smaller than k=5"):
        mmr(Q[0], C, k=5, candidates=3)


# ----------------------------------------------------------------- deduplicate

def test_deduplicate_planted_copies(with_duplicates):
    X = with_duplicates  # rows 3, 50, 120 identical
    q = X[3] + 0.01
    base = vd.knn(q[None], X, k=len(X)).indices[0].tolist()
    assert base[:3] == [3, 50, 120]
    res = deduplicate(q[None], X, k=len(X))
    order = res.indices[0].tolist()
    # the best copy keeps its place, the others go last (in their own order), the rest
    # keep the base order
    assert order == [d for d in base if d not in (50, 120)] + [50, 120]
    assert np.all(np.isneginf(res.scores[0, -2:]))
    np.testing.assert_allclose(res.scores[0, :-2], vd.knn(q[None], X, k=len(X)).scores[0, [
        base.index(d) for d in order[:-2]]])
    top = deduplicate(q[None], X, k=3)
    assert top.indices[0].tolist() == order[:3]


def test_duplicate_groups():
    X = np.array([[1, 0], [0, 1], [1, 1e-4], [0.05, 1], [1, 0]], dtype=float)
    groups = vd.fixes.duplicate_groups(X, threshold=0.99)
    assert [g.tolist() for g in groups] == [[0, 2, 4], [1, 3]]


def test_duplicate_groups_in_a_copy_frame():
    """Rows sharing +50 on dimension 0: by raw cosine all six are one group (every
    cosine >= 0.998). In the frame with each dimension over its root mean square (as
    diagnose judges copies under rogue dimensions) only the planted pair 1-4 is a pair:
    reference, that frame's cosines by NumPy. Without frame=, the groups are unchanged."""
    from vecdiag.diagnostics.copy_frame import CopyFrame

    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 4))
    X[:, 0] += 50
    X[4] = X[1] + 1e-3
    scale = 1.0 / np.sqrt((X ** 2).mean(axis=0))
    S = X * scale
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    pairs = np.argwhere(np.triu(S @ S.T >= 0.98, 1)).tolist()
    assert pairs == [[1, 4]]
    frame = CopyFrame(unit=False, shift=None, scale=scale)
    assert [g.tolist() for g in vd.fixes.duplicate_groups(X)] == [list(range(6))]
    index = vd.Index(X, metric="dot")
    for corpus in (X, index, index):          # the Index twice: the cached groups
        groups = vd.fixes.duplicate_groups(corpus, frame=frame)
        assert [g.tolist() for g in groups] == [[1, 4]]
    assert [g.tolist() for g in vd.fixes.duplicate_groups(index)] == [list(range(6))]
    ranked = vd.fixes.apply_fix("deduplicate", X[1:2], index, k=6, frame=frame)
    best = 1 if X[1] @ X[1] >= X[4] @ X[1] else 4           # the pair keeps its best
    assert ranked.indices[0].tolist()[-1] == 5 - best
    assert np.isneginf(ranked.scores[0]).tolist() == [False] * 5 + [True]
    with pytest.raises(ValueError, match="^frame must be a vecdiag.diagnostics.copy_frame"):
        vd.fixes.duplicate_groups(X, frame=scale)


# ----------------------------------------------------------------- RRF

@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_deduplicate_names_the_corpus_zero_row(metric):
    """Copies are judged by cosine, so a zero row cannot be grouped: the error called the
    corpus "X" (near_duplicates' argument), which deduplicate does not have."""
    C = np.random.default_rng(0).normal(size=(6, 3))
    C[4] = 0
    # (an Index for cosine refuses the zero row itself, when it is built)
    for corpus in (C, vd.Index(C, metric=metric)) if metric != "cosine" else (C,):
        with pytest.raises(ValueError, match="^corpus has a zero vector at row 4"):
            deduplicate(C[:2] + 1, corpus, k=3, metric=metric)


def test_csls_names_a_zero_row_of_the_bank():
    """The documents' neighbourhoods are searched in the bank, which that search calls
    its corpus: a zero bank row was reported as "corpus has a zero vector at row 3"."""
    rng = np.random.default_rng(0)
    C, Q, bank = rng.normal(size=(20, 4)), rng.normal(size=(2, 4)), rng.normal(size=(6, 4))
    bank[3] = 0
    with pytest.raises(ValueError, match="^bank has a zero vector at row 3"):
        csls(Q, C, 3, n_neighbors=2, bank=bank)
    # under dot a zero bank row is a valid neighbour (similarity 0)
    got = csls(Q, C, 20, n_neighbors=2, bank=bank, metric="dot")
    r_d = np.sort(C @ bank.T, axis=1)[:, -2:].mean(axis=1)
    S = Q @ C.T
    key = 2 * S - np.sort(S, axis=1)[:, -2:].mean(axis=1)[:, None] - r_d
    np.testing.assert_array_equal(got.indices, rank_order(key))


@pytest.mark.parametrize("call, words", [
    (lambda q, C: csls(q, C, 3, n_neighbors=len(C)), "n_neighbors=10 is larger"),
    (lambda q, C: csls(q, C, 3, n_neighbors=0), "n_neighbors must be at least 1"),
    (lambda q, C: csls(q, C, 3, n_neighbors=6, bank=np.ones((5, 4))), "n_neighbors=6"),
    (lambda q, C: csls(q, C, 3, bank=np.ones((5, 3))), "bank has dimension 3"),
    (lambda q, C: mutual_proximity(q, C[:2], 1), "at least 3 documents"),
    (lambda q, C: mutual_proximity(q, C, 3, n_samples=1), "n_samples must be at least 2"),
    (lambda q, C: mmr(q, C, 3, lambda_=2), "lambda_"),
    (lambda q, C: deduplicate(q, C, 3, threshold=2.0), "threshold"),
])
def test_an_empty_batch_still_has_its_options_checked(call, words):
    """Zero queries give an empty result, but not a pass for bad options: csls and
    mutual_proximity returned (0, k) for n_neighbors past the corpus, a bank of another
    dimension or a 2-document corpus, which one query then refused."""
    C = np.random.default_rng(0).normal(size=(10, 4))
    for q in (C[:2] + 0.1, np.empty((0, 4))):
        with pytest.raises(ValueError, match=words):
            call(q, C)


def test_hybrid_by_hand():
    dense = {"q1": {"a": 0.9, "b": 0.5, "c": 0.1}, "q2": {"x": 1.0}}
    lexical = {"q1": {"c": 9.0, "a": 3.0}, "q3": {"y": 2.0}}
    fused = hybrid(dense, lexical, k=10)
    assert fused["q1"] == pytest.approx({"a": 1 / 11 + 1 / 12, "c": 1 / 13 + 1 / 11, "b": 1 / 12})
    assert list(fused["q1"]) == ["a", "c", "b"]
    assert fused["q2"] == {"x": 1 / 11} and fused["q3"] == {"y": 1 / 11}
    weighted = hybrid(dense, lexical, k=0, weights=[2, 1], depth=1)
    assert weighted["q1"] == pytest.approx({"a": 2.0, "c": 1.0})


def test_hybrid_reads_ids_as_strings_as_evaluate_does():
    # row-number ids from an Index (7) and the same ids read from a run file ("7") were
    # two documents, each with half the fused score; vd.evaluate then refused the run
    dense = {0: {7: 0.9, 3: 0.5}}
    lexical = {"0": {"7": 9.0, "5": 3.0}}
    fused = hybrid(dense, lexical, k=60)
    assert list(fused) == [0]                         # one query, as first seen
    assert fused[0] == pytest.approx({7: 2 / 61, 3: 1 / 62, "5": 1 / 62})
    assert list(fused[0])[0] == 7
    assert vd.evaluate(fused, {"0": {"7": 1}}, metrics=["mrr@10"]).mean["mrr@10"] == 1.0


def test_hybrid_refuses_one_id_twice_within_a_run():
    """Within one run, 7 and "7" are one document (as vd.evaluate reads them): it took two
    ranks and was counted twice (1/61 + 1/62, above "a" at 1/63 + 1/61); query ids 1 and
    "1" merged two queries' lists into one. vd.evaluate refuses such a run; so does hybrid."""
    dense = {"q": {7: 0.9, "7": 0.8, "a": 0.5}}
    with pytest.raises(ValueError, match="has document id '7' twice once ids are read as"):
        vd.evaluate(dense, {"q": {"7": 1}})
    with pytest.raises(ValueError, match=r"dense\['q'\] has document id '7' twice"):
        hybrid(dense, {"q": {"a": 1.0}})
    with pytest.raises(ValueError, match="lexical has query id '1' twice"):
        hybrid({"1": {"a": 1.0}}, {1: {"a": 1.0}, "1": {"b": 1.0}})


def test_hybrid_refuses_boolean_scores_as_evaluate_does():
    """True is an int to Python, so {"d": True} fused as a score of 1; vd.evaluate refuses
    the same run, and so does hybrid now."""
    run = {"q": {"a": True, "b": 0.5}}
    with pytest.raises(TypeError, match="scores must be real numbers"):
        vd.evaluate(run, {"q": {"a": 1}})
    with pytest.raises(ValueError, match=r"dense\['q'\]\['a'\] must be a real number, got True"):
        hybrid(run, {"q": {"a": 1.0}})
    assert hybrid({"q": {"a": 1.0, "b": 0.5}}, {"q": {"a": 1.0}})["q"]["a"] == pytest.approx(
        1 / 61 + 1 / 61)


def test_hybrid_tie_rule_and_neighbors_input(data):
    Q, C = data
    # ties: doc ids in descending string order (trec_eval's rule)
    fused = hybrid({"q": {"a": 1.0, "b": 1.0}}, {"q": {}}, k=0)
    assert fused["q"] == {"b": 1.0, "a": 0.5}
    index = vd.Index(C, ids=[f"d{i}" for i in range(len(C))])
    nb = index.search(Q[:2], k=3)
    run = hybrid(nb, {"qa": {"d1": 1.0}, "qb": {}}, query_ids=["qa", "qb"])
    assert set(run) == {"qa", "qb"} and "d1" in run["qa"]
    tup = hybrid((vd.knn(Q[:2], C, k=3), ["qa", "qb"], index.ids), {"qa": {"d1": 1.0}})
    assert tup == run
    with pytest.raises(ValueError, match="share no query id"):
        hybrid(nb, {"qa": {"d1": 1.0}})
    with pytest.raises(ValueError, match="Neighbors without ids"):
        hybrid(vd.knn(Q[:2], C, k=3), {"qa": {"d1": 1.0}})


def test_hybrid_ranks_a_dict_run_as_trec_eval_and_evaluate_do(rng):
    """A dict run is ranked by trec_eval's rule, scores compared in single precision:
    1.0 and 1.0 - 1e-9 tie there and the larger id goes first. hybrid compared them in
    double precision and fused "a" first, where vd.evaluate (and trec_eval) rank "b"
    first. Reference: pytrec_eval's reciprocal rank of each document judged alone,
    which is its RRF score with k=0 and one run."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    base = rng.integers(1, 4, size=12) / 4
    # equal in float32, the larger ids a little lower in float64: the two orders differ
    run = {f"d{i}": float(b - 1e-9 * i) for i, b in enumerate(base)}
    fused = hybrid({"q": run}, {"q": {}}, k=0)["q"]
    for i, d in enumerate(run):
        qid = f"tie{i}"
        rr = pytrec_eval.RelevanceEvaluator({qid: {d: 1}}, {"recip_rank"}).evaluate(
            {qid: run})[qid]["recip_rank"]
        assert fused[d] == pytest.approx(rr, rel=1e-12), d
        assert vd.evaluate({"q": run}, {"q": {d: 1}}, metrics=["mrr"]).mean["mrr"] == \
            pytest.approx(rr, rel=1e-12)
    assert list(hybrid({"q": {"a": 1.0, "b": 1.0 - 1e-9}}, {"q": {}}, k=0)["q"]) == ["b", "a"]


def test_hybrid_fuses_only_what_a_short_search_returned():
    """A store or filter that returns fewer than k pads with position -1 (id None, score
    NaN): those slots are not documents. Passages of one document (rows sharing an id)
    count once, at their best score, as vd.evaluate reads the same Neighbors."""
    from vecdiag.evaluation.runs import run_from_neighbors
    from vecdiag.neighbors import Neighbors

    doc_ids = ["d0", "d1", "d2", "d1", "last"]
    nb = Neighbors(indices=np.array([[1, 3, 0, -1]]), scores=np.array([[0.9, 0.7, 0.6, np.nan]]),
                   metric="cosine", k=4)
    fused = hybrid((nb, ["q0"], doc_ids), {"q0": {"d2": 5.0}}, k=0)
    # dense ranks d1 (0.9), d0 (0.6); lexical ranks d2 first
    assert fused["q0"] == pytest.approx({"d1": 1.0, "d2": 1.0, "d0": 0.5})
    assert set(fused["q0"]) == set(run_from_neighbors(nb, ["q0"], doc_ids)["q0"]) | {"d2"}
    with_ids = Neighbors(indices=nb.indices, scores=nb.scores, metric="cosine", k=4,
                         ids=np.array([["d1", "d1", "d0", None]], dtype=object))
    assert hybrid(with_ids, {0: {"d2": 5.0}}, k=0)[0] == fused["q0"]
    bad = Neighbors(indices=np.array([[1, 0]]), scores=np.array([[0.9, np.nan]]),
                    metric="cosine", k=2)
    with pytest.raises(ValueError, match="query 'q0' has score nan for document 'd0'"):
        hybrid((bad, ["q0"], doc_ids), {"q0": {"d2": 5.0}})


# ----------------------------------------------------------------- apply_fix

@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("code", ["center", "normalize", "whiten", "all_but_the_top"])
def test_apply_fix_transforms(data, code, metric):
    Q, C = data
    fix = vd.fixes.make_transformer(code, metric).fit(C)
    expected = vd.knn(fix.transform(Q), fix.transform(C), k=7, metric=metric)
    got = apply_fix(code, Q, C, k=7, metric=metric)
    np.testing.assert_array_equal(got.indices, expected.indices)
    assert got.metric == metric
    if code != "normalize":
        assert fix.normalize_first == (metric == "cosine")


def test_apply_fix_rerankers_and_combinations(data):
    Q, C = data
    ids = [f"d{i}" for i in range(len(C))]
    got = apply_fix("csls", Q, C, k=5, ids=ids, n_neighbors=4)
    np.testing.assert_array_equal(got.indices, csls(Q, C, k=5, n_neighbors=4).indices)
    assert got.ids[0].tolist() == [ids[i] for i in got.indices[0]]
    np.testing.assert_array_equal(apply_fix("mutual_proximity", Q, C, k=5).indices,
                                  mutual_proximity(Q, C, k=5).indices)
    np.testing.assert_array_equal(apply_fix("cosine_metric", Q, C, k=5, metric="dot").indices,
                                  vd.knn(Q, C, k=5).indices)
    centred = Center().fit(C)
    np.testing.assert_array_equal(
        apply_fix("center+csls", Q, C, k=5).indices,
        csls(centred.transform(Q), centred.transform(C), k=5).indices)
    np.testing.assert_array_equal(
        apply_fix(["whiten", "all_but_the_top"], Q, C, k=5, whiten__n_components=6).indices,
        vd.knn(*(lambda w: (lambda a: (a.transform(w.transform(Q)), a.transform(w.transform(C))))(
            AllButTheTop().fit(w.transform(C))))(Whiten(n_components=6).fit(C)), k=5).indices)
    index = vd.Index(C, ids=ids, metric="dot")
    assert apply_fix("center", Q[:1], index, k=3).metric == "dot"


def test_apply_fix_hybrid_lexical():
    texts = ["the cat sat on the mat", "dogs chase cats", "a quick brown fox", "cat cat cat",
             "stock markets fell", "the dog slept"]
    C = np.eye(6) + 0.1
    Q = np.array([C[4] + 0.05])
    res = apply_fix("hybrid_lexical", Q, C, k=6, texts=texts, query_texts=["cat"], rrf_k=0)
    # dense rank 1 is doc 4 (1/1), lexical rank 1 is doc 3 "cat cat cat": RRF scores tie at 1 + ...
    lexical = vd.lexical.bm25(["cat"], texts, k=6)[0]
    dense = vd.knn(Q, C, k=6)
    expected = {}
    for r, d in enumerate(dense.indices[0].tolist(), 1):
        expected[d] = expected.get(d, 0) + 1 / r
    for r, d in enumerate(lexical, 1):
        expected[d] = expected.get(d, 0) + 1 / r
    got = dict(zip(res.indices[0].tolist(), res.scores[0].tolist()))
    assert got == pytest.approx(expected)
    assert res.metric == "rrf"


@pytest.mark.parametrize("code", ["center", "normalize", "whiten", "all_but_the_top"])
def test_apply_fix_names_the_corpus_zero_row_and_takes_the_advice_it_gives(code):
    """A zero corpus row under normalisation: the error said "X has a zero vector ... or
    pass zero='ignore'", and apply_fix refused zero= as an option no step uses. It now
    names the corpus, and zero="ignore" ranks as the transformer with that option does
    (on arrays and on an Index)."""
    rng = np.random.default_rng(2)
    C, Q = rng.normal(size=(20, 4)), rng.normal(size=(2, 4))
    C[7] = 0
    opts = {} if code == "normalize" else {"normalize_first": True}
    with pytest.raises(ValueError, match="^corpus has a zero vector at row 7.*zero='ignore'"):
        apply_fix(code, Q, C, 5, metric="dot", **opts)
    cls = {"center": Center, "normalize": Normalize, "whiten": Whiten,
           "all_but_the_top": AllButTheTop}[code]
    fix = cls(zero="ignore", **opts).fit(C)
    ref = vd.knn(fix.transform(Q), fix.transform(C), 20, metric="dot")
    for corpus in (C, vd.Index(C, metric="dot")):
        got = apply_fix(code, Q, corpus, 20, metric="dot", zero="ignore", **opts)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_allclose(got.scores, ref.scores, atol=1e-12)


def test_apply_fix_refuses_options_addressed_to_a_step_that_does_not_take_them(data):
    """Only the part after "__" was checked: whitn__n_components=2 (misspelt step) and
    center__n_neighbors=2 (center takes no n_neighbors) were accepted and dropped, so
    "whiten" whitened every component."""
    Q, C = data
    for code, option in (("whiten", "whitn__n_components"), ("center+csls", "center__n_neighbors")):
        with pytest.raises(ValueError, match=f"option\\(s\\) {option} are not used by fix"):
            apply_fix(code, Q, C, 5, **{option: 2})
    got = apply_fix("whiten+csls", Q, C, 20, whiten__n_components=3, csls__n_neighbors=4)
    fix = Whiten(n_components=3).fit(C)
    ref = csls(fix.transform(Q), fix.transform(C), 20, n_neighbors=4)
    np.testing.assert_array_equal(got.indices, ref.indices)


def test_apply_fix_errors(data):
    Q, C = data
    with pytest.raises(ValueError, match="unknown fix code 'centre'; choose from center"):
        apply_fix("centre", Q, C)
    with pytest.raises(ValueError, match="needs texts=, query_texts="):
        apply_fix("hybrid_lexical", Q, C)
    with pytest.raises(ValueError, match="needs texts=, query_texts=, embedder="):
        apply_fix("add_prefix", Q, C)
    with pytest.raises(ValueError, match="n_remove are not used by fix 'center'"):
        apply_fix("center", Q, C, n_remove=2)
    with pytest.raises(ValueError, match="at most one of"):
        apply_fix("csls+center", Q, C)
    with pytest.raises(ValueError, match="dimension mismatch"):
        apply_fix("center", Q[:, :3], C)
    with pytest.raises(ValueError, match="k=500 is larger than the corpus"):
        apply_fix("csls", Q, C, k=500)


def test_available_fixes():
    assert "hybrid_lexical" not in vd.fixes.available_fixes()
    assert "hybrid_lexical" in vd.fixes.available_fixes(texts=True, query_texts=True)
    assert set(vd.fixes.available_fixes(texts=True, query_texts=True, embedder=True)) == set(vd.fixes.FIX_CODES)


class ToyEmbedder:
    """Bag-of-letters 'model': counts a-z; prefixes and chunks change the vectors visibly."""

    max_tokens = 6

    def __init__(self, query_prefix="", document_prefix=""):
        self.query_prefix, self.document_prefix = query_prefix, document_prefix

    def encode(self, texts, kind="document"):
        prefix = self.query_prefix if kind == "query" else self.document_prefix
        out = np.zeros((len(texts), 26))
        for i, t in enumerate(texts):
            for ch in (prefix + t).lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out + 0.01


def test_text_fixes():
    docs = ["alpha beta", "gamma delta " * 10 + "zeta zeta zeta zeta", "beta beta"]
    emb = ToyEmbedder()
    C = emb.encode(docs)
    qs = ["zeta"]
    Q = emb.encode(qs, kind="query")
    res = apply_fix("chunk_documents", Q, C, k=3, texts=docs, embedder=emb, chunk_words=4, overlap=0)
    assert res.indices[0, 0] == 1  # the chunk "zeta zeta zeta zeta" now matches fully
    np.testing.assert_allclose(res.scores[0, 0], vd.cosine(Q[0], emb.encode(["zeta zeta zeta zeta"])[0]))
    pre = apply_fix("add_prefix", Q, C, k=3, texts=docs, query_texts=qs, embedder=emb,
                    query_prefix="q: ", document_prefix="p: ")
    expected = vd.knn(emb.encode(["q: zeta"]), emb.encode(["p: " + d for d in docs]), k=3)
    np.testing.assert_array_equal(pre.indices, expected.indices)
    with pytest.raises(ValueError, match="add_prefix needs query_prefix="):
        apply_fix("add_prefix", Q, C, k=3, texts=docs, query_texts=qs, embedder=emb)


EMPTY_BATCH_FIXES = ["center", "normalize", "whiten", "all_but_the_top", "cosine_metric", "csls",
                     "mutual_proximity", "deduplicate", "hybrid_lexical", "center+csls",
                     "cosine_metric+whiten+deduplicate", "normalize+hybrid_lexical",
                     "add_prefix", "chunk_documents"]


@pytest.mark.parametrize("on_index", [False, True])
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("code", EMPTY_BATCH_FIXES)
def test_apply_fix_takes_an_empty_batch_as_knn_and_the_rerankers_do(code, metric, on_index):
    """Zero query rows (0, d): vd.knn, csls, mutual_proximity and deduplicate return an
    empty (0, k) ranking; apply_fix refused them ("queries is empty") and, past that, the
    transforms (scikit-learn's 0-sample check), the cached cosine path, hybrid fusion and
    the text fixes each failed on them. Now the same empty ranking, with the metric the fix
    reports on one query, ids and texts of an Index attached, and the embedder not called
    for the queries."""
    docs = ["alpha beta", "gamma delta " * 10 + "zeta", "beta beta", "delta zeta", "eta"]
    emb = ToyEmbedder()
    C = emb.encode(docs)
    ids = [f"d{i}" for i in range(len(docs))]
    corpus = vd.Index(C, ids=ids, texts=docs, metric=metric) if on_index else C
    kw = dict(metric=metric, texts=docs, embedder=emb, chunk_words=4, overlap=0) \
        if code == "chunk_documents" else dict(metric=metric, texts=docs, embedder=emb,
                                               query_prefix="q: ", document_prefix="p: ") \
        if code == "add_prefix" else dict(metric=metric, texts=docs)
    if "csls" in code:
        kw["n_neighbors"] = 2
    one = apply_fix(code, emb.encode(["zeta"]), corpus, 3, query_texts=["zeta"], **kw)
    got = apply_fix(code, np.empty((0, 26)), corpus, 3, query_texts=[], **kw)
    ref = vd.knn(np.empty((0, 26)), C, 3, metric=metric)
    assert got.indices.shape == got.scores.shape == ref.indices.shape == (0, 3)
    assert got.indices.dtype == one.indices.dtype and got.scores.dtype == one.scores.dtype
    assert got.metric == one.metric
    if on_index:
        assert got.ids.shape == (0, 3) and list(got.texts) == docs


@pytest.mark.parametrize("code, options, words", [
    ("whiten", {"n_components": 0}, "n_components"),
    ("center+csls", {"n_neighbors": 50}, "n_neighbors=50"),
    ("hybrid_lexical", {"rrf_k": -1}, "rrf_k"),
    ("chunk_documents", {"chunk_words": 1}, "chunk_words"),
])
def test_apply_fix_checks_options_on_an_empty_batch_too(code, options, words):
    """An empty batch is not a pass for bad options: the same error as with one query."""
    docs = ["alpha beta", "gamma delta", "beta beta", "delta zeta", "eta"]
    emb = ToyEmbedder()
    C = emb.encode(docs)
    for Q, qt in ((emb.encode(["zeta"]), ["zeta"]), (np.empty((0, 26)), [])):
        with pytest.raises(ValueError, match=words):
            apply_fix(code, Q, C, 3, texts=docs, query_texts=qt, embedder=emb, **options)


def test_add_prefix_refuses_query_texts_that_do_not_match_the_queries():
    """add_prefix ranks the re-embedded query_texts: two query rows with one text gave a
    one-row ranking (hybrid_lexical refused the same mismatch)."""
    docs = ["alpha beta", "gamma delta", "beta beta"]
    emb = ToyEmbedder()
    for Q in (emb.encode(["zeta", "beta"]), np.empty((0, 26))):
        with pytest.raises(ValueError, match=f"query_texts has 1 entries for {len(Q)} queries"):
            apply_fix("add_prefix", Q, emb.encode(docs), 3, texts=docs, query_texts=["zeta"],
                      embedder=emb, query_prefix="q: ", document_prefix="")


class SkippingEmbedder(ToyEmbedder):
    """A model that returns no vector for an empty text (after its prefix) and one vector
    per distinct text (a cache keyed by text that forgot the repeats)."""

    def encode(self, texts, kind="document"):
        prefix = self.query_prefix if kind == "query" else self.document_prefix
        kept = list(dict.fromkeys(t for t in texts if (prefix + t).strip()))
        return super().encode(kept, kind=kind)


@pytest.mark.parametrize("code", ["add_prefix", "chunk_documents"])
def test_text_fixes_refuse_an_embedder_that_returns_another_number_of_rows(code):
    """The re-embedded rows are matched to the texts by position: with an empty document
    skipped, add_prefix ranked every later document on its neighbour's row ('beta beta'
    came first for 'zeta' with the score of 'zeta zeta zeta', which was not ranked at all)
    and chunk_documents failed with a bare IndexError when two chunks were one text.
    Both now say how many rows came back for how many texts."""
    docs = ["alpha beta", "", "beta beta", "zeta zeta zeta"] if code == "add_prefix" else \
        ["alpha beta", "zeta eta zeta eta", "beta beta"]
    emb = SkippingEmbedder()
    C = ToyEmbedder().encode(docs)
    Q = emb.encode(["zeta"], kind="query")
    kw = dict(query_texts=["zeta"], query_prefix="q: ", document_prefix="") \
        if code == "add_prefix" else dict(chunk_words=2, overlap=0)
    got, asked = (3, 4) if code == "add_prefix" else (1, 2)   # the chunks: one text twice
    with pytest.raises(ValueError, match=rf"embedder output \(documents\) has {got} rows for "
                                         rf"{asked} document texts"):
        apply_fix(code, Q, C, 3, texts=docs, embedder=emb, **kw)
    # a model that returns one row per text: the exact search of its vectors
    if code == "add_prefix":
        got = apply_fix(code, Q, C, 4, texts=docs, embedder=ToyEmbedder(), **kw)
        ref = vd.knn(ToyEmbedder().encode(["q: zeta"]), ToyEmbedder().encode(docs), 4)
        np.testing.assert_array_equal(got.indices, ref.indices)


@pytest.mark.parametrize("code", ["center", "normalize", "whiten", "all_but_the_top"])
def test_make_transformer_refuses_a_metric_it_does_not_know(data, code):
    """make_transformer("center", "Cosine") gave Center(normalize_first=False): any
    spelling but "cosine" read as not cosine, so a cosine search centred raw vectors (the
    README's nDCG .62 -> .25). An unknown metric is now refused by name; the three
    metrics configure the fix as before (cosine: rows unit-normalised first)."""
    with pytest.raises(ValueError, match="^metric must be one of 'cosine', 'dot', "
                                         "'euclidean', got 'Cosine'"):
        vd.fixes.make_transformer(code, "Cosine")
    _, C = data
    for metric in ("cosine", "dot", "euclidean"):
        fix = vd.fixes.make_transformer(code, metric)
        if code != "normalize":
            assert fix.normalize_first == (metric == "cosine")
        if code == "center":
            X = unit(C) if metric == "cosine" else C
            np.testing.assert_allclose(fix.fit_transform(C), X - X.mean(axis=0), atol=1e-12)


def test_chunk_documents_refuses_a_metric_it_does_not_know():
    """chunk_documents(metric="Cosine") scored every document and chunk by dot product
    and labelled the result 'Cosine' (add_prefix and apply_fix refused the spelling). It
    is refused now by name; metric="cosine" is MaxP over cosines, as by hand."""
    from vecdiag.fixes.text import chunk_documents

    docs = ["beta beta", "alpha " * 12 + "zeta", "beta zeta"]
    emb = ToyEmbedder()
    Q, C = emb.encode(["zeta"]), emb.encode(docs)
    with pytest.raises(ValueError, match="^metric must be one of 'cosine', 'dot', "
                                         "'euclidean', got 'Cosine'"):
        chunk_documents(Q, C, docs, emb, k=3, metric="Cosine", chunk_words=4, overlap=0)
    got = chunk_documents(Q, C, docs, emb, k=3, metric="cosine", chunk_words=4, overlap=0)
    best = [unit(Q) @ unit(C[i:i + 1]).T for i in (0, 2)]   # the short ones keep their vector
    pieces = emb.encode(["alpha alpha alpha alpha"] * 3 + ["zeta"])
    ref = np.array([best[0].item(), (unit(Q) @ unit(pieces).T).max(), best[1].item()])
    np.testing.assert_array_equal(got.indices[0], np.argsort(-ref, kind="stable"))
    np.testing.assert_allclose(got.scores[0], np.sort(ref)[::-1], atol=1e-12)


@pytest.mark.parametrize("code", ["center", "center+csls", "center+deduplicate"])
def test_rows_the_fix_maps_to_zero_are_named_after_the_fix_on_arrays_as_on_an_index(code):
    """Centring raw vectors (cosine, normalize_first=False) maps a query or a document
    equal to the corpus mean to the zero vector. On an Index the error said 'queries
    after the fix is a zero vector'; on arrays 'queries is a zero vector', naming a query
    that is not one (and 'corpus has a zero vector at row 2' for a document that is not).
    Both now speak of the rows after the fix; a query that is zero as given is still
    named as given."""
    C = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 3.0], [1.0, -1.0]])
    mean = C.mean(axis=0)
    assert np.linalg.norm(mean - [1.0, 1.0]) == 0
    kw = {"normalize_first": False, **({"n_neighbors": 2} if "csls" in code else {})}
    Q = np.array([[1.0, 1.0], [3.0, 1.0]])                # query 0 is the mean
    with_mean = np.insert(C, 2, mean, axis=0)             # document 2 is the mean
    assert np.linalg.norm(with_mean.mean(axis=0) - with_mean[2]) == 0
    for corpus, mean_row in ((C, None), (vd.Index(C), None), (with_mean, 2),
                             (vd.Index(with_mean), 2)):
        if mean_row is None:
            with pytest.raises(ValueError, match=r"^queries after the fix has a zero vector "
                                                 r"at row 0, which has no direction"):
                apply_fix(code, Q, corpus, 2, **kw)
        else:
            with pytest.raises(ValueError, match=r"^corpus after the fix has a zero vector "
                                                 r"at row 2, which has no direction"):
                apply_fix(code, Q[1:], corpus, 2, **kw)
    kw.pop("normalize_first")                  # normalising first refuses it as given
    with pytest.raises(ValueError, match=r"^queries has a zero vector at row 1"):
        apply_fix(code, np.array([[1.0, 2.0], [0.0, 0.0]]), C, 2, **kw)


def test_float32_rows_whose_sum_overflows_are_centred_by_their_mean():
    """1000 float32 rows of about 1e36: their float32 sum (1e39) overflows although their
    mean does not. Center(normalize_first=False) gave every row -inf (a RuntimeWarning
    the only sign), Whiten and AllButTheTop refused them as 'largest |x| = inf after
    centring'. The mean is now summed in float64, as scikit-learn's scalers do: the
    offsets from the float64 mean, a whitened covariance of I; the mean of ordinary
    float32 rows is the float64 mean rounded to float32."""
    rng = np.random.default_rng(0)
    X = (rng.uniform(0.5, 1.5, size=(1000, 4)) * 1e36).astype(np.float32)
    X64 = X.astype(np.float64)
    ref = X64 - X64.mean(axis=0)
    fix = Center(normalize_first=False).fit(X)
    np.testing.assert_allclose(fix.mean_, X64.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(fix.transform(X), ref, rtol=0, atol=1e-6 * 1e36)
    Z = Whiten(normalize_first=False).fit(X).transform(X).astype(np.float64)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(4), atol=1e-4)
    abtt = AllButTheTop(n_remove=1, normalize_first=False).fit(X)
    top = np.linalg.svd(ref, full_matrices=False)[2][0]
    np.testing.assert_allclose(abs(abtt.components_[0] @ top), 1.0, atol=1e-5)
    Y = rng.normal(size=(50, 8)).astype(np.float32)
    assert np.array_equal(Center(normalize_first=False).fit(Y).mean_,
                          Y.astype(np.float64).mean(axis=0).astype(np.float32))


def test_float32_means_of_many_rows_are_summed_in_float64():
    """A million float32 rows of 0.1 added one after another in float32 gave a mean of
    0.10096, and every centred row was off by the difference; summed in float64 the mean
    is 0.1 (float32's nearest), for every fix that centres."""
    X = np.full((1_000_000, 2), 0.1, dtype=np.float32)
    for fix in (Center(normalize_first=False), Whiten(normalize_first=False),
                AllButTheTop(n_remove=1, normalize_first=False)):
        try:
            fix.fit(X)
        except ValueError:              # Whiten / AllButTheTop: no variance to fit
            continue
        assert fix.mean_.dtype == np.float32
        assert fix.mean_.tolist() == [np.float32(0.1)] * 2, type(fix).__name__
    assert Center(normalize_first=False).fit(X).transform(X[:3]).tolist() == [[0.0, 0.0]] * 3


def test_hybrid_lexical_names_texts_that_are_not_strings():
    """apply_fix("hybrid_lexical") with a None among the texts said 'corpus_texts must
    hold strings' (BM25's argument, not apply_fix's); it now names texts, or
    query_texts, and the rows."""
    pytest.importorskip("bm25s")
    docs = ["alpha beta", "gamma delta", "beta beta", "delta zeta"]
    emb = ToyEmbedder()
    Q, C = emb.encode(["zeta"]), emb.encode(docs)
    with pytest.raises(TypeError, match=r"^texts must hold strings; 1 row \(2\) are not "
                                        r"\(first is NoneType\)"):
        apply_fix("hybrid_lexical", Q, C, 2, texts=docs[:2] + [None] + docs[3:],
                  query_texts=["zeta"])
    with pytest.raises(TypeError, match=r"^query_texts must hold strings; 1 row \(0\)"):
        apply_fix("hybrid_lexical", Q, C, 2, texts=docs, query_texts=[b"zeta"])


@pytest.mark.parametrize("code", ["add_prefix", "hybrid_lexical", "chunk_documents"])
def test_text_fixes_read_texts_given_as_generators(code):
    """hybrid_lexical and chunk_documents read texts and query_texts once, so generators
    serve; add_prefix took len() of them and failed with "object of type 'generator' has
    no len()". All three now give the ranking of the same texts as lists."""
    if code == "hybrid_lexical":
        pytest.importorskip("bm25s")
    docs = ["alpha beta", "gamma delta " * 4 + "zeta", "beta beta", "zeta eta"]
    emb = ToyEmbedder()
    Q, C = emb.encode(["zeta", "beta"]), emb.encode(docs)
    kw = {"query_prefix": "q: "} if code == "add_prefix" else \
        {"chunk_words": 3, "overlap": 0} if code == "chunk_documents" else {}
    lists = apply_fix(code, Q, C, 4, texts=docs, query_texts=["zeta", "beta"], embedder=emb,
                      **kw)
    gens = apply_fix(code, Q, C, 4, texts=(d for d in docs),
                     query_texts=(q for q in ["zeta", "beta"]), embedder=emb, **kw)
    np.testing.assert_array_equal(gens.indices, lists.indices)
    np.testing.assert_array_equal(gens.scores, lists.scores)


@pytest.mark.parametrize("n_texts", [2, 5])
@pytest.mark.parametrize("on_index", [False, True])
def test_add_prefix_refuses_texts_that_do_not_match_the_corpus(n_texts, on_index):
    """add_prefix ranks the re-embedded texts and reports their positions as corpus rows:
    five texts for a corpus of three gave rows 3 and 4 (no such document), two texts
    'k=3 is larger than the corpus (2 vectors)', and on an Index with ids 'ids has 3
    entries but the corpus has 5 rows'. Refused by name, as hybrid_lexical and
    chunk_documents refuse it."""
    docs = ["alpha beta", "gamma delta", "beta beta", "zeta zeta zeta", "zeta eta"]
    emb = ToyEmbedder()
    C = emb.encode(docs[:3])
    corpus = vd.Index(C, ids=["a", "b", "c"]) if on_index else C
    with pytest.raises(ValueError, match=f"texts has {n_texts} entries but the corpus has 3 rows"):
        apply_fix("add_prefix", emb.encode(["zeta"]), corpus, 3, texts=docs[:n_texts],
                  query_texts=["zeta"], embedder=emb, query_prefix="q: ", document_prefix="")
    # with one text per row, every result row is a corpus row: that of the exact search
    got = apply_fix("add_prefix", emb.encode(["zeta"]), corpus, 3, texts=docs[:3],
                    query_texts=["zeta"], embedder=emb, query_prefix="q: ", document_prefix="")
    ref = vd.knn(emb.encode(["q: zeta"]), emb.encode(docs[:3]), 3)
    np.testing.assert_array_equal(got.indices, ref.indices)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("code", ["center", "normalize", "whiten", "all_but_the_top", "cosine_metric"])
def test_apply_fix_on_index_uses_cache_and_agrees(data, code, metric):
    """The cached Index path (affine algebra on the fitted fix) equals transform + knn."""
    Q, C = data
    ids = [f"d{i}" for i in range(len(C))]
    index = vd.Index(C, metric=metric, ids=ids, texts=[f"text {i}" for i in range(len(C))])
    direct = apply_fix(code, Q, C, k=len(C), metric=metric)
    cached = apply_fix(code, Q, index, k=len(C))
    again = apply_fix(code, Q, index, k=len(C))
    np.testing.assert_array_equal(cached.indices, direct.indices)
    np.testing.assert_allclose(cached.scores, direct.scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(again.indices, cached.indices)
    assert cached.ids[0].tolist() == [ids[i] for i in cached.indices[0]]
    assert list(cached.texts) == [f"text {i}" for i in range(len(C))]
    if code != "cosine_metric":
        assert any(key[:2] == vd.cache_keys.fix_fitted(code, "cosine", {})[:2] for key in index.cache)


def test_mutual_proximity_closed_form_equals_blocks(data):
    """cosine/dot statistics in closed form (O(n d²)) equal the explicit all-pairs loop."""
    from vecdiag.fixes.rerank import _closed_form_stats, _reference_stats

    _, C = data
    for X in (unit(C), C):
        mu_a, sd_a = _closed_form_stats(X)
        mu_b, sd_b = _reference_stats(X, "dot", len(X), 0)
        np.testing.assert_allclose(mu_a, mu_b, rtol=1e-10)
        np.testing.assert_allclose(sd_a, sd_b, rtol=1e-8)


@settings(max_examples=15)
@given(st.integers(0, 10_000), st.sampled_from(["cosine", "dot", "euclidean"]),
       st.sampled_from(["csls", "mutual_proximity", "deduplicate", "center", "whiten",
                        "all_but_the_top", "center+csls"]))
def test_top_k_is_a_prefix_of_the_full_ranking(seed, metric, code):
    """Asking for fewer neighbours never changes the order of those returned."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(40, 6)) + rng.normal(size=6)
    Q = rng.normal(size=(3, 6))
    full = apply_fix(code, Q, C, k=40, metric=metric)
    top = apply_fix(code, Q, C, k=7, metric=metric)
    np.testing.assert_array_equal(top.indices, full.indices[:, :7])
    np.testing.assert_allclose(top.scores, full.scores[:, :7])
    assert sorted(full.indices[0].tolist()) == list(range(40))  # a permutation: every rank exists


def test_reranker_bad_input(data, with_zero_row):
    Q, C = data
    with pytest.raises(ValueError, match="n_neighbors=120 is larger than the corpus"):
        csls(Q, C, n_neighbors=120)
    with pytest.raises(ValueError, match="bank has dimension 3"):
        csls(Q, C, bank=Q[:, :3])
    for queries in (Q, Q[:0]):          # the bank is searched, not the corpus: named so
        with pytest.raises(ValueError, match=r"n_neighbors=9 is larger than the bank "
                                             r"\(5 vectors\); use n_neighbors <= 5"):
            csls(queries, C, n_neighbors=9, bank=C[:5])
    with pytest.raises(ValueError, match="needs at least 3 documents"):
        mutual_proximity(Q, C[:2], k=1)
    with pytest.raises(ValueError, match="queries is a zero vector"):
        csls(np.zeros((1, 12)), C)
    with pytest.raises(ValueError, match="corpus has a zero vector at row 7"):
        mutual_proximity(with_zero_row[:3], with_zero_row)
    with pytest.raises(ValueError, match="metric must be one of"):
        csls(Q, C, metric="manhattan")
    with pytest.raises(ValueError, match=r"query must be 1-D or 2-D.*"):
        mmr(np.zeros((1, 1, 12)), C)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        deduplicate(Q, C, threshold=2.0)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_hybrid_fuses_a_deduplicated_run_in_its_own_order(metric):
    """deduplicate puts the copies it moves last in the top-k with score -inf (+inf
    distance) once k exceeds the distinct documents; hybrid refused such a Neighbors
    ("scores must be finite") although it ranks a Neighbors by its order alone. RRF by
    hand over that order: d4 and d5 (copies of d0, d1) take ranks 5 and 6."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(4, 5))
    corpus = np.vstack([base, base[0], base[1]])
    nb = deduplicate(base[:1] + 0.01, corpus, k=6, metric=metric)
    assert np.isinf(nb.scores[0, 4:]).all()
    ids = [f"d{i}" for i in range(6)]
    lexical = {"q": {"d5": 3.0, "d2": 2.0}}
    fused = hybrid((nb, ["q"], ids), lexical, k=10)
    want = {ids[j]: 1 / (10 + r) for r, j in enumerate(nb.indices[0], start=1)}
    want["d5"] += 1 / 11
    want["d2"] += 1 / 12
    assert fused["q"] == pytest.approx(want)
    assert list(fused["q"]) == sorted(sorted(want, reverse=True), key=lambda d: -want[d])


def test_hybrid_bad_input():
    with pytest.raises(TypeError, match=r"lexical\['q'\] must be a dict"):
        hybrid({"q": {"a": 1.0}}, {"q": ["a"]})
    with pytest.raises(ValueError, match=r"dense\['q'\]\['a'\] must be a real number"):
        hybrid({"q": {"a": float("nan")}}, {"q": {}})
    with pytest.raises(ValueError, match="RRF constant"):
        hybrid({"q": {}}, {"q": {}}, k=-1)
    with pytest.raises(ValueError, match="weights has 1 entries for 2 runs"):
        hybrid({"q": {}}, {"q": {}}, weights=[1])
    with pytest.raises(TypeError, match="must be a run dict"):
        hybrid([("q", "a", 1.0)], {"q": {}})


def test_apply_fix_index_keeps_ids_and_texts_through_combinations(data):
    Q, C = data
    ids = [f"d{i}" for i in range(len(C))]
    texts = [f"text {i}" for i in range(len(C))]
    index = vd.Index(C, ids=ids, texts=texts)
    for code in ("center+csls", "whiten+deduplicate", "csls", "mutual_proximity"):
        res = apply_fix(code, Q[:2], index, k=4)
        assert res.ids[1].tolist() == [ids[i] for i in res.indices[1]]
        assert res.texts is not None and res.to_frame()["text"].iloc[0] == texts[res.indices[0, 0]]


@pytest.mark.shared
def test_fixes_on_cranfield(cranfield_minilm):
    """Real MiniLM vectors of Cranfield: every vector/re-rank fix gives a full permutation,
    CSLS equals its formula at this scale, and hybrid_lexical equals RRF of the two runs."""
    import json

    folder = cranfield_minilm.folder
    C, Q = cranfield_minilm.corpus, cranfield_minilm.queries[:20]
    n = len(C)
    for code in ("center", "whiten", "all_but_the_top", "csls", "mutual_proximity",
                 "deduplicate", "cosine_metric"):
        res = apply_fix(code, Q[:3], C, k=n)
        assert all(sorted(row.tolist()) == list(range(n)) for row in res.indices)
    keys, _, _ = brute_csls(Q, C, 10)
    np.testing.assert_array_equal(csls(Q, C, k=50).indices, rank_order(keys)[:, :50])
    docs = [json.loads(x) for x in (folder / "corpus.jsonl").read_text().splitlines()]
    by_id = {d["_id"]: (d.get("title", "") + " " + d["text"]).strip() for d in docs}
    texts = [by_id[i] for i in cranfield_minilm.corpus_ids]
    queries = {json.loads(x)["_id"]: json.loads(x)["text"]
               for x in (folder / "queries.jsonl").read_text().splitlines()}
    qids = cranfield_minilm.query_ids[:20]
    qtexts = [queries[q] for q in qids]
    res = apply_fix("hybrid_lexical", Q, C, k=10, texts=texts, query_texts=qtexts)
    dense = vd.knn(Q, C, k=n)
    lexical = vd.lexical.bm25(qtexts, texts, k=n)
    for i in range(len(Q)):
        fused = {}
        for r, d in enumerate(dense.indices[i].tolist(), 1):
            fused[d] = fused.get(d, 0) + 1 / (60 + r)
        for r, d in enumerate(lexical[i], 1):
            fused[d] = fused.get(d, 0) + 1 / (60 + r)
        np.testing.assert_allclose(res.scores[i], sorted(fused.values(), reverse=True)[:10])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_rerankers_on_index_equal_on_array(data, dtype, metric):
    """Re-rankers reuse an Index's prepared unit rows instead of normalising the corpus
    again: same neighbours and the same scores, bit for bit, as on the bare array."""
    from vecdiag.fixes import csls, deduplicate, mmr, mutual_proximity

    Q, C = (x.astype(dtype) for x in data)
    index = vd.Index(C, metric=metric)
    for fn, kwargs in ((csls, {"n_neighbors": 5}), (mutual_proximity, {}),
                       (deduplicate, {}), (mmr, {"lambda_": 0.7})):
        a = fn(Q, C, k=5, metric=metric, **kwargs)
        b = fn(Q, index, k=5, **kwargs)
        np.testing.assert_array_equal(a.indices, b.indices, err_msg=fn.__name__)
        np.testing.assert_array_equal(a.scores, b.scores, err_msg=fn.__name__)


def test_whiten_maps_every_vector_to_zero_along_directions_without_variance(rng):
    """With more dimensions than rows the corpus does not vary along d - n + 1 directions.
    The training rows are 0 there; a new vector was multiplied by 1/sqrt(eps) there
    (about 1e3, or 1e153 on constant data) and those directions decided its cosine. Now
    it is 0 there too, and its other coordinates are those of the regularised whitening."""
    X = rng.normal(size=(3, 6))
    w = vd.fixes.Whiten(normalize_first=False).fit(X)
    assert np.isinf(w.scale_[2:]).all() and np.isfinite(w.scale_[:2]).all()
    Y = rng.normal(size=(4, 6))
    Z = w.transform(Y)
    np.testing.assert_array_equal(Z[:, 2:], 0.0)
    Xc = X - X.mean(axis=0)
    values, vectors = np.linalg.eigh(Xc.T @ Xc / 2)
    top = np.argsort(values)[::-1][:2]
    eps = 1e-6 * values.sum() / 6
    want = (Y - X.mean(axis=0)) @ vectors[:, top] / np.sqrt(values[top] + eps)
    np.testing.assert_allclose(np.abs(Z[:, :2]), np.abs(want), rtol=1e-9)
    flat = vd.fixes.Whiten(normalize_first=False).fit(np.ones((4, 3)))
    np.testing.assert_array_equal(flat.transform([[1.0, 2.0, 3.0]]), 0.0)


@pytest.mark.parametrize("reg, ok", [(np.float32(1e-3), True), (np.int64(0), True),
                                     (float("inf"), False), (float("nan"), False),
                                     (-1.0, False), (True, False), ("1e-6", False)])
def test_whiten_regularization_numbers(rng, reg, ok):
    X = rng.normal(size=(20, 4))
    if ok:
        assert np.isfinite(vd.fixes.Whiten(regularization=reg).fit(X).scale_).all()
    else:
        with pytest.raises(ValueError, match="regularization must be a finite number"):
            vd.fixes.Whiten(regularization=reg).fit(X)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": float("nan")}, "k .the RRF constant. must be a finite number"),
    ({"k": float("inf")}, "k .the RRF constant. must be a finite number"),
    ({"weights": [float("nan"), 1.0]}, "weights must be finite numbers >= 0; entry 0 is nan"),
    ({"weights": [1.0, float("inf")]}, "weights must be finite numbers >= 0; entry 1 is inf"),
    ({"weights": [1.0, -0.5]}, "weights must be finite numbers >= 0; entry 1 is -0.5"),
])
def test_hybrid_refuses_constants_that_make_every_score_nan_or_zero(kwargs, message):
    dense, lexical = {"q": {"a": 1.0, "b": 2.0}}, {"q": {"b": 1.0, "c": 3.0}}
    with pytest.raises(ValueError, match=message):
        vd.fixes.hybrid(dense, lexical, **kwargs)


def test_whiten_of_rows_without_variance_maps_everything_to_zero():
    """Constant rows: every eigenvalue is rounding (1e-33), the largest included, and
    dividing by it gave new vectors components near 1e16. Every direction is one without
    variance, where every vector maps to 0 (scale_ inf), as documented."""
    X = np.random.default_rng(0).normal(size=(10, 6))
    for first in (True, False):
        for flat in (np.ones((10, 6)), X[:1], np.repeat(X[:1] * 3, 5, axis=0)):
            w = vd.fixes.Whiten(normalize_first=first).fit(flat)
            assert np.isinf(w.scale_).all()
            np.testing.assert_array_equal(w.transform(X), 0.0)


@pytest.mark.parametrize("make", [vd.fixes.Center, vd.fixes.Normalize, vd.fixes.Whiten,
                                  vd.fixes.AllButTheTop])
def test_fixes_keep_dataframe_column_names_as_sklearn_does(make):
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(1).normal(size=(30, 5))
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(5)])
    fitted = make().fit(frame)
    assert list(fitted.feature_names_in_) == list(frame.columns)
    out = make().set_output(transform="pandas").fit_transform(frame)
    np.testing.assert_allclose(out.to_numpy(), make().fit_transform(X))
    if make is not vd.fixes.Whiten:                  # one output per input column
        assert list(out.columns) == list(frame.columns)
    with pytest.raises(ValueError, match="feature names"):
        fitted.transform(frame.rename(columns={"c0": "other"}))


def test_hybrid_refuses_unordered_ids_of_a_neighbors_run():
    """hybrid((Neighbors, query_ids, doc_ids), ...) with a set of doc_ids named each row
    by an arbitrary id of the set (and a set of query_ids swapped queries); refused. In
    row order, the fused scores are the hand-computed RRF of the brute-force ranks."""
    rng = np.random.default_rng(8)
    C, Q = rng.normal(size=(6, 3)), rng.normal(size=(2, 3))
    nb = vd.knn(Q, C, 2)
    names = [f"d{i}" for i in range(6)]
    for bad in ((nb, ["q0", "q1"], set(names)), (nb, {"q0", "q1"}, names)):
        with pytest.raises(TypeError, match="no order"):
            hybrid(bad, {"q0": {"d0": 1.0}}, k=10)
    order = np.argsort(-(vd.normalize(Q) @ vd.normalize(C).T), axis=1, kind="stable")
    fused = hybrid((nb, ["q0", "q1"], np.array(names)), {"q1": {"x": 1.0}}, k=10)
    for q, row in zip(["q0", "q1"], order):
        want = {names[row[0]]: 1 / 11, names[row[1]]: 1 / 12}
        if q == "q1":
            want["x"] = 1 / 11
        assert fused[q] == pytest.approx(want)


@pytest.mark.parametrize("dtype, big, tiny", [(np.float32, 3e38, 1e-45),
                                              (np.float64, 1e308, 5e-324)])
def test_normalising_fixes_give_unit_rows_at_any_length(dtype, big, tiny):
    """Rows whose length leaves the float range: Normalize gave float32 [3e38, 3e38] as
    [0, 0] (its length overflowed to inf) and [1e-45, 1e-45] as [1, 1] (length sqrt 2),
    and Center/Whiten/AllButTheTop fitted on those wrong rows. Closed form: the unit row
    of [a, a] is [1/sqrt 2, 1/sqrt 2] at every a > 0."""
    X = np.array([[big, big], [tiny, tiny], [3.0, 4.0]], dtype=dtype)
    unit = np.array([[0.5 ** 0.5] * 2, [0.5 ** 0.5] * 2, [0.6, 0.8]])
    out = vd.fixes.Normalize().fit_transform(X)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, unit, rtol=1e-6)
    np.testing.assert_allclose(vd.fixes.Center().fit(X).mean_, unit.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(vd.fixes.Center().fit_transform(X), unit - unit.mean(axis=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options, message", [
    ({"rrf_k": float("nan")}, "rrf_k .the RRF constant. must be a finite number >= 0, got nan"),
    ({"rrf_k": float("inf")}, "rrf_k .the RRF constant. must be a finite number >= 0, got inf"),
    ({"bm25_options": {"doc_ids": list(range(5, -1, -1))}}, "bm25_options cannot set doc_ids"),
    ({"bm25_options": {"doc_ids": [f"d{i}" for i in range(6)]}}, "cannot set doc_ids"),
    ({"bm25_options": {"query_ids": ["a"]}}, "bm25_options cannot set query_ids"),
    ({"bm25_options": {"k": 2}}, "bm25_options cannot set k"),
])
def test_apply_fix_hybrid_lexical_refuses_options_it_cannot_honour(options, message):
    """rrf_k=nan failed with "could not broadcast input array", rrf_k=inf gave every
    document the fused score 0; bm25_options doc_ids were read as corpus positions (the
    reversed ids silently reversed the BM25 run; string ids failed in int()), query_ids
    raised KeyError 0 and k a duplicate-argument TypeError. Each is refused by name."""
    texts = ["the cat sat", "dogs chase cats", "a brown fox", "cat cat", "markets fell",
             "the dog slept"]
    C = np.eye(6) + 0.1
    with pytest.raises(ValueError, match=message):
        apply_fix("hybrid_lexical", C[:1], C, k=3, texts=texts, query_texts=["cat"], **options)


def test_all_but_the_top_on_a_float32_index_equals_the_float64_formula():
    """The Index path scores T(q)·(u(c) - mean), which equals T(q)·T(c) only when T(q)
    is orthogonal to the removed directions; a float32 transform leaves T(q) a residue
    of ~eps·||u(q) - mean|| along them, multiplied by the corpus's large components there.
    Four dominant directions (scales 30..5) over a residue of scale 0.05: the Index's
    cosines were off by 0.41 from the closed form, the arrays' by 4e-7. Reference: the
    transform in float64, cosines in NumPy."""
    rng = np.random.default_rng(0)
    scales = [30, 20, 10, 5, 0.05, 0.05]
    C = (rng.normal(size=(50, 6)) * scales + [3, 1, 0, 0, 0, 0]).astype(np.float32)
    Q = (rng.normal(size=(4, 6)) * scales).astype(np.float32)
    X = C.astype(np.float64)
    Xc = X - X.mean(axis=0)
    top = np.linalg.eigh(Xc.T @ Xc)[1][:, -4:]          # the four largest directions
    TC = Xc - Xc @ top @ top.T
    TQ = (Q - X.mean(axis=0)) - (Q - X.mean(axis=0)) @ top @ top.T
    want = vd.normalize(TQ) @ vd.normalize(TC).T
    for corpus in (C, vd.Index(C)):
        res = apply_fix("all_but_the_top", Q, corpus, k=50, n_remove=4, normalize_first=False)
        np.testing.assert_allclose(res.scores, np.take_along_axis(want, res.indices, 1),
                                   atol=1e-5)


def test_hybrid_reads_the_ids_of_a_neighbors_run_as_strings():
    """hybrid reads ids as strings (7 and "7" are one document), but a Neighbors run kept
    doc ids 7 and "7" apart: that document took two places in one ranking and RRF summed
    both (1/2 + 1/4). It now takes its best place, as passages of one document do. Query
    ids 0 and 0 (or "0") kept only the last row's ranking, or fused two queries into one;
    refused. Ranks by hand: cosine order of the corpus rows is 0, 1, 2, 3."""
    C = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0]])
    nb = vd.knn(np.array([[1.0, 0.0]]), C, 4)
    assert nb.indices.tolist() == [[0, 1, 2, 3]]
    fused = hybrid((nb, ["q"], ["a", 7, "b", "7"]), {"q": {"b": 1.0}}, k=0)
    assert fused["q"] == pytest.approx({"b": 1 / 3 + 1, "a": 1.0, 7: 1 / 2})
    assert len(fused["q"]) == 3
    for twice in ([0, 0], [0, "0"]):
        with pytest.raises(ValueError, match="query id '0' twice"):
            hybrid((vd.knn(C[:2], C, 2), twice, list("abcd")), {0: {"a": 1.0}})


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
@pytest.mark.parametrize("dtype, length", [(np.float32, 1e20), (np.float64, 1e160)])
def test_deduplicate_refuses_scores_that_overflow(metric, dtype, length):
    """Vectors whose products overflow the float type: deduplicate returned scores inf
    for every document (dot) or one document k times (euclidean: indices [9, 9, 9]),
    where vd.knn, csls, mutual_proximity and mmr refuse them. Refused, naming the fix;
    the same vectors scaled down rank as vd.knn ranks them (threshold 1: no copies)."""
    rng = np.random.default_rng(0)
    C, Q = rng.normal(size=(10, 3)), rng.normal(size=(2, 3))
    with pytest.raises(ValueError, match="vectors too long"):
        deduplicate((Q * length).astype(dtype), (C * length).astype(dtype), 3, metric=metric)
    res = deduplicate(Q.astype(dtype), C.astype(dtype), 3, metric=metric, threshold=1.0)
    assert res.indices.tolist() == vd.knn(Q, C, 3, metric=metric).indices.tolist()


@pytest.mark.parametrize("rerank", [mutual_proximity, deduplicate])
@pytest.mark.parametrize("metric", ["dot", "euclidean"])
@pytest.mark.parametrize("dtype, length", [(np.float32, 1e-25), (np.float64, 1e-170)])
def test_rerankers_refuse_scores_that_underflow(rerank, metric, dtype, length):
    """Vectors so short that every product underflows to 0: mutual_proximity and
    deduplicate tied every document (indices [0, 1, 2], MP 0.25 each, where vd.knn of
    the same vectors at unit scale ranks [4, 3, 9]); vd.knn, csls and mmr refuse them.
    Refused, naming the fix."""
    rng = np.random.default_rng(0)
    C, Q = rng.normal(size=(10, 3)), rng.normal(size=(2, 3))
    assert vd.knn(Q, C, 3, metric=metric).indices[0].tolist() != [0, 1, 2]
    with pytest.raises(ValueError, match="vectors too short"):
        rerank((Q * length).astype(dtype), (C * length).astype(dtype), 3, metric=metric)


@pytest.mark.parametrize("rerank", [mutual_proximity, deduplicate])
@pytest.mark.parametrize("dtype, length", [(np.float32, 1e20), (np.float64, 1e-170)])
def test_rerankers_refuse_lengths_in_the_words_of_knn(rerank, dtype, length):
    """The re-rankers' length check was a copy of vd.knn's with its own words: for
    queries up to length 5.2e19 and a corpus up to 2.6e20 (float32) it said "lengths up
    to 3.17e+20", the sum of both, naming neither argument, and left out vd.knn's "(or
    pass float64)". It is vd.knn's check now: the same message, both lengths named."""
    rng = np.random.default_rng(0)
    C = (rng.normal(size=(10, 3)) * length).astype(dtype)
    Q = (rng.normal(size=(2, 3)) * length / 2).astype(dtype)
    # lengths scaled to 1 first (a norm of 1e-170 entries underflows: squares of 1e-340)
    q_max, c_max = (np.linalg.norm(X.astype(float) / length, axis=1).max() * length
                    for X in (Q, C))
    with pytest.raises(ValueError) as knn_err:
        vd.knn(Q, C, 3, metric="dot")
    with pytest.raises(ValueError) as err:
        rerank(Q, C, 3, metric="dot")
    assert str(err.value) == str(knn_err.value)
    assert f"queries up to length {q_max:.3g}, corpus up to {c_max:.3g}" in str(err.value)


@pytest.mark.parametrize("threshold", [None, [0.9], True])
def test_deduplicate_names_a_threshold_that_is_not_a_number(threshold):
    """threshold=None (or a list) failed in the cache key with "float() argument must be a
    string or a real number, not 'NoneType'". Named as vd.near_duplicates names it (and
    names True)."""
    C = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.001]])
    for corpus in (C, vd.Index(C)):
        with pytest.raises(ValueError, match=r"threshold must be a number in \(-1, 1\]"):
            deduplicate(C[:1], corpus, 2, threshold=threshold)


@pytest.mark.parametrize("weights", [5, [1, "x"], [1, None], "12", [1, True]])
def test_hybrid_names_weights_that_are_not_numbers(weights):
    """weights=5 failed with "'int' object is not iterable", [1, "x"] with "could not
    convert string to float: 'x'", [1, None] with float()'s message, none naming the
    argument; "12" was read as the weights 1 and 2 and [1, True] as 1 and 1."""
    dense, lexical = {"q": {"a": 1.0}}, {"q": {"b": 1.0}}
    with pytest.raises(TypeError, match="weights must be a sequence of numbers"):
        hybrid(dense, lexical, weights=weights)
    fused = hybrid(dense, lexical, weights=np.array([1, 2]), k=0)
    assert fused["q"] == pytest.approx({"b": 2.0, "a": 1.0})


@pytest.mark.parametrize("code", ["center", "whiten", "all_but_the_top"])
def test_zero_ignore_keeps_an_empty_document_at_zero_through_the_fix(code):
    """The zero-row error advises zero='ignore' "to score it 0.0". Centring then gave
    the zero row the direction -mean, which under cosine ranked the empty document near
    the top for every query. It now stays 0 through the fix and scores 0; the other rows
    rank as the transform written here in NumPy (unit rows, then the fix) says."""
    rng = np.random.default_rng(5)
    C, Q = rng.normal(size=(60, 6)) + 1.5, rng.normal(size=(4, 6)) + 1.5
    C[[7, 30]] = 0
    cls = {"center": Center, "whiten": Whiten, "all_but_the_top": AllButTheTop}[code]
    opts = {"n_remove": 2} if code == "all_but_the_top" else {}
    fix = cls(zero="ignore", **opts).fit(C)
    T = fix.transform(C)
    assert not T[[7, 30]].any() and T[[0, 59]].any()
    U = np.zeros_like(C)
    live = np.flatnonzero(C.any(axis=1))
    U[live] = C[live] / np.linalg.norm(C[live], axis=1, keepdims=True)
    if code == "center":                # the one closed form here: u(C) - mean
        np.testing.assert_allclose(T[live], U[live] - U.mean(axis=0), atol=1e-12)
    TQ = fix.transform(Q)
    for steps, metric in (("cosine_metric+" + code, "dot"), (code, "dot")):
        if metric == "dot" and "cosine" not in steps:
            ref_scores = TQ @ T.T
        else:
            Tn = np.zeros_like(T)
            Tn[live] = T[live] / np.linalg.norm(T[live], axis=1, keepdims=True)
            ref_scores = (TQ / np.linalg.norm(TQ, axis=1, keepdims=True)) @ Tn.T
        ref = np.argsort(-ref_scores, axis=1, kind="stable")
        for corpus in (C, vd.Index(C, metric="dot")):
            got = apply_fix(steps, Q, corpus, 60, metric="dot", zero="ignore",
                            **({"normalize_first": True} if "cosine" not in steps else {}),
                            **opts)
            for i in range(len(Q)):
                row = list(got.indices[i])
                for empty in (7, 30):
                    assert got.scores[i][row.index(empty)] == 0.0
                np.testing.assert_allclose(got.scores[i], ref_scores[i][got.indices[i]],
                                           atol=1e-9)
                np.testing.assert_allclose(np.sort(got.scores[i])[::-1],
                                           ref_scores[i][ref[i]], atol=1e-9)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("chunks", [(1, 4), (3, 4), (8, 2)])
def test_hybrid_lexical_on_a_dask_index_ranks_by_row_blocks(metric, chunks):
    """apply_fix("hybrid_lexical") on an Index over a Dask array (explain_neighbors with
    texts runs it) scored the queries against the lazy corpus and sorted the lazy block
    with np.argsort, which Dask computed whole through NumPy's fallback with a
    FutureWarning ("may stop working"); the dense ranking now comes from knn's Dask path.
    Checked against RRF by hand over a NumPy brute-force ranking (ties to the lower row:
    exact copies sit in different chunks) and BM25's."""
    da = pytest.importorskip("dask.array")
    import warnings

    texts = ["the cat sat on the mat", "dogs chase cats", "a quick brown fox", "cat cat cat",
             "stock markets fell", "the dog slept", "cat and dog", "markets and cats"]
    rng = np.random.default_rng(3)
    C = rng.normal(size=(8, 4)) + 1.0
    C[5] = C[0]                                   # an exact copy in another chunk
    Q = np.vstack([C[0] + 0.01, C[4]])
    query_texts = ["cat", "markets fell"]
    for depth in (None, 3):
        opts = {} if depth is None else {"depth": depth}
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            got = apply_fix("hybrid_lexical", Q, vd.Index(da.from_array(C, chunks=chunks),
                                                          metric=metric),
                            k=8, texts=texts, query_texts=query_texts, **opts)
        if metric == "cosine":
            U = C / np.linalg.norm(C, axis=1, keepdims=True)
            S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ U.T
        elif metric == "dot":
            S = Q @ C.T
        else:
            S = -np.linalg.norm(Q[:, None, :] - C[None, :, :], axis=2)
        dense = np.argsort(-S, axis=1, kind="stable")[:, :depth or 8]
        lexical = vd.lexical.bm25(query_texts, texts, k=8)
        for i in range(2):
            expected = {}
            for r, d in enumerate(dense[i].tolist(), 1):
                expected[d] = expected.get(d, 0) + 1 / (60 + r)
            for r, d in enumerate(lexical[i], 1):
                expected[d] = expected.get(d, 0) + 1 / (60 + r)
            shown = {d: v for d, v in zip(got.indices[i].tolist(), got.scores[i].tolist())
                     if v > 0}
            assert shown == pytest.approx(expected, rel=1e-12)


def test_chunk_text_keeps_combining_marks_on_their_character():
    """Decomposed Japanese (NFD, as macOS writes text: "が" is "か" + U+3099) and a kanji
    with a variation selector: each mark was a "word" of its own, so "がぎぐ" counted six
    words and a window could start with a bare mark. A character keeps its marks now;
    the chunks are the composed text's chunks, decomposed again."""
    import unicodedata

    from vecdiag.fixes.text import chunk_text, words_of

    composed = "がぎぐげご 東京タワー"
    nfd = unicodedata.normalize("NFD", composed)
    assert len(words_of(nfd)) == len(words_of(composed)) == 10
    assert chunk_text(nfd, 2, 0) == [unicodedata.normalize("NFD", c)
                                     for c in chunk_text(composed, 2, 0)]
    assert chunk_text(composed, 2, 0) == ["がぎ", "ぐげ", "ご 東", "京タ", "ワー"]
    ivs = "葛\U000E0100飾区"                 # 葛 with an ideographic variation selector
    assert list(words_of(ivs)) == ["葛\U000E0100", "飾", "区"]


def test_chunk_text_and_the_explanations_unread_windows_are_one_rule():
    """explain's windows past a model's cut (unread_windows) re-implemented chunk_text's
    rule by hand (windows of ``read`` words, a quarter-window stride, the last reaching
    the end). Both now come from fixes.text.chunk_spans, checked here against the text
    chunk_text writes and a brute-force list of spans."""
    from vecdiag.explain.text_evidence import unread_windows
    from vecdiag.fixes.text import chunk_spans, chunk_text

    for n in range(1, 14):
        words = [f"w{i}" for i in range(n)]
        for size in range(2, 6):
            for overlap in range(size):
                spans = chunk_spans(n, size, overlap)
                assert [" ".join(words[a:b]) for a, b in spans] == \
                    chunk_text(" ".join(words), size, overlap)
                starts = list(range(0, n, size - overlap)) if n > size else [0]
                starts = [s for i, s in enumerate(starts) if i == 0 or starts[i - 1] + size < n]
                assert spans == [(s, min(s + size, n)) for s in starts]
        for read in range(1, n):
            step = max(1, read // 4)
            assert unread_windows(n, read) == [(read + a, read + b) for a, b in
                                               chunk_spans(n - read, read, read - step)]
    assert unread_windows(10, 4) == [(4, 8), (5, 9), (6, 10)]


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_mutual_proximity_does_not_change_when_every_vector_is_scaled(metric):
    """MP's z-scores are scale-free, but σ was floored at 1e-12 itself: dot-product
    vectors of length ~1e-6 (similarities ~1e-12) or euclidean ones of ~1e-30 had their
    σ floored, every z-score squeezed to ~0, and a ranking unlike the unscaled one (MP
    values off by up to 0.75). The floor is relative now; reference: MP-Gauss with
    scipy's normal CDF on the unscaled vectors."""
    rng = np.random.default_rng(4)
    C, Q = rng.normal(size=(15, 4)), rng.normal(size=(3, 4))
    S = Q @ C.T if metric == "dot" else -np.linalg.norm(Q[:, None] - C[None], axis=2)
    D = C @ C.T if metric == "dot" else -np.linalg.norm(C[:, None] - C[None], axis=2)
    others = ~np.eye(15, dtype=bool)
    mu = np.array([D[i, others[i]].mean() for i in range(15)])
    sd = np.array([D[i, others[i]].std() for i in range(15)])
    ref = (normal_dist.cdf((S - S.mean(axis=1, keepdims=True)) / S.std(axis=1, keepdims=True))
           * normal_dist.cdf((S - mu) / sd))
    order = rank_order(ref)
    expected = np.take_along_axis(ref, order, axis=1)
    for scale in (1.0, 1e-7, 1e-30):
        got = mutual_proximity(Q * scale, C * scale, k=15, metric=metric)
        np.testing.assert_array_equal(got.indices, order)
        np.testing.assert_allclose(got.scores, expected if metric == "dot" else 1 - expected,
                                   atol=1e-12)


@pytest.mark.parametrize("chunk_words, overlap, message", [
    (3, 5, "overlap=5 must be smaller than chunk_words=3"),
    (3, 3, "overlap=3 must be smaller than chunk_words=3"),
    (3, -1, "overlap must be at least 0, got -1"),
    (0, 0, "chunk_words must be at least 1, got 0")])
def test_chunk_text_refuses_windows_that_do_not_move_forward(chunk_words, overlap, message):
    """chunk_text("a b c d e f g", 3, 5) returned [] (the text dropped), (3, -1) gave
    ['a b c', 'e f g'] (the word "d" in no chunk), (3, 3) failed in range(); each is
    refused now, naming the argument, as vecdiag.scratch.chunk and chunk_documents do,
    whether or not the text needs cutting. Valid windows: the scratch twin's."""
    from vecdiag import scratch
    from vecdiag.fixes.text import chunk_text

    for text in ("a b c d e f g", "a b"):
        with pytest.raises(ValueError, match=message):
            chunk_text(text, chunk_words, overlap)
    assert chunk_text("a b c d e f g", 3, 2) == [
        " ".join(w) for w in scratch.chunk("a b c d e f g".split(), 3, 2)]
