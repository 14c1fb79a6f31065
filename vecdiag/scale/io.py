"""Many vector files as one lazy Dask array: :func:`open_vectors` (``vd.open_vectors``).

The array's task graph holds one small task per chunk, ``(reader, path, rows or row
groups, dtype)``: each task opens its own slice of its file when a worker runs it (a
memmap of a ``.npy``, some row groups of a parquet file). No array and no memmap is ever
pickled into the graph, so the graph stays a few KB whatever the data size, and a
distributed cluster's workers read the files themselves (they must see the same paths).
"""

from __future__ import annotations

import glob
import math
import os
import re
from pathlib import Path

import numpy as np

from . import formats
from .direct import prefer_direct
from .chunks import require_dask

__all__ = ["open_vectors", "natural_key", "expand_paths", "CHUNK_BYTES"]

# target size of one chunk: big enough that per-task overhead vanishes, small enough that
# a worker holds a few at once (the default chunks are 64-128 MB)
CHUNK_BYTES = 128 * 2**20
SUFFIXES = {".npy": "npy", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet"}


def open_vectors(paths_or_glob, *, key: str | None = None, chunks: int | None = None,
                 direct: bool | None = None):
    """Open ``.npy``, ``.npz`` or parquet files of vectors as one lazy Dask array.

    Nothing is read but the files' headers (and the id columns or files): the values are
    read chunk by chunk, by whichever scheduler computes the array, each task opening its
    own slice of its file. The rows are the files' rows in order, file after file.

    Parameters
    ----------
    paths_or_glob : str, Path, or a list of them
        A glob (``"shards/*.npy"``, ``"data/**/*.parquet"``), a file, a folder (every
        ``.npy``/``.npz``/``.parquet`` file in it but hidden ones, named ``.*``, as a glob
        leaves them out), or a list of these (a file or folder
        that exists is taken as named, even with ``*?[`` in its name). Files matched by a
        glob or found in a folder are taken in natural order (``shard-2`` before
        ``shard-10``); a list keeps the order given. All files must have one format, one
        dimension and one dtype.
    key : str, optional
        The array inside each ``.npz`` (default: its only 2-D array), or the vector column
        of each parquet file (default: its only list / fixed-size-list column).
    chunks : int, optional
        Rows per chunk. A chunk never spans two files, and a parquet chunk is made of whole
        row groups (at least one). Default: each file cut into equal chunks of at most
        128 MB (64-128 MB for files larger than that). An ``.npz`` file is always one
        chunk: a zip member cannot be read in part.
    direct : bool, optional
        Read ``.npy`` files with ``O_DIRECT`` (Linux), past the page cache: the disk writes
        straight into each chunk, at a fraction of the CPU cost (:mod:`vecdiag.scale.direct`).
        Default: when the files are larger than half the memory available, where a second
        pass would not find them cached anyway. Where the system refuses it, reads go
        through the page cache; the values are the same.

    Returns
    -------
    dask.array.Array
        ``(n, d)``; float32 and float64 kept, other real dtypes read as float64. It
        carries two attributes: ``ids``, a NumPy array with one id per row (or None), and
        ``files``, the paths in row order. Arrays derived from it (``X[:10]``,
        ``X.astype(...)``) do not carry them.

    Notes
    -----
    Ids are read when present: a parquet column named ``id``, ``_id`` or ``doc_id``
    (the first found); an ``.npz`` member named ``ids`` (or ``id``) with one entry per
    row; for ``.npy`` shards a sidecar text file ``<stem>_ids.txt`` next to each shard
    (``shard-3.npy`` -> ``shard-3_ids.txt``), one id per line in row order. Either every
    file has ids or none does.

    A variable-length list column is checked row by row when read: a vector of another
    length is an error naming the file and row group then, not when opening. So is a
    file written over after opening with another shape or dtype (parquet: other row
    groups): open it again.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> import vecdiag as vd
    >>> folder = tempfile.mkdtemp()
    >>> for i in (1, 2, 10):
    ...     np.save(os.path.join(folder, f"shard-{i}.npy"), np.full((2, 3), i, np.float32))
    >>> X = vd.open_vectors(os.path.join(folder, "shard-*.npy"))
    >>> X.shape, X.dtype, X.chunks[0]
    ((6, 3), dtype('float32'), (2, 2, 2))
    >>> X[:, 0].compute().tolist()
    [1.0, 1.0, 2.0, 2.0, 10.0, 10.0]
    >>> [os.path.basename(f) for f in X.files], X.ids
    (['shard-1.npy', 'shard-2.npy', 'shard-10.npy'], None)
    """
    da = require_dask("vd.open_vectors")
    from dask.base import tokenize

    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be a str (an .npz member or a parquet column), got "
                        f"{type(key).__name__}")
    if chunks is not None and (isinstance(chunks, (bool, np.bool_))
                               or not isinstance(chunks, (int, np.integer)) or chunks < 1):
        raise ValueError(f"chunks must be a positive number of rows, got {chunks!r}")
    chunks = None if chunks is None else int(chunks)
    paths = expand_paths(paths_or_glob)
    kind = _one_format(paths)
    infos = [formats.describe(p, kind, key) for p in paths]
    dim, dtype = _common_shape(infos)
    out = formats.out_dtype(dtype)
    if direct is None:
        direct = kind == "npy" and prefer_direct(sum(os.path.getsize(i.path) for i in infos))
    elif not isinstance(direct, bool):
        raise TypeError(f"direct must be True, False or None, got {direct!r}")
    pieces = [piece for info in infos for piece in _tasks(info, out, chunks, direct)]
    name = "open-vectors-" + tokenize([(i.path, os.stat(i.path).st_mtime_ns, i.key)
                                       for i in infos], chunks, str(out), direct)
    graph = {(name, j, 0): task for j, (task, _) in enumerate(pieces)}
    sizes = tuple(rows for _, rows in pieces)
    X = da.Array(graph, name, chunks=(sizes, (dim,)), dtype=out)
    X.ids = _ids(infos)
    X.files = tuple(i.path for i in infos)
    # what a single pass can stream itself (.npy chunks in the file's dtype; see
    # vecdiag.scale.moments): (path, first row, stop, direct) per chunk, in row order
    X.row_sources = tuple((t[1], t[2], t[3], direct) for t, _ in pieces) \
        if kind == "npy" and all(i.dtype == out and i.dtype.isnative for i in infos) else None
    return X


# ---------------------------------------------------------------- which files, in which order
def natural_key(path) -> tuple:
    """Sort key putting ``shard-2`` before ``shard-10`` (digit runs compare as numbers).

    Examples
    --------
    >>> sorted(["s-10.npy", "s-2.npy", "s-1.npy"], key=natural_key)
    ['s-1.npy', 's-2.npy', 's-10.npy']
    """
    text = str(path)
    parts = re.split(r"(\d+)", text)       # the digit runs are the odd parts (str.isdigit
    # is also true of "²", which int() refuses)
    return tuple((1, int(p), "") if i % 2 else (0, 0, p.casefold())
                 for i, p in enumerate(parts)), text


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_paths(paths_or_glob) -> list[Path]:
    """The files named by a glob, a file, a folder, or a list of these (see
    :func:`open_vectors`), checked to exist, each listed once."""
    if isinstance(paths_or_glob, (str, os.PathLike)):
        items = [paths_or_glob]
    elif isinstance(paths_or_glob, (list, tuple)) and paths_or_glob:
        items = list(paths_or_glob)
    else:
        raise TypeError("paths_or_glob must be a glob, a file or folder path, or a non-empty "
                        f"list of them; got {paths_or_glob!r}")
    files: list[Path] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"paths_or_glob: {item!r} is not a path or glob")
        files += _expand_one(os.fspath(item))
    seen: dict = {}
    for f in files:
        real = os.path.realpath(f)
        if real in seen:
            raise ValueError(f"paths_or_glob names {f} twice ({seen[real]} and {f}); each "
                             "file may appear once")
        seen[real] = f
    return files


def _expand_one(item: str) -> list[Path]:
    # a file or folder that exists is taken as named, even when its name holds a glob's
    # special characters ("run[1]/shard.npy"): as a glob it would match nothing
    if _has_magic(item) and not os.path.exists(item):
        found = glob.glob(item, recursive=True)
        broken = [p for p in found if Path(p).suffix.lower() in SUFFIXES
                  and os.path.islink(p) and not os.path.exists(p)]
        if broken:                        # as in a folder: its rows would go missing
            raise FileNotFoundError(f"{broken[0]!r}, matched by the glob {item!r}, is a link "
                                    "to a file that does not exist")
        matched = [Path(p) for p in found if os.path.isfile(p)]
        if not matched:
            raise FileNotFoundError(f"no file matches {item!r} (looked in "
                                    f"{os.path.abspath(os.path.dirname(item) or '.')})")
        return _vector_files(sorted(matched, key=natural_key), f"the glob {item!r}")
    path = Path(item)
    if path.is_dir():
        # hidden files are left out, as a glob's "*" leaves them out: macOS copies each
        # shard-1.npy with a "._shard-1.npy" of metadata, which is no array
        vector_like = [p for p in path.iterdir()
                       if p.suffix.lower() in SUFFIXES and not p.name.startswith(".")]
        broken = [p for p in vector_like if not p.exists()]
        if broken:                        # a dangling link: its rows would go missing
            raise FileNotFoundError(f"{str(broken[0])!r} in the folder {str(path)!r} is a "
                                    "link to a file that does not exist")
        found = [p for p in vector_like if p.is_file()]
        if not found:
            raise FileNotFoundError(f"the folder {str(path)!r} holds no .npy, .npz or .parquet "
                                    "file")
        return sorted(found, key=natural_key)
    if not path.is_file():
        raise FileNotFoundError(f"no such file or folder {item!r}")
    return _vector_files([path], repr(item))


def _vector_files(paths: list[Path], what: str) -> list[Path]:
    """The vector files of a match; id sidecars of matched shards are left out silently."""
    # the matched vector files without their suffix, whatever its case ("A.NPY" -> "A")
    stems = {str(p.with_suffix("")) for p in paths if p.suffix.lower() in SUFFIXES}
    keep, other = [], []
    for p in paths:
        if p.suffix.lower() in SUFFIXES:
            keep.append(p)
        elif not (p.name.endswith("_ids.txt") and str(p)[:-len("_ids.txt")] in stems):
            other.append(p)
    if other:
        raise ValueError(f"{what} matches {len(other)} files that are not .npy, .npz or "
                         f".parquet (first: {', '.join(map(str, other[:3]))}); narrow the glob")
    return keep


def _one_format(paths: list[Path]) -> str:
    kinds: dict = {}
    for p in paths:
        kinds.setdefault(SUFFIXES[p.suffix.lower()], []).append(p)
    if len(kinds) > 1:
        shown = "; ".join(f"{k}: {len(v)} (first {v[0]})" for k, v in kinds.items())
        raise ValueError(f"the files mix formats ({shown}); open one format at a time")
    return next(iter(kinds))


def _common_shape(infos) -> tuple[int, np.dtype]:
    full = [i for i in infos if i.rows]
    if not full:
        raise ValueError(f"the {len(infos)} files hold no rows (first: {infos[0].path})")
    empty = [i for i in full if i.dim == 0]
    if empty:
        raise ValueError(f"{empty[0].path} holds vectors of dimension 0 ({empty[0].rows} rows "
                         "of nothing); write the vectors themselves")
    dims = {}
    for i in full:
        dims.setdefault(i.dim, []).append(i)
    if len(dims) > 1:
        shown = "; ".join(f"{v[0].path} ({v[0].rows}, {d})" + (f" and {len(v) - 1} more"
                                                               if len(v) > 1 else "")
                          for d, v in dims.items())
        raise ValueError(f"the files hold vectors of different dimensions: {shown}; every "
                         "file must come from the same model and have the same dimension")
    dtypes = {}
    for i in full:
        dtypes.setdefault(str(i.dtype), []).append(i)
    if len(dtypes) > 1:
        shown = "; ".join(f"{v[0].path} {t}" + (f" and {len(v) - 1} more" if len(v) > 1 else "")
                          for t, v in dtypes.items())
        raise TypeError(f"the files hold different dtypes: {shown}; save every shard with the "
                        "same dtype (e.g. X.astype(np.float32))")
    return full[0].dim, full[0].dtype


# ---------------------------------------------------------------- the tasks
def _rows_per_chunk(info, out: np.dtype, chunks: int | None) -> int:
    if chunks is not None:
        return chunks
    row_bytes = max(1, info.dim * out.itemsize)
    pieces = max(1, math.ceil(info.rows * row_bytes / CHUNK_BYTES))
    return max(1, math.ceil(info.rows / pieces))


def _tasks(info, out: np.dtype, chunks: int | None, direct: bool = False) -> list:
    """``(task, rows)`` for each chunk of one file, in row order."""
    if not info.rows:
        return []
    if info.kind == "npz":
        return [((formats.read_npz_array, info.path, info.key, out,
                  ((info.rows, info.dim), info.dtype)), info.rows)]
    step = _rows_per_chunk(info, out, chunks)
    if info.kind == "npy":
        expect = ((info.rows, info.dim), info.dtype)
        return [((formats.read_npy_rows, info.path, a, min(a + step, info.rows), out, direct,
                  expect), min(a + step, info.rows) - a) for a in range(0, info.rows, step)]
    tasks, group, rows = [], [], 0
    for g, size in enumerate(info.groups):
        if group and rows + size > step:
            tasks.append(((formats.read_parquet_groups, info.path, info.key, tuple(group),
                           info.dim, out, _opened(info, group)), rows))
            group, rows = [], 0
        if size:
            group.append(g)
            rows += size
    if group:
        tasks.append(((formats.read_parquet_groups, info.path, info.key, tuple(group),
                       info.dim, out, _opened(info, group)), rows))
    return tasks


def _opened(info, group: list) -> tuple:
    """What a parquet task checks the file still holds (see formats.read_parquet_groups)."""
    return info.rows, len(info.groups), tuple(info.groups[g] for g in group)


def _ids(infos):
    has = [i for i in infos if i.id_source is not None]
    if not has:
        return None
    if len(has) != len(infos):
        lacking = [i.path for i in infos if i.id_source is None]
        raise ValueError(f"{len(has)} of the {len(infos)} files have ids but {len(lacking)} do "
                         f"not (first: {', '.join(lacking[:3])}); give every file ids (for "
                         ".npy shards: <stem>_ids.txt beside each) or none")
    parts = []
    for i in infos:
        if i.kind == "npy":
            parts.append(formats.read_sidecar_ids(i.id_source, i.rows))
        elif i.kind == "npz":
            parts.append(formats.read_npz_ids(i.path, i.id_source))
        else:
            parts.append(formats.read_parquet_ids(i.path, i.id_source))
    kinds = {p.dtype.kind for p in parts}
    return np.concatenate(parts if len(kinds) == 1 else [p.astype(object) for p in parts])
