"""Vector math from first principles: plain Python loops over floats, written to be read.

Every function here has a fast twin in :mod:`vecdiag.linalg` (and :func:`vecdiag.knn`,
:func:`vecdiag.pca`) with the same name and signature, and the tests check that both
give the same numbers. Read these to see *what* is computed; use the fast ones to
compute it.

How the file is built: the public functions, in the order of ``__all__``, check their
inputs at the door (and turn them into lists of Python floats); the arithmetic lives in
small unchecked cores (``_dot``, ``_norm``, ``_cosine``, ``_euclidean``, ``_power_iteration``)
that use only built-ins and ``math``. Comments marked ``subtle:`` are the real traps:
overflow, zero vectors, ties, rounding.
"""

from __future__ import annotations

import math
import random
import warnings

import numpy as np

from . import _validate as V
from .neighbors.result import Neighbors
from .projection.result import Projection

__all__ = ["dot", "norm", "normalize", "cosine", "euclidean", "cosine_matrix", "knn", "pca"]


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
    V.zero_rows([_norm(r) for r in rows_a], "A", zero)
    if B is not None:
        V.zero_rows([_norm(r) for r in rows_b], "B", zero)
    # One cosine per (row of A, row of B) pair: a table with len(A) rows, len(B) columns
    # (a zero row, allowed by zero="ignore", scores 0.0).
    table = []
    for a in rows_a:
        row = [_cosine(a, b) for b in rows_b]
        table.append([0.0 if value is None else value for value in row])
    return table


def knn(queries, corpus, k: int = 10, *, metric: str = "cosine", exclude_self: bool = False,
        backend: str = "numpy", batch_size=None) -> Neighbors:
    """Exact k nearest neighbours, the slow and obvious way: score every document, sort,
    keep the best k.

    Same signature and same answer as :func:`vecdiag.knn` (``backend`` and
    ``batch_size`` are accepted and ignored: there is only one way here). Scores are
    Python floats (float64). Cost: ``n_queries × n × d`` multiplications in Python,
    about a million per second, so keep the inputs small.

    Parameters
    ----------
    queries : array-like, 2-D, shape (n_queries, d)
    corpus : array-like, 2-D, shape (n, d)
    k : int
        Neighbours per query (at most ``n``, or ``n - 1`` with ``exclude_self``).
    metric : {"cosine", "dot", "euclidean"}
        Similarity (higher is closer) or distance (lower is closer).
    exclude_self : bool
        ``queries`` is the corpus itself: leave each row out of its own list.
    backend, batch_size
        Accepted for the same signature as :func:`vecdiag.knn`; ignored.

    Examples
    --------
    >>> res = knn([[1, 0]], [[1, 0.1], [0, 1], [1, 0]], k=2)
    >>> res.indices.tolist(), res.scores.round(4).tolist()
    ([[2, 0]], [[1.0, 0.995]])
    """
    query_rows, corpus_rows, k = _knn_inputs(queries, corpus, k, metric, exclude_self)
    score = {"cosine": _cosine, "dot": _dot, "euclidean": _euclidean}[metric]
    sign = 1.0 if metric == "euclidean" else -1.0   # sort ascending: -similarity, distance
    indices, scores = [], []
    for i, q in enumerate(query_rows):
        # 1. score every corpus row (an item is not its own neighbour with exclude_self)
        scored = [(score(q, c), j) for j, c in enumerate(corpus_rows)
                  if not (exclude_self and j == i)]
        # 2. sort best first. subtle: the key (score, index) puts equal scores in order of
        #    their corpus index, so ties always go to the lower index, as in every backend.
        scored.sort(key=lambda pair: (sign * pair[0], pair[1]))
        # 3. keep the best k
        indices.append([j for _, j in scored[:k]])
        scores.append([s for s, _ in scored[:k]])
    shape = (len(query_rows), k)
    return Neighbors(indices=np.array(indices, dtype=np.int64).reshape(shape),
                     scores=np.array(scores, dtype=float).reshape(shape), metric=metric, k=k)


def pca(X, n_components: int = 2, *, max_iter: int = 10_000, tol: float = 1e-12,
        random_state=0) -> Projection:
    """Principal components by power iteration with deflation, in plain Python.

    Centre the data, build the covariance matrix, find the direction of most variance
    (:func:`_power_iteration`), remove that direction's variance from the covariance,
    and repeat. Returns a :class:`vecdiag.Projection` like :func:`vecdiag.pca` (the
    arithmetic is plain Python; the result is wrapped in arrays at the end so it plots
    the same way).

    Parameters
    ----------
    X : array-like, 2-D, shape (n, d)
        At least two rows, not all identical.
    n_components : int
        How many principal components to find (at most ``d``).
    max_iter : int
        Power-iteration steps per component before giving up (with a RuntimeWarning).
    tol : float
        Stop when one step moves the unit direction by less than this.
    random_state : int
        Seed of the random start direction (anything but an int means 0).

    Notes
    -----
    Covariance ``C[a][b] = Σ_i (x_ia - μ_a)(x_ib - μ_b) / (n - 1)``. The eigenvalue of
    a direction v is ``λ = vᵀ C v``. Deflation: ``C ← C - λ v vᵀ`` leaves the other
    eigenpairs unchanged, so the next round finds the second component. Signs follow
    :func:`vecdiag.pca`: the largest absolute loading is positive.

    Examples
    --------
    >>> p = pca([[0, 0], [1, 2], [2, 4], [3, 6]], n_components=1)
    >>> p.explained_variance_ratio.round(6).tolist()   # a line: one direction
    [1.0]
    >>> p.components[0].round(4).tolist()            # along (1, 2) / √5
    [0.4472, 0.8944]
    """
    arr, n_components = V.check_pca_input(X, n_components)
    rows = arr.tolist()
    n, d = len(rows), len(rows[0])
    # 1. Centre: subtract each dimension's mean, so variance is measured around it.
    mean = [sum(row[j] for row in rows) / n for j in range(d)]
    centred = [[x - m for x, m in zip(row, mean)] for row in rows]
    # 2. Covariance: how every pair of dimensions varies together.
    cov = [[sum(r[a] * r[b] for r in centred) / (n - 1) for b in range(d)] for a in range(d)]
    total = sum(cov[a][a] for a in range(d))        # total variance = trace of C
    if total == 0.0:
        raise V.constant_data_error(n, arr)
    rand = random.Random(random_state if isinstance(random_state, int) else 0)
    components, variances = [], []
    for c in range(n_components):
        # 3. The direction of most variance left, orthogonal to the ones found.
        v, converged = _power_iteration(cov, components, total, rand, max_iter, tol)
        if not converged:
            warnings.warn(f"scratch.pca: power iteration for component {c + 1} did not "
                          f"converge in {max_iter} steps (its eigenvalue is close to the "
                          "next one); raise max_iter or use vd.pca", RuntimeWarning,
                          stacklevel=2)
        # 4. Its variance: λ = vᵀ C v.
        lam = max(_dot(v, _matvec(cov, v)), 0.0)
        # 5. Fix the sign: the largest absolute loading is positive.
        top = max(range(d), key=lambda j: abs(v[j]))
        if v[top] < 0:
            v = [-x for x in v]
        components.append(v)
        variances.append(lam)
        # 6. Deflate: remove this direction's variance, C ← C - λ v vᵀ.
        cov = [[cov[a][b] - lam * v[a] * v[b] for b in range(d)] for a in range(d)]
    # 7. Coordinates: each centred row's projection on each component.
    coords = [[_dot(row, comp) for comp in components] for row in centred]
    return Projection(coords=np.array(coords), method="pca",
                      explained_variance_ratio=np.array([lam / total for lam in variances]),
                      explained_variance=np.array(variances),
                      components=np.array(components), mean=np.array(mean),
                      params={"solver": "power_iteration", "n_samples": n,
                              "total_variance": total, "center_blocks": False},
                      data=arr)


# --- the unchecked cores: lists of floats in, floats out -------------------------------

def _dot(a: list, b: list) -> float:
    total = 0.0
    for x, y in zip(a, b):      # walk both vectors in step
        total += x * y          # each dimension adds its product
    return total


def _power_of_two_above(value: float) -> float:
    """A power of two near ``value``: dividing by it changes no digit (exact)."""
    # subtle: frexp gives value = m * 2**e with 0.5 <= m < 1; dividing by 2**e is exact.
    return math.ldexp(1.0, math.frexp(value)[1]) if value > 0 else 1.0


def _norm(a: list) -> float:
    # subtle: (1e200)**2 overflows to inf. Divide by a power of two near the largest
    # entry first (exact), so every square is at most 1, then multiply it back in.
    scale = _power_of_two_above(max(abs(x) for x in a))
    total = 0.0
    for x in a:
        total += (x / scale) ** 2      # squares of numbers no larger than 1
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


def _matvec(M: list, v: list) -> list:
    return [_dot(row, v) for row in M]


def _power_iteration(cov: list, found: list, total: float, rand, max_iter: int, tol: float):
    """The top eigenvector of ``cov`` orthogonal to ``found``: ``(v, converged)``.

    Multiply a vector by the covariance again and again: ``v ← C v / ‖C v‖`` turns it
    towards the direction of most variance, at rate ``λ₂/λ₁`` per step (slow when the
    top two eigenvalues are nearly equal).
    """
    d = len(cov)
    # subtle: start from a random direction; a fixed start such as (1, 0, ...) could be
    # exactly orthogonal to the answer and never turn towards it.
    v = _unit([rand.gauss(0.0, 1.0) for _ in range(d)], found)
    for _ in range(max_iter):
        w = _matvec(cov, v)                                            # C v
        # subtle: once the rank of the data is reached the variance left is rounding
        # noise and C v points anywhere: then any direction orthogonal to the ones
        # found is an answer. Otherwise keep w orthogonal to them (Gram-Schmidt).
        left = math.sqrt(sum(x * x for x in w))
        w = _unit(w, found) if left > 1e-12 * total else None
        if w is None:                       # nothing left: any orthogonal direction
            return _unit([rand.gauss(0.0, 1.0) for _ in range(d)], found), True
        change = math.sqrt(sum((x - y) ** 2 for x, y in zip(w, v)))
        v = w
        if change < tol:                    # it stopped turning
            return v, True
    return v, False


def _unit(v: list, basis: list) -> list | None:
    """``v`` minus its parts along the (orthonormal) ``basis``, scaled to length 1.

    Returns None when nothing is left (``v`` lies in the span of ``basis``).
    """
    for u in basis:                              # Gram-Schmidt: remove each known direction
        along = sum(x * y for x, y in zip(v, u))
        v = [x - along * y for x, y in zip(v, u)]
    length = math.sqrt(sum(x * x for x in v))
    if length <= 1e-300:
        return None
    return [x / length for x in v]


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


def _knn_inputs(queries, corpus, k, metric, exclude_self):
    """``(query rows, corpus rows, k)`` as lists of floats, with :func:`vecdiag.knn`'s checks."""
    V.check_metric(metric)
    corpus_rows = V.as_matrix(corpus, "corpus").tolist()
    query_rows = V.as_matrix(queries, "queries", allow_empty=True).tolist()
    if query_rows and len(query_rows[0]) != len(corpus_rows[0]):
        raise ValueError(f"dimension mismatch: queries has dimension {len(query_rows[0])} but "
                         f"corpus has dimension {len(corpus_rows[0])}; both must come from "
                         "the same embedding model")
    k = V.check_k(k, len(corpus_rows), exclude_self=exclude_self)
    if exclude_self and len(query_rows) != len(corpus_rows):
        raise ValueError("exclude_self=True needs queries to be the corpus itself, row for "
                         f"row ({len(query_rows)} queries vs {len(corpus_rows)} corpus rows)")
    if metric == "cosine":
        for name, rows in (("corpus", corpus_rows), ("queries", query_rows)):
            for i, row in enumerate(rows):
                if not any(row):   # subtle: a zero vector has no direction, no cosine
                    raise ValueError(f"{name} has a zero vector at row {i}, which has no "
                                     "direction, so its cosine is undefined; drop it")
    return query_rows, corpus_rows, k


# Text retrieval lessons (notebook 05) live in their own module to keep this one short.
from ._scratch_text import bm25, chunk, rrf, tokenize  # noqa: E402

__all__ += ["tokenize", "chunk", "bm25", "rrf"]
