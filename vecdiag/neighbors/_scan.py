"""Candidates: score blocks, keep each query's best (step 1 of :mod:`.engine`).

Queries are scored against the corpus in cache-sized blocks, one worker per core pulling
the next (query block, corpus chunk) in turn; the kNN graph of a whole corpus multiplies
each pair of blocks once instead (the scores are symmetric). Each block goes through the
threshold filter of :mod:`._select`, or through the compiled fold-in of :mod:`._fold` when
numba is there and the scan repays it (:func:`use_compiled`). Which way round a search's
products run and in what chunks is measured on the first large scans of the process
(:mod:`._tune`, :class:`_Feed`). The engine then refines and proves what these return.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING

import numpy as np

from .._progress import progress_bar
from . import _fold, _tune
from ._filter import _GROUP
from ._select import SharedBest
from ._threads import Workers, blas_workers

if TYPE_CHECKING:
    from .rows import Rows

_QUERY_BLOCK = 1024                   # queries per matrix product (measured: see benchmarks)
_CORPUS_CHUNK = 4096                  # corpus rows per product: the score block stays in cache
_GRAPH_BLOCK = 2048                   # rows per side of a block pair in the graph pass
_MIN_GRAPH_BLOCK = 64                 # the smallest block a batch_size may ask for there
_PARALLEL_FLOPS = 2e9                 # below this, one thread (no pool, no threadpoolctl)
_COMPILED_FLOPS = 2e10                # from here on, the compiled fold-in when asked for
_LOAD_REPAID_FLOPS = 1e13             # auto: a search scan this large repays loading numba
_TUNE_FLOPS = 2e10                    # scans this large time their plans (:mod:`._tune`)
_TUNE_QUERIES = 256                   # ... when their query blocks hold this many queries


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
                     progress: dict, floor: np.ndarray | None = None,
                     rank: int | None = None, slack: np.ndarray | None = None,
                     product=None):
    """Candidate positions and ranking keys (m, kp) of the queries at ``positions``.

    ``floor`` (m,): keys at or below it are never candidates (a row then may hold fewer
    than kp, the rest position -1 and key -inf). ``rank`` and ``slack`` (m,): keys more
    than ``slack`` below a query's ``rank``-th best are not candidates either (see
    :class:`._select.SharedBest`; the engine passes its k and twice its rounding bound).

    One worker thread per BLAS thread (BLAS held to one thread each, so the selection
    after each product runs in parallel too) pulls (query block, corpus chunk) items in
    turn (:class:`_Feed`); the workers share one running best per query block (one
    threshold, raised by every chunk any worker has seen). Each product runs corpus rows
    by queries or queries by corpus rows, in whole or half chunks, as the process's
    :mod:`._tune` chose from timings of the first large scans' own items (a scan of
    fewer than :data:`_TUNE_FLOPS` or with query blocks under :data:`_TUNE_QUERIES`
    queries keeps the first plan: corpus rows by queries, whole chunks). The kNN graph
    of a whole corpus goes to :func:`graph_candidates`.
    """
    m = positions.size
    if m == 0:
        return np.zeros((0, kp), np.int64), np.zeros((0, kp), C.dtype)
    full = m == Q.n and positions[0] == 0 and positions[-1] == m - 1
    big = 2.0 * m * C.n * C.d > _PARALLEL_FLOPS
    workers, controller = blas_workers() if big else (1, None)
    if exclude_self and Q is C and full and floor is None and product is None:
        return graph_candidates(C, kp, budget=budget, batch_size=batch_size,
                                progress=progress, workers=workers, controller=controller,
                                compiled=use_compiled(1.0 * C.n * C.n * C.d, graph=True),
                                rank=rank,
                                slack=slack)
    compiled = use_compiled(2.0 * m * C.n * C.d)
    bq, bc = plan(m, C.n, C.d, C.dtype.itemsize, budget, kp, C.data is None, batch_size,
                  workers)
    blocks = [(q0, min(m, q0 + bq)) for q0 in range(0, m, bq)]
    # The layout and chunk of the products: measured on the first large scans of the
    # process (:mod:`._tune`), corpus rows by queries in whole chunks until then.
    tuner = (_tune.tuner(compiled, C.d, C.dtype.itemsize, bc)
             if bq >= _TUNE_QUERIES and 2.0 * m * C.n * C.d >= _TUNE_FLOPS
             and product is None else None)
    feed = _Feed(blocks, C.n, workers, tuner, _tune.Plan(False, bc))
    # The workers share one running best per query block (:class:`._select.SharedBest`:
    # one threshold for all, no waiting).
    best = [SharedBest(q1 - q0, kp, C.dtype, None if floor is None else floor[q0:q1],
                       rank=rank, slack=None if slack is None else slack[q0:q1])
            for q0, q1 in blocks]

    lazy = C.data is None

    def scan(worker):
        current, Qb = None, None
        # this worker's score block and (lazily normalised corpus) chunk, reused item after
        # item: a fresh 16 MB array per product costs page faults wherever freed memory
        # goes back to the system at once (Dask sets MALLOC_TRIM_THRESHOLD_ for its
        # workers: 20-25% of a search measured)
        flat = np.empty(bc * bq, C.dtype)
        rows = np.empty((bc, C.d), C.dtype) if lazy else None
        while True:
            item = feed.next()
            if item is None:
                return
            b, c0, c1, way, timed = item
            q0, q1 = blocks[b]
            if b != current:
                Qb = Q.block(q0, q1) if full else Q.take(positions[q0:q1])
                if C.sq is not None:
                    Qb = Qb + Qb                # 2 q (doubling is exact)
                if product is not None:
                    Qb = product.prepare(Qb)
                current = b
            t0 = time.perf_counter()
            Cb = C.block(c0, c1, None if rows is None else rows[:c1 - c0])
            if way.by_row:
                S = flat[:(q1 - q0) * (c1 - c0)].reshape(q1 - q0, c1 - c0)
                np.matmul(Qb, Cb.T, out=S)
                if C.sq is not None:
                    S -= C.sq[c0:c1]            # key = 2 q·c − ‖c‖²
                if exclude_self:
                    _mask_self(S, positions[q0:q1], c0, c1)
            else:
                # corpus rows by queries: the NumPy selection's group maxima then reduce
                # whole contiguous slabs, the fastest pass NumPy has
                S = flat[:(c1 - c0) * (q1 - q0)].reshape(c1 - c0, q1 - q0)
                if product is None:
                    np.matmul(Cb, Qb.T, out=S)
                    if C.sq is not None:
                        S -= C.sq[c0:c1, None]
                else:
                    product.into(Qb, c0, c1, S)     # the keys, ‖c‖² included
                if exclude_self:
                    _mask_self(S.T, positions[q0:q1], c0, c1)
            best[b].fold(S, min(kp, c1 - c0), c0, by_column=not way.by_row,
                         compiled=compiled)
            feed.done(way, timed, (time.perf_counter() - t0) / S.size)
            pool.tick((q1 - q0) * (c1 - c0))

    with progress_bar(m * C.n, **progress) as bar, \
            (product.threads() if product is not None else nullcontext()):
        pool = Workers(min(workers, feed.count()), controller, bar)
        pool.map(scan, [(w,) for w in range(pool.n)])
    found = [b.result() for b in best]
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


class _Feed:
    """The work items of a search scan, ``(query block, c0, c1, plan, timed)``, handed
    out in block-major order to whichever worker asks (a core slowed by other work then
    takes fewer chunks).

    With a ``tuner`` that has not chosen yet, each item's plan (layout, chunk size) comes
    from it, and items past the first ``workers`` of each full-size query block (whose
    running bars are set) are timed for it; once a plan is fixed, chunks of its size split
    evenly over the workers (:func:`balanced_chunk`).
    """

    def __init__(self, blocks: list, n: int, workers: int, tuner, default):
        self.blocks, self.n, self.workers, self.tuner = blocks, n, max(1, workers), tuner
        self.default = default
        self.b = self.c0 = self.served = 0
        self.chunk: dict = {}
        self.lock = threading.Lock()

    def _size(self, way) -> int:
        if way not in self.chunk:
            self.chunk[way] = balanced_chunk(self.n, way.chunk, len(self.blocks),
                                             self.workers)
        return self.chunk[way]

    def count(self) -> int:
        """How many items there are at least (the chunks of the default plan)."""
        return len(self.blocks) * -(-self.n // self.default.chunk)

    def next(self):
        with self.lock:
            if self.b == len(self.blocks):
                return None
            choosing = self.tuner is not None and self.tuner.chosen is None
            way = self.tuner.next_plan() if self.tuner is not None else self.default
            size = way.chunk if choosing else self._size(way)
            q0, q1 = self.blocks[self.b]
            timed = (choosing and self.served >= self.workers
                     and q1 - q0 == self.blocks[0][1] - self.blocks[0][0])
            if choosing and not timed:
                self.tuner.drop(way)
            item = (self.b, self.c0, min(self.n, self.c0 + size), way, timed)
            self.c0, self.served = item[2], self.served + 1
            if self.c0 == self.n:
                self.b, self.c0, self.served = self.b + 1, 0, 0
            return item

    def done(self, way, timed: bool, seconds_per_entry: float) -> None:
        if timed:
            self.tuner.record(way, seconds_per_entry)


def balanced_chunk(n: int, bc: int, n_blocks: int, workers: int) -> int:
    """Corpus rows per chunk, at most ``bc``, such that the work items (query blocks x
    corpus chunks) split evenly over the workers where a few more chunks achieve it.

    25 chunks on 2 cores leave one core idle for the last chunk (4% of the scan); 26
    slightly smaller chunks do not.
    """
    chunks = -(-n // bc)
    if workers <= 1 or (n_blocks * chunks) % workers == 0:
        return bc
    for more in range(chunks + 1, chunks + workers + 1):
        if (n_blocks * more) % workers == 0:
            return max(1, -(-n // more))
    return bc


def graph_candidates(C: Rows, kp: int, *, budget: int, batch_size: int | None,
                     progress: dict, workers: int, controller, compiled: bool = False,
                     rank: int | None = None, slack: np.ndarray | None = None):
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
    best = [SharedBest(min(n, s + B) - s, kp, C.dtype, rank=rank,
                       slack=None if slack is None else slack[s:s + B]) for s in starts]

    def offer(block: int, S: np.ndarray, kk: int, offset: int, by_column: bool) -> None:
        best[block].fold(S, kk, offset, by_column=by_column, compiled=compiled)

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
    found = [b.result() for b in best]
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


def use_compiled(flops: float, graph: bool = False) -> bool:
    """Whether a scan of ``flops`` uses the compiled fold-in (:mod:`._fold`; numba must be
    installed). ``VECDIAG_NUMBA=1``: from :data:`_COMPILED_FLOPS` on; ``0``: never; unset
    (auto): a search scan (not the kNN ``graph`` pass) from :data:`_COMPILED_FLOPS` on
    once the kernels are loaded in this process, and from :data:`_LOAD_REPAID_FLOPS` on
    (loading them first) when they are not."""
    mode = _fold.mode()
    if mode == "off" or flops < _COMPILED_FLOPS:
        return False
    if mode == "auto" and (graph or not (_fold.loaded() or flops >= _LOAD_REPAID_FLOPS)):
        return False
    return _fold.kernels() is not None


def _mask_self(S: np.ndarray, pos: np.ndarray, c0: int, c1: int) -> None:
    """Set the key of each query's own corpus row (query i is corpus row i) to −inf."""
    inside = (pos >= c0) & (pos < c1)
    rows = np.flatnonzero(inside)
    S[rows, pos[rows] - c0] = -np.inf
