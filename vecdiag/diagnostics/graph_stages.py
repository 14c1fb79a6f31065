"""The stages of :func:`vecdiag.diagnose` that read the kNN graph of the corpus.

:func:`knn_graph_stage` builds it (through the Index's engine, of a sample beyond
``graph_sample``); :func:`hubness_stage`, :func:`intrinsic_stage`,
:func:`query_shift_stage` and the near-copy stage
(:func:`.copy_stages.near_duplicates_stage`) read it. Like the one-pass stages of
:mod:`.stages`, each is a function of the :class:`~.stages.Work` record.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from .._scaling import ranking_rows
from . import intrinsic_rules, rules
from ._graph import knn_graph
from .finding import Finding
from .hubness import hubness_from_indices
from .intrinsic import twonn, twonn_distances, twonn_from_lists, twonn_median
from .moments import block_rows
from .norms import gaussian_distance_cv, norm_spread
from .shift import (as_distance, distinct_first_scores, length_ratio, shift_from_neighbors,
                    space_mean_and_spread)
from .stages import Work

__all__ = ["neighbour_rows", "knn_graph_stage", "hubness_stage", "intrinsic_stage",
           "query_shift_stage", "row_lengths", "centred_spread", "query_length_ratio"]

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
    rows, w.rescale = ranking_rows(rows, w.metric, w.peak)
    if w.rescale != 1.0:
        w.Q = None if w.Q is None else np.asarray(w.Q, np.float64) / w.rescale
    return rows


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
                                   "k": w.k_eff, "judged": False}))
    centred = centred_spread(w) if w.metric == "euclidean" else None
    w.findings.append(rules.norm_finding(spread, w.metric, hub_length, centred))


def intrinsic_stage(w: Work) -> None:
    """TwoNN intrinsic dimension, from the graph (or a sample under dot)."""
    note, value, median_value, points = "", None, None, None
    try:
        if w.metric == "dot":
            r1, r2 = twonn_distances(V.as_matrix(w.G, "X"), False, min(2000, w.G.shape[0]),
                                     w.rng)
            value, median_value, points = twonn(r1, r2), twonn_median(r1, r2), r1.size
            note = (f"TwoNN on the raw vectors (Euclidean) of {points:,} points (a random "
                    "2,000 when there are more)")
        else:
            # one point per distinct vector (its first row in the graph): exact copies
            # share their neighbours, and counting each copy weighs that ratio again
            rep = w.rep[w.g_rows]
            own = np.sort(np.unique(rep, return_index=True)[1])
            r1, r2, skipped = twonn_from_lists(w.G, w.graph.indices[own], own, rep,
                                               w.metric == "cosine")
            value, median_value, points = twonn(r1, r2), twonn_median(r1, r2), r1.size
            geometry = "chord distance of unit vectors" if w.metric == "cosine" else "Euclidean"
            note = (f"TwoNN from the kNN graph ({geometry}); "
                    f"{w.exact_redundant} exact copies merged; {skipped} items without two "
                    "distinct neighbours skipped")
    except ValueError as err:
        note = str(err)
    w.stats.update(intrinsic_dimension=value)
    w.findings.append(intrinsic_rules.intrinsic_finding(
        value, w.pr, w.W.shape[1], w.exact_redundant, note, median_value, points, w.metric))


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
    c_spread = float(np.sqrt(max(np.trace(m.covariance), 0.0)))   # shifted: no cancelling
    if metric != "cosine":                 # raw sums are of X / m.scale; Q of X / rescale
        c_spread, c_mean = c_spread * m.scale / w.rescale, c_mean * m.scale / w.rescale
    q_mean, _ = space_mean_and_spread(Q, metric == "cosine")
    shift = shift_from_neighbors(q_nn, c_nn, q_mean, c_mean, c_spread)
    source = (f"a {n_graph}-document sample" if w.sample is not None
              else f"all {n_graph} documents")
    texts = w.texts if w.texts is None or w.keep.size == w.X.shape[0] else w.texts[w.keep]
    w.findings.append(rules.shift_finding(shift, Q.shape[0], model_name=w.model_name,
                                          query_ids=w.query_ids, texts=texts,
                                          corpus_source=source,
                                          lengths=query_length_ratio(w)))
    w.stats.update(query_far_share=shift.far_share, query_mean_cosine=shift.mean_cosine,
                   query_mean_gap=shift.mean_gap, query_hubness_skewness=q_hub.skewness,
                   query_antihub_share=q_hub.antihubs.size / n_graph)


# --- helpers ---------------------------------------------------------------------------

def _backend(backend: str | None) -> str:
    """The search backend: as given, or numpy (None).

    The kNN graph is the whole cost, and the numpy engine multiplies each pair of row
    blocks once and selects along both sides (:mod:`vecdiag.neighbors`); faiss scores
    every pair twice, for the same graph (20,000 x 384 float32: 4.4 s of CPU against 2.2).
    """
    if backend is not None:
        return V.check_choice(backend, "backend", ("numpy", "faiss"))
    return "numpy"


def centred_spread(w: Work) -> tuple[float, float, float] | None:
    """``(cv, null cv, null se)`` of the items' distances to their centroid, the euclidean
    form of a length spread: moving every vector by one offset changes no euclidean
    distance, so lengths from the origin say nothing there. The null is a Gaussian cloud
    of the same effective dimension (participation ratio PR), whose distances follow a
    scaled χ_PR (:func:`.norms.gaussian_distance_cv`), and ``null se`` the standard error
    of the cv of ``n`` such distances (in 2-D a cloud of 1,000 points gives 0.523 ± 0.012:
    the large-PR value ``1 / sqrt(2 PR)`` = 0.5 flagged most healthy low-dimensional
    clouds)."""
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
    return (spread / centre, *gaussian_distance_cv(w.pr, w.n))


def query_length_ratio(w) -> float | None:
    """Under euclidean, the queries' median length over the documents'
    (:func:`.shift.length_ratio`, the queries back in the documents' units); None under
    cosine and dot. Read by both query-shift stages (in memory and sampled)."""
    if w.metric != "euclidean":
        return None
    return length_ratio(row_lengths(w.Q) * w.rescale, w.m.norms)


def row_lengths(S: np.ndarray) -> np.ndarray:
    """Row lengths in float64, block by block (no float64 copy of the whole array)."""
    from ..linalg import row_norms

    step = block_rows(S.shape[1])
    return np.concatenate([row_norms(np.asarray(S[a:a + step], np.float64))
                           for a in range(0, S.shape[0], step)] or [np.zeros(0)])
