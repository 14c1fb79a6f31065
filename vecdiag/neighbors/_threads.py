"""Worker threads for the search engine without oversubscribing BLAS.

The engine runs one Python thread per BLAS thread (each scanning its own part of the
corpus, or its own pairs of blocks for a graph); while they run, NumPy's BLAS is held to
one thread each (threadpoolctl, which comes with scikit-learn). NumPy releases the GIL in
the products and in most of the selection, so the threads really run in parallel.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

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


_torch_threads_lock = threading.Lock()
_torch_held: list = []                # [torch's thread count before, one None per block]


@contextmanager
def one_thread(torch):
    """torch on one thread inside the ``with`` block: the engine's workers are its
    parallelism, and torch's own threads cost more than they give on the stage's
    conversions (1,000 x 384 rows to bf16: 0.03 ms on one thread, 0.28 ms on two; the
    bf16 copy of 100,000 x 384 rows: 0.19-0.25 s against 0.39-0.78 s).

    torch keeps a count per thread once the thread has run torch, and a default that
    threads take when they first run it; ``torch.set_num_threads`` sets the calling
    thread's and the default. Each block sets its caller's count (a scan may run inline,
    on one worker) and the default (a scan's workers are fresh threads) to 1, and gives
    its caller back the count from before the first of the blocks running at once; the
    last to end restores the default too, while blocks still run it stays 1 (set again
    from a thread of its own). A thread whose scan ended first once kept 1 for good
    (torch's own work there, a model encoding texts, then ran on one core), and a scan
    that began while another ran kept its caller's count."""
    with _torch_threads_lock:
        if not _torch_held:
            _torch_held.append(torch.get_num_threads())
        torch.set_num_threads(1)
        _torch_held.append(None)
    try:
        yield
    finally:
        with _torch_threads_lock:
            _torch_held.pop()
            torch.set_num_threads(_torch_held[0])
            if len(_torch_held) == 1:
                _torch_held.pop()
            else:                   # other blocks run on: their workers' default
                helper = threading.Thread(target=torch.set_num_threads, args=(1,))
                helper.start()
                helper.join()
