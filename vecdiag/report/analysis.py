"""One pass over a corpus (and queries, judgments): diagnose, evaluate, explain.

:func:`analyze` is what ``vecdiag demo`` and ``vecdiag report`` run; its result,
:class:`Analysis`, is what the HTML page, the text summary and the JSON are made from.
Every part comes from the public API (``vd.diagnose``, ``vd.evaluate``,
``vd.explain_neighbors``) and keeps that result object, so each part of a report is
the object's own ``_repr_html_`` / ``to_frame`` / ``plot``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _validate as V

__all__ = ["Analysis", "QueryCase", "analyze", "DEFAULT_METRICS"]

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
    """Everything a report shows. Parts not computed are None / empty."""

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


def analyze(corpus, *, ids=None, texts=None, queries=None, query_ids=None,
            query_texts=None, qrels=None, query_groups=None, k: int = 10,
            metric: str = "cosine", n_explain: int = 3, metrics=DEFAULT_METRICS,
            embedder=None, token_counts=None, max_tokens: int | None = None,
            title: str = "vecdiag report", description: str = "",
            notes=(), random_state=0, show_progress: bool | None = None,
            fixes=None, model_name: str | None = None) -> Analysis:
    """Diagnose ``corpus``; with queries and ``qrels`` also evaluate exact search and
    explain the ``n_explain`` worst queries.

    Parameters
    ----------
    corpus : array-like (n, d)
        Document embeddings.
    ids, texts : sequences, optional
        One per corpus row. ``qrels`` name documents by these ids (required with qrels).
    queries : array-like (m, d), optional
        Query embeddings (adds the query/corpus shift finding).
    query_ids, query_texts, query_groups : sequences, optional
        One per query row; ``query_ids`` are required with ``qrels``.
    qrels : dict, optional
        ``{query_id: {doc_id: grade}}``.
    k : int
        Neighbours for the diagnosis graph and the explanations.
    n_explain : int
        How many of the worst queries to explain: lowest ``metrics[0]``, ties broken by
        the other metrics in order, then by query id.
    embedder : embedder, optional
        Passed to ``explain_neighbors`` (truncation and prefix checks).
    token_counts, max_tokens : optional
        Tokens per document and the model's limit, when known without a model (e.g.
        stored with a dataset): relevant documents past the limit are listed per query,
        and the corpus-wide count is in ``long_documents`` (also counted from ``texts``
        with ``embedder`` when no counts are given).
    fixes : sequence of str or False, optional
        With ``qrels``: the fixes ``try_fixes`` measures for the report's fixes section
        (default: its defaults plus the fixes the findings point to); False skips it.
    model_name : str, optional
        The embedding model's name (default: the embedder's), so the findings can
        consult what is known about it (e.g. whether it uses query prefixes).

    Returns
    -------
    Analysis
    """
    import vecdiag as vd

    X = V.as_matrix(corpus, "corpus")
    n = X.shape[0]
    ids = None if ids is None else [str(i) for i in V.check_ids(ids, n, "ids")]
    texts = _aligned(texts, n, "texts")
    index = vd.Index(X, ids=ids, texts=texts, metric=metric)
    Q = None
    if queries is not None:
        Q = V.as_matrix(queries, "queries")
        V.check_same_dim(Q, "queries", X, "corpus")
        query_ids = None if query_ids is None else [
            str(i) for i in V.check_ids(query_ids, Q.shape[0], "query_ids")]
        query_texts = _aligned(query_texts, Q.shape[0], "query_texts")
        query_groups = _aligned(query_groups, Q.shape[0], "query_groups")
    k = V.check_k(k, n)
    notes = list(notes)
    if token_counts is not None:
        token_counts = np.asarray(token_counts)
        if token_counts.shape != (n,):
            raise ValueError(f"token_counts has shape {token_counts.shape}; give one count "
                             f"per corpus row ({n})")
    from .extras import fixes_for_report, long_documents, skipped_checks

    query_text_for_explain = query_texts
    bm25 = _has("bm25s")
    if query_texts is not None and texts is not None and not bm25:
        # explain's lexical check needs BM25 (the lexical extra): without it, explain
        # without the query text and say so (in ``skipped``)
        query_text_for_explain = None
    skipped = tuple(skipped_checks(texts=texts, query_texts=query_texts, queries=Q,
                                   qrels=qrels, embedder=embedder, bm25_available=bm25))
    if model_name is None and embedder is not None:
        model_name = getattr(embedder, "model_name", None)
    diagnosis = vd.diagnose(index, queries=Q, k=k, random_state=random_state,
                            show_progress=show_progress, query_ids=query_ids,
                            model_name=model_name)
    longest = long_documents(texts=texts, embedder=embedder, token_counts=token_counts,
                             max_tokens=max_tokens, ids=ids)
    if token_counts is None and longest is not None:  # counted from the texts just now
        token_counts, max_tokens = longest.token_counts, longest.max_tokens
    if qrels is None or Q is None:
        if qrels is not None:
            raise ValueError("qrels need queries: pass the query embeddings too")
        return Analysis(title=title, description=description, diagnosis=diagnosis,
                        notes=tuple(notes), skipped=skipped, long_documents=longest,
                        max_tokens=max_tokens)
    position = {d: i for i, d in enumerate(ids)} if ids is not None else {}
    if ids is None or query_ids is None:
        raise ValueError("qrels name documents and queries by id: pass ids (one per corpus "
                         "row) and query_ids (one per query row)")
    given = set(query_ids)
    unqueried = [str(q) for q in qrels if str(q) not in given]
    if unqueried:  # judged queries without a vector: leave them out, never score them 0
        qrels = {q: docs for q, docs in qrels.items() if str(q) in given}
        notes.append(f"{len(unqueried)} judged queries have no query vector (first: "
                     f"{', '.join(unqueried[:3])}) and were left out of every figure")
    depth = min(100, n)
    found = vd.knn(Q, index.vectors, k=depth, metric=metric)
    evaluation = vd.evaluate((found, query_ids, ids), qrels, metrics=tuple(metrics))
    rank_metric = evaluation.metrics[0]
    per_query = evaluation.per_query[rank_metric]
    row_of = {q: i for i, q in enumerate(query_ids)}
    # worst first: lowest rank metric, ties broken by the other metrics, then query id
    table = evaluation.per_query
    order = sorted(table.index, key=lambda q: (*table.loc[q].tolist(), str(q)))
    worst = [(q, per_query[q]) for q in order[:n_explain]]
    fix_report = None
    if fixes is not False:
        fix_report = fixes_for_report(Q, index, qrels, query_ids=query_ids,
                                      diagnosis=diagnosis, metric=metric, texts=texts,
                                      query_texts=query_texts if bm25 else None,
                                      embedder=embedder, fixes=fixes,
                                      random_state=random_state, show_progress=show_progress)
    cases = []
    for qid, value in worst:
        i = row_of[qid]
        judged = qrels.get(qid, {})
        relevant = [d for d, g in sorted(judged.items(), key=lambda kv: (-kv[1], kv[0]))
                    if g >= evaluation.relevance_level]
        explanation = vd.explain_neighbors(
            Q[i], index, k=k, expected=relevant or None,
            query_text=None if query_text_for_explain is None else query_text_for_explain[i],
            embedder=embedder, random_state=random_state, fix_report=fix_report)
        cut = ()
        if token_counts is not None and max_tokens is not None:
            cut = tuple((d, int(token_counts[position[d]])) for d in relevant
                        if token_counts[position[d]] > max_tokens)
        cases.append(QueryCase(query_id=qid,
                               query_text=None if query_texts is None else query_texts[i],
                               score=float(value), relevant=relevant, explanation=explanation,
                               group=None if query_groups is None else query_groups[i],
                               truncated=cut))
    groups = None
    if query_groups is not None:
        by_group: dict = {}
        for qid, value in per_query.items():
            by_group.setdefault(query_groups[row_of[qid]], []).append(float(value))
        groups = dict(sorted(((g, float(np.mean(v))) for g, v in by_group.items()),
                             key=lambda kv: kv[1]))
    return Analysis(title=title, description=description, diagnosis=diagnosis,
                    evaluation=evaluation, cases=tuple(cases), rank_metric=rank_metric,
                    groups=groups, notes=tuple(notes), max_tokens=max_tokens,
                    fix_report=fix_report, skipped=skipped, long_documents=longest)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _aligned(values, n: int, name: str):
    """A list of ``n`` strings, or None."""
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence with one entry per row, not one string")
    values = [str(v) for v in values]
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but there are {n} rows; "
                         "give one per row, in row order")
    return values
