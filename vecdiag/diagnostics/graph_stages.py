"""The stages of :func:`vecdiag.diagnose` that read the kNN graph of the corpus.

:func:`knn_graph_stage` builds it (through the Index's engine, of a sample beyond
``graph_sample``); :func:`hubness_stage`, :func:`near_duplicates_stage`,
:func:`intrinsic_stage` and :func:`query_shift_stage` read it. Like the one-pass stages of
:mod:`.stages`, each is a function of the :class:`~.stages.Work` record.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from . import rules
from ._graph import knn_graph
from .duplicates import groups_from_pairs
from .finding import Finding
from .hubness import hubness_from_indices
from .intrinsic import intrinsic_dimension, twonn, twonn_from_lists, twonn_median
from .moments import block_rows
from .norms import norm_spread
from .shift import (as_distance, distinct_first_scores, shift_from_neighbors,
                    space_mean_and_spread)
from .stages import Work, rogue_flagged

__all__ = ["neighbour_rows", "knn_graph_stage", "hubness_stage", "near_duplicates_stage",
           "whole_corpus_duplicates", "intrinsic_stage", "query_shift_stage", "pair_cosines",
           "row_lengths", "centred_spread", "standardised", "judged_against_chance"]

GRAPH_CHUNKS = 50


def neighbour_rows(w: Work, rows, uses: str):
    """Set up a neighbour search of ``rows``: ``w.k_eff``, ``w.rescale`` (and ``w.Q``
    rescaled alike); returns ``rows`` rescaled.

    A corpus of ``n <= k`` rows gives each row at most ``n - 1`` neighbours: ``w.k_eff``
    is ``min(k, n - 1)``, with a ``small_corpus`` warning ending "``uses`` k = ...".
    Shared by :func:`knn_graph_stage` and
    :func:`vecdiag.diagnostics.sampled_stages.prepare_sampled`.
    """
    w.k_eff = min(w.k, w.n - 1)
    if w.k_eff < w.k:
        w.findings.append(Finding("small_corpus", "warning",
                                  f"Only {w.n} usable vectors, fewer than k + 1 = {w.k + 1}: "
                                  f"{uses} k = {w.k_eff}.",
                                  {"value": w.n, "k_used": w.k_eff}))
    # subtle: rankings under dot and Euclidean do not change when every vector is
    # divided by one positive number; vectors near 1e200 (or 1e-200) are divided by a
    # power of two (exact) so that scores cannot overflow (or underflow). Cosine scores
    # unit rows whatever the lengths, and a common divisor would only push the shortest
    # rows of a corpus spanning a wide range of lengths to zero (float32: 1e-40 next to
    # 1e30), which cosine must refuse.
    huge_or_tiny = not 2.0 ** -60 < w.peak < 2.0 ** 60
    w.rescale = w.m.scale if huge_or_tiny and w.metric != "cosine" else 1.0
    if w.rescale == 1.0:
        return rows
    # in float64: a float32 corpus divided in float32 would lose its shortest rows to zero
    w.Q = None if w.Q is None else np.asarray(w.Q, np.float64) / w.rescale
    return np.asarray(rows, np.float64) / w.rescale


def knn_graph_stage(w: Work) -> None:
    """The kNN graph (through the Index's engine), of a sample beyond ``graph_sample``."""
    from ..neighbors import Index

    if w.n > w.graph_sample:
        w.sample = np.sort(w.rng.choice(w.n, size=w.graph_sample, replace=False))
        w.stats["graph_sample"] = w.graph_sample
    G = w.G = neighbour_rows(w, w.W if w.sample is None else np.asarray(w.W[w.sample]),
                             "the kNN graph uses")
    w.g_rows = np.arange(G.shape[0]) if w.sample is None else w.sample
    if (w.index_in is not None and w.sample is None and w.keep.size == w.X.shape[0]
            and w.rescale == 1.0):
        w.index = w.index_in
    else:
        w.index = Index(G, metric=w.metric, backend=_backend(w.backend))
    w.graph = knn_graph(w.index, w.k_eff, show_progress=w.show_progress, chunks=GRAPH_CHUNKS,
                        bar=w.bar)


def hubness_stage(w: Work) -> None:
    """Hubness from the graph, and the norm spread with its N_k correlation."""
    hub = w.hub = hubness_from_indices(w.graph.indices, w.G.shape[0], w.k_eff, w.metric,
                                       "corpus")
    w.index.cache.setdefault(cache_keys.k_occurrence(w.k_eff), hub.k_occurrence)
    w.index.cache.setdefault(cache_keys.hubness(w.k_eff), hub)
    norms_all = w.m.norms
    spread = norm_spread(norms_all, None)
    corr = norm_spread(norms_all[w.g_rows], hub.k_occurrence).k_occurrence_corr
    spread = type(spread)(**{**spread.__dict__, "k_occurrence_corr": corr})
    n_graph = w.G.shape[0]
    w.stats.update(k=w.k_eff, hubness_skewness=hub.skewness, robinhood=hub.robinhood,
                   hub_share=hub.hubs.size / n_graph, antihub_share=hub.antihubs.size / n_graph,
                   norm_cv=spread.cv, norm_mean=spread.mean, spearman_norm_k_occurrence=corr)
    # graph row -> used row (w.label maps a used row to its input id)
    hub_examples = [f"{w.label(int(w.g_rows[i]))} (N_k={int(hub.k_occurrence[i])})"
                    for i in hub.hubs[:5]]
    # how much longer the hubs are than the typical item: a rank correlation over all
    # items misses it when most lengths tie (5% of documents 1.5x longer: Spearman 0.18,
    # though 64 of 65 hubs are those long ones)
    g_norms = np.asarray(norms_all, np.float64)[w.g_rows]
    typical = float(np.median(g_norms))
    hub_length = (float(np.median(g_norms[hub.hubs])) / typical
                  if hub.hubs.size and typical > 0 else None)
    w.stats.update(hub_length_ratio=hub_length)
    if w.n_distinct > w.k_eff:
        finding = rules.hubness_finding(hub, corr, w.metric, hub_examples, hub_length)
        copies = {int(i) for g in w.exact for i in g}
        from_copies = (float(np.mean([int(w.g_rows[h]) in copies for h in hub.hubs]))
                       if hub.hubs.size else 0.0)
        if finding.severity != "ok" and from_copies >= 0.5:
            # exact copies are each other's nearest neighbours: they become the "hubs",
            # and removing the copies, not re-ranking, is the fix
            finding = Finding("hubness", finding.severity,
                              finding.summary.rstrip(".") + f"; {100 * from_copies:.0f}% of "
                              "the hubs are exact copies of other rows, which list each "
                              "other first: deduplicate before re-ranking.",
                              dict(finding.evidence, hubs_from_copies=from_copies),
                              "deduplicate")
        w.findings.append(finding)
    else:
        w.findings.append(Finding("hubness", "ok",
                                  f"Not judged: only {w.n_distinct} distinct vector(s) for "
                                  f"k = {w.k_eff} neighbours, so the lists are decided by "
                                  "ties between copies.",
                                  {"value": hub.skewness, "n_distinct": w.n_distinct,
                                   "k": w.k_eff}))
    centred = centred_spread(w) if w.metric == "euclidean" else None
    w.findings.append(rules.norm_finding(spread, w.metric, hub_length, centred))


def near_duplicates_stage(w: Work) -> None:
    """Near-copies: pairs among each item's k nearest, plus every exact copy.

    Two cases search by cosine over the whole corpus instead of reading the graph's pairs:
    under dot, where the k largest products of a short item are long items and its own
    copy need not be among them, every pair is compared (:func:`vecdiag.near_duplicates`)
    up to ``sample`` rows, beyond which the share is estimated from sampled rows; and a
    graph of a sample (``n > graph_sample``), which sees a pair only when both were drawn,
    estimates the share from sampled rows searched against all n.
    """
    # Cosines of the centred vectors where a shared direction makes distinct items look
    # alike from the origin: under euclidean (no shared offset changes a distance; the raw
    # cosines of a cloud moved far from the origin are all near 1), and under cosine or dot
    # when the corpus is anisotropic (a narrow cone: distinct documents at cosine 0.98,
    # whose fix is centring, not deleting them). Copies stay copies once centred.
    cone = (w.metric != "euclidean" and w.mean_cos is not None
            and w.mean_cos >= rules.THRESHOLDS["anisotropy"]["warning"])
    centred = w.metric == "euclidean" or cone
    estimate = found = None
    if w.metric == "dot" or w.sample is not None:
        found = whole_corpus_duplicates(w, cone)
        if found is None or hasattr(found, "redundant_share"):
            estimate = found
            groups = _graph_groups(w, cone)
        else:
            groups = [[int(i) for i in g] for g in found]
    else:
        groups = _graph_groups(w, cone)
    examples = [" = ".join(w.label(i) for i in g[:3])          # used rows -> their ids
                + (" …" if len(g) > 3 else "") for g in groups[:3]]
    groups = [[int(w.keep[i]) for i in g] for g in groups]      # input rows
    how = (" (cosine with each dimension standardised: rogue dimensions decide the raw "
           "ones)" if rogue_flagged(w) else " (cosine of the centred vectors)" if centred
           else "")
    if estimate is not None:
        source = (f"{estimate.sample:,} sampled rows against all {w.n:,}"
                  f"{how or ' by cosine'}; "
                  "groups from the kNN graph" + (f" of a {w.graph_sample}-item sample"
                                                 if w.sample is not None else "")
                  + " + exact hashing of every row")
    elif w.metric == "dot" and found is not None:
        source = f"every pair{how or ' by cosine'} + exact hashing of every row"
    else:
        source = "kNN graph + exact hashing of every row" + how
    finding = rules.duplicates_finding(groups, w.n, w.exact_redundant,
                                       w.duplicate_threshold, examples, source, estimate)
    w.findings.append(judged_against_chance(w, finding))
    w.stats.update(near_duplicate_groups=len(groups),
                   near_duplicate_share=(sum(len(g) - 1 for g in groups) / w.n
                                         if estimate is None
                                         else float(estimate.redundant_share)))
    if estimate is not None:
        w.stats.update(near_duplicate_share_ci=list(estimate.redundant_share_ci))


def judged_against_chance(w: Work, finding: Finding) -> Finding:
    """``finding`` (near-duplicates), or only its exact copies judged when random
    directions in this dimension already fall within the threshold of each other
    (:func:`.rules.chance_near_copies`; ``stats["near_copies_by_chance"]``)."""
    d = w.W.shape[1]
    chance = rules.chance_near_copies(w.n, d, w.duplicate_threshold)
    w.stats.update(near_copies_by_chance=chance)
    if chance < rules.CHANCE_COPIES:
        return finding
    return rules.near_copies_by_chance(finding, chance, w.n, d, w.exact_redundant)


def _graph_groups(w: Work, cone: bool) -> list:
    """Groups (used rows) of the graph's pairs at cosine ≥ the threshold, and exact copies."""
    r_idx = np.repeat(np.arange(w.G.shape[0]), w.k_eff)
    c_idx = w.graph.indices.ravel()
    if rogue_flagged(w):
        base = w.index.unit_rows if (w.metric == "cosine" or cone) else w.G
        cos = pair_cosines(standardised(base, w.metric == "euclidean" or cone), r_idx, c_idx)
    elif w.metric == "euclidean":
        cos = pair_cosines(w.G, r_idx, c_idx, w.G.mean(axis=0, dtype=np.float64))
    elif cone:
        center = w.m.sum_unit / w.n                        # the mean unit row
        cos = pair_cosines(w.index.unit_rows, r_idx, c_idx, center)
    elif w.metric == "cosine":
        cos = w.graph.scores.ravel().astype(np.float64)
    else:
        cos = pair_cosines(w.G, r_idx, c_idx)
    close = cos >= w.duplicate_threshold
    return groups_from_pairs(w.n, w.g_rows[r_idx[close]], w.g_rows[c_idx[close]], w.exact)


def whole_corpus_duplicates(w: Work, cone: bool):
    """Near-copies among all ``w.n`` used rows by cosine (:func:`vecdiag.near_duplicates`):
    every pair compared when the graph covers every row and ``n`` is at most the
    ``sample`` size (groups of used rows), else the redundant share estimated from that
    many sampled rows, each searched against all. Judged on the cosines the graph stage
    judges: of the centred vectors under euclidean and in a cone, of the raw ones otherwise.
    """
    from .duplicates import near_duplicates
    from .sampling import DEFAULT_SAMPLE, check_sample

    X = np.asarray(w.W)
    if w.rescale != 1.0:
        X = np.asarray(X, np.float64) / w.rescale
    sample = check_sample(DEFAULT_SAMPLE if w.sample_size is None else w.sample_size,
                          w.n, "sample")
    if w.sample is None and w.n <= sample:
        sample = None
    if rogue_flagged(w):
        if w.metric == "cosine" or cone:
            lengths = row_lengths(X)
            X = X / np.where(lengths > 0, lengths, 1)[:, None].astype(X.dtype)
        centred = standardised(X, w.metric == "euclidean" or cone)
    elif w.metric == "euclidean":
        centred = X - X.mean(axis=0, dtype=np.float64).astype(X.dtype)
    elif cone:
        lengths = row_lengths(X)
        unit = X / np.where(lengths > 0, lengths, 1)[:, None].astype(X.dtype)
        centred = unit - (w.m.sum_unit / w.n).astype(X.dtype)
    else:
        centred = None
    if centred is not None:
        try:
            return near_duplicates(centred, threshold=w.duplicate_threshold, sample=sample,
                                   random_state=w.rng, show_progress=False)
        except ValueError:      # a row at the centre itself has no direction from it
            pass
    try:
        return near_duplicates(X, threshold=w.duplicate_threshold, sample=sample,
                               random_state=w.rng, show_progress=False)
    except ValueError:          # lengths too far apart for float32 cosines: the graph's
        return None             # own pairs stand


def standardised(S: np.ndarray, centre: bool) -> np.ndarray:
    """``S`` (less its mean when ``centre``) with each dimension divided by its root mean
    square: the rows on which near-copies are judged when rogue dimensions decide every
    cosine. A pair of copies stays a pair of copies; two items alike only in the rogue
    dimensions no longer look alike. (A new array, in ``S``'s float type or float32.)"""
    from ..scale.chunks import is_dask_array

    dtype = np.result_type(S.dtype, np.float32)
    if is_dask_array(S):                # two passes over the chunks; the result stays lazy
        S = S.astype(dtype)
        mean = (np.asarray(S.mean(axis=0, dtype=np.float64).compute()) if centre
                else np.zeros(S.shape[1]))
        rms = np.sqrt(np.asarray((((S - mean) ** 2).mean(axis=0)).compute(), np.float64))
    else:
        mean = (np.asarray(S.mean(axis=0, dtype=np.float64)) if centre
                else np.zeros(S.shape[1]))
        sq = np.zeros(S.shape[1])
        step = block_rows(S.shape[1])
        for a in range(0, S.shape[0], step):
            B = np.asarray(S[a:a + step], np.float64) - mean
            sq += np.einsum("ij,ij->j", B, B)
        rms = np.sqrt(sq / max(S.shape[0], 1))
    scale = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 1.0)
    out = (S - mean.astype(dtype)) * scale.astype(dtype)
    return out.astype(dtype) if is_dask_array(out) else np.asarray(out, dtype)


def intrinsic_stage(w: Work) -> None:
    """TwoNN intrinsic dimension, from the graph (or a sample under dot)."""
    note, value, median_value = "", None, None
    try:
        if w.metric == "dot":
            value = intrinsic_dimension(w.G, metric="euclidean",
                                        sample=min(2000, w.G.shape[0]), random_state=w.rng)
            note = "TwoNN on the raw vectors (Euclidean), 2000-point sample"
        else:
            r1, r2, skipped = twonn_from_lists(w.G, w.graph.indices, np.arange(w.G.shape[0]),
                                               w.rep[w.g_rows], w.metric == "cosine")
            value = twonn(r1, r2)
            median_value = twonn_median(r1, r2)
            geometry = "chord distance of unit vectors" if w.metric == "cosine" else "Euclidean"
            note = (f"TwoNN from the kNN graph ({geometry}); "
                    f"{w.exact_redundant} exact copies merged; {skipped} items without two "
                    "distinct neighbours skipped")
    except ValueError as err:
        note = str(err)
    w.stats.update(intrinsic_dimension=value)
    w.findings.append(rules.intrinsic_finding(value, w.pr, w.W.shape[1], w.exact_redundant,
                                              note, median_value))


def query_shift_stage(w: Work) -> None:
    """With queries: how far they sit from the corpus (query–corpus shift)."""
    Q, m, metric, n_graph = w.Q, w.m, w.metric, w.G.shape[0]
    q_res = w.index.search(Q, k=w.k_eff)
    dot = metric == "dot"            # dot: scores per unit of the searching vector's length
    q_nn = as_distance(q_res.scores[:, 0], metric,
                       np.linalg.norm(np.asarray(Q, np.float64), axis=1) if dot else None)
    q_hub = hubness_from_indices(q_res.indices, n_graph, w.k_eff, metric, "queries")
    # each document's nearest neighbour that is not its own copy (copies sit at 0)
    first, kept = distinct_first_scores(w.G, np.arange(n_graph), w.graph.indices,
                                        w.graph.scores, rep=w.rep[w.g_rows])
    c_nn = as_distance(first, metric, row_lengths(w.G)[kept] if dot else None)
    c_mean = m.sum_space / w.n
    c_spread = float(np.sqrt(max(np.trace(m.gram) / w.n - c_mean @ c_mean, 0.0)))
    if metric != "cosine":                 # raw sums are of X / m.scale; Q of X / rescale
        c_spread, c_mean = c_spread * m.scale / w.rescale, c_mean * m.scale / w.rescale
    q_mean, _ = space_mean_and_spread(Q, metric == "cosine")
    shift = shift_from_neighbors(q_nn, c_nn, q_mean, c_mean, c_spread)
    source = (f"a {n_graph}-document sample" if w.sample is not None
              else f"all {n_graph} documents")
    texts = w.texts if w.texts is None or w.keep.size == w.X.shape[0] else w.texts[w.keep]
    w.findings.append(rules.shift_finding(shift, Q.shape[0], model_name=w.model_name,
                                          query_ids=w.query_ids, texts=texts,
                                          corpus_source=source))
    w.stats.update(query_far_share=shift.far_share, query_mean_cosine=shift.mean_cosine,
                   query_mean_gap=shift.mean_gap, query_hubness_skewness=q_hub.skewness,
                   query_antihub_share=q_hub.antihubs.size / n_graph)


# --- helpers ---------------------------------------------------------------------------

def _backend(backend: str | None) -> str:
    """The search backend: as given, or faiss when importable (None)."""
    if backend is not None:
        return V.check_choice(backend, "backend", ("numpy", "faiss"))
    try:
        import faiss  # noqa: F401
    except ImportError:
        return "numpy"
    return "faiss"


def centred_spread(w: Work) -> tuple[float, float] | None:
    """``(cv, null cv)`` of the items' distances to their centroid, the euclidean form of
    a length spread: moving every vector by one offset changes no euclidean distance, so
    lengths from the origin say nothing there. The null is an isotropic Gaussian cloud of
    the same effective dimension (participation ratio PR): ``1 / sqrt(2 PR)``, since
    ``‖x − μ‖²`` then has mean ``Σλ`` and variance ``2 Σλ²``."""
    # in the moments' units (rows divided by the power of two m.scale: squares of huge or
    # tiny vectors stay finite; a cv is scale-free)
    from ..scale.chunks import is_dask_array

    mean = np.asarray(w.m.sum_space, np.float64) / w.n
    if is_dask_array(w.W):              # one pass over the chunks, where they are
        diff = w.W.astype(np.float64) / w.m.scale - mean
        d = (diff * diff).sum(axis=1) ** 0.5
        centre, spread = (float(v) for v in (d.mean().compute(), d.std().compute()))
    else:
        step = block_rows(w.W.shape[1])
        parts = []
        for a in range(0, w.W.shape[0], step):
            diff = np.asarray(w.W[a:a + step], np.float64) / w.m.scale - mean
            parts.append(np.sqrt(np.einsum("ij,ij->i", diff, diff)))
        dist = np.concatenate(parts or [np.zeros(0)])
        centre = float(dist.mean()) if dist.size else 0.0
        spread = float(dist.std()) if dist.size else 0.0
    if centre <= 0 or not np.isfinite(centre) or not w.pr or w.pr <= 0:
        return None
    return spread / centre, 1.0 / float(np.sqrt(2.0 * w.pr))


def row_lengths(S: np.ndarray) -> np.ndarray:
    """Row lengths in float64, block by block (no float64 copy of the whole array)."""
    from ..linalg import row_norms

    step = block_rows(S.shape[1])
    return np.concatenate([row_norms(np.asarray(S[a:a + step], np.float64))
                           for a in range(0, S.shape[0], step)] or [np.zeros(0)])


def pair_cosines(S: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  center: np.ndarray | None = None) -> np.ndarray:
    """Cosine of each pair ``(S[rows[i]], S[cols[i]])``, of the rows less ``center`` when
    given, block by block; 0 for a zero row."""
    from ..linalg import row_norms

    out = np.empty(rows.size)
    step = block_rows(S.shape[1])
    shift = 0.0 if center is None else center
    for a in range(0, rows.size, step):
        A = np.asarray(S[rows[a:a + step]]).astype(np.float64) - shift
        B = np.asarray(S[cols[a:a + step]]).astype(np.float64) - shift
        den = row_norms(A) * row_norms(B)
        # a zero row (one that underflowed) is nobody's near-copy: cosine 0, not 0/0
        out[a:a + step] = np.divide(np.einsum("ij,ij->i", A, B), den,
                                    out=np.zeros(den.size), where=den > 0)
    return out
