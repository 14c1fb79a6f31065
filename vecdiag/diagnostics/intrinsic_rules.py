"""The low-intrinsic-dimension rule: TwoNN's estimate read with what can mislead it.

Thresholds (``THRESHOLDS["low_intrinsic_dimension"]``) and why they are where they are:
:mod:`.rules`. The estimate itself: :mod:`.intrinsic`.
"""

from __future__ import annotations

from .finding import Finding
from .rules import THRESHOLDS, _limits, severity_of

__all__ = ["intrinsic_finding"]


def intrinsic_finding(twonn, participation, d: int, removed: int, note: str,
                      median_estimate: float | None = None,
                      points: int | None = None, metric: str = "cosine") -> Finding:
    """The intrinsic-dimension finding. ``median_estimate``: TwoNN from the median ratio
    (:func:`.intrinsic.twonn_median`), when known: a low fit that the median does not
    confirm (below half of it) comes from a minority of near-ties, not from the data.
    ``points``: how many items the fit read, when known; from ``warning + 1`` (6) or
    fewer a low estimate is not judged (n items span at most n − 1 dimensions).
    ``metric``: the search's, for what a single dimension does to its scores."""
    t = THRESHOLDS["low_intrinsic_dimension"]
    ev = {"value": twonn, "participation_ratio": participation, "dim": d,
          "duplicates_removed": removed, "min_dim": t["min_dim"], "note": note,
          **_limits("low_intrinsic_dimension")}
    if median_estimate is not None:
        ev["median_estimate"] = median_estimate
    if d == 1:
        why = {"cosine": "cosine can only be +1 or −1",
               "dot": "a dot product orders the items by their one coordinate, one way "
                      "for a positive query and the reverse for a negative one",
               "euclidean": "the items lie on one line and a query ranks them only by how "
                            "far along it they sit"}[metric]
        return Finding("low_intrinsic_dimension", "critical",
                       f"Vectors have a single dimension: {why}, so search cannot rank by "
                       "meaning; use a real embedding model.", dict(ev, metric=metric), None)
    if twonn is None:
        return Finding("low_intrinsic_dimension", "ok",
                       f"Intrinsic dimension not estimated: {note}.", ev, None)
    if points is not None:
        ev["points"] = points
        if points <= t["warning"] + 1:
            # subtle: n items lie in an (n − 1)-dimensional affine subspace, so a handful
            # of items shows few degrees of freedom whatever the model (3 random items of
            # a 384-D model: TwoNN below 5 one time in seven)
            return Finding("low_intrinsic_dimension", "ok",
                           f"Intrinsic dimension not judged: TwoNN gives {twonn:.2g} from "
                           f"only {points} items, and n items span at most n − 1 "
                           f"dimensions; {participation:.1f} principal directions carry "
                           "the variance.", dict(ev, judged=False), None)
    sev = severity_of("low_intrinsic_dimension", twonn) if d >= t["min_dim"] else "ok"
    if twonn > 1.5 * d:
        # TwoNN reads ratios of the two nearest distances; near-ties among them (lengths
        # spanning many orders of magnitude, piles of near-copies) inflate it without bound
        return Finding("low_intrinsic_dimension", "ok",
                       f"Intrinsic dimension not judged: TwoNN gives {twonn:.3g}, more than "
                       f"the {d} dimensions the vectors have, so the distances to each "
                       "item's two nearest neighbours are too nearly equal to estimate it; "
                       f"{participation:.1f} principal directions carry the variance.",
                       dict(ev, judged=False), None)
    confirmed = median_estimate is not None and median_estimate < 2 * twonn
    if twonn < 1 and d >= t["min_dim"] and not confirmed:
        # below one degree of freedom the nearest distances are near-ties of another kind:
        # piles of items just below the near-copy threshold, not a collapsed model (unless
        # the median item agrees: points along a curve)
        return Finding("low_intrinsic_dimension", "warning",
                       f"Intrinsic dimension not judged: TwoNN gives {twonn:.2g}, below 1, "
                       "which happens when many items have a neighbour far closer than "
                       "their next one (near-copies below the duplicate threshold); "
                       f"{participation:.1f} principal directions carry the variance. "
                       "Check the near_duplicates finding, or lower duplicate_threshold.",
                       dict(ev, judged=False), "deduplicate")
    if sev != "ok" and median_estimate is not None and not confirmed \
            and median_estimate >= t["warning"]:
        # half of the items show many more degrees of freedom than the fit: its low value
        # comes from a minority whose nearest neighbour is far closer than the next one
        return Finding("low_intrinsic_dimension", "warning",
                       f"Intrinsic dimension not judged: the TwoNN fit gives {twonn:.2g}, "
                       f"but the median item's two nearest distances give "
                       f"{median_estimate:.2g}: a minority of items have a neighbour far "
                       "closer than their next one (near-copies, possibly below the "
                       f"duplicate threshold); {participation:.1f} principal directions "
                       "carry the variance. Check the near_duplicates finding, or lower "
                       "duplicate_threshold.", dict(ev, judged=False), "deduplicate")
    if sev == "ok":
        summary = (f"The data uses about {twonn:.1f} local degrees of freedom (TwoNN) and "
                   f"{participation:.1f} principal directions of {d}.")
    else:
        summary = (f"The items vary along only about {twonn:.1f} degrees of freedom out of "
                   f"{d}: the embedding distinguishes few factors (templated text or a "
                   "collapsed model); check the inputs and the model.")
    return Finding("low_intrinsic_dimension", sev, summary, ev, None)
