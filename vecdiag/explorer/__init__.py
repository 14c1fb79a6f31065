"""vd.explore: an interactive map of a corpus, a query, its neighbours and every fix.

The Python side (:mod:`.session`) computes; the front-end (``explorer.js``, an anywidget
module drawing on canvas) only draws what it is sent. Without anywidget, or without a
widget front-end, the same data is shown as a static figure and tables (:mod:`.static`).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..results import NO_LABEL, shorten, text_or_empty, valid_text
from .session import Session, fix_rows, pack_points

__all__ = ["explore", "explore_explanation", "Session", "fix_rows", "pack_points", "colour_codes"]

AUTO_FAITHFULNESS = 20_000   # colour by faithfulness by default up to this many points
MAX_LABELS = 10              # label colours; rarer labels are drawn as "other"


def explore(index_or_dataset, *, queries=None, qrels=None, projection="pca", query_ids=None,
            query_texts=None, ids=None, texts=None, metric: str | None = None, k: int = 10,
            color=None, fix_report=None, random_state=0, width: int = 560, height: int = 520):
    """An interactive explorer: the corpus map, a query, its top-k and what each fix does.

    Parameters
    ----------
    index_or_dataset : vecdiag.Index, Dataset or array-like (n, d)
        The corpus. A Dataset (:func:`vecdiag.datasets.load_demo`, ``load_beir``) brings
        its ids, texts, queries, query texts and qrels; an Index its ids, texts and metric.
    queries : array-like (m, d), optional
        Query vectors (a Dataset's ``query_embeddings`` by default).
    qrels : dict, optional
        ``{query_id: {doc_id: grade}}``: the picker then lists the queries by nDCG@10,
        worst first, and each query's judged documents are marked as expected. A zero
        query under cosine (no direction) is listed last, without nDCG@10.
    projection : {"pca", "umap"} or Projection
        The 2-D map. PCA and UMAP are fitted on the corpus (unit rows under cosine); a
        Projection you built is used as is (its ``coords`` must have one row per
        document). Queries are placed with ``Projection.transform``.
    query_ids, query_texts : sequence, optional
        One per query (row numbers and no texts by default).
    ids, texts, metric : optional
        For an array corpus, as in :class:`vecdiag.Index`. A missing text (None, NaN
        from a pandas column) shows as no text, not as "None" or "nan". ``metric=None``:
        the Index's, else cosine; another metric than the Index's is refused.
    k : int, default 10
        Neighbours shown.
    color : None, "faithfulness" or sequence of labels (one per document)
        Point colours. None: faithfulness (how many of a point's 10 nearest neighbours
        the map keeps; fewer under 22 documents, as the legend says) up to 20,000
        documents, one colour above. Labels: a missing one (None, NaN) is "(no label)".
    fix_report : FixReport, optional
        From :func:`vecdiag.try_fixes` on the same queries: each explanation then carries
        its recommendation, shown first.
    width, height : int
        Size of the map in pixels.

    Returns
    -------
    Explorer widget (anywidget), or a StaticExplorer (figure and tables) when anywidget is
    not installed. Each query is explained (:func:`vecdiag.explain_neighbors`) when it is
    first picked, then cached; hovering a point fetches its text from the kernel.

    Raises
    ------
    ValueError
        Queries of another dimension, a Projection with another number of rows, qrels
        that name none of the queries, labels of the wrong length.

    Examples
    --------
    >>> import vecdiag as vd
    >>> ex = vd.explore(vd.datasets.load_demo())          # doctest: +SKIP
    >>> ex.select(3); ex.fix = "csls"                      # doctest: +SKIP
    """
    width, height = _size(width, height)
    session, codes, legend = _prepare(
        index_or_dataset, queries=queries, qrels=qrels, projection=projection,
        query_ids=query_ids, query_texts=query_texts, ids=ids, texts=texts, metric=metric, k=k,
        color=color, fix_report=fix_report, random_state=random_state)
    return _build(session, codes, legend, width, height)


def _prepare(index_or_dataset, *, queries, qrels, projection, query_ids, query_texts, ids,
             texts, metric, k, color, fix_report, random_state):
    """Check the inputs once and build the Session and the point colours."""
    from ..neighbors import Index

    index, queries, query_ids, query_texts, qrels = _resolve(
        index_or_dataset, queries, qrels, query_ids, query_texts, ids, texts, metric)
    k = V.check_k(k, len(index))
    place = _projection(projection, index, random_state)
    if not isinstance(index, Index):  # pragma: no cover - _resolve returns an Index
        raise TypeError("internal: corpus was not turned into an Index")
    session = Session(index, place, queries=queries, query_ids=query_ids,
                      query_texts=query_texts, qrels=qrels, k=k, fix_report=fix_report,
                      random_state=random_state, owned=index is not index_or_dataset)
    codes, legend = colour_codes(color, session)
    return session, codes, legend


def explore_explanation(explanation, corpus=None, *, query=None, projection="pca", **kwargs):
    """The explorer on one :class:`~vecdiag.Explanation` (``exp.explore()``).

    ``corpus`` (the Index or array the explanation searched) and ``query`` (its vector)
    are taken from the explanation when it carries them (``exp.index``,
    ``exp.query_vector``); pass them otherwise, with ``ids=`` when the explanation named
    its documents by id (an array corpus without them is refused: its rows are not the
    explanation's ids). The explanation itself is shown, not recomputed.
    """
    corpus = getattr(explanation, "index", None) if corpus is None else corpus
    query = getattr(explanation, "query_vector", None) if query is None else query
    if corpus is None or query is None:
        raise ValueError("this Explanation does not carry its corpus and query vector; pass "
                         "them: exp.explore(corpus=index, query=query_vector)")
    q = V.as_vector(query, "query")
    width, height = _size(kwargs.pop("width", 560), kwargs.pop("height", 520))
    options = {"qrels": None, "query_ids": None, "ids": None, "texts": None, "color": None,
               "fix_report": None, "random_state": 0, "metric": explanation.metric}
    unknown = set(kwargs) - set(options)
    if unknown:
        raise TypeError(f"explore() got unexpected keyword arguments {sorted(unknown)}; it "
                        f"takes corpus, query, projection, width, height and {sorted(options)}")
    options.update(kwargs)
    session, codes, legend = _prepare(
        corpus, queries=q[None, :], query_texts=[explanation.query_text or ""],
        projection=projection, k=explanation.k, **options)
    _check_names(session, explanation)
    session.preset(0, explanation)       # shown as it is, not recomputed
    return _build(session, codes, legend, width, height)


# ---------------------------------------------------------------- boundary checks
def _check_names(session, explanation) -> None:
    """The explanation's documents must be found in the corpus: an array corpus without
    ids showed an empty panel ("invalid literal for int(): 'd13'") for one by id."""
    missing = []
    for d in list(explanation.top_ids) + [e.id for e in explanation.expected]:
        try:
            held = 0 <= session.row_of(d) < len(session.index)
        except (KeyError, ValueError, TypeError):
            held = False
        if not held:
            missing.append(d)
    if missing:
        held = "no ids" if session.index.ids is None else "other ids"
        raise ValueError(f"corpus has {held}: the explanation's documents "
                         f"{', '.join(shorten(repr(d), 40) for d in missing[:3])} are not in "
                         "it; pass the ids it was explained with: exp.explore(corpus=..., "
                         "ids=...), or a vd.Index(vectors, ids=...)")


def _size(width, height) -> tuple[int, int]:
    """The map's size in pixels: positive integers (-5 drew a canvas of no size)."""
    return V.check_positive_int(width, "width"), V.check_positive_int(height, "height")


def _resolve(corpus, queries, qrels, query_ids, query_texts, ids, texts, metric):
    from ..datasets import Dataset
    from ..neighbors import Index

    if isinstance(corpus, Dataset):
        if corpus.corpus_embeddings is None:
            raise ValueError("the Dataset has no embeddings yet; embed it first "
                             "(dataset.embed(embedder)) or pass a vd.Index")
        # queries not embedded (a Dataset built with corpus_embeddings only): the map
        # alone, whose panel says how to add queries; its qrels judge no query shown
        if queries is None and qrels is None and corpus.query_embeddings is not None:
            queries, qrels = corpus.query_embeddings, corpus.qrels
            query_ids = corpus.query_ids if query_ids is None else query_ids
            query_texts = corpus.query_texts if query_texts is None else query_texts
        index = corpus.index(metric=V.check_metric(metric or "cosine"))
    elif isinstance(corpus, Index):
        if ids is not None or texts is not None:
            raise ValueError("ids and texts come from the Index; pass them when building it "
                             "(vd.Index(vectors, ids=..., texts=...)), not to explore")
        # a metric was ignored: explore(index, metric="dot") showed the Index's cosine
        V.check_index_metric(metric, corpus.metric, "explore")
        index = corpus
    else:
        index = Index(V.as_matrix(corpus, "index_or_dataset"), ids=ids, texts=texts,
                      metric=V.check_metric(metric or "cosine"))
    if queries is None:
        if qrels is not None:
            raise ValueError("qrels were given without queries; pass queries=... (one "
                             "vector per query, in the order of query_ids)")
        return index, None, None, None, None
    queries = V.as_matrix(queries, "queries")
    V.check_same_dim(queries[0], "queries", index.vectors, "corpus")
    if queries.dtype != index.vectors.dtype:
        queries = queries.astype(index.vectors.dtype)
    m = len(queries)
    query_ids = list(range(m)) if query_ids is None else \
        list(V.check_ordered(query_ids, "query_ids"))
    if len(query_ids) != m:
        raise ValueError(f"query_ids has {len(query_ids)} entries but there are {m} queries; "
                         "give one id per query row")
    if query_texts is not None:
        query_texts = [text_or_empty(t) for t in query_texts]     # (None, NaN: "")
        if len(query_texts) != m:
            raise ValueError(f"query_texts has {len(query_texts)} entries but there are {m} "
                             "queries; give one text per query row")
    if qrels is not None:
        if not isinstance(qrels, dict) or not all(isinstance(v, dict) for v in qrels.values()):
            raise TypeError("qrels must be {query_id: {doc_id: grade}} (vd.load_qrels reads "
                            "a TREC qrels file into it)")
        # judgments are found by query id: two queries of one id would share one nDCG
        V.check_ids(query_ids, m, "query_ids", rows_of="queries has")
        from ..evaluation import as_qrels

        qrels = as_qrels(qrels)   # ids as strings: matched to query_ids and ids as strings
        known = {V.id_str(q, "query_ids") for q in query_ids}
        if not any(str(q) in known for q in qrels):
            some = ", ".join(repr(q) for q in list(qrels)[:3])
            raise ValueError(f"qrels name none of the queries (qrels: {some}...; queries: "
                             f"{', '.join(repr(q) for q in query_ids[:3])}...); pass "
                             "query_ids= in the qrels' spelling")
    return index, queries, query_ids, query_texts, qrels


class _Placed:
    """A Projection and how to place new vectors on it (unit rows under cosine)."""

    def __init__(self, proj, unit: bool):
        self.proj, self.unit, self.coords = proj, unit, proj.coords

    def transform(self, Y):
        Y = np.asarray(Y, dtype=float)
        if self.unit:
            from ..linalg import normalize

            Y = normalize(Y, zero="ignore")
        return self.proj.transform(Y)


def _projection(projection, index, random_state):
    from ..projection import Projection, project

    n = len(index)
    if isinstance(projection, Projection):
        if projection.coords.shape[0] != n or projection.coords.shape[1] < 2:
            raise ValueError(f"projection has coords of shape {projection.coords.shape} but "
                             f"the corpus has {n} rows; fit it on the corpus with at least "
                             "2 components (vd.pca(vectors))")
        return _Placed(projection, unit=False)
    if projection not in ("pca", "umap"):
        raise ValueError(f"projection must be 'pca', 'umap' or a vd.Projection, got "
                         f"{projection!r}")
    X = index.vectors
    if n < 2 or X.shape[1] < 2:   # PCA's own refusal named n_components, no explore argument
        raise ValueError(f"index_or_dataset has {n} document{'s' if n != 1 else ''} of "
                         f"{X.shape[1]} dimension{'s' if X.shape[1] != 1 else ''}; the map "
                         "needs at least 2 documents of at least 2 dimensions")
    unit = index.metric == "cosine"
    if unit:
        from ..linalg import normalize

        X = normalize(X, zero="ignore")
    options = {"random_state": random_state} if projection == "umap" else {}
    return _Placed(project(X, method=projection, n_components=2, **options), unit=unit)


def colour_codes(color, session) -> tuple[bytes, list]:
    """One uint8 colour code per document and the legend's names."""
    n = len(session.index)
    if color is None:
        color = "faithfulness" if n <= AUTO_FAITHFULNESS else "none"
    if isinstance(color, str) and color == "none":
        return bytes(n), ["documents"]
    if isinstance(color, str) and color == "faithfulness":
        # faithfulness needs 1 <= k < n/2: 10 neighbours, fewer on a small corpus (the
        # legend says how many), none on two documents
        k = min(10, max(1, n // 2 - 1))
        names = ["not checked", f"keeps < 20% of its {k} neighbour{'s' if k > 1 else ''}",
                 "20-40%", "40-60%", "60-80%", "≥ 80%"]
        if n < 3:
            return bytes(n), names
        f = session.projection.proj.faithfulness(k=k, metric=session.index.metric,
                                                 show_progress=False)
        overlap = np.asarray(f.overlap, dtype=float)
        edges = [0.2, 0.4, 0.6, 0.8]
        codes = 1 + np.digitize(np.nan_to_num(overlap, nan=-1.0), edges)
        codes[np.isnan(overlap)] = 0
        return codes.astype(np.uint8).tobytes(), names
    labels = np.asarray(color, dtype=object)
    if labels.ndim != 1:
        got = repr(color) if labels.ndim == 0 else f"an array of shape {labels.shape}"
        raise ValueError(f"color must be None, 'faithfulness', 'none' or one label per "
                         f"document ({n}), got {shorten(got, 80)}")
    if len(labels) != n:
        raise ValueError(f"color has {len(labels)} labels but the corpus has {n} documents; "
                         "give one label per document, 'faithfulness' or None")
    # a missing label (None, NaN from a pandas column) is "(no label)", not a label
    # "None" / "nan" (a real label "None" stays one)
    keys = [text_or_empty(v) for v in labels]
    values, counts = np.unique(np.asarray(keys, dtype=str), return_counts=True)
    kept = list(values[np.argsort(-counts, kind="stable")][:MAX_LABELS])
    code_of = {v: i for i, v in enumerate(kept)}
    other = len(kept)
    codes = np.array([code_of.get(v, other) for v in keys], dtype=np.uint8)
    names = [valid_text(v) or NO_LABEL for v in kept] + \
        (["other"] if len(values) > len(kept) else [])
    return codes.tobytes(), names


def _build(session, codes, legend, width, height):
    try:
        __import__("anywidget")     # only whether it is installed
    except ImportError:
        from .static import StaticExplorer

        first = session.first_shown()
        try:
            view = session.view(first) if first is not None else {}
        except ValueError:          # every query a zero vector: the map alone
            view = {}
        return StaticExplorer(session=session, view=view)
    from .widget import make_widget

    return make_widget(session, colors=codes, legend=legend, width=width, height=height)
