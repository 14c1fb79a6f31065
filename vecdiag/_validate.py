"""The one place where array-likes become arrays and bad input becomes an error.

Every public function passes its inputs through the helpers below; the private cores
behind them assume their inputs were already checked. Messages follow one pattern:
the argument's name, what is wrong, which rows (first few), and what to do about it.

dtype policy (see ``../shared/API.md``): float32 stays float32; every other real
dtype (float16, float64, ints, bools) becomes float64. Complex, string and object
input is refused. Inputs are never written to: when a function needs to change values
it works on a copy. The checks of options and ids live in :mod:`vecdiag._options` and
are read here too (``V.check_k``, ``V.check_ids``...).
"""

from __future__ import annotations

import numpy as np

from ._foreign import (arrow_vectors, bytes_rows_error, container_error, pandas_numbers,
                       ragged_error, raw_bytes_error, structured_error, text_or_time_error)
from ._errors import DataError, constant_data_error, reworded, zero_vectors  # noqa: F401
from ._options import (check_bm25_parameters, check_bool, check_choice, check_ids,  # noqa: F401
                       check_index_metric, check_k,
                       check_metric, check_ordered, check_positive_int,
                       check_positive_number, check_show_progress, check_zero_option,
                       format_rows, id_str)
from ._seeds import check_random_state, check_seed

__all__ = [
    "as_float32",
    "repeats",
    "as_matrix",
    "to_array",
    "check_finite",
    "check_pca_input",
    "constant_data_error",
    "DataError", "reworded", "zero_vectors",
    "as_vector",
    "as_vectors",
    "check_bool",
    "check_choice",
    "check_ids",
    "check_k",
    "check_metric",
    "check_ordered",
    "check_positive_int",
    "check_positive_number",
    "check_random_state", "check_seed",
    "check_show_progress",
    "check_bm25_parameters",
    "check_index_metric",
    "id_str",
    "check_same_dim",
    "check_zero_option",
    "format_rows",
    "text_list",
    "zero_rows",
]

# torch float dtypes NumPy has no dtype for (np.asarray fails inside torch on them)
_TORCH_FLOATS_NUMPY_LACKS = frozenset({"torch.bfloat16", "torch.float8_e4m3fn",
                                       "torch.float8_e4m3fnuz", "torch.float8_e5m2",
                                       "torch.float8_e5m2fnuz", "torch.float8_e8m0fnu"})
# Rows checked per step when scanning for NaN/inf, so that a memmap larger than RAM is
# read in pieces instead of materialising an (n, d) boolean mask.
_SCAN_ROWS = 65_536


def repeats(values) -> list:
    """Positions of the entries equal to an earlier one (hashable values), ascending.

    Examples
    --------
    >>> repeats(["a", "b", "a", "c", "b", "a"])
    [2, 4, 5]
    """
    seen, out = set(), []
    for i, value in enumerate(values):
        if value in seen:
            out.append(i)
        seen.add(value)
    return out


def text_list(values, name: str) -> list:
    """``values`` as a list of strings, one per row: what :func:`check_ordered` refuses,
    and entries that are not strings (None, numbers, bytes) named by row.

    Examples
    --------
    >>> text_list(("a cat", "a dog"), "texts")
    ['a cat', 'a dog']
    >>> text_list(["a cat", None], "texts")
    Traceback (most recent call last):
    ...
    TypeError: texts must hold strings; 1 row (1) are not (first is NoneType)
    """
    out = list(check_ordered(values, name))
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name} must hold strings; {format_rows(bad)} are not "
                        f"(first is {type(out[bad[0]]).__name__})")
    return out


def to_array(x, name: str) -> np.ndarray:
    """np.asarray with messages for the usual foreign objects (torch, ragged lists).

    A NumPy array or memmap comes back as it is; other ndarray subclasses become plain
    arrays (``np.matrix`` would keep every row 2-D); a masked array only without masked
    entries (its mask would otherwise be silently dropped); pandas numeric columns,
    nullable ones included, as float64 (float32 when every column is float32) with NaN
    for missing values; a list holding tensors (one per vector, at any row) row by row,
    each tensor read as a tensor is; a pyarrow list array (a parquet column of vectors)
    in its values' dtype. Raw bytes are refused (np.frombuffer decodes a stored vector).
    """
    if type(x) is np.ndarray or isinstance(x, np.memmap):
        return x
    if isinstance(x, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(x)
        if mask.any():
            if mask.ndim >= 2:
                where = "in " + format_rows(np.flatnonzero(
                    mask.reshape(mask.shape[0], -1).any(axis=1)))
            else:
                where = "at entry " + ", ".join(map(str, np.flatnonzero(mask.ravel())[:10]))
            raise ValueError(f"{name} is a masked array with masked entries {where}; fill "
                             f"them ({name}.filled(value)) or drop them first")
        return np.asarray(x.data)
    if isinstance(x, np.ndarray):
        return np.asarray(x)
    if isinstance(x, str):
        raise TypeError(f"{name} must be numeric vectors, got a string {x[:40]!r}; "
                        "embed the text first (see vecdiag.embedders)")
    if (err := raw_bytes_error(x, name) or container_error(x, name)) is not None:
        raise err          # a stored blob (read as 0..255), a dict, a generator, a Store
    if x is None:
        raise TypeError(f"{name} is None; pass a list, a NumPy array or a tensor of numbers")
    module = type(x).__module__ or ""
    if module.startswith("scipy.sparse"):   # np.asarray makes it a 0-d object array
        raise TypeError(f"{name} is a scipy sparse matrix of shape {x.shape}; vecdiag "
                        f"works on dense vectors: pass {name}.toarray() (or reduce it "
                        "first, e.g. with sklearn's TruncatedSVD)")
    if isinstance(x, (list, tuple)) and any((type(row).__module__ or "").startswith("torch")
                                            for row in x):
        # tensors among the vectors (the first or any other): each read as a tensor is
        # (bfloat16, grad), the other rows as they are
        x = [to_array(row, f"{name}[{i}]") if (type(row).__module__ or "").startswith("torch")
             else row for i, row in enumerate(x)]
    # torch tensors that need grad or live on a GPU refuse __array__: say how to fix it.
    if module.startswith("torch"):
        if getattr(x, "requires_grad", False):
            raise TypeError(f"{name} is a torch tensor that requires grad; "
                            f"pass {name}.detach() instead")
        device = getattr(getattr(x, "device", None), "type", "cpu")
        if device != "cpu":
            raise TypeError(f"{name} is a torch tensor on {device!r}; pass {name}.cpu() instead")
        if str(getattr(x, "layout", "torch.strided")) != "torch.strided":
            raise TypeError(f"{name} is a sparse torch tensor; pass {name}.to_dense()")
        if str(getattr(x, "dtype", "")) in _TORCH_FLOATS_NUMPY_LACKS:
            x = x.float()           # exact: each of these widens to float32 without loss
    if module.startswith("pyarrow") and (vectors := arrow_vectors(x, name)) is not None:
        return vectors                  # a list column of vectors (parquet, Arrow)
    if module.startswith("pandas") and hasattr(x, "to_numpy"):
        if (numbers := pandas_numbers(x, name)) is not None:
            return numbers
    try:
        return np.asarray(x)
    except ValueError as err:  # ragged nested lists
        if isinstance(x, (list, tuple)) and x:
            raise ragged_error(x, name) from None
        raise ValueError(f"{name} is ragged: its rows have different lengths ({err}); "
                         "every vector must have the same dimension") from None


def _check_dtype(arr: np.ndarray, name: str) -> np.ndarray:
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; embeddings must be real: "
                        f"pass {name}.real if the imaginary part is zero")
    if kind in "OUSV":
        if kind == "O":
            if arr.ndim == 1 and arr.size and isinstance(arr.flat[0], (list, tuple, np.ndarray)):
                # a column of vectors (a Series read from parquet): one array per entry,
                # which np.asarray(..., dtype=float) cannot turn into numbers
                raise TypeError(f"{name} holds one vector per entry (a column of vectors, "
                                f"dtype object); stack them into a matrix: np.stack({name})")
            raise TypeError(f"{name} has dtype object (mixed or ragged entries, or numbers "
                            "held as Python objects); pass an array of numbers with one row "
                            f"per vector, e.g. np.asarray({name}, dtype=float)")
        if kind == "S":
            raise bytes_rows_error(arr.dtype, name)
        if arr.dtype.names:
            raise structured_error(arr.dtype, name)
        raise text_or_time_error(arr, name)
    if kind in "mM":
        raise text_or_time_error(arr, name)
    if kind not in "fiub":
        raise TypeError(f"{name} has unsupported dtype {arr.dtype}")
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 4:
        # big-endian float32 ('>f4', from another machine or a Java tool) is float32
        # input, which stays float32: in native order, not widened to float64
        return arr.astype(np.float32)
    return arr.astype(np.float64)


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise if any element is NaN or inf, naming the first offending rows."""
    if arr.ndim == 1:
        bad = ~np.isfinite(arr)
        if bad.any():
            where = np.flatnonzero(bad)
            raise ValueError(f"{name} has {where.size} non-finite values (NaN or inf) at "
                             f"positions {', '.join(map(str, where[:5]))}; "
                             "drop or impute them first")
        return
    bad_rows = []
    for start in range(0, arr.shape[0], _SCAN_ROWS):
        block = arr[start:start + _SCAN_ROWS]
        if not np.isfinite(block).all():
            rows = np.flatnonzero(~np.isfinite(block).all(axis=1)) + start
            bad_rows.extend(rows.tolist())
    if bad_rows:
        raise ValueError(f"{name} has {format_rows(bad_rows)} with NaN or inf; "
                         "drop or impute them first")


def as_vectors(x, name: str = "X", *, ndim: int | tuple[int, ...] = (1, 2),
               allow_empty: bool = False, finite: bool = True) -> np.ndarray:
    """Turn an array-like into a checked float32/float64 array of 1 or 2 dimensions.

    Parameters
    ----------
    x : array-like
        List, nested list, ndarray (any real dtype, C or F order, memmap) or an object
        with ``__array__`` such as a CPU torch tensor.
    name : str
        The argument's name, used in error messages.
    ndim : int or tuple of int
        Accepted number of dimensions.
    allow_empty : bool
        Whether zero rows are acceptable (an empty query set, for instance).
    finite : bool
        Refuse NaN and inf (the default).

    Returns
    -------
    ndarray
        float32 if the input was float32, float64 otherwise, in C order (a memmap is
        kept as it is). Not a copy when the input already had the right dtype and order:
        callers must not write to it.

    Examples
    --------
    >>> as_vectors([[1, 2], [3, 4]], "corpus").dtype
    dtype('float64')
    >>> as_vectors([[1.0, float("nan")]], "corpus")
    Traceback (most recent call last):
    ...
    ValueError: corpus has 1 row (0) with NaN or inf; drop or impute them first
    """
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    arr = to_array(x, name)
    arr = _check_dtype(arr, name)
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        hint = ""
        if arr.ndim == 0:
            hint = "; wrap a single number in a list"
        elif arr.ndim == 1 and 2 in ndims and arr.size == 0:
            # [] has no dimension: reshape(1, -1) would make one vector of dimension 0
            hint = ("; for no vectors at all pass an array of shape (0, d), e.g. "
                    "np.empty((0, d)) with d the vectors' dimension")
        elif arr.ndim == 1 and 2 in ndims:
            hint = f"; use {name}.reshape(1, -1) for a single vector"
        elif arr.ndim == 2 and 1 in ndims:
            hint = f"; pass one row, e.g. {name}[0]"
        elif arr.ndim > 2:
            hint = f"; reshape it to (n_vectors, dim), e.g. {name}.reshape(-1, {arr.shape[-1]})"
        raise ValueError(f"{name} must be {want}, got {arr.ndim}-D with shape {arr.shape}{hint}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} has vectors of dimension 0 (shape {arr.shape})")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one "
                         + ("vector" if arr.ndim == 2 else "number"))
    if finite:
        check_finite(arr, name)
    if isinstance(arr, np.ndarray) and not isinstance(arr, np.memmap) \
            and not arr.flags.c_contiguous:
        # subtle: NumPy's sums and BLAS products round in an order that follows the memory
        # layout, so a Fortran-ordered or strided copy of the same numbers scored and
        # ranked differently in the last bits (explain's scores, a diagnosis's moments);
        # in memory every input is read in C order (a memmap is read block by block, each
        # block made C-ordered where it is scored, see vecdiag.neighbors.rows)
        arr = np.ascontiguousarray(arr)
    return arr


def as_float32(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X as contiguous float32, the rows that are not finite there)``: a finite
    float64 value beyond float32's range (1e300) is inf once stored, and a caller names
    those rows in its own error.

    >>> out, bad = as_float32(np.array([[1.0, 2.0], [1e300, 0.0]]))
    >>> out.dtype, bad.tolist()
    (dtype('float32'), [1])
    """
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(X, dtype=np.float32)
    return out, np.flatnonzero(~np.isfinite(out).all(axis=1))


def as_matrix(x, name: str = "X", **kwargs) -> np.ndarray:
    """A 2-D set of vectors ``(n, d)``; see :func:`as_vectors`."""
    return as_vectors(x, name, ndim=2, **kwargs)


def as_vector(x, name: str = "x", **kwargs) -> np.ndarray:
    """One 1-D vector ``(d,)``; see :func:`as_vectors`."""
    return as_vectors(x, name, ndim=1, **kwargs)


def check_same_dim(a: np.ndarray, name_a: str, b: np.ndarray, name_b: str,
                   fix: str = "") -> None:
    """Raise when two checked arrays have vectors of different dimensions (``fix``: a
    sentence appended to the message, what to do instead)."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"dimension mismatch: {name_a} has dimension {a.shape[-1]} but "
                         f"{name_b} has dimension {b.shape[-1]}; both must come from the "
                         f"same embedding model{'. ' + fix if fix else ''}")


def zero_rows(norms: np.ndarray, name: str, zero: str = "raise", *,
              ignorable: bool = False) -> np.ndarray:
    """Boolean mask of zero-length vectors; raise for them unless ``zero='ignore'``.

    ``norms`` is a scalar or a 1-D array of already computed norms. ``ignorable``: the
    caller takes a ``zero=`` option, so the error may suggest ``zero='ignore'``.
    """
    check_zero_option(zero)
    norms = np.atleast_1d(norms)
    mask = norms == 0
    if zero == "raise" and mask.any():
        rows = np.flatnonzero(mask)
        if norms.size == 1:
            what, it = "is a zero vector, which has", "it"
        else:
            w = zero_vectors(rows)
            what, it = f"has {w.rows}, which {w.has}", w.them
        how = f"drop {it}, or pass zero='ignore' to score {it} 0.0" if ignorable else \
            f"drop {it} first"
        raise DataError(f"{name} {what} no direction, so its cosine is undefined; {how}")
    return mask


# --- PCA inputs (vecdiag.pca and vecdiag.scratch.pca) ------------------------------------

def check_pca_input(X, n_components, *, finite: bool = True) -> tuple[np.ndarray, int]:
    """Validate ``X`` (2-D, finite, at least 2 rows) and ``n_components <= min(n, d)``.

    Shared by :func:`vecdiag.pca` and :func:`vecdiag.scratch.pca`. ``finite=False``
    leaves the NaN/inf scan to the caller.
    """
    X = as_matrix(X, "X", finite=finite)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"X has {n} row; PCA needs at least 2 vectors to measure variance "
                         "between them")
    n_components = check_positive_int(n_components, "n_components")
    if n_components > min(n, d):
        raise ValueError(f"n_components={n_components} is larger than min(n_samples, "
                         f"n_features) = min({n}, {d}) = {min(n, d)}; use "
                         f"n_components <= {min(n, d)}")
    return X, n_components
