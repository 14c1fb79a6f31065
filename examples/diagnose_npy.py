"""Diagnose a .npy file of embeddings: the first thing to run on a new vector space.

    python examples/diagnose_npy.py EMBEDDINGS.npy [--queries QUERIES.npy]

Without arguments it diagnoses the bundled demo corpus (saved to a temporary .npy first,
so the path through the file loader is the one you will use).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import vecdiag as vd
from vecdiag.io import load_vectors

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("embeddings", nargs="?", help=".npy/.npz/.parquet of document vectors")
parser.add_argument("--queries", help="optional query vectors (adds the query/corpus shift check)")
args = parser.parse_args()

if args.embeddings is None:
    demo = vd.datasets.load_demo()
    folder = Path(tempfile.mkdtemp())
    np.save(folder / "corpus.npy", demo.corpus_embeddings)
    np.save(folder / "queries.npy", demo.query_embeddings)
    args.embeddings, args.queries = folder / "corpus.npy", folder / "queries.npy"
    print(f"(no file given: using the demo corpus, {len(demo.corpus_ids)} documents)")

corpus = load_vectors(args.embeddings)                     # memory-mapped for .npy
queries = load_vectors(args.queries) if args.queries else None
diagnosis = vd.diagnose(corpus, queries=queries)

print(f"{corpus.shape[0]} vectors of dimension {corpus.shape[1]}, {corpus.dtype}")
for finding in diagnosis.findings:                          # most severe first
    fix = f"  -> try: {finding.fix}" if finding.fix else ""
    print(f"[{finding.severity:>8}] {finding.code}: {finding.summary}{fix}")
key = ("anisotropy", "hubness_skewness", "rogue_share")
print("key figures:", {k: round(float(v), 4) for k, v in diagnosis.stats.items() if k in key})
