"""Exact search of a Dask corpus vs the single-process engine on the same array (issue 17).

    python benchmarks/bench_scale_search.py                      # 1,000 x 1,000,000 x 384, threads
    python benchmarks/bench_scale_search.py --scheduler cluster  # LocalCluster, 2 worker processes
    python benchmarks/bench_scale_search.py --n 200000 --repeats 2

The corpus (float32, generated chunk by chunk from fixed seeds) is held in memory twice:
as one NumPy array in this process (for ``vd.knn`` and the bare products) and as a Dask
array (``da.from_array`` of that array for threads; the same chunks generated and
persisted on the workers for a cluster). The runs alternate (engine, Dask, engine, ...),
so that a machine shared with other work slows both alike; the load average is printed.
Printed: seconds per run, the rate in GFLOP/s (2 m n d per search), the bare blocked
product rate (``Q @ X[chunk].T`` over 4096-row chunks, BLAS on every core, nothing
selected), and the Dask rate as a share of both. The answers are checked equal.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def chunk(i: int, rows: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, i]).standard_normal((rows, d), dtype=np.float32)


def sizes(n: int, rows: int) -> list[int]:
    return [min(rows, n - a) for a in range(0, n, rows)]


def bare_products(Q: np.ndarray, X: np.ndarray, step: int = 4096) -> float:
    t = time.perf_counter()
    for a in range(0, X.shape[0], step):
        Q @ X[a:a + step].T
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--chunk-rows", type=int, default=125_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--metric", default="cosine")
    p.add_argument("--scheduler", choices=["threads", "cluster"], default="threads")
    args = p.parse_args()

    import dask
    import dask.array as da

    import vecdiag as vd

    n, d, m, k = args.n, args.d, args.queries, args.k
    rows = sizes(n, args.chunk_rows)
    X = np.concatenate([chunk(i, r, d, 1) for i, r in enumerate(rows)])
    Q = np.random.default_rng(2).standard_normal((m, d), dtype=np.float32)
    client = cluster = None
    if args.scheduler == "cluster":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               memory_limit="6GiB", silence_logs=40)
        client = Client(cluster)
        parts = [da.from_delayed(dask.delayed(chunk)(i, r, d, 1), (r, d), np.float32)
                 for i, r in enumerate(rows)]
        Xd = da.concatenate(parts).persist()
        from distributed import wait

        wait(Xd)
        ctx = dask.config.set({})
    else:
        Xd = da.from_array(X, chunks=(args.chunk_rows, d))
        ctx = dask.config.set(scheduler="threads", num_workers=os.cpu_count())
    flop = 2.0 * m * n * d
    print(f"{m:,} queries x {n:,} x {d} float32, k={k}, {args.metric}, {len(rows)} chunks of "
          f"<= {args.chunk_rows:,} rows, scheduler={args.scheduler}, cores={os.cpu_count()}")
    print(f"load average before: {os.getloadavg()}")
    eng, dsk, bare = [], [], []
    with ctx:
        ref = vd.knn(Q, X, k=k, metric=args.metric, show_progress=False)   # warm-up, reference
        got = vd.knn(Q, Xd, k=k, metric=args.metric)
        assert (got.indices == ref.indices).all() and (got.scores == ref.scores).all(), \
            "Dask answer differs from the engine"
        for _ in range(args.repeats):
            bare.append(bare_products(Q, X))
            t = time.perf_counter()
            vd.knn(Q, X, k=k, metric=args.metric, show_progress=False)
            eng.append(time.perf_counter() - t)
            t = time.perf_counter()
            vd.knn(Q, Xd, k=k, metric=args.metric)
            dsk.append(time.perf_counter() - t)
    print(f"load average after: {os.getloadavg()}")

    def line(name, ts):
        return (f"{name:<28} {min(ts):7.2f} s best, {np.median(ts):7.2f} s median "
                f"({', '.join(f'{t:.2f}' for t in ts)}); {flop / min(ts) / 1e9:6.1f} GFLOP/s")

    print(line("bare blocked products", bare))
    print(line("engine (vd.knn, NumPy)", eng))
    print(line(f"Dask ({args.scheduler})", dsk))
    print(f"Dask / engine rate: {min(eng) / min(dsk):.0%} best-vs-best, "
          f"{np.median([e / s for e, s in zip(eng, dsk)]):.0%} median of paired runs; "
          f"Dask / bare products: {min(bare) / min(dsk):.0%}")
    print("answers identical (indices and scores, bit for bit)")
    if client is not None:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
