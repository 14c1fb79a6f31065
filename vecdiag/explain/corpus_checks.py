"""Cause checks rooted in the corpus's geometry: hub, norm_bias, metric_mismatch,
rogue_dimensions, anisotropy, near_duplicates (see :mod:`.causes` for how strength and
effect make the confidence)."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from ..diagnostics.rules import THRESHOLDS
from ..diagnostics.sampling import sampled_phrase
from ..results import fmt
from .causes import (_best_fix, _fix_sentence, _outranking, _with_fix, effect, ordinal, ramp,
                     share)
from .result import Cause

__all__ = ["check_hub", "check_norm_bias", "check_metric_mismatch", "check_rogue_dimensions",
           "check_anisotropy", "check_near_duplicates", "rogue_strength",
           "shared_direction_strength", "anisotropy_strength", "random_direction_share",
           "norm_bias_strength", "spread_dimensions", "own_copies",
           "k_occurrence_interval"]


@functools.lru_cache(maxsize=64)
def random_direction_share(d: int, top: int) -> float:
    """Mean share of ``Σ u_j²`` held by the ``top`` largest of ``d`` coordinates of a
    random unit direction (Monte Carlo, 512 draws, seed 0): what the rogue share of a
    shared direction would be if no dimension were special. About 0.55 for d = 32 and
    top = 5, 0.1 for d = 384."""
    from ..diagnostics.rogue_rules import null_top_share  # the same null as vd.diagnose's rule

    return 1.0 if top >= d else null_top_share(d, top, draws=512)


def rogue_strength(ctx) -> float:
    """``ramp(excess, 0.4, 0.7) · ramp(E[cos], 0.05, 0.2)``: ``excess`` is how far the
    top dimensions' share of the expected cosine goes from what a random shared
    direction would give (:func:`random_direction_share`) toward 1; a share of a
    near-zero mean cosine means nothing, hence the second factor."""
    rogue = ctx.rogue
    if rogue is None:
        return 0.0
    base = random_direction_share(ctx.stats.d, len(rogue.dims))
    excess = (rogue.share - base) / (1 - base) if base < 1 else 0.0
    return ramp(excess, 0.4, 0.7) * ramp(rogue.mean_cosine, 0.05, 0.2)


def anisotropy_strength(mean_cosine: float) -> float:
    """``ramp(E[cos], warning, critical)`` with :func:`vecdiag.diagnose`'s anisotropy
    thresholds (0.4, 0.7): explain calls the scores squeezed exactly where diagnose warns
    (MiniLM's 0.29 on Cranfield is a healthy spread for both)."""
    limits = THRESHOLDS["anisotropy"]
    return ramp(mean_cosine, limits["warning"], limits["critical"])


def shared_direction_strength(ctx) -> float:
    """``max(anisotropy strength, rogue strength)``: how much one shared direction
    (spread out, or in a few rogue dimensions) dominates the corpus."""
    out = 0.0
    if ctx.anisotropy is not None:
        out = anisotropy_strength(ctx.anisotropy)
    return max(out, rogue_strength(ctx))


def own_copies(ctx, row) -> int:
    """How many of ``row``'s k-occurrences its own near-copies (cosine >= 0.98) give it:
    a copy has the original among its nearest neighbours, so a group of c copies makes
    each member look like a hub of c lists. Counted as ``min(copies, k-occurrence)``."""
    from .counterfactuals import DUPLICATE_THRESHOLD

    copies = ctx.stats.copies_of(int(row), DUPLICATE_THRESHOLD)
    return int(min(copies, ctx.stats.k_occurrence[row]))


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
    """Hub: a returned document is in far more top-k lists than the mean (k).

    Strength: ``ramp(N'_k(h) / k, 3, 10)`` for the returned document with the largest
    N'_k, the k-occurrence N_k (the mean of N_k over the corpus is exactly k) less the
    lists of its own near-copies (:func:`own_copies`): a document that is "near
    everyone" only because it has many copies is a duplication problem
    (``near_duplicates``), not a hub. It is multiplied by ``1 − 0.5 · shared-direction
    strength`` (see :func:`shared_direction_strength`): documents close to a direction
    every vector shares are near everyone, so strong anisotropy or rogue dimensions are
    the deeper cause. Fix: CSLS or mutual proximity, whichever moves the expected
    documents more. Under dot product the *confidence* is multiplied by
    ``1 − ramp(‖h‖ / median norm, 1.15, 2)`` (``evidence["length_discount"]``; no cause
    from 2× on): a hub that is merely long is explained by ``norm_bias``, and its
    re-ranker lifting the document is no evidence of hubness (a discount of the strength
    alone would leave most of what a rescuing fix gives, see
    :func:`~vecdiag.explain.causes.confidence`). Under euclidean distance the mirror
    image, ``1 − ramp(median norm / ‖h‖, 1.15, 2)``: a document much shorter than the
    others sits near the origin, at about ``‖x‖`` from every ``x``, so it is near
    everyone by length alone (``metric_mismatch``: vectors of varying length searched
    by a length-sensitive metric).
    """
    kocc = ctx.stats.k_occurrence
    rows = _outranking(ctx)
    candidates = [r for r in rows if kocc[r] / ctx.k_graph >= 3.0]
    if not candidates:
        return None
    copies = {r: own_copies(ctx, r) for r in candidates}
    own = {r: kocc[r] - copies[r] for r in candidates}
    h = max(candidates, key=lambda r: (own[r], -r))
    ratio = own[h] / ctx.k_graph
    s = ramp(ratio, 3.0, 10.0)
    long = 0.0
    med = max(float(np.median(ctx.stats.norms)), 1e-300)
    if ctx.metric == "dot":  # a long document wins every dot product: that is norm_bias
        long = ramp(ctx.stats.norms[h] / med, 1.15, 2.0)
    elif ctx.metric == "euclidean":  # a short one is near every document: metric_mismatch
        long = ramp(med / max(float(ctx.stats.norms[h]), 1e-300), 1.15, 2.0)
    s *= 1 - 0.5 * shared_direction_strength(ctx)
    if s <= 0 or long >= 1:
        return None
    hubs = [r for r in candidates if own[r] / ctx.k_graph >= 3.0]
    fix, e = _best_fix(ctx, ("csls", "mutual_proximity"), focus=hubs)
    about = "" if ctx.stats.exact else "about "
    summary = (f"{ctx.name_of(h)} is a hub: it is among the top-{ctx.k_graph} neighbours of "
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
                "median_k_occurrence": float(np.median(kocc)), "ratio_to_mean": float(ratio),
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
    would otherwise give both causes the same credit).
    With an embedder trained for dot product searched by cosine: context only.
    """
    norms = ctx.stats.norms
    if ctx.metric == "cosine":
        trained = ctx.model_similarity
        if trained == "dot":
            return Cause(code="metric_mismatch", summary=(
                "the model was trained for dot product but the search uses cosine; "
                "lengths the model encodes are thrown away."),
                evidence={"model_similarity": trained, "metric": "cosine"}, fix=None,
                confidence=0.25, ranking=False)
        return None
    mean = float(norms.mean())
    cv = float(norms.std() / mean) if mean > 0 else 0.0
    s = ramp(cv, 0.05, 0.3)
    qratio = ctx.query_norm / float(np.median(norms)) if np.median(norms) > 0 else 1.0
    if ctx.metric == "euclidean":
        s = max(s, ramp(abs(math.log(max(qratio, 1e-12))), 0.2, 1.0))
    else:
        s *= 0.8 * (1 - norm_bias_strength(ctx))
    if s <= 0:
        return None
    summary = (f"the vectors are not normalised (their lengths vary by {cv:.0%}; the query is "
               f"{qratio:.2f}× the median document) but are searched by {ctx.metric}, so "
               f"length decides part of the ranking.") + _fix_sentence(ctx, "cosine_metric")
    evidence = {"norm_cv": cv, "query_norm_ratio": float(qratio), "metric": ctx.metric}
    return _with_fix(ctx, "metric_mismatch", summary, evidence, "cosine_metric", s,
                     effect(ctx, "cosine_metric", focus=ctx.top.tolist()))


def spread_dimensions(ctx):
    """``(strength, dims, share)`` of the second sign of rogue dimensions: a few
    zero-mean dimensions of huge variance, which carry no part of the mean cosine but
    decide which documents score alike.

    ``share`` is the part of the unit vectors' total variance held by the ``top``
    dimensions of largest variance (``dims``); the variance of dimension j is
    ``E[û_j²] − E[û_j]² ∝ energy_j − contribution_j`` of
    :class:`vecdiag.diagnostics.rogue.RogueDimensions` (a shared offset, anisotropy's
    and the first sign's, is left out). Strength ``ramp(excess, 0.15, 0.3)``
    (:func:`vecdiag.diagnose`'s energy warning and critical levels) with ``excess`` how
    far ``share`` goes from the even ``top / d`` toward 1; 0 when ``top`` is more than
    a quarter of ``d`` (every dimension is a large share) and, below 50 rows, when the
    excess is within what as many random rows give (diagnose's rule)."""
    from ..diagnostics.rogue_rules import SMALL_N, energy_null_quantile

    rogue = ctx.rogue
    d = ctx.stats.d
    if rogue is None or rogue.energy is None or rogue.top > d / 4:
        return 0.0, [], 0.0
    var = np.clip(np.asarray(rogue.energy) - np.asarray(rogue.contribution), 0.0, None)
    total = float(var.sum())
    if total <= 0:
        return 0.0, [], 0.0
    dims = np.argsort(-var, kind="stable")[:rogue.top]
    held = float(var[dims].sum()) / total
    even = rogue.top / d
    excess = (held - even) / (1 - even)
    n = ctx.stats.n
    if n < SMALL_N and excess <= energy_null_quantile(n, d, rogue.top):
        return 0.0, [], 0.0
    limits = THRESHOLDS["rogue_dimensions"]
    return (ramp(excess, limits["energy_warning"], limits["energy_critical"]),
            [int(j) for j in dims], held)


def check_rogue_dimensions(ctx):
    """Rogue dimensions: a few dimensions carry most of the expected cosine, or most of
    the documents' variance.

    Strength: the larger of :func:`rogue_strength`, from the part of the expected cosine
    of random pairs carried by the top 5 dimensions (:func:`vecdiag.rogue_dimensions`)
    against what any shared direction would give in this dimension, and the strength of
    :func:`spread_dimensions` (zero-mean dimensions of huge variance, named by their
    share of the documents' variance). Fix: the best of whitening, all-but-the-top and
    centring.
    """
    rogue = ctx.rogue
    if rogue is None:
        return None
    s_mean = rogue_strength(ctx)
    s_spread, spread_dims, spread_share = spread_dimensions(ctx)
    s = max(s_mean, s_spread)
    if s <= 0:
        return None
    fix, e = _best_fix(ctx, ("whiten", "all_but_the_top", "center"), focus=ctx.top.tolist())
    u_q = ctx.unit_query
    if s_mean >= s_spread:
        dims = [int(d) for d in rogue.dims]
        what = f"{share(rogue.share)} of the average cosine between documents"
    else:
        dims = spread_dims
        what = (f"{share(spread_share)} of the documents' variance "
                f"({share(len(dims) / ctx.stats.d)} if spread evenly)")
    top_part = float(u_q[dims] @ ctx.stats.unit_of([int(ctx.top[0])])[0][dims])
    summary = (f"{len(dims)} dimensions ({', '.join(map(str, dims))}) carry {what}; they "
               f"add {top_part:.2f} to the top hit's cosine")
    evidence = {"dims": dims, "share": float(rogue.share), "mean_cosine": float(rogue.mean_cosine),
                "variance_share": float(spread_share),
                "judged_on": "share" if s_mean >= s_spread else "variance_share",
                "top_hit_rogue_part": top_part}
    if ctx.missed:
        pos = ctx.missed[0][0]
        exp_part = float(u_q[dims] @ ctx.stats.unit_of([int(pos)])[0][dims])
        summary += f" and {exp_part:.2f} to {ctx.name_of(pos)}'s"
        evidence["expected_rogue_part"] = exp_part
    summary += "." + _fix_sentence(ctx, fix, focus=ctx.top.tolist())
    return _with_fix(ctx, "rogue_dimensions", summary, evidence, fix, s, e)


def check_anisotropy(ctx):
    """Anisotropy: every vector shares one direction, squeezing all cosines together.

    Strength: ``ramp(E[cos], 0.4, 0.7) · (1 − rogue strength)`` (diagnose's warning and
    critical levels, :func:`anisotropy_strength`) with E[cos] the mean
    cosine of random pairs (:func:`vecdiag.anisotropy`); when a few rogue dimensions
    carry the shared direction, ``rogue_dimensions`` is the sharper diagnosis. Fix:
    centring (or all-but-the-top); when neither moves the ranking this is context: the
    shared direction shifts every score alike (a threshold problem, not a ranking one).
    """
    mc = ctx.anisotropy
    if mc is None:
        return None
    s = anisotropy_strength(mc) * (1 - rogue_strength(ctx))
    if s <= 0:
        return None
    fix, e = _best_fix(ctx, ("center", "all_but_the_top"), focus=ctx.top.tolist())
    summary = (f"every score is squeezed into a narrow band: two random documents already "
               f"have cosine {mc:.2f}, so the top score {fmt(float(ctx.scores[ctx.top[0]]), 3)} "
               f"is at the {ordinal(ctx.top_percentiles[0])} percentile of random pairs.")
    if e > 0:
        summary += _fix_sentence(ctx, fix, focus=ctx.top.tolist())
    else:
        summary += (" Centring does not change this query's ranking: it shifts all scores "
                    "alike, so fix score thresholds, not the ranking.")
    evidence = {"mean_cosine": float(mc)}
    return _with_fix(ctx, "anisotropy", summary, evidence, fix, s, e)


def check_near_duplicates(ctx):
    """Near-duplicates: copies (cosine >= 0.98) take several top-k places.

    Strength: ``ramp(w / k, 0.05, 0.25)`` with w the top-k places taken by second and
    later copies of a document ranked higher. Fix: de-duplication.
    """
    groups = ctx.duplicate_groups
    if not groups:
        return None
    top = ctx.top.tolist()
    top_set = set(top)
    wasted, shown = 0, []
    for g in groups:
        inside = [r for r in g.tolist() if r in top_set]
        if len(inside) >= 2:
            wasted += len(inside) - 1
            shown.append([ctx.name_of(r) for r in inside])
    if wasted == 0:
        return None
    s = ramp(wasted / ctx.k, 0.05, 0.25)
    copies = [r for g in groups for r in sorted(g.tolist(), key=lambda r: ctx.rank_of(r))[1:]
              if r in top_set]
    e = effect(ctx, "deduplicate", focus=copies)
    if s <= 0 and e <= 0:      # a copy or two among many places, and removing it moves nothing
        return None
    summary = (f"{wasted} of the top-{ctx.k} places go to near-copies of higher-ranked "
               f"documents ({'; '.join(', '.join(map(str, g)) for g in shown[:3])})")
    evidence = {"wasted_places": wasted, "groups": shown, "threshold": 0.98}
    # a copy counts its originals among its neighbours: the k-occurrence that makes a
    # member look like a hub comes from the group itself (the root cause is duplication)
    kocc = ctx.stats.k_occurrence
    false_hubs = []
    for r in top:
        if kocc[r] / ctx.k_graph >= 3.0:
            n_copies = own_copies(ctx, r)
            if n_copies and (kocc[r] - n_copies) / ctx.k_graph < 3.0:
                false_hubs.append((r, n_copies))
    if false_hubs:
        r, n_copies = false_hubs[0]
        summary += (f"; {ctx.name_of(r)} looks like a hub (in the top-{ctx.k_graph} of "
                    f"{kocc[r]:.0f} documents) only because of its {n_copies} "
                    f"cop{'y' if n_copies == 1 else 'ies'}")
        evidence["hubs_from_copies"] = {ctx.id_of(r): int(c) for r, c in false_hubs}
    summary += "." + _fix_sentence(ctx, "deduplicate", focus=copies)
    return _with_fix(ctx, "near_duplicates", summary, evidence, "deduplicate", s, e)
