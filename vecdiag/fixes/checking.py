"""How the vector fixes check what they are given, and name it in their errors.

Shared by the transformers of :mod:`.transformers` (scikit-learn's ``validate_data``
under vecdiag's dtype policy and messages) and by the fix trials, which fit on the corpus
and apply to the queries (:func:`fit_as`, :func:`transform_as`: errors name the array).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import _validate as V
from ..linalg import normalize
from ..diagnostics.duplicates import groups_from_hashes, hash_multipliers, row_hashes
from ..scale.chunks import block_pieces

__all__ = ["fit_as", "transform_as", "copies_alike"]


def _check(estimator, X, *, reset: bool) -> np.ndarray:
    """sklearn's validation (sets/checks ``n_features_in_``), vecdiag's dtype policy.

    vecdiag's messages first for what sklearn words poorly: strings, None, ragged lists,
    torch tensors, and NaN/inf rows (named by index); sklearn's for everything else.
    """
    given = X
    if not hasattr(X, "tocsr"):  # sparse input: sklearn refuses it in its own words
        X = V.to_array(X, "X")
        if X.dtype.kind == "f" and X.ndim == 2:
            V.check_finite(X, "X")
    # a DataFrame goes to sklearn as given, which records its column names at fit
    # (feature_names_in_, get_feature_names_out) and checks them at transform
    return validate_data(estimator, given if hasattr(given, "columns") else X, reset=reset,
                         dtype=[np.float64, np.float32], ensure_all_finite=True, copy=False)


def _unit_rows(X: np.ndarray, zero: str) -> np.ndarray:
    """Rows divided by their length; zero rows refused (they have no direction) unless
    ``zero="ignore"``, which leaves them at 0. :func:`vecdiag.linalg.normalize`, not
    ``X / norms``: a length past the float range (float32 [3e38, 3e38]) is inf and gave a
    row of zeros, a subnormal one a row of length sqrt(2)."""
    return normalize(X, zero=zero)


def _absent(est, U: np.ndarray) -> np.ndarray | None:
    """Rows of the prepared ``U`` that are all zero and that ``zero="ignore"`` keeps at
    zero through the whole fix (None: none, or the option is off, or rows are not
    normalised). Such a row has no direction: centring would make it ``-mean``, a
    direction of its own that ranked an empty document first for every query."""
    if getattr(est, "zero", "raise") != "ignore" or not getattr(est, "normalize_first", True):
        return None
    rows = ~U.any(axis=1)
    return rows if rows.any() else None


def _keep_absent(est, U: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (the fix's rows of ``U``) with the :func:`_absent` rows set back to 0."""
    rows = _absent(est, U)
    if rows is not None:
        out[rows] = 0
    return out


def copies_alike(U: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (a transform of the rows of ``U``, a new array) with each row that repeats
    a lower row of ``U`` set to that row's output: BLAS kernels compute the rows at the
    edge of a tile apart, and an exact copy came out a last bit off (the tie rule then
    ranked copies out of index order). The in-memory transforms and a Dask block's
    pieces (:mod:`vecdiag.scale.fit`) both end here.

    A copy is a row of equal values: -0.0 equals 0.0 (the same vector, with the same
    score against every query under every metric); compared as bytes, a copy holding
    -0.0 where its original holds 0.0 came out 1e-16 off it in memory, and tied to it
    in a Dask block of several pieces. Rows are hashed a piece at a time
    (:func:`vecdiag.scale.chunks.block_pieces`), only colliding rows compared.

    Examples
    --------
    >>> U = np.array([[0.0, 1.0], [1.0, 0.0], [-0.0, 1.0]])
    >>> copies_alike(U, np.array([[5.0], [6.0], [5.000001]])).ravel().tolist()
    [5.0, 6.0, 5.0]
    """
    multipliers = hash_multipliers(U.shape[1], U.dtype)
    hashes = np.concatenate([row_hashes(P, multipliers) for _, P in block_pieces(U)])
    for group in groups_from_hashes(hashes, lambda rows: U[rows]):
        out[group[1:]] = out[group[0]]
    return out


def _prepare(est, X: np.ndarray) -> np.ndarray:
    return _unit_rows(X, est.zero) if V.check_bool(est.normalize_first, "normalize_first") \
        else X


def transform_as(fix, X, name: str):
    """``fix.transform(X)``, its errors naming ``X`` by ``name`` ("queries", "corpus"):
    a fitted transformer speaks of "X", as scikit-learn's do, which in a fix trial left
    the user guessing which array held the zero row. Zero rows (an empty batch of
    queries, which scikit-learn's check refuses) give zero rows of the output's width."""
    if X.shape[0] == 0:
        check_is_fitted(fix)
        return np.empty((0, len(fix.get_feature_names_out())), dtype=X.dtype)
    return _named(fix.transform, X, name)


def fit_as(fix, X, name: str):
    """``fix.fit(X)``, its errors naming ``X`` by ``name`` (see :func:`transform_as`)."""
    return _named(fix.fit, X, name)


def _named(method, X, name: str):
    try:
        return method(X)
    except ValueError as err:
        text = str(err)
        if not text.startswith("X "):
            raise
        raise V.reworded(err, f"{name} {text[2:]}") from err
