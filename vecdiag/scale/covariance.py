"""Mean and scatter matrix of a Dask corpus, in one pass: what PCA and the vector fixes fit.

:func:`scatter` returns ``n``, the mean and ``Σ (x − μ)(x − μ)ᵀ`` (float64) of the rows of
a Dask array (optionally unit-normalised first), from one task per row block merged in a
tree (:func:`vecdiag.scale.moments.tree_sum`). :func:`vecdiag.pca` and the ``fit`` of
:class:`~vecdiag.fixes.Center`, :class:`~vecdiag.fixes.Whiten` and
:class:`~vecdiag.fixes.AllButTheTop` call it for a Dask array; nothing of size ``n`` comes
back.

subtle: ``Σ xxᵀ − n μμᵀ`` loses every digit of the variance when the mean is far longer
than the spread (data far from the origin). Like the NumPy PCA, each block is first
shifted by ``s``, the mean of the corpus's first 1,024 rows (one small read), so the
correction ``n m mᵀ`` with ``m = mean(x − s)`` is tiny; and, as in
:mod:`vecdiag.scale.moments`, each block's shifted rows are divided by their own power of
two and the partial sums rescaled exactly when merged, so huge values do not overflow
before the end.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import _validate as V
from ..diagnostics.moments import unit_rows
from ..linalg import row_norms
from .block_sums import common_exponent, exponent
from .chunks import block_pieces, check_dask_matrix, compute, row_blocks
from .moments import describe_rows, tree_sum

__all__ = ["scatter", "scaled_scatter", "pca_fit", "HEAD_ROWS"]

HEAD_ROWS = 1024
"""Rows read first to choose the shift (their mean) that keeps the scatter exact."""


def _rows(B: np.ndarray, unit: bool) -> tuple[np.ndarray, np.ndarray]:
    """float64 rows (unit length when ``unit``; zero rows stay 0) and their norms."""
    norms = row_norms(B).astype(np.float64)
    return (unit_rows(B, norms) if unit else B.astype(np.float64)), norms


def _block_scatter(block, start: int, shift: np.ndarray, unit: bool) -> dict:
    """One block's partial sums, from pieces of :data:`.PIECE_BYTES` of float64 rows (the
    whole block at once made five float64 copies of it: a 25.6 MB block peaked at 155 MB)
    merged exactly. A piece (or block) whose shifted rows are all 0 takes no part in the
    merged exponent (:func:`~.block_sums.common_exponent`): with its 0 it set the scale
    of the whole merge, and rows of size 1e-160 in other blocks kept 3 digits of their
    scatter."""
    B = np.asarray(block)
    parts = [_piece_scatter(P, start + a, shift, unit) for a, P in block_pieces(B)]
    return functools.reduce(_merge, parts)


def _piece_scatter(B: np.ndarray, start: int, shift: np.ndarray, unit: bool) -> dict:
    bad = ~np.isfinite(B).all(axis=1)
    if bad.any():
        return {"n_bad": int(bad.sum()), "bad": np.flatnonzero(bad)[:20] + start,
                "n_zero": 0, "zero": np.zeros(0, dtype=np.int64), "n": 0, "e": 0, "peak": 0.0,
                "sum": np.zeros(B.shape[1]), "gram": np.zeros((B.shape[1],) * 2)}
    R, norms = _rows(B, unit)
    zero = np.flatnonzero(norms == 0)
    C = R - shift
    peak = float(np.abs(C).max()) if C.size else 0.0
    e = exponent(peak)
    C = np.ldexp(C, -e)
    return {"n_bad": 0, "bad": np.zeros(0, dtype=np.int64), "n_zero": int(zero.size),
            "zero": zero[:20] + start, "n": B.shape[0], "e": e, "peak": peak,
            "sum": C.sum(axis=0), "gram": C.T @ C}


def _merge(a: dict, b: dict) -> dict:
    e = common_exponent(a, b)
    return {"n_bad": a["n_bad"] + b["n_bad"], "n_zero": a["n_zero"] + b["n_zero"],
            "bad": np.concatenate([a["bad"], b["bad"]])[:20],
            "zero": np.concatenate([a["zero"], b["zero"]])[:20], "n": a["n"] + b["n"], "e": e,
            "peak": max(a["peak"], b["peak"]),
            "sum": np.ldexp(a["sum"], a["e"] - e) + np.ldexp(b["sum"], b["e"] - e),
            "gram": np.ldexp(a["gram"], 2 * (a["e"] - e)) + np.ldexp(b["gram"], 2 * (b["e"] - e))}


def scaled_scatter(X, *, unit: bool = False, zero: str = "raise", name: str = "X"):
    """:func:`scatter` with the scatter divided by an exact power of two: ``(X, n, mean,
    G, e)``, the scatter being ``G · 4^e`` (``np.ldexp(G, 2 * e)``). ``G`` keeps its
    digits where the scatter itself would be subnormal (deviations of 1e-160) or overflow.

    Parameters
    ----------
    X : dask.array.Array (n, d)
        The corpus (checked here: NaN/inf rows raise a ValueError naming them).
    unit : bool
        Unit-normalise every row first (the ``normalize_first`` of the vector fixes).
    zero : {"raise", "ignore"}
        With ``unit``: refuse zero rows (they have no direction), naming them, or keep
        them at 0 (as the fixes' ``zero="ignore"``).
    name : str
        The argument's name in messages.

    Returns
    -------
    tuple
        The checked Dask array, ``n`` (int), the mean (d,), ``G`` (d, d) (float64) and
        the exponent ``e`` (int).

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]) * 1e-160,
    ...                   chunks=(2, 2))
    >>> _, n, mean, G, e = scaled_scatter(X)
    >>> (G / G[0, 0]).round(6).tolist(), bool(np.ldexp(G, 2 * e)[0, 0] < 1e-300)
    ([[1.0, 1.75], [1.75, 3.25]], True)
    """
    import dask

    X = check_dask_matrix(X, name)
    V.check_zero_option(zero)
    head, = compute(X[:min(X.shape[0], HEAD_ROWS)])
    head = head[np.isfinite(head).all(axis=1)]
    shift = _rows(head, unit)[0].mean(axis=0) if head.shape[0] else np.zeros(X.shape[1])
    shift_d = dask.delayed(shift)
    kernel = dask.delayed(_block_scatter, pure=True)
    parts = [kernel(b.data, b.start, shift_d, unit) for b in row_blocks(X)]
    total, = compute(tree_sum(parts, _merge))
    if total["n_bad"]:
        raise ValueError(f"{name} has {describe_rows(total['n_bad'], np.sort(total['bad']))} "
                         "with NaN or inf; drop or impute them first")
    if unit and zero == "raise" and total["n_zero"]:
        w = V.zero_vectors(np.sort(total["zero"]), total["n_zero"])
        raise V.DataError(f"{name} has {w.rows}: {w.they} {w.has} no direction, so {w.they} "
                          f"cannot be normalised; drop {w.them}, or pass zero='ignore' to "
                          f"keep {w.them} at 0")
    n, e = total["n"], total["e"]
    m = total["sum"] / n                               # mean of (x − s) / 2^e
    G = total["gram"] - n * np.outer(m, m)             # the scatter divided by 4^e
    with np.errstate(over="ignore"):
        mean = shift + np.ldexp(m, e)
    return X, n, mean, (G + G.T) / 2, e


def scatter(X, *, unit: bool = False, zero: str = "raise", name: str = "X"):
    """``(X, n, mean, scatter)`` of a Dask corpus: its rows' mean and ``Σ (x − μ)(x − μ)ᵀ``.

    Parameters
    ----------
    X, unit, zero, name
        As in :func:`scaled_scatter`.

    Returns
    -------
    tuple
        The checked Dask array, ``n`` (int), the mean (d,) and the scatter (d, d), both
        float64. Divide the scatter by ``n − 1`` for the covariance.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]), chunks=(2, 2))
    >>> _, n, mean, S = scatter(X)
    >>> n, mean.tolist(), S.tolist()
    (3, [3.0, 5.0], [[8.0, 14.0], [14.0, 26.0]])
    """
    X, n, mean, G, e = scaled_scatter(X, unit=unit, zero=zero, name=name)
    with np.errstate(over="ignore"):
        return X, n, mean, np.ldexp(G, 2 * e)


def pca_fit(X, n_components: int):
    """The covariance solver of :func:`vecdiag.pca` on a Dask corpus.

    Returns ``(X, mean, variances, components, total_variance, ratios)`` as the NumPy
    solver does: the top ``n_components`` eigenpairs of the covariance (components as
    rows, signs not yet fixed), variances clipped at 0, and ``variances / total_variance``
    computed before the scale is put back (None for data without variance).

    Parameters
    ----------
    X : dask.array.Array (n, d)
        At least 2 rows; NaN/inf rows raise naming them.
    n_components : int
        At most ``min(n, d)``.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]), chunks=(2, 2))
    >>> _, mean, var, comps, total, ratios = pca_fit(X, 1)
    >>> mean.tolist(), round(float(var[0]), 6), round(total, 6)
    ([1.0, 2.0], 5.0, 5.0)
    """
    X = check_dask_matrix(X, "X")
    n, d = X.shape
    if n < 2:
        raise ValueError(f"X has {n} row; PCA needs at least 2 vectors to measure variance "
                         "between them")
    c = V.check_positive_int(n_components, "n_components")
    if c > min(n, d):
        raise ValueError(f"n_components={c} is larger than min(n_samples, n_features) = "
                         f"min({n}, {d}) = {min(n, d)}; use n_components <= {min(n, d)}")
    X, n, mean, G, e = scaled_scatter(X)
    with np.errstate(over="ignore"):
        if not np.isfinite(np.ldexp(G, 2 * e)).all():
            raise ValueError("X has values so large that their squares overflow even in "
                             "float64; scale the vectors down first")
    # the eigenpairs of the scatter divided by 4^e: the same directions, and the ratios
    # keep their digits where the variances themselves are subnormal (deviations of 1e-160)
    values, vectors = np.linalg.eigh(G)
    values, components = values[::-1][:c].copy(), vectors[:, ::-1][:, :c].T.copy()
    variances, total = np.maximum(values, 0.0) / (n - 1), float(np.trace(G)) / (n - 1)
    ratios = variances / total if total > 0 else None
    if total > 0 and not np.ldexp(total, 2 * e) > 0:
        raise ValueError("X has variance 0.0 in floating point although its rows differ: its "
                         "values are so small that their squares underflow; multiply the "
                         "vectors by one common large number first")
    return X, mean, np.ldexp(variances, 2 * e), components, float(np.ldexp(total, 2 * e)), \
        ratios

