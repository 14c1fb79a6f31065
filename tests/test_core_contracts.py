"""Contracts of the core packages that the mutation sample (benchmarks/MUTATION.md) found
untested: each test here kills at least one surviving mutant, through the public API, and
checks the behaviour against a reference written here (by hand, NumPy or scipy).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.evaluation import as_run as ev_as_run
from vecdiag.evaluation import compare, evaluate, run_from_neighbors
from vecdiag.evaluation.significance import paired_test
from vecdiag.evaluation.fix_trials import FixReport
from vecdiag.fixes.text import add_prefix, chunk_documents


# -- scratch ---------------------------------------------------------------------------------

def test_scratch_cosine_matrix_names_a_zero_row_of_b():
    with pytest.raises(ValueError, match=r"\bB\b.*row 1"):
        vd.scratch.cosine_matrix([[1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
    # zero='ignore' scores it 0.0 instead
    assert vd.scratch.cosine_matrix([[1.0, 0.0]], [[2.0, 0.0], [0.0, 0.0]],
                                    zero="ignore") == [[1.0, 0.0]]


# -- significance ----------------------------------------------------------------------------

def test_paired_test_method_error_names_the_argument():
    with pytest.raises(ValueError, match=r"^method must be one of 'randomization', 'ttest', "
                                         r"'bootstrap', got 'wilcoxon'$"):
        paired_test([0.1, 0.2], method="wilcoxon")


def test_bootstrap_p_value_equals_the_studentized_shifted_bootstrap_by_hand():
    """Resample the centred differences; count t statistics at least as extreme as the
    observed t (Efron & Tibshirani 1993, 16.4); the interval: bootstrap-t from the same
    t statistics, mean - q se (the percentile interval of the means covered 89% at n = 10)."""
    d = np.array([0.3, -0.1, 0.2, 0.25, 0.0, 0.15, -0.05, 0.4, 0.1, 0.05])
    out = paired_test(d, method="bootstrap", n_resamples=4000, random_state=5)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, d.size, size=(4000, d.size))
    z = (d - d.mean())[idx]
    t_null = z.mean(axis=1) / (z.std(axis=1, ddof=1) / np.sqrt(d.size))
    t_obs = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    p = (1 + np.sum(np.abs(t_null) >= t_obs * (1 - 1e-12))) / (1 + 4000)
    assert out["p_value"] == pytest.approx(p, abs=1e-12)
    se = d.std(ddof=1) / np.sqrt(d.size)
    q_lo, q_hi = np.sort(t_null)[[int(0.025 * 3999), int(np.ceil(0.975 * 3999))]]
    assert out["ci"] == pytest.approx((d.mean() - q_hi * se, d.mean() - q_lo * se), rel=1e-9)


def _evaluations(n_q, gains):
    qrels = {f"q{i}": {"r": 1} for i in range(n_q)}
    base = {f"q{i}": {"x1": 3.0, "r": 2.0} for i in range(n_q)}            # r at rank 2
    new = {f"q{i}": ({"r": 3.0, "x1": 2.0} if i < gains else {"x1": 3.0, "r": 2.0})
           for i in range(n_q)}
    return evaluate(base, qrels, metrics=["mrr"]), evaluate(new, qrels, metrics=["mrr"])


def test_compare_says_whether_the_p_value_is_exact():
    a, b = _evaluations(6, 3)              # 2^6 sign patterns <= n_resamples: enumerated
    c = compare(a, b, n_resamples=1000)
    assert c.exact is True
    assert c.p_value["mrr"] == pytest.approx(2 / 8)   # 3 equal gains: 2 of 8 patterns
    a, b = _evaluations(40, 30)            # 2^40: Monte Carlo
    assert compare(a, b, n_resamples=1000).exact is False
    assert compare(a, b, method="ttest").exact is None


def test_comparison_frame_and_html():
    a, b = _evaluations(40, 30)
    c = compare(b, a, n_resamples=2000)    # a significant loss
    row = c.to_frame().loc["mrr"] if "metric" not in c.to_frame().columns else \
        c.to_frame().set_index("metric").loc["mrr"]
    assert (row["ci_low"], row["ci_high"]) == c.ci["mrr"]
    assert row["ci_low"] < row["ci_high"] < 0
    assert 'class="vd-critical"' in c._repr_html_()
    assert 'class="vd-critical"' not in compare(a, b, n_resamples=2000)._repr_html_()


# -- FixReport display -----------------------------------------------------------------------

def _report_with(gain, loss, failed=None):
    a, b = _evaluations(40, 30)
    evals = {"baseline": a, "gain": b, "loss": evaluate(
        {f"q{i}": {f"x{j}": 9.0 - j for j in range(5)} | {"r": 3.5} for i in range(40)},
        {f"q{i}": {"r": 1} for i in range(40)}, metrics=["mrr"])}
    comps = {"gain": compare(a, b, n_resamples=2000), "loss": compare(a, evals["loss"],
                                                                   n_resamples=2000)}
    assert comps["gain"].significant["mrr"] and comps["loss"].significant["mrr"]
    assert comps["gain"].delta["mrr"] > gain and comps["loss"].delta["mrr"] < loss
    return FixReport(order=("gain", "baseline", "loss"), evaluations=evals, comparisons=comps,
                     primary_metric="mrr", metrics=("mrr",), method="randomization",
                     alpha=0.05, seconds={}, failed=failed or {}, runs={})


def test_fix_report_html_colours_significant_rows_and_lists_failures():
    rep = _report_with(0.3, -0.2, failed={"chunk_documents": "needs texts= & an embedder"})
    html = rep._repr_html_()
    assert html.count('class="vd-ok"') == 1 and html.count('class="vd-critical"') == 1
    assert html.index('class="vd-ok"') < html.index(">gain<") < html.index('class="vd-critical"')
    assert ("<p class='vd-warning'>could not run: chunk_documents: needs texts= &amp; an "
            "embedder</p>") in html


def test_evaluation_html_right_aligns_numbers():
    a, _ = _evaluations(4, 0)
    html = a._repr_html_()
    assert re.search(r'<td class="vd-num"[^>]*>0\.5</td>', html)      # the mean, a number


# -- TREC files and runs ---------------------------------------------------------------------

def test_trec_errors_name_file_line_and_shorten_long_lines(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d1 2\n")
    with pytest.raises(ValueError, match=r"qrels\.txt line 2: document 'd1' is judged twice "
                                         r"for query 'q1': 'q1 0 d1 2'"):
        vd.load_qrels(path)
    long_id = "d" * 120
    run = tmp_path / "run.txt"
    run.write_text(f"q1 Q0 {long_id} x 1.0 tag\n")
    with pytest.raises(ValueError) as err:
        vd.load_run(run)
    shown = f"q1 Q0 {long_id} x 1.0 tag"[:77] + "..."
    assert str(err.value).endswith(repr(shown))


def test_run_from_neighbors_uses_the_neighbors_ids_and_negates_distances():
    C = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    index = vd.Index(C, metric="euclidean", ids=["a", "b", "c"])
    found = index.search([[0.9, 0.0]], k=3)
    assert run_from_neighbors(found, ["q"]) == {"q": pytest.approx({"b": -0.1, "a": -0.9,
                                                                   "c": -2.1})}
    bare = vd.knn([[0.9, 0.0]], C, k=2, metric="euclidean")
    with pytest.raises(ValueError, match=r"pass doc_ids \(one per corpus row\) as the third "
                                         r"element: \(neighbors, query_ids, doc_ids\)"):
        run_from_neighbors(bare, ["q"])


def test_try_fixes_runs_hold_negated_distances_under_euclidean():
    rng = np.random.default_rng(2)
    C, Q = rng.normal(size=(30, 4)), rng.normal(size=(5, 4))
    qids, dids = [f"q{i}" for i in range(5)], [f"d{i}" for i in range(30)]
    qrels = {q: {"d0": 1} for q in qids}
    rep = vd.try_fixes(Q, C, qrels, query_ids=qids, doc_ids=dids, fixes=["center"], k=5,
                       metric="euclidean", metrics=["mrr@10"], n_resamples=100)
    dist = np.linalg.norm(Q[:, None, :] - C[None, :, :], axis=2)
    for i, q in enumerate(qids):
        top = np.argsort(dist[i], kind="stable")[:5]
        assert rep.runs["baseline"][q] == pytest.approx({dids[j]: -dist[i, j] for j in top})


# -- fixes -----------------------------------------------------------------------------------

def test_deduplicate_returns_ten_by_default():
    C = np.random.default_rng(3).normal(size=(30, 5))
    assert vd.fixes.deduplicate(C[:2], C).indices.shape == (2, 10)


def _unit_rows(n, d, seed):
    X = np.random.default_rng(seed).normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_mmr_euclidean_equals_the_greedy_rule_by_hand():
    C, q = _unit_rows(25, 6, 4) * np.linspace(0.5, 2, 25)[:, None], np.ones(6) * 0.3
    lam, k = 0.6, 5
    s_q = -np.linalg.norm(C - q, axis=1)
    s_cc = -np.linalg.norm(C[:, None] - C[None], axis=2)
    chosen = []
    for _ in range(k):
        gain = lam * s_q - (1 - lam) * (s_cc[:, chosen].max(axis=1) if chosen else 0.0)
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
    res = vd.fixes.mmr(q, C, k=k, lambda_=lam, metric="euclidean")
    assert res.indices[0].tolist() == chosen


class _PlainEmbedder:
    """A model without prefixes or a token limit: bag of letters."""

    def encode(self, texts, kind="document"):
        out = np.full((len(texts), 26), 0.01)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def test_add_prefix_with_a_model_that_has_no_prefix_attributes():
    emb = _PlainEmbedder()
    docs, qs = ["alpha", "beta gamma", "zeta"], ["zeta"]
    res = add_prefix(qs, docs, emb, k=3, query_prefix="q: ", document_prefix="")
    ref = vd.knn(emb.encode(["q: zeta"]), emb.encode(docs), k=3)
    np.testing.assert_array_equal(res.indices, ref.indices)


def test_chunk_documents_default_chunk_is_sixty_percent_of_the_token_limit():
    class Limited(_PlainEmbedder):
        max_tokens = 20                                 # chunks of max(8, 12) = 12 words

    emb = Limited()
    words = ["zeta"] * 12 + ["alpha"] * 12
    docs = [" ".join(words), "beta beta"]
    Q = emb.encode(["zeta"], kind="query")
    res = chunk_documents(Q, emb.encode(docs), docs, emb, k=2, overlap=0)
    best = max(vd.cosine(Q[0], emb.encode([" ".join(["zeta"] * 12)])[0]),
               vd.cosine(Q[0], emb.encode([" ".join(["alpha"] * 12)])[0]))
    assert res.scores[0, 0] == pytest.approx(best)


# -- validation messages and defaults (run dicts, qrels, fix codes) ----------------------------

def test_evaluate_refuses_a_fractional_relevance_level():
    with pytest.raises(ValueError, match=r"^relevance_level must be an integer >= 1, got 1\.5$"):
        evaluate({"q": {"d": 1.0}}, {"q": {"d": 1}}, relevance_level=1.5)


def test_as_run_names_the_run_and_turns_ids_into_strings():
    assert ev_as_run({7: {1: 0.5, "d2": 0.25}}) == {"7": {"1": 0.5, "d2": 0.25}}
    # scores that are not Python floats (ints, NumPy floats) take the general path
    assert ev_as_run({7: {1: 2, "d2": np.float32(0.25)}}) == {"7": {"1": 2.0, "d2": 0.25}}
    with pytest.raises((TypeError, ValueError), match=r"^run\b"):
        ev_as_run({"q": {"d": "high"}})


def test_qrels_relevance_must_be_an_integer():
    with pytest.raises(TypeError, match=r"^qrels\['q'\]\['d'\] is str 'yes'; relevance must be "
                                        r"an integer \(0 = not relevant, 1\+ = relevant\)$"):
        evaluate({"q": {"d": 1.0}}, {"q": {"d": "yes"}})


def test_fix_code_messages_and_defaults():
    with pytest.raises(ValueError, match=r"^cosine_metric must come first in a combination$"):
        vd.fixes.parse_fix("center+cosine_metric")
    with pytest.raises(ValueError, match=r"^'csls' is not a vector fix; choose from center, "
                                         r"normalize, whiten, all_but_the_top$"):
        vd.fixes.make_transformer("csls")
    assert vd.fixes.make_transformer("center").normalize_first is True      # cosine default
    assert vd.fixes.make_transformer("center", metric="dot").normalize_first is False
    assert {"Center", "Whiten", "AllButTheTop"} <= set(dir(vd.fixes))


def test_reranked_neighbors_know_their_k():
    C = np.random.default_rng(6).normal(size=(20, 4))
    assert vd.fixes.csls(C[:3], C, k=5).k == 5
    assert vd.fixes.mutual_proximity(C[:3], C, k=4).k == 4


# -- several blocks of queries / documents (the block loops past their first block) -----------

def test_fix_on_an_index_over_many_query_blocks_equals_plain_arrays():
    """2,500 queries x 2,000 documents: more than one block of the cached Index path."""
    rng = np.random.default_rng(8)
    C, Q = rng.normal(size=(2000, 8)) + 0.5, rng.normal(size=(2500, 8)) + 0.5
    on_index = vd.fixes.apply_fix("center", Q, vd.Index(C), k=5)
    plain = vd.fixes.apply_fix("center", Q, C, k=5)
    np.testing.assert_array_equal(on_index.indices, plain.indices)
    # cosine_metric on a dot-product Index: its unit rows, block after block
    on_dot = vd.fixes.apply_fix("cosine_metric", Q, vd.Index(C, metric="dot"), k=5)
    np.testing.assert_array_equal(on_dot.indices, vd.knn(Q, C, k=5).indices)


def test_cosine_metric_on_an_index_reads_queries_of_any_length():
    """A float32 query of 3e38s has an infinite length in float32: divided by it, it was
    a row of zeros, every score 0 and row 0 "nearest". Its direction is (1, 1)."""
    C = np.array([[1, 2], [2, 1], [1, 1]], np.float32)
    Q = np.array([[3e38, 3e38], [-3e38, -1e38]], np.float32)
    got = vd.fixes.apply_fix("cosine_metric", Q, vd.Index(C, metric="dot"), k=1)
    Q64 = Q.astype(np.float64)
    want = (Q64 / np.linalg.norm(Q64, axis=1)[:, None]) @ \
        (C / np.linalg.norm(C, axis=1)[:, None]).T.astype(np.float64)
    np.testing.assert_array_equal(got.indices[:, 0], want.argmax(axis=1))
    np.testing.assert_allclose(got.scores[:, 0], want.max(axis=1), rtol=1e-6)


def test_mutual_proximity_euclidean_by_hand_over_many_document_blocks():
    """MP-Gauss by hand (scipy's normal cdf) on 2,500 documents: the documents' score
    statistics run over several blocks."""
    from scipy.stats import norm

    rng = np.random.default_rng(9)
    C, Q = rng.normal(size=(2500, 3)), rng.normal(size=(3, 3))
    S_cc = -np.sqrt(((C[:, None, :] - C[None, :, :]) ** 2).sum(-1))
    off = ~np.eye(len(C), dtype=bool)
    mu_d = np.array([S_cc[i, off[i]].mean() for i in range(len(C))])
    sd_d = np.array([S_cc[i, off[i]].std() for i in range(len(C))])
    S = -np.sqrt(((Q[:, None, :] - C[None, :, :]) ** 2).sum(-1))
    mu_q, sd_q = S.mean(axis=1, keepdims=True), S.std(axis=1, keepdims=True)
    mp = norm.cdf((S - mu_q) / sd_q) * norm.cdf((S - mu_d) / sd_d)
    res = vd.fixes.mutual_proximity(Q, C, k=5, metric="euclidean")
    expected = np.argsort(-mp, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(res.indices, expected)
    np.testing.assert_allclose(1.0 - res.scores, np.take_along_axis(mp, expected, 1), rtol=1e-9)


def test_a_fix_that_zeroes_the_corpus_says_so_on_an_index():
    C = np.ones((5, 3))                       # identical rows: nothing left after centring
    with pytest.raises(ValueError, match=r"^corpus after the fix has 5 rows \(0, 1, 2, 3, 4\) "
                                         r"that are zero vectors"):
        vd.fixes.apply_fix("center", np.array([[1.0, 2.0, 3.0]]), vd.Index(C), k=2)


def test_hybrid_lexical_checks_rrf_k_and_ranks_unit_rows_alike_under_euclidean():
    pytest.importorskip("bm25s")
    docs = ["router reset guide", "password reset steps", "billing and invoices",
            "router lights meaning", "reset the router to factory settings"]
    qs = ["reset router", "invoice"]
    C, Q = _unit_rows(5, 6, 11), _unit_rows(2, 6, 12)
    with pytest.raises(ValueError, match="rrf_k"):
        vd.fixes.apply_fix("hybrid_lexical", Q, C, k=3, texts=docs, query_texts=qs, rrf_k=-1)
    # on unit rows, euclidean orders like cosine: the fused rankings agree
    cos = vd.fixes.apply_fix("hybrid_lexical", Q, C, k=5, texts=docs, query_texts=qs)
    euc = vd.fixes.apply_fix("hybrid_lexical", Q, C, k=5, texts=docs, query_texts=qs,
                             metric="euclidean")
    np.testing.assert_array_equal(euc.indices, cos.indices)


def test_fix_on_a_euclidean_index_finds_coinciding_rows_at_distance_zero():
    C = np.random.default_rng(13).normal(size=(50, 6)) * 100.0
    res = vd.fixes.apply_fix("center", C[:3], vd.Index(C, metric="euclidean"), k=2)
    assert res.indices[:, 0].tolist() == [0, 1, 2]
    assert res.scores[:, 0].tolist() == [0.0, 0.0, 0.0]      # recomputed, not expanded
