"""Top-k candidates from blocks of scores: an exact threshold filter and a running best.

The engine scores a block of queries against a chunk of the corpus, then needs, for each
query, the entries of the block that can still be among its ``kp`` best. Sorting or
partitioning whole rows costs about as much per score as the multiplication itself, so
:func:`select` first discards, with one cheap vectorised pass, every group of entries whose
maximum cannot beat the query's running ``kp``-th best, and returns the few survivors as
a sparse list. :class:`Best` holds the running best and folds those lists in.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _fold

_GROUP = 16                           # columns per group in the threshold filter
_MASK_RATIO = 16                      # gather cost per member vs a comparison (measured ~20)
_OPEN_ROWS = 8                        # compiled fold-in once at most 1/8 of rows lack a bar
_ROUNDS = 12                          # up to this many candidates per row: fold in by rounds


def select(S: np.ndarray, kk: int, thr: np.ndarray, *, by_column: bool = False,
           rank: int | None = None, slack: np.ndarray | None = None):
    """Entries of each row of ``S`` that may be among its ``kk`` largest and are ``> thr``.

    Returns three flat arrays ``(line, column, value)`` for the surviving entries. Every
    entry of a row that is among its ``kk`` largest and ``> thr[row]`` is returned (up to
    the choice among equal values at the boundary, which the engine's refine step settles).
    ``by_column=True`` selects down the columns of ``S`` instead (as for ``S.T``) without
    transposing it: "rows" below are then the columns of ``S``. With ``rank`` and ``slack``
    (per row), entries ``slack`` or more below the row's ``rank``-th largest may be left
    out as well (see :class:`SharedBest`).

    Notes
    -----
    Exact threshold filter: view each row as ``w = m // g`` strided groups of ``g``
    columns (group ``j`` holds columns ``j, j + w, j + 2w, ...``) and take each group's
    maximum in one vectorised pass. A group whose maximum is ``<= thr`` holds nothing
    above ``thr``: once the running ``kp``-th best is known, most chunks leave a handful of
    groups per row. Rows where more than ``kk`` groups pass keep the ``kk`` groups with the
    largest maxima: with ``t`` the ``kk``-th largest maximum, at least ``kk`` entries are
    ``>= t``, so nothing below ``t`` is among the top ``kk`` and the row's threshold rises
    to keep only entries ``>= t`` (all in groups with maxima ``>= t``). The members of the
    passing groups are then gathered and compared, or, when so many groups pass that one
    comparison over the whole block is cheaper (the first chunks of a scan), the block is
    compared at once. The ``m mod g`` tail columns are checked one by one.
    """
    S = np.ascontiguousarray(S)
    lines, m = (S.shape[1], S.shape[0]) if by_column else S.shape
    T = S.T if by_column else S                     # (lines, m), a view
    g, w, group_max = _group_maxima(S, kk, by_column)
    if group_max is None:
        if kk >= m:
            cols = np.broadcast_to(np.arange(m), (lines, m))
        else:
            cols = np.argpartition(T, m - kk, axis=1)[:, m - kk:]
        vals = np.take_along_axis(T, cols, axis=1)
        keep = vals > thr[:, None]
        line = np.broadcast_to(np.arange(lines)[:, None], cols.shape)
        return line[keep], cols[keep], vals[keep]
    main = w * g
    passing = group_max > (thr if by_column else thr[:, None])
    line_axis = 1 if by_column else 0
    total = int(np.count_nonzero(passing))
    ranked = rank is not None and slack is not None and 0 < rank < kk
    most = rank if ranked else kk
    if total > lines * most:
        # some rows pass more than kk groups (the first chunks): the kk-th largest group
        # maximum t of such a row bounds its kk largest entries from below (kk entries
        # are >= t), so its threshold rises to keep only entries >= t; with a rank, also
        # to slack below the rank-th largest maximum (rank entries reach it)
        counts = np.count_nonzero(passing, axis=1 - line_axis)
        heavy = np.flatnonzero(counts > most)
        gm_heavy = group_max[:, heavy].T if by_column else group_max[heavy]
        part = np.partition(gm_heavy, (w - kk, w - most), axis=1)
        bar = np.nextafter(part[:, w - kk], -np.inf)
        if ranked:
            bar = np.maximum(bar, floor_below(part[:, w - rank], slack[heavy], S.dtype))
        thr = thr.copy()
        thr[heavy] = np.maximum(thr[heavy], bar)
        if by_column:
            passing[:, heavy] = gm_heavy.T > thr[heavy]
        else:
            passing[heavy] = gm_heavy > thr[heavy, None]
        total = int(np.count_nonzero(passing))
    if total * g * _MASK_RATIO > lines * m:
        # many groups pass (the first chunks): one comparison over the block is cheaper
        # than gathering the members of every passing group
        if by_column:
            flat = np.flatnonzero(S > thr)
            cols, line = divmod(flat, lines)
        else:
            flat = np.flatnonzero(S > thr[:, None])
            line, cols = divmod(flat, m)
        return line, cols, S.ravel().take(flat)
    # members of the passing groups (group j holds columns j, j + w, j + 2w, ...): the
    # flat position in S of member i of a group is the group's first one plus i steps of
    # w columns, so one (groups, g) sum of two ranges locates every member, and lines and
    # columns are worked out only for the few members that pass
    first = np.flatnonzero(passing)
    if by_column:                                   # passing[j, line] -> S[j, line]
        line = first % lines
        step = w * lines
    else:                                           # passing[line, j] -> S[line, j]
        line, grp = divmod(first, w)
        first = line * m + grp
        step = w
    flat = first[:, None] + step * np.arange(g)
    vals = S.ravel().take(flat)
    keep = vals > thr[line][:, None]
    flat, vals = flat[keep], vals[keep]
    if by_column:
        cols, line = divmod(flat, lines)
    else:
        line, cols = divmod(flat, m)
    if main < m:                                     # the tail columns, one by one
        tail = T[:, main:]
        t_line, t_col = np.nonzero(tail > thr[:, None])
        line = np.concatenate([line, t_line])
        cols = np.concatenate([cols, t_col + main])
        vals = np.concatenate([vals, tail[t_line, t_col]])
    return line, cols, vals


class Best:
    """The ``kp`` best (position, key) pairs seen so far for each of ``lines`` rows.

    Starts with position -1 and key -inf (so :meth:`threshold` is -inf until ``kp`` real
    candidates are known); :meth:`add` folds in a sparse list from :func:`select`.
    """

    def __init__(self, lines: int, kp: int, dtype):
        self.idx = np.full((lines, kp), -1, np.int64)
        self.key = np.full((lines, kp), -np.inf, dtype)
        # real entries per row; while a row is not full they fill its first slots
        self.filled = np.zeros(lines, np.int64)

    def threshold(self) -> np.ndarray:
        """The running kp-th best key of each row: a valid filter for what comes next."""
        return self.key.min(axis=1)

    def add(self, line: np.ndarray, cols: np.ndarray, vals: np.ndarray,
            offset: int = 0) -> None:
        """Fold candidates ``(line, column + offset, value)`` in, touching only their rows.

        Rows with free slots take their candidates in place. Full rows offered at most
        :data:`_ROUNDS` candidates each (the usual case once a scan's threshold has
        settled) replace their smallest keys round by round; with more (the first
        chunks), each touched row is merged with its candidates by one partition. A single
        fold costs a few dozen array operations either way: measured on the 25 blocks
        of a 1,000-query search of 100,000 rows, 16.1 ms by partitions alone, 13.0 ms
        with rounds up to 12 (equal kept sets).
        """
        if line.size == 0:
            return
        if line.size > 1 and (line[1:] < line[:-1]).any():
            small = line.astype(np.uint16) if self.idx.shape[0] <= 2**16 else line
            order = np.argsort(small, kind="stable")          # radix sort for uint16
            line, cols, vals = line[order], cols[order], vals[order]
        count = np.bincount(line, minlength=self.idx.shape[0])
        rows = np.flatnonzero(count)
        count = count[rows]
        start = np.cumsum(count) - count
        slot = np.arange(line.size) - np.repeat(start, count)
        kp = self.idx.shape[1]
        room = self.filled[rows] + count <= kp
        if room.any():
            # rows with free slots (few candidates so far, or kp near n): write in place
            put = np.repeat(room, count)
            at = line[put]
            pos = self.filled[at] + slot[put]
            self.idx[at, pos] = cols[put] + offset
            self.key[at, pos] = vals[put]
            self.filled[rows[room]] += count[room]
            if room.all():
                return
            keep_rows = ~put
            line, cols, vals, slot = (line[keep_rows], cols[keep_rows], vals[keep_rows],
                                      slot[keep_rows])
            rows, count = rows[~room], count[~room]
        width = int(count.max())
        if width <= _ROUNDS:
            self._replace_smallest(line, cols + offset, vals, slot, width)
            self.filled[rows] = kp
            return
        which = np.repeat(np.arange(rows.size), count)
        new_idx = np.full((rows.size, width), -1, np.int64)
        new_key = np.full((rows.size, width), -np.inf, self.key.dtype)
        new_idx[which, slot] = cols + offset
        new_key[which, slot] = vals
        self.idx[rows], self.key[rows] = merge(self.idx[rows], self.key[rows], new_idx,
                                               new_key, kp)
        self.filled[rows] = kp

    def _replace_smallest(self, line, pos, vals, slot, width: int) -> None:
        """Fold candidates in by rounds: round j offers each row its j-th candidate,
        which replaces the row's smallest key if it is larger (the kp best so far stay
        kept after every offer). Few candidates per row (the later chunks of a scan):
        cheaper than a partition of every touched row."""
        order = np.argsort(slot, kind="stable")
        line, pos, vals = line[order], pos[order], vals[order]
        bounds = np.searchsorted(slot[order], np.arange(width + 1))
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows, new = line[a:b], vals[a:b]
            keys = self.key[rows]
            at = keys.argmin(axis=1)
            better = new > keys[np.arange(rows.size), at]
            rows, at = rows[better], at[better]
            self.key[rows, at] = new[better]
            self.idx[rows, at] = pos[a:b][better]


def merge(best_idx, best_key, new_idx, new_key, kp: int):
    """Keep the ``kp`` largest keys of two dense candidate sets (row by row)."""
    if best_idx is None:
        idx, key = new_idx, new_key
    else:
        idx = np.concatenate([best_idx, new_idx], axis=1)
        key = np.concatenate([best_key, new_key], axis=1)
    if idx.shape[1] <= kp:
        return idx, key
    part = np.argpartition(key, idx.shape[1] - kp, axis=1)[:, idx.shape[1] - kp:]
    return np.take_along_axis(idx, part, axis=1), np.take_along_axis(key, part, axis=1)


def fold_in(best: Best, S: np.ndarray, kk: int, offset: int = 0, *, by_column: bool = False,
            compiled: bool = False, floor: np.ndarray | None = None,
            rank: int | None = None, slack: np.ndarray | None = None):
    """Fold a score block into ``best``: :func:`select` then :meth:`Best.add`, or with
    ``compiled=True`` (when numba is there) the kernel of :mod:`._fold`.

    ``floor`` (per row): entries at or below it are left out, a threshold known from
    elsewhere (see :class:`SharedBest`). ``rank`` and ``slack`` (per row): entries more
    than ``slack`` below the row's ``rank``-th best kept key are left out too (the
    kernel raises its floor to that at the start of the block; a row without one gets
    the block's ``rank``-th largest group maximum less ``slack``). The caller holds
    whatever lock guards ``best``.

    Returns the rows' running bar after the block when the kernel ran (the larger of
    the ``kp``-th kept key and the floor: entries at or below it are not candidates),
    else None.
    """
    S = np.ascontiguousarray(S)
    kernels = _fold.kernels() if compiled else None
    lines = S.shape[1] if by_column else S.shape[0]
    kp = best.key.shape[1]
    ranked = rank is not None and slack is not None and 0 < rank < kp
    if floor is None:
        floor = np.full(lines, -np.inf, best.key.dtype)
    # rows with no bar yet: not ``rank`` (or not ``kp``) kept, and no floor from elsewhere
    unbarred = (best.filled < (rank if ranked else kp)) & np.isneginf(floor)
    if kernels is not None and np.count_nonzero(unbarred) * _OPEN_ROWS > lines:
        # Rows without a bar yet (a scan's first chunk) would take every entry into the
        # kernel's replace-the-smallest insertion (about kp ln(m / kp) each, several
        # times the NumPy filter's cost): the block's own bar is given instead.
        bar = None
        if kk >= kp:
            bar = block_bar(S, rank if ranked else kk, by_column)
        if bar is None:
            kernels = None
        else:
            floor = np.maximum(floor, floor_below(bar, slack, best.key.dtype) if ranked
                               else bar)
    if kernels is None:
        thr = np.maximum(best.threshold(), floor)
        best.add(*select(S, kk, thr, by_column=by_column), offset=offset)
        return None
    kernel = kernels[0] if by_column else kernels[1]
    return kernel(S, offset, best.key, best.idx, best.filled,
                  floor.astype(best.key.dtype, copy=False), rank if ranked else 0,
                  np.asarray(slack if ranked else np.zeros(1), np.float64))


def floor_below(key: np.ndarray, slack: np.ndarray, dtype) -> np.ndarray:
    """Per row, a value of ``dtype`` strictly below ``key`` and at or below ``key -
    slack`` (computed in float64, never rounded up): -inf where ``key`` is -inf or NaN.

    Examples
    --------
    >>> f = floor_below(np.array([1.0, -np.inf]), np.array([0.5, 0.5]), np.float32)
    >>> f.tolist(), f.dtype
    ([0.5, -inf], dtype('float32'))
    >>> bool(floor_below(np.array([1.0]), np.array([0.0]), np.float32)[0] < 1.0)
    True
    """
    key = np.asarray(key, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        floor = np.minimum(key - slack, np.nextafter(key, -np.inf))
        floor = np.where(np.isnan(floor), -np.inf, floor)
        low = floor.astype(dtype)
    return np.where(low > floor, np.nextafter(low, np.dtype(dtype).type(-np.inf)),
                    low).astype(dtype)


def block_bar(S: np.ndarray, kk: int, by_column: bool = False) -> np.ndarray | None:
    """Per row of ``S`` (per column with ``by_column``), a value below which no entry is
    among the row's ``kk`` largest: just below the ``kk``-th largest of its group maxima
    (``kk`` groups, so ``kk`` entries, reach that maximum). None when the rows are too
    short for groups (fewer than ``8 kk`` entries).

    Examples
    --------
    >>> S = np.arange(64, dtype=np.float32).reshape(1, 64)
    >>> float(block_bar(S, 2)[0]) < 62.0 <= float(np.sort(S[0])[-2])
    True
    """
    _, w, group_max = _group_maxima(S, kk, by_column)
    if group_max is None:
        return None
    t = np.partition(group_max.T if by_column else group_max, w - kk, axis=1)[:, w - kk]
    return np.nextafter(t, -np.inf)


def _group_maxima(S: np.ndarray, kk: int, by_column: bool):
    """``(g, w, maxima)``: the ``w`` strided groups of ``g`` entries per row of
    :func:`select`'s filter and their maxima, in the block's own layout: ``(w, lines)``
    down the columns, ``(lines, w)`` along the rows (a transposed view would cost a copy
    further on). Maxima None when rows are too short for groups (``g < 2``)."""
    lines, m = (S.shape[1], S.shape[0]) if by_column else S.shape
    g = min(_GROUP, m // (4 * max(1, kk)))
    if g < 2:
        return g, 0, None
    w = m // g
    if by_column:
        return g, w, np.maximum.reduce(S[:w * g].reshape(g, w, lines), axis=0)
    return g, w, np.maximum.reduce(S[:, :w * g].reshape(lines, g, w), axis=1)


class SharedBest:
    """The running best of one block of rows, shared by worker threads.

    NumPy selection: the threshold is read and the survivors folded in under the lock, the
    passes over the block run outside it. Compiled fold-in (one pass that updates the best
    as it goes): a worker that finds the lock taken does not wait; it folds into a spare
    best of its own, keeping only entries above the last published threshold (the shared
    best then already holds ``kp`` entries at or above it); :meth:`result` merges the
    spares in. Chunks are disjoint, so no candidate is kept twice.

    ``rank`` and ``slack`` (per row, the engine's rounding allowance on keys): an entry
    whose key is more than ``slack`` below the row's ``rank``-th best key so far cannot
    reach the row's top ``rank`` once refined (see :func:`vecdiag.neighbors.engine.refine`),
    so it is left out too (:meth:`floor_of`), however low the ``kp``-th kept key still is.
    Rows then keep about ``rank`` entries near their top, not ``kp``, and the running bar
    sits at the ``rank``-th best, not the ``kp``-th: a scan offers far fewer entries.
    """

    def __init__(self, lines: int, kp: int, dtype, floor: np.ndarray | None = None, *,
                 rank: int | None = None, slack: np.ndarray | None = None):
        self.best = Best(lines, kp, dtype)
        self.lock = threading.Lock()
        # keys at or below ``base`` are never candidates (a bound known from elsewhere,
        # see vecdiag.neighbors.engine.search's ``known``); -inf when there is none
        self.base = (np.full(lines, -np.inf, dtype) if floor is None
                     else np.asarray(floor, dtype))
        use = rank is not None and slack is not None and 0 < rank < kp
        self.rank = rank if use else None
        self.slack = np.asarray(slack, np.float64) if use else None
        # the shared best's threshold as last published: a new array each time, never
        # changed in place, so reading it needs no lock (a read under a concurrent
        # fold-in could mix old and new entries and exceed the true kp-th best)
        self.floor = self.base.copy()
        self.spares: dict[int, Best] = {}

    def floor_of(self, best: Best) -> np.ndarray:
        """Keys at or below this cannot be candidates of a row, given what ``best``
        holds: ``base``, or ``slack`` below the row's ``rank``-th best key in ``best``.

        Any ``rank`` entries of a row bound its ``rank``-th best from below, so the floor
        of a spare (entries from other chunks) is as valid as that of the shared best.
        """
        if self.rank is None:
            return self.base
        kp = best.key.shape[1]
        kth = np.partition(best.key, kp - self.rank, axis=1)[:, kp - self.rank]
        return np.maximum(self.base, floor_below(kth, self.slack, best.key.dtype))

    def fold(self, S: np.ndarray, kk: int, offset: int, *, by_column: bool,
             compiled: bool) -> None:
        """Fold a score block in (see :func:`fold_in`)."""
        if not (compiled and _fold.kernels() is not None):
            with self.lock:
                thr = np.maximum(self.best.threshold(), self.floor_of(self.best))
            found = select(S, kk, thr, by_column=by_column, rank=self.rank, slack=self.slack)
            with self.lock:
                self.best.add(*found, offset=offset)
            return
        if self.lock.acquire(blocking=False):
            try:
                bar = fold_in(self.best, S, kk, offset, by_column=by_column, compiled=True,
                              floor=self.base, rank=self.rank, slack=self.slack)
                self.floor = (bar if bar is not None else
                              np.maximum(self.best.threshold(), self.floor_of(self.best)))
            finally:
                self.lock.release()
            return
        spare = self.spares.get(threading.get_ident())
        if spare is None:
            spare = self.spares[threading.get_ident()] = Best(*self.best.key.shape,
                                                               self.best.key.dtype)
        fold_in(spare, S, kk, offset, by_column=by_column, compiled=True, floor=self.floor,
                rank=self.rank, slack=self.slack)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions, keys) of the ``kp`` best of each row, spares merged in."""
        idx, key = self.best.idx, self.best.key
        for spare in self.spares.values():
            idx, key = merge(idx, key, spare.idx, spare.key, idx.shape[1])
        return idx, key
