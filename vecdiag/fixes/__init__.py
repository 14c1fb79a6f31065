"""Fixes for poor similarity search: change the vectors, or re-rank the results.

Vector fixes (scikit-learn transformers, fitted on the corpus, applied to the queries):
:class:`Center`, :class:`Normalize`, :class:`Whiten`, :class:`AllButTheTop`.
Re-rankers (return :class:`vecdiag.Neighbors`): :func:`csls`, :func:`mutual_proximity`
(hub reduction), :func:`mmr`, :func:`deduplicate` (diversity); rank fusion of runs:
:func:`hybrid`. Fix codes and the one entry point used by explain_neighbors and
try_fixes: :data:`FIX_CODES`, :data:`FIXES`, :func:`apply_fix`.

Modules, in reading order: ``transformers`` (the four estimators; ``axes``, their
principal axes), ``rerank`` (CSLS, mutual proximity), ``diversify`` (MMR, de-duplication), ``fusion`` (RRF over run dicts),
``text`` (re-embedding fixes), ``registry`` (fix codes, apply_fix), ``cached`` (vector
fixes on an Index, fitted once). Scores and exact top-k come from
:mod:`vecdiag.neighbors.scoring`, the same module every ranking of vecdiag uses.

>>> import vecdiag as vd
>>> sorted(vd.fixes.FIX_CODES)[:3]
['add_prefix', 'all_but_the_top', 'center']

The transformer classes need scikit-learn; they are loaded on first access, so importing
the re-rankers does not import it.
"""

from __future__ import annotations

from .diversify import deduplicate, duplicate_groups, mmr
from .fusion import as_run, hybrid, ranked
from .registry import (FIX_CODES, FIXES, FixSpec, apply_fix, available_fixes,
                       make_transformer, options_of, parse_fix)
from .rerank import csls, csls_penalty, mutual_proximity

_TRANSFORMERS = ("Center", "Normalize", "Whiten", "AllButTheTop")

__all__ = [*_TRANSFORMERS, "csls", "mutual_proximity", "mmr", "deduplicate", "hybrid",
           "apply_fix", "FIX_CODES", "FIXES", "FixSpec", "available_fixes", "make_transformer",
           "parse_fix", "as_run", "ranked", "csls_penalty", "duplicate_groups", "options_of"]


def __getattr__(name: str):
    if name in _TRANSFORMERS:
        from . import transformers

        value = getattr(transformers, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vecdiag.fixes' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TRANSFORMERS))
