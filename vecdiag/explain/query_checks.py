"""Cause checks about this query: low_margin, out_of_distribution, expected_far,
ann_miss (see :mod:`.causes` for how confidence is set)."""

from __future__ import annotations

import numpy as np

from ..results import fmt
from .causes import (effect, fix_name, judged_note, missed_for_copies, ramp, rerankings,
                     rescue, share, within_noise)
from .result import Cause
from .views import view_percentile
from .wording import standing

__all__ = ["check_low_margin", "check_out_of_distribution", "check_expected_far",
           "check_ann_miss", "ood_share", "ood_strength", "first_scores"]


def check_low_margin(ctx):
    """Low margin: the expected document misses the top-k by a hair.

    ``relgap`` = gap / (top score − median score of the query): the gap as a share of the
    query's score range. Strength ``1 − ramp(relgap, 0.01, 0.05)``, times
    ``0.5 + 0.5 · (share of the counterfactuals that lift it into the top-k)`` when some
    counterfactual lifts it: a miss that only one fix rescues is that fix's cause more
    than noise (when none rescues it, no fix names a sharper cause: no discount). With a
    missed expected document the confidence is ``0.9 s`` (the gap itself is the evidence; any small
    change to query or documents flips it), and the fix is the counterfactual that brings
    the document highest into the top-k without significantly hurting the judged queries
    (:func:`~vecdiag.explain.causes.rescue`), None when no fix does. Without one, a flat top-k (top-1 and k-th
    score within 1-5% of the range) is context (``0.3 s``); with a single result (k = 1)
    there is no order to be within noise and no cause is given.
    """
    key = ctx.key
    spread = float(key[ctx.top[0]] - ctx.median_key)
    if spread <= 0:
        return None
    if ctx.missed:
        pos, r0 = ctx.missed[0]
        gap = float(key[ctx.top[-1]] - key[pos])
        rel = gap / spread
        s = within_noise(ctx, pos)
        if s <= 0:
            return None
        # "within noise" means any re-ranking lifts it: when most counterfactuals do not,
        # the one that does names a sharper cause, and the margin is the weaker reading;
        # when none does there is no sharper cause, and the margin is the only reading
        fixes = rerankings(ctx)  # a counterfactual that re-ranks nothing lifts nothing
        lifted = (sum(ctx.rank_under(f, pos) <= ctx.k for f in fixes) / len(fixes)
                  if fixes else 0.0)
        if lifted > 0:
            s *= 0.5 + 0.5 * lifted
        fix, r1 = rescue(ctx, pos)
        summary = (f"{ctx.name_of(pos)} misses the top-{ctx.k} by {fmt(gap, 3)} (rank {r0}), "
                   f"{share(rel, 1)} of the query's score range: the ranking is within noise")
        if fix is not None:
            summary += (f"; {fix_name(fix)} brings it to rank {r1}{judged_note(ctx, fix)}, or "
                        f"show more results or re-rank with a cross-encoder.")
        else:
            summary += "; show more results or re-rank with a cross-encoder."
        evidence = {"gap": gap, "relative_gap": rel, "score_range": spread, "rank": r0}
        if fix is not None:
            evidence.update(rank_under_fix=r1, fix_effect=1.0)
        return Cause(code="low_margin", summary=summary, evidence=evidence, fix=fix,
                     confidence=round(0.9 * s, 4), ranking=True)
    if ctx.expected_pos or len(ctx.top) < 2:
        # a single result has no order among the top-k to be within noise
        return None
    flat = float(key[ctx.top[0]] - key[ctx.top[-1]]) / spread
    s = 1 - ramp(flat, 0.01, 0.05)
    if s <= 0:
        return None
    summary = (f"the top-{ctx.k} scores differ by only {share(flat, 1)} of the query's score "
               "range: their order is within noise." if flat > 0 else
               f"the top-{ctx.k} scores are all equal: their order is within noise (ties "
               "are ordered by corpus position).")
    return Cause(code="low_margin", summary=summary,
                 evidence={"top_spread": flat, "score_range": spread}, fix=None,
                 confidence=round(0.3 * s, 4), ranking=False)


def check_out_of_distribution(ctx):
    """Out of distribution: the query's nearest document is farther than almost every
    document's own nearest neighbour.

    ``p`` = share of corpus documents whose first-neighbour score is worse than the
    query's top score (under dot, each per unit of the length of the row that asks,
    :func:`first_scores`: the ranking depends on the query's direction only). Strength ``1 − ramp(p, 0.01, 0.05)``, times ``(1 − e)`` with e the
    larger effect of the ``add_prefix`` and ``chunk_documents`` counterfactuals: when
    embedding the query with its instruction, or reading the part of a document the
    model cut, brings the missed document in, the corpus does cover the topic and
    ``missing_prefix`` or ``truncation`` is the sharper diagnosis. Confidence ``0.85 s``
    when an expected document is missed or none is given, ``0.3 s`` (context) when all
    are found, a document that misses the top-k only for the near-copies ahead of it
    counted as found (de-duplicated it is in the top-k: ``near_duplicates`` explains the
    miss; the query's distance, seen on Cranfield, where 16% of MiniLM queries score
    their best document below 95% of the documents' own nearest neighbours, does not).
    """
    nn1, top_score = first_scores(ctx)
    p = ood_share(ctx)
    s = (1 - ramp(p, 0.01, 0.05)) * (1 - max(effect(ctx, "add_prefix"),
                                             effect(ctx, "chunk_documents")))
    if s <= 0:
        return None
    # a document missed only for the copies ahead of it is found in the corpus without
    # them: the query reached it, and the copies (near_duplicates) explain the miss
    found_all = bool(ctx.expected_pos) and all(missed_for_copies(ctx, pos)
                                               for pos, _ in ctx.missed)
    conf = (0.3 if found_all else 0.85) * s
    unit = " per unit of length" if ctx.metric == "dot" else ""
    summary = (f"the query lies far from every document: its nearest document scores "
               f"{fmt(top_score, 3)}{unit}, worse than the nearest neighbour of "
               f"{share(1 - p, 1)} of the documents{unit.replace('length', 'theirs')} "
               f"(their median {fmt(float(np.median(nn1)), 3)}"
               f"{'' if ctx.stats.exact else f', estimated from {ctx.stats.sample_size:,} sampled rows'}"
               f"); the corpus may not "
               f"cover this topic, or the query was embedded differently.")
    return Cause(code="out_of_distribution", summary=summary,
                 evidence={"top_score": top_score, "nn1_median": float(np.median(nn1)),
                           "share_of_documents_closer": 1 - p,
                           "nn1_exact": bool(ctx.stats.exact)},
                 fix=None, confidence=round(conf, 4), ranking=not found_all)


def first_scores(ctx) -> tuple:
    """``(documents' first-neighbour scores, the query's top score)`` as compared: under
    dot both per unit of the length of the row that asks (``stats.nn1_per_length`` and
    the top score over the query's length): a dot ranking depends on the query's
    direction only, and a query twice as long is no nearer the corpus (it was: a query
    half the documents' length read as out of distribution at 0.85, twice as long at 0)."""
    top_score = float(ctx.scores[ctx.top[0]])
    if ctx.metric == "dot":
        return ctx.stats.nn1_per_length, top_score / ctx.query_norm
    return ctx.stats.nn1, top_score


def ood_share(ctx) -> float:
    """Share of documents whose own nearest neighbour is farther than the query's top hit
    (under dot per unit of length, :func:`first_scores`)."""
    nn1, top_score = first_scores(ctx)
    if ctx.metric == "euclidean":
        return float(np.mean(nn1 > top_score))
    return float(np.mean(nn1 < top_score))


def ood_strength(ctx) -> float:
    """Strength of the out-of-distribution evidence (see check_out_of_distribution)."""
    return 1 - ramp(ood_share(ctx), 0.01, 0.05)


def check_expected_far(ctx):
    """Expected far: the expected document is far from the query in every view.

    Strength ``ramp(99 − pct, 0, 19)`` with pct its score's percentile among random
    corpus pairs (80th or lower: no closer than an unrelated pair), the largest over the
    scores as searched and the views of the vector fixes (cosine, centring,
    all-but-the-top, whitening, centring then cosine: the pair's and random pairs'
    scores after the fix, :func:`~vecdiag.explain.views.view_percentile`; a document
    with little of a narrow cone's direction is at the 1st percentile as searched and at
    the 95th centred: the cone, not the meaning, keeps it away), times
    ``ramp(rank / k, 2, 5)`` (a document within twice k is a near miss, not far), times
    ``(1 − best fix effect)`` (no fix rescues it), ``(1 − 0.7 · ood strength)`` (when
    the query itself is out of distribution, that is the sharper diagnosis) and
    ``(1 − lexical_mismatch strength)`` (when BM25 finds it, it is not far in every view).
    None when some counterfactual brings the document into the top-k. With several
    missed documents, the one with the largest first two factors (the nearest missed
    one may be a near miss while another is far). Confidence
    ``0.9 ×`` that. Fix ``hybrid_lexical`` when its counterfactual lifts the document,
    else None (nothing to try on these vectors: another model, or the texts); the sentence
    advises lexical search only then, or when it was not measured (no texts), and otherwise
    gives the rank it puts the document at. Another model given as an alternative is named with its rank.
    """
    if not ctx.missed:
        return None
    # every missed document: the nearest may be a near miss while another is far
    far = [f for f in (_far_from_query(ctx, pos, r0) for pos, r0 in ctx.missed) if f]
    if not far:
        return None
    s, pos, r0, pct, best_fix, best_rank, view_pct, view = max(far, key=lambda f: (f[0], -f[2]))
    best_e = max([effect(ctx, fix) for fix in ctx.rankings], default=0.0)
    # the lexical evidence is about the first missed document
    lexical = (ctx.lexical.strength if ctx.lexical is not None and ctx.lexical.position == pos
               else 0.0)
    s *= (1 - best_e) * (1 - 0.7 * ood_strength(ctx)) * (1 - lexical)
    if s <= 0:
        return None
    tried = (f"no fix brings it into the top-{ctx.k} (best: rank {best_rank} under "
             f"{fix_name(best_fix)})" if best_fix is not None
             else f"no fix brings it closer than rank {r0}")
    # lexical search is advice only when it was not measured or lifts the document: the
    # counterfactual table beside the sentence shows where it puts it
    lexical_rank = ctx.rank_under("hybrid_lexical", pos)
    advice = ("check the texts, try another model or add lexical search"
              if lexical_rank is None or lexical_rank < r0 else
              f"check the texts or try another model (hybrid lexical search puts it at "
              f"rank {lexical_rank})")
    summary = (f"{ctx.name_of(pos)} is far from the query in every view: "
               f"{standing('its', ctx.scores[pos], pct, ctx.metric)} "
               f"(rank {r0} of {ctx.stats.n}), and {tried}; the embedding "
               f"misses the meaning: {advice}.")
    evidence = {"rank": r0, "percentile": pct, "best_rank_under_fixes": best_rank,
                "best_fix": best_fix, "percentile_in_best_view": view_pct,
                "best_view": view}
    alt = {name: int(r.ranks([pos])[0]) for name, r in ctx.alternatives.items()}
    if alt:
        name, r_alt = min(alt.items(), key=lambda kv: (kv[1], kv[0]))
        summary += f" The model {name!r} ranks it {r_alt}."
        evidence["alternative_ranks"] = alt
    fix = "hybrid_lexical" if lexical_rank is not None and lexical_rank < r0 else None
    return Cause(code="expected_far", summary=summary, evidence=evidence, fix=fix,
                 confidence=round(0.9 * s, 4), ranking=True)


def _far_from_query(ctx, pos, r0):
    """``(s, pos, r0, pct, best_fix, best_rank, view_pct, view)`` of one missed document
    for :func:`check_expected_far` (its strength before the fix, OOD and lexical
    factors; ``view_pct`` its largest percentile over the fixes' views, ``view`` that
    view, :func:`~vecdiag.explain.views.view_percentile`), None when it is not far or
    some counterfactual brings it into the top-k."""
    pct = float(ctx.expected_percentile[pos])
    # far in rank too: random pairs are document pairs, which score above query-document
    # pairs, so a near miss (rank 13 for k = 10) can sit at the 88th percentile
    s = ramp(99 - pct, 0, 19) * ramp(r0 / ctx.k, 2, 5)
    if s <= 0:
        return None
    best_fix, best_rank = None, r0
    for fix in sorted(ctx.rankings):
        r1 = ctx.rank_under(fix, pos)
        if r1 < best_rank:
            best_fix, best_rank = fix, r1
    if best_rank <= ctx.k:
        return None  # a fix brings it in: not far in every view
    # far in every view: a shared direction (or the lengths under dot) can put the pair
    # below every random pair as searched, and at the 95th percentile once removed
    view_pct, view = view_percentile(ctx, pos)
    s = ramp(99 - view_pct, 0, 19) * ramp(r0 / ctx.k, 2, 5)
    if s <= 0:
        return None
    return s, pos, r0, pct, best_fix, best_rank, view_pct, view


def check_ann_miss(ctx):
    """ANN miss (``returned`` given): exact search finds what the production index lost.

    With expected documents: confidence 0.95 when one sits in the exact top-k but not in
    ``returned``; otherwise context. Without: ``0.9 · ramp(1 − recall, 0, 0.3)`` with
    recall the share of the exact top-k the returned list holds.
    """
    if ctx.returned_pos is None:
        return None
    # what the user saw: the first k returned (the same k as recall@k counts)
    shown = set(ctx.returned_pos[:ctx.k])
    exact_top = ctx.top.tolist()
    recall = ctx.ann_recall
    lost = [p for p, r in zip(ctx.expected_pos, ctx.expected_ranks.tolist())
            if r <= ctx.k and p not in shown]
    evidence = {"recall": recall, "returned": len(ctx.returned_pos),
                "lost": [ctx.id_of(p) for p in exact_top if p not in shown]}
    if lost:
        where = ("not among the " + str(len(ctx.returned_pos)) + " returned"
                 if lost[0] not in ctx.returned_pos else
                 f"returned only at place {list(ctx.returned_pos).index(lost[0]) + 1}")
        summary = (f"the production index lost {ctx.name_of(lost[0])}: exact search ranks it "
                   f"{ctx.rank_of(lost[0])}, inside the top-{ctx.k}, but it is {where} "
                   f"(recall@{ctx.k} {recall:.2f}); raise the ANN search effort (ef_search / "
                   "nprobe) or rebuild the index.")
        return Cause(code="ann_miss", summary=summary, evidence=evidence, fix=None,
                     confidence=0.95, ranking=True)
    if recall >= 1:
        return None
    if ctx.expected_pos:
        conf, ranking = 0.3 * (1 - recall), False
    else:
        conf, ranking = 0.9 * ramp(1 - recall, 0, 0.3), True
    summary = (f"the returned list holds {'none' if recall <= 0 else 'only ' + share(recall)} of the exact top-{ctx.k}; the "
               f"approximate index misses neighbours: raise its search effort.")
    return Cause(code="ann_miss", summary=summary, evidence=evidence, fix=None,
                 confidence=round(conf, 4), ranking=ranking)
