"""Evaluation: trec_eval-equal metrics, significance tests, try_fixes, TREC file IO.

``vd.evaluate`` scores a run, ``vd.compare`` tests whether two runs differ (paired over
queries, with a p-value and an interval per metric), ``vd.try_fixes`` measures every
fix of :mod:`vecdiag.fixes` against the plain baseline, and ``vd.load_run`` /
``vd.load_qrels`` / ``vd.save_run`` read and write the TREC text formats.
"""

from __future__ import annotations

from .metrics import DEFAULT_METRICS, Evaluation, evaluate, parse_metric
from .runs import as_qrels, as_run, ranked_docs, run_from_neighbors

__all__ = ["evaluate", "Evaluation", "compare", "Comparison", "try_fixes", "FixReport",
           "load_run", "load_qrels", "save_run", "parse_metric", "ranked_docs",
           "run_from_neighbors", "DEFAULT_METRICS", "default_fixes", "holm", "TrialOptions"]

_LAZY = {"compare": "significance", "Comparison": "significance", "holm": "significance",
         "try_fixes": "fix_trials", "FixReport": "fix_trials", "default_fixes": "fix_trials",
         "TrialOptions": "trials",
         "load_run": "trec_io", "load_qrels": "trec_io", "save_run": "trec_io"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vecdiag.evaluation' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
