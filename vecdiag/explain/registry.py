"""The cause registry: every cause code, its check, and the fixes it may propose.

One entry per cause. A new cause is one check function in a check module plus one entry
here; the fixes it names must be fix codes of :data:`vecdiag.fixes.FIXES` (checked at
import: there is no second list of fix names). Checks are pure functions of the frozen
:class:`~vecdiag.explain.context.Context`, so :func:`run_checks` may run them in any
order; causes are ordered by confidence, then by how much of the missed documents'
progress their fix explains, then by the root-cause order below (a cause listed earlier
is the deeper one when two tie: copies before the hubs they make, a shared direction
before the hubs near it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..fixes.registry import FIXES
from . import corpus_checks as CC
from . import direction_checks as DC
from . import query_checks as QC
from . import text_checks as TC

__all__ = ["CauseSpec", "CAUSES", "CAUSE_CODES", "run_checks"]


@dataclass(frozen=True)
class CauseSpec:
    """What a cause code means and how it is checked."""

    code: str
    """The cause code (API.md's fixed vocabulary)."""
    check: Callable
    """``check(ctx) -> Cause | None``: a pure function of the Context."""
    fixes: tuple
    """Fix codes (of :data:`vecdiag.fixes.FIXES`) whose counterfactual the check reads;
    empty for causes that rest on their own evidence."""
    needs: tuple = ()
    """Inputs beyond vectors: ``"texts"``, ``"query_text"``, ``"embedder"``,
    ``"returned"``."""


# Root-cause order (ties only): what produces a symptom comes before the symptom.
_SPECS = (
    CauseSpec("ann_miss", QC.check_ann_miss, (), ("returned",)),
    CauseSpec("near_duplicates", CC.check_near_duplicates, ("deduplicate",)),
    CauseSpec("norm_bias", CC.check_norm_bias, ("cosine_metric",)),
    CauseSpec("metric_mismatch", CC.check_metric_mismatch, ("cosine_metric",)),
    CauseSpec("missing_prefix", TC.check_missing_prefix, ("add_prefix",), ("embedder",)),
    CauseSpec("truncation", TC.check_truncation, ("chunk_documents",), ("texts", "embedder")),
    CauseSpec("dilution", TC.check_dilution, ("chunk_documents",), ("texts", "embedder")),
    CauseSpec("rogue_dimensions", DC.check_rogue_dimensions,
              ("whiten", "all_but_the_top", "center")),
    CauseSpec("anisotropy", DC.check_anisotropy, ("center", "all_but_the_top")),
    CauseSpec("hub", CC.check_hub, ("csls", "mutual_proximity", "center")),
    CauseSpec("lexical_mismatch", TC.check_lexical_mismatch, ("hybrid_lexical",),
              ("texts", "query_text")),
    CauseSpec("low_margin", QC.check_low_margin, tuple(FIXES)),  # whichever fix rescues it
    CauseSpec("out_of_distribution", QC.check_out_of_distribution, ()),
    CauseSpec("expected_far", QC.check_expected_far, ("hybrid_lexical",)),
)

for _spec in _SPECS:
    _unknown = [f for f in _spec.fixes if f not in FIXES]
    if _unknown:  # pragma: no cover - a registry typo fails at import, in every test
        raise ImportError(f"cause {_spec.code!r} names unknown fix codes {_unknown}; "
                          f"use codes of vecdiag.fixes.FIXES")

CAUSES = {spec.code: spec for spec in _SPECS}
"""Cause code -> :class:`CauseSpec`, in root-cause order."""
CAUSE_CODES = tuple(CAUSES)
_PRIORITY = {code: i for i, code in enumerate(CAUSE_CODES)}


def run_checks(ctx, checks=None) -> list:
    """Every check's Cause (None dropped), strongest first.

    ``checks`` defaults to every registered check; the result does not depend on their
    order: causes are sorted by confidence, then by the share of the missed documents'
    progress their fix explains (``evidence["fix_effect"]``), then by the root-cause
    order of :data:`CAUSES`.
    """
    if checks is None:
        checks = [spec.check for spec in _SPECS]
    causes = [c for c in (check(ctx) for check in checks) if c is not None]
    return sorted(causes, key=lambda c: (-c.confidence, -float(c.evidence.get("fix_effect", 0.0)),
                                         _PRIORITY.get(c.code, len(_PRIORITY)), c.code))
