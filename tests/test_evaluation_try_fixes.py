"""vd.try_fixes: every row equals evaluating that fix's ranking by hand, and the
comparisons equal vd.compare; a planted problem (a shared offset) is found and fixed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import vecdiag as vd
from _rogue_case import rogue_dimension_case
from vecdiag.evaluation import TrialOptions
from vecdiag.evaluation.fix_trials import _run_from


@pytest.fixture
def planted():
    """Each query is a noisy copy of its relevant document's topic, but dimension 0 holds
    large unrelated noise (scale 5) in every vector: a rogue direction that decides the
    cosine. All-but-the-top removes the top principal direction, which is that one."""
    return rogue_dimension_case(seed=0, n=120, n_q=30)


def test_rows_equal_hand_evaluation_of_each_fix(planted):
    queries, corpus, qrels, qids, dids = planted
    fixes = ["center", "all_but_the_top", "all_but_the_top+csls"]
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=fixes,
                       k=20, metrics=["mrr@10", "recall@20"], n_resamples=500)
    base = vd.evaluate((vd.knn(queries, corpus, k=20), qids, dids), qrels,
                       metrics=["mrr@10", "recall@20"])
    assert rep.evaluations["baseline"].mean == base.mean
    for code in fixes:
        found = vd.fixes.apply_fix(code, queries, corpus, 20, metric="cosine")
        by_hand = vd.evaluate(_run_from(found, qids, dids), qrels, metrics=["mrr@10", "recall@20"])
        assert rep.evaluations[code].mean == pytest.approx(by_hand.mean, abs=1e-12)
        cmp = vd.compare(base, by_hand, n_resamples=500, random_state=0)
        assert rep.comparisons[code].delta == pytest.approx(cmp.delta)
    # best first by the primary metric; removing the rogue direction fixes the search
    means = [rep.evaluations[n].mean["mrr@10"] for n in rep.order]
    assert means == sorted(means, reverse=True)
    assert rep.evaluations["baseline"].mean["mrr@10"] < 0.6
    assert rep.comparisons["all_but_the_top"].improvements == ["mrr@10", "recall@20"]
    assert rep.best in ("all_but_the_top", "all_but_the_top+csls")


def test_report_display_table_and_plot(planted):
    queries, corpus, qrels, qids, dids = planted
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                       fixes=["center", "normalize"], k=10, metrics=["ndcg@10"], n_resamples=200)
    frame = rep.to_frame()
    assert list(frame.index) == list(rep.order)
    assert {"ndcg@10", "delta ndcg@10", "p ndcg@10", "seconds"} <= set(frame.columns)
    assert np.isnan(frame.loc["baseline", "p ndcg@10"])
    # normalize is a no-op under cosine: identical ranking, p = 1
    assert rep.comparisons["normalize"].p_value["ndcg@10"] == 1.0
    assert "| fix |" in rep.to_markdown()
    assert "Fixes against the baseline" in rep._repr_html_()
    ax = rep.plot()
    assert len(ax.patches) == 2


def test_plot_of_a_metric_not_evaluated_names_the_ones_that_were():
    """FixReport.plot(metric="map") on a report of mrr@5 failed as a bare KeyError: 'map'
    (and so did another spelling of an evaluated one, "MRR@5")."""
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(12, 4))
    queries = corpus[:3] + rng.normal(scale=0.1, size=(3, 4))
    lexical = {f"q{i}": {f"d{i}": 2.0, "d11": 1.0} for i in range(3)}   # rows without sklearn
    rep = vd.try_fixes(queries, corpus, {f"q{i}": {f"d{i}": 1} for i in range(3)},
                       query_ids=["q0", "q1", "q2"], doc_ids=[f"d{i}" for i in range(12)],
                       fixes=[], k=5, metrics=["mrr@5"], n_resamples=20, lexical=lexical)
    for wrong in ("map", "MRR@5"):
        with pytest.raises(ValueError, match=rf"metric '{wrong}' was not evaluated; choose "
                                             r"one of \['mrr@5'\]"):
            rep.plot(metric=wrong)
    ax = rep.plot(metric="mrr@5")
    assert len(ax.patches) == 2      # the lexical and hybrid rows


def test_lexical_run_adds_lexical_and_hybrid_rows(planted):
    queries, corpus, qrels, qids, dids = planted
    # a "lexical" run that finds the relevant document for half of the queries
    lexical = {q: ({f"d{i}": 5.0, "d119": 1.0} if i % 2 == 0 else {"d119": 1.0})
               for i, q in enumerate(qids)}
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=[],
                       k=10, metrics=["mrr@10"], lexical=lexical, n_resamples=200)
    assert set(rep.order) == {"baseline", "lexical", "hybrid"}
    assert rep.evaluations["lexical"].mean["mrr@10"] == pytest.approx(0.5)
    fused = vd.fixes.hybrid(rep.runs["baseline"], lexical)
    top = {q: {x: d[x] for x in vd.evaluation.ranked_docs(d)[:10]} for q, d in fused.items()}
    assert rep.evaluations["hybrid"].mean == vd.evaluate(top, qrels, metrics=["mrr@10"]).mean


def test_a_lexical_run_keyed_by_integers_is_fused_as_strings():
    """A lexical run keyed by integers (vecdiag.lexical.bm25 without ids) beside integer
    doc_ids: the hybrid row failed with TypeError ('<' between str and int) as soon as a
    document only the baseline found and one only the lexical run found took the same
    rank (equal RRF scores). The hybrid row is RRF (k = 60) by hand: the baseline's top 3
    by cosine, the whole lexical ranking, ids as strings, its top 3."""
    rng = np.random.default_rng(3)
    corpus, queries = rng.normal(size=(8, 4)), rng.normal(size=(2, 4))
    lexical = {q: {(q + j) % 8: 10.0 - j for j in range(4)} for q in range(2)}
    qrels = {0: {1: 1}, 1: {6: 1}}
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=[0, 1], doc_ids=list(range(8)),
                       fixes=[], k=3, metrics=["mrr@3"], lexical=lexical, n_resamples=20)
    cos = (queries @ corpus.T) / np.outer(np.linalg.norm(queries, axis=1),
                                          np.linalg.norm(corpus, axis=1))
    expected = {}
    for q in range(2):
        rrf: dict = {}
        for rank, d in enumerate(np.argsort(-cos[q])[:3], start=1):
            rrf[str(d)] = 1.0 / (60 + rank)
        for rank, d in enumerate(lexical[q], start=1):     # written best first
            rrf[str(d)] = rrf.get(str(d), 0.0) + 1.0 / (60 + rank)
        # score descending, ties by doc id descending (trec_eval's rule)
        order = sorted(sorted(rrf, reverse=True), key=lambda d: -rrf[d])[:3]
        expected[str(q)] = {d: pytest.approx(rrf[d]) for d in order}
    assert rep.runs["hybrid"] == expected
    assert [list(docs) for docs in rep.runs["hybrid"].values()] == \
        [list(docs) for docs in expected.values()]
    assert rep.runs["lexical"] == {"0": {"0": 10.0, "1": 9.0, "2": 8.0},
                                   "1": {"1": 10.0, "2": 9.0, "3": 8.0}}


def test_texts_add_bm25_and_hybrid_lexical():
    pytest.importorskip("bm25s")
    texts = ["cats purr softly", "dogs bark loudly", "fish swim in water", "birds fly high",
             "cats chase mice", "water boils at noon"]
    query_texts = ["purring cats", "swimming fish water"]
    rng = np.random.default_rng(1)
    corpus = rng.normal(size=(6, 5))
    queries = rng.normal(size=(2, 5))
    qrels = {"a": {"0": 1, "4": 1}, "b": {"2": 1}}
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=["a", "b"],
                       doc_ids=[str(i) for i in range(6)], fixes=["hybrid_lexical"], k=6,
                       metrics=["map"], texts=texts, query_texts=query_texts, n_resamples=100)
    assert {"bm25", "hybrid_lexical", "baseline"} == set(rep.order)
    ref = vd.lexical.bm25(query_texts, texts, k=6, query_ids=["a", "b"],
                          doc_ids=[str(i) for i in range(6)])
    assert rep.evaluations["bm25"].mean == vd.evaluate(ref, qrels, metrics=["map"]).mean


def test_bm25_finding_nothing_for_a_query_is_a_zero_without_a_warning():
    # BM25 run by try_fixes finds nothing for a query none of whose words is in the
    # corpus: a real 0; evaluate's warning told the user to pass missing='skip', which
    # neither try_fixes nor the command line takes
    import warnings

    pytest.importorskip("bm25s")
    texts = ["cats purr softly", "dogs bark loudly", "fish swim in water", "birds fly high"]
    rng = np.random.default_rng(1)
    corpus, queries = rng.normal(size=(4, 5)), rng.normal(size=(2, 5))
    qrels = {"a": {"0": 1}, "b": {"2": 1}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = vd.try_fixes(queries, corpus, qrels, query_ids=["a", "b"],
                           doc_ids=[str(i) for i in range(4)], fixes=["hybrid_lexical"], k=4,
                           metrics=["map"], texts=texts, query_texts=["cats", "zeppelin"],
                           n_resamples=100)
    assert rep.evaluations["bm25"].per_query.loc["b", "map"] == 0.0
    assert rep.evaluations["bm25"].per_query.loc["a", "map"] == 1.0


def test_a_fix_that_cannot_run_is_reported_not_dropped(planted):
    queries, corpus, qrels, qids, dids = planted
    with pytest.warns(UserWarning, match="could not run"):
        rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                           fixes=["hybrid_lexical", "center"], k=5, metrics=["mrr@10"],
                           n_resamples=100)
    assert "hybrid_lexical" in rep.failed and "texts" in rep.failed["hybrid_lexical"]
    assert "hybrid_lexical" not in rep.order and "could not run" in rep._repr_html_()


def test_a_fix_that_fails_on_a_query_names_the_queries(planted):
    # a fitted transformer speaks of "X" (as scikit-learn's do): "X has a zero vector at
    # row 2" left the user guessing which array held it
    queries, corpus, qrels, qids, dids = planted
    Q = np.array(queries, dtype=float)
    Q[2] = 0.0
    with pytest.warns(UserWarning, match=r"fix 'normalize' could not run: queries has a "
                                         r"zero vector at row 2"):
        rep = vd.try_fixes(Q, vd.Index(corpus, metric="dot"), qrels, query_ids=qids,
                           doc_ids=dids, fixes=["normalize"], k=5, metrics=["mrr@10"],
                           n_resamples=100)
    assert rep.failed["normalize"].startswith("queries has a zero vector at row 2")
    with pytest.raises(ValueError, match="^queries has a zero vector at row 2"):
        vd.fixes.apply_fix("normalize", Q, vd.Index(corpus, metric="dot"), k=5)


@pytest.mark.parametrize("options", [{}, {"zero": "raise"}, {"center__zero": "raise"}])
def test_a_zero_vector_is_recorded_whether_or_not_zero_is_passed(planted, options):
    # the zero-vector message suggests zero='ignore': with zero= passed, try_fixes took it for an error about the caller's option and raised, where
    # the same call without it recorded the fix as one that cannot run on this data
    queries, corpus, qrels, qids, dids = planted
    C = np.array(corpus, dtype=float)
    C[7] = 0.0
    with pytest.warns(UserWarning, match=r"fix 'center' could not run: corpus has a zero "
                                         r"vector at row 7"):
        rep = vd.try_fixes(queries, C, qrels, query_ids=qids, doc_ids=dids,
                           fixes=["center", "normalize"], k=5, metric="dot",
                           metrics=["mrr@10"], n_resamples=100, center__normalize_first=True,
                           **options)
    assert sorted(rep.failed) == ["center", "normalize"]
    assert rep.failed["center"] == ("corpus has a zero vector at row 7, which has no "
                                    "direction, so its cosine is undefined; drop it, or pass "
                                    "zero='ignore' to score it 0.0")
    # a bad option value is still the caller's, raised before it is taken for the data's
    with pytest.raises(ValueError, match="zero must be"):
        vd.try_fixes(queries, C, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                     k=5, metric="dot", metrics=["mrr@10"], n_resamples=100,
                     normalize_first=True, zero="drop")


def test_run_from_keeps_neighbor_order():
    class Fake:  # a re-ranker whose scores rise (distances) and one that is unordered
        indices = np.array([[2, 0, 1], [1, 2, 0]])
        scores = np.array([[0.1, 0.5, 0.9], [3.0, 1.0, 2.0]])
    run = _run_from(Fake, ["x", "y"], ["a", "b", "c"])
    assert vd.evaluation.ranked_docs(run["x"]) == ["c", "a", "b"]
    assert vd.evaluation.ranked_docs(run["y"]) == ["b", "c", "a"]


def test_passages_of_one_document_count_with_their_best_score():
    """Corpus rows 2j and 2j+1 are two passages of document j. A document's score is its
    best passage's (as run_from_neighbors gives it): try_fixes kept the *last* passage
    listed, the worst, and reported MRR 0.21 where the ranking earns 0.65."""
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(40, 6)) + 1
    queries = corpus[:8] + rng.normal(scale=0.5, size=(8, 6))
    dids = [f"doc{j // 2}" for j in range(40)]
    qids = [f"q{i}" for i in range(8)]
    qrels = {f"q{i}": {f"doc{i // 2}": 1} for i in range(8)}
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=[],
                       k=40, metrics=("mrr@10",), n_resamples=100)
    sims = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ \
        (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).T
    best = np.maximum(sims[:, 0::2], sims[:, 1::2])          # (8, 20): best passage per doc
    for i, q in enumerate(qids):
        assert rep.runs["baseline"][q] == pytest.approx({f"doc{j}": best[i, j] for j in range(20)})
    rr = [1.0 / (1 + int((best[i] > best[i, i // 2]).sum())) for i in range(8)]
    assert rep.evaluations["baseline"].mean["mrr@10"] == pytest.approx(np.mean(rr))


def test_repeated_query_ids_are_refused_naming_the_rows(planted):
    queries, corpus, qrels, qids, dids = planted
    # the second row was silently dropped: 29 queries averaged for 30 rows
    with pytest.raises(ValueError, match=r"query_ids must be unique: '.*' names query rows 0, 1"):
        vd.try_fixes(queries, corpus, qrels, query_ids=[qids[0]] + qids[:-1], doc_ids=dids,
                     fixes=["center"], metrics=("mrr@10",), n_resamples=100)


def test_an_index_is_searched_by_the_trial_metric_in_the_baseline_and_every_fix():
    """An Index built for cosine, tried with metric="dot": the baseline searched by the
    Index's cosine while the fixes searched by dot, so cosine_metric (MRR 0.23 -> 0.83
    here) showed no change. And an Index built for dot with the default metric: baseline
    by dot, fixes by cosine. Reference: the same trial on the plain array."""
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(60, 6)) * rng.uniform(0.1, 5, size=(60, 1)) + 0.5
    queries = corpus[:10] + rng.normal(scale=0.5, size=(10, 6))
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(10)}
    common = dict(query_ids=[f"q{i}" for i in range(10)], doc_ids=[f"d{i}" for i in range(60)],
                  k=20, metrics=("mrr@10",), n_resamples=100)
    for built, asked, fix in (("cosine", "dot", "cosine_metric"), ("dot", None, "center")):
        index = vd.Index(corpus, metric=built, ids=common["doc_ids"])
        got = vd.try_fixes(queries, index, qrels, fixes=[fix], metric=asked, **common)
        ref = vd.try_fixes(queries, corpus, qrels, fixes=[fix], metric=asked or built, **common)
        for name in ("baseline", fix):
            assert got.evaluations[name].mean == pytest.approx(ref.evaluations[name].mean)
        assert got.comparisons[fix].delta == pytest.approx(ref.comparisons[fix].delta)


def test_ids_given_as_none_or_one_string_are_refused_by_name(planted):
    """query_ids=None / doc_ids=None failed as "'NoneType' object is not iterable"; a
    string was read as one id per character. An Index built with ids brings its own."""
    queries, corpus, qrels, qids, dids = planted
    common = dict(fixes=[], k=10, metrics=("mrr@10",), n_resamples=50)
    for bad in (None, "d0 d1"):
        with pytest.raises(TypeError, match="doc_ids must be a sequence of ids, one per corpus row"):
            vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=bad, **common)
        with pytest.raises(TypeError, match="query_ids must be a sequence of ids, one per query"):
            vd.try_fixes(queries, corpus, qrels, query_ids=bad, doc_ids=dids, **common)
    own = vd.try_fixes(queries, vd.Index(corpus, ids=dids), qrels, query_ids=qids, doc_ids=None,
                       **common)
    by_hand = vd.evaluate((vd.knn(queries, corpus, 10), qids, dids), qrels, metrics=("mrr@10",))
    assert own.evaluations["baseline"].mean == pytest.approx(by_hand.mean)


def test_options_no_fix_uses_are_refused_not_dropped(planted):
    """whiten__n_component=2 (a typo) was dropped silently: the report's "whiten" row
    whitened every component. apply_fix refuses such an option; try_fixes now does too,
    and an option a tried fix uses still reaches it (equal to apply_fix with it)."""
    queries, corpus, qrels, qids, dids = planted
    common = dict(query_ids=qids, doc_ids=dids, k=10, metrics=("mrr@10",), n_resamples=50)
    for fixes, option in ((["whiten"], "whiten__n_component"), (["whiten"], "n_neighbors"),
                          (["center"], "csls__n_neighbors")):
        with pytest.raises(ValueError, match=f"option\\(s\\) {option} are used by none of the fixes"):
            vd.try_fixes(queries, corpus, qrels, fixes=fixes, **common, **{option: 2})
    rep = vd.try_fixes(queries, corpus, qrels, fixes=["whiten"], whiten__n_components=2, **common)
    found = vd.fixes.apply_fix("whiten", queries, corpus, 10, n_components=2)
    by_hand = vd.evaluate(_run_from(found, qids, dids), qrels, metrics=("mrr@10",))
    assert rep.evaluations["whiten"].mean == pytest.approx(by_hand.mean)


def test_bad_input(planted):
    queries, corpus, qrels, qids, dids = planted
    with pytest.raises(ValueError, match="unknown fix code"):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["magic"])
    with pytest.raises(ValueError, match="doc_ids has 3 entries"):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=["a", "b", "c"])
    with pytest.raises(ValueError, match="query_ids has 2 entries"):
        vd.try_fixes(queries, corpus, qrels, query_ids=["a", "b"], doc_ids=dids, fixes=[])
    with pytest.raises(ValueError, match="metric must be one of"):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, metric="l1")


def test_cranfield_reproduces_the_reference_baseline(cranfield_minilm):
    cf = cranfield_minilm
    Q, C, qids, dids = cf.queries, cf.corpus, cf.query_ids, cf.corpus_ids
    qrels = vd.load_qrels(cf.folder / "qrels" / "test.tsv")
    rep = vd.try_fixes(Q, C, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                       n_resamples=500, metrics=["ndcg@10", "recall@100", "mrr@10"])
    base = rep.evaluations["baseline"]
    assert base.n_queries == 225
    assert (round(base.mean["ndcg@10"], 4), round(base.mean["recall@100"], 4),
            round(base.mean["mrr@10"], 3)) == (0.3817, 0.7724, 0.538)


def test_trial_options_equal_the_keywords_and_refuse_both():
    from vecdiag.evaluation import TrialOptions

    rng = np.random.default_rng(4)
    corpus = rng.normal(size=(80, 8)) + 1.5
    queries = corpus[:10] + rng.normal(scale=0.3, size=(10, 8))
    qids, dids = [f"q{i}" for i in range(10)], [f"d{i}" for i in range(80)]
    qrels = {q: {dids[i]: 1} for i, q in enumerate(qids)}
    common = dict(query_ids=qids, doc_ids=dids, fixes=["center", "csls"])
    a = vd.try_fixes(queries, corpus, qrels, k=15, metrics=["mrr@10"], n_resamples=300,
                     **common)
    b = vd.try_fixes(queries, corpus, qrels, **common,
                     trial=TrialOptions(k=15, metrics=("mrr@10",), n_resamples=300))
    assert a.order == b.order and a.runs == b.runs
    np.testing.assert_array_equal(a.to_frame().drop(columns="seconds").to_numpy(),
                                  b.to_frame().drop(columns="seconds").to_numpy())
    with pytest.raises(ValueError, match="k either as keywords or in trial="):
        vd.try_fixes(queries, corpus, qrels, k=5, trial=TrialOptions(k=15), **common)


def test_a_fix_s_p_value_does_not_depend_on_the_other_fixes_listed(planted):
    """Each comparison draws from its own stream (trial seed + fix name): listing more
    fixes leaves center's Monte Carlo p-value as it was."""
    queries, corpus, qrels, qids, dids = planted
    kw = dict(query_ids=qids, doc_ids=dids, k=20, metrics=["map"], n_resamples=300,
              random_state=3)
    alone = vd.try_fixes(queries, corpus, qrels, fixes=["center"], **kw)
    many = vd.try_fixes(queries, corpus, qrels, fixes=["normalize", "whiten", "center"], **kw)
    assert alone.comparisons["center"].p_value == many.comparisons["center"].p_value
    again = vd.try_fixes(queries, corpus, qrels, fixes=["center"], **kw)
    assert again.comparisons["center"].p_value == alone.comparisons["center"].p_value


def test_deduplicate_moving_one_copy_into_the_last_place_is_scored_not_refused():
    """deduplicate gives the copy it moves below the kept documents the score -inf. With
    one such copy in a row, its scores still fall, and try_fixes passed the -inf on to
    evaluate, which refused it ("scores must be finite"): the fix crashed the report."""
    corpus = np.array([[1.0, 0.0], [1.0, 0.0005], [0.8, 0.6], [0.0, 1.0]])  # 0, 1: copies
    queries = np.array([[1.0, 0.1], [0.0, 1.0]])
    dids, qids = ["d0", "d1", "d2", "d3"], ["a", "b"]
    qrels = {"a": {"d0": 1}, "b": {"d2": 1}}
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                       fixes=["deduplicate"], k=4, metrics=["mrr@10"], n_resamples=100)
    cos = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ \
        (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).T
    expected = []
    for i, q in enumerate(qids):
        copy = 0 if cos[i, 1] > cos[i, 0] else 1       # the worse of the two copies
        order = [j for j in np.argsort(-cos[i], kind="stable") if j != copy] + [copy]
        relevant = dids.index(next(iter(qrels[q])))
        expected.append(1.0 / (order.index(relevant) + 1))
    assert expected == [0.25, 0.5]                      # d0 is a's demoted copy
    assert rep.evaluations["deduplicate"].values[:, 0].tolist() == expected


def test_deduplicate_row_keeps_the_tie_rule_of_the_baseline():
    """A row with copies moved last (-inf) had every score replaced by -rank, so its
    tied kept documents were ordered by corpus index, while the baseline (and vd.evaluate
    of the same Neighbors) order ties by doc id descending, trec_eval's rule: the fix
    gained mrr@10 1/2 on query a (d0 before d1) from tie order alone. The reference is
    pytrec_eval on the kept documents' cosines, with the copy below them."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    corpus = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.2, 1.0]])
    queries = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # a: d0, d1 (and copy d2) tie
    dids, qids = ["d0", "d1", "d2", "d3"], ["a", "b"]
    qrels = {"a": {"d0": 1}, "b": {"d3": 1}}
    metrics = ["mrr@10", "ndcg@10", "map"]
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                       fixes=["deduplicate"], k=4, metrics=metrics, n_resamples=100)
    cos = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ \
        (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).T
    run = {q: {dids[j]: float(cos[i, j]) for j in (0, 1, 3)} for i, q in enumerate(qids)}
    for q in qids:
        run[q]["d2"] = -10.0                            # the copy of d0, moved last
    # query ids used nowhere else: trec_eval caches the last query it saw (a C static)
    tag = "try_fixes-tie-rule:"
    ref = pytrec_eval.RelevanceEvaluator({tag + q: j for q, j in qrels.items()},
                                         {"recip_rank", "ndcg_cut.10", "map"}
                                         ).evaluate({tag + q: r for q, r in run.items()})
    got = rep.evaluations["deduplicate"]
    for i, q in enumerate(got.query_ids):
        want = [ref[tag + q][m] for m in ("recip_rank", "ndcg_cut_10", "map")]
        assert got.values[i].tolist() == pytest.approx(want, abs=1e-12), q
    assert got.values[0, 0] == 0.5                      # d1 ties d0 and comes first



def _record_searches(monkeypatch) -> list:
    """The trials try_fixes searches, recorded as they start (searches still run)."""
    import vecdiag.evaluation.fix_trials as fix_trials

    real_dense_runs = fix_trials.dense_runs
    searched = []
    monkeypatch.setattr(fix_trials, "dense_runs",
                        lambda t, **kw: searched.append(t) or real_dense_runs(t, **kw))
    return searched

@pytest.mark.parametrize("metrics, error, message", [
    (["ndgc@10"], ValueError, "^unknown metric 'ndgc@10'"),
    (["map", "MAP"], ValueError, "^metrics has repeated measures"),
    ([], ValueError, "^metrics is empty"),
    (None, TypeError, "^metrics must be a metric name or a sequence of them"),
])
def test_bad_metrics_are_refused_before_any_search(planted, monkeypatch, metrics, error,
                                                   message):
    """A misspelt metric was refused only after the baseline and every fix had searched
    the corpus (minutes on a real one), and metrics=None failed as "'NoneType' object is
    not iterable". Each is now the error vd.evaluate gives, raised before the first
    search. The same names, spelt right, give evaluate's own numbers."""
    searched = _record_searches(monkeypatch)
    queries, corpus, qrels, qids, dids = planted
    with pytest.raises(error, match=message):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                     k=20, metrics=metrics, n_resamples=100)
    assert searched == []
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                       k=20, metrics="P@5", n_resamples=100)
    by_hand = vd.evaluate((vd.knn(queries, corpus, k=20), qids, dids), qrels, metrics=["P@5"])
    assert len(searched) == 1 and rep.evaluations["baseline"].mean == by_hand.mean


@pytest.mark.parametrize("method", ["ttest", "bootstrap"])
def test_a_test_that_needs_two_queries_is_refused_before_any_search(planted, monkeypatch,
                                                                    method):
    """With one judged query, method='ttest' or 'bootstrap' failed in vd.compare only
    after the baseline and every fix had searched the corpus (paired_test refuses one
    difference). It is now refused with the inputs. The randomization test still runs
    on that query, and equals vd.compare of the same rankings evaluated by hand."""
    searched = _record_searches(monkeypatch)
    queries, corpus, qrels, qids, dids = planted
    base = vd.evaluate((vd.knn(queries, corpus, k=20), qids, dids), qrels, metrics=["mrr@10"])
    fixed = vd.evaluate(_run_from(vd.fixes.apply_fix("all_but_the_top", queries, corpus, 20,
                                                     metric="cosine"), qids, dids),
                        qrels, metrics=["mrr@10"])
    q = next(q for q in base.query_ids                 # a query the fix changes
             if fixed.per_query.loc[q, "mrr@10"] != base.per_query.loc[q, "mrr@10"])
    one = {q: qrels[q]}
    with pytest.raises(ValueError, match=f"^method='{method}' needs at least 2 judged "
                                         "queries.*the qrels judge 1 of the query_ids"):
        vd.try_fixes(queries, corpus, one, query_ids=qids, doc_ids=dids,
                     fixes=["all_but_the_top"], k=20, metrics=["mrr@10"], method=method)
    assert searched == []
    rep = vd.try_fixes(queries, corpus, one, query_ids=qids, doc_ids=dids,
                       fixes=["all_but_the_top"], k=20, metrics=["mrr@10"])
    a = vd.evaluate(_run_from(vd.knn(queries, corpus, k=20), qids, dids), one,
                    metrics=["mrr@10"])
    b = vd.evaluate(_run_from(vd.fixes.apply_fix("all_but_the_top", queries, corpus, 20,
                                                 metric="cosine"), qids, dids), one,
                    metrics=["mrr@10"])
    by_hand = vd.compare(a, b)
    got = rep.comparisons["all_but_the_top"]
    assert got.delta == by_hand.delta and got.delta["mrr@10"] != 0
    assert got.p_value == by_hand.p_value == {"mrr@10": 1.0}   # 2 sign patterns, both as far


@pytest.mark.parametrize("options, error, message", [
    ({"method": "wilcoxon"}, ValueError, "^method must be one of"),
    ({"n_resamples": 0}, ValueError, "^n_resamples must be at least 1"),
    ({"n_resamples": 100.0}, TypeError, "^n_resamples must be an integer"),
    ({"alpha": "0.05"}, TypeError, "^alpha must be a number between 0 and 1"),
    ({"alpha": 5}, ValueError, "^alpha must be between 0 and 1"),
])
def test_bad_test_options_are_refused_before_any_search(planted, monkeypatch, options, error,
                                                        message):
    """method, n_resamples and alpha reached vd.compare, and its errors, only after the
    baseline and every fix had searched the corpus; they are now checked with the
    inputs, by the same checks and messages. A valid alpha still decides significance
    as compare does."""
    searched = _record_searches(monkeypatch)
    queries, corpus, qrels, qids, dids = planted
    with pytest.raises(error, match=message):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                     k=20, metrics=["mrr@10"], **{"n_resamples": 100, **options})
    assert searched == []
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                       k=20, metrics=["mrr@10"], n_resamples=100, alpha=np.float32(0.5))
    c = rep.comparisons["center"]
    assert c.alpha == 0.5 and c.significant["mrr@10"] == (c.p_adjusted["mrr@10"] < 0.5)


def test_told_no_progress_it_shows_no_bar_of_its_searches(planted, monkeypatch, capsys):
    """try_fixes(show_progress=False) showed the 'knn search' bars of the baseline's and
    each fix's searches (each decided for itself). Its own bar, or its
    show_progress=False, now covers them; a search called directly still shows its bar."""
    from vecdiag import _progress

    queries, corpus, qrels, qids, dids = planted
    monkeypatch.setattr(_progress, "AUTO_SECONDS", -1.0)     # every bar left to decide shows
    vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                 fixes=["center", "csls"], n_resamples=50, show_progress=False)
    assert capsys.readouterr().err == ""
    vd.knn(queries, corpus, k=5)
    assert "knn search" in capsys.readouterr().err


@pytest.mark.parametrize("cut", ["texts", "query_texts"])
def test_texts_of_another_length_are_refused_before_any_search(planted, monkeypatch, cut):
    """A texts list two short failed only after the baseline and every fix had searched,
    in BM25's words about ids ('doc_ids has 120 entries but the corpus has 118 rows', of
    a corpus of 120 rows), and texts given as a generator were used up by the first fix,
    BM25 then failing with 'corpus_texts is empty'. texts and query_texts are now checked
    with the inputs, by name, and read once: the rows of BM25 and hybrid_lexical equal
    vd.evaluate of vecdiag.lexical.bm25 and of apply_fix by hand."""
    pytest.importorskip("bm25s")
    searched = _record_searches(monkeypatch)
    queries, corpus, qrels, qids, dids = planted
    texts = [f"topic {i % 7} note {i % 5}" for i in range(len(dids))]
    query_texts = [f"topic {i % 7}" for i in range(len(qids))]
    given = {"texts": texts, "query_texts": query_texts}
    given[cut] = given[cut][:-2]
    n = len(dids) if cut == "texts" else len(qids)
    with pytest.raises(ValueError, match=f"^{cut} has {n - 2} entries but .* {n} "):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                     fixes=["hybrid_lexical"], k=20, metrics=["mrr@10"], n_resamples=50,
                     **given)
    assert searched == []
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                       fixes=["hybrid_lexical"], k=20, metrics=["mrr@10"], n_resamples=50,
                       texts=(t for t in texts), query_texts=query_texts)
    assert rep.failed == {}
    lexical = vd.lexical.bm25(query_texts, texts, k=20, query_ids=qids, doc_ids=dids)
    fused = vd.fixes.apply_fix("hybrid_lexical", queries, corpus, 20, texts=texts,
                               query_texts=query_texts)
    for name, run in (("bm25", lexical), ("hybrid_lexical", (fused, qids, dids))):
        assert rep.evaluations[name].mean == vd.evaluate(run, qrels, metrics=["mrr@10"]).mean


def test_a_given_lexical_run_is_scored_on_its_top_k_as_every_other_row(planted):
    """lexical= rows were scored on the whole run given (here 60 documents per query)
    while the baseline, bm25 and hybrid rows hold their top k (10): the lexical row's
    recall@60 counted documents no other row could retrieve and 'beat' the baseline by
    that alone. It is now cut to its top k too, and equals vd.evaluate of its top 10 by
    hand; a tuple (Neighbors, query_ids, doc_ids) is taken as evaluate takes it."""
    queries, corpus, qrels, qids, dids = planted
    rng = np.random.default_rng(3)
    lexical = {q: dict(zip(dids[:60], rng.permutation(60) + 0.5)) for q in qids}
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10])
             for q, docs in lexical.items()}
    metrics = ["recall@60", "map"]
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=[], k=10,
                       metrics=metrics, n_resamples=50, lexical=lexical)
    by_hand = vd.evaluate(top10, qrels, metrics=metrics)
    assert rep.evaluations["lexical"].mean == by_hand.mean
    assert by_hand.mean != vd.evaluate(lexical, qrels, metrics=metrics).mean
    assert all(len(docs) == 10 for docs in rep.runs["lexical"].values())
    found = vd.knn(queries[:, ::-1].copy(), corpus, 25)
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=[], k=10,
                       metrics=metrics, n_resamples=50, lexical=(found, qids, dids))
    cut = vd.knn(queries[:, ::-1].copy(), corpus, 10)
    assert rep.evaluations["lexical"].mean == vd.evaluate((cut, qids, dids), qrels,
                                                          metrics=metrics).mean


@pytest.mark.parametrize("make, error, message", [
    (lambda q, d, nb: {"x": {d[1]: 1.0}}, ValueError,
     r"^lexical names none of the query_ids \(lexical: \['x'\]"),
    (lambda q, d, nb: (nb, list(range(len(q))), d), ValueError,
     r"^lexical names none of the query_ids \(lexical: \['0', '1', '2'\]"),
    (lambda q, d, nb: nb, TypeError, "^lexical is a Neighbors object without ids"),
    (lambda q, d, nb: {q[0]: {d[1]: float("nan")}}, ValueError,
     r"^lexical\['q0'\]\['d1'\] is nan"),
])
def test_a_bad_lexical_run_is_refused_before_any_search(planted, monkeypatch, make, error,
                                                        message):
    """A lexical run that names none of the query ids, a Neighbors without ids or a NaN
    score were refused only once the baseline and every fix had searched, the first in
    hybrid's words ('pass query_ids= for Neighbors inputs', which try_fixes' query_ids is
    not). Each is now refused with the inputs; a good run's rows equal vd.evaluate by
    hand."""
    searched = _record_searches(monkeypatch)
    queries, corpus, qrels, qids, dids = planted
    found = vd.knn(queries[:, ::-1].copy(), corpus, 10)
    with pytest.raises(error, match=message):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                     k=10, metrics=["mrr@10"], n_resamples=50,
                     lexical=make(qids, dids, found))
    assert searched == []
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                       k=10, metrics=["mrr@10"], n_resamples=50, lexical=(found, qids, dids))
    assert len(searched) == 1
    by_hand = vd.evaluate((found, qids, dids), qrels, metrics=["mrr@10"])
    assert rep.evaluations["lexical"].mean == by_hand.mean


def test_texts_that_are_not_strings_are_named_before_any_search(planted, monkeypatch):
    """A None among the texts failed only once the baseline and every fix had searched,
    in the bm25 row, as a row of BM25's own argument ('corpus_texts must hold strings').
    It is now refused with the inputs, naming texts and the rows; the same texts as a
    NumPy array of strings give the bm25 row vd.evaluate gives by hand."""
    pytest.importorskip("bm25s")
    searched = _record_searches(monkeypatch)
    queries, corpus, qrels, qids, dids = planted
    texts = [f"topic {i % 7} note {i % 5}" for i in range(len(dids))]
    query_texts = [f"topic {i % 7}" for i in range(len(qids))]
    bad = list(texts)
    bad[3] = bad[7] = None
    with pytest.raises(TypeError, match=r"^texts must hold strings; 2 rows \(3, 7\) are not"):
        vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                     k=10, metrics=["mrr@10"], n_resamples=50, texts=bad,
                     query_texts=query_texts)
    assert searched == []
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=["center"],
                       k=10, metrics=["mrr@10"], n_resamples=50, texts=np.array(texts),
                       query_texts=query_texts)
    by_hand = vd.evaluate(vd.lexical.bm25(query_texts, texts, k=10, query_ids=qids,
                                          doc_ids=dids), qrels, metrics=["mrr@10"])
    assert rep.evaluations["bm25"].mean == by_hand.mean


def test_dask_index_lists_in_memory_rerankers_as_failed(planted):
    """try_fixes on an Index over a Dask array stopped at the first re-ranker (csls,
    mutual_proximity, deduplicate refuse such an Index: they score every document in
    memory) with a TypeError, losing every other row; the re-ranker is now reported in
    ``failed`` with a warning, as a fix missing an input is, and the vector fixes are
    scored: centring equals a brute-force NumPy centred-cosine ranking."""
    da = pytest.importorskip("dask.array")
    queries, corpus, qrels, qids, dids = planted
    index = vd.Index(da.from_array(corpus, chunks=(7, corpus.shape[1])))
    with pytest.warns(UserWarning, match=r"fix 'csls' could not run: csls scores every "
                                         r"document of the corpus in memory"):
        rep = vd.try_fixes(queries, index, qrels, query_ids=qids, doc_ids=dids,
                           fixes=["center", "csls"], k=20, metrics=["mrr@10"],
                           n_resamples=200)
    assert set(rep.failed) == {"csls"} and "vd.Index(corpus.compute()" in rep.failed["csls"]
    assert sorted(rep.order) == ["baseline", "center"]
    # reference: unit rows, minus the corpus's mean unit row, cosine; ties to lower row
    unit = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    mean = unit.mean(axis=0)
    C = unit - mean
    Q = queries / np.linalg.norm(queries, axis=1, keepdims=True) - mean
    S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (C / np.linalg.norm(C, axis=1,
                                                                             keepdims=True)).T
    order = np.argsort(-S, axis=1, kind="stable")[:, :20]
    run = {q: {dids[j]: float(S[i, j]) for j in order[i]} for i, q in enumerate(qids)}
    by_hand = vd.evaluate(run, qrels, metrics=["mrr@10"])
    assert rep.evaluations["center"].mean["mrr@10"] == pytest.approx(
        by_hand.mean["mrr@10"], abs=1e-12)


def test_trial_options_with_the_default_metrics_given_again_as_a_list_or_array():
    """try_fixes(trial=TrialOptions(...), metrics=<the defaults as a list>) was refused as
    'metrics passed twice' (a list is not the default tuple), and as an array failed with
    NumPy's 'truth value of an array ... is ambiguous'; a keyword equal to its default is
    not set. The same rule holds for diagnose's options= and the report's."""
    from vecdiag.diagnostics.diagnose import DiagnoseOptions, _options
    from vecdiag.evaluation.metrics import DEFAULT_METRICS

    trial = TrialOptions(k=15)
    keywords = {f.name: getattr(TrialOptions(), f.name)
                for f in dataclasses.fields(TrialOptions)}
    for metrics in (list(DEFAULT_METRICS), np.array(DEFAULT_METRICS)):
        assert TrialOptions.merged(trial, **dict(keywords, metrics=metrics)) is trial
    with pytest.raises(ValueError, match="pass metrics either as keywords or in trial="):
        TrialOptions.merged(trial, **dict(keywords, metrics=np.array(["mrr@10"])))
    opts = DiagnoseOptions(k=5)
    given = {f.name: getattr(DiagnoseOptions(), f.name)
             for f in dataclasses.fields(DiagnoseOptions)}
    assert _options(opts, **given) is opts
    with pytest.raises(ValueError, match="pass k either as keywords or in options="):
        _options(opts, **dict(given, k=7))


def test_markdown_shows_an_untimed_run_as_a_dash():
    # a lexical run is given, not timed: its seconds are NaN, and to_markdown printed
    # "| nan |" in the seconds column
    from vecdiag.evaluation.fix_trials import FixReport

    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    dense = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d1": 2.0, "d2": 1.0}}
    lexical = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d2": 2.0, "d1": 1.0}}
    evs = {n: vd.evaluate(r, qrels, metrics=("P@1",), name=n)
           for n, r in (("baseline", dense), ("lexical", lexical))}
    rep = FixReport(order=("lexical", "baseline"), evaluations=evs,
                    comparisons={"lexical": vd.compare(evs["baseline"], evs["lexical"])},
                    primary_metric="P@1", metrics=("P@1",), method="randomization",
                    alpha=0.05, seconds={"baseline": 0.25, "lexical": float("nan")},
                    failed={}, runs={})
    assert rep.to_markdown().splitlines()[2:] == [
        "| lexical | 1.0000 (+0.5000, p=1) | — |", "| baseline | 0.5000 | 0.25 |"]
