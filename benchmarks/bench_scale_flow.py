"""vd.explain_neighbors and vd.drift on a Dask corpus vs the NumPy path (issue 17).

    python benchmarks/bench_scale_flow.py                       # 100,000 x 128, threads
    python benchmarks/bench_scale_flow.py --n 200000 --d 384 --scheduler cluster

The corpus (float32, generated from a fixed seed, three rogue dimensions planted, the
expected document's rogue values low and the query's high) is held once as a NumPy
array and once as a Dask array of 8 row chunks (``da.from_array`` for threads; the
same array scattered to a LocalCluster of 2 worker processes for ``cluster``). Printed:
the first explanation on a Dask Index (it pays for the corpus statistics, the fitted
transforms, the CSLS and mutual-proximity statistics) and a second one (cached), the
NumPy raw-array explanation (sampled statistics above 5,000 rows, as the Dask one), the
causes each finds, and ``vd.drift`` (MMD) of two halves on Dask and NumPy with the
p-values checked equal. The load average is printed: on a shared machine take ranges.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--scheduler", choices=("threads", "cluster"), default="threads")
    args = parser.parse_args()

    import dask
    import dask.array as da

    import vecdiag as vd

    n, d = args.n, args.d
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, :3] += np.float32(4.0)
    q = X[n // 2] + np.float32(0.2) * rng.normal(size=d).astype(np.float32)
    X[n // 2, :3] = 1.0
    q[:3] = 8.0
    client = None
    if args.scheduler == "cluster":
        import distributed

        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        client = distributed.Client(cluster)
        step = -(-n // 8)   # the chunks scattered to the workers, not embedded in the graph
        bounds = [(a, min(n, a + step)) for a in range(0, n, step)]
        futures = client.scatter([X[a:b] for a, b in bounds])
        Xd = da.concatenate([da.from_delayed(f, shape=(b - a, d), dtype=X.dtype)
                             for f, (a, b) in zip(futures, bounds)])
    else:
        dask.config.set(scheduler="threads")
        Xd = da.from_array(X, chunks=(-(-n // 8), -1))
    print(f"n={n:,} d={d} scheduler={args.scheduler} load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    index = vd.Index(Xd)
    t = time.perf_counter()
    first = vd.explain_neighbors(q, index, k=10, expected=[n // 2])
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    vd.explain_neighbors(q, index, k=10, expected=[n // 2])
    t2 = time.perf_counter() - t
    t = time.perf_counter()
    ref = vd.explain_neighbors(q, X, k=10, expected=[n // 2])
    t3 = time.perf_counter() - t
    print(f"explain, Dask Index: first {t1:.1f} s, cached {t2:.1f} s; causes "
          f"{[c.code for c in first.causes]} (statistics exact: {first.stats['exact']})")
    print(f"explain, NumPy array: {t3:.1f} s; causes {[c.code for c in ref.causes]}")
    half = n // 2
    a, b = Xd[:half], Xd[half:] + np.float32(0.02)
    t = time.perf_counter()
    r1 = vd.drift(a, b, method="mmd")
    t4 = time.perf_counter() - t
    t = time.perf_counter()
    r2 = vd.drift(X[:half], X[half:] + np.float32(0.02), method="mmd")
    t5 = time.perf_counter() - t
    print(f"drift (mmd, 1,000 sampled rows per set): Dask {t4:.1f} s, NumPy {t5:.1f} s, "
          f"same p-value: {r1.p_value == r2.p_value}")
    if client is not None:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
