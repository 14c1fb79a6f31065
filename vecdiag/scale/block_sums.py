"""The partial sums of one row block, as one worker computes them for :mod:`.moments`.

Two ways, the same sums:

* :func:`fast_block_sums`, for the usual piece (finite rows, none zero, squares far from
  overflow and underflow), in the piece's own precision: its Gram matrix is one symmetric
  product (``UᵀU``, which BLAS computes as a rank-k update: half the work of a general
  product), added to float64 totals; the column sums are a product with a vector of
  ones, in the same precision.
* :func:`careful_block_sums`, for a piece with NaN/inf rows, zero rows, or values whose
  squares overflow or underflow: in float64, rows checked one by one.

:func:`block_sums` walks a block in pieces of a few thousand rows (:data:`SUB_BYTES`,
they stay in the cache), each the fast way or, failing that, the careful way, and adds
them into one float64 total (:func:`add_into`; :func:`merge_sums` adds two blocks'
totals); :mod:`.moments` also feeds it pieces straight from the disk. No temporary the
size of the block is made, and the pieces reuse one set of buffers (:class:`PieceWork`):
a fresh 128 MB array costs page faults and, with transparent huge pages, memory
compaction (up to 0.3 s, more than the sums); under Dask's malloc settings even a fresh
4 MB array per piece doubled the cost of the division that fills it.

Where the time goes (10M x 384 float32 unit rows, one core, CPU-s): the symmetric
product 16.2, the division 1.1, the squared norms 0.65, the column sums 0.3, the rest
under 1; the Gram matrix is the pass's floor.

subtle: the Gram matrix is of the rows minus a reference row ``r`` (the block's first row,
shared by its pieces; :attr:`vecdiag.diagnostics.moments.Moments.shift`), so the covariance
keeps its digits for rows far from the origin (rows 1e3 + noise 1e-2 in float32: a
participation ratio of 6.7 from the plain products, 15.46 with the shift, as
``numpy.cov``); two blocks' sums about different rows are moved to one
(:func:`rebase`) when merged. The fast path sums a sub-block's products in the input's
precision before adding them in float64, so a float32 corpus's Gram matrix is good to about 1e-7 of its largest
entry (the float64 path of :func:`vecdiag.diagnostics.moments.compute_moments` to 1e-12);
its norms are the same numbers as :func:`vecdiag.linalg.row_norms` gives.
"""

from __future__ import annotations

import numpy as np

from ..diagnostics.moments import moved_sums, unit_rows
from ..linalg import row_norms
from .chunks import row_pieces

__all__ = ["block_sums", "piece_sums", "merge_sums", "add_into", "fast_block_sums", "rebase",
           "careful_block_sums", "PieceWork", "exponent", "common_exponent", "piece_rows",
           "SUB_BYTES", "KEEP_ROWS"]

SUB_BYTES = 2 * 2**20                 # a piece: it and its unit rows stay in the cache
                                      # (longer ones gain nothing in the product: 89-92
                                      # GFLOP/s on one core from 1,365 to 43,690 rows)
KEEP_ROWS = 20                        # offending rows kept per kind, for messages


def exponent(peak: float) -> int:
    """``e`` with ``2^e`` the power of two above ``peak`` (0 for 0, inf or NaN).

    Examples
    --------
    >>> exponent(5.0), exponent(0.5), exponent(0.0)
    (3, 0, 0)
    """
    if not peak > 0 or not np.isfinite(peak):
        return 0
    return int(np.frexp(peak)[1])


def common_exponent(a: dict, b: dict) -> int:
    """The exponent two partial sums are merged at: the larger ``"e"``, a part of zeros (``"peak"``
    0) taking none (its 0 set the scale: 1e-160 rows elsewhere kept 3-7 digits of their Gram).

    >>> common_exponent({"e": -531, "peak": 1e-160}, {"e": 0, "peak": 0.0})
    -531
    """
    return b["e"] if a["peak"] == 0 else a["e"] if b["peak"] == 0 else max(a["e"], b["e"])


def _no_rows():
    return np.zeros(0, np.int64)


def piece_rows(d: int, itemsize: int) -> int:
    """Rows per piece of :func:`block_sums`: about :data:`SUB_BYTES`."""
    return max(256, SUB_BYTES // max(1, d * itemsize))


class PieceWork:
    """Buffers the pieces of one block are computed in, one after the other.

    The unit (or scaled) rows, the squared norms and the piece's Gram matrix go into
    arrays made once per block: under Dask's worker settings (``MALLOC_TRIM_THRESHOLD_``)
    a fresh 4 MB array per piece is handed back to the system when freed and
    page-faulted in again for the next piece, which cost more than the division that
    fills it (1.8 ms against 0.7 per 4 MB piece, measured).
    """

    def __init__(self, rows: int, d: int, dtype):
        self.rows, self.d, self.dtype = rows, d, np.dtype(dtype)
        self.scaled = np.empty((rows, d), dtype)
        self.squares = np.empty(rows, dtype)
        self.ones = np.ones(rows, dtype)
        self.gram = np.empty((d, d), dtype)

    def fits(self, P: np.ndarray) -> bool:
        return P.dtype == self.dtype and P.shape[1] == self.d and P.shape[0] <= self.rows


def fast_block_sums(P: np.ndarray, start: int, space: str, gram: bool = True,
                    work: PieceWork | None = None, peak: bool = True, ref=None):
    """Partial sums of a clean piece in its own precision; None when it is not clean.

    Parameters
    ----------
    P : ndarray (m, d), float32 or float64
    start : int
        The piece's first global row (unused: a clean piece has no row to report).
    space : {"unit", "raw"}
    gram : bool
        Also the Gram matrix (the O(n d²) part; False leaves it None: the O(n d) sums only).
    work : PieceWork, optional
        Buffers to compute in (:func:`block_sums` passes one per block). The Gram matrix
        returned is then the buffer itself, in ``P``'s precision, valid until the next
        call with the same ``work``; without it, a new float64 array.
    peak : bool
        Find the largest ``|x|`` (a pass over the piece). False, for unit rows whose
        scale nobody asks for: ``peak`` and ``e`` are then 0.
    ref : ndarray (d,), optional
        The reference row the Gram matrix is taken about (a unit row for
        ``space="unit"``, a raw row otherwise, not divided by ``2^e``); None: the piece's
        first row. Unused when ``gram`` is False (no shift).

    Returns
    -------
    (dict, (ndarray, ndarray)) or None
        As :func:`careful_block_sums`; None when a row is not finite, is zero, or its
        squares leave the float type's safe range (the caller then takes the careful path).

    Notes
    -----
    The column sums are a matrix-vector product with a vector of ones, so they are
    accumulated in the input's precision, like the Gram matrix (good to about 1e-7 of
    the largest for float32); the norms are :func:`vecdiag.linalg.row_norms`' numbers.

    Examples
    --------
    >>> part, (norms, dropped) = fast_block_sums(np.array([[3.0, 4.0], [0.0, 2.0]]), 0, "unit")
    >>> part["n"], norms.tolist(), part["shift"].round(3).tolist()   # the first unit row
    (2, [5.0, 2.0], [0.6, 0.8])
    >>> part["gram"].round(3).tolist()     # Σ (û − r)(û − r)ᵀ: only [0, 1] − r = [-0.6, 0.2]
    [[0.36, -0.12], [-0.12, 0.04]]
    >>> fast_block_sums(np.array([[0.0, 0.0]]), 0, "unit") is None
    True
    """
    if P.dtype not in (np.float32, np.float64) or P.shape[0] == 0 or P.ndim != 2:
        return None
    own = work is None or not work.fits(P)
    if own:
        work = PieceWork(P.shape[0], P.shape[1], P.dtype)
    m = P.shape[0]
    info = np.finfo(P.dtype)
    sq = np.einsum("ij,ij->i", P, P, out=work.squares[:m])
    if not ((sq >= info.tiny / info.eps) & (sq <= info.max / 4)).all():  # 0, tiny, huge, NaN
        return None
    top = 0.0
    if peak or space == "raw":
        top = max(float(P.max()), -float(P.min()))
    e = exponent(top)
    norms = np.sqrt(sq)
    U = np.divide(P, norms[:, None], out=work.scaled[:m])
    ones = work.ones[:m]
    sum_unit = (ones @ U).astype(np.float64)
    sumsq_unit = np.einsum("ij,ij->j", U, U, dtype=np.float64)
    if space == "raw":
        # 2^-e is exact; ldexp keeps it exact where the power itself would be subnormal
        S = (np.ldexp(P, -e, out=work.scaled[:m]) if e > 60
             else np.multiply(P, P.dtype.type(2.0 ** -e), out=work.scaled[:m]))
        sum_space = (ones @ S).astype(np.float64)
    else:
        S, sum_space = U, sum_unit.copy()
    G, shift, shifted_sum = None, np.zeros(P.shape[1]), sum_space
    if gram:
        # x − r, in place: r (this piece's scale) is exact in its precision, so identical
        # rows give exactly 0
        r = (S[0].copy() if ref is None else
             np.ldexp(np.asarray(ref, np.float64), -e if space == "raw" else 0).astype(P.dtype))
        np.subtract(S, r, out=S)
        shift = r.astype(np.float64)
        shifted_sum = (ones @ S).astype(np.float64)
        G = np.matmul(S.T, S, out=work.gram)            # a rank-k update (syrk)
        if own:
            G = G.astype(np.float64)
    part = {"n": m, "e": e, "peak": top, "sum_unit": sum_unit,
            "sumsq_unit": sumsq_unit, "sum_space": sum_space, "gram": G, "shift": shift,
            "shifted_sum": shifted_sum, "n_bad": 0, "bad": _no_rows(), "n_zero": 0,
            "zero": _no_rows()}
    return part, (norms.astype(np.float64), np.zeros(0, np.int32))


def piece_sums(P: np.ndarray, start: int, space: str, drop_zero: bool, gram: bool = True):
    """:func:`fast_block_sums` of one piece, or :func:`careful_block_sums` if it is not clean."""
    return (fast_block_sums(P, start, space, gram)
            or careful_block_sums(P, start, space, drop_zero, gram))


def rebase(shifted_sum, gram, n: int, old, new):
    """``Σ (x − new)`` and ``Σ (x − new)(x − new)ᵀ`` from the same sums about ``old``.

    With ``δ = old − new``: ``s + n δ`` and ``G + s δᵀ + δ sᵀ + n δ δᵀ`` (``s``, ``G``
    about ``old``; :func:`vecdiag.diagnostics.moments.moved_sums`); returned as given
    (nothing allocated) when ``δ = 0`` or there are no rows.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 5.0]])
    >>> s, G = rebase((X - X[0]).sum(0), (X - X[0]).T @ (X - X[0]), 2, X[0], np.zeros(2))
    >>> s.tolist(), G.tolist()
    ([4.0, 7.0], [[10.0, 17.0], [17.0, 29.0]])
    """
    delta = np.asarray(old, np.float64) - new
    if n == 0 or not delta.any():
        return shifted_sum, gram
    return moved_sums(shifted_sum, gram, n, delta)


def _common(part: dict, e: int, space: str) -> dict:
    """The sums of ``part`` divided by ``2^e`` instead of ``2^part["e"]`` (raw; exact)."""
    out = {key: part[key] for key in ("sum_space", "shifted_sum", "shift", "gram")}
    if space == "raw" and part["e"] != e:
        for key, power in (("sum_space", 1), ("shifted_sum", 1), ("shift", 1), ("gram", 2)):
            if out[key] is not None:
                out[key] = np.ldexp(np.asarray(out[key], np.float64), power * (part["e"] - e))
    return out


def merge_sums(a: dict, b: dict, space: str) -> dict:
    """Add two partial sums; raw-space sums are first brought to the larger exponent, and
    ``b``'s shifted sums to ``a``'s reference row (:func:`rebase`).

    Examples
    --------
    >>> one = piece_sums(np.array([[1.0, 0.0]]), 0, "raw", False)[0]
    >>> two = piece_sums(np.array([[0.0, 8.0]]), 1, "raw", False)[0]
    >>> m = merge_sums(one, two, "raw")
    >>> m["n"], m["e"], (m["shift"] * 2.0 ** m["e"]).tolist()     # one's row, [1, 0]
    (2, 4, [1.0, 0.0])
    >>> (m["gram"] * 2.0 ** (2 * m["e"])).tolist()                # about it: [-1, 8]
    [[1.0, -8.0], [-8.0, 64.0]]
    """
    e = common_exponent(a, b)
    out = {"n": a["n"] + b["n"], "e": e, "peak": max(a["peak"], b["peak"]),
           "n_bad": a["n_bad"] + b["n_bad"], "n_zero": a["n_zero"] + b["n_zero"],
           "bad": np.concatenate([a["bad"], b["bad"]])[:KEEP_ROWS],
           "zero": np.concatenate([a["zero"], b["zero"]])[:KEEP_ROWS]}
    for key in ("sum_unit", "sumsq_unit"):
        out[key] = a[key] + b[key]
    # x / 2^e_a = (x / 2^e) · 2^(e − e_a): ldexp by a power of two, exact
    sa, sb = _common(a, e, space), _common(b, e, space)
    if a["n"] == 0:                  # no rows: its reference row means nothing
        sa, sb = sb, sa
    shifted, gram = rebase(sb["shifted_sum"], sb["gram"], b["n"] if a["n"] else a["n"],
                           sb["shift"], sa["shift"])
    out["sum_space"] = sa["sum_space"] + sb["sum_space"]
    out["shift"] = np.array(sa["shift"], dtype=np.float64)
    out["shifted_sum"] = sa["shifted_sum"] + shifted
    out["gram"] = None if sa["gram"] is None else sa["gram"] + gram
    return out


def _owned(part: dict) -> dict:
    """A copy of a piece's sums that owns float64 arrays (a running total to add to)."""
    out = dict(part)
    for key in ("sum_unit", "sumsq_unit", "sum_space", "gram", "shift", "shifted_sum"):
        if out[key] is not None:
            out[key] = np.array(out[key], dtype=np.float64)
    return out


def add_into(total: dict, part: dict, space: str) -> dict:
    """:func:`merge_sums` of ``total`` and ``part``, written into ``total`` (which must own
    its float64 arrays, as :func:`_owned` makes them); no array is allocated when both
    have the same exponent, as the pieces of one block usually do."""
    e = common_exponent(total, part)
    total["n"] += part["n"]
    total["peak"] = max(total["peak"], part["peak"])
    for key in ("n_bad", "n_zero"):
        total[key] += part[key]
    for key in ("bad", "zero"):
        if part[key].size and total[key].size < KEEP_ROWS:
            total[key] = np.concatenate([total[key], part[key]])[:KEEP_ROWS]
    total["sum_unit"] += part["sum_unit"]
    total["sumsq_unit"] += part["sumsq_unit"]
    keys = [("sum_space", 1), ("shifted_sum", 1), ("shift", 1)] + (
        [("gram", 2)] if total["gram"] is not None else [])
    if space == "raw" and total["e"] < e:               # bring the total to 2^e (exact)
        for key, power in keys:
            np.ldexp(total[key], power * (total["e"] - e), out=total[key])
    theirs = _common(part, e, space)
    if total["n"] == part["n"]:      # the total had no rows: take the part's reference
        total["shift"][:] = theirs["shift"]
    # pieces of one block share their reference row: nothing to move, nothing allocated
    theirs["shifted_sum"], theirs["gram"] = rebase(theirs["shifted_sum"], theirs["gram"],
                                                   part["n"], theirs["shift"], total["shift"])
    for key, _ in keys:
        if key != "shift":
            np.add(total[key], theirs[key], out=total[key])
    total["e"] = e
    return total


def block_sums(pieces, start: int, space: str, drop_zero: bool, gram: bool = True,
               peak: bool = True):
    """Partial sums of a row block given as ``(offset, rows)`` pieces in order.

    ``pieces``: an ndarray (cut here into pieces of :func:`piece_rows`) or an iterable of
    ``(offset in the block, rows)``, e.g. :func:`vecdiag.scale.direct.stream_rows`
    shifted to the block. Returns ``(partial, (norms, dropped))`` as
    :func:`careful_block_sums` does for the whole block. ``peak=False`` lets clean pieces
    skip the largest ``|x|`` (unit rows only; see :func:`fast_block_sums`).

    Examples
    --------
    >>> B = np.array([[3.0, 4.0], [np.nan, 1.0], [0.0, 2.0]])
    >>> part, (norms, dropped) = block_sums(B, 100, "unit", True)
    >>> part["n"], part["bad"].tolist(), norms.tolist(), dropped.tolist()
    (2, [101], [5.0, 2.0], [1])
    """
    if isinstance(pieces, np.ndarray):
        pieces = row_pieces(pieces, piece_rows(pieces.shape[1], pieces.itemsize))
    total, norms, dropped, work, ref = None, [], [], None, None
    for offset, P in pieces:
        if P.ndim == 2 and P.dtype in (np.float32, np.float64) and not (
                work is not None and work.fits(P)):     # the first piece, or a longer one
            work = PieceWork(max(P.shape[0], 1), P.shape[1], P.dtype)
        part, (nr, drop) = (
            fast_block_sums(P, start + offset, space, gram, work, peak, ref)
            or careful_block_sums(P, start + offset, space, drop_zero, gram, ref))
        if gram and ref is None and part["n"]:     # the block's reference row, unscaled
            ref = part["shift"] if space == "unit" else np.ldexp(part["shift"], part["e"])
        total = _owned(part) if total is None else add_into(total, part, space)
        norms.append(nr)
        dropped.append(drop.astype(np.int64) + offset)
    return total, (np.concatenate(norms), np.concatenate(dropped).astype(np.int32))


def _fast_unit_rows(K: np.ndarray, U: np.ndarray) -> np.ndarray:
    """``U`` with the rows :func:`fast_block_sums` would take replaced by its float32 unit
    rows, bit for bit. subtle: a row repeated in a clean piece and in a piece with a NaN
    row (unit rows float32 there, float64 here) differed by 1e-8, and identical rows got
    a spread of 1e-16 (participation ratio 1.0 where it is 0)."""
    info = np.finfo(K.dtype)
    sq = np.einsum("ij,ij->i", K, K)
    ok = (sq >= info.tiny / info.eps) & (sq <= info.max / 4)
    if ok.any():
        U[ok] = np.divide(K[ok], np.sqrt(sq[ok])[:, None])
    return U


def careful_block_sums(block, start: int, space: str, drop_zero: bool, gram: bool = True,
                       ref=None):
    """Partial sums of one row block in float64, bad rows found (a NumPy function).

    Rows with NaN or inf are left out and reported; so are zero rows when ``drop_zero``.
    Returns ``(partial, (norms, dropped))``: a dict of O(d²) numbers, the kept rows'
    norms and the positions (in the block) of the rows left out. The Gram matrix is
    about ``ref`` (as :func:`fast_block_sums`; None: the first kept row).

    Examples
    --------
    >>> part, (norms, dropped) = careful_block_sums(
    ...     np.array([[3.0, 4.0], [np.nan, 1.0], [0.0, 0.0]]), 10, "unit", True)
    >>> part["n"], part["bad"].tolist(), part["zero"].tolist(), dropped.tolist()
    (1, [11], [12], [1, 2])
    """
    B = np.asarray(block)
    fin = np.isfinite(B)
    bad = ~fin.all(axis=1)
    finite = np.where(fin, B, 0) if bad.any() else B
    # the rows kept only: a 1e300 beside a NaN would set the scale of rows it never joins
    peak = float(np.abs(finite[~bad]).max()) if (~bad).any() and B.shape[1] else 0.0
    zero = ~(finite != 0).any(axis=1) & ~bad
    drop = bad | zero if drop_zero else bad
    K = B[~drop] if drop.any() else B
    norms = row_norms(K).astype(np.float64)
    U = unit_rows(K, norms)
    if space == "unit" and K.dtype == np.float32 and K.shape[0]:
        U = _fast_unit_rows(K, U)
    e = exponent(float(np.abs(K).max()) if K.size else 0.0)
    S = U if space == "unit" else np.ldexp(K.astype(np.float64), -e)
    shift = np.zeros(B.shape[1])
    if gram and (ref is not None or K.shape[0]):
        shift = (S[0].copy() if ref is None else
                 np.ldexp(np.asarray(ref, np.float64), -e if space == "raw" else 0))
    C = S - shift if gram else S
    part = {"n": K.shape[0], "e": e, "peak": peak,
            "sum_unit": U.sum(axis=0), "sumsq_unit": np.einsum("ij,ij->j", U, U),
            "sum_space": S.sum(axis=0), "gram": C.T @ C if gram else None,
            "shift": shift, "shifted_sum": C.sum(axis=0),
            "n_bad": int(bad.sum()), "bad": np.flatnonzero(bad)[:KEEP_ROWS] + start,
            "n_zero": int(zero.sum()), "zero": np.flatnonzero(zero)[:KEEP_ROWS] + start}
    return part, (norms, np.flatnonzero(drop).astype(np.int32))
