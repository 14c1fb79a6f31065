"""Benchmark: how precisely explain_neighbors names planted failures.

Each case is a generated corpus where one cause, and only that cause, makes a known query
miss a known document (the generators of ``tests/explain_planted.py`` plus a few variants
below: milder plants, zero-mean rogue dimensions, cosine plants searched by dot or
euclidean over unit vectors; ``text:`` plants made by a toy text model that cuts at its
token limit or misreads a text without its instruction, explained with its embedder and
the texts, no text model run), over several seeds, dimensions and sizes. A case counts when
the plant took (brute-force rank of the expected document > k; <= k for ``ann_miss`` and
the healthy control). Figures per planted kind:

* first >= .5: the planted cause ranks first with confidence >= 0.5 (recall);
* FP cases: cases where some *other* cause reaches 0.5 (and which ones, with the largest
  confidence);
* overall: recall, precision of "named at >= 0.5" (named causes that are the planted one,
  over all named causes) and the share of cases with an unplanted cause at >= 0.5.

Sets: ``quick`` (default, about a minute), ``tune`` (the matrix the confidence rules were
checked on) and ``holdout`` (other seeds, dimensions and sizes, not used to set anything).

Run: ``PYTHONPATH=. python benchmarks/bench_explain_planted.py [--set quick|tune|holdout]
[--names hub,norm_bias,...]``
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the planted generators live with the tests

from explain_planted import (ENTANGLED, GENERATORS, TEXT_GENERATORS, Case, control,  # noqa: E402
                             healthy_corpus, one_long_unrelated, plant_dims, rogue_variance,
                             text_control, unit)

SETS = {
    "quick": dict(seeds=(0, 1), dims=(16, 96, 384), ns=(400,)),
    "tune": dict(seeds=(0, 1, 2), dims=(16, 64, 384, 768), ns=(300, 600)),
    "holdout": dict(seeds=(10, 11), dims=(24, 48, 128, 512, 1024), ns=(400, 900)),
}


def rogue_mild(rng, n, d, k=10):
    """One rogue dimension with offset 3 and sd 1 (a transformer's outlier feature)."""
    X = healthy_corpus(rng, n, d)
    j = int(rng.integers(d))
    e, q = plant_dims(rng, X, [j], 3.0, 1.0)
    X[e, j] = 0.0
    q[j] = 6.0
    return Case(X, q, [e], k=k)


def norm_bias_mild(rng, n, d, k=10):
    """Dot product over log-normal lengths (sd 0.1); k+2 documents 1.5x the median
    length, loosely towards the query, fill the top-k."""
    X = unit(healthy_corpus(rng, n, d)) * np.exp(rng.normal(0, 0.1, size=(n, 1)))
    e = int(rng.integers(k + 2, n))
    q = unit(X[e]) + 0.2 * unit(rng.normal(size=d))
    med = np.median(np.linalg.norm(X, axis=1))
    X[:k + 2] = 1.5 * med * unit(1.2 * unit(q) + unit(rng.normal(size=(k + 2, d))))
    return Case(X, q, [e], metric="dot", k=k)


def _on_unit_vectors(gen, metric):
    """A cosine plant searched by ``metric`` over unit rows and a unit query (the same
    ranking as cosine)."""
    def generate(rng, n, d, k=10):
        case = gen(rng, n, d, k=k)
        case.corpus, case.query, case.metric = unit(case.corpus), unit(case.query), metric
        return case
    return generate


KINDS = {name: (gen, name) for name, gen in GENERATORS.items()}
KINDS.update({"norm_bias_mild": (norm_bias_mild, "norm_bias"),
              "rogue_mild": (rogue_mild, "rogue_dimensions"),
              "rogue_variance": (rogue_variance, "rogue_dimensions"),
              "control": (control, None)})
KINDS.update({f"entangled:{name}": (gen, name) for name, gen in ENTANGLED.items()})
KINDS.update({f"text:{name}": (gen, name) for name, gen in TEXT_GENERATORS.items()})
KINDS["text:one_long_unrelated"] = (one_long_unrelated, "expected_far")
KINDS["text:control"] = (text_control, None)
for _name in ("hub", "rogue_dimensions", "anisotropy", "near_duplicates", "low_margin",
              "expected_far"):
    KINDS[f"dot:{_name}"] = (_on_unit_vectors(GENERATORS[_name], "dot"), _name)
    KINDS[f"euc:{_name}"] = (_on_unit_vectors(GENERATORS[_name], "euclidean"), _name)
# Under euclidean explain names no cone: a direction shared from the origin is an offset,
# which moves no distance (vecdiag.explain.centred). Seen from the centre the anisotropy
# plant's unit rows lie at distances that vary along the shared direction, and euclidean
# distance counts them: metric_mismatch, fixed by centring then cosine.
KINDS["euc:anisotropy"] = (KINDS["euc:anisotropy"][0], "metric_mismatch")


def exact_rank(case) -> int:
    """Brute-force rank of the expected document (independent of vecdiag)."""
    X, q = case.corpus, case.query
    key = {"cosine": lambda: unit(X) @ unit(q), "dot": lambda: X @ q,
           "euclidean": lambda: -np.linalg.norm(X - q, axis=1)}[case.metric]()
    order = np.lexsort((np.arange(len(key)), -key))
    return int(np.flatnonzero(order == case.expected[0])[0]) + 1


def run(kind: str, seed: int, n: int, d: int):
    """(took, causes as (code, confidence), seconds) of one case."""
    import vecdiag as vd

    gen, planted = KINDS[kind]
    case = gen(np.random.default_rng(1000 * seed + d + n), n, d)
    rank = exact_rank(case)
    took = rank <= case.k if planted in (None, "ann_miss") else rank > case.k
    t = time.perf_counter()
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               metric=case.metric, **case.kwargs)
    return took, [(c.code, c.confidence) for c in exp.causes], time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="quick")
    parser.add_argument("--names", default=",".join(KINDS),
                        help=f"comma-separated kinds (default all: {', '.join(KINDS)})")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    grid = SETS[args.set]
    totals = collections.Counter()
    times = []
    print(f"set {args.set}: seeds {grid['seeds']}, d {grid['dims']}, n {grid['ns']}, k 10")
    print(f"{'planted':26s} {'cases':>5s} {'first>=.5':>9s} {'FP cases':>8s}  "
          "unplanted causes >= 0.5 (count, max confidence)")
    with threadpool_limits(1):
        for kind in args.names.split(","):
            planted = KINDS[kind][1]
            took = first = fp_cases = 0
            fps = collections.defaultdict(list)
            for seed in grid["seeds"]:
                for d in grid["dims"]:
                    if kind.endswith("hub") and not kind.startswith("entangled") and d < 64:
                        continue        # hubness is a high-dimensional effect
                    for n in grid["ns"]:
                        ok, causes, dt = run(kind, seed, n, d)
                        times.append(dt)
                        if not ok:
                            continue
                        took += 1
                        named = [(c, p) for c, p in causes if p >= 0.5]
                        first += bool(causes) and causes[0][0] == planted and causes[0][1] >= 0.5
                        bad = [(c, p) for c, p in named if c != planted]
                        fp_cases += bool(bad)
                        for c, p in bad:
                            fps[c].append(p)
                        totals["named"] += len(named)
                        totals["named_right"] += len(named) - len(bad)
            totals["cases"] += took
            totals["fp_cases"] += fp_cases
            if planted is not None:
                totals["planted"] += took
                totals["first"] += first
            fp_text = ", ".join(f"{c} {len(v)} ({max(v):.2f})" for c, v in sorted(fps.items()))
            shown = f"{first:9d}" if planted is not None else f"{'-':>9s}"
            print(f"{kind:26s} {took:5d} {shown} {fp_cases:8d}  {fp_text}")
    print(f"recall (planted first at >= 0.5): {totals['first']}/{totals['planted']}; precision "
          f"of 'named at >= 0.5': {totals['named_right']}/{totals['named']}; cases with an "
          f"unplanted cause >= 0.5: {totals['fp_cases']}/{totals['cases']}")
    print(f"explanation time: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"over {len(times)} cases")


if __name__ == "__main__":
    main()
