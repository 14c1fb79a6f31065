"""Gate a CI job on vector-space health and on retrieval quality.

    python examples/ci_gate.py

Two checks a pipeline runs before it ships a new index, through the command line:
`vecdiag check` exits 1 when a finding reaches --fail-on, and `vecdiag eval` exits 1
when a metric drops significantly against the baseline run. Here: the demo corpus, and
a deliberately damaged run that must fail the regression gate.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import vecdiag as vd

data = vd.datasets.load_demo()
work = Path(tempfile.mkdtemp())
np.save(work / "corpus.npy", data.corpus_embeddings)

hits = vd.knn(data.query_embeddings, data.corpus_embeddings, k=100)
run = {q: {data.corpus_ids[j]: float(s) for j, s in zip(row, scores)}
       for q, row, scores in zip(data.query_ids, hits.indices, hits.scores)}
rng = np.random.default_rng(0)
damaged = {q: dict(zip(docs, rng.permutation(list(docs.values())))) for q, docs in run.items()}
vd.save_run(run, work / "baseline.run")
vd.save_run(damaged, work / "candidate.run")
with open(work / "qrels.txt", "w") as handle:
    for q, docs in data.qrels.items():
        for d, rel in docs.items():
            handle.write(f"{q} 0 {d} {rel}\n")


def gate(*args):
    cmd = [sys.executable, "-m", "vecdiag", *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    verdict = {0: "pass", 1: "FAIL (gate closed)", 2: "error"}[result.returncode]
    print(f"$ vecdiag {' '.join(map(str, args[:1]))} ... -> exit {result.returncode}: {verdict}")
    print("  " + (result.stdout.strip().splitlines() or [result.stderr.strip()])[-1])
    return result.returncode


health = gate("check", work / "corpus.npy", "--fail-on", "critical")
same = gate("eval", work / "baseline.run", work / "qrels.txt", "--baseline", work / "baseline.run",
            "--fail-on-regression")
worse = gate("eval", work / "candidate.run", work / "qrels.txt", "--baseline", work / "baseline.run",
             "--fail-on-regression")
print("gates behave as expected:", (health, same, worse) == (0, 0, 1))
