"""The near-duplicate rule: its finding, and the chance a threshold cannot beat.

Thresholds (``THRESHOLDS["near_duplicates"]``) and why they are where they are:
:mod:`.rules`.
"""

from __future__ import annotations

from ..results import counted
from .finding import Finding
from .rules import _limits, percent, severity_of

__all__ = ["duplicates_finding", "chance_near_copies", "near_copies_by_chance",
           "CHANCE_COPIES"]


def duplicates_finding(groups, n: int, n_exact_redundant: int, threshold: float,
                       examples: list, source: str, estimate=None) -> Finding:
    """The near-duplicate finding from the ``groups`` found. ``estimate``: a
    :class:`~.sampled_duplicates.SampledDuplicates` of the whole corpus, when the groups
    come from a sample of it: the share judged is then its redundant share."""
    redundant = sum(len(g) - 1 for g in groups)
    share = redundant / n
    if estimate is not None:
        share, ci = float(estimate.redundant_share), estimate.redundant_share_ci
    sev = severity_of("near_duplicates", share)
    ev = {"value": share, "groups": len(groups), "redundant_items": redundant,
          "exact_copies": n_exact_redundant, "threshold": threshold,
          "largest_group": max((len(g) for g in groups), default=0), "examples": examples,
          "search": source, **_limits("near_duplicates")}
    if estimate is not None:
        ev.update(interval=list(ci), confidence=estimate.confidence, sample=estimate.sample,
                  with_copy_share=float(estimate.share),
                  measures="share of items that are redundant copies, Σ (group size − 1) / n")
        effect = ("; deduplicate the corpus." if sev != "ok" else ".")
        summary = (f"About {100 * share:.3g}% of items are redundant copies or near-copies "
                   f"(cosine ≥ {threshold}) of others, estimated from {estimate.sample:,} "
                   f"sampled rows, {100 * estimate.confidence:.0f}% interval "
                   f"[{percent(ci[0])}%, {percent(ci[1])}%]; {counted(n_exact_redundant, 'row')} "
                   f"{'is an exact copy' if n_exact_redundant == 1 else 'are exact copies'} "
                   f"(all rows hashed), and {counted(len(groups), 'group')} "
                   f"{'is' if len(groups) == 1 else 'are'} named from the graph's sample and "
                   f"the hashing{effect}")
        return Finding("near_duplicates", sev, summary, ev,
                       None if sev == "ok" else "deduplicate")
    if not groups:
        summary = f"No two items have cosine ≥ {threshold}."
    else:
        effect = (f"{'it takes a top-k slot' if redundant == 1 else 'they take top-k slots'} "
                  "from other documents; deduplicate the corpus."
                  if sev != "ok" else "too few to crowd result lists.")
        if redundant == 1:   # one group of two: "of others ..., 1 of them exact" misread
            kind = "an exact copy" if n_exact_redundant else "a near-copy"
            summary = (f"1 item ({100 * share:.3g}%) is {kind} (cosine ≥ {threshold}) of "
                       f"another; {effect}")
        else:
            summary = (f"{redundant} items ({100 * share:.3g}%) are copies or near-copies "
                       f"(cosine ≥ {threshold}) of others in {counted(len(groups), 'group')}, "
                       f"{n_exact_redundant} of them exact; {effect}")
    return Finding("near_duplicates", sev, summary, ev, None if sev == "ok" else "deduplicate")


CHANCE_COPIES = 0.05   # near-copies by chance per item, from which the threshold can't tell


def chance_near_copies(n: int, d: int, threshold: float) -> float:
    """Expected number of the other ``n − 1`` items within cosine ``threshold`` of an item
    when all ``n`` directions are uniformly random in ``d`` dimensions: ``(n − 1)·P``,
    with ``P`` the cap's share of the sphere, ``½ I_{1−t²}((d − 1)/2, ½)`` for ``t > 0``
    (regularised incomplete beta). Near 0 for embeddings (d in the hundreds); of order
    one in 3 or 5 dimensions, where a cosine of 0.98 says "neighbour", not "copy".

    Examples
    --------
    >>> round(chance_near_copies(3000, 3, 0.98), 2), chance_near_copies(3000, 64, 0.98) < 1e-30
    (29.99, True)
    """
    from scipy.special import betainc

    if n < 2:
        return 0.0
    if d == 1:
        return (n - 1) * 0.5
    t = float(threshold)
    cap = 0.5 * float(betainc((d - 1) / 2.0, 0.5, 1.0 - t * t))
    return (n - 1) * (cap if t > 0 else 1.0 - cap)


def near_copies_by_chance(f: Finding, chance: float, n: int, d: int,
                          n_exact_redundant: int, dim: int | None = None) -> Finding:
    """A near-duplicate finding where ``chance`` (:func:`chance_near_copies`) reaches
    :data:`CHANCE_COPIES`: random directions in ``d`` dimensions already fall within the
    threshold of each other, so only the exact copies (hashed) are judged. ``dim``: the
    vectors' own dimension, when they span only ``d`` < ``dim`` of them."""
    share = n_exact_redundant / n
    sev = severity_of("near_duplicates", share)
    t = f.evidence.get("threshold")
    where = (f"in {d} dimensions" if dim is None or dim == d else
             f"in the {d} dimensions the vectors span (of {dim})")
    summary = (f"Near-copies not judged: {where} {n:,} random directions already "
               f"fall within cosine {t} of each other ({chance:.2g} per item by chance), "
               f"so the threshold cannot tell a copy from a neighbour; {n_exact_redundant} "
               f"rows ({100 * share:.3g}%) are exact copies of others"
               + ("; deduplicate the corpus." if sev != "ok" else "."))
    ev = dict(f.evidence, value=share, near_copy_share=f.evidence.get("value"),
              chance_per_item=chance, dim=d if dim is None else dim, dim_spanned=d,
              measures="share of items that are exact copies of others (near-copies not "
                       "judged at this dimension)")
    return Finding("near_duplicates", sev, summary, ev, None if sev == "ok" else "deduplicate")
