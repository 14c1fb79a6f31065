"""Cause checks rooted in the corpus's directions: rogue_dimensions (a few dimensions
decide every score) and anisotropy (one shared direction squeezes every score), with the
strengths :func:`vecdiag.explain.corpus_checks.check_hub` also reads (see :mod:`.causes`
for how strength and effect make the confidence)."""

from __future__ import annotations

import functools

from ..diagnostics.rules import THRESHOLDS
from .causes import _best_fix, _fix_sentence, _with_fix, ramp, share
from .counterfactuals import CENTRED_COSINE
from .wording import standing

__all__ = ["check_rogue_dimensions", "check_anisotropy", "rogue_strength",
           "shared_direction_strength", "anisotropy_strength", "random_direction_share",
           "spread_dimensions"]


@functools.lru_cache(maxsize=64)
def random_direction_share(d: int, top: int) -> float:
    """Mean share of ``Σ u_j²`` held by the ``top`` largest of ``d`` coordinates of a
    random unit direction (Monte Carlo, 512 draws, seed 0): what the rogue share of a
    shared direction would be if no dimension were special. About 0.55 for d = 32 and
    top = 5, 0.1 for d = 384."""
    from ..diagnostics.rogue_rules import null_top_share  # the same null as vd.diagnose's rule

    return 1.0 if top >= d else null_top_share(d, top, draws=512)


# under euclidean, why centring alone cannot lift a document, and what can
_TRANSLATION = " Centring alone is a translation and changes no euclidean distance"
_CENTRE_THEN_COSINE = ": centre the vectors, then search by cosine."


def rogue_strength(ctx) -> float:
    """``ramp(excess, 0.4, 0.7) · ramp(E[cos], 0.05, 0.2)``: ``excess`` is how far the
    top dimensions' share of the expected cosine goes from what a random shared
    direction would give (:func:`random_direction_share`) toward 1; a share of a
    near-zero mean cosine means nothing, hence the second factor. 0 when the share is
    no more than a shared direction pointing anywhere takes once in a hundred
    (diagnose's rule: a rotated copy of the corpus gets the same verdict), and when the
    top dimensions are more than a quarter of ``d`` (diagnose's rule: every dimension is
    a large share)."""
    from ..diagnostics.rogue_rules import by_chance, too_many_to_judge

    rogue = ctx.rogue
    if rogue is None or not ctx.directions_judged \
            or too_many_to_judge(len(rogue.dims), ctx.stats.d):
        return 0.0
    if by_chance(rogue, ctx.stats.d):
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
    (spread out, or in a few rogue dimensions) dominates the corpus. Under euclidean the
    anisotropy takes no part (:mod:`.centred`: a direction shared from the origin is an
    offset, which moves no distance)."""
    out = 0.0
    if not ctx.directions_judged:
        return out
    if ctx.anisotropy is not None and ctx.metric != "euclidean":
        out = anisotropy_strength(ctx.anisotropy)
    return max(out, rogue_strength(ctx))


def directions_skew(ctx) -> float:
    """``max(shared_direction_strength, spread_dimensions' strength)``: how much a shared
    direction or a few dimensions of large variance decide the corpus's directions (the
    views :mod:`.views` reads, the counterfactuals :mod:`.core` asks for, and under
    euclidean the discount of ``metric_mismatch``)."""
    return max(shared_direction_strength(ctx), spread_dimensions(ctx)[0])


def lengths_vary(ctx) -> bool:
    """Whether the corpus's lengths as the metric sees them (:func:`.centred.lengths`:
    distances to the mean under euclidean) vary where ``metric_mismatch`` starts
    (:func:`~.corpus_checks.check_metric_mismatch`: a coefficient of variation above 0.05)."""
    from .centred import lengths
    from .stats import length_cv

    return length_cv(lengths(ctx)) > 0.05


def spread_dimensions(ctx):
    """``(strength, dims, share)`` of the second sign of rogue dimensions: a few
    zero-mean dimensions of huge variance, which carry no part of the mean cosine but
    decide which documents score alike.

    ``share`` is the part of the unit vectors' total variance held by the ``top``
    dimensions of largest variance (``dims``), as :func:`vecdiag.diagnose` computes it
    (:func:`vecdiag.diagnostics.rogue_rules.variance_share`: the variance of dimension j
    is ``E[û_j²] − E[û_j]² ∝ energy_j − contribution_j``, a shared offset, anisotropy's
    and the first sign's, left out). Strength ``ramp(excess, 0.15, 0.3)``
    (:func:`vecdiag.diagnose`'s energy warning and critical levels) with ``excess`` how
    far ``share`` goes from the even ``top / d`` toward 1; 0 when ``top`` is more than
    a quarter of ``d`` (every dimension is a large share), when ``share`` is no more
    than a random rotation of the corpus gives once in a hundred (a few topic clusters
    spread their variance along directions that point anywhere) and, below 50 rows,
    when the excess is within what as many random rows give (diagnose's rule)."""
    from ..diagnostics.rogue_rules import (SMALL_N, energy_null_quantile, variance_chance,
                                           variance_share)

    rogue = ctx.rogue
    d = ctx.stats.d
    if rogue is None or rogue.energy is None or not ctx.directions_judged:
        return 0.0, [], 0.0
    shares, dims, held, excess = variance_share(rogue.energy, rogue.contribution, rogue.top)
    if shares is None:
        return 0.0, [], 0.0
    n = ctx.stats.n
    if n < SMALL_N and excess <= energy_null_quantile(n, d, rogue.top):
        return 0.0, [], 0.0
    if held <= variance_chance(rogue, d):
        return 0.0, [], 0.0
    limits = THRESHOLDS["rogue_dimensions"]
    return (ramp(excess, limits["energy_warning"], limits["energy_critical"]),
            [int(j) for j in dims], held)


def check_rogue_dimensions(ctx):
    """Rogue dimensions: a few dimensions carry most of the expected cosine, or most of
    the documents' variance.

    Strength: the larger of :func:`rogue_strength`, from the part of the expected cosine
    of random pairs carried by the top ``min(5, ⌈d/10⌉)`` dimensions (those
    :func:`vecdiag.diagnose` judges) against what any shared direction would give in
    this dimension, and the strength of
    :func:`spread_dimensions` (zero-mean dimensions of huge variance, named by their
    share of the documents' variance). Fix: the best of whitening, all-but-the-top and
    centring (under euclidean also centring then cosine, ``cosine_metric+center``: centring
    alone is a translation, see :func:`check_anisotropy`). None on a corpus whose
    directions :func:`vecdiag.diagnose` does not judge (``ctx.directions_judged``).
    """
    rogue = ctx.rogue
    if rogue is None:
        return None
    s_mean = rogue_strength(ctx)
    s_spread, spread_dims, spread_share = spread_dimensions(ctx)
    s = max(s_mean, s_spread)
    if s <= 0:
        return None
    fixes = ("whiten", "all_but_the_top", "center") + (
        (CENTRED_COSINE,) if ctx.metric == "euclidean" else ())
    fix, e = _best_fix(ctx, fixes, focus=ctx.top.tolist())
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
    summary += "."
    if fix == CENTRED_COSINE and e > 0:
        summary += _TRANSLATION + _CENTRE_THEN_COSINE
    summary += _fix_sentence(ctx, fix, focus=ctx.top.tolist())
    return _with_fix(ctx, "rogue_dimensions", summary, evidence, fix, s, e)


def check_anisotropy(ctx):
    """Anisotropy: every vector shares one direction, squeezing all cosines together.

    Strength: ``ramp(E[cos], 0.4, 0.7) · (1 − rogue strength)`` (diagnose's warning and
    critical levels, :func:`anisotropy_strength`) with E[cos] the mean
    cosine of random pairs (:func:`vecdiag.anisotropy`); when a few rogue dimensions
    carry the shared direction, ``rogue_dimensions`` is the sharper diagnosis. Fix:
    centring (or all-but-the-top); when neither moves the ranking this is context: the
    shared direction shifts every score alike (a threshold problem, not a ranking one).
    None under euclidean, as :func:`vecdiag.diagnose` leaves anisotropy context there:
    the mean cosine is of directions seen from the origin, and moving every vector by
    one offset (which moves no distance) takes it from 0 to 1 (:mod:`.centred`; a
    corpus whose distances to its centre vary is ``metric_mismatch``, fixed by
    centring then cosine). None on a corpus of too few distinct vectors for
    :func:`vecdiag.diagnose` to judge
    (``ctx.directions_judged``: at most its k, whichever of its default and this
    explanation's k is larger), as diagnose leaves it not judged.
    """
    mc = ctx.anisotropy
    if mc is None or not ctx.directions_judged or ctx.metric == "euclidean":
        return None
    s = anisotropy_strength(mc) * (1 - rogue_strength(ctx))
    if s <= 0:
        return None
    fix, e = _best_fix(ctx, ("center", "all_but_the_top"), focus=ctx.top.tolist())
    summary = (f"every score is squeezed into a narrow band: two random documents already "
               f"have cosine {mc:.2f}, so "
               f"{standing('the top', ctx.scores[ctx.top[0]], ctx.top_percentiles[0], ctx.metric)}.")
    if e > 0:
        summary += _fix_sentence(ctx, fix, focus=ctx.top.tolist())
    else:
        summary += (" Centring does not change this query's ranking: it shifts all scores "
                    "alike, so fix score thresholds, not the ranking.")
    evidence = {"mean_cosine": float(mc)}
    return _with_fix(ctx, "anisotropy", summary, evidence, fix, s, e)
