"""BLAS held to one thread while vecdiag's own threads run, one limit for the process.

The exact engine runs one worker thread per core (:mod:`vecdiag.neighbors._threads`) and a
Dask search runs one block per thread (:mod:`vecdiag.scale.tasks`; a worker process of a
distributed cluster holds its own BLAS to one thread already); both hold NumPy's BLAS to
one thread meanwhile, so that the threads do not oversubscribe the cores. Searches may run
at once in several threads of a program (a web server's), so they share one limit: the
first to start sets it, the last to finish restores the thread counts the first one
found. (Each restoring what it found itself left BLAS at one thread for the rest of the
process whenever a search started under another's limit and finished after it.)

subtle: threadpoolctl (3.8) lets only the first thread that set OpenBLAS's process-wide
count change it again while that thread lives, and silently ignores the others; the
search that restores the count may run in another thread than the one that set it, so
each change here leaves no thread in control (:func:`_changed`).
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_holders = 0                          # blocks running under the one-thread limit now
_limiter = None                       # threadpoolctl's limiter, restored by the last holder


class one_blas_thread:
    """Hold BLAS to one thread inside the ``with`` block when ``active`` (threadpoolctl,
    which comes with scikit-learn; nothing without it).

    ``controller``: a ``threadpoolctl.ThreadpoolController`` already made (finding the
    libraries walks every loaded shared object, about 2 ms); None makes one if needed.
    """

    def __init__(self, active: bool, controller=None):
        self.active = bool(active)
        self.controller = controller

    def __enter__(self):
        global _holders, _limiter
        if not self.active:
            return self
        with _lock:
            if _holders == 0:
                controller = self.controller
                if controller is None:
                    try:
                        from threadpoolctl import ThreadpoolController
                    except ImportError:                       # pragma: no cover
                        self.active = False
                        return self
                    controller = ThreadpoolController()
                _limiter = _changed(lambda: controller.limit(limits=1, user_api="blas"))
            _holders += 1
        return self

    def __exit__(self, *exc):
        global _holders, _limiter
        if not self.active:
            return
        with _lock:
            _holders -= 1
            if _holders == 0:
                _changed(_limiter.restore_original_limits)
                _limiter = None


def _changed(change):
    """``change()`` (a set or restore of thread counts), made from this thread whichever
    thread changed them last: threadpoolctl's OpenBLAS controlling thread is released
    before and after (nothing to release with other BLAS, or an older threadpoolctl)."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:                                               # pragma: no cover
        return change()
    release = getattr(OpenBLASController, "clear_controlling_thread", None)
    if release is None:                                               # pragma: no cover
        return change()
    release(force=True)
    try:
        return change()
    finally:
        release(force=True)
