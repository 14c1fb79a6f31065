"""The ids of a faiss index's vectors given beside it (a sidecar): :func:`read_ids`, one
id per vector in the order they were added, from a list or a ``.txt`` (one per line),
``.npy`` or ``.json`` file."""

from __future__ import annotations

import json
import os

import numpy as np

from .. import _validate as V
from .._textfile import id_lines, read_text

__all__ = ["read_ids"]


def read_ids(ids, n: int) -> list:
    """A sidecar of ids: a sequence, or a .txt (one per line), .npy or .json file."""
    if isinstance(ids, (str, os.PathLike)):
        path = os.fspath(ids)
        if not os.path.isfile(path):
            raise ValueError(f"ids: no file at {path!r}; pass the ids file (one id per line) "
                             "or a list")
        if path.endswith(".npy"):
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError:      # an object array: loading it would run pickled code
                raise ValueError(f"ids: {path!r} holds a NumPy object array, which vecdiag "
                                 "does not unpickle; save the ids as strings or integers "
                                 "(np.save(path, np.asarray(ids, dtype=str)))") from None
            if arr.ndim != 1:
                raise ValueError(f"ids must be one id per vector (1-D), got shape {arr.shape} "
                                 f"in {path!r}")
            values = arr.tolist()
        elif path.endswith(".json"):
            try:
                values = json.loads(read_text(path, "ids"))
            except json.JSONDecodeError as err:
                raise ValueError(f"ids: {path!r} is not valid JSON ({err.msg}, line "
                                 f"{err.lineno}); write a JSON list of ids") from None
        else:
            values = id_lines(path, "ids")      # spaces around an id are not part of it
            # numbers only when every line is one written plainly ("007" stays a string)
            if values and all(v.lstrip("-").isdigit() and str(int(v)) == v for v in values):
                values = [int(v) for v in values]
    elif isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(f"ids must be one id per vector (1-D), got shape {ids.shape}")
        values = ids.tolist()
    elif isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError("ids must be a sequence of ids or the path of an ids file, got "
                        f"{type(ids).__name__}")
    else:
        values = list(V.check_ordered(ids, "ids"))
    if not isinstance(values, list):
        raise ValueError(f"ids must be a list of ids, one per vector; the file holds a "
                         f"{type(values).__name__}")
    # NumPy scalars (a list of np.int64 or np.str_) as the Python numbers and strings they
    # hold, as an array of ids is read (np.int64 is no int: it was refused as not an integer)
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    bad = [i for i, v in enumerate(values)      # (None is refused later, with its rows)
           if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int)))]
    if bad:
        raise ValueError(f"ids must be strings or integers, one per vector; entry {bad[0]} is "
                         f"{values[bad[0]]!r} ({len(bad)} such entries)")
    if len(values) != n:
        raise ValueError(f"ids has {len(values)} entries but the faiss index holds {n} vectors; "
                         "pass one id per vector, in the order they were added")
    return values
