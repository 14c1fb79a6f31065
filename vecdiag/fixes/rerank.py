"""Hub-reducing re-rankers: fix a ranking without touching the vectors.

``csls`` and ``mutual_proximity`` discount hubs (documents close to everything). Each
scores every corpus document for every query (in blocks of bounded memory), so the ranks
they give are exact, far outside k too. Diversifying re-rankers (``mmr``,
``deduplicate``) live in :mod:`vecdiag.fixes.diversify`.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .._progress import progress_bar
from .. import cache_keys
from ..linalg import column_mean, row_norms
from ..neighbors.rows import check_reach as reach_rule
from ..neighbors.scoring import (block_rows, check_queries, corpus_copies, corpus_rows,
                                 make_neighbors, prepare, resolve_corpus, score_block,
                                 score_blocks, top_k)

__all__ = ["csls", "mutual_proximity", "csls_penalty", "spread_floor"]


# float64 bytes of one block of rows in the closed-form statistics of mutual proximity
_STATS_BYTES = 4 * 2**20


def _budget(index):
    """An Index's ``memory_budget`` bounds the re-rankers' score blocks too."""
    return None if index is None else getattr(index, "memory_budget", None)


def _mean_top(S: np.ndarray, m: int) -> np.ndarray:
    """Mean of the ``m`` largest entries of each row."""
    if m >= S.shape[1]:
        return S.mean(axis=1)
    return np.partition(S, S.shape[1] - m, axis=1)[:, S.shape[1] - m:].mean(axis=1)


def csls_penalty(corpus, *, n_neighbors: int = 10, metric: str | None = None,
                 bank=None) -> np.ndarray:
    """r_d: each document's mean similarity to its ``n_neighbors`` nearest bank vectors.

    Parameters
    ----------
    corpus : array-like (n, d) or vecdiag.Index
    n_neighbors : int
        Size of each document's neighbourhood.
    metric : {"cosine", "dot", "euclidean"} or None
        None: the Index's metric, else cosine. Euclidean uses similarity = -distance.
    bank : array-like (m, d) or None
        Vectors the neighbourhood is drawn from. None: the corpus itself, each document
        excluded from its own neighbourhood (cached on an Index).

    Returns
    -------
    ndarray (n,)
        float64 mean similarities, high for hubs.

    Notes
    -----
    An exact k-nearest-neighbour search of every document (:func:`vecdiag.knn`), so
    O(n m d) work: done once per Index and cached, but minutes for 100,000 documents.

    Examples
    --------
    >>> csls_penalty([[1, 0], [0.9, 0.1], [0, 1]], n_neighbors=1).round(3)
    array([0.994, 0.994, 0.11 ])
    """
    C, metric, _, index = resolve_corpus(corpus, metric)
    key = cache_keys.csls_penalty(metric, n_neighbors)
    if bank is None and index is not None and key in index.cache:
        return index.cache[key]
    from ..neighbors import knn

    if bank is None:
        n_neighbors = V.check_k(n_neighbors, C.shape[0], exclude_self=True, name="n_neighbors")
        if index is not None and index.metric == metric:
            found = index.knn_graph(n_neighbors)
        else:
            found = knn(C, C, n_neighbors, metric=metric, exclude_self=True)
    else:
        B = V.as_matrix(bank, "bank")
        V.check_same_dim(B, "bank", C, "corpus")
        if metric == "cosine":   # the search below calls the bank "corpus"
            V.zero_rows(row_norms(B), "bank")
        n_neighbors = V.check_k(n_neighbors, B.shape[0], name="n_neighbors",
                                among="the bank")
        found = knn(C, B, n_neighbors, metric=metric)
    out = found.scores.astype(np.float64).mean(axis=1)
    if metric == "euclidean":  # similarity = -distance
        out = -out
    if bank is None and index is not None:
        index.cache[key] = out
    return out


def csls(queries, corpus, k: int = 10, *, n_neighbors: int = 10, metric: str | None = None,
         bank=None, ids=None):
    """Cross-domain similarity local scaling (Conneau et al. 2018): hubs pay a penalty.

    Parameters
    ----------
    queries : array-like (n_q, d)
    corpus : array-like (n, d) or vecdiag.Index
    k : int
        Neighbours returned per query (``len(corpus)`` gives the full ranking).
    n_neighbors : int, default 10
        Neighbourhood size K of the penalties ``r_q`` and ``r_d``.
    metric : {"cosine", "dot", "euclidean"} or None
        None: the Index's metric, else cosine.
    bank : array-like or None
        Where the documents' neighbourhoods come from (see :func:`csls_penalty`); None:
        the corpus itself. Pass a sample of past queries for the original cross-domain form.
    ids : sequence or None
        Document ids to attach to the result (an Index brings its own).

    Returns
    -------
    Neighbors
        Scores are ``CSLS(q, d) = 2 s(q, d) - r_q - r_d`` (higher is closer); for
        euclidean the negation ``2 dist - r'_q - r'_d`` with ``r'`` mean neighbour
        distances (lower is closer).

    Notes
    -----
    ``r_q`` = mean similarity of the query to its K nearest documents; ``r_d`` = mean
    similarity of document d to its K nearest bank vectors. ``r_q`` is the same for every
    document of one query, so the ranking equals the ranking by ``s(q, d) - r_d / 2``:
    the similarity minus half the document's mean similarity to its neighbourhood. A hub
    (a document near everything) has a large ``r_d`` and drops. Ties break by lower
    corpus index. Needs K <= n - 1 when the bank is the corpus.

    Examples
    --------
    >>> corpus = [[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]]
    >>> csls([[0.75, 0.66]], corpus, k=2, n_neighbors=1).indices.tolist()
    [[1, 2]]
    """
    C, metric, ids, index = resolve_corpus(corpus, metric, ids, in_memory="csls")
    Q, _ = check_queries(queries, C, allow_empty=True)
    k = V.check_k(k, C.shape[0])
    if Q.shape[0] == 0:                   # no query: no list, as vd.knn (options checked)
        if bank is not None:
            B = V.as_matrix(bank, "bank")
            V.check_same_dim(B, "bank", C, "corpus")
            V.check_k(n_neighbors, B.shape[0], name="n_neighbors", among="the bank")
        V.check_k(n_neighbors, C.shape[0], exclude_self=bank is None, name="n_neighbors")
        return _no_lists(k, metric, ids, index, C.dtype)
    r_d = csls_penalty(index if index is not None else C, n_neighbors=n_neighbors,
                       metric=metric, bank=bank)
    n_neighbors = V.check_k(n_neighbors, C.shape[0], name="n_neighbors")
    Cp, Qp = corpus_rows(C, metric, index), prepare(Q, metric, "queries")

    copies = corpus_copies(C, index)

    def select(S):
        r_q = _mean_top(S, n_neighbors)
        return top_k(2 * S - r_q[:, None] - r_d[None, :], k, copies)

    indices, scores = score_blocks(Qp, Cp, metric, k, select, budget=_budget(index),
                                   copies=copies)
    if metric == "euclidean":
        scores = -scores
    return make_neighbors(indices, scores, metric, ids, index)


def _closed_form_stats(Cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and std of ``u_i · u_j`` over all j != i, for every i, in O(n d²).

    A dot product is linear in ``u_j``: over all j its mean is ``u_i · ū`` and its
    variance ``u_iᵀ Σ u_i`` (Σ the covariance of the rows). The self term
    ``x = u_i · u_i`` is then removed with Welford's downdate
    ``SS_{n-1} = SS_n - (x - mean_n)(x - mean_{n-1})``.

    Two passes over ``_STATS_BYTES`` of float64 rows at a time (the covariance, then the
    per-row terms): no float64 copy of the corpus (four of them, 8x a float32 corpus,
    were held at once before); a corpus within one block is computed as in one piece.
    """
    n, d = Cp.shape
    step = max(1, _STATS_BYTES // (8 * max(1, d)))

    def rows(start):
        # C-ordered: a Fortran-ordered corpus summed the mean, covariance and products in
        # another order (statistics and scores a few units in the last place apart)
        return np.ascontiguousarray(Cp[start:start + step], dtype=np.float64)

    mean_vec = column_mean(Cp)          # the same bits as the mean of the float64 copy
    cov = np.zeros((d, d))
    for start in range(0, n, step):
        centred = rows(start) - mean_vec
        cov += centred.T @ centred
    cov /= n
    m_all, ss_all, x = np.empty(n), np.empty(n), np.empty(n)
    for start in range(0, n, step):
        X = rows(start)
        stop = start + X.shape[0]
        m_all[start:stop] = X @ mean_vec
        ss_all[start:stop] = n * ((X @ cov) * X).sum(axis=1)
        x[start:stop] = np.einsum("ij,ij->i", X, X)
    m_loo = (n * m_all - x) / (n - 1)
    ss_loo = np.maximum(ss_all - (x - m_all) * (x - m_loo), 0)
    return m_loo, np.sqrt(ss_loo / (n - 1))


def _reference_stats(Cp: np.ndarray, metric: str, n_samples: int | None, random_state,
                     show_progress=None):
    """Mean and std of each document's similarities to the other documents (or a sample)."""
    n = Cp.shape[0]
    if n_samples is None and metric != "euclidean":
        return _closed_form_stats(Cp)
    if n_samples is None:
        n_samples = n if n <= 10_000 else 10_000
    n_samples = V.check_positive_int(n_samples, "n_samples", minimum=2)
    if n_samples >= n:
        ref = np.arange(n)
    else:
        ref = np.sort(V.check_random_state(random_state).choice(n, n_samples, replace=False))
    R = Cp[ref]
    r_sq = np.einsum("ij,ij->i", R, R) if metric == "euclidean" else None
    in_ref = np.full(n, -1, dtype=np.int64)
    in_ref[ref] = np.arange(ref.size)
    mu = np.empty(n)
    sd = np.empty(n)
    step = block_rows(n, ref.size)
    with progress_bar(n, desc="mutual proximity: score distributions", show=show_progress,
                      expected_seconds=n * ref.size * Cp.shape[1] / 2e10) as bar:
        for start in range(0, n, step):
            stop = min(n, start + step)
            S = score_block(Cp[start:stop], R, metric, r_sq).astype(np.float64)
            rows = np.arange(stop - start)
            own = in_ref[start:stop]
            has = own >= 0  # a document is not compared with itself
            self_s = np.zeros(stop - start)
            self_s[has] = S[rows[has], own[has]]
            counts = ref.size - has
            m = (S.sum(axis=1) - self_s) / counts
            ss = ((S - m[:, None]) ** 2).sum(axis=1) - has * (self_s - m) ** 2
            mu[start:stop], sd[start:stop] = m, np.sqrt(np.maximum(ss, 0) / counts)
            bar.update(stop - start)
    return mu, sd


def mutual_proximity(queries, corpus, k: int = 10, *, metric: str | None = None,
                     n_samples: int | None = None, random_state=0, ids=None):
    """Mutual proximity (Schnitzer et al. 2012, Gaussian variant): rescale scores so a
    document counts as close only if the query is also unusually close from its side.

    Parameters
    ----------
    queries : array-like (n_q, d)
    corpus : array-like (n, d) or vecdiag.Index
    k : int
        Neighbours per query (``len(corpus)`` gives the full ranking).
    metric : {"cosine", "dot", "euclidean"} or None
        None: the Index's metric, else cosine.
    n_samples : int or None
        Documents each document's score distribution is estimated from. None: all the
        others, exactly (cosine and dot: in closed form, O(n d²); euclidean: when the
        corpus has at most 10,000 rows, else a random 10,000).
    random_state : int, None, numpy Generator or RandomState, default 0
        Seed of that sample (None: 0); used only when a sample is drawn, checked always.
        A Generator or RandomState is drawn from, and so advanced, as scikit-learn uses a RandomState
        instance: two calls with one instance may draw two samples (pass an int for the
        same result every call). ``queries`` and ``corpus`` are never changed.
    ids : sequence or None
        Document ids to attach (an Index brings its own).

    Returns
    -------
    Neighbors
        Scores are MP in [0, 1] (higher is closer); for euclidean ``1 - MP``, the MP
        distance (lower is closer).

    Notes
    -----
    MP-Gauss with the independence assumption: each item's similarities to the corpus are
    modelled as a normal distribution ``N(μ, σ²)`` (for the query: over all documents; for
    a document: over the other documents), and
    ``MP(q, d) = P(S_q < s) · P(S_d < s) = Φ((s - μ_q)/σ_q) · Φ((s - μ_d)/σ_d)``,
    where s = s(q, d) (similarity; -distance for euclidean). A hub's μ_d is high, so its
    scores are discounted. Ranked by the sum of log Φ terms (no underflow, so ranks far
    outside k stay exact); ties by lower corpus index. σ = 0 (all similarities equal) is
    floored at 1e-12 of the similarities' root mean square (:func:`spread_floor`), so the
    ranking does not change when every vector is scaled by one number.

    Examples
    --------
    >>> corpus = [[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0], [0.7, 0.7]]
    >>> mutual_proximity([[0.9, 0.4]], corpus, k=3).indices.tolist()
    [[1, 0, 4]]
    >>> rs = np.random.RandomState(0)       # a sample of 3 of the 5 documents: drawn from rs
    >>> _ = mutual_proximity([[0.9, 0.4]], corpus, k=3, n_samples=3, random_state=rs)
    >>> bool((rs.get_state()[1] != np.random.RandomState(0).get_state()[1]).any())
    True
    """
    from scipy.special import log_ndtr

    C, metric, ids, index = resolve_corpus(corpus, metric, ids, in_memory="mutual_proximity")
    Q, _ = check_queries(queries, C, allow_empty=True)
    k = V.check_k(k, C.shape[0])
    V.check_seed(random_state)   # a wrong seed fails with or without n_samples=
    if C.shape[0] < 3:
        raise ValueError(f"mutual_proximity needs at least 3 documents to estimate score "
                         f"distributions, the corpus has {C.shape[0]}")
    if Q.shape[0] == 0:                   # no query: no list, as vd.knn (options checked)
        if n_samples is not None:
            V.check_positive_int(n_samples, "n_samples", minimum=2)
        return _no_lists(k, metric, ids, index, C.dtype)
    Cp, Qp = corpus_rows(C, metric, index), prepare(Q, metric, "queries")
    check_reach(Qp, Cp, metric)   # MP of inf is NaN for every document
    key = cache_keys.mp_stats(metric, n_samples, random_state)
    if index is not None and key in index.cache:
        mu_d, sd_d = index.cache[key]
    else:
        mu_d, sd_d = _reference_stats(Cp, metric, n_samples, random_state)
        if index is not None and isinstance(random_state, (int, type(None))):
            index.cache[key] = (mu_d, sd_d)
    sd_d = spread_floor(mu_d, sd_d)

    def select(S):
        mu_q = S.mean(axis=1, keepdims=True)
        sd_q = spread_floor(mu_q, S.std(axis=1, keepdims=True))
        idx, val = top_k(log_ndtr((S - mu_q) / sd_q) + log_ndtr((S - mu_d) / sd_d), k,
                         copies)
        return idx, np.exp(val)

    copies = corpus_copies(C, index)
    indices, scores = score_blocks(Qp, Cp, metric, k, select, factor=6,
                                   budget=_budget(index), copies=copies)
    if metric == "euclidean":
        scores = 1.0 - scores
    return make_neighbors(indices, scores, metric, ids, index)


def spread_floor(mu, sd):
    """Mutual proximity's σ, floored at 1e-12 of the similarities' root mean square
    ``sqrt(μ² + σ²)`` (and above 0): all similarities equal, up to rounding, count as
    equal at any scale. subtle: a floor of 1e-12 itself bound for dot-product vectors of
    length 1e-6 (similarities near 1e-12), whose z-scores then all but vanished: a ranking
    that changed when every vector was multiplied by one number (MP is scale-free).

    Examples
    --------
    >>> spread_floor(np.array([1e-12, 0.5, 0.0]), np.array([1e-13, 0.0, 0.0])).tolist()
    [1e-13, 5e-13, 2.2250738585072014e-308]
    """
    rms = np.sqrt(np.square(mu) + np.square(sd))
    return np.maximum(sd, np.maximum(1e-12 * rms, np.finfo(np.float64).tiny))


def check_reach(Qp: np.ndarray, Cp: np.ndarray, metric: str) -> None:
    """:func:`vecdiag.neighbors.rows.check_reach` (the rule and words of
    :func:`vecdiag.knn`) on the longest prepared query and corpus row, in the corpus's
    float type, which the scores are computed in: refuse dot or euclidean scores that
    overflow it (vectors near 1e200, or 1e20 in float32) or underflow to 0 (every vector
    shorter than 1e-154, or 1e-19 in float32: every score ties), naming the fix. Rows
    checked by the caller."""
    if metric == "cosine":
        return
    reach_rule(float(row_norms(Qp).max(initial=0.0)), float(row_norms(Cp).max(initial=0.0)),
               metric, Cp.dtype)


def _no_lists(k: int, metric: str, ids, index, dtype):
    """The result of zero queries: (0, k) indices and scores."""
    scores = np.zeros((0, k), np.result_type(dtype, float))
    return make_neighbors(np.zeros((0, k), np.int64), scores, metric, ids, index)
