"""Diversifying re-rankers: a top-k that is not ten copies of one answer.

``mmr`` trades relevance against novelty (maximal marginal relevance); ``deduplicate``
lets each group of near-identical documents take one place.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..linalg import row_norms
from ..neighbors.scoring import (check_queries, corpus_copies, corpus_rows, make_neighbors,
                                 prepare, resolve_corpus, score_block, score_blocks,
                                 tie_copies, top_k)
from .rerank import _no_lists, check_reach

__all__ = ["mmr", "deduplicate", "duplicate_groups"]


def mmr(query, corpus, k: int = 10, *, lambda_: float = 0.7, metric: str | None = None,
        candidates: int | None = None, ids=None):
    """Maximal marginal relevance (Carbonell & Goldstein 1998): a relevant *and* varied top-k.

    Parameters
    ----------
    query : array-like (d,) or (n_q, d)
        One query (or several, each diversified on its own; zero rows give an empty
        result, as :func:`vecdiag.knn`).
    corpus : array-like (n, d) or vecdiag.Index
    k : int
        Documents selected.
    lambda_ : float in [0, 1], default 0.7
        Weight of relevance against novelty. 1 reproduces the plain ranking; 0 ignores
        the query after the first pick (the most relevant document).
    metric : {"cosine", "dot", "euclidean"} or None
        Similarity for both query-document and document-document terms (euclidean:
        -distance). None: the Index's metric, else cosine.
    candidates : int or None
        Pick from the ``candidates`` most similar documents only (faster); None: all.
    ids : sequence or None
        Document ids to attach (an Index brings its own).

    Returns
    -------
    Neighbors
        In selection order; scores are the MMR objective at the moment each document was
        picked (negated for euclidean, so λ = 1 gives back the distances).

    Notes
    -----
    Greedy: ``next = argmax_{d ∉ S} [λ s(q, d) - (1 - λ) max_{t ∈ S} s(d, t)]``; with S
    empty the second term is 0. Ties break by lower corpus index. Cost: k passes over
    the candidates.

    Examples
    --------
    >>> corpus = [[1.0, 0.0], [0.99, 0.14], [0.6, 0.8]]
    >>> mmr([1.0, 0.1], corpus, k=2, lambda_=1.0).indices.tolist()
    [[1, 0]]
    >>> mmr([1.0, 0.1], corpus, k=2, lambda_=0.3).indices.tolist()
    [[1, 2]]
    """
    from ..neighbors import knn

    C, metric, ids, index = resolve_corpus(corpus, metric, ids)
    Q, _ = check_queries(query, C, name="query", allow_single=True, allow_empty=True)
    k = V.check_k(k, C.shape[0])
    if isinstance(lambda_, (bool, np.bool_)) or not isinstance(lambda_, numbers.Real) \
            or not 0 <= lambda_ <= 1:
        raise ValueError(f"lambda_ must be a number between 0 and 1, got {lambda_!r}")
    if candidates is not None:
        candidates = V.check_k(candidates, C.shape[0], name="candidates")
        if candidates < k:
            raise ValueError(f"candidates={candidates} is smaller than k={k}; use candidates >= k")
    if Q.shape[0] == 0:                   # no query: no list, as vd.knn
        return _no_lists(k, metric, ids, index, C.dtype)
    prepare(Q, metric, "query")  # refuse a zero query under its own name
    Cp = corpus_rows(C, metric, index)
    c_sq = np.einsum("ij,ij->i", Cp, Cp) if metric == "euclidean" else None
    indices = np.empty((Q.shape[0], k), dtype=np.int64)
    scores = np.empty((Q.shape[0], k), dtype=np.float64)
    # relevance from the exact search itself, so that lambda_ = 1 is that ranking, ties included
    depth = C.shape[0] if candidates is None else candidates
    if index is not None and index.metric == metric:
        base = index.search(Q, depth)  # its unit rows are already prepared
    else:
        base = knn(Q, C, depth, metric=metric)
    sign = -1.0 if metric == "euclidean" else 1.0
    # copies in the pool are as similar to a pick as the row they repeat (tie rule): a
    # pool of every row (depth n) takes the corpus's copies, found once for all queries
    whole = depth == Cp.shape[0]        # every pool is then 0..n-1: no copy of Cp
    corpus_wide = corpus_copies(C, index) if whole else None
    for row in range(Q.shape[0]):
        pool = np.sort(base.indices[row])
        rel = np.empty(C.shape[0])
        rel[base.indices[row]] = sign * base.scores[row]
        rel_pool = rel[pool]
        redundancy = np.zeros(pool.size)
        taken = np.zeros(pool.size, dtype=bool)
        P = Cp if whole else Cp[pool]
        p_sq = None if c_sq is None else (c_sq if whole else c_sq[pool])
        copies = corpus_wide if whole else corpus_copies(P)
        for j in range(k):
            objective = lambda_ * rel_pool - (1 - lambda_) * redundancy
            objective[taken] = -np.inf
            # first maximum: lowest corpus index. With nothing picked yet and λ = 0 every
            # objective is 0: the first pick is then the most relevant (the usual MMR start)
            best = int(np.argmax(rel_pool if j == 0 and lambda_ == 0 else objective))
            indices[row, j], scores[row, j] = pool[best], objective[best]
            taken[best] = True
            sim_best = tie_copies(score_block(P[best:best + 1], P, metric, p_sq)[0], copies)
            redundancy = sim_best if j == 0 else np.maximum(redundancy, sim_best)
    if metric == "euclidean":
        scores = -scores
    return make_neighbors(indices, scores, metric, ids, index)


def duplicate_groups(corpus, *, threshold: float = 0.98, frame=None) -> list[np.ndarray]:
    """Groups (size >= 2) of documents linked by cosine >= threshold, cached per Index.

    The groups of :func:`vecdiag.near_duplicates` (connected components of the
    "cosine >= threshold" graph; exact copies always grouped), each as a sorted index
    array, ordered by each group's first index.

    ``frame`` (a :class:`~vecdiag.diagnostics.copy_frame.CopyFrame`, or None): a pair is
    linked only when its cosine in that frame is at or above ``threshold`` too, as
    :func:`vecdiag.diagnose` judges copies when rogue dimensions decide the raw cosines
    (each dimension standardised: two documents alike only in the rogue dimensions are
    not copies). None (the default): raw cosine only.

    Examples
    --------
    >>> duplicate_groups([[1, 0], [0, 1], [1, 0.001], [1, 0]])
    [array([0, 2, 3])]
    """
    from ..diagnostics import near_duplicates
    from ..diagnostics.duplicates import sorted_groups

    C, _, _, index = resolve_corpus(corpus, "cosine", in_memory="duplicate_groups")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        # the cache key below would fail first, with float()'s message about None
        raise ValueError(f"threshold must be a number in (-1, 1], got {threshold!r}")
    frame = _check_frame(frame)
    key = cache_keys.duplicate_groups(threshold, None if frame is None else frame.key)
    if index is not None and key in index.cache:
        return index.cache[key]
    # copies are judged by cosine, whatever the search metric: name the corpus's zero rows
    # here (near_duplicates would call the corpus "X")
    V.zero_rows(index.norms if index is not None else row_norms(C), "corpus")
    # an Index whose cosine kNN graph is cached lets near_duplicates skip the tiles of
    # pairs the graph rules out (an explanation has built it by now): the same groups
    groups = sorted_groups(near_duplicates(C if index is None else index, threshold=threshold,
                                           also=None if frame is None else frame.rows(C)))
    if index is not None:
        index.cache[key] = groups
    return groups


def deduplicate(queries, corpus, k: int = 10, *, threshold: float = 0.98,
                metric: str | None = None, ids=None, frame=None):
    """Rank as usual, but each group of near-duplicates takes one place.

    Parameters
    ----------
    queries : array-like (n_q, d)
        May be empty (0 rows): the result then has 0 rows, as :func:`vecdiag.knn`.
    corpus : array-like (n, d) or vecdiag.Index
    k : int
        Neighbours per query.
    threshold : float, default 0.98
        Cosine at or above which two documents count as copies (see
        :func:`duplicate_groups`; always cosine, whatever the search metric).
    metric : {"cosine", "dot", "euclidean"} or None
    ids : sequence or None
    frame : CopyFrame or None
        A second frame every pair of copies must be one in too (see
        :func:`duplicate_groups`); None: raw cosine only.

    Returns
    -------
    Neighbors
        The best-ranked member of every group keeps its place and score; the other
        members are moved below every kept document (in their original order) with score
        ``-inf`` (``+inf`` for euclidean distances).

    Examples
    --------
    >>> corpus = [[1.0, 0.0], [1.0, 0.0005], [0.8, 0.6]]
    >>> deduplicate([[1.0, 0.1]], corpus, k=3).indices.tolist()
    [[1, 2, 0]]
    """
    C, metric, ids, index = resolve_corpus(corpus, metric, ids, in_memory="deduplicate")
    Q, _ = check_queries(queries, C, allow_empty=True)
    k = V.check_k(k, C.shape[0])
    groups = duplicate_groups(index if index is not None else C, threshold=threshold,
                              frame=frame)
    if Q.shape[0] == 0:                   # no query: no list, as vd.knn
        return _no_lists(k, metric, ids, index, C.dtype)
    Cp, Qp = corpus_rows(C, metric, index), prepare(Q, metric, "queries")
    check_reach(Qp, Cp, metric)   # inf scores gave one document k times (euclidean)

    def select(S):                # S: copies scored as their originals (score_blocks)
        demoted = np.zeros(S.shape, dtype=bool)
        for g in groups:  # keep the best member (first maximum: lowest index) per query
            best = g[np.argmax(S[:, g], axis=1)]
            demoted[:, g] = True
            demoted[np.arange(S.shape[0]), best] = False
        idx, val = top_k(np.where(demoted, -np.inf, S), k)
        tail = np.isneginf(val)
        if tail.any():  # order the demoted copies among themselves by their own score
            for r in np.flatnonzero(tail.any(axis=1)):
                cand = np.flatnonzero(demoted[r])
                order = cand[np.lexsort((cand, -S[r, cand]))]
                n_keep = int((~tail[r]).sum())
                idx[r, n_keep:] = order[:k - n_keep]
        return idx, val

    indices, scores = score_blocks(Qp, Cp, metric, k, select,
                                   copies=corpus_copies(C, index))
    if metric == "euclidean":
        scores = -scores
    return make_neighbors(indices, scores, metric, ids, index)


def _check_frame(frame):
    """``frame`` when it is a CopyFrame or None; else a ValueError saying what to pass."""
    from ..diagnostics.copy_frame import CopyFrame

    if frame is not None and not isinstance(frame, CopyFrame):
        raise ValueError(f"frame must be a vecdiag.diagnostics.copy_frame.CopyFrame or None, "
                         f"got {type(frame).__name__}; pass None to judge copies by raw "
                         "cosine only")
    return frame
