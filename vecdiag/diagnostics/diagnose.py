"""vd.diagnose: the corpus health check, every statistic turned into a Finding.

Order of work (each stage timed into ``stats["seconds"]``):

1. preflight: NaN/inf rows and zero vectors are reported and left out of the rest;
2. one streaming pass for the sums behind anisotropy, rogue dimensions, norms and the
   PCA spectrum; a second for the partition-function isotropy; a hashing pass for
   exact copies (all O(n·d), on every row, memmaps included);
3. the kNN graph through :mod:`vecdiag.neighbors` (the dominant cost, O(n²·d)) and what
   rests on it: hubness, near-duplicates, TwoNN, the norm/N_k correlation. When
   ``n > graph_sample`` these use a random sample of ``graph_sample`` items (its own
   graph; the near-copy share is then estimated from sampled rows searched against all
   n, as a graph of a sample sees a pair only when both were drawn);
   ``stats["graph_sample"]`` says so;
4. with ``queries``: the query–corpus shift.

Each step is a named stage, a function of one declared
:class:`~vecdiag.diagnostics.stages.Work` record: of :mod:`vecdiag.diagnostics.stages`
(steps 1-2) or :mod:`vecdiag.diagnostics.graph_stages` and
:mod:`vecdiag.diagnostics.copy_stages` (steps 3-4); :data:`STAGES` lists them in order. Thresholds and their justification: :mod:`vecdiag.diagnostics.rules`.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from .. import cache_keys
from .._options import COSINE, merged_options
from .._progress import inner_bars_off, progress_bar
from . import sampled_stages as P
from . import copy_stages as C
from . import graph_stages as G
from . import stages as S
from ._graph import _FLOPS
from .finding import SEVERITIES, Diagnosis, Finding
from .rogue import rogue_from_moments

__all__ = ["diagnose", "DiagnoseOptions"]

GRAPH_CHUNKS = G.GRAPH_CHUNKS


@dataclass(frozen=True)
class DiagnoseOptions:
    """How :func:`diagnose` works (its keyword arguments, grouped; same defaults).

    Examples
    --------
    >>> DiagnoseOptions(k=5).k, DiagnoseOptions().graph_sample
    (5, 100000)
    """

    k: int = 10
    metric: str = COSINE
    random_state: object = 0
    duplicate_threshold: float = 0.98
    graph_sample: int = 100_000
    backend: str | None = None
    show_progress: bool | None = None
    model_name: str | None = None
    sample: int | None = None


# The named stages, in order: (name timed in stats["seconds"] or None, function).
STAGES = (("moments", S.moments), ("isotropy", S.isotropy_stage),
          ("exact_duplicates", S.exact_copies), (None, S.metric_check),
          (None, G.knn_graph_stage), ("hubness", G.hubness_stage),
          ("near_duplicates", C.near_duplicates_stage),
          ("intrinsic_dimension", G.intrinsic_stage), (None, S.geometry_findings),
          ("query_shift", G.query_shift_stage))

# Beyond SAMPLED_ABOVE usable rows, and on a Dask corpus: the graph stages replaced by
# sampled estimates (vecdiag.diagnostics.sampled_stages); the O(n·d) ones unchanged.
SAMPLED_STAGES = (("moments", S.moments), ("isotropy", S.isotropy_stage),
                  (None, S.metric_check), (None, P.prepare_sampled),
                  ("near_duplicates", P.sampled_duplicates_stage),
                  ("hubness", P.sampled_hubness_stage),
                  ("intrinsic_dimension", P.sampled_intrinsic_stage),
                  (None, S.geometry_findings), ("query_shift", P.sampled_query_shift_stage))


def diagnose(corpus, *, queries=None, texts=None, ids=None, k: int = 10,
             metric: str = COSINE, random_state=0, duplicate_threshold: float = 0.98,
             graph_sample: int = 100_000, backend: str | None = None,
             show_progress: bool | None = None, query_ids=None,
             model_name: str | None = None, sample: int | None = None,
             options: DiagnoseOptions | None = None) -> Diagnosis:
    """Check a corpus of embeddings for the problems that make similarity search fail.

    Parameters
    ----------
    corpus : array-like (n, d), dask.array.Array (n, d) or vecdiag.Index
        The document vectors (memmaps are read in blocks). An Index brings its ids,
        texts and metric, and its cache: statistics computed here are reused later by
        ``vd.hubness(index, k)``, ``vd.explain_neighbors`` and friends. A Dask array (or
        an Index over one) is diagnosed where its blocks live: see Notes.
    queries : array-like (m, d), optional
        A query log: adds the ``query_corpus_shift`` finding.
    texts, ids : sequences, optional
        One per corpus row; shown next to hubs and duplicates in the evidence.
    k : int
        Neighbours per item in the kNN graph (reduced, with a finding, for tiny corpora).
    metric : {"cosine", "dot", "euclidean"}
        How the corpus is searched (default cosine). An Index is diagnosed under its
        own metric: naming another is an error.
    random_state : int, None or Generator
        Seed of the graph sample (only used when ``n > graph_sample``).
    duplicate_threshold : float
        Cosine at or above which two items count as near-duplicates.
    graph_sample : int
        Largest number of items the kNN graph is built on (O(n²·d) work); beyond it a
        random sample of this size is used for the graph statistics (corpora of at most
        ``SAMPLED_ABOVE`` usable rows only; beyond, see ``sample``).
    backend : {"numpy", "faiss"} or None
        Search backend for the kNN graph (same results either way); None: numpy, whose
        graph multiplies each pair of row blocks once (faiss scores every pair twice,
        about twice the time). Ignored when ``corpus`` is an Index (its own is used).
    show_progress : bool or None
        Progress bar; None shows it when the work is expected to take over 2 s.
    query_ids : sequence, optional
        One per query row: the ``query_corpus_shift`` finding names its far queries.
    model_name : str, optional
        The embedding model: the shift finding consults
        :func:`vecdiag.embedders.known_prefixes` before suggesting a prefix.
    sample : int, optional
        Rows sampled for the sampled statistics (used beyond ``SAMPLED_ABOVE`` rows and
        on a Dask corpus); None: ``DEFAULT_SAMPLE`` (10,000).
    options : DiagnoseOptions, optional
        The keyword arguments above as one object (reusable across calls); keywords
        passed as well must keep their defaults.

    Returns
    -------
    Diagnosis
        ``.findings`` most severe first (each with ``.evidence`` and its thresholds;
        equal severities: the farthest past its threshold first, then one fixed order
        of codes, the same on NumPy and Dask input), ``.stats`` every figure,
        ``_repr_html_`` a coloured table, ``plot()`` 4 panels.

    Notes
    -----
    Findings (codes): non_finite, zero_vectors, small_corpus, metric_mismatch,
    anisotropy, rogue_dimensions, norm_spread, near_duplicates, hubness,
    low_intrinsic_dimension, query_corpus_shift. Each statistic's formula and citation
    is in its own function (:func:`anisotropy`, :func:`isotropy`, :func:`hubness`,
    :func:`rogue_dimensions`, :func:`near_duplicates`, :func:`intrinsic_dimension`,
    :func:`query_corpus_shift`); the thresholds and how they were chosen in
    :mod:`vecdiag.diagnostics.rules`. Bad input never yields NaN: undefined statistics
    are None in ``stats`` and explained in a finding.

    **Per metric.** Anisotropy and rogue dimensions describe a shared offset seen from
    the origin: under euclidean, which no shared offset changes, they are context
    (severity ok, their severity under cosine in the evidence), except rogue dimensions
    seen from the corpus mean (a few dimensions holding most of the spread, which decide
    distances: evidence ``seen_from="mean"``; no finding then moves with an offset of
    every row), and near-copies are
    judged on the cosines of the centred vectors. So are they under cosine and dot when
    the corpus is anisotropic (mean cosine from the anisotropy warning on): in a narrow
    cone distinct items sit at cosine 0.98 of each other, and the fix is centring, not
    deleting them. Under dot, near-copies are compared by cosine over every pair (up to
    ``sample`` rows; estimated beyond), not read from the dot graph, whose lists of a
    short item are long items and need not hold its copy. When rogue dimensions are
    flagged, near-copies are judged with each dimension standardised (one dimension with
    30 times the others' spread made a fifth of the items look like copies). Under dot,
    the query shift reads each nearest score per unit of the query's length (scaling a
    query changes no ranking).

    **Large corpora.** Beyond ``SAMPLED_ABOVE`` = 100,000 usable rows
    (:data:`vecdiag.diagnostics.sampling.SAMPLED_ABOVE`), and always for a
    ``dask.array.Array``, the O(n²·d) kNN graph is not built: hubness and near-duplicates
    are estimated from ``sample`` rows searched against all n (O(s·n·d)), and each of
    those findings says so ("estimated from 10,000 sampled rows, 95% interval [...]");
    exact copies are still found by hashing every row, TwoNN runs on a 2,000-row sample
    and the query shift searches the queries against all n. The O(n·d) findings
    (anisotropy, isotropy, rogue dimensions, norms, metric check) stay exact. On a Dask
    corpus the preflight and the sums are one pass, one task per row block
    (:mod:`vecdiag.scale.diagnose`); ``stats["sampled"]`` and ``stats["sample"]`` say
    what was sampled. The near-duplicate finding is judged on the same figure either
    way, the share of redundant items ``Σ (group size − 1) / n``, then estimated from
    each sampled row's near-copies among its k nearest; its evidence adds the share of
    items that have a copy (``with_copy_share``: both members of a pair count).

    Examples
    --------
    >>> import vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 16)) + 3.0          # every vector shares an offset
    >>> d = vd.diagnose(X)
    >>> d.findings[0].code, d.findings[0].severity, d.findings[0].fix
    ('anisotropy', 'critical', 'center')
    """
    t_start = time.perf_counter()
    from . import sampling
    from ..scale.chunks import is_dask_array

    opts = _options(options, k=k, metric=metric, random_state=random_state,
                    duplicate_threshold=duplicate_threshold, graph_sample=graph_sample,
                    backend=backend, show_progress=show_progress, model_name=model_name,
                    sample=sample)
    w = _checked(corpus, queries, texts, ids, query_ids, opts)
    on_dask = is_dask_array(w.X)
    seconds: dict = {}
    n_graph = min(w.X.shape[0], w.graph_sample)
    d = w.X.shape[1]
    expected = n_graph ** 2 * d / _FLOPS + 4 * w.X.shape[0] * d * d / _FLOPS
    # sampled: one step per named stage (the graph's chunks do not advance the bar)
    steps = 6 if on_dask or w.X.shape[0] > sampling.SAMPLED_ABOVE else 5 + GRAPH_CHUNKS
    w.bar = progress_bar(steps, desc="diagnose", show=w.show_progress,
                         expected_seconds=expected)
    with inner_bars_off():   # the diagnose bar covers the searches it runs (none of their own)
        if on_dask:                          # preflight and moments: one pass over the blocks
            from ..scale.diagnose import preflight

            t0 = time.perf_counter()
            preflight(w)
            seconds["moments"] = time.perf_counter() - t0
            w.bar.update(1)
        else:
            S.preflight(w)
        if w.n < 2:
            w.bar.close()
            return _finish(w.findings, w.stats, w.metric, 0, seconds, t_start)
        sampled = on_dask or w.n > sampling.SAMPLED_ABOVE
        for name, stage in (SAMPLED_STAGES if sampled else STAGES):
            if stage in (G.query_shift_stage, P.sampled_query_shift_stage) and (
                    w.Q is None or w.Q.shape[0] == 0):
                continue
            if on_dask and stage is S.moments:
                continue
            t0 = time.perf_counter()
            stage(w)
            if name is not None:
                seconds[name] = time.perf_counter() - t0
                w.bar.update(1)
            if stage is G.knn_graph_stage:
                seconds["knn_graph"] = w.index.cache.get(cache_keys.knn_graph_seconds(w.k_eff),
                                                         0.0)
    w.bar.close()
    spec = w.spec
    return _finish(w.findings, w.stats, w.metric, w.k_eff, seconds, t_start,
                   k_occurrence=None if w.hub is None else w.hub.k_occurrence,
                   norms=w.m.norms,
                   contribution=rogue_from_moments(w.m, 20).contribution,
                   explained_variance_ratio=spec / spec.sum() if spec.sum() > 0 else spec)


def _options(options, **keywords) -> DiagnoseOptions:
    """The options object: as given (keywords then keep their defaults), or from keywords."""
    return merged_options(DiagnoseOptions, options, "options", **keywords)


def _checked(corpus, queries, texts, ids, query_ids, opts: DiagnoseOptions) -> S.Work:
    """The inputs checked once, as the Work record the stages share."""
    from ..neighbors import Index
    from ..neighbors.index import check_texts

    from ..scale.chunks import check_dask_matrix, compute, is_dask_array

    index_in = corpus if isinstance(corpus, Index) else None
    metric = opts.metric
    if index_in is not None:
        X, metric = index_in.vectors, V.check_index_metric(metric, index_in.metric, "diagnose")
        ids = index_in.ids if ids is None else ids
        texts = index_in.texts if texts is None else texts
    elif is_dask_array(corpus):          # checked block by block by the first pass
        V.check_metric(metric)
        X = check_dask_matrix(corpus, "corpus")
    else:
        V.check_metric(metric)
        X = V.as_matrix(corpus, "corpus", finite=False)
    if is_dask_array(queries):           # m queries: small, gathered
        queries, = compute(check_dask_matrix(queries, "queries"))
    n_all, d = X.shape
    k = V.check_positive_int(opts.k, "k")
    graph_sample = V.check_positive_int(opts.graph_sample, "graph_sample", minimum=2)
    if n_all > graph_sample and graph_sample <= k:
        # a graph of graph_sample items lists at most graph_sample - 1 neighbours each
        raise ValueError(f"graph_sample={graph_sample} is too small for k={k}: a kNN graph of "
                         f"a sample needs at least k + 1 items; use graph_sample >= {k + 1} "
                         "(or a smaller k)")
    ids = V.check_ids(ids, n_all, "ids")
    texts = check_texts(texts, n_all)           # the Index's own check (None stays None)
    Q = None
    if queries is not None:
        Q = V.as_matrix(queries, "queries")
        V.check_same_dim(Q, "queries", X, "corpus")
        query_ids = V.check_ids(query_ids, Q.shape[0], "query_ids", rows_of="queries has")
    elif query_ids is not None:     # they name query rows: without queries, nothing reads them
        raise ValueError("query_ids names query rows, but no queries were given; pass "
                         "queries=... (the query vectors) with them, or drop query_ids")
    t = opts.duplicate_threshold
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real) or not -1 < t <= 1:
        raise ValueError(f"duplicate_threshold must be a cosine in (-1, 1], got {t!r}")
    rng = V.check_random_state(opts.random_state)
    sample = None if opts.sample is None else V.check_positive_int(opts.sample, "sample",
                                                                   minimum=2)
    return S.Work(X=X, metric=metric, k=k, graph_sample=graph_sample, sample_size=sample,
                  duplicate_threshold=float(t), backend=opts.backend,
                  show_progress=opts.show_progress, model_name=opts.model_name, rng=rng,
                  ids=ids, texts=texts, Q=Q, query_ids=query_ids, index_in=index_in,
                  stats={"n_vectors": n_all, "dim": d, "metric": metric, "k_requested": k})


def _strength(f: Finding) -> float:
    """How far past its warning threshold a finding is (to order equal severities)."""
    value, limit = f.evidence.get("value"), f.evidence.get("warning_at")
    if not isinstance(value, (int, float)) or not isinstance(limit, (int, float)) or limit == 0:
        return 0.0
    ratio = value / limit
    return ratio if f.evidence.get("direction") != "below" else 1 / max(ratio, 1e-12)


# Findings of equal severity and strength in the order STAGES finds them: the sampled
# stages (a Dask corpus, or past SAMPLED_ABOVE rows) judge near-copies before hubness (the
# hubness estimate reuses the near-copy lists), and without this order the same corpus
# listed its findings in two orders. Codes not named here come after, as found.
_TIE_ORDER = {code: i for i, code in enumerate((
    "non_finite", "zero_vectors", "metric_mismatch", "small_corpus", "hubness",
    "norm_spread", "near_duplicates", "low_intrinsic_dimension"))}


def _finish(findings, stats, metric, k, seconds, t_start, **arrays) -> Diagnosis:
    seconds["total"] = time.perf_counter() - t_start
    stats["seconds"] = seconds
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings = sorted(findings, key=lambda f: (rank[f.severity], -_strength(f),
                                               _TIE_ORDER.get(f.code, len(_TIE_ORDER))))
    return Diagnosis(findings=findings, stats=stats, metric=metric, k=k, **arrays)
