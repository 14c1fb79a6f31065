"""Compare two embedding models on the same texts: retrieval quality, significance, and
how much each query's neighbourhood changes (what switching models would do to users).

    python examples/compare_models.py

Model A is all-MiniLM-L6-v2 (the demo's precomputed embeddings); model B is a classic
LSA model (TF-IDF + truncated SVD, 128 dimensions) fitted on the same corpus.
"""

from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

import vecdiag as vd

data = vd.datasets.load_demo()
tfidf = TfidfVectorizer(sublinear_tf=True).fit(data.corpus_texts)
svd = TruncatedSVD(n_components=128, random_state=0).fit(tfidf.transform(data.corpus_texts))
lsa_docs = svd.transform(tfidf.transform(data.corpus_texts))
lsa_queries = svd.transform(tfidf.transform(data.query_texts))

runs = {}
for name, docs, queries in [("minilm", data.corpus_embeddings, data.query_embeddings),
                            ("lsa", lsa_docs, lsa_queries)]:
    # a query made only of unknown words is a zero vector in LSA: it has no direction, so
    # normalise with zero="ignore" (it scores 0 everywhere) and search unit vectors by dot
    hits = vd.knn(vd.normalize(queries, zero="ignore"), vd.normalize(docs, zero="ignore"),
                  k=100, metric="dot")
    runs[name] = (hits, data.query_ids, data.corpus_ids)
    print(f"{name:>7}:", {m: round(v, 4) for m, v in vd.evaluate(runs[name], data.qrels).mean.items()})

comparison = vd.compare(vd.evaluate(runs["lsa"], data.qrels), vd.evaluate(runs["minilm"], data.qrels))
print(comparison.to_frame().round(4).to_string())

values = vd.neighborhood_overlap(data.corpus_embeddings, lsa_docs, k=10)
print(f"documents' 10-NN lists shared between the models: mean {values.mean():.2f}; "
      f"{(values < 0.2).mean():.0%} of documents keep fewer than 2 of 10 neighbours")
