"""Which low-precision product a scan's candidate stage uses, timed once per process.

Whether bf16 or int8 products beat NumPy's float32 ones depends on the CPU, not on what
its feature list names. On an Intel Xeon with AVX512_BF16 and VNNI (no AMX exposed), one
thread, a block of 4,096 corpus rows x 1,024 queries x 384: int8 5.6 ms, float32 21-32 ms,
bf16 40 ms (oneDNN's bf16 kernel ran slower than float32 there, and the bf16 stage made
a search 1.6-1.9x slower than the float32 path); on an AMD EPYC (Zen 5) bf16 took 7 ms
against 30. So in auto mode the stage times a small block of each product it may use
(its own :meth:`into`, conversions included, the float32 product as the engine runs it)
on the calling thread, BLAS and torch held to one thread, and keeps the fastest if it
beats float32 by :data:`SPEEDUP`; otherwise the scan keeps float32. Each choice is made
once per process for a width and dtype (about 10-30 ms of CPU). The results are the same
whichever product runs (the stage's bound is rigorous): the timing only decides speed.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ._threads import blas_workers, limited, one_thread

SPEEDUP = 1.25                        # a product must beat float32 by this to be used
QUERIES = 512                         # queries in the timed block
FLOPS = 4e8                           # flops per timed product (rows follow from d)
REPEAT = 3                            # timed runs of each product, best kept

_chosen: dict = {}                    # (d, dtype, codec names) -> codec or None
timings: dict = {}                    # (d, dtype, codec names) -> {name: seconds} (benchmarks)
_lock = threading.Lock()


def fastest(torch, codecs, d: int, dtype):
    """The codec of ``codecs`` whose product is fastest at width ``d`` in ``dtype`` if it
    beats NumPy's float32 (or float64) product by :data:`SPEEDUP`, else None; timed on
    the first call for these arguments and remembered."""
    key = (d, np.dtype(dtype).str, tuple(c.name for c in codecs))
    with _lock:
        if key not in _chosen:
            timings[key] = seconds = measure(torch, codecs, d, np.dtype(dtype))
            best = min(codecs, key=lambda c: seconds[c.name])
            _chosen[key] = best if SPEEDUP * seconds[best.name] <= seconds["float"] else None
        return _chosen[key]


def measure(torch, codecs, d: int, dtype: np.dtype) -> dict:
    """Thread CPU seconds of one product of random rows (best of :data:`REPEAT`, each
    contender warmed up once, round robin): ``"float"`` for NumPy's, and one per codec
    (its copy and query block made beforehand, as a scan makes them once)."""
    rows = int(np.clip(FLOPS / (2 * QUERIES * d), 64, 2048))
    rng = np.random.default_rng(0)
    C = rng.standard_normal((rows, d)).astype(dtype)
    Q = rng.standard_normal((QUERIES, d)).astype(dtype)
    S = np.empty((rows, QUERIES), dtype)
    runs = {"float": lambda: np.matmul(C, Q.T, out=S)}
    for codec in codecs:
        scale = codec.fit(C, np.zeros(d, dtype))
        copy, _ = codec.low(torch, C, scale)
        Qt = codec.query(torch, Q, scale)
        runs[codec.name] = (lambda codec=codec, copy=copy, Qt=Qt:
                            codec.into(torch, copy, 0, rows, Qt, S))
    seconds = dict.fromkeys(runs, np.inf)
    threads, controller = blas_workers()
    with limited(controller, threads), one_thread(torch):
        for name, run in runs.items():
            run()
        for _ in range(REPEAT):
            for name, run in runs.items():
                t0 = time.thread_time()
                run()
                seconds[name] = min(seconds[name], time.thread_time() - t0)
    return seconds
