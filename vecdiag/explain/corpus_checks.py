"""Cause checks rooted in the corpus's neighbour lists and lengths: hub, norm_bias,
metric_mismatch, near_duplicates (see :mod:`.causes` for how strength and effect make the
confidence; the checks on the corpus's directions, rogue_dimensions and anisotropy, are in
:mod:`.direction_checks`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..diagnostics import STRONG_HUB_FACTOR
from ..diagnostics.rules import decimals
from ..diagnostics.sampling import sampled_phrase
from ..results import fmt
from .centred import length_fix, lengths, query_length
from .causes import (HUB_FIXES, _best_fix, _fix_sentence, _outranking, _with_fix, effect,
                     own_copies, ramp, share)
from .direction_checks import directions_skew, shared_direction_strength
from .result import Cause
from .stats import length_cv, median_k_occurrence

__all__ = ["check_hub", "check_norm_bias", "check_metric_mismatch", "check_near_duplicates",
           "norm_bias_strength", "own_copies", "k_occurrence_interval"]


def k_occurrence_interval(ctx, row) -> tuple:
    """95% interval of a document's k-occurrence estimated from sampled rows: its count
    ``c`` in the ``s`` sampled top-k lists is a share of rows drawn without replacement,
    so the Wilson interval of ``c / s`` (finite-population corrected,
    :func:`vecdiag.diagnostics.sampling.wilson_interval`) times ``n``."""
    from ..diagnostics.sampling import wilson_interval

    n, s = ctx.stats.n, ctx.stats.sample_size
    count = int(round(float(ctx.stats.k_occurrence[row]) * s / n))
    low, high = wilson_interval(count, s, n)
    return (float(low * n), float(high * n))


def check_hub(ctx):
    """Hub: a returned document is a strong hub, in at least 3k top-k lists (the mean is k).

    A stronger bar than the ``N_k ≥ 2k`` hubs :func:`vecdiag.diagnose` counts (and the
    explorer marks): naming a hub as the cause of one query's failure needs a document
    far outside the corpus's normal spread (2k occurs by chance: 1 of 1,500 Gaussian
    vectors in 64 dimensions at k = 10, none at 3k). The sentence says "a strong hub
    (in at least 3k = 30 lists)" (:data:`vecdiag.diagnostics.STRONG_HUB_FACTOR`).

    Strength: ``ramp(N'_k(h) / k, 3, 10)`` for the returned document with the largest
    N'_k, the k-occurrence N_k (the mean of N_k over the corpus is exactly k) less the
    lists of its own near-copies (:func:`own_copies`): a document that is "near
    everyone" only because it has many copies is a duplication problem
    (``near_duplicates``), not a hub. It is multiplied by ``1 − 0.5 · shared-direction
    strength`` (see :func:`shared_direction_strength`): documents close to a direction
    every vector shares are near everyone, so strong anisotropy or rogue dimensions are
    the deeper cause. Fix: CSLS, mutual proximity or, when no shared direction is
    abnormal (shared-direction strength 0), centring, which demotes the documents near
    the corpus mean where hubs sit (Suzuki et al. 2013): whichever moves the expected
    documents more. Under dot product the *confidence* is multiplied by
    ``1 − ramp(‖h‖ / median norm, 1.15, 2)`` (``evidence["length_discount"]``; no cause
    from 2× on): a hub that is merely long is explained by ``norm_bias``, and its
    re-ranker lifting the document is no evidence of hubness (a discount of the strength
    alone would leave most of what a rescuing fix gives, see
    :func:`~vecdiag.explain.causes.confidence`). Under euclidean distance the mirror
    image, ``1 − ramp(median length / ‖h − μ‖, 1.15, 2)`` with lengths measured from the
    corpus mean ``μ`` (:mod:`.centred`: no common offset moves a euclidean ranking): a
    document much nearer the centre than the others is at about ``‖x − μ‖`` from every
    ``x``, so it is near everyone by length alone (``metric_mismatch``: vectors of
    varying length searched by a length-sensitive metric), as far as the lengths vary:
    times ``ramp(cv, 0.05, 0.3)`` (metric_mismatch's strength; in a cloud of even spread
    the rows nearest the centre are hubs by hubness's own mechanism, Radovanović et al.
    2010, and the discount would drop every hub). With missed documents either
    discount is times the effect of searching with lengths left out (``cosine_metric``;
    under euclidean centring then cosine, :func:`~.centred.length_fix`) on them: hubs 3×
    long and near a direction every document shares keep the document out under cosine
    too (centring brings it back): they are hubs, not merely long.
    """
    kocc = ctx.stats.k_occurrence
    rows = _outranking(ctx)
    candidates = [r for r in rows if kocc[r] / ctx.k_graph >= STRONG_HUB_FACTOR]
    if not candidates:
        return None
    copies = {r: own_copies(ctx, r) for r in candidates}
    own = {r: kocc[r] - copies[r] for r in candidates}
    h = max(candidates, key=lambda r: (own[r], -r))
    ratio = own[h] / ctx.k_graph
    s = ramp(ratio, STRONG_HUB_FACTOR, 10.0)
    long = 0.0
    norms = lengths(ctx)  # under euclidean: distances to the corpus mean
    med = max(float(np.median(norms)), 1e-300)
    if ctx.metric == "dot":  # a long document wins every dot product: that is norm_bias
        long = ramp(norms[h] / med, 1.15, 2.0)
    elif ctx.metric == "euclidean":  # one near the centre is near everyone: metric_mismatch
        # as far as the lengths vary (metric_mismatch's strength): in an even cloud the
        # rows nearest the centre are the hubs, by hubness's own mechanism
        long = ramp(med / max(float(norms[h]), 1e-300), 1.15, 2.0) \
            * ramp(length_cv(norms), 0.05, 0.3)
    if long > 0 and ctx.missed:
        # merely long (short): then searching with lengths left out (cosine; under
        # euclidean centring then cosine) brings the missed documents back; a hub that
        # keeps them out by direction is not explained by its length
        long *= effect(ctx, length_fix(ctx))
    shared = shared_direction_strength(ctx)
    s *= 1 - 0.5 * shared
    if s <= 0 or long >= 1:
        return None
    hubs = [r for r in candidates if own[r] / ctx.k_graph >= STRONG_HUB_FACTOR]
    # centring demotes the documents near the corpus mean, hubs' usual place (Suzuki et
    # al. 2013): the hubs' fix too, unless the shared direction is itself abnormal, when
    # centring is the fix of anisotropy or rogue dimensions (the deeper cause)
    fix, e = _best_fix(ctx, HUB_FIXES + (() if shared > 0 else ("center",)), focus=hubs)
    about = "" if ctx.stats.exact else "about "
    summary = (f"{ctx.name_of(h)} is a strong hub (in at least 3k = "
               f"{STRONG_HUB_FACTOR * ctx.k_graph:g} lists): it is among the "
               f"top-{ctx.k_graph} neighbours of "
               f"{about}{kocc[h]:.0f} documents ({share(kocc[h] / ctx.stats.n)} of the corpus; "
               f"a document's average is {ctx.k_graph})")
    interval = None
    if not ctx.stats.exact:  # its count among the sampled rows' lists, scaled to the corpus
        interval = k_occurrence_interval(ctx, h)
        summary += (f", {sampled_phrase(ctx.stats.sample_size)} {interval[0]:.0f} to "
                    f"{interval[1]:.0f}")
    if copies[h]:
        verb = "is its own near-copy" if copies[h] == 1 else "are its own near-copies"
        summary += f"; {copies[h]} of them {verb}, {about}{own[h]:.0f} other documents"
    evidence = {"hub": ctx.id_of(h), "k_occurrence": float(kocc[h]),
                "copies": int(copies[h]), "k_occurrence_without_copies": float(own[h]),
                "fraction": float(kocc[h] / ctx.stats.n),
                "median_k_occurrence": median_k_occurrence(ctx.stats),
                "ratio_to_mean": float(ratio),
                "hubs_in_top_k": [ctx.id_of(r) for r in hubs],
                "k_occurrence_exact": bool(ctx.stats.exact)}
    if interval is not None:
        evidence["k_occurrence_sample_size"] = int(ctx.stats.sample_size)
        evidence["k_occurrence_interval"] = interval
    if ctx.missed:
        pos = ctx.missed[0][0]
        diff = ctx.key[h] - ctx.key[pos]
        summary += f"; it outranks {ctx.name_of(pos)} by {fmt(float(diff), 3)}"
        evidence["outranks_by"] = float(diff)
    summary += "." + _fix_sentence(ctx, fix, focus=hubs)
    cause = _with_fix(ctx, "hub", summary, evidence, fix, s, e)
    if long > 0:  # the length explains the hub (and why its re-ranker lifts the document)
        conf = round(cause.confidence * (1 - long), 4)
        if conf <= 0:
            return None
        cause = dataclasses.replace(cause, confidence=conf,
                                    evidence=dict(cause.evidence, length_discount=round(long, 4)))
    return cause


def norm_bias_strength(ctx) -> float:
    """How much the top-k documents are the long ones (dot product; 0 under other
    metrics): ``max(ramp(L, 1.3, 3), ramp(P, 0.9, 0.99) · ramp(L, 1.1, 1.5))`` with ``L``
    the median length of the top-k documents over the corpus median length and ``P``
    the share of corpus documents no longer than that median top-k document. The ratio
    alone calls 1.5× documents mild (0.12), yet when the top-k are the corpus's longest
    (99th percentile) a 1.5× length is as decisive as any: the second term is that sign.
    """
    if ctx.metric != "dot":
        return 0.0
    norms = ctx.stats.norms
    med = float(np.median(norms))
    if med <= 0:
        return 0.0
    top_norm = float(np.median(norms[ctx.top]))
    ratio = top_norm / med
    longest = float(np.count_nonzero(norms <= top_norm)) / norms.size
    return max(ramp(ratio, 1.3, 3.0), ramp(longest, 0.9, 0.99) * ramp(ratio, 1.1, 1.5))


def check_norm_bias(ctx):
    """Norm bias (dot product only): the top documents win by length, not direction.

    Strength: :func:`norm_bias_strength` (the top-k documents' median length over the
    corpus median, and how far up the corpus's lengths it sits). Fix: cosine.
    """
    if ctx.metric != "dot":
        return None
    norms = ctx.stats.norms
    med = float(np.median(norms))
    if med <= 0:
        return None
    top_norm = float(np.median(norms[ctx.top]))
    ratio = top_norm / med
    s = norm_bias_strength(ctx)
    if s <= 0:
        return None
    pct = float(np.mean(norms[ctx.top][:, None] >= norms[None, :]) * 100) \
        if norms.size <= 200_000 else float("nan")
    summary = (f"dot product ranks by length: the top-{ctx.k} documents are {ratio:.1f}× "
               f"longer than the median document")
    evidence = {"top_k_median_norm": top_norm, "corpus_median_norm": med, "ratio": ratio,
                "top_k_norm_percentile": pct}
    if ctx.missed:
        pos = ctx.missed[0][0]
        summary += f", {ctx.name_of(pos)} is {norms[pos] / med:.2f}×"
        evidence["expected_norm_ratio"] = float(norms[pos] / med)
    summary += "." + _fix_sentence(ctx, "cosine_metric")
    return _with_fix(ctx, "norm_bias", summary, evidence, "cosine_metric", s,
                     effect(ctx, "cosine_metric", focus=ctx.top.tolist()))


def check_metric_mismatch(ctx):
    """Metric mismatch: vectors of varying length searched by dot or euclidean.

    Strength: ``ramp(cv, 0.05, 0.3)`` with cv the coefficient of variation of the corpus
    norms; under euclidean also ``ramp(|log(‖q‖ / median)|, 0.2, 1)`` (a query much
    shorter or longer than the documents is near the short or long ones); under dot
    times ``0.8 · (1 − norm_bias strength)``: when the top-k are the long documents,
    :func:`check_norm_bias` names that specific length problem (the same fix, cosine,
    would otherwise give both causes the same credit). Under euclidean the lengths are
    the distances to the corpus mean (as ``norm_spread`` in :func:`vecdiag.diagnose`)
    and the fix is centring then cosine (:mod:`.centred`): rows 30 from the origin have
    lengths of cv 0.01 whatever their spread, and the raw rows' cosine ranks by where
    the origin is, while no common offset moves a euclidean ranking. There the strength
    is times ``1 − rogue strength`` (:func:`~.direction_checks.directions_skew`,
    which under euclidean leaves anisotropy out): when a few dimensions hold the
    variance, the distances to the centre vary through them, and ``rogue_dimensions``
    names that specific problem with the same fix.
    With an embedder trained for dot product searched by cosine: context only.
    """
    norms = lengths(ctx)
    if ctx.metric == "cosine":
        trained = ctx.model_similarity
        if trained == "dot":
            return Cause(code="metric_mismatch", summary=(
                "the model was trained for dot product but the search uses cosine; "
                "lengths the model encodes are thrown away."),
                evidence={"model_similarity": trained, "metric": "cosine"}, fix=None,
                confidence=0.25, ranking=False)
        return None
    cv = length_cv(norms)
    s = ramp(cv, 0.05, 0.3)
    qratio = query_length(ctx) / float(np.median(norms)) if np.median(norms) > 0 else 1.0
    if ctx.metric == "euclidean":
        s = max(s, ramp(abs(math.log(max(qratio, 1e-12))), 0.2, 1.0))
        # a few dimensions holding the variance make the distances to the centre vary:
        # rogue_dimensions names that specific problem (as norm_bias does under dot)
        s *= 1 - directions_skew(ctx)
    else:
        s *= 0.8 * (1 - norm_bias_strength(ctx))
    if s <= 0:
        return None
    fix = length_fix(ctx)
    if ctx.metric == "euclidean":
        summary = (f"the vectors' distances to the corpus centre vary (cv {decimals(cv)}; the "
                   f"query's is {qratio:.2f}× the median document's) and euclidean distance "
                   "counts them, so how far a document is from the centre decides part of "
                   "the ranking.")
    else:
        summary = (f"the vectors are not normalised (their lengths vary, cv {decimals(cv)}; "
                   f"the query is {qratio:.2f}× the median document) but are searched by "
                   f"{ctx.metric}, so length decides part of the ranking.")
    summary += _fix_sentence(ctx, fix)
    evidence = {"norm_cv": cv, "query_norm_ratio": float(qratio), "metric": ctx.metric}
    return _with_fix(ctx, "metric_mismatch", summary, evidence, fix, s,
                     effect(ctx, fix, focus=ctx.top.tolist()))


def check_near_duplicates(ctx):
    """Near-duplicates: copies (cosine >= 0.98) take several top-k places.

    Strength: ``ramp(w / k, 0.05, 0.25)`` with w the top-k places taken by second and
    later copies of a document ranked higher. Fix: de-duplication. A pair is a copy at
    cosine >= 0.98 raw and, as :func:`vecdiag.diagnose` judges it, in the frame the
    search's distortion is removed from (:func:`~vecdiag.explain.stats.copy_frame`):
    centred under euclidean and in a narrow cone, each dimension standardised when rogue
    dimensions are flagged; the de-duplicated counterfactual groups them the same way.
    """
    groups = ctx.duplicate_groups
    if not groups:
        return None
    top = ctx.top.tolist()
    top_set = set(top)
    wasted, shown, named = 0, [], []
    for g in groups:
        inside = [r for r in g.tolist() if r in top_set]
        if len(inside) >= 2:
            wasted += len(inside) - 1
            shown.append([ctx.name_of(r) for r in inside])
            first, *later = [ctx.name_of(r) for r in sorted(inside, key=ctx.rank_of)]
            named.append(f"{first} and its cop{'y' if len(later) == 1 else 'ies'} "
                         f"{', '.join(map(str, later))}")
    if wasted == 0:
        return None
    s = ramp(wasted / ctx.k, 0.05, 0.25)
    copies = [r for g in groups for r in sorted(g.tolist(), key=lambda r: ctx.rank_of(r))[1:]
              if r in top_set]
    e = effect(ctx, "deduplicate", focus=copies)
    if s <= 0 and e <= 0:      # a copy or two among many places, and removing it moves nothing
        return None
    summary = (f"{wasted} of the top-{ctx.k} places go to near-copies of higher-ranked "
               f"documents ({'; '.join(named[:3])})")
    evidence = {"wasted_places": wasted, "groups": shown, "threshold": 0.98}
    # a copy counts its originals among its neighbours: the k-occurrence that makes a
    # member look like a hub comes from the group itself (the root cause is duplication)
    kocc = ctx.stats.k_occurrence
    false_hubs = []
    for r in top:
        if kocc[r] / ctx.k_graph >= STRONG_HUB_FACTOR:
            n_copies = own_copies(ctx, r)
            if n_copies and (kocc[r] - n_copies) / ctx.k_graph < STRONG_HUB_FACTOR:
                false_hubs.append((r, n_copies))
    if false_hubs:
        r, n_copies = false_hubs[0]
        summary += (f"; {ctx.name_of(r)} looks like a strong hub (in the top-{ctx.k_graph} "
                    f"of {kocc[r]:.0f} documents, at least 3k = "
                    f"{STRONG_HUB_FACTOR * ctx.k_graph:g}) only because of its {n_copies} "
                    f"cop{'y' if n_copies == 1 else 'ies'}")
        evidence["hubs_from_copies"] = {ctx.id_of(r): int(c) for r, c in false_hubs}
    summary += "." + _fix_sentence(ctx, "deduplicate", focus=copies)
    return _with_fix(ctx, "near_duplicates", summary, evidence, "deduplicate", s, e)
