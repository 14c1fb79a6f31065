"""Worker threads for the search engine without oversubscribing BLAS.

The engine runs one Python thread per BLAS thread (each scanning its own part of the
corpus, or its own pairs of blocks for a graph); while they run, NumPy's BLAS is held to
one thread each (threadpoolctl, which comes with scikit-learn). NumPy releases the GIL in
the products and in most of the selection, so the threads really run in parallel.
"""

from __future__ import annotations

import threading


def blas_workers():
    """(threads NumPy's BLAS would use, a threadpoolctl controller), or (1, None)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return 1, None
    controller = ThreadpoolController()
    blas = [lib for lib in controller.select(user_api="blas").lib_controllers
            if "numpy" in lib.filepath] or controller.select(user_api="blas").lib_controllers
    threads = max((lib.num_threads for lib in blas), default=1)
    return (threads, controller) if threads > 1 else (1, None)


class limited:
    """Hold BLAS to one thread while our own worker threads run (no oversubscription)."""

    def __init__(self, controller, workers):
        self.ctx = controller.limit(limits=1, user_api="blas") \
            if controller is not None and workers > 1 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.restore_original_limits()


class Workers:
    """Run tasks on ``n`` threads (BLAS held to one thread each) or inline when n == 1,
    counting progress under a lock (the bar is shared)."""

    def __init__(self, n: int, controller, bar):
        self.n, self.bar, self.controller = n, bar, controller
        self.lock = threading.Lock()

    def tick(self, count: int) -> None:
        with self.lock:
            self.bar.update(count)

    def map(self, fn, items):
        if self.n == 1:
            return [fn(*item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with limited(self.controller, self.n), ThreadPoolExecutor(self.n) as pool:
            return list(pool.map(lambda item: fn(*item), items))
