"""What one hit costs in the compiled fold-in (vecdiag/neighbors/_fold_kernels.py).

A settled score block (3,847 corpus rows x 1,000 queries, every entry below each query's
28 kept keys) is folded in as is, then with ``--hits`` entries planted above every kept
key at random places. The difference, divided by the hits, is the cost of one hit. Three
kernels share the scan (64 entries compared per step, a step with a hit looked at again)
and differ in what a hit does:

- ``kernel``: the shipped insert (replace the smallest kept key, then search the 28
  keys for the new smallest);
- ``writes only``: replace the key and its index, no search (wrong results: a floor
  for the search's cost);
- ``search only``: the search for the smallest, no replacement.

Usage::

    PYTHONPATH=. python benchmarks/bench_fold_hits.py --hits 8000 --repeat 15
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    import numba
    import numpy as np

    from vecdiag.neighbors import _fold_kernels as K

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=8000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    jit = numba.njit(nogil=True)
    W = 64

    def with_insert(insert):
        @jit
        def fold(S, offset, key, idx, filled, floor):
            m, lines = S.shape
            cur, arg = K.start(key, floor)
            for c in range(m):
                row = S[c]
                for l0 in range(0, lines - lines % W, W):
                    hits = np.int32(0)
                    for i in range(W):
                        hits = np.int32(hits + np.int32(row[l0 + i] > cur[l0 + i]))
                    if hits:
                        for i in range(W):
                            if row[l0 + i] > cur[l0 + i]:
                                insert(l0 + i, c + offset, row[l0 + i], key, idx, filled,
                                       cur, arg, floor)
        return fold

    @jit
    def writes_only(line, col, v, key, idx, filled, cur, arg, floor):
        key[line, arg[line]] = v
        idx[line, arg[line]] = col

    @jit
    def search_only(line, col, v, key, idx, filled, cur, arg, floor):
        low, at = key[line, 0], 0
        for j in range(1, key.shape[1]):
            if key[line, j] < low:
                low, at = key[line, j], j
        arg[line] = at

    m, lines, kp = 3_847, 1_000, 28
    rng = np.random.default_rng(0)
    settled = rng.random((m, lines), dtype=np.float32) * 0.5
    planted = settled.copy()
    planted[rng.integers(0, m, args.hits), rng.integers(0, lines, args.hits)] = 1.5
    floor = np.full(lines, -np.inf, np.float32)

    def state():
        key = (0.5 + 0.5 * np.random.default_rng(1).random((lines, kp))).astype(np.float32)
        return key, np.zeros((lines, kp), np.int64), np.full(lines, kp, np.int64)

    kernels = {"kernel": K.by_column, "writes only": with_insert(writes_only),
               "search only": with_insert(search_only)}
    times = {name: {"settled": [], "planted": []} for name in kernels}
    for _ in range(args.repeat + 1):                   # the first round compiles
        for name, fold in kernels.items():
            for label, S in (("settled", settled), ("planted", planted)):
                key, idx, filled = state()
                t0 = time.perf_counter()
                fold(S, 0, key, idx, filled, floor)
                times[name][label].append(time.perf_counter() - t0)
    hits = int((planted > 0.5).sum())
    print(f"# {m} x {lines} block, kp = {kp}, {hits} hits, best of {args.repeat}")
    print("| hit does | settled block, ms | with the hits, ms | per hit, ns |")
    print("|---|---:|---:|---:|")
    for name, t in times.items():
        a, b = min(t["settled"][1:]), min(t["planted"][1:])
        print(f"| {name} | {a * 1e3:.3f} | {b * 1e3:.3f} | {(b - a) * 1e9 / hits:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
