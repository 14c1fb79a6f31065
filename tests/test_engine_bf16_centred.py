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

from vecdiag.neighbors import _bf16
from vecdiag.neighbors.engine import search, tolerance
from vecdiag.neighbors.rows import Rows

pytestmark = pytest.mark.skipif(_bf16._torch() is None,
                                reason="torch with native bf16 products not available")


@pytest.fixture
def bf16(monkeypatch):
    """The bf16 stage on for any scan size; its path counts reset."""
    monkeypatch.setenv("VECDIAG_BF16", "1")
    monkeypatch.setattr(_bf16, "MIN_FLOPS", 0)
    monkeypatch.setattr(_bf16, "stats", {"bf16": 0, "fallback": 0, "probe_failed": 0})
    return monkeypatch


def _both(Q, X, metric, k, monkeypatch, **options):
    """(bf16 result, default result, bf16 path counts, centred?) of the same search."""
    C, Qr = Rows(X, metric, "corpus"), Rows(Q, metric, "queries")
    low = search(Qr, C, k, **options)
    counts = dict(_bf16.stats)
    centred = _bf16._cache[C].row_term is not None
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
    assert counts == {"bf16": 20, "fallback": 0, "probe_failed": 0}


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
