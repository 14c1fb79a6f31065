"""vd.drift on data the tests do not use: null calibration, planted shifts, argument order.

Run:  python benchmarks/bench_drift_null.py [--trials 200] [--power-trials 40]

1. Null. Both sets drawn from one distribution: isotropic N(0, I_16), 6 Gaussian
   clusters, binary vectors (many rows in both sets), and random disjoint subsets of the
   Cranfield MiniLM corpus embeddings (``../shared/data`` or ``--cranfield``), at
   60 vs 45 and 12 vs 150 rows. Per method: the share of p <= 0.05 over ``--trials``
   draws (99 permutations), beside the binomial 99% band of a 5% rate, and P(p <= 0.5).
2. Planted shifts on Cranfield (150 vs 150 rows): a mean shift of 0.5 sd in 3 dims, a
   random rotation of the 4 highest-variance dims (mean kept), a new tight cluster of
   5% of the current rows, every current vector 1.3 times longer. Detections per method.
3. Argument order: statistic of drift(X, Y) minus drift(Y, X) (no subsampling): 0 for
   every method, and the MMD and mean distance against scipy computed by hand.

Never run by the tests. One BLAS thread (small matrices, many calls: more threads
busy-wait on a shared machine); about 30 s of CPU at the defaults.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist, pdist
from scipy.stats import binom

import vecdiag as vd

METHODS = ("mmd", "classifier", "mean_shift")


def null_pair(kind, rng, m, n, base, d=16):
    if kind == "iso":
        return rng.normal(size=(m, d)), rng.normal(size=(n, d))
    if kind == "clusters":
        centres = np.random.default_rng(7).normal(size=(6, d)) * 4
        def draw(k):
            return centres[rng.integers(0, 6, k)] + rng.normal(size=(k, d)) * 0.5
        return draw(m), draw(n)
    if kind == "binary":
        return ((rng.random((m, d)) < 0.3).astype(float),
                (rng.random((n, d)) < 0.3).astype(float))
    rows = rng.choice(base.shape[0], m + n, replace=False)
    return base[rows[:m]], base[rows[m:]]


def planted(kind, rng, base, m=150, n=150):
    rows = rng.choice(base.shape[0], m + n, replace=False)
    X, Y = base[rows[:m]].copy(), base[rows[m:]].copy()
    sd, mu = base.std(axis=0), base.mean(axis=0)
    if kind == "mean shift":
        Y[:, :3] += 0.5 * sd[:3]
    elif kind == "rotation":
        top = np.argsort(-base.var(axis=0))[:4]
        Q = np.linalg.qr(np.random.default_rng(5).normal(size=(4, 4)))[0]
        Y[:, top] = (Y[:, top] - mu[top]) @ Q + mu[top]
    elif kind == "new cluster":
        centre = mu + 3 * sd * np.sign(np.random.default_rng(6).normal(size=base.shape[1]))
        k = int(0.05 * n)
        Y[:k] = centre + rng.normal(size=(k, base.shape[1])) * sd * 0.3
    elif kind == "norm x1.3":
        Y *= 1.3
    return X, Y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--power-trials", type=int, default=40)
    ap.add_argument("--cranfield", default=str(Path(__file__).resolve().parents[1] / ".." /
                                               "shared/data/cranfield/emb_minilm_corpus.npy"))
    args = ap.parse_args()
    base = np.load(args.cranfield).astype(np.float64)
    t = args.trials
    lo, hi = binom.ppf(0.005, t, 0.05) / t, binom.ppf(0.995, t, 0.05) / t
    print(f"1. null, {t} draws each; 99% band of a 5% rate: [{lo:.3f}, {hi:.3f}]")
    for m, n in ((60, 45), (12, 150)):
        for kind in ("iso", "clusters", "binary", "cranfield"):
            for method in METHODS:
                start = time.time()
                p = np.array([vd.drift(*null_pair(kind, np.random.default_rng(1000 * s + 17),
                                                  m, n, base),
                                       method=method, n_permutations=99,
                                       random_state=s).p_value for s in range(t)])
                rate = np.mean(p <= 0.05)
                flag = "" if lo <= rate <= hi else "   <-- outside the band"
                print(f"  {m:>3} vs {n:<3} {kind:9s} {method:10s} rate {rate:.3f}  "
                      f"P(p<=0.5) {np.mean(p <= 0.5):.2f}  ({time.time() - start:.1f}s){flag}")
    print(f"2. planted shifts on Cranfield, 150 vs 150, detections of {args.power_trials}")
    for kind in ("none", "mean shift", "rotation", "new cluster", "norm x1.3"):
        hits = [sum(vd.drift(*planted(kind, np.random.default_rng(s), base), method=method,
                             n_permutations=99, random_state=s).drifted
                    for s in range(args.power_trials)) for method in METHODS]
        print(f"  {kind:12s} " + "  ".join(f"{mt} {h:>2}" for mt, h in zip(METHODS, hits)))
    print("3. argument order and references (one Cranfield draw with a mean shift)")
    X, Y = planted("mean shift", np.random.default_rng(0), base)
    for method in METHODS:
        a = vd.drift(X, Y, method=method, n_permutations=19, alpha=0.1)
        b = vd.drift(Y, X, method=method, n_permutations=19, alpha=0.1)
        print(f"  {method:10s} statistic {a.statistic:.6g}, swapped minus it "
              f"{b.statistic - a.statistic:.1e}")
    Z = np.vstack([X, Y])
    sigma = np.median(pdist(Z))
    def k(A, B):
        return np.exp(-cdist(A, B, "sqeuclidean") / (2 * sigma**2))
    m, n = len(X), len(Y)
    Kxx, Kyy = k(X, X), k(Y, Y)
    want = ((Kxx.sum() - np.trace(Kxx)) / (m * (m - 1)) + (Kyy.sum() - np.trace(Kyy))
            / (n * (n - 1)) - 2 * k(X, Y).mean())
    got = vd.drift(X, Y, method="mmd", n_permutations=19, alpha=0.1)
    print(f"  MMD² {got.statistic:.10g} vs scipy by hand {want:.10g}; bandwidth "
          f"{got.details['bandwidth']:.10g} vs {sigma:.10g}")
    got = vd.drift(X, Y, method="mean_shift", n_permutations=19, alpha=0.1)
    print(f"  mean distance {got.statistic:.10g} vs numpy "
          f"{np.linalg.norm(Y.mean(0) - X.mean(0)):.10g}")


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        main()
