"""vecdiag: the vector math behind embeddings, and why a similarity search fails.

>>> import vecdiag as vd
>>> vd.cosine([1, 0], [1, 1]) == vd.scratch.cosine([1, 0], [1, 1])
True

Public surface only. ``import vecdiag`` loads NumPy and nothing heavier: every name
below that lives in a module needing pandas, scikit-learn, matplotlib or an extra is
imported on first attribute access (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

import importlib

from . import scratch
from ._errors import DataError
from .breakdown import CosineBreakdown, explain_cosine
from .linalg import cosine, cosine_matrix, dot, euclidean, norm, normalize, row_norms

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY = {
    # nearest neighbours
    "knn": "neighbors", "Index": "neighbors", "Neighbors": "neighbors",
    # projections
    "pca": "projection", "umap": "projection", "project": "projection",
    "Projection": "projection",
    # corpus diagnostics
    "diagnose": "diagnostics", "Diagnosis": "diagnostics", "Finding": "diagnostics",
    "anisotropy": "diagnostics", "isotropy": "diagnostics", "hubness": "diagnostics",
    "Hubness": "diagnostics", "rogue_dimensions": "diagnostics",
    "RogueDimensions": "diagnostics", "near_duplicates": "diagnostics",
    "intrinsic_dimension": "diagnostics",
    "SampledHubness": "diagnostics", "SampledDuplicates": "diagnostics",
    # why did this query fail?
    "explain_neighbors": "explain", "Explanation": "explain", "Cause": "explain",
    "ExpectedDoc": "explain", "Counterfactual": "explain",
    "score_percentile": "scores", "ann_recall": "scores",
    # evaluation
    "evaluate": "evaluation", "Evaluation": "evaluation", "compare": "evaluation",
    "Comparison": "evaluation", "try_fixes": "evaluation", "FixReport": "evaluation",
    "load_run": "evaluation", "load_qrels": "evaluation", "save_run": "evaluation",
    # drift
    "drift": "drift", "DriftResult": "drift", "drift_over_time": "drift",
    "neighborhood_overlap": "drift", "neighborhood_change": "drift",
    "NeighborhoodChange": "drift", "DriftSeries": "drift",
    # vector stores
    "audit": "stores", "StoreAudit": "stores",
    # seeing it
    "explore": "explorer",
    # more data than memory
    "open_vectors": "scale.io",
}
# submodules reachable as attributes: vd.fixes, vd.datasets, ...
_SUBMODULES = {"fixes", "lexical", "embedders", "datasets", "exercises", "diagnostics",
               "neighbors", "projection", "explain", "evaluation", "drift", "plot",
               "results", "linalg", "scores", "report", "explorer", "stores", "cache_keys",
               "scale"}

__all__ = sorted(["scratch", "DataError", "dot", "norm", "normalize", "cosine", "euclidean",
                  "cosine_matrix", "row_norms", "explain_cosine", "CosineBreakdown",
                  *_LAZY, *(_SUBMODULES - {"plot", "results", "linalg", "scores",
                                            "cache_keys"})])


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'vecdiag' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
