"""From why to what to try: ruled-out causes, the judged-set figures of each fix, the
recommendation, and other models as counterfactuals.

Ruled out
    A cause whose fix moves the missed expected documents *down* (mean ``log(old rank /
    new rank)`` below 0, none brought into the top-k) is not what holds them back: it is
    listed under ``Explanation.ruled_out`` with the sentence "centring was tried: it would
    push X down from rank 15 to 24", not among the causes.
Judged-set figures (``fix_report=``, a :class:`vecdiag.FixReport` from ``try_fixes``)
    Each counterfactual whose fix the report ran gets ``global_delta`` (change of the
    report's primary metric over the judged queries) and ``global_p`` (its Holm-adjusted
    p-value).
Recommendation
    Among the counterfactuals of fixes that move a missed expected document closer (a
    :func:`.causes.gain` of at least :data:`MIN_GAIN`, 0.05: rank 100 to 79 at k = 10,
    not 946 to 945), and that the report does not find significantly harmful: the one with the most expected
    documents in the top-k, then one that does not lower the report's average (a fix that
    lowers it, even not significantly, comes after every fix that brings as many into the
    top-k without lowering it), then the largest mean ``log(old rank / new rank)`` of the
    missed ones, then (on a tie) the fix of the strongest cause, a fix the report measured,
    the larger judged-set change. None when no fix moves a missed document closer. Without a report the
    recommendation is local and its sentence says so. Its verdict: "a significant
    improvement: try it first", "safe to try" (no significant change, average not
    lowered), or, for a fix that lowers the average without significance, "no significant
    loss, but it lowers the average: check the queries it hurts first".
Alternatives (``alternatives={"name": (query_vector, corpus_matrix[, metric])}``)
    The same corpus embedded by another model: the whole corpus is ranked for the other
    query vector (exact, the library's tie rule) and recorded as the counterfactual
    ``"model: name"``. The metric is the explained corpus's unless given as a third item.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _validate as V
from .causes import fix_name, gain, is_fix
from .centred import length_fix
from .counterfactuals import Ranking, describe
from .ranking import full_scores, keys_of
from .result import Cause

__all__ = ["rule_out", "judged_fixes", "with_global_figures", "recommend", "alternative_rankings",
           "MODEL_PREFIX"]

MODEL_PREFIX = "model: "
MIN_GAIN = 0.05   # least progress (causes.gain) of a missed document for a recommendation


# ------------------------------------------------------------------ ruled out
def rule_out(ctx, causes) -> tuple[list, list]:
    """``(causes kept, causes ruled out)``: see the module docstring."""
    if not ctx.missed:
        return list(causes), []
    from .registry import CAUSES

    kept, ruled = [], []
    for c in causes:
        if c.code == "expected_far" or c.fix is None or c.fix not in ctx.rankings:
            kept.append(c)
            continue
        spec = CAUSES.get(c.code)
        # the fixes as the check reads them: under euclidean lengths are left out by
        # centring then cosine, not by the raw rows' cosine, which the origin moves
        fixes = [length_fix(ctx) if f == "cosine_metric" else f
                 for f in (spec.fixes if spec else ())]
        tried = [c.fix] + [f for f in dict.fromkeys(fixes) if f != c.fix
                           and f in ctx.rankings and c.code != "low_margin"]

        moved = {f: [(p, r0, ctx.rank_under(f, p)) for p, r0 in ctx.missed] for f in tried}
        # ruled out only when none of the cause's fixes helps (a hub cause whose CSLS
        # pushes the document down may still be rescued by mutual proximity)
        if any(np.mean([np.log(r0 / r1) for _, r0, r1 in m]) >= 0
               or any(r1 <= ctx.k for _, _, r1 in m) for m in moved.values()):
            kept.append(c)
            continue
        moves = moved[c.fix]
        p, r0, r1 = max(moves, key=lambda m: m[2] / m[1])  # the one pushed down most
        up = [m for m in moves if m[2] < m[1]]
        mixed = "".join(f" and lift {ctx.name_of(q)} only from rank {a} to {b}"
                        for q, a, b in up[:2])
        others = [fix_name(f) for f in tried[1:]]
        also = (f" ({' and '.join(others)} {'does' if len(others) == 1 else 'do'} not help "
                "either)") if others else ""
        summary = (f"{fix_name(c.fix)} was tried: it would push {ctx.name_of(p)} down from "
                   f"rank {r0} to {r1}{mixed}{also}, so {c.code.replace('_', ' ')} does not "
                   f"explain this miss.")
        ruled.append(Cause(code=c.code, summary=summary,
                           evidence=dict(c.evidence, ruled_out=True, rank=r0,
                                         rank_under_fix=r1, original_summary=c.summary),
                           fix=c.fix, confidence=0.0, ranking=False))
    return kept, ruled


# ------------------------------------------------------------------ fix report
def _check_report(fix_report):
    needed = ("comparisons", "primary_metric", "evaluations", "baseline_name")
    if not all(hasattr(fix_report, a) for a in needed):
        raise TypeError(f"fix_report must be a FixReport from vd.try_fixes(...), got "
                        f"{type(fix_report).__name__}")


def judged_fixes(fix_report) -> dict:
    """Fix code -> :class:`~vecdiag.explain.context.JudgedFix` from a FixReport."""
    from .context import JudgedFix

    if fix_report is None:
        return {}
    _check_report(fix_report)
    m = fix_report.primary_metric
    n = fix_report.evaluations[fix_report.baseline_name].n_queries
    return {name: JudgedFix(delta=float(c.delta[m]), p=float(c.p_adjusted[m]),
                            significant=bool(c.significant[m]), metric=m, n_queries=int(n))
            for name, c in fix_report.comparisons.items()}


def with_global_figures(ctx, records) -> list:
    """Counterfactuals with ``global_delta`` / ``global_p`` from the report."""
    out = []
    for cf in records:
        j = ctx.judged.get(cf.fix)
        out.append(cf if j is None else dataclasses.replace(
            cf, global_delta=j.delta, global_p=j.p, global_metric=j.metric,
            global_significant=j.significant))
    return out


def recommend(ctx, records, causes=()) -> tuple:
    """``(Counterfactual or None, sentence or None)``: see the module docstring."""
    if not ctx.missed:
        return None, None
    named = {}  # fix -> position of the strongest cause proposing it
    for i, c in enumerate(causes):
        named.setdefault(c.fix, i)
    best, best_key = None, None
    for cf in records:
        if not is_fix(cf.fix) or cf.fix not in ctx.rankings or ctx.harmful(cf.fix):
            continue
        new = {p: ctx.rank_under(cf.fix, p) for p in ctx.expected_pos}
        # a lift worth trying: some progress toward the top-k (removing one copy above a
        # document at rank 946 lifts it to 945, which changes nothing anyone sees)
        if max(gain(r0, new[p], ctx.k) for p, r0 in ctx.missed) < MIN_GAIN:
            continue
        found = sum(r <= ctx.k for r in new.values())
        lift = float(np.mean([np.log(r0 / new[p]) for p, r0 in ctx.missed]))
        keeps_average = cf.global_delta is None or cf.global_delta >= 0
        key = (found, keeps_average, round(lift, 9), -named.get(cf.fix, len(named)),
               cf.global_delta is not None, cf.global_delta or 0.0)
        if best_key is None or key > best_key:
            best, best_key = cf, key
    if best is None:
        return None, _nothing_sentence(ctx)
    return best, _sentence(ctx, best)


def _sentence(ctx, cf) -> str:
    moves = [(p, r0, ctx.rank_under(cf.fix, p)) for p, r0 in ctx.missed]
    p, r0, r1 = next(m for m in moves if m[2] < m[1])  # the best-ranked missed one it lifts
    if r1 <= ctx.k:
        move = f"brings {ctx.name_of(p)} from rank {r0} to {r1}"
    else:
        move = f"lifts {ctx.name_of(p)} from rank {r0} to {r1} (still outside the top-{ctx.k})"
    head = f"For this query, {fix_name(cf.fix)} {move}"
    if not ctx.judged:
        return (head + ". Local only: not checked on judged queries; pass "
                       "fix_report=vd.try_fixes(...) before adopting it.")
    n = next(iter(ctx.judged.values())).n_queries
    if cf.global_delta is None:
        return (head + f"; the fix report did not run {cf.fix} over the {n} judged queries, "
                       "so its effect on them is unknown.")
    if cf.global_significant:
        verdict = "a significant improvement: try it first"
    elif cf.global_delta < 0:
        verdict = "no significant loss, but it lowers the average: check the queries it hurts first"
    else:
        verdict = "safe to try"
    return (head + f"; over the {n} judged queries it changes {cf.global_metric} by "
                   f"{cf.global_delta:+.3f} (p {cf.global_p:.2g}): {verdict}.")


def _nothing_sentence(ctx) -> str:
    tail = "" if not ctx.judged else " that the judged queries do not reject"
    return (f"No fix{tail} moves the missed documents appreciably closer to the "
            f"top-{ctx.k} for this query.")


# ------------------------------------------------------------------ alternatives
def alternative_rankings(ctx0, alternatives) -> tuple[dict, list]:
    """``({name: Ranking}, [Counterfactual "model: name"])`` for the other models."""
    from ..neighbors import Index

    if alternatives is None:
        return {}, []
    if not isinstance(alternatives, dict):
        raise TypeError('alternatives must be a dict {"name": (query_vector, corpus_matrix)}, '
                        f"got {type(alternatives).__name__}")
    n = len(ctx0.index)
    rankings, records = {}, []
    for name, value in alternatives.items():
        arg = f"alternatives[{name!r}]"
        if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
            raise TypeError(f"{arg} must be (query_vector, corpus_matrix) or "
                            f"(query_vector, corpus_matrix, metric)")
        metric = value[2] if len(value) == 3 else ctx0.metric
        V.check_metric(metric, f"{arg}[2] (metric)")
        q = V.as_vector(value[0], f"{arg}[0] (query vector)")
        C = V.as_matrix(value[1], f"{arg}[1] (corpus matrix)")
        if C.shape[0] != n:
            raise ValueError(f"{arg}[1] has {C.shape[0]} rows but the corpus has {n}; embed "
                             f"the same documents, in the same order")
        V.check_same_dim(q, f"{arg}[0]", C, f"{arg}[1]")
        keys = keys_of(full_scores(Index(C, metric=metric), q[None, :].astype(C.dtype))[0],
                       metric)
        ranking = Ranking(keys, ctx0.k)
        code = MODEL_PREFIX + str(name)
        rankings[str(name)] = ranking
        records.append(describe(code, ranking, ctx0.base, ctx0.expected_pos, ctx0.k,
                                ctx0.id_of, name_of=ctx0.name_of))
    return rankings, records
