"""The peak of Python-traced memory of one call, robust to other threads' allocations.

tracemalloc traces every thread of the process: a Dask worker thread or a progress bar
left by an earlier test, allocating while a call is measured, adds to its peak (a piece
test of 287 KB read 520 KB once in four runs of the scale tests). The call's own peak is
the same on every run, so the lowest of a few runs is it.
"""

from __future__ import annotations

import tracemalloc


def lowest_peak(call, *, repeats: int = 3, setup=None):
    """``(result, peak)``: ``call()``'s result and the lowest peak in bytes over ``repeats``
    measured runs; ``setup()`` runs before each, unmeasured (e.g. clearing a cache, so
    each run does the work the first did)."""
    peaks = []
    result = None
    for _ in range(repeats):
        if setup is not None:
            setup()
        tracemalloc.start()
        try:
            result = call()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return result, min(peaks)
