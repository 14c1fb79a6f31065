"""Is run B really better than run A? Paired significance tests over queries.

Every test works on the per-query differences ``d_q = metric_B(q) - metric_A(q)`` over
the queries both evaluations averaged, and is two-sided.

* ``randomization`` (Fisher's sign-flip permutation test; Smucker, Allan & Carterette
  2007 recommend it for IR): under the null each ``d_q`` is equally likely to have
  either sign. Exact enumeration of all ``2**n`` sign patterns when that is no more work
  than ``n_resamples``, Monte Carlo otherwise with ``p = (1 + count) / (1 + B)``
  (never 0; Phipson & Smyth 2010).
* ``ttest``: the paired t-test, equal to ``scipy.stats.ttest_rel(b, a)``.
* ``bootstrap``: the studentized shifted bootstrap (Efron & Tibshirani 1993, §16.4):
  resample the differences centred on the null with replacement, count t statistics as
  extreme as the observed one (the raw mean would call two queries of one sign
  significant at p = 1e-4; its level was 0.30 at n = 3 and 0.10 at n = 10).

Holm's step-down correction controls the family-wise error across the metrics compared.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..results import Result, counted, escape, html_block, html_table, result, text_safe_frame
from .measures import parse_metric
from .paired import METHODS, check_alpha, check_resolution, holm, paired_test, within_range

__all__ = ["compare", "Comparison", "holm", "paired_test"]

_COLUMNS = ("metric", "delta", "ci_low", "ci_high", "p_value", "p_holm", "significant")


@result
class Comparison(Result):
    """Paired comparison of two evaluations, one row per metric (B minus A).

    Returned by :func:`vecdiag.compare`.

    Attributes
    ----------
    metrics : tuple of str
        Metric names compared.
    mean_a, mean_b : dict
        Metric -> mean of A (of B) over the shared queries.
    delta : dict
        Metric -> mean per-query difference B - A (positive: B is better).
    ci : dict
        Metric -> (lower, upper) confidence interval of the difference: Student's t for
        ``ttest``, bootstrap-t otherwise, cut to [-1, 1] (all of it for two or three
        queries; see :func:`paired_test` and :func:`.paired.within_range`).
    p_value : dict
        Metric -> two-sided p-value of the test, uncorrected.
    p_adjusted : dict
        Metric -> Holm-adjusted p-value across ``metrics``.
    significant : dict
        Metric -> ``p_adjusted < alpha``.
    method : str
        ``"randomization"``, ``"ttest"`` or ``"bootstrap"``.
    alpha : float
        Significance level.
    confidence : float
        Coverage of ``ci``.
    query_ids : tuple
        The shared queries the test is paired over.
    differences : ndarray
        (n_queries, n_metrics) per-query B - A, rows in ``query_ids`` order.
    n_resamples : int
        Resamples (randomization, bootstrap).
    exact : bool or None
        Randomization: True when every sign pattern was enumerated.
    name_a, name_b : str
        Labels of A (the baseline) and B.
    only_a, only_b : tuple
        Queries averaged by one evaluation only (not used).
    absent_from_both : tuple
        Judged queries neither run returned anything for (left out of the pairing).
    absent_from_one : tuple
        Judged queries one run returned nothing for (kept, counted 0 for that run).
    values_a, values_b : ndarray or None
        (n_queries, n_metrics) per-query values of A and B, rows in ``query_ids`` order.

    Examples
    --------
    >>> import vecdiag as vd
    >>> qrels = {"q1": {"d1": 1}, "q2": {"d4": 1}}
    >>> a = vd.evaluate({"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d3": 2.0, "d4": 1.0}},
    ...                 qrels, metrics=("mrr@10",), name="A")
    >>> b = vd.evaluate({"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d4": 2.0, "d3": 1.0}},
    ...                 qrels, metrics=("mrr@10",), name="B")
    >>> cmp = vd.compare(a, b)
    >>> cmp.delta, cmp.p_value, cmp.exact, cmp.significant
    ({'mrr@10': 0.25}, {'mrr@10': 1.0}, True, {'mrr@10': False})
    """

    metrics: tuple
    """Metric names compared."""
    mean_a: dict
    """Metric -> mean of A over the shared queries."""
    mean_b: dict
    """Metric -> mean of B over the shared queries."""
    delta: dict
    """Metric -> mean per-query difference B - A (positive: B is better)."""
    ci: dict
    """Metric -> (lower, upper) confidence interval of the difference."""
    p_value: dict
    """Metric -> two-sided p-value of the test, uncorrected."""
    p_adjusted: dict
    """Metric -> Holm-adjusted p-value across ``metrics`` (equals p_value for one metric)."""
    significant: dict
    """Metric -> ``p_adjusted < alpha``."""
    method: str
    """"randomization", "ttest" or "bootstrap"."""
    alpha: float
    """Significance level."""
    confidence: float
    """Coverage of ``ci``."""
    query_ids: tuple
    """The shared queries the test is paired over."""
    differences: np.ndarray
    """(n_queries, n_metrics) per-query B - A, rows in ``query_ids`` order."""
    n_resamples: int
    """Resamples (randomization, bootstrap)."""
    exact: bool | None = None
    """Randomization: True when every sign pattern was enumerated."""
    name_a: str = "A"
    """Label of A (the baseline)."""
    name_b: str = "B"
    """Label of B."""
    only_a: tuple = ()
    """Queries averaged by A only (not used)."""
    only_b: tuple = ()
    """Queries averaged by B only (not used)."""
    absent_from_both: tuple = ()
    """Judged queries neither run returned anything for: left out of the pairing (two
    zeros would only dilute ``delta``), and said in every display."""
    absent_from_one: tuple = ()
    """Judged queries one run returned nothing for: kept, counted 0 for that run (a
    real difference: that system failed the query)."""
    values_a: np.ndarray | None = None
    """(n_queries, n_metrics) A's per-query values, rows in ``query_ids`` order."""
    values_b: np.ndarray | None = None
    """(n_queries, n_metrics) B's per-query values, rows in ``query_ids`` order."""

    def per_query(self, metric=None):
        """One row per shared query: A, B, B − A and the outcome (win/tie/loss for B),
        largest loss first; ``metric`` defaults to the first compared."""
        from .per_query import per_query_frame

        return per_query_frame(self, metric)

    def wins_losses(self, *, tol: float = 1e-9):
        """Per metric: how many queries B wins, ties (``|B − A| <= tol``) and loses."""
        from .per_query import wins_losses

        return wins_losses(self, tol=tol)

    def plot_per_query(self, metric=None, ax=None):
        """Per-query B − A, sorted: the wins above zero, the losses below (draw only)."""
        from ..plot.evaluation import draw_per_query

        return draw_per_query(self, metric=metric, ax=ax)

    def query_note(self) -> str:
        """The queries the test pairs over, and any left out or counted as 0."""
        note = f"paired over {counted(len(self.query_ids), 'query', 'queries')}"
        if self.absent_from_both:
            note += (f"; {counted(len(self.absent_from_both), 'judged query', 'judged queries')}"
                     " absent from both runs left out")
        if self.absent_from_one:
            note += f"; {len(self.absent_from_one)} absent from one run counted 0 for it"
        return note

    @property
    def regressions(self) -> list:
        """Metrics where B is significantly worse than A."""
        return [m for m in self.metrics if self.significant[m] and self.delta[m] < 0]

    @property
    def improvements(self) -> list:
        """Metrics where B is significantly better than A."""
        return [m for m in self.metrics if self.significant[m] and self.delta[m] > 0]

    def to_frame(self):
        """One row per metric: means, delta, interval, p-values, significant.

        The two mean columns carry the evaluations' names (``"A: run"``, ``"B: run"``
        when the names are equal).
        """
        label_a, label_b = self.name_a, self.name_b
        if label_a == label_b or label_a in _COLUMNS or label_b in _COLUMNS:
            label_a, label_b = f"A: {label_a}", f"B: {label_b}"
        ms = self.metrics
        # (text_safe_frame: a run name with a lone surrogate failed pandas' str dtype)
        return text_safe_frame({
            label_a: [self.mean_a[m] for m in ms], label_b: [self.mean_b[m] for m in ms],
            "delta": [self.delta[m] for m in ms], "ci_low": [self.ci[m][0] for m in ms],
            "ci_high": [self.ci[m][1] for m in ms], "p_value": [self.p_value[m] for m in ms],
            "p_holm": [self.p_adjusted[m] for m in ms],
            "significant": [self.significant[m] for m in ms]}, index=ms, index_name="metric")

    def _repr_html_(self) -> str:
        cols = ["metric", "A", "B", "delta", "ci", "p", "p (Holm)", "verdict"]
        rows, classes = [], []
        for m in self.metrics:
            lo, hi = self.ci[m]
            verdict = ("better" if self.delta[m] > 0 else "worse") if self.significant[m] \
                else "no significant change"
            rows.append([m, self.mean_a[m], self.mean_b[m], self.delta[m],
                         f"[{lo:+.4f}, {hi:+.4f}]", f"{self.p_value[m]:.3g}",
                         f"{self.p_adjusted[m]:.3g}", verdict])
            classes.append("vd-critical" if verdict == "worse" else
                           "vd-ok" if verdict == "better" else "")
        note = (f"{self.method} test, {self.query_note()}; "
                f"A = {self.name_a}, B = {self.name_b}; alpha = {self.alpha}, "
                f"{self.confidence:.0%} interval")
        from .per_query import wins_losses

        tally = wins_losses(self)
        wl = "; ".join(f"{m}: B wins {int(r['wins'])}, ties {int(r['ties'])}, "
                       f"loses {int(r['losses'])}" for m, r in tally.iterrows())
        return html_block(f"Comparison: {self.name_b} vs {self.name_a}",
                          html_table(rows, cols, numeric={"A", "B", "delta", "p", "p (Holm)"},
                                     classes=classes),
                          f"<p class='vd-muted'>{escape(note)}</p>",
                          f"<p class='vd-muted'>per query: {escape(wl)}</p>")

    def plot(self, ax=None):
        """Delta per metric with its interval; significant changes coloured."""
        from ..plot.evaluation import draw_comparison

        return draw_comparison(self, ax=ax)


def _aligned(evaluation, name: str):
    from .metrics import Evaluation

    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"{name} must be an Evaluation from vd.evaluate(run, qrels), got "
                        f"{type(evaluation).__name__}")
    return evaluation


def _measure(name):
    """The measure a metric name stands for, as evaluate reads it ("NDCG@10" and
    "ndcg@10": ``('ndcg', 10)``); a name it cannot read (an Evaluation built by hand)
    stands for itself."""
    try:
        return parse_metric(name)
    except (TypeError, ValueError):
        return name


def compare(a, b, *, method: str = "randomization", n_resamples: int = 10_000,
            random_state=0, metrics=None, alpha: float = 0.05, confidence: float = 0.95,
            correction: str = "holm", exact: bool | None = None) -> Comparison:
    """Paired significance test of evaluation ``b`` against ``a`` (the baseline).

    Parameters
    ----------
    a, b : Evaluation
        From :func:`vecdiag.evaluate` on the same qrels; paired over the queries both
        averaged.
    method : {"randomization", "ttest", "bootstrap"}
    n_resamples : int
        Sign patterns (randomization) or bootstrap samples: enough for ``1/(1 + n_resamples)
        < alpha``, else a ValueError as in :func:`vecdiag.drift` (t-test and ``exact=True``
        aside); below ``m/alpha`` for ``m`` metrics under Holm, a UserWarning.
    random_state : int or Generator
    metrics : sequence of str, optional
        Metrics to compare (default: every metric both evaluations hold). Names are
        read as :func:`vecdiag.evaluate` reads them: "ndcg@10" in ``a`` and "NDCG@10"
        in ``b`` are one measure, reported under ``a``'s name.
    alpha : float
        Level at which ``significant`` is decided (on Holm-adjusted p-values).
    confidence : float
        Coverage of the interval of the difference.
    correction : {"holm", "none"}
        Across metrics.
    exact : bool, optional
        Randomization: force (True) or forbid (False) full enumeration; by default
        enumerate when ``2**n_queries <= n_resamples``.

    Returns
    -------
    Comparison

    Notes
    -----
    ``delta = mean_q (b_q - a_q)`` over the queries both evaluations averaged, except
    judged queries *neither* run returned anything for (``absent_from_both``): their
    two zeros say nothing about A against B and would only shrink ``delta``, so they
    are left out and the displays say how many. A query only one run lacks stays in,
    at 0 for that run. See :func:`paired_test` for the tests and their
    degenerate cases, :func:`holm` for the correction. With several fixes compared to
    one baseline, also keep in mind the multiplicity across fixes.

    Examples
    --------
    >>> from vecdiag.evaluation import evaluate
    >>> qrels = {q: {"rel": 1} for q in "abcdef"}
    >>> a = evaluate({q: {"x": 2, "rel": 1} for q in "abcdef"}, qrels, metrics=["mrr@10"])
    >>> b = evaluate({q: {"x": 1, "rel": 2} for q in "abcdef"}, qrels, metrics=["mrr@10"])
    >>> c = compare(a, b)
    >>> c.delta["mrr@10"], c.p_value["mrr@10"], c.exact   # 2 of 64 sign patterns
    (0.5, 0.03125, True)
    """
    a, b = _aligned(a, "a"), _aligned(b, "b")
    V.check_choice(method, "method", METHODS)
    V.check_choice(correction, "correction", ("holm", "none"))
    check_alpha(alpha)
    if a.relevance_level != b.relevance_level:
        raise ValueError(f"a counts grades >= {a.relevance_level} as relevant, b grades >= "
                         f"{b.relevance_level}; evaluate both with the same relevance_level")
    ja, jb = getattr(a, "judgments", {}) or {}, getattr(b, "judgments", {}) or {}
    differ = [q for q in a.query_ids if q in ja and q in jb and ja[q] != jb[q]]
    if differ:
        raise ValueError(f"a and b judge {counted(len(differ), 'shared query', 'shared queries')}"
                         f" differently (first: {', '.join(map(str, differ[:3]))}); evaluate "
                         "both runs against the same qrels to compare them")
    # one measure under two spellings ("ndcg@10" in a, "NDCG@10" in b) is shared: matched
    # as evaluate reads names (parse_metric), named as in a
    of_b = {_measure(m): m for m in b.metrics}
    in_b = {m: of_b[_measure(m)] for m in a.metrics if _measure(m) in of_b}
    shared_metrics = list(in_b)
    if not shared_metrics:
        raise ValueError(f"a and b share no metric (a: {list(a.metrics)}, b: "
                         f"{list(b.metrics)}); evaluate both runs with the same metrics")
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is not None and not np.iterable(metrics):
        raise TypeError(f"metrics must be a metric name or a sequence of them, e.g. "
                        f"['ndcg@10', 'map'], got {metrics!r:.40}")
    given = shared_metrics if metrics is None else list(metrics)
    if not given:
        raise ValueError("metrics is empty; pass at least one, e.g. metrics=['ndcg@10']")
    of_a = {_measure(m): m for m in shared_metrics}
    missing = [m for m in given if _measure(m) not in of_a]
    if missing:
        raise ValueError(f"metrics {missing} are not in both evaluations (shared: "
                         f"{shared_metrics}); evaluate both runs with the same metrics")
    metrics = tuple(of_a[_measure(m)] for m in given)
    if len(set(metrics)) != len(metrics):
        # one metric tested twice would count twice in Holm's m and double its p-value
        raise ValueError(f"metrics has repeated measures: {list(metrics)}; name each once")
    check_resolution(n_resamples, alpha, method=method, exact=exact,
                     tests=len(metrics) if correction == "holm" else 1)
    pos_a = {q: i for i, q in enumerate(a.query_ids)}
    pos_b = {q: i for i, q in enumerate(b.query_ids)}
    gone_a, gone_b = set(a.missing_from_run), set(b.missing_from_run)
    both_gone = tuple(q for q in a.query_ids if q in pos_b and q in gone_a and q in gone_b)
    one_gone = tuple(q for q in a.query_ids if q in pos_b and (q in gone_a) != (q in gone_b))
    shared = [q for q in a.query_ids if q in pos_b and q not in set(both_gone)]
    if not shared and both_gone:
        raise ValueError(f"neither run has results for any of the {len(both_gone)} shared "
                         "judged queries; check that the runs and qrels use the same ids")
    if not shared:
        raise ValueError("a and b share no averaged query; evaluate both runs against "
                         "the same qrels")
    rows_a = np.array([pos_a[q] for q in shared])
    rows_b = np.array([pos_b[q] for q in shared])
    cols_a = [a.metrics.index(m) for m in metrics]
    cols_b = [b.metrics.index(in_b[m]) for m in metrics]
    va, vb = a.values[np.ix_(rows_a, cols_a)], b.values[np.ix_(rows_b, cols_b)]
    for name, values in (("a", va), ("b", vb)):
        bad = ~np.isfinite(values)
        if bad.any():
            # "paired differences contain NaN or inf" named neither run, metric nor query
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            queries = [shared[i] for i in np.flatnonzero(bad[:, j])]
            raise ValueError(f"{name} has {len(queries)} NaN or inf per-query values of "
                             f"{metrics[j]!r} (first queries: "
                             f"{', '.join(map(str, queries[:3]))}); score those queries "
                             "(vd.evaluate gives every judged query a number) or leave "
                             "them out of both evaluations")
    diffs = vb - va
    rng = V.check_random_state(random_state)
    tests = [paired_test(diffs[:, j], method=method, n_resamples=n_resamples,
                         random_state=rng, confidence=confidence, exact=exact)
             for j in range(len(metrics))]
    p = np.array([t["p_value"] for t in tests])
    p_adj = holm(p) if correction == "holm" else p
    exact_flags = {t["exact"] for t in tests}
    return Comparison(
        metrics=metrics,
        mean_a={m: float(va[:, j].mean()) for j, m in enumerate(metrics)},
        mean_b={m: float(vb[:, j].mean()) for j, m in enumerate(metrics)},
        delta={m: t["delta"] for m, t in zip(metrics, tests)},
        ci={m: within_range(t["ci"], va[:, j], vb[:, j])
            for j, (m, t) in enumerate(zip(metrics, tests))},
        p_value={m: float(x) for m, x in zip(metrics, p)},
        p_adjusted={m: float(x) for m, x in zip(metrics, p_adj)},
        significant={m: bool(x < alpha) for m, x in zip(metrics, p_adj)},
        method=method, alpha=float(alpha), confidence=float(confidence),
        query_ids=tuple(shared), differences=diffs, n_resamples=n_resamples,
        exact=(True in exact_flags) if method == "randomization" else None,
        name_a=a.name, name_b=b.name,
        only_a=tuple(q for q in a.query_ids if q not in pos_b),
        only_b=tuple(q for q in b.query_ids if q not in pos_a),
        absent_from_both=both_gone, absent_from_one=one_gone, values_a=va, values_b=vb)
