"""Drift and model upgrades: is today's data still like the data we tuned on?

* :func:`drift` — a two-sample test with a known false-alarm rate (MMD, domain
  classifier or mean shift), returning a :class:`DriftResult`;
* :func:`drift_over_time` — one test per batch against a reference (:class:`DriftSeries`);
* :func:`neighborhood_overlap` / :func:`neighborhood_change` — what re-embedding the
  same items with a new model does to every item's top-k neighbours.

Reading order: ``_permutation.py`` (draws, p-values), ``_stats.py`` (the three tests as
array code), ``api.py`` (checking, subsampling, packaging), ``describe.py`` (mean-shift
details, the PCA picture), ``result.py``, ``overlap.py`` (its tie rule: ``_ties.py``).
"""

from __future__ import annotations

import sys
import types

from .api import MAX_SAMPLES, METHODS, MIN_SAMPLES, drift, drift_over_time
from .overlap import NeighborhoodChange, neighborhood_change, neighborhood_overlap
from .result import DriftResult, DriftSeries

__all__ = ["drift", "drift_over_time", "DriftResult", "DriftSeries", "neighborhood_overlap",
           "neighborhood_change", "NeighborhoodChange", "METHODS", "MIN_SAMPLES",
           "MAX_SAMPLES"]


class _CallableModule(types.ModuleType):
    """``vecdiag.drift`` is both this package and the function ``vd.drift``.

    Importing a submodule binds it as an attribute of its parent package, so after
    ``import vecdiag.drift`` (or ``from vecdiag.drift import ...``) the name
    ``vecdiag.drift`` is this module, not the function. Calling the module calls
    :func:`drift`, so ``vd.drift(reference, current)`` works in every import order.
    """

    def __call__(self, reference, current, **kwargs):
        return drift(reference, current, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
