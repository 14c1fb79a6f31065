"""Reading rows of a ``.npy`` file fast: one system call per piece, the next piece read
while the current one is used.

:func:`read_rows` reads rows ``start:stop`` of a C-ordered ``.npy`` file with ``pread``
into a fresh array, optionally with ``O_DIRECT`` (Linux: the disk writes straight into
the array, bypassing the page cache). :func:`stream_rows` yields the rows in pieces of a
few MB while a background thread reads the next piece, so a single pass over a file
(:mod:`.moments`) computes while the disk reads.

Why: a memmap slice copied into an array costs two page faults per 4 KB page (the file's
and the copy's), and going through the page cache costs the kernel about 0.6 CPU-second
per GB; ``O_DIRECT`` costs ~0.15 and reads at the device's rate (measured on this machine:
2.0-2.4 GB/s direct against 1.1-1.3 GB/s through the cache, ``benchmarks/README.md``). The
page cache is what makes a second pass over data that fits in memory free, so
:func:`vecdiag.open_vectors` uses ``O_DIRECT`` only for data larger than half the memory
available (:func:`prefer_direct`), where a second pass reads the disk anyway.

Where ``O_DIRECT`` is missing or refused (macOS, Windows, tmpfs, some network file
systems) the same reads go through the page cache; the values are the same either way.
"""

from __future__ import annotations

import os
import queue
import sys
import threading

import numpy as np

from .npy import npy_layout, npy_memmap

__all__ = ["read_rows", "stream_rows", "source_pieces", "chunk_inputs", "prefer_direct",
           "scratch_buffer", "read_positions", "file_sources", "ALIGN", "STREAM_READ_BYTES"]

ALIGN = 4096                          # O_DIRECT: offsets, lengths and buffers in 4 KB units
STREAM_READ_BYTES = 32 * 2**20     # one read of a streamed pass (a few in flight)


def file_sources(sources, blocks):
    """``X.row_sources`` of a :func:`vecdiag.open_vectors` array, if they still describe
    ``blocks`` (the row blocks of the array as it is computed), else None.

    A pass that reads its chunks itself (:mod:`.moments`, :mod:`.search`) takes the
    sources only when each names exactly the rows of its block.

    Examples
    --------
    >>> from vecdiag.scale.chunks import RowBlock
    >>> blocks = [RowBlock(0, 2, None), RowBlock(2, 5, None)]
    >>> file_sources((("a.npy", 0, 2, False), ("a.npy", 2, 5, False)), blocks) is not None
    True
    >>> file_sources((("a.npy", 0, 5, False),), blocks) is None
    True
    """
    if sources is None or [s[2] - s[1] for s in sources] != [b.stop - b.start
                                                              for b in blocks]:
        return None
    return sources


def chunk_inputs(blocks, sources, on_block, on_source):
    """``(function, its first argument per chunk)`` for a pass with one task per row
    chunk: ``on_source`` with each chunk's file source when ``sources`` (``X.row_sources``
    of :func:`vecdiag.open_vectors`) still describe ``blocks`` (:func:`file_sources`:
    each task then reads its own chunk), else ``on_block`` with each block's data.

    Examples
    --------
    >>> from vecdiag.scale.chunks import RowBlock
    >>> blocks = [RowBlock(0, 2, "b0"), RowBlock(2, 5, "b1")]
    >>> chunk_inputs(blocks, None, len, str)
    (<built-in function len>, ['b0', 'b1'])
    >>> chunk_inputs(blocks, (("a.npy", 0, 2, False), ("a.npy", 2, 5, False)), len, str)[1]
    [('a.npy', 0, 2, False), ('a.npy', 2, 5, False)]
    """
    sources = file_sources(sources, blocks)
    if sources is not None:
        return on_source, list(sources)
    return on_block, [b.data for b in blocks]


_LOCAL = threading.local()


def _in_worker() -> bool:
    """Whether this code runs in a task of a ``distributed`` worker."""
    mod = sys.modules.get("distributed")
    if mod is None:
        return False
    try:
        mod.get_worker()
        return True
    except (ValueError, AttributeError):
        return False


def scratch_buffer(slot: str, nbytes: int, keep: bool | None = None) -> np.ndarray:
    """A 4 KB-aligned uint8 buffer of at least ``nbytes``, kept by this thread between
    calls under the name ``slot`` and handed out again (grown when too small).

    A Dask worker runs one task at a time per thread, so a task may read its chunk into
    the buffer its thread used for the previous one: no fresh 128 MB array per task
    (page faults, zeroing, and with transparent huge pages memory compaction: 20-300 ms
    each, measured). What is put there must not outlive the call that asked for it.
    Only a worker of a ``distributed`` cluster keeps its buffers; elsewhere (Dask's
    threads in a notebook, plain NumPy) each call gets a new array, freed with it, so
    nothing stays held after the computation.

    Examples
    --------
    >>> a = scratch_buffer("example", 10_000, keep=True)
    >>> b = scratch_buffer("example", 5_000, keep=True)
    >>> a.ctypes.data == b.ctypes.data and a.ctypes.data % ALIGN == 0
    True
    """
    if not (keep if keep is not None else _in_worker()):
        return _aligned_empty(nbytes)
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        pool = _LOCAL.pool = {}
    buf = pool.get(slot)
    if buf is None or buf.size < nbytes:
        buf = pool[slot] = _aligned_empty(max(nbytes, int(1.25 * (0 if buf is None
                                                                 else buf.size))))
    return buf[:nbytes]


def _aligned_empty(nbytes: int) -> np.ndarray:
    """A uint8 array of ``nbytes`` whose first byte sits on a 4 KB boundary."""
    raw = np.empty(nbytes + ALIGN, np.uint8)
    pad = (-raw.ctypes.data) % ALIGN
    return raw[pad:pad + nbytes]


def _open(path: str, direct: bool) -> tuple[int, bool]:
    """A file descriptor, and whether it is really ``O_DIRECT``."""
    flag = getattr(os, "O_DIRECT", 0) if direct else 0
    if flag:
        try:
            return os.open(path, os.O_RDONLY | flag), True
        except OSError:                         # tmpfs and friends refuse O_DIRECT
            pass
    return os.open(path, os.O_RDONLY), False


def _pread_all(fd: int, buf: np.ndarray, offset: int) -> int:
    """Fill ``buf`` from ``offset`` (several reads if the kernel returns less)."""
    view = memoryview(buf).cast("B")
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            break
        done += got
    return done


def _read_span(fd: int, is_direct: bool, offset: int, nbytes: int, path: str,
               into: np.ndarray | None = None) -> np.ndarray:
    """``nbytes`` of the file from ``offset`` as a uint8 array (64-byte aligned or better).

    ``O_DIRECT`` reads whole 4 KB units around the span; an OSError there is the system
    refusing it (the caller retries through the page cache). ``into``: a 4 KB-aligned
    uint8 buffer to read into (at least ``nbytes + 2 * ALIGN``), else a new one.
    """
    lo = offset - offset % ALIGN if is_direct else offset
    hi = -(-(offset + nbytes) // ALIGN) * ALIGN if is_direct else offset + nbytes
    buf = _aligned_empty(hi - lo) if into is None else into[:hi - lo]
    got = _pread_all(fd, buf, lo)
    if got < offset + nbytes - lo:
        raise ValueError(f"{path} ended {offset + nbytes - lo - got} bytes before the rows "
                         "its header promises (a truncated file?); re-save it")
    return buf[offset - lo:offset - lo + nbytes]


def read_rows(path: str, start: int, stop: int, layout=None, *, direct: bool = False,
              into: np.ndarray | None = None):
    """Rows ``start:stop`` of a C-ordered 2-D ``.npy`` file, as a new array (file dtype).

    Parameters
    ----------
    path : str
    start, stop : int
        Row range (``0 <= start <= stop <= rows``).
    layout : tuple, optional
        :func:`npy_layout` of the file (read here when not given).
    direct : bool
        Read with ``O_DIRECT`` where the system allows it.
    into : ndarray, optional
        A 4 KB-aligned uint8 buffer of at least ``(stop - start) * row bytes + 8192``
        bytes to read into (the result is then a view of it), else a new array.

    Returns
    -------
    ndarray (stop - start, d), or None when the file is Fortran-ordered (read it another way).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    >>> read_rows(path, 1, 3).tolist()
    [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    """
    offset, shape, dtype, fortran = layout or npy_layout(path)
    if fortran and shape[0] > 1 and shape[1] > 1:
        return None
    d = shape[1]
    row = d * dtype.itemsize
    span = (offset + start * row, (stop - start) * row, path)
    fd, is_direct = _open(path, direct)
    try:
        data = _read_span(fd, is_direct, *span, into=into)
    except OSError:
        if not is_direct:
            raise
        os.close(fd)                            # refused: read through the page cache
        fd = os.open(path, os.O_RDONLY)
        data = _read_span(fd, False, *span, into=into)
    finally:
        os.close(fd)
    return data.view(dtype).reshape(stop - start, d)


def read_positions(path: str, positions) -> np.ndarray:
    """Rows at ``positions`` (ascending file rows) of a C-ordered 2-D ``.npy`` file, one
    small read each through the page cache (a sample of rows, not a whole chunk).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    >>> read_positions(path, [0, 3]).tolist()
    [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0]]
    """
    offset, shape, dtype, fortran = npy_layout(path)
    positions = np.asarray(positions, np.int64)
    if fortran and shape[0] > 1 and shape[1] > 1:
        return np.array(npy_memmap(path, (offset, shape, dtype, fortran))[positions],
                        order="C")
    row = shape[1] * dtype.itemsize
    out = np.empty((positions.size, shape[1]), dtype)
    view = memoryview(out).cast("B")
    fd = os.open(path, os.O_RDONLY)
    try:
        for i, p in enumerate(positions.tolist()):
            got = os.preadv(fd, [view[i * row:(i + 1) * row]], offset + p * row)
            if got < row:
                raise ValueError(f"{path} ended before row {p} its header promises (a "
                                 "truncated file?); re-save it")
    finally:
        os.close(fd)
    return out


def stream_rows(path: str, start: int, stop: int, piece_rows: int, *, direct: bool = False,
                layout=None):
    """Yield ``(first row, rows)`` pieces of rows ``start:stop``; the next piece is read
    by a background thread while the caller works on the current one.

    Three buffers are read into in turn and reused: a piece is valid until the next one is
    asked for (copy what must outlive that). A Fortran-ordered file is read through a
    memmap instead (no prefetch). The pieces come in row order; a read that fails raises
    in the caller, and a caller that stops early stops the reader.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(10, dtype=np.float64).reshape(5, 2))
    >>> [(a, p[:, 0].tolist()) for a, p in stream_rows(path, 1, 5, 2)]
    [(1, [2.0, 4.0]), (3, [6.0, 8.0])]
    """
    layout = layout or npy_layout(path)
    starts = list(range(start, stop, max(1, piece_rows)))
    if layout[3] and layout[1][0] > 1 and layout[1][1] > 1:
        rows = npy_memmap(path, layout)
        for a in starts:
            yield a, np.ascontiguousarray(rows[a:min(stop, a + piece_rows)])
        return
    ready: queue.Queue = queue.Queue(maxsize=1)
    halt = threading.Event()
    # one piece being used, one waiting in the queue, one being read: three buffers
    size = min(piece_rows, stop - start) * layout[1][1] * layout[2].itemsize + 2 * ALIGN
    buffers = [scratch_buffer(f"stream-{i}", size) for i in range(3)]

    def hand_over(item) -> bool:
        """Queue ``item`` for the consumer; False once the consumer has stopped."""
        while not halt.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader():
        try:
            for i, a in enumerate(starts):
                piece = read_rows(path, a, min(stop, a + piece_rows), layout, direct=direct,
                                  into=buffers[i % 3])
                if not hand_over((a, piece)):
                    return
        except BaseException as err:            # handed to the consumer, raised there
            hand_over((None, err))

    thread = threading.Thread(target=reader, name="vecdiag-prefetch", daemon=True)
    thread.start()
    try:
        for _ in starts:
            a, piece = ready.get()
            if a is None:
                raise piece
            yield a, piece
    finally:
        halt.set()
        thread.join()


def source_pieces(source, piece_rows=None):
    """The rows of one chunk of :func:`vecdiag.open_vectors`' ``row_sources``
    (``(path, first row, stop, direct)``), read by the task that uses them: reads of
    :data:`STREAM_READ_BYTES` through :func:`stream_rows` (the next one in flight), each
    yielded whole, or cut into pieces of ``piece_rows(d, itemsize)`` rows when that
    function is given. Yields ``(offset in the chunk, rows)``, in order; a piece is valid
    until the next one is asked for.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(10, dtype=np.float64).reshape(5, 2))
    >>> [(a, p[:, 0].tolist()) for a, p in source_pieces((path, 1, 5, False), lambda d, s: 3)]
    [(0, [2.0, 4.0, 6.0]), (3, [8.0])]
    """
    path, first, stop, direct = source
    layout = npy_layout(path)
    d, itemsize = layout[1][1], layout[2].itemsize
    step = piece_rows(d, itemsize) if piece_rows is not None else None
    per_read = max(step or 1, STREAM_READ_BYTES // max(1, d * itemsize))
    for a, R in stream_rows(path, first, stop, per_read, direct=direct, layout=layout):
        for b in range(0, R.shape[0], step or R.shape[0]):
            yield a - first + b, R[b:b + (step or R.shape[0])]


def prefer_direct(total_bytes: int) -> bool:
    """Whether files of ``total_bytes`` are better read past the page cache: larger than
    half the memory available (a second pass would not find them cached), on a system
    with ``O_DIRECT``.

    Examples
    --------
    >>> prefer_direct(0)
    False
    """
    from .cluster import available_memory

    return bool(getattr(os, "O_DIRECT", 0)) and total_bytes > available_memory() / 2
