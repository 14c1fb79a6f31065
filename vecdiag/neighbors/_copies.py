"""Top-k through plateaus of identical rows: search the distinct rows, expand the copies.

A corpus that holds many identical rows (empty texts embedded alike, a document ingested
twice) defeats the engine's proof wherever the k-th place falls inside a plateau of
copies: their keys are equal, no margin separates the kept candidates from the left-out
ones, and each re-check round widens the margin fourfold until every corpus row is a
candidate. Measured before this module: the kNN graph of 6,000 x 384 rows, half of them
one vector, 11.7 s in five rounds (1.3 s here); a 12,000-row diagnosis 59 s.

Identical rows score identically for every query, to the last bit, under every metric
(the same numbers go through the same operations). So the exact top-k of a query is the
top of the distinct rows, expanded: the members of each group in index order, merged
across groups by (score, index), which is the engine's tie rule. :func:`resolve` does
that for the queries whose proof failed, searching the distinct rows with the engine
itself, and widens the distinct search while the k-th place still ties the last distinct
row kept (a group beyond it could hold a lower index at the same score). The distinct rows
are copied once for that search (their memory again, and their unit rows under cosine);
only corpora with a plateau wider than the re-check margin take this path.
"""

from __future__ import annotations

import numpy as np

from .rows import Rows

def copy_groups(C: Rows):
    """``(first, order, starts, counts)`` of the groups of identical rows of ``C``'s
    source, or None when there is no copy or the rows are not an in-memory array (a
    memmap stays on disk). Cached on ``C`` (its rows never change).

    ``first[g]`` is the lowest row of group ``g``; ``order[starts[g]:starts[g] +
    counts[g]]`` its rows, ascending.

    Examples
    --------
    >>> C = Rows(np.array([[1.0, 0], [0, 1], [1.0, 0]]), "cosine", "corpus")
    >>> first, order, starts, counts = copy_groups(C)
    >>> [order[s:s + c].tolist() for s, c in zip(starts, counts)]
    [[1], [0, 2]]
    """
    known = getattr(C, "copies", None)          # Rows pickled before the attribute: None
    if known is not None:
        return known or None
    src, result = C.source, None
    if type(src) is np.ndarray and src.ndim == 2 and src.shape[0] > 1 and src.shape[1]:
        rows = np.ascontiguousarray(src)
        keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
        _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                              return_counts=True)
        if counts.max() > 1:
            order = np.argsort(inverse.ravel(), kind="stable")   # by group, then by row
            starts = np.cumsum(counts) - counts
            result = (first, order, starts, counts)
    C.copies = result if result is not None else ()
    return result


def worth_it(C: Rows, margin: int) -> bool:
    """Whether ``C`` has a group of copies larger than a re-check ``margin`` of
    candidates can hold (smaller plateaus are settled by the re-check rounds)."""
    groups = copy_groups(C)
    return groups is not None and int(groups[3].max()) > margin


def resolve(Q: Rows, C: Rows, todo: np.ndarray, k: int, *, exclude_self: bool, search,
            **options):
    """Exact top-k ``(indices, scores)`` of the queries ``todo`` (rows of ``Q``; corpus
    rows when ``exclude_self``), through the distinct rows of ``C``.

    ``search(Q, C, k, **options)`` is the engine's exact search (passed in: the engine
    calls this module). Requires :func:`copy_groups` not None.
    """
    first, order, starts, counts = copy_groups(C)
    by_first = np.argsort(first, kind="stable")            # distinct row -> group
    distinct = Rows(C.source[first[by_first]], C.metric, "corpus", dtype=C.dtype)
    queries = Rows(np.asarray(Q.source[todo]), Q.metric, "queries", dtype=Q.dtype)
    lower_better = C.metric == "euclidean"
    indices = np.empty((todo.size, k), np.int64)
    scores = np.empty((todo.size, k), C.dtype)
    pending = np.arange(todo.size)
    width = min(distinct.n, k + (1 if exclude_self else 0))
    while pending.size:
        sub = queries if pending.size == todo.size else Rows(
            np.asarray(queries.source[pending]), Q.metric, "queries", dtype=Q.dtype)
        ridx, rsc = search(sub, distinct, width, **options)
        wider = []
        for j, p in enumerate(pending.tolist()):
            groups = by_first[ridx[j]]
            members = [order[starts[g]:starts[g] + counts[g]] for g in groups]
            sizes = [m.size for m in members]
            rows = np.concatenate(members)
            vals = np.repeat(rsc[j], sizes)
            if exclude_self:
                keep = rows != todo[p]
                rows, vals = rows[keep], vals[keep]
            pick = np.lexsort((rows, vals if lower_better else -vals))[:k]
            if width < distinct.n and (pick.size < k or vals[pick[-1]] == rsc[j, -1]):
                wider.append(p)      # the k-th place ties the last distinct row kept
                continue
            indices[p], scores[p] = rows[pick], vals[pick]
        pending = np.asarray(wider, dtype=np.int64)
        width = min(distinct.n, 4 * width)
    return indices, scores
