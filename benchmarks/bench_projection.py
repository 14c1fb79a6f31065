"""Benchmark: vd.pca against scikit-learn's PCA solvers; UMAP cold and warm; faithfulness.

Run: ``python benchmarks/bench_projection.py`` (a few minutes on 2 idle cores;
``--only pca,real`` runs some sections). Everything runs in one process on the same
data; times are the best and the median of several alternating repeats.

1. PCA, 100,000 x 384 float32, 2 components: vd.pca vs sklearn
   ``svd_solver="covariance_eigh"`` (its fastest exact solver) and ``"randomized"``;
   accuracy against a float64 reference (eigh of the float64 covariance).
2. Flat spectrum (isotropic Gaussian data): |cos| between each solver's PC1 and the exact
   PC1 of the sample. Randomized range finders cannot find a direction that barely
   stands out.
3. UMAP on 10,000 x 384: ``import umap``, the first fit (numba compilation), a warm fit.
4. Faithfulness of the PCA and UMAP maps (k=10) and its cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vecdiag as vd  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = "; ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
                         for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, BLAS: {blas}; load average {load:.1f}")


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, times


def data(n, d, rng, flat=False):
    """Anisotropic float32 vectors like sentence embeddings (a shared offset, a decaying
    spectrum) or, with ``flat``, isotropic Gaussian ones."""
    if flat:
        return rng.standard_normal((n, d), dtype=np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = np.geomspace(1.0, 0.05, d)
    X = (rng.standard_normal((n, d)) * scales) @ q.T + 0.3 * rng.standard_normal(d)
    return X.astype(np.float32)


def reference(X, c):
    """Exact float64 principal components of X (covariance eigh in float64)."""
    X64 = X.astype(np.float64)
    Xc = X64 - X64.mean(axis=0)
    C = Xc.T @ Xc / (X.shape[0] - 1)
    values, vectors = np.linalg.eigh(C)
    return vectors[:, ::-1][:, :c].T, values[::-1][:c] / values.sum()


def accuracy(components, ratio, ref):
    ref_components, ref_ratio = ref
    cos = np.abs(np.sum(components * ref_components, axis=1))
    return float(cos.min()), float(np.abs(np.asarray(ratio) - ref_ratio).max())


def race(runs, repeats, clock):
    """Alternate the runs ``repeats`` times (load spikes hit every solver alike)."""
    times = {name: [] for name in runs}
    results = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = clock()
            results[name] = run()
            times[name].append(clock() - start)
    return times, results


def bench_pca(repeats):
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = data(100_000, 384, rng)
    print(f"\n## PCA: {X.shape[0]:,} x {X.shape[1]} float32, 2 components")
    ref = reference(X, 2)

    def ours():
        p = vd.pca(X, 2)
        return p.components, p.explained_variance_ratio

    def theirs(solver):
        def run():
            est = PCA(2, svd_solver=solver, random_state=0)
            est.fit_transform(X)
            return est.components_, est.explained_variance_ratio_
        return run

    runs = {"vd.pca": ours, "sklearn covariance_eigh": theirs("covariance_eigh"),
            "sklearn randomized": theirs("randomized")}
    ours(), runs["sklearn covariance_eigh"]()          # warm-up: first BLAS calls, imports
    settings = [("wall time, default BLAS threads", time.perf_counter, None),
                ("CPU time, 1 BLAS thread", time.process_time, 1)]
    for title, clock, threads in settings:
        if threads is None:
            times, results = race(runs, repeats, clock)
        else:
            with threadpool_limits(threads):
                times, results = race(runs, repeats, clock)
        base = min(times["sklearn covariance_eigh"])
        print(f"\n{title} (best and median of {repeats}; fit + coordinates)")
        print(f"{'solver':26s} {'best s':>8s} {'median s':>9s} {'speed vs sklearn cov':>21s} "
              f"{'min |cos| PC':>13s} {'max ratio err':>14s}")
        for name in runs:
            cos, err = accuracy(*results[name], ref)
            print(f"{name:26s} {min(times[name]):8.3f} {statistics.median(times[name]):9.3f} "
                  f"{base / min(times[name]):20.2f}x {cos:13.10f} {err:14.2e}")
    print("(accuracy against eigh of the float64 covariance of the same float32 data)")


def bench_flat():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    X = data(100_000, 384, rng, flat=True)
    print(f"\n## Flat spectrum: isotropic Gaussian {X.shape[0]:,} x {X.shape[1]} float32")
    ref = reference(X, 1)
    rows = [("vd.pca (covariance)", vd.pca(X, 1).components),
            ("vd.pca solver='randomized'", vd.pca(X, 1, solver="randomized").components),
            ("sklearn covariance_eigh", PCA(1, svd_solver="covariance_eigh").fit(X).components_),
            ("sklearn randomized", PCA(1, svd_solver="randomized", random_state=0)
             .fit(X).components_)]
    for name, comp in rows:
        cos = float(np.abs(comp[0] @ ref[0][0]))
        print(f"{name:28s} |cos| to the exact PC1: {cos:.3f}")


def bench_umap():
    print("\n## UMAP: 10,000 x 384 float32 (cosine, n_neighbors=15)")
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((20, 384)).astype(np.float32)
    X = (centres[rng.integers(0, 20, 10_000)]
         + 0.6 * rng.standard_normal((10_000, 384), dtype=np.float32))
    start = time.perf_counter()
    import umap  # noqa: F401

    t_import = time.perf_counter() - start
    start = time.perf_counter()
    first = vd.umap(X)
    t_cold = time.perf_counter() - start
    start = time.perf_counter()
    second = vd.umap(X)
    t_warm = time.perf_counter() - start
    same = np.array_equal(first.coords, second.coords)
    print(f"import umap {t_import:.1f} s; first fit (numba JIT) {t_cold:.1f} s; "
          f"warm fit {t_warm:.1f} s; same seed, same map: {same}")
    start = time.perf_counter()
    first.transform(X[:100] + 0.01)
    t_tr1 = time.perf_counter() - start
    start = time.perf_counter()
    first.transform(X[100:200] + 0.01)
    t_tr2 = time.perf_counter() - start
    print(f"transform 100 new points: first {t_tr1:.1f} s (JIT), then {t_tr2:.2f} s")
    p = vd.pca(X)
    for name, proj in (("PCA ", p), ("UMAP", first)):
        start = time.perf_counter()
        f = proj.faithfulness(10, metric="cosine", show_progress=False)
        took = time.perf_counter() - start
        print(f"faithfulness of the {name} map (k=10, cosine): mean overlap "
              f"{f.mean_overlap:.3f} (chance {f.chance:.4f}), trustworthiness "
              f"{f.trustworthiness:.3f}; {took:.1f} s")


def bench_real():
    here = Path(__file__).resolve()
    paths = [root / "shared" / "data" / "cranfield" / "emb_minilm_corpus.npy"
             for root in here.parents[2:4]]                # main checkout or a worktree
    path = next((p for p in paths if p.exists()), None)
    if path is None:
        print("\n(real data: ../shared/data/cranfield not found, skipped)")
        return
    X = np.load(path, allow_pickle=False)
    print(f"\n## Real data: Cranfield MiniLM corpus embeddings {X.shape} {X.dtype}")
    p = vd.pca(X, 2)
    print("PCA explained variance ratio:", np.round(p.explained_variance_ratio, 4).tolist())
    f = p.faithfulness(10, metric="cosine", show_progress=False)
    print(f"PCA map, k=10 cosine: mean overlap {f.mean_overlap:.3f}, trustworthiness "
          f"{f.trustworthiness:.3f}")
    try:
        u = vd.umap(X)
    except ImportError:
        return
    f = u.faithfulness(10, show_progress=False)
    print(f"UMAP map, k=10 cosine: mean overlap {f.mean_overlap:.3f}, trustworthiness "
          f"{f.trustworthiness:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="pca,flat,umap,real",
                        help="comma-separated sections to run (default: all)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    print("machine:", machine(), flush=True)
    if "pca" in only:
        bench_pca(args.repeats)
    if "flat" in only:
        bench_flat()
    if "umap" in only:
        bench_umap()
    if "real" in only:
        bench_real()


if __name__ == "__main__":
    main()
