"""Worker threads for the search engine without oversubscribing BLAS.

The engine splits query blocks across one Python thread per BLAS thread; while they run,
NumPy's BLAS is held to one thread each (threadpoolctl, which comes with scikit-learn).
"""

from __future__ import annotations


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
