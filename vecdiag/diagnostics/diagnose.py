"""vd.diagnose: the corpus health check, every statistic turned into a Finding.

Order of work (each stage timed into ``stats["seconds"]``):

1. preflight: NaN/inf rows and zero vectors are reported and left out of the rest;
2. one streaming pass for the sums behind anisotropy, rogue dimensions, norms and the
   PCA spectrum; a second for the partition-function isotropy; a hashing pass for
   exact copies (all O(n·d), on every row, memmaps included);
3. the kNN graph through :mod:`vecdiag.neighbors` (the dominant cost, O(n²·d)) and what
   rests on it: hubness, near-duplicates, TwoNN, the norm/N_k correlation. When
   ``n > graph_sample`` these use a random sample of ``graph_sample`` items (its own
   graph); ``stats["graph_sample"]`` says so;
4. with ``queries``: the query–corpus shift.

Thresholds and their justification: :mod:`vecdiag.diagnostics.rules`.
"""

from __future__ import annotations

import time

import numpy as np

from .. import _validate as V
from .. import cache_keys
from .._progress import progress_bar
from ..results import shorten
from . import rules
from ._graph import _FLOPS, knn_graph
from ._moments import block_rows, compute_moments, power_of_two_scale
from .anisotropy import anisotropy_from_moments
from .duplicates import exact_duplicate_groups, groups_from_pairs
from .finding import SEVERITIES, Diagnosis, Finding
from .hubness import hubness_from_indices
from .intrinsic import intrinsic_dimension, twonn, twonn_from_lists
from .isotropy import isoscore_from_spectrum, isotropy_from_moments, participation_ratio, spectrum
from .norms import norm_spread
from .rogue import rogue_from_moments
from .shift import as_distance, shift_from_neighbors

__all__ = ["diagnose"]

GRAPH_CHUNKS = 50


def _scan_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Row masks ``(non_finite, zero)`` and the largest finite |value|, in one pass."""
    bad = np.zeros(X.shape[0], dtype=bool)
    zero = np.zeros(X.shape[0], dtype=bool)
    peak = 0.0
    step = block_rows(X.shape[1])
    for a in range(0, X.shape[0], step):
        B = np.asarray(X[a:a + step])
        fin = np.isfinite(B)
        bad[a:a + step] = ~fin.all(axis=1)
        finite_abs = np.abs(np.where(fin, B, 0))
        zero[a:a + step] = ~(np.where(fin, B, 1) != 0).any(axis=1)
        peak = max(peak, float(finite_abs.max()))
    return bad, zero, peak


def _label(i: int, ids, texts) -> str:
    """How an item is shown in evidence: its id (or row), and the start of its text."""
    name = str(ids[i]) if ids is not None else f"row {i}"
    return f"{name}: {shorten(texts[i], 60)}" if texts is not None else name


def _pair_cosines(S: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from ..linalg import row_norms

    out = np.empty(rows.size)
    step = block_rows(S.shape[1])
    for a in range(0, rows.size, step):
        A = np.asarray(S[rows[a:a + step]]).astype(np.float64)
        B = np.asarray(S[cols[a:a + step]]).astype(np.float64)
        out[a:a + step] = np.einsum("ij,ij->i", A, B) / (row_norms(A) * row_norms(B))
    return out


def diagnose(corpus, *, queries=None, texts=None, ids=None, k: int = 10,
             metric: str = "cosine", random_state=0, duplicate_threshold: float = 0.98,
             graph_sample: int = 100_000, backend: str | None = None,
             show_progress: bool | None = None, query_ids=None,
             model_name: str | None = None) -> Diagnosis:
    """Check a corpus of embeddings for the problems that make similarity search fail.

    Parameters
    ----------
    corpus : array-like (n, d) or vecdiag.Index
        The document vectors (memmaps are read in blocks). An Index brings its ids,
        texts and metric, and its cache: statistics computed here are reused later by
        ``vd.hubness(index, k)``, ``vd.explain_neighbors`` and friends.
    queries : array-like (m, d), optional
        A query log: adds the ``query_corpus_shift`` finding.
    texts, ids : sequences, optional
        One per corpus row; shown next to hubs and duplicates in the evidence.
    k : int
        Neighbours per item in the kNN graph (reduced, with a finding, for tiny corpora).
    metric : {"cosine", "dot", "euclidean"}
    random_state : int, None or Generator
        Seed of the graph sample (only used when ``n > graph_sample``).
    duplicate_threshold : float
        Cosine at or above which two items count as near-duplicates.
    graph_sample : int
        Largest number of items the kNN graph is built on (O(n²·d) work); beyond it a
        random sample of this size is used for the graph statistics.
    backend : {"numpy", "faiss"} or None
        Search backend for the kNN graph (same results either way); None picks faiss
        when it is installed. Ignored when ``corpus`` is an Index (its own is used).
    show_progress : bool or None
        Progress bar; None shows it when the work is expected to take over 2 s.
    query_ids : sequence, optional
        One per query row: the ``query_corpus_shift`` finding names its far queries.
    model_name : str, optional
        The embedding model: the shift finding consults
        :func:`vecdiag.embedders.known_prefixes` before suggesting a prefix.

    Returns
    -------
    Diagnosis
        ``.findings`` most severe first (each with ``.evidence`` and its thresholds),
        ``.stats`` every figure, ``_repr_html_`` a coloured table, ``plot()`` 4 panels.

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

    Examples
    --------
    >>> import vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 16)) + 3.0          # every vector shares an offset
    >>> d = vd.diagnose(X)
    >>> d.findings[0].code, d.findings[0].severity, d.findings[0].fix
    ('anisotropy', 'critical', 'center')
    """
    from ..neighbors import Index

    t_start = time.perf_counter()
    seconds: dict = {}
    index_in = corpus if isinstance(corpus, Index) else None
    if index_in is not None:
        X, metric = index_in.vectors, index_in.metric
        ids = index_in.ids if ids is None else ids
        texts = index_in.texts if texts is None else texts
    else:
        V.check_metric(metric)
        X = V.as_matrix(corpus, "corpus", finite=False)
    n_all, d = X.shape
    k = V.check_positive_int(k, "k")
    graph_sample = V.check_positive_int(graph_sample, "graph_sample", minimum=2)
    ids = V.check_ids(ids, n_all, "ids")
    if texts is not None:
        texts = np.asarray(list(texts), dtype=object)
        if texts.shape[0] != n_all:
            raise ValueError(f"texts has {texts.shape[0]} entries but the corpus has "
                             f"{n_all} rows; pass one text per row")
    Q = None
    if queries is not None:
        Q = V.as_matrix(queries, "queries")
        V.check_same_dim(Q, "queries", X, "corpus")
        query_ids = V.check_ids(query_ids, Q.shape[0], "query_ids")
    rng = V.check_random_state(random_state)
    findings: list[Finding] = []
    stats: dict = {"n_vectors": n_all, "dim": d, "metric": metric, "k_requested": k}

    n_graph_est = min(n_all, graph_sample)
    expected = n_graph_est ** 2 * d / _FLOPS + 4 * n_all * d * d / _FLOPS
    bar = progress_bar(5 + GRAPH_CHUNKS, desc="diagnose", show=show_progress,
                       expected_seconds=expected)

    def stage(name, t0):
        seconds[name] = time.perf_counter() - t0
        bar.update(1)
        return time.perf_counter()

    # 1. preflight -------------------------------------------------------------------
    t0 = time.perf_counter()
    bad, zero, peak = _scan_rows(X)
    zero &= ~bad
    if bad.any():
        rows = np.flatnonzero(bad)
        findings.append(Finding("non_finite", "critical",
                                f"{V.format_rows(rows)} hold NaN or inf; they are left out "
                                "of every statistic: drop or re-embed them.",
                                {"value": int(rows.size), "rows": rows[:20].tolist()}))
    if zero.any():
        rows = np.flatnonzero(zero)
        sev = "critical" if metric == "cosine" else "warning"
        why = {"cosine": "they have no direction, so their cosine is undefined",
               "dot": "they score 0 against every query",
               "euclidean": "they all sit at the origin"}[metric]
        findings.append(Finding("zero_vectors", sev,
                                f"{V.format_rows(rows)} are zero vectors (often empty or "
                                f"failed inputs): {why}; they are left out of every "
                                "statistic.",
                                {"value": int(rows.size), "rows": rows[:20].tolist()}))
    keep = np.flatnonzero(~(bad | zero))
    W = X if keep.size == n_all else np.asarray(X[keep])
    n = W.shape[0]
    stats.update(n_used=n, n_non_finite=int(bad.sum()), n_zero=int(zero.sum()))
    if n < 2:
        bar.close()
        findings.append(Finding("small_corpus", "critical",
                                f"Only {n} usable vector(s): no pair to compare, so no "
                                "statistic can be computed; pass at least 2.", {"value": n}))
        return _finish(findings, stats, metric, 0, seconds, t_start)

    # 2. streaming statistics ----------------------------------------------------------
    space = "unit" if metric == "cosine" else "raw"
    scale = power_of_two_scale(peak)
    m = compute_moments(W, space=space, scale=scale)
    t0 = stage("moments", t0)
    mean_cos = anisotropy_from_moments(m)
    iso = isotropy_from_moments(W, m)
    spec = spectrum(m)
    iscore = isoscore_from_spectrum(spec) if d >= 2 else None
    pr = participation_ratio(spec)
    rogue = rogue_from_moments(m, rules.rogue_top(d))
    t0 = stage("isotropy", t0)
    stats.update(anisotropy=mean_cos, isotropy=iso, isoscore=iscore, participation_ratio=pr,
                 rogue_share=rogue.share, rogue_dims=[int(j) for j in rogue.dims])
    exact = exact_duplicate_groups(W)
    exact_redundant = sum(len(g) - 1 for g in exact)
    rep = np.arange(n)
    for g in exact:
        rep[g] = g[0]
    n_distinct = n - exact_redundant
    t0 = stage("exact_duplicates", t0)
    stats.update(n_distinct=n_distinct, exact_duplicate_rows=exact_redundant)

    norms_all = m.norms
    if metric == "dot":
        cv = norm_spread(norms_all).cv
        if np.any(np.abs(norms_all - 1) > rules.THRESHOLDS["metric_mismatch"]["unit_tolerance"]):
            sev = "warning" if cv >= rules.THRESHOLDS["metric_mismatch"]["min_cv"] else "ok"
            findings.append(Finding(
                "metric_mismatch", sev,
                "Vectors are not unit length but are searched by dot product: "
                + ("their lengths (cv %.3f) take part in every score; normalise them or "
                   "search by cosine." % cv if sev == "warning" else
                   "their lengths are equal, so dot ranks like cosine."),
                {"value": cv, "min_norm": float(norms_all.min()),
                 "max_norm": float(norms_all.max()), **rules.THRESHOLDS["metric_mismatch"]},
                "cosine_metric" if sev == "warning" else None))

    # 3. kNN graph and what rests on it --------------------------------------------------
    k_eff = min(k, n - 1)
    if k_eff < k:
        findings.append(Finding("small_corpus", "warning",
                                f"Only {n} usable vectors, fewer than k + 1 = {k + 1}: the "
                                f"kNN graph uses k = {k_eff}.", {"value": n, "k_used": k_eff}))
    sample = None
    if n > graph_sample:
        sample = np.sort(rng.choice(n, size=graph_sample, replace=False))
        stats["graph_sample"] = graph_sample
    G = W if sample is None else np.asarray(W[sample])
    # subtle: rankings under cosine, dot and Euclidean do not change when every vector
    # is divided by one positive number; vectors near 1e200 (or 1e-200) are divided by
    # a power of two (exact) so that scores cannot overflow (or underflow)
    rescale = scale if not 2.0 ** -60 < peak < 2.0 ** 60 else 1.0
    if rescale != 1.0:
        G = G / rescale
        Q = None if Q is None else Q / rescale
    g_rows = np.arange(G.shape[0]) if sample is None else sample   # graph row -> W row
    if index_in is not None and sample is None and keep.size == n_all and rescale == 1.0:
        index = index_in
    else:
        index = Index(G, metric=metric, backend=_backend(backend))
    graph = knn_graph(index, k_eff, show_progress=show_progress, chunks=GRAPH_CHUNKS, bar=bar)
    t0 = time.perf_counter()
    seconds["knn_graph"] = index.cache.get(cache_keys.knn_graph_seconds(k_eff), 0.0)
    original = keep[g_rows]                                         # graph row -> input row
    hub = hubness_from_indices(graph.indices, G.shape[0], k_eff, metric, "corpus")
    index.cache.setdefault(cache_keys.k_occurrence(k_eff), hub.k_occurrence)
    index.cache.setdefault(cache_keys.hubness(k_eff), hub)
    spread = norm_spread(norms_all, None)
    corr = norm_spread(norms_all[g_rows], hub.k_occurrence).k_occurrence_corr
    spread = type(spread)(**{**spread.__dict__, "k_occurrence_corr": corr})
    stats.update(k=k_eff, hubness_skewness=hub.skewness, robinhood=hub.robinhood,
                 hub_share=hub.hubs.size / G.shape[0], antihub_share=hub.antihubs.size / G.shape[0],
                 norm_cv=spread.cv, norm_mean=spread.mean, spearman_norm_k_occurrence=corr)
    hub_examples = [f"{_label(original[i], ids, texts)} (N_k={int(hub.k_occurrence[i])})"
                    for i in hub.hubs[:5]]
    graph_ok = n_distinct > k_eff
    if graph_ok:
        findings.append(rules.hubness_finding(hub, corr, metric, hub_examples))
    else:
        findings.append(Finding("hubness", "ok",
                                f"Not judged: only {n_distinct} distinct vector(s) for "
                                f"k = {k_eff} neighbours, so the lists are decided by ties "
                                "between copies.", {"value": hub.skewness,
                                                    "n_distinct": n_distinct, "k": k_eff}))
    findings.append(rules.norm_finding(spread, metric))
    t0 = stage("hubness", t0)

    # near duplicates: pairs among each item's k nearest, plus every exact copy
    r_idx = np.repeat(np.arange(G.shape[0]), k_eff)
    c_idx = graph.indices.ravel()
    cos = graph.scores.ravel().astype(np.float64) if metric == "cosine" else \
        _pair_cosines(G, r_idx, c_idx)
    close = cos >= duplicate_threshold
    groups = groups_from_pairs(n, g_rows[r_idx[close]], g_rows[c_idx[close]], exact)
    groups = [[int(keep[i]) for i in g] for g in groups]
    dup_examples = [" = ".join(_label(i, ids, texts) for i in g[:3]) + (" …" if len(g) > 3 else "")
                    for g in groups[:3]]
    source = "kNN graph" + (f" of a {graph_sample}-item sample" if sample is not None else "") \
        + " + exact hashing of every row"
    findings.append(rules.duplicates_finding(groups, n, exact_redundant, duplicate_threshold,
                                             dup_examples, source))
    stats.update(near_duplicate_groups=len(groups),
                 near_duplicate_share=sum(len(g) - 1 for g in groups) / n)
    t0 = stage("near_duplicates", t0)

    # intrinsic dimension
    note, twonn_value = "", None
    try:
        if metric == "dot":
            twonn_value = intrinsic_dimension(G, metric="euclidean", sample=min(2000, G.shape[0]),
                                              random_state=rng)
            note = "TwoNN on the raw vectors (Euclidean), 2000-point sample"
        else:
            r1, r2, skipped = twonn_from_lists(G, graph.indices, np.arange(G.shape[0]),
                                               rep[g_rows], metric == "cosine")
            twonn_value = twonn(r1, r2)
            geometry = "chord distance of unit vectors" if metric == "cosine" else "Euclidean"
            note = (f"TwoNN from the kNN graph ({geometry}); "
                    f"{exact_redundant} exact copies merged; {skipped} items without two "
                    "distinct neighbours skipped")
    except ValueError as err:
        note = str(err)
    stats.update(intrinsic_dimension=twonn_value)
    findings.append(rules.intrinsic_finding(twonn_value, pr, d, exact_redundant, note))
    t0 = stage("intrinsic_dimension", t0)

    rogue_f = rules.rogue_finding(rogue, d)
    findings.append(rules.anisotropy_finding(mean_cos, iso, iscore))
    findings.append(rogue_f)

    # 4. queries ------------------------------------------------------------------------
    if Q is not None and Q.shape[0] > 0:
        from .shift import _space_mean_and_spread

        q_res = index.search(Q, k=k_eff)
        q_nn = as_distance(q_res.scores[:, 0], metric)
        q_hub = hubness_from_indices(q_res.indices, G.shape[0], k_eff, metric, "queries")
        c_nn = as_distance(graph.scores[:, 0], metric)
        c_mean = m.sum_space / n
        c_spread = float(np.sqrt(max(np.trace(m.gram) / n - c_mean @ c_mean, 0.0)))
        if metric != "cosine":                 # raw sums are of X / m.scale; Q of X / rescale
            c_spread, c_mean = c_spread * m.scale / rescale, c_mean * m.scale / rescale
        q_mean, _ = _space_mean_and_spread(Q, metric == "cosine")
        shift = shift_from_neighbors(q_nn, c_nn, q_mean, c_mean, c_spread)
        source = (f"a {G.shape[0]}-document sample" if sample is not None
                  else f"all {G.shape[0]} documents")
        findings.append(rules.shift_finding(
            shift, Q.shape[0], model_name=model_name, query_ids=query_ids,
            texts=texts if texts is None or keep.size == n_all else texts[keep],
            corpus_source=source))
        stats.update(query_far_share=shift.far_share, query_mean_cosine=shift.mean_cosine,
                     query_mean_gap=shift.mean_gap, query_hubness_skewness=q_hub.skewness,
                     query_antihub_share=q_hub.antihubs.size / G.shape[0])
        t0 = stage("query_shift", t0)
    bar.close()
    return _finish(findings, stats, metric, k_eff, seconds, t_start,
                   k_occurrence=hub.k_occurrence, norms=norms_all,
                   contribution=rogue_from_moments(m, 20).contribution,
                   explained_variance_ratio=spec / spec.sum() if spec.sum() > 0 else spec)


def _backend(backend: str | None) -> str:
    """The search backend: as given, or faiss when importable (None)."""
    if backend is not None:
        return V.check_choice(backend, "backend", ("numpy", "faiss"))
    try:
        import faiss  # noqa: F401
    except ImportError:
        return "numpy"
    return "faiss"


def _strength(f: Finding) -> float:
    """How far past its warning threshold a finding is (to order equal severities)."""
    value, limit = f.evidence.get("value"), f.evidence.get("warning_at")
    if not isinstance(value, (int, float)) or not isinstance(limit, (int, float)) or limit == 0:
        return 0.0
    ratio = value / limit
    return ratio if f.evidence.get("direction") != "below" else 1 / max(ratio, 1e-12)


def _finish(findings, stats, metric, k, seconds, t_start, **arrays) -> Diagnosis:
    seconds["total"] = time.perf_counter() - t_start
    stats["seconds"] = seconds
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings = sorted(findings, key=lambda f: (rank[f.severity], -_strength(f)))
    return Diagnosis(findings=findings, stats=stats, metric=metric, k=k, **arrays)
