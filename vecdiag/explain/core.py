"""explain_neighbors: validate, search, locate the expected documents, run the checks,
re-rank under each fix, and rank the causes."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..linalg import row_norms
from . import causes as C
from .contributions import per_dimension, separating_dims, top_dims
from .counterfactuals import Ranking, counterfactuals, duplicate_groups_among
from .ranking import full_scores, keys_of
from .result import ExpectedDoc, Explanation
from .stats import DEFAULT_MAX_EXACT, DEFAULT_SAMPLE, corpus_stats

__all__ = ["explain_neighbors"]

# Rows searched for copies and kept for re-ranking context: the top of the ranking down
# to the deepest expected document, at most this many.
MAX_CANDIDATES = 1_000


class _Context:
    """Everything the checks read (inputs already checked). Plain attributes."""

    def id_of(self, row):
        ids = self.index.ids
        if ids is None:
            return int(row)
        value = ids[int(row)]
        return value.item() if isinstance(value, np.generic) else value

    def name_of(self, row) -> str:
        """How a document is named in a sentence: its id ("document 15" for a numeric id),
        or "row 17" without ids."""
        if self.index.ids is None:
            return f"row {int(row)}"
        name = str(self.id_of(row))
        return f"document {name}" if name.isdigit() else name

    def rank_of(self, row) -> int:
        return int(self.base.ranks([row])[0])


def explain_neighbors(query, corpus, *, k: int = 10, expected=None, returned=None,
                      metric: str = "cosine", ids=None, texts=None, query_text=None,
                      embedder=None, attribution: bool = False, random_state=0,
                      top: int = 10, max_exact: int = DEFAULT_MAX_EXACT,
                      sample_size: int = DEFAULT_SAMPLE) -> Explanation:
    """Explain why a query's nearest neighbours are what they are, with evidence and the
    effect of each fix.

    Searches the query against the whole corpus (exact), locates every expected document
    (rank, score, gap to the k-th score, percentile among random pairs, separating
    dimensions), runs every cause check, re-ranks the corpus under each applicable fix,
    and ranks the causes by confidence.

    Parameters
    ----------
    query : array-like (d,) or str
        The query vector, or its text when ``embedder`` is given.
    corpus : array-like (n, d) or vecdiag.Index
        An Index brings its ids, texts and metric (``metric``, ``ids`` and ``texts`` are
        then not used), and keeps the corpus-wide statistics in ``index.cache``: only
        the first explanation pays for them.
    k : int, default 10
        Results the user sees, ``1 <= k <= n``.
    expected : id, int or sequence, optional
        Documents that should have been found: ids of the corpus (or row positions when
        it has no ids). Without it the top-k itself is explained (hubs, copies, margin,
        norm bias).
    returned : sequence, optional
        Ids (or positions) the production search (an ANN index, a vector database)
        actually returned; enables the ``ann_miss`` check.
    metric : {"cosine", "dot", "euclidean"}, default "cosine"
        Metric of a raw-array corpus.
    ids, texts : sequence, optional
        One per corpus row, for a raw-array corpus.
    query_text : str, optional
        The query's text (given automatically when ``query`` is a string).
    embedder : embedder, optional
        Anything :func:`vecdiag.embedders.as_embedder` accepts. With texts it enables
        ``truncation``, ``missing_prefix`` and (``attribution=True``) word occlusion.
    attribution : bool, default False
        Word-occlusion attribution of the query words (needs an embedder and query text).
    random_state : int, default 0
        Seed of every sample (random pairs, large-corpus sample).
    top : int, default 10
        Dimensions listed per document in ``contributions`` and ``separating_dims``.
    max_exact, sample_size : int
        A raw array with more than ``max_exact`` rows gets its corpus statistics from a
        sample of ``sample_size`` rows (see :mod:`vecdiag.explain.stats`).

    Returns
    -------
    Explanation

    Raises
    ------
    ValueError
        Expected or returned ids not in the corpus (listed), a query of the wrong
        dimension, k larger than the corpus, a zero query under cosine.
    TypeError
        A string query without an embedder.

    Notes
    -----
    Ranks use the library's tie rule (equal scores: lower row first) and are exact at any
    depth: the query is scored against every row (``O(n d)``) once. A cause with a fix
    counts as a *ranking* cause only when the fix's counterfactual moves a missed
    expected document toward the top-k (without ``expected``: moves the flagged documents
    out of it); otherwise it is context with confidence at most 0.3. The strength and
    effect behind each confidence are documented in :mod:`vecdiag.explain.causes` and
    stored in each cause's ``evidence``. With all expected documents already in the
    top-k, no cause is a ranking cause. The query is cast to the corpus's dtype (a
    float32 corpus is searched in float32).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 16))
    >>> X[:40] *= 20                        # 40 long documents win every dot product
    >>> q = X[200] + 0.05 * rng.normal(size=16)
    >>> exp = vd.explain_neighbors(q, X, k=5, expected=[200], metric="dot")
    >>> exp.expected[0].rank > 5, exp.causes[0].code
    (True, 'norm_bias')
    >>> cf = {c.fix: c for c in exp.counterfactuals}["cosine_metric"]
    >>> cf.expected_ranks[200]
    1
    """
    from ..neighbors import Index

    index = _resolve_corpus(corpus, metric, ids, texts)
    q, query_text, emb = _resolve_query(query, index, embedder, query_text)
    if attribution and (emb is None or not query_text):
        raise ValueError("attribution=True needs an embedder and the query's text (a string "
                         "query with embedder=..., or query_text=...)")
    n = len(index)
    k = V.check_k(k, n)
    top = V.check_positive_int(top, "top")
    max_exact = V.check_positive_int(max_exact, "max_exact", minimum=2)
    sample_size = V.check_positive_int(sample_size, "sample_size", minimum=2)
    if not (random_state is None or (isinstance(random_state, numbers.Integral)
                                     and not isinstance(random_state, bool))):
        raise TypeError(f"random_state must be an int or None, got "
                        f"{type(random_state).__name__}; explanations cache statistics by seed")
    random_state = 0 if random_state is None else int(random_state)
    expected_pos = _resolve_docs(expected, index, "expected")
    returned_pos = _resolve_docs(returned, index, "returned") if returned is not None else None
    if not isinstance(index, Index):  # pragma: no cover - _resolve_corpus returns an Index
        raise TypeError("internal: corpus was not turned into an Index")

    stats = corpus_stats(index, k, max_exact=max_exact, sample_size=sample_size,
                         random_state=random_state)
    ctx = _Context()
    ctx.index, ctx.stats, ctx.k, ctx.metric, ctx.query = index, stats, k, index.metric, q
    ctx.k_graph = stats.graph_k
    ctx.scores = full_scores(index, q[None, :])[0]
    ctx.key = keys_of(ctx.scores, index.metric)
    ctx.base = Ranking(ctx.key, k)
    ctx.top = ctx.base.top(k)
    ctx.median_key = float(np.median(ctx.key))
    ctx.query_norm = float(row_norms(q[None, :])[0])
    ctx.unit_query = q / ctx.query_norm if ctx.query_norm > 0 else q
    ctx.expected_pos = expected_pos
    ctx.expected_ranks = ctx.base.ranks(expected_pos) if expected_pos else np.array([], int)
    ctx.missed = [(p, int(r)) for p, r in zip(expected_pos, ctx.expected_ranks.tolist())
                  if r > k]
    ctx.missed.sort(key=lambda pr: pr[1])
    ctx.returned_pos = returned_pos
    ctx.model_similarity = _model_similarity(emb)

    # calibrated scores: percentile among random pairs (top-k and expected at once)
    rows = np.concatenate([ctx.top, np.asarray(expected_pos, dtype=np.int64)])
    pct = stats.percentiles(ctx.scores[rows])
    ctx.top_percentiles = pct[:k]
    ctx.expected_percentile = {int(p): float(v) for p, v in zip(expected_pos, pct[k:])}

    # counterfactuals: every applicable fix, the whole ranking each
    deepest = max([k, *ctx.expected_ranks.tolist()])
    candidates = ctx.base.top(min(n, deepest, MAX_CANDIDATES))
    ctx.duplicate_groups = duplicate_groups_among(index, candidates)
    records, ctx.rankings = counterfactuals(index, q, ctx.base, expected_pos, k=k, stats=stats,
                                            id_of=ctx.id_of, candidates=candidates,
                                            groups=ctx.duplicate_groups)
    from ..diagnostics import anisotropy, rogue_dimensions

    ctx.anisotropy = float(anisotropy(index)) if n >= 2 else None
    ctx.rogue = rogue_dimensions(index) if n >= 2 else None
    ctx.ann_recall = (_recall(returned_pos, ctx.top, ctx.scores, index.metric)
                      if returned_pos is not None else None)

    extra_checks, attribution_out = (), None
    if emb is not None or index.texts is not None:
        from .text_checks import text_checks

        extra_checks, more_records, attribution_out = text_checks(
            ctx, emb, query_text, attribution=attribution)
        records.extend(more_records)
    cause_list = C.run_checks(ctx, extra_checks)

    # per-dimension contributions of the returned and expected documents
    shown = list(dict.fromkeys([*ctx.top.tolist(), *expected_pos]))
    contrib = per_dimension(q, index.vectors[shown], index.metric, ctx.unit_query,
                            stats.unit[shown])
    row_of = {p: i for i, p in enumerate(shown)}
    contributions = {ctx.id_of(p): top_dims(contrib[row_of[p]], top) for p in shown}
    first = row_of[int(ctx.top[0])]
    expected_docs = []
    for p, r in zip(expected_pos, ctx.expected_ranks.tolist()):
        kth = ctx.scores[ctx.top[-1]]
        gap = float(ctx.scores[p] - kth) if index.metric == "euclidean" else float(kth - ctx.scores[p])
        expected_docs.append(ExpectedDoc(
            id=ctx.id_of(p), position=int(p), rank=int(r), score=float(ctx.scores[p]), gap=gap,
            percentile=ctx.expected_percentile[int(p)],
            separating_dims=separating_dims(contrib[first], contrib[row_of[p]], index.metric, top)))

    dims = [d for d, _ in contributions[ctx.id_of(ctx.top[0])]]
    if expected_docs:
        dims += [int(d) for d in expected_docs[0].separating_dims if int(d) not in dims]
    contrast = {"dims": dims}
    for p in [int(ctx.top[0]), *expected_pos]:
        contrast[ctx.id_of(p)] = [float(v) for v in contrib[row_of[p]][dims]]

    neighbors = index.search(q[None, :], k=k)
    return Explanation(
        neighbors=neighbors, causes=cause_list, expected=expected_docs,
        contributions=contributions, counterfactuals=records, k=k, metric=index.metric,
        contrast=contrast,
        top_ids=[ctx.id_of(p) for p in ctx.top], top_scores=ctx.scores[ctx.top].astype(float),
        top_percentiles=np.asarray(ctx.top_percentiles, dtype=float),
        top_texts=None if index.texts is None else [str(index.texts[p]) for p in ctx.top],
        stats=dict(stats.summary(), anisotropy=ctx.anisotropy,
                   rogue_share=None if ctx.rogue is None else float(ctx.rogue.share)),
        query_text=query_text, attribution=attribution_out)


# ---------------------------------------------------------------- boundary checks
def _resolve_corpus(corpus, metric, ids, texts):
    """The Index to search: the user's, or a temporary one around a raw array."""
    from ..neighbors import Index

    if isinstance(corpus, Index):
        if ids is not None or texts is not None:
            raise ValueError("ids and texts come from the Index; pass them when building it "
                             "(vd.Index(vectors, ids=..., texts=...)), not to explain_neighbors")
        return corpus
    V.check_metric(metric)
    matrix = V.as_matrix(corpus, "corpus")
    index = Index(matrix, ids=ids, texts=texts, metric=metric)
    index._explain_owned = True  # statistics may come from a sample (see stats.py)
    return index


def _resolve_query(query, index, embedder, query_text):
    """``(vector, query_text, embedder_or_None)``; a string query is embedded."""
    emb = None
    if embedder is not None:
        from ..embedders import as_embedder

        emb = as_embedder(embedder)
    if isinstance(query, str):
        if emb is None:
            raise TypeError("query is a string but no embedder was given; pass "
                            "embedder=... (e.g. vd.embedders.SentenceTransformerEmbedder(model)) "
                            "or embed the query yourself and pass its vector")
        query_text = query if query_text is None else query_text
        q = V.as_vector(emb.encode([query], kind="query")[0], "query")
    else:
        q = V.as_vector(query, "query")
    if query_text is not None and not isinstance(query_text, str):
        raise TypeError(f"query_text must be a string, got {type(query_text).__name__}")
    V.check_same_dim(q, "query", index.vectors, "corpus")
    if index.metric == "cosine" and not np.any(q):
        raise ValueError("query is a zero vector: it has no direction, so its cosine with "
                         "every document is undefined; check how it was embedded (an empty "
                         "text?) or search with metric='dot'")
    if q.dtype != index.vectors.dtype:
        # the corpus's dtype: a float64 query must not turn a float32 corpus into a
        # float64 copy in every search below (float32 stays float32)
        q = q.astype(index.vectors.dtype)
    return q, query_text, emb


def _resolve_docs(values, index, name: str) -> list:
    """Corpus rows of ``values`` (ids, or positions without ids), order kept, no repeats."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not np.iterable(values):
        values = [values]
    values = list(values.tolist() if isinstance(values, np.ndarray) else values)
    n = len(index)
    lookup, int_ids = None, False
    if index.ids is not None:
        cached = index.cache.get(cache_keys.explain_id_lookup())
        if cached is None or cached[0] is not index.ids:
            table = {value: row for row, value in enumerate(index.ids.tolist())}
            cached = (index.ids, table, any(isinstance(v, numbers.Integral) for v in table))
            index.cache[cache_keys.explain_id_lookup()] = cached
        _, lookup, int_ids = cached
    rows, missing = [], []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if lookup is not None and _hashable(v) and v in lookup:
            rows.append(lookup[v])
        elif (isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= v < n
              and (lookup is None or not int_ids)):
            rows.append(int(v))
        else:
            missing.append(v)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        if lookup is not None:
            some = ", ".join(repr(x) for x in index.ids[:3].tolist())
            hint = f"pass ids of the corpus (e.g. {some}) or row positions 0..{n - 1}"
        else:
            hint = f"the corpus has no ids: pass row positions 0..{n - 1} (or give ids=)"
        raise ValueError(f"{name} has {len(missing)} document{'s' if len(missing) > 1 else ''} "
                         f"not in the corpus: {shown}; {hint}")
    return list(dict.fromkeys(rows))


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _model_similarity(emb):
    """The similarity a sentence-transformers model was trained for ("cosine"/"dot")."""
    model = getattr(emb, "model", None)
    name = getattr(model, "similarity_fn_name", None)
    if name in ("dot", "dot_product"):
        return "dot"
    return name


def _recall(returned_pos, exact_top, scores, metric) -> float:
    """Share of the exact top-k found in the returned list (:func:`vecdiag.ann_recall`:
    a returned document that ties the k-th exact score counts as found)."""
    from ..neighbors import Neighbors
    from ..scores import ann_recall

    if not returned_pos:
        return 0.0
    got = np.asarray(returned_pos, dtype=np.int64)[None, :]
    want = np.asarray(exact_top, dtype=np.int64)[None, :]
    return float(ann_recall(Neighbors(indices=got, scores=scores[got], metric=metric, k=got.shape[1]),
                            Neighbors(indices=want, scores=scores[want], metric=metric,
                                      k=want.shape[1])))
