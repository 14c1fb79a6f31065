"""The bf16 candidate stage (``VECDIAG_BF16``, vecdiag/neighbors/_bf16.py).

Reference: the engine's default float32/float64 path (itself checked against sklearn,
faiss and stored outputs in tests/test_engine_reference.py). The bf16 stage only changes
which candidates refine re-scores; with a rigorous bound, the top k and its scores must
come back bit for bit, on every input: random, ties, exact copies, near ties, a cone,
tiny and huge lengths, each metric, float32 and float64. The bound itself is checked
against the exact (float64) products of the same rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _bf16_switch import key_errors, needs_bf16, planted, raw_cone, switch_on

from vecdiag.neighbors import _bf16, _bf16_copy, _lowp
from vecdiag.neighbors.engine import search
from vecdiag.neighbors.rows import Rows

pytestmark = needs_bf16


@pytest.fixture
def bf16(monkeypatch):
    return switch_on(monkeypatch)


def _both(Q, X, metric, k, monkeypatch):
    """(bf16 result, default result, bf16 path counts) of the same search."""
    C, Qr = Rows(X, metric, "corpus"), Rows(Q, metric, "queries")
    low = search(Qr, C, k)
    counts = dict(_bf16.stats)
    monkeypatch.setenv("VECDIAG_BF16", "0")
    ref = search(Rows(Q, metric, "queries"), Rows(X, metric, "corpus"), k)
    monkeypatch.setenv("VECDIAG_BF16", "1")
    return low, ref, counts


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["random", "ties", "copies", "near", "cone", "tiny", "huge",
                             "cone_tiny", "cone_huge"]),
       seed=st.integers(0, 10_000), n=st.integers(20, 300), d=st.integers(2, 40),
       k=st.integers(1, 12), metric=st.sampled_from(["cosine", "dot", "euclidean"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_bf16_candidates_give_the_default_top_k_bit_for_bit(kind, seed, n, d, k, metric,
                                                            dtype):
    Q, X = planted(kind, seed, n, d, dtype)
    before = X.copy()
    with pytest.MonkeyPatch.context() as mp:
        (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, metric, min(k, n), switch_on(mp))
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    np.testing.assert_array_equal(X, before)                 # never written to
    # every query went through the bf16 stage (more: _copies' inner searches use it too)
    assert counts["bf16"] + counts["fallback"] >= Q.shape[0]


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("scale", [1e-17, 1.0, 1e17])
def test_bf16_key_errors_stay_inside_the_bound(bf16, metric, scale):
    """Against exact float64 products of the same prepared rows: every bf16 key is within
    the stage's part of the bound (the default part covers refine and the prepared rows).
    On these rows the error reaches 5% to 50% of it (a bound 100x too loose fails too)."""
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(500, 96)) * scale).astype(np.float32)
    Q = (rng.normal(size=(20, 96)) * scale).astype(np.float32)
    ratio = _key_errors(X, Q, metric, centred=False)
    assert ratio.max() <= 1.0
    assert ratio.max() >= 0.05


def _key_errors(X, Q, metric, centred):
    """:func:`key_errors` of the bf16 stage, its copy centred (on the rows' mean) or not."""
    ratio, stage = key_errors(X, Q, metric)
    assert stage.codec.name == "bf16" and stage.corpus.centred is centred
    if centred:
        np.testing.assert_array_equal(stage.corpus.shift,        # centred on the mean
                                      stage.C.data.mean(axis=0, dtype=np.float64)
                                      .astype(X.dtype))
    return ratio


def test_a_cone_falls_back_to_float32_after_the_first_block(bf16):
    """A narrow cone copied as it is (not centred): the bound is wider than the gaps
    between top scores, the first block is mostly unproven, so the other queries skip
    bf16; same results."""
    Q, X = raw_cone(bf16, 5)
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "cosine", 10, bf16)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts["probe_failed"] == 1
    assert counts["bf16"] + counts["fallback"] == 40
    assert counts["bf16"] < 8 * _bf16.PROVEN                   # only the probe tried bf16


def test_the_stage_runs_only_when_asked_and_worth_it(monkeypatch):
    X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    C = Rows(X, "cosine", "corpus")
    monkeypatch.delenv("VECDIAG_BF16", raising=False)
    assert _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None) is None
    monkeypatch.setenv("VECDIAG_BF16", "1")
    # 2 x 50 x 50 x 8 flops: far below MIN_FLOPS
    assert _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None) is None
    monkeypatch.setattr(_bf16, "MIN_FLOPS", 0)
    assert isinstance(_bf16.stage_for(C, C, exclude_self=False, backend="numpy",
                                      cand_rows=None), _bf16.Stage)
    # the kNN graph of a corpus and the faiss backend keep their own passes
    assert _bf16.stage_for(C, C, exclude_self=True, backend="numpy", cand_rows=None) is None
    assert _bf16.stage_for(C, C, exclude_self=False, backend="faiss", cand_rows=None) is None


def _cone(n, seed=5):
    rng = np.random.default_rng(seed)
    return (np.ones(48) + rng.normal(size=(n, 48)) * 0.02).astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_a_cone_is_proven_in_bf16_once_centred(bf16, metric):
    """The same cone, centred on its mean (shift_of): the bf16 products multiply the
    small centred rows, the bound shrinks with them (0.0002 -> 0.000003 under cosine),
    and the queries are proven in bf16, bit for bit the float32 result. Raw, none were."""
    X, Q = _cone(2000, seed=5), _cone(60, seed=6)
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, metric, 10, bf16)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts["bf16"] >= 0.9 * 60 and counts["probe_failed"] == 0
    C = Rows(X, metric, "corpus")
    stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
    assert stage.corpus.centred and stage.corpus.row_term.shape == (2000,)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("scale", [1e-17, 1.0, 1e17])
def test_centred_keys_stay_inside_the_bound(bf16, metric, scale):
    """Centred copy (a cone, lengths 1-3): every key the scan sees, with q·s added back
    (absolute), is within the stage's part of the bound of the exact float64 key
    (2 q·c − ‖c‖² under euclidean, with the engine's float32 ‖c‖², which the default
    part covers)."""
    rng = np.random.default_rng(4)
    X = ((np.ones(64) + rng.normal(size=(400, 64)) * 0.05)
         * rng.uniform(1, 3, (400, 1)) * scale).astype(np.float32)
    Q = ((np.ones(64) + rng.normal(size=(20, 64)) * 0.05) * scale).astype(np.float32)
    ratio = _key_errors(X, Q, metric, centred=True)
    assert ratio.max() <= 1.0
    assert ratio.max() >= 0.02


@pytest.mark.parametrize("least, remembered", [(8, True), (9, False)])
def test_a_failed_probe_keeps_the_corpus_on_float32_for_later_searches(bf16, least,
                                                                      remembered):
    """The cone again, one prepared corpus searched twice: after a probe of at least
    PROBE_LEAST queries fails, the second search does not try bf16 (its counts stay);
    a smaller probe says nothing of the corpus, and the second search tries again."""
    bf16.setattr(_bf16_copy, "CENTRE_BELOW", 0.0)
    bf16.setattr(_bf16, "PROBE", 8)
    bf16.setattr(_bf16, "PROBE_LEAST", least)
    X, Q = _cone(2000), _cone(40, seed=6)
    C = Rows(X, "cosine", "corpus")
    first = search(Rows(Q, "cosine", "queries"), C, 10)
    after_first = dict(_bf16.stats)
    second = search(Rows(Q, "cosine", "queries"), C, 10)
    bf16.setenv("VECDIAG_BF16", "0")
    ref = search(Rows(Q, "cosine", "queries"), Rows(X, "cosine", "corpus"), 10)
    for got in (first, second):
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    assert after_first["probe_failed"] == int(remembered)
    assert after_first["bf16"] + after_first["fallback"] == 40
    tried_again = _bf16.stats["bf16"] + _bf16.stats["fallback"] - 40
    assert tried_again == (0 if remembered else 40)


def test_auto_mode_uses_a_loaded_torch_and_loads_it_only_for_large_scans(monkeypatch):
    import sys

    big, huge = 2 * _bf16.MIN_FLOPS, 2 * _bf16.LOAD_REPAID_FLOPS
    for value in ("", "auto", "maybe"):
        monkeypatch.setenv("VECDIAG_BF16", value)
        assert _bf16.mode() == "auto"
        assert [_bf16.wanted(f) for f in (_bf16.MIN_FLOPS / 2, big, huge)] \
            == [False, True, True]                       # torch is imported here
        assert [_bf16.wanted(f, loaded=False) for f in (big, huge)] == [False, True]
        with monkeypatch.context() as m:                 # a process without torch yet
            m.delitem(sys.modules, "torch")
            assert [_bf16.wanted(f) for f in (big, huge)] == [False, True]
            # ... on a CPU whose feature list names no bf16 product: no import for it
            m.setattr(_bf16, "_cpu_flags", [{"avx2", "avx512f", "avx512_vnni"}])
            assert _bf16.wanted(huge) is False
            m.setattr(_bf16, "_cpu_flags", [None])         # no list to read: torch decides
            assert _bf16.wanted(huge) is True
    assert _bf16.cpu_may_have_bf16()                     # torch found native bf16 here
    for value, want in (("1", True), ("on", True), ("0", False), ("off", False)):
        monkeypatch.setenv("VECDIAG_BF16", value)
        assert _bf16.wanted(big) is want
        assert _bf16.wanted(_bf16.MIN_FLOPS / 2) is False


def test_no_bf16_copy_past_the_free_memory(bf16):
    """A corpus whose bf16 copy would take more than MEMORY_SHARE of the free memory
    keeps float32 and makes no copy; with room, the same corpus gets its stage."""
    X = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
    C = Rows(X, "cosine", "corpus")
    copy_bytes = 2 * X.size
    bf16.setattr(_bf16, "available_memory", lambda: int(copy_bytes / _bf16.MEMORY_SHARE) - 1)
    assert _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None) is None
    assert C not in _bf16._cache
    bf16.setattr(_bf16, "available_memory", lambda: int(copy_bytes / _bf16.MEMORY_SHARE))
    stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
    assert tuple(stage.corpus.rows.shape) == X.shape


@pytest.mark.parametrize("rounded", ["output", "input"])
def test_a_plateau_of_bf16_keys_still_finds_the_true_best(bf16, rounded):
    """q = (1, 1); 64 rows whose exact dot products 256 + j/64 (j = 1..64) all round to
    the same bf16 key 256: in the output (rows (256, j/64), sums bf16 cannot hold; the
    best, 257, is the midpoint and rounds to even) or in the input (rows (256 + 0.9 j/64,
    0), lengths bf16 rounds to 256). Only the bound's terms for those roundings (2^-8 |s|
    and |q~| max|c - c~|) keep the proof from accepting ten of the tied rows (the best
    row is the last): bf16 proves nothing here, the float32 path answers."""
    j = np.arange(1, 65)
    X = (np.stack([np.full(64, 256.0), j / 64], axis=1) if rounded == "output"
         else np.stack([256.0 + 0.9 * j / 64, np.zeros(64)], axis=1)).astype(np.float32)
    Q = np.ones((1, 2), np.float32)
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "dot", 1, bf16)
    assert idx.tolist() == ref_idx.tolist() == [[63]]
    assert sc.tolist() == ref_sc.tolist() == [[float(X[63] @ Q[0])]]
    assert counts == {"bf16": 0, "int8": 0, "fallback": 1, "probe_failed": 0}   # not proven in bf16


def test_the_bf16_scan_shows_the_progress_bar_asked_for(bf16, capsys):
    from vecdiag import knn

    X = np.random.default_rng(1).normal(size=(30, 4))
    res = knn(X, X, k=2, show_progress=True)
    assert "knn search" in capsys.readouterr().err
    assert _bf16.stats["bf16"] + _bf16.stats["fallback"] == 30
    assert res.indices[:, 0].tolist() == list(range(30))        # each row finds itself


def test_read_only_rows_are_read_without_a_warning(bf16):
    """A read-only corpus and queries (dot: the engine scores the arrays themselves):
    torch warns on wrapping a read-only array; the stage copies the piece instead."""
    import warnings

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (idx, sc), (ref_idx, ref_sc), counts = _both(X[:5], X, "dot", 3, bf16)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts["bf16"] + counts["fallback"] == 5


def test_a_window_wider_than_the_float32_margin_is_proven_in_bf16(bf16):
    """25 rows score 0.9 + j 1e-4 (j = 0..24) against q = e1, all inside the bf16 bound
    (about 0.006) of the 5th best: the float32 margin (2 k + 8 = 18 candidates) cannot
    hold them all, the bf16 scan's (36) can, so the query is proven without the float32
    re-search (on 100,000 x 384 clustered vectors, one thread: 65 of 1,000 queries fell
    back with 28 candidates each and the search ran at 1.71x faiss; with 56 none did,
    1.96x)."""
    rng = np.random.default_rng(4)
    near = np.column_stack([0.9 + 1e-4 * np.arange(25), np.full(25, 0.3)])
    far = np.column_stack([rng.uniform(-0.5, 0.5, 200), rng.uniform(-1, 1, 200)])
    X = np.vstack([far[:100], near, far[100:]]).astype(np.float32)
    Q = np.array([[1.0, 0.0]], np.float32)
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "dot", 5, bf16)
    assert idx.tolist() == ref_idx.tolist() == [[124, 123, 122, 121, 120]]
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts == {"bf16": 1, "int8": 0, "fallback": 0, "probe_failed": 0}


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_float64_products_past_the_bf16_range_keep_the_float64_path(bf16, metric):
    """float64 rows of length about 4e19 (d = 16, entries 1e19): their products, about
    1e39, are past bf16's largest number (3.4e38) and came back inf, and the bf16 keys
    picked wrong neighbours; such queries now go to the float64 path."""
    X = np.random.default_rng(8).normal(size=(300, 16)) * 1e19
    X[:50] *= -1
    (idx, sc), (ref_idx, ref_sc), counts = _both(X[:6], X, metric, 5, bf16)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    assert counts == {"bf16": 0, "int8": 0, "fallback": 6, "probe_failed": 0}


def test_input_and_output_rounding_add_up_inside_the_bound(bf16):
    """q = (1, 1). Row A = (257, 1) scores 258, but bf16 rounds 257 to 256 (tie to even)
    and the sum 257 to 256 again: key 256, two below, each rounding within its own
    term of the bound and neither term alone enough. Rows B = (256, 1.5 + j/128) score
    just under 258 with keys 258, rows C = (256, j/64) tie A's key 256. Without the
    input's term the proof would accept a B row (257.9 > 256 + 1.5) when the scan kept
    C rows rather than A among the tied keys (it does, A before them); the answer is A."""
    j = np.arange(1, 41)
    B = np.column_stack([np.full(5, 256.0), 1.5 + np.arange(1, 6) / 128])
    C = np.column_stack([np.full(40, 256.0), j / 64])
    X = np.vstack([B, [[257.0, 1.0]], C]).astype(np.float32)    # A at row 5
    Q = np.ones((1, 2), np.float32)
    (idx, sc), (ref_idx, ref_sc), counts = _both(Q, X, "dot", 1, bf16)
    assert idx.tolist() == ref_idx.tolist() == [[5]]
    assert sc.tolist() == ref_sc.tolist() == [[258.0]]
    assert counts == {"bf16": 0, "int8": 0, "fallback": 1, "probe_failed": 0}   # not proven in bf16


@pytest.mark.parametrize("dtype,scale", [(np.float32, 1e-30), (np.float32, 1e30),
                                         (np.float32, 1.0), (np.float64, 1e-170),
                                         (np.float64, 1e30)])
def test_row_lengths_for_the_bound_are_upper_bounds_at_any_scale(dtype, scale):
    """The lengths the bound uses (rows, the differences from their bf16 copies) against
    math.hypot (scale-safe) on the same numbers: never below, at most 2% above; the
    copies' lengths are bounded by their sum. Squares of float64 1e-170 underflow in
    float64: summed as they were, those lengths came out 0 (no bound on the rounding)."""
    import math

    torch = _bf16._torch()
    rows = (np.random.default_rng(6).normal(size=(4, 24)) * scale).astype(dtype)
    _, back = _lowp.BF16().low(torch, rows)
    norm, low_norm, residual = _bf16.norms(rows, back)
    back = back.astype(np.float64)
    ref_norm = np.array([math.hypot(*r) for r in rows.astype(float)])
    ref_res = np.array([math.hypot(*r) for r in rows.astype(float) - back])
    ref_low = np.array([math.hypot(*r) for r in back])
    assert (norm >= ref_norm).all() and (norm <= 1.02 * ref_norm).all()
    assert (residual >= ref_res).all() and (residual <= 1.02 * ref_res).all()
    assert (low_norm >= ref_low).all() and (low_norm <= 1.02 * (ref_norm + ref_res)).all()


def test_overlapping_scans_restore_torchs_thread_count(bf16):
    """Two scans at once (two threads searching): torch runs on one thread while either
    runs, and its count from before comes back after both, whichever ends first (each
    restoring what it saw left torch on one thread for the rest of the process). The
    count is read from fresh threads: torch keeps the process's count, and each thread
    takes it when it first runs torch."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    torch = _bf16._torch()

    def count():
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(torch.get_num_threads).result()

    original = count()
    torch.set_num_threads(3)           # a count other than 1 on any machine
    before = count()
    C = Rows(np.eye(4, dtype=np.float32), "dot", "corpus")
    stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
    first, second = threading.Event(), threading.Event()
    seen = []

    def scan_a():                      # starts first, ends first
        with stage.threads():
            seen.append(count())
            first.set()
            second.wait(5)

    def scan_b():
        first.wait(5)
        with stage.threads():
            second.set()
            time.sleep(0.05)
            seen.append(count())

    workers = [threading.Thread(target=f) for f in (scan_a, scan_b)]
    try:
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        after = count()
    finally:
        torch.set_num_threads(original)
    assert (before, seen, after) == (3, [1, 1], 3)


def test_the_stage_checks_torchs_rounding_before_it_trusts_the_bound(monkeypatch):
    # the bound assumes float32 sums of exact products rounded once to bf16 (nearest):
    # a library that truncated, or rounded with twice the error, must turn the stage off
    import torch

    assert _bf16.rounding_holds(torch)

    class Off:                      # torch's product with the result off by a factor
        bfloat16, from_numpy = torch.bfloat16, staticmethod(torch.from_numpy)

        def __init__(self, rel=0.0, truncate=False):
            self.rel, self.truncate = rel, truncate

        def mm(self, x, y):
            t = torch.mm(x.float(), y.float()) * (1 + self.rel)
            if self.truncate:       # drop the low 16 bits: rounding toward zero
                bits = t.numpy().view(np.uint32) & np.uint32(0xFFFF0000)
                return torch.from_numpy(bits.view(np.float32)).bfloat16()
            return t.bfloat16()

    assert _bf16.rounding_holds(Off())                  # the model itself passes
    assert not _bf16.rounding_holds(Off(rel=1.5 * 2.0 ** -8))
    assert not _bf16.rounding_holds(Off(truncate=True))
    monkeypatch.setattr(_lowp, "_checked_bf16", {})
    monkeypatch.setattr(_lowp, "rounding_holds", lambda torch: False)
    assert _bf16._torch() is None                        # and the search keeps float32


def test_the_bf16_copy_and_the_bound_run_torch_on_one_thread(bf16):
    """The corpus's bf16 copy and the queries' bound convert rows with torch: on one
    thread (torch's own threads made the copy of 100,000 x 384 rows 2-3x slower), the
    caller's count restored after."""
    torch = _bf16._torch()
    seen = []
    made = _bf16.Corpus

    def watched(torch_, *args):
        seen.append(torch_.get_num_threads())
        return made(torch_, *args)

    bf16.setattr(_bf16, "Corpus", watched)
    original = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
        C = Rows(X, "dot", "corpus")
        stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
        after_copy = torch.get_num_threads()
        norms = _bf16.norms

        def watched_norms(rows, low):
            seen.append(torch.get_num_threads())
            return norms(rows, low)

        bf16.setattr(_bf16, "norms", watched_norms)
        stage.tolerance(np.arange(4), np.zeros(4))
        after_bound = torch.get_num_threads()
    finally:
        torch.set_num_threads(original)
    assert (seen, after_copy, after_bound) == ([1, 1], 3, 3)

