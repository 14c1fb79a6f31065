"""A planted failure shared by the try_fixes tests: a rogue dimension that decides the cosine."""

from __future__ import annotations

import numpy as np


def rogue_dimension_case(seed: int, n: int, n_q: int, d: int = 16):
    """``(queries, corpus, qrels, query_ids, doc_ids)``: query i is a noisy copy (sd 0.5) of
    document i's topic, but dimension 0 holds large unrelated noise (sd 5) in every vector,
    a rogue direction that decides the cosine and that all-but-the-top removes."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(n, d))
    topics[:, 0] = 0.0
    corpus = topics.copy()
    corpus[:, 0] = rng.normal(scale=5.0, size=n)
    queries = topics[:n_q] + rng.normal(scale=0.5, size=(n_q, d))
    queries[:, 0] = rng.normal(scale=5.0, size=n_q)
    qids = [f"q{i}" for i in range(n_q)]
    dids = [f"d{i}" for i in range(n)]
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(n_q)}
    return queries, corpus, qrels, qids, dids
