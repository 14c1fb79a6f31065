"""Running per-block tasks and merging their small results, with a bar and sane threads.

:func:`run_merged` computes rows of per-block ``dask.delayed`` results, each row merged
in a tree of tasks (so only small merged results travel), on the active scheduler; a
progress bar counts the work of the blocks as they finish (a local-scheduler callback, or
futures on a distributed Client). :class:`one_blas_thread` holds BLAS to one thread
while Dask's own threads run blocks in parallel in this process.
"""

from __future__ import annotations

import os

from .._blas import one_blas_thread
from .._progress import progress_bar
from .chunks import _aligned, compute

__all__ = ["run_merged", "one_blas_thread", "reuse_freed_memory", "shared", "MERGE_FAN_IN",
           "SCATTER_BYTES"]

MERGE_FAN_IN = 8                      # per-block results merged per merge task
SCATTER_BYTES = 2**20                 # arrays from this size are scattered, not in the graph


def _client():
    """The distributed Client Dask computes on now, or None (threads, processes, sync)."""
    import dask

    client = getattr(dask.base.get_scheduler(), "__self__", None)
    return client if type(client).__name__ == "Client" else None


def shared(array):
    """One graph key for an array that every block task reads (the queries of a search).

    On a distributed Client an array of :data:`SCATTER_BYTES` or more is scattered to the
    workers once, and the graph carries a reference: the bytes in the graph itself go
    through the scheduler, and Dask warns ("Sending large graph") from 10 MB on, e.g. for
    the 10,000 sampled rows of :func:`vecdiag.hubness` (15 MB at d = 384). Elsewhere, or
    for a small array, a ``dask.delayed`` of it (one copy in the graph, not one per task).

    Examples
    --------
    >>> import dask, numpy as np
    >>> key = shared(np.arange(3))
    >>> int(dask.delayed(sum)(key).compute())
    3
    """
    import dask

    client = _client()
    if client is not None and array.nbytes >= SCATTER_BYTES:
        return client.scatter(array, broadcast=True)
    return dask.delayed(array, pure=True)


def _merged(level, merge, k: int, metric: str):
    while len(level) > 1:
        level = [merge(level[i:i + MERGE_FAN_IN], k, metric)
                 for i in range(0, len(level), MERGE_FAN_IN)]
    return level[0]


def run_merged(tasks, merge_fn, k: int, metric: str, pairs: dict | None):
    """Compute each row of ``tasks`` (the delayed per-block results of one query part)
    merged by ``merge_fn(list, k, metric)`` in a tree of tasks, on the active scheduler;
    with a bar of scored pairs when ``pairs`` (block task key -> pairs) is given."""
    import dask

    client = _client()
    if pairs is not None and client is not None:
        # distributed: block futures tick the bar as they finish, merges run on workers
        from distributed import as_completed

        flat_tasks = [t for row in tasks for t in row]
        flat = client.compute(flat_tasks)
        futures, at = [], 0
        for row in tasks:
            futures.append(_merged(flat[at:at + len(row)],
                                   lambda *a: client.submit(merge_fn, *a), k, metric))
            at += len(row)
        with progress_bar(sum(pairs.values()), desc="knn search (dask)", show=True,
                          unit=" pairs") as bar:
            keys = {f.key: pairs[t.key] for f, t in zip(flat, flat_tasks)}
            for f in as_completed(flat):
                bar.update(keys[f.key])
            out = client.gather(futures)
        return [tuple(_aligned(x) for x in r) for r in out]
    merge = dask.delayed(merge_fn, pure=True)
    outs = [_merged(row, merge, k, metric) for row in tasks]
    if pairs is None:
        return compute(*outs)
    from dask.callbacks import Callback

    with progress_bar(sum(pairs.values()), desc="knn search (dask)", show=True,
                      unit=" pairs") as bar:

        class Ticks(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                if key in pairs:
                    bar.update(pairs[key])

        with Ticks():
            return compute(*outs)


_MMAP_THRESHOLD = 32 * 2**20          # glibc's own ceiling for its dynamic threshold
_tuned = False


def reuse_freed_memory() -> bool:
    """In a process whose environment fixed glibc's malloc trimming (a Dask worker: Dask
    sets ``MALLOC_TRIM_THRESHOLD_`` for them), serve arrays up to 32 MB from freed memory
    again instead of a fresh ``mmap`` each (once per process; True when it was done).

    subtle: setting ``MALLOC_TRIM_THRESHOLD_`` also turns off glibc's dynamic mmap
    threshold, so every array above 128 KB is mapped fresh and page-faulted in: the score
    blocks of a search are 16 MB, and the faults cost 12-24% of a block task (measured:
    8.35-9.22 s against 7.44-7.57 s for 10,000 queries against 83,334 rows). This sets the
    threshold to 32 MB, the value the dynamic one would reach; trimming stays as Dask
    set it. A process without that variable is left alone (its threshold is dynamic).
    """
    global _tuned
    if _tuned or "MALLOC_TRIM_THRESHOLD_" not in os.environ or \
            "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    _tuned = True
    try:
        import ctypes
        import platform

        if platform.libc_ver()[0] != "glibc":
            return False
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, _MMAP_THRESHOLD))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):              # pragma: no cover - not glibc
        return False
