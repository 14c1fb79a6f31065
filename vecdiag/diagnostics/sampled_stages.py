"""The stages of :func:`vecdiag.diagnose` beyond ``SAMPLED_ABOVE`` rows, or on a Dask corpus.

The kNN graph behind hubness, near-duplicates and TwoNN costs O(n²·d): 10M × 384 is
some 7.7e16 multiply-adds. Beyond :data:`vecdiag.diagnostics.sampling.SAMPLED_ABOVE`
usable rows (NumPy) and always on a Dask corpus, :func:`vecdiag.diagnose` replaces the
graph stages of :mod:`vecdiag.diagnostics.stages` by these, which estimate the same
figures from ``s`` sampled rows searched against all ``n`` (O(s·n·d)), each finding
saying so ("estimated from 10,000 sampled rows, 95% interval [...]"):

* :func:`sampled_duplicates_stage`: exact copies by hashing every row (complete), and the
  share of items with a near-copy from the sampled rows' nearest neighbour
  (:func:`vecdiag.near_duplicates` with ``sample=``);
* :func:`sampled_hubness_stage`: N_k skewness, hub and antihub shares
  (:func:`vecdiag.hubness` with ``sample=``), and the norm spread (exact, from the norms);
* :func:`sampled_intrinsic_stage`: TwoNN on a gathered sample (its own neighbours);
* :func:`sampled_query_shift_stage`: queries searched exactly against all ``n``; the
  documents' own nearest-neighbour distances from sampled rows.

The O(n·d) stages (moments, isotropy, rogue dimensions, metric check) stay exact.
"""

from __future__ import annotations

import numpy as np

from ..linalg import column_mean
from . import intrinsic_rules, rules
from .finding import Finding
from .norms import norm_spread
from .copy_stages import judged_against_chance, standardised
from .graph_stages import centred_spread, neighbour_rows, query_length_ratio
from .moments import unit_rows
from .stages import rogue_flagged

__all__ = ["sampled_duplicates_stage", "sampled_hubness_stage", "sampled_intrinsic_stage",
           "sampled_query_shift_stage", "prepare_sampled", "SHIFT_SAMPLE", "TWONN_SAMPLE"]

SHIFT_SAMPLE = 1_000
"""Corpus rows whose nearest other document sets the reference distance of the shift."""

TWONN_SAMPLE = 2_000
"""Rows gathered for the TwoNN intrinsic dimension (neighbours found within them)."""

_CENTRED_BYTES = 512 * 2**20            # largest centred copy of an in-memory corpus


def _ci(ci, pct: bool = False) -> str:
    if ci is None:
        return "not available at this sample size"
    if pct:
        return f"[{rules.percent(ci[0])}%, {rules.percent(ci[1])}%]"
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def prepare_sampled(w) -> None:
    """The rows the sampled stages search: ``w.G`` (``w.W`` rescaled by a power of two
    when its values are huge or tiny, as the graph stage does), ``w.k_eff``, the sample size."""
    from ..scale.chunks import is_dask_array
    from .sampling import DEFAULT_SAMPLE, check_sample

    w.G = neighbour_rows(w, w.W, "the neighbour lists use")
    if not is_dask_array(w.G):           # one prepared Index for both sampled searches
        from ..neighbors import Index

        w.index = Index(w.G, metric=w.metric)
    w.sample_size = check_sample(DEFAULT_SAMPLE if w.sample_size is None else w.sample_size,
                                 w.n, "sample")
    w.stats.update(sampled=True, sample=w.sample_size)


def sampled_duplicates_stage(w) -> None:
    """Exact copies (hashing every row) and the sampled near-copy share.

    Under cosine the sampled rows are searched once, for their k nearest (kept in
    ``w.lists`` for :func:`sampled_hubness_stage`): the nearest is the near-copy check.
    """
    from .sampling import sampled_phrase

    dup, centred, standard = _sampled_copies(w)
    w.exact = [[int(i) for i in g] for g in dup.exact_groups]
    w.exact_redundant = sum(len(g) - 1 for g in w.exact)
    w.n_distinct = w.n - w.exact_redundant
    phrase = sampled_phrase(dup.sample, dup.confidence)
    # judged, as on the graph path, on the redundant share Σ (group size − 1) / n: a pair
    # of copies is one redundant item (two items with a copy)
    share, ci = float(dup.redundant_share), dup.redundant_share_ci
    sev = rules.severity_of("near_duplicates", share) if dup.with_copy else "ok"
    examples = [f"{w.label(r)} ≈ {w.label(c)} (cosine {cos:.3f})"
                for r, c, cos in list(dup.examples)[:3]]
    exact_ex = [" = ".join(w.label(i) for i in g[:3]) + (" …" if len(g) > 3 else "")
                for g in w.exact[:3]]
    ev = {"value": share, "interval": list(ci), "confidence": dup.confidence,
          "sample": dup.sample, "with_copy": int(dup.with_copy),
          "exact_copies": w.exact_redundant, "exact_groups": len(w.exact),
          "exact_share": float(dup.exact_share), "threshold": w.duplicate_threshold,
          "examples": examples + exact_ex,
          "measures": "share of items that are redundant copies, Σ (group size − 1) / n",
          "with_copy_share": float(dup.share), "with_copy_interval": list(dup.share_ci),
          "search": f"{dup.sample:,} sampled rows against all {w.n:,}"
                    + (" (cosine with each dimension standardised: rogue dimensions "
                       "decide the raw ones)" if standard
                       else " (cosine of the centred vectors, and of the raw ones)"
                       if centred else "")
                    + " + exact hashing of every row", **rules._limits("near_duplicates")}
    summary = (f"About {100 * share:.3g}% of items are redundant copies or near-copies "
               f"(cosine ≥ {w.duplicate_threshold}) of others, {phrase} {_ci(ci, True)} "
               f"({rules.percent(dup.share)}% have a copy); {w.exact_redundant} rows are exact "
               "copies of others (all rows hashed)"
               + ("; deduplicate the corpus." if sev != "ok" else "."))
    w.findings.append(judged_against_chance(w, Finding("near_duplicates", sev, summary, ev,
                                                       "deduplicate" if sev != "ok" else None)))
    w.stats.update(n_distinct=w.n_distinct, exact_duplicate_rows=w.exact_redundant,
                   near_duplicate_share=share, near_duplicate_share_ci=list(ci),
                   near_duplicate_with_copy_share=float(dup.share))


def _sampled_copies(w):
    """``(near_duplicates result, centred, standardised)``: the sampled near-copy search,
    on the vectors the graph stage judges too. Standardised dimensions when rogue
    dimensions decide the raw cosines; under cosine, the search hubness shares; under
    euclidean, or a narrow cone under dot, the centred vectors (unit rows for the cone);
    else the raw ones. A Dask array is transformed lazily; an in-memory one copied up to
    _CENTRED_BYTES; a memmap, or a larger array, one piece at a time
    (:mod:`.chunked_copies`: a copy would read the whole corpus into memory)."""
    from ..scale.chunks import is_dask_array
    from . import chunked_copies as CC
    from . import near_duplicates

    cone = (w.metric != "euclidean" and w.mean_cos is not None
            and w.mean_cos >= rules.THRESHOLDS["anisotropy"]["warning"])
    copyable = is_dask_array(w.G) or (not isinstance(w.G, np.memmap)
                                      and w.G.nbytes <= _CENTRED_BYTES)
    options = dict(threshold=w.duplicate_threshold, sample=w.sample_size, random_state=w.rng)
    norms = np.asarray(w.m.norms, np.float64) / w.rescale

    def unit(X):
        return unit_rows(X, norms, X.dtype)

    if rogue_flagged(w, copies_known=False):
        # a few dimensions decide every cosine: judged on standardised dimensions, as the
        # graph stage does (a search of its own; hubness then searches for its lists)
        centre, on_unit = w.metric == "euclidean" or cone, w.metric == "cosine" or cone
        try:
            if copyable:
                base = unit(w.G) if on_unit else w.G
                return (near_duplicates(standardised(base, centre), also=w.G, **options),
                        False, True)
            dtype = np.result_type(w.G.dtype, np.float32)
            first = CC.unit_then(norms, w.G.dtype) if on_unit else None
            mean, scale = CC.standard_params(w.G, centre, first)
            last = CC.affine(mean, scale, dtype)
            return (_chunked_duplicates(w, last if first is None else
                                        CC.unit_then(norms, w.G.dtype, last)), False, True)
        except ValueError:              # a row at the centre has no direction from it
            pass
    if w.metric == "cosine":            # one search serves near-copies and hubness
        dup, centred = _shared_search_duplicates(w)
        return dup, centred, False
    # near-copies are judged by cosine under every metric, of the centred vectors, as the
    # graph stage does; under dot, a narrow cone is judged on the centred unit rows
    if w.metric == "euclidean" or cone:
        try:
            if cone:
                mean = (w.m.sum_unit / w.n).astype(w.G.dtype)
                if copyable:
                    return near_duplicates(unit(w.G) - mean, also=w.G, **options), True, False
                transform = CC.unit_then(norms, w.G.dtype, CC.affine(mean, None, w.G.dtype))
            else:
                mean = column_mean(w.G, dtype=w.G.dtype)
                if copyable:
                    return near_duplicates(w.G - mean, also=w.G, **options), True, False
                transform = CC.affine(mean, None, w.G.dtype)
            return _chunked_duplicates(w, transform), True, False
        except ValueError:              # a row at the mean itself has no direction there
            pass
    return near_duplicates(w.G, **options), False, False


def _chunked_duplicates(w, transform):
    """:func:`vecdiag.near_duplicates` (sampled) of the rows ``transform`` gives, the
    corpus transformed one piece at a time (:mod:`.chunked_copies`); a pair must be a
    copy in the raw rows too."""
    from .. import _validate as V
    from .chunked_copies import transformed_lists
    from .duplicates import exact_duplicate_groups
    from .sampled_duplicates import LIST_K, sampled_near_duplicates
    from .sampling import CONFIDENCE, DEFAULT_SAMPLE, check_sample, draw_rows

    s = check_sample(DEFAULT_SAMPLE if w.sample_size is None else w.sample_size, w.n)
    rows = draw_rows(w.n, s, V.check_random_state(w.rng))
    idx, scores = transformed_lists(w.G, rows, min(LIST_K, w.n - 1), transform)
    return sampled_near_duplicates(w.G, exact_duplicate_groups(w.G),
                                   threshold=w.duplicate_threshold, sample=rows.size,
                                   random_state=None, confidence=CONFIDENCE,
                                   lists=(rows, idx, scores), also=w.G)


def _shared_search_duplicates(w):
    """:func:`vecdiag.near_duplicates` (sampled) from one cosine search of k neighbours,
    and whether its cosines are of the centred unit rows (an anisotropic corpus)."""
    from ..scale.chunks import is_dask_array
    from .duplicates import exact_duplicate_groups
    from .sampled_duplicates import sampled_near_duplicates
    from .sampling import CONFIDENCE, draw_rows, sampled_lists

    if is_dask_array(w.G):
        from ..scale.hashing import exact_duplicate_groups_dask

        exact = exact_duplicate_groups_dask(w.G)
    else:
        exact = exact_duplicate_groups(w.G)
    rows = draw_rows(w.n, w.sample_size, w.rng)
    idx, scores = sampled_lists(w.G if w.index is None else w.index, rows, w.k_eff, "cosine")
    w.lists = (rows, idx, scores)
    near, centred = scores, False
    if w.mean_cos is not None and w.mean_cos >= rules.THRESHOLDS["anisotropy"]["warning"]:
        # anisotropic: judged on the centred unit rows, as the graph stage does
        from .copy_stages import pair_cosines

        center = w.m.sum_unit / w.n
        r, c = np.repeat(rows, idx.shape[1]), idx.ravel()
        if is_dask_array(w.G):
            # subtle: a Dask corpus was judged on its raw cosines, which a narrow cone
            # puts near 1 for distinct rows (53% "redundant" where in memory 3% were);
            # the rows of the pairs only (s·k at most) are gathered, unit as the Index's
            from ..linalg import normalize
            from ..scale.block_top import gather_rows

            used = np.unique(np.concatenate([rows, c]))
            unit = normalize(gather_rows(w.G, used), zero="ignore")
            r, c = np.searchsorted(used, r), np.searchsorted(used, c)
        else:
            unit = w.index.unit_rows
        near = pair_cosines(unit, r, c, center).reshape(idx.shape)
        # and a copy raw too (the search's own cosines), as the graph stage asks
        near = np.where(scores >= w.duplicate_threshold, near, -np.inf)
        near = -np.sort(-near, axis=1)                    # nearest first again
        centred = True
    return sampled_near_duplicates(w.G, exact, threshold=w.duplicate_threshold,
                                   sample=rows.size, random_state=None, confidence=CONFIDENCE,
                                   lists=(rows, idx, near)), centred


def sampled_hubness_stage(w) -> None:
    """N_k skewness with its interval, hub/antihub shares; the norm spread (exact)."""
    from . import hubness
    from .sampling import sampled_phrase

    if w.lists is not None:              # the lists the near-copy stage searched
        from .sampled_hubness import hubness_from_lists
        from .sampling import CONFIDENCE

        rows, idx, _ = w.lists
        h = hubness_from_lists(idx, w.n, w.k_eff, w.metric, rows, w.rng, CONFIDENCE)
    else:
        h = hubness(w.G if w.index is None else w.index, w.k_eff, metric=w.metric,
                    sample=w.sample_size, random_state=w.rng)
    phrase = sampled_phrase(h.sample, h.confidence)
    # how much longer the likely hubs (clearly N_k ≥ 2k) are than the typical item, as
    # the graph stage reads it from the exact hubs
    norms = np.asarray(w.m.norms, np.float64)
    typical = float(np.median(norms)) if norms.size else 0.0
    hub_length = (float(np.median(norms[h.likely_hubs])) / typical
                  if h.likely_hubs.size and typical > 0 else None)
    # the likely hubs only (clearly N_k >= 2k, as the graph stage lists the exact hubs):
    # the busiest items of a corpus without hubs are not examples of any
    likely = set(h.likely_hubs.tolist())
    top = [f"{w.label(int(i))} (N_k≈{c * h.n / h.sample:.0f})"
           for i, c in zip(h.top_items[:5], h.top_counts[:5]) if int(i) in likely]
    ev = {"value": h.skewness, "skewness_interval": h.skewness_ci, "k": h.k,
          "hub_share": h.hub_share, "hub_share_interval": h.hub_share_ci,
          "antihub_share": h.antihub_share, "antihub_share_interval": h.antihub_share_ci,
          "antihub_at_most": h.antihub_at_most, "not_estimable": dict(h.not_estimable),
          "sample": h.sample, "confidence": h.confidence, "top_hubs": top,
          "hub_length_ratio": hub_length,
          **rules._limits("hubness")}
    # a skewness the sample does not resolve (SampledHubness.not_estimable) is not judged:
    # its value is noise (24.6 from 12 rows of Gaussian data whose exact skewness is 0.03)
    unresolved = h.skewness is None or "skewness" in h.not_estimable
    if unresolved or w.n_distinct <= w.k_eff:
        why = (h.not_estimable.get("skewness", "") if unresolved else
               f"only {w.n_distinct} distinct vector(s) for k = {w.k_eff}")
        finding = Finding("hubness", "ok", f"Hubness not judged: {why} ({phrase}).",
                          dict(ev, judged=False))
    else:
        sev = rules.severity_of("hubness", h.skewness)
        lines = "; ".join(h.lines()[1:])
        if sev == "ok":
            summary = (f"Neighbour lists are shared fairly: N_{h.k} skewness "
                       f"{h.skewness:.2f} ({phrase} {_ci(h.skewness_ci)}); {lines}.")
        else:
            summary = (f"A few hub items crowd everyone's top-{h.k}: N_{h.k} skewness "
                       f"{h.skewness:.2f} ({phrase} {_ci(h.skewness_ci)}); {lines}; "
                       "re-rank with CSLS or mutual proximity.")
        fix = None if sev == "ok" else "csls"
        if sev != "ok" and w.metric == "dot" and hub_length is not None \
                and hub_length >= rules.LONG_HUBS:
            summary = (summary.rstrip(".") + f". Hubs are the long vectors here "
                       f"({hub_length:.2g}x the median length): normalise first.")
            fix = "normalize"
        finding = Finding("hubness", sev, summary, ev, fix)
    w.findings.append(finding)
    spread = norm_spread(w.m.norms)
    centred = centred_spread(w) if w.metric == "euclidean" else None
    w.findings.append(rules.norm_finding(spread, w.metric, hub_length, centred))
    w.stats.update(k=w.k_eff, hubness_skewness=h.skewness, hub_length_ratio=hub_length,
                   hubness_skewness_ci=h.skewness_ci, hub_share=h.hub_share,
                   antihub_share=h.antihub_share, robinhood=None, norm_cv=spread.cv,
                   norm_mean=spread.mean, spearman_norm_k_occurrence=None)


def sampled_intrinsic_stage(w) -> None:
    """TwoNN on a gathered sample of rows (their neighbours among the sample)."""
    from .. import _validate as V
    from .intrinsic import twonn, twonn_distances, twonn_median

    from ..scale.block_top import gather_rows
    from ..scale.chunks import is_dask_array

    s = min(w.n, TWONN_SAMPLE)
    metric = "cosine" if w.metric == "cosine" else "euclidean"
    note, value, median_value, points = "", None, None, None
    try:
        # the same rows on a NumPy and a Dask corpus; only they travel, and their
        # neighbours are looked for among them
        rows = np.sort(w.rng.choice(w.n, size=s, replace=False))
        sample = gather_rows(w.G, rows) if is_dask_array(w.G) else w.G[rows]
        r1, r2 = twonn_distances(V.as_matrix(sample, "X"), metric == "cosine", None, None)
        value, median_value, points = twonn(r1, r2), twonn_median(r1, r2), r1.size
        note = (f"TwoNN ({metric}) on {s:,} sampled rows, neighbours found among them "
                "(a coarser scale than the whole corpus)")
    except ValueError as err:
        note = str(err)
    w.stats.update(intrinsic_dimension=value)
    w.findings.append(intrinsic_rules.intrinsic_finding(
        value, w.pr, w.W.shape[1], w.exact_redundant, note, median_value, points, w.metric))


def sampled_query_shift_stage(w) -> None:
    """Queries against all documents (exact); documents' own distances from a sample."""
    from ..neighbors import knn
    from ..scale.search import knn_rows
    from .hubness import hubness_from_indices
    from .sampling import draw_rows
    from .shift import (as_distance, distinct_first_scores, shift_from_neighbors,
                        space_mean_and_spread)

    Q, m, metric = w.Q, w.m, w.metric
    q_res = knn(Q, w.G, k=w.k_eff, metric=metric)
    rows = draw_rows(w.n, min(w.n, SHIFT_SAMPLE), w.rng)
    # dot: scores per unit of the searching vector's length (G and Q share w.rescale)
    c_len = np.asarray(w.m.norms, np.float64)[rows] / w.rescale if metric == "dot" else None
    q_len = np.linalg.norm(np.asarray(Q, np.float64), axis=1) if metric == "dot" else None
    # each sampled document's nearest neighbour that is not its own copy (copies sit at 0;
    # every row was hashed, so w.exact maps each row to its group's first row)
    rep = np.arange(w.n)
    for g in w.exact:
        rep[g] = g[0]
    lists = knn_rows(w.G, rows, min(w.k_eff, w.n - 1), metric=metric)
    first, kept = distinct_first_scores(w.G, rows, np.asarray(lists.indices),
                                        np.asarray(lists.scores), rep=rep)
    c_nn = as_distance(first, metric, None if c_len is None else c_len[kept])
    q_nn = as_distance(np.asarray(q_res.scores)[:, 0], metric, q_len)
    q_hub = hubness_from_indices(np.asarray(q_res.indices), w.n, w.k_eff, metric, "queries")
    c_mean = m.sum_space / w.n
    c_spread = float(np.sqrt(max(np.trace(m.covariance), 0.0)))   # shifted: no cancelling
    if metric != "cosine":
        c_spread, c_mean = c_spread * m.scale / w.rescale, c_mean * m.scale / w.rescale
    q_mean, _ = space_mean_and_spread(Q, metric == "cosine")
    shift = shift_from_neighbors(q_nn, c_nn, q_mean, c_mean, c_spread)
    source = f"all {w.n:,} documents (their own distances from {rows.size:,} sampled rows)"
    w.findings.append(rules.shift_finding(shift, Q.shape[0], model_name=w.model_name,
                                          query_ids=w.query_ids,
                                          texts=w.texts if w.all_rows_used else None,
                                          corpus_source=source,
                                          lengths=query_length_ratio(w)))
    w.stats.update(query_far_share=shift.far_share, query_mean_cosine=shift.mean_cosine,
                   query_mean_gap=shift.mean_gap, query_hubness_skewness=q_hub.skewness,
                   query_antihub_share=q_hub.antihubs.size / w.n)
