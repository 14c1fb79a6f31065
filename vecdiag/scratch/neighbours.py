"""Nearest neighbours from first principles: score every document, sort, keep the best k.

The third lesson of :mod:`vecdiag.scratch`, built on the cores of
:mod:`~vecdiag.scratch.vectors` (``_cosine``, ``_dot``, ``_euclidean``).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..neighbors.result import Neighbors
from ..neighbors.rows import check_reach
from .vectors import _cosine, _dot, _euclidean, _norm

__all__ = ["knn"]


def knn(queries, corpus, k: int = 10, *, metric: str = "cosine", exclude_self: bool = False,
        backend: str = "numpy", batch_size=None) -> Neighbors:
    """Exact k nearest neighbours, the slow and obvious way: score every document, sort,
    keep the best k.

    Same signature and same answer as :func:`vecdiag.knn` (``backend`` and
    ``batch_size`` are accepted and ignored: there is only one way here). Scores are
    Python floats (float64). Cost: ``n_queries × n × d`` multiplications in Python,
    about a million per second, so keep the inputs small.

    Parameters
    ----------
    queries : array-like, 2-D, shape (n_queries, d)
    corpus : array-like, 2-D, shape (n, d)
    k : int
        Neighbours per query (at most ``n``, or ``n - 1`` with ``exclude_self``).
    metric : {"cosine", "dot", "euclidean"}
        Similarity (higher is closer) or distance (lower is closer). Under dot and
        euclidean, vectors so long (near 1e154) or so short (near 1e-154) that their
        scores overflow or underflow float64 are refused as :func:`vecdiag.knn`
        refuses them.
    exclude_self : bool
        ``queries`` is the corpus itself: leave each row out of its own list.
    backend, batch_size
        Accepted for the same signature as :func:`vecdiag.knn`; ignored.

    Examples
    --------
    >>> res = knn([[1, 0]], [[1, 0.1], [0, 1], [1, 0]], k=2)
    >>> res.indices.tolist(), res.scores.round(4).tolist()
    ([[2, 0]], [[1.0, 0.995]])
    """
    query_rows, corpus_rows, k = _knn_inputs(queries, corpus, k, metric, exclude_self)
    score = {"cosine": _cosine, "dot": _dot, "euclidean": _euclidean}[metric]
    sign = 1.0 if metric == "euclidean" else -1.0   # sort ascending: -similarity, distance
    indices, scores = [], []
    for i, q in enumerate(query_rows):
        # 1. score every corpus row (an item is not its own neighbour with exclude_self)
        scored = [(score(q, c), j) for j, c in enumerate(corpus_rows)
                  if not (exclude_self and j == i)]
        # 2. sort best first. subtle: the key (score, index) puts equal scores in order of
        #    their corpus index, so ties always go to the lower index, as in every backend.
        scored.sort(key=lambda pair: (sign * pair[0], pair[1]))
        # 3. keep the best k
        indices.append([j for _, j in scored[:k]])
        scores.append([s for s, _ in scored[:k]])
    shape = (len(query_rows), k)
    return Neighbors(indices=np.array(indices, dtype=np.int64).reshape(shape),
                     scores=np.array(scores, dtype=float).reshape(shape), metric=metric, k=k)


# --- input checks at the door ---------------------------------------------------------

def _knn_inputs(queries, corpus, k, metric, exclude_self):
    """``(query rows, corpus rows, k)`` as lists of floats, with :func:`vecdiag.knn`'s checks."""
    V.check_metric(metric)
    exclude_self = V.check_bool(exclude_self, "exclude_self")   # as vd.knn: "False" is truthy
    corpus_rows = V.as_matrix(corpus, "corpus").tolist()
    query_rows = V.as_matrix(queries, "queries", allow_empty=True).tolist()
    if query_rows and len(query_rows[0]) != len(corpus_rows[0]):
        raise ValueError(f"dimension mismatch: queries has dimension {len(query_rows[0])} but "
                         f"corpus has dimension {len(corpus_rows[0])}; both must come from "
                         "the same embedding model")
    k = V.check_k(k, len(corpus_rows), exclude_self=exclude_self)
    if exclude_self and len(query_rows) != len(corpus_rows):
        raise ValueError("exclude_self=True needs queries to be the corpus itself, row for "
                         f"row ({len(query_rows)} queries vs {len(corpus_rows)} corpus rows)")
    # subtle: a dot score past 1.8e308 is inf and one under 5e-324 is 0, so every score
    # ties and the tie rule, not the data, picks the neighbours: refuse such lengths as
    # vd.knn refuses them (the same rule, for float64, the type of Python's floats)
    if metric != "cosine":          # cosine scores stay in [-1, 1] at any length
        check_reach(max(map(_norm, query_rows), default=0.0),
                    max(map(_norm, corpus_rows)), metric, np.float64)
    if metric == "cosine":
        for name, rows in (("corpus", corpus_rows), ("queries", query_rows)):
            for i, row in enumerate(rows):
                if not any(row):   # subtle: a zero vector has no direction, no cosine
                    raise ValueError(f"{name} has a zero vector at row {i}, which has no "
                                     "direction, so its cosine is undefined; drop it")
    return query_rows, corpus_rows, k

