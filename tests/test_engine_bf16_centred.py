"""The bf16 stage's centred copy of a narrow cone (``_bf16_copy.Corpus``, ``shift_of``).

Reference: the engine's default float32/float64 path (``VECDIAG_BF16=0``, on fresh Rows),
itself checked against sklearn, faiss and stored outputs in
tests/test_engine_reference.py. Centring changes only which candidates refine re-scores
and the bound that proves them: results must come back bit for bit. The bound is checked
against the exact keys of the same rows (float64, or extended precision for float64
rows). The non-centred stage is tested in tests/test_engine_bf16.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from _bf16_switch import needs_bf16, switch_on

from vecdiag.neighbors import _bf16
from vecdiag.neighbors.engine import search, tolerance
from vecdiag.neighbors.rows import Rows

pytestmark = needs_bf16


@pytest.fixture
def bf16(monkeypatch):
    return switch_on(monkeypatch)


def _both(Q, X, metric, k, monkeypatch, **options):
    """(bf16 result, default result, bf16 path counts, centred?) of the same search."""
    C, Qr = Rows(X, metric, "corpus"), Rows(Q, metric, "queries")
    low = search(Qr, C, k, **options)
    counts = dict(_bf16.stats)
    centred = _bf16._cache[C]["bf16"].row_term is not None
    monkeypatch.setenv("VECDIAG_BF16", "0")
    ref = search(Rows(Q, metric, "queries"), Rows(X, metric, "corpus"), k, **options)
    monkeypatch.setenv("VECDIAG_BF16", "1")
    return low, ref, counts, centred


def _cone(n, d, spread, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (np.ones(d) + rng.normal(size=(n, d)) * spread).astype(dtype)


def test_float64_euclidean_cone_is_proven_in_bf16(bf16):
    """float64 rows sum their score blocks in float64, but the bound charged the row
    term and its addition float32's rounding (2^-24 |row term|, ‖c‖² = 16 here: 1e-6),
    wider than the gaps between the top keys of this cone (spread 1e-5): none of the 20
    queries was proven in bf16 (a probe of 32 or more would have turned the stage off
    for the corpus). With float64's rounding (2^-53) all 20 are, the same result bit
    for bit."""
    X, Q = _cone(500, 16, 1e-5, np.float64), _cone(20, 16, 1e-5, np.float64, seed=1)
    (idx, sc), (ref_idx, ref_sc), counts, centred = _both(Q, X, "euclidean", 5, bf16)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert centred
    assert counts == {"bf16": 20, "int8": 0, "fallback": 0, "probe_failed": 0}


def _exact_keys(Qb, C):
    """Exact keys (Fractions) of queries ``Qb`` (as the scan multiplies them) with every
    row of ``C``: ``q·c``, less ``‖c‖²`` (as stored) under euclidean."""
    from fractions import Fraction

    rows = [[Fraction(float(v)) for v in c] for c in C.data]
    sq = [Fraction(float(v)) for v in C.sq] if C.sq is not None else [0] * C.n
    return [[sum(Fraction(float(a)) * b for a, b in zip(q, c)) - t for c, t in zip(rows, sq)]
            for q in Qb]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_centred_keys_stay_inside_the_bound_in_either_dtype(bf16, metric, dtype):
    """Against exact rational keys of the same prepared rows: every centred key (q·s
    added back) is within the stage's part of the bound, for queries in the cone, at
    ``s`` itself, at ``s`` one part in 2^20 off and at ``−s``. The largest error reaches
    35% to 65% of it; at ``s`` one part in 2^20 off, where the rounding of the row
    term and of ``q·s`` weigh most, 12% to 43% (float64 dot and euclidean: 2.5% and
    under 0.01% while the bound charged float32's rounding to float64 blocks)."""
    from fractions import Fraction

    X = _cone(60, 8, 1e-3, dtype) * dtype(3)
    C = Rows(X, metric, "corpus")
    s = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
    shift = s.corpus.shift
    Q = np.vstack([X[:3], shift, shift * dtype(1 + 2.0 ** -20), -shift])
    Qr = Rows(Q, metric, "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    pos = np.arange(Qr.n)
    default = tolerance(Qr, C, pos, float(np.finfo(dtype).eps))
    own = stage.tolerance(pos, default) - default
    Qb = Qr.take(pos) * (2 if metric == "euclidean" else 1)
    S = np.empty((C.n, Qr.n), dtype)
    stage.into(stage.prepare(Qb), 0, C.n, S)
    key = stage.absolute(pos, S.T)
    exact = _exact_keys(Qb, C)
    err = np.array([[float(abs(Fraction(float(key[i, j])) - exact[i][j])) for j in range(C.n)]
                    for i in range(Qr.n)])
    ratio = err.max(axis=1) / own
    assert ratio.max() <= 1.0
    assert ratio.max() >= 0.3
    assert ratio[4] >= 0.1


@pytest.mark.parametrize("dtype, metric", [(np.float32, "dot"), (np.float32, "euclidean"),
                                           (np.float64, "dot")])
def test_the_row_term_and_q_s_roundings_are_needed_at_the_shift(bf16, dtype, metric):
    """A query at the shift itself: its centred copy is 0, so the bf16 product and all
    of its terms vanish, and the key is the row term plus ``q·s``. Their roundings are
    what is left: float32 rows, the row term stored in float32 and added there
    (``(2u + 2^-52) max|row term|``, u = 2^-24); float64 rows, ``q·s`` summed in float64
    (``(d + 4) 2^-53 |q| (|s| + max|c − s|)``). Over 40 seeds of this cone the error
    reached 7% to 46% of the bound, and without that term the bound would be below it:
    43x to 180x under float64 dot, 15,000x to 37,000x under float32 dot, 18 million x
    under float32 euclidean (whose row term holds ``−‖c‖²``)."""
    from fractions import Fraction

    from vecdiag.neighbors._bf16_copy import lengths

    X = _cone(60, 8, 1e-3, dtype, seed=4 if dtype == np.float32 else 34) * dtype(3)
    C = Rows(X, metric, "corpus")
    shift = _bf16.stage_for(C, C, exclude_self=False, backend="numpy",
                            cand_rows=None).corpus.shift
    Qr = Rows(shift[None, :], metric, "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    pos = np.arange(1)
    default = tolerance(Qr, C, pos, float(np.finfo(dtype).eps))
    own = float((stage.tolerance(pos, default) - default)[0])
    Qb = Qr.take(pos) * (2 if metric == "euclidean" else 1)
    S = np.empty((C.n, 1), dtype)
    stage.into(stage.prepare(Qb), 0, C.n, S)
    key = stage.absolute(pos, S.T)[0]
    exact = _exact_keys(Qb, C)[0]
    err = max(float(abs(Fraction(float(a)) - b)) for a, b in zip(key, exact))
    c = stage.corpus
    if dtype == np.float32:
        term = (2 * 2.0 ** -24 + 2.0 ** -52) * c.max_term
    else:
        term = (C.d + 4) * 2.0 ** -53 * float(lengths(Qr.take(pos))[0]) * (c.shift_norm
                                                                         + c.max_norm)
    assert 0.05 * own <= err <= own
    assert err > own - 1.01 * term


_CASES = ["q=-s", "q=0", "q=s", "rows=s", "half=s", "d=1", "d=2", "k=n", "known",
          "self", "float64 |s|=1e19", "read-only, strided", "unrepresentative sample"]


def _case(case, metric):
    """(queries, corpus, k, search options) of one centred case of the test below."""
    dtype = np.float64 if case == "float64 |s|=1e19" else np.float32
    d = {"d=1": 1, "d=2": 2, "unrepresentative sample": 4}.get(case, 12)
    n = 20_000 if case == "unrepresentative sample" else 150
    X = _cone(n, d, 0.02, dtype, seed=7)
    if case == "float64 |s|=1e19":
        X *= 1e19
    if case == "unrepresentative sample":         # the sample (every 2nd row) is the cone
        X[1::2] = np.random.default_rng(8).normal(size=(n // 2, d)) * 3
    s = X[::max(1, n // 8192)].mean(axis=0, dtype=np.float64).astype(dtype)
    if case == "rows=s":
        X[[3, 40, 41, 149]] = s
    if case == "half=s":
        X[::2] = s
    Q = np.vstack([X[:4], _cone(4, d, 0.02, dtype, seed=9)])
    if case == "float64 |s|=1e19":
        Q[4:] *= 1e19
    where = {"q=-s": -s, "q=0": np.zeros(d, dtype), "q=s": s, "rows=s": s}.get(case)
    if where is not None and not (metric == "cosine" and case == "q=0"):
        Q[0] = Q[5] = where
    k, options = (n if case == "k=n" else 5), {}
    if case == "known":                           # as vecdiag.scale.search passes it
        sample = X[::3]
        _, top = search(Rows(Q, metric, "q"), Rows(sample, metric, "sample"), k)
        options["known"] = top[:, -1].astype(np.float64)
    if case == "self":                            # query i is corpus row i, another Rows
        Q, options = X, {"exclude_self": True}
    if case == "read-only, strided":
        X, Q = np.asfortranarray(X), np.repeat(Q, 2, axis=1)[:, ::2]
        assert not (X.flags.c_contiguous or Q.flags.c_contiguous)
        X.setflags(write=False)
        Q.setflags(write=False)
    return Q, X, k, options


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("case", _CASES)
def test_centred_cases_give_the_default_top_k_bit_for_bit(bf16, case, metric):
    """Cones centred on their mean, with queries and rows where centring is at its
    edges: queries at ``−s``, 0 and ``s`` (a centred query exactly 0), rows equal to
    ``s`` (a centred row exactly 0) and half the corpus copies of it, cones in 1 and 2
    dimensions, every row asked for, a ``known`` floor (shifted by ``q·s`` for the
    centred keys), the kNN of a corpus through another Rows of the same array, float64
    rows of length 3.5e19 (bf16 holds the centred rows, not the rows), read-only and
    non-contiguous arrays, and a corpus whose strided sample (shift_of) is the cone and
    whose other rows are not. The same indices and scores as the float32 path, inputs
    untouched; 8 queries went through the stage (150 with ``self``)."""
    Q, X, k, options = _case(case, metric)
    before = (X.copy(), Q.copy())
    (idx, sc), (ref_idx, ref_sc), counts, centred = _both(Q, X, metric, k, bf16, **options)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(Q, before[1])
    assert centred
    assert counts["bf16"] + counts["fallback"] >= Q.shape[0]
