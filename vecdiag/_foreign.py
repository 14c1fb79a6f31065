"""Inputs that look like vectors but are not numbers yet: what each one is, and the
line that turns it into numbers. Read by :func:`vecdiag._validate.to_array` and its
dtype check, which stay the one gate; these only word the refusals."""

from __future__ import annotations

import numpy as np

from ._arrow import vector_lists
from ._options import format_rows

__all__ = ["raw_bytes_error", "bytes_rows_error", "structured_error", "pandas_numbers",
           "ragged_error", "arrow_vectors", "text_or_time_error",
           "container_error"]


def raw_bytes_error(x, name: str):
    """A TypeError for raw bytes (``bytes``, ``bytearray``, a memoryview of either), or
    None for anything else.

    A stored embedding read back from SQLite, Redis or a file is such a blob: NumPy would
    read a bytearray as one small integer per byte (a float32 vector of 3 numbers as 12
    numbers 0..255), a plausible-looking vector with the wrong values.

    >>> raw_bytes_error(bytearray(8), "a")
    TypeError('a is raw bytes (8 bytes), not numbers: decode a stored vector with np.frombuffer(a, dtype=np.float32) (the dtype it was written in); for text, decode it and embed it first (see vecdiag.embedders)')
    >>> raw_bytes_error(memoryview(b"ab").cast("B"), "a") is not None, raw_bytes_error([1.0], "a")
    (True, None)
    """
    blob = x.obj if isinstance(x, memoryview) else x
    if not isinstance(blob, (bytes, bytearray)):
        return None
    return TypeError(f"{name} is raw bytes ({len(blob)} bytes), not numbers: decode a stored "
                     f"vector with np.frombuffer({name}, dtype=np.float32) (the dtype it was "
                     "written in); for text, decode it and embed it first (see "
                     "vecdiag.embedders)")


def bytes_rows_error(dtype, name: str) -> TypeError:
    """The TypeError for an array of byte strings (dtype ``S``): one blob per vector."""
    return TypeError(f"{name} holds raw bytes (dtype {dtype}), not numbers: decode stored "
                     f"vectors with np.stack([np.frombuffer(b, dtype=np.float32) for b in "
                     f"{name}]) (the dtype they were written in); for text, decode it and "
                     "embed it first (see vecdiag.embedders)")



def structured_error(dtype, name: str) -> TypeError:
    """The TypeError for a structured or record array (named fields): the field that
    holds the vectors when one does (``("emb", "f4", (384,))``), else the numeric
    fields as columns.

    >>> structured_error(np.dtype([("id", "i8"), ("emb", "f4", (3,))]), "X")
    TypeError("X is a structured array with fields 'id', 'emb'; pass the field that holds the vectors, X['emb']")
    """
    fields = ", ".join(repr(f) for f in dtype.names)
    vectors = [f for f in dtype.names if dtype[f].shape]
    if vectors:
        how = f"pass the field that holds the vectors, {name}[{vectors[0]!r}]"
    else:
        numeric = [f for f in dtype.names if dtype[f].kind in "fiu"]
        how = ("pass its numeric fields as the columns of a matrix, numpy.lib."
               f"recfunctions.structured_to_unstructured({name}[{numeric!r}])")
    return TypeError(f"{name} is a structured array with fields {fields}; {how}")



def ragged_error(x, name: str) -> ValueError:
    """The ValueError for rows of different lengths (NumPy's own message names none):
    the rows whose length differs from the most common one, with their lengths.

    >>> ragged_error([[1, 2], [3], [4, 5], 6], "X")
    ValueError('X is ragged: most rows hold 2 numbers, 2 rows (1, 3) another length (1, a single number); every vector must have the same dimension: drop or re-embed those rows')
    """
    lengths = [len(row) if hasattr(row, "__len__") else None for row in x]
    counts: dict = {}
    for n in lengths:
        counts[n] = counts.get(n, 0) + 1
    usual = max(counts, key=lambda n: (counts[n], -lengths.index(n)))
    bad = [i for i, n in enumerate(lengths) if n != usual]
    if not bad:                      # rows alike at the top, ragged deeper down
        return ValueError(f"{name} is ragged: its entries have different shapes; every "
                          "vector must be a flat list of numbers of the same length")
    shown = ", ".join("a single number" if lengths[i] is None else str(lengths[i])
                      for i in bad[:5])
    held = "single numbers" if usual is None else f"{usual} numbers"
    return ValueError(f"{name} is ragged: most rows hold {held}, {format_rows(bad)} "
                      f"another length ({shown}); every vector must "
                      "have the same dimension: drop or re-embed those rows")


def pandas_numbers(x, name: str):
    """A pandas DataFrame or Series of numbers as an array, or None when it holds
    something else (left to NumPy and the dtype check).

    Numeric columns, nullable ones included, become float64 (float32 when every column
    is float32) with NaN for missing values. A column holding one vector per row (read
    from parquet) is refused with the np.stack that fixes it, and so are columns that are
    not numbers beside others (an id, a text, a bool flag), named.
    """
    if _pandas_numeric(x):
        # float32 columns stay float32 (the dtype policy); others become float64
        dtypes = list(x.dtypes) if hasattr(x, "columns") else [x.dtype]
        dtype = np.float32 if all(t == np.float32 for t in dtypes) else np.float64
        return x.to_numpy(dtype=dtype, na_value=np.nan)
    for column in getattr(x, "columns", ()):   # a column of vectors (from parquet)
        present = x[column].dropna()
        if len(present) and isinstance(present.iloc[0], (list, tuple, np.ndarray)):
            missing = np.flatnonzero(x[column].isna().to_numpy())
            gaps = "" if not missing.size else (
                f"; {format_rows(missing)} without a vector: drop or fill them first")
            raise TypeError(f"{name} is a DataFrame whose column {column!r} holds one "
                            f"vector per row; pass np.stack({name}[{column!r}]){gaps}")
    if hasattr(x, "columns"):
        _refuse_other_columns(x, name)
    return None


def _refuse_other_columns(frame, name: str) -> None:
    """Name the columns of a DataFrame that are not numbers (an id, a text, a flag beside
    the vector's columns): NumPy would make the whole frame one object array. A frame of
    booleans only is left to NumPy (binary vectors)."""
    from pandas.api import types

    other = [(c, t) for c, t in frame.dtypes.items()
             if not types.is_numeric_dtype(t) or types.is_bool_dtype(t)]
    if not other or (len(other) == frame.shape[1] and
                     all(types.is_bool_dtype(t) for _, t in other)):
        return
    shown = ", ".join(f"{c!r} ({t})" for c, t in other[:5])
    more = f" and {len(other) - 5} more" if len(other) > 5 else ""
    drop = [c for c, _ in other[:5]]
    many = len(other) > 1
    raise TypeError(f"{name} is a DataFrame with {len(other)} column{'s' if many else ''} "
                    f"that {'are' if many else 'is'} not numeric: {shown}{more}; "
                    f"pass the vector's columns only, e.g. {name}.drop(columns={drop!r}) "
                    "(numbers stored as text or objects: .astype(float) first)")


def _pandas_numeric(x) -> bool:
    """Whether a pandas DataFrame or Series holds numbers only (nullable dtypes such as
    Int64 and Float64 included; booleans and text not)."""
    from pandas.api import types

    dtypes = list(x.dtypes) if hasattr(x, "columns") else [x.dtype]
    return bool(dtypes) and all(types.is_numeric_dtype(t) and not types.is_bool_dtype(t)
                                for t in dtypes)


def arrow_vectors(x, name: str):
    """A pyarrow list array of vectors (one list per row, as a parquet column is read),
    chunked or not, as an ``(n, d)`` array in its values' dtype; None for any other
    pyarrow object. Decoded as :func:`vecdiag.load_vectors` decodes a parquet column:
    missing vectors, rows of another length and missing numbers are refused by row.
    """
    import pyarrow as pa        # the caller holds a pyarrow object: already imported

    if isinstance(x, pa.ChunkedArray):
        x = x.combine_chunks()
    if not (isinstance(x, pa.Array) and (pa.types.is_list(x.type) or
                                         pa.types.is_large_list(x.type) or
                                         pa.types.is_fixed_size_list(x.type))):
        return None

    def refuse(fault, rows, lengths, dim):
        if fault == "missing":
            raise ValueError(f"{name} has missing vectors (null) in {format_rows(rows)}; "
                             "drop or fill them first")
        if fault == "ragged":
            shown = ", ".join(str(int(lengths[r])) for r in rows[:5])
            raise ValueError(f"{name} is ragged: row 0 holds {dim} numbers, "
                             f"{format_rows(rows)} another length ({shown}); every vector "
                             "must have the same dimension: drop or re-embed those rows")
        raise ValueError(f"{name} has missing numbers (null) inside the vectors of "
                         f"{format_rows(rows)}; fill them first")

    return vector_lists(x, None, refuse)[0]


def text_or_time_error(arr: np.ndarray, name: str) -> TypeError:
    """The TypeError for text (dtype ``U``) or dates and durations (``M``, ``m``). Text
    that reads as numbers (a CSV column kept as strings: ``['0.12', '-0.5']``) gets the
    conversion that reads it.

    >>> text_or_time_error(np.array(["0.12", "-5e-1"]), "a")
    TypeError('a holds numbers written as text (dtype <U5); read them as numbers: np.asarray(a, dtype=float)')
    """
    if arr.dtype.kind in "mM":
        return TypeError(f"{name} has dtype {arr.dtype} (dates or durations), not vector "
                         "components; pass the embedding vectors, not a time column")
    try:
        arr.astype(np.float64)
    except (ValueError, TypeError):
        return TypeError(f"{name} has non-numeric dtype {arr.dtype}; pass numbers, not text")
    return TypeError(f"{name} holds numbers written as text (dtype {arr.dtype}); read them "
                     f"as numbers: np.asarray({name}, dtype=float)")


def container_error(x, name: str):
    """A TypeError for containers NumPy reads as one opaque object (a 0-d object array):
    a dict of vectors by id (how many people keep embeddings), a set, a generator or
    other one-pass iterator, a vd.Index, Dataset or vector store (``vd.stores``) given
    where vectors go; None for anything else.

    >>> container_error({"d1": [0.1, 0.2]}, "corpus")
    TypeError('corpus is a dict (1 entry); pass its vectors as one matrix, np.stack(list(corpus.values())), and its keys as the ids, list(corpus)')
    """
    from collections.abc import Iterator, Mapping, Set

    kind = f"{type(x).__module__}.{type(x).__name__}"
    if kind == "vecdiag.neighbors.index.Index":      # read as "dtype object" before
        return TypeError(f"{name} is a vd.Index ({x!r}), not an array of vectors; pass its "
                         f"vectors, {name}.vectors (to search it: {name}.search(queries, k))")
    if kind == "vecdiag.datasets._dataset.Dataset":
        return TypeError(f"{name} is a vd Dataset, not an array of vectors; pass "
                         f"{name}.corpus_embeddings (or {name}.query_embeddings)")
    if kind.startswith("vecdiag.stores") and hasattr(x, "fetch"):    # a vd.stores Store
        return TypeError(f"{name} is a vector store ({x.describe()}), not an array; pass "
                         f"its vectors, {name}.fetch().vectors ({name}.fetch() is a vd.Index, "
                         "which vd.diagnose and vd.hubness take with its ids and texts; "
                         "vd.audit and vd.explain_neighbors take the store itself)")
    if isinstance(x, Mapping):
        return TypeError(f"{name} is a {type(x).__name__} ({len(x)} entr"
                         f"{'y' if len(x) == 1 else 'ies'}); pass its vectors "
                         f"as one matrix, np.stack(list({name}.values())), and its keys as the "
                         f"ids, list({name})")
    if isinstance(x, (Set, Iterator)):
        return TypeError(f"{name} is a {type(x).__name__}, which NumPy reads as one object, "
                         f"not as rows; pass a list (list({name})) or an array of vectors")
    return None
