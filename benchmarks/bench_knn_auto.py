"""Auto mode's choices over a session: an Index searched again and again, and vd.knn calls.

The low-precision candidate stage (vecdiag/neighbors/_bf16.py) needs a copy of the corpus,
and making it costs time; auto mode (vecdiag/neighbors/_pick.py) searches a corpus without
a copy in float32 until its searches have been expected to save what the copy costs, then
makes it ("rent, then buy"). This prints, for the float32 path and auto mode, the CPU
seconds of each of six searches of one Index, and of vd.knn calls (fresh rows, so a fresh
copy, in every call) of 1,000 and 4,000 queries; and which path the queries took.
Workload (a) of bench_knn.py: 100,000 x 384 clustered float32 rows, k = 10, one thread.

Usage::

    OPENBLAS_CORETYPE=SkylakeX PYTHONPATH=. python benchmarks/bench_knn_auto.py
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_knn import search_data  # noqa: E402

PATHS = {"float32": {"VECDIAG_INT8": "0", "VECDIAG_BF16": "0"},
         "auto": {"VECDIAG_INT8": "", "VECDIAG_BF16": ""}}


def main() -> int:
    import torch  # noqa: F401  (loaded, as sentence-transformers would: auto may use it)
    from threadpoolctl import threadpool_limits

    import vecdiag as vd
    from vecdiag.neighbors import _bf16

    C, Q = search_data("clustered")
    os.environ.setdefault("VECDIAG_NUMBA", "1")
    with threadpool_limits(1, user_api="blas"):
        for name, env in PATHS.items():
            os.environ.update(env)
            _bf16.stats.update(dict.fromkeys(_bf16.stats, 0))
            index = vd.Index(C)
            seconds = []
            for _ in range(6):
                t0 = time.process_time()
                index.search(Q, 10, show_progress=False)
                seconds.append(time.process_time() - t0)
            print(f"Index, 6 searches of 1,000 queries, {name}: "
                  + ", ".join(f"{s:.2f}" for s in seconds)
                  + f" s (total {sum(seconds):.2f}); paths {dict(_bf16.stats)}")
        for m in (1_000, 4_000):
            queries = np.vstack([Q] * (m // Q.shape[0]))
            for name, env in PATHS.items():
                os.environ.update(env)
                _bf16.stats.update(dict.fromkeys(_bf16.stats, 0))
                best = np.inf
                for _ in range(3):
                    t0 = time.process_time()
                    vd.knn(queries, C, k=10, show_progress=False)
                    best = min(best, time.process_time() - t0)
                print(f"vd.knn, {m:,} queries, {name}: {best:.2f} s (best of 3); "
                      f"paths {dict(_bf16.stats)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
