"""Explain why one query of a BEIR collection misses its relevant document.

    python examples/explain_beir_query.py [BEIR_FOLDER] [--query QUERY_ID]

The folder needs precomputed embeddings beside the texts (emb_<model>_corpus.npy and
emb_<model>_queries.npy with their _ids.txt files), like ../shared/data/cranfield.
Without a folder it uses the bundled demo collection. Without --query it picks the query
whose best relevant document ranks worst.
"""

import argparse

import numpy as np

import vecdiag as vd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("folder", nargs="?", help="BEIR folder with precomputed embeddings")
parser.add_argument("--query", help="query id to explain (default: the worst one)")
parser.add_argument("-k", type=int, default=10)
args = parser.parse_args()

data = vd.datasets.load_beir(args.folder) if args.folder else vd.datasets.load_demo()
if data.corpus_embeddings is None or data.query_embeddings is None:
    raise SystemExit(f"{args.folder} has no precomputed embeddings (emb_<model>_corpus.npy)")
index = vd.Index(data.corpus_embeddings, ids=data.corpus_ids, texts=data.corpus_texts)
qpos = {q: i for i, q in enumerate(data.query_ids)}

if args.query is None:                                   # worst query: its best relevant doc ranks lowest
    scores = vd.cosine_matrix(data.query_embeddings, data.corpus_embeddings)
    worst, worst_rank = None, -1
    for q, i in qpos.items():
        rel = [data.doc_index[d] for d in data.relevant(q)]
        if rel:
            rank = int((scores[i] > scores[i, rel].max()).sum()) + 1
            worst, worst_rank = (q, rank) if rank > worst_rank else (worst, worst_rank)
    args.query = worst

i = qpos[args.query]
expected = data.relevant(args.query)
exp = vd.explain_neighbors(data.query_embeddings[i], index, expected=expected, k=args.k,
                           query_text=data.query_texts[i])
print(f"query {args.query}: {data.query_texts[i]!r}")
for doc in exp.expected:
    print(f"  expected {doc.id}: rank {doc.rank}, score {doc.score:.3f}, {doc.gap:.3f} below the top-{args.k} cut")
print("causes, strongest first:")
for cause in exp.causes:
    print(f"  {cause.confidence:.2f} {cause.code}: {cause.summary}")
moved = [cf for cf in exp.counterfactuals if cf.moved]
print("what each fix would change:")
for cf in moved:
    print(f"  {cf.fix}: {cf.note}")
print("top hit ids:", list(np.asarray(exp.neighbors.ids)[0][:5]))
