"""Vector fixes on a :class:`vecdiag.Index`, fitted once and cached: one query costs one
pass over the corpus, not a re-fit and a re-transform.

Every vector fix is affine after the optional row normalisation ``u``:
``T(x) = (u(x) - μ) A`` (Center: A = I; AllButTheTop: A = P, the projector onto the
complement of the removed directions; Whiten: A = components.T / scale; Normalize:
μ = 0, A = I). Hence ``T(q) · T(c) = v · (u(c) - μ)`` with ``v = T(q) Aᵀ``, and the
scores of one query need ``u(C) v`` plus the cached norms ``||T(c)||``:

* dot: ``T(q)·T(c)``;
* cosine: that divided by ``||T(q)|| ||T(c)||``;
* euclidean: ``sqrt(||T(q)||² + ||T(c)||² - 2 T(q)·T(c))``.

Scores equal a direct transform-and-search up to rounding (euclidean distances of
near-coincident pairs, where the expanded form cancels, are recomputed directly);
near-exact ties (within ~1e-12) may order differently from a search of the transformed
arrays. This is the one path a fix on an Index takes: :func:`vecdiag.fixes.apply_fix`,
``try_fixes`` and explain's counterfactuals all rank through it, so they agree exactly.
The corpus rows are the Index's own (:attr:`vecdiag.Index.unit_rows`), the scores come in
blocks and the top k from :func:`vecdiag.neighbors.scoring.top_k` (ties by lower index).

An Index over a Dask array is never gathered: the fix is fitted from one pass over its
blocks, the corpus transformed lazily (one task per row block) and searched exactly by
the Dask path of :func:`vecdiag.knn` (only each block's top k travel; ties by lower index).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from .._progress import progress_bar
from ..linalg import row_norms
from ..neighbors.scoring import block_rows, corpus_copies, make_neighbors, prepare, top_k
from ..scale.chunks import is_dask_array
from .checking import _absent, fit_as, transform_as
from .transformers import AllButTheTop, Normalize, Whiten, for_fix

# bytes of corpus rows transformed at a time when a fix is fitted on an Index (each
# transform makes a few temporaries of the block's size: 65,536 rows of d = 384 made
# 4x the corpus)
_TRANSFORM_BYTES = 2**20


def _affine(fix):
    """``(mean, A or None)`` of a fitted transformer (A None means the identity/projector)."""
    if isinstance(fix, Normalize):
        return None, None
    if isinstance(fix, Whiten):
        return fix.mean_, fix.components_.T / fix.scale_
    return fix.mean_, None  # Center (A = I), AllButTheTop (A = P: T(q) P = T(q))


def _unit_corpus(index, normalize_first: bool, zero: str | None = None) -> np.ndarray:
    """u(C): the corpus itself, or the Index's unit rows (zero rows refused, or left at 0
    with ``zero="ignore"``, the option of a vector fix; None: no such option)."""
    if not normalize_first:
        return index.vectors
    V.zero_rows(index.norms, "corpus", zero or "raise", ignorable=zero is not None)
    return index.unit_rows


def fitted(index, code: str, metric: str, opts: dict, *, show_progress=None):
    """The cached ``(transformer, ||T(c)||² per row)`` of one vector fix on an Index."""
    key = cache_keys.fix_fitted(code, metric, opts)
    if key in index.cache:
        return index.cache[key]
    fix = fit_as(for_fix(code, metric, **opts), index.vectors, "corpus")
    n, n_dims = len(index), index.vectors.shape[1]
    sq = np.empty(n, dtype=np.float64)
    with progress_bar(n, desc=f"{code}: transforming the corpus", show=show_progress,
                      expected_seconds=n * index.vectors.shape[1] ** 2 / 2e10) as bar:
        step = max(1, _TRANSFORM_BYTES // (index.vectors.dtype.itemsize * max(1, n_dims)))
        for start in range(0, n, step):
            T = fix.transform(index.vectors[start:start + step])
            sq[start:start + step] = np.einsum("ij,ij->i", T, T)
            bar.update(T.shape[0])
    index.cache[key] = (fix, sq)
    return fix, sq


def _one_by_one(fix, X: np.ndarray) -> np.ndarray:
    """``fix.transform`` of each row of ``X`` alone, from one buffer: the same row gives
    the same output wherever it stands (a matrix product of many rows computes the rows
    at a tile's edge apart)."""
    out, one = None, np.empty((1, X.shape[1]), X.dtype)
    for i in range(X.shape[0]):
        one[0] = X[i]
        T = fix.transform(one)
        if out is None:
            out = np.empty((X.shape[0], T.shape[1]), T.dtype)
        out[i] = T[0]
    return out


def search_fixed(index, code: str, Q: np.ndarray, k: int, metric: str, opts: dict, ids, *,
                 zero: str = "raise"):
    """Exact search of ``Q`` against ``T(index)`` for one vector fix, using the cache.

    ``zero="ignore"`` (explain's counterfactuals): under cosine, rows that the fix
    maps to zero (a query equal to the corpus mean, say) score 0 instead of raising.
    """
    if is_dask_array(index.vectors):
        return _search_fixed_dask(index, code, Q, k, metric, opts, ids)
    fix, sq = fitted(index, code, metric, opts)
    mean, A = _affine(fix)
    normalize_first = getattr(fix, "normalize_first", True)
    U = _unit_corpus(index, normalize_first, fix.zero)
    TQ = transform_as(fix, Q, "queries")
    Vq = (TQ if A is None else TQ @ A.T.astype(TQ.dtype, copy=False)).astype(np.float64)
    if isinstance(fix, AllButTheTop):
        # subtle: T(q)·(u(c) - μ) is T(q)·T(c) only if T(q) is orthogonal to the removed
        # directions; a float32 transform leaves a residue there of ~eps·||u(q) - μ||,
        # multiplied by the corpus's largest components (cosines off by 0.4 when they
        # dwarf the rest). Projected out again in float64.
        Vq -= (Vq @ fix.components_.T) @ fix.components_
    if fix.zero == "ignore":            # the fix's own option: its zero rows score 0
        zero = "ignore"
    if metric == "cosine":
        V.zero_rows(np.sqrt(sq), "corpus after the fix", zero)
        V.zero_rows(row_norms(TQ), "queries after the fix", zero)
    q_sq = np.einsum("ij,ij->i", TQ, TQ).astype(np.float64)
    offset = 0.0 if mean is None else Vq @ mean.astype(np.float64)
    # zero rows that zero="ignore" keeps at 0 through the fix (the transformer's own
    # rule): T(c) = 0, so their products are 0, not the -offset of the affine form
    absent = _absent(fix, U)
    indices = np.empty((Q.shape[0], k), dtype=np.int64)
    scores = np.empty((Q.shape[0], k), dtype=np.float64)
    copies = corpus_copies(index.vectors, index)
    # a copy is transformed and scored as the row it repeats (one computation, one key)
    original = np.arange(len(index))
    if copies is not None:
        original[copies[0]] = copies[1]
    step = block_rows(Q.shape[0], len(index))
    for start in range(0, Q.shape[0], step):
        stop = min(Q.shape[0], start + step)
        S = (U @ Vq[start:stop].T.astype(U.dtype, copy=False)).T.astype(np.float64)
        if mean is not None:
            S -= offset[start:stop, None]
        if absent is not None:
            S[:, absent] = 0.0
        if metric == "cosine":
            denom = np.sqrt(q_sq[start:stop, None] * sq[None, :])
            with np.errstate(divide="ignore", invalid="ignore"):
                keys = np.where(denom > 0, S / denom, 0.0)    # zero rows (zero="ignore")
        elif metric == "euclidean":
            keys = -np.sqrt(np.maximum(q_sq[start:stop, None] + sq[None, :] - 2 * S, 0))
        else:
            keys = S
        idx, val = top_k(keys, k, copies)
        if metric == "euclidean":
            # subtle: the expanded form loses digits for near-coincident pairs; recompute
            # those (few) distances from their transformed vectors, each transformed
            # alone (a query equal to a row is then exactly 0.0 from it and its copies)
            scale = q_sq[start:stop, None] + sq[idx]
            r, c = np.nonzero(val ** 2 <= np.finfo(np.float64).eps ** 0.25 * scale)
            if r.size:
                rows, which = np.unique(original[idx[r, c]], return_inverse=True)
                asked, where = np.unique(start + r, return_inverse=True)
                diff = (_one_by_one(fix, Q[asked])[where]
                        - _one_by_one(fix, index.vectors[rows])[which])
                val[r, c] = -np.sqrt(np.einsum("ij,ij->i", diff, diff))
                order = np.lexsort((idx, -val), axis=1)
                idx, val = np.take_along_axis(idx, order, 1), np.take_along_axis(val, order, 1)
            val = -val
        elif metric == "cosine":
            val = np.clip(val, -1, 1)
        indices[start:stop], scores[start:stop] = idx, val
    return make_neighbors(indices, scores, metric, ids, index)


def _search_fixed_dask(index, code: str, Q: np.ndarray, k: int, metric: str, opts: dict, ids):
    """:func:`search_fixed` on an Index over a Dask array: the fix fitted once (cached, with
    no squared norms), queries and corpus transformed, searched one row block per task.
    Rows the fix maps to zero are refused under cosine, named by their row. Copies of a
    row are transformed as that row (:func:`vecdiag.scale.hashing.transform_copies_alike`)."""
    from ..scale.hashing import transform_copies_alike
    from ..scale.search import knn_dask

    key = cache_keys.fix_fitted(code, metric, opts)
    if key not in index.cache:
        index.cache[key] = (fit_as(for_fix(code, metric, **opts), index.vectors, "corpus"),
                            None)
    fix = index.cache[key][0]
    TQ = transform_as(fix, Q, "queries")
    T = transform_copies_alike(index.vectors, fix.transform(index.vectors), fix.transform,
                               corpus_copies(index.vectors, index))
    try:
        found = knn_dask(TQ, T, k, metric=metric)
    except ValueError as err:
        text = str(err)
        for name in ("corpus ", "queries "):
            if text.startswith(name):
                raise V.reworded(err, f"{name}after the fix {text[len(name):]}") from err
        raise
    return make_neighbors(found.indices, found.scores.astype(np.float64), metric, ids, index)


def knn_zero_scores_zero(Q: np.ndarray, C: np.ndarray, k: int):
    """:func:`vecdiag.knn` by cosine where an all-zero row (of ``C`` or ``Q``) has cosine 0
    with everything instead of being refused (a vector fix's ``zero="ignore"``): the
    other rows are searched exactly, the zero rows merged in at score 0 (ties to the lower
    corpus row, as everywhere). Returns ``(indices, scores)`` in a Neighbors."""
    from ..neighbors import knn
    from ..neighbors.result import Neighbors

    if is_dask_array(C) or is_dask_array(Q):     # not read into memory to find them:
        return knn(Q, C, k, metric="cosine")      # zero rows refused, by row
    absent = ~np.asarray(C).any(axis=1)
    live = np.flatnonzero(np.asarray(Q).any(axis=1))
    if not absent.any() and live.size == Q.shape[0]:
        return knn(Q, C, k, metric="cosine")
    # a zero query: every row at 0, the first k in corpus order
    out_idx = np.tile(np.arange(k), (Q.shape[0], 1))
    out_val = np.zeros((Q.shape[0], k))
    if live.size:
        # the zero rows at 0 beside the exact top of the others, merged by the tie rule
        idx = np.broadcast_to(np.flatnonzero(absent), (live.size, int(absent.sum())))
        val = np.zeros(idx.shape)
        kept = np.flatnonzero(~absent)
        if kept.size:
            found = knn(Q[live], C[kept], min(k, kept.size), metric="cosine")
            idx = np.hstack([kept[found.indices], idx])
            val = np.hstack([found.scores, val])
        order = np.lexsort((idx, -val), axis=-1)[:, :k]
        out_idx[live] = np.take_along_axis(idx, order, axis=1)
        out_val[live] = np.take_along_axis(val, order, axis=1)
    return Neighbors(indices=out_idx, scores=out_val, metric="cosine", k=k)


def search_cosine(index, Q: np.ndarray, k: int, ids, *, zero: str | None = None):
    """cosine_metric on an Index: its own unit rows (cached when it searches by another
    metric). A zero corpus row (valid under dot or euclidean) is refused, or with
    ``zero="ignore"`` scores 0, as a vector fix's zero option does."""
    if is_dask_array(index.vectors):                  # one row block per task
        from ..scale.search import knn_dask

        found = knn_dask(Q, index.vectors, k, metric="cosine")
        return make_neighbors(found.indices, found.scores.astype(np.float64), "cosine", ids,
                              index)
    U = _unit_corpus(index, True, zero)
    # prepare: zero rows refused, then normalize, not Q / norms (a length past the float
    # range is inf and would give a row of zeros); zero queries stay (0, d)
    Qu = prepare(Q, "cosine", "queries").astype(U.dtype, copy=False)
    indices = np.empty((Q.shape[0], k), dtype=np.int64)
    scores = np.empty((Q.shape[0], k), dtype=np.float64)
    copies = corpus_copies(index.vectors, index)      # copies of a row score as that row
    step = block_rows(Q.shape[0], len(index))
    for start in range(0, Q.shape[0], step):
        stop = min(Q.shape[0], start + step)
        idx, val = top_k((Qu[start:stop] @ U.T).astype(np.float64), k, copies)
        indices[start:stop], scores[start:stop] = idx, np.clip(val, -1, 1)
    return make_neighbors(indices, scores, "cosine", ids, index)
