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

Measured (100,000 x 384 float32, 1,000 queries, k = 10, cosine; one thread, CPU
seconds, busy host): clustered rows (benchmarks/bench_knn_cpu.py) 2.41x faiss
IndexFlatIP under OpenBLAS's Haswell kernels and 1.28x under its SkylakeX ones, against
0.99x and 0.96x for the float32 path; a narrow cone (cosines near 0.9, mean plus noise)
2.09x, against 0.92x; every query proven in bf16. In a cone the copy is centred on the
mean (:class:`._bf16_copy.Corpus`), so the bound follows the small centred rows: raw,
the cone's bound was wider than the gaps between its top scores and most queries went
back to float32 (fresh cones of 20-300 rows: 99.5% proven centred, 1,500 cases equal to
the float32 path bit for bit).

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
from ._bf16_copy import PIECE, Corpus, lengths, norms, tensor
from ._fold import switch

MIN_FLOPS = 2e10                      # smaller scans keep float32
LOAD_REPAID_FLOPS = 5e11              # auto: scans this large import torch for the stage
MEMORY_SHARE = 0.5                    # the bf16 copy must fit in this share of free memory
PROBE = 256                           # queries of the first bf16 scan (engine._bf16_pass)
PROVEN = 0.9                          # ... of which at least this share must be proven
PROBE_LEAST = 32                      # a probe of fewer queries says nothing of the corpus
WIDEN = 2                             # the bf16 pass keeps WIDEN x the float32 margin
_U32 = 2.0 ** -24                     # float32 unit roundoff (accumulation)
_U16 = 2.0 ** -8                      # bf16 unit roundoff (output, round to nearest even)
_TINY = 2.0 ** -126                   # float32 (and bf16) smallest normal number
_REACH = 2.0 ** 126                   # largest |q~||c~| whose products bf16 holds (4x spare)
CHECKED_D = 8_192                     # widest rows rounding_holds multiplies: wider keep float32

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # Rows -> Corpus
_lock = threading.Lock()
_threads_lock = threading.Lock()
_held: list = []                      # [torch's thread count before, one None per scan]
_torch_ok: list = []                  # [torch module or None], decided once
stats = {"bf16": 0, "fallback": 0, "probe_failed": 0}   # queries by path (benchmarks)


def mode() -> str:
    """``VECDIAG_BF16`` read: ``"on"``, ``"off"`` or ``"auto"`` (:func:`._fold.switch`)."""
    return switch("VECDIAG_BF16")


def wanted(flops: float, loaded: bool | None = None) -> bool:
    """Whether a scan of ``flops`` asks for the stage (see the module docstring); whether
    it runs also depends on torch, the CPU and the corpus (:func:`stage_for`).
    ``loaded``: whether torch is imported (default: in this process)."""
    setting = mode()
    if setting == "off" or flops < MIN_FLOPS:
        return False
    loaded = "torch" in sys.modules if loaded is None else loaded
    return setting == "on" or loaded or (flops >= LOAD_REPAID_FLOPS and cpu_may_have_bf16())


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


class Stage:
    """The bf16 candidate stage of one search: the product hook of
    :func:`._scan.numpy_candidates` and the bound of its keys (see the module docstring)."""

    def __init__(self, torch, Q, C, corpus: Corpus):
        self.torch, self.Q, self.C, self.corpus = torch, Q, C, corpus
        self._qshift = corpus.shift * (2 if C.metric == "euclidean" else 1)   # exact

    def tolerance(self, pos: np.ndarray, default: np.ndarray) -> np.ndarray:
        """Per query at ``pos``: the bound on a bf16 candidate key's error plus
        ``default`` (the engine's :func:`.engine.tolerance` at ``pos``); inf for a query
        the bf16 stage cannot score (its products would leave bf16's range).

        The module docstring's bound, for the rows multiplied (centred by ``s``, see
        :class:`Corpus`: ``q − s`` for ``q``, ``c − s`` for ``c``), and, when centred,
        the other roundings: ``2 eps |q − s| max|c − s|`` (the two differences, each
        rounded once in the rows' dtype, ``eps`` its machine epsilon), ``u (max|row
        term| + |q~||c~|)`` and another ``(u + 2^-52) max|row term|`` (the row term,
        less ``‖c‖²`` in float64 under euclidean, stored in the rows' dtype and added
        to the block in it; ``u = eps / 2``: 2^-24 for float32 rows, 2^-53 for float64,
        whose blocks are float64), ``(d + 2) 2^-53 |s| max|c − s|`` (its float64 sum) and
        ``(d + 4) 2^-53 |q| (|s| + max|c − s|)`` (``q·s`` summed and added in float64).
        """
        torch, c = self.torch, self.corpus
        q_norm, q_low, q_res, q_full = (np.empty(pos.size) for _ in range(4))
        with one_thread(torch):
            for a in range(0, pos.size, PIECE):
                rows = self.Q.take(pos[a:a + PIECE])
                if c.centred:
                    q_full[a:a + PIECE] = lengths(rows)
                    rows = rows - c.shift
                low = tensor(torch, rows).to(torch.bfloat16)
                q_norm[a:a + PIECE], q_low[a:a + PIECE], q_res[a:a + PIECE] = \
                    norms(rows, low)
        d = self.C.d
        err = (q_res * c.max_norm + q_low * c.max_residual
               + ((d + 2) * _U32 + _U16) * q_low * c.max_low
               + _TINY * (np.sqrt(d) * (q_low + c.max_low) + 2 * d + 2))
        reach = q_low * c.max_low
        if self.C.metric == "euclidean":
            err, reach = 2.0 * err, 2.0 * reach    # the scan multiplies 2q (exact) by c
        if c.centred:
            eps = float(np.finfo(self.C.dtype).eps)
            twice = 2.0 if self.C.metric == "euclidean" else 1.0
            err = err + twice * (2 * eps * q_norm * c.max_norm
                                 + (d + 2) * 2.0 ** -53 * c.shift_norm * c.max_norm
                                 + (d + 4) * 2.0 ** -53 * q_full * (c.shift_norm + c.max_norm))
            unit = eps / 2             # the block's dtype: float64 rows sum in float64
            err = err + (2 * unit + 2.0 ** -52) * c.max_term + unit * reach
        with np.errstate(invalid="ignore"):
            out = 1.01 * err + default
        # subtle: products past bf16's range (2^128, float64 rows longer than ~1e19)
        # come back inf, whatever the bound says: such queries keep the float32 path
        return np.where(np.isfinite(out) & (reach < _REACH), out, np.inf)

    def offsets(self, pos: np.ndarray) -> np.ndarray:
        """``q·s`` (float64) of the queries at ``pos`` as the scan multiplies them
        (``2q`` under euclidean): what the centred keys lack (0 when not centred)."""
        if not self.corpus.centred:
            return np.zeros(pos.size)
        return self.Q.take(pos).astype(np.float64) @ self._qshift.astype(np.float64)

    def absolute(self, pos: np.ndarray, key: np.ndarray, off=None) -> np.ndarray:
        """The scan's keys of the queries at ``pos`` (m, kp) as keys of the rows
        themselves: ``q·s`` (``off``, else :meth:`offsets`) added in float64 when
        centred; the −inf of empty slots stays."""
        if not self.corpus.centred:
            return key
        off = self.offsets(pos) if off is None else off
        return key.astype(np.float64) + off[:, None]

    def centred_floor(self, pos: np.ndarray, floor: np.ndarray, off=None) -> np.ndarray:
        """A floor of the rows' keys (:func:`.engine.known_floor`) as a floor of the keys
        the scan compares, rounded down to ``floor``'s dtype (a lower floor only keeps
        more rows); ``off`` as for :meth:`absolute`."""
        if not self.corpus.centred:
            return floor
        off = self.offsets(pos) if off is None else off
        exact = floor.astype(np.float64) - off
        out = exact.astype(floor.dtype)
        return np.where(out > exact, np.nextafter(out, -np.inf), out)

    def judge(self, proven: int, tried: int) -> bool:
        """Whether the queries left after a probe should go through bf16 too: ``proven``
        of the first ``tried`` were. A failed probe of at least :data:`PROBE_LEAST`
        queries also keeps this corpus on the float32 path for later searches (a narrow
        cone copied raw failed for nearly every query: 1.39x the float32 path's time when
        all 1,000 queries of a search tried bf16 first, 1.09x with a probe of 256)."""
        if proven >= PROVEN * tried:
            return True
        if tried >= PROBE_LEAST:
            self.corpus.failed = True
            stats["probe_failed"] += 1
        return False

    def prepare(self, Qb: np.ndarray):
        """A query block (prepared rows, doubled for euclidean), centred as the corpus
        copy is (``2s`` off a doubled block), as a bf16 tensor."""
        if self.corpus.centred:
            Qb = Qb - self._qshift
        return tensor(self.torch, Qb).to(self.torch.bfloat16)

    def into(self, Qt, c0: int, c1: int, S: np.ndarray) -> None:
        """Keys of corpus rows ``c0:c1`` by the queries ``Qt`` into ``S`` (c1 − c0, m):
        the bf16 products converted exactly (float32 or float64 ``S``), plus the rows'
        terms when centred (less ``q·s``, which :meth:`absolute` adds back), less
        ``‖c‖²`` under euclidean (in the row terms when centred)."""
        out = self.torch.mm(self.corpus.rows[c0:c1], Qt.T)
        self.torch.from_numpy(S).copy_(out)
        if self.corpus.centred:
            S += self.corpus.row_term[c0:c1, None]
        elif self.C.sq is not None:
            S -= self.C.sq[c0:c1, None]

    def threads(self):
        """torch on one thread per engine worker while a scan runs (the engine's workers
        are its parallelism, one per core, as for NumPy's BLAS): :func:`one_thread`."""
        return one_thread(self.torch)


@contextmanager
def one_thread(torch):
    """torch on one thread inside the ``with`` block: the engine's workers are its
    parallelism, and torch's own threads cost more than they give on the stage's
    conversions (1,000 x 384 rows to bf16: 0.03 ms on one thread, 0.28 ms on two; the
    bf16 copy of 100,000 x 384 rows: 0.19-0.25 s against 0.39-0.78 s).

    torch keeps a count per thread once the thread has run torch, and a default that
    threads take when they first run it; ``torch.set_num_threads`` sets the calling
    thread's and the default. Each block sets its caller's count (a scan may run inline,
    on one worker) and the default (a scan's workers are fresh threads) to 1, and gives
    its caller back the count from before the first of the blocks running at once; the
    last to end restores the default too, while blocks still run it stays 1 (set again
    from a thread of its own). A thread whose scan ended first once kept 1 for good
    (torch's own work there, a model encoding texts, then ran on one core), and a scan
    that began while another ran kept its caller's count."""
    with _threads_lock:
        if not _held:
            _held.append(torch.get_num_threads())
        torch.set_num_threads(1)
        _held.append(None)
    try:
        yield
    finally:
        with _threads_lock:
            _held.pop()
            torch.set_num_threads(_held[0])
            if len(_held) == 1:
                _held.pop()
            else:                   # other blocks run on: their workers' default
                helper = threading.Thread(target=torch.set_num_threads, args=(1,))
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
            with one_thread(torch):
                corpus = _cache[C] = Corpus(torch, C.data, C.metric, C.sq)
    if not corpus.finite or corpus.failed:
        return None
    return Stage(torch, Q, C, corpus)
