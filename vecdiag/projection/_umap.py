"""UMAP maps through umap-learn (extra ``umap``), with vecdiag's checks and defaults."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _validate as V
from .._optional import require
from .result import Projection

__all__ = ["umap"]

UMAP_METRICS = ("cosine", "euclidean")


def _seed(random_state) -> int:
    """An int seed for umap-learn from vecdiag's random_state conventions."""
    if random_state is None:
        return 0
    rng = V.check_random_state(random_state)      # a negative seed is refused by name
    if isinstance(random_state, (int, np.integer)) and random_state < 2**32:
        return int(random_state)                   # umap-learn takes seeds below 2**32
    return int(rng.integers(2**31 - 1))


def umap(X, n_components: int = 2, *, metric: str = "cosine", n_neighbors: int = 15,
         random_state=0, min_dist: float = 0.1, show_progress: bool = False,
         **kwargs) -> Projection:
    """A UMAP map of the vectors (non-linear: keeps neighbourhoods, not distances).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Vectors, finite, at least ``n_components + 2`` rows; under cosine, no zero rows.
    n_components : int
        Map dimensions (2 for a picture).
    metric : {"cosine", "euclidean"}
        Metric of the original space (cosine for text embeddings).
    n_neighbors : int
        Size of the local neighbourhood UMAP preserves (umap-learn's default 15).
        Clipped to ``n - 1`` with a warning when the data has fewer points.
    random_state : int, None or numpy Generator
        Seed (default 0). A fixed seed makes the map reproducible run to run (umap-learn
        then runs single-threaded).
    min_dist : float
        How tightly UMAP packs neighbours on the map (umap-learn's default 0.1); a finite
        number >= 0.
    show_progress : bool
        umap-learn's verbose output.
    **kwargs
        Passed to ``umap.UMAP``.

    Returns
    -------
    Projection
        ``coords``, ``method="umap"``, ``explained_variance_ratio=None``; ``transform``
        places new points (queries) with umap-learn's ``transform``.

    Notes
    -----
    UMAP (McInnes, Healy & Melville 2018) builds a fuzzy k-nearest-neighbour graph of the
    data and lays it out in ``n_components`` dimensions so that graph neighbours stay
    close. Distances between far-apart clusters and cluster sizes on the map carry little
    meaning; check :meth:`Projection.faithfulness` before reading much into a picture.
    The first call in a process pays umap-learn's import and numba compilation
    (tens of seconds); later calls are fast.

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> X = np.random.default_rng(0).normal(size=(30, 8))
    >>> p = vd.umap(X, n_neighbors=5)                  # doctest: +SKIP
    >>> p.coords.shape                                 # doctest: +SKIP
    (30, 2)
    """
    X = V.as_matrix(X, "X")
    n = X.shape[0]
    n_components = V.check_positive_int(n_components, "n_components")
    if metric == "dot":
        raise ValueError("metric='dot' is not available for UMAP; normalise the vectors "
                         "(vd.normalize) and use metric='cosine', or use 'euclidean'")
    V.check_choice(metric, "metric", UMAP_METRICS)
    if n < n_components + 2:
        raise ValueError(f"X has {n} rows; a {n_components}-D UMAP needs at least "
                         f"{n_components + 2} points (use vd.pca for tiny sets)")
    if metric == "cosine":
        from ..linalg import row_norms

        V.zero_rows(row_norms(X), "X", "raise")
    n_neighbors = V.check_positive_int(n_neighbors, "n_neighbors", minimum=2)
    # subtle: umap-learn fits its curve to min_dist without checking it: "0.1" failed
    # inside a NumPy comparison, NaN in scipy's curve_fit ("Optimal parameters not found")
    if isinstance(min_dist, (bool, np.bool_)) or not isinstance(min_dist, numbers.Real) \
            or not 0 <= min_dist < math.inf:
        raise ValueError(f"min_dist must be a finite number >= 0 (umap-learn's default is "
                         f"0.1), got {min_dist!r}")
    if n_neighbors > n - 1:
        warnings.warn(f"n_neighbors={n_neighbors} is more than the {n - 1} other points in "
                      f"X; using n_neighbors={n - 1}", UserWarning, stacklevel=2)
        n_neighbors = n - 1
    seed = _seed(random_state)
    umap_module = require("umap", "vd.umap")
    reducer = umap_module.UMAP(n_components=n_components, metric=metric,
                               n_neighbors=n_neighbors, min_dist=min_dist,
                               random_state=seed, verbose=bool(show_progress), **kwargs)
    with warnings.catch_warnings():
        # umap-learn says it runs single-threaded because a seed was given: that is the point
        warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state")
        warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden")
        coords = reducer.fit_transform(X)
    return Projection(coords=np.asarray(coords), method="umap", metric=metric,
                      params={"n_neighbors": n_neighbors, "min_dist": min_dist,
                              "random_state": seed, "n_samples": n},
                      data=X, model=reducer)
