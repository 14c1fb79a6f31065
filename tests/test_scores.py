"""score_percentile against scipy.stats.percentileofscore over every pair (brute force);
ann_recall against hand-counted overlaps, with ties at the k-th score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import percentileofscore

import vecdiag as vd
from vecdiag.scores import random_pair_scores


def all_pair_scores(X, metric):
    X = np.asarray(X, dtype=float)
    if metric == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
    i, j = np.triu_indices(len(X), k=1)
    if metric == "euclidean":
        return np.linalg.norm(X[i] - X[j], axis=1)
    return (X[i] * X[j]).sum(axis=1)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_score_percentile_exact_small_corpus(gaussian, metric):
    X = gaussian[:60]
    ref = all_pair_scores(X, metric)
    # midpoints between consecutive pair scores: no float ties between two computations
    srt = np.sort(ref)
    mids = (srt[:-1] + srt[1:])[::250] / 2
    queries = np.concatenate([mids, [ref.min() - 1, ref.max() + 1]])
    got = vd.score_percentile(queries, X, metric=metric, n_pairs=10_000)
    if metric == "euclidean":  # share of pairs farther apart
        expected = [100 - percentileofscore(ref, s, kind="mean") for s in queries]
    else:
        expected = [percentileofscore(ref, s, kind="mean") for s in queries]
    np.testing.assert_allclose(got, expected, atol=1e-9)


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_score_percentile_ties_take_half(metric):
    """Integer vectors: pair scores are exact, so ties are real ties."""
    X = np.random.default_rng(1).integers(-2, 3, size=(40, 3)).astype(float)
    ref = all_pair_scores(X, metric)
    queries = np.unique(ref)[::3]
    got = vd.score_percentile(queries, X, metric=metric)
    sign = -1 if metric == "euclidean" else 1
    expected = [(sign < 0) * 100 + sign * percentileofscore(ref, s, kind="mean") for s in queries]
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_score_percentile_sampled_close_to_exact(gaussian):
    X = gaussian  # 200 rows: 19,900 pairs, sampled 5,000 with replacement
    ref = all_pair_scores(X, "cosine")
    s = np.quantile(ref, [0.05, 0.25, 0.5, 0.75, 0.95])
    got = vd.score_percentile(s, X, n_pairs=5_000, random_state=3)
    # binomial standard error of a share at 5,000 draws is at most 0.71 points
    np.testing.assert_allclose(got, [5, 25, 50, 75, 95], atol=3.0)
    again = vd.score_percentile(s, X, n_pairs=5_000, random_state=3)
    np.testing.assert_array_equal(got, again)


def test_random_pairs_are_distinct_and_uniform():
    X = np.arange(1, 11, dtype=float)[:, None] * np.ones((1, 2))  # all parallel: cosine 1
    assert np.all(np.isclose(random_pair_scores(X, n_pairs=5), 1.0))
    E = np.eye(5)  # distinct unit vectors: any pair i != j scores 0, i == j would score 1
    pairs = random_pair_scores(E, metric="dot", n_pairs=3, random_state=0)
    assert pairs.size == 3 and np.all(pairs == 0)


def test_the_score_of_an_exact_copy_ties_with_the_copies_among_the_pairs():
    # Six copies of (1, 1, 1): their unit rows multiply to 1 + 2e-16, and the search
    # reports the (clipped) 1.0 of a copy, which used to rank below every copy pair.
    # Reference: cosine(a, a) = 1 for the 15 copy pairs, scipy for the others.
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(8)
    corpus = np.vstack([np.ones((6, 3)), rng.normal(size=(3, 3))])
    i, j = np.triu_indices(len(corpus), k=1)
    ref = 1.0 - cdist(corpus, corpus, "cosine")[i, j]
    ref[(i < 6) & (j < 6)] = 1.0
    hit = vd.knn(corpus[:1], corpus, k=1).scores[0, 0]
    assert hit == 1.0
    assert vd.score_percentile(hit, corpus) == pytest.approx(
        percentileofscore(ref, 1.0, kind="mean"), abs=1e-9)            # 79.2, not 58.3
    assert vd.score_percentile(1.0, np.ones((5, 3))) == pytest.approx(50.0)  # all tied


def test_an_index_caches_the_pairs_of_a_seed_only(gaussian):
    # An Index caches its random pairs; a Generator was keyed by id(): the same Generator
    # gave the same pairs again, and a new Generator at a freed one's address got that
    # one's pairs. Reference: the same draws on the plain array, which is never cached.
    index = vd.Index(gaussian)
    for seed in range(6):
        got = random_pair_scores(index, n_pairs=200, random_state=np.random.default_rng(seed))
        want = random_pair_scores(gaussian, n_pairs=200,
                                  random_state=np.random.default_rng(seed))
        np.testing.assert_array_equal(got, want)
    gen, ref = np.random.default_rng(50), np.random.default_rng(50)
    for _ in range(2):                         # each call takes the next draws
        np.testing.assert_array_equal(random_pair_scores(index, n_pairs=200, random_state=gen),
                                      random_pair_scores(gaussian, n_pairs=200,
                                                         random_state=ref))
    for seed in (3, np.int64(3)):              # a seed: the same pairs, computed once
        np.testing.assert_array_equal(random_pair_scores(index, n_pairs=200, random_state=seed),
                                      random_pair_scores(gaussian, n_pairs=200, random_state=3))
    assert random_pair_scores(index, n_pairs=200, random_state=np.int64(3)) is \
        random_pair_scores(index, n_pairs=200, random_state=3)


def test_score_percentile_shapes_cache_and_errors(gaussian, with_zero_row):
    index = vd.Index(gaussian)
    out = vd.score_percentile(np.zeros((3, 4)), index)
    assert out.shape == (3, 4)
    assert vd.score_percentile(0.1, index).shape == ()
    assert any(key[0] == vd.cache_keys.random_pairs("cosine", 1, 0)[0] for key in index.cache)
    with pytest.raises(ValueError, match=r"corpus has a zero vector at row 7"):
        vd.score_percentile([0.5], with_zero_row)
    with pytest.raises(ValueError, match="scores has 1 non-finite"):
        vd.score_percentile([np.nan], gaussian)
    with pytest.raises(ValueError, match="random pairs need at least 2"):
        vd.score_percentile([0.5], gaussian[:1])


def test_ann_recall_overlap_by_hand():
    exact = np.array([[0, 1, 2], [3, 4, 5]])
    assert vd.ann_recall(np.array([[0, 1, 2], [3, 9, 8]]), exact) == pytest.approx((1 + 1 / 3) / 2)
    # order does not matter, repeats count once, short rows count as misses
    assert vd.ann_recall([[2, 1, 0], [5, 5]], exact) == pytest.approx((1 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="approx has 1 queries but exact has 2"):
        vd.ann_recall([[0]], exact)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_ann_recall_counts_ties_as_found(with_duplicates, metric):
    X = with_duplicates  # rows 3, 50, 120 identical
    exact = vd.knn(X[3:4], X, k=2, metric=metric)  # ties broken by index: [3, 50]
    assert exact.indices[0].tolist() == [3, 50]
    other = vd.Neighbors(indices=np.array([[3, 120]]), scores=exact.scores.copy(),
                         metric=metric, k=2)
    assert vd.ann_recall(other, exact) == 1.0
    # without scores there is no way to know 120 ties with 50: plain overlap
    assert vd.ann_recall(other.indices, exact) == 0.5
    # a genuinely worse document is not a tie
    worse = vd.knn(X[3:4], X, k=4, metric=metric)
    wrong = vd.Neighbors(indices=worse.indices[:, [0, 3]], scores=worse.scores[:, [0, 3]],
                         metric=metric, k=2)
    assert vd.ann_recall(wrong, exact) == 0.5


@pytest.mark.parametrize("tolerance", [{"rtol": float("nan")}, {"atol": float("nan")},
                                       {"atol": float("inf")}, {"rtol": -1e-5}])
def test_ann_recall_tolerance_must_be_finite(tolerance):
    """Rows 0 and 1 are copies: returning row 1 for the exact top-1 (row 0) is a tie,
    recall 1.0. rtol=NaN passed the "< 0" check and made it 0.0; atol=inf counted row 2
    (cosine 0 against the k-th score 1) as found."""
    C = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    q = np.array([[1.0, 0.0]])
    exact = vd.knn(q, C, 1)
    assert vd.ann_recall([[1]], exact, queries=q, corpus=C) == 1.0
    assert vd.ann_recall([[2]], exact, queries=q, corpus=C) == 0.0
    name = next(iter(tolerance))
    with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0"):
        vd.ann_recall([[1]], exact, queries=q, corpus=C, **tolerance)


def test_ann_recall_with_ids(gaussian):
    ids = [f"d{i}" for i in range(len(gaussian))]
    exact = vd.Index(gaussian, ids=ids).search(gaussian[:2], k=3)
    approx = [list(exact.ids[0]), [exact.ids[1][0], "nope"]]
    assert vd.ann_recall(approx, exact) == pytest.approx((1 + 1 / 3) / 2)


def test_ann_recall_integer_ids_are_never_taken_for_positions(gaussian):
    """Integer document ids (100, 101, ...) are not row positions: ambiguous integers
    are refused until labels= says which; said, both readings are right; ids that equal
    the positions, and -1 padding (a miss), need nothing."""
    n = len(gaussian)
    exact = vd.Index(gaussian, ids=list(range(100, 100 + n))).search(gaussian[:3], k=4)
    with pytest.raises(ValueError, match="labels='ids'"):
        vd.ann_recall(exact.ids.tolist(), exact)
    assert vd.ann_recall(exact.ids.tolist(), exact, labels="ids") == 1.0
    assert vd.ann_recall(exact.indices, exact, labels="positions") == 1.0
    assert vd.ann_recall(exact.indices[:, ::-1] + 100, exact, labels="ids") == 1.0
    assert vd.ann_recall(exact, exact) == 1.0                  # a Neighbors: positions
    same = vd.Index(gaussian, ids=np.arange(n)).search(gaussian[:3], k=4)
    assert vd.ann_recall(same.indices.tolist(), same) == 1.0
    padded = np.where(np.arange(4) < 2, exact.indices, -1)     # faiss: -1 = no result
    assert vd.ann_recall(padded, exact.indices) == 0.5
    with pytest.raises(ValueError, match="labels must be"):
        vd.ann_recall(exact.indices, exact, labels="rows")


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_ann_recall_recomputes_scores_from_vectors(with_duplicates, metric):
    """With the vectors, index arrays get the tie rule, and wrong approximate scores
    (as a PQ index would report) are not trusted."""
    X = with_duplicates
    Q = X[[3, 10]]
    exact = vd.knn(Q, X, k=2, metric=metric)
    approx = exact.indices.copy()
    approx[0, 1] = 120  # an exact copy of row 50: a tie
    got = vd.ann_recall(approx, exact.indices, queries=Q, corpus=X, metric=metric)
    assert got == 1.0
    far = vd.knn(Q, X, k=len(X), metric=metric).indices[0, -1]
    approx[0, 1] = far
    lying = vd.Neighbors(indices=approx, scores=exact.scores.copy(), metric=metric, k=2)
    assert vd.ann_recall(lying, exact) == 1.0  # trusts the (wrong) reported scores
    assert vd.ann_recall(lying, exact, queries=Q, corpus=X) == 0.75  # recomputed: a miss
    with pytest.raises(ValueError, match="pass both queries= and corpus="):
        vd.ann_recall(lying, exact, queries=Q)


def test_score_percentile_reads_an_index_s_metric():
    """A dot score of 5 against a dot Index is a dot score (not an impossible cosine)."""
    X = np.random.default_rng(3).normal(size=(60, 4))
    for metric in ("dot", "euclidean"):
        assert vd.score_percentile(2.0, vd.Index(X, metric=metric)) == \
            vd.score_percentile(2.0, X, metric=metric)
    assert vd.score_percentile(0.5, X) == vd.score_percentile(0.5, X, metric="cosine")


def test_rerankers_take_numpy_numbers_and_name_overflowing_scores():
    X = np.random.default_rng(4).normal(size=(20, 4))
    assert vd.fixes.mmr(X[0], X, 3, lambda_=np.float32(0.5)).indices.shape == (1, 3)
    with pytest.raises(ValueError, match="vectors too long for euclidean scores"):
        vd.fixes.mutual_proximity(X[:3] * 1e200, X * 1e200, 2, metric="euclidean")
    with pytest.raises(ValueError, match="first$"):        # float64 already: no such hint
        vd.knn(X[:3] * 1e200, X * 1e200, 2, metric="euclidean")


def test_score_percentile_reads_torch_scores_like_any_vector(gaussian):
    """Scores straight from a model (a bfloat16 tensor, or one still tracking grad) are
    read as every vector input is: bfloat16 was 'Got unsupported ScalarType BFloat16'
    from inside torch, a grad tensor torch's own 'Can't call numpy()'."""
    torch = pytest.importorskip("torch")
    X = gaussian[:60]
    ref = all_pair_scores(X, "cosine")
    s = [0.25, -0.5, 0.0]                          # exact in bfloat16
    expected = [percentileofscore(ref, x, kind="mean") for x in s]
    got = vd.score_percentile(torch.tensor(s, dtype=torch.bfloat16), X, n_pairs=10_000)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    with pytest.raises(TypeError, match=r"scores is a torch tensor that requires grad; "
                                        r"pass scores.detach\(\)"):
        vd.score_percentile(torch.tensor(s, requires_grad=True), X)


def test_ann_recall_reads_torch_index_tensors_as_positions(gaussian):
    """torch.topk's indices (a tensor, or a list of per-query tensors) are corpus positions;
    their entries are 0-d tensors, not ints, so they were taken for ids and refused
    ('approx holds ids, not corpus positions'). Recall is the hand-counted overlap."""
    torch = pytest.importorskip("torch")
    X = torch.tensor(gaussian[:50])
    Xn = X / X.norm(dim=1, keepdim=True)
    exact = torch.topk(Xn[:4] @ Xn.T, 5).indices                 # brute force, in torch
    approx = exact.clone()
    approx[0, 4] = approx[0, 3]                                   # query 0: one miss
    approx[2, :2] = -1                                            # query 2: two misses
    expected = (4 / 5 + 1 + 3 / 5 + 1) / 4
    assert vd.ann_recall(approx, exact) == pytest.approx(expected)
    assert vd.ann_recall(list(approx), exact.numpy()) == pytest.approx(expected)
    assert vd.ann_recall(approx, vd.knn(gaussian[:4], gaussian[:50], 5)) == \
        pytest.approx(expected)
