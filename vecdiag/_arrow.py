"""Vectors from a pyarrow list column: the one decoder behind :func:`vecdiag.load_vectors`
(a whole parquet file) and :func:`vecdiag.open_vectors` (row groups of one), each of which
words its own errors (rows of the file, of the groups read)."""

from __future__ import annotations

import numpy as np

__all__ = ["vector_lists"]


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
