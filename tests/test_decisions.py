"""Decisions, not only numbers: try_fixes' p-values, Holm and `significant` against
independent references, and every place that turns them into a yes/no
(`FixReport.best`, the `vecdiag eval` gate's exit code).

References: the centred and all-but-the-top searches written here with NumPy and
scikit-learn (PCA, brute-force NearestNeighbors), not vecdiag's apply_fix, scipy.stats.ttest_rel, Holm's step-down
written out by hand, and vd.compare replayed with the same random stream.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

import vecdiag as vd
from _rogue_case import rogue_dimension_case
from vecdiag.cli import main
from vecdiag.evaluation.fix_trials import FixReport


def _holm(p):
    """Holm's step-down adjustment, by hand: the i-th smallest p times (m - i), running max."""
    p = np.asarray(p, dtype=np.float64)
    out, running = np.empty_like(p), 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _cosine_run(queries, corpus, k, qids, dids):
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(corpus)
    dist, idx = nn.kneighbors(queries)
    return {q: {dids[j]: 1.0 - float(s) for j, s in zip(idx[i], dist[i])}
            for i, q in enumerate(qids)}


def _centred_run(queries, corpus, k, qids, dids):
    """'center' under cosine: unit-normalise, subtract the corpus mean, search by cosine."""
    mean = _unit(corpus).mean(axis=0)
    return _cosine_run(_unit(queries) - mean, _unit(corpus) - mean, k, qids, dids)


def _abtt_run(queries, corpus, k, qids, dids):
    """'all_but_the_top' under cosine (Mu & Viswanath): unit-normalise, centre on the corpus
    mean, remove the corpus's top principal direction (D = 1 for d < 150)."""
    mean = _unit(corpus).mean(axis=0)
    top = PCA(n_components=1, svd_solver="full").fit(_unit(corpus) - mean).components_[0]

    def strip(X):
        X = _unit(X) - mean
        return X - np.outer(X @ top, top)
    return _cosine_run(strip(queries), strip(corpus), k, qids, dids)


@pytest.fixture(scope="module")
def shifted():
    """Each query is a noisy copy of its document's topic, but dimension 0 holds large
    unrelated noise in every vector: a rogue direction that all-but-the-top removes."""
    return rogue_dimension_case(seed=7, n=150, n_q=40)


METRICS = ["mrr@10", "recall@20"]


def test_ttest_p_values_holm_and_significant_equal_scipy(shifted):
    queries, corpus, qrels, qids, dids = shifted
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                       fixes=["center", "all_but_the_top"], k=20, metrics=METRICS, method="ttest")
    base = vd.evaluate(_cosine_run(queries, corpus, 20, qids, dids), qrels, metrics=METRICS)
    np.testing.assert_allclose(rep.evaluations["baseline"].values, base.values, atol=1e-12)
    for name, search in (("center", _centred_run), ("all_but_the_top", _abtt_run)):
        fixed = vd.evaluate(search(queries, corpus, 20, qids, dids), qrels, metrics=METRICS)
        np.testing.assert_allclose(rep.evaluations[name].values, fixed.values, atol=1e-12)
        c = rep.comparisons[name]
        p = [stats.ttest_rel(fixed.values[:, j], base.values[:, j]).pvalue for j in range(2)]
        p = [1.0 if np.isnan(x) else x for x in p]       # no difference at all: p = 1
        assert [c.p_value[m] for m in METRICS] == pytest.approx(p, rel=1e-9), name
        assert [c.p_adjusted[m] for m in METRICS] == pytest.approx(_holm(p), rel=1e-9), name
        assert c.significant == {m: bool(q < 0.05) for m, q in zip(METRICS, _holm(p))}, name
    # the planted rogue direction: removing it is a real, significant gain on both metrics
    assert rep.comparisons["all_but_the_top"].significant == {"mrr@10": True, "recall@20": True}
    assert rep.best == "all_but_the_top"


def test_randomization_p_values_equal_compare_replayed(shifted):
    queries, corpus, qrels, qids, dids = shifted
    fixes = ["center", "normalize", "all_but_the_top"]
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids, fixes=fixes,
                       k=20, metrics=METRICS, n_resamples=3000, alpha=0.01, random_state=3)
    base = vd.evaluate(_cosine_run(queries, corpus, 20, qids, dids), qrels, metrics=METRICS)
    fixed = {"center": vd.evaluate(_centred_run(queries, corpus, 20, qids, dids), qrels,
                                   metrics=METRICS),
             "normalize": base,                       # a no-op under cosine
             "all_but_the_top": vd.evaluate(_abtt_run(queries, corpus, 20, qids, dids), qrels,
                                            metrics=METRICS)}
    rng = np.random.default_rng(3)                    # try_fixes' stream, fix after fix
    for name in fixes:
        ref = vd.compare(base, fixed[name], n_resamples=3000, alpha=0.01, random_state=rng)
        got = rep.comparisons[name]
        assert got.p_value == pytest.approx(ref.p_value, abs=1e-12), name
        assert got.p_adjusted == pytest.approx(ref.p_adjusted, abs=1e-12), name
        assert got.significant == ref.significant, name
        p = [got.p_value[m] for m in METRICS]
        assert [got.p_adjusted[m] for m in METRICS] == pytest.approx(_holm(p), abs=1e-12)
        assert got.significant == {m: got.p_adjusted[m] < 0.01 for m in METRICS}
    assert rep.comparisons["normalize"].p_adjusted == {"mrr@10": 1.0, "recall@20": 1.0}
    assert rep.comparisons["normalize"].significant == {"mrr@10": False, "recall@20": False}
    assert rep.comparisons["all_but_the_top"].significant == {"mrr@10": True, "recall@20": True}


# -- FixReport.best on hand-made runs with known exact p-values ------------------------------

N_Q = 40
PRIMARY = "mrr@10"


def _run(ranks):
    """Query i's relevant document r{i} at rank ranks[i] among filler documents."""
    run = {}
    for i, rank in enumerate(ranks):
        docs = {f"x{i}-{j}": 100.0 - j for j in range(1, 12)}
        docs[f"r{i}"] = 100.0 - rank + 0.5             # sits just above filler number `rank`
        run[f"q{i}"] = docs
    return run


QRELS = {f"q{i}": {f"r{i}": 1} for i in range(N_Q)}
BASE_RANKS = [10] * 3 + [3] * 12 + [2] * 25


def _report(variants, n_resamples=10_000, alpha=0.05):
    evals = {"baseline": vd.evaluate(_run(BASE_RANKS), QRELS, metrics=[PRIMARY, "recall@1"])}
    for name, ranks in variants.items():
        evals[name] = vd.evaluate(_run(ranks), QRELS, metrics=[PRIMARY, "recall@1"], name=name)
    comps = {n: vd.compare(evals["baseline"], ev, n_resamples=n_resamples, alpha=alpha,
                           random_state=0) for n, ev in evals.items() if n != "baseline"}
    order = tuple(sorted(evals, key=lambda n: (-evals[n].mean[PRIMARY], n != "baseline")))
    return FixReport(order=order, evaluations=evals, comparisons=comps, primary_metric=PRIMARY,
                     metrics=(PRIMARY, "recall@1"), method="randomization", alpha=alpha,
                     seconds={}, failed={}, runs={})


def _ranks(changes):
    ranks = list(BASE_RANKS)
    for i, r in changes.items():
        ranks[i] = r
    return ranks


# queries 0-2 move from rank 10 to 1: the largest mean gain (+0.0675) but 3 queries only;
# the sign-flip test: 2 of its 2^3 = 8 sign patterns are as extreme, p = 0.25 (Monte Carlo
# with 10,000 resamples: within 0.02)
FEW_BIG = _ranks({0: 1, 1: 1, 2: 1})
# queries 3-14 move from rank 3 to 2: a smaller gain (+0.05) on 12 queries: p = 2/4096
# (Monte Carlo: (1 + count) / (1 + B), below 0.002)
MANY_SMALL = _ranks({i: 2 for i in range(3, 15)})
# queries 15-39 drop from rank 2 to 3: a significant loss
MANY_WORSE = _ranks({i: 3 for i in range(15, 40)})


def test_exact_p_values_of_the_hand_made_runs():
    rep = _report({"few_big": FEW_BIG, "many_small": MANY_SMALL})
    few, many = rep.comparisons["few_big"], rep.comparisons["many_small"]
    assert few.delta[PRIMARY] == pytest.approx(3 * 0.9 / N_Q)
    assert few.p_value[PRIMARY] == pytest.approx(2 / 8, abs=0.02)
    assert many.delta[PRIMARY] == pytest.approx(12 * (1 / 2 - 1 / 3) / N_Q)
    assert many.p_value[PRIMARY] < 0.002


def test_best_is_none_when_the_only_gain_is_not_significant():
    rep = _report({"few_big": FEW_BIG, "worse": MANY_WORSE})
    assert rep.order[0] == "few_big" and rep.comparisons["few_big"].delta[PRIMARY] > 0
    assert not rep.comparisons["few_big"].significant[PRIMARY]
    assert rep.best is None


def test_best_skips_a_larger_gain_that_is_not_significant():
    rep = _report({"few_big": FEW_BIG, "many_small": MANY_SMALL})
    assert rep.order == ("few_big", "many_small", "baseline")
    assert rep.best == "many_small"


def test_best_is_never_a_significant_loss_nor_below_the_baseline():
    rep = _report({"worse": MANY_WORSE})
    assert rep.comparisons["worse"].significant[PRIMARY]
    assert rep.comparisons["worse"].delta[PRIMARY] < 0
    assert rep.order == ("baseline", "worse")
    assert rep.best is None


def test_best_follows_alpha():
    # 3e-4: as strict as 10,000 resamples allow over two metrics (Holm: 2/10,001 < 3e-4);
    # the twelve same-sign changes have an exact p of 2/2**12 = 4.9e-4 before Holm
    rep = _report({"many_small": MANY_SMALL}, alpha=3e-4)
    assert not rep.comparisons["many_small"].significant[PRIMARY]
    assert rep.best is None
    rep = _report({"many_small": MANY_SMALL}, alpha=0.05)
    assert rep.best == "many_small"


def test_readme_demo_case_has_no_best_fix():
    data = vd.datasets.load_demo()
    rep = vd.try_fixes(data.query_embeddings, data.corpus_embeddings, data.qrels,
                       query_ids=data.query_ids, doc_ids=data.corpus_ids,
                       fixes=["center", "all_but_the_top", "csls"],
                       metrics=["ndcg@10", "recall@100"])
    top = rep.order[0]
    assert top == "all_but_the_top"
    assert rep.comparisons[top].delta["ndcg@10"] == pytest.approx(0.0040, abs=5e-5)  # on paper
    assert rep.comparisons[top].p_adjusted["ndcg@10"] == 1.0   # ... that is noise
    assert rep.best is None


# -- the eval gate's exit code ------------------------------------------------------------------

def _write_run(path, run):
    vd.save_run(run, path)
    return str(path)


@pytest.fixture
def gate_files(tmp_path):
    with open(tmp_path / "qrels.txt", "w") as handle:
        for q, docs in QRELS.items():
            for d, r in docs.items():
                handle.write(f"{q} 0 {d} {r}\n")
    return tmp_path


@pytest.mark.parametrize("ranks, failed", [
    (_ranks({0: 11, 1: 11}), False),      # a drop on 2 queries: p = 0.5, not a regression
    (MANY_WORSE, True),                   # a drop on 25 queries: significant
    (FEW_BIG, False),                     # a gain never fails the gate
])
def test_eval_gate_exit_code_follows_significance(gate_files, capsys, ranks, failed):
    base = _write_run(gate_files / "base.run", _run(BASE_RANKS))
    new = _write_run(gate_files / "new.run", _run(ranks))
    code = main(["eval", new, str(gate_files / "qrels.txt"), "--baseline", base,
                 "--metrics", PRIMARY, "--fail-on-regression", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == (1 if failed else 0)
    assert payload["failed"] is failed
    m = payload["baseline"]["metrics"][PRIMARY]
    assert m["significant"] == (m["p_holm"] < 0.05)
    assert (payload["baseline"]["regressions"] == [PRIMARY]) is failed


# -- the explanation's recommendation reads the same decisions -------------------------------

@pytest.fixture(scope="module")
def explained(shifted):
    """Query q0 misses d0 (rank 119): all-but-the-top brings it to rank 1, and the report
    finds that fix significant over the 40 judged queries."""
    queries, corpus, qrels, qids, dids = shifted
    rep = vd.try_fixes(queries, corpus, qrels, query_ids=qids, doc_ids=dids,
                       fixes=["center", "all_but_the_top"], k=20, metrics=METRICS)

    def explain(report):
        return vd.explain_neighbors(queries[0], corpus, ids=dids, expected=["d0"], k=10,
                                    fix_report=report)
    return rep, explain


def test_recommendation_carries_the_reports_significance(explained):
    rep, explain = explained
    exp = explain(rep)
    rec, c = exp.recommendation, rep.comparisons["all_but_the_top"]
    assert rec.fix == "all_but_the_top"
    assert rec.global_p == c.p_adjusted["mrr@10"] and rec.global_significant is True
    assert rec.global_delta == pytest.approx(c.delta["mrr@10"])
    assert exp.recommendation_text.endswith("a significant improvement: try it first.")


def test_recommendation_of_a_gain_that_is_not_significant(explained):
    import dataclasses

    rep, explain = explained
    noise = _report({"few_big": FEW_BIG}).comparisons["few_big"]      # +0.0675, p ~ 0.25
    report = dataclasses.replace(rep, comparisons={**rep.comparisons, "all_but_the_top": noise})
    exp = explain(report)
    assert exp.recommendation.fix == "all_but_the_top"                 # still the local lift
    assert exp.recommendation.global_significant is False
    assert exp.recommendation_text.endswith("safe to try.")
    assert "significant improvement" not in exp.recommendation_text


def test_a_fix_that_lowers_the_average_comes_after_one_that_does_not(explained):
    """Two fixes bring d0 into the top-10: all-but-the-top to rank 1, whitening to rank 10.
    With all-but-the-top lowering the judged average (not significantly) and whitening
    raising it, all-but-the-top was recommended for its larger local lift and called "safe
    to try" (the demo's q28: CSLS, -0.042, over hybrid lexical search, +0.039). A fix that
    lowers the average now comes after one that brings as many into the top-k without
    lowering it; alone, it is recommended with a warning instead of "safe to try"."""
    import dataclasses

    rep, explain = explained
    few_worse = _ranks({0: 11, 1: 11, 2: 11})          # 3 queries lose rank 10: -0.0075
    figures = _report({"few_worse": few_worse, "few_big": FEW_BIG}).comparisons
    loss, gain = figures["few_worse"], figures["few_big"]
    assert loss.delta["mrr@10"] < 0 and not loss.significant["mrr@10"]
    assert gain.delta["mrr@10"] > 0 and not gain.significant["mrr@10"]
    report = dataclasses.replace(rep, comparisons={**rep.comparisons, "all_but_the_top": loss,
                                                   "whiten": gain})
    exp = explain(report)
    ranks = {cf.fix: cf.expected_ranks["d0"] for cf in exp.counterfactuals}
    assert ranks["all_but_the_top"] == 1 and ranks["whiten"] == 10
    assert exp.recommendation.fix == "whiten"
    assert exp.recommendation_text.endswith(
        f"by {gain.delta['mrr@10']:+.3f} (p {gain.p_adjusted['mrr@10']:.2g}): safe to try.")
    # when every fix that reaches the top-k lowers the average, the largest lift is the
    # pick, with the warning
    others = {cf.fix: loss for cf in exp.counterfactuals if cf.fix in ranks}
    report = dataclasses.replace(rep, comparisons={**rep.comparisons, **others})
    exp = explain(report)
    assert exp.recommendation.fix == "all_but_the_top"
    assert exp.recommendation_text.endswith(
        f"by {loss.delta['mrr@10']:+.3f} (p {loss.p_adjusted['mrr@10']:.2g}): no significant "
        "loss, but it lowers the average: check the queries it hurts first.")


def test_a_significantly_harmful_fix_is_never_recommended(explained):
    import dataclasses

    rep, explain = explained
    loss = _report({"worse": MANY_WORSE}).comparisons["worse"]
    assert loss.significant["mrr@10"] and loss.delta["mrr@10"] < 0
    report = dataclasses.replace(rep, comparisons={**rep.comparisons, "all_but_the_top": loss})
    exp = explain(report)
    ranks = {cf.fix: cf.expected_ranks["d0"] for cf in exp.counterfactuals}
    assert ranks["all_but_the_top"] == 1                  # the best local lift, yet rejected
    # the next best lift (whitening: rank 10) is recommended, without judged-set figures
    assert exp.recommendation.fix == min((r, f) for f, r in ranks.items()
                                         if f != "all_but_the_top")[1] == "whiten"
    assert "did not run whiten over the 40 judged queries" in exp.recommendation_text
