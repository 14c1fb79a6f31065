"""Vector math, the fast way: NumPy twins of :mod:`vecdiag.scratch`.

Same names, same signatures, same answers (tests check it); here the loops run in BLAS.
Numerical care shared with the scratch versions:

* norms never overflow or underflow: rows whose plain sum of squares is not safely
  representable are rescaled by a power of two (exact) before squaring;
* cosines are clipped to [-1, 1] and ``cosine(a, a)`` is exactly 1.0 (computed as
  ``a·b / sqrt((a·a)(b·b))`` on power-of-two-scaled vectors; ``sqrt(fl(s*s)) == s``);
* float32 input stays float32 (about 7 significant digits; cosines good to ~1e-6),
  every other real dtype is computed in float64.
"""

from __future__ import annotations

import numpy as np

from . import _validate as V

__all__ = ["dot", "norm", "normalize", "cosine", "euclidean", "cosine_matrix", "row_norms",
           "column_mean"]

COLUMN_BLOCK = 1024     # rows read at a time by column_mean


def _pow2_scale(maxabs: np.ndarray) -> np.ndarray:
    """Powers of two near ``maxabs`` (1 where maxabs is 0): dividing by them is exact.

    ``2**(e - 1)`` for ``maxabs = m * 2**e`` (0.5 <= m < 1): the scaled entries are below
    2 in size, and the power itself stays a float even for the largest ones (``2**e``
    is ``2**1024`` = inf for values from ``2**1023``, about 9e307).
    """
    _, exponent = np.frexp(maxabs)
    return np.where(maxabs > 0, np.ldexp(np.ones_like(maxabs), exponent - 1),
                    1).astype(maxabs.dtype)


def row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row of a checked 2-D array, safe from over/underflow.

    Fast path: ``sqrt(sum(x**2))`` per row; rows where that sum overflowed or fell into
    the subnormal range are recomputed after exact rescaling.

    Parameters
    ----------
    X : array-like, 2-D
        A float32/float64 ndarray is taken as checked (vecdiag's own callers pass those);
        anything else (a list, ints, a tensor, a DataFrame) goes through the usual input
        check first. NaN and inf are not refused: their rows' norms are NaN and inf.

    Returns
    -------
    ndarray, 1-D, one norm per row, same dtype as ``X``. For a ``dask.array.Array``
    a lazy Dask array (one task per row block; nothing is computed here).

    Examples
    --------
    >>> row_norms(np.array([[3.0, 4.0], [1e200, 1e200], [0.0, 0.0]]))
    array([5.00000000e+000, 1.41421356e+200, 0.00000000e+000])
    """
    from .scale.chunks import check_dask_matrix, is_dask_array

    if is_dask_array(X):                 # columns in one chunk, float32/float64
        X = check_dask_matrix(X, "X")
        return X.map_blocks(row_norms, drop_axis=1, dtype=X.dtype,
                            meta=np.empty(0, dtype=X.dtype))
    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64)):
        X = V.as_matrix(X, "X", finite=False, allow_empty=True)
    squares = _row_squares(X)
    info = np.finfo(X.dtype)
    unsafe = ~np.isfinite(squares) | (squares < info.tiny / info.eps)
    norms = np.sqrt(squares)
    if unsafe.any():
        rows = X[unsafe]
        scale = _pow2_scale(np.abs(rows).max(axis=1))
        scaled = rows / scale[:, None]
        with np.errstate(over="ignore"):        # a length past the float range: inf
            norms[unsafe] = np.sqrt(np.einsum("ij,ij->i", scaled, scaled)) * scale
    return norms


def column_mean(X, *, dtype=np.float64) -> np.ndarray:
    """Mean row ``(1/n) Σ_i x_i``, the same bits whatever the memory layout of ``X``.

    The rows are added one after another, in ``dtype``, read :data:`COLUMN_BLOCK` at a
    time as C-ordered blocks (memory stays bounded on a memmap): the order NumPy follows
    for a C-ordered array, so ``X.mean(axis=0, dtype=dtype)`` of a C-ordered ``X`` is
    reproduced bit for bit. subtle: NumPy adds a Fortran-ordered array (a DataFrame's
    values, a transposed tensor, ``np.asfortranarray(X)``) pairwise down each column
    instead, so the same numbers gave means a few units in the last place apart, and so
    did every centring, whitening and threshold computed from them.

    Parameters
    ----------
    X : ndarray or memmap, 2-D, real, at least one row (inputs already checked).
    dtype : float dtype, default float64
        The accumulator (and result) dtype: float64 for float32 rows too, so that a
        float32 array and its float64 copy give the same mean; float32 only where a
        float32 result must stay as NumPy gave it.

    Returns
    -------
    ndarray, 1-D, shape ``(d,)``, of ``dtype``. NaN or inf in a column give NaN or inf
    there; a sum past the range of ``dtype`` is inf (the mean of 200 rows of 1e307).

    Examples
    --------
    >>> column_mean(np.asfortranarray([[1.0, 2.0], [3.0, 5.0]]))
    array([2. , 3.5])
    """
    n, d = X.shape
    total = np.zeros(d, dtype=dtype)
    carried = np.empty((min(n, COLUMN_BLOCK) + 1, d), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n, COLUMN_BLOCK):
            rows = X[start:start + COLUMN_BLOCK]
            # the running sum is the first row of the block, so the additions go on in
            # row order across blocks (a block sum added to it would regroup them)
            block = carried[: rows.shape[0] + 1]
            block[0] = total
            block[1:] = rows
            total = block.sum(axis=0)
        # as NumPy's mean: the sum divided by the row count (an intp), cast back
        return np.true_divide(total, np.intp(n), out=total, casting="unsafe")


def _row_squares(X: np.ndarray, block: int = 4096) -> np.ndarray:
    """``Σ_j x_ij²`` per row, summed as for C-ordered rows whatever ``X``'s layout.

    subtle: einsum adds a row's squares in another order when the row is strided (a
    Fortran-ordered array, a column slice, a transposed tensor or a DataFrame's values),
    so a norm differed in its last bit from the same numbers stored row by row; such
    rows are copied a block at a time (memory stays bounded).
    """
    if X.flags.c_contiguous or X.shape[1] == 1:
        return np.einsum("ij,ij->i", X, X)
    out = np.empty(X.shape[0], dtype=X.dtype)
    for start in range(0, X.shape[0], block):
        rows = np.ascontiguousarray(X[start:start + block])
        out[start:start + block] = np.einsum("ij,ij->i", rows, rows)
    return out


def dot(a, b) -> float:
    """Dot product ``Σ a_i b_i``: how far ``a`` points along ``b``, times their lengths.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension
        Finite real vectors.

    Returns
    -------
    float

    Notes
    -----
    Not scale-invariant: doubling ``a`` doubles the score. Overflows to ``inf`` only when
    the true result exceeds the float range.

    Examples
    --------
    >>> dot([1, 2, 3], [4, 5, 6])
    32.0
    """
    a = V.as_vector(a, "a")
    b = V.as_vector(b, "b")
    V.check_same_dim(a, "a", b, "b")
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.dot(a, b))
        sa = float(_pow2_scale(np.abs(a).max()))
        sb = float(_pow2_scale(np.abs(b).max()))
        info = np.finfo(np.result_type(a, b))
        if not np.isfinite(value) or sa * sb < info.tiny / info.eps:
            # a product overflowed, and the sum may still fit (1e300·1e300 − 1e300·1e300
            # = 0); or every product is subnormal in the working precision (float32
            # 1e-30·1e-30 is 0) while the float returned holds it: scale both vectors by
            # powers of two (exact), round each product on its own (a fused multiply-add
            # would leave a residue that the scales blow up), add, then multiply the
            # scales back in. subtle: as one power of two (one rounding): times a
            # subnormal sa first, then a large sb, kept only sa's few digits
            exponent = int(np.frexp(sa)[1]) + int(np.frexp(sb)[1]) - 2
            value = float(np.ldexp(float(np.sum((a / sa) * (b / sb))), exponent))
    return value


def norm(a) -> float:
    """Euclidean length ``sqrt(Σ a_i²)``, computed without overflow or underflow.

    Parameters
    ----------
    a : array-like, 1-D
        A finite real vector.

    Returns
    -------
    float

    Examples
    --------
    >>> norm([3, 4])
    5.0
    >>> norm([1e200, 1e200])  # squaring naively would overflow
    1.414213562373095e+200
    """
    a = V.as_vector(a, "a")
    value = float(row_norms(a[None, :])[0])
    if a.dtype != np.float64 and (value == np.inf or 0 < value < np.finfo(a.dtype).tiny):
        # subtle: a float32 vector can be longer than the largest float32 (3.4e38, e.g.
        # [3e38, 3e38]) or have a length among the subnormal float32 numbers, rounded
        # ([1e-45, 1e-45]: 1.4e-45, not 2e-45), while the float64 returned holds it:
        # measure it there
        value = float(row_norms(a[None, :].astype(np.float64))[0])
    return value


def normalize(X, *, zero: str = "raise") -> np.ndarray:
    """Scale a vector (1-D) or each row (2-D) to unit length: ``x / ‖x‖``.

    Parameters
    ----------
    X : array-like, 1-D or 2-D
    zero : {"raise", "ignore"}
        A zero vector has no direction: raise (naming the rows) or leave it at 0.

    Returns
    -------
    ndarray, a new array (float32 for float32 input, float64 otherwise).

    Examples
    --------
    >>> normalize([3, 4])
    array([0.6, 0.8])
    >>> normalize([1e-200, 0])
    array([1., 0.])
    """
    X = V.as_vectors(X, "X")
    V.check_zero_option(zero)
    rows = X[None, :] if X.ndim == 1 else X
    norms = row_norms(rows)
    zeros = V.zero_rows(norms, "X", zero, ignorable=True)
    out = _unit_rows_of(rows, norms, zeros)
    return out[0] if X.ndim == 1 else out


def _unit_rows_of(rows: np.ndarray, norms: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """``rows / norms`` (zero rows left at 0), exact in direction at any length."""
    out = rows / np.where(zeros, 1, norms)[:, None]
    info = np.finfo(rows.dtype)
    far = ~zeros & ((norms >= info.max) | (norms < info.tiny))
    if far.any():
        # subtle: a length beyond the float range (1.7e308·√2) is inf, and x / inf = 0;
        # one in the subnormal range is rounded (5e-324·√2 is 5e-324). Those rows are
        # divided by a power of two first (exact), then by their length, now in range.
        scaled = rows[far] / _pow2_scale(np.abs(rows[far]).max(axis=1))[:, None]
        out[far] = scaled / row_norms(scaled)[:, None]
    return out


def _unit_scaled(x: np.ndarray) -> np.ndarray:
    """``x`` divided by the power of two nearest its largest entry (exact, no overflow)."""
    return x / _pow2_scale(np.abs(x).max(keepdims=True))


def cosine(a, b, *, zero: str = "raise") -> float:
    """Cosine similarity ``a·b / (‖a‖ ‖b‖)``: the angle between two directions.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension
        Finite real vectors.
    zero : {"raise", "ignore"}
        What to do with a zero vector (no direction): raise a ValueError naming it, or
        return 0.0.

    Returns
    -------
    float in [-1, 1]

    Notes
    -----
    In [-1, 1] (clipped against rounding); 1.0 exactly for ``cosine(a, a)``. Undefined
    for a zero vector: raises, or returns 0.0 with ``zero="ignore"``.

    Examples
    --------
    >>> cosine([1, 0], [1, 1])
    0.7071067811865475
    >>> cosine([1e200, 1e200], [1e200, 1e200])
    1.0
    """
    a = V.as_vector(a, "a")
    b = V.as_vector(b, "b")
    V.check_same_dim(a, "a", b, "b")
    V.check_zero_option(zero)
    za = V.zero_rows(np.abs(a).max(), "a", zero, ignorable=True)[0]
    zb = V.zero_rows(np.abs(b).max(), "b", zero, ignorable=True)[0]
    if za or zb:
        return 0.0
    a, b = _unit_scaled(a), _unit_scaled(b)
    value = np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.clip(value, -1.0, 1.0))


def euclidean(a, b) -> float:
    """Straight-line distance ``‖a − b‖``; 0.0 exactly for identical vectors.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension
        Finite real vectors.

    Returns
    -------
    float

    Examples
    --------
    >>> euclidean([0, 0], [3, 4])
    5.0
    """
    a = V.as_vector(a, "a")
    b = V.as_vector(b, "b")
    V.check_same_dim(a, "a", b, "b")
    scale = _pow2_scale(np.maximum(np.abs(a).max(keepdims=True), np.abs(b).max(keepdims=True)))
    diff = a / scale - b / scale
    # the scale is multiplied back in float64: a float32 distance may exceed the largest
    # float32 (3.4e38) and still fit the float returned; past float64 it is inf
    return float(np.sqrt(np.dot(diff, diff))) * float(scale[0])


def cosine_matrix(A, B=None, *, zero: str = "raise") -> np.ndarray:
    """All pairwise cosines, shape ``(n_a, n_b)``; ``B=None`` compares ``A`` with itself.

    Normalises each row once, then one matrix product (BLAS); clipped to [-1, 1].
    Materialises the whole matrix: for large sets use :func:`vecdiag.knn`.

    Parameters
    ----------
    A : array-like, 2-D, shape (n_a, d)
    B : array-like, 2-D, shape (n_b, d), optional
        Default: ``A`` itself.
    zero : {"raise", "ignore"}
        A zero row has no direction: raise (naming the row) or score its cosines 0.0.

    Returns
    -------
    ndarray, shape (n_a, n_b), values in [-1, 1].

    Examples
    --------
    >>> cosine_matrix([[1, 0], [0, 2]], [[3, 0], [1, 1]]).round(4)
    array([[1.    , 0.7071],
           [0.    , 0.7071]])
    """
    A = V.as_matrix(A, "A")
    V.check_zero_option(zero)
    An = _normalized_rows(A, "A", zero)
    if B is None:
        Bn = An
    else:
        B = V.as_matrix(B, "B")
        V.check_same_dim(A, "A", B, "B")
        Bn = _normalized_rows(B, "B", zero)
        if An.dtype != Bn.dtype:
            An, Bn = An.astype(np.float64), Bn.astype(np.float64)
    return np.clip(An @ Bn.T, -1.0, 1.0)


def _normalized_rows(X: np.ndarray, name: str, zero: str) -> np.ndarray:
    norms = row_norms(X)
    zeros = V.zero_rows(norms, name, zero, ignorable=True)
    return _unit_rows_of(X, norms, zeros)
