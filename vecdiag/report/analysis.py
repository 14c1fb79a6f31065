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
from .._options import merged_options
from ..results import label_text, text_or_empty
from .records import (DEFAULT_METRICS, Analysis, AnalysisOptions, Inputs, QueryCase,
                      ReportText)

__all__ = ["Analysis", "QueryCase", "analyze", "DEFAULT_METRICS", "AnalysisOptions",
           "ReportText", "Inputs", "worst_first", "unexplainable"]


def analyze(corpus, *, ids=None, texts=None, queries=None, query_ids=None,
            query_texts=None, qrels=None, query_groups=None, k: int = 10,
            metric: str = "cosine", n_explain: int = 3, metrics=DEFAULT_METRICS,
            embedder=None, token_counts=None, max_tokens: int | None = None,
            title: str = "vecdiag report", description: str = "",
            notes=(), random_state=0, show_progress: bool | None = None,
            fixes=None, model_name: str | None = None, sample: int | None = None,
            options: AnalysisOptions | None = None, page: ReportText | None = None
            ) -> Analysis:
    """Diagnose ``corpus``; with queries and ``qrels`` also evaluate exact search and
    explain the ``n_explain`` worst queries.

    Parameters
    ----------
    corpus : array-like (n, d) or dask.array.Array
        Document embeddings. A Dask array stays lazy (see :mod:`vecdiag.report.scaled`:
        what runs on it, and what is skipped with the reason in ``Analysis.skipped``).
    ids, texts : sequences, optional
        One per corpus row. ``qrels`` name documents by these ids (required with qrels).
    queries : array-like (m, d), optional
        Query embeddings (adds the query/corpus shift finding).
    query_ids, query_texts, query_groups : sequences, optional
        One per query row; ``query_ids`` are required with ``qrels``. A missing group
        (None, NaN, pandas' NA) is the group "(no label)".
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
    sample : int, optional
        Rows sampled by ``vd.diagnose`` for hubness and near-duplicates when it estimates
        them (a Dask corpus, or more than ``SAMPLED_ABOVE`` rows); default its own.
    options : AnalysisOptions, optional
        ``k``, ``metric``, ``n_explain``, ``metrics``, ``random_state``,
        ``show_progress``, ``fixes``, ``model_name`` and ``sample`` as one object; keywords
        passed as well must keep their defaults.
    page : ReportText, optional
        ``title``, ``description`` and ``notes`` as one object (same rule).

    Notes
    -----
    A pipeline of named stages over one checked :class:`Inputs` record:
    :func:`read_inputs`, :func:`health` (diagnose, long documents, skipped checks),
    :func:`evaluate_search` (exact search of the Index, scored), :func:`measure_fixes`
    (``try_fixes``), :func:`explain_worst` and :func:`group_means`.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> X = np.random.default_rng(0).normal(size=(40, 8))
    >>> a = vd.report.analyze(X, ids=[f"d{i}" for i in range(40)], queries=X[:3],
    ...                       query_ids=["q0", "q1", "q2"],
    ...                       qrels={"q0": {"d0": 1}, "q1": {"d1": 1}, "q2": {"d5": 1}},
    ...                       metrics=("ndcg@10",), n_explain=0, fixes=False)
    >>> a.evaluation.n_queries, round(a.evaluation.mean["ndcg@10"], 4)
    (3, 0.6667)
    >>> a.diagnosis.worst
    'ok'
    """
    opts = merged_options(AnalysisOptions, options, "options", k=k, metric=metric,
                   n_explain=n_explain, metrics=metrics, random_state=random_state,
                   show_progress=show_progress, fixes=fixes, model_name=model_name,
                   sample=sample)
    text = merged_options(ReportText, page, "page", title=title, description=description,
                   notes=notes)
    if not isinstance(text.title, str):
        raise TypeError(f"title must be a string, got {type(text.title).__name__} "
                        f"{text.title!r}")
    inp = read_inputs(corpus, opts, ids=ids, texts=texts, queries=queries,
                      query_ids=query_ids, query_texts=query_texts,
                      query_groups=query_groups, qrels=qrels, embedder=embedder,
                      token_counts=token_counts, max_tokens=max_tokens)
    diagnosis, longest, skipped, inp = health(inp, opts)
    common = dict(title=text.title, description=text.description, diagnosis=diagnosis,
                  notes=_notes(text.notes) + inp.notes, skipped=skipped, long_documents=longest,
                  max_tokens=inp.max_tokens)
    if inp.qrels is None:
        return Analysis(**common)
    evaluation = evaluate_search(inp, opts)
    fix_report = measure_fixes(inp, diagnosis, opts)  # first: explanations carry its advice
    blank = unexplainable(inp, evaluation)
    cases = explain_worst(inp, evaluation, fix_report, opts, blank)
    if blank:
        common["notes"] += (_unexplained_note(blank, evaluation.metrics[0]),)
    return Analysis(**common, evaluation=evaluation, cases=cases,
                    rank_metric=evaluation.metrics[0], groups=group_means(inp, evaluation),
                    fix_report=fix_report, unexplained=blank)


# ---------------------------------------------------------------- the stages
def read_inputs(corpus, opts: AnalysisOptions, *, ids, texts, queries, query_ids,
                query_texts, query_groups, qrels, embedder, token_counts,
                max_tokens) -> Inputs:
    """Every input checked once; the corpus becomes an Index (rows prepared once)."""
    import vecdiag as vd

    from . import scaled

    lazy = scaled.is_lazy(corpus)
    X = scaled.check_corpus(corpus) if lazy else V.as_matrix(corpus, "corpus")
    n = X.shape[0]
    ids = None if ids is None else [V.id_str(i) for i in V.check_ids(ids, n, "ids")]
    texts = _aligned(texts, n, "texts", text_or_empty)
    index = vd.Index(X, ids=ids, texts=texts, metric=opts.metric)
    Q = None
    if queries is not None:
        Q = V.as_matrix(queries, "queries")
        V.check_same_dim(Q, "queries", X, "corpus")
        query_ids = None if query_ids is None else [
            V.id_str(i) for i in V.check_ids(query_ids, Q.shape[0], "query_ids",
                                        rows_of="queries has")]
        query_texts = _aligned(query_texts, Q.shape[0], "query_texts", text_or_empty)
        # a missing group (None, NaN, pandas' NA) is one group, "(no label)": str() made
        # None join a real group "None", and NaN and NA groups of their own
        query_groups = _aligned(query_groups, Q.shape[0], "query_groups", label_text)
    # k above the corpus size: diagnose reduces it (its small_corpus finding says so) and
    # the explanations search at most n, as `vecdiag check` does on the same corpus
    k = V.check_positive_int(opts.k, "k")
    V.check_positive_int(opts.n_explain, "n_explain", minimum=0)
    if max_tokens is not None:
        max_tokens = V.check_positive_int(max_tokens, "max_tokens")
    if token_counts is not None:
        token_counts = np.asarray(token_counts)
        if token_counts.shape != (n,):
            raise ValueError(f"token_counts has shape {token_counts.shape}; give one count "
                             f"per corpus row ({n})")
        token_counts = _token_counts(token_counts)
    if qrels is not None:
        if Q is None:
            raise ValueError("qrels need queries: pass the query embeddings too")
        if ids is None or query_ids is None:
            raise ValueError("qrels name documents and queries by id: pass ids (one per "
                             "corpus row) and query_ids (one per query row)")
    notes = ()
    if qrels is not None:
        from ..evaluation import as_qrels

        qrels = as_qrels(qrels)   # ids as strings, as ids and query_ids above
        given = set(query_ids)
        unqueried = [str(q) for q in qrels if str(q) not in given]
        if unqueried:  # judged queries without a vector: left out, never scored 0
            qrels = {q: docs for q, docs in qrels.items() if str(q) in given}
            notes = (f"{len(unqueried)} judged queries have no query vector (first: "
                     f"{', '.join(unqueried[:3])}) and were left out of every figure",)
        known = set(ids)
        absent = sorted({d for docs in qrels.values() for d, g in docs.items()
                         if g > 0 and d not in known})
        if absent:   # e.g. judgments of a full collection over a sample of its corpus
            many = len(absent) > 1
            notes += (f"{len(absent)} document{'s' if many else ''} judged relevant "
                      f"{'are' if many else 'is'} not in the corpus "
                      f"(first: {', '.join(absent[:3])}): the metrics count them as not "
                      "found, as trec_eval does; the explanations leave them out",)
        if not any(g > 0 for docs in qrels.values() for g in docs.values()):
            # the fix trials refused it later, speaking of fixes, after the health checks
            raise ValueError(f"qrels name no relevant document for the {len(qrels)} judged "
                             "queries with a vector (every grade is 0 or below): there is "
                             "nothing to evaluate or explain; pass judgments with relevant "
                             "documents, or leave qrels out for a health report of the corpus")
    model_name = opts.model_name
    if model_name is None and embedder is not None:
        model_name = getattr(embedder, "model_name", None)
    return Inputs(index=index, ids=ids, texts=texts, Q=Q, query_ids=query_ids,
                  query_texts=query_texts, query_groups=query_groups, qrels=qrels,
                  embedder=embedder, token_counts=token_counts, max_tokens=max_tokens, k=k,
                  bm25=_has("bm25s"), model_name=model_name, notes=notes, lazy=lazy)


def health(inp: Inputs, opts: AnalysisOptions):
    """``(diagnosis, long documents, skipped checks, inputs with token counts)``."""
    import vecdiag as vd

    from . import scaled
    from .extras import long_documents, skipped_checks

    skipped = tuple(skipped_checks(texts=inp.texts, query_texts=inp.query_texts,
                                   queries=inp.Q, qrels=inp.qrels, embedder=inp.embedder,
                                   bm25_available=inp.bm25))
    if inp.lazy:
        skipped += scaled.skipped_at_scale(qrels=inp.qrels, fixes=opts.fixes)
    diagnosis = vd.diagnose(inp.index, queries=inp.Q, k=inp.k,
                            random_state=opts.random_state,
                            show_progress=opts.show_progress,
                            query_ids=None if inp.Q is None else inp.query_ids,
                            model_name=inp.model_name, sample=opts.sample)
    longest = long_documents(texts=inp.texts, embedder=inp.embedder,
                             token_counts=inp.token_counts, max_tokens=inp.max_tokens,
                             ids=inp.ids)
    if inp.token_counts is None and longest is not None:  # counted from the texts just now
        inp = dataclasses.replace(inp, token_counts=longest.token_counts,
                                  max_tokens=longest.max_tokens)
    return diagnosis, longest, skipped, inp


def evaluate_search(inp: Inputs, opts: AnalysisOptions):
    """Exact search of the Index (depth 100) scored against the judgments."""
    import vecdiag as vd

    found = inp.index.search(inp.Q, k=min(100, len(inp.index)))
    return vd.evaluate((found, inp.query_ids, inp.ids), inp.qrels,
                       metrics=tuple(opts.metrics))


def measure_fixes(inp: Inputs, diagnosis, opts: AnalysisOptions):
    """``try_fixes`` for the report's fixes section (None when ``fixes=False``)."""
    from .extras import fixes_for_report

    if opts.fixes is False or inp.lazy:   # see scaled.FIXES_SKIPPED
        return None
    return fixes_for_report(inp.Q, inp.index, inp.qrels, query_ids=inp.query_ids,
                            diagnosis=diagnosis, metric=opts.metric, texts=inp.texts,
                            query_texts=inp.query_texts if inp.bm25 else None,
                            embedder=inp.embedder, fixes=opts.fixes,
                            random_state=opts.random_state, show_progress=opts.show_progress)


def explain_worst(inp: Inputs, evaluation, fix_report, opts: AnalysisOptions,
                  blank) -> tuple:
    """A :class:`QueryCase` for each of the ``n_explain`` worst queries, worst first:
    lowest rank metric, ties broken by the other metrics, then query id; the ``blank``
    ones (:func:`unexplainable`) passed over."""
    import vecdiag as vd

    per_query = evaluation.per_query[evaluation.metrics[0]]
    order = worst_first(evaluation.per_query)
    row_of = {q: i for i, q in enumerate(inp.query_ids)}
    position = {d: i for i, d in enumerate(inp.ids)}
    # explain's lexical check needs BM25 (the lexical extra): without it, explain without
    # the query text and say so (in ``skipped``)
    lexical_off = inp.query_texts is not None and inp.texts is not None and not inp.bm25
    blank = set(blank)
    cases = []
    for qid in order:
        if len(cases) == opts.n_explain:
            break
        if qid in blank:
            continue        # scores 0 against everything: its list is only the tie rule
        i = row_of[qid]
        judged = inp.qrels.get(qid, {})
        relevant = [d for d, g in sorted(judged.items(), key=lambda kv: (-kv[1], kv[0]))
                    if g >= evaluation.relevance_level]
        # a judged document the corpus lacks counts as not found in the metrics (as in
        # trec_eval); there is no vector of it to explain (said in the notes)
        held = [d for d in relevant if d in position]
        query_text = None if inp.query_texts is None or lexical_off else inp.query_texts[i]
        explanation = vd.explain_neighbors(
            inp.Q[i], inp.index, k=min(inp.k, len(inp.index)), expected=held or None,
            query_text=query_text,
            embedder=inp.embedder, random_state=opts.random_state, fix_report=fix_report)
        cut = ()
        if inp.token_counts is not None and inp.max_tokens is not None:
            cut = tuple((d, int(inp.token_counts[position[d]])) for d in held
                        if inp.token_counts[position[d]] > inp.max_tokens)
        cases.append(QueryCase(query_id=qid,
                               query_text=None if inp.query_texts is None
                               else inp.query_texts[i],
                               score=float(per_query[qid]), relevant=relevant,
                               explanation=explanation,
                               group=None if inp.query_groups is None else inp.query_groups[i],
                               truncated=cut))
    return tuple(cases)


def unexplainable(inp: Inputs, evaluation) -> tuple:
    """Judged query ids, worst first, that cannot be explained: an all-zero query under
    dot scores 0 against every document, so its ranked list is only the tie order (a
    cosine Index refuses it; under euclidean it is a point like any other)."""
    if inp.index.metric != "dot":
        return ()
    row_of = {q: i for i, q in enumerate(inp.query_ids)}
    return tuple(q for q in worst_first(evaluation.per_query) if not np.any(inp.Q[row_of[q]]))


def _unexplained_note(blank: tuple, rank_metric: str) -> str:
    many = len(blank) > 1
    who = f"{len(blank)} judged queries (first: {', '.join(blank[:3])}) are" if many else \
        f"Judged query {blank[0]} is"
    return (f"{who} all zeros: under dot {'each' if many else 'it'} scores "
            f"0 against every document, so its ranking is only the "
            f"tie order; counted in the metrics ({rank_metric} included) but not explained. "
            "An all-zero embedding is often an empty or failed text: embed it again")


def worst_first(per_query) -> list:
    """Query ids of a per-query metrics table, worst first: lowest first metric, ties broken
    by the other metrics in order, then by query id (the order the explained queries and
    the report's per-query table share)."""
    return sorted(per_query.index, key=lambda q: (*per_query.loc[q].tolist(), str(q)))


def group_means(inp: Inputs, evaluation) -> dict | None:
    """Group label -> mean rank metric over its queries, worst first (None: no groups)."""
    if inp.query_groups is None:
        return None
    row_of = {q: i for i, q in enumerate(inp.query_ids)}
    by_group: dict = {}
    for qid, value in evaluation.per_query[evaluation.metrics[0]].items():
        by_group.setdefault(inp.query_groups[row_of[qid]], []).append(float(value))
    return dict(sorted(((g, float(np.mean(v))) for g, v in by_group.items()),
                       key=lambda kv: kv[1]))


def _token_counts(counts: np.ndarray) -> np.ndarray:
    """Tokens per document as int64: whole numbers >= 0 (floats holding them accepted, as
    a pandas column of counts with a gap becomes float); others refused with their rows."""
    if counts.dtype.kind not in "iuf":
        raise TypeError(f"token_counts must be numbers of tokens (integers), got dtype "
                        f"{counts.dtype}")
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.floor(counts)) \
            if counts.dtype.kind == "f" else counts < 0
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"token_counts holds no token count at {V.format_rows(rows)}: "
                         f"{counts[rows[0]].item()!r}; give each document's number of "
                         "tokens, a whole number >= 0")
    return counts.astype(np.int64)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _notes(notes) -> tuple:
    """The report's notes as a tuple of strings; one string is one note (not its letters)."""
    return (notes,) if isinstance(notes, str) else tuple(str(n) for n in notes)


def _aligned(values, n: int, name: str, as_text):
    """A list of ``n`` strings (each entry through ``as_text``), or None. Texts pass
    :func:`vecdiag.results.text_or_empty`: a missing one (None, NaN from a pandas column)
    is ``""``, not the word "None" or "nan" for BM25 to match and the report to quote."""
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence with one entry per row, not one string")
    values = [as_text(v) for v in values]
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but there are {n} rows; "
                         "give one per row, in row order")
    return values
