"""The int8 candidate stage (``VECDIAG_INT8``, vecdiag/neighbors/_lowp.py) and auto mode's
choice of a product (vecdiag/neighbors/_pick.py).

Reference: the engine's float32/float64 path (both stages off), itself checked against
sklearn, faiss and stored outputs in tests/test_engine_reference.py. The int8 stage only
changes which candidates refine re-scores; its bound is rigorous, so the top k and its
scores come back bit for bit on every input. The bound is checked against the exact
(float64) keys of the same rows, the quantisation against its definition, and the
product check against a torch whose int8 product is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _bf16_switch import key_errors, needs_int8, planted, raw_cone, switch_on

from vecdiag.neighbors import _bf16, _lowp, _pick
from vecdiag.neighbors.engine import search
from vecdiag.neighbors.rows import Rows

pytestmark = needs_int8


@pytest.fixture
def int8(monkeypatch):
    return switch_on(monkeypatch, "int8")


def _both(Q, X, metric, k, monkeypatch, **options):
    """(int8 result, float result, path counts) of the same search, on fresh Rows."""
    low = search(Rows(Q, metric, "queries"), Rows(X, metric, "corpus"), k, **options)
    counts = dict(_bf16.stats)
    monkeypatch.setenv("VECDIAG_INT8", "0")
    ref = search(Rows(Q, metric, "queries"), Rows(X, metric, "corpus"), k, **options)
    monkeypatch.setenv("VECDIAG_INT8", "1")
    return low, ref, counts


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["random", "ties", "copies", "near", "rogue", "mixed", "cone",
                             "tiny", "huge", "subnormal", "cone_huge"]),
       seed=st.integers(0, 10_000), n=st.integers(20, 300), d=st.integers(2, 40),
       k=st.integers(1, 12), metric=st.sampled_from(["cosine", "dot", "euclidean"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_int8_candidates_give_the_float_top_k_bit_for_bit(kind, seed, n, d, k, metric, dtype):
    Q, X = planted(kind, seed, n, d, dtype)
    before = X.copy()
    with pytest.MonkeyPatch.context() as mp:
        (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, metric, min(k, n),
                                                     switch_on(mp, "int8"))
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    np.testing.assert_array_equal(X, before)                 # never written to
    assert counts["bf16"] == 0
    assert counts["int8"] + counts["fallback"] >= Q.shape[0]


def test_most_queries_of_clustered_rows_are_proven_in_int8(int8):
    """Unit rows in 40 clusters, 300 queries: at least 90% proven in int8 (the rest go to
    float32), the results the float path's."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(40, 64))
    X = (centres[rng.integers(0, 40, 4000)] + rng.normal(size=(4000, 64))).astype(np.float32)
    Q = (centres[rng.integers(0, 40, 300)] + rng.normal(size=(300, 64))).astype(np.float32)
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "cosine", 10, int8)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts["int8"] >= 0.9 * 300 and counts["probe_failed"] == 0


def _key_errors(X, Q, metric):
    """:func:`key_errors` of the int8 stage: (ratios, stage)."""
    ratio, stage = key_errors(X, Q, metric)
    assert stage.codec.name == "int8"
    return ratio, stage


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("scale", [1e-15, 1.0, 1e15])
@pytest.mark.parametrize("shape", ["plain", "cone", "rogue"])
def test_int8_key_errors_stay_inside_the_bound(int8, metric, scale, shape):
    """Every int8 key within the stage's part of the bound, reaching 1% of it or more on
    these rows (a bound 100x too loose fails). The cone is centred (the identity's row
    and query terms then count too); a rogue dimension sets the corpus's one scale."""
    rng = np.random.default_rng(3)
    X, Q = rng.normal(size=(500, 96)), rng.normal(size=(20, 96))
    if shape == "cone":
        X, Q = 3 + 0.05 * X, 3 + 0.05 * Q
    elif shape == "rogue":
        X[:, 5] *= 40
    ratio, stage = _key_errors((X * scale).astype(np.float32), (Q * scale).astype(np.float32),
                               metric)
    assert stage.corpus.centred is (shape == "cone")
    assert ratio.max() <= 1.0
    assert ratio.max() >= 0.01


def test_float64_rows_are_scored_in_float64_inside_the_bound(int8):
    """float64 rows: float64 score blocks (u = 2^-53), and keys far past bf16's range
    (|q||c| ~ 1e200) still scored in int8, whose integer sums are exact at any scale."""
    rng = np.random.default_rng(4)
    X, Q = rng.normal(size=(300, 50)) * 1e100, rng.normal(size=(10, 50)) * 1e100
    ratio, stage = _key_errors(X, Q, "dot")
    assert stage.corpus.rows.dtype.itemsize == 1
    assert np.isfinite(ratio).all() and 0.01 <= ratio.max() <= 1.0


def test_quantisation_follows_its_definition():
    """Integers within ±127, the scale ``max|c_j| / 127`` (at least 2^-126) of at most 17
    (float32) or 24 (float64) significant bits, ``a r`` within half a scale of each entry
    (rint), and both ``a r`` and ``c − a r`` exact in the rows' dtype: the residual the
    bound uses is the true one."""
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(50, 33)) * np.exp2(rng.integers(-140, 140, (50, 1)))
    rows[0] = 0.0
    for dtype, bits in ((np.float64, 24), (np.float32, 17)):
        with np.errstate(over="ignore"):
            R = rows.astype(dtype)                                  # float32: some overflow
        ints, scale = _lowp.quantize(R)
        top = np.abs(R.astype(np.float64)).max(axis=1)
        finite = np.isfinite(top)
        assert np.abs(ints[finite]).max() <= 127
        expected = np.maximum(top / 127, 2.0 ** -126)
        np.testing.assert_allclose(scale[finite], expected[finite], rtol=2.0 ** -bits)
        assert np.isnan(scale[~finite]).all()
        mant, _ = np.frexp(scale[finite].astype(np.float64))
        assert (mant * 2.0 ** bits == np.round(mant * 2.0 ** bits)).all()
        _, back = _lowp.Int8().low(_Torch, R[finite])
        exact = ints[finite].astype(np.float64) * scale[finite].astype(np.float64)[:, None]
        np.testing.assert_array_equal(back.astype(np.float64), exact)   # a r exact
        with np.errstate(under="ignore"):
            diff = R[finite] - back                                   # in the rows' dtype
        np.testing.assert_array_equal(diff.astype(np.float64),
                                      R[finite].astype(np.float64) - exact)
        err = np.abs(R[finite].astype(np.float64) - exact)
        assert (err <= 0.5 * scale[finite].astype(np.float64)[:, None] * (1 + 2.0 ** -20)).all()


class _Torch:                         # Int8.low only wraps its integers in a tensor
    from_numpy = staticmethod(lambda a: a)


def test_the_int8_product_is_checked_at_the_rows_width(monkeypatch):
    """torch 2.13's ``_int_mm`` returned garbage at d = 1 here: the stage checks the exact
    integer products at each width before it runs there, and a product that is wrong
    at some width (saturating, or summing in 16 bits) keeps that width on float32."""
    import torch

    assert not _lowp.exact_at(torch, 1) or np.array_equal(       # wrong at d = 1, or right
        torch._int_mm(torch.tensor([[3], [-5]], dtype=torch.int8),
                      torch.tensor([[7, 2]], dtype=torch.int8)).numpy(), [[21, 6], [-35, -10]])
    assert _lowp.exact_at(torch, 384)

    class Saturating:               # a product that clips its sums to int16
        int32 = torch.int32
        from_numpy, empty = staticmethod(torch.from_numpy), staticmethod(torch.empty)

        @staticmethod
        def _int_mm(a, b, out=None):
            return torch._int_mm(a, b, out=out).clamp_(-2 ** 15, 2 ** 15 - 1)

    class BigBlocksWrong(Saturating):   # right on small shapes, wrong on a score block
        @staticmethod
        def _int_mm(a, b, out=None):
            got = torch._int_mm(a, b, out=out)
            return got + 1 if a.shape[0] > 96 else got

    assert not _lowp.exact_at(Saturating, 384)
    assert not _lowp.exact_at(BigBlocksWrong, 384)
    monkeypatch.setattr(_lowp, "_checked_int8", {})
    monkeypatch.setattr(_lowp, "exact_at", lambda torch, d: d != 12)
    assert _lowp.Int8().usable(torch, 13) and not _lowp.Int8().usable(torch, 12)
    switch_on(monkeypatch, "int8")
    X = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    C = Rows(X, "dot", "corpus")
    assert _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None) is None


def test_queries_whose_scale_could_flush_keep_float(int8):
    """A query whose scale times the corpus's falls below 2^-126 would see its keys
    flushed to zero: it keeps the float path (its bound is inf); the others do not."""
    rng = np.random.default_rng(6)
    X = (rng.normal(size=(200, 16)) * 1e-30).astype(np.float32)
    Q = rng.normal(size=(3, 16)).astype(np.float32)
    Q[1] *= 1e-20
    C, Qr = Rows(X, "dot", "corpus"), Rows(Q, "dot", "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    tol = stage.tolerance(np.arange(3), np.zeros(3))
    assert np.isfinite(tol[[0, 2]]).all() and np.isinf(tol[1])
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "dot", 5, int8)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts["fallback"] >= 1


def test_a_query_whose_scale_is_floored_is_bounded_as_the_scan_doubles_it(int8):
    """Under euclidean the scan quantises 2q: where q's scale is held at its floor of
    2^-126, 2q's is not twice q's, and a bound taken from q and doubled missed 2q's
    rounding (keys erred up to 560x the stage's own bound, fuzzing). The bound is taken
    from 2q itself (checked against exact keys in tests/test_engine_int8_fuzz.py): the
    stage scores such a query, and the results are the float path's."""
    rng = np.random.default_rng(10)
    X = rng.normal(size=(100, 8)) * 1e30
    Q = np.zeros((3, 8))
    Q[0] = rng.normal(size=8) * 1e-37           # floored: 1e-37 / 127 < 2^-126
    Q[1] = rng.normal(size=8)
    C, Qr = Rows(X, "euclidean", "corpus"), Rows(Q, "euclidean", "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    assert np.isfinite(stage.tolerance(np.arange(3), np.zeros(3))).all()
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "euclidean", 4, int8)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)


def test_a_corpus_that_is_not_finite_keeps_float(int8):
    X = np.random.default_rng(7).normal(size=(50, 8)).astype(np.float32)
    C = Rows(X, "dot", "corpus")
    C.data[3, 2] = np.inf             # past validation (Rows' own copy): the copy refuses
    assert _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None) is None


def test_the_int8_copy_is_a_quarter_of_float32_and_fits_the_free_memory(int8):
    X = np.random.default_rng(8).normal(size=(400, 32)).astype(np.float32)
    C = Rows(X, "dot", "corpus")
    copy_bytes = X.shape[0] * X.shape[1]                     # one byte per entry
    int8.setattr(_bf16, "available_memory", lambda: int(copy_bytes / _bf16.MEMORY_SHARE) - 1)
    assert _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None) is None
    int8.setattr(_bf16, "available_memory", lambda: int(copy_bytes / _bf16.MEMORY_SHARE))
    stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
    assert stage.corpus.rows.numel() * stage.corpus.rows.element_size() == copy_bytes


def test_a_failed_int8_probe_keeps_the_corpus_on_float(int8):
    """A raw (not centred) narrow cone: the int8 bound is far wider than the gaps between
    its top scores, the probe fails, and later searches of the corpus skip the stage."""
    Q, X = raw_cone(int8, 9)
    C = Rows(X, "cosine", "corpus")
    got = search(Rows(Q, "cosine", "queries"), C, 10)
    assert _bf16.stats["probe_failed"] == 1 and _bf16._cache[C]["int8"].failed
    assert _bf16.stage_for(Rows(Q, "cosine", "queries"), C, exclude_self=False,
                           backend="numpy", cand_rows=None) is None
    int8.setenv("VECDIAG_INT8", "0")
    ref = search(Rows(Q, "cosine", "queries"), Rows(X, "cosine", "corpus"), 10)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def _fake_timings(monkeypatch, seconds, entries=500_000):
    """``_pick.measure`` replaced: ``seconds`` per timed product of ``entries`` entries
    (and per row of each copy), whatever the codecs; the calls recorded. The caches of
    timings are fresh for the test."""
    calls = []

    def fake(torch_, codecs, d, dtype):
        calls.append((d, tuple(c.name for c in codecs)))
        _pick._entries[d] = entries
        return dict(seconds)

    monkeypatch.setattr(_pick, "timings", {})
    monkeypatch.setattr(_pick, "_entries", {})
    monkeypatch.setattr(_pick, "measure", fake)
    monkeypatch.delenv("VECDIAG_BF16", raising=False)
    monkeypatch.delenv("VECDIAG_INT8", raising=False)
    monkeypatch.setattr(_bf16, "MIN_FLOPS", 0)
    monkeypatch.setattr(_lowp.BF16, "usable", lambda self, torch, d: True)
    monkeypatch.setattr(_bf16, "blas_workers", lambda: (1, None))
    return calls


def _ranked(Q, C, k):
    """The names of the products auto mode would use for this search, best first (kp as
    the engine computes it)."""
    import torch

    return [c.name for c in _bf16.codec_for(torch, Q, C, k, min(C.n, 2 * k + 8))[0]]


def _expect(seconds, name, n, refined, d, entries=500_000, workers=1):
    """A query's expected seconds by _pick's model, written out."""
    return (n * (seconds[name] / entries / workers + _pick.SCAN[name])
            + _pick.REFINE * refined * d)


def test_auto_mode_keeps_the_product_whose_search_is_fastest_when_it_beats_float(monkeypatch):
    """Auto mode (neither variable set) times the products once per width and dtype,
    and for each search keeps the product whose search its model expects fastest, if
    that beats float32 by SPEEDUP; a forced product skips the timing."""

    seconds = {"float": 3.4e-3, "int8": 0.5e-3, "bf16": 0.9e-3,
               "int8 copy": 0.0, "bf16 copy": 0.0}
    calls = _fake_timings(monkeypatch, seconds)
    X = np.random.default_rng(12).normal(size=(20_000, 64)).astype(np.float32)
    C, Q = Rows(X, "dot", "corpus"), Rows(X[:2_000], "dot", "queries")
    want = {name: _expect(seconds, name, C.n, refined, 64) for name, refined in
            (("float", 10), ("int8", 4 * 28), ("bf16", 2 * 28))}
    best = min(("int8", "bf16"), key=want.get)
    assert _pick.SPEEDUP * want[best] <= want["float"]                  # the premise
    assert _ranked(Q, C, 10)[0] == best
    assert _ranked(Q, C, 10)[0] == best             # timed once
    assert calls == [(64, ("int8", "bf16"))]
    monkeypatch.setenv("VECDIAG_INT8", "1")                              # forced: no timing
    assert _ranked(Q, C, 10) == ["int8"]
    monkeypatch.setenv("VECDIAG_INT8", "0")                              # int8 off: bf16 alone
    assert _ranked(Q, C, 10) == ["bf16"]
    assert calls[-1] == (64, ("bf16",))
    monkeypatch.delenv("VECDIAG_INT8")
    seconds.update(int8=3.3e-3, bf16=3.2e-3)                             # under SPEEDUP
    _fake_timings(monkeypatch, seconds)
    assert _ranked(Q, C, 10) == []


def test_what_follows_the_product_can_decide_the_choice(monkeypatch):
    """int8's product faster than bf16's, but its wider bound costs more after it (the
    selection per entry, refine per candidate): bf16's search is expected faster, and
    the model chooses it."""

    seconds = {"float": 3.4e-3, "int8": 0.45e-3, "bf16": 0.87e-3,
               "int8 copy": 0.0, "bf16 copy": 0.0}
    _fake_timings(monkeypatch, seconds)
    X = np.random.default_rng(13).normal(size=(50_000, 96)).astype(np.float32)
    C, Q = Rows(X, "dot", "corpus"), Rows(X[:1_000], "dot", "queries")
    int8 = _expect(seconds, "int8", C.n, 4 * 28, 96)
    bf16 = _expect(seconds, "bf16", C.n, 2 * 28, 96)
    assert seconds["int8"] < seconds["bf16"] and bf16 < int8               # the premise
    assert _ranked(Q, C, 10) == ["bf16", "int8"]


def test_what_follows_the_product_runs_as_if_on_one_thread(monkeypatch):
    """The products run in parallel on the workers, what follows them (much of it
    holding the GIL) is counted as if it did not: a product that wins on one thread can
    lose on two (the Xeon: int8 0.49 s of CPU against 0.58 on one thread, 0.47 s wall
    against 0.45 on two)."""

    seconds = {"float": 2.7e-3, "int8": 1.0e-3, "bf16": 9.0,
               "int8 copy": 0.0, "bf16 copy": 0.0}
    _fake_timings(monkeypatch, seconds, entries=520_704)
    X = np.ones((100_000, 384), np.float32)
    C, Q = Rows(X, "dot", "corpus"), Rows(X[:1_000], "dot", "queries")
    assert _ranked(Q, C, 10) == ["int8"]
    monkeypatch.setattr(_bf16, "blas_workers", lambda: (2, None))
    assert _ranked(Q, C, 10) == []


def test_a_large_k_keeps_float(monkeypatch):
    """The pass keeps WIDEN x kp candidates a query and refine re-scores nearly all of
    them, against about k on the float32 path: with k in the hundreds that outweighs
    the faster product (30,000 x 384, k = 300: 7-9 s with int8 against 2-5 s float32),
    also for a corpus whose copy exists."""

    seconds = {"float": 2.7e-3, "int8": 1.0e-3, "bf16": 5.0e-3,
               "int8 copy": 0.0, "bf16 copy": 0.0}
    _fake_timings(monkeypatch, seconds, entries=520_704)
    X = np.ones((100_000, 384), np.float32)          # only the shapes matter here
    C, Q = Rows(X, "dot", "corpus"), Rows(X[:1_000], "dot", "queries")
    assert _ranked(Q, C, 10)[0] == "int8"
    assert _ranked(Q, C, 300) == []


def test_the_timing_measures_each_product_on_one_thread(monkeypatch):
    """The real timing: every contender measured (positive CPU seconds) with torch on
    one thread while the products run (the engine's workers are the parallelism),
    torch's count back as it was after."""
    import torch

    monkeypatch.setattr(_pick, "_entries", {})
    seen = []
    into = _lowp.Int8.into

    def watched(self, *args):
        seen.append(torch.get_num_threads())
        return into(self, *args)

    monkeypatch.setattr(_lowp.Int8, "into", watched)
    original = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        seconds = _pick.measure(torch, [_lowp.Int8()], 64, np.dtype(np.float32))
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(original)
    assert set(seconds) == {"float", "int8", "int8 copy"}
    assert all(0 < s < 1 for s in seconds.values())
    assert _pick._entries[64] == 2_048 * _pick.QUERIES
    assert set(seen) == {1} and len(seen) == 1 + _pick.REPEAT and after == 3


def test_cpu_flags_decide_whether_auto_imports_torch_for_int8(monkeypatch):
    monkeypatch.setattr(_bf16, "_cpu_flags", [{"avx2", "fma"}])
    assert not _bf16.cpu_may_help("int8") and not _bf16.cpu_may_help("bf16")
    monkeypatch.setattr(_bf16, "_cpu_flags", [{"avx512_vnni"}])
    assert _bf16.cpu_may_help("int8") and not _bf16.cpu_may_help("bf16")
    monkeypatch.setattr(_bf16, "_cpu_flags", [None])                  # unreadable: let torch decide
    assert _bf16.cpu_may_help("int8")
    monkeypatch.delenv("VECDIAG_BF16", raising=False)
    monkeypatch.setenv("VECDIAG_INT8", "auto")
    monkeypatch.setattr(_bf16, "_cpu_flags", [{"avx512_vnni"}])
    huge = 2 * _bf16.LOAD_REPAID["int8"]
    assert _bf16.wanted(huge, loaded=False, name="int8")
    assert not _bf16.wanted(huge, loaded=False, name="bf16")
    between = (_bf16.LOAD_REPAID["bf16"] + _bf16.LOAD_REPAID["int8"]) / 2
    assert not _bf16.wanted(between, loaded=False, name="int8")     # int8 repays it later
    assert _bf16.wanted(between, loaded=True, name="int8")
    assert not _bf16.wanted(_bf16.MIN_FLOPS / 2, loaded=True, name="int8")


def test_auto_mode_makes_a_copy_once_the_corpus_searches_have_repaid_it(monkeypatch):
    """Rent, then buy: each search of a corpus without a copy adds the wall seconds the
    model expects the copy to save (CPU seconds over the worker threads) to the
    corpus's credit, and runs float32 until the credit covers the copy's timed cost;
    then the copy is made and used. Fresh rows for every call (vd.knn) never build a
    credit; a forced product makes its copy at once."""

    d, n = 32, 3_000
    seconds = {"float": 2.0e-3, "int8": 0.5e-3, "bf16": 9.0, "int8 copy": 5e-6,
               "bf16 copy": 0.0}
    _fake_timings(monkeypatch, seconds, entries=100_000)
    monkeypatch.setattr(_bf16, "blas_workers", lambda: (2, None))
    X = np.random.default_rng(11).normal(size=(n, d)).astype(np.float32)
    gain = (_expect(seconds, "float", n, 10, d, 100_000, workers=2)
            - _expect(seconds, "int8", n, 112, d, 100_000, workers=2))   # wall, per query
    need = seconds["int8 copy"] * n / gain                       # queries that repay it
    assert 100 < need < n
    Q = Rows(X[:int(need / 3.5)], "dot", "queries")              # a bit under a third
    C = Rows(X, "dot", "corpus")

    def stage(corpus):
        return _bf16.stage_for(Q, corpus, exclude_self=False, backend="numpy",
                               cand_rows=None)

    assert [stage(C) for _ in range(3)] == [None] * 3             # renting: float32
    bought = stage(C)                                             # the fourth repays it
    assert bought.codec.name == "int8" and stage(C).corpus is bought.corpus
    assert all(stage(Rows(X, "dot", "corpus")) is None for _ in range(5))   # vd.knn-like
    monkeypatch.setenv("VECDIAG_INT8", "1")                      # forced: at once
    assert stage(Rows(X, "dot", "corpus")).codec.name == "int8"


def test_the_probe_is_judged_on_the_queries_the_stage_could_score(int8):
    """Queries int8 cannot quantise (their scale times the corpus's would be flushed)
    keep the float path and say nothing of the corpus: a probe whose other queries were
    all proven keeps the stage on (a third of such queries once turned int8 off for
    the corpus for good)."""
    int8.setattr(_bf16, "PROBE", 24)
    int8.setattr(_bf16, "PROBE_LEAST", 24)
    rng = np.random.default_rng(15)
    X = rng.normal(size=(500, 16)).astype(np.float32)
    Q = rng.normal(size=(48, 16)).astype(np.float32)
    Q[::3] *= 1e-37                                  # a third unscorable in int8
    C = Rows(X, "dot", "corpus")
    got = search(Rows(Q, "dot", "queries"), C, 5)
    assert _bf16.stats["probe_failed"] == 0 and not _bf16._cache[C]["int8"].failed
    assert _bf16.stats["int8"] == 32 and _bf16.stats["fallback"] == 16
    int8.setenv("VECDIAG_INT8", "0")
    ref = search(Rows(Q, "dot", "queries"), Rows(X, "dot", "corpus"), 5)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
