"""The compiled fold-in kernels of :mod:`._fold` (imported only when numba is installed).

Module-level functions, so numba's on-disk cache finds them again in the next process
(``cache=True``: compiled once per installation, loaded afterwards). ``key``, ``idx`` and
``filled`` are a :class:`._select.Best`'s arrays, updated in place; an entry is kept only
above both the row's running kp-th best and ``floor`` (a threshold published by another
thread: the entries at or below it cannot be among the row's kp best).
"""

from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(nogil=True, cache=True)


@jit
def insert(line, col, v, key, idx, filled, cur, arg, floor):
    # replace the row's smallest kept entry, then find the new smallest
    p = arg[line]
    if idx[line, p] < 0:
        filled[line] += 1
    key[line, p] = v
    idx[line, p] = col
    kp = key.shape[1]
    low = key[line, 0]
    at = 0
    for j in range(1, kp):
        if key[line, j] < low:
            low = key[line, j]
            at = j
    cur[line] = max(low, floor[line])
    arg[line] = at


@jit
def start(key, floor):
    lines, kp = key.shape
    cur = np.empty(lines, key.dtype)
    arg = np.zeros(lines, np.int64)
    for line in range(lines):
        low = key[line, 0]
        at = 0
        for j in range(1, kp):
            if key[line, j] < low:
                low = key[line, j]
                at = j
        cur[line] = max(low, floor[line])
        arg[line] = at
    return cur, arg

_W = 64   # entries compared per step: four AVX-512 vectors, counted without a branch
# The count is kept in int32 on purpose: numba widens ``0 + int32`` to int64, and LLVM then
# compares 4 floats a step (to fit 64-bit counters) instead of 8 or 16 (measured on an
# Intel Xeon: 0.81 -> 0.67 ms for a 3,847 x 1,000 block with settled bars).


@jit
def by_row(S, offset, key, idx, filled, floor):
    # S (lines, m): stream each line's row; _W entries at a time are compared with the
    # line's running kp-th best and the hits counted (a sum LLVM vectorises; a boolean
    # "any" it does not), and only a step with a hit is looked at again
    lines, m = S.shape
    cur, arg = start(key, floor)
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
                        insert(line, c0 + i + offset, v, key, idx, filled, cur, arg, floor)
                        bar = cur[line]
            c0 += _W
        for c in range(c0, m):
            v = row[c]
            if v > bar:
                insert(line, c + offset, v, key, idx, filled, cur, arg, floor)
                bar = cur[line]


@jit
def by_column(S, offset, key, idx, filled, floor):
    # S (m, lines): stream the rows; each row's entries are compared _W lines at a
    # time with those lines' running kp-th best, hits counted as in by_row
    m, lines = S.shape
    cur, arg = start(key, floor)
    for c in range(m):
        row = S[c]
        l0 = 0
        while l0 + _W <= lines:
            hits = np.int32(0)
            for i in range(_W):
                hits = np.int32(hits + np.int32(row[l0 + i] > cur[l0 + i]))
            if hits:
                for i in range(_W):
                    v = row[l0 + i]
                    if v > cur[l0 + i]:
                        insert(l0 + i, c + offset, v, key, idx, filled, cur, arg, floor)
            l0 += _W
        for line in range(l0, lines):
            v = row[line]
            if v > cur[line]:
                insert(line, c + offset, v, key, idx, filled, cur, arg, floor)
