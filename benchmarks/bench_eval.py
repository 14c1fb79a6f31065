"""try_fixes on Cranfield: every fix vs exact cosine search, with p-values; and the cost
of vd.evaluate next to pytrec_eval and ranx on the same run.

    PYTHONPATH=. python benchmarks/bench_eval.py [--n-resamples 10000] [--markdown]

Data: ../shared/data/cranfield (1,400 abstracts, 225 queries, graded qrels) with its
precomputed all-MiniLM-L6-v2 embeddings (unit norm, float32) and the raw texts for BM25.
The baseline must reproduce the reference figures of ../shared/data/README.md
(nDCG@10 0.3817, Recall@100 0.7724, MRR@10 0.538), computed there with pytrec_eval.
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

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cranfield"
if not DATA.exists():
    DATA = Path("/work/shared/data/cranfield")
METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")


def machine() -> str:
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']} ({i['num_threads']} threads)" for i in threadpool_info())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"BLAS: {blas}, load average {load:.1f}, numpy {np.__version__}")


def load():
    Q = np.load(DATA / "emb_minilm_queries.npy")
    C = np.load(DATA / "emb_minilm_corpus.npy")
    qids = (DATA / "emb_minilm_queries_ids.txt").read_text().split()
    dids = (DATA / "emb_minilm_corpus_ids.txt").read_text().split()
    docs = {}
    for line in (DATA / "corpus.jsonl").read_text().splitlines():
        d = json.loads(line)
        docs[d["_id"]] = f"{d.get('title', '')} {d['text']}".strip()
    queries = {}
    for line in (DATA / "queries.jsonl").read_text().splitlines():
        d = json.loads(line)
        queries[d["_id"]] = d["text"]
    qrels = vd.load_qrels(DATA / "qrels" / "test.tsv")
    return Q, C, qids, dids, [queries[q] for q in qids], [docs[d] for d in dids], qrels


def timing(run, qrels, repeats: int = 5) -> dict:
    """Seconds per full evaluation of one run (ndcg@10, recall@100, map), best of repeats."""
    import pytrec_eval
    from ranx import Qrels, Run, evaluate as ranx_evaluate

    def best(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    out = {"vecdiag": best(lambda: vd.evaluate(run, qrels, metrics=["ndcg@10", "recall@100",
                                                                    "map"]))}
    out["pytrec_eval"] = best(lambda: pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut.10", "recall.100", "map"}).evaluate(run))
    rq, rr = Qrels(qrels), Run(run)
    ranx_evaluate(rq, rr, ["ndcg@10", "recall@100", "map"])  # numba compilation, not timed
    out["ranx"] = best(lambda: ranx_evaluate(rq, rr, ["ndcg@10", "recall@100", "map"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-resamples", type=int, default=10_000)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--only-timing", action="store_true",
                        help="skip try_fixes; time the evaluation of the baseline run only")
    args = parser.parse_args()
    print("machine:", machine(), flush=True)
    Q, C, qids, dids, qtexts, texts, qrels = load()
    if args.only_timing:
        run = vd.evaluation.as_run((vd.knn(Q, C, k=100), qids, dids))
        return print_timing(timing(run, qrels))

    start = time.perf_counter()
    report = vd.try_fixes(Q, C, qrels, query_ids=qids, doc_ids=dids, k=100, metrics=METRICS,
                          texts=texts, query_texts=qtexts,
                          fixes=vd.evaluation.default_fixes(texts=True) + ["center+csls"],
                          n_resamples=args.n_resamples, show_progress=True)
    total = time.perf_counter() - start
    base = report.evaluations["baseline"]
    print(f"\nbaseline (exact cosine, MiniLM): " + ", ".join(
        f"{m} {base.mean[m]:.4f}" for m in METRICS) + f"  ({base._query_note()})")
    print("reference (shared/data/README.md): nDCG@10 0.3817, Recall@100 0.7724, MRR@10 0.538")
    print(f"\ntry_fixes: {len(report.order)} runs, {args.n_resamples} sign flips per test, "
          f"{total:.1f} s in all\n")
    print(report.to_markdown())
    print("\nbold: significant at alpha 0.05 after Holm across the 4 metrics of the row; "
          "'bm25': BM25 alone (bm25s, Lucene variant, English stopwords); 'hybrid_lexical': "
          "RRF of the dense ranking and BM25 (k = 60)")
    if report.failed:
        print("could not run:", report.failed)
    if not args.skip_timing:
        print_timing(timing(report.runs["baseline"], qrels))


def print_timing(t: dict) -> None:
    print("\nevaluate one run (225 queries x 100 docs; ndcg@10, recall@100, map), best of 5:")
    for name, sec in t.items():
        print(f"  {name:<12s} {sec * 1e3:8.1f} ms   ({sec / t['pytrec_eval']:.1f}x pytrec_eval)")


if __name__ == "__main__":
    main()
