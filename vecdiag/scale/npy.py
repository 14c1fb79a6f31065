""".npy headers and memmaps for the tasks that read a file's chunks themselves.

subtle: NumPy parses a .npy header with ``ast.literal_eval``, and CPython 3.11's AST
constructor is not safe in threads (python/cpython#106905: "SystemError: AST constructor
recursion depth mismatch" when Dask's threads read chunks of one file at once, seen in
tests/test_scale_io.py). Every header vecdiag's tasks parse goes through this module, under
one lock (:data:`HEADER_LOCK`).
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["HEADER_LOCK", "npy_header", "npy_layout", "npy_memmap"]

HEADER_LOCK = threading.Lock()


def npy_header(handle, where: str):
    """``(shape, fortran_order, dtype)`` of the ``.npy`` array at ``handle``'s position
    (a file or a zip member); ``where`` names it in the error of an unreadable header.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((3, 2), np.float32))
    >>> _ = buf.seek(0)
    >>> npy_header(buf, "buf")
    ((3, 2), False, dtype('float32'))
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            with HEADER_LOCK:
                return fmt.read_array_header_1_0(handle)
        if version == (2, 0):
            with HEADER_LOCK:
                return fmt.read_array_header_2_0(handle)
    except ValueError as err:
        raise ValueError(f"{where} is not a readable .npy array ({err})") from None
    raise ValueError(f"{where}: .npy format version {version} is not supported; re-save "
                     "it with np.save")


def npy_layout(path: str):
    """``(data offset in bytes, shape, dtype, fortran_order)`` from a ``.npy`` header.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.zeros((3, 2), np.float32))
    >>> npy_layout(path)[1:]
    ((3, 2), dtype('float32'), False)
    """
    with open(path, "rb") as handle:
        shape, fortran, dtype = npy_header(handle, str(path))
        return handle.tell(), tuple(shape), np.dtype(dtype), bool(fortran)


def npy_memmap(path: str, layout=None) -> np.memmap:
    """A read-only memmap of a ``.npy`` file (what ``np.load(path, mmap_mode="r")``
    gives), its header parsed under :data:`HEADER_LOCK` (``layout``: :func:`npy_layout`
    when already read).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    >>> npy_memmap(path)[1].tolist()
    [3.0, 4.0, 5.0]
    """
    offset, shape, dtype, fortran = layout or npy_layout(path)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")
