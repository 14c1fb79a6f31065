"""The interval vd.compare reports for the randomization and bootstrap tests: the
studentized (bootstrap-t) interval, checked against a direct recomputation from the same
resamples, and its degenerate cases (few queries, all equal, one query)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.evaluation.significance import paired_test


def _bootstrap_t_interval(d, n_resamples, seed, confidence):
    """Bootstrap-t by hand: resample d (the draws paired_test makes for n_resamples <=
    2,000), t of each resample of d - mean(d), then mean - q se with the order
    statistics at (1 - confidence)/2 and its complement."""
    d = np.asarray(d, dtype=float)
    n = d.size
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    ts = []
    for row in idx:
        z = [d[i] - d.mean() for i in row]
        mean = sum(z) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in z) / (n - 1))
        ts.append(0.0 if mean == 0 else (math.copysign(math.inf, mean) if sd < 1e-12
                                         else mean * math.sqrt(n) / sd))
    ts.sort()
    a = 1 - confidence
    lo_t = ts[math.floor(a / 2 * (n_resamples - 1))]
    hi_t = ts[math.ceil((1 - a / 2) * (n_resamples - 1))]
    se = d.std(ddof=1) / math.sqrt(n)
    return d.mean() - hi_t * se, d.mean() - lo_t * se


@pytest.mark.parametrize("method", ["randomization", "bootstrap"])
def test_interval_is_the_bootstrap_t_interval(method):
    """Five queries: the percentile interval of the resampled means was (0.022, 0.32),
    which excluded 0 while the tests' own p were 0.19 (randomization) and 0.135
    (bootstrap), and such intervals covered the true mean 82% of the time at n = 5 for
    95% asked; the bootstrap-t interval from the same resamples is (-0.060, 0.68)."""
    d = [0.3, -0.05, 0.1, 0.45, 0.02]
    got = paired_test(d, method=method, n_resamples=999, random_state=3)["ci"]
    ref = _bootstrap_t_interval(d, 999, 3, 0.95)
    assert got == pytest.approx(ref, rel=1e-9)
    assert got[0] < 0 < got[1]


def test_interval_of_three_queries_is_unbounded_not_a_rounding_artefact():
    """[0.5, 0, 0.5]: resamples repeating one value have no spread, t = ±inf; rounding of
    the mean of three 1/6s once gave t = 1e16 and a lower end of -1.4e15. paired_test's
    interval is unbounded; compare's is cut to [-1, 1], all a difference of two metrics
    in [0, 1] can be."""
    assert paired_test([0.5, 0.0, 0.5])["ci"] == (-math.inf, math.inf)
    qrels = {q: {"rel": 1} for q in "abc"}
    a = vd.evaluate({"a": {"x": 2, "rel": 1}, "b": {"x": 1, "rel": 2},
                     "c": {"x": 2, "rel": 1}}, qrels, metrics=["mrr@10"])
    b = vd.evaluate({q: {"x": 1, "rel": 2} for q in "abc"}, qrels, metrics=["mrr@10"])
    cmp = vd.compare(a, b)
    assert cmp.ci["mrr@10"] == (-1.0, 1.0)
    assert cmp.p_value["mrr@10"] == 0.5


@pytest.mark.parametrize("method", ["ttest", "bootstrap", "randomization"])
def test_compare_cuts_an_interval_past_what_a_difference_can_be(method):
    # recall over 5 queries, four lifted 0 -> 1 and one not: Student's t gave
    # (0.24, 1.36), past the largest possible difference, 1
    qrels = {q: {"rel": 1} for q in "abcde"}
    a = vd.evaluate({q: {"x": 1.0} for q in "abcde"}, qrels, metrics=["recall@10"])
    b = vd.evaluate({q: ({"rel": 1.0} if q != "e" else {"x": 1.0}) for q in "abcde"},
                    qrels, metrics=["recall@10"])
    d = [1.0, 1.0, 1.0, 1.0, 0.0]
    raw = paired_test(d, method=method, n_resamples=999, random_state=0)["ci"]
    cmp = vd.compare(a, b, method=method, n_resamples=999, random_state=0)
    assert raw[1] > 1.0
    assert cmp.ci["recall@10"] == (max(raw[0], -1.0), 1.0)
    assert cmp.delta["recall@10"] == 0.8


@pytest.mark.parametrize("d, expected", [([0.25], (0.25, 0.25)),
                                         ([0.2, 0.2, 0.2, 0.2], (0.2, 0.2))])
def test_interval_without_spread_is_the_mean(d, expected):
    """One query, or every query moved by the same amount: no spread to scale by."""
    assert paired_test(d, method="randomization", n_resamples=500)["ci"] == expected


def test_plot_draws_an_unbounded_interval_to_the_edge():
    """The three-query comparison above: delta 1/3, interval (-inf, inf). matplotlib drew
    no error bar for it; now it runs to a quarter of the finite span (1/3) past 0 and
    1/3, arrow heads at -1/12 and 5/12."""
    qrels = {q: {"rel": 1} for q in "abc"}
    a = vd.evaluate({"a": {"x": 2, "rel": 1}, "b": {"x": 1, "rel": 2},
                     "c": {"x": 2, "rel": 1}}, qrels, metrics=["mrr@10"])
    b = vd.evaluate({q: {"x": 1, "rel": 2} for q in "abc"}, qrels, metrics=["mrr@10"])
    # compare cuts it to [-1, 1] now; a Comparison built with an unbounded one still draws
    import dataclasses

    cmp = vd.compare(a, b)
    ax = dataclasses.replace(cmp, ci={"mrr@10": (-math.inf, math.inf)}).plot()
    heads = sorted(line.get_xdata()[0] for line in ax.lines if line.get_marker() in ("<", ">"))
    assert heads == pytest.approx([-1 / 12, 5 / 12], rel=1e-12)
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_eval_json_is_strict_json_when_an_interval_is_unbounded(tmp_path, capsys):
    """`vecdiag eval --baseline --json` over three queries: the interval (-inf, inf) was
    written as -Infinity/Infinity, which strict JSON parsers refuse; now null."""
    import json

    from vecdiag.cli import main

    (tmp_path / "qrels.txt").write_text("".join(f"{q} 0 rel 1\n" for q in "abc"))
    (tmp_path / "base.txt").write_text("".join(
        f"{q} Q0 {first} 1 2.0 r\n{q} Q0 {second} 2 1.0 r\n"
        for q, (first, second) in zip("abc", [("x", "rel"), ("rel", "x"), ("x", "rel")])))
    (tmp_path / "run.txt").write_text("".join(f"{q} Q0 rel 1 2.0 r\n{q} Q0 x 2 1.0 r\n"
                                              for q in "abc"))
    main(["eval", str(tmp_path / "run.txt"), str(tmp_path / "qrels.txt"), "--baseline",
          str(tmp_path / "base.txt"), "--metrics", "mrr@10", "--json"])

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    payload = json.loads(capsys.readouterr().out, parse_constant=refuse)
    entry = payload["baseline"]["metrics"]["mrr@10"]
    # compare's interval is cut to [-1, 1] (paired_test's is unbounded here)
    assert entry["ci"] == [-1.0, 1.0] and entry["p_value"] == 0.5


def test_nan_per_query_values_are_named():
    """An Evaluation built by hand with a NaN query score: compare said only "paired
    differences contain NaN or inf"; now the run, the metric and the queries."""
    qids = ("q1", "q2", "q3", "q4")

    def evaluation(values, name):
        values = np.asarray(values, dtype=float).reshape(-1, 1)
        return vd.Evaluation(metrics=("m",), query_ids=qids, values=values,
                             mean={"m": float(np.nanmean(values))}, name=name)

    a = evaluation([0.1, np.nan, 0.5, np.nan], "A")
    b = evaluation([0.2, 0.3, 0.4, 0.5], "B")
    with pytest.raises(ValueError, match=r"^a has 2 NaN or inf per-query values of 'm' "
                                         r"\(first queries: q2, q4\); score those"):
        vd.compare(a, b)
    with pytest.raises(ValueError, match=r"^paired differences d have 1 NaN or inf values "
                                         r"\(first positions: 2\)"):
        paired_test([0.1, 0.2, np.inf])
