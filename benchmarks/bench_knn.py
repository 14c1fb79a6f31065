"""Exact kNN: vecdiag (numpy, faiss backends) against faiss IndexFlatIP and scikit-learn.

Same data, same process, same BLAS setting for every contender; ratios printed beside the
raw figures (the faiss and ann-benchmarks habit). Workloads (issue 3):

(a) search: 100,000 x 384 float32 corpus, 1,000 queries, k = 10, cosine;
(b) graph: the kNN graph (self excluded) of 50,000 x 384, k = 10, cosine;
(c) memmap: search (a) against a 1,000,000 x 384 float32 np.memmap, peak anonymous memory
    (corpus pages are file-backed and not counted), default 256 MiB budget;
(d) scratch: scratch.knn vs vd.knn on a small input (the lesson's ratio).

vecdiag's engine runs twice, with each selection path forced (``VECDIAG_NUMBA=1``: the
compiled fold-in of vecdiag/neighbors/_fold.py; ``=0``: the NumPy threshold filter); both
must return the same neighbours and scores, and the report says which path each ran and
which one the default (auto) picks in this process (kernels loaded) and in a fresh one.

"bare matmul" is the ceiling: the score blocks the engine computes (1024 queries x up to 4096
corpus rows, the layout and chunk its tuner chose, vecdiag/neighbors/_tune.py; the corpus
split over the cores, one BLAS thread each), no top-k. "naive matmul" is ``Q @ C.T`` in
blocks of 256 queries with NumPy's threaded BLAS, the obvious
way (slower: its score blocks do not fit in the cache). For the graph the bare matmul is
all n x n scores; vecdiag multiplies each pair of blocks once (the scores are symmetric),
so it can exceed 100% of it. Timings are the best of ``--repeat`` runs taken round robin
(the minimum is the figure least disturbed by other work on a shared machine). Peak memory: the highest anonymous RSS seen by a 2 ms
sampler during the call, minus the level before it.

BLAS settings run in separate child processes (the variables are read when the BLAS
library loads): the environment as it is, OPENBLAS_CORETYPE=Haswell, =SkylakeX, and both
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset. A child that dies (SkylakeX on a CPU without
AVX-512 raises SIGILL) is reported, not hidden. Never set these variables in tests or CI.

Usage::

    python benchmarks/bench_knn.py                 # every setting, (a) (b) (d); (c) once
    python benchmarks/bench_knn.py --setting as-is --skip-graph --skip-memmap
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SETTINGS = {
    "as-is": {},
    "Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "SkylakeX": {"OPENBLAS_CORETYPE": "SkylakeX"},
    "unset": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None},
}
ROOT = Path(__file__).resolve().parents[1]
SETTLE = 0.3                          # seconds of pause before each timed run (measure_all)


# ------------------------------------------------------------------ measuring

def _anon_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def _release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc), so the next peak starts from live data.

    Without it, memory freed by an earlier contender stays in the process and is reused
    without raising the RSS: a later call would look free.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):      # not glibc: figures may then read low
        pass


class PeakMemory:
    """Highest anonymous RSS during the block, minus the level at its start (MiB)."""

    def __enter__(self):
        _release_free_heap()
        self.base = self.peak = _anon_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _anon_kb())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _anon_kb())
        self.mib = (self.peak - self.base) / 1024


def measure(fn, repeat: int, settle: float = 0.0):
    """(best seconds, peak MiB of the first run, the last result)."""
    return measure_all({"fn": fn}, repeat, settle)["fn"][:3]


def measure_all(contenders: dict, repeat: int, settle: float | None = None) -> dict:
    """Time every contender ``repeat`` times, round robin: name -> (best s, peak MiB, result).

    Peak memory comes from one untimed run each (its 2 ms sampler thread would otherwise
    take the GIL in the middle of the timed runs). Then the timed runs go round robin,
    not one contender after another: on a shared machine the load drifts over minutes,
    and the contenders should see the same drift. The best run counts, and the rounds'
    own times give paired ratios (:func:`paired`).

    Each timed run starts after a pause of ``settle`` seconds (:data:`SETTLE` unless
    given): OpenBLAS's idle threads spin for up to 2^28 cycles (about 0.1 s here) after a
    threaded product before they sleep, and OpenMP's (faiss) for a while too, so without
    it the contender after a threaded one (NumPy's threaded matmul, scikit-learn, faiss)
    shares a core with spinning threads for a quarter of its run. :func:`measure` (one
    contender whose runs follow each other: the memmap search, the lesson's millisecond
    call) pauses for nothing by default: a pause before a call that short makes every
    run start cold (0.5 ms calls read 1.3 ms).
    """
    peaks = {}
    for name, fn in contenders.items():
        with PeakMemory() as mem:
            fn()
        peaks[name] = mem.mib
    best = {name: (float("inf"), None) for name in contenders}
    rounds = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            time.sleep(SETTLE if settle is None else settle)
            t0 = time.perf_counter()
            out = fn()
            elapsed = time.perf_counter() - t0
            best[name] = (min(best[name][0], elapsed), out)
            rounds[name].append(elapsed)
    return {name: (best[name][0], peaks[name], best[name][1], rounds[name])
            for name in contenders}


def paired(reference: list, ours: list) -> dict:
    """Ratios ``reference / ours`` of the runs of one round (taken seconds apart, so both
    saw the same load): their median, and the lowest and highest.

    The best-of-runs ratio compares two minima that may come from different minutes; on
    a host whose speed drifts by several percent, the ratio within each round moves
    less, and its median says on which side of a target the contender usually falls.

    >>> paired([1.0, 1.2, 0.9], [1.0, 1.0, 1.0])
    {'median': 1.0, 'low': 0.9, 'high': 1.2, 'rounds': 3}
    """
    ratios = sorted(r / o for r, o in zip(reference, ours))
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return {"median": median, "low": ratios[0], "high": ratios[-1], "rounds": len(ratios)}


def engine_products(Q, C, q_block: int = 1024, c_chunk: int = 4096, by_row: bool = False,
                    workers: int | None = None):
    """The score blocks vecdiag's engine computes (no selection): the ceiling it can reach.

    Query blocks of ``q_block`` rows times corpus chunks of at most ``c_chunk`` rows, sized
    as the engine sizes them (``_scan.balanced_chunk``: the items split evenly over the
    cores), the corpus split into one part per core, BLAS held to one thread per part, as
    in ``vecdiag.neighbors._scan.numpy_candidates``; ``by_row``: queries by corpus rows
    (``Q_b @ C_c.T``) instead of corpus rows by queries, the two layouts the engine's
    tuner chooses from (``vecdiag/neighbors/_tune.py``); ``workers``: threads (default
    one per core; bench_knn_cpu.py asks for one).
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from vecdiag.neighbors._scan import balanced_chunk

    workers = workers or os.cpu_count() or 1
    blocks = range(0, Q.shape[0], q_block)
    c_chunk = balanced_chunk(C.shape[0], c_chunk, len(blocks), workers)
    items = [(q0, c0) for q0 in blocks for c0 in range(0, C.shape[0], c_chunk)]
    parts = [items[i * len(items) // workers:(i + 1) * len(items) // workers]
             for i in range(workers)]

    def scan(part):
        for q0, c0 in part:
            if by_row:
                Q[q0:q0 + q_block] @ C[c0:c0 + c_chunk].T
            else:
                C[c0:c0 + c_chunk] @ Q[q0:q0 + q_block].T

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        list(pool.map(scan, parts))


def engine_plans(d: int, itemsize: int) -> dict:
    """The plan (layout, chunk) each selection path's tuner chose in this process for
    scans of this dimension and item size: {"compiled": Plan or None, "numpy": ...}."""
    from vecdiag.neighbors import _tune

    out = {"compiled": None, "numpy": None}
    for (compiled, dim, size, _), plan in _tune.chosen().items():
        if dim == d and size == itemsize and plan is not None:
            out["compiled" if compiled else "numpy"] = plan
    return out


def naive_products(Q, C):
    """``Q @ C.T`` in blocks of 256 queries with NumPy's threaded BLAS (the obvious way)."""
    for q0 in range(0, Q.shape[0], 256):
        Q[q0:q0 + 256] @ C.T


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from threadpoolctl import threadpool_info

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "blas": [{k: lib.get(k) for k in ("prefix", "version", "architecture",
                                               "num_threads", "filepath")}
                     for lib in threadpool_info() if lib.get("user_api") == "blas"]}


def _with_env(name: str, value: str, fn):
    """``fn`` run with the environment variable ``name`` set to ``value`` (restored after)."""
    def run():
        before = os.environ.get(name)
        os.environ[name] = value
        try:
            return fn()
        finally:
            if before is None:
                del os.environ[name]
            else:
                os.environ[name] = before
    return run


def selection(path: str, fn):
    """``fn`` run on the float32 path (bf16 and int8 stages off) with the engine's
    selection forced to ``path`` ("compiled": numba's fold-in, vecdiag/neighbors/_fold.py;
    "numpy": the NumPy threshold filter)."""
    return stage("float", _with_env("VECDIAG_NUMBA", "1" if path == "compiled" else "0", fn))


def stage(product: str, fn):
    """``fn`` run with the candidate stage's product forced: ``"bf16"`` (``VECDIAG_BF16=1``,
    ``VECDIAG_INT8=0``), ``"int8"`` (the other way round), ``"float"`` (both 0) or
    ``"auto"`` (both as set: by default the stage times the products it may use once and
    keeps the fastest if it beats float32, vecdiag/neighbors/_pick.py; torch is loaded
    here). How many queries each product proved and how many fell back to float32 are
    counted in ``vecdiag.neighbors._bf16.stats``."""
    if product == "auto":
        return fn
    on = {"bf16": ("1", "0"), "int8": ("0", "1"), "float": ("0", "0")}[product]
    return _with_env("VECDIAG_BF16", on[0], _with_env("VECDIAG_INT8", on[1], fn))


def bf16(fn):
    """``fn`` run with the bf16 candidate stage on (:func:`stage`)."""
    return stage("bf16", fn)


def bf16_paths(stats: dict) -> str:
    """Which paths the stage's runs took, from ``_bf16.stats``."""
    total = stats["bf16"] + stats.get("int8", 0) + stats["fallback"]
    if not total:
        return "the candidate stage did not run (no torch, no product faster than float32, or a small scan)"
    return (f"candidate stage: {stats['bf16']} of {total} queries proven in bf16, "
            f"{stats.get('int8', 0)} in int8, {stats['fallback']} re-searched in float32, "
            f"{stats['probe_failed']} searches stopped the stage after the first block")


def auto_product(C, k: int = 10) -> str:
    """What auto mode's model (vecdiag/neighbors/_pick.py) ranks first for a search of
    ``k`` neighbours over ``C``, and the products it timed at ``C``'s width and dtype."""
    import torch

    from vecdiag.neighbors import _bf16, _lowp, _pick

    for (d, dtype, names), seconds in _pick.timings.items():
        if d == C.shape[1] and dtype == C.dtype.str:
            timed = ", ".join(
                f"{name} {1e3 * s:.2f} ms" + (" per 1,000 rows" if name.endswith("copy") else "")
                for name, s in ((n, 1e3 * v if n.endswith("copy") else v)
                                for n, v in seconds.items()))
            codecs = [c for c in _lowp.CODECS if c.name in names]
            expected = _pick.times(torch, codecs, d, C.dtype, n=C.shape[0], k=k,
                                   kp=min(C.shape[0], 2 * k + 8), widen=_bf16.WIDEN)
            first = _pick.ranked(codecs, expected)
            return ((f"the {first[0].name} stage" if first else "float32")
                    + f" (timed products: {timed})")
    return "float32 (no product was timed: torch, the CPU or the scan's size ruled them out)"


def selection_paths(flops: float) -> dict:
    """Which selection each forced setting really runs for a scan of ``flops``."""
    from vecdiag.neighbors import _scan

    out = {}
    for path in ("compiled", "numpy"):
        out[path] = selection(path, lambda: "compiled (numba)" if _scan.use_compiled(flops)
                              else "NumPy")()
    try:
        import numba

        out["numba"] = numba.__version__
    except ImportError:
        out["numba"] = None
    out["default"] = "compiled (numba)" if _scan.use_compiled(flops) else "NumPy"
    # a fresh process has not loaded the kernels: auto then waits for a scan that repays it
    fresh = (out["numba"] is not None and flops >= _scan._LOAD_REPAID_FLOPS
             and os.environ.get("VECDIAG_NUMBA", "").strip().lower()
             not in ("0", "false", "no", "off"))
    out["default_fresh"] = "compiled (numba)" if fresh else "NumPy"
    return out


# ------------------------------------------------------------------ data

def clustered(n: int, d: int, seed: int, n_centers: int = 200):
    """Unit vectors around random centres (embeddings cluster; pure noise does not)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_centers, d)).astype(np.float32)
    X = centers[rng.integers(0, n_centers, n)] + 0.8 * rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def cone(n: int, d: int, seed: int):
    """Unit vectors in a narrow cone: ``3 u + z / sqrt(d)`` normalised (u the unit
    diagonal, z normal), cosines near 0.9, as in anisotropic embedding spaces."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = (3.0 / np.sqrt(d) + rng.normal(size=(n, d)) / np.sqrt(d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def search_data(kind: str = "clustered"):
    """Workload (a): a 100,000 x 384 float32 corpus and 1,000 queries, clustered (the
    search figures of this script, bench_knn_cpu.py and bench_fold_blocks.py) or in a
    narrow ``cone`` (bench_knn_cpu.py --data cone)."""
    make = cone if kind == "cone" else clustered
    return make(100_000, 384, seed=0), make(1_000, 384, seed=1)


# ------------------------------------------------------------------ workloads

def run_search(repeat: int) -> dict:
    import faiss
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    import vecdiag as vd

    C, Q = search_data()
    k = 10
    index = vd.Index(C)
    findex = vd.Index(C, backend="faiss")
    findex.search(Q[:1], 1)                       # builds the faiss index once
    flat = faiss.IndexFlatIP(C.shape[1])
    flat.add(C)
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(C)
    search = lambda: index.search(Q, k, show_progress=False)      # noqa: E731
    for _ in range(2):
        for path in ("compiled", "numpy"):
            # loads the kernel once; the first scans time the engine's plans and choose
            selection(path, search)()
    plans = engine_plans(C.shape[1], C.itemsize)
    mine = plans["compiled"] or plans["numpy"]
    bare = ((lambda: engine_products(Q, C, c_chunk=mine.chunk, by_row=mine.by_row))
            if mine is not None else (lambda: engine_products(Q, C)))
    rows = measure_all({
        "bare matmul": bare,
        "naive matmul": lambda: naive_products(Q, C),
        "vecdiag numpy, compiled selection": selection("compiled", search),
        "vecdiag numpy, NumPy selection": selection("numpy", search),
        "vecdiag numpy, bf16 candidates": stage("bf16", search),
        "vecdiag numpy, int8 candidates": stage("int8", search),
        "vecdiag numpy, default (auto)": stage("auto", search),
        "vecdiag faiss": lambda: findex.search(Q, k, show_progress=False),
        "faiss IndexFlatIP": lambda: flat.search(Q, k),
        "sklearn brute": lambda: nn.kneighbors(Q),
    }, repeat)

    ours = rows["vecdiag numpy, compiled selection"][2]
    _, faiss_idx = rows["faiss IndexFlatIP"][2]
    agree = float((ours.indices == faiss_idx).mean())
    assert np.array_equal(ours.indices, rows["vecdiag faiss"][2].indices)
    plain = rows["vecdiag numpy, NumPy selection"][2]
    assert np.array_equal(ours.indices, plain.indices)
    assert np.array_equal(ours.scores, plain.scores)
    for product in ("bf16", "int8"):
        low = rows[f"vecdiag numpy, {product} candidates"][2]
        assert np.array_equal(ours.indices, low.indices)
        assert np.array_equal(ours.scores, low.scores)
    low = rows["vecdiag numpy, default (auto)"][2]
    assert np.array_equal(ours.indices, low.indices)
    assert np.array_equal(ours.scores, low.scores)
    out = _table("search", rows, Q.shape[0], "queries/s", agree)
    from vecdiag.neighbors import _bf16

    flops = 2.0 * Q.shape[0] * C.shape[0] * C.shape[1]
    out["bf16"] = (bf16_paths(_bf16.stats) + "; by default (VECDIAG_BF16 and VECDIAG_INT8 "
                   f"as set, torch loaded here) this search runs {auto_product(C)}, and "
                   "in a fresh process it would "
                   + ("import torch for it" if any(_bf16.wanted(flops, loaded=False, name=n)
                                                   for n in ("bf16", "int8")) else "not"))
    out["paths"] = selection_paths(flops)
    out["plans"] = {path: str(plan) if plan is not None else "not chosen"
                    for path, plan in plans.items()}
    return out


def run_graph(repeat: int) -> dict:
    """One run each: a graph takes minutes, and one run already averages 196 blocks."""
    import faiss
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    import vecdiag as vd

    X = clustered(50_000, 384, seed=2)
    k = 10
    flat = faiss.IndexFlatIP(X.shape[1])
    flat.add(X)
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(X)
    # a fresh Index per run: the graph is cached per Index
    graph = lambda: vd.Index(X).knn_graph(k, show_progress=False)     # noqa: E731
    selection("compiled", lambda: vd.Index(X[:8000]).knn_graph(k, show_progress=False))()
    rows = measure_all({
        "bare matmul": lambda: engine_products(X, X),
        "vecdiag numpy, compiled selection": selection("compiled", graph),
        "vecdiag numpy, NumPy selection": selection("numpy", graph),
        "vecdiag faiss": lambda: vd.Index(X, backend="faiss").knn_graph(
            k, show_progress=False),
        "faiss IndexFlatIP": lambda: flat.search(X, k + 1),          # + self
        "sklearn brute": lambda: nn.kneighbors(),
    }, 1)
    ours = rows["vecdiag numpy, compiled selection"][2]
    _, faiss_idx = rows["faiss IndexFlatIP"][2]
    agree = float((ours.indices == faiss_idx[:, 1:]).mean())
    plain = rows["vecdiag numpy, NumPy selection"][2]
    assert np.array_equal(ours.indices, plain.indices)
    assert np.array_equal(ours.scores, plain.scores)
    out = _table("graph", rows, X.shape[0], "items/s", agree)
    out["paths"] = selection_paths(1.0 * X.shape[0] ** 2 * X.shape[1])
    return out


def _table(name, rows, n, unit, agree) -> dict:
    faiss_t = rows["faiss IndexFlatIP"][0]
    bare_t = rows["bare matmul"][0]
    out = {"workload": name, "unit": unit, "agreement_with_faiss": agree, "rows": []}
    for label, (seconds, mib, _, times) in rows.items():
        out["rows"].append({"method": label, "seconds": seconds, "throughput": n / seconds,
                            "vs_faiss": faiss_t / seconds, "share_of_bare": bare_t / seconds,
                            "peak_mib": mib,
                            "paired_vs_faiss": paired(rows["faiss IndexFlatIP"][3], times),
                            "paired_share_of_bare": paired(rows["bare matmul"][3], times)})
    return out


def run_memmap(budget_mib: int = 256) -> dict:
    import numpy as np

    import vecdiag as vd

    n, d = 1_000_000, 384
    Q = clustered(1_000, d, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.f32"
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, d))
        for start in range(0, n, 50_000):
            mm[start:start + 50_000] = clustered(50_000, d, seed=100 + start // 50_000)
        mm.flush()
        del mm
        corpus = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
        seconds, mib, res = measure(lambda: vd.knn(Q, corpus, k=10, show_progress=False,
                                                   memory_budget=budget_mib * 2**20), 1)
        assert res.indices.shape == (1_000, 10)
        del corpus, res
    return {"workload": "memmap", "seconds": seconds, "queries_per_s": 1_000 / seconds,
            "peak_anon_mib": mib, "budget_mib": budget_mib, "limit_mib": budget_mib + 100}


def run_scratch() -> dict:
    import numpy as np

    import vecdiag as vd

    rng = np.random.default_rng(3)
    C, Q = rng.normal(size=(500, 64)), rng.normal(size=(20, 64))
    t_s, _, a = measure(lambda: vd.scratch.knn(Q, C, k=10), 1)
    t_n, _, b = measure(lambda: vd.knn(Q, C, k=10), 5)
    assert np.array_equal(a.indices, b.indices)
    return {"workload": "scratch", "scratch_s": t_s, "numpy_s": t_n, "ratio": t_s / t_n}


# ------------------------------------------------------------------ driver

def child(args) -> None:
    out = {"setting": args.setting, "machine": machine(), "results": []}
    out["results"].append(run_search(args.repeat))
    _emit(out)
    if not args.skip_graph:
        out["results"].append(run_graph(args.repeat))
        _emit(out)
    if args.memmap:
        out["results"].append(run_memmap())
    out["results"].append(run_scratch())
    _emit(out)


def _emit(out) -> None:
    print("RESULT " + json.dumps(out), flush=True)


def report(out: dict) -> str:
    lines = [f"## BLAS setting: {out['setting']}"]
    for lib in out["machine"]["blas"]:
        lines.append(f"- {lib['prefix']} {lib['version']} arch={lib['architecture']} "
                     f"threads={lib['num_threads']} ({Path(lib['filepath']).parent.name})")
    for res in out["results"]:
        if res["workload"] in ("search", "graph"):
            lines.append(f"\n{res['workload']} ({res['unit']}; ids equal to faiss: "
                         f"{res['agreement_with_faiss']:.4f})\n")
            lines.append("| method | seconds | throughput | vs faiss | share of bare matmul "
                         "| peak MiB |")
            lines.append("|---|---:|---:|---:|---:|---:|")
            for r in res["rows"]:
                lines.append(f"| {r['method']} | {r['seconds']:.2f} | {r['throughput']:,.0f} | "
                             f"{r['vs_faiss']:.2f}x | {r['share_of_bare']:.0%} | "
                             f"{r['peak_mib']:.0f} |")
        elif res["workload"] == "memmap":
            lines.append(f"\nmemmap 1,000,000 x 384, 1,000 queries: {res['seconds']:.1f} s "
                         f"({res['queries_per_s']:.0f} queries/s), peak anonymous memory "
                         f"{res['peak_anon_mib']:.0f} MiB (budget {res['budget_mib']} MiB, "
                         f"limit {res['limit_mib']} MiB)")
        elif res["workload"] == "scratch":
            lines.append(f"\nscratch.knn 20 queries x 500 x 64: {res['scratch_s']:.2f} s, "
                         f"vd.knn {res['numpy_s'] * 1000:.2f} ms: {res['ratio']:,.0f}x slower")
    for res in out["results"]:
        if res["workload"] not in ("search", "graph"):
            continue
        for row in res["rows"]:
            if row["method"].startswith("vecdiag numpy"):
                pf, pb = row["paired_vs_faiss"], row["paired_share_of_bare"]
                lines.append(f"{res['workload']}, {row['method']}: {row['vs_faiss']:.2f}x faiss, "
                             f"{row['share_of_bare']:.0%} of the bare products (best runs); "
                             f"within each of {pf['rounds']} rounds: median {pf['median']:.2f}x "
                             f"faiss ({pf['low']:.2f}-{pf['high']:.2f}), median "
                             f"{pb['median']:.0%} of the bare products "
                             f"({pb['low']:.0%}-{pb['high']:.0%})")
        plans = res.get("plans")
        if plans:
            lines.append(f"{res['workload']} products as the engine's tuner chose them "
                         f"(vecdiag/neighbors/_tune.py; the bare matmul uses the compiled "
                         f"path's): compiled selection -> {plans['compiled']}; NumPy "
                         f"selection -> {plans['numpy']}")
        paths = res.get("paths", {})
        lines.append(f"{res['workload']} selection paths that ran: forced compiled -> "
                     f"{paths.get('compiled')}, forced NumPy -> {paths.get('numpy')}; default "
                     f"(VECDIAG_NUMBA as set, kernels loaded) -> {paths.get('default')}, in a "
                     f"fresh process -> {paths.get('default_fresh')}; numba "
                     f"{paths.get('numba') or 'not installed'}")
        if res.get("bf16"):
            lines.append(f"{res['workload']} {res['bf16']}")
    return "\n".join(lines)


def parent(args) -> int:
    settings = list(SETTINGS) if args.setting == "all" else [args.setting]
    print(f"# bench_knn on {platform.node()} ({os.cpu_count()} cores), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n", flush=True)
    seen = {}
    for i, name in enumerate(settings):
        env = dict(os.environ)
        for key, value in SETTINGS[name].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        blas_env = tuple(env.get(key) for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
        if blas_env in seen:
            print(f"## BLAS setting: {name}: the same variables as '{seen[blas_env]}' in this "
                  f"environment (OPENBLAS_CORETYPE={blas_env[0]}, OPENBLAS_L2_SIZE="
                  f"{blas_env[1]}): see there\n", flush=True)
            continue
        seen[blas_env] = name
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, __file__, "--child", "--setting", name,
               "--repeat", str(args.repeat)]
        if args.skip_graph:
            cmd.append("--skip-graph")
        if i == 0 and not args.skip_memmap:
            cmd.append("--memmap")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        results = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if results:
            print(report(json.loads(results[-1])), flush=True)
        if proc.returncode != 0:
            reason = f"exit code {proc.returncode}"
            if proc.returncode in (-4, 132):
                reason = ("killed by SIGILL (illegal instruction): this BLAS kernel needs "
                          "instructions this CPU lacks (SkylakeX kernels need AVX-512)")
            print(f"## BLAS setting: {name}: FAILED, {reason}\n"
                  f"{proc.stderr.strip()[-500:]}", flush=True)
        print(flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", default="all", choices=["all", *SETTINGS])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-graph", action="store_true")
    parser.add_argument("--skip-memmap", action="store_true")
    parser.add_argument("--memmap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
