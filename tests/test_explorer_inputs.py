"""vd.explore on the inputs users meet: zero queries, explanations by id, large arrays.

References: brute-force cosine and Euclidean ranks and k-occurrence (NumPy), and the
closed-form nDCG@10 of one judged document, 1 / log2(1 + rank).
"""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd

pytest.importorskip("anywidget")


def test_a_zero_query_under_cosine_with_qrels_is_listed_without_ndcg(recwarn):
    # the picker's nDCG@10 searched every query: one zero query (an empty text some
    # embedders map to zeros) under cosine refused the whole explorer with "queries has
    # a zero vector at row 1", although without qrels it is listed and only its
    # explanation is refused; it is now listed last with no nDCG, the others scored
    rng = np.random.default_rng(5)
    X = rng.normal(size=(12, 4))
    Q = X[:3] + 0.2 * rng.normal(size=(3, 4))
    Q[1] = 0.0
    qrels = {"0": {"3": 1}, "1": {"1": 1}, "2": {"5": 1}}
    ex = vd.explore(X, queries=Q, qrels=qrels, k=3, color="none")
    cos = (Q @ X.T) / np.maximum(np.linalg.norm(Q, axis=1)[:, None], 1e-300) \
        / np.linalg.norm(X, axis=1)
    rank = {q: 1 + int(np.sum(cos[q] > cos[q, int(d)])) for q, d in ((0, 3), (2, 5))}
    want = {q: 1 / np.log2(1 + r) if r <= 10 else 0.0 for q, r in rank.items()}
    listed = ex.session.query_list()
    assert [q["i"] for q in listed] == sorted((0, 2), key=lambda q: want[q]) + [1]
    assert listed[-1]["ndcg"] is None
    for q in listed[:2]:
        assert q["ndcg"] == pytest.approx(want[q["i"]], abs=1e-4)
    assert ex.view["query"]["i"] == listed[0]["i"]
    assert not [w for w in recwarn if "no results" in str(w.message)]


def test_an_explanation_by_id_on_a_corpus_without_ids_is_refused_naming_ids():
    # exp.explore(corpus=X) with X an array: the explanation names documents by id, the
    # corpus by row, and the panel stayed empty ("invalid literal for int(): 'd13'")
    rng = np.random.default_rng(3)
    X, q = rng.normal(size=(30, 5)), rng.normal(size=5)
    ids = [f"d{i}" for i in range(30)]
    exp = vd.explain_neighbors(q, X, k=4, ids=ids)
    with pytest.raises(ValueError, match=r"corpus has no ids: the explanation's documents "
                                         r"'d13', 'd8', 'd2' are not in it; pass the ids"):
        vd.explorer.explore_explanation(exp, corpus=X, query=q, color="none")
    ex = vd.explorer.explore_explanation(exp, corpus=X, query=q, ids=ids, color="none")
    order = np.argsort(-(X @ q) / np.linalg.norm(X, axis=1), kind="stable")[:4]
    assert [ex.view["docs"][str(r)]["id"] for r in ex.view["base"]] == \
        [ids[r] for r in order] == list(exp.top_ids)


def test_hubs_are_marked_on_a_large_array_corpus_with_sampled_statistics(monkeypatch):
    # above DEFAULT_MAX_EXACT rows an array corpus is explained on its vectors, whose
    # statistics were never cached on the explorer's Index: no hub was marked, although
    # rows 0-2 are in the top-5 of nearly every document (here the threshold is lowered
    # to 100 rows, so that 300 take that path)
    import vecdiag.explain.stats as stats_module

    monkeypatch.setattr(stats_module, "DEFAULT_MAX_EXACT", 100)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 20))
    X[:3] *= 0.1
    ex = vd.explore(X, queries=rng.normal(size=(1, 20)), k=5, metric="euclidean",
                    color="none")
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    kocc = np.bincount(np.argsort(D, axis=1)[:, :5].ravel(), minlength=300)
    # the hubs diagnose lists (N_k >= 2k) and, apart, the strong ones (>= 3k); the
    # "sample" held all 300 rows, so its counts are exact: every one is marked, no note
    want, strong = np.flatnonzero(kocc >= 10), np.flatnonzero(kocc >= 15)
    assert sorted(ex.view["hubs"]) == want.tolist() and {0, 1, 2} <= set(strong.tolist())
    assert sorted(ex.view["strong_hubs"]) == strong.tolist()
    assert ex.view["hub_note"] is None


def test_a_metric_other_than_the_index_s_is_refused_not_ignored():
    """explore(vd.Index(X), metric="dot") showed the Index's cosine search, and
    metric="Cosine" (a typo) passed: the metric was ignored whenever an Index was given.
    Now None (the default) means the Index's, as in explain_neighbors; another is refused."""
    X = np.random.default_rng(1).normal(size=(12, 4))
    with pytest.raises(ValueError, match="metric='dot', but the Index searches by 'cosine'"):
        vd.explore(vd.Index(X), metric="dot", color="none")
    with pytest.raises(ValueError, match="metric must be one of"):
        vd.explore(vd.Index(X), metric="Cosine", color="none")
    metrics = [vd.explore(vd.Index(X, metric="dot"), color="none").session.index.metric,
               vd.explore(vd.Index(X, metric="dot"), metric="dot", color="none").session.index.metric,
               vd.explore(X, color="none").session.index.metric,
               vd.explore(X, metric="euclidean", color="none").session.index.metric]
    assert metrics == ["dot", "dot", "cosine", "euclidean"]
