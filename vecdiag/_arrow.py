"""Vectors from a pyarrow list column: the one decoder behind :func:`vecdiag.load_vectors`
(a whole parquet file) and :func:`vecdiag.open_vectors` (row groups of one), each of which
words its own errors (rows of the file, of the groups read)."""

from __future__ import annotations

import numpy as np

__all__ = ["vector_lists", "no_vector_column_fix"]


def vector_lists(lists, dim, refuse):
    """``(rows, dim)`` values of a combined pyarrow list array, in the values' own dtype,
    and ``dim``.

    ``dim`` None takes the first row's length (0 without rows). ``refuse(fault, rows,
    lengths, dim)`` is called for the first fault found, and must raise: ``"missing"``
    (null vectors), ``"ragged"`` (rows of another length; ``lengths`` of every row) or
    ``"holes"`` (null numbers inside the vectors), ``rows`` the sorted rows at fault.
    """
    if lists.null_count:
        refuse("missing", np.flatnonzero(~lists.is_valid().to_numpy(zero_copy_only=False)),
               None, dim)
    if hasattr(lists, "offsets"):                     # variable-length lists
        lengths = np.diff(lists.offsets.to_numpy())
        if dim is None:
            dim = int(lengths[0]) if lengths.size else 0
        bad = np.flatnonzero(lengths != dim)
        if bad.size:
            refuse("ragged", bad, lengths, dim)
    elif dim is None:
        dim = lists.type.list_size
    values = lists.flatten()
    if values.null_count:           # every row holds dim values here: value i is in row i // dim
        holes = np.flatnonzero(~values.is_valid().to_numpy(zero_copy_only=False))
        refuse("holes", np.unique(holes // max(dim, 1)), None, dim)
    return values.to_numpy(zero_copy_only=False).reshape(len(lists), dim), dim


def no_vector_column_fix(schema, vectors: list) -> str:
    """What to do when a parquet file has no vector (list) column, or several: the end
    of :func:`vecdiag.load_vectors`' and :func:`vecdiag.open_vectors`' error.

    Several: name the vector column with ``key=``. None: a frame written with one column
    per dimension (``pd.DataFrame(X).to_parquet(path)``) has no column to name, so the fix
    is to write the vectors as one list column (or as ``.npy``).

    >>> import pyarrow as pa
    >>> no_vector_column_fix(pa.schema([("0", pa.float32()), ("1", pa.float32())]), [])
    "columns of one number per row ('0', '1': 2 in all) are not read as vectors (one dimension per column); write the vectors as one list column, pd.DataFrame({'embedding': list(X)}).to_parquet(path), or save them with np.save(path, X)"
    """
    if vectors:
        return "name the vector column with key="
    import pyarrow as pa

    numbers = [f.name for f in schema if pa.types.is_floating(f.type)
               or pa.types.is_integer(f.type)]
    held = "" if not numbers else (
        f"columns of one number per row ({', '.join(map(repr, numbers[:3]))}"
        f"{', ...' if len(numbers) > 3 else ''}: {len(numbers)} in all) are not read as "
        "vectors (one dimension per column); ")
    return (f"{held}write the vectors as one list column, pd.DataFrame({{'embedding': "
            "list(X)}).to_parquet(path), or save them with np.save(path, X)")
