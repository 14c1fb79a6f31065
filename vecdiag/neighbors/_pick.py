"""Which low-precision product a scan's candidate stage uses, timed once per process.

Whether bf16 or int8 products beat NumPy's float32 ones depends on the CPU, not on what
its feature list names. On an Intel Xeon with AVX512_BF16 and VNNI (no AMX exposed), one
thread, a block of 4,096 corpus rows x 1,024 queries x 384: int8 5.6 ms, float32 21-32 ms,
bf16 40 ms (oneDNN's bf16 kernel ran slower than float32 there, and the bf16 stage made
a search 1.6-1.9x slower than the float32 path); on an AMD EPYC (Zen 5) bf16 took 7 ms
against 30. So in auto mode the stage times a small block of each product it may use
(its own :meth:`into`, conversions included, the float32 product as the engine runs it)
on the calling thread, BLAS and torch held to one thread, once per process for a width
and dtype (about 10-30 ms of CPU), and for each search (:func:`ranked`) adds what the
search spends after the product (:data:`SCAN`, :data:`REFINE`: more for the wider
bounds, and with k). It keeps the product expected fastest if that beats float32 by
:data:`SPEEDUP`; otherwise the scan keeps float32. Making a corpus's copy costs time
too (:func:`times` gives it): :mod:`._bf16` makes it only once the searches of that corpus
have been expected to save that much (``vd.knn`` makes fresh rows, so a copy, in every
call: for 1,000 queries of 100,000 x 384 the int8 copy, about 0.24 s, cost more than
the scan saved on the Xeon, and the bf16 one made a call 1.56x slower on the EPYC). The results are the same
whichever product runs (the stage's bound is rigorous): the timing only decides speed.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ._bf16_copy import Corpus
from ._threads import blas_workers, limited, one_thread

SPEEDUP = 1.1                         # a product's search must beat float32's by this
# What a search spends beyond the timed product, measured on 100,000 x 384 clustered
# rows, 1,000 queries, k = 10, one thread: per (query, corpus row) entry, folding the
# blocks into the running best and the scan's own work (float32 0.06 s, int8 0.16 s on
# the Xeon, bf16 0.07 s on the EPYC: a wider bound lets more entries through), and per
# candidate and dimension that refine re-scores (int8 0.15 s for 112 candidates a
# query). Refine re-scores about k candidates on the float32 path (its bound is tight)
# and nearly all WIDEN x kp of the low-precision pass: with k in the hundreds that
# outweighs any product (30,000 x 384, k = 300: 7-9 s with int8 against 2-5 s float32).
SCAN = {"float": 0.6e-9, "int8": 1.6e-9, "bf16": 0.7e-9}
REFINE = 3.5e-9
QUERIES = 512                         # queries in the timed block
FLOPS = 4e8                           # flops per timed product (rows follow from d)
REPEAT = 3                            # timed runs of each product, best kept

timings: dict = {}                    # (d, dtype, codec names) -> {name: seconds} (benchmarks)
_entries: dict = {}                   # d -> (query, row) entries of the timed product
_lock = threading.Lock()


def times(torch, codecs, d: int, dtype, *, n: int, k: int, kp: int, widen: dict,
          workers: int = 1) -> dict:
    """Seconds a query of ``k`` neighbours over ``n`` rows is expected to take on
    ``workers`` threads (:func:`per_query`), with NumPy's product (``"float"``, refine
    re-scoring about k candidates) and with each codec's (re-scoring ``widen[name]``
    times ``kp``); and ``"<codec> copy"``: the CPU seconds of making the codec's copy of
    the ``n`` rows. The products are timed once per process for ``d``, ``dtype`` and
    ``codecs`` (:func:`seconds_for`)."""
    seconds = seconds_for(torch, codecs, d, dtype)
    out = {"float": per_query(seconds, "float", d, n, min(n, k), workers)}
    for codec in codecs:
        out[codec.name] = per_query(seconds, codec.name, d, n,
                                    min(n, widen[codec.name] * kp), workers)
        out[codec.name + " copy"] = seconds[codec.name + " copy"] * n
    return out


def ranked(codecs, expected: dict) -> list:
    """The codecs whose queries are ``expected`` (:func:`times`) to beat float32's by
    :data:`SPEEDUP`, fastest first."""
    fast = [c for c in codecs if SPEEDUP * expected[c.name] <= expected["float"]]
    return sorted(fast, key=lambda c: expected[c.name])


def per_query(seconds: dict, name: str, d: int, n: int, refined: int,
              workers: int = 1) -> float:
    """Seconds a query is expected to take with the ``name`` product on ``workers``
    threads: its timed seconds per entry over the workers plus :data:`SCAN`, for each of
    the ``n`` rows, and :data:`REFINE` for each of the ``refined`` candidates' ``d``
    dimensions. The products run in parallel (they release the GIL, and two at once
    ran as fast as one); what follows them is counted as if it did not, since much of
    it holds the GIL: on two threads of the Xeon the float32 search ran 1.3x faster than
    on one and the int8 search not at all (0.45 and 0.47 s wall, against 0.58 and 0.49 s
    of CPU on one thread), which this model follows (float32 ahead on two threads, int8
    on one). (The product alone misleads: int8's runs faster than bf16's on CPUs that
    have both, but its wider bound costs more after it.)"""
    return (n * (seconds[name] / _entries[d] / workers + SCAN[name])
            + REFINE * refined * d)


def seconds_for(torch, codecs, d: int, dtype) -> dict:
    """:func:`measure`'s seconds for ``codecs`` at width ``d`` in ``dtype``, timed on the
    first call for these arguments and remembered."""
    key = (d, np.dtype(dtype).str, tuple(c.name for c in codecs))
    with _lock:
        if key not in timings:
            timings[key] = measure(torch, codecs, d, np.dtype(dtype))
        return timings[key]


def measure(torch, codecs, d: int, dtype: np.dtype) -> dict:
    """Thread CPU seconds of one product of random rows (best of :data:`REPEAT`, each
    contender warmed up once, round robin): ``"float"`` for NumPy's, and one per codec
    (its copy and query block made beforehand, as a scan makes them once); and
    ``"<codec> copy"``: the seconds per row of making the codec's copy of the rows
    (:class:`._bf16_copy.Corpus`, as a search makes it; a cone's copy, centred, costs a
    little more). torch runs on one thread inside; the caller's count comes back."""
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
    _entries[d] = rows * QUERIES
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
