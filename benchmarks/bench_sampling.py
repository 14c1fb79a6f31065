"""Calibration of the sampled statistics: how often their 95% intervals cover the exact value.

For each corpus (small enough for the exact kNN graph) and each sample size, over many
seeds: draw s rows, take their neighbour lists (rows of the exact graph, which is what
``vd.hubness(X, k, sample=s)`` searches for, see tests/test_sampled_stats.py), estimate
N_k's skewness, the hub share (N_k ≥ 2k), the antihub share (N_k = 0), and the share of
items with a near-copy (cos ≥ 0.98, from the exact nearest neighbours) and the share of
redundant items (Σ (group size − 1) / n, from the near-copies among the k nearest), and
count how often
the interval covers the exact figure. Printed per cell: coverage, the seeds where the
figure was estimable, the mean estimate ± its spread over seeds, the mean half-width.
Target: coverage in [0.90, 0.99].

Then one timing: ``vd.hubness(X, k=10, sample=s)`` on a larger corpus against the
exact graph (both in this process; the machine is shared, so take ranges).

Usage::

    python benchmarks/bench_sampling.py                 # 50 seeds (a few minutes)
    python benchmarks/bench_sampling.py --seeds 200     # tighter coverage figures
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vecdiag as vd  # noqa: E402
from vecdiag.diagnostics import sampled_estimators as E  # noqa: E402
from vecdiag.diagnostics.hubness import skewness  # noqa: E402
from vecdiag.diagnostics.duplicates import exact_duplicate_groups  # noqa: E402
from vecdiag.diagnostics.sampled_duplicates import copy_share, redundant_share  # noqa: E402
from vecdiag.diagnostics.sampling import normal_quantile  # noqa: E402


def corpora(n: int) -> dict:
    rng = np.random.default_rng(0)
    out = {
        "gaussian d=100": rng.standard_normal((n, 100)).astype(np.float32),
        "gaussian d=3 (no hubs)": rng.standard_normal((n, 3)).astype(np.float32),
    }
    centres = rng.standard_normal((20, 50)) * 2
    out["clustered d=50"] = (centres[rng.integers(0, 20, n)]
                             + rng.standard_normal((n, 50))).astype(np.float32)
    dup = rng.standard_normal((n, 64)).astype(np.float32)
    copies = rng.choice(n, n // 10, replace=False)
    dup[copies] = dup[rng.choice(n, n // 10)] + 0.003 * rng.standard_normal((n // 10, 64))
    dup[copies[:n // 40]] = dup[copies[-(n // 40):]]   # and 2.5% exact copies
    out["gaussian d=64 + 10% near-copies"] = dup
    return out


def calibrate(X: np.ndarray, k: int, s: int, seeds: int, z: float) -> dict:
    n = X.shape[0]
    graph = vd.Index(X).knn_graph(k)
    lists_all, nearest = graph.indices, graph.scores[:, 0]
    nk = np.bincount(lists_all.ravel(), minlength=n)
    exact_copy = np.zeros(n, dtype=bool)
    groups = vd.near_duplicates(X, threshold=0.98)
    for g in groups:
        exact_copy[g] = True
    identical = np.zeros(n, dtype=bool)
    exact_groups = exact_duplicate_groups(X)
    for g in exact_groups:
        identical[g] = True
    near = np.count_nonzero(graph.scores >= 0.98, axis=1)
    truth = {"skewness": skewness(nk), "hub share": np.mean(nk >= 2 * k),
             "antihub share": np.mean(nk == 0), "near-copy share": exact_copy.mean(),
             "redundant share": sum(len(g) - 1 for g in groups) / n}
    cells = {name: [] for name in truth}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n, s, replace=False))
        lists = lists_all[rows]
        est, se, _ = E.skewness_estimate(lists, n)
        cells["skewness"].append((est, se))
        est, se, _ = E.hub_estimate(lists, n, rng)
        cells["hub share"].append((est, se))
        est, se, _, _ = E.antihub_estimate(lists, n)
        cells["antihub share"].append((est, se))
        share, ci = copy_share((nearest[rows] >= 0.98) | identical[rows], identical[rows], n,
                               int(identical.sum()))
        cells["near-copy share"].append((share, ci))
        cells["redundant share"].append(redundant_share(
            near[rows], (near[rows] > 0) | identical[rows], identical[rows], n,
            sum(len(g) - 1 for g in exact_groups), int(identical.sum()), ci))
    out = {}
    for name, values in cells.items():
        got = [(e, w) for e, w in values if w is not None and e is not None]
        if not got:
            out[name] = (truth[name], None)
            continue
        est = np.array([e for e, _ in got])
        if name in ("near-copy share", "redundant share"):
            lo = np.array([w[0] for _, w in got])
            hi = np.array([w[1] for _, w in got])
        else:
            se = np.array([w for _, w in got])
            q = E.hub_quantile(0.95) if name == "hub share" else z
            lo, hi = est - q * se, est + q * se
        cover = np.mean((lo <= truth[name]) & (truth[name] <= hi))
        out[name] = (truth[name], (cover, len(got), est.mean(), est.std(),
                                   np.mean((hi - lo) / 2)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--timing-n", type=int, default=40_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cpus "
          f"(shared), numpy {np.__version__}, vecdiag {vd.__version__}")
    print(f"n={args.n}, k={args.k}, {args.seeds} seeds, 95% intervals; cells: coverage "
          "(seeds estimable) estimate mean ± sd over seeds, mean half-width; exact value")
    z = normal_quantile(0.95)
    for name, X in corpora(args.n).items():
        for frac in (0.1, 0.3, 0.5, 0.7):
            s = int(frac * args.n)
            res = calibrate(X, args.k, s, args.seeds, z)
            print(f"\n{name}, s={s} (f={frac})")
            for stat, (truth, cell) in res.items():
                if cell is None:
                    print(f"  {stat:16s} exact {truth:8.4f}  not estimable at this fraction")
                    continue
                cover, m, mean, sd, half = cell
                print(f"  {stat:16s} exact {truth:8.4f}  coverage {cover:.2f} ({m}/{args.seeds})"
                      f"  estimate {mean:.4f} ± {sd:.4f}  half-width {half:.4f}")
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((200, 128))
    Y = (centres[rng.integers(0, 200, args.timing_n)]
         + rng.standard_normal((args.timing_n, 128))).astype(np.float32)
    t = time.perf_counter()
    est = vd.hubness(Y, k=args.k, sample=2000, random_state=0)
    print()
    sampled = time.perf_counter() - t
    t = time.perf_counter()
    exact = vd.hubness(Y, k=args.k, show_progress=False)
    full = time.perf_counter() - t
    print(f"\ntiming, {args.timing_n:,} x 128: sampled (2,000 rows) {sampled:.2f} s, exact graph "
          f"{full:.2f} s ({full / sampled:.1f}x)")
    print(f"  exact skewness {exact.skewness:.3f}; {est.lines()[0]}")


if __name__ == "__main__":
    main()
