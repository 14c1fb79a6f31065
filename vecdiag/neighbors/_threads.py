"""Worker threads for the search engine without oversubscribing BLAS.

The engine runs one Python thread per BLAS thread (each scanning its own part of the
corpus, or its own pairs of blocks for a graph); while they run, NumPy's BLAS is held to
one thread each (threadpoolctl, which comes with scikit-learn). NumPy releases the GIL in
the products and in most of the selection, so the threads really run in parallel.
"""

from __future__ import annotations

import threading

from .._blas import one_blas_thread


_controller = None                    # threadpoolctl's view of the loaded libraries, made once
_controller_lock = threading.Lock()


def _blas_controllers():
    """(the controllers of NumPy's BLAS, of every BLAS if none is NumPy's; the
    threadpoolctl controller), or ([], None) without threadpoolctl.

    threadpoolctl finds the libraries by walking every shared object the process has
    loaded (about 2 ms, twice per search): that walk is done once, and only the thread
    counts, which a caller's ``threadpool_limits`` may change, are read each time.
    """
    global _controller
    if _controller is None:
        with _controller_lock:
            if _controller is None:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:  # pragma: no cover - comes with scikit-learn
                    _controller = False
                else:
                    _controller = ThreadpoolController()
    if _controller is False:  # pragma: no cover
        return [], None
    blas = _controller.select(user_api="blas").lib_controllers
    return [lib for lib in blas if "numpy" in lib.filepath] or blas, _controller


def blas_workers():
    """(threads NumPy's BLAS would use now, a threadpoolctl controller), or (1, None)."""
    blas, controller = _blas_controllers()
    threads = max((lib.num_threads for lib in blas), default=1)
    return (threads, controller) if threads > 1 else (1, None)


def limited(controller, workers) -> one_blas_thread:
    """Hold BLAS to one thread while our own worker threads run (no oversubscription);
    one limit shared with every search running at once (:mod:`vecdiag._blas`)."""
    return one_blas_thread(controller is not None and workers > 1, controller)


class Workers:
    """Run tasks on ``n`` threads (BLAS held to one thread each) or inline when n == 1,
    counting progress under a lock (the bar is shared)."""

    def __init__(self, n: int, controller, bar):
        self.n, self.bar, self.controller = max(1, n), bar, controller
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
