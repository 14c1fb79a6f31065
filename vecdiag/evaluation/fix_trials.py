"""try_fixes: does any fix beat the plain search on *your* queries? With p-values.

Every fix of :mod:`vecdiag.fixes` (and any ``"+"`` combination) runs through
:func:`vecdiag.fixes.apply_fix`, the same code ``explain_neighbors`` uses for its
counterfactuals; each ranking is scored by :func:`vecdiag.evaluate` and tested against
the baseline (exact search with ``metric``) by :func:`vecdiag.compare`.
"""

from __future__ import annotations

import numpy as np

from ..results import Result, counted, escape, html_block, html_table, result
from .copy_frames import deduplicate_frames
from .metrics import DEFAULT_METRICS
from .trials import (BASELINE, TrialOptions, check_lexical, check_texts, check_trial, dense_runs,
                     lexical_runs, run_from, score_runs, with_metric)

__all__ = ["try_fixes", "FixReport", "default_fixes", "TrialOptions"]

_run_from = run_from  # the former name


def default_fixes(metric: str = "cosine", *, texts: bool = False, findings=None,
                  embedder: bool = False) -> list[str]:
    """The fixes ``try_fixes`` runs when ``fixes=None``.

    The vector fixes and re-rankers, ``cosine_metric`` unless already searching by
    cosine, ``hybrid_lexical`` when texts are given, and one combination
    (``all_but_the_top+csls``: remove the shared directions, then discount hubs).
    With ``findings`` (a :class:`~vecdiag.Diagnosis` or a list of Findings), the fix of
    every finding that is not ``ok`` joins them when it can run with the inputs at hand
    (e.g. ``deduplicate`` after a ``near_duplicates`` warning; the text fixes
    ``add_prefix`` and ``chunk_documents`` only with an embedder).

    Examples
    --------
    >>> default_fixes()
    ['center', 'normalize', 'whiten', 'all_but_the_top', 'csls', 'mutual_proximity', \
'all_but_the_top+csls']
    """
    from ..fixes import available_fixes

    names = [c for c in available_fixes(texts=texts, query_texts=texts)
             if c not in ("deduplicate", "cosine_metric")]
    if metric != "cosine":
        names.insert(0, "cosine_metric")
    names.append("all_but_the_top+csls")
    runnable = set(available_fixes(texts=texts, query_texts=texts, embedder=embedder))
    for f in getattr(findings, "findings", findings) or ():
        fix = getattr(f, "fix", None)
        if getattr(f, "severity", "ok") == "ok" or fix is None or fix in names:
            continue
        if fix in runnable and not (fix == "cosine_metric" and metric == "cosine"):
            names.append(fix)
    return names


@result
class FixReport(Result):
    """Baseline and every fix: metrics, change against the baseline, p-values.

    Returned by :func:`vecdiag.try_fixes`.

    Attributes
    ----------
    order : tuple of str
        Run names, best first by the primary metric (the baseline among them).
    evaluations : dict
        Name -> :class:`~vecdiag.Evaluation`.
    comparisons : dict
        Name -> :class:`~vecdiag.Comparison` against the baseline (every other name).
    primary_metric : str
        The metric that orders the report (the first one asked for).
    metrics : tuple of str
        Metrics evaluated.
    method : str
        Significance test used.
    alpha : float
        Level for ``significant`` (Holm-adjusted across metrics, per fix).
    seconds : dict
        Name -> wall time of the search (and re-ranking), in seconds; NaN for the
        ``lexical`` run, given and not timed ("—" in :meth:`to_markdown`).
    failed : dict
        Name -> error message, for fixes that could not run (not in ``order``).
    runs : dict
        Name -> run dict ``{query_id: {doc_id: score}}``.
    baseline_name : str
        Name of the baseline row.
    unqueried : tuple
        Judged queries not among ``query_ids`` (left out of every evaluation).
    notes : tuple of str
        How a run was made when it differs from the fix's defaults: the frame
        ``deduplicate`` judged near-copies in, when not raw cosine alone.

    Examples
    --------
    >>> import vecdiag as vd
    >>> d = vd.datasets.load_demo()
    >>> report = vd.try_fixes(d.query_embeddings, d.corpus_embeddings, d.qrels,
    ...                       query_ids=d.query_ids, doc_ids=d.corpus_ids, fixes=["center"],
    ...                       metrics=("ndcg@10",), n_resamples=1000, show_progress=False)
    >>> report.order, report.primary_metric, report.best
    (('baseline', 'center'), 'ndcg@10', None)
    >>> round(report.comparisons["center"].delta["ndcg@10"], 4)
    -0.0417
    """

    order: tuple
    """Run names, best first by the primary metric (the baseline among them)."""
    evaluations: dict
    """Name -> Evaluation."""
    comparisons: dict
    """Name -> Comparison against the baseline (every name except the baseline)."""
    primary_metric: str
    """The metric that orders the report (the first one asked for)."""
    metrics: tuple
    """Metrics evaluated."""
    method: str
    """Significance test used."""
    alpha: float
    """Level for ``significant`` (Holm-adjusted across metrics, per fix)."""
    seconds: dict
    """Name -> wall time of the search (and re-ranking), in seconds; NaN for the given
    ``lexical`` run (not timed)."""
    failed: dict
    """Name -> error message, for fixes that could not run (not in ``order``)."""
    runs: dict
    """Name -> run dict ``{query_id: {doc_id: score}}`` (for save_run or a later compare)."""
    baseline_name: str = BASELINE
    """Name of the baseline row."""
    unqueried: tuple = ()
    """Judged queries that are not among ``query_ids``: left out of every evaluation
    (they have no ranking here; counting them as 0 would halve a subset's scores)."""
    notes: tuple = ()
    """Sentences on how a run was made when it differs from the fix's defaults (the frame
    ``deduplicate`` judged near-copies in, as ``explain_neighbors`` does), shown under
    every display."""

    def query_note(self) -> str:
        """Which queries the figures average over, and which judged ones were left out."""
        n = self.evaluations[self.baseline_name].n_queries
        note = counted(n, "query", "queries")
        if self.unqueried:
            were = "was" if len(self.unqueried) == 1 else "were"
            note += (f" ({counted(len(self.unqueried), 'judged query', 'judged queries')} not "
                     f"passed to try_fixes {were} left out, not counted as 0)")
        return note

    @property
    def best(self):
        """The highest-ranked fix whose gain on the primary metric is significant, else None.

        Fixes ranked above it whose gain is not significant are passed over; a fix ranked
        below the baseline never counts."""
        for name in self.order:
            if name == self.baseline_name:
                return None
            c = self.comparisons[name]
            if c.significant[self.primary_metric] and c.delta[self.primary_metric] > 0:
                return name
        return None

    def to_frame(self):
        """One row per run, best first: each metric's mean, delta, Holm p; seconds."""
        import pandas as pd

        rows = []
        for name in self.order:
            ev = self.evaluations[name]
            row = {"fix": name}
            for m in self.metrics:
                row[m] = ev.mean[m]
            for m in self.metrics:
                c = self.comparisons.get(name)
                row[f"delta {m}"] = c.delta[m] if c else 0.0
                row[f"p {m}"] = c.p_adjusted[m] if c else np.nan
            row["seconds"] = self.seconds.get(name, np.nan)
            rows.append(row)
        return pd.DataFrame(rows).set_index("fix")

    def to_markdown(self, digits: int = 4) -> str:
        """A Markdown table: mean (delta, Holm p) per metric; significant changes bold."""
        head = "| fix | " + " | ".join(self.metrics) + " | seconds |"
        lines = [head, "|" + " --- |" * (len(self.metrics) + 2)]
        for name in self.order:
            cells = []
            for m in self.metrics:
                mean = self.evaluations[name].mean[m]
                c = self.comparisons.get(name)
                if c is None:
                    cells.append(f"{mean:.{digits}f}")
                    continue
                text = f"{mean:.{digits}f} ({c.delta[m]:+.{digits}f}, p={c.p_adjusted[m]:.3g})"
                cells.append(f"**{text}**" if c.significant[m] else text)
            seconds = self.seconds.get(name, float("nan"))   # NaN: a given run, not timed
            lines.append(f"| {name} | " + " | ".join(cells)
                         + f" | {'—' if seconds != seconds else f'{seconds:.2f}'} |")
        if self.unqueried:
            lines += ["", f"Averaged over {self.query_note()}."]
        if self.notes:
            lines += [""] + [f"Note: {n}." for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cols = ["fix"] + [c for m in self.metrics for c in (m, f"Δ {m}", f"p {m}")]
        rows, classes = [], []
        for name in self.order:
            c = self.comparisons.get(name)
            row = [name]
            for m in self.metrics:
                row += [self.evaluations[name].mean[m], c.delta[m] if c else "",
                        f"{c.p_adjusted[m]:.3g}" if c else ""]   # as the text: p=0.0004
            rows.append(row)
            if c is None:
                classes.append("vd-muted")
            elif c.significant[self.primary_metric]:
                classes.append("vd-ok" if c.delta[self.primary_metric] > 0 else "vd-critical")
            else:
                classes.append("")
        note = (f"{self.query_note()}; {self.method} test against {self.baseline_name}, p-values "
                f"Holm-adjusted across the {len(self.metrics)} metrics of each fix; green/red: "
                f"significant change of {self.primary_metric} at alpha {self.alpha}.")
        parts = [html_table(rows, cols, numeric=set(cols) - {"fix"}, classes=classes),
                 f"<p class='vd-muted'>{escape(note)}</p>"]
        parts += [f"<p class='vd-muted'>{escape(n)}.</p>" for n in self.notes]
        if self.failed:
            parts.append("<p class='vd-warning'>could not run: " + "; ".join(
                f"{escape(k)}: {escape(v)}" for k, v in self.failed.items()) + "</p>")
        return html_block("Fixes against the baseline, best first", *parts)

    def plot(self, metric=None, ax=None):
        """Each fix's change of ``metric`` (default: the primary) with interval and p;
        ``metric`` must be one of :attr:`metrics`, as spelled there."""
        from ..plot.evaluation import draw_fix_report

        if metric is not None and metric not in self.metrics:
            # a metric not evaluated failed as a bare KeyError: 'map'
            raise ValueError(f"metric {metric!r} was not evaluated; choose one of "
                             f"{list(self.metrics)}, or pass metrics= to try_fixes")
        return draw_fix_report(self, metric=metric, ax=ax)


def try_fixes(queries, corpus, qrels, *, query_ids, doc_ids, fixes=None, k: int = 100,
              metrics=DEFAULT_METRICS, metric: str | None = None, method: str = "randomization",
              n_resamples: int = 10_000, alpha: float = 0.05, random_state=0, texts=None,
              query_texts=None, embedder=None, lexical=None, show_progress=None,
              findings=None, trial: TrialOptions | None = None, **options) -> FixReport:
    """Run the baseline search and every fix; score, compare, and rank them.

    Parameters
    ----------
    queries : array-like (n_q, d)
    corpus : array-like (n, d) or vecdiag.Index
        A Dask array is taken as an Index over it (searched per row block); the fixes
        that score every document in memory are then listed in ``failed``.
    qrels : dict
        ``{query_id: {doc_id: relevance}}``.
    query_ids, doc_ids : sequence
        Ids of the query rows and corpus rows, as used in ``qrels``. ``doc_ids=None``
        with an Index built with ids: its ids. Refused when the qrels judge none of the
        query_ids, or name none of the doc_ids as relevant (every run would score 0).
    fixes : sequence of str, optional
        Fix codes or ``"+"`` combinations (``"center+csls"``); default
        :func:`default_fixes`.
    k : int
        Documents retrieved per query (metrics deeper than k see only k).
    metrics : sequence of str
        As in :func:`vecdiag.evaluate`; the first orders the report.
    metric : {"cosine", "dot", "euclidean"} or None
        The baseline's search metric; fixes search with it too. None: the Index's
        metric, else cosine.
    method, n_resamples, alpha, random_state
        As in :func:`vecdiag.compare`.
    texts, query_texts : sequence of str, optional
        Document and query texts: enable ``hybrid_lexical`` and add a ``bm25`` row.
    embedder : optional
        For the text fixes ``add_prefix`` and ``chunk_documents`` (pass them in fixes).
    lexical : dict, optional
        A lexical run ``{query_id: {doc_id: score}}`` (e.g. from vecdiag.lexical.bm25):
        adds the rows ``lexical`` (its top ``k``, as every row) and ``hybrid`` (its RRF
        fusion with the baseline). Ids are read as strings, as :func:`vecdiag.evaluate`
        reads them (``7`` and ``"7"`` are one document).
    show_progress : bool, optional
        Progress bar over the fixes (default: only when there is much work).
    findings : Diagnosis or list of Finding, optional
        With ``fixes=None``: the fixes of these findings join the defaults (see
        :func:`default_fixes`), e.g. ``deduplicate`` when ``vd.diagnose`` found copies.
    trial : TrialOptions, optional
        ``k``, ``metrics``, ``metric``, ``method``, ``n_resamples``, ``alpha``,
        ``random_state`` and ``show_progress`` as one object (reusable across calls);
        keywords passed as well must keep their defaults.
    **options
        Passed to :func:`vecdiag.fixes.apply_fix` (e.g. ``whiten__n_components=64``).
        ``frame=None``: ``deduplicate`` judges near-copies by raw cosine alone (see Notes).

    Returns
    -------
    FixReport

    Notes
    -----
    Only the judgments of the queries given are used: judged queries missing from
    ``query_ids`` are left out (listed in ``FixReport.unqueried`` and said in every
    display), never scored as 0, so a subset of the queries gives that subset's scores.
    Every comparison is paired over the queries both runs were averaged over (those
    without a relevant document too, as :func:`vecdiag.evaluate` averages them, see
    :func:`vecdiag.evaluation.compare`), against the same baseline; p-values are
    Holm-adjusted across metrics *within* a fix. Trying many fixes is itself a multiple
    comparison: at alpha = .05, one fix in twenty may look significant by chance, so
    confirm a winner on held-out queries. A fix that cannot run (a missing input, or data
    it cannot use: a zero vector to normalise, no variance to whiten) is reported in
    ``failed`` with a warning, not dropped silently, whichever options were passed; an
    option value it refuses by name (``n_neighbors=0``) raises, as
    :func:`vecdiag.fixes.apply_fix` does.

    ``deduplicate`` (alone, or after ``cosine_metric``) groups near-copies in the frame
    :func:`vecdiag.explain_neighbors` judges them in, decided once per corpus by its rule
    (:func:`vecdiag.explain.stats.copy_frame`, cached on an Index): by raw cosine and,
    under rogue dimensions, in a narrow cone or under euclidean, also in the frame that
    removes the distortion; ``FixReport.notes`` says which. Grouped by raw cosine alone,
    rogue dimensions that put every cosine near 1 made one group of nearly the whole
    corpus. After a transform the copies are judged on the transformed rows by raw cosine.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> corpus = rng.normal(size=(60, 8)) + 2.0
    >>> queries = corpus[:12] + rng.normal(scale=0.3, size=(12, 8))
    >>> qrels = {f"q{i}": {f"d{i}": 1} for i in range(12)}
    >>> report = try_fixes(queries, corpus, qrels, query_ids=[f"q{i}" for i in range(12)],
    ...                    doc_ids=[f"d{i}" for i in range(60)], fixes=["center"], k=10,
    ...                    metrics=["mrr@10"], n_resamples=200)
    >>> sorted(report.order)
    ['baseline', 'center']
    """
    opts = TrialOptions.merged(trial, k=k, metrics=metrics, metric=metric, method=method,
                               n_resamples=n_resamples, alpha=alpha,
                               random_state=random_state, show_progress=show_progress)
    opts = with_metric(opts, corpus)
    if fixes is None:
        fixes = default_fixes(opts.metric, texts=texts is not None and query_texts is not None,
                              findings=findings, embedder=embedder is not None)
    t = check_trial(queries, corpus, qrels, query_ids, doc_ids, fixes, opts)
    texts, query_texts = check_texts(t, texts, query_texts)
    check_lexical(t, lexical)
    dense_runs(t, texts=texts, query_texts=query_texts, embedder=embedder, options=options,
               extra=deduplicate_frames(t, options))
    lexical_runs(t, texts=texts, query_texts=query_texts, lexical=lexical)
    evaluations, comparisons, order = score_runs(t)
    return FixReport(order=order, evaluations=evaluations, comparisons=comparisons,
                     primary_metric=t.metrics[0], metrics=t.metrics, method=opts.method,
                     alpha=float(opts.alpha), seconds=t.seconds, failed=t.failed,
                     runs=t.runs, unqueried=t.unqueried,
                     notes=tuple(note for code, note in t.notes.items() if code in t.runs))
