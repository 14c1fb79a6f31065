"""Where the work on a Dask corpus runs: a cluster, a LocalCluster, or Dask's threads.

:func:`use_scheduler` is what ``vecdiag report --scheduler ADDRESS`` and
``--local-cluster`` use: a context manager that connects a ``distributed.Client`` (made
the default scheduler inside the ``with`` block) or starts a ``LocalCluster`` of worker
processes when the data is larger than the free memory, and otherwise keeps Dask's
threaded scheduler. It yields one sentence saying which it chose and why, for the report.
"""

from __future__ import annotations

import contextlib
import os

from .._memory import available_memory
from .._optional import require

__all__ = ["use_scheduler", "available_memory", "format_bytes"]


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KB'`` (powers of 1000, as disks are sold).

    Examples
    --------
    >>> format_bytes(15_360_000_000)
    '15.4 GB'
    """
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


@contextlib.contextmanager
def use_scheduler(nbytes: int | None = None, *, address: str | None = None,
                  local: bool | None = None, n_workers: int | None = None,
                  timeout: float = 15.0):
    """Run the Dask work of a ``with`` block on a cluster, a LocalCluster, or threads.

    Parameters
    ----------
    nbytes : int, optional
        Size of the data to be processed; with ``local=None`` a LocalCluster starts when it
        is larger than :func:`available_memory`.
    address : str, optional
        A running scheduler (``"tcp://host:8786"``): a Client connects to it. Its workers
        must be able to open the same file paths.
    local : bool, optional
        True: start a LocalCluster; False: never; None (default): only for data larger
        than the free memory.
    n_workers : int, optional
        Worker processes of a LocalCluster (default: one per core, one thread each).
    timeout : float
        Seconds to wait for the scheduler at ``address``.

    Yields
    ------
    str
        Where the work runs and why, e.g. ``"Dask's threaded scheduler (the data, 1.2 GB,
        fits in the 20.5 GB of free memory)"``.

    Examples
    --------
    >>> import dask.array as da
    >>> with use_scheduler(800, local=False) as where:
    ...     total = int(da.ones(100, chunks=10).sum().compute())
    >>> total, where
    (100, "Dask's threaded scheduler")
    """
    dask = require("dask", "vecdiag on a Dask corpus")
    if address is not None:
        distributed = require("distributed", "--scheduler")
        try:
            client = distributed.Client(address, timeout=f"{timeout}s",
                                        set_as_default=True)
        except (OSError, TimeoutError) as err:
            raise OSError(f"--scheduler: cannot reach a Dask scheduler at {address!r} ({err}); "
                          "check the address (tcp://host:8786) and that it is running") from None
        with client:
            workers = len(client.scheduler_info().get("workers", {}))
            yield f"the Dask cluster at {address} ({workers} workers)"
        return
    free = available_memory()
    too_big = nbytes is not None and nbytes > free
    if local or (local is None and too_big):
        distributed = require("distributed", "a LocalCluster")
        n = n_workers or os.cpu_count() or 1
        why = (f"the data, {format_bytes(nbytes)}, is larger than the {format_bytes(free)} "
               "of free memory" if local is None else "asked for")
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster, \
                distributed.Client(cluster, set_as_default=True):
            yield f"a LocalCluster of {n} worker process{'es' if n > 1 else ''} ({why})"
        return
    with dask.config.set(scheduler="threads"):
        if nbytes is None or local is False:
            yield "Dask's threaded scheduler"
        else:
            yield (f"Dask's threaded scheduler (the data, {format_bytes(nbytes)}, fits in the "
                   f"{format_bytes(free)} of free memory)")
