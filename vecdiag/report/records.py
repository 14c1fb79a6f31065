"""The records of a report: what :func:`vecdiag.report.analyze` is given (its option
groups and checked inputs) and what it returns (:class:`Analysis`, one
:class:`QueryCase` per explained query).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["DEFAULT_METRICS", "QueryCase", "Analysis", "AnalysisOptions", "ReportText",
           "Inputs"]

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")


@dataclasses.dataclass(frozen=True)
class QueryCase:
    """One explained query: who it is, how it scored, and its Explanation."""

    query_id: str
    """Query id."""
    query_text: str | None
    """Query text, when known."""
    score: float
    """Its value of the ranking metric (``Analysis.rank_metric``)."""
    relevant: list
    """Ids of its relevant documents, best grade first."""
    explanation: object
    """The :class:`vecdiag.Explanation`."""
    group: str | None = None
    """Its label (e.g. the demo's failure pattern), when the dataset has one."""
    truncated: tuple = ()
    """``(doc id, tokens)`` of its relevant documents longer than the model reads (from
    stored token counts; empty when unknown)."""


@dataclasses.dataclass(frozen=True)
class Analysis:
    """Everything a report shows. Parts not computed are None / empty.

    Made by :func:`analyze`; :func:`render_html`, :func:`render_text` and
    :func:`to_json` turn it into a page, a summary or JSON.

    Parameters
    ----------
    title, description : str
        Heading of the report and one paragraph about the data.
    diagnosis : vecdiag.Diagnosis
        Diagnosis of the corpus.
    evaluation : vecdiag.Evaluation, optional
        Exact search scored (needs queries and judgments).
    cases : tuple of QueryCase
        The worst queries explained, worst first.
    rank_metric : str
        Metric that picked the worst queries.
    groups : dict, optional
        Group label -> mean of ``rank_metric`` over its queries, worst first.
    notes : tuple of str
        How the inputs were read (assumptions made visible).
    max_tokens : int, optional
        The model's token limit, when known.
    fix_report : vecdiag.FixReport, optional
        ``vd.try_fixes`` over the judged queries, or None without judgments.
    skipped : tuple of str
        One sentence per check that could not run for lack of an input.
    long_documents : vecdiag.report.extras.LongDocuments, optional
        Documents past the model's token limit.
    unexplained : tuple of str
        Judged query ids that cannot be explained (all-zero under dot), worst first.

    Examples
    --------
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> a = vd.report.analyze(np.random.default_rng(0).normal(size=(40, 8)), title="Demo")
    >>> a.title, a.evaluation, a.cases
    ('Demo', None, ())
    >>> a.skipped[0][:20]
    'query checks skipped'
    """

    title: str
    """Heading of the report."""
    description: str
    """One paragraph about the data (sizes, model)."""
    diagnosis: object
    """:class:`vecdiag.Diagnosis` of the corpus."""
    evaluation: object | None = None
    """:class:`vecdiag.Evaluation` of exact search (needs queries and judgments)."""
    cases: tuple = ()
    """:class:`QueryCase` for the worst queries, worst first."""
    rank_metric: str = "ndcg@10"
    """Metric that picked the worst queries."""
    groups: dict | None = None
    """Group label -> mean of ``rank_metric`` over its queries, worst first."""
    notes: tuple = ()
    """Sentences about how the inputs were read (assumptions made visible)."""
    max_tokens: int | None = None
    """The model's token limit, when known (see ``QueryCase.truncated``)."""
    fix_report: object | None = None
    """:class:`vecdiag.FixReport` of ``vd.try_fixes`` over the judged queries (its
    defaults plus the fixes the findings point to), or None without judgments."""
    skipped: tuple = ()
    """One sentence per check that could not run for lack of an input, and how to
    enable it (e.g. "lexical checks skipped: no query texts ...")."""
    long_documents: object | None = None
    """:class:`vecdiag.report.extras.LongDocuments`: documents past the model's token
    limit, when texts and a model that counts tokens (or stored counts) are given."""
    unexplained: tuple = ()
    """Judged query ids that cannot be explained, worst first: an all-zero query under dot
    scores 0 against every document (its ranked list is only the tie order). They count
    in the metrics, are passed over when the worst queries are picked, are marked in the
    per-query table and named in ``notes``."""


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """How :func:`analyze` works (its keyword arguments, grouped; same defaults)."""

    k: int = 10
    metric: str = "cosine"
    n_explain: int = 3
    metrics: tuple = DEFAULT_METRICS
    random_state: object = 0
    show_progress: bool | None = None
    fixes: object = None
    model_name: str | None = None
    sample: int | None = None


@dataclasses.dataclass(frozen=True)
class ReportText:
    """The words around a report: its title, a paragraph about the data, notes."""

    title: str = "vecdiag report"
    description: str = ""
    notes: tuple = ()


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The inputs of :func:`analyze`, checked once (ids and texts as lists of str)."""

    index: object
    """The corpus as a :class:`vecdiag.Index` (ids, texts, metric)."""
    ids: list | None
    texts: list | None
    Q: np.ndarray | None
    query_ids: list | None
    query_texts: list | None
    query_groups: list | None
    qrels: dict | None
    embedder: object
    token_counts: np.ndarray | None
    max_tokens: int | None
    k: int
    bm25: bool
    """Whether BM25 (the lexical extra) is installed."""
    model_name: str | None
    notes: tuple = ()
    """How the inputs were read (e.g. judged queries without a vector left out)."""
    lazy: bool = False
    """The corpus is a Dask array (:mod:`vecdiag.report.scaled`)."""
