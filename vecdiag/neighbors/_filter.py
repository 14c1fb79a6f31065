"""The exact threshold filter of :mod:`._select`: which entries of a score block can
still be among each row's best.

Sorting or partitioning whole rows of a score block costs about as much per score as the
multiplication itself, so :func:`select` first discards, with one cheap vectorised pass,
every group of entries whose maximum cannot beat the row's running bar, and returns the
few survivors as a sparse list. :func:`block_bar` gives a row with no bar yet one from the
block itself; :func:`floor_below` puts a bar a rounding allowance under a key.
"""

from __future__ import annotations

import numpy as np

_GROUP = 16                           # columns per group in the threshold filter
_MASK_RATIO = 16                      # gather cost per member vs a comparison (measured ~20)


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
