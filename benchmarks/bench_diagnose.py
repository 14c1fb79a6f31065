"""Benchmark vd.diagnose against the cost of its dominant step, a faiss kNN graph.

Same data, same process. Prints the machine, the split of diagnose's time by
statistic, the faiss-graph time and the ratio (target: diagnose ≤ 1.5 × faiss graph),
and the peak memory (tracemalloc) against the size of an n × n float32 matrix.

Usage::

    python benchmarks/bench_diagnose.py                 # 100,000 × 384 float32
    python benchmarks/bench_diagnose.py --n 20000       # quicker
    python benchmarks/bench_diagnose.py --million       # also 1,000,000 × 384 memmap
    python benchmarks/bench_diagnose.py --calibrate     # the null figures in rules.py

Data: a synthetic embedding-like corpus (200 Gaussian topics on the unit sphere, a
shared offset, unit-normalised), generated once with seed 0; the memmap is written to
a temporary file and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vecdiag as vd  # noqa: E402


def machine() -> str:
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)"
                         for i in threadpool_info())
    except ImportError:  # pragma: no cover
        blas = "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, BLAS: {blas}, "
            f"load average {load:.1f}")


def corpus(n: int, d: int = 384, topics: int = 200, seed: int = 0, out=None) -> np.ndarray:
    """Embedding-like float32 rows, written in blocks (to ``out`` when given)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    offset = rng.normal(size=d).astype(np.float32)
    offset *= 0.6 / np.linalg.norm(offset)
    X = np.empty((n, d), dtype=np.float32) if out is None else out
    for a in range(0, n, 50_000):
        b = min(n, a + 50_000)
        block = centres[rng.integers(0, topics, b - a)] + offset
        block += rng.normal(scale=0.9 / np.sqrt(d), size=(b - a, d)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        X[a:b] = block
    return X


def faiss_graph_seconds(X: np.ndarray, k: int) -> float:
    import faiss

    t0 = time.perf_counter()
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(np.ascontiguousarray(X, dtype=np.float32))   # rows are unit: IP = cosine
    index.search(np.ascontiguousarray(X, dtype=np.float32), k + 1)
    return time.perf_counter() - t0


def run(X, label: str, k: int = 10, compare: bool = True) -> None:
    n, d = X.shape
    print(f"\n== {label}: {n:,} × {d} {X.dtype} ==")
    tracemalloc.start()
    t0 = time.perf_counter()
    diag = vd.diagnose(X, k=k, show_progress=True)
    total = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"diagnose total       {total:8.2f} s   (worst finding: {diag.worst})")
    for stage, sec in diag.stats["seconds"].items():
        if stage != "total":
            print(f"  {stage:<20} {sec:8.2f} s")
    if "graph_sample" in diag.stats:
        print(f"  (graph statistics on a {diag.stats['graph_sample']:,}-item sample)")
    print(f"peak traced memory   {peak / 2**20:8.1f} MiB  (an n × n float32 matrix: "
          f"{n * n * 4 / 2**20:,.0f} MiB)")
    for f in diag.findings:
        print(f"  [{f.severity:>8}] {f.code}: {f.summary}")
    if compare:
        g_n = diag.stats.get("graph_sample", n)
        sample = X if g_n == n else X[:g_n]
        fs = faiss_graph_seconds(sample, k)
        print(f"faiss flat kNN graph {fs:8.2f} s   (IndexFlatIP, k + 1 = {k + 1}, {g_n:,} items)")
        print(f"ratio diagnose / faiss graph = {total / fs:.2f}  (target ≤ 1.5)")


def calibrate() -> None:
    """The null figures quoted in vecdiag/diagnostics/rules.py (n = 2000, k = 10)."""
    from vecdiag.diagnostics.rogue_rules import null_top_share

    rng = np.random.default_rng(0)
    print("hubness skewness, i.i.d. Gaussian (cosine | euclidean):")
    for d in (3, 16, 100, 384):
        X = rng.normal(size=(2000, d))
        c = vd.hubness(X, 10, metric="cosine").skewness
        e = vd.hubness(X, 10, metric="euclidean").skewness
        print(f"  d={d:<4} {c:6.2f} | {e:6.2f}")
    print("isotropic clusters (8 unit centres, noise 0.5), cosine:")
    for d in (16, 32):
        C = rng.normal(size=(8, d))
        C /= np.linalg.norm(C, axis=1, keepdims=True)
        X = C[rng.integers(0, 8, 2000)] + rng.normal(size=(2000, d)) * 0.5 / np.sqrt(d)
        print(f"  d={d:<4} skewness {vd.hubness(X, 10).skewness:.2f}, "
              f"anisotropy {vd.anisotropy(X):.3f}")
    print("anisotropy null SE sqrt(2/(n^2 d)), n=2000, d=16:", np.sqrt(2 / (2000 ** 2 * 16)))
    print("rogue null top-m share:", {(d, m): round(null_top_share(d, m), 3)
                                      for d, m in ((16, 2), (32, 4), (384, 5))})
    docs = rng.normal(size=(2000, 16))
    from vecdiag.diagnostics import query_corpus_shift

    shares = [query_corpus_shift(rng.normal(size=(50, 16)), docs).far_share for _ in range(20)]
    print(f"query shift null (50 queries, 20 draws): mean {np.mean(shares):.3f}, "
          f"sd {np.std(shares):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="also the 1M memmap")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    print(machine())
    if args.calibrate:
        calibrate()
        return
    run(corpus(args.n), "in-memory array")
    if args.million:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "million.f32")
            mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(1_000_000, 384))
            corpus(1_000_000, out=mm)
            mm.flush()
            del mm
            ro = np.memmap(path, dtype=np.float32, mode="r", shape=(1_000_000, 384))
            run(ro, "memmap", compare=False)
            del ro


if __name__ == "__main__":
    main()
