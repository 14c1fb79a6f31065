"""What ``bench_scale.py`` measures besides wall time: process memory and bytes read,
the disk's sequential read rate, and the compute rates the targets are ratios of.

Everything here reads Linux ``/proc`` files of processes on this machine (a LocalCluster's
workers are local processes): ``/proc/<pid>/status`` (VmRSS, RssAnon, VmHWM) and
``/proc/<pid>/io`` (``read_bytes``: bytes the process caused to be fetched from the
storage layer, i.e. page-cache misses, mmap faults included; ``rchar``: bytes passed
through read() calls, cached or not, mmap excluded).
"""

from __future__ import annotations

import os
import threading
import time


def _status(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


def proc_io(pid: int | str = "self") -> dict:
    """``/proc/<pid>/io`` as a dict of ints (empty if unreadable)."""
    try:
        with open(f"/proc/{pid}/io") as fh:
            return {k: int(v) for k, v in (line.split(":") for line in fh)}
    except OSError:
        return {}


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process, all its threads (``/proc/<pid>/stat``)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _reset_peak(pid: int) -> bool:
    """Reset VmHWM (peak RSS) of a process: ``echo 5 > /proc/PID/clear_refs`` (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class ProcWatch:
    """Peak memory and bytes read of named processes during a block of code.

    Peak RSS is the kernel's VmHWM (reset at the start when ``clear_refs`` is writable,
    exact) and the highest RSS seen by a sampler every ``interval`` seconds (also gives
    the anonymous part); bytes read are ``/proc/<pid>/io`` differences. Processes can be
    added while it runs (a subprocess started inside the block).
    """

    def __init__(self, pids: dict, interval: float = 0.05):
        self.pids = dict(pids)
        self.interval = interval
        self.peak = {}
        self.io0 = {}
        self.exact_peak = {}
        self.cpu0, self.cpu1 = {}, {}

    def add(self, name: str, pid: int) -> None:
        self.exact_peak[name] = _reset_peak(pid)
        self.io0[name] = proc_io(pid)
        self.cpu0[name] = self.cpu1[name] = cpu_seconds(pid)
        self.peak[name] = {"rss": 0, "anon": 0}
        self.pids[name] = pid

    def __enter__(self):
        for name, pid in list(self.pids.items()):
            self.add(name, pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        for name, pid in list(self.pids.items()):
            st = _status(pid)
            if st:
                p = self.peak[name]
                p["rss"] = max(p["rss"], st.get("VmRSS", 0))
                p["anon"] = max(p["anon"], st.get("RssAnon", 0))
                if self.exact_peak.get(name):
                    p["rss"] = max(p["rss"], st.get("VmHWM", 0))
                self.io1[name] = proc_io(pid) or self.io1.get(name, {})
                self.cpu1[name] = cpu_seconds(pid) or self.cpu1.get(name, 0.0)

    def _watch(self):
        self.io1 = {}
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.result = {}
        for name in self.pids:
            a, b = self.io0.get(name, {}), self.io1.get(name, {})
            self.result[name] = {
                "peak_rss": self.peak[name]["rss"], "peak_anon": self.peak[name]["anon"],
                "read_bytes": b.get("read_bytes", 0) - a.get("read_bytes", 0),
                "rchar": b.get("rchar", 0) - a.get("rchar", 0),
                "cpu": self.cpu1[name] - self.cpu0[name]}


def evict(paths) -> bool:
    """Drop these files' pages from the page cache (``posix_fadvise DONTNEED``).

    Works without privileges for pages no process has mapped (written back first with
    fsync: dirty pages are not dropped); the caller checks
    the effect through ``read_bytes``. Returns False where fadvise is missing.
    """
    if not hasattr(os, "posix_fadvise"):
        return False
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)                       # dirty pages (a file just written) stay
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def drop_all_caches() -> bool:
    """``echo 3 > /proc/sys/vm/drop_caches`` when permitted (it usually is not in a VM)."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3")
        return True
    except OSError:
        return False


def sequential_read(paths, *, block: int = 16 * 2**20, direct: bool = False) -> dict:
    """Read the files front to back in ``block``-byte reads, one stream: bytes, seconds,
    and the share of the bytes that came from the storage device (``read_bytes``).
    ``direct``: with O_DIRECT (past the page cache; a 4 KB-aligned buffer)."""
    import numpy as np

    raw = np.empty(block + 4096, np.uint8)
    pad = (-raw.ctypes.data) % 4096
    view = memoryview(raw[pad:pad + block])
    flags = os.O_RDONLY | (getattr(os, "O_DIRECT", 0) if direct else 0)
    io0 = proc_io()
    t0 = time.perf_counter()
    total = 0
    for p in paths:
        fd = os.open(p, flags)
        try:
            while True:
                got = os.readv(fd, [view])
                if not got:
                    break
                total += got
        finally:
            os.close(fd)
    seconds = time.perf_counter() - t0
    from_disk = proc_io().get("read_bytes", 0) - io0.get("read_bytes", 0)
    return {"bytes": total, "seconds": seconds, "rate": total / seconds,
            "from_disk": from_disk / total if total else 0.0}


def sgemm_rate(repeat: int = 5) -> tuple[float, float]:
    """flop/s of one large float32 product ``A @ B.T`` (4096 x 384 by 16384 x 384) on
    NumPy's threaded BLAS, best of ``repeat``: the flop bound of a scoring pass. Per wall
    second and per CPU second (all threads)."""
    import numpy as np

    rng = np.random.default_rng(0)
    A = rng.standard_normal((4096, 384), dtype=np.float32)
    B = rng.standard_normal((16384, 384), dtype=np.float32)
    A @ B.T
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        A @ B.T
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    flops = 2.0 * A.shape[0] * B.shape[0] * A.shape[1]
    return flops / best, flops / best_cpu


def blocked_product_rate(Q, C, repeat: int = 3) -> tuple[float, float]:
    """flop per second of vecdiag's engine score blocks (1024 queries x 4096 rows, one
    BLAS thread per core, no selection) of ``Q`` against the in-memory ``C``, best of
    ``repeat``: per wall second, and per CPU second (all threads; less sensitive to other
    work on a shared machine)."""
    from bench_knn import engine_products

    engine_products(Q[:64], C[:8192])
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        engine_products(Q, C)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    flops = 2.0 * Q.shape[0] * C.shape[0] * Q.shape[1]
    return flops / best, flops / best_cpu


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())
