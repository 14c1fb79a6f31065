"""The cause checks: each looks at one way a vector search goes wrong.

Every check returns a :class:`Cause` or None (no evidence at all). A check measures two
things and multiplies them into the confidence:

*strength* ``s`` in [0, 1]
    How abnormal the statistic is: the hub's k-occurrence against the mean ``k``, the
    top documents' lengths against the median length, the shared-direction cosine, ...
    Each uses a linear ramp between a "normal" and a "clearly broken" value, stated in
    its docstring.
*effect* ``e`` in [0, 1]
    What the cause's fix does to this query (from the counterfactual rankings). With
    missed expected documents: 1 when the fix brings a missed one into the top-k,
    ``0.5 · log(r0 / r1) / log(r0 / k)`` for partial progress from rank r0 to r1, 0 when
    it does not help (averaged over the missed documents). Without ``expected``: the share
    of the flagged documents (the hub, the copies) that leave the top-k. When every
    expected document is already in the top-k there is nothing to fix: e = 0.

For a cause with a fix, ``confidence = s · (0.3 + 0.7 e)``: a cause whose fix moves
nothing is *context* (confidence at most 0.3, ``ranking=False``). Causes without a fix
(``low_margin``, ``expected_far``, ``out_of_distribution``, ``ann_miss``) rest on their
own evidence, described per check.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..results import fmt
from .result import Cause

__all__ = ["run_checks", "effect", "ramp", "FIX_NAMES"]

FIX_NAMES = {"csls": "CSLS", "mutual_proximity": "mutual proximity", "center": "centring",
             "all_but_the_top": "all-but-the-top", "whiten": "whitening",
             "cosine_metric": "cosine", "deduplicate": "de-duplication",
             "add_prefix": "the model's prefixes", "chunk_documents": "chunking",
             "hybrid_lexical": "hybrid lexical search"}


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at or below ``lo``, 1 at or above ``hi``, linear between (``lo > hi`` reverses).

    Examples
    --------
    >>> ramp(5, 0, 10), ramp(-1, 0, 10), ramp(0.02, 0.05, 0.01)
    (0.5, 0.0, 0.75)
    """
    if not math.isfinite(x):
        return 1.0 if (x > 0) == (hi > lo) else 0.0
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo))))


def effect(ctx, fix: str, focus=None) -> float:
    """How much ``fix`` moves what matters (see the module docstring)."""
    ranking = ctx.rankings.get(fix)
    if ranking is None:
        return 0.0
    if ctx.missed:
        gains = []
        for pos, r0 in ctx.missed:
            r1 = int(ranking.ranks([pos])[0])
            if r1 <= ctx.k:
                gains.append(1.0)
            elif r1 < r0:
                gains.append(0.5 * math.log(r0 / r1) / math.log(r0 / ctx.k))
            else:
                gains.append(0.0)
        return float(np.mean(gains))
    if ctx.expected_pos or not focus:
        return 0.0
    new_top = set(ranking.top(ctx.k).tolist())
    return sum(p not in new_top for p in focus) / len(focus)


def _best_fix(ctx, fixes, focus=None):
    """The fix (among ``fixes``) with the largest effect; the first one on ties."""
    scored = [(effect(ctx, f, focus), -i, f) for i, f in enumerate(fixes) if f in ctx.rankings]
    if not scored:
        return fixes[0], 0.0
    e, _, f = max(scored)
    return f, e


def _fix_sentence(ctx, fix, focus=None) -> str:
    """'Under CSLS doc-417 moves from rank 14 to rank 2.' (or what happens instead)."""
    ranking = ctx.rankings.get(fix)
    if ranking is None:
        return ""
    name = FIX_NAMES.get(fix, fix)
    if ctx.missed:
        pos, r0 = ctx.missed[0]
        r1 = int(ranking.ranks([pos])[0])
        verb = f"moves from rank {r0} to rank {r1}" if r1 != r0 else f"stays at rank {r0}"
        return f" Under {name} {ctx.name_of(pos)} {verb}."
    if focus:
        new_top = set(ranking.top(ctx.k).tolist())
        left = [p for p in focus if p not in new_top]
        if left:
            return f" Under {name} {len(left)} of them leave the top-{ctx.k}."
        return f" Under {name} they stay in the top-{ctx.k}."
    return ""


def _with_fix(code, summary, evidence, fix, s, e) -> Cause:
    evidence = dict(evidence, strength=round(s, 4), fix_effect=round(e, 4))
    return Cause(code=code, summary=summary, evidence=evidence, fix=fix,
                 confidence=round(float(s * (0.3 + 0.7 * e)), 4), ranking=bool(e > 0))


def _outranking(ctx) -> list:
    """Rows in the top-k that outrank the first missed expected document (all top-k
    without a missed one)."""
    return ctx.top.tolist()


@functools.lru_cache(maxsize=64)
def random_direction_share(d: int, top: int) -> float:
    """Mean share of ``Σ u_j²`` held by the ``top`` largest of ``d`` coordinates of a
    random unit direction (Monte Carlo, 512 draws, seed 0): what the rogue share of a
    shared direction would be if no dimension were special. About 0.55 for d = 32 and
    top = 5, 0.1 for d = 384."""
    if top >= d:
        return 1.0
    u = np.random.default_rng(0).normal(size=(512, d)) ** 2
    u /= u.sum(axis=1, keepdims=True)
    return float(np.mean(-np.sort(-u, axis=1)[:, :top].sum(axis=1)))


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


def shared_direction_strength(ctx) -> float:
    """``max(ramp(E[cos], 0.2, 0.5), rogue strength)``: how much one shared direction
    (spread out, or in a few rogue dimensions) dominates the corpus."""
    out = 0.0
    if ctx.anisotropy is not None:
        out = ramp(ctx.anisotropy, 0.2, 0.5)
    return max(out, rogue_strength(ctx))


# ------------------------------------------------------------------ the checks
def check_hub(ctx):
    """Hub: a returned document is in far more top-k lists than the mean (k).

    Strength: ``ramp(N_k(h) / k, 3, 10)`` for the returned document with the largest
    k-occurrence N_k (the mean of N_k over the corpus is exactly k). Under dot product it
    is multiplied by ``1 − ramp(‖h‖ / median norm, 1.3, 3)``: a hub that is merely long
    is explained by ``norm_bias``; and by ``1 − 0.5 · shared-direction strength`` (see
    :func:`shared_direction_strength`): documents close to a direction every vector
    shares are near everyone, so strong anisotropy or rogue dimensions are the deeper
    cause. Fix: CSLS or mutual proximity, whichever moves the
    expected documents more.
    """
    kocc = ctx.stats.k_occurrence
    rows = _outranking(ctx)
    h = max(rows, key=lambda r: (kocc[r], -r))
    ratio = kocc[h] / ctx.k_graph
    s = ramp(ratio, 3.0, 10.0)
    if ctx.metric == "dot":  # a long document wins every dot product: that is norm_bias
        s *= 1 - ramp(ctx.stats.norms[h] / max(float(np.median(ctx.stats.norms)), 1e-300),
                      1.3, 3.0)
    s *= 1 - 0.5 * shared_direction_strength(ctx)
    if s <= 0:
        return None
    hubs = [r for r in rows if kocc[r] / ctx.k_graph >= 3.0]
    fix, e = _best_fix(ctx, ("csls", "mutual_proximity"), focus=hubs)
    frac = kocc[h] / ctx.stats.n
    med = float(np.median(kocc)) / ctx.stats.n
    summary = (f"{ctx.name_of(h)} is a hub: it is in the top-{ctx.k_graph} of {frac:.0%} of all "
               f"documents (corpus median {med:.0%})")
    evidence = {"hub": ctx.id_of(h), "k_occurrence": float(kocc[h]), "fraction": float(frac),
                "median_fraction": med, "ratio_to_mean": float(ratio),
                "hubs_in_top_k": [ctx.id_of(r) for r in hubs],
                "k_occurrence_exact": bool(ctx.stats.exact)}
    if ctx.missed:
        pos = ctx.missed[0][0]
        diff = ctx.key[h] - ctx.key[pos]
        summary += f"; it outranks {ctx.name_of(pos)} by {fmt(float(diff), 3)}"
        evidence["outranks_by"] = float(diff)
    summary += "." + _fix_sentence(ctx, fix, focus=hubs)
    return _with_fix("hub", summary, evidence, fix, s, e)


def check_norm_bias(ctx):
    """Norm bias (dot product only): the top documents win by length, not direction.

    Strength: ``ramp(L, 1.3, 3)`` with ``L`` the median length of the top-k documents
    over the corpus median length. Fix: cosine.
    """
    if ctx.metric != "dot":
        return None
    norms = ctx.stats.norms
    med = float(np.median(norms))
    if med <= 0:
        return None
    top_norm = float(np.median(norms[ctx.top]))
    ratio = top_norm / med
    s = ramp(ratio, 1.3, 3.0)
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
    return _with_fix("norm_bias", summary, evidence, "cosine_metric", s,
                     effect(ctx, "cosine_metric", focus=ctx.top.tolist()))


def check_metric_mismatch(ctx):
    """Metric mismatch: vectors of varying length searched by dot or euclidean.

    Strength: ``ramp(cv, 0.05, 0.3)`` with cv the coefficient of variation of the corpus
    norms; under euclidean also ``ramp(|log(‖q‖ / median)|, 0.2, 1)`` (a query much
    shorter or longer than the documents is near the short or long ones); under dot
    times 0.8, since :func:`check_norm_bias` names the specific length problem.
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
        s *= 0.8
    if s <= 0:
        return None
    summary = (f"the vectors are not normalised (their lengths vary by {cv:.0%}; the query is "
               f"{qratio:.2f}× the median document) but are searched by {ctx.metric}, so "
               f"length decides part of the ranking.") + _fix_sentence(ctx, "cosine_metric")
    evidence = {"norm_cv": cv, "query_norm_ratio": float(qratio), "metric": ctx.metric}
    return _with_fix("metric_mismatch", summary, evidence, "cosine_metric", s,
                     effect(ctx, "cosine_metric", focus=ctx.top.tolist()))


def check_rogue_dimensions(ctx):
    """Rogue dimensions: a few dimensions carry most of the expected cosine.

    Strength: :func:`rogue_strength`, from the part of the expected cosine of random
    pairs carried by the top 5 dimensions (:func:`vecdiag.rogue_dimensions`) against
    what any shared direction would give in this dimension. Fix: the best of whitening,
    all-but-the-top and centring.
    """
    rogue = ctx.rogue
    if rogue is None:
        return None
    s = rogue_strength(ctx)
    if s <= 0:
        return None
    dims = [int(d) for d in rogue.dims]
    fix, e = _best_fix(ctx, ("whiten", "all_but_the_top", "center"), focus=ctx.top.tolist())
    u_q = ctx.unit_query
    top_part = float(u_q[dims] @ ctx.stats.unit[ctx.top[0]][dims])
    summary = (f"{len(dims)} dimensions ({', '.join(map(str, dims))}) carry "
               f"{rogue.share:.0%} of the average cosine between documents; they add "
               f"{top_part:.2f} to the top hit's cosine")
    evidence = {"dims": dims, "share": float(rogue.share), "mean_cosine": float(rogue.mean_cosine),
                "top_hit_rogue_part": top_part}
    if ctx.missed:
        pos = ctx.missed[0][0]
        exp_part = float(u_q[dims] @ ctx.stats.unit[pos][dims])
        summary += f" and {exp_part:.2f} to {ctx.name_of(pos)}'s"
        evidence["expected_rogue_part"] = exp_part
    summary += "." + _fix_sentence(ctx, fix, focus=ctx.top.tolist())
    return _with_fix("rogue_dimensions", summary, evidence, fix, s, e)


def check_anisotropy(ctx):
    """Anisotropy: every vector shares one direction, squeezing all cosines together.

    Strength: ``ramp(E[cos], 0.2, 0.5) · (1 − rogue strength)`` with E[cos] the mean
    cosine of random pairs (:func:`vecdiag.anisotropy`); when a few rogue dimensions
    carry the shared direction, ``rogue_dimensions`` is the sharper diagnosis. Fix:
    centring (or all-but-the-top); when neither moves the ranking this is context: the
    shared direction shifts every score alike (a threshold problem, not a ranking one).
    """
    mc = ctx.anisotropy
    if mc is None:
        return None
    s = ramp(mc, 0.2, 0.5) * (1 - rogue_strength(ctx))
    if s <= 0:
        return None
    fix, e = _best_fix(ctx, ("center", "all_but_the_top"), focus=ctx.top.tolist())
    summary = (f"every score is squeezed into a narrow band: two random documents already "
               f"have cosine {mc:.2f}, so the top score {fmt(float(ctx.scores[ctx.top[0]]), 3)} "
               f"is at the {ctx.top_percentiles[0]:.1f}th percentile of random pairs.")
    if e > 0:
        summary += _fix_sentence(ctx, fix, focus=ctx.top.tolist())
    else:
        summary += (" Centring does not change this query's ranking: it shifts all scores "
                    "alike, so fix score thresholds, not the ranking.")
    evidence = {"mean_cosine": float(mc)}
    return _with_fix("anisotropy", summary, evidence, fix, s, e)


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
    summary = (f"{wasted} of the top-{ctx.k} places go to near-copies of higher-ranked "
               f"documents ({'; '.join(', '.join(map(str, g)) for g in shown[:3])})."
               + _fix_sentence(ctx, "deduplicate", focus=copies))
    evidence = {"wasted_places": wasted, "groups": shown, "threshold": 0.98}
    return _with_fix("near_duplicates", summary, evidence, "deduplicate", s, e)


def check_low_margin(ctx):
    """Low margin: the expected document misses the top-k by a hair.

    ``relgap`` = gap / (top score − median score of the query): the gap as a share of the
    query's score range. Strength ``1 − ramp(relgap, 0.01, 0.05)``. With a missed expected
    document the confidence is ``0.9 s`` (the gap itself is the evidence; any small
    change to query or documents flips it). Without one, a flat top-k (top-1 and k-th
    score within 1-5% of the range) is context (``0.3 s``).
    """
    key = ctx.key
    spread = float(key[ctx.top[0]] - ctx.median_key)
    if spread <= 0:
        return None
    if ctx.missed:
        pos, r0 = ctx.missed[0]
        gap = float(key[ctx.top[-1]] - key[pos])
        rel = gap / spread
        s = 1 - ramp(rel, 0.01, 0.05)
        if s <= 0:
            return None
        summary = (f"{ctx.name_of(pos)} misses the top-{ctx.k} by {fmt(gap, 3)} (rank {r0}), "
                   f"{rel:.1%} of the query's score range: the ranking is within noise; "
                   f"show more results or re-rank with a cross-encoder.")
        return Cause(code="low_margin", summary=summary,
                     evidence={"gap": gap, "relative_gap": rel, "score_range": spread,
                               "rank": r0}, fix=None, confidence=round(0.9 * s, 4),
                     ranking=True)
    if ctx.expected_pos:
        return None
    flat = float(key[ctx.top[0]] - key[ctx.top[-1]]) / spread
    s = 1 - ramp(flat, 0.01, 0.05)
    if s <= 0:
        return None
    summary = (f"the top-{ctx.k} scores differ by only {flat:.1%} of the query's score range: "
               f"their order is within noise.")
    return Cause(code="low_margin", summary=summary,
                 evidence={"top_spread": flat, "score_range": spread}, fix=None,
                 confidence=round(0.3 * s, 4), ranking=False)


def check_out_of_distribution(ctx):
    """Out of distribution: the query's nearest document is farther than almost every
    document's own nearest neighbour.

    ``p`` = share of corpus documents whose first-neighbour score is worse than the
    query's top score. Strength ``1 − ramp(p, 0.01, 0.05)``; confidence ``0.85 s`` when
    an expected document is missed or none is given, ``0.3 s`` when all are found.
    """
    nn1 = ctx.stats.nn1
    top_score = float(ctx.scores[ctx.top[0]])
    p = ood_share(ctx)
    s = 1 - ramp(p, 0.01, 0.05)
    if s <= 0:
        return None
    found_all = bool(ctx.expected_pos) and not ctx.missed
    conf = (0.3 if found_all else 0.85) * s
    summary = (f"the query lies far from every document: its nearest document scores "
               f"{fmt(top_score, 3)}, worse than the nearest neighbour of {1 - p:.1%} of the "
               f"documents (their median {fmt(float(np.median(nn1)), 3)}); the corpus may not "
               f"cover this topic, or the query was embedded differently.")
    return Cause(code="out_of_distribution", summary=summary,
                 evidence={"top_score": top_score, "nn1_median": float(np.median(nn1)),
                           "share_of_documents_closer": 1 - p,
                           "nn1_exact": bool(ctx.stats.exact)},
                 fix=None, confidence=round(conf, 4), ranking=not found_all)


def ood_share(ctx) -> float:
    """Share of documents whose own nearest neighbour is farther than the query's top hit."""
    nn1 = ctx.stats.nn1
    top_score = float(ctx.scores[ctx.top[0]])
    if ctx.metric == "euclidean":
        return float(np.mean(nn1 > top_score))
    return float(np.mean(nn1 < top_score))


def ood_strength(ctx) -> float:
    """Strength of the out-of-distribution evidence (see check_out_of_distribution)."""
    return 1 - ramp(ood_share(ctx), 0.01, 0.05)


def check_expected_far(ctx):
    """Expected far: the expected document is far from the query in every view.

    Strength ``ramp(99 − pct, 0, 19)`` with pct its score's percentile among random
    corpus pairs (80th or lower: no closer than an unrelated pair), times
    ``(1 − best fix effect)`` (no fix rescues it), ``(1 − 0.7 · ood strength)`` (when
    the query itself is out of distribution, that is the sharper diagnosis) and
    ``(1 − lexical_mismatch strength)`` (when BM25 finds it, it is not far in every view).
    Confidence ``0.9 ×`` that.
    """
    if not ctx.missed:
        return None
    pos, r0 = ctx.missed[0]
    pct = float(ctx.expected_percentile[pos])
    s = ramp(99 - pct, 0, 19)
    if s <= 0:
        return None
    best_fix, best_e, best_rank = None, 0.0, r0
    for fix, ranking in ctx.rankings.items():
        r1 = int(ranking.ranks([pos])[0])
        e = effect(ctx, fix)
        if r1 < best_rank or best_fix is None:
            best_fix, best_rank = fix, min(best_rank, r1)
        best_e = max(best_e, e)
    s *= (1 - best_e) * (1 - 0.7 * ood_strength(ctx)) * (1 - getattr(ctx, "lexical_strength", 0.0))
    if s <= 0:
        return None
    summary = (f"{ctx.name_of(pos)} is far from the query in every view: its score "
               f"{fmt(float(ctx.scores[pos]), 3)} is at the {pct:.0f}th percentile of random "
               f"document pairs (rank {r0} of {ctx.stats.n}), and no fix brings it into the "
               f"top-{ctx.k} (best rank {best_rank}); the embedding misses the meaning: check "
               f"the texts, try another model or add lexical search.")
    return Cause(code="expected_far", summary=summary,
                 evidence={"rank": r0, "percentile": pct, "best_rank_under_fixes": best_rank,
                           "best_fix": best_fix}, fix="hybrid_lexical",
                 confidence=round(0.9 * s, 4), ranking=True)


def check_ann_miss(ctx):
    """ANN miss (``returned`` given): exact search finds what the production index lost.

    With expected documents: confidence 0.95 when one sits in the exact top-k but not in
    ``returned``; otherwise context. Without: ``0.9 · ramp(1 − recall, 0, 0.3)`` with
    recall the share of the exact top-k the returned list holds.
    """
    if ctx.returned_pos is None:
        return None
    returned = set(ctx.returned_pos)
    exact_top = ctx.top.tolist()
    recall = ctx.ann_recall
    lost = [p for p, r in zip(ctx.expected_pos, ctx.expected_ranks.tolist())
            if r <= ctx.k and p not in returned]
    evidence = {"recall": recall, "returned": len(ctx.returned_pos),
                "lost": [ctx.id_of(p) for p in exact_top if p not in returned]}
    if lost:
        summary = (f"the production index lost {ctx.name_of(lost[0])}: exact search ranks it "
                   f"{ctx.rank_of(lost[0])}, inside the top-{ctx.k}, but it is not among the "
                   f"{len(ctx.returned_pos)} returned (recall@{ctx.k} {recall:.2f}); raise the "
                   f"ANN search effort (ef_search / nprobe) or rebuild the index.")
        return Cause(code="ann_miss", summary=summary, evidence=evidence, fix=None,
                     confidence=0.95, ranking=True)
    if recall >= 1:
        return None
    if ctx.expected_pos:
        conf, ranking = 0.3 * (1 - recall), False
    else:
        conf, ranking = 0.9 * ramp(1 - recall, 0, 0.3), True
    summary = (f"the returned list holds only {recall:.0%} of the exact top-{ctx.k}; the "
               f"approximate index misses neighbours: raise its search effort.")
    return Cause(code="ann_miss", summary=summary, evidence=evidence, fix=None,
                 confidence=round(conf, 4), ranking=ranking)


VECTOR_CHECKS = (check_hub, check_norm_bias, check_metric_mismatch, check_rogue_dimensions,
                 check_anisotropy, check_near_duplicates, check_low_margin,
                 check_out_of_distribution, check_expected_far, check_ann_miss)


def run_checks(ctx, extra=()) -> list:
    """Every check's Cause (None dropped), strongest first (ties: the order above)."""
    causes = []
    for check in (*VECTOR_CHECKS, *extra):
        cause = check(ctx)
        if cause is not None:
            causes.append(cause)
    order = sorted(range(len(causes)), key=lambda i: (-causes[i].confidence, i))
    return [causes[i] for i in order]
