"""The exact search engine behind knn, Index.search and Index.knn_graph.

Inputs here are already checked (see :mod:`vecdiag.neighbors.search`). The search runs in
three steps, the same for every backend:

1. **Candidates.** Score blocks of queries against chunks of the corpus with one matrix
   product (NumPy's BLAS, or faiss), and keep the ``kp = k + margin`` best of each query by
   a *ranking key* (higher is better): the similarity for cosine and dot, and
   ``2 q·c − ‖c‖²`` (``= ‖q‖² − ‖q − c‖²``) for euclidean. Blocks stay inside the memory
   budget. Selection uses an exact threshold filter (:func:`select_top`) instead of a
   partition over whole rows.
2. **Refine.** Re-score the candidates one pair at a time with a fixed summation order
   (products, then NumPy's pairwise sum): euclidean from the differences ``q − c`` (so
   identical vectors are exactly 0.0 apart and no distance is negative), cosine as
   ``q·c / sqrt((q·q)(c·c))`` on rows scaled by powers of two (exactly 1.0 for a vector
   with itself), clipped to [-1, 1]. Sort by score, ties by lower corpus index. Every backend refines the same
   way, so they return the same numbers and the same order.
3. **Verify.** The candidates are enough when the refined k-th key beats the best key
   left out (at most the kp-th candidate key) by more than the rounding error of the two
   computations (a worst-case bound, ``2 (d + 2) eps ‖q‖ max‖c‖``). Queries where that is
   not proven (near ties at the boundary, many duplicates) are searched again with four
   times the margin, until proven or every corpus item is a candidate.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .._progress import progress_bar
from ..linalg import row_norms
from ._threads import blas_workers, limited

DEFAULT_BUDGET = 256 * 2**20          # bytes of working memory for one step
_QUERY_BLOCK = 256                    # queries per matrix product (measured: see benchmarks)
_SCAN_ROWS = 65_536                   # rows per piece when computing row statistics
_GROUP = 16                           # columns per group in the threshold filter
_PARALLEL_FLOPS = 2e9                 # below this, one thread (no pool, no threadpoolctl)
_ASSUMED_FLOPS = 3e10                 # for the progress bar's "is this long?" guess


class Rows:
    """Vectors ready for scoring, one metric's way (inputs already checked).

    cosine: unit rows, copied once (``X / ‖x‖``), or normalised block by block when the
    input is a memmap (a corpus larger than RAM is never copied whole). dot: the rows
    themselves. euclidean: the rows and their squared norms. ``norms`` (row lengths)
    bound the rounding error in :func:`refine`.
    """

    def __init__(self, X: np.ndarray, metric: str, name: str, *, dtype=None,
                 copy: bool | None = None):
        self.source = X
        self.metric = metric
        self.n, self.d = X.shape
        self.dtype = np.dtype(dtype or X.dtype)
        # Row statistics in the working dtype, one piece at a time (a memmap stays on disk).
        self.raw_norms = np.zeros(self.n, self.dtype)
        self.sq = np.zeros(self.n, self.dtype) if metric == "euclidean" else None
        for a in range(0, self.n, _SCAN_ROWS):
            piece = np.asarray(X[a:a + _SCAN_ROWS]).astype(self.dtype, copy=False)
            self.raw_norms[a:a + _SCAN_ROWS] = row_norms(piece)
            if self.sq is not None:
                self.sq[a:a + _SCAN_ROWS] = np.einsum("ij,ij->i", piece, piece)
        self.data = None
        copy = not isinstance(X, np.memmap) if copy is None else copy
        if metric == "cosine":
            V.zero_rows(self.raw_norms, name, "raise")
            if copy:
                self.data = self._unit(np.asarray(X), self.raw_norms)
            # unit rows: every length is 1 for the error bound
            self.norms = np.ones(self.n)
            self.max_norm = 1.0
        else:
            if X.dtype == self.dtype:
                self.data = X
            elif copy:
                self.data = X.astype(self.dtype)
            self.norms = self.raw_norms.astype(float)
            self.max_norm = float(self.norms.max()) if self.n else 0.0

    def _unit(self, X: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """Rows in the working dtype; unit length under cosine."""
        X = X.astype(self.dtype, copy=False)
        return X / norms[:, None] if self.metric == "cosine" else X

    def block(self, start: int, stop: int) -> np.ndarray:
        """Prepared rows ``start:stop`` (a view when prepared once, else a new array)."""
        if self.data is not None:
            return self.data[start:stop]
        return self._unit(np.asarray(self.source[start:stop]), self.raw_norms[start:stop])

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Prepared rows at integer positions ``idx`` (any shape): shape ``idx.shape + (d,)``."""
        flat = idx.ravel()
        if self.data is not None:
            rows = self.data[flat]
        else:
            rows = self._unit(np.asarray(self.source[flat]), self.raw_norms[flat])
        return rows.reshape(idx.shape + (self.d,))

    def scaled(self, idx: np.ndarray) -> np.ndarray:
        """Raw rows at ``idx`` divided by a power of two near their length (exact).

        Used to score cosine as ``q·c / sqrt((q·q)(c·c))``, which is exactly 1.0 for a
        vector with itself (``sqrt(fl(s*s)) == s``) and cannot overflow.
        """
        flat = idx.ravel()
        rows = np.asarray(self.source[flat]).astype(self.dtype, copy=False)
        _, exponent = np.frexp(self.raw_norms[flat].astype(np.float64))
        factor = np.ldexp(1.0, -exponent).astype(self.dtype)     # 2**-e: exact multiply
        rows = rows * factor[:, None]
        return rows.reshape(idx.shape + (self.d,))


def plan(n_q: int, n: int, d: int, itemsize: int, budget: int, kp: int,
         lazy_corpus: bool, batch_size: int | None, workers: int = 1) -> tuple[int, int]:
    """Block sizes (queries per block, corpus rows per chunk) inside the memory budget.

    Each of ``workers`` threads holds one score block ``bq × bc`` (plus 1/_GROUP of it for
    group maxima) and a query block; a lazily normalised corpus adds one chunk copy
    (at most a quarter of the budget). Large blocks keep the matrix product at full speed:
    the whole corpus per block when it fits.
    """
    bq = min(n_q, batch_size or _QUERY_BLOCK)
    if workers > 1 and not batch_size:
        # as many blocks as a multiple of the workers, equal in size: no idle thread
        n_blocks = -(-n_q // bq)
        n_blocks = -(-n_blocks // workers) * workers
        bq = -(-n_q // n_blocks)
    cap = n
    spare = budget
    if lazy_corpus:
        cap = min(n, max(kp, budget // (4 * d * itemsize)))
        spare -= cap * d * itemsize
    per_worker = spare / max(1, workers)
    per_score = itemsize * (1 + 2 / _GROUP)
    bc = int(min(cap, max(1, (per_worker - bq * d * itemsize) // (bq * per_score))))
    if bc < min(cap, 8192) and bq > 1 and not batch_size:
        # A thin corpus chunk wastes the matrix product: trade queries for columns.
        bc = min(cap, 8192)
        bq = int(max(1, min(bq, (per_worker // bc - d * itemsize) // per_score)))
    return max(1, bq), max(1, bc)


def select_top(S: np.ndarray, kk: int, thr: np.ndarray | None = None):
    """Candidates for the ``kk`` largest entries of each row of ``S`` above ``thr``.

    Returns (columns, values), both (bq, width), in no particular order, padded with
    column -1 / value -inf. Every entry of a row that is among its ``kk`` largest and
    ``> thr`` is returned (up to the choice among equal values at the boundary, which
    :func:`refine` settles); the caller keeps the best ``kp`` of these and what it holds.

    Notes
    -----
    Exact threshold filter: view each row as ``w = m // g`` strided groups of ``g``
    columns (group ``j`` holds columns ``j, j + w, j + 2w, ...``) and take each group's
    maximum in one vectorised pass. A group whose maximum is ``<= thr`` holds nothing
    above ``thr``: once the running k-th best is known (``thr``), most chunks leave a
    handful of groups per row. Rows where more than ``kk`` groups pass keep the ``kk``
    groups with the largest maxima: with ``t`` the smallest kept maximum, every entry
    ``> t`` lies in a kept group and at least ``kk`` entries are ``>= t``, so the top
    ``kk`` lie there too. The ``m mod g`` tail columns are always candidates.
    """
    bq, m = S.shape
    if thr is None:
        thr = np.full(bq, -np.inf)
    if kk >= m:
        return np.broadcast_to(np.arange(m), (bq, m)).copy(), S.copy()
    g = min(_GROUP, m // (4 * kk))
    if g < 2:
        part = np.argpartition(S, m - kk, axis=1)[:, m - kk:]
        return part, np.take_along_axis(S, part, axis=1)
    w = m // g
    main = w * g
    group_max = S[:, :main].reshape(bq, g, w).max(axis=1)              # (bq, w)
    passing = group_max > thr[:, None]
    counts = passing.sum(axis=1)
    heavy = counts > kk
    offsets = w * np.arange(g)
    cols = np.full((bq, int(min(counts.max(), kk)), g), -1, dtype=np.int64)
    if heavy.any():
        rows = np.flatnonzero(heavy)
        gm = group_max if rows.size == bq else group_max[rows]
        cols[rows] = np.argpartition(gm, w - kk, axis=1)[:, w - kk:, None] + offsets
    if not heavy.all():
        light = np.where(heavy, 0, counts)
        rows, grp = np.nonzero(passing & ~heavy[:, None])
        slot = np.arange(rows.size) - (np.cumsum(light) - light)[rows]
        cols[rows, slot] = grp[:, None] + offsets
    cols = cols.reshape(bq, -1)
    if main < m:
        cols = np.concatenate([cols, np.broadcast_to(np.arange(main, m), (bq, m - main))], 1)
    flat = np.maximum(cols, 0) + (np.arange(bq) * m)[:, None]
    vals = S.ravel().take(flat)                      # faster than take_along_axis
    vals[cols < 0] = -np.inf
    return cols, vals


def merge(best_idx, best_key, new_idx, new_key, kp: int):
    """Keep the ``kp`` largest keys of two candidate sets (row by row)."""
    if best_idx is None:
        idx, key = new_idx, new_key
    else:
        idx = np.concatenate([best_idx, new_idx], axis=1)
        key = np.concatenate([best_key, new_key], axis=1)
    if idx.shape[1] <= kp:
        return idx, key
    part = np.argpartition(key, idx.shape[1] - kp, axis=1)[:, idx.shape[1] - kp:]
    return np.take_along_axis(idx, part, axis=1), np.take_along_axis(key, part, axis=1)


def numpy_candidates(Q: Rows, C: Rows, positions: np.ndarray, kp: int, *,
                     exclude_self: bool, budget: int, batch_size: int | None,
                     progress: dict):
    """Candidate positions and ranking keys (m, kp) of the queries at ``positions``.

    Query blocks run on one thread each (BLAS held to one thread meanwhile) when the work
    is large enough: the selection after each product then runs in parallel too.
    """
    m = positions.size
    full = m == Q.n and (m == 0 or (positions[0] == 0 and positions[-1] == m - 1))
    big = 2.0 * m * C.n * C.d > _PARALLEL_FLOPS
    workers, limit = blas_workers() if big else (1, None)
    bq, bc = plan(m, C.n, C.d, C.dtype.itemsize, budget, kp, C.data is None, batch_size,
                  workers)
    blocks = [(q0, min(m, q0 + bq)) for q0 in range(0, m, bq)]
    workers = min(workers, len(blocks))
    best = [(None, None)] * len(blocks)

    def step(b, chunk, c0, chunk_sq):
        q0, q1 = blocks[b]
        Qb = Q.block(q0, q1) if full else Q.take(positions[q0:q1])
        if chunk_sq is not None:
            S = (Qb + Qb) @ chunk.T             # 2 q·c (doubling is exact)
            S -= chunk_sq                       # key = 2 q·c − ‖c‖²
        else:
            S = Qb @ chunk.T
        if exclude_self:
            _mask_self(S, positions[q0:q1], c0, c0 + chunk.shape[0])
        idx, key = best[b]
        thr = key.min(axis=1) if key is not None and key.shape[1] >= kp else None
        cols, keys = select_top(S, min(kp, chunk.shape[0]), thr)
        cols = np.where(cols >= 0, cols + c0, -1)
        best[b] = merge(idx, key, cols, keys, kp)
        return q1 - q0

    with progress_bar(m * -(-C.n // bc), **progress) as bar, limited(limit, workers):
        pool = None
        if workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(workers)
        try:
            for c0 in range(0, C.n, bc):
                chunk = C.block(c0, min(C.n, c0 + bc))
                chunk_sq = None if C.sq is None else C.sq[c0:c0 + bc]
                run = (lambda b, ch=chunk, c=c0, sq=chunk_sq: step(b, ch, c, sq))
                done = pool.map(run, range(len(blocks))) if pool else map(run, range(len(blocks)))
                for n_done in done:
                    bar.update(n_done)
                del chunk, run, done          # free this chunk before reading the next
        finally:
            if pool is not None:
                pool.shutdown()
    if m == 0:
        return np.zeros((0, kp), np.int64), np.zeros((0, kp), C.dtype)
    return (np.concatenate([i for i, _ in best]).astype(np.int64),
            np.concatenate([k for _, k in best]))


def _mask_self(S: np.ndarray, pos: np.ndarray, c0: int, c1: int) -> None:
    """Set the key of each query's own corpus row (query i is corpus row i) to −inf."""
    inside = (pos >= c0) & (pos < c1)
    rows = np.flatnonzero(inside)
    S[rows, pos[rows] - c0] = -np.inf


def refine(Q: Rows, C: Rows, positions: np.ndarray, cand: np.ndarray, cand_key: np.ndarray,
           k: int, *, exclude_self: bool, cand_eps: float, budget: int):
    """Exact scores of the candidates, sorted (ties by lower index), and a per-query proof.

    Returns indices (m, k), scores (m, k) and ``ok`` (m,) bool: True where the candidates
    provably contain the top k (see the module docstring).
    """
    m, kp = cand.shape
    idx_out = np.empty((m, k), np.int64)
    sc_out = np.empty((m, k), C.dtype)
    ok = np.empty(m, bool)
    eps = max(cand_eps, float(np.finfo(C.dtype).eps))
    # about six (rows, kp, d) temporaries live at once: keep them within the budget
    step = max(1, budget // (8 * max(1, kp) * C.d * C.dtype.itemsize))
    for r0 in range(0, m, step):
        r1 = min(m, r0 + step)
        pos = positions[r0:r1]
        ids = cand[r0:r1]
        invalid = ids < 0
        if exclude_self:
            invalid |= ids == pos[:, None]
        safe = np.where(invalid, 0, ids)
        if C.metric == "euclidean":
            diff = Q.take(pos)[:, None, :] - C.take(safe)
            score = np.sqrt(np.sum(diff * diff, axis=-1))       # exact 0 for identical rows
            rank = np.where(invalid, np.inf, score)              # lower is better
        elif C.metric == "cosine":
            q = Q.scaled(pos)[:, None, :]
            c = C.scaled(safe)
            score = np.sum(q * c, axis=-1) / np.sqrt(np.sum(q * q, axis=-1)
                                                      * np.sum(c * c, axis=-1))
            np.clip(score, -1.0, 1.0, out=score)
            rank = np.where(invalid, np.inf, -score)
        else:
            score = np.sum(Q.take(pos)[:, None, :] * C.take(safe), axis=-1)
            rank = np.where(invalid, np.inf, -score)
        order = np.lexsort((ids, rank), axis=-1)[:, :k]
        idx_out[r0:r1] = np.take_along_axis(ids, order, axis=1)
        sc_out[r0:r1] = np.take_along_axis(score, order, axis=1)
        # Proof: refined k-th key must beat every left-out key (<= the smallest kept key).
        kth = np.take_along_axis(rank, order[:, -1:], axis=1)[:, 0]
        if C.metric == "euclidean":
            kth_key = Q.sq[pos] - kth * kth
            qn = np.sqrt(Q.sq[pos]).astype(float)
            tol = 2.0 * (C.d + 2) * eps * (qn + C.max_norm) ** 2 * 1.01
        else:
            kth_key = -kth
            tol = 2.0 * (C.d + 2) * eps * Q.norms[pos].astype(float) * C.max_norm * 1.01
        left_out = cand_key[r0:r1].min(axis=1).astype(float)
        ok[r0:r1] = (kth_key > left_out + tol) | (kp >= C.n) | ~np.isfinite(left_out)
    return idx_out, sc_out, ok


def search(Q: Rows, C: Rows, k: int, *, exclude_self: bool = False, backend: str = "numpy",
           batch_size: int | None = None, budget: int = DEFAULT_BUDGET,
           show_progress: bool | None = None, faiss_index=None):
    """Exact top-k of every query row: (indices (n_q, k) int64, scores (n_q, k))."""
    n_q = Q.n
    indices = np.empty((n_q, k), np.int64)
    scores = np.empty((n_q, k), C.dtype)
    if n_q == 0:
        return indices, scores
    if C.metric != "cosine":
        # subtle: scores (and the euclidean key 2 q·c − ‖c‖²) must fit the float type
        reach = float(Q.max_norm + C.max_norm)
        bound = reach * reach  # not ** 2: a Python float power raises OverflowError
        info = np.finfo(np.float32 if backend == "faiss" else C.dtype)
        limit = float(info.max) / 8
        if 0 < reach < float(np.sqrt(info.tiny * 8)):  # squares underflow: scores tie at 0
            raise ValueError(f"vectors too short for {C.metric} scores in "
                             f"{'float32' if backend == 'faiss' else C.dtype}: lengths up to "
                             f"{max(Q.max_norm, C.max_norm):.3g} underflow when squared; "
                             "multiply queries and corpus by one common large number first")
        if not bound < limit:
            raise ValueError(f"vectors too long for {C.metric} scores in "
                             f"{'float32' if backend == 'faiss' else C.dtype}: lengths up to "
                             f"{max(Q.max_norm, C.max_norm):.3g} overflow; divide queries and "
                             "corpus by one common large number first (or pass float64)")
    kp = min(C.n, 2 * k + 8)
    todo = np.arange(n_q)
    expected = 2.0 * n_q * C.n * C.d / _ASSUMED_FLOPS
    desc = "knn graph" if exclude_self else "knn search"
    progress = {"desc": desc, "show": show_progress, "expected_seconds": expected}
    while todo.size:
        if backend == "faiss":
            from .faiss_backend import faiss_candidates

            cand, key, cand_eps = faiss_candidates(
                Q, C, todo, kp, exclude_self=exclude_self, budget=budget,
                batch_size=batch_size, progress=progress, index=faiss_index)
        else:
            cand, key = numpy_candidates(Q, C, todo, kp, exclude_self=exclude_self,
                                         budget=budget, batch_size=batch_size,
                                         progress=progress)
            cand_eps = float(np.finfo(C.dtype).eps)
        idx, sc, ok = refine(Q, C, todo, cand, key, k, exclude_self=exclude_self,
                             cand_eps=cand_eps, budget=budget)
        indices[todo[ok]] = idx[ok]
        scores[todo[ok]] = sc[ok]
        todo = todo[~ok]
        kp = min(C.n, 4 * kp)
        # re-checks are few queries: a bar only when asked for
        progress = {**progress, "show": bool(show_progress) and todo.size > 0,
                    "desc": desc + " (re-check near ties)"}
    return indices, scores
