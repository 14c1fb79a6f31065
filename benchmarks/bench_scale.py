"""vecdiag on more data than memory: 10,000,000 x 384 float32 shards through a LocalCluster.

Issue 17, item 5 and its targets. Writes N x 384 float32 (default N = 10,000,000: 15.4 GB)
as .npy shards (``benchmarks/scale_data.py``: unit-normalised clustered rows with planted
copies and a planted hub), starts a ``distributed.LocalCluster`` on this machine (2 worker
processes x 1 thread, ``memory_limit`` 3 GiB each) and runs vecdiag in stages, each timed:

1. read       one Dask pass summing the columns (the cluster's read rate);
2. moments    the O(n d) statistics (anisotropy, norms, rogue dimensions, covariance);
3. search     exact top-10 of 1,000 queries (``vd.knn`` on the Dask array);
4. hubness    ``vd.hubness(X, k=10, sample=10_000)`` (s n d multiply-adds);
5. near-dups  ``vd.near_duplicates(X, sample=...)`` and the exact copies by hashing;
6. report     ``python -m vecdiag report 'DIR/shard-*.npy' --scheduler ADDR`` end to end.

Per stage: wall time, peak RSS of each worker (VmHWM, reset per stage, and a 50 ms
sampler), bytes the workers read from the storage device (``/proc/PID/io`` read_bytes)
and through read() (rchar). Before the stages: the disk's sequential read rate on the same
files, the machine's sgemm rate, and the single-process rate of vecdiag's engine score
blocks on an in-memory slice. By default every stage starts cold: the shards are evicted
from the page cache (``posix_fadvise DONTNEED`` on the shards only; ``--drop-caches`` uses
``echo 3 > /proc/sys/vm/drop_caches`` instead, the whole machine's cache, where
permitted), and read_bytes shows whether the data came from disk. Then the targets of
issue 17 are printed with PASS/FAIL (on wall time, as the issue states them), each with a
"CPU view" (CPU seconds of the workers against CPU seconds of the reference: on a machine
shared with other work, wall time measures the load as much as the code), and whether the
planted copies and hub were found.
A stage whose vecdiag piece is missing prints "not available".

Usage::

    python benchmarks/bench_scale.py                       # 10M rows, ~20 min, 15.4 GB
    python benchmarks/bench_scale.py --rows 500000 --dir /tmp/vd-scale --keep
    python benchmarks/bench_scale.py --rows 500000 --dir /tmp/vd-scale --reuse --stages search

The data is deleted at the end unless ``--keep``; ``--reuse`` skips writing when DIR holds
a complete set written with the same settings. Run on demand, never in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import inspect
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_data as data  # noqa: E402
import scale_measure as m  # noqa: E402

STAGES = ["read", "sums", "moments", "search", "hubness", "near-dups", "report"]
GiB = 2**30


def gb(x) -> str:
    return f"{x / 1e9:.2f}"


class NotAvailable(Exception):
    """The vecdiag piece a stage times is not in this tree yet."""


# ------------------------------------------------------------------ the corpus as Dask

def open_corpus(folder, manifest):
    """(Dask array, how it was opened): vd.open_vectors if present, else one loader per shard."""
    import vecdiag as vd

    pattern = str(Path(folder) / "shard-*.npy")
    if hasattr(vd, "open_vectors"):
        return vd.open_vectors(pattern), "vd.open_vectors"
    import dask
    import dask.array as da
    import numpy as np

    rows, d = manifest["params"]["shard_rows"], manifest["params"]["d"]
    parts = []
    for i, name in enumerate(manifest["files"]):
        size = min(rows, manifest["n"] - i * rows)
        load = dask.delayed(np.load, pure=True)(str(Path(folder) / name))
        parts.append(da.from_delayed(load, shape=(size, d), dtype=np.float32))
    return da.concatenate(parts), "the benchmark's own per-shard loader (no vd.open_vectors)"


# ------------------------------------------------------------------ stages

def stage_read(ctx):
    total = ctx.X.sum(axis=0, dtype="float64").compute()
    return {"note": f"column sums, |sum| = {float((total ** 2).sum()) ** 0.5:.1f}"}


def stage_sums(ctx):
    from vecdiag.scale.moments import moments

    # the O(n d) sums alone: what anisotropy, rogue dimensions and the norms need
    m = moments(ctx.X, space="unit", gram=False)
    return {"note": f"vecdiag.scale.moments.moments(X, space='unit', gram=False): n = {m.n:,}"}


def stage_moments(ctx):
    try:
        from vecdiag.scale.moments import moments
    except ImportError:
        raise NotAvailable("vecdiag.scale.moments.moments is not on this branch yet") from None
    m = moments(ctx.X, space="unit")           # the sums and the Gram matrix, in one pass

    def check(out):
        import numpy as np

        mean_unit = m.sum_unit / m.n
        out["note"] = (f"vecdiag.scale.moments.moments(X, space='unit'): n = {m.n:,}, "
                       f"|mean of unit rows| = {float(np.linalg.norm(mean_unit)):.3f}, "
                       f"norms {float(m.norms.min()):.4f}-{float(m.norms.max()):.4f}")
    return {"check": check}


def stage_search(ctx):
    import numpy as np

    import vecdiag as vd
    try:
        import vecdiag.scale.search  # noqa: F401
    except ImportError:
        raise NotAvailable("vecdiag.scale.search (exact search on Dask) is not on this "
                           "branch yet") from None
    res = vd.knn(ctx.Q, ctx.X, k=10)

    def check(out):                            # after the clock stops
        share = float(np.mean((res.indices == ctx.manifest["hub"]).any(axis=1)))
        out["hub_share"] = share
        out["note"] = (f"planted hub in {share:.0%} of the {len(ctx.Q)} top-10 lists "
                       f"(an average row: {10 / ctx.n:.1e})")
        if ctx.memory is not None:
            ref = vd.knn(ctx.Q, ctx.memory, k=10, show_progress=False)
            out["equal_to_numpy"] = bool(np.array_equal(ref.indices, res.indices)
                                         and np.array_equal(ref.scores, res.scores))
            out["note"] += (f"; ids and scores equal to vd.knn in memory: "
                            f"{out['equal_to_numpy']}")
    return {"check": check}


def _has_sample(fn) -> bool:
    return "sample" in inspect.signature(fn).parameters


def stage_hubness(ctx):
    import vecdiag as vd
    if not _has_sample(vd.hubness):
        raise NotAvailable("vd.hubness has no sample= yet")
    h = vd.hubness(ctx.X, k=10, sample=ctx.args.sample, random_state=0)

    def check(out):
        hub, n, s = ctx.manifest["hub"], ctx.n, ctx.args.sample
        top = [int(i) for i in getattr(h, "top_items", [])]
        counts = [int(c) for c in getattr(h, "top_counts", [])]
        out["hub_found"] = bool(top) and top[0] == hub
        seen = counts[top.index(hub)] if hub in top else 0
        ci = getattr(h, "skewness_ci", None)
        out["note"] = (f"skewness of N_k {h.skewness:.2f}"
                       + (f" (95% {ci[0]:.2f} to {ci[1]:.2f})" if ci else "")
                       + f"; most seen in the {s:,} sampled lists: rows {top[:3]} "
                       f"({counts[:3]} times); planted hub row {hub:,} seen {seen} times "
                       f"(N_k ~ {seen * n / s:,.0f}, an average row 10)")
    return {"check": check}


def stage_near_dups(ctx):
    import vecdiag as vd
    if not _has_sample(vd.near_duplicates):
        raise NotAvailable("vd.near_duplicates has no sample= yet")
    r = vd.near_duplicates(ctx.X, sample=ctx.args.nd_sample, random_state=0)

    def check(out):
        import numpy as np

        truth = ctx.manifest
        lo, hi = r.share_ci
        rows = int(sum(len(g) for g in r.exact_groups))
        in_ci = bool(lo <= truth["share_with_copy"] <= hi)
        exact_ok = rows == truth["rows_with_exact_copy"] and \
            len(r.exact_groups) == truth["exact_groups"]
        # the planted copies are a lower bound of the copies: clustered rows also make
        # natural pairs above the threshold (more of them the larger the clusters), so the
        # check is that every planted copy the sample drew was found and the interval
        # does not fall below the planted share
        plan = np.load(Path(ctx.folder) / "truth.npz")
        planted = np.union1d(plan["targets"], plan["sources"])
        drawn = int(np.isin(r.rows, planted).sum())
        consistent = bool(hi >= truth["share_with_copy"] and r.with_copy >= drawn)
        out["dups_found"] = consistent and exact_ok
        out["note"] = (f"rows with a copy: estimated {r.share:.2%} (95% {lo:.2%} to {hi:.2%})"
                       f", planted {truth['share_with_copy']:.2%} (inside: {in_ci}); of the "
                       f"{r.sample:,} sampled rows {r.with_copy:,} have a copy, {drawn:,} of "
                       f"them planted (the rest: natural pairs); exact copies by hashing "
                       f"every row: {rows:,} rows in {len(r.exact_groups):,} groups, planted "
                       f"{truth['rows_with_exact_copy']:,} in {truth['exact_groups']:,}")
    return {"check": check}


def stage_report(ctx):
    help_text = subprocess.run([sys.executable, "-m", "vecdiag", "report", "--help"],
                               capture_output=True, text=True, env=ctx.env).stdout
    if "--scheduler" not in help_text:
        raise NotAvailable("`vecdiag report` has no --scheduler yet")
    out_json = Path(ctx.folder) / "report.json"
    cmd = [sys.executable, "-m", "vecdiag", "report", str(Path(ctx.folder) / "shard-*.npy"),
           "--scheduler", ctx.cluster.scheduler_address, "--json",
           "-o", str(Path(ctx.folder) / "report.html")]
    if ctx.args.report_sample and "--sample" in help_text:
        cmd += ["--sample", str(ctx.args.report_sample)]
    with open(out_json, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE, text=True, env=ctx.env)
        ctx.watch.add("cli", proc.pid)
        _, err = proc.communicate()
    if proc.returncode:
        (Path(ctx.folder) / "report.err").write_text(err)
        ours = [ln.strip() for ln in err.splitlines() if "/vecdiag/" in ln and "File" in ln]
        last = err.strip().splitlines()[-1] if err.strip() else ""
        raise RuntimeError(f"vecdiag report exited {proc.returncode}: {last[:300]}"
                           + (f" (last vecdiag frame: {ours[-1]})" if ours else "")
                           + f"; stderr in {Path(ctx.folder) / 'report.err'}")
    text = out_json.read_text()
    codes = sorted({f.get("code") for f in json.loads(text).get("findings", [])
                    if isinstance(f, dict)} - {None})
    return {"note": f"{' '.join(cmd[3:])}\n      findings: {', '.join(codes) or '(none)'}",
            "codes": codes}


RUNNERS = {"read": stage_read, "sums": stage_sums, "moments": stage_moments,
           "search": stage_search, "hubness": stage_hubness, "near-dups": stage_near_dups, "report": stage_report}


# ------------------------------------------------------------------ harness

class Context:
    pass


def _warm_up():
    import numpy as np

    import vecdiag  # noqa: F401
    a = np.ones((512, 384), np.float32)
    return float((a @ a.T).sum())


def worker_pids(client) -> dict:
    return {f"worker {i}": pid for i, (_, pid) in
            enumerate(sorted(client.run(os.getpid).items()))}


def run_stage(name, ctx) -> dict:
    files = ctx.files
    if ctx.args.cold:
        (ctx.args.drop_caches and m.drop_all_caches()) or m.evict(files)
    pids = worker_pids(ctx.client)
    rec = {"stage": name}
    from distributed import get_task_stream

    with m.ProcWatch(pids) as watch, get_task_stream(ctx.client) as tasks:
        ctx.watch = watch
        t0 = time.perf_counter()
        try:
            rec.update(RUNNERS[name](ctx))
        except NotAvailable as exc:
            rec["skipped"] = f"not available: {exc}"
        except Exception as exc:               # a stage that breaks is reported, not hidden
            rec["skipped"] = f"FAILED: {type(exc).__name__}: {str(exc)[:500]}"
        rec["seconds"] = time.perf_counter() - t0
    rec["procs"] = watch.result
    rec["task_seconds"] = sum(ss["stop"] - ss["start"] for t in tasks.data
                              for ss in t.get("startstops", ()) if ss.get("action") == "compute")
    rec["n_tasks"] = len(tasks.data)
    check = rec.pop("check", None)
    if check is not None:
        try:
            check(rec)
        except Exception as exc:
            rec["note"] = f"check FAILED: {type(exc).__name__}: {str(exc)[:300]}"
    if worker_pids(ctx.client) != pids:
        rec["restarted"] = True
    return rec


def print_stage(rec, data_bytes) -> None:
    if "skipped" in rec:
        print(f"[{rec['stage']}] {rec['skipped']}", flush=True)
        if rec["skipped"].startswith("FAILED"):
            peaks = ", ".join(f"{v['peak_rss'] / GiB:.2f}" for k, v in rec["procs"].items()
                              if k.startswith("worker"))
            print(f"      after {rec['seconds']:.0f} s; peak RSS per worker {peaks} GiB"
                  + ("; A WORKER RESTARTED" if rec.get("restarted") else ""), flush=True)
        return
    workers = {k: v for k, v in rec["procs"].items() if k.startswith("worker")}
    disk = sum(v["read_bytes"] for v in workers.values())
    rchar = sum(v["rchar"] for v in workers.values())
    peaks = ", ".join(f"{v['peak_rss'] / GiB:.2f}" for v in workers.values())
    cpu = sum(v["cpu"] for v in workers.values())
    print(f"[{rec['stage']}] {rec['seconds']:.1f} s; {gb(data_bytes / rec['seconds'] * 1e9 / 1e9)}"
          f" GB/s over the data ({gb(data_bytes)} GB); workers read {gb(disk)} GB from disk, "
          f"{gb(rchar)} GB through read(); peak RSS per worker {peaks} GiB"
          + (f"; CLI process {rec['procs']['cli']['peak_rss'] / GiB:.2f} GiB"
             if "cli" in rec["procs"] else "")
          + ("; A WORKER RESTARTED" if rec.get("restarted") else ""), flush=True)
    busy = rec["task_seconds"] / (2 * rec["seconds"])
    print(f"      {rec['n_tasks']} tasks computing {rec['task_seconds']:.1f} s in all: the 2 "
          f"workers were busy {busy:.0%} of the stage; worker CPU time {cpu:.1f} s", flush=True)
    if rec.get("note"):
        print(f"      {rec['note']}", flush=True)


def calibrate(ctx) -> dict:
    """Disk read rate (cold), sgemm rate, engine blocked-product rate on an in-memory slice."""
    import numpy as np

    out = {"dropped_caches": ctx.args.drop_caches and m.drop_all_caches()}
    sizes, files = 0, []
    for f in ctx.files:                        # the first --disk-gb of shards
        if files and sizes >= ctx.args.disk_gb * 1e9:
            break
        files.append(f)
        sizes += os.path.getsize(f)
    out["evicted"] = m.evict(files)
    out["disk_buffered"] = m.sequential_read(files)
    m.evict(files)
    out["disk_direct"] = m.sequential_read(files, direct=True)
    # the disk's rate is the faster of the two ways to read it (the targets are against it)
    out["disk"] = max(out["disk_buffered"], out["disk_direct"], key=lambda r: r["rate"])
    out["disk_files"] = len(files)
    out["sgemm"], out["sgemm_cpu"] = m.sgemm_rate()
    rows = min(ctx.n, ctx.args.slice_rows)
    C = np.concatenate([np.load(f) for f in ctx.files[:-(-rows // ctx.shard_rows)]])[:rows]
    out["slice_rows"] = rows
    out["blocked"], out["blocked_cpu"] = m.blocked_product_rate(ctx.Q, C)
    del C
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="N (default 10,000,000)")
    p.add_argument("--dir", default=None, help="where the shards go (default: a new folder "
                   "under $TMPDIR); deleted at the end unless --keep")
    p.add_argument("--keep", action="store_true", help="keep the shards")
    p.add_argument("--reuse", action="store_true",
                   help="use the shards in --dir if written with the same settings")
    p.add_argument("--shard-rows", type=int, default=data.DEFAULTS["shard_rows"])
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--sample", type=int, default=10_000, help="rows sampled for hubness")
    p.add_argument("--nd-sample", type=int, default=2_000,
                   help="rows sampled for near duplicates")
    p.add_argument("--report-sample", type=int, default=2_000,
                   help="diagnose's sample in the report stage (if the CLI takes --sample)")
    p.add_argument("--slice-rows", type=int, default=500_000,
                   help="rows of the in-memory slice for the blocked-product rate")
    p.add_argument("--disk-gb", type=float, default=4.0,
                   help="GB of shards read for the disk rate (default 4)")
    p.add_argument("--warm", dest="cold", action="store_false",
                   help="do not evict the shards from the page cache before each stage")
    p.add_argument("--drop-caches", action="store_true",
                   help="evict with `echo 3 > /proc/sys/vm/drop_caches` (the whole machine's "
                        "cache; if permitted) instead of posix_fadvise on the shards only")
    p.add_argument("--out", metavar="JSON", help="also write the figures to this file")
    p.add_argument("--verify-max", type=int, default=1_000_000,
                   help="compare search with the in-memory NumPy path up to this many rows")
    args = p.parse_args()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        p.error(f"--stages: unknown {sorted(unknown)}; choose from {STAGES}")

    import numpy as np
    from threadpoolctl import threadpool_info

    own_dir = args.dir is None
    folder = Path(args.dir or os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                           f"vecdiag-bench-scale-{os.getpid()}"))
    ctx = Context()
    ctx.args, ctx.folder, ctx.n, ctx.shard_rows = args, folder, args.rows, args.shard_rows
    import vecdiag                             # the CLI runs the same vecdiag as the stages
    tree = str(Path(vecdiag.__file__).resolve().parents[1])
    ctx.env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [tree] + [x for x in os.environ.get("PYTHONPATH", "").split(os.pathsep) if x])}
    t_start = time.perf_counter()
    blas = [f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('num_threads')} threads)"
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    print(f"bench_scale: {args.rows:,} x {data.DEFAULTS['d']} float32 in {folder}; "
          f"{os.cpu_count()} cores, BLAS {', '.join(blas)}; load average {m.load_average()} "
          "(a shared machine: figures are noisy)", flush=True)

    manifest = data.read_manifest(folder, args.rows, shard_rows=args.shard_rows) \
        if args.reuse else None
    try:
        if manifest is None:
            t0 = time.perf_counter()
            manifest = data.write_shards(folder, args.rows, shard_rows=args.shard_rows)
            gen = time.perf_counter() - t0
            print(f"[generate] {gen:.1f} s: {manifest['shards']} shards, "
                  f"{gb(args.rows * 384 * 4)} GB ({gb(args.rows * 384 * 4 / gen)} GB/s)",
                  flush=True)
        else:
            print(f"[generate] reused {manifest['shards']} shards in {folder}", flush=True)
        ctx.manifest = manifest
        ctx.files = [str(folder / f) for f in manifest["files"]]
        data_bytes = sum(os.path.getsize(f) for f in ctx.files)
        print(f"      planted: hub at row {manifest['hub']:,}; "
              f"{manifest['rows_with_near_or_exact_copy']:,} rows with a copy "
              f"({manifest['share_with_copy']:.2%}), {manifest['rows_with_exact_copy']:,} "
              f"with an exact one ({manifest['exact_groups']:,} groups)", flush=True)
        ctx.Q = data.queries(args.queries, manifest["params"])
        cal = calibrate(ctx)
        disk = cal["disk"]
        print(f"[disk] sequential read of {cal['disk_files']} of the {len(ctx.files)} shards, "
              "one stream of 16 MiB reads: through the page cache "
              f"{gb(cal['disk_buffered']['rate'])} GB/s, with O_DIRECT "
              f"{gb(cal['disk_direct']['rate'])} GB/s; the disk's rate is taken as "
              f"{gb(disk['rate'])} GB/s ({gb(disk['bytes'])} GB in {disk['seconds']:.1f} s); "
              f"{disk['from_disk']:.0%} from the device ("
              + ("all caches dropped" if cal["dropped_caches"] else
                 "shards evicted with posix_fadvise DONTNEED" if cal["evicted"]
                 else "NOT evicted: may be cached") + ")", flush=True)
        print(f"[rates] sgemm {cal['sgemm'] / 1e9:.0f} GFLOP/s, {cal['sgemm_cpu'] / 1e9:.0f} per "
              f"CPU-second (4096x384 by 16384x384, threaded BLAS); engine blocked products "
              f"{cal['blocked'] / 1e9:.0f} GFLOP/s, {cal['blocked_cpu'] / 1e9:.0f} per CPU-second "
              f"({args.queries} queries x {cal['slice_rows']:,} in-memory rows, one process)",
              flush=True)
        ctx.memory = data.load_all(folder, manifest) if args.rows <= args.verify_max \
            and "search" in stages else None

        import distributed
        with contextlib.ExitStack() as stack:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, memory_limit="3GiB",
                host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40))
            ctx.cluster = cluster
            ctx.client = stack.enter_context(distributed.Client(cluster))
            ctx.client.run(_warm_up)             # imports, BLAS threads: not in stage 1
            ctx.X, how = open_corpus(folder, manifest)
            print(f"[cluster] {cluster.scheduler_address}: 2 workers x 1 thread, 3 GiB each; "
                  f"corpus opened with {how}, {len(ctx.X.chunks[0])} chunks; every stage "
                  + ("starts cold (shards evicted)" if args.cold else "runs warm"), flush=True)
            records = []
            for name in stages:
                rec = run_stage(name, ctx)
                print_stage(rec, data_bytes)
                records.append(rec)
            logging.getLogger("distributed").setLevel(logging.CRITICAL)  # closing chatter
        summary(records, data_bytes)
        targets(records, cal, ctx, data_bytes)
        if args.out:
            keep = ("stage", "seconds", "skipped", "note", "procs", "task_seconds", "n_tasks",
                    "hub_share", "hub_found", "dups_found", "equal_to_numpy", "codes")
            Path(args.out).write_text(json.dumps(
                {"rows": args.rows, "load_average": m.load_average(), "calibration": cal,
                 "stages": [{k: r[k] for k in keep if k in r} for r in records]}, indent=1))
        print(f"total {time.perf_counter() - t_start:.0f} s; load average {m.load_average()}",
              flush=True)
    finally:
        if not args.keep:
            for f in glob.glob(str(folder / "shard-*.npy*")) + [
                    str(folder / x) for x in ("manifest.json", "truth.npz", "report.json",
                                              "report.html", "report.err")]:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f)
            if own_dir:
                shutil.rmtree(folder, ignore_errors=True)
            print(f"deleted the data in {folder} (--keep keeps it)")
    return 0


def summary(records, data_bytes) -> None:
    """One line per stage, as a Markdown table (for benchmarks/README.md)."""
    print("\n| stage | seconds | GB/s over the data | read from disk (GB) | workers busy "
          "| peak RSS per worker (GiB) |\n|---|---:|---:|---:|---:|---|")
    for r in records:
        if "skipped" in r:
            print(f"| {r['stage']} | {r['skipped'].splitlines()[0][:100]} | | | | |")
            continue
        workers = [v for k, v in r["procs"].items() if k.startswith("worker")]
        peaks = ", ".join(f"{v['peak_rss'] / GiB:.2f}" for v in workers)
        print(f"| {r['stage']} | {r['seconds']:.1f} | {data_bytes / r['seconds'] / 1e9:.2f} | "
              f"{sum(v['read_bytes'] for v in workers) / 1e9:.2f} | "
              f"{r['task_seconds'] / (2 * r['seconds']):.0%} | {peaks} |")


def targets(records, cal, ctx, data_bytes) -> None:
    """The issue's targets, PASS/FAIL (or n/a when the stage did not run)."""
    by = {r["stage"]: r for r in records if "skipped" not in r}
    lines = []

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    disk = cal["disk"]["rate"]

    def worker_cpu(rec):
        return sum(v["cpu"] for k, v in rec["procs"].items() if k.startswith("worker"))

    for name in ("read", "sums", "moments"):
        order = "O(n d²): with the Gram matrix" if name == "moments" else "O(n d)"
        if name in by:
            rate = data_bytes / by[name]["seconds"]
            idle = max(worker_cpu(by[name]) / 2, data_bytes / disk)
            lines.append(f"{verdict(rate >= 0.5 * disk)}  {name} ({order}) at {gb(rate)} GB/s = "
                         f"{rate / disk:.0%} of the disk's {gb(disk)} GB/s (target >= 50%)"
                         f"\n        CPU view: {worker_cpu(by[name]):.0f} worker CPU-s, so on 2 "
                         f"idle cores >= {idle:.0f} s, at most {gb(data_bytes / idle)} GB/s = "
                         f"{data_bytes / idle / disk:.0%} of the disk")
            if name == "moments":               # what the Gram matrix alone costs
                flops = ctx.n * 384.0 * 385       # a rank-k update: n d (d + 1) flop
                floor = flops / cal["sgemm"]
                lines.append(f"        the Gram matrix alone is {flops:.2e} flop: >= {floor:.1f} s "
                             f"at the sgemm rate, at most {gb(data_bytes / floor)} GB/s; the "
                             f"pass ran at {floor / by[name]['seconds']:.0%} of that bound")
        else:
            lines.append(f"n/a   {name} (O(n d)) vs the disk rate: stage not run / not available")
    if "search" in by:
        flops = 2.0 * ctx.args.queries * ctx.n * 384
        rate = flops / by["search"]["seconds"]
        cpu_rate = flops / max(worker_cpu(by["search"]), 1e-9)
        lines.append(f"{verdict(rate >= 0.7 * cal['blocked'])}  exact search of "
                     f"{ctx.args.queries:,} queries at {rate / 1e9:.0f} GFLOP/s = "
                     f"{rate / cal['blocked']:.0%} of the blocked-product rate "
                     f"{cal['blocked'] / 1e9:.0f} GFLOP/s (target >= 70%)"
                     f"\n        CPU view: {cpu_rate / 1e9:.0f} GFLOP per worker CPU-s = "
                     f"{cpu_rate / cal['blocked_cpu']:.0%} of the blocked products' "
                     f"{cal['blocked_cpu'] / 1e9:.0f} per CPU-s")
    else:
        lines.append("n/a   exact search vs the blocked-product rate: not available")
    if "hubness" in by:
        flops = 2.0 * ctx.args.sample * ctx.n * 384
        bound = flops / cal["sgemm"]
        ratio = by["hubness"]["seconds"] / bound
        cpu_ratio = worker_cpu(by["hubness"]) / (flops / cal["sgemm_cpu"])
        lines.append(f"{verdict(ratio <= 1.3)}  sampled hubness ({ctx.args.sample:,} rows) "
                     f"{by['hubness']['seconds']:.0f} s = {ratio:.2f}x its flop bound "
                     f"{bound:.0f} s (2 s n d / sgemm; target <= 1.3x)"
                     f"\n        CPU view: {worker_cpu(by['hubness']):.0f} worker CPU-s = "
                     f"{cpu_ratio:.2f}x the {flops / cal['sgemm_cpu']:.0f} CPU-s of sgemm")
    else:
        lines.append("n/a   sampled hubness vs its flop bound: not available")
    peaks = [(r["stage"], v["peak_rss"]) for r in records      # failed stages count too
             for k, v in r["procs"].items() if k.startswith("worker")]
    if peaks:
        stage, worst = max(peaks, key=lambda x: x[1])
        lines.append(f"{verdict(worst <= 3 * GiB)}  largest worker peak RSS {worst / GiB:.2f} "
                     f"GiB (in {stage}; target: no worker above 3 GiB)")
    hub = [r.get("hub_found") for r in by.values() if r.get("hub_found") is not None]
    share = by.get("search", {}).get("hub_share")
    lines.append(("n/a   " if not hub else verdict(all(hub)) + "  ")
                 + "planted hub found by sampled hubness"
                 + (f" (exact search: in {share:.0%} of the query lists)" if share is not None
                    else ""))
    dups = by.get("near-dups", {}).get("dups_found")
    lines.append(("n/a   " if dups is None else verdict(dups) + "  ")
                 + "planted copies found (no fewer sampled rows with a copy than planted "
                 "ones drawn, the interval not below the planted share, which is a lower "
                 "bound; exact copies all found)")
    if "search" in by and "equal_to_numpy" in by["search"]:
        lines.append(f"{verdict(by['search']['equal_to_numpy'])}  Dask search equal to NumPy")
    print("\nTargets (issue 17):\n  " + "\n  ".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
