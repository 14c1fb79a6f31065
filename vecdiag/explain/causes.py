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

For a cause with a fix, :func:`confidence` combines them (``0.3 s + e (0.5 + 0.2 s)``
with missed documents, the effect's part scaled by ``ramp(s, 0, 0.1)`` so that a fix
lifting the document is evidence only together with a non-trivial statistic;
``s (0.3 + 0.7 e)`` without): a cause whose fix moves nothing is
*context* (confidence at most 0.3, ``ranking=False``). Causes without a fix
(``low_margin``, ``expected_far``, ``out_of_distribution``, ``ann_miss``) rest on their
own evidence, described per check.
"""

from __future__ import annotations

import math

import numpy as np

from ..diagnostics import STRONG_HUB_FACTOR
from .result import Cause
from .wording import fix_name, is_fix, ordinal, share

__all__ = ["effect", "gain", "within_noise", "missed_for_copies", "hub_places", "own_copies", "rescue", "reranks",
           "rerankings", "judged_note", "ramp", "ordinal", "share", "fix_name", "FIX_NAMES",
           "is_fix", "HUB_FIXES"]

HUB_FIXES = ("csls", "mutual_proximity")
"""The re-rankers that demote hubs (the fixes of the ``hub`` cause)."""

# The checks live in corpus_checks.py (hub, norm_bias, metric_mismatch, near_duplicates:
# the corpus's neighbour lists and lengths), direction_checks.py (rogue_dimensions,
# anisotropy: its directions), query_checks.py
# (low_margin, out_of_distribution, expected_far, ann_miss: this query) and
# text_checks.py (lexical_mismatch, truncation, dilution, missing_prefix); registry.py
# lists them and runs them.


def _fix_names() -> dict:
    from ..fixes.registry import FIXES

    return {code: spec.name for code, spec in FIXES.items()}


FIX_NAMES = _fix_names()
"""Fix code -> the name a sentence uses, derived from :data:`vecdiag.fixes.FIXES`."""


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


def gain(r0: int, r1: int, k: int) -> float:
    """Progress of one document from rank ``r0`` (outside the top-k) to ``r1``: 1 inside
    the top-k, ``0.5 · log(r0 / r1) / log(r0 / k)`` part of the way, 0 when not closer.

    Examples
    --------
    >>> gain(100, 5, 10), gain(100, 10, 10), gain(100, 100, 10), round(gain(100, 50, 10), 3)
    (1.0, 1.0, 0.0, 0.151)
    """
    if r1 <= k:
        return 1.0
    if r1 < r0:
        return 0.5 * math.log(r0 / r1) / math.log(r0 / k)
    return 0.0


def effect(ctx, fix: str, focus=None) -> float:
    """How much ``fix`` moves what matters (see the module docstring)."""
    ranking = ctx.rankings.get(fix)
    if ranking is None:
        return 0.0
    if ctx.missed:
        rows = [pos for pos, _ in ctx.missed]
        new = ranking.ranks(rows).tolist()
        return float(np.mean([gain(r0, r1, ctx.k)
                              * (1 - within_noise(ctx, pos) * others_rescue(ctx, pos, fix))
                              for (pos, r0), r1 in zip(ctx.missed, new)]))
    if ctx.expected_pos or not focus:
        return 0.0
    new_top = set(ranking.top(ctx.k).tolist())
    return sum(p not in new_top for p in focus) / len(focus)


def within_noise(ctx, pos) -> float:
    """``1 − ramp(gap / range, 0.01, 0.05)``: 1 when the document misses the top-k by at
    most 1% of the query's score range (top key − median key), 0 from 5%. A fix that lifts
    a document over a gap within noise explains little (any re-ranking would): its effect
    on that document is scaled by ``1 − within_noise · others_rescue`` (the share of the
    other counterfactuals that lift it too) and ``low_margin`` names the miss.
    0 when the document misses only because near-copies take places (de-duplicated it is
    in the top-k): the copies, not the margin, are the root cause. Likewise, scaled by
    ``1 − hub_places``, when hubs take the places it misses by (:func:`hub_places`)."""
    spread = float(ctx.key[ctx.top[0]] - ctx.median_key)
    if spread <= 0:
        return 0.0
    if missed_for_copies(ctx, pos):
        return 0.0
    gap = float(ctx.key[ctx.top[-1]] - ctx.key[pos])
    return (1 - ramp(gap / spread, 0.01, 0.05)) * (1 - hub_places(ctx, pos))


def missed_for_copies(ctx, pos) -> bool:
    """Whether the missed document ``pos`` misses the top-k only because near-copies take
    places: de-duplicated (each group of copies one place, no score changed) it is in the
    top-k."""
    dedup = ctx.rank_under("deduplicate", pos)
    return dedup is not None and dedup <= ctx.k


def own_copies(ctx, row) -> int:
    """How many of ``row``'s k-occurrences its own near-copies (cosine >= 0.98, judged as
    the near-copy cause judges them: raw and in ``ctx.copy_frame``) give it: a copy has
    the original among its nearest neighbours, so a group of c copies makes each member
    look like a hub of c lists. Counted as ``min(copies, k-occurrence)``."""
    from .counterfactuals import DUPLICATE_THRESHOLD

    copies = ctx.stats.copies_of(int(row), DUPLICATE_THRESHOLD, ctx.copy_frame)
    return int(min(copies, ctx.stats.k_occurrence[row]))


def hub_places(ctx, pos) -> float:
    """How clearly hubs take the places a missed document misses the top-k by.

    The document at rank ``r > k`` needs ``r − k`` places; the top-k documents that are
    hubs (k-occurrence ``N'_k`` at least ``3 k`` once the lists of their own near-copies
    are left out, :func:`own_copies`, as :func:`~vecdiag.explain.corpus_checks.check_hub`
    counts them) each hold one. When at least ``r − k`` of them do, removing them puts
    the document in the top-k: the value is ``ramp(N'_k / k, 3, 10)`` of the weakest of
    the ``r − k`` strongest (the hub strength of check_hub). 0 when fewer hubs than
    places are in the top-k, or when neither hub re-ranker (CSLS, mutual proximity)
    brings the document into the top-k (the hubs' own fix does not give the places
    back). A miss by a hair whose places hubs took is the hubs' doing, not noise: every
    re-ranking that demotes them (CSLS, centring away their shared direction, ...) lifts
    the document, which :func:`within_noise` would otherwise read as "any change flips
    it"."""
    need = ctx.rank_of(pos) - ctx.k
    if need <= 0 or not any((r := ctx.rank_under(f, pos)) is not None and r <= ctx.k
                            for f in HUB_FIXES):
        return 0.0
    kocc = ctx.stats.k_occurrence
    k = ctx.k_graph
    ratios = sorted(((kocc[r] - own_copies(ctx, r)) / k for r in ctx.top.tolist()
                     if kocc[r] / k >= STRONG_HUB_FACTOR), reverse=True)
    if len(ratios) < need:
        return 0.0
    return ramp(float(ratios[need - 1]), STRONG_HUB_FACTOR, 10.0)


def others_rescue(ctx, pos, fix: str) -> float:
    """Share of the other counterfactuals that bring ``pos`` into the top-k (1 when there
    is no other). A miss within noise is one that any re-ranking lifts: when the others do
    not lift it, a fix that does is specific to it, and its effect is not discounted.
    Counterfactuals that leave this query's ranking as searched (:func:`reranks`) are no
    re-ranking and are not counted."""
    others = [f for f in rerankings(ctx) if f != fix]
    if not others:
        return 1.0
    return sum(ctx.rank_under(f, pos) <= ctx.k for f in others) / len(others)


def reranks(ctx, fix: str) -> bool:
    """Whether ``fix``'s counterfactual changes this query's ranking where it is read: its
    top-k or the missed documents' ranks. Cosine over unit vectors searched by dot, or
    centring under euclidean (a translation), leave it as searched: counting such a
    no-op among the re-rankings would make a miss look more specific to one fix under dot
    or euclidean than under cosine, over the same vectors and the same ranking."""
    ranking = ctx.rankings.get(fix)
    if ranking is None:
        return False
    if not np.array_equal(ranking.top(ctx.k), ctx.top):
        return True
    rows = [pos for pos, _ in ctx.missed]
    return bool(rows) and ranking.ranks(rows).tolist() != [r for _, r in ctx.missed]


def rerankings(ctx) -> list:
    """The counterfactuals that re-rank this query (:func:`reranks`), in measured order."""
    return [f for f in ctx.rankings if reranks(ctx, f)]


def rescue(ctx, pos):
    """``(fix, rank)``: the fix whose counterfactual brings ``pos`` highest into the top-k,
    preferring fixes the fix report does not find significantly harmful (then, on equal
    ranks, the larger judged-set change, then the fix code); ``(None, None)`` when no fix
    brings it in."""
    best = None
    for fix in ctx.rankings:
        if not is_fix(fix):
            continue
        r = ctx.rank_under(fix, pos)
        if r <= ctx.k:
            judged = ctx.judged.get(fix)
            key = (ctx.harmful(fix), r, -(judged.delta if judged else 0.0), fix)
            best = key if best is None or key < best else best
    return (None, None) if best is None else (best[3], best[1])


def judged_note(ctx, fix) -> str:
    """' (nDCG@10 +0.026 over the 225 judged queries, p 0.013)', with a warning when the
    change is significantly negative; '' without a fix report entry."""
    j = ctx.judged.get(fix)
    if j is None:
        return ""
    warn = ": it hurts the judged set, fix this query another way" if j.harmful else ""
    return f" ({j.metric} {j.delta:+.3f} over the {j.n_queries} judged queries, p {j.p:.2g}{warn})"


def movement(ctx, fix: str) -> float:
    """Mean ``log(r0 / r1)`` of the missed documents under ``fix``: > 0 when it lifts
    them, < 0 when it pushes them down, whatever the noise (0 without missed documents)."""
    ranking = ctx.rankings.get(fix)
    if ranking is None or not ctx.missed:
        return 0.0
    new = ranking.ranks([pos for pos, _ in ctx.missed]).tolist()
    return float(np.mean([math.log(r0 / r1) for (_, r0), r1 in zip(ctx.missed, new)]))


def _best_fix(ctx, fixes, focus=None):
    """The fix (among ``fixes``) with the largest effect; on equal effects (every fix's
    scaled to 0 for a miss within noise) the one that lifts the missed documents most,
    then the first."""
    scored = [(effect(ctx, f, focus), movement(ctx, f), -i, f) for i, f in enumerate(fixes)
              if f in ctx.rankings]
    if not scored:
        return fixes[0], 0.0
    e, _, _, f = max(scored)
    return f, e


def _fix_sentence(ctx, fix, focus=None) -> str:
    """'Under CSLS doc-417 moves from rank 14 to rank 2.' (or what happens instead), with
    the fix's figures over the judged queries when a fix report has them
    (:func:`judged_note`: a cause must not offer a fix the report rejects unsaid)."""
    ranking = ctx.rankings.get(fix)
    if ranking is None:
        return ""
    name = fix_name(fix)
    if ctx.missed:
        # With several missed documents, name the one the fix lifts most (the first, the
        # best ranked, when it lifts none) and count the others: one document's move alone
        # could read as the fix's whole effect when the others go the other way.
        new = ranking.ranks([pos for pos, _ in ctx.missed]).tolist()
        moves = [(pos, r0, int(r1)) for (pos, r0), r1 in zip(ctx.missed, new)]
        gains = [gain(r0, r1, ctx.k) for _, r0, r1 in moves]
        pos, r0, r1 = moves[int(np.argmax(gains))]
        verb = f"moves from rank {r0} to rank {r1}" if r1 != r0 else f"stays at rank {r0}"
        tally = ""
        if len(moves) > 1:
            up = sum(r1 < r0 for _, r0, r1 in moves)
            down = sum(r1 > r0 for _, r0, r1 in moves)
            n = len(moves)
            tally = (f" ({'both' if n == 2 else f'all {n}'} missed expected documents move up)"
                     if up == n else
                     f" ({up} of the {n} missed expected documents move{'s' if up == 1 else ''}"
                     f" up" + (f", {down} down)" if down else ")"))
        judged = judged_note(ctx, fix)
        if tally and judged:  # one parenthesis: "(2 of the 4 ... move up; ndcg@10 ...)"
            tally, judged = tally[:-1] + "; " + judged[2:], ""
        return f" Under {name} {ctx.name_of(pos)} {verb}{tally}{judged}."
    if focus:
        new_top = set(ranking.top(ctx.k).tolist())
        left = [p for p in focus if p not in new_top]
        judged = judged_note(ctx, fix)
        if left:
            return f" Under {name} {len(left)} of them leave the top-{ctx.k}{judged}."
        return f" Under {name} they stay in the top-{ctx.k}{judged}."
    return ""


def confidence(s: float, e: float, missed: bool) -> float:
    """A fix cause's confidence from its strength ``s`` and its fix's effect ``e``.

    With missed expected documents the counterfactual is direct evidence for this query
    and weighs most: ``0.3 s + e (0.5 + 0.2 s) · ramp(s, 0, 0.1)``: a fix that brings
    the document in gives at least 0.5 once the statistic is a tenth of the way from
    normal to clearly abnormal (a hub in 3.7 k lists), 1 when it is clearly abnormal.
    Below that the fix's effect counts in proportion: many fixes lift a missed document,
    and a lift is evidence for *this* cause only together with a statistic that says it
    is present (a hub in 3.1 k lists, strength 0.014, is no hub cause because CSLS
    happens to lift the document).
    Without missed documents: ``s (0.3 + 0.7 e)``. Either way a fix that moves nothing
    leaves ``0.3 s``.

    Examples
    --------
    >>> confidence(1, 1, True), confidence(0.3, 1, True), confidence(0.5, 0, True)
    (1.0, 0.65, 0.15)
    >>> confidence(0.01, 1, True), confidence(0.05, 1, True), confidence(0.1, 1, True)
    (0.0532, 0.27, 0.55)
    >>> confidence(0.5, 1, False), confidence(1, 0.5, False)
    (0.5, 0.65)
    """
    if missed:
        return round(float(0.3 * s + e * (0.5 + 0.2 * s) * ramp(s, 0.0, 0.1)), 4)
    return round(float(s * (0.3 + 0.7 * e)), 4)


def _with_fix(ctx, code, summary, evidence, fix, s, e) -> Cause:
    evidence = dict(evidence, strength=round(s, 4), fix_effect=round(e, 4))
    return Cause(code=code, summary=summary, evidence=evidence, fix=fix,
                 confidence=confidence(s, e, bool(ctx.missed)), ranking=bool(e > 0))


def _outranking(ctx) -> list:
    """Rows in the top-k that outrank the first missed expected document (all top-k
    without a missed one)."""
    return ctx.top.tolist()
