"""What one pass over a settled score block costs in NumPy: why the NumPy selection stays
behind the compiled one.

Workload (a) of bench_knn.py (100,000 x 384 clustered float32 corpus, 1,000 queries), cut
in the blocks the engine's NumPy path uses by default (3,847 corpus rows by 1,000 queries).
Each block is computed by one BLAS thread, then one pass is timed on it (thread CPU time),
with a settled bar: each query's 10th best score over the whole corpus, less 1e-3. Prints
the median over the search's blocks, best of ``--repeat`` rounds.

Usage::

    PYTHONPATH=. python benchmarks/bench_fold_passes.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_fold_blocks import block_times  # noqa: E402
from bench_knn import search_data  # noqa: E402


def passes(bar):
    """name -> one pass over a block ``S`` (corpus rows by queries)."""
    import numpy as np

    from vecdiag.neighbors._filter import _GROUP, select

    def grouped(g):
        def run(S):
            w = S.shape[0] // g
            return np.maximum.reduce(S[:w * g].reshape(g, w, S.shape[1]), axis=0)
        return run

    def reduceat(S):
        w = S.shape[0] // _GROUP
        return np.maximum.reduceat(S[:w * _GROUP], np.arange(0, w * _GROUP, _GROUP), axis=0)

    mask = {}

    def mask_count(S):
        m = mask.setdefault(S.shape, np.empty(S.shape, bool))
        np.greater(S, bar, out=m)
        return np.count_nonzero(m)

    return {
        "one read (maximum.reduce, axis=None)": lambda S: np.maximum.reduce(S, axis=None),
        f"group maxima, {_GROUP} strided groups (the filter's)": grouped(_GROUP),
        "group maxima, 8 groups": grouped(8),
        "group maxima, 64 groups": grouped(64),
        "column maxima (maximum.reduce, axis=0)": lambda S: np.maximum.reduce(S, axis=0),
        f"maximum.reduceat, runs of {_GROUP} rows": reduceat,
        "mask and count": mask_count,
        "the NumPy filter (_filter.select)": lambda S: select(S, 28, bar, by_column=True),
    }


def main() -> int:
    import numpy as np
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    C, Q = search_data()
    bc, bq = 3_847, Q.shape[0]
    full = C @ Q.T
    bar = (np.partition(full, full.shape[0] - 10, axis=0)[full.shape[0] - 10]
           - 1e-3).astype(C.dtype)
    del full
    named = passes(bar)
    best = {name: np.inf for name in named}
    with threadpool_limits(1, user_api="blas"):
        for _ in range(args.repeat):
            for name, run in named.items():
                times = block_times(C, Q, bc, lambda S, c0, run=run: run(S),
                                    clock=time.thread_time)
                best[name] = min(best[name], float(np.median(times)))
    print(f"# one settled block of {bc} x {bq} after its product, one thread, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    print("| pass | ms |\n|---|---:|")
    for name, t in best.items():
        print(f"| {name} | {t * 1e3:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
