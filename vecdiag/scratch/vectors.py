"""Vectors from first principles: dot product, length, direction, angle and distance.

Plain Python loops over floats, written to be read (the first module of
:mod:`vecdiag.scratch`). The public functions check their inputs at the door and hand
lists of Python floats to the unchecked cores below them (``_dot``, ``_norm``,
``_cosine``, ``_euclidean``), which use only built-ins and ``math``;
:mod:`~vecdiag.scratch.neighbours` and :mod:`~vecdiag.scratch.projection` build on
the same cores.
"""

from __future__ import annotations

import math
import sys

from .. import _validate as V

__all__ = ["dot", "norm", "normalize", "cosine", "euclidean", "cosine_matrix"]


def dot(a, b) -> float:
    """Dot product: multiply matching entries, add them up.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension

    Examples
    --------
    >>> dot([1, 2, 3], [4, 5, 6])   # 1*4 + 2*5 + 3*6
    32.0
    """
    return _dot(*_pair(a, b))


def norm(a) -> float:
    """Length of a vector: the square root of the sum of squares (Pythagoras in d dims).

    Parameters
    ----------
    a : array-like, 1-D

    Examples
    --------
    >>> norm([3, 4])
    5.0
    >>> norm([1e200, 1e200])
    1.414213562373095e+200
    """
    return _norm(_vector(a, "a"))


def normalize(X, *, zero: str = "raise"):
    """Scale to length 1 (a vector, or each row of a list of vectors): ``x / ‖x‖``.

    Parameters
    ----------
    X : array-like, 1-D or 2-D
    zero : {"raise", "ignore"}
        A zero vector has no direction: raise (naming the row) or leave it at 0.

    Returns
    -------
    list of float (1-D input) or list of lists of float (2-D input)

    Examples
    --------
    >>> normalize([3, 4])
    [0.6, 0.8]
    >>> normalize([1e-200, 0])
    [1.0, 0.0]
    """
    V.check_zero_option(zero)
    arr = V.as_vectors(X, "X")
    rows = [arr.tolist()] if arr.ndim == 1 else arr.tolist()
    out = []
    for i, row in enumerate(rows):
        length = _norm(row)                                 # how long is this vector?
        if length == 0.0:
            # subtle: a zero vector has no direction, so there is nothing to scale to 1.
            if zero == "raise":
                where = "X is a zero vector" if arr.ndim == 1 else f"X has a zero vector at row {i}"
                raise ValueError(f"{where}, which has no direction, so its cosine is "
                                 "undefined; drop it, or pass zero='ignore' to score it 0.0")
            out.append([0.0] * len(row))
            continue
        if math.isinf(length) or length < sys.float_info.min:
            # subtle: a length past the float range is inf (x / inf = 0), one among the
            # subnormal numbers is rounded: divide by a power of two first (exact)
            scale = _power_of_two_above(max(abs(x) for x in row))
            row = [x / scale for x in row]
            length = _norm(row)
        out.append([float(x) / length for x in row])        # divide every entry by the length
    return out[0] if arr.ndim == 1 else out


def cosine(a, b, *, zero: str = "raise") -> float:
    """Cosine of the angle between a and b: their dot product divided by both lengths.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension
    zero : {"raise", "ignore"}
        A zero vector has no direction: raise a ValueError, or return 0.0.

    Examples
    --------
    >>> round(cosine([1, 0], [1, 1]), 6)
    0.707107
    >>> cosine([2, 0], [-5, 0])     # opposite directions
    -1.0
    """
    V.check_zero_option(zero)
    a, b = _pair(a, b)
    value = _cosine(a, b)
    if value is None:                    # subtle: a zero vector has no angle to anything
        if zero == "raise":
            which = "a" if not any(a) else "b"
            raise ValueError(f"{which} is a zero vector, which has no direction, so its cosine "
                             "is undefined; drop it, or pass zero='ignore' to score it 0.0")
        return 0.0
    return value


def euclidean(a, b) -> float:
    """Straight-line distance: the length of the difference ``a − b``.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension

    Examples
    --------
    >>> euclidean([0, 0], [3, 4])
    5.0
    """
    return _euclidean(*_pair(a, b))


def cosine_matrix(A, B=None, *, zero: str = "raise"):
    """Every cosine between the rows of A and the rows of B (B=None: A with itself).

    Parameters
    ----------
    A : array-like, 2-D, shape (n_a, d)
    B : array-like, 2-D, shape (n_b, d), optional
        Default: ``A`` itself.
    zero : {"raise", "ignore"}
        A zero row has no direction: raise (naming the row) or score its cosines 0.0.

    Returns
    -------
    list of lists of float, ``n_a`` rows of ``n_b`` cosines.

    Examples
    --------
    >>> m = cosine_matrix([[1, 0], [0, 2]], [[3, 0], [1, 1]])
    >>> [[round(v, 4) for v in row] for row in m]
    [[1.0, 0.7071], [0.0, 0.7071]]
    """
    V.check_zero_option(zero)
    rows_a = V.as_matrix(A, "A").tolist()
    rows_b = rows_a if B is None else V.as_matrix(B, "B").tolist()
    if len(rows_a[0]) != len(rows_b[0]):
        raise ValueError(f"dimension mismatch: A has dimension {len(rows_a[0])} but B has "
                         f"dimension {len(rows_b[0])}; both must come from the same embedding model")
    # subtle: a zero row has no direction; name its row (not "a") before any cosine.
    V.zero_rows([_norm(r) for r in rows_a], "A", zero, ignorable=True)
    if B is not None:
        V.zero_rows([_norm(r) for r in rows_b], "B", zero, ignorable=True)
    # One cosine per (row of A, row of B) pair: a table with len(A) rows, len(B) columns
    # (a zero row, allowed by zero="ignore", scores 0.0).
    table = []
    for a in rows_a:
        row = [_cosine(a, b) for b in rows_b]
        table.append([0.0 if value is None else value for value in row])
    return table


# --- the unchecked cores: lists of floats in, floats out -------------------------------

def _dot(a: list, b: list) -> float:
    total = 0.0
    for x, y in zip(a, b):      # walk both vectors in step
        total += x * y          # each dimension adds its product
    if math.isfinite(total):
        return total
    # subtle: 1e300 * 1e300 overflows to inf even when the sum fits (1e600 - 1e600 = 0):
    # divide each vector by a power of two near its largest entry (exact), add up the
    # small products, multiply the two powers back in.
    scale_a = _power_of_two_above(max(abs(x) for x in a))
    scale_b = _power_of_two_above(max(abs(y) for y in b))
    total = sum((x / scale_a) * (y / scale_b) for x, y in zip(a, b))
    return total * scale_a * scale_b


def _power_of_two_above(value: float) -> float:
    """A power of two near ``value``: dividing by it changes no digit (exact)."""
    # subtle: frexp gives value = m * 2**e with 0.5 <= m < 1; dividing by 2**(e - 1) is
    # exact and leaves numbers below 2 (2**e itself is too large a float from 9e307 on).
    return math.ldexp(1.0, math.frexp(value)[1] - 1) if value > 0 else 1.0


def _norm(a: list) -> float:
    # subtle: (1e200)**2 overflows to inf. Divide by a power of two near the largest
    # entry first (exact), so every square is below 4, then multiply it back in.
    largest = max(abs(x) for x in a)
    if largest == math.inf:            # a difference past the float range: infinitely long
        return math.inf
    scale = _power_of_two_above(largest)
    total = 0.0
    for x in a:
        total += (x / scale) ** 2      # squares of numbers below 2
    return math.sqrt(total) * scale


def _cosine(a: list, b: list) -> float | None:
    """The cosine of a and b, or None when either is a zero vector (no direction)."""
    # Scale each vector by a power of two so nothing overflows (exact, changes no angle).
    scale_a = _power_of_two_above(max(abs(x) for x in a))
    scale_b = _power_of_two_above(max(abs(y) for y in b))
    a = [x / scale_a for x in a]
    b = [y / scale_b for y in b]
    aa = sum(x * x for x in a)           # ‖a‖², squared length
    bb = sum(y * y for y in b)           # ‖b‖²
    if aa == 0.0 or bb == 0.0:
        return None
    ab = sum(x * y for x, y in zip(a, b))  # a·b
    # subtle: sqrt(aa * bb) rather than sqrt(aa) * sqrt(bb): for a == b this is exactly
    # aa, so cosine(a, a) is exactly 1.0. Rounding can still push |value| past 1: clip.
    return max(-1.0, min(1.0, ab / math.sqrt(aa * bb)))


def _euclidean(a: list, b: list) -> float:
    difference = [x - y for x, y in zip(a, b)]   # the arrow from b to a
    # subtle: identical vectors give a difference of exact zeros, so the distance is 0.0.
    if not any(difference):
        return 0.0
    return _norm(difference)                     # its length (overflow-safe)


# --- input checks at the door ---------------------------------------------------------

def _vector(x, name: str) -> list[float]:
    """Check one vector and hand it over as a list of Python floats."""
    return [float(v) for v in V.as_vector(x, name).tolist()]


def _pair(a, b) -> tuple[list[float], list[float]]:
    a, b = _vector(a, "a"), _vector(b, "b")
    if len(a) != len(b):
        raise ValueError(f"dimension mismatch: a has dimension {len(a)} but b has "
                         f"dimension {len(b)}; both must come from the same embedding model")
    return a, b
