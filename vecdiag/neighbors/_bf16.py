"""A low-precision candidate stage for the exact engine (optional accelerator: torch).

On some CPUs torch multiplies low-precision matrices several times faster than NumPy's
BLAS multiplies float32: bf16 through oneDNN on an AMD EPYC (Zen 5) with AVX512_BF16 (a
score block of 4,096 corpus rows x 1,024 queries x 384: 7 ms against 30 ms on one
thread), int8 (``torch._int_mm``, VNNI) on an Intel Xeon with AVX512_BF16 and VNNI
(5.6 ms against 21-32 ms; bf16 took 40 ms there, slower than float32). The candidate
stage of :mod:`.engine` only needs keys within a known bound of the exact ones (refine
re-scores exactly, verify proves): this module gives those keys from a bf16 or int8
copy of the rows (the codecs of :mod:`._lowp`), and a per-query bound on their error
(:meth:`Stage.tolerance`) that is rigorous, so the results are the default path's, bit
for bit. The bound below is bf16's; int8's differs in the product's own rounding only
(:meth:`._lowp.Int8.error`: the integer sums are exact, then three roundings of the
block's dtype), and its copy's residuals are wider (up to half a scale per entry, so
its bound is about three times bf16's and its pass keeps twice the candidates).

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

Which searches use it (:func:`stage_for`) follows two environment variables, read as
``VECDIAG_NUMBA`` is (:func:`._fold.switch`): ``VECDIAG_INT8`` and ``VECDIAG_BF16``. ``1``
uses that product for every scan from :data:`MIN_FLOPS` (2e10 flops, about 0.1 s of
products; int8 first when both are 1), ``0`` never. Unset (or ``auto``), a scan from
:data:`MIN_FLOPS` may use a product when torch is already imported in the process (by
sentence-transformers, say: nothing left to load), and a scan from
:data:`LOAD_REPAID` (5e11 flops for bf16, 2e12 for int8) imports torch for it (unless the CPU's feature list names no
instruction for either product, :func:`cpu_may_help`): importing torch cost 0.7-1.4 s and
about 200 MB here, and in fresh processes (100,000 x 384, two threads, a busy host) 1,000
queries (7.7e10 flops) took 3.4 and 2.0 s with the import against 2.6 and 0.9 s without,
4,000 queries (3.1e11) 2.9 s against 5.0, and 16,000 queries 7.1 and 13.9 s against 11.9
and 21.6 (bf16, on the EPYC). Which product, if any, auto mode then uses is timed once
per process for each width and dtype (:mod:`._pick`: of the products this torch runs
exactly, the one whose search is expected fastest, if it beats float32 by 1.1x; for a
corpus without a copy yet, only if the scan saves more than the copy costs), since what
a CPU's feature list names does not say which is faster. Either way only after the products' self-checks
(:func:`._lowp.rounding_holds` for bf16, on a CPU with native bf16; :func:`._lowp.exact_at`
at the rows' width for int8), for rows of at most :data:`CHECKED_D` (8,192) dimensions,
and for a corpus whose copy (a half or a quarter of the float32 rows, made once per
prepared corpus and product and kept as long as it) fits in half the free memory
(:func:`vecdiag._memory.available_memory`). A corpus whose first search with a product
proved fewer than :data:`PROVEN` of its first :data:`PROBE` queries (at least
:data:`PROBE_LEAST` of them) keeps the float32 path for every later search.

What is not done: the bound is per query, with the output rounding taken at the largest
possible score (a key-dependent bound would be much tighter for dot and euclidean scores
far below ``|q||c|``); the kNN graph pass and lazily normalised (memmap) corpora keep the
float32 path (the graph pass already scores each pair once: 1.7-1.9x faiss); a scan in
low precision does not use the tuner's layouts; auto mode's model of a whole search
(:func:`._pick.per_query`) takes its costs after the product from one workload's
profile, not from the corpus at hand (the int8 stage's wider bound lets more entries
through the selection and re-scores more candidates, and how many depends on how
crowded the top scores are: on the Xeon its product ran 2.3-4x faster than float32's,
a whole search 1.07-1.18x). torch's thread count is set to 1 while scans run (see
:meth:`Stage.threads`).
"""

from __future__ import annotations

import sys
import threading
import weakref

import numpy as np

from .._memory import available_memory
from . import _pick
from ._bf16_copy import PIECE, Corpus, lengths, norms
from ._fold import switch
from ._lowp import CHECKED_D, CODECS, rounding_holds  # noqa: F401 (rounding_holds: tests)
from ._threads import blas_workers, one_thread

MIN_FLOPS = 2e10                      # smaller scans keep float32
LOAD_REPAID_FLOPS = 5e11              # auto: scans this large import torch for bf16
# ... and for int8, whose search gained 1.15x over float32 on the Xeon under OpenBLAS's
# SkylakeX kernels (2x under its Haswell ones): about 13 s of float32 products, where
# 15% repays the import (about a second)
LOAD_REPAID = {"bf16": LOAD_REPAID_FLOPS, "int8": 2e12}
MEMORY_SHARE = 0.5                    # the bf16 copy must fit in this share of free memory
PROBE = 256                           # queries of the first bf16 scan (engine._bf16_pass)
PROVEN = 0.9                          # ... of which at least this share must be proven
PROBE_LEAST = 32                      # a probe of fewer queries says nothing of the corpus
WIDEN = {"bf16": 2, "int8": 4}       # the pass keeps WIDEN x the float32 margin
VARIABLE = {"bf16": "VECDIAG_BF16", "int8": "VECDIAG_INT8"}
_FLAGS = {"bf16": {"avx512_bf16", "amx_bf16", "bf16"},
          "int8": {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}}

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # Rows -> {codec: Corpus}
_credit: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Rows -> {codec: seconds}
_lock = threading.Lock()
_torch_ok: list = []                  # [torch module or None], imported once
stats = {"bf16": 0, "int8": 0, "fallback": 0, "probe_failed": 0}   # queries by path


def mode(name: str = "bf16") -> str:
    """``VECDIAG_BF16`` (``name="int8"``: ``VECDIAG_INT8``) read: ``"on"``, ``"off"``
    or ``"auto"`` (:func:`._fold.switch`)."""
    return switch(VARIABLE[name])


def wanted(flops: float, loaded: bool | None = None, name: str = "bf16") -> bool:
    """Whether a scan of ``flops`` asks for the ``name`` product (see the module
    docstring); whether it runs also depends on torch, the CPU, a timing and the corpus
    (:func:`stage_for`). ``loaded``: whether torch is imported (default: in this
    process)."""
    setting = mode(name)
    if setting == "off" or flops < MIN_FLOPS:
        return False
    loaded = "torch" in sys.modules if loaded is None else loaded
    return setting == "on" or loaded or (flops >= LOAD_REPAID[name] and cpu_may_help(name))


_cpu_flags: list = []                 # [the CPU's feature words, or None where unknown]


def cpu_may_have_bf16() -> bool:
    """:func:`cpu_may_help` for bf16."""
    return cpu_may_help("bf16")


def cpu_may_help(name: str) -> bool:
    """False when the CPU's feature list (Linux's ``/proc/cpuinfo``) names no product
    instruction for ``name``: bf16 (x86 ``avx512_bf16``, ``amx_bf16``; Arm ``bf16``) or
    int8 (x86 ``avx512_vnni``, ``avx_vnni``, ``amx_int8``; Arm ``asimddp``, ``i8mm``), so
    that auto mode does not import torch (about a second) only to find the CPU cannot
    use it; True where the list is not readable (torch's own checks and the timing then
    decide)."""
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
    return words is None or bool(words & _FLAGS[name])


def _torch_module():
    """torch, or None when it does not import (tried once; torch is imported only here,
    never at ``import vecdiag``)."""
    if not _torch_ok:
        try:
            import torch
        except ImportError:
            torch = None
        _torch_ok.append(torch)
    return _torch_ok[0]


def _torch():
    """torch when it imports and the CPU multiplies bf16 natively with the rounding the
    bound rests on (:meth:`._lowp.BF16.usable`; emulated bf16 would be correct but slower
    than float32), else None."""
    torch = _torch_module()
    return torch if torch is not None and CODECS[-1].usable(torch, CHECKED_D) else None


def codec_for(torch, Q, C, k: int, kp: int) -> tuple:
    """(the products this search's stage may use, best first; their expected seconds
    or None). The first of int8 and bf16 switched on (``VECDIAG_INT8=1``,
    ``VECDIAG_BF16=1``) that this torch runs exactly at the rows' width; with neither on,
    those in auto mode that the scan's flops want and that are expected to beat float32
    for a search of ``Q`` over ``C`` with ``k`` neighbours and ``kp`` candidates a query
    on the float32 path (:func:`._pick.times`, :func:`._pick.ranked`)."""
    flops = 2.0 * Q.n * C.n * C.d
    forced = [c for c in CODECS if mode(c.name) == "on"]
    if forced:
        return [c for c in forced if wanted(flops, name=c.name)
                and c.usable(torch, C.d)][:1], None
    able = [c for c in CODECS if wanted(flops, name=c.name) and c.usable(torch, C.d)]
    if not able:
        return [], None
    expected = _pick.times(torch, able, C.d, C.dtype, n=C.n, k=k, kp=kp, widen=WIDEN,
                           workers=blas_workers()[0])
    return _pick.ranked(able, expected), expected


def _buys(C, queries: int, codec, expected: dict) -> bool:
    """Auto mode, ``C`` without ``codec``'s copy: whether to make it now. Each search of
    ``queries`` adds the wall seconds it is ``expected`` to save with the copy (on the
    worker threads it runs on) to the corpus's credit; the copy, made on one thread, is
    made once the credit covers its cost (rent, then buy: the searches of an Index soon
    repay it; ``vd.knn``'s fresh rows of each call, only when one call does)."""
    credit = _credit.setdefault(C, {})
    credit[codec.name] = credit.get(codec.name, 0.0) + (
        (expected["float"] - expected[codec.name]) * queries)
    return credit[codec.name] >= expected[codec.name + " copy"]


class Stage:
    """The candidate stage of one search: the product hook of
    :func:`._scan.numpy_candidates` and the bound of its keys (see the module docstring).
    ``codec`` (:mod:`._lowp`) is the corpus copy's: bf16 or int8."""

    def __init__(self, torch, Q, C, corpus: Corpus):
        self.torch, self.Q, self.C, self.corpus = torch, Q, C, corpus
        self.codec = corpus.codec
        self.widen = WIDEN[self.codec.name]
        self._qshift = corpus.shift * (2 if C.metric == "euclidean" else 1)   # exact

    def tolerance(self, pos: np.ndarray, default: np.ndarray) -> np.ndarray:
        """Per query at ``pos``: the bound on a candidate key's error plus ``default``
        (the engine's :func:`.engine.tolerance` at ``pos``); inf for a query the stage
        cannot score: its products would leave the range of bf16 or of the score block
        (:meth:`._lowp.Int8.reach`), it is not finite, or int8 cannot quantise it
        (:meth:`._lowp.Int8.fits`).

        The module docstring's bound (the product's own rounding from the codec:
        :meth:`._lowp.BF16.error`, :meth:`._lowp.Int8.error`), for the rows multiplied
        (centred by ``s``, see :class:`Corpus`: ``q − s`` for ``q``, ``c − s`` for
        ``c``; the query rounded as :meth:`prepare` rounds it, ``2q − 2s`` under
        euclidean, whose int8 scale is not always twice ``q``'s: where ``q``'s is held
        at its floor of 2^-126), and, when centred,
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
        fits = np.empty(pos.size, bool)
        twice = 2.0 if self.C.metric == "euclidean" else 1.0
        with one_thread(torch):
            for a in range(0, pos.size, PIECE):
                rows = self.Q.take(pos[a:a + PIECE])
                if c.centred:
                    q_full[a:a + PIECE] = lengths(rows)
                # subtle: the rows as prepare() rounds them, 2q − 2s under euclidean,
                # lengths halved back (exact): int8's scale of 2q need not be twice
                # q's (held at 2^-126), nor its rounding twice q's
                rows = rows + rows if twice == 2.0 else rows
                rows = rows - self._qshift if c.centred else rows
                fits[a:a + PIECE] = self.codec.fits(rows, c.scale)
                _, back = self.codec.low(torch, rows)
                q_norm[a:a + PIECE], q_low[a:a + PIECE], q_res[a:a + PIECE] = \
                    (x / twice for x in norms(rows, back))
        d = self.C.d
        err = (q_res * c.max_norm + q_low * c.max_residual
               + self.codec.error(d, self.C.dtype, q_low, c.max_low))
        reach = q_low * c.max_low
        err, reach = twice * err, twice * reach    # the scan multiplies 2q by c (euclidean)
        if c.centred:
            eps = float(np.finfo(self.C.dtype).eps)
            err = err + twice * (2 * eps * q_norm * c.max_norm
                                 + (d + 2) * 2.0 ** -53 * c.shift_norm * c.max_norm
                                 + (d + 4) * 2.0 ** -53 * q_full * (c.shift_norm + c.max_norm))
            unit = eps / 2             # the block's dtype: float64 rows sum in float64
            err = err + (2 * unit + 2.0 ** -52) * c.max_term + unit * reach
        with np.errstate(invalid="ignore"):
            out = 1.01 * err + default
        # subtle: products past bf16's range (2^128, float64 rows longer than ~1e19)
        # come back inf, whatever the bound says: such queries keep the float32 path
        return np.where(np.isfinite(out) & (reach < self.codec.reach(self.C.dtype)) & fits,
                        out, np.inf)

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
        copy is (``2s`` off a doubled block), rounded by the codec."""
        if self.corpus.centred:
            Qb = Qb - self._qshift
        return self.codec.query(self.torch, Qb, self.corpus.scale)

    def into(self, Qt, c0: int, c1: int, S: np.ndarray) -> None:
        """Keys of corpus rows ``c0:c1`` by the queries ``Qt`` into ``S`` (c1 − c0, m):
        the codec's products (float32 or float64 ``S``), plus the rows' terms when
        centred (less ``q·s``, which :meth:`absolute` adds back), less ``‖c‖²`` under
        euclidean (in the row terms when centred)."""
        self.codec.into(self.torch, self.corpus.rows, c0, c1, Qt, S)
        if self.corpus.centred:
            S += self.corpus.row_term[c0:c1, None]
        elif self.C.sq is not None:
            S -= self.C.sq[c0:c1, None]

    def threads(self):
        """torch on one thread per engine worker while a scan runs (the engine's workers
        are its parallelism, one per core, as for NumPy's BLAS): :func:`one_thread`."""
        return one_thread(self.torch)


def stage_for(Q, C, *, exclude_self: bool, backend: str, cand_rows, k: int = 10,
              kp: int = 28) -> Stage | None:
    """The candidate stage for this search of ``k`` neighbours (``kp`` candidates a
    query on the float32 path: :func:`.engine.search` passes its own), or None to keep the
    float32 path: not asked for (:func:`wanted`), another backend or a lower-precision
    ``cand_rows`` already, the kNN graph of a corpus (its own pass), a lazily normalised
    corpus, rows wider than :data:`CHECKED_D`, no torch or no product that runs exactly
    and is expected to beat float32 here (:func:`codec_for`), in auto mode a copy not
    yet repaid by the corpus's searches (:func:`_buys`), rows the copy cannot hold (not
    finite), a copy too large for the free memory, or a corpus whose probe failed
    before."""
    if backend != "numpy" or cand_rows is not None or (exclude_self and Q is C):
        return None
    if C.data is None or C.dtype not in (np.float32, np.float64) or Q.dtype != C.dtype:
        return None
    flops = 2.0 * Q.n * C.n * C.d
    if C.d > CHECKED_D or not any(wanted(flops, name=c.name) for c in CODECS):
        return None
    torch = _torch_module()
    if torch is None:
        return None
    with one_thread(torch):
        ranked, expected = codec_for(torch, Q, C, k, kp)
    if not ranked:
        return None
    with _lock:
        copies = _cache.get(C, {})
        codec, corpus = ranked[0], copies.get(ranked[0].name)
        if corpus is None:
            if codec.itemsize * C.n * C.d > MEMORY_SHARE * available_memory():
                return None
            with one_thread(torch):
                if mode(codec.name) == "on" or _buys(C, Q.n, codec, expected):
                    corpus = Corpus(torch, C.data, C.metric, C.sq, codec)
                    _cache.setdefault(C, {})[codec.name] = corpus
        if corpus is None:         # not yet: another product's copy, if one beats float32
            corpus = next((copies[c.name] for c in ranked[1:] if c.name in copies), None)
            if corpus is None:
                return None
    if not corpus.finite or corpus.failed:
        return None
    return Stage(torch, Q, C, corpus)
