"""Which low-precision product a scan's candidate stage uses, timed once per process.

Whether bf16 or int8 products beat NumPy's float32 ones depends on the CPU, not on what
its feature list names. On an Intel Xeon with AVX512_BF16 and VNNI (no AMX exposed), one
thread, a block of 4,096 corpus rows x 1,024 queries x 384: int8 5.6 ms, float32 21-32 ms,
bf16 40 ms (oneDNN's bf16 kernel ran slower than float32 there, and the bf16 stage made
a search 1.6-1.9x slower than the float32 path); on an AMD EPYC (Zen 5) bf16 took 7 ms
against 30. So in auto mode the stage times a small block of each product it may use
(its own :meth:`into`, conversions included, the float32 product as the engine runs it)
on the calling thread, BLAS and torch held to one thread, adds what a search spends
after the product (:data:`OVERHEAD`, larger for the wider bounds), and keeps the
fastest if it beats float32 by :data:`SPEEDUP`; otherwise the scan keeps float32. Each choice is made
once per process for a width and dtype (about 10-30 ms of CPU). A corpus's first scan
with the product also times against the cost of making the copy (:func:`repays`). The results are the same
whichever product runs (the stage's bound is rigorous): the timing only decides speed.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ._bf16_copy import Corpus
from ._threads import blas_workers, limited, one_thread

SPEEDUP = 1.1                         # a product's search must beat float32's by this
# Seconds per (query, corpus row) entry that a search spends beyond the timed product:
# folding the blocks into the running best, refine, the bound. A wider bound lets more
# entries through and re-scores more candidates. Measured on 100,000 x 384 clustered
# rows, 1,000 queries, one thread: float32 0.04 s (Xeon), int8 0.30 s (Xeon; 2.2% of
# the queries unproven), bf16 0.13 s (EPYC).
OVERHEAD = {"float": 0.4e-9, "int8": 3.0e-9, "bf16": 1.3e-9}
QUERIES = 512                         # queries in the timed block
FLOPS = 4e8                           # flops per timed product (rows follow from d)
REPEAT = 3                            # timed runs of each product, best kept

_chosen: dict = {}                    # (d, dtype, codec names) -> codec or None
timings: dict = {}                    # (d, dtype, codec names) -> {name: seconds} (benchmarks)
_seconds: dict = {}                   # (d, dtype) -> every contender's seconds measured there
_lock = threading.Lock()


def fastest(torch, codecs, d: int, dtype):
    """The codec of ``codecs`` whose search is expected fastest at width ``d`` in
    ``dtype`` (:func:`expected`) if it beats NumPy's float32 (or float64) by
    :data:`SPEEDUP`, else None; timed on the first call for these arguments and
    remembered."""
    key = (d, np.dtype(dtype).str, tuple(c.name for c in codecs))
    with _lock:
        if key not in _chosen:
            timings[key] = seconds = measure(torch, codecs, d, np.dtype(dtype))
            _seconds.setdefault(key[:2], {}).update(seconds)
            best = min(codecs, key=lambda c: expected(seconds, c.name, d))
            _chosen[key] = best if (SPEEDUP * expected(seconds, best.name, d)
                                    <= expected(seconds, "float", d)) else None
        return _chosen[key]


def expected(seconds: dict, name: str, d: int) -> float:
    """Seconds a search is expected to take per timed block with the ``name`` product:
    the product as timed, plus :data:`OVERHEAD` for each of the block's entries. (The
    product alone misleads: int8's is faster than bf16's on CPUs that run both natively,
    but its wider bound costs more after the product.)"""
    return seconds[name] + OVERHEAD[name] * FLOPS_TIMED[d] / (2 * d)


def repays(codec, d: int, dtype, n: int, flops: float) -> bool:
    """Whether a scan of ``flops`` over ``n`` rows saves more time with ``codec`` than
    making its copy of the rows costs (auto mode, when the corpus has no copy yet): the
    expected time saved per timed block (:func:`expected`), scaled to the scan's flops,
    against the timed copy's seconds per row times ``n``. ``vd.knn`` makes its copy in
    every call: for 1,000 queries of 100,000 x 384 the int8 copy (about 0.24 s) cost
    more than the scan saved on the Xeon, and the bf16 one made a call 1.56x slower on
    the EPYC."""
    seconds = _seconds.get((d, np.dtype(dtype).str), {})
    if codec.name not in seconds:
        return True
    saved = (expected(seconds, "float", d) - expected(seconds, codec.name, d)) \
        / FLOPS_TIMED[d] * flops
    return saved > seconds[codec.name + " copy"] * n


FLOPS_TIMED: dict = {}                # d -> flops of the timed product


def measure(torch, codecs, d: int, dtype: np.dtype) -> dict:
    """Thread CPU seconds of one product of random rows (best of :data:`REPEAT`, each
    contender warmed up once, round robin): ``"float"`` for NumPy's, and one per codec
    (its copy and query block made beforehand, as a scan makes them once); and
    ``"<codec> copy"``: the seconds per row of making the codec's copy of the rows
    (:class:`._bf16_copy.Corpus`, as a search makes it)."""
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
    FLOPS_TIMED[d] = 2.0 * rows * QUERIES * d
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
        for codec in codecs:
            t0 = time.thread_time()
            Corpus(torch, C, "cosine", None, codec)
            seconds[codec.name + " copy"] = (time.thread_time() - t0) / rows
    return seconds
