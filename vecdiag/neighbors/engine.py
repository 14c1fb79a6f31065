"""The exact search engine behind knn, Index.search and Index.knn_graph.

Inputs here are already checked (see :mod:`vecdiag.neighbors.search`). The search runs in
three steps, the same for every backend:

1. **Candidates** (:mod:`._scan`). Score blocks of queries against chunks of the corpus
   with one matrix product (NumPy's BLAS, or faiss), and keep the ``kp = k + margin`` best
   of each query by a *ranking key* (higher is better): the similarity for cosine and
   dot, and ``2 q·c − ‖c‖²`` (``= ‖q‖² − ‖q − c‖²``) for euclidean. Score blocks are
   cache-sized (1024 queries × 4096 corpus rows: products and selection both run fastest
   there, see ``benchmarks/bench_knn.py``) and inside the memory budget; one worker per
   core pulls (query block, corpus chunk) items in turn. Which way round the products
   run (corpus rows by queries, or queries by rows) and in whole or half chunks is timed
   on the first large scans of the process and the fastest kept (:mod:`._tune`). Selection uses an exact
   threshold filter (:func:`._filter.select`) instead of a partition over whole rows.
   A key more than twice the rounding bound of step 3 below the query's running k-th best
   cannot reach its top k (:func:`tolerance`), so the scan leaves it out too: the bar a
   chunk must beat sits just under the k-th best, not at the kp-th, and far fewer
   entries are taken in. The kNN graph of a corpus multiplies each pair of blocks once
   and selects along both sides (the scores are symmetric): half the work.
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

With torch installed, step 1 of large scans may run in bfloat16 or int8 (:mod:`._bf16`,
:func:`_bf16_pass`; whichever this CPU multiplies fastest, if faster than float32), with
that module's rigorous bound in place of :func:`tolerance`; queries it does not prove go
through the three steps above as if it had not run, so the results are the same bit for
bit.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _bf16, _copies
from ._scan import numpy_candidates
from ._select import floor_below
from ._threads import Workers, blas_workers
from .rows import Rows, check_reach

DEFAULT_BUDGET = 256 * 2**20          # bytes of working memory for one step
_REFINE_BYTES = 4 * 2**20             # temporaries per refine piece
_ASSUMED_FLOPS = 3e10                 # for the progress bar's "is this long?" guess


def refine(Q: Rows, C: Rows, positions: np.ndarray, cand: np.ndarray, cand_key: np.ndarray,
           k: int, *, exclude_self: bool, cand_eps: float, budget: int,
           tol: np.ndarray | None = None):
    """Exact scores of the candidates, sorted (ties by lower index), and a per-query proof.

    Returns indices (m, k), scores (m, k) and ``ok`` (m,) bool: True where the candidates
    provably contain the top k (see the module docstring). ``tol`` (m,): the rounding
    bound of each query when not :func:`tolerance`'s (the bf16 stage, :mod:`._bf16`).
    """
    m, kp = cand.shape
    idx_out = np.empty((m, k), np.int64)
    sc_out = np.empty((m, k), C.dtype)
    ok = np.empty(m, bool)
    # About six (rows, kp, d) temporaries live at once per worker: keep them in the
    # budget. Small pieces (a few MB of temporaries) stay in cache and reuse freed memory
    # instead of mapping fresh pages for every temporary (page faults cost more than the
    # sums).
    threads, controller = blas_workers()
    step = max(1, min(budget // (8 * threads), _REFINE_BYTES) // (max(1, kp) * C.d
                                                                 * C.dtype.itemsize))
    # Worker threads only with three pieces or more each: a piece is many small array
    # operations, and two threads doing few of them wait on each other for the GIL
    # (1,000 queries, kp = 28, d = 384: 10.3 ms on one thread, about 8 on two; 250
    # queries: 2.1 ms on one, 2.7 on two).
    workers = threads if -(-m // step) >= 3 * threads else 1
    scratch = _Scratch()
    tol_all = tol

    def piece(r0):
        r1 = min(m, r0 + step)
        pos = positions[r0:r1]
        ids = cand[r0:r1]
        tol = tolerance(Q, C, pos, cand_eps) if tol_all is None else tol_all[r0:r1]
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
        score = np.concatenate([_exact_scores(Q, C, pos, safe[:, a:a + cols], scratch)
                                for a in range(0, safe.shape[1], cols)], axis=1)
        rank = np.where(invalid, np.inf, score if C.metric == "euclidean" else -score)
        order = np.lexsort((ids, rank), axis=-1)[:, :k]
        # with ``known``, a row may hold fewer than k valid candidates: -1 and -inf pad it
        empty = np.take_along_axis(invalid, order, axis=1)
        idx_out[r0:r1] = np.where(empty, -1, np.take_along_axis(ids, order, axis=1))
        sc_out[r0:r1] = np.where(empty, np.inf if C.metric == "euclidean" else -np.inf,
                                 np.take_along_axis(score, order, axis=1))
        # Proof: refined k-th key must beat every left-out key (<= the smallest kept key).
        kth = np.take_along_axis(rank, order[:, -1:], axis=1)[:, 0]
        kth_key = Q.sq[pos] - kth * kth if C.metric == "euclidean" else -kth
        left_out = cand_key[r0:r1].min(axis=1).astype(float)
        ok[r0:r1] = (kth_key > left_out + tol) | (kp >= C.n) | ~np.isfinite(left_out)

    Workers(workers, controller, None).map(piece, [(r0,) for r0 in range(0, m, step)])
    return idx_out, sc_out, ok


def known_floor(Q: Rows, C: Rows, pos: np.ndarray, known: np.ndarray, cand_eps: float,
                dtype, tol: np.ndarray | None = None) -> np.ndarray:
    """Candidate keys at or below which a corpus row cannot reach a top k (see
    :func:`search`'s ``known``): the known k-th score as a key, less twice the rounding
    bound of :func:`refine` (a key is within one bound of the exact score), or of
    ``tol`` (per query at ``pos``) when given.

    Examples
    --------
    >>> C = Rows(np.eye(3, dtype=np.float32), "cosine", "c")
    >>> Q = Rows(np.ones((1, 3), np.float32), "cosine", "q")
    >>> f = known_floor(Q, C, np.array([0]), np.array([0.5]), 2.0 ** -23, np.float32)
    >>> bool(0.49 < f[0] < 0.5)
    True
    """
    known = np.asarray(known, np.float64)
    tol = tolerance(Q, C, pos, cand_eps) if tol is None else tol
    with np.errstate(invalid="ignore", over="ignore"):
        key = Q.sq[pos].astype(np.float64) - known * known if C.metric == "euclidean" \
            else known
    # strictly below the known key, even without rounding error (a zero query under
    # dot: every key is exactly 0, and the rows tying the k-th must stay candidates)
    return floor_below(key, 2.0 * tol, dtype)


def tolerance(Q: Rows, C: Rows, pos: np.ndarray, cand_eps: float) -> np.ndarray:
    """Per query at ``pos``, a bound (float64) on the rounding error of a candidate key
    and of its refined score: ``(d + 2) eps`` times the largest product magnitude, twice
    (the candidate stage's own rounding and refine's), with 1% to spare.

    A corpus row whose key is more than twice this below k other keys stays below them
    after refining (refine's skip, :func:`known_floor`, and the scan's floor under the
    running k-th best).
    """
    eps = max(cand_eps, float(np.finfo(C.dtype).eps))
    if C.metric == "euclidean":
        qn = np.sqrt(Q.sq[pos].astype(np.float64))
        return 2.0 * (C.d + 2) * eps * (qn + C.max_norm) ** 2 * 1.01
    return 2.0 * (C.d + 2) * eps * Q.norms[pos].astype(np.float64) * C.max_norm * 1.01


class _Scratch(threading.local):
    """One thread's temporaries for :func:`_exact_scores`, reused piece after piece.

    A new array of a few MB for every piece can map fresh pages each time (the main
    thread's heap gives freed memory back at once), and page faults cost more than the
    sums. Refine after searches of 100,000 x 384 (medians of 10, two runs each): 200
    queries 3.0-3.2 ms with new arrays, 2.6-2.8 ms with reused ones; 1,000 queries
    10.7-11.5 ms, 9.1-9.6 ms.
    """

    def array(self, name: str, shape: tuple, dtype) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self.__dict__.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self.__dict__[name] = np.empty(size, dtype)
        return buf[:size].reshape(shape)


def _exact_scores(Q: Rows, C: Rows, pos: np.ndarray, idx: np.ndarray,
                  scratch: _Scratch | None = None) -> np.ndarray:
    """Scores of queries ``pos`` with corpus rows ``idx`` (rows, m), one pair at a time in
    a fixed order (products, then NumPy's pairwise sum): see the module docstring.

    The numbers are those of the plain expressions (``np.sum(q * c, axis=-1)``: the same
    products and the same reduction), with the temporaries in ``scratch``; under cosine,
    each corpus row's ``c·c`` is summed once and kept (:meth:`Rows.scaled_sq`: refine
    1,000 queries x 100,000 rows, one thread, 20.8 -> 17.4 ms median, in one process).
    """
    work = _Scratch() if scratch is None else scratch
    shape = idx.shape + (C.d,)
    dtype = np.result_type(Q.dtype, C.dtype)
    c = C.scaled(idx, work.array("c", shape, C.dtype)) if C.metric == "cosine" \
        else C.take(idx, work.array("c", shape, C.dtype))
    tmp = work.array("t", shape, dtype)
    if C.metric == "euclidean":
        np.subtract(Q.take(pos, work.array("q", (pos.size, Q.d), Q.dtype))[:, None, :], c,
                    out=tmp)
        np.multiply(tmp, tmp, out=tmp)
        return np.sqrt(np.add.reduce(tmp, axis=-1))       # exact 0 for identical rows
    if C.metric == "cosine":
        q = Q.scaled(pos, work.array("q", (pos.size, Q.d), Q.dtype))[:, None, :]
        cc = C.scaled_sq(idx, dtype)
        np.multiply(q, c, out=tmp)
        score = np.add.reduce(tmp, axis=-1)
        score /= np.sqrt(np.add.reduce(q * q, axis=-1) * cc)
        return np.clip(score, -1.0, 1.0, out=score)
    np.multiply(Q.take(pos, work.array("q", (pos.size, Q.d), Q.dtype))[:, None, :], c,
                out=tmp)
    return np.add.reduce(tmp, axis=-1)


def search(Q: Rows, C: Rows, k: int, *, exclude_self: bool = False, backend: str = "numpy",
           batch_size: int | None = None, budget: int = DEFAULT_BUDGET,
           show_progress: bool | None = None, faiss_index=None, cand_rows=None,
           known=None):
    """Exact top-k of every query row: (indices (n_q, k) int64, scores (n_q, k)).

    ``cand_rows=(Qc, Cc)``: the same rows in a lower precision for the candidate stage
    (a float32 Index searched with float64 queries); refine and proof then run on ``Q``
    and ``C`` with the lower precision's rounding bound, as for the faiss backend.

    ``known`` (n_q,), numpy backend: for each query, the k-th best exact score among
    some other rows (an upper bound of the distance under euclidean; ±inf for none). Only
    rows that score at least as well can be in a top k that includes those others, so the
    candidate stage drops every row whose key is, beyond its rounding error, worse
    (:func:`known_floor`): a row of the result may then hold fewer than k rows, the rest
    index -1 and score -inf (+inf for euclidean). :mod:`vecdiag.scale.search` passes
    the k-th scores of a first sample to every row block, whose own search then skips
    its expensive first chunks.
    """
    n_q = Q.n
    indices = np.empty((n_q, k), np.int64)
    scores = np.empty((n_q, k), C.dtype)
    if n_q == 0:
        return indices, scores
    if C.metric != "cosine":
        # subtle: scores (and the euclidean key 2 q·c − ‖c‖²) must fit the float type
        low = np.float32 if backend == "faiss" or cand_rows is not None else C.dtype
        if backend == "faiss":       # faiss scores in float32 whatever the input
            wider = " (or search with backend='numpy'" + (
                ", which scores float64 input in float64)" if C.dtype == np.float64
                else " on float64 vectors)")
        else:
            wider = None                # check_reach's own: "(or pass float64)" below it
        check_reach(Q.max_norm, C.max_norm, C.metric, low, wider)
    kp = min(C.n, 2 * k + 8)
    todo = np.arange(n_q)
    expected = 2.0 * n_q * C.n * C.d / _ASSUMED_FLOPS
    desc = "knn graph" if exclude_self else "knn search"
    progress = {"desc": desc, "show": show_progress, "expected_seconds": expected,
                "unit": " pairs"}                # bars count scored (query, item) pairs
    stage = _bf16.stage_for(Q, C, exclude_self=exclude_self, backend=backend,
                            cand_rows=cand_rows, k=k, kp=kp)
    if stage is not None:
        todo = _bf16_pass(stage, Q, C, k, min(C.n, stage.widen * kp), todo, indices,
                          scores, known, exclude_self=exclude_self, budget=budget,
                          batch_size=batch_size, progress=progress)
    while todo.size:
        idx, sc, ok = _round(Q, C, todo, k, kp, known, exclude_self=exclude_self,
                             budget=budget, batch_size=batch_size, progress=progress,
                             backend=backend, faiss_index=faiss_index, cand_rows=cand_rows)
        indices[todo[ok]] = idx[ok]
        scores[todo[ok]] = sc[ok]
        todo = todo[~ok]
        if todo.size and known is None and cand_rows is None and _copies.worth_it(C, kp):
            # a plateau of identical rows wider than the margin: widening it round after
            # round would end with every row a candidate (see _copies)
            indices[todo], scores[todo] = _copies.resolve(
                Q, C, todo, k, exclude_self=exclude_self, search=search,
                batch_size=batch_size, budget=budget, show_progress=False)
            break
        kp = min(C.n, 4 * kp)
        # re-checks are few queries: a bar only when asked for
        progress = {**progress, "show": bool(show_progress) and todo.size > 0,
                    "desc": desc + " (re-check near ties)"}
    return indices, scores


def _round(Q: Rows, C: Rows, pos: np.ndarray, k: int, kp: int, known, *, exclude_self: bool,
           budget: int, batch_size: int | None, progress: dict, backend: str = "numpy",
           faiss_index=None, cand_rows=None, stage=None, tol: np.ndarray | None = None):
    """Steps 1-3 once for the queries at ``pos`` with ``kp`` candidates each: their
    indices (m, k), scores (m, k) and ``ok`` (m,), True where proven. ``stage`` (with
    ``tol``, its bound per query): candidates from the bf16 stage's products."""
    if backend == "faiss":
        from .faiss_backend import faiss_candidates

        cand, key, cand_eps = faiss_candidates(
            Q, C, pos, kp, exclude_self=exclude_self, budget=budget,
            batch_size=batch_size, progress=progress, index=faiss_index)
    else:
        Qc, Cc = (Q, C) if cand_rows is None else cand_rows
        cand_eps = float(np.finfo(Cc.dtype).eps)
        slack = tolerance(Q, C, pos, cand_eps) if tol is None else tol
        floor = None if known is None else known_floor(Q, C, pos, known[pos], cand_eps,
                                                       Cc.dtype, slack)
        off = None if stage is None else stage.offsets(pos)
        if stage is not None and floor is not None:
            floor = stage.centred_floor(pos, floor, off)   # a centred bf16 scan lacks q·s
        # keys more than twice the rounding bound below a query's running k-th best
        # cannot reach its top k (as refine's skip): the scan leaves them out
        cand, key = numpy_candidates(Qc, Cc, pos, kp, exclude_self=exclude_self,
                                     budget=budget, batch_size=batch_size,
                                     progress=progress, floor=floor, rank=k,
                                     slack=2.0 * slack, product=stage)
        if stage is not None:
            key = stage.absolute(pos, key, off)
    return refine(Q, C, pos, cand, key, k, exclude_self=exclude_self, cand_eps=cand_eps,
                  budget=budget, tol=tol)


def _bf16_pass(stage, Q: Rows, C: Rows, k: int, kp: int, todo: np.ndarray, indices, scores,
               known, *, exclude_self: bool, budget: int, batch_size: int | None,
               progress: dict):
    """Step 1 in bf16 (:mod:`._bf16`): candidates of ``todo`` from bf16 products, refined
    and proven with the stage's rigorous bound. Writes the proven queries' rows of
    ``indices`` and ``scores``; returns the others, which the float32 path then searches
    as if this pass had not run (a cone, where the bound is wider than the gaps between
    top scores, costs one extra scan of them, not rounds of bf16). The first
    ``_bf16.PROBE`` queries are searched first: if the stage judges too few of them
    proven (:meth:`._bf16.Stage.judge`), the rest go to float32 at once."""
    eps = float(np.finfo(C.dtype).eps)

    def one(pos):
        tol = stage.tolerance(pos, tolerance(Q, C, pos, eps))
        usable = np.isfinite(tol)
        pos, tol = pos[usable], tol[usable]
        if not pos.size:
            return np.zeros(0, bool), usable
        idx, sc, ok = _round(Q, C, pos, k, kp, known, exclude_self=exclude_self,
                             budget=budget, batch_size=batch_size, progress=progress,
                             stage=stage, tol=tol)
        indices[pos[ok]] = idx[ok]
        scores[pos[ok]] = sc[ok]
        return ok, usable

    proven = np.zeros(todo.size, bool)
    first = min(todo.size, _bf16.PROBE)
    ok, usable = one(todo[:first])
    proven[:first][usable] = ok
    # judged on the queries it could score: the others (too tiny for int8, say) say
    # nothing of the corpus (a third of them once switched int8 off for good)
    if stage.judge(int(ok.sum()), int(usable.sum())) and first < todo.size:
        ok, usable = one(todo[first:])
        proven[first:][usable] = ok
    _bf16.stats[stage.codec.name] += int(proven.sum())
    _bf16.stats["fallback"] += int((~proven).sum())
    return todo[~proven]
