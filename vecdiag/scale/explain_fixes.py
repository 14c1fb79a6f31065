"""Counterfactual rankings of ``vd.explain_neighbors`` on a Dask corpus, per row block.

The in-memory path (:mod:`vecdiag.explain.counterfactuals`) ranks the whole corpus under
each fix through :func:`vecdiag.fixes.apply_fix`. Here every ranking key is computed one
row block per task, and only ``n`` keys per fix come back:

``cosine_metric``
    the query's cosine with every row (metric dot or euclidean).
``center``, ``all_but_the_top``, ``whiten``
    the transformer (:func:`vecdiag.fixes.transformers.for_fix`) fitted on the Dask
    corpus (its fit reads the corpus moments), then each block transformed and scored
    against the transformed query with the Index's metric; fitted once per Index.
``cosine_metric+center`` (metric euclidean, when explain asks for it)
    ``Center(normalize_first=False)`` fitted on the Dask corpus (its rows' mean), each
    block's rows centred and scored by cosine against the centred query:
    ``apply_fix("cosine_metric+center", normalize_first=False)``. As in memory, left
    out when a row has no direction (a row equal to the mean: cosine refuses it).
``csls``
    ``2 s(q, d) - r_d`` (the query's own term is the same for every document), with
    ``r_d`` the mean similarity of each document to its 10 nearest neighbours: from the
    exact kNN graph up to the exact limit, else to the bank of sampled rows
    (:class:`vecdiag.scale.explain.DaskCorpusStats`), as the in-memory sampled path does.
``mutual_proximity``
    ``log Φ((s - μ_q)/σ_q) + log Φ((s - μ_d)/σ_d)``: each document's mean and spread of
    similarity to the other documents from the corpus moments in closed form (cosine,
    dot: exact, O(d²) per row), or to the sampled rows (euclidean).

All query-dependent keys are computed in one pass over the blocks; ``r_d``, ``μ_d`` and
``σ_d`` are cached on the Index. Rankings follow the library's tie rule (equal keys:
lower row first). A task walks its block in pieces of :data:`.PIECE_BYTES` of float64
values (every key is a function of its row alone), so its temporaries (the transformed
rows, their float64 and unit copies, the sampled statistics' similarity matrix) stay a
few MB whatever the chunk size, as the other passes' do.
"""

from __future__ import annotations

import numpy as np

from .. import cache_keys
from ..explain.counterfactuals import CENTRED_COSINE, CSLS_NEIGHBORS, TRANSFORM_FIXES, Ranking
from ..explain.ranking import vectors_of
from ..linalg import normalize, row_norms
from ..neighbors.scoring import corpus_copies, keys_of, pairwise_scores, tie_copies
from .chunks import block_pieces, compute, row_blocks

__all__ = ["dask_rankings", "csls_penalties", "mp_statistics"]

def _unit(X: np.ndarray) -> np.ndarray:
    """Unit rows, zero rows left at 0 (:func:`vecdiag.linalg.normalize`: exact at any length)."""
    return normalize(X, zero="ignore")


def _keys(T: np.ndarray, tq: np.ndarray, metric: str) -> np.ndarray:
    """Ranking keys (higher is better) of rows ``T`` for the query ``tq`` under ``metric``,
    in float64: :func:`~vecdiag.neighbors.scoring.pairwise_scores` (a row's key does not
    depend on the rows that share its block) under the engine's key rule
    (:func:`~vecdiag.neighbors.scoring.keys_of`)."""
    T = np.asarray(T, dtype=np.float64)
    tq = np.asarray(tq, dtype=np.float64)
    return keys_of(pairwise_scores(tq[None, :], T, metric)[0], metric)


def _block_keys(block, q: np.ndarray, metric: str, cosine: bool, fits: dict,
                centred=None) -> dict:
    parts = [_piece_keys(P, q, metric, cosine, fits, centred)     # a fix keeps at most d
             for _, P in block_pieces(block)]                              # columns
    out = {code: np.concatenate([p[code] for p in parts]) for code in parts[0]
           if code != "no direction"}
    if centred is not None:
        out["no direction"] = any(p["no direction"] for p in parts)
    return out


def _piece_keys(C: np.ndarray, q: np.ndarray, metric: str, cosine: bool, fits: dict,
                centred) -> dict:
    out, rows = {}, {}
    if cosine:
        out["cosine_metric"] = _keys(C, q, "cosine")
    for code, fix in fits.items():
        rows[code] = fix.transform(C)
        out[code] = _keys(rows[code], fix.transform(q[None, :])[0], metric)
    if centred is not None:
        # under euclidean the centring fix is this very transformer: its rows are made
        T = rows["center"] if centred is fits.get("center") else centred.transform(C)
        out[CENTRED_COSINE] = _keys(T, centred.transform(q[None, :])[0], "cosine")
        out["no direction"] = bool((row_norms(T) == 0).any())
    return out


def _fitted(index, code: str):
    """The transformer of a vector fix fitted on the Dask corpus (cached on the Index)."""
    from ..fixes.transformers import for_fix

    key = ("scale.explain.fitted", code, index.metric)
    if key not in index.cache:
        index.cache[key] = for_fix(code, index.metric).fit(index.vectors)
    return index.cache[key]


def _block_csls(block, bank: np.ndarray, n_neighbors: int, metric: str) -> np.ndarray:
    from ..neighbors import knn

    out = np.concatenate([knn(P, bank, n_neighbors, metric=metric).scores.astype(np.float64)
                          .mean(axis=1)      # a piece's (rows x bank) scores stay small
                          for _, P in block_pieces(block, max(block.shape[1], bank.shape[0]))])
    return -out if metric == "euclidean" else out


def _centred(index, query: np.ndarray):
    """``Center`` of the rows as given (no unit rows first), fitted on the Dask corpus:
    the centring fix of a euclidean Index (:func:`_fitted`, cached on it); None when the
    centred query has no direction (cosine would refuse it)."""
    fix = _fitted(index, "center")           # normalize_first is off under euclidean
    if not np.any(fix.transform(query[None, :])):
        return None
    return fix


def csls_penalties(index, stats) -> tuple[np.ndarray, str | None]:
    """``(r_d per row, approximation note or None)``: each document's mean similarity to
    its 10 nearest neighbours (other documents when exact, the sampled bank otherwise)."""
    import dask

    n = len(index)
    n_neighbors = min(CSLS_NEIGHBORS, n - 1)
    key = ("scale.explain.csls", index.metric, n_neighbors, stats.exact,
           None if stats.sample_rows is None else stats.sample_rows.tobytes())
    if key not in index.cache:
        if stats.exact:
            graph = index.knn_graph(n_neighbors)
            r = graph.scores[:, :n_neighbors].astype(np.float64).mean(axis=1)
            r = -r if index.metric == "euclidean" else r
        else:
            bank = vectors_of(index, stats.sample_rows)
            k_bank = min(n_neighbors, bank.shape[0])
            task = dask.delayed(_block_csls, pure=True)
            r = np.concatenate(compute(*[task(b.data, bank, k_bank, index.metric)
                                         for b in row_blocks(index.vectors)]))
        index.cache[key] = r
    note = None if stats.exact else f"statistics from a sample of {stats.sample_size} rows"
    return index.cache[key], note


def _block_mp_closed(block, mean: np.ndarray, cov: np.ndarray, n: int, cosine: bool):
    parts = [_piece_mp_closed(P, mean, cov, n, cosine) for _, P in block_pieces(block)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _piece_mp_closed(piece, mean: np.ndarray, cov: np.ndarray, n: int, cosine: bool):
    X = np.asarray(piece, dtype=np.float64)
    if cosine:
        X = _unit(X)
    m_all = X @ mean
    ss_all = n * ((X @ cov) * X).sum(axis=1)
    x = np.einsum("ij,ij->i", X, X)
    m_loo = (n * m_all - x) / (n - 1)
    ss_loo = np.maximum(ss_all - (x - m_all) * (x - m_loo), 0)
    return m_loo, np.sqrt(ss_loo / (n - 1))


def _block_mp_sampled(block, start: int, R: np.ndarray, ref: np.ndarray):
    # a piece's similarity matrix to the sampled rows is (rows x len(ref)) float64
    parts = [_piece_mp_sampled(P, start + a, R, ref)
             for a, P in block_pieces(block, max(block.shape[1], ref.size))]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _piece_mp_sampled(piece, start: int, R: np.ndarray, ref: np.ndarray):
    C = np.asarray(piece, dtype=np.float64)
    diff_sq = (np.einsum("ij,ij->i", C, C)[:, None] + np.einsum("ij,ij->i", R, R)[None, :]
               - 2 * C @ R.T)
    S = -np.sqrt(np.maximum(diff_sq, 0))
    rows = np.arange(C.shape[0]) + start
    own = np.searchsorted(ref, rows)
    has = (own < ref.size) & (ref[np.minimum(own, ref.size - 1)] == rows)
    self_s = np.where(has, S[np.arange(C.shape[0]), np.minimum(own, ref.size - 1)], 0.0)
    counts = ref.size - has
    m = (S.sum(axis=1) - self_s) / counts
    ss = ((S - m[:, None]) ** 2).sum(axis=1) - has * (self_s - m) ** 2
    return m, np.sqrt(np.maximum(ss, 0) / counts)


def mp_statistics(index, stats) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``(μ_d, σ_d, note)``: each document's mean and standard deviation of similarity to
    the other documents (closed form from the moments for cosine and dot: exact), or to
    the sampled rows (euclidean: note says so)."""
    import dask

    metric, n = index.metric, len(index)
    key = ("scale.explain.mp", metric, stats.exact,
           None if stats.sample_rows is None else stats.sample_rows.tobytes())
    if key not in index.cache:
        blocks = row_blocks(index.vectors)
        if metric in ("cosine", "dot"):
            from .moments import moments

            space = "unit" if metric == "cosine" else "raw"
            m = index.cache.get(cache_keys.moments(space))  # DaskCorpusStats's pass
            if m is None:
                m = moments(index.vectors, space=space, name="corpus")
            # a zero row is a zero unit row: it adds nothing, counts (a pass that left
            # zero rows out: the two groups' covariances mixed, kept rows with mean μ_k);
            # from the shifted sums, as E[xxᵀ] − μμᵀ cancels for data far from 0
            kept = max(m.n, 1)
            mean = m.sum_space * m.scale / n
            mu_k = m.sum_space * m.scale / kept
            cov = (kept / n * (m.covariance if m.n else 0.0) * m.scale ** 2
                   + kept * (n - kept) / n ** 2 * np.outer(mu_k, mu_k))
            task = dask.delayed(_block_mp_closed, nout=2, pure=True)
            parts = compute(*[task(b.data, mean, cov, n, metric == "cosine") for b in blocks])
            note = None
        else:
            ref = np.arange(n) if stats.sample_rows is None else stats.sample_rows
            R = vectors_of(index, ref).astype(np.float64)
            task = dask.delayed(_block_mp_sampled, nout=2, pure=True)
            parts = compute(*[task(b.data, b.start, R, ref) for b in blocks])
            note = (None if stats.sample_rows is None
                    else f"statistics from a sample of {stats.sample_size} rows")
        mu = np.concatenate([p[0] for p in parts])
        sd = np.concatenate([p[1] for p in parts])
        index.cache[key] = (mu, sd, note)
    return index.cache[key]


def dask_rankings(index, query: np.ndarray, base: Ranking, *, k: int, stats,
                  centred_cosine: bool = False) -> tuple[dict, dict]:
    """``(rankings, approximation notes)`` of every applicable fix (see the module);
    ``centred_cosine`` adds ``cosine_metric+center`` under euclidean."""
    import dask
    from scipy.special import log_ndtr

    from ..fixes.rerank import spread_floor

    n, metric = len(index), index.metric
    cosine = metric != "cosine" and bool(np.any(query))
    codes = [c for c in TRANSFORM_FIXES if not (c == "all_but_the_top" and query.shape[0] < 2)]
    fits = {c: _fitted(index, c) for c in codes}
    centred = None
    if centred_cosine and cosine and metric == "euclidean":
        centred = _centred(index, query)
    task = dask.delayed(_block_keys, pure=True)
    parts = compute(*[task(b.data, query, metric, cosine, fits, centred)
                      for b in row_blocks(index.vectors)])
    rankings, approx = {}, {}
    order = (["cosine_metric"] if cosine else []) + codes
    # a block's transform rounds a row by where it stands: copies keyed as their original
    copies = corpus_copies(index.vectors, index)
    for code in order:
        rankings[code] = Ranking(tie_copies(np.concatenate([p[code] for p in parts]), copies),
                                 k)
    key = np.asarray(base.keys, dtype=np.float64)
    if min(CSLS_NEIGHBORS, n - 1) >= 1:
        r_d, note = csls_penalties(index, stats)
        rankings["csls"] = Ranking(tie_copies(2.0 * key - r_d, copies), k)
        if note:
            approx["csls"] = note
    if n >= 3:
        mu_d, sd_d, note = mp_statistics(index, stats)
        mu_q = key.mean()
        sd_q = spread_floor(mu_q, key.std())
        rankings["mutual_proximity"] = Ranking(tie_copies(
            log_ndtr((key - mu_q) / sd_q) + log_ndtr((key - mu_d) / spread_floor(mu_d, sd_d)),
            copies), k)
        if note:
            approx["mutual_proximity"] = note
    if centred is not None and not any(p["no direction"] for p in parts):
        rankings[CENTRED_COSINE] = Ranking(
            tie_copies(np.concatenate([p[CENTRED_COSINE] for p in parts]), copies), k)
    return rankings, approx

