"""vd.explain_neighbors on a Dask corpus: the same ranking, ranks, causes and first cause as
the NumPy path on corpora with planted failures (a hub, rogue dimensions, long documents
under dot product, near-copies crowding the top-k), exact below the exact limit and
sampled above it (stated as estimated); on a LocalCluster and on the threaded scheduler."""

from __future__ import annotations

import numpy as np
import pytest

import explain_planted as planted
import vecdiag as vd
from vecdiag import cache_keys
from vecdiag.scale import chunks as scale_chunks
from _dask_cluster import worker_tasks
from _peaks import lowest_peak

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
dask = pytest.importorskip("dask")


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


CASES = {"hub": (planted.hub, 800, 64), "rogue_dimensions": (planted.rogue_dimensions, 600, 32),
         "norm_bias": (planted.norm_bias, 600, 32),
         "near_duplicates": (planted.near_duplicates, 600, 32)}


def _case(name, seed=0):
    make, n, d = CASES[name]
    return make(np.random.default_rng(seed), n, d)


def _explain(case, corpus, **kwargs):
    return vd.explain_neighbors(case.query, corpus, k=case.k, expected=case.expected,
                                metric=case.metric, **kwargs)


def _agree(a, b, *, confidence_tol=0.02):
    """Same search, same expected ranks, same causes in the same order."""
    assert a.top_ids == b.top_ids
    np.testing.assert_allclose(a.top_scores, b.top_scores, rtol=1e-6, atol=1e-9)
    assert [(e.id, e.rank) for e in a.expected] == [(e.id, e.rank) for e in b.expected]
    assert [c.code for c in a.causes] == [c.code for c in b.causes]
    for x, y in zip(a.causes, b.causes):
        assert abs(x.confidence - y.confidence) <= confidence_tol, (x.code, x.confidence,
                                                                    y.confidence)
        assert x.fix == y.fix
    fixes_a = {c.fix: c.expected_ranks for c in a.counterfactuals}
    fixes_b = {c.fix: c.expected_ranks for c in b.counterfactuals}
    assert fixes_a.keys() == fixes_b.keys()
    return fixes_a, fixes_b


@pytest.mark.parametrize("name", sorted(CASES))
def test_planted_causes_agree_exact_regime(threads, name):
    case = _case(name)
    want = _explain(case, case.corpus)
    got = _explain(case, da.from_array(case.corpus, chunks=(128, -1)))
    assert want.causes[0].code == name  # the planted failure is found first ...
    fixes_a, fixes_b = _agree(want, got)  # ... and the Dask path says the same
    for fix in fixes_a:
        if fix != "deduplicate":  # the same whole-corpus ranks under every fix
            assert fixes_a[fix] == fixes_b[fix], fix
    assert got.stats["exact"] and got.stats["n"] == case.corpus.shape[0]


@pytest.mark.parametrize("name", ["hub", "near_duplicates"])
def test_planted_causes_agree_sampled_regime(threads, name):
    case = _case(name, seed=1)
    opts = {"max_exact": 200, "sample_size": 400, "random_state": 3}
    want = _explain(case, case.corpus, **opts)
    got = _explain(case, da.from_array(case.corpus, chunks=(100, -1)), **opts)
    assert not want.stats["exact"] and not got.stats["exact"]
    assert got.stats["sample_size"] == 400
    assert want.causes[0].code == name
    _agree(want, got, confidence_tol=0.05)
    # the same sampled rows give the same k-occurrence estimate
    assert want.stats["k_occurrence_max"] == got.stats["k_occurrence_max"]


def test_hub_estimated_is_stated(threads):
    case = _case("hub", seed=2)
    got = _explain(case, da.from_array(case.corpus, chunks=(200, -1)), max_exact=100,
                   sample_size=500)
    hub = next(c for c in got.causes if c.code == "hub")
    assert "about" in hub.summary
    assert "estimated from 500 sampled rows, 95% interval" in hub.summary
    assert hub.evidence["k_occurrence_exact"] is False
    assert hub.evidence["k_occurrence_sample_size"] == 500
    low, high = hub.evidence["k_occurrence_interval"]
    assert low < hub.evidence["k_occurrence"] < high
    exact = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected)
    true = next(c for c in exact.causes if c.code == "hub").evidence
    if true["hub"] == hub.evidence["hub"]:
        assert low <= true["k_occurrence"] <= high  # the interval holds the exact count
    # the estimate: reverse neighbours of the hub among the sampled rows, scaled to n
    X = case.corpus
    rows = np.sort(np.random.default_rng(0).choice(X.shape[0], 500, replace=False))
    nb = vd.knn(X[rows], X, k=11)
    lists = [r[r != p][:10] for r, p in zip(nb.indices, rows)]
    h = int(hub.evidence["hub"])
    want = sum(h in r for r in lists) * X.shape[0] / 500
    assert hub.evidence["k_occurrence"] == pytest.approx(want)


def test_explain_dask_on_workers_and_cached_statistics(dask_client):
    case = _case("norm_bias", seed=3)
    index = vd.Index(da.from_array(case.corpus.astype(np.float32), chunks=(150, -1)),
                     metric="dot", ids=[f"d{i}" for i in range(case.corpus.shape[0])])
    np_index = vd.Index(case.corpus.astype(np.float32), metric="dot",
                        ids=[f"d{i}" for i in range(case.corpus.shape[0])])
    with worker_tasks(dask_client) as ran:
        got = vd.explain_neighbors(case.query, index, k=case.k,
                                   expected=[f"d{case.expected[0]}"])
    assert ran.workers
    want = vd.explain_neighbors(case.query, np_index, k=case.k, expected=[f"d{case.expected[0]}"])
    _agree(want, got)
    assert got.causes[0].code == "norm_bias"
    assert cache_keys.explain_stats(case.k, 0) in index.cache  # statistics kept on the Index
    with worker_tasks(dask_client) as again:  # statistics cached: only the query's passes
        vd.explain_neighbors(case.query, index, k=case.k, expected=[f"d{case.expected[0]}"])
    assert 0 < again.n_tasks < ran.n_tasks


def test_explain_dask_without_expected_and_euclidean(threads):
    case = planted.metric_mismatch(np.random.default_rng(4), 500, 16)
    want = _explain(case, case.corpus)
    got = _explain(case, da.from_array(case.corpus, chunks=(90, -1)))
    _agree(want, got)
    a = vd.explain_neighbors(case.query, case.corpus, k=5, metric="cosine")
    b = vd.explain_neighbors(case.query, da.from_array(case.corpus, chunks=(90, -1)), k=5)
    assert [c.code for c in a.causes] == [c.code for c in b.causes]
    assert a.top_ids == b.top_ids


@pytest.mark.parametrize("chunks", [(300, -1), (37, 5)])
def test_centred_cosine_counterfactual_on_a_dask_euclidean_corpus(threads, chunks):
    """Under euclidean with a shared direction the in-memory path adds
    ``cosine_metric+center`` (centre the rows as given, search by cosine); the Dask path
    had no such counterfactual. Its ranks are checked against NumPy by hand: the rows,
    their mean subtracted, cosine with the query less the same mean, ties by lower row."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12)) + rng.normal(size=12) * 4     # one shared direction
    X[9] *= 2
    q = X[5] + rng.normal(size=12) * 1.5
    T, t = X - X.mean(axis=0), q - X.mean(axis=0)
    cos = T @ t / (np.linalg.norm(T, axis=1) * np.linalg.norm(t))
    order = np.lexsort((np.arange(300), -cos))
    want_ranks = {i: int(np.flatnonzero(order == i)[0]) + 1 for i in (9, 20)}
    want = vd.explain_neighbors(q, X, k=5, expected=[9, 20], metric="euclidean")
    got = vd.explain_neighbors(q, da.from_array(X, chunks=chunks), k=5, expected=[9, 20],
                               metric="euclidean")
    fixes_a, fixes_b = _agree(want, got)
    cf = {c.fix: c for c in got.counterfactuals}["cosine_metric+center"]
    assert cf.expected_ranks == want_ranks == fixes_a["cosine_metric+center"]
    assert cf.top == order[:5].tolist()
    # a zero row is a point like any other once the rows are centred: both paths rank it
    X[3] = 0
    ranks = [{c.fix: c for c in vd.explain_neighbors(
        q, corpus, k=5, expected=[3], metric="euclidean").counterfactuals}[
            "cosine_metric+center"].expected_ranks for corpus in (X, da.from_array(X, chunks=chunks))]
    T = X - X.mean(axis=0)
    cos = T @ (q - X.mean(axis=0)) / np.linalg.norm(T, axis=1)
    assert ranks[0] == ranks[1] == {3: int(np.sum(cos > cos[3])) + 1}


def test_explain_dask_bad_inputs(threads):
    X = np.random.default_rng(0).normal(size=(50, 8))
    Xd = da.from_array(X, chunks=20)
    with pytest.raises(ValueError, match=r"expected has 1 document not in the corpus: 77"):
        vd.explain_neighbors(X[0], Xd, expected=[77])
    with pytest.raises(ValueError, match="dimension mismatch"):
        vd.explain_neighbors(X[0, :5], Xd)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        vd.explain_neighbors(X[0], Xd[Xd[:, 0] > -10])
    bad = X.copy()
    bad[[3, 41]] = np.nan
    with pytest.raises(ValueError, match=r"corpus has 2 rows \(3, 41\) with NaN or inf"):
        vd.explain_neighbors(X[0], da.from_array(bad, chunks=20))
    with pytest.raises(ValueError, match="k="):
        vd.explain_neighbors(X[0], Xd, k=51)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sampled_dask_finds_what_exact_numpy_finds(threads, name):
    """The truth is the exact NumPy explanation (a user's Index: exact statistics); the
    Dask corpus above max_exact estimates k-occurrence from a quarter of the rows and
    must name the same causes, the same one first."""
    case = _case(name, seed=5)
    n = case.corpus.shape[0]
    want = vd.explain_neighbors(case.query, vd.Index(case.corpus, metric=case.metric),
                                k=case.k, expected=case.expected)
    got = _explain(case, da.from_array(case.corpus, chunks=(128, -1)), max_exact=100,
                   sample_size=n // 4)
    assert want.stats["exact"] and not got.stats["exact"]
    assert got.causes[0].code == want.causes[0].code == name
    # every cause material (confidence >= 0.05) in either explanation is named by both,
    # in the same order; sampling noise may move a negligible one across 0.05 (the rogue
    # case's hub: 0.04 exact, 0.07 from a quarter of the rows, its raw "copies" no longer
    # discounting its lists) or add or drop one below it (a 0.02 "hub" from a 4x-scaled
    # count)
    def codes(exp, at=0.0):
        return [c.code for c in exp.causes if c.confidence >= at]

    material = set(codes(got, 0.05)) | set(codes(want, 0.05))
    assert [c for c in codes(got) if c in material] == [c for c in codes(want) if c in material]
    assert [(e.id, e.rank) for e in got.expected] == [(e.id, e.rank) for e in want.expected]


def test_k_occurrence_interval_covers_the_exact_count():
    """The hub cause's 95% interval (Wilson, finite-population corrected, on the count in
    the sampled lists) holds the exact k-occurrence in 90-99% of sample draws."""
    from types import SimpleNamespace

    from vecdiag.explain.corpus_checks import k_occurrence_interval
    from vecdiag.explain.stats import CorpusStats

    case = planted.hub(np.random.default_rng(2), 2000, 64)
    index = vd.Index(case.corpus)
    exact = vd.hubness(index, 10).k_occurrence
    order = np.argsort(-exact, kind="stable")
    rows = [int(r) for r in order[[0, 4, 8, 12, 16, 300]]]
    hits = total = 0
    for seed in range(60):
        stats = CorpusStats(index, 10, max_exact=100, sample_size=200, random_state=seed,
                            owned=True)
        ctx = SimpleNamespace(stats=stats)
        for r in rows:
            low, high = k_occurrence_interval(ctx, r)
            hits += low <= exact[r] <= high
            total += 1
    assert 0.90 <= hits / total <= 0.99, hits / total


def _tie_rule_ranks(keys_of_rows, X, positions):
    """1-based ranks of ``positions`` under keys computed once per distinct row (so exact
    copies tie exactly), higher first, equal keys by lower row."""
    distinct, inverse = np.unique(X, axis=0, return_inverse=True)
    keys = keys_of_rows(distinct)[inverse.ravel()]
    order = np.lexsort((np.arange(X.shape[0]), -keys))
    where = np.empty(X.shape[0], dtype=np.int64)
    where[order] = np.arange(1, X.shape[0] + 1)
    return where[positions]


def _copies_in_other_chunks(seed: int, trials: int = 20):
    """Random corpora ``(X, j, q, chunks, n, d)`` whose row j is an exact copy of row 0,
    cut into row chunks that keep the two apart."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        n, d = int(rng.integers(4, 24)), int(rng.integers(2, 24))
        X = rng.normal(size=(n, d)) + 1
        j = int(rng.integers(2, n))
        X[j] = X[0]
        q = rng.normal(size=d) + 1
        yield X, j, q, (int(rng.integers(1, j + 1)), d), n, d


def test_counterfactuals_keep_the_tie_rule_for_copies_in_other_chunks(threads):
    """The centring and cosine counterfactuals of a Dask corpus scored each block with
    ``T @ q``, whose last bit depends on the block's size: an exact copy of row 0 in a
    block of another size got a different key, and in 7 of the 100 checks below the copy
    ranked above row 0 (center under dot on 7 rows in blocks of 2: top [1, 5, 3, 6, 0, 2],
    in memory [1, 5, 3, 0, 6, 2]). Reference: each distinct row scored once by NumPy
    (copies tie exactly), ties to the lower row; only the ranks of row 0 and its copy are
    compared (rounding elsewhere may differ)."""
    wrong = []
    for trial, (X, j, q, chunks, n, d) in enumerate(_copies_in_other_chunks(21)):
        for metric in ("cosine", "dot", "euclidean"):
            index = vd.Index(da.from_array(X, chunks=chunks), metric=metric)
            exp = vd.explain_neighbors(q, index, k=n, expected=[0, j])
            cfs = {c.fix: c.expected_ranks for c in exp.counterfactuals}
            unit = lambda A: A / np.linalg.norm(A, axis=-1, keepdims=True)  # noqa: E731
            if metric == "cosine":
                mean = unit(X).mean(axis=0)
                refs = {"center": lambda R: unit(unit(R) - mean) @ unit(unit(q) - mean)}
            else:
                mean = X.mean(axis=0)
                score = ((lambda R: (R - mean) @ (q - mean)) if metric == "dot" else
                         (lambda R: -np.linalg.norm(R - q, axis=1)))
                refs = {"center": score, "cosine_metric": lambda R: unit(R) @ unit(q)}
            for fix, keys_of_rows in refs.items():
                want = _tie_rule_ranks(keys_of_rows, X, [0, j]).tolist()
                got = [cfs[fix][0], cfs[fix][j]]
                if got != want:
                    wrong.append((trial, metric, fix, got, want))
    assert wrong == []


def test_expected_ranks_keep_the_tie_rule_for_copies_in_other_chunks(threads):
    """The scores explain ranks a Dask corpus by (DaskIndex's full scores) came from one
    matrix product per block, whose last bit depends on the block's size: an exact copy of
    row 0 in a block of another size could score above it, and the expected documents'
    ranks (and the ranking every counterfactual is compared with) put the copy first,
    while the neighbours (the exact search) put row 0 first. Reference: NumPy scores of
    each distinct row once (copies tie exactly), ties to the lower row."""
    wrong = []
    for trial, (X, j, q, chunks, n, d) in enumerate(_copies_in_other_chunks(22)):
        for metric in ("cosine", "dot", "euclidean"):
            exp = vd.explain_neighbors(q, vd.Index(da.from_array(X, chunks=chunks),
                                                   metric=metric), k=3, expected=[0, j])
            if metric == "cosine":
                score = lambda R: (R / np.linalg.norm(R, axis=1, keepdims=True)) @ (  # noqa
                    q / np.linalg.norm(q))
            elif metric == "dot":
                score = lambda R: R @ q  # noqa: E731
            else:
                score = lambda R: -np.linalg.norm(R - q, axis=1)  # noqa: E731
            want = _tie_rule_ranks(score, X, [0, j]).tolist()
            got = [e.rank for e in exp.expected]
            if got != want:
                wrong.append((trial, metric, got, want))
    assert wrong == []


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_deduplicate_counterfactual_moves_copies_below_every_kept_document(threads, metric):
    """De-duplication on a Dask corpus looks for copies among the candidates; the copies it
    demoted were put above every other document instead of below every kept one: with
    row n - 1 a copy of row 0, the query next to them and k = 3, the copy ranked 3rd
    (still in the top 3) where the fix (and the in-memory explanation) ranks it last.
    Reference: a NumPy ranking by the metric, cosine >= 0.98 groups over every pair, each
    group's best-ranked member kept and the others moved to the end in their order."""
    rng = np.random.default_rng(21)
    for n in (7, 12, 30):
        X = rng.normal(size=(n, 16))      # 16 dimensions: no other pair near cosine 0.98
        X[n - 1] = X[0]
        q = X[0] + 0.01 * rng.normal(size=16)
        # products summed row by row in one order (not BLAS's matrix-vector product,
        # whose kernels may round a tail row differently): the copies tie exactly
        if metric == "cosine":
            U = X / np.linalg.norm(X, axis=1, keepdims=True)
            keys = np.sum(U * (q / np.linalg.norm(q)), axis=1)
        elif metric == "dot":
            keys = np.sum(X * q, axis=1)
        else:
            keys = -np.linalg.norm(X - q, axis=1)
        order = np.lexsort((np.arange(n), -keys))
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        close = U @ U.T >= 0.98
        place = np.empty(n, dtype=np.int64)
        place[order] = np.arange(n)
        demoted = np.zeros(n, dtype=bool)
        for i in range(n):               # a member with a better-ranked near-copy moves
            demoted[i] = bool(np.any(close[i] & (place < place[i])))
        ref = np.concatenate([order[~demoted[order]], order[demoted[order]]])
        want = int(np.flatnonzero(ref == n - 1)[0]) + 1
        index = vd.Index(da.from_array(X, chunks=(2, 16)), metric=metric)
        exp = vd.explain_neighbors(q, index, k=3, expected=[n - 1])
        cfs = {c.fix: c for c in exp.counterfactuals}
        assert "deduplicate" in cfs
        assert cfs["deduplicate"].expected_ranks[n - 1] == want == n
        assert list(cfs["deduplicate"].top) == ref[:3].tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dask_full_scores_and_counterfactual_keys_are_pairwise_scores(threads, dtype):
    """A Dask corpus is scored block by block in two places, the full scores explain ranks
    by (scale.index) and the counterfactual keys (scale.explain_fixes): both are
    neighbors.scoring.pairwise_scores (keys by the engine's rule, keys_of), bit for bit,
    whatever the chunks (copies of row 1 and a zero row in other blocks)."""
    from vecdiag.explain.counterfactuals import Ranking
    from vecdiag.explain.stats import corpus_stats
    from vecdiag.neighbors.scoring import keys_of, pairwise_scores
    from vecdiag.scale.explain_fixes import dask_rankings
    from vecdiag.scale.index import full_scores

    rng = np.random.default_rng(5)
    X = rng.normal(size=(14, 4)).astype(dtype)
    X[[9, 13]] = X[1]
    X[6] = 0.0
    Q = rng.normal(size=(2, 4)).astype(dtype)
    for metric in ("cosine", "dot", "euclidean"):
        index = vd.Index(da.from_array(X, chunks=(4, 4)), metric=metric)
        scores = full_scores(index, Q)
        assert np.array_equal(scores, pairwise_scores(Q, X, metric))
        if metric == "cosine":
            continue
        q = Q[0].astype(np.float64)
        base = Ranking(keys_of(scores[0], metric), 3)
        rankings, _ = dask_rankings(index, q, base, k=3, stats=corpus_stats(index, 3))
        want = pairwise_scores(q[None, :], X.astype(np.float64), "cosine")[0]
        assert np.array_equal(rankings["cosine_metric"].keys, want)
        assert rankings["cosine_metric"].keys[1] == rankings["cosine_metric"].keys[13]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_full_scores_walk_a_block_in_pieces(threads, metric, monkeypatch):
    """full_scores (what explain ranks by on a Dask corpus) scored a whole row block in
    one pairwise_scores call: the block's unit rows (cosine) or its differences from the
    query (euclidean) were a copy of it, their products another (a 25.6 MB float32 block:
    52 MB). A task now scores its block PIECE_BYTES of rows at a time: same scores bit
    for bit (a row's score depends on that row alone), and 64 KB pieces of a 4,000 x 16
    block keep the peak under one float64 copy of the block (512 KB; 0.17 MB now, 0.61 MB
    before)."""
    from vecdiag.neighbors.scoring import pairwise_scores
    from vecdiag.scale import index as dask_index

    rng = np.random.default_rng(11)
    X = rng.normal(size=(4000, 16)).astype(np.float32)
    X[[7, 3001]] = 0.0
    Q = rng.normal(size=(2, 16)).astype(np.float32)
    index = vd.Index(da.from_array(X, chunks=(4000, 16)), metric=metric)
    whole = dask_index.full_scores(index, Q)
    assert np.array_equal(whole, pairwise_scores(Q, X, metric))
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    dask_index.full_scores(index, Q)
    pieces, peak = lowest_peak(lambda: dask_index.full_scores(index, Q))
    assert peak < X.size * 8
    assert np.array_equal(pieces, whole)


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_counterfactual_keys_walk_a_block_in_pieces(threads, metric, monkeypatch):
    """The counterfactual keys of a Dask corpus were computed on a whole row block at
    once: each fix's transform, its float64 copy and unit rows, so a task held several
    float64 copies of its block (200,000 x 64 float32 blocks, 51 MB, killed 600 MB workers
    four times in explain_neighbors: KilledWorker). A task now walks its block in pieces
    of PIECE_BYTES: here 64 KB pieces of a 4,000 x 64 block keep the pass's peak under one
    float64 copy of the block (2 MB; 0.44-0.51 MB now, 6.1-7.3 MB as one piece: wide enough
    rows that the per-row keys, about 0.4 MB, leave the bound room), with the same keys
    as one piece (to float32 rounding: a float32 transform rounds a row by the rows that
    share its matrix product, as it did by block)."""
    from vecdiag.explain.counterfactuals import Ranking
    from vecdiag.explain.stats import corpus_stats
    from vecdiag.neighbors.scoring import keys_of
    from vecdiag.scale import explain_fixes
    from vecdiag.scale.index import full_scores

    rng = np.random.default_rng(9)
    X = rng.normal(size=(4000, 64)).astype(np.float32) + 0.5
    Q = rng.normal(size=(2, 64)) + 0.5
    index = vd.Index(da.from_array(X, chunks=(4000, 64)), metric=metric)
    stats = corpus_stats(index, 3, max_exact=100, sample_size=200)

    bases = [Ranking(keys_of(s, metric), 3) for s in full_scores(index, Q)]

    def rankings(i):
        return explain_fixes.dask_rankings(index, Q[i], bases[i], k=3, stats=stats,
                                           centred_cosine=True)[0]

    whole = rankings(0)                     # one piece: the block's own size
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    index.cache.clear()
    rankings(1)                             # fits and cached statistics, then measured
    pieces, peak = lowest_peak(lambda: rankings(0))
    assert peak < X.size * 8
    assert sorted(pieces) == sorted(whole)
    for code in whole:
        # float32 rounding of a 64-term product: a few 1e-6 on keys of order 1
        np.testing.assert_allclose(pieces[code].keys, whole[code].keys, rtol=1e-5, atol=2e-5)


def test_csls_penalties_search_a_block_in_pieces(threads, monkeypatch):
    """The sampled CSLS penalties searched a whole row block against the bank of sampled
    rows in one vd.knn call: on a 100,000 x 64 float32 block (25.6 MB) the task peaked at
    110 MB (8 MB now). A task now searches its block a piece at a time (PIECE_BYTES of a
    piece's scores against the bank): same penalties, bit for bit (a row's scores are
    computed from the two rows alone), and here 64 KB pieces of a 4,000 x 16 block with a
    200-row bank keep the peak under one float64 copy of the block (512 KB)."""
    from vecdiag.explain.stats import corpus_stats
    from vecdiag.scale import explain_fixes

    rng = np.random.default_rng(4)
    X = rng.normal(size=(4000, 16)).astype(np.float32)
    index = vd.Index(da.from_array(X, chunks=(4000, 16)))
    stats = corpus_stats(index, 3, max_exact=100, sample_size=200)
    whole, note = explain_fixes.csls_penalties(index, stats)
    assert note == "statistics from a sample of 200 rows"
    bank = X[stats.sample_rows]
    want = vd.knn(X, bank, 10).scores.astype(np.float64).mean(axis=1)
    np.testing.assert_array_equal(whole, want)
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    (pieces, _), peak = lowest_peak(lambda: explain_fixes.csls_penalties(index, stats),
                                    setup=index.cache.clear)
    assert peak < X.size * 8
    np.testing.assert_array_equal(pieces, whole)


def test_copy_counts_walk_a_block_in_pieces(threads, monkeypatch):
    """The near-copy counts of the documents an explanation involves took a whole row
    block at once: its unit rows and their products were a copy of it or more (a 25.6 MB
    float32 block: 27.6 MB). A task now counts PIECE_BYTES of rows at a time: the same
    counts (against brute force: every row's cosine, here with planted scaled copies and
    a zero row), and 64 KB pieces of a 4,000 x 16 float64 block keep the peak under one
    copy of it (512 KB; 0.17 MB now, 0.71 MB before)."""
    from vecdiag.scale import explain as dask_explain

    rng = np.random.default_rng(12)
    X = rng.normal(size=(4000, 16))
    X[[100, 1700, 3999]] = X[5] * np.array([[2.0], [0.5], [1e-3]])
    X[2000] = 0.0
    U = X[[5, 6, 7]] / np.linalg.norm(X[[5, 6, 7]], axis=1, keepdims=True)
    D = da.from_array(X, chunks=(4000, 16))
    unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
    want = [int(sum(float(unit[i] @ u) >= 0.6 for i in range(4000))) for u in U]
    whole = dask_explain.copy_counts(D, U, 0.6)
    assert whole.tolist() == want and want[0] >= 4
    monkeypatch.setattr(scale_chunks, "PIECE_BYTES", 64 * 2**10)
    dask_explain.copy_counts(D, U, 0.6)
    pieces, peak = lowest_peak(lambda: dask_explain.copy_counts(D, U, 0.6))
    assert peak < X.size * 8
    assert pieces.tolist() == want


def test_copy_counts_in_a_copy_frame(threads):
    """A Dask corpus moved +30 on every dimension (euclidean): every raw cosine reaches
    0.98, so the hub cause counted all 299 other rows as a document's own near-copies.
    Counted also in the frame explain judges copies in (the rows less their mean), the
    two planted copies of row 3 are its only ones. Reference: both cosines of every row,
    by NumPy."""
    from vecdiag.diagnostics.copy_frame import CopyFrame
    from vecdiag.scale import explain as dask_explain

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 8)) + 30
    X[[40, 250]] = X[3] + 1e-4 * rng.normal(size=(2, 8))
    frame = CopyFrame(unit=False, shift=X.mean(axis=0), scale=None)
    V = X[[3, 7]]
    raw = planted.unit(X) @ planted.unit(V).T >= 0.98
    centred = planted.unit(X - frame.shift) @ planted.unit(V - frame.shift).T >= 0.98
    D = da.from_array(X, chunks=(100, 8))
    assert dask_explain.copy_counts(D, V, 0.98).tolist() == raw.sum(axis=0).tolist() == [300, 300]
    got = dask_explain.copy_counts(D, V, 0.98, frame).tolist()
    assert got == (raw & centred).sum(axis=0).tolist() == [3, 1]
