"""Where an expected document stands in the views the vector fixes give.

``expected_far`` says a document is "far from the query in every view": no closer than
an unrelated pair. Its percentile among random corpus pairs is first read on the scores
as searched; a shared direction (a narrow cone, rogue dimensions) or the lengths under
dot decide those, and a document with a small share of the cone sits at the 1st
percentile although, the cone removed, it is at the 95th. Each vector fix is a view of
the corpus: its rows and the query transformed (cosine, centring, all-but-the-top,
whitening, centring then cosine), the score of the pair ``(query, document)`` in it, and
the scores of random pairs of corpus rows in it. This module gives the document's
largest percentile over those views.

The random pairs of a view are drawn among :data:`VIEW_ROWS` sampled corpus rows (each
transformed once), 100,000 of them as :func:`vecdiag.score_percentile` draws: the
standard error stays under 0.2 percentage points. On an Index they are kept in
``index.cache``. A Dask corpus keeps the percentile as searched (its views are not
gathered).
"""

from __future__ import annotations

import numpy as np

from .. import cache_keys
from ..linalg import normalize, row_norms
from ..scale.chunks import is_dask_array
from .counterfactuals import CENTRED_COSINE, TRANSFORM_FIXES

__all__ = ["view_percentile", "VIEW_ROWS", "VIEWS"]

VIEW_ROWS = 2_000
"""Corpus rows sampled (and transformed) for the random pairs of one view."""

VIEWS = ("cosine_metric", *TRANSFORM_FIXES, CENTRED_COSINE)
"""The counterfactuals that are views of the vectors (a re-ranker or de-duplication
re-orders documents but gives no score a random pair has too)."""


def view_percentile(ctx, pos: int) -> tuple:
    """``(percentile, view)``: the largest percentile of ``pos``'s score with the query
    among random corpus pairs, over the scores as searched (view None) and each view of
    :data:`VIEWS` whose counterfactual was measured (``ctx.rankings``) and that removes a
    distortion this corpus shows: the vector fixes' views when a shared direction is
    abnormal (the anisotropy or rogue-dimension strength above 0), the cosine view when
    lengths vary (dot or euclidean, the norms' coefficient of variation above 0.05,
    where ``metric_mismatch`` starts). On a healthy corpus the scores as searched are
    the honest view: a fix's view moves every percentile somewhat (queries and documents
    embedded with different instructions score below document pairs as searched, not
    once the direction that tells them apart is removed)."""
    best, view = float(ctx.expected_percentile[int(pos)]), None
    if is_dask_array(ctx.index.vectors):
        return best, view
    for fix in _distorted(ctx):
        if fix not in ctx.rankings:
            continue
        pct = _percentile_in(ctx.index, ctx.query, int(pos), fix, ctx.stats.random_state)
        if pct is not None and pct > best:
            best, view = pct, fix
    return best, view


def _distorted(ctx) -> list:
    """The views of :data:`VIEWS` that remove a distortion of this corpus (see
    :func:`view_percentile`)."""
    from .centred import length_fix
    from .direction_checks import directions_skew, lengths_vary

    out = []
    if ctx.metric != "cosine" and lengths_vary(ctx):
        out.append(length_fix(ctx))
    if directions_skew(ctx) > 0:
        out.extend(v for v in VIEWS if v != "cosine_metric" and v not in out)
    return out


def _view(index, fix: str):
    """``(transform, metric)`` of one view: a function of rows, and the metric scored."""
    if fix == "cosine_metric":
        return (lambda X: normalize(X, zero="ignore")), "cosine"
    from ..fixes.cached import fitted

    if fix == CENTRED_COSINE:  # the rows as given centred (euclidean), scored by cosine
        transformer, _ = fitted(index, "center", index.metric, {})
        return transformer.transform, "cosine"
    transformer, _ = fitted(index, fix, index.metric, {})
    return transformer.transform, index.metric


def _percentile_in(index, query, pos: int, fix: str, seed):
    """Percentile of ``(query, pos)``'s score among random pairs in ``fix``'s view; None
    when the query or the document has no direction there (cosine of a zero row) or
    fewer than two sampled rows do."""
    from ..diagnostics.sampling import draw_rows
    from ..scores import percentile_among, random_pair_scores

    transform, metric = _view(index, fix)
    try:
        pair = np.asarray(transform(np.stack([np.asarray(query, dtype=index.vectors.dtype),
                                              index.vectors[pos]])), dtype=np.float64)
    except ValueError:          # a row the fix maps to zero, refused by the transformer
        return None
    norms = row_norms(pair)
    if metric == "cosine" and not np.all(norms > 0):
        return None
    if metric == "cosine":
        score = float(pair[0] @ pair[1] / (norms[0] * norms[1]))
    elif metric == "dot":
        score = float(pair[0] @ pair[1])
    else:
        score = float(np.linalg.norm(pair[0] - pair[1]))
    key = cache_keys.explain_view_pairs(fix, metric, seed)
    ref = index.cache.get(key)
    if ref is None:
        rows = draw_rows(len(index), min(len(index), VIEW_ROWS), seed)
        try:
            T = np.asarray(transform(index.vectors[rows]), dtype=np.float64)
        except ValueError:
            return None
        if metric == "cosine":
            T = T[row_norms(T) > 0]
        if T.shape[0] < 2:
            return None
        ref = random_pair_scores(T, metric=metric, random_state=seed)
        index.cache[key] = ref
    return float(percentile_among(ref, np.array([score]), metric)[0])
