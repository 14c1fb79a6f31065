"""vd.compare and its tests: scipy for the t-test, brute-force enumeration for the
randomization test, a simulated null for the false-positive rate, closed forms for Holm."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

import vecdiag as vd
from vecdiag.evaluation.significance import holm, paired_test


def _evaluations(values_a, values_b, metrics=("m",)):
    """Two Evaluation records over queries q0..q{n-1} holding the given values."""
    values_a = np.asarray(values_a, dtype=float).reshape(len(values_a), -1)
    values_b = np.asarray(values_b, dtype=float).reshape(len(values_b), -1)
    qids = tuple(f"q{i:04d}" for i in range(values_a.shape[0]))

    def make(values, name):
        return vd.Evaluation(metrics=tuple(metrics), query_ids=qids, values=values,
                             mean={m: float(values[:, j].mean()) for j, m in enumerate(metrics)},
                             name=name)

    return make(values_a, "base"), make(values_b, "new")


def brute_force_sign_flip(d):
    """Two-sided exact sign-flip p-value by listing every sign pattern (itertools)."""
    d = [float(x) for x in d]
    observed = abs(sum(d) / len(d))
    hits = total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        total += 1
        hits += abs(sum(s * x for s, x in zip(signs, d)) / len(d)) >= observed - 1e-12
    return hits / total


def test_ttest_equals_scipy_ttest_rel(rng):
    a = rng.random((40, 3))
    b = a + rng.normal(0.03, 0.1, size=(40, 3))
    ea, eb = _evaluations(a, b, metrics=("x", "y", "z"))
    cmp = vd.compare(ea, eb, method="ttest")
    for j, m in enumerate(cmp.metrics):
        ref = stats.ttest_rel(b[:, j], a[:, j])
        assert cmp.p_value[m] == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-15)
        lo, hi = ref.confidence_interval(0.95)
        assert cmp.ci[m] == pytest.approx((lo, hi), rel=1e-10)
        assert cmp.delta[m] == pytest.approx(np.mean(b[:, j] - a[:, j]), abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_exact_randomization_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(0.1, 0.3, size=9), 2)  # rounding makes ties of |mean| likely
    res = paired_test(d, method="randomization")
    assert res["exact"] is True
    assert res["p_value"] == pytest.approx(brute_force_sign_flip(d), abs=1e-15)


def test_monte_carlo_agrees_with_exact_within_its_error():
    rng = np.random.default_rng(3)
    d = rng.normal(0.3, 0.4, size=14)
    exact = paired_test(d, exact=True)["p_value"]
    B = 20_000
    mc = paired_test(d, exact=False, n_resamples=B, random_state=1)
    assert mc["exact"] is False
    se = np.sqrt(exact * (1 - exact) / B)
    assert abs(mc["p_value"] - exact) < 4 * se + 1 / B
    assert 0.005 < exact < 0.5  # a case where the agreement is informative


def test_monte_carlo_p_value_is_never_zero():
    d = np.full(50, 0.2) + np.linspace(0, 0.01, 50)
    res = paired_test(d, n_resamples=999)
    assert res["p_value"] == pytest.approx(1 / 1000)


def test_exact_is_chosen_when_enumeration_is_cheaper():
    assert paired_test(np.arange(1.0, 11.0), n_resamples=2000)["exact"] is True   # 1024
    assert paired_test(np.arange(1.0, 12.0), n_resamples=2000)["exact"] is False  # 2048


@pytest.mark.parametrize("method", ["randomization", "ttest", "bootstrap"])
def test_false_positive_rate_under_the_null_is_about_five_percent(method):
    """300 simulated pairs of systems that differ by noise only: about 5% of p < .05."""
    rng = np.random.default_rng(12345)
    n_trials, n_queries = 300, 40
    hits = 0
    for _ in range(n_trials):
        base = rng.random(n_queries)
        a = np.clip(base + rng.normal(0, 0.1, n_queries), 0, 1)
        b = np.clip(base + rng.normal(0, 0.1, n_queries), 0, 1)
        p = paired_test(b - a, method=method, n_resamples=400, random_state=rng)["p_value"]
        hits += p < 0.05
    rate = hits / n_trials
    # binomial sd at 5% over 300 trials is 1.26%; allow about 2.5 sd either way
    assert 0.02 <= rate <= 0.085, rate


@pytest.mark.parametrize("method", ["randomization", "ttest", "bootstrap"])
def test_a_real_difference_is_found(method, rng):
    a = rng.random(60)
    b = np.clip(a + 0.08 + rng.normal(0, 0.05, 60), 0, 1)
    ea, eb = _evaluations(a, b)
    cmp = vd.compare(ea, eb, method=method, n_resamples=2000)
    assert cmp.significant["m"] and cmp.improvements == ["m"] and cmp.regressions == []
    lo, hi = cmp.ci["m"]
    assert lo < cmp.delta["m"] < hi and lo > 0


def test_bootstrap_approaches_the_t_test_for_many_queries():
    rng = np.random.default_rng(7)
    d = rng.normal(0.02, 0.2, size=400)
    boot = paired_test(d, method="bootstrap", n_resamples=20_000)
    t = paired_test(d, method="ttest")
    assert boot["p_value"] == pytest.approx(t["p_value"], abs=0.03)
    assert boot["ci"] == pytest.approx(t["ci"], abs=0.003)


@pytest.mark.parametrize("method", ["randomization", "ttest", "bootstrap"])
def test_identical_runs_give_p_one(method):
    ea, eb = _evaluations([0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    cmp = vd.compare(ea, eb, method=method)
    assert cmp.p_value["m"] == 1.0 and cmp.ci["m"] == (0.0, 0.0) and not cmp.significant["m"]


def test_same_seed_same_result_and_seed_matters(rng):
    a, b = rng.random(50), rng.random(50)
    ea, eb = _evaluations(a, b)
    one = vd.compare(ea, eb, n_resamples=500, random_state=3)
    two = vd.compare(ea, eb, n_resamples=500, random_state=3)
    other = vd.compare(ea, eb, n_resamples=500, random_state=4)
    assert one.p_value == two.p_value and one.ci == two.ci
    assert one.p_value != other.p_value


def test_holm_closed_form():
    """p = .01, .04, .03 (m = 3): sorted .01*3 = .03, .03*2 = .06, max(.06, .04*1) = .06."""
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
    assert holm([0.02]).tolist() == [0.02]
    out = holm([0.01, np.nan, 0.02])
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_holm_by_definition_on_random_p_values(rng):
    p = rng.random(7) ** 3
    adj = holm(p)
    order = np.argsort(p)
    expected = np.maximum.accumulate(np.minimum(1, (7 - np.arange(7)) * p[order]))
    assert adj[order] == pytest.approx(expected)


def test_compare_applies_holm_across_metrics(rng):
    a = rng.random((30, 3))
    b = a + rng.normal([0.05, 0.0, 0.02], 0.1, size=(30, 3))
    ea, eb = _evaluations(a, b, metrics=("x", "y", "z"))
    cmp = vd.compare(ea, eb, method="ttest")
    raw = [cmp.p_value[m] for m in cmp.metrics]
    assert [cmp.p_adjusted[m] for m in cmp.metrics] == pytest.approx(holm(raw).tolist())
    none = vd.compare(ea, eb, method="ttest", correction="none")
    assert none.p_adjusted == none.p_value
    one = vd.compare(ea, eb, method="ttest", metrics=["y"])
    assert one.metrics == ("y",) and one.p_adjusted["y"] == one.p_value["y"]


def test_a_metric_named_twice_is_refused_not_counted_twice_by_holm():
    """compare(metrics=["mrr@10", "mrr@10"]) counted one test twice in Holm's m: the
    p-value of 1/16 (5 queries, all of one sign, exact) came back adjusted to 1/8."""
    qrels = {f"q{i}": {"d1": 1, "d2": 0} for i in range(5)}
    a = vd.evaluate({q: {"d1": 1.0, "d2": 2.0} for q in qrels}, qrels, metrics=["mrr@10"])
    b = vd.evaluate({q: {"d1": 2.0, "d2": 1.0} for q in qrels}, qrels, metrics=["mrr@10"])
    assert vd.compare(a, b).p_adjusted["mrr@10"] == 2 / 2 ** 5
    with pytest.raises(ValueError, match="metrics has repeated measures"):
        vd.compare(a, b, metrics=["mrr@10", "mrr@10"])


def test_one_measure_spelt_two_ways_is_compared_under_a_s_name():
    """evaluate reads "MRR@10" as mrr@10 (and refuses both in one call as one measure
    twice), but compare matched names exactly: a with ["mrr@10", "map"] against b with
    ["MRR@10", "MAP"] raised "metrics [] are not in both evaluations (shared: [])"."""
    qrels = {f"q{i}": {"d1": 1, "d2": 0} for i in range(5)}
    run_a = {q: {"d1": 1.0, "d2": 2.0} for q in qrels}
    run_b = {q: {"d1": 2.0, "d2": 1.0} for q in qrels}
    a = vd.evaluate(run_a, qrels, metrics=["mrr@10", "map"])
    b = vd.evaluate(run_b, qrels, metrics=["MRR@10", "MAP"])
    same = vd.compare(a, vd.evaluate(run_b, qrels, metrics=["mrr@10", "map"]))
    cmp = vd.compare(a, b)
    assert cmp.metrics == ("mrr@10", "map")
    assert cmp.delta == same.delta == {"mrr@10": 0.5, "map": 0.5}
    assert cmp.p_adjusted == same.p_adjusted
    assert vd.compare(a, b, metrics=["MAP"]).metrics == ("map",)
    with pytest.raises(ValueError, match="repeated measures"):
        vd.compare(a, b, metrics=["map", "MAP"])
    with pytest.raises(ValueError, match=r"share no metric \(a: \['mrr@10', 'map'\], b: \['P@1'\]"):
        vd.compare(a, vd.evaluate(run_b, qrels, metrics=["P@1"]))
    with pytest.raises(TypeError, match="metrics must be a metric name"):
        vd.compare(a, b, metrics=3)


def test_pairs_over_shared_queries_only():
    qrels = {f"q{i}": {"r": 1} for i in range(8)}
    run_a = {f"q{i}": {"r": 1.0, "x": 0.5} for i in range(6)}             # misses q6, q7
    run_b = {f"q{i}": {"r": 0.1, "x": 0.5} for i in range(8)}
    ea = vd.evaluate(run_a, qrels, metrics=["mrr@10"], name="a")
    eb = vd.evaluate(run_b, qrels, metrics=["mrr@10"], name="b")
    cmp = vd.compare(ea, eb)
    assert len(cmp.query_ids) == 8  # a's missing queries count as 0 in a, so all are shared
    assert cmp.delta["mrr@10"] == pytest.approx((6 * -0.5 + 2 * 0.5) / 8)
    qrels_small = {f"q{i}": {"r": 1} for i in range(3)}
    ec = vd.evaluate(run_b, qrels_small, metrics=["mrr@10"])
    cmp2 = vd.compare(ec, eb)
    assert cmp2.query_ids == ("q0", "q1", "q2") and len(cmp2.only_b) == 5


def test_result_display_and_plot(rng):
    ea, eb = _evaluations(rng.random((20, 2)), rng.random((20, 2)), metrics=("a<b", "c"))
    cmp = vd.compare(ea, eb, n_resamples=200)
    html = cmp._repr_html_()
    assert "a&lt;b" in html and "a<b" not in html
    frame = cmp.to_frame()
    assert list(frame.columns) == ["base", "new", "delta", "ci_low", "ci_high", "p_value",
                                   "p_holm", "significant"]
    ax = cmp.plot()
    assert len(ax.patches) == 2
    x = vd.evaluate({"q": {"d": 1.0}}, {"q": {"d": 1}}, metrics=["map"])  # both named "run"
    same = vd.compare(x, x).to_frame()
    assert list(same.columns[:2]) == ["A: run", "B: run"]


def test_bad_input():
    ea, eb = _evaluations([0.1, 0.2], [0.3, 0.1])
    with pytest.raises(ValueError, match="method must be one of"):
        vd.compare(ea, eb, method="wilcoxon")
    with pytest.raises(TypeError, match="Evaluation from vd.evaluate"):
        vd.compare({"q": {"d": 1.0}}, eb)
    with pytest.raises(ValueError, match="not in both evaluations"):
        vd.compare(ea, eb, metrics=["ndcg@10"])
    with pytest.raises(ValueError, match="alpha"):
        vd.compare(ea, eb, alpha=1.5)
    with pytest.raises(ValueError, match="at least 2 shared queries"):
        paired_test([0.3], method="ttest")
    with pytest.raises(ValueError, match="NaN"):
        paired_test([0.3, np.nan])
    x = vd.evaluate({"a": {"d": 1.0}}, {"a": {"d": 1}})
    y = vd.evaluate({"b": {"d": 1.0}}, {"b": {"d": 1}})
    with pytest.raises(ValueError, match="share no averaged query"):
        vd.compare(x, y)


def test_bootstrap_refuses_a_single_shared_query():
    """One difference resamples only to itself: every bootstrap mean equals it, and the
    test would call any change significant (p = 1/(B+1)). Randomization answers p = 1
    (both sign patterns are as extreme), the t-test and the bootstrap refuse."""
    qrels = {"q0": {"a": 1}}
    A = vd.evaluate({"q0": {"a": 1.0, "b": 2.0}}, qrels, metrics=("mrr@10",), name="A")
    B = vd.evaluate({"q0": {"a": 2.0, "b": 1.0}}, qrels, metrics=("mrr@10",), name="B")
    assert vd.compare(A, B, method="randomization").p_value["mrr@10"] == 1.0
    for method in ("bootstrap", "ttest"):
        with pytest.raises(ValueError, match="at least 2 shared queries"):
            vd.compare(A, B, method=method)


def test_scores_beyond_float32_tie_as_in_trec_eval_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = vd.evaluate({"q": {"a": 1e39, "b": 1e40, "c": 1.0}}, {"q": {"a": 1}},
                         metrics=("mrr@10",))
    # a and b both round to inf in float32: tied, then doc ids descending (b before a)
    assert ev.mean["mrr@10"] == 0.5


def test_bootstrap_test_is_studentized_and_keeps_its_level_on_few_queries():
    """The centred mean of two or three differences of one sign never reaches the
    observed mean (p was 1e-4 for two queries); the studentized bootstrap does not
    claim significance there, and rejects about alpha of null samples from n = 10."""
    from vecdiag.evaluation.paired import paired_test

    assert paired_test([0.1, 0.3], method="bootstrap")["p_value"] > 0.3
    assert paired_test([0.1, 0.2, 0.3], method="bootstrap")["p_value"] > 0.05
    rng = np.random.default_rng(11)
    rejected = np.mean([paired_test(rng.normal(size=10), method="bootstrap",
                                    n_resamples=1000, random_state=i)["p_value"] < 0.05
                        for i in range(300)])
    assert 0.015 <= rejected <= 0.09
    strong = paired_test(np.full(30, 0.2) + rng.normal(0, 0.05, 30), method="bootstrap")
    assert strong["p_value"] < 0.001


def test_compare_refuses_evaluations_against_different_judgments():
    qrels = {q: {"rel": 1} for q in "abcdef"}
    other = {q: {"rel": 1, "x": 1} for q in "abcdef"}
    run = {q: {"x": 2.0, "rel": 1.0} for q in "abcdef"}
    a = vd.evaluate(run, qrels, metrics=["map"])
    with pytest.raises(ValueError, match="judge 6 shared queries differently"):
        vd.compare(a, vd.evaluate(run, other, metrics=["map"]))
    graded = {q: {"rel": 2} for q in "abcdef"}
    with pytest.raises(ValueError, match="same relevance_level"):
        vd.compare(vd.evaluate(run, graded, metrics=["map"]),
                   vd.evaluate(run, graded, metrics=["map"], relevance_level=2))
    reordered = {q: dict(reversed(list(j.items()))) for q, j in reversed(list(qrels.items()))}
    assert vd.compare(a, vd.evaluate(run, reordered, metrics=["map"])).delta["map"] == 0.0


@pytest.mark.parametrize("n", range(2, 14))
def test_every_query_moving_by_one_amount_is_significant_whatever_the_rounding(n):
    """n copies of 2/3 - 1/3 average to 0.33333333333333337 for some n: that rounding
    residue is no spread. Every test then sees a constant non-zero difference (the
    bootstrap's smallest p, the t-test's 0), for every n."""
    d = np.full(n, 2 / 3) - np.full(n, 1 / 3)
    boot = paired_test(d, method="bootstrap", n_resamples=999)
    assert boot["p_value"] == pytest.approx(1 / 1000)
    t = paired_test(d, method="ttest")
    assert t["p_value"] == 0.0 and t["ci"][0] == t["ci"][1] == t["delta"]


@pytest.mark.parametrize("d", [[1e-16, 0.0, 0.0], [3e-17, 0, 0, 0, 0], [1e-13, 2e-13, 1.5e-13],
                               [1e-13 * (i + 1) for i in range(10)]])
def test_differences_of_any_scale_are_tested_as_scipy_tests_them(d):
    """The rounding level was 1e-12 at least, whatever the scale of the differences: one
    1e-16 residue beside zeros read as a constant shift (t-test p = 0, bootstrap 1e-4:
    'significant'; scipy's ttest_rel gives 0.42), and ten differences all near 1e-13 read
    as no change (randomization p = 1; scipy's permutation test gives 2/1024)."""
    d = np.asarray(d)
    assert paired_test(d, method="ttest")["p_value"] == pytest.approx(
        stats.ttest_rel(d, np.zeros(d.size)).pvalue, rel=1e-9)
    perm = stats.permutation_test((d,), lambda x, axis=-1: x.mean(axis=axis), vectorized=True,
                                  permutation_type="samples", n_resamples=np.inf)
    assert paired_test(d, method="randomization")["p_value"] == pytest.approx(perm.pvalue)
    if d[1:].sum() == 0:          # one residue beside zeros: no sign of a shift
        assert paired_test(d, method="bootstrap", n_resamples=999)["p_value"] > 0.3


def test_queries_a_search_returned_nothing_for_are_absent_not_paired_zeros():
    """A store or filter that returns nothing for a query pads its row with -1: that
    query is absent from the run (as from a TREC file), so compare leaves it out of the
    pairing when neither system found anything, as when its id is missing from both."""
    import warnings

    from vecdiag.neighbors import Neighbors

    qrels = {"q1": {"d1": 1}, "q2": {"d1": 1}, "q3": {"d1": 1}}
    docs = ["d0", "d1"]

    def evaluation(rows):
        idx = np.array(rows)
        nb = Neighbors(indices=idx, scores=np.where(idx >= 0, [1.0, 0.9], np.nan),
                       metric="cosine", k=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return vd.evaluate((nb, ["q1", "q2", "q3"], docs), qrels, metrics=["mrr"])

    a = evaluation([[0, 1], [0, 1], [-1, -1]])
    b = evaluation([[1, 0], [1, 0], [-1, -1]])
    assert a.missing_from_run == ("q3",)
    cmp = vd.compare(a, b)
    assert cmp.query_ids == ("q1", "q2") and cmp.absent_from_both == ("q3",)
    assert cmp.delta["mrr"] == pytest.approx(0.5)


@pytest.mark.parametrize("alpha", ["0.05", None, True, [0.05]])
def test_compare_alpha_of_the_wrong_type_is_named(alpha):
    """alpha="0.05" (from a config file) failed inside a comparison with "'<' not
    supported between instances of 'int' and 'str'"; True passed as 1 and was refused as
    out of range. Each is now a TypeError naming alpha and the value."""
    a, b = _evaluations([0.1, 0.5, 0.9, 0.3], [0.2, 0.6, 0.8, 0.7])
    with pytest.raises(TypeError, match=r"^alpha must be a number between 0 and 1"):
        vd.compare(a, b, alpha=alpha)
    # a NumPy float is a number like any other
    assert vd.compare(a, b, alpha=np.float32(0.1)).alpha == pytest.approx(0.1)


@pytest.mark.parametrize("confidence", ["0.9", None, True, [0.9]])
def test_compare_confidence_of_the_wrong_type_is_named(confidence):
    """confidence="0.9" (from a config file) failed inside paired_test with "'<' not
    supported between instances of 'int' and 'str'"; now a TypeError naming confidence.
    A NumPy float still gives scipy's t interval."""
    a, b = _evaluations([0.1, 0.5, 0.9, 0.3], [0.2, 0.6, 0.8, 0.7])
    with pytest.raises(TypeError, match=r"^confidence must be a number between 0 and 1"):
        vd.compare(a, b, confidence=confidence)
    cmp = vd.compare(a, b, method="ttest", confidence=np.float32(0.9))
    ref = stats.ttest_rel([0.2, 0.6, 0.8, 0.7], [0.1, 0.5, 0.9, 0.3])
    lo, hi = ref.confidence_interval(float(np.float32(0.9)))
    assert cmp.ci["m"] == pytest.approx((lo, hi), rel=1e-9)


@pytest.mark.parametrize("exact", ["no", "False", 0, 1])
def test_exact_must_be_a_bool_or_none(exact):
    """exact="no" is truthy: it forced full enumeration (exact True) where the caller
    meant to forbid it, and exact="False" did the same. A value that is not True, False
    or None is now refused by name; True and False keep their meaning."""
    d = [0.1, 0.2, -0.05, 0.3, 0.25]
    with pytest.raises(TypeError, match=r"^exact must be True or False"):
        paired_test(d, exact=exact)
    assert paired_test(d, exact=np.bool_(False), n_resamples=500)["exact"] is False
    assert paired_test(d, exact=True)["p_value"] == pytest.approx(brute_force_sign_flip(d))


@pytest.mark.parametrize("p_values, problem", [
    ([0.5, -0.1], r"must lie in \[0, 1\].*position 1: -0.1"),
    ([1.5, 0.01], r"must lie in \[0, 1\].*position 0: 1.5"),
    ([np.inf, 0.01], r"must lie in \[0, 1\].*position 0: inf"),
    ([[0.01, 0.04], [0.03, 0.2]], r"must be a 1-D sequence.*shape \(2, 2\)"),
    (0.03, r"must be a 1-D sequence.*shape \(\)"),
])
def test_holm_refuses_what_is_not_a_family_of_p_values(p_values, problem):
    """A p-value of -0.1 came back adjusted to 0 and one of 1.5 to 1 (plausible numbers
    from a wrong input); a (rows, metrics) table and a single float failed with an
    IndexError. Each is now a ValueError saying what p_values must be. A valid family
    keeps the closed form: 0, .01, .02, 1 and a NaN (m = 4) give 0, .01*3,
    max(.03, .02*2), 1, and the NaN stays NaN."""
    with pytest.raises(ValueError, match=r"^p_values " + problem):
        holm(p_values)
    out = holm([0.02, np.nan, 0.01, 0.0, 1.0])
    assert np.isnan(out[1])
    assert out[[3, 2, 0, 4]] == pytest.approx([0.0, 3 * 0.01, max(3 * 0.01, 2 * 0.02), 1.0])


def test_compare_refuses_too_few_resamples_for_alpha_as_drift_does():
    """p = (1 + c) / (1 + B) is never below 1/(1 + B): compare(n_resamples=19) at
    alpha=0.05 answered "no significant change" to every run (p >= 0.05 by construction),
    where vd.drift refuses too few permutations. Refused now, in drift's words (one
    helper). 20 resamples reach p = 1/21 on a planted gain; the t-test draws nothing and
    an enumeration forced with exact=True has its own resolution, 2/2**n (6 queries:
    2/64), so neither is refused."""
    gain = np.linspace(0.1, 0.2, 12)
    ea, eb = _evaluations(np.zeros(12), gain)
    with pytest.raises(ValueError, match=r"^n_resamples=19 cannot give a p-value below "
                       r"alpha=0\.05 \(the smallest is 1/\(n_resamples\+1\)\); use at least "
                       r"20, better 10000$"):
        vd.compare(ea, eb, n_resamples=19)
    cmp = vd.compare(ea, eb, n_resamples=20)
    assert cmp.p_value["m"] == 1 / 21 and cmp.significant["m"] and cmp.exact is False
    with pytest.raises(ValueError, match=r"n_resamples=9 .* alpha=0\.1 .* at least 10"):
        vd.compare(ea, eb, method="bootstrap", n_resamples=9, alpha=0.1)
    assert vd.compare(ea, eb, method="ttest", n_resamples=5).significant["m"]
    e6a, e6b = _evaluations(np.zeros(6), gain[:6])
    assert vd.compare(e6a, e6b, n_resamples=5, exact=True).p_value["m"] == 2 / 64
    with pytest.raises(ValueError, match=r"n_permutations=10 cannot give a p-value at or "
                       r"below alpha=0\.05 \(the smallest is 1/\(n_permutations\+1\)\); use at "
                       r"least 19, better 500"):
        vd.drift(np.eye(8)[:4], np.eye(8)[4:], n_permutations=10)


def test_compare_warns_when_holm_leaves_no_metric_able_to_pass():
    """Holm over m metrics multiplies the smallest p-value by m: 50 resamples over three
    metrics give at best 3/51 = 0.059 > 0.05, and compare answered "no significant
    change" to a planted gain on all three without a word. A UserWarning says so now (not
    an error: each p-value can still be read); 60 resamples reach 3/61 < 0.05, and
    correction="none" needs only 20."""
    import warnings

    gain = np.repeat(np.linspace(0.1, 0.2, 12)[:, None], 3, axis=1)
    ea, eb = _evaluations(np.zeros((12, 3)), gain, metrics=("x", "y", "z"))
    with pytest.warns(UserWarning, match=r"^n_resamples=50 cannot give a Holm-adjusted "
                      r"p-value below alpha=0\.05 over 3 metrics \(the smallest is "
                      r"3/\(n_resamples\+1\)\): none can be significant; use at least 60$"):
        cmp = vd.compare(ea, eb, n_resamples=50)
    assert cmp.p_adjusted["x"] == 3 / 51 and not any(cmp.significant.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = vd.compare(ea, eb, n_resamples=60)
        assert cmp.p_adjusted["x"] == 3 / 61 and all(cmp.significant.values())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert vd.compare(ea, eb, n_resamples=20, correction="none").p_value["z"] == 1 / 21
    assert not [w for w in seen if "Holm" in str(w.message)]


def test_an_interval_from_too_few_resamples_warns_of_its_coverage():
    """The bootstrap-t interval's ends are order statistics of the B resampled t's: with
    B = 20 at 95% both are the extremes, which hold the truth with probability
    (B - 1)/(B + 1) = 90.5%, and the interval was reported as a 95% one. A UserWarning
    says so below 2/(1 - confidence) - 1 = 39 resamples (19 at 90%); none for the t-test,
    none when there is no spread (the interval is (d, d))."""
    import warnings

    d = np.random.default_rng(0).normal(0.05, 0.1, 30)
    with pytest.warns(UserWarning, match=r"^n_resamples=20 puts the 95% interval's ends at "
                      r"the extremes of 20 resampled t statistics: it covers about 90\.5%; "
                      r"use at least 39$"):
        paired_test(d, n_resamples=20)
    with pytest.warns(UserWarning, match=r"n_resamples=38 .* about 94\.9%; use at least 39"):
        paired_test(d, method="bootstrap", n_resamples=38)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paired_test(d, n_resamples=39)
        paired_test(d, n_resamples=19, confidence=0.9)
        paired_test(d, method="ttest", n_resamples=5)
        paired_test(np.full(6, 0.1), n_resamples=20)


def test_p_values_in_the_html_tables_read_as_in_the_text():
    """The HTML of a comparison and of a fix report gave p = 1/10001 as "9.999e-05" and
    its Holm adjustment as "4.000e-04", where the text report prints "p=0.0004"; the p
    cells now use the text's 3 significant digits. 20 queries, each run finding the
    relevant document first and the other second (comparison), and a dot corpus whose
    long row 39 outranks every relevant document until normalised (fix report)."""
    import re

    num = '<td class="vd-num" style="text-align:right">'
    qrels = {f"q{i}": {"a": 1} for i in range(20)}
    good = vd.evaluate({q: {"a": 1.0, "b": 0.5} for q in qrels}, qrels, name="good")
    bad = vd.evaluate({q: {"b": 1.0, "a": 0.5} for q in qrels}, qrels, name="bad")
    html = vd.compare(good, bad)._repr_html_()
    assert f"{num}0.0001</td>{num}0.0004</td>" in html
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    X[39] = X[:20].mean(0) * 30
    Q = X[:20] + rng.normal(size=(20, 6)) * 0.05
    qr = {f"q{i}": {f"d{i}": 1} for i in range(20)}
    report = vd.try_fixes(Q, X, qr, query_ids=list(qr), doc_ids=[f"d{i}" for i in range(40)],
                          fixes=["normalize"], k=10, metric="dot", metrics=["ndcg@10"])
    row = re.search(r'<td style="text-align:left">normalize</td>.*?</tr>', report._repr_html_())
    assert row.group(0).endswith(f"{num}0.3976</td>{num}0.0001</td></tr>")
