"""One vector file, described without reading its values, and read a slice at a time.

:func:`describe` looks at a ``.npy``, ``.npz`` or ``.parquet`` file's header (for parquet:
its schema and row-group sizes) and returns a :class:`FileInfo`; the readers
(:func:`read_npy_rows`, :func:`read_npz_array`, :func:`read_parquet_groups`) are what one
Dask task runs: each opens the file itself (a memmap, a zip member, a few row groups), so
no array and no open file ever travels inside a task graph.

dtype policy (as :mod:`vecdiag._validate`): float32 stays float32; other real dtypes
(float16, integers, booleans) are read as float64; anything else is refused.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import numpy as np

from .._arrow import no_vector_column_fix, vector_lists
from .._optional import require
from .._textfile import id_lines
from ..io import npz_vector_key
from .direct import read_rows
from .npy import HEADER_LOCK, npy_header, npy_layout, npy_memmap

__all__ = ["FileInfo", "describe", "out_dtype", "read_npy_rows", "read_npz_array",
           "read_parquet_groups", "read_sidecar_ids", "ID_COLUMNS"]

# parquet columns taken as the row ids, in this order of preference
ID_COLUMNS = ("id", "_id", "doc_id")


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """What :func:`describe` learnt about one file, values unread."""

    path: str
    kind: str               # "npy" | "npz" | "parquet"
    rows: int
    dim: int
    dtype: np.dtype         # the dtype stored in the file (parquet: of the list's values)
    key: str | None = None  # npz member / parquet vector column
    groups: tuple = ()      # parquet: rows per row group
    id_source: str | None = None  # npz member, parquet column or sidecar file with the ids


def out_dtype(dtype) -> np.dtype:
    """float32 and float64 kept; every other real dtype read as float64."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (4, 8):   # either byte order: native out
        return dtype.newbyteorder("=")
    return np.dtype(np.float64)


def _check_numeric(dtype, where: str) -> None:
    if np.dtype(dtype).kind not in "fiub":
        raise TypeError(f"{where} holds {np.dtype(dtype)} values, not numbers; vectors must be "
                        "real numbers (float32 or float64)")


def describe(path: Path, kind: str, key: str | None) -> FileInfo:
    """Shape, dtype and id source of one file, from its header only."""
    return {"npy": _describe_npy, "npz": _describe_npz,
            "parquet": _describe_parquet}[kind](Path(path), key)


# ---------------------------------------------------------------- .npy
def _describe_npy(path: Path, key) -> FileInfo:
    if key is not None:
        raise ValueError(f"key={key!r} names an array in an .npz or a column in a .parquet "
                         f"file; {path.name} is a .npy file with one array: drop key=")
    with open(path, "rb") as handle:
        shape, _, dtype = npy_header(handle, str(path))
    return FileInfo(str(path), "npy", *_rows_dim(shape, dtype, str(path)), dtype,
                    id_source=_sidecar(path))


def _rows_dim(shape, dtype, where: str) -> tuple[int, int]:
    _check_numeric(dtype, where)
    if len(shape) != 2:
        raise ValueError(f"{where} holds an array of shape {tuple(shape)}; vectors must be a "
                         "2-D array (rows, dimensions)")
    return int(shape[0]), int(shape[1])


def _sidecar(path: Path) -> str | None:
    """``<stem>_ids.txt`` next to a .npy shard: its ids, one per line."""
    side = path.with_name(f"{path.stem}_ids.txt")
    return str(side) if side.is_file() else None


def read_sidecar_ids(path: str, rows: int) -> np.ndarray:
    """The ids of a sidecar file, read as every other ids file
    (:func:`vecdiag._textfile.id_lines`): one per line, spaces around an id dropped (a
    qrels file could never name "d1 "), a blank line before the last id refused, only
    ``\n`` ending a line."""
    lines = id_lines(path, str(path))
    if len(lines) != rows:
        raise ValueError(f"{path} lists {len(lines)} ids but its shard has {rows} rows; give "
                         "exactly one id per row, in row order")
    return np.asarray(lines, dtype=object)


def read_npy_rows(path: str, start: int, stop: int, dtype, direct: bool = False,
                  expect: tuple | None = None) -> np.ndarray:
    """Rows ``start:stop`` of a .npy file, read by this task itself: one ``pread`` into a
    new array (``O_DIRECT`` when ``direct``, see :mod:`.direct`) when the file is C-ordered
    in ``dtype``, else through a memmap and converted.

    ``expect``: ``(shape, stored dtype)`` the file had when its array was opened; a file
    written over since then (other rows, dimension or dtype) is an error, not rows of
    another shape than the array's."""
    layout = npy_layout(path)
    _same_as_opened(path, expect, (layout[1], layout[2]))
    if layout[2] == np.dtype(dtype) and layout[2].isnative:
        rows = read_rows(path, start, stop, layout, direct=direct)
        if rows is not None:
            return rows
    offset, shape, stored, _ = layout
    missing = offset + shape[0] * shape[1] * stored.itemsize - os.path.getsize(path)
    if missing > 0:                 # np.load's memmap: "mmap length is greater than file size"
        raise ValueError(f"{path} ended {missing} bytes before the rows its header promises "
                         "(a truncated file?); re-save it")
    rows = npy_memmap(path, layout)[start:stop]
    return np.array(rows, dtype=dtype, order="C")


def _same_as_opened(path: str, expect, now) -> None:
    """Refuse a file written over since :func:`describe` read it: ``expect`` and ``now``
    are ``(shape, dtype)`` (.npy, .npz) or, for parquet, ``(rows, row groups, rows of
    each row group the task reads)`` (a few numbers, whatever the number of groups)."""
    def plain(what):
        if isinstance(what[1], np.dtype):
            return tuple(int(n) for n in what[0]), what[1]
        return int(what[0]), int(what[1]), tuple(int(n) for n in what[2])

    def shown(what):
        if isinstance(what[1], np.dtype):
            return f"{what[0]} {what[1]}"
        return (f"{what[0]} rows in {what[1]} row group{'s' * (what[1] != 1)}, those read "
                f"here of {', '.join(map(str, what[2])) or 'no'} rows")

    if expect is not None and plain(expect) != plain(now):
        raise ValueError(f"{path} changed after vd.open_vectors opened it: it held "
                         f"{shown(plain(expect))}, it now holds {shown(plain(now))}; call "
                         "vd.open_vectors again")


# ---------------------------------------------------------------- .npz
def _npz_members(path: Path) -> dict:
    """Member name -> (shape, dtype), from each member's .npy header (nothing inflated
    beyond the header)."""
    members = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".npy"):
                    with archive.open(name) as handle:
                        shape, _, dtype = npy_header(handle, f"{path}[{name}]")
                    members[name[:-4]] = (shape, dtype)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not an .npz archive (np.savez writes one)") from None
    return members


def _describe_npz(path: Path, key) -> FileInfo:
    members = _npz_members(path)
    key = npz_vector_key({n: s for n, (s, _) in members.items()}, key, str(path))
    shape, dtype = members[key]
    rows, dim = _rows_dim(shape, dtype, f"{path}[{key}]")
    ids = next((n for n in ("ids", "id") if n in members and n != key), None)
    if ids is not None:
        id_shape, id_dtype = members[ids]
        if tuple(id_shape) != (rows,):
            raise ValueError(f"{path}[{ids}] has shape {tuple(id_shape)} but {path}[{key}] "
                             f"has {rows} rows; store one id per row (or no ids)")
        if np.dtype(id_dtype).kind == "O":
            raise ValueError(f"{path}[{ids}] holds Python objects, which np.load reads only "
                             "with pickle; save the ids as strings or integers "
                             "(np.asarray(ids, dtype=str))")
    return FileInfo(str(path), "npz", rows, dim, dtype, key=key, id_source=ids)


def read_npz_array(path: str, key: str, dtype, expect: tuple | None = None) -> np.ndarray:
    """The whole array ``key`` of an .npz (a zip member cannot be read in part);
    ``expect``, ``(shape, stored dtype)`` when opened, as for :func:`read_npy_rows`.

    Only the member's header is parsed under :data:`~vecdiag.scale.npy.HEADER_LOCK`: its
    body is inflated outside it, so the tasks reading other files of one corpus inflate
    theirs at the same time (``np.load(...)[key]`` held the lock for the whole read).
    """
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            shape, fortran, stored = npy_header(member, f"{path}[{key}]")
            _same_as_opened(path, expect, (shape, stored))
            body = member.read()
    except KeyError:                    # no member of that name in the archive
        raise ValueError(f"{path} changed after vd.open_vectors opened it: it has no "
                         f"array {key!r} now; call vd.open_vectors again") from None
    except zipfile.BadZipFile:
        raise ValueError(f"{path} changed after vd.open_vectors opened it: it is no longer "
                         "an .npz archive; call vd.open_vectors again") from None
    size = int(np.prod(shape)) * stored.itemsize
    if stored.hasobject or len(body) != size:
        raise ValueError(f"{path}[{key}] holds {len(body)} bytes after its header, where "
                         f"{tuple(shape)} {stored} needs {size}; re-save it with np.savez")
    arr = np.frombuffer(body, dtype=stored).reshape(shape, order="F" if fortran else "C")
    return np.array(arr, dtype=dtype, order="C")


def read_npz_ids(path: str, member: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as data:
        with HEADER_LOCK:                   # the member's header (see .direct)
            ids = np.asarray(data[member])
        return decoded_ids(ids, f"{path}[{member}]")


def decoded_ids(ids: np.ndarray, where: str) -> np.ndarray:
    """Ids stored as bytes (an .npz array of dtype ``S``, a parquet binary column) as
    text, decoded as UTF-8: ``str(b"d0")`` is ``"b'd0'"``, which no qrels line names.

    Examples
    --------
    >>> decoded_ids(np.array([b"d0", "café".encode()]), "x").tolist()
    ['d0', 'café']
    """
    ids = np.asarray(ids)
    if ids.dtype.kind != "S" and not (ids.dtype == object and ids.size
                                       and any(isinstance(v, bytes) for v in ids.ravel()[:1000])):
        return ids
    out = []
    for i, v in enumerate(ids.tolist()):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: id {i} is bytes that are not UTF-8 text ({v[:20]!r}); "
                                 "store the ids as text or integers") from None
        out.append(v)
    return np.array(out, dtype=object)


# ---------------------------------------------------------------- .parquet
def _is_vector_type(pa, t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _describe_parquet(path: Path, key) -> FileInfo:
    pa = require("pyarrow", "vd.open_vectors on .parquet files")
    pq = require("pyarrow.parquet", "vd.open_vectors on .parquet files")
    try:
        handle = pq.ParquetFile(path)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path} is not a readable parquet file ({err})") from None
    schema = handle.schema_arrow
    vectors = [f.name for f in schema if _is_vector_type(pa, f.type)]
    if key is None:
        if len(vectors) != 1:
            columns = ", ".join(f"{f.name} ({f.type})" for f in schema)
            raise ValueError(f"{path} has {len(vectors)} vector (list) columns (columns: "
                             f"{columns}); {no_vector_column_fix(schema, vectors)}")
        key = vectors[0]
    if key not in schema.names:
        raise ValueError(f"{path} has no column {key!r} (columns: {', '.join(schema.names)}); "
                         "check key=")
    field = schema.field(key)
    if not _is_vector_type(pa, field.type):
        raise TypeError(f"column {key!r} of {path} is {field.type}, not a vector column: a "
                        "vector column holds a list (or fixed-size list) of numbers per row")
    value_type = field.type.value_type
    try:
        dtype = np.dtype(value_type.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        dtype = np.dtype(object)
    _check_numeric(dtype, f"column {key!r} of {path}")
    groups = tuple(handle.metadata.row_group(i).num_rows
                   for i in range(handle.metadata.num_row_groups))
    rows = int(sum(groups))
    if pa.types.is_fixed_size_list(field.type):
        dim = int(field.type.list_size)
    else:
        dim = _first_length(handle, key, rows)
    ids = next((c for c in ID_COLUMNS if c in schema.names and c != key
                and not _is_vector_type(pa, schema.field(c).type)), None)
    return FileInfo(str(path), "parquet", rows, dim, dtype, key=key, groups=groups,
                    id_source=ids)


def _first_length(handle, column: str, rows: int) -> int:
    """The length of the first non-null, non-empty list of a variable-length list column
    (0 when every row is empty; the other rows are checked when read: an empty first
    row is one row of the wrong length, not a column of dimension 0)."""
    if rows == 0:
        return 0
    for batch in handle.iter_batches(batch_size=1024, columns=[column]):
        values = batch.column(0)
        lengths = values.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
        full = np.flatnonzero(lengths)
        if full.size:
            return int(lengths[full[0]])
    return 0


def read_parquet_groups(path: str, column: str, groups: tuple, dim: int, dtype,
                        expect: tuple | None = None) -> np.ndarray:
    """Row groups ``groups`` of a parquet vector column as a ``(rows, dim)`` array, decoded
    with pyarrow's flat buffers (no Python object per value). ``expect``: the file's rows,
    row groups and rows of ``groups`` when it was opened (a file written over since is an
    error)."""
    pq = require("pyarrow.parquet", "vd.open_vectors on .parquet files")
    handle = pq.ParquetFile(path)
    meta = handle.metadata
    _same_as_opened(path, expect, (meta.num_rows, meta.num_row_groups, tuple(
        meta.row_group(g).num_rows if g < meta.num_row_groups else 0 for g in groups)))
    table = handle.read_row_groups(list(groups), columns=[column])
    where = f"column {column!r} of {path} (row groups {groups[0]}-{groups[-1]})"
    # rows are named as rows of the file: the groups' own row numbers point elsewhere
    first_row = sum(handle.metadata.row_group(g).num_rows for g in range(groups[0]))

    def refuse(fault, rows, lengths, dim):
        first = first_row + int(rows[0])
        if fault == "missing":
            raise ValueError(f"{where} has {rows.size} missing vectors (first at row "
                             f"{first} of the file); drop or fill them before opening")
        if fault == "ragged":
            raise ValueError(f"{where}: {rows.size} rows do not have {dim} values (first: "
                             f"file row {first} has {int(lengths[rows[0]])}); every "
                             "vector must have the same dimension")
        raise ValueError(f"{where} has {lists.flatten().null_count} missing numbers inside "
                         f"vectors (first at row {first} of the file); fill them before "
                         "opening")

    lists = table.column(0).combine_chunks()
    flat, _ = vector_lists(lists, dim, refuse)
    return np.array(flat, dtype=dtype, order="C")


def read_parquet_ids(path: str, column: str) -> np.ndarray:
    pq = require("pyarrow.parquet", "vd.open_vectors on .parquet files")
    ids = pq.ParquetFile(path).read(columns=[column]).column(0)
    if ids.null_count:
        raise ValueError(f"the id column {column!r} of {path} has {ids.null_count} missing "
                         "ids; every row needs one")
    return decoded_ids(ids.to_numpy(zero_copy_only=False), f"{path}[{column}]")
