"""Calibration of vecdiag's tests: false-alarm rates under the null, interval coverage.

Run:  python benchmarks/bench_calibration.py [--reps 200] [--skip-drift] [--skip-compare]

1. vd.drift under no drift: two samples of one distribution (Gaussian, or 5 Gaussian
   clusters), for several n and d, float32; the rate of ``drifted`` at alpha = 0.05 over
   ``--reps`` draws, printed beside the binomial 99% upper bound of a rate of 0.05.
2. vd.compare's paired tests under the null: per-query differences of one system run
   twice with symmetric noise (Gaussian, heavy-tailed t(2), reciprocal ranks, mostly
   ties); rejection rate at alpha = 0.05, and the coverage of the 95% interval of the
   mean difference with a planted mean (Gaussian N(0.1, 1)).

Never run by the tests (minutes of CPU); the figures go into review notes.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import binom

import vecdiag as vd
from vecdiag.evaluation.significance import paired_test


def _sample(rng, n, d, kind):
    if kind == "gauss":
        return rng.normal(size=(n, d)).astype(np.float32)
    centres = np.random.default_rng(123).normal(size=(5, d)) * 3
    return (centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d))).astype(np.float32)


def drift_null(reps: int) -> None:
    bound = binom.ppf(0.99, reps, 0.05) / reps
    print(f"vd.drift false alarms at alpha 0.05 ({reps} draws; 99% bound {bound:.3f})")
    for n, d in ((20, 2), (50, 16), (30, 384), (500, 16)):
        for kind in ("gauss", "clusters"):
            rates = []
            for method in ("mmd", "classifier", "mean_shift"):
                rng = np.random.default_rng(7)
                alarms = sum(vd.drift(_sample(rng, n, d, kind), _sample(rng, n, d, kind),
                                      method=method, n_permutations=99, random_state=r,
                                      show_progress=False).drifted for r in range(reps))
                rates.append(f"{method} {alarms / reps:.3f}")
            print(f"  n={n:<4d} d={d:<4d} {kind:<9s} " + "  ".join(rates), flush=True)


def _differences(rng, kind, n):
    if kind == "gauss":
        return rng.normal(size=n)
    if kind == "t(2)":
        return rng.standard_t(2, size=n)
    if kind == "ranks":
        base = rng.integers(1, 6, n)
        noisy = lambda: 1 / np.maximum(1, base + rng.integers(-1, 2, n))  # noqa: E731
        return noisy() - noisy()
    return rng.choice([-0.5, 0, 0, 0, 0, 0, 0, 0.5], size=n)   # mostly ties


def compare_null(reps: int) -> None:
    bound = binom.ppf(0.99, reps, 0.05) / reps
    print(f"paired tests: rejections at alpha 0.05 ({reps} draws; 99% bound {bound:.3f}), "
          "coverage of the 95% interval")
    rng = np.random.default_rng(11)
    for method in ("randomization", "ttest", "bootstrap"):
        for n in (3, 5, 10, 20, 50, 500):
            rates = []
            for kind in ("gauss", "t(2)", "ranks", "ties"):
                if method != "randomization" and n < 2:
                    continue
                hits = sum(paired_test(_differences(rng, kind, n), method=method,
                                       n_resamples=999, random_state=r)["p_value"] < 0.05
                           for r in range(reps))
                rates.append(f"{kind} {hits / reps:.3f}")
            covered = 0
            for r in range(reps):
                lo, hi = paired_test(rng.normal(0.1, 1, n), method=method, n_resamples=999,
                                     random_state=r)["ci"]
                covered += lo <= 0.1 <= hi
            print(f"  {method:<13s} n={n:<4d} " + "  ".join(rates)
                  + f"  | coverage {covered / reps:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--skip-drift", action="store_true")
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    if not args.skip_compare:
        compare_null(args.reps)
    if not args.skip_drift:
        drift_null(args.reps)


if __name__ == "__main__":
    main()
