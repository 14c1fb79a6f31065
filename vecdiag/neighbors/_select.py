"""Top-k candidates from blocks of scores: the running best of each query.

The engine scores a block of queries against a chunk of the corpus, then needs, for each
query, the entries of the block that can still be among its ``kp`` best. The threshold
filter of :mod:`._filter` (:func:`select`) returns the few survivors of a block as a
sparse list; :class:`Best` holds the running best and folds those lists in, or the
compiled kernel of :mod:`._fold` folds a whole block at once (:func:`fold_in`);
:class:`SharedBest` is the running best that worker threads share.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _fold
from ._filter import block_bar, floor_below, select

_OPEN_ROWS = 8                        # compiled fold-in once at most 1/8 of rows lack a bar
_ROUNDS = 12                          # up to this many candidates per row: fold in by rounds


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
            offset: int = 0) -> np.ndarray:
        """Fold candidates ``(line, column + offset, value)`` in, touching only their rows;
        returns those rows (ascending).

        Rows with free slots take their candidates in place. Full rows offered at most
        :data:`_ROUNDS` candidates each (the usual case once a scan's threshold has
        settled) replace their smallest keys round by round; with more (the first
        chunks), each touched row is merged with its candidates by one partition. A single
        fold costs a few dozen array operations either way: measured on the 25 blocks
        of a 1,000-query search of 100,000 rows, 16.1 ms by partitions alone, 13.0 ms
        with rounds up to 12 (equal kept sets).
        """
        if line.size == 0:
            return np.empty(0, np.int64)
        if line.size > 1 and (line[1:] < line[:-1]).any():
            small = line.astype(np.uint16) if self.idx.shape[0] <= 2**16 else line
            order = np.argsort(small, kind="stable")          # radix sort for uint16
            line, cols, vals = line[order], cols[order], vals[order]
        count = np.bincount(line, minlength=self.idx.shape[0])
        rows = touched = np.flatnonzero(count)
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
                return touched
            keep_rows = ~put
            line, cols, vals, slot = (line[keep_rows], cols[keep_rows], vals[keep_rows],
                                      slot[keep_rows])
            rows, count = rows[~room], count[~room]
        width = int(count.max())
        if width <= _ROUNDS:
            self._replace_smallest(line, cols + offset, vals, slot, width)
            self.filled[rows] = kp
            return touched
        which = np.repeat(np.arange(rows.size), count)
        new_idx = np.full((rows.size, width), -1, np.int64)
        new_key = np.full((rows.size, width), -np.inf, self.key.dtype)
        new_idx[which, slot] = cols + offset
        new_key[which, slot] = vals
        self.idx[rows], self.key[rows] = merge(self.idx[rows], self.key[rows], new_idx,
                                               new_key, kp)
        self.filled[rows] = kp
        return touched

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


def rank_floor(best: Best, rank: int, slack: np.ndarray,
               rows: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``best`` (of ``rows`` when given), the key ``slack`` below its
    ``rank``-th best kept key (-inf while fewer than ``rank`` are kept): an entry at or
    below it cannot reach the row's top ``rank`` once refined (see :class:`SharedBest`).
    ``slack`` is per row of ``best``."""
    kp = best.key.shape[1]
    key, slack = (best.key, slack) if rows is None else (best.key[rows], slack[rows])
    kth = np.partition(key, kp - rank, axis=1)[:, kp - rank]
    return floor_below(kth, slack, best.key.dtype)


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
        if ranked:
            thr = np.maximum(thr, rank_floor(best, rank, slack))
        best.add(*select(S, kk, thr, by_column=by_column, rank=rank if ranked else None,
                         slack=slack if ranked else None), offset=offset)
        return None
    kernel = kernels[0] if by_column else kernels[1]
    return kernel(S, offset, best.key, best.idx, best.filled,
                  floor.astype(best.key.dtype, copy=False), rank if ranked else 0,
                  np.asarray(slack if ranked else np.zeros(1), np.float64))


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
        # NumPy path: the bar each row's next entries must beat (the kp-th kept key and
        # floor_of), kept between blocks and updated for the rows a fold touched only;
        # None until the first fold, and after the compiled path folded into ``best``
        self._bar: np.ndarray | None = None

    def floor_of(self, best: Best) -> np.ndarray:
        """Keys at or below this cannot be candidates of a row, given what ``best``
        holds: ``base``, or ``slack`` below the row's ``rank``-th best key in ``best``.

        Any ``rank`` entries of a row bound its ``rank``-th best from below, so the floor
        of a spare (entries from other chunks) is as valid as that of the shared best.
        """
        if self.rank is None:
            return self.base
        return np.maximum(self.base, rank_floor(best, self.rank, self.slack))

    def bar(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The bar entries of ``rows`` (default every row) must beat, from the shared
        best: its kp-th kept key raised to :meth:`floor_of`. Call under the lock."""
        best = self.best
        key, base = (best.key, self.base) if rows is None else (best.key[rows], self.base[rows])
        out = np.maximum(key.min(axis=1), base)
        if self.rank is not None:
            out = np.maximum(out, rank_floor(best, self.rank, self.slack, rows))
        return out

    def _numpy_bar(self, touched: np.ndarray | None = None) -> np.ndarray:
        """The NumPy path's :meth:`bar` of every row, kept between blocks: recomputed
        for the ``touched`` rows only when it is known (the others' entries did not
        change). Call under the lock."""
        if self._bar is None:
            self._bar = self.bar()
        elif touched is not None and touched.size:
            bar = self._bar.copy()            # a reader outside the lock keeps its array
            bar[touched] = self.bar(touched)
            self._bar = bar
        return self._bar

    def fold(self, S: np.ndarray, kk: int, offset: int, *, by_column: bool,
             compiled: bool) -> None:
        """Fold a score block in (see :func:`fold_in`)."""
        if not (compiled and _fold.kernels() is not None):
            with self.lock:
                thr = self._numpy_bar()
            found = select(S, kk, thr, by_column=by_column, rank=self.rank, slack=self.slack)
            with self.lock:
                self._numpy_bar(self.best.add(*found, offset=offset))
            return
        if self.lock.acquire(blocking=False):
            try:
                self._bar = None
                bar = fold_in(self.best, S, kk, offset, by_column=by_column, compiled=True,
                              floor=self.base, rank=self.rank, slack=self.slack)
                self.floor = bar if bar is not None else self.bar()
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
