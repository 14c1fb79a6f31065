"""A bfloat16 candidate stage for the exact engine (optional accelerator: torch, native bf16).

On a CPU with native bf16 products (AVX512_BF16, AMX), torch multiplies bf16 matrices
with oneDNN several times faster than NumPy's BLAS multiplies float32 (a score block of
4,096 corpus rows x 1,024 queries x 384: 7 ms against 30 ms on one thread of an EPYC Zen
5). The candidate stage of :mod:`.engine` only needs keys within a known bound of the
exact ones (refine re-scores exactly, verify proves): this module gives those keys from
bf16 copies of the rows, and a per-query bound on their error (:meth:`Stage.tolerance`)
that is rigorous, so the results are the default path's, bit for bit.

The bound, for a query ``q`` and corpus row ``c`` (the engine's prepared rows; ``~``
marks the bf16 copy, rounded from them; ``s`` the product torch returns)::

    |q·c − s| <= |q − q~| max|c| + |q~| max|c − c~|             (the inputs' rounding)
               + (d + 2) 2^-24 |q~| max|c~|                      (float32 accumulation)
               + 2^-8 |q~| max|c~|                               (output rounded to bf16)
               + 2^-126 (sqrt(d) (|q~| + max|c~|) + 2 d + 2)     (denormals flushed)

Why: ``q·c − q~·c~ = (q − q~)·c + q~·(c − c~)`` (Cauchy-Schwarz on each). Products of two
bf16 numbers (8 significant bits each) are exact in float32, and float32 sums of d of
them in any order are within ``(d − 1) u Σ|q~_i c~_i| <= (d − 1) u |q~||c~|`` (u = 2^-24;
``d + 2`` leaves room for the first-order form). torch on CPU returns a bf16 matrix
(``out_dtype=float32`` is not implemented for CPU in torch 2.9): oneDNN converts the
float32 sums with round-to-nearest-even (vcvtneps2bf16), within ``2^-8 |s|``, and
``|s| <= |q~||c~|``. Flush-to-zero of subnormal inputs, products, sums and outputs
moves each by less than 2^-126. The engine's own bound (:func:`.engine.tolerance`, for
the default candidate stage and refine) is added on top: it covers the distance of the
prepared rows from the exact vectors, the euclidean ``‖c‖²`` and the subtraction, and
refine's rounding. The norms are summed in float64 with 1% to spare.

Measured (100,000 x 384 clustered float32, 1,000 queries, k = 10, cosine; one thread,
CPU seconds, busy host, benchmarks/bench_knn_cpu.py): 2.38x faiss IndexFlatIP, against
0.96x for the float32 path, every query proven in bf16. A narrow cone (cosines near
0.9) fails the proof for most queries: 0.98-1.09x the float32 path's time (the first
256 queries in bf16, the rest straight to float32).

Which searches use it (:func:`stage_for`) follows the environment variable
``VECDIAG_BF16`` (read as ``VECDIAG_NUMBA`` is, :func:`._fold.switch`): ``1`` for every
scan from :data:`MIN_FLOPS` (2e10 flops, about 0.1 s of products), ``0`` never. Unset (or
``auto``), a scan from :data:`MIN_FLOPS` uses it when torch is already imported in the
process (by sentence-transformers, say: nothing left to load), and a scan from
:data:`LOAD_REPAID_FLOPS` imports torch for it (unless the CPU's feature list names no
bf16 product instruction, :func:`cpu_may_have_bf16`): importing torch cost 0.7-1.4 s and
about 200 MB here, and in fresh processes (100,000 x 384, two threads, a busy host) 1,000
queries (7.7e10 flops) took 3.4 and 2.0 s with the import against 2.6 and 0.9 s without,
4,000 queries (3.1e11) 2.9 s against 5.0, and 16,000 queries 7.1 and 13.9 s against 11.9
and 21.6. Either way only on a CPU with native bf16 products, after the rounding
self-check (:func:`rounding_holds`), for rows of at most :data:`CHECKED_D` (8,192)
dimensions, and for a corpus whose bf16 copy (half the float32
rows, made once per prepared corpus and kept as long as it) fits in half the free memory
(:func:`vecdiag._memory.available_memory`). A corpus whose first bf16 search proved fewer
than :data:`PROVEN` of its first :data:`PROBE` queries (at least :data:`PROBE_LEAST` of
them) keeps the float32 path for every later search.

What is not done: the bound is per query, with the output rounding taken at the largest
possible score (a key-dependent bound would be much tighter for dot and euclidean scores
far below ``|q||c|``); the kNN graph pass and lazily normalised (memmap) corpora keep the
float32 path (the graph pass already scores each pair once: 1.7-1.9x faiss); a scan in
bf16 does not use the tuner's layouts. torch's thread count is set to 1 while scans run
(see :meth:`Stage.threads`).
"""

from __future__ import annotations

import sys
import threading
import weakref
from contextlib import contextmanager

import numpy as np

from .._memory import available_memory
from ._fold import switch

MIN_FLOPS = 2e10                      # smaller scans keep float32
LOAD_REPAID_FLOPS = 5e11              # auto: scans this large import torch for the stage
MEMORY_SHARE = 0.5                    # the bf16 copy must fit in this share of free memory
PROBE = 256                           # queries of the first bf16 scan (engine._bf16_pass)
PROVEN = 0.9                          # ... of which at least this share must be proven
PROBE_LEAST = 32                      # a probe of fewer queries says nothing of the corpus
WIDEN = 2                             # the bf16 pass keeps WIDEN x the float32 margin
_PIECE = 8_192                        # rows per piece: bf16 copy, float64 norms
_U32 = 2.0 ** -24                     # float32 unit roundoff (accumulation)
_U16 = 2.0 ** -8                      # bf16 unit roundoff (output, round to nearest even)
_TINY = 2.0 ** -126                   # float32 (and bf16) smallest normal number
_REACH = 2.0 ** 126                   # largest |q~||c~| whose products bf16 holds (4x spare)
CHECKED_D = 8_192                     # widest rows rounding_holds multiplies: wider keep float32

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # Rows -> _Corpus
_lock = threading.Lock()
_threads_lock = threading.Lock()
_held: list = []                      # [torch's thread count before, one None per scan]
_torch_ok: list = []                  # [torch module or None], decided once
stats = {"bf16": 0, "fallback": 0, "probe_failed": 0}   # queries by path (benchmarks)


def mode() -> str:
    """``VECDIAG_BF16`` read: ``"on"``, ``"off"`` or ``"auto"`` (:func:`._fold.switch`)."""
    return switch("VECDIAG_BF16")


def wanted(flops: float) -> bool:
    """Whether a scan of ``flops`` asks for the stage (see the module docstring); whether
    it runs also depends on torch, the CPU and the corpus (:func:`stage_for`)."""
    setting = mode()
    if setting == "off" or flops < MIN_FLOPS:
        return False
    return setting == "on" or "torch" in sys.modules or (
        flops >= LOAD_REPAID_FLOPS and cpu_may_have_bf16())


_cpu_flags: list = []                 # [the CPU's feature words, or None where unknown]


def cpu_may_have_bf16() -> bool:
    """False when the CPU's feature list (Linux's ``/proc/cpuinfo``) names no bf16
    product instruction (x86 ``avx512_bf16``, ``amx_bf16``; Arm ``bf16``), so that auto
    mode does not import torch (about a second) only to find the CPU cannot use it; True
    where the list is not readable (torch's own test then decides)."""
    if not _cpu_flags:
        words = None
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                words = {w for line in f if line.lower().startswith(("flags", "features"))
                         for w in line.split(":", 1)[-1].split()}
        except OSError:
            pass
        _cpu_flags.append(words or None)
    words = _cpu_flags[0]
    return words is None or bool(words & {"avx512_bf16", "amx_bf16", "bf16"})


def _torch():
    """torch when it imports and the CPU multiplies bf16 natively, else None (decided
    once; torch is imported only here, never at ``import vecdiag``)."""
    if not _torch_ok:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            # torch's own test for native bf16 (AVX512_BF16 / AMX); emulated bf16 would
            # be correct but slower than float32
            native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
            try:
                ok = bool(native()) if native is not None else False
            except RuntimeError:
                ok = False
            torch = torch if ok and rounding_holds(torch) else None
        _torch_ok.append(torch)
    return _torch_ok[0]


def rounding_holds(torch, seed: int = 0) -> bool:
    """Whether this torch's bf16 product stays inside the error model the bound rests on
    (float32 sums of exact products, the result rounded to bf16 to nearest): every
    entry of products of random bf16 blocks (values over many binades, half the rows
    positive, and a plateau) within ``2^-8 |s| + (1 + 2^-8) (d + 2) 2^-24 Σ|q~_i c~_i|``
    of the float64 product ``s`` of the same bf16 numbers (the model's own bound,
    tighter than the stage's, which replaces both by ``|q~||c~|``), in the shapes a scan
    multiplies: d = 1,000 and :data:`CHECKED_D` (96 and 48 corpus rows by 64 and 32
    queries, by one query, one row by the queries, 3 rows by 2). A library that summed
    in bf16, truncated or rounded twice (its running sum rounded to bf16 every 1,024
    products, say), or took a kernel of its own for a single query, would fail it, and
    the stage stays off; rows wider than :data:`CHECKED_D` keep float32
    (:func:`stage_for`). A check of d = 1,000 and 96 x 64 alone passed both of those.
    About 0.2 s of CPU, once per process."""
    rng = np.random.default_rng(seed)

    def block(n, d, first):
        values = rng.normal(size=(n, d)) * np.exp2(rng.integers(-20, 20, (n, 1)))
        # subtle: the first rows positive. Sums of products of both signs are far below
        # Σ|q~_i c~_i|, whose term then hides a second rounding (2^-8 |s| again)
        values[:n // 2] = np.abs(values[:n // 2])
        values[0] = first
        return torch.from_numpy(values.astype(np.float32)).to(torch.bfloat16)

    for d, n_rows, n_cols in ((1_000, 96, 64), (CHECKED_D, 48, 32)):
        # a plateau: 256 and d - 1 products 2^-m summing to 1-2 (every partial sum exact
        # in float32) score 257-258, which rounds to 258; rounded to bf16 on the way
        # (blocks of fewer than d / 2 products), every partial sum is 256 again
        small = 2.0 ** -np.ceil(np.log2(d / 2))
        b = block(n_rows, d, np.r_[256.0, np.full(d - 1, small)])
        a = block(n_cols, d, np.ones(d))
        for rows, cols in ((n_rows, n_cols), (n_rows, 1), (1, n_cols), (3, 2)):
            x, y = b[:rows].contiguous(), a[:cols].contiguous()
            got = torch.mm(x, y.T).double().numpy()
            x64, y64 = x.double().numpy(), y.double().numpy()
            exact = x64 @ y64.T
            bound = _U16 * np.abs(exact) + (1 + _U16) * (d + 2) * _U32 * (np.abs(x64)
                                                                       @ np.abs(y64).T)
            if not np.all(np.abs(got - exact) <= bound):
                return False
    return True


class _Corpus:
    """A corpus's bf16 copy (a torch tensor) and the norms the bound needs, made once."""

    def __init__(self, torch, data: np.ndarray):
        n, d = data.shape
        self.rows = torch.empty((n, d), dtype=torch.bfloat16)
        self.max_norm = self.max_low = self.max_residual = 0.0
        self.finite = True
        self.failed = False           # a probe proved too few queries: float32 from now on
        for a in range(0, n, _PIECE):
            piece = data[a:a + _PIECE]
            low = _tensor(torch, piece).to(torch.bfloat16)
            self.rows[a:a + piece.shape[0]] = low
            norm, low_norm, residual = _norms(piece, low)
            self.finite &= bool(np.isfinite(low_norm).all())     # NaN too
            self.max_norm = max(self.max_norm, float(norm.max(initial=0.0)))
            self.max_low = max(self.max_low, float(low_norm.max(initial=0.0)))
            self.max_residual = max(self.max_residual, float(residual.max(initial=0.0)))


def _tensor(torch, rows: np.ndarray):
    """``rows`` as a torch tensor sharing its memory, or of a C-ordered copy when it is
    read-only or not contiguous (torch warns on read-only arrays, and only reads here)."""
    if not (rows.flags.writeable and rows.flags.c_contiguous):
        rows = np.array(rows, order="C")
    return torch.from_numpy(rows)


def _norms(rows: np.ndarray, low) -> tuple:
    """Upper bounds of the lengths of ``rows``, of their bf16 copy ``low`` and of the
    difference, in the rows' own dtype (float64 throughout took 0.54 s for 100,000 x 384
    float32 rows, more than the bf16 scan saves a search built once; this 0.1 s).

    ``rows − low`` is exact (a number and its rounding lie within a factor two). The bf16
    copy's length is at most the sum of the two others.
    """
    back = (low.double() if rows.dtype == np.float64 else low.float()).numpy()
    with np.errstate(invalid="ignore", over="ignore"):
        residual = _lengths(rows - back)
    norm = _lengths(rows)
    return norm, norm + residual, residual


def _lengths(X: np.ndarray) -> np.ndarray:
    """Upper bounds (float64) of the row lengths of ``X``: sums of squares in X's dtype,
    ``(d + 2) eps`` and 1% up; rows whose sum may have underflowed or overflowed (outside
    2^-100..2^100) summed again in float64 after scaling by their largest entry."""
    d = X.shape[1]
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        sq = np.einsum("ij,ij->i", X, X).astype(np.float64)
        out = np.sqrt(sq)
        odd = ~((sq > 2.0 ** -100) & (sq < 2.0 ** 100))
        if odd.any():
            Y = X[odd].astype(np.float64)
            big = np.abs(Y).max(axis=1, initial=0.0)
            Y /= np.where(big > 0, big, 1.0)[:, None]
            out[odd] = big * np.sqrt(np.einsum("ij,ij->i", Y, Y))
    return out * (1 + (d + 2) * float(np.finfo(X.dtype).eps)) * 1.01


class Stage:
    """The bf16 candidate stage of one search: the product hook of
    :func:`._scan.numpy_candidates` and the bound of its keys (see the module docstring)."""

    def __init__(self, torch, Q, C, corpus: _Corpus):
        self.torch, self.Q, self.C, self.corpus = torch, Q, C, corpus

    def tolerance(self, pos: np.ndarray, default: np.ndarray) -> np.ndarray:
        """Per query at ``pos``: the bound on a bf16 candidate key's error plus
        ``default`` (the engine's :func:`.engine.tolerance` at ``pos``); inf for a query
        the bf16 stage cannot score (its products would leave bf16's range)."""
        torch, c = self.torch, self.corpus
        q_low = np.empty(pos.size)
        q_res = np.empty(pos.size)
        for a in range(0, pos.size, _PIECE):
            rows = self.Q.take(pos[a:a + _PIECE])
            low = _tensor(torch, rows).to(torch.bfloat16)
            _, q_low[a:a + _PIECE], q_res[a:a + _PIECE] = _norms(rows, low)   # |q| unused
        d = self.C.d
        err = (q_res * c.max_norm + q_low * c.max_residual
               + ((d + 2) * _U32 + _U16) * q_low * c.max_low
               + _TINY * (np.sqrt(d) * (q_low + c.max_low) + 2 * d + 2))
        reach = q_low * c.max_low
        if self.C.metric == "euclidean":
            err, reach = 2.0 * err, 2.0 * reach    # the scan multiplies 2q (exact) by c
        with np.errstate(invalid="ignore"):
            out = 1.01 * err + default
        # subtle: products past bf16's range (2^128, float64 rows longer than ~1e19)
        # come back inf, whatever the bound says: such queries keep the float32 path
        return np.where(np.isfinite(out) & (reach < _REACH), out, np.inf)

    def judge(self, proven: int, tried: int) -> bool:
        """Whether the queries left after a probe should go through bf16 too: ``proven``
        of the first ``tried`` were. A failed probe of at least :data:`PROBE_LEAST`
        queries also keeps this corpus on the float32 path for later searches (a narrow
        cone fails for nearly every query: 1.39x the float32 path's time when all 1,000
        queries of a search tried bf16 first, 1.09x with a probe of 256)."""
        if proven >= PROVEN * tried:
            return True
        if tried >= PROBE_LEAST:
            self.corpus.failed = True
            stats["probe_failed"] += 1
        return False

    def prepare(self, Qb: np.ndarray):
        """A query block (prepared rows, doubled for euclidean) as a bf16 tensor."""
        return _tensor(self.torch, Qb).to(self.torch.bfloat16)

    def into(self, Qt, c0: int, c1: int, S: np.ndarray) -> None:
        """Scores of corpus rows ``c0:c1`` by the queries ``Qt`` into ``S`` (c1 − c0, m),
        converted from bf16 exactly (float32 or float64 ``S``)."""
        out = self.torch.mm(self.corpus.rows[c0:c1], Qt.T)
        self.torch.from_numpy(S).copy_(out)

    @contextmanager
    def threads(self):
        """torch on one thread per engine worker while a scan runs (the engine's workers
        are its parallelism, one per core, as for NumPy's BLAS). torch keeps a count per
        thread once the thread has run torch, and a default that threads take when they
        first run it; ``torch.set_num_threads`` sets the calling thread's and the default.
        Each scan sets its caller's count (the scan may run inline, on one worker) and the
        default (the workers are fresh threads) to 1, and gives its caller back the count
        from before the first of the scans running at once; the last to end restores the
        default too, while scans still run it stays 1 (set again from a thread of its
        own). A thread whose scan ended first once kept 1 for good (torch's own work
        there, a model encoding texts, then ran on one core), and a scan that began while
        another ran kept its caller's count."""
        with _threads_lock:
            if not _held:
                _held.append(self.torch.get_num_threads())
            self.torch.set_num_threads(1)
            _held.append(None)
        try:
            yield
        finally:
            with _threads_lock:
                _held.pop()
                self.torch.set_num_threads(_held[0])
                if len(_held) == 1:
                    _held.pop()
                else:                   # other scans run on: their workers' default
                    helper = threading.Thread(target=self.torch.set_num_threads, args=(1,))
                    helper.start()
                    helper.join()


def stage_for(Q, C, *, exclude_self: bool, backend: str, cand_rows) -> Stage | None:
    """The bf16 stage for this search, or None to keep the float32 path: not asked for
    (:func:`wanted`), another backend or a lower-precision ``cand_rows`` already, the kNN
    graph of a corpus (its own pass), a lazily normalised corpus, rows wider than
    :data:`CHECKED_D`, no native bf16, rows bf16 cannot hold (lengths past its range), a
    bf16 copy too large for the free memory, or a corpus whose probe failed before."""
    if backend != "numpy" or cand_rows is not None or (exclude_self and Q is C):
        return None
    if C.data is None or C.dtype not in (np.float32, np.float64) or Q.dtype != C.dtype:
        return None
    if C.d > CHECKED_D:                 # a width torch's rounding was not checked at
        return None
    if not wanted(2.0 * Q.n * C.n * C.d):
        return None
    torch = _torch()
    if torch is None:
        return None
    with _lock:
        corpus = _cache.get(C)
        if corpus is None:
            if 2.0 * C.n * C.d > MEMORY_SHARE * available_memory():
                return None
            corpus = _cache[C] = _Corpus(torch, C.data)
    if not corpus.finite or corpus.failed:
        return None
    return Stage(torch, Q, C, corpus)
