"""Benchmark: explain_neighbors on real failing queries (Cranfield, all-MiniLM-L6-v2).

Cases: for each judged query, the best-ranked relevant document that the model ranks
11-100 by exact search (one case per query); explained with the corpus texts, the query
text, k = 10 and ``fix_report=`` from :func:`vecdiag.try_fixes` over all judged queries.

Figures printed (issue 14's targets):

* precision: cases whose first cause has confidence >= 0.5 and a fix, and that fix lifts
  the document (a better rank), over such cases (target >= 80%);
* coverage: cases where that fix brings the document into the top-10, against the
  oracle: cases where some fix counterfactual the same call computed does (target:
  coverage >= oracle / 2);
* stop words among the lexical evidence (target 0; scikit-learn's English list);
* contradicting sentences (target 0; tests/explain_consistency.py's claims);
* recommendation: present whenever a fix that the report does not find significantly
  harmful brings the document into the top-10 ("missing"), and never a significantly
  harmful fix ("harmful"); both targets 0;
* which cause comes first, and the time per explanation.

Data: BEIR layout with MiniLM embeddings (``--data``, default ../shared/data/cranfield);
``--corpus/--queries`` take any other collection embedded the same way (.npy + ids .txt),
``--metric dot`` searches an unnormalised family by dot product.

Run: ``python benchmarks/bench_explain_real.py [--data DIR] [--limit 75] [--metric cosine]``
(``--metric dot --rescale 0.5``: the same vectors with log-normal lengths, searched by dot)
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the sentence checker lives with the tests


def load(folder: Path, prefix: str):
    ids = (folder / f"{prefix}_corpus_ids.txt").read_text().split()
    X = np.load(folder / f"{prefix}_corpus.npy")
    qids = (folder / f"{prefix}_queries_ids.txt").read_text().split()
    Q = np.load(folder / f"{prefix}_queries.npy")
    texts, qtexts = {}, {}
    with open(folder / "corpus.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            texts[rec["_id"]] = (rec.get("title", "") + " " + rec["text"]).strip()
    with open(folder / "queries.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            qtexts[rec["_id"]] = rec["text"]
    qrels: dict = {}
    qrel_file = folder / "qrels" / "test.tsv"
    for line in qrel_file.read_text().splitlines()[1:]:
        q, d, s = line.split("\t")[:3]
        if int(s) > 0:
            qrels.setdefault(q, {})[d] = int(s)
    return ids, X, [texts[i] for i in ids], qids, Q, [qtexts[q] for q in qids], qrels


def cases(index, Q, qids, qrels, k, lo=11, hi=100):
    """(query row, expected id, rank): the best-ranked relevant doc at ranks lo..hi."""
    found = index.search(Q, k=hi)
    out = []
    for i, q in enumerate(qids):
        rel = qrels.get(q, {})
        for r, doc in enumerate(found.ids[i].tolist(), start=1):
            if r >= lo and doc in rel:
                out.append((i, doc, r))
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cranfield"))
    parser.add_argument("--prefix", default="emb_minilm")
    parser.add_argument("--metric", default="cosine")
    parser.add_argument("--limit", type=int, default=75)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rescale", type=float, default=0.0,
                        help="multiply every corpus and query row by a log-normal length "
                             "(this sigma, seed 0): an unnormalised family; use with --metric dot")
    args = parser.parse_args()

    import vecdiag as vd
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from explain_consistency import contradictions
    from bench_explain import machine

    print(f"machine: {machine()}")
    ids, X, texts, qids, Q, qtexts, qrels = load(Path(args.data), args.prefix)
    if args.rescale:
        rng = np.random.default_rng(0)
        X = X * rng.lognormal(0.0, args.rescale, size=(len(X), 1)).astype(X.dtype)
        Q = Q * rng.lognormal(0.0, args.rescale, size=(len(Q), 1)).astype(Q.dtype)
        print(f"rows rescaled by log-normal lengths (sigma {args.rescale})")
    index = vd.Index(X, ids=ids, texts=texts, metric=args.metric)
    judged = [i for i, q in enumerate(qids) if q in qrels]
    t = time.perf_counter()
    report = vd.try_fixes(Q[judged], index, {qids[i]: qrels[qids[i]] for i in judged},
                          query_ids=[qids[i] for i in judged], doc_ids=ids, metric=args.metric,
                          texts=texts, query_texts=[qtexts[i] for i in judged],
                          show_progress=False)
    print(f"{Path(args.data).name}: {len(ids)} documents x {X.shape[1]}, {len(judged)} judged "
          f"queries, metric {args.metric}; try_fixes {time.perf_counter() - t:.1f} s")
    print(report.to_markdown(3))
    todo = cases(index, Q, qids, qrels, args.k)[:args.limit]
    print(f"cases: {len(todo)} (relevant document ranked {args.k + 1}-100)")

    named = lifted = covered = oracle = stop = bad = missing = harmful = 0
    firsts, best_cf, seconds, bad_examples = collections.Counter(), collections.Counter(), [], []
    for i, doc, rank in todo:
        t = time.perf_counter()
        exp = vd.explain_neighbors(Q[i], index, k=args.k, expected=[doc],
                                   query_text=qtexts[i], fix_report=report)
        seconds.append(time.perf_counter() - t)
        assert exp.expected[0].rank == rank
        ranks = {cf.fix: cf.expected_ranks[doc] for cf in exp.counterfactuals}
        in_top = {f for f, r in ranks.items() if r <= args.k}
        oracle += bool(in_top)
        if ranks:
            best_cf[min(ranks, key=lambda f: (ranks[f], f))] += 1
        first = exp.causes[0] if exp.causes else None
        firsts[first.code if first else "(none)"] += 1
        if first is not None and first.confidence >= 0.5 and first.fix in ranks:
            named += 1
            lifted += ranks[first.fix] < rank
            covered += ranks[first.fix] <= args.k
        for c in exp.causes:
            if c.code == "lexical_mismatch":
                stop += len(set(c.evidence["shared_words"]) & ENGLISH_STOP_WORDS)
        found = contradictions(exp)
        bad += len(found)
        bad_examples += found[:1]
        safe_in = [cf for cf in exp.counterfactuals if cf.expected_ranks[doc] <= args.k
                   and not (cf.global_significant and cf.global_delta < 0)
                   and not cf.fix.startswith("model: ")]
        rec = exp.recommendation
        missing += bool(safe_in) and rec is None
        harmful += rec is not None and bool(rec.global_significant) and rec.global_delta < 0
    n = len(todo)
    print(f"first cause: {dict(firsts.most_common())}")
    print(f"best counterfactual per case: {dict(best_cf.most_common())}")
    prec = lifted / named if named else float("nan")
    print(f"precision: {lifted}/{named} = {prec:.0%} (first cause >= 0.5 with a fix that lifts "
          f"the document; target >= 80%)")
    print(f"coverage: {covered} of {n} cases (its fix brings the document into the top-"
          f"{args.k}); oracle {oracle} (some fix does); coverage/oracle "
          f"{covered / max(oracle, 1):.0%} (target >= 50%)")
    print(f"stop words in lexical evidence: {stop} (target 0)")
    print(f"contradicting sentences: {bad} (target 0){' e.g. ' + bad_examples[0] if bad else ''}")
    print(f"recommendation missing where a safe fix brings the document in: {missing}; "
          f"recommending a significantly harmful fix: {harmful} (targets 0)")
    print(f"time per explanation (cached statistics, with fix_report): median "
          f"{statistics.median(seconds):.3f} s, max {max(seconds):.3f} s")


if __name__ == "__main__":
    main()
