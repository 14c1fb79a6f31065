"""Where the selection's time goes, block by block: one thread, one search's score blocks.

Workload (a) of bench_knn.py (100,000 x 384 float32 corpus, 1,000 queries, k = 10, kp = 28
kept per query, the floor under the running 10th best that the engine sets), cut as the
engine cuts it (corpus chunks of 3,847 rows by all queries). Each block is computed by one
BLAS thread, then, timed alone:

- ``read``: one pass over the block (``np.maximum.reduce``), the floor any selection pays;
- ``compiled``: the numba fold-in (vecdiag/neighbors/_fold_kernels.py), if numba is there;
- ``numpy``: the NumPy threshold filter and fold (vecdiag/neighbors/_select.py).

Prints the first blocks one by one (the running bars are still low there) and the median
of the later ones, best of ``--repeat`` passes. Set ``OPENBLAS_CORETYPE`` to compare core
types, as bench_knn.py does.

Usage::

    PYTHONPATH=. python benchmarks/bench_fold_blocks.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_knn import search_data  # noqa: E402


def block_times(C, Q, bc: int, run, clock=time.perf_counter):
    """Seconds ``run(S, c0)`` takes on each score block ``S = C[c0:c0 + bc] Qᵀ`` right
    after its product (one buffer for every block, as the engine keeps), in block order."""
    import numpy as np

    bq = Q.shape[0]
    flat = np.empty(bc * bq, C.dtype)
    times = []
    for c0 in range(0, C.shape[0], bc):
        c1 = min(C.shape[0], c0 + bc)
        S = flat[:(c1 - c0) * bq].reshape(c1 - c0, bq)
        np.matmul(C[c0:c1], Q.T, out=S)
        t0 = clock()
        run(S, c0)
        times.append(clock() - t0)
    return np.array(times)


def one_pass(C, Q, bc: int, kp: int, mode: str, k: int = 10):
    """Seconds spent after each block's product, in block order."""
    import numpy as np

    from vecdiag.neighbors import engine
    from vecdiag.neighbors._select import SharedBest
    from vecdiag.neighbors.rows import Rows

    bq = Q.shape[0]
    # the engine's floor: twice its rounding bound below each query's running k-th best
    slack = 2.0 * engine.tolerance(Rows(Q, "dot", "q"), Rows(C, "dot", "c"), np.arange(bq),
                                   float(np.finfo(C.dtype).eps))
    best = SharedBest(bq, kp, C.dtype, rank=k, slack=slack)

    def run(S, c0):
        if mode == "read":
            np.maximum.reduce(S, axis=None)
        else:
            best.fold(S, min(kp, S.shape[0]), c0, by_column=True,
                      compiled=mode == "compiled")

    return block_times(C, Q, bc, run)


def main() -> int:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from vecdiag.neighbors import _fold

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    C, Q = search_data()
    bc, kp = 3_847, 28
    modes = ["read", "numpy"] + (["compiled"] if _fold.kernels() is not None else [])
    print(f"# score blocks of {bc} x {Q.shape[0]}, kp = {kp}, one thread, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    print("| selection | all blocks, ms | blocks 0-4, ms | later blocks, median ms |")
    print("|---|---:|---:|---:|")
    with threadpool_limits(1, user_api="blas"):
        for mode in modes:
            one_pass(C, Q, bc, kp, mode)               # compiles / warms up once
            best = np.min([one_pass(C, Q, bc, kp, mode) for _ in range(args.repeat)], axis=0)
            first = " ".join(f"{t * 1e3:.2f}" for t in best[:5])
            print(f"| {mode} | {best.sum() * 1e3:.1f} | {first} | "
                  f"{np.median(best[5:]) * 1e3:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
