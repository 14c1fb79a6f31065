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

A memmap corpus (larger than RAM) is never sorted or copied whole: its rows are hashed a
few MB at a time (8 bytes a row kept), rows sharing a hash compared byte for byte, and the
distinct rows and the re-searched queries are read from the file as the search needs them
(:class:`RowsAt`), as the memmap itself is.
"""

from __future__ import annotations

import numpy as np

from .rows import Rows

def copy_groups(C: Rows):
    """``(first, order, starts, counts)`` of the groups of identical rows of ``C``'s
    source, or None when there is no copy or the rows are neither an in-memory array nor
    a memmap (hashed piece by piece, :func:`_memmap_groups`). Cached on ``C`` (its rows
    never change).

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
    if isinstance(src, np.ndarray) and src.ndim == 2 and src.shape[0] > 1 and src.shape[1]:
        if isinstance(src, np.memmap):
            result = _memmap_groups(src)
        elif type(src) is np.ndarray:
            rows = np.ascontiguousarray(src)
            keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
            _, first, inverse, counts = np.unique(keys, return_index=True,
                                                  return_inverse=True, return_counts=True)
            result = _groups(first, inverse, counts)
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
    distinct = rows_at(C.source, first[by_first], C.metric, "corpus", C.dtype)
    distinct.copies = ()                                   # distinct by construction
    queries = rows_at(Q.source, todo, Q.metric, "queries", Q.dtype)
    lower_better = C.metric == "euclidean"
    indices = np.empty((todo.size, k), np.int64)
    scores = np.empty((todo.size, k), C.dtype)
    pending = np.arange(todo.size)
    width = min(distinct.n, k + (1 if exclude_self else 0))
    while pending.size:
        sub = queries if pending.size == todo.size else rows_at(
            Q.source, todo[pending], Q.metric, "queries", Q.dtype)
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


_HASH_BYTES = 2**20                   # 64-bit words of the rows hashed at once


def copied_rows(src) -> tuple[np.ndarray, np.ndarray] | None:
    """``(members, first)``: every row of ``src`` (an in-memory array or a memmap) that
    repeats a lower row value for value, ascending, and the lowest row of its group; None
    when no row repeats another. Hashed a few MB at a time, as :func:`_memmap_groups`.

    -0.0 equals 0.0 here (the same vector: ``copies_alike`` and the Dask path,
    :func:`vecdiag.scale.hashing.copied_rows_dask`, compare values too). Compared as
    bytes, a copy holding -0.0 where its original holds 0.0 was left out, a matrix
    product scored it a last bit off its original, and the re-rankers, the vector fixes
    on an Index and the counterfactuals ranked it out of index order.

    Examples
    --------
    >>> copied_rows(np.array([[1.0, 0], [0, 1], [1.0, 0], [0, 1], [1.0, -0.0]]))
    (array([2, 3, 4]), array([0, 1, 0]))
    >>> copied_rows(np.eye(3)) is None
    True
    """
    if src.ndim != 2 or src.shape[0] < 2 or not src.shape[1]:
        return None
    groups = _memmap_groups(src, zeros_alike=True)
    if groups is None:
        return None
    first, order, starts, counts = groups
    lowest = np.repeat(first, counts)                 # each entry of order: its group's first
    copy = order != lowest
    members, firsts = order[copy], lowest[copy]
    by_row = np.argsort(members, kind="stable")
    return members[by_row], firsts[by_row]


def _memmap_groups(src: np.memmap, *, zeros_alike: bool = False):
    """:func:`copy_groups` of a memmap, a few MB of it in memory at a time: each row's
    bytes hashed piece by piece, then the rows sharing a hash compared, byte for byte,
    with the lowest of them (so a hash collision never joins different rows).
    ``zeros_alike``: each piece's -0.0 read as 0.0 first (rows compared by value)."""
    n, d = src.shape
    hashes = _row_hashes(src, zeros_alike)
    by_hash = np.argsort(hashes, kind="stable")   # equal hashes: ascending rows
    label = np.arange(n)                          # each row's group: its lowest row
    pending = by_hash[_shared(hashes[by_hash])]   # rows whose hash another row shares
    if not pending.size:
        return None
    rows_per_piece = max(2, _HASH_BYTES // max(1, d * src.dtype.itemsize))
    while pending.size:
        h = hashes[pending]
        run_start = np.r_[True, h[1:] != h[:-1]]
        rep = pending[np.flatnonzero(run_start)[np.cumsum(run_start) - 1]]
        left = []
        for a in range(0, pending.size, rows_per_piece):
            rows, reps = pending[a:a + rows_per_piece], rep[a:a + rows_per_piece]
            same = _equal_bytes(np.asarray(src[rows]), np.asarray(src[reps]), zeros_alike)
            label[rows[same]] = reps[same]
            left.append(rows[~same])              # a collision: another group, next round
        pending = np.concatenate(left)
        pending = pending[_shared(hashes[pending])]   # one left alone: a group of one
    first, inverse, counts = np.unique(label, return_inverse=True, return_counts=True)
    return _groups(first, inverse, counts)


def _groups(first, inverse, counts):
    """:func:`copy_groups`' tuple from ``np.unique``'s lowest row, inverse and counts of
    each group, or None when no group has two rows."""
    if counts.max() < 2:
        return None
    order = np.argsort(inverse.ravel(), kind="stable")   # by group, then by row
    return first, order, np.cumsum(counts) - counts, counts


def _row_hashes(src: np.ndarray, zeros_alike: bool = False) -> np.ndarray:
    """A 64-bit hash of each row's bytes (identical rows, identical hashes), read a few MB
    at a time: the sum of the row's values, read as unsigned integers, times fixed odd
    multipliers (mod 2**64). ``zeros_alike``: as :func:`_piece`."""
    n, d = src.shape
    word = np.dtype(f"u{src.dtype.itemsize}")      # the rows' bytes, one number a value
    mult = np.random.default_rng(20_240_601).integers(1, 2**63, size=d, dtype=np.uint64)
    mult |= np.uint64(1)
    step = max(1, _HASH_BYTES // (8 * d))
    hashes = np.empty(n, np.uint64)
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            words = _piece(src[a:a + step], zeros_alike).view(word).astype(np.uint64)
            hashes[a:a + step] = (words * mult).sum(axis=1, dtype=np.uint64)
    return hashes


def _shared(h: np.ndarray) -> np.ndarray:
    """Entries of the sorted ``h`` equal to a neighbour (their value occurs twice or more)."""
    same = h[1:] == h[:-1]
    return np.r_[same, False] | np.r_[False, same] if h.size else np.zeros(0, bool)


def _equal_bytes(a: np.ndarray, b: np.ndarray, zeros_alike: bool = False) -> np.ndarray:
    """Rows of ``a`` whose bytes equal those of the same row of ``b`` (as np.unique's
    comparison of the in-memory path: 0.0 and -0.0 differ, unless ``zeros_alike``)."""
    a = _piece(a, zeros_alike).view(np.uint8).reshape(a.shape[0], -1)
    b = _piece(b, zeros_alike).view(np.uint8).reshape(b.shape[0], -1)
    return (a == b).all(axis=1)


def _piece(rows: np.ndarray, zeros_alike: bool) -> np.ndarray:
    """``rows`` as a C-contiguous array; with ``zeros_alike`` a new one whose -0.0 are
    0.0 (-0.0 + 0.0 is 0.0; every other value, NaN's bytes too, is kept)."""
    rows = np.ascontiguousarray(rows)
    return rows + rows.dtype.type(0) if zeros_alike else rows


class RowsAt:
    """Rows ``positions`` of a memmap, read from it only when asked for: what :class:`Rows`
    needs of its source (``shape``, ``dtype``, ``ndim``, rows by slice or positions)."""

    def __init__(self, source: np.ndarray, positions: np.ndarray):
        self.source, self.positions = source, np.asarray(positions, np.int64)
        self.shape = (self.positions.size, source.shape[1])
        self.dtype, self.ndim = source.dtype, 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.source[self.positions[key]])


def rows_at(source, positions: np.ndarray, metric: str, name: str, dtype) -> Rows:
    """:class:`Rows` of ``source[positions]``: copied when ``source`` is in memory, read
    from the file as searched when it is a memmap (or rows of one)."""
    if isinstance(source, RowsAt):
        source, positions = source.source, source.positions[positions]
    if isinstance(source, np.memmap):
        return Rows(RowsAt(source, positions), metric, name, dtype=dtype, copy=False)
    return Rows(np.asarray(source[positions]), metric, name, dtype=dtype)
