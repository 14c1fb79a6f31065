"""The exact search engine behind knn, Index.search and Index.knn_graph.

Inputs here are already checked (see :mod:`vecdiag.neighbors.search`). The search runs in
three steps, the same for every backend:

1. **Candidates.** Score blocks of queries against chunks of the corpus with one matrix
   product (NumPy's BLAS, or faiss), and keep the ``kp = k + margin`` best of each query by
   a *ranking key* (higher is better): the similarity for cosine and dot, and
   ``2 q·c − ‖c‖²`` (``= ‖q‖² − ‖q − c‖²``) for euclidean. Score blocks are cache-sized
   (1024 queries × 4096 corpus rows: products and selection both run fastest there, see
   ``benchmarks/bench_knn.py``) and inside the memory budget; one worker per core pulls
   (query block, corpus chunk) items in turn. Selection uses an exact threshold filter (:func:`._select.select`)
   instead of a partition over whole rows. The kNN graph of a corpus multiplies each pair
   of blocks once and selects along both sides (the scores are symmetric): half the work.
2. **Refine.** Re-score the candidates one pair at a time with a fixed summation order
   (products, then NumPy's pairwise sum): euclidean from the differences ``q − c`` (so
   identical vectors are exactly 0.0 apart and no distance is negative), cosine as
   ``q·c / sqrt((q·q)(c·c))`` on rows scaled by powers of two (exactly 1.0 for a vector
   with itself), clipped to [-1, 1]. Sort by score, ties by lower corpus index. Every
   backend refines the same way, so they return the same numbers and the same order.
   Candidates whose key is too far below the k-th to reach the top k after rounding are
   not re-scored (the result is the same, the work a third).
3. **Verify.** The candidates are enough when the refined k-th key beats the best key
   left out (at most the kp-th candidate key) by more than the rounding error of the two
   computations (a worst-case bound, ``2 (d + 2) eps ‖q‖ max‖c‖``). Queries where that is
   not proven (near ties at the boundary, many duplicates) are searched again with four
   times the margin, until proven or every corpus item is a candidate.
"""

from __future__ import annotations

import threading

import numpy as np

from .. import _validate as V
from .._progress import progress_bar
from ..linalg import row_norms
from ._select import _GROUP, Best, merge, select
from ._threads import Workers, blas_workers

DEFAULT_BUDGET = 256 * 2**20          # bytes of working memory for one step
_QUERY_BLOCK = 1024                   # queries per matrix product (measured: see benchmarks)
_CORPUS_CHUNK = 4096                  # corpus rows per product: the score block stays in cache
_GRAPH_BLOCK = 2048                   # rows per side of a block pair in the graph pass
_MIN_GRAPH_BLOCK = 64                 # the smallest block a batch_size may ask for there
_REFINE_BYTES = 4 * 2**20             # temporaries per refine piece
_SCAN_ROWS = 65_536                   # rows per piece when computing row statistics
_PARALLEL_FLOPS = 2e9                 # below this, one thread (no pool, no threadpoolctl)
_ASSUMED_FLOPS = 3e10                 # for the progress bar's "is this long?" guess


class Rows:
    """Vectors ready for scoring, one metric's way (inputs already checked).

    cosine: unit rows, copied once (``X / ‖x‖``), or normalised block by block when the
    input is a memmap (a corpus larger than RAM is never copied whole) or ``copy=False``
    (a float32 Index searched in float64). dot: the rows
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
    group maxima), its query block and, for a lazily normalised corpus, its chunk copy.
    The targets (:data:`_QUERY_BLOCK` × :data:`_CORPUS_CHUNK`) keep each score block
    inside the cache, where both the product and the selection run fastest; a smaller
    budget shrinks the chunk first (down to a few thousand rows), then the query block.
    """
    per_worker = budget / max(1, workers)
    per_score = itemsize * (1 + 2 / _GROUP)
    bq = max(1, min(n_q, batch_size or _QUERY_BLOCK))
    floor = min(n, max(kp, 1024))

    def chunk_rows(bq_):
        fixed = bq_ * d * itemsize
        per_row = bq_ * per_score + (d * itemsize if lazy_corpus else 0)
        return int((per_worker - fixed) // per_row)

    bc = chunk_rows(bq)
    if bc < floor and not batch_size:
        # A thin corpus chunk wastes the matrix product: trade queries for columns.
        while bq > 1 and chunk_rows(bq) < floor:
            bq = max(1, bq // 2)
        bc = chunk_rows(bq)
    bc = min(n, _CORPUS_CHUNK, bc)
    return max(1, bq), max(1, bc)


def plan_square(n: int, d: int, itemsize: int, budget: int, kp: int, lazy_corpus: bool,
                batch_size: int | None, workers: int, extra_key: bool) -> int:
    """Rows per block for the symmetric graph pass (blocks ``B × B``, see :func:`graph_candidates`).

    Each worker holds the product block, a second key block for euclidean, the group
    maxima of both selections, and two lazily normalised blocks of rows.
    """
    per_worker = budget / max(1, workers)
    per_score = itemsize * (1 + 2 / _GROUP + (1 if extra_key else 0))
    # smaller blocks would only add Python overhead (pairs grow as (n / b)²)
    b = min(n, max(_MIN_GRAPH_BLOCK, batch_size) if batch_size else _GRAPH_BLOCK)
    while b > 1 and b * b * per_score + 2 * b * d * itemsize > per_worker:
        b = max(1, int(b * 0.8))
    return b


def numpy_candidates(Q: Rows, C: Rows, positions: np.ndarray, kp: int, *,
                     exclude_self: bool, budget: int, batch_size: int | None,
                     progress: dict):
    """Candidate positions and ranking keys (m, kp) of the queries at ``positions``.

    One worker thread per BLAS thread (BLAS held to one thread each, so the selection
    after each product runs in parallel too) pulls (query block, corpus chunk) items in
    turn and keeps its own running best per block; the workers' candidates are merged at
    the end. The kNN graph of a whole corpus goes to :func:`graph_candidates`.
    """
    m = positions.size
    if m == 0:
        return np.zeros((0, kp), np.int64), np.zeros((0, kp), C.dtype)
    full = m == Q.n and positions[0] == 0 and positions[-1] == m - 1
    big = 2.0 * m * C.n * C.d > _PARALLEL_FLOPS
    workers, controller = blas_workers() if big else (1, None)
    if exclude_self and Q is C and full:
        return graph_candidates(C, kp, budget=budget, batch_size=batch_size,
                                progress=progress, workers=workers, controller=controller)
    bq, bc = plan(m, C.n, C.d, C.dtype.itemsize, budget, kp, C.data is None, batch_size,
                  workers)
    blocks = [(q0, min(m, q0 + bq)) for q0 in range(0, m, bq)]
    chunks = [(c0, min(C.n, c0 + bc)) for c0 in range(0, C.n, bc)]
    # Work items in block-major order, pulled by whichever worker is free (a core slowed
    # by other work then takes fewer chunks); each worker keeps its own running best per
    # query block, merged at the end.
    items = iter([(b, c) for b in range(len(blocks)) for c in range(len(chunks))])
    take = threading.Lock()

    def scan(worker):
        mine, current, Qb = {}, None, None
        while True:
            with take:
                item = next(items, None)
            if item is None:
                return mine
            b, c = item
            q0, q1 = blocks[b]
            c0, c1 = chunks[c]
            if b != current:
                Qb = Q.block(q0, q1) if full else Q.take(positions[q0:q1])
                if C.sq is not None:
                    Qb = Qb + Qb                # 2 q (doubling is exact)
                current = b
            best = mine.get(b)
            if best is None:
                best = mine[b] = Best(q1 - q0, kp, C.dtype)
            # corpus rows by queries: the selection's group maxima then reduce whole
            # contiguous slabs, the fastest pass NumPy has (the product costs the same)
            S = C.block(c0, c1) @ Qb.T
            if C.sq is not None:
                S -= C.sq[c0:c1, None]          # key = 2 q·c − ‖c‖²
            if exclude_self:
                _mask_self(S.T, positions[q0:q1], c0, c1)
            best.add(*select(S, min(kp, c1 - c0), best.threshold(), by_column=True),
                     offset=c0)
            del S
            pool.tick((q1 - q0) * (c1 - c0))

    with progress_bar(m * C.n, **progress) as bar:
        pool = Workers(min(workers, len(blocks) * len(chunks)), controller, bar)
        found = pool.map(scan, [(w,) for w in range(pool.n)])
    out_idx, out_key = [], []
    for b in range(len(blocks)):
        idx = key = None
        for mine in found:
            if b in mine:
                idx, key = merge(idx, key, mine[b].idx, mine[b].key, kp)
        out_idx.append(idx)
        out_key.append(key)
    return np.concatenate(out_idx), np.concatenate(out_key)


def graph_candidates(C: Rows, kp: int, *, budget: int, batch_size: int | None,
                     progress: dict, workers: int, controller):
    """Candidates of every corpus row among the others, using the symmetry of the scores.

    The score of rows ``a`` and ``b`` is the same product both ways, so the corpus is cut
    into blocks and each pair of blocks ``(i, j)``, ``i <= j``, is multiplied once:
    selecting along the rows of ``X_i X_jᵀ`` gives candidates of block ``i``, along its
    columns candidates of block ``j``. Half the products of a query-by-corpus pass, the
    same candidates up to rounding (which :func:`refine` settles and proves). Euclidean
    keys differ by side (``2 a·b − ‖b‖²`` for ``a``, ``2 a·b − ‖a‖²`` for ``b``): one
    product, two keys.
    """
    n = C.n
    euclid = C.sq is not None
    B = plan_square(n, C.d, C.dtype.itemsize, budget, kp, C.data is None, batch_size,
                    workers, euclid)
    starts = list(range(0, n, B))
    best = [Best(min(n, s + B) - s, kp, C.dtype) for s in starts]
    locks = [threading.Lock() for _ in starts]

    def offer(block: int, S: np.ndarray, kk: int, offset: int, by_column: bool) -> None:
        # select outside the lock (a stale threshold is still a valid one), fold in inside
        found = select(S, kk, best[block].threshold(), by_column=by_column)
        with locks[block]:
            best[block].add(*found, offset=offset)

    def pair(i, j):
        i0, i1 = starts[i], min(n, starts[i] + B)
        j0, j1 = starts[j], min(n, starts[j] + B)
        Xi = C.block(i0, i1)
        Xj = Xi if i == j else C.block(j0, j1)
        P = Xi @ Xj.T
        S = P
        if euclid:
            S = P + P
            S -= C.sq[j0:j1]                    # keys of block i's rows
        if i == j:
            _mask_self(S, np.arange(i0, i1), i0, i1)
        offer(i, S, min(kp, j1 - j0), j0, False)
        if i != j:
            if euclid:
                P += P
                P -= C.sq[i0:i1, None]          # keys of block j's rows
            offer(j, P, min(kp, i1 - i0), i0, True)
        pool.tick((i1 - i0) * (j1 - j0) * (1 if i == j else 2))

    pairs = [(i, j) for i in range(len(starts)) for j in range(i, len(starts))]
    with progress_bar(n * n, **progress) as bar:
        pool = Workers(min(workers, len(pairs)), controller, bar)
        pool.map(pair, pairs)
    return (np.concatenate([b.idx for b in best]), np.concatenate([b.key for b in best]))


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
    # about six (rows, kp, d) temporaries live at once per worker: keep them in the budget
    workers, controller = (blas_workers() if 2.0 * m * kp * C.d > _PARALLEL_FLOPS / 64
                           else (1, None))
    # Small pieces (a few MB of temporaries) stay in cache and reuse freed memory instead
    # of mapping fresh pages for every temporary (page faults cost more than the sums).
    step = max(1, min(budget // 8, _REFINE_BYTES) // (workers * max(1, kp) * C.d
                                                      * C.dtype.itemsize))

    def piece(r0):
        r1 = min(m, r0 + step)
        pos = positions[r0:r1]
        ids = cand[r0:r1]
        if C.metric == "euclidean":
            qn = np.sqrt(Q.sq[pos]).astype(float)
            tol = 2.0 * (C.d + 2) * eps * (qn + C.max_norm) ** 2 * 1.01
        else:
            tol = 2.0 * (C.d + 2) * eps * Q.norms[pos].astype(float) * C.max_norm * 1.01
        if kp > k:
            # Skip candidates that cannot reach the top k: a key more than 2 tol below the
            # k-th largest key stays below those k after refining (tol bounds both errors).
            by_key = np.argsort(-cand_key[r0:r1], axis=1, kind="stable")
            sorted_key = np.take_along_axis(cand_key[r0:r1], by_key, axis=1)
            floor = sorted_key[:, k - 1].astype(float) - 2.0 * tol
            width = max(k, int((sorted_key >= floor[:, None]).sum(axis=1).max()))
            ids = np.take_along_axis(ids, by_key[:, :width], axis=1)
        invalid = ids < 0
        if exclude_self:
            invalid |= ids == pos[:, None]
        safe = np.where(invalid, 0, ids)
        # column pieces keep the (rows, columns, d) temporaries small when many candidates
        # are asked for (k near n); each score depends on its own pair only
        cols = max(1, _REFINE_BYTES // (max(1, r1 - r0) * C.d * C.dtype.itemsize))
        score = np.concatenate([_exact_scores(Q, C, pos, safe[:, a:a + cols])
                                for a in range(0, safe.shape[1], cols)], axis=1)
        rank = np.where(invalid, np.inf, score if C.metric == "euclidean" else -score)
        order = np.lexsort((ids, rank), axis=-1)[:, :k]
        idx_out[r0:r1] = np.take_along_axis(ids, order, axis=1)
        sc_out[r0:r1] = np.take_along_axis(score, order, axis=1)
        # Proof: refined k-th key must beat every left-out key (<= the smallest kept key).
        kth = np.take_along_axis(rank, order[:, -1:], axis=1)[:, 0]
        kth_key = Q.sq[pos] - kth * kth if C.metric == "euclidean" else -kth
        left_out = cand_key[r0:r1].min(axis=1).astype(float)
        ok[r0:r1] = (kth_key > left_out + tol) | (kp >= C.n) | ~np.isfinite(left_out)

    Workers(workers, controller, None).map(piece, [(r0,) for r0 in range(0, m, step)])
    return idx_out, sc_out, ok


def _exact_scores(Q: Rows, C: Rows, pos: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Scores of queries ``pos`` with corpus rows ``idx`` (rows, m), one pair at a time in
    a fixed order (products, then NumPy's pairwise sum): see the module docstring."""
    if C.metric == "euclidean":
        diff = Q.take(pos)[:, None, :] - C.take(idx)
        return np.sqrt(np.sum(diff * diff, axis=-1))              # exact 0 for identical rows
    if C.metric == "cosine":
        q = Q.scaled(pos)[:, None, :]
        c = C.scaled(idx)
        score = np.sum(q * c, axis=-1) / np.sqrt(np.sum(q * q, axis=-1)
                                                  * np.sum(c * c, axis=-1))
        return np.clip(score, -1.0, 1.0, out=score)
    return np.sum(Q.take(pos)[:, None, :] * C.take(idx), axis=-1)


def search(Q: Rows, C: Rows, k: int, *, exclude_self: bool = False, backend: str = "numpy",
           batch_size: int | None = None, budget: int = DEFAULT_BUDGET,
           show_progress: bool | None = None, faiss_index=None, cand_rows=None):
    """Exact top-k of every query row: (indices (n_q, k) int64, scores (n_q, k)).

    ``cand_rows=(Qc, Cc)``: the same rows in a lower precision for the candidate stage
    (a float32 Index searched with float64 queries); refine and proof then run on ``Q``
    and ``C`` with the lower precision's rounding bound, as for the faiss backend.
    """
    n_q = Q.n
    indices = np.empty((n_q, k), np.int64)
    scores = np.empty((n_q, k), C.dtype)
    if n_q == 0:
        return indices, scores
    if C.metric != "cosine":
        # subtle: scores (and the euclidean key 2 q·c − ‖c‖²) must fit the float type
        reach = float(Q.max_norm + C.max_norm)
        bound = reach * reach  # not ** 2: a Python float power raises OverflowError
        low = np.float32 if backend == "faiss" or cand_rows is not None else C.dtype
        info = np.finfo(low)
        limit = float(info.max) / 8
        if 0 < reach < float(np.sqrt(info.tiny * 8)):  # squares underflow: scores tie at 0
            raise ValueError(f"vectors too short for {C.metric} scores in "
                             f"{np.dtype(low)}: lengths up to "
                             f"{max(Q.max_norm, C.max_norm):.3g} underflow when squared; "
                             "multiply queries and corpus by one common large number first")
        if not bound < limit:
            raise ValueError(f"vectors too long for {C.metric} scores in "
                             f"{np.dtype(low)}: lengths up to "
                             f"{max(Q.max_norm, C.max_norm):.3g} overflow; divide queries and "
                             "corpus by one common large number first (or pass float64)")
    kp = min(C.n, 2 * k + 8)
    todo = np.arange(n_q)
    expected = 2.0 * n_q * C.n * C.d / _ASSUMED_FLOPS
    desc = "knn graph" if exclude_self else "knn search"
    progress = {"desc": desc, "show": show_progress, "expected_seconds": expected,
                "unit": " pairs"}                # bars count scored (query, item) pairs
    while todo.size:
        if backend == "faiss":
            from .faiss_backend import faiss_candidates

            cand, key, cand_eps = faiss_candidates(
                Q, C, todo, kp, exclude_self=exclude_self, budget=budget,
                batch_size=batch_size, progress=progress, index=faiss_index)
        else:
            Qc, Cc = (Q, C) if cand_rows is None else cand_rows
            cand, key = numpy_candidates(Qc, Cc, todo, kp, exclude_self=exclude_self,
                                         budget=budget, batch_size=batch_size,
                                         progress=progress)
            cand_eps = float(np.finfo(Cc.dtype).eps)
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
