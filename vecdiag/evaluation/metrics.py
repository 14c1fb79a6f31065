"""Retrieval metrics that equal ``trec_eval``'s, and :func:`evaluate`.

The metrics themselves, one function each, and their name table live in
:mod:`vecdiag.evaluation.measures`. Conventions (those of ``trec_eval`` 9, checked against ``pytrec_eval`` in the tests):

* a document is relevant when its judged relevance is ``>= relevance_level`` (1);
  unjudged documents are non-relevant;
* the run of each query is sorted by score, descending; equal scores are ordered by
  document id in descending string order (the rank column of a run file is ignored);
* nDCG uses linear gain (the relevance grade; grades ``<= 0`` give 0) and the discount
  ``1 / log2(rank + 1)``; the ideal ranking is built from *all* judged documents, not
  only the retrieved ones;
* AP divides by the number of relevant documents, retrieved or not;
* queries whose judgments hold no relevant document are averaged like the others, as
  trec_eval averages them: 0 on every measure but nDCG, which still gains from grades
  below ``relevance_level`` (``skip_no_relevant=True`` leaves them out); queries in the
  run without judgments are skipped, and queries with judgments but no run count as 0
  (``trec_eval -c``); the result states each set.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import field

import numpy as np

from .. import _validate as V
from ..results import Result, counted, html_block, html_table, result, text_safe_column
from .measures import METRICS, Judged, parse_metric
from .runs import as_qrels, as_run, ranked_docs

__all__ = ["evaluate", "Evaluation", "parse_metric", "METRIC_NAMES", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")
# canonical name -> needs a cut-off k (True), forbids one (False), or takes either (None)
METRIC_NAMES = {name: metric.cutoff for name, metric in METRICS.items()}


def _query_metrics(scores: dict, judged: dict, parsed, level: int) -> list[float]:
    """All requested metrics of one query (inputs already checked)."""
    docs = ranked_docs(scores)
    # float64, not int64: a grade past the int64 range (load_qrels keeps the digits of
    # "12345678901234567891") is a gain like any other, not an OverflowError
    grades = np.array([judged.get(d, 0) for d in docs], dtype=np.float64)
    rel = (grades >= level).astype(np.int64)
    gains = np.maximum(grades, 0.0)
    ideal = np.sort(np.array([g for g in judged.values() if g > 0], dtype=np.float64))[::-1]
    num_rel = sum(1 for g in judged.values() if g >= level)
    query = Judged(rel=rel, gains=gains, ideal=ideal, num_rel=num_rel)
    return [METRICS[b].function(query, k) for b, k in parsed]


@result
class Evaluation(Result):
    """Per-query retrieval metrics and their means, ``trec_eval`` conventions.

    Returned by :func:`vecdiag.evaluate`.

    Attributes
    ----------
    metrics : tuple of str
        Metric names as requested, e.g. ``("ndcg@10", "map")``; columns of ``values``.
    query_ids : tuple
        The averaged queries (judged; without those with no relevant document when they
        are skipped), sorted.
    values : ndarray
        (n_queries, n_metrics) float64 per-query values, rows in ``query_ids`` order.
    mean : dict
        Metric name -> mean over ``query_ids`` (NaN when no query is averaged).
    missing_from_run : tuple
        Judged queries with a relevant document that the run does not contain.
    no_relevant : tuple
        Judged queries with no relevant document (averaged, as trec_eval does, unless
        ``no_relevant_skipped``).
    not_judged : tuple
        Queries in the run without any judgments (skipped).
    relevance_level : int
        Smallest grade that counts as relevant.
    name : str
        Label of the evaluated run.
    missing : str
        How judged queries absent from the run were treated: ``"zero"`` or ``"skip"``.
    no_relevant_skipped : bool
        Whether the queries in ``no_relevant`` were left out of the averages.

    Examples
    --------
    >>> import vecdiag as vd
    >>> run = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d3": 2.0, "d4": 1.0}}
    >>> qrels = {"q1": {"d1": 1}, "q2": {"d4": 1}}
    >>> ev = vd.evaluate(run, qrels, metrics=("mrr@10",))
    >>> ev.query_ids, ev.mean, ev.values.tolist()
    (('q1', 'q2'), {'mrr@10': 0.75}, [[1.0], [0.5]])
    """

    metrics: tuple
    """Metric names as requested, e.g. ``("ndcg@10", "map")``; columns of ``values``."""
    query_ids: tuple
    """The averaged queries (judged), sorted."""
    values: np.ndarray
    """(n_queries, n_metrics) float64 per-query values, rows in ``query_ids`` order."""
    mean: dict
    """Metric name -> mean over ``query_ids`` (NaN when no query is averaged: undefined,
    shown "—" by :meth:`summary` and the notebook table)."""
    missing_from_run: tuple = ()
    """Averaged judged queries that the run does not contain: averaged
    as 0 (``trec_eval -c``) under ``missing="zero"``, left out under ``missing="skip"``."""
    no_relevant: tuple = ()
    """Judged queries with no relevant document: averaged (0 on every measure but nDCG,
    as in trec_eval) unless ``no_relevant_skipped``."""
    not_judged: tuple = ()
    """Queries in the run without any judgments: skipped, not averaged."""
    relevance_level: int = 1
    """Smallest grade that counts as relevant."""
    name: str = "run"
    """Label of the evaluated run (used by compare and plots)."""
    missing: str = "zero"
    """How judged queries absent from the run were treated: ``"zero"`` (counted as 0,
    ``trec_eval -c``) or ``"skip"`` (left out of the averages, ``trec_eval`` without
    ``-c``)."""
    no_relevant_skipped: bool = False
    """Whether the queries without a relevant document were left out of the averages."""
    judgments: dict = field(default_factory=dict)
    """Query -> a fingerprint of its judgments (``compare`` refuses to pair a query
    judged differently in the two evaluations)."""

    @property
    def per_query(self):
        """DataFrame: one row per averaged query (index ``query``), one column per metric."""
        import pandas as pd

        # (text_safe_column: a query id with a lone surrogate failed pandas' str dtype)
        frame = pd.DataFrame(self.values, columns=list(self.metrics),
                             index=pd.Index(text_safe_column(list(self.query_ids)),
                                            name="query"))
        return frame

    @property
    def n_queries(self) -> int:
        """Number of averaged queries."""
        return len(self.query_ids)

    def to_frame(self):
        """The per-query table (same as :attr:`per_query`)."""
        return self.per_query

    def summary(self) -> str:
        """One line per metric: its mean, and which queries were averaged or skipped."""
        lines = [f"{m:>14s}  {fmt_mean(self.mean[m])}" for m in self.metrics]
        lines.append(self.query_note())
        return "\n".join(lines)

    def query_note(self) -> str:
        """One line: how many queries the means are over, and what was missing or skipped."""
        note = f"averaged over {counted(self.n_queries, 'query', 'queries')}"
        extra = []
        if self.missing_from_run:
            how = "counted as 0" if self.missing == "zero" else "skipped"
            extra.append(f"{len(self.missing_from_run)} absent from the run {how}")
        if self.no_relevant:
            how = "skipped" if self.no_relevant_skipped else "averaged as trec_eval does"
            extra.append(f"{len(self.no_relevant)} without relevant documents {how}")
        if self.not_judged:
            extra.append(f"{len(self.not_judged)} without judgments skipped")
        return note + (f" ({'; '.join(extra)})" if extra else "")

    def _repr_html_(self) -> str:
        # no averaged query: mean and median are undefined (0/0), shown "—"; the note
        # under the table says why (which queries were skipped)
        rows = [[m, self.mean[m] if self.n_queries else None,
                 float(np.median(self.values[:, j])) if self.n_queries else None,
                 float((self.values[:, j] == 0).sum())]
                for j, m in enumerate(self.metrics)]
        table = html_table(rows, ["metric", "mean", "median", "queries at 0"],
                           numeric={"mean", "median", "queries at 0"})
        return html_block(f"Evaluation of {self.name}", table,
                          f"<p class='vd-muted'>{self.query_note()}</p>")

    def plot(self, ax=None):
        """Box plot of the per-query values of each metric, the mean marked."""
        from ..plot.evaluation import draw_evaluation

        return draw_evaluation(self, ax=ax)


def judgment_digest(judged: dict) -> str:
    """A short fingerprint of one query's checked judgments ``{doc: grade}``, independent
    of their order.

    Examples
    --------
    >>> judgment_digest({"a": 1, "b": 0}) == judgment_digest({"b": 0, "a": 1})
    True
    """
    import hashlib

    h = hashlib.sha256()
    for d in sorted(judged):
        # surrogatepass: an id with a lone surrogate (a broken \ud800 escape that json
        # reads) is fingerprinted too; every other id gives the bytes it always gave
        h.update(f"{d}\t{judged[d]}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def fmt_mean(value: float) -> str:
    """A mean to 4 decimals; NaN (no query averaged, so undefined) is "—", the reason
    on the query note beside it."""
    return "—" if value != value else f"{value:.4f}"


def check_metrics(metrics) -> tuple[tuple, list]:
    """``(metrics as a tuple of names, their parsed (name, k) pairs)``; a clear error for
    anything else: not a name or a sequence of names, empty, unknown, or one measure twice.

    Examples
    --------
    >>> check_metrics("P@5")
    (('P@5',), [('precision', 5)])
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    if metrics is None or not np.iterable(metrics):
        raise TypeError(f"metrics must be a metric name or a sequence of them, e.g. "
                        f"['ndcg@10', 'map'], got {metrics!r}")
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("metrics is empty; pass at least one, e.g. metrics=['ndcg@10']")
    parsed = [parse_metric(m) for m in metrics]
    if len(set(parsed)) != len(parsed):
        # "ndcg@10", "NDCG@10" and "ndcg_cut@10" are one measure: three equal columns
        raise ValueError(f"metrics has repeated measures: {list(metrics)}")
    return metrics, parsed


def evaluate(run, qrels, *, metrics=DEFAULT_METRICS, relevance_level: int = 1,
             name: str = "run", missing: str = "zero",
             skip_no_relevant: bool = False) -> Evaluation:
    """Score a run against relevance judgments with ``trec_eval``'s conventions.

    Parameters
    ----------
    run : dict or tuple
        ``{query_id: {doc_id: score}}`` (higher is better), or
        ``(Neighbors, query_ids, doc_ids)`` from :func:`vecdiag.knn` (euclidean
        distances are negated).
    qrels : dict
        ``{query_id: {doc_id: relevance}}`` with integer grades.
    metrics : sequence of str
        Any of ``ndcg@k``, ``ndcg``, ``recall@k``, ``precision@k`` (``p@k``), ``mrr@k``,
        ``mrr``, ``map``, ``map@k``, ``hit@k``, ``r-precision``.
    relevance_level : int
        Smallest grade counted as relevant (``trec_eval -l``; default 1).
    name : str
        Label for displays and comparisons.
    missing : {"zero", "skip"}
        Judged queries the run does not contain: ``"zero"`` (default, ``trec_eval -c``)
        averages them as 0 and warns with the count of those that could score above 0
        when the run holds the other queries (a run over a subset of the queries would
        otherwise look much worse than it is); ``"skip"`` leaves them out of the
        averages (``trec_eval`` without ``-c``). Either way they are listed in ``missing_from_run``. A query the run
        holds with no document (a search that returned nothing) counts as absent: a TREC
        run file cannot list it either.
    skip_no_relevant : bool
        Leave out judged queries without a relevant document (at ``relevance_level``).
        By default they are averaged, as trec_eval averages them: 0 on every measure
        but nDCG, whose gains still count lower positive grades. Either way they are
        listed in ``no_relevant``.

    Returns
    -------
    Evaluation

    Notes
    -----
    With the run sorted by score (ties: document id descending), ``rel_i`` in {0, 1}
    and ``g_i`` the grade of the document at rank ``i``, and ``R`` relevant documents:

    * ``precision@k = sum_{i<=k} rel_i / k`` (k, not the number retrieved);
    * ``recall@k = sum_{i<=k} rel_i / R``;
    * ``mrr@k = 1 / (first relevant rank)`` if it is ``<= k``, else 0;
    * ``hit@k = 1`` if any of the first k is relevant;
    * ``map = sum_{i: rel_i} precision@i / R`` (``map@k`` stops at rank k, still / R);
    * ``r-precision = precision@R``;
    * ``ndcg@k = DCG@k / IDCG@k``, ``DCG@k = sum_{i<=k} max(g_i, 0) / log2(i + 1)``,
      IDCG from all judged grades sorted descending.

    Degenerate cases: an empty run scores 0 everywhere; a query with no relevant
    document scores 0 where a measure divides by R (listed in ``no_relevant``; skipped
    with ``skip_no_relevant=True``); a judged query absent from the run
    counts as 0 (listed in ``missing_from_run``; a warning gives their count), or is
    skipped with ``missing="skip"``; when no query is left every mean is NaN. When the
    run's documents for two or more judged queries hold no judged one (row numbers
    against string ids, say), a warning asks to check the document ids.

    Examples
    --------
    >>> ev = evaluate({"q1": {"d3": 4, "d1": 3, "d4": 2, "d2": 1}},
    ...               {"q1": {"d1": 1, "d2": 1}}, metrics=["map", "mrr@10", "ndcg@10"])
    >>> {m: round(v, 5) for m, v in ev.mean.items()}
    {'map': 0.5, 'mrr@10': 0.5, 'ndcg@10': 0.65092}
    """
    run = as_run(run, "run")
    qrels = as_qrels(qrels, "qrels")
    # a query with no judgment at all is not judged, as in a qrels file (which cannot
    # list one) and in trec_eval: skipped, not averaged as 0
    qrels = {q: j for q, j in qrels.items() if j}
    metrics, parsed = check_metrics(metrics)
    if missing not in ("zero", "skip"):
        raise ValueError(f"missing must be 'zero' (count judged queries absent from the run "
                         f"as 0, trec_eval -c) or 'skip' (leave them out), got {missing!r}")
    if isinstance(relevance_level, (bool, np.bool_)) \
            or not isinstance(relevance_level, numbers.Integral) or relevance_level < 1:
        raise ValueError(f"relevance_level must be an integer >= 1, got {relevance_level!r}")
    relevance_level = int(relevance_level)

    skip_no_relevant = V.check_bool(skip_no_relevant, "skip_no_relevant")
    no_relevant = sorted(q for q, j in qrels.items()
                         if not any(g >= relevance_level for g in j.values()))
    unfound = set(no_relevant)            # judged queries with no relevant document
    averaged = sorted(q for q in qrels if not (skip_no_relevant and q in unfound))
    # queries some measure can score above 0 (nDCG also counts grades below the level)
    scorable = {q for q in averaged if any(g > 0 for g in qrels[q].values())}
    # a query the run holds with no document (a store or filter returned nothing) is
    # absent, as in a TREC run file, which cannot list a query without a document
    missing_from = [q for q in averaged if not run.get(q)]
    not_judged = sorted(q for q in run if q not in qrels)
    if averaged and run and not any(q in run for q in averaged):
        import warnings
        warnings.warn(f"run and qrels share no query id (run: {sorted(run)[:3]}, qrels: "
                      f"{averaged[:3]}): every query scores 0; check that both use the same "
                      "ids (e.g. strings, not row numbers)", UserWarning, stacklevel=2)
    elif missing == "zero" and run and (lowering := [q for q in missing_from
                                                    if q in scorable]):
        # a missing query whose judgments grade nothing above 0 scores 0 on every measure
        # either way: only the others lower a mean
        import warnings
        one = len(lowering) == 1
        warnings.warn(f"the run has no results for {len(lowering)} of the "
                      f"{sum(q in scorable for q in averaged)} judged queries that can score "
                      f"above 0 ({'' if one else 'first: '}{', '.join(lowering[:3])}); "
                      f"{'it counts' if one else 'they count'} as 0 (trec_eval -c) and "
                      f"{'lowers' if one else 'lower'} every mean. If the run covers a subset on "
                      "purpose, pass missing='skip' or restrict qrels to the queries you "
                      "ran", UserWarning, stacklevel=2)
    shared = [q for q in averaged if run.get(q)]
    judged_ids = {d for q in shared for d in qrels[q]}
    if len(shared) > 1 and not any(d in judged_ids for q in shared for d in run[q]):
        # the documents' analogue of the warning above: row numbers or b"ids" against
        # string ids scored 0 everywhere without a word (one query that finds nothing
        # judged is no pattern: a toy run, or a search that failed)
        import warnings
        q = shared[0]
        warnings.warn(f"no document the run returned for its {len(shared)} judged queries is "
                      f"judged for any of them (query {q!r}: run {list(run[q])[:3]}, qrels "
                      f"{list(qrels[q])[:3]}): every query scores 0; check that both use the "
                      "same document ids (e.g. strings, not row numbers)", UserWarning,
                      stacklevel=2)
    if missing == "skip":
        averaged = [q for q in averaged if run.get(q)]
    values = np.zeros((len(averaged), len(metrics)), dtype=np.float64)
    for i, q in enumerate(averaged):
        if q in run:
            values[i] = _query_metrics(run[q], qrels[q], parsed, relevance_level)
    if averaged:
        means = {m: float(np.mean(values[:, j])) for j, m in enumerate(metrics)}
    else:
        means = {m: math.nan for m in metrics}
    return Evaluation(metrics=metrics, query_ids=tuple(averaged), values=values, mean=means,
                      missing_from_run=tuple(missing_from), no_relevant=tuple(no_relevant),
                      not_judged=tuple(not_judged), relevance_level=relevance_level,
                      name=str(name), missing=missing,
                      no_relevant_skipped=bool(skip_no_relevant),
                      judgments={q: judgment_digest(qrels[q]) for q in averaged})
