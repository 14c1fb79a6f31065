"""explain_neighbors as a short pipeline of named stages.

1. ``_inputs``: the boundary (every argument checked once) -> :class:`Inputs`.
2. ``_draft``: search the whole corpus once, corpus statistics, the expected documents'
   ranks and percentiles -> a frozen Context without counterfactuals.
3. ``_measure``: every counterfactual ranking (vector fixes, text fixes, other models)
   and the text evidence -> the final frozen Context.
4. ``_diagnose``: the registered checks (pure functions of the Context, any order),
   causes whose fix pushes the document down moved to ``ruled_out``.
5. ``_advise``: the judged-set figures of each counterfactual and the recommendation.
6. ``_assemble``: contributions, expected-document records -> :class:`Explanation`.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from ..results import text_or_empty
from ..scale.chunks import is_dask_array
from .advice import alternative_rankings, judged_fixes, recommend, rule_out, with_global_figures
from .context import Context, frozen_array, frozen_map
from .inputs import Inputs, model_similarity, recall, resolve_docs, resolve_query
from .contributions import per_dimension, separating_dims, top_dims
from .counterfactuals import DUPLICATE_THRESHOLD, Ranking, counterfactuals, duplicate_groups_among
from .ranking import full_scores, keys_of, vectors_of
from .registry import run_checks
from .explanation import Explanation
from .result import ExpectedDoc
from .stats import DEFAULT_MAX_EXACT, DEFAULT_SAMPLE, copy_frame, corpus_shape, corpus_stats
from ..stores.explain import accepts_store  # a vd.stores Store as corpus (vecdiag/stores)

__all__ = ["explain_neighbors"]

# Rows searched for copies and kept for re-ranking context: the top of the ranking down
# to the deepest expected document, at most this many.
MAX_CANDIDATES = 1_000


@accepts_store
def explain_neighbors(query, corpus, *, k: int = 10, expected=None, returned=None,
                      metric: str | None = None, ids=None, texts=None, query_text=None,
                      embedder=None, attribution: bool = False, random_state=0,
                      top: int = 10, max_exact: int = DEFAULT_MAX_EXACT,
                      sample_size: int = DEFAULT_SAMPLE, fix_report=None,
                      alternatives=None) -> Explanation:
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
    corpus : array-like (n, d), dask.array.Array or vecdiag.Index
        An Index brings its ids, texts and metric (``metric``, ``ids`` and ``texts`` are
        then not used), and keeps the corpus-wide statistics in ``index.cache``: only
        the first explanation pays for them. A Dask array (or ``vd.Index`` over one) is
        never gathered: the query is scored against every row one row block per task,
        the statistics and every counterfactual ranking are computed per block
        (:mod:`vecdiag.scale.explain`), and above ``max_exact`` rows the k-occurrence
        and first-neighbour scale are estimated from ``sample_size`` sampled rows
        (the hub cause says "about ..., estimated from N sampled rows").
    k : int, default 10
        Results the user sees, ``1 <= k <= n``.
    expected : id, int or sequence, optional
        Documents that should have been found: ids of the corpus (or row positions when
        it has no ids). Ids match as :func:`vecdiag.evaluate` matches them, by their
        string form: ``"184"`` from a qrels file names the document with id ``184``.
        Without it the top-k itself is explained (hubs, copies, margin, norm bias).
    returned : sequence, optional
        Ids (or positions) the production search (an ANN index, a vector database)
        actually returned; enables the ``ann_miss`` check.
    metric : {"cosine", "dot", "euclidean"} or None
        Metric of a raw-array corpus (None: cosine). With an Index, its own metric; a
        different one is refused.
    ids, texts : sequence, optional
        One per corpus row, for a raw-array corpus.
    query_text : str, optional
        The query's text (given automatically when ``query`` is a string).
    embedder : embedder, optional
        Anything :func:`vecdiag.embedders.as_embedder` accepts. With texts it enables
        ``truncation``, ``missing_prefix`` and (``attribution=True``) word occlusion.
    attribution : bool, default False
        Word-occlusion attribution of the query words (needs an embedder and query text).
    random_state : int, None, numpy Generator or RandomState, default 0
        Seed of every sample (random pairs, large-corpus sample). A Generator or
        RandomState gives one seed, drawn from it (advancing it, as scikit-learn draws
        from a RandomState).
    top : int, default 10
        Dimensions listed per document in ``contributions`` and ``separating_dims``.
    max_exact, sample_size : int
        A raw array (and any Dask corpus) with more than ``max_exact`` rows gets its
        corpus statistics from a sample of ``sample_size`` rows (see
        :mod:`vecdiag.explain.stats`).
    fix_report : FixReport, optional
        :func:`vecdiag.try_fixes` over the user's judged queries: each counterfactual
        gets ``global_delta`` / ``global_p`` and the recommendation leaves out fixes that
        significantly hurt the judged set (see :mod:`vecdiag.explain.advice`).
    alternatives : dict, optional
        ``{"name": (query_vector, corpus_matrix)}`` (optionally a third item, the
        metric): the same corpus embedded by another model; each adds the counterfactual
        ``"model: name"`` with the expected documents' ranks under that model.

    Returns
    -------
    Explanation

    Raises
    ------
    ValueError
        Expected or returned ids not in the corpus (listed), a query of the wrong
        dimension, k larger than the corpus, a zero query under cosine or dot (every score equal).
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
    inp = _inputs(query, corpus, k=k, expected=expected, returned=returned, metric=metric,
                  ids=ids, texts=texts, query_text=query_text, embedder=embedder,
                  attribution=attribution, random_state=random_state, top=top,
                  max_exact=max_exact, sample_size=sample_size, fix_report=fix_report,
                  alternatives=alternatives)
    ctx0 = _draft(inp)
    ctx, records = _measure(ctx0, inp)
    causes, ruled_out = _diagnose(ctx)
    records, recommendation, sentence = _advise(ctx, records, causes)
    attribution_out = None
    if inp.attribution:
        from .text_checks import attribution as word_occlusion

        attribution_out = word_occlusion(ctx, inp.embedder, inp.query_text)
    return _assemble(ctx, inp, causes=causes, ruled_out=ruled_out, records=records,
                     recommendation=recommendation, sentence=sentence,
                     attribution=attribution_out)


# ---------------------------------------------------------------- stages
def _inputs(query, corpus, *, k, expected, returned, metric, ids, texts, query_text, embedder,
            attribution, random_state, top, max_exact, sample_size, fix_report,
            alternatives) -> Inputs:
    """Stage 1: every argument checked once (errors name the argument and the fix)."""
    index, owned = _resolve_corpus(corpus, metric, ids, texts)
    if len(index) < 2:
        raise ValueError(f"corpus has {len(index)} vector; a ranking to explain needs at "
                         "least 2 documents")
    q, query_text, emb = resolve_query(query, index, embedder, query_text)
    attribution = V.check_bool(attribution, "attribution")
    if attribution and (emb is None or not query_text):
        raise ValueError("attribution=True needs an embedder and the query's text (a string "
                         "query with embedder=..., or query_text=...)")
    k = V.check_k(k, len(index))
    top = V.check_positive_int(top, "top")
    max_exact = V.check_positive_int(max_exact, "max_exact", minimum=2)
    sample_size = V.check_positive_int(sample_size, "sample_size", minimum=2)
    if isinstance(random_state, np.random.Generator):
        # statistics are cached by seed: a Generator gives one (drawn from it, as
        # scikit-learn draws from a RandomState)
        random_state = int(random_state.integers(2**31 - 1))
    elif isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(2**31 - 1))
    if not (random_state is None or (isinstance(random_state, numbers.Integral)
                                     and not isinstance(random_state, bool))):
        raise TypeError(f"random_state must be an int, None, a NumPy Generator or "
                        f"RandomState, got {type(random_state).__name__}")
    if random_state is not None:
        V.check_random_state(random_state)      # a negative seed is refused by name
    if alternatives is not None and not isinstance(alternatives, dict):
        raise TypeError('alternatives must be a dict {"name": (query_vector, corpus_matrix)}, '
                        f"got {type(alternatives).__name__}")
    expected_pos = tuple(resolve_docs(expected, index, "expected"))
    returned_pos = (tuple(resolve_docs(returned, index, "returned"))
                    if returned is not None else None)
    return Inputs(index=index, owned=owned, query=q, query_text=query_text, embedder=emb, k=k, top=top,
                   max_exact=max_exact, sample_size=sample_size,
                   random_state=0 if random_state is None else int(random_state),
                   expected_pos=expected_pos, returned_pos=returned_pos,
                   attribution=bool(attribution), judged=judged_fixes(fix_report),
                   alternatives=alternatives)


def _draft(inp: Inputs) -> Context:
    """Stage 2: the whole ranking, corpus statistics, where the expected documents are."""
    index, k, q = inp.index, inp.k, inp.query
    n = len(index)
    stats = corpus_stats(index, k, owned=inp.owned, max_exact=inp.max_exact,
                         sample_size=inp.sample_size,
                         random_state=inp.random_state)
    scores = full_scores(index, q[None, :])[0]
    key = keys_of(scores, index.metric)
    base = Ranking(key, k)
    top = base.top(k)
    expected_ranks = (base.ranks(list(inp.expected_pos)) if inp.expected_pos
                      else np.array([], dtype=np.int64))
    missed = sorted(((p, int(r)) for p, r in zip(inp.expected_pos, expected_ranks.tolist())
                     if r > k), key=lambda pr: pr[1])
    rows = np.concatenate([top, np.asarray(inp.expected_pos, dtype=np.int64)])
    pct = stats.percentiles(scores[rows])  # calibrated: percentile among random pairs
    query_norm = float(row_norms(q[None, :])[0])
    deepest = max([k, *expected_ranks.tolist()])
    candidates = base.top(min(n, deepest, MAX_CANDIDATES))
    shape = corpus_shape(index, n, k)
    frame = copy_frame(index, shape)
    stats.prefetch_copies(np.concatenate([top, np.asarray(inp.expected_pos, dtype=np.int64)]),
                          DUPLICATE_THRESHOLD, frame)
    ctx0 = Context(
        index=index, stats=stats, k=k, metric=index.metric, query=frozen_array(q),
        scores=frozen_array(scores), key=frozen_array(key), base=base, top=frozen_array(top),
        median_key=float(np.median(key)), query_norm=query_norm,
        unit_query=frozen_array(q / query_norm if query_norm > 0 else q),
        expected_pos=inp.expected_pos, expected_ranks=frozen_array(expected_ranks),
        missed=tuple(missed), returned_pos=inp.returned_pos,
        model_similarity=model_similarity(inp.embedder),
        top_percentiles=frozen_array(pct[:k]),
        expected_percentile=frozen_map({int(p): float(v)
                                        for p, v in zip(inp.expected_pos, pct[k:])}),
        duplicate_groups=tuple(duplicate_groups_among(index, candidates, frame)),
        copy_frame=frame,
        rankings=frozen_map({}), judged=frozen_map(inp.judged), **shape,
        ann_recall=None)
    if inp.returned_pos is not None:
        ctx0 = dataclasses.replace(ctx0, ann_recall=recall(list(inp.returned_pos), top,
                                                            scores, index.metric))
    return ctx0


def _measure(ctx0: Context, inp: Inputs) -> tuple[Context, list]:
    """Stage 3: every counterfactual ranking and the text evidence, frozen into the
    final Context; returns it with the Counterfactual records."""
    index = inp.index
    deepest = max([ctx0.k, *ctx0.expected_ranks.tolist()])
    candidates = ctx0.base.top(min(len(index), deepest, MAX_CANDIDATES))
    records, rankings = counterfactuals(index, ctx0.query, ctx0.base, list(ctx0.expected_pos),
                                        k=ctx0.k, stats=ctx0.stats, id_of=ctx0.id_of,
                                        candidates=candidates,
                                        groups=list(ctx0.duplicate_groups),
                                        frame=ctx0.copy_frame,
                                        centred_cosine=_shared_direction(ctx0),
                                        name_of=ctx0.name_of)
    evidence = {}
    if inp.embedder is not None or index.texts is not None:
        from .text_evidence import text_stage

        evidence, more_rankings, more_records = text_stage(ctx0, inp.embedder, inp.query_text)
        rankings.update(more_rankings)
        records.extend(more_records)
    alt_rankings, alt_records = alternative_rankings(ctx0, inp.alternatives)
    records.extend(alt_records)
    ctx = dataclasses.replace(ctx0, rankings=frozen_map(rankings),
                              alternatives=frozen_map(alt_rankings), **evidence)
    return ctx, records


def _shared_direction(ctx0: Context) -> bool:
    """Whether the corpus's directions are skewed enough for the anisotropy or
    rogue-dimension checks (a strength above 0), or (euclidean) its distances to the
    centre vary where ``metric_mismatch`` starts: under euclidean they then read the
    centred-cosine ranking (see :mod:`.counterfactuals`, :mod:`.centred`)."""
    from .direction_checks import directions_skew, lengths_vary

    return directions_skew(ctx0) > 0 or (ctx0.metric == "euclidean" and lengths_vary(ctx0))


def _diagnose(ctx: Context) -> tuple[list, list]:
    """Stage 4: every registered check; causes refuted by their own fix set apart."""
    return rule_out(ctx, run_checks(ctx))


def _advise(ctx: Context, records, causes) -> tuple:
    """Stage 5: judged-set figures per counterfactual, and the fix to try first."""
    records = with_global_figures(ctx, records)
    recommendation, sentence = recommend(ctx, records, causes)
    return records, recommendation, sentence


def _assemble(ctx: Context, inp: Inputs, *, causes, ruled_out, records, recommendation,
              sentence, attribution) -> Explanation:
    """Stage 6: per-dimension contributions and the records a person reads."""
    index, q, top, expected_pos = ctx.index, ctx.query, inp.top, list(ctx.expected_pos)
    shown = list(dict.fromkeys([*ctx.top.tolist(), *expected_pos]))
    contrib = per_dimension(q, vectors_of(index, shown), index.metric, ctx.unit_query,
                            ctx.stats.unit_of(shown))
    row_of = {p: i for i, p in enumerate(shown)}
    contributions = {ctx.id_of(p): top_dims(contrib[row_of[p]], top) for p in shown}
    first = row_of[int(ctx.top[0])]
    kth = ctx.scores[ctx.top[-1]]
    expected_docs = []
    for p, r in zip(expected_pos, ctx.expected_ranks.tolist()):
        gap = float(ctx.scores[p] - kth) if index.metric == "euclidean" else float(kth - ctx.scores[p])
        expected_docs.append(ExpectedDoc(
            id=ctx.id_of(p), position=int(p), rank=int(r), score=float(ctx.scores[p]), gap=gap,
            percentile=ctx.expected_percentile[int(p)],
            separating_dims=separating_dims(contrib[first], contrib[row_of[p]], index.metric, top),
            text=None if index.texts is None else text_or_empty(index.texts[p])))
    dims = [d for d, _ in contributions[ctx.id_of(ctx.top[0])]]
    if expected_docs:
        dims += [int(d) for d in expected_docs[0].separating_dims if int(d) not in dims]
    contrast = {"dims": dims}
    for p in [int(ctx.top[0]), *expected_pos]:
        contrast[ctx.id_of(p)] = [float(v) for v in contrib[row_of[p]][dims]]
    if recommendation is not None:  # the same record, with its judged-set figures
        recommendation = next(cf for cf in records if cf.fix == recommendation.fix)
    return Explanation(
        neighbors=index.search(q[None, :], k=ctx.k), causes=causes, expected=expected_docs,
        contributions=contributions, counterfactuals=records, k=ctx.k, metric=index.metric,
        contrast=contrast,
        top_ids=[ctx.id_of(p) for p in ctx.top], top_scores=ctx.scores[ctx.top].astype(float),
        top_percentiles=np.asarray(ctx.top_percentiles, dtype=float),
        top_texts=None if index.texts is None else [text_or_empty(index.texts[p])
                                                     for p in ctx.top],
        stats=dict(ctx.stats.summary(), anisotropy=ctx.anisotropy,
                   rogue_share=None if ctx.rogue is None else float(ctx.rogue.share)),
        query_text=inp.query_text, attribution=attribution, ruled_out=ruled_out,
        recommendation=recommendation, recommendation_text=sentence,
        index=index, query_vector=_frozen_copy(q))


def _frozen_copy(a: np.ndarray) -> np.ndarray:
    out = np.array(a, copy=True)
    out.flags.writeable = False
    return out


# ---------------------------------------------------------------- boundary checks
def _resolve_corpus(corpus, metric, ids, texts):
    """``(index, owned)``: the user's Index (owned False), or a temporary one around a raw
    array (owned True: its statistics may come from a sample, see stats.py)."""
    from ..neighbors import Index

    if metric is not None:
        V.check_metric(metric)
    if isinstance(corpus, Index):
        if ids is not None or texts is not None:
            raise ValueError("ids and texts come from the Index; pass them when building it "
                             "(vd.Index(vectors, ids=..., texts=...)), not to explain_neighbors")
        V.check_index_metric(metric, corpus.metric, "explain_neighbors")
        return corpus, False
    metric = metric or "cosine"
    if is_dask_array(corpus):  # a DaskIndex: searched and measured per row block
        return Index(corpus, ids=ids, texts=texts, metric=metric), True
    matrix = V.as_matrix(corpus, "corpus")
    return Index(matrix, ids=ids, texts=texts, metric=metric), True
