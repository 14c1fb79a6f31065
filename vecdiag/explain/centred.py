"""Euclidean explanations seen from the corpus centre.

A common offset of corpus and query (every vector plus the same vector) changes no
euclidean distance, so no euclidean ranking: what an explanation reads about lengths
and directions under euclidean must not change with it either. Seen from the origin it
does: rows 30 from the origin have nearly equal lengths (cv 0.01) and all point one way
(a "narrow cone", mean cosine 1.0), whatever their spread. Under euclidean explain
therefore measures from the corpus mean, as :func:`vecdiag.diagnose` reads them there
(``norm_spread``: the distances to the centroid; anisotropy and rogue dimensions as
seen from the origin: context only):

* a row's *length* is its distance to the mean, ``‖x − μ‖``, and the query's
  ``‖q − μ‖`` (:func:`lengths`, :func:`query_length`);
* the fix that leaves lengths out is centring then cosine
  (:data:`~vecdiag.explain.counterfactuals.CENTRED_COSINE`, the rows as given centred),
  not cosine over the raw rows, whose ranking depends on where the origin is
  (:func:`length_fix`);
* no anisotropy cause is named (the mean cosine is reported, seen from the origin, as
  diagnose's context figure): a direction every row shares from the origin is an
  offset, and seen from the centre no direction is shared;
* rogue dimensions are those of the rows less their mean (:func:`centred_rogue`): the
  mean-cosine sign (a shared offset) vanishes there, the variance sign (a few
  dimensions of huge spread, which do decide euclidean distances) stays.

Under cosine and dot the origin is part of the metric, and everything is as given.
"""

from __future__ import annotations

import numpy as np

from .. import cache_keys
from ..linalg import row_norms
from ..scale.chunks import is_dask_array

__all__ = ["centre_of", "lengths", "query_length", "length_fix", "centred_rogue"]


def centre_of(index) -> np.ndarray:
    """The corpus mean in float64 (kept in ``index.cache``)."""
    key = cache_keys.explain_centre()
    cache = index.cache
    if key not in cache:
        mean = index.vectors.mean(axis=0, dtype=np.float64)
        if is_dask_array(mean):
            from ..scale.chunks import compute

            mean = compute(mean)[0]
        cache[key] = np.asarray(mean, dtype=np.float64)
    return cache[key]


def lengths(ctx) -> np.ndarray:
    """Each corpus row's length as the metric sees it: under euclidean its distance to
    the corpus mean (kept in ``index.cache``), otherwise its norm (``ctx.stats.norms``)."""
    if ctx.metric != "euclidean":
        return ctx.stats.norms
    index = ctx.index
    key = cache_keys.explain_centred_lengths()
    if key not in index.cache:
        mu = centre_of(index)
        X = index.vectors
        if is_dask_array(X):
            from ..scale.chunks import compute

            out = compute((((X - mu) ** 2).sum(axis=1)) ** 0.5)[0]
        else:
            out = row_norms(np.asarray(X, dtype=np.float64) - mu)
        index.cache[key] = np.asarray(out, dtype=float)
    return index.cache[key]


def query_length(ctx) -> float:
    """The query's length as :func:`lengths` measures the rows'."""
    if ctx.metric != "euclidean":
        return float(ctx.query_norm)
    q = np.asarray(ctx.query, dtype=np.float64) - centre_of(ctx.index)
    return float(row_norms(q[None, :])[0])


def length_fix(ctx) -> str:
    """The fix that leaves lengths out: cosine, or under euclidean centring then cosine
    (the raw rows' cosine depends on the origin, which no euclidean ranking does)."""
    from .counterfactuals import CENTRED_COSINE

    return CENTRED_COSINE if ctx.metric == "euclidean" else "cosine_metric"


def centred_rogue(index, top: int):
    """:func:`vecdiag.diagnostics.rogue.rogue_about` the corpus mean (kept in
    ``index.cache``): the rule :func:`vecdiag.diagnose` reads under euclidean, with the
    unit rows' Gram matrix on a Dask corpus too (the variance sign's rotation null); rows
    equal to the mean, without a direction from it, left out; None with fewer than two
    others."""
    from ..diagnostics.rogue import rogue_about

    key = cache_keys.explain_centred_rogue(top)
    if key not in index.cache:
        index.cache[key] = rogue_about(index.vectors, centre_of(index), top)
    return index.cache[key]
