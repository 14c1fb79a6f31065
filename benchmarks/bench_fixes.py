"""Every fix on Cranfield (MiniLM embeddings + BM25 texts), scored by pytrec_eval; and the
per-query cost of apply_fix on a cached 100,000 x 384 Index.

    PYTHONPATH=. python benchmarks/bench_fixes.py [--skip-speed] [--skip-cranfield]
                                                  [--n 100000] [--codes center,csls]

Prints nDCG@10 / MAP@100 / recall@100 per fix (pytrec_eval, the trec_eval conventions)
and, for the speed part, first-call and cached median seconds per query (k = n: the full
ranking explain_neighbors asks for). Significance tests live in vd.try_fixes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import vecdiag as vd
from vecdiag.fixes import apply_fix

DATA = Path(__file__).resolve().parents[1].parent.parent / "shared" / "data" / "cranfield"
if not DATA.exists():
    DATA = Path("/work/shared/data/cranfield")


def load():
    C = np.load(DATA / "emb_minilm_corpus.npy")
    Q = np.load(DATA / "emb_minilm_queries.npy")
    cids = (DATA / "emb_minilm_corpus_ids.txt").read_text().split()
    qids = (DATA / "emb_minilm_queries_ids.txt").read_text().split()
    texts = {}
    for line in (DATA / "corpus.jsonl").read_text().splitlines():
        d = json.loads(line)
        texts[d["_id"]] = (d.get("title", "") + " " + d["text"]).strip()
    qtexts = {}
    for line in (DATA / "queries.jsonl").read_text().splitlines():
        d = json.loads(line)
        qtexts[d["_id"]] = d["text"]
    qrels: dict = {}
    for line in (DATA / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        qrels.setdefault(q, {})[d] = int(s)
    keep = [i for i, q in enumerate(qids) if q in qrels]
    Q, qids = Q[keep], [qids[i] for i in keep]
    return Q, C, qids, cids, [qtexts[q] for q in qids], [texts[c] for c in cids], qrels


def score(res, qids, cids, qrels):
    import pytrec_eval

    run = {q: {cids[j]: float(s) for j, s in zip(res.indices[i], res.scores[i])}
           for i, q in enumerate(qids)}
    if res.metric == "euclidean":
        run = {q: {d: -s for d, s in docs.items()} for q, docs in run.items()}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map_cut.100", "recall.100"})
    per = ev.evaluate(run)
    return {m: float(np.mean([v[m] for v in per.values()])) for m in ("ndcg_cut_10", "map_cut_100", "recall_100")}


def cranfield():
    Q, C, qids, cids, qtexts, texts, qrels = load()
    print(f"Cranfield: {len(qids)} judged queries, {len(cids)} documents, dim {C.shape[1]}")
    fixes = ["baseline", "center", "normalize", "whiten", "whiten:n_components=128",
             "all_but_the_top", "csls", "mutual_proximity", "deduplicate", "hybrid_lexical",
             "center+csls", "all_but_the_top+csls"]
    print(f"{'fix':28s} {'nDCG@10':>8s} {'MAP@100':>8s} {'R@100':>8s} {'seconds':>8s}")
    for fix in fixes:
        code, _, opt = fix.partition(":")
        opts = {k: int(v) for k, v in (o.split("=") for o in opt.split(",") if o)}
        t = time.perf_counter()
        if code == "baseline":
            res = vd.knn(Q, C, k=100)
        else:
            res = apply_fix(code, Q, C, k=100, texts=texts, query_texts=qtexts, **opts)
        dt = time.perf_counter() - t
        m = score(res, qids, cids, qrels)
        print(f"{fix:28s} {m['ndcg_cut_10']:8.4f} {m['map_cut_100']:8.4f} {m['recall_100']:8.4f} {dt:8.2f}")


SPEED_CODES = ["cosine_metric", "center", "normalize", "whiten", "all_but_the_top",
               "mutual_proximity", "deduplicate", "csls"]


def speed(n=100_000, d=384, n_queries=20, codes=SPEED_CODES):
    rng = np.random.default_rng(0)
    C = (rng.normal(size=(n, d)) + 0.5).astype(np.float32)
    index = vd.Index(C)
    print(f"\napply_fix on a cached Index: {n} x {d} float32, k = n, median of {n_queries} queries")
    for code in codes:
        t = time.perf_counter()
        apply_fix(code, C[:1] + 0.1, index, k=n)
        first = time.perf_counter() - t
        times = []
        for i in range(1, n_queries + 1):
            t = time.perf_counter()
            apply_fix(code, C[i:i + 1] + 0.1, index, k=n)
            times.append(time.perf_counter() - t)
        print(f"{code:18s} first call {first:8.2f}s   cached {np.median(times):6.3f}s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-cranfield", action="store_true")
    parser.add_argument("--n", type=int, default=100_000, help="corpus rows of the speed test")
    parser.add_argument("--codes", default=",".join(SPEED_CODES))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}")
    if not args.skip_cranfield:
        cranfield()
    if not args.skip_speed:
        speed(n=args.n, codes=args.codes.split(","))
