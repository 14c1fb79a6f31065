"""Shared helpers of the CLI and report tests: a small planted corpus with hostile text."""

from __future__ import annotations

import numpy as np

HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>&amp;'


def planted(n_docs: int = 240, n_queries: int = 24, dim: int = 16, seed: int = 0):
    """Docs in 12 topics; each query is a noisy copy of the document it should find.

    Two queries are planted failures: their judged documents lie in another topic.
    Ids and texts carry HTML that must be escaped.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, dim)) * 2.0
    topic = np.arange(n_docs) % 12
    X = (centers[topic] + rng.normal(size=(n_docs, dim))).astype(np.float32)
    qtopic = np.arange(n_queries) % 12
    target = np.array([np.flatnonzero(topic == t)[j // 12] for j, t in enumerate(qtopic)])
    Q = (X[target] + 0.1 * rng.normal(size=(n_queries, dim))).astype(np.float32)
    ids = [f"doc{i}" for i in range(n_docs)]
    ids[7] = f"doc7{HOSTILE}"  # judged for q1, a planted failure: shown in reports
    texts = [f"text of document {i} about topic {topic[i]}" for i in range(n_docs)]
    texts[7] = f"a page with {HOSTILE} inside"
    qids = [f"q{j}" for j in range(n_queries)]
    qtexts = [f"question {j} {HOSTILE if j == 1 else ''}" for j in range(n_queries)]
    qrels = {}
    for j in range(n_queries):  # the document the query was drawn from, and a neighbour
        nearest = np.argsort(-(X @ X[target[j]]))[1]
        qrels[qids[j]] = {ids[target[j]]: 2, ids[nearest]: 1}
    for j in (1, 2):  # planted failures: judged documents of another topic
        other = np.flatnonzero(topic == (qtopic[j] + 6) % 12)[:2]
        qrels[qids[j]] = {ids[other[0]]: 2, ids[other[1]]: 1}
    return X, Q, ids, texts, qids, qtexts, qrels
