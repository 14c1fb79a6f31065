"""The two low-precision products of the candidate stage (:mod:`._bf16`): bf16 and int8.

Each codec rounds rows to its own type, multiplies a corpus copy by a query block with
torch, writes the products into a NumPy score block, and says how far those products may
lie from the products of the rounded rows (:meth:`BF16.error`, :meth:`Int8.error`). The
stage adds the distance of the rounded rows from the prepared ones, so the two need only
their own rounding here.

**bf16** keeps 8 significant bits of each entry. Products of two bf16 numbers are exact
in float32; torch (oneDNN) sums them in float32 and returns the sums rounded to bf16
(see :func:`rounding_holds`, which checks this torch does exactly that).

**int8** stores each entry as an integer ``r`` in [-127, 127] times a scale ``a`` (of
17 significant bits for float32 rows, 24 for float64, so ``a r`` and ``c − a r`` are
exact in the rows' dtype): one scale for the whole corpus copy, ``a =
max|c_j| / 127`` over every entry, and one per query. (One scale per corpus row would
not narrow the bound, which takes the largest row residual anyway, and multiplying each
block by a column of scales cost more than the scale itself saved.)
The integer products (``torch._int_mm``, VNNI where the CPU has it) are exact: ``d 127²``
fits int32 for every width the stage runs at, and :func:`exact_at` checks this torch's
kernel at the width of the rows (at d = 1 it returned garbage here). The products are
converted to the score block's type and multiplied by the product of the two scales
(three roundings of the block's dtype). The rounding of the rows themselves is coarser than bf16's
(the error of a row is up to half its scale per entry, not 2^-9 of each entry), so the
bound is wider; the product runs 3-6x faster than bf16's or float32's on a CPU with
VNNI (a block of 4,096 rows x 1,024 queries x 384 on one thread of an Intel Xeon with
AVX512_BF16 and VNNI: 5.6 ms int8, 21-32 ms float32, 40 ms bf16).
"""

from __future__ import annotations

import numpy as np

_U32 = 2.0 ** -24                     # float32 unit roundoff
_U16 = 2.0 ** -8                      # bf16 unit roundoff (output, round to nearest even)
_TINY = 2.0 ** -126                   # float32 (and bf16) smallest normal number
LEVELS = 127                          # int8 rows take integers in [-LEVELS, LEVELS]
BITS = {4: 17, 8: 24}                 # significant bits of a scale, by the rows' itemsize
CHECKED_D = 8_192                     # widest rows the codecs' own checks multiply
BLOCK = (1_024, 256)                  # a score block's shape that exact_at checks too


class BF16:
    """Rows rounded to bfloat16 (to nearest even), products summed in float32 and returned
    rounded to bf16 (see the module docstring)."""

    name = "bf16"
    itemsize = 2

    def fit(self, data: np.ndarray, shift: np.ndarray):
        """No scale: bf16 keeps each entry's own exponent."""
        return None

    def low(self, torch, rows: np.ndarray, scale=None):
        """The bf16 copy of ``rows`` (a tensor) and its values as NumPy rows (in
        ``rows``' dtype: bf16 numbers are exact in either)."""
        low = tensor(torch, rows).to(torch.bfloat16)
        return low, (low.double() if rows.dtype == np.float64 else low.float()).numpy()

    def query(self, torch, rows: np.ndarray, scale=None):
        """A query block for :meth:`into`."""
        return tensor(torch, rows).to(torch.bfloat16)

    def fits(self, rows: np.ndarray, scale=None) -> np.ndarray:
        """Every query: bf16's range is checked by the stage (``reach``)."""
        return np.ones(rows.shape[0], bool)

    def into(self, torch, copy, c0: int, c1: int, Qt, S: np.ndarray) -> None:
        """Products of the copy's rows ``c0:c1`` by the queries ``Qt`` into ``S``
        (c1 − c0, m), converted exactly from bf16."""
        torch.from_numpy(S).copy_(torch.mm(copy[c0:c1], Qt.T))

    @staticmethod
    def error(d: int, dtype, q_low: np.ndarray, max_low: float) -> np.ndarray:
        """Bound on ``|q~·c~ − product|`` (``q_low`` ≥ ``|q~|``, ``max_low`` ≥ every
        ``|c~|``): float32 accumulation ``(d + 2) 2^-24``, the output's bf16 rounding
        ``2^-8``, and denormals flushed (each input, product, sum and output moved by
        less than 2^-126)."""
        return (((d + 2) * _U32 + _U16) * q_low * max_low
                + _TINY * (np.sqrt(d) * (q_low + max_low) + 2 * d + 2))

    @staticmethod
    def reach(dtype) -> float:
        """The largest ``|q~||c~|`` whose products bf16 holds (4x spare)."""
        return 2.0 ** 126

    def usable(self, torch, d: int) -> bool:
        """Native bf16 products whose rounding :func:`rounding_holds` (decided once)."""
        if "ok" not in _checked_bf16:
            native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
            try:
                ok = bool(native()) if native is not None else False
            except RuntimeError:
                ok = False
            _checked_bf16["ok"] = ok and rounding_holds(torch)
        return _checked_bf16["ok"]


_checked_bf16: dict = {}
_checked_int8: dict = {}              # d -> whether torch's int8 product is exact there


class Int8:
    """Rows as integers in [-127, 127] times a scale: one for the corpus copy, one per
    query (see the module docstring)."""

    name = "int8"
    itemsize = 1

    def fit(self, data: np.ndarray, shift: np.ndarray):
        """The corpus copy's one scale (rows' dtype): from the largest ``|c_j − s_j|``
        over every row (:func:`scale_of`), found a piece at a time."""
        top = 0.0
        with np.errstate(invalid="ignore", over="ignore"):
            for a in range(0, data.shape[0], 8_192):
                piece = data[a:a + 8_192]
                piece = piece - shift if shift.any() else piece
                top = max(top, float(np.abs(piece).max(initial=0.0)))
        return scale_of(np.array([top]), data.dtype)[0]

    def low(self, torch, rows: np.ndarray, scale=None):
        """The int8 copy of ``rows`` (a tensor) in the corpus's ``scale``, and the values
        ``a r`` it stands for, in ``rows``' dtype (exact: :func:`scale_of`)."""
        ints, scale = quantize(rows, scale)
        back = ints.astype(rows.dtype)
        back *= scale[:, None]
        return torch.from_numpy(ints), back

    def query(self, torch, rows: np.ndarray, scale=None):
        """A query block for :meth:`into`: its int8 tensor, transposed once, the
        products of its own scales by the corpus's ``scale`` (a row tensor), and a slot
        for the int32 products' buffer (reused block after block: a fresh 8 MB tensor
        per product cost page faults)."""
        ints, own = quantize(rows)
        factor = own * scale if scale is not None else own
        return [torch.from_numpy(np.ascontiguousarray(ints.T)),
                torch.from_numpy(factor)[None, :], None]

    def fits(self, rows: np.ndarray, scale=None) -> np.ndarray:
        """Queries (as the scan rounds them) the stage may score: the product of their
        scale and the corpus's at least 2^-126 and finite (a smaller factor could be
        flushed to zero, and every key of the query with it). The others keep the
        float32 path."""
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            own = scale_of(np.abs(rows).max(axis=1, initial=0.0), rows.dtype)
            factor = own * scale if scale is not None else own
            return np.isfinite(factor) & (factor >= _TINY)

    def into(self, torch, copy, c0: int, c1: int, Qt, S: np.ndarray) -> None:
        """Products of the copy's rows ``c0:c1`` by the queries ``Qt`` into ``S``
        (c1 − c0, m): exact int32 sums times the two scales' products (converted and
        multiplied in ``S``'s dtype)."""
        ints, factor, flat = Qt
        size = (c1 - c0) * ints.shape[1]
        if flat is None or flat.numel() < size:
            flat = Qt[2] = torch.empty(size, dtype=torch.int32)
        products = torch._int_mm(copy[c0:c1], ints, out=flat[:size].view(c1 - c0, -1))
        out = torch.from_numpy(S)
        out.copy_(products)               # converted, then scaled in place: faster than
        out.mul_(factor)                  # one mul of int32 by float32 (4.2 ms, 5.6)

    @staticmethod
    def error(d: int, dtype, q_low: np.ndarray, max_low: float) -> np.ndarray:
        """Bound on ``|q~·c~ − product|``: the int32 sum is exact, then three roundings
        in ``dtype`` (the conversion, the two scales' product, the product by it: ``4 u``
        of ``|q~||c~|``), and 2 x 2^-126 for keys that underflow or flush to zero (the
        factor itself is a normal number: :meth:`fits`)."""
        u = float(np.finfo(dtype).eps) / 2
        return 4 * u * q_low * max_low + 2 * _TINY

    @staticmethod
    def reach(dtype) -> float:
        """The largest ``|q~||c~|`` whose keys the score block's ``dtype`` holds (4x
        spare): the integer sums are exact whatever the scales."""
        return float(np.finfo(dtype).max) / 4

    def usable(self, torch, d: int) -> bool:
        """``torch._int_mm`` present and exact at width ``d`` (:func:`exact_at`)."""
        if d not in _checked_int8:
            _checked_int8[d] = (hasattr(torch, "_int_mm") and d <= CHECKED_D
                                and exact_at(torch, d))
        return _checked_int8[d]


CODECS = (Int8(), BF16())             # the order a forced choice tries them in


def scale_of(top: np.ndarray, dtype) -> np.ndarray:
    """Scales (``dtype``) for entries up to ``top``: ``top / 127``, at least 2^-126 (a
    normal float32 number, so no scale is flushed to zero; the entries of a tinier row
    round to 0 and its residual is the row itself), rounded to :data:`BITS` significant
    bits so that ``a r`` is exact in ``dtype`` (17 + 7 bits for float32, 24 + 7 for
    float64), and so is ``c − a r`` (the two lie within a factor two of each other, or
    ``r`` is 0); NaN where ``top`` is not finite, which keeps those rows off the stage
    (their lengths come out NaN)."""
    bits = BITS[np.dtype(dtype).itemsize]
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        scale = np.maximum(np.asarray(top, np.float64) / LEVELS, _TINY)
        mant, expo = np.frexp(scale)
        scale = np.ldexp(np.round(mant * 2.0 ** bits) / 2.0 ** bits, expo)
        return np.where(np.isfinite(scale), scale, np.nan).astype(dtype)


def quantize(rows: np.ndarray, scale=None):
    """``rows`` as int8 integers ``r = rint(c / a)`` clipped to ±127, and the scale ``a``
    of each row: the given one (the corpus's), else each row's own (:func:`scale_of` of
    its largest ``|c_j|``). Rows that are not finite get integers of no meaning (their
    scale or lengths keep them off the stage)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        if scale is None:
            scale = scale_of(np.abs(rows).max(axis=1, initial=0.0), rows.dtype)
        else:
            scale = np.full(rows.shape[0], scale, rows.dtype)
        ints = np.divide(rows, scale[:, None])
        np.rint(ints, out=ints)
        np.clip(ints, -LEVELS, LEVELS, out=ints)
        return ints.astype(np.int8), scale


def tensor(torch, rows: np.ndarray):
    """``rows`` as a torch tensor sharing its memory, or of a C-ordered copy when it is
    read-only or not contiguous (torch warns on read-only arrays, and only reads here)."""
    if not (rows.flags.writeable and rows.flags.c_contiguous):
        rows = np.array(rows, order="C")
    return torch.from_numpy(rows)


def exact_at(torch, d: int, seed: int = 0) -> bool:
    """Whether ``torch._int_mm`` returns the exact integer products at width ``d``, in the
    shapes a scan multiplies (96 rows by 64 queries, by one query, one row by the queries,
    3 by 2, 1 by 1, and a block of :data:`BLOCK`, where the library may pick another kernel:
    fewer rows from d = 1,024 on),
    entries spread over [-127, 127] and rows of ±127 (the largest sums). torch
    2.13 returned garbage at d = 1 here; a kernel that saturated, or summed in 16 bits,
    would fail too. A few milliseconds per width, once per process."""
    rng = np.random.default_rng(seed)
    block = (min(BLOCK[0], max(96, 2 ** 20 // d)), BLOCK[1])     # wide rows: fewer of them
    a = rng.integers(-LEVELS, LEVELS + 1, (block[0], d)).astype(np.int8)
    b = rng.integers(-LEVELS, LEVELS + 1, (block[1], d)).astype(np.int8)
    a[0], b[0], b[1] = LEVELS, LEVELS, -LEVELS
    try:
        for rows, cols in ((96, 64), (96, 1), (1, 64), (3, 2), (1, 1), block):
            x, y = a[:rows], b[:cols]
            yt = torch.from_numpy(np.ascontiguousarray(y.T))
            out = torch.empty((rows, cols), dtype=torch.int32)
            got = torch._int_mm(torch.from_numpy(x), yt, out=out)   # as Int8.into calls it
            exact = x.astype(np.float64) @ y.astype(np.float64).T      # exact: < 2^53
            if got.dtype != torch.int32 or not np.array_equal(got.numpy(), exact):
                return False
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def rounding_holds(torch, seed: int = 0) -> bool:
    """Whether this torch's bf16 product stays inside the error model the bound rests on
    (float32 sums of exact products, the result rounded to bf16 to nearest): every
    entry of products of random bf16 blocks (values over many binades, half the rows
    positive, and a plateau) within ``2^-8 |s| + (1 + 2^-8) (d + 2) 2^-24 Σ|q~_i c~_i|``
    of the float64 product ``s`` of the same bf16 numbers (the model's own bound,
    tighter than the stage's, which replaces both by ``|q~||c~|``), in the shapes a scan
    multiplies: d = 1,000 and :data:`CHECKED_D` (96 and 48 corpus rows by 64 and 32
    queries, by one query, one row by the queries, 3 rows by 2). A library that summed
    in bf16, truncated or rounded twice (its running sum rounded to bf16 every 1,024
    products, say), or took a kernel of its own for a single query, would fail it, and
    the stage stays off; rows wider than :data:`CHECKED_D` keep float32. A check of
    d = 1,000 and 96 x 64 alone passed both of those. About 0.2 s of CPU, once per process."""
    rng = np.random.default_rng(seed)

    def block(n, d, first):
        values = rng.normal(size=(n, d)) * np.exp2(rng.integers(-20, 20, (n, 1)))
        # subtle: the first rows positive. Sums of products of both signs are far below
        # Σ|q~_i c~_i|, whose term then hides a second rounding (2^-8 |s| again)
        values[:n // 2] = np.abs(values[:n // 2])
        values[0] = first
        return torch.from_numpy(values.astype(np.float32)).to(torch.bfloat16)

    for d, n_rows, n_cols in ((1_000, 96, 64), (CHECKED_D, 48, 32)):
        # a plateau: 256 and d - 1 products 2^-m summing to 1-2 (every partial sum exact
        # in float32) score 257-258, which rounds to 258; rounded to bf16 on the way
        # (blocks of fewer than d / 2 products), every partial sum is 256 again
        small = 2.0 ** -np.ceil(np.log2(d / 2))
        b = block(n_rows, d, np.r_[256.0, np.full(d - 1, small)])
        a = block(n_cols, d, np.ones(d))
        for rows, cols in ((n_rows, n_cols), (n_rows, 1), (1, n_cols), (3, 2)):
            x, y = b[:rows].contiguous(), a[:cols].contiguous()
            got = torch.mm(x, y.T).double().numpy()
            x64, y64 = x.double().numpy(), y.double().numpy()
            exact = x64 @ y64.T
            bound = _U16 * np.abs(exact) + (1 + _U16) * (d + 2) * _U32 * (np.abs(x64)
                                                                       @ np.abs(y64).T)
            if not np.all(np.abs(got - exact) <= bound):
                return False
    return True
