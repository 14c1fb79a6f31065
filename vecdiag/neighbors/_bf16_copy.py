"""The candidate stage's copy of a corpus (:mod:`._bf16`): the rows (centred in a cone)
rounded by a codec of :mod:`._lowp` (bf16, or int8 with one scale) as a torch
tensor, and upper bounds of the lengths the stage's error bound needs."""

from __future__ import annotations

import numpy as np

from ._lowp import CODECS

PIECE = 8_192                        # rows per piece: bf16 copy, float64 norms


class Corpus:
    """A corpus's low-precision copy (a torch tensor; ``scale``, the int8 copy's one
    scale, else None) and the norms the bound needs, made once.

    In a narrow cone every row is mostly the shared mean ``s``, the scores differ in
    their last bits, and a bound taken at ``|q||c|`` is wider than the gaps between
    them. There the copy holds the centred rows instead (:func:`shift_of`), by the identity
    ``q·c = (q − s)·(c − s) + s·(c − s) + q·s``: the bf16 product multiplies the centred
    query and row, whose lengths are small; ``s·(c − s)`` is one number per row
    (``row_term``, summed in float64 once, added to each score block in the rows'
    dtype; under euclidean it also holds the key's ``− ‖c‖²``), and ``q·s`` one per query
    (:meth:`Stage.absolute`, added to the few kept keys). ``c − s`` is rounded once in
    the rows' dtype. Elsewhere ``s`` is 0 and the rows are copied as they are (the extra
    pass over each block cost 5% of a bf16 search of 100,000 x 384 clustered rows
    forced to centre, one thread: 0.338 s against 0.322).
    """

    def __init__(self, torch, data: np.ndarray, metric: str, sq, codec=CODECS[-1]):
        n, d = data.shape
        self.codec = codec
        self.rows = torch.empty((n, d), dtype=torch.int8 if codec.itemsize == 1
                                else torch.bfloat16)
        self.shift = shift_of(data)
        self.scale = codec.fit(data, self.shift)
        self.centred = centred = bool(self.shift.any())
        self.row_term = np.empty(n, data.dtype) if centred else None
        s64 = self.shift.astype(np.float64)
        self.max_norm = self.max_low = self.max_residual = self.max_term = 0.0
        self.finite = True
        self.failed = False           # a probe proved too few queries: float32 from now on
        with np.errstate(invalid="ignore", over="ignore"):
            for a in range(0, n, PIECE):
                piece = data[a:a + PIECE] - self.shift if centred else data[a:a + PIECE]
                low, back = codec.low(torch, piece, self.scale)
                self.rows[a:a + piece.shape[0]] = low
                norm, low_norm, residual = norms(piece, back)
                self.finite &= bool(np.isfinite(low_norm).all())     # NaN too
                self.max_norm = max(self.max_norm, float(norm.max(initial=0.0)))
                self.max_low = max(self.max_low, float(low_norm.max(initial=0.0)))
                self.max_residual = max(self.max_residual, float(residual.max(initial=0.0)))
                if centred:
                    term = (data[a:a + PIECE].astype(np.float64) - s64) @ s64
                    if metric == "euclidean":
                        term = 2.0 * term - sq[a:a + PIECE].astype(np.float64)
                    self.row_term[a:a + piece.shape[0]] = term
                    self.max_term = max(self.max_term, float(np.abs(term).max(initial=0.0)))
        self.shift_norm = float(lengths(self.shift[None, :])[0])
        self.finite &= bool(np.isfinite(self.max_term))


CENTRE_BELOW = 0.5                    # centre when the rows' spread is below this x length
SAMPLE = 8_192                       # rows that decide whether and where to centre


def shift_of(data: np.ndarray) -> np.ndarray:
    """The vector the bf16 copy is centred on (in the rows' dtype), or zeros: the mean of
    a strided sample of rows when the sample's longest centred row is shorter than
    :data:`CENTRE_BELOW` times its longest row (a cone), else zeros. Any vector keeps
    the results exact; this one only decides how much the bound shrinks."""
    sample = data[::max(1, data.shape[0] // SAMPLE)]
    with np.errstate(invalid="ignore", over="ignore"):
        mean = sample.mean(axis=0, dtype=np.float64)
        shift = mean.astype(data.dtype)
        spread = lengths(sample - shift).max(initial=0.0)
        length = lengths(sample).max(initial=0.0)
    if not (np.isfinite(mean).all() and np.isfinite(spread) and spread < CENTRE_BELOW * length):
        return np.zeros(data.shape[1], data.dtype)
    return shift


def norms(rows: np.ndarray, back) -> tuple:
    """Upper bounds of the lengths of ``rows``, of the values their low-precision copy
    stands for (``back``, NumPy rows: the codec's ``low`` gives them) and of the
    difference, in the rows' own dtype (float64 throughout took 0.54 s for 100,000 x 384
    float32 rows, more than the bf16 scan saves a search built once; this 0.1 s).

    ``rows − back`` is exact: a number and its bf16 rounding lie within a factor two, and
    so do an entry and its int8 value ``a r`` unless ``r`` is 0 (whose difference is the
    entry itself; :func:`._lowp.scale_of`). The copy's length is at most the sum of the
    two others.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        residual = lengths(rows - back)
    norm = lengths(rows)
    return norm, norm + residual, residual


def lengths(X: np.ndarray) -> np.ndarray:
    """Upper bounds (float64) of the row lengths of ``X``: sums of squares in X's dtype,
    ``(d + 2) eps`` and 1% up; rows whose sum may have underflowed or overflowed (outside
    2^-100..2^100) summed again in float64 after scaling by their largest entry."""
    d = X.shape[1]
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        sq = np.einsum("ij,ij->i", X, X).astype(np.float64)
        out = np.sqrt(sq)
        odd = ~((sq > 2.0 ** -100) & (sq < 2.0 ** 100))
        if odd.any():
            Y = X[odd].astype(np.float64)
            big = np.abs(Y).max(axis=1, initial=0.0)
            Y /= np.where(big > 0, big, 1.0)[:, None]
            out[odd] = big * np.sqrt(np.einsum("ij,ij->i", Y, Y))
    return out * (1 + (d + 2) * float(np.finfo(X.dtype).eps)) * 1.01
