"""Exact search, one thread each: CPU seconds of the engine against its own bare products and faiss.

For a shared machine where wall-clock ratios are noise: BLAS held to one thread, faiss to
one OpenMP thread, and each contender's process CPU time (``time.process_time``) taken as
the best of ``--repeat`` runs, round robin. CPU time still grows when other processes
share the caches, but far less than wall time grows with the load. Workload (a) of
bench_knn.py: 100,000 x 384 float32, 1,000 queries, k = 10, cosine; the engine runs with
each selection path forced (``VECDIAG_NUMBA=1`` compiled, ``=0`` NumPy); "bare products"
are the blocks of the plan its tuner chose (vecdiag/neighbors/_tune.py), printed too.

Usage::

    PYTHONPATH=. python benchmarks/bench_knn_cpu.py --repeat 7
    PYTHONPATH=. python benchmarks/bench_knn_cpu.py --repeat 7 --data cone
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_knn import (auto_product, bf16_paths, engine_plans,  # noqa: E402
                       engine_products, search_data, selection, stage)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--data", choices=("clustered", "cone"), default="clustered",
                        help="the corpus: clustered unit vectors, or a narrow cone "
                             "(cosines near 0.9)")
    args = parser.parse_args()
    import faiss
    from threadpoolctl import threadpool_limits

    import vecdiag as vd
    from vecdiag.neighbors._tune import Plan

    C, Q = search_data(args.data)
    index = vd.Index(C)
    flat = faiss.IndexFlatIP(C.shape[1])
    flat.add(C)
    faiss.omp_set_num_threads(1)

    def search():
        return index.search(Q, 10, show_progress=False)

    def blocks(by_row: bool, chunk: int):     # the engine's blocks on one thread, no selection
        return lambda: engine_products(Q, C, c_chunk=chunk, by_row=by_row, workers=1)

    with threadpool_limits(1, user_api="blas"):
        for _ in range(2):                        # compile the kernel; the tuner chooses
            for path in ("compiled", "numpy"):
                selection(path, search)()
    plans = engine_plans(C.shape[1], C.itemsize)
    mine = plans["compiled"] or plans["numpy"] or Plan(False, 4096)
    print(f"plans the engine's tuner chose: compiled selection -> {plans['compiled']}; "
          f"NumPy selection -> {plans['numpy']}")
    contenders = {"bare products": blocks(mine.by_row, mine.chunk),
                  "bare, corpus by queries 4,096": blocks(False, 4096),
                  "vecdiag, compiled selection": selection("compiled", search),
                  "vecdiag, NumPy selection": selection("numpy", search),
                  "vecdiag, bf16 candidates": stage("bf16", search),
                  "vecdiag, int8 candidates": stage("int8", search),
                  "vecdiag, default (auto)": stage("auto", search),
                  "faiss IndexFlatIP": lambda: flat.search(Q, 10)}
    best = {name: float("inf") for name in contenders}
    with threadpool_limits(1, user_api="blas"):
        for fn in contenders.values():
            fn()                                  # warm up (and compile the kernel)
        for _ in range(args.repeat):
            for name, fn in contenders.items():
                t0 = time.process_time()
                fn()
                best[name] = min(best[name], time.process_time() - t0)
    from vecdiag.neighbors import _bf16

    with threadpool_limits(1, user_api="blas"):
        ref = selection("compiled", search)()
        for product in ("bf16", "int8", "auto"):
            low = stage(product, search)()
            assert (ref.indices == low.indices).all() and (ref.scores == low.scores).all()
    print(bf16_paths(_bf16.stats) + "; results equal to the float32 path's")
    print(f"auto mode, k = 10 over these rows: {auto_product(C)} (the Index's int8 and bf16 "
          "copies were made by the forced contenders' warm-up: auto uses whichever its "
          "model ranks first)")
    print(f"one thread each, CPU seconds, best of {args.repeat} (load {os.getloadavg()[0]:.1f})")
    for name, seconds in best.items():
        print(f"  {name:30s} {seconds:.3f} s  {best['bare products'] / seconds:6.1%} of bare  "
              f"{best['faiss IndexFlatIP'] / seconds:.2f}x faiss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
