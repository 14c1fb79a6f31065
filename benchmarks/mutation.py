"""Mutation score of vecdiag's core (``make mutation``; on demand, never in CI).

mutmut (configured in pyproject.toml, [tool.mutmut]) mutates ``vecdiag/neighbors/``,
``vecdiag/evaluation/``, ``vecdiag/explain/counterfactuals.py``, ``vecdiag/fixes/`` and
``vecdiag/scratch/`` and runs, for each mutant, the tests of the configured selection
that execute the mutated function. A full run takes hours on 2 shared cores, so this
script runs a seeded random sample of mutants and reports the killed share with a 95%
Wilson interval.

Steps: copy the tracked files to a scratch folder (mutmut writes ``mutants/`` where it
runs), let mutmut generate every mutant and collect which tests cover which function,
draw ``--sample`` mutant names with ``random.Random(--seed)``, run them, and print the
score. Survivors are written with their diffs to ``--out`` (benchmarks/mutation-survivors.txt
by default) for review; the reviewed list is in benchmarks/MUTATION.md.

    python benchmarks/mutation.py --sample 200 --seed 22 --budget 4500
    python benchmarks/mutation.py --only NAME [NAME ...]   # re-run given mutants
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {1, 3, 36, -24, 24, 152, 255, -9, -11}   # failing tests, pytest errors, timeouts, crashes
SURVIVED = {0}
NO_TESTS = {33, 5}


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def copy_tree(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not name.startswith(("notebooks/", "mutants/")):
            dst = work / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def mutmut(work: Path, args: list[str], budget: float) -> int:
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": ""}
    with open(work / "mutmut.log", "a") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mutmut", *args], cwd=work, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 15)
            proc.wait()
            print(f"mutmut stopped after the {budget:.0f} s budget; scoring the mutants it ran")
            return -1


def exit_codes(work: Path) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in (work / "mutants").rglob("*.meta"):
        codes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return codes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--budget", type=float, default=4500.0, help="seconds for the mutant runs")
    ap.add_argument("--children", type=int, default=1, help="parallel mutmut workers")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vecdiag-mutation"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "mutation-survivors.txt")
    ap.add_argument("--only", nargs="*", help="run these mutant names instead of a sample")
    ap.add_argument("--reuse", action="store_true", help="keep the work folder's mutants/stats")
    args = ap.parse_args(argv)

    start = time.time()
    if not args.reuse:
        copy_tree(args.work)
    if not (args.work / "mutants" / "mutmut-stats.json").exists():
        # generates every mutant and the test-to-function map, then stops (no name matches)
        mutmut(args.work, ["run", "--max-children", str(args.children), "__none__"], 3600)
    every = sorted(exit_codes(args.work))
    if not every:
        print("mutmut generated no mutants; see", args.work / "mutmut.log")
        return 2
    if args.only:
        chosen = args.only
    else:
        chosen = sorted(random.Random(args.seed).sample(every, min(args.sample, len(every))))
    print(f"{len(every)} mutants generated; running {len(chosen)} "
          f"({'given' if args.only else f'random sample, seed {args.seed}'})", flush=True)
    mutmut(args.work, ["run", "--max-children", str(args.children), *chosen], args.budget)

    codes = exit_codes(args.work)
    done = {n: codes.get(n) for n in chosen if codes.get(n) is not None}
    killed = [n for n, c in done.items() if c in KILLED]
    survived = [n for n, c in done.items() if c in SURVIVED]
    untested = [n for n, c in done.items() if c in NO_TESTS]
    other = [n for n, c in done.items() if n not in killed + survived + untested]
    n = len(killed) + len(survived) + len(untested)
    low, high = wilson(len(killed), n)
    print(f"mutants run: {len(done)} of {len(chosen)} drawn ({len(every)} in all)")
    print(f"killed {len(killed)}, survived {len(survived)}, no covering test {len(untested)}, "
          f"other {len(other)}")
    if n:
        print(f"mutation score {len(killed) / n:.1%} (95% Wilson interval {low:.1%}-{high:.1%}) "
              f"before removing equivalent mutants; see benchmarks/MUTATION.md")
    with open(args.out, "w") as out:
        for name in survived + untested + other:
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=args.work,
                                  capture_output=True, text=True).stdout
            out.write(f"## {name} (exit {codes.get(name)})\n{diff}\n")
    print(f"survivors with diffs: {args.out}; {time.time() - start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
