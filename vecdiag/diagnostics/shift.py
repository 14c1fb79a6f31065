"""Query–corpus shift: do the queries live where the documents are?

Two views: the gap between the query mean and the corpus mean, and the share of
queries whose nearest document is farther than nearly every document's own nearest
neighbour (the corpus's typical neighbour distance).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..results import Result, html_block, html_table, result

__all__ = ["QueryShift", "query_corpus_shift", "as_distance", "shift_reading",
           "distinct_first_scores", "length_ratio"]

QUANTILE = 0.95  # a query is "far" beyond the 95th percentile of corpus NN distances
SHORT_WORDS = 15  # a document of at most this many words is "short" (e.g. a title only)
LENGTH_RATIO = 2.0  # euclidean: queries this many times longer (or shorter) than documents


def as_distance(scores: np.ndarray, metric: str, lengths=None) -> np.ndarray:
    """Scores as distances (lower is closer): 1 − cos, −dot, or the Euclidean distance.

    ``lengths`` (dot only): the searching vectors' lengths. Their dot scores are divided
    by them, ``−(q·d) / ‖q‖``: the nearest document's reach along the query's direction,
    which a query twice as long does not change (its ranking does not either).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if metric == "cosine":
        return 1.0 - scores
    if metric == "dot":
        if lengths is not None:
            lengths = np.asarray(lengths, dtype=np.float64)
            scores = scores / np.where(lengths > 0, lengths, 1.0)
        return -scores
    return scores


def distinct_first_scores(X, rows, indices, scores, rep=None) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, kept)``: the score of each row's nearest listed neighbour that is not an
    identical copy of it, for the rows ``kept`` (a boolean mask over ``rows``);
    ``indices``/``scores`` are the lists of ``rows``, nearest first. ``rep`` (optional, one
    entry per row of ``X``): each row's first identical row, from hashing
    (:func:`~.duplicates.exact_duplicate_groups`); given, copies are told by it instead of
    comparing the vectors again.

    A document whose nearest neighbour is its own copy (cosine 1, distance 0) says nothing
    about how far documents sit from each other: with copies everywhere every query would
    read as far. Rows whose whole list is copies are left out, unless nothing else is
    left (then every row, with its first column).

    Examples
    --------
    >>> X = np.array([[1.0, 0], [1.0, 0], [0.6, 0.8]])
    >>> distinct_first_scores(X, np.arange(3), np.array([[1, 2], [0, 2], [0, 1]]),
    ...                       np.array([[1.0, 0.6], [1.0, 0.6], [0.6, 0.6]]))[0]
    array([0.6, 0.6, 0.6])
    """
    from ..scale.chunks import is_dask_array

    rows, indices = np.asarray(rows), np.asarray(indices)
    rep = None if rep is None else np.asarray(rep)
    if rep is None and is_dask_array(X):     # the rows involved, gathered once
        from ..scale.block_top import gather_rows

        needed = np.unique(np.concatenate([rows, indices.ravel()]))
        values = gather_rows(X, needed)
        rows, indices = np.searchsorted(needed, rows), np.searchsorted(needed, indices)
        X = values
    first = np.full(len(rows), np.nan)
    open_rows = np.arange(len(rows))
    for c in range(indices.shape[1]):
        if not open_rows.size:
            break
        a, b = rows[open_rows], indices[open_rows, c]
        same = rep[a] == rep[b] if rep is not None else \
            np.all(np.asarray(X[a]) == np.asarray(X[b]), axis=1)
        first[open_rows[~same]] = scores[open_rows[~same], c]
        open_rows = open_rows[same]
    kept = ~np.isnan(first)
    if not kept.any():
        return np.asarray(scores[:, 0], dtype=float), np.ones(len(rows), dtype=bool)
    return first[kept], kept


@result
class QueryShift(Result):
    """Where the queries sit relative to the documents."""

    far_share: float
    """Share of queries whose nearest document is farther than ``reference``."""
    reference: float
    """The ``quantile`` of the corpus's own nearest-neighbour distances."""
    quantile: float
    """Quantile defining ``reference`` (0.95: about 5% of queries exceed it when queries
    and documents come from one distribution)."""
    mean_cosine: float
    """Cosine between the query mean and the corpus mean (in the metric's space)."""
    mean_gap: float
    """‖mean(queries) − mean(corpus)‖ divided by the corpus's RMS distance to its mean."""
    query_nn: np.ndarray
    """(m,) distance of each query to its nearest document (1 − cos for cosine)."""
    corpus_nn: np.ndarray
    """(n,) distance of each document to its nearest other document."""

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"query": np.arange(self.query_nn.size),
                             "nearest_distance": self.query_nn,
                             "far": self.query_nn > self.reference})

    def _repr_html_(self) -> str:
        rows = [["far queries", self.far_share], ["reference distance", self.reference],
                ["cos(query mean, corpus mean)", self.mean_cosine],
                ["mean gap / corpus spread", self.mean_gap]]
        return html_block("QueryShift", html_table(rows, ["statistic", "value"],
                                                   numeric={"value"}))


def length_ratio(query_lengths, document_lengths) -> float | None:
    """Median query length over median document length (None when either is 0 or there
    are none): under euclidean distance a query k times longer than the documents sits
    ``|k - 1|`` document lengths away from all of them, whatever its direction.

    Examples
    --------
    >>> length_ratio([3.0, 3.0], [1.0, 1.0, 1.2])
    3.0
    """
    q = np.asarray(query_lengths, np.float64)
    d = np.asarray(document_lengths, np.float64)
    q, d = q[np.isfinite(q) & (q > 0)], d[np.isfinite(d) & (d > 0)]
    if not q.size or not d.size:
        return None
    return float(np.median(q) / np.median(d))


def shift_reading(shift: QueryShift, *, model_name=None, query_ids=None, texts=None,
                  lengths: float | None = None) -> dict:
    """What a query/corpus shift most likely means, given what is known.

    Returns ``{"names", "advice", "fix", "evidence"}``: the farthest queries by id (or
    row), one clause of advice, the fix code to try and the figures behind them (and
    ``"where": ""`` when the reading is not that the queries live elsewhere).

    The model's documented prefixes decide the reading (:func:`vecdiag.embedders.
    known_prefixes`): a model known to use a query prefix points to ``add_prefix``; a
    model known to use none (all-MiniLM-L6-v2, gte, ...) rules it out, leaving the
    likelier reading that the corpus does not cover these questions (with texts: the
    share of documents of at most ``SHORT_WORDS`` words, e.g. records that are titles
    only); an unknown model leaves both readings open. ``lengths`` (euclidean only: the
    :func:`length_ratio` of queries to documents) beyond :data:`LENGTH_RATIO` either way
    comes first: then the queries' length alone puts them far (say, queries left
    unnormalised against unit documents), and ``normalize`` is the fix.
    """
    far = np.flatnonzero(shift.query_nn > shift.reference)
    far = far[np.argsort(-shift.query_nn[far], kind="stable")]
    label = (lambda i: str(query_ids[i])) if query_ids is not None else (lambda i: f"row {i}")
    shown = [label(i) for i in far[:5]]
    names = ("farthest: " + ", ".join(shown) + (" …" if far.size > 5 else "")) if shown \
        else "none"
    evidence = {"n_far": int(far.size), "far_queries": [label(i) for i in far[:20]],
                "model_name": model_name}
    if lengths is not None:
        evidence["query_length_ratio"] = lengths
        if not 1 / LENGTH_RATIO < lengths < LENGTH_RATIO:
            advice = (f"the queries are {max(lengths, 1 / lengths):.3g}x "
                      f"{'longer' if lengths > 1 else 'shorter'} than the documents "
                      "(median lengths): under euclidean distance their length alone puts "
                      "them far from every document, whatever they ask; normalise queries "
                      "and documents alike (fix normalize), or search by cosine.")
            return {"names": names, "advice": advice, "fix": "normalize",
                    "evidence": evidence, "where": ""}
    coverage = "the corpus does not cover these questions"
    if texts is not None and len(texts):
        from ..fixes.text import words_of   # a Chinese character counts as a word

        words = np.array([len(words_of(t)) for t in texts])
        short = float(np.mean(words <= SHORT_WORDS))
        evidence["short_document_share"] = short
        if short >= 0.1:
            coverage += (f" (e.g. {100 * short:.0f}% of the documents have at most "
                         f"{SHORT_WORDS} words, such as records that are titles only)")
    prefixes = None
    if model_name:
        from ..embedders import known_prefixes

        prefixes = known_prefixes(str(model_name))
    evidence["known_prefixes"] = prefixes
    if prefixes is not None and not prefixes["query"] and not prefixes["document"]:
        advice = (f"{model_name} uses no query or document prefix (known_prefixes: "
                  f"{prefixes['source']}), so a missing prefix does not explain it; more "
                  f"likely {coverage}: read the far queries; no vector fix adds documents "
                  "that answer them.")
        return {"names": names, "advice": advice, "fix": None, "evidence": evidence}
    if prefixes is not None:
        wanted = " and ".join(f"{kind} prefix {prefixes[key]!r}" for kind, key in
                              (("query", "query"), ("document", "document")) if prefixes[key])
        advice = (f"{model_name} expects the {wanted} ({prefixes['source']}): embed with "
                  f"them (add_prefix); otherwise {coverage}.")
        return {"names": names, "advice": advice, "fix": "add_prefix", "evidence": evidence}
    who = f"if {model_name}" if model_name else "if the model"
    advice = (f"{who} wants query/passage prefixes, add them (add_prefix; "
              f"vecdiag.embedders.known_prefixes knows many models), or {coverage}.")
    return {"names": names, "advice": advice, "fix": "add_prefix", "evidence": evidence}


def space_mean_and_spread(X: np.ndarray, unit: bool) -> tuple[np.ndarray, float]:
    from ..linalg import row_norms
    from .moments import block_rows, unit_rows

    total = np.zeros(X.shape[1])
    shifted = np.zeros(X.shape[1])
    sq, ref = 0.0, None
    step = block_rows(X.shape[1])
    for a in range(0, X.shape[0], step):
        B = np.asarray(X[a:a + step]).astype(np.float64)
        if unit:
            B = unit_rows(B, row_norms(B))
        total += B.sum(axis=0)
        # subtle: about the first row, not 0: E‖x‖² − ‖E x‖² of rows far from the origin
        # cancels (rows 1e6 + noise 1e-2: no digit left; identical rows: a spread of 7e-8)
        ref = B[0].copy() if ref is None else ref
        C = B - ref
        shifted += C.sum(axis=0)
        sq += float(np.einsum("ij,ij->", C, C))
    mean = total / X.shape[0]
    offset = shifted / X.shape[0]
    spread = float(np.sqrt(max(sq / X.shape[0] - offset @ offset, 0.0)))
    return mean, spread


def shift_from_neighbors(query_nn, corpus_nn, q_mean, c_mean, c_spread,
                         quantile: float = QUANTILE) -> QueryShift:
    """Core (inputs checked): distances to the nearest document, and the two means."""
    query_nn = np.asarray(query_nn, dtype=np.float64)
    corpus_nn = np.asarray(corpus_nn, dtype=np.float64)
    reference = float(np.quantile(corpus_nn, quantile))
    denom = float(np.linalg.norm(q_mean) * np.linalg.norm(c_mean))
    # subtle: a zero mean (perfectly balanced directions) or zero spread has no angle or
    # scale to compare with; report 0.0 rather than NaN
    mean_cos = float(np.clip(q_mean @ c_mean / denom, -1, 1)) if denom > 0 else 0.0
    gap = float(np.linalg.norm(q_mean - c_mean) / c_spread) if c_spread > 0 else 0.0
    return QueryShift(far_share=float(np.mean(query_nn > reference)), reference=reference,
                      quantile=quantile, mean_cosine=mean_cos, mean_gap=gap,
                      query_nn=query_nn, corpus_nn=corpus_nn)


def query_corpus_shift(queries, corpus, *, metric: str = "cosine",
                       quantile: float = QUANTILE) -> QueryShift:
    """How far the queries sit from the documents, against the corpus's own spacing.

    Parameters
    ----------
    queries : array-like (m, d)
    corpus : array-like (n, d) or vecdiag.Index
        At least 2 documents. With an Index its metric is used and its cached kNN
        graph, if any, is reused.
    metric : {"cosine", "dot", "euclidean"}
    quantile : float in (0, 1)

    Returns
    -------
    QueryShift

    Notes
    -----
    Distances are ``1 − cos``, ``−dot`` or Euclidean. Let ``D_c`` be each document's
    distance to its nearest other document that is not an exact copy of it (copies sit
    at distance 0 and say nothing about the corpus's spacing) and ``D_q`` each query's
    distance to its nearest document. With ``ref = quantile_q(D_c)``::

        far_share = mean(D_q > ref)

    If queries were drawn like documents, ``D_q`` would follow ``D_c`` and
    ``far_share ≈ 1 − q`` (0.05). Much more means the queries live where the corpus has
    nothing close (another domain, another language, a missing query instruction).
    ``mean_gap = ‖q̄ − c̄‖ / sqrt(E‖c − c̄‖²)`` and ``cos(q̄, c̄)`` describe the shift of
    the centre (unit rows under cosine).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> docs = rng.normal(size=(500, 8))
    >>> query_corpus_shift(docs[:50] + 0.01, docs, metric="euclidean").far_share
    0.0
    >>> query_corpus_shift(rng.normal(size=(50, 8)) + 5, docs, metric="euclidean").far_share
    1.0
    """
    from ..neighbors import Index, Neighbors

    if not (isinstance(quantile, float) and 0 < quantile < 1):
        raise ValueError(f"quantile must be a float in (0, 1), got {quantile!r}")
    index = corpus if isinstance(corpus, Index) else Index(corpus, metric=V.check_metric(metric))
    if len(index) < 2:
        raise ValueError("corpus needs at least 2 documents to measure its own neighbour "
                         "distances")
    Q = V.as_matrix(queries, "queries")
    V.check_same_dim(Q, "queries", index.vectors, "corpus")
    from ..scale.chunks import is_dask_array
    from ._graph import knn_graph
    from .duplicates import exact_duplicate_groups

    copies = [] if is_dask_array(index.vectors) else exact_duplicate_groups(index.vectors)
    rep = np.arange(len(index))
    for g in copies:
        rep[g] = g[0]
    distinct = np.flatnonzero(rep == np.arange(len(index)))
    if copies and distinct.size >= 2:
        # subtle: exact copies list each other first (distance 0), so a 1-NN graph left
        # every row of a copy group out of D_c, and a deeper graph cached by an earlier
        # call did not: the answer depended on the cache. Each row's nearest *distinct*
        # document, from the graph of the distinct rows (a copy shares its original's).
        sub = Index(np.asarray(index.vectors)[distinct], metric=index.metric)
        graph = knn_graph(sub, 1)
        at = np.searchsorted(distinct, rep)
        corpus_nn = as_distance(graph.scores[:, 0], index.metric,
                                np.asarray(index.norms)[distinct])[at]
    else:
        graph = next((v for key, v in index.cache.items() if cache_keys.is_knn_graph(key)
                      and isinstance(v, Neighbors)), None)
        if graph is None:
            graph = knn_graph(index, 1)
        first, kept = distinct_first_scores(index.vectors, np.arange(len(index)),
                                            graph.indices, graph.scores)
        corpus_nn = as_distance(first, index.metric, np.asarray(index.norms)[kept])
    query_nn = as_distance(index.search(Q, k=1).scores[:, 0], index.metric,
                           np.linalg.norm(Q, axis=1))
    unit = index.metric == "cosine"
    c_mean, c_spread = space_mean_and_spread(index.vectors, unit)
    q_mean, _ = space_mean_and_spread(Q, unit)
    return shift_from_neighbors(query_nn, corpus_nn, q_mean, c_mean, c_spread, quantile)
