"""Does loading the compiled selection repay itself? Fresh processes, NumPy against auto.

Each run is a new Python process that builds a clustered 200,000 x 384 float32 corpus and
``--queries`` queries (bench_knn.py's data), then times one ``vd.knn(Q, C, k=10)``: with
``VECDIAG_NUMBA=0`` (the NumPy selection) and with it unset (auto: a scan of
``_scan._LOAD_REPAID_FLOPS`` or more imports numba and loads the compiled kernel inside the
timed call). The two alternate, ``--rounds`` times. Prints each time, whether the kernels
were loaded, and the results' checksum (equal in both paths).

Usage::

    PYTHONPATH=. python benchmarks/bench_knn_load.py --queries 6600 65200 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
sys.path.insert(0, {bench!r})
from bench_knn import clustered
C = clustered(200_000, 384, seed=0)
Q = clustered({m}, 384, seed=1)
import vecdiag as vd
from vecdiag.neighbors import _fold
t = time.perf_counter()
res = vd.knn(Q, C, k=10, show_progress=False)
t = time.perf_counter() - t
print(f"{{t:.2f}} {{int(_fold.loaded())}} {{int(res.indices.sum())}}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, nargs="+", default=[6600, 65200])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print("| queries | flops | path | seconds | kernels loaded | checksum |")
    print("|---:|---:|---|---:|---|---:|")
    for m in args.queries:
        for _ in range(args.rounds):
            for mode in ("0", "auto"):
                env = {**os.environ, "VECDIAG_NUMBA": mode,
                       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
                code = CHILD.format(bench=str(ROOT / "benchmarks"), m=m)
                out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                     capture_output=True, text=True).stdout.split()
                seconds, loaded, checksum = out[-3:]
                print(f"| {m:,} | {2.0 * m * 200_000 * 384:.1e} | "
                      f"{'NumPy' if mode == '0' else 'auto'} | {seconds} | "
                      f"{'yes' if loaded == '1' else 'no'} | {checksum} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
