"""Reading vectors from files (for the command line) and writing files safely.

``.npy`` is loaded with ``allow_pickle=False`` (a pickle can run code), ``.npz`` takes
its only array (or the one named by ``key``), ``.parquet`` (or ``.pq``, as
:func:`vecdiag.open_vectors` reads it) takes a list-valued column.
Writes go to a temporary file in the same folder, then an atomic rename: a failure never
leaves a half-written report behind.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import _validate as V
from ._arrow import no_vector_column_fix, vector_lists

__all__ = ["load_vectors", "npz_vector_key", "atomic_write_text", "atomic_write_bytes"]


def load_vectors(path, *, key: str | None = None, name: str | None = None,
                 finite: bool = True) -> np.ndarray:
    """Load a 2-D array of vectors from ``.npy``, ``.npz`` or ``.parquet`` (``.pq``), checked.

    Parameters
    ----------
    path : str or Path
    key : str, optional
        Array name inside an ``.npz``, or the vector column of a ``.parquet`` file
        (default: the only array / the only list-valued column).
    name : str, optional
        How to call the input in error messages (default: the file name).
    finite : bool
        Refuse rows with NaN or inf (default). False keeps them, for
        :func:`vecdiag.diagnose`, which reports them as a finding.

    Notes
    -----
    A ``.npy`` of float32 or float64 is returned memory-mapped (read-only, nothing read
    until used). Do not write over that file in place while the array is in use:
    ``np.save`` on the same path truncates it, and touching the array then kills the
    process (SIGBUS, "Bus error"). Write the new vectors to another path, or save to a
    temporary file and ``os.replace`` it over the old one (the array keeps the old file).
    """
    path = Path(path)
    label = name or path.name
    if not path.exists():
        raise FileNotFoundError(f"{label}: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with open(path, "rb") as handle:
            head = handle.read(6)
        if head and head != b"\x93NUMPY":   # np.load would call any such file a pickle
            raise ValueError(f"{label}: {path} is not a .npy file (it does not start with "
                             "the .npy magic bytes); write it with np.save")
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        except EOFError:
            raise ValueError(f"{label}: {path} is empty or cut short (no array in it); "
                             "write it again with np.save") from None
        except ValueError as err:
            if "pickle" not in str(err) and "Python objects" not in str(err):
                raise ValueError(f"{label}: {path} is not a readable .npy file ({err}); "
                                 "write it again with np.save") from None
            raise ValueError(f"{label}: cannot load {path} without pickle ({err}); "
                             "save plain numeric arrays with np.save") from None
    elif suffix == ".npz":
        try:
            data = np.load(path, allow_pickle=False)
        except (EOFError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"{label}: {path} is not a readable .npz archive "
                             f"({err or 'empty'}); write it again with np.savez") from None
        with data:
            # the arrays only: a zip member that is no .npy (a readme.txt added to the
            # archive) is listed by np.load too, as its raw bytes
            arrays = {m[:-4] for m in data.zip.namelist() if m.endswith(".npy")}
            # an "ids" array beside the vectors is their ids, not a second candidate
            key = npz_vector_key({m: _npz_shape(data, m) for m in data.files if m in arrays},
                                 key, path, label)
            try:
                arr = data[key]
            except ValueError as err:   # an object array: np.load reads it only by pickle
                raise ValueError(f"{label}: cannot load the array {key!r} of {path} without "
                                 f"pickle ({err}); save plain numeric arrays with np.savez"
                                 ) from None
    elif suffix in (".parquet", ".pq"):
        arr = _load_parquet(path, key, label)
    else:
        raise ValueError(f"{label}: unsupported file type {suffix!r}; use .npy, .npz or .parquet")
    if np.ndim(arr) != 2:
        # as_matrix's hint is Python on the argument (q.npy.reshape(1, -1)); a file's
        # shape is fixed where it is written
        shape = np.shape(arr)
        fix = ("" if not shape else " (one vector: vector.reshape(1, -1))" if len(shape) == 1
               else f" (e.g. X.reshape(-1, {shape[-1]}))")
        raise ValueError(f"{label}: {path.name} holds a {len(shape)}-D array of shape {shape}, "
                         f"not one vector per row; write it as a 2-D array{fix}")
    return V.as_matrix(arr, label, finite=finite)


def npz_vector_key(shapes: dict, key: str | None, path, label: str = "") -> str:
    """The member of an .npz that holds the vectors: ``key`` when given, else its only
    2-D array, else its only array (whose shape the caller then refuses); the rule of
    :func:`load_vectors` and :func:`vecdiag.open_vectors`.

    ``shapes``: member name -> shape, read from the headers; ``label`` (how the caller
    names the input) and ``path`` start each error. An archive with no array, a ``key``
    it lacks, and, without ``key``, several arrays none of them 2-D (no key could name
    the vectors: they must be written as rows) or several 2-D arrays are refused, the
    members listed.

    Examples
    --------
    >>> npz_vector_key({"ids": (3,), "emb": (3, 8)}, None, "x.npz")
    'emb'
    >>> npz_vector_key({"a": (8,), "b": (8,)}, None, "x.npz")
    Traceback (most recent call last):
    ...
    ValueError: x.npz holds no 2-D array (members: a (8,), b (8,)); vectors are stored one per row: write them as a 2-D array
    """
    where = f"{label}: {path}" if label else str(path)
    if not shapes:   # np.savez(path) with no array, or a zip of other files
        raise ValueError(f"{where} holds no array; write the vectors into it with "
                         f"np.savez({str(path)!r}, embeddings=X)")
    listed = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
    if key is not None:
        if key not in shapes:
            raise ValueError(f"{where} has no array {key!r} (members: {listed}); check key=")
        return key
    matrices = [n for n, s in shapes.items() if len(s) == 2]
    if len(matrices) == 1 or len(shapes) == 1:
        return matrices[0] if matrices else next(iter(shapes))
    if not matrices:
        raise ValueError(f"{where} holds no 2-D array (members: {listed}); vectors are stored "
                         "one per row: write them as a 2-D array")
    raise ValueError(f"{where} holds {len(matrices)} 2-D arrays (members: {listed}); "
                     "name the vectors with key=")


def _npz_shape(data, name: str) -> tuple:
    """The shape of one .npz member from its header (nothing inflated)."""
    fmt = np.lib.format
    with data.zip.open(name + ".npy") as handle:
        major, _ = fmt.read_magic(handle)
        read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        return read(handle)[0]


def _load_parquet(path: Path, column: str | None, label: str) -> np.ndarray:
    """The vector column of a parquet file as ``(rows, dim)``, read from pyarrow's flat
    buffers: the values keep their dtype (float32 stays float32), and a list of text, a
    missing vector or number and a ragged row are refused naming the row."""
    from ._optional import require

    pa = require("pyarrow", "reading .parquet files")
    pq = require("pyarrow.parquet", "reading .parquet files")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{label}: {path} is not a readable parquet file ({err})") from None
    is_list = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    list_columns = [f.name for f in table.schema if any(t(f.type) for t in is_list)]
    if column is None:
        if len(list_columns) != 1:
            raise ValueError(f"{label}: {path} has {len(list_columns)} vector (list) columns "
                             f"({', '.join(list_columns) or 'none'}); "
                             + no_vector_column_fix(table.schema, list_columns))
        column = list_columns[0]
    if column not in table.column_names:
        raise ValueError(f"{label}: {path} has no column {column!r}")
    where = f"{label}: column {column!r} of {path}"
    kind = table.schema.field(column).type
    if column not in list_columns:
        raise TypeError(f"{where} is {kind}, not a vector column: a vector column holds a "
                        "list of numbers per row")
    value_type = kind.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)
            or pa.types.is_boolean(value_type)):
        raise TypeError(f"{where} holds lists of {value_type}, not numbers; vectors must be "
                        "real numbers (float32 or float64)")

    def refuse(fault, rows, lengths, dim):
        if fault == "missing":
            raise ValueError(f"{where} has missing vectors (null) in {V.format_rows(rows)}; "
                             "drop or fill them first")
        if fault == "ragged":
            raise ValueError(f"{where} is ragged: row 0 has {dim} values but "
                             f"{V.format_rows(rows)} do not (row {int(rows[0])} has "
                             f"{int(lengths[rows[0]])}); every row must hold the same "
                             "number of values")
        raise ValueError(f"{where} has missing numbers (null) inside the vectors of "
                         f"{V.format_rows(rows)}; fill them first")

    if table.num_rows == 0:     # no first row to take a dimension from: not "dimension 0"
        raise ValueError(f"{where} is empty (0 rows); pass at least one vector")
    return vector_lists(table.column(column).combine_chunks(), None, refuse)[0]


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (never half-written)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a directory; pass a file path inside it, "
                                f"e.g. {str(path / 'out')!r}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        # mkstemp would name its temporary file in the error, not the path asked for
        raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(folder)!r} "
                                "does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would:
        # an overwritten file keeps its own (a report made private stays private)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
