"""Plateaus of identical rows: the distinct-rows path against the engine's re-check rounds.

A corpus where a share of the rows is one vector (empty texts embedded alike) makes the
k-th place of many queries fall inside a plateau of equal scores. The engine's re-check
rounds widen the candidate margin fourfold until every row is a candidate; the
distinct-rows path (vecdiag/neighbors/_copies.py) searches the distinct rows and expands
the copies. Both give the same indices and scores (asserted here); the times are printed
side by side, best of ``--repeat`` runs.

Usage::

    PYTHONPATH=. python benchmarks/bench_copies.py
    PYTHONPATH=. python benchmarks/bench_copies.py --n 12000 --share 0.5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vecdiag as vd
from vecdiag.neighbors import _copies


def corpus(n: int, d: int, share: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[:int(share * n)] = X[0]
    return X[rng.permutation(n)]


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    X = corpus(args.n, args.d, args.share)
    graph = lambda: vd.Index(X).knn_graph(10, show_progress=False)        # noqa: E731
    diagnose = lambda: vd.diagnose(X, show_progress=False)                 # noqa: E731
    real = _copies.worth_it
    rows = []
    for name, fn in (("kNN graph, k = 10", graph), ("diagnose", diagnose)):
        t_new, new = best(fn, args.repeat)
        _copies.worth_it = lambda C, margin: False
        try:
            t_old, old = best(fn, 1 if name == "diagnose" else args.repeat)
        finally:
            _copies.worth_it = real
        if name.startswith("kNN"):
            assert np.array_equal(new.indices, old.indices)
            assert np.array_equal(new.scores, old.scores)
        rows.append((name, t_old, t_new))
    print(f"{args.n:,} x {args.d}, {args.share:.0%} of the rows one vector")
    for name, t_old, t_new in rows:
        print(f"  {name:18s} re-check rounds {t_old:7.2f} s   distinct rows {t_new:6.2f} s"
              f"   ({t_old / t_new:.1f}x)")


if __name__ == "__main__":
    main()
