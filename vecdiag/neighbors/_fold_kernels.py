"""The compiled fold-in kernels of :mod:`._fold` (imported only when numba is installed).

Module-level functions, so numba's on-disk cache finds them again in the next process
(``cache=True``: compiled once per installation, loaded afterwards). ``key``, ``idx`` and
``filled`` are a :class:`._select.Best`'s arrays, updated in place, each row's kept
entries in descending order of key (:func:`start` restores the order after the NumPy path
folded into them); an entry is kept only above the row's running kp-th best, ``floor``
(a threshold from elsewhere: another thread's published bar, a known bound) and, with
``rank`` > 0, ``slack[row]`` below the row's ``rank``-th best kept key. The kernels return
each row's bar after the block.
"""

from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(nogil=True, cache=True)


@jit
def below(key, slack, one):
    # the largest value of one's dtype at or below key - slack and strictly below key,
    # computed in float64 and never rounded up (_filter.floor_below for one row); ``one``
    # is a scratch array of length 2 of the keys' dtype
    f = min(np.float64(key) - slack, np.nextafter(np.float64(key), -np.inf))
    one[0] = f
    if one[0] > f:
        one[1] = -np.inf
        one[0] = np.nextafter(one[0], one[1])
    return one[0]


@jit
def insert(line, col, v, key, idx, filled, cur, fl, rank, slack, one):
    # the row's keys are in descending order: v enters where it belongs, the smallest
    # drops out, and the bar rises to the new smallest (or to slack below the new
    # rank-th best, when v entered the top rank)
    kp = key.shape[1]
    i = kp - 1
    if filled[line] < kp:                # free slots follow the kept entries
        i = filled[line]
        filled[line] += 1
    while i > 0 and key[line, i - 1] < v:
        key[line, i] = key[line, i - 1]
        idx[line, i] = idx[line, i - 1]
        i -= 1
    key[line, i] = v
    idx[line, i] = col
    if i < rank:
        kth = key[line, rank - 1]
        if kth > -np.inf:
            fl[line] = max(fl[line], below(kth, slack[line], one))
    cur[line] = max(key[line, kp - 1], fl[line])


@jit
def start(key, idx, floor, rank, slack):
    # sort each row's kept entries by key, descending (an insertion sort: rows are
    # already in order unless the NumPy path folded into them), then the running bar:
    # the smallest kept key, raised to ``floor`` and to slack below the rank-th best
    lines, kp = key.shape
    cur = np.empty(lines, key.dtype)
    fl = floor.copy()
    one = np.empty(2, key.dtype)
    for line in range(lines):
        for j in range(1, kp):
            v = key[line, j]
            if key[line, j - 1] < v:
                c = idx[line, j]
                i = j
                while i > 0 and key[line, i - 1] < v:
                    key[line, i] = key[line, i - 1]
                    idx[line, i] = idx[line, i - 1]
                    i -= 1
                key[line, i] = v
                idx[line, i] = c
        if rank > 0:
            kth = key[line, rank - 1]
            if kth > -np.inf:
                fl[line] = max(fl[line], below(kth, slack[line], one))
        cur[line] = max(key[line, kp - 1], fl[line])
    return cur, fl, one


_W = 64   # entries compared per step: four AVX-512 vectors, counted without a branch
_W_TAIL = 8   # then what is left of a row 8 at a time, and the last few one by one
# The count is kept in int32 on purpose: numba widens ``0 + int32`` to int64, and LLVM then
# compares 4 floats a step (to fit 64-bit counters) instead of 8 or 16 (measured on an
# Intel Xeon: 0.81 -> 0.67 ms for a 3,847 x 1,000 block with settled bars).


@jit
def by_row(S, offset, key, idx, filled, floor, rank, slack):
    # S (lines, m): stream each line's row; _W entries at a time are compared with the
    # line's running bar and the hits counted (a sum LLVM vectorises; a boolean
    # "any" it does not), and only a step with a hit is looked at again
    lines, m = S.shape
    cur, fl, one = start(key, idx, floor, rank, slack)
    for line in range(lines):
        row = S[line]
        bar = cur[line]
        c0 = 0
        while c0 + _W <= m:
            hits = np.int32(0)
            for i in range(_W):
                hits = np.int32(hits + np.int32(row[c0 + i] > bar))
            if hits:
                for i in range(_W):
                    v = row[c0 + i]
                    if v > bar:
                        insert(line, c0 + i + offset, v, key, idx, filled, cur, fl, rank, slack,
                               one)
                        bar = cur[line]
            c0 += _W
        for c in range(c0, m):
            v = row[c]
            if v > bar:
                insert(line, c + offset, v, key, idx, filled, cur, fl, rank, slack, one)
                bar = cur[line]
    return cur


@jit
def by_column(S, offset, key, idx, filled, floor, rank, slack):
    # S (m, lines): stream the rows; each row's entries are compared _W lines at a
    # time with those lines' running bars, hits counted as in by_row. S[c, j], not a
    # view of row c (a view per row costs a reference count in and out: 37.4 -> 35.1 ms
    # over one search's blocks), and the tail of a row 8 at a time (1,000 queries leave
    # 40 after the 64-wide steps; one by one, a settled block took 1.63 ms, not 1.33)
    m, lines = S.shape
    cur, fl, one = start(key, idx, floor, rank, slack)
    for c in range(m):
        l0 = 0
        while l0 + _W <= lines:
            hits = np.int32(0)
            for i in range(_W):
                hits = np.int32(hits + np.int32(S[c, l0 + i] > cur[l0 + i]))
            if hits:
                for i in range(_W):
                    v = S[c, l0 + i]
                    if v > cur[l0 + i]:
                        insert(l0 + i, c + offset, v, key, idx, filled, cur, fl, rank, slack,
                               one)
            l0 += _W
        while l0 + _W_TAIL <= lines:
            hits = np.int32(0)
            for i in range(_W_TAIL):
                hits = np.int32(hits + np.int32(S[c, l0 + i] > cur[l0 + i]))
            if hits:
                for i in range(_W_TAIL):
                    v = S[c, l0 + i]
                    if v > cur[l0 + i]:
                        insert(l0 + i, c + offset, v, key, idx, filled, cur, fl, rank, slack,
                               one)
            l0 += _W_TAIL
        for line in range(l0, lines):
            v = S[c, line]
            if v > cur[line]:
                insert(line, c + offset, v, key, idx, filled, cur, fl, rank, slack, one)
    return cur
