"""The optional compiled fold-in (numba) against the pure-NumPy selection it accelerates.

Both keep, for every row, the ``kp`` largest values seen (as a multiset: equal values at
the boundary may keep different positions, which the engine's refine step settles); the
engine must then return bit-identical neighbours and scores either way, and fall back to
NumPy when numba is missing or not asked for (``VECDIAG_NUMBA`` unset or 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vecdiag.neighbors import _fold, _scan, _select, knn

METRICS = ("cosine", "dot", "euclidean")


@pytest.fixture
def compiled(monkeypatch):
    pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
    assert _fold.kernels() is not None  # weak-ok: numba is installed, so the kernels load (the tests below compare their results)
    monkeypatch.setenv("VECDIAG_NUMBA", "1")
    return True


def _fold_all(S, kp, chunk, by_column, compiled):
    lines = S.shape[1] if by_column else S.shape[0]
    m = S.shape[0] if by_column else S.shape[1]
    best = _select.Best(lines, kp, S.dtype)
    for c0 in range(0, m, chunk):
        block = S[c0:c0 + chunk] if by_column else S[:, c0:c0 + chunk]
        _select.fold_in(best, block, min(kp, block.shape[0 if by_column else 1]), c0,
                        by_column=by_column, compiled=compiled)
    return best


@pytest.mark.parametrize("by_column", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("lines", [37, 150])
def test_compiled_fold_keeps_the_same_values_as_numpy(rng, compiled, by_column, dtype, ties,
                                                      lines):
    """Chunks of uneven width (tails of the 64-wide steps), rows and columns not multiples
    of 64, many exact ties: the kept values equal the true kp largest, in both paths, and
    every kept position holds its value."""
    m, kp = 1001, 12
    S = rng.normal(size=(lines, m))
    if ties:
        S = np.round(S * 2)                      # a handful of distinct values
    S = S.astype(dtype)
    S[3, :] = -np.inf                            # a row masked entirely (self exclusion)
    top = np.sort(S, axis=1)[:, -kp:]
    data = np.ascontiguousarray(S.T) if by_column else S
    for chunk in (1000, 97, 5):
        a = _fold_all(data, kp, chunk, by_column, compiled=False)
        b = _fold_all(data, kp, chunk, by_column, compiled=True)
        for best in (a, b):
            np.testing.assert_array_equal(np.sort(best.key, axis=1), top)
            real = best.idx >= 0
            np.testing.assert_array_equal(np.take_along_axis(S, np.where(real, best.idx, 0),
                                                             axis=1)[real], best.key[real])
            assert (best.filled == real.sum(axis=1)).all()
            assert not real[3].any()             # -inf is never a candidate


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_bit_identical_with_and_without_kernel(rng, compiled, metric, dtype,
                                                      monkeypatch):
    """Search and kNN graph, one worker or two, planted duplicates at the k-th place:
    the compiled fold-in gives the very same indices and scores as the NumPy path."""
    X = rng.normal(size=(1500, 24)).astype(dtype)
    X[[5, 600, 1499]] = X[77]
    X[900] = 3 * X[300]
    Q = np.concatenate([X[:140] + 0.01, X[77:78]]).astype(dtype)   # > 64: whole steps
    monkeypatch.setattr(_scan, "_CORPUS_CHUNK", 256)
    for threaded in (False, True):
        monkeypatch.setattr(_scan, "_PARALLEL_FLOPS", 0.0 if threaded else 1e30)
        out = {}
        for use in (False, True):
            monkeypatch.setattr(_scan, "_COMPILED_FLOPS", 0.0 if use else np.inf)
            assert _scan.use_compiled(1.0) is use
            out[use] = (knn(Q, X, k=7, metric=metric),
                        knn(X, X, k=7, metric=metric, exclude_self=True, batch_size=200))
        for plain, fast in zip(out[False], out[True]):
            np.testing.assert_array_equal(plain.indices, fast.indices)
            np.testing.assert_array_equal(plain.scores, fast.scores)


def test_falls_back_to_numpy_without_numba(rng, monkeypatch):
    """No kernel (numba missing): use_compiled is False even when asked for, and the
    search runs the NumPy selection."""
    monkeypatch.setattr(_fold, "_kernels", False)
    monkeypatch.setenv("VECDIAG_NUMBA", "1")
    assert _fold.kernels() is None
    monkeypatch.setattr(_scan, "_COMPILED_FLOPS", 0.0)
    assert not _scan.use_compiled(1e12)
    X = rng.normal(size=(300, 8))
    res = knn(X[:5], X, k=3)
    assert (res.indices[:, 0] == np.arange(5)).all()


def test_environment_chooses_the_path(compiled, monkeypatch):
    """VECDIAG_NUMBA=1: the kernel from _COMPILED_FLOPS on, graph too; 0: never; unset or
    auto: a search scan large enough to repay loading numba, or any scan from
    _COMPILED_FLOPS on once the kernels are loaded, never the graph pass."""
    small, large = _scan._COMPILED_FLOPS, _scan._LOAD_REPAID_FLOPS
    assert _scan.use_compiled(small) and not _scan.use_compiled(small / 2)
    assert _scan.use_compiled(small, graph=True)
    for value in ("0", "off", "false"):
        monkeypatch.setenv("VECDIAG_NUMBA", value)
        assert _fold.mode() == "off"
        assert not _scan.use_compiled(1e15)
    for value in ("", "auto"):
        monkeypatch.setenv("VECDIAG_NUMBA", value)
        assert _fold.mode() == "auto"
        # not loaded yet: only a scan that repays the load, and it loads the kernels
        monkeypatch.setattr(_fold, "_kernels", None)
        assert not _fold.loaded()
        assert not _scan.use_compiled(small) and not _scan.use_compiled(large / 2)
        assert not _fold.loaded()
        assert not _scan.use_compiled(large, graph=True)
        assert _scan.use_compiled(large)
        assert _fold.loaded()
        # loaded: every search scan from _COMPILED_FLOPS on, still not the graph pass
        assert _scan.use_compiled(small) and not _scan.use_compiled(small / 2)
        assert not _scan.use_compiled(1e15, graph=True)
    monkeypatch.delenv("VECDIAG_NUMBA")
    assert _fold.mode() == "auto"


def test_auto_path_falls_back_when_numba_fails_to_import(monkeypatch):
    """A numba that raises on import (not only ImportError: a NumPy it was not built for)
    leaves the NumPy path in auto mode instead of failing the search."""
    import builtins
    import sys

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise RuntimeError("numba built against another NumPy")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(_fold, "_kernels", None)
    monkeypatch.delitem(sys.modules, "vecdiag.neighbors._fold_kernels", raising=False)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    monkeypatch.delattr(sys.modules["vecdiag.neighbors"], "_fold_kernels", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken)
    monkeypatch.delenv("VECDIAG_NUMBA", raising=False)
    assert not _scan.use_compiled(1e15)
    assert _fold.kernels() is None


@pytest.mark.parametrize("by_column", [False, True])
def test_shared_best_folds_into_a_spare_when_the_lock_is_taken(rng, compiled, by_column):
    """A worker that finds the shared best busy folds into its own spare above the last
    published threshold; merged, the kept values are still the true kp largest."""
    lines, m, kp = 23, 900, 9
    S = np.round(rng.normal(size=(lines, m)) * 3).astype(np.float32)      # ties
    top = np.sort(S, axis=1)[:, -kp:]
    shared = _select.SharedBest(lines, kp, np.float32)
    for n, c0 in enumerate(range(0, m, 100)):
        block = S[:, c0:c0 + 100]
        block = np.ascontiguousarray(block.T) if by_column else block
        if n % 2:                                   # another worker holds the lock
            with shared.lock:
                shared.fold(block, kp, c0, by_column=by_column, compiled=True)
            assert shared.spares
        else:
            shared.fold(block, kp, c0, by_column=by_column, compiled=True)
    idx, key = shared.result()
    np.testing.assert_array_equal(np.sort(key, axis=1), top)
    np.testing.assert_array_equal(np.take_along_axis(S, idx, axis=1), key)
    assert all(len(set(row)) == kp for row in idx.tolist())          # no position twice


@pytest.mark.parametrize("compiled_path", [False, True])
def test_floor_leaves_out_entries_at_or_below_it(rng, compiled, compiled_path):
    S = rng.normal(size=(8, 300)).astype(np.float32)
    floor = np.sort(S, axis=1)[:, -5]                # the 5th largest of each row
    best = _select.Best(8, 10, np.float32)
    _select.fold_in(best, S, 10, 0, compiled=compiled_path, floor=floor)
    kept = best.key[best.idx >= 0].reshape(8, -1)
    np.testing.assert_array_equal(np.sort(kept, axis=1), np.sort(S, axis=1)[:, -4:])


@pytest.mark.parametrize("by_column", [False, True])
def test_kernel_folds_alone_from_the_first_block(rng, compiled, by_column, monkeypatch):
    """A best without a bar (rows not full: a scan's first chunk) gets the block's own
    bar and the kernel folds alone; only a block too narrow for groups (fewer than
    8 kp entries per row) goes through the NumPy filter. Either way the kept values are
    the true kp largest."""
    lines, m, kp = 90, 700, 6
    S = np.round(rng.normal(size=(lines, m)) * 4).astype(np.float32)      # ties
    data = np.ascontiguousarray(S.T) if by_column else S
    calls = []
    real_select = _select.select

    def counted(*a, **kw):
        calls.append(1)
        return real_select(*a, **kw)

    monkeypatch.setattr(_select, "select", counted)
    for cut in (0, 30, 300):                 # 30 < 8 kp: too narrow for groups
        best = _select.Best(lines, kp, np.float32)
        calls.clear()
        for a, b in ((0, cut), (cut, m)):
            if b > a:
                block = data[a:b] if by_column else data[:, a:b]
                _select.fold_in(best, block, kp, a, by_column=by_column, compiled=True)
        assert len(calls) == (1 if cut == 30 else 0)
        np.testing.assert_array_equal(np.sort(best.key, axis=1), np.sort(S, axis=1)[:, -kp:])
        np.testing.assert_array_equal(np.take_along_axis(S, best.idx, axis=1), best.key)


@given(st.integers(1, 12), st.integers(0, 2**32 - 1), st.booleans())
def test_block_bar_is_below_every_row_s_kk_largest(kk, seed, by_column):
    """block_bar(S, kk) is strictly below the kk-th largest entry of every row (so the
    rows' kk largest all pass it), and None exactly when rows are shorter than 8 kk."""
    rng = np.random.default_rng(seed)
    lines, m = int(rng.integers(1, 20)), int(rng.integers(1, 400))
    S = np.round(rng.normal(size=(lines, m)) * 3).astype(np.float32)      # ties
    bar = _select.block_bar(np.ascontiguousarray(S.T) if by_column else S, kk, by_column)
    if m < 8 * kk:
        assert bar is None
        return
    kth = np.sort(S, axis=1)[:, -kk]
    assert (bar < kth).all()
    assert (bar >= S.min(axis=1) - 1).all()             # not -inf: a real bar


# ------------------------------------------------- the floor under the running k-th best

@given(st.floats(-1e30, 1e30, allow_nan=False), st.floats(0, 1e3),
       st.sampled_from([np.float32, np.float64]))
def test_kernel_floor_equals_floor_below(key, slack, dtype):
    """The kernel's own floor (one row at a time) is _select.floor_below: at or below
    ``key - slack``, strictly below ``key``, never rounded up to the keys' dtype."""
    pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
    from vecdiag.neighbors import _fold_kernels

    one = np.empty(2, dtype)
    got = _fold_kernels.below(dtype(key), slack, one)
    want = _select.floor_below(np.array([dtype(key)]), np.array([slack]), dtype)[0]
    assert got == want
    assert float(got) < float(dtype(key)) and float(got) <= float(dtype(key)) - slack


@pytest.mark.parametrize("compiled_path", [False, True])
@pytest.mark.parametrize("by_column", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_floor_keeps_every_entry_near_the_top(rng, compiled_path, by_column, dtype,
                                                   monkeypatch):
    """With ``rank`` and ``slack``, a row keeps every entry within ``slack`` of its true
    rank-th largest (up to kp of them, the largest first), whichever path folds the
    chunks and, compiled, when a second worker folds into a spare; every kept position
    holds its value and none is kept twice."""
    if compiled_path:
        pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
        monkeypatch.setenv("VECDIAG_NUMBA", "1")
    lines, m, kp, rank = 70, 2000, 12, 4
    S = np.round(rng.normal(size=(lines, m)) * 8) / 8               # ties and near ties
    S[:, rng.choice(m, 40, replace=False)] += 2.0                   # a band near the top
    S[:, :30] += 2.0                    # and in the first chunk, whose bar the block sets
    S = S.astype(dtype)
    slack = np.full(lines, 0.25)
    S[5] = 1.0                                                      # one row: all tied
    shared = _select.SharedBest(lines, kp, dtype, rank=rank, slack=slack)
    for n, c0 in enumerate(range(0, m, 250)):
        block = S[:, c0:c0 + 250]
        block = np.ascontiguousarray(block.T) if by_column else block
        if compiled_path and n % 3 == 2:                # another worker holds the lock
            with shared.lock:
                shared.fold(block, kp, c0, by_column=by_column, compiled=compiled_path)
        else:
            shared.fold(block, kp, c0, by_column=by_column, compiled=compiled_path)
    idx, key = shared.result()
    kth = np.sort(S, axis=1)[:, -rank]
    for row in range(lines):
        near = np.sort(S[row][S[row] > kth[row] - slack[row]])[::-1][:kp]
        kept = np.sort(key[row][idx[row] >= 0])[::-1]
        np.testing.assert_array_equal(kept[:near.size], near)
        real = idx[row][idx[row] >= 0]
        np.testing.assert_array_equal(S[row, real], key[row][idx[row] >= 0])
        assert len(set(real.tolist())) == real.size


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("compiled_path", [False, True])
def test_near_ties_across_chunks_same_answer_with_and_without_floor(rng, metric,
                                                                    compiled_path,
                                                                    monkeypatch):
    """Hundreds of rows within the rounding bound of one another at the k-th place,
    spread over many corpus chunks, most of them met after the k-th best is known: the
    floor under the running k-th must leave none of them out. The answer is bit for bit
    the one without that floor (every row ranked by the kp-th kept key alone), and the
    written-out rule's up to those near ties."""
    if compiled_path:
        pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
        monkeypatch.setenv("VECDIAG_NUMBA", "1")
        monkeypatch.setattr(_scan, "_COMPILED_FLOPS", 0.0)
    monkeypatch.setattr(_scan, "_CORPUS_CHUNK", 128)
    monkeypatch.setattr(_scan, "_PARALLEL_FLOPS", 0.0)             # two workers, spares
    d = 32
    base = rng.normal(size=d)
    X = rng.normal(size=(4000, d))
    where = rng.choice(4000, 300, replace=False)
    X[where] = base + rng.normal(scale=1e-7, size=(300, d))       # near ties
    X[where[:40]] = base                                           # exact copies too
    Q = np.vstack([base + rng.normal(scale=1e-3, size=(70, d)), X[:30]]).astype(np.float32)
    X = X.astype(np.float32)
    from vecdiag.neighbors import engine

    original = engine.numpy_candidates
    with_floor = knn(Q, X, k=15, metric=metric)
    monkeypatch.setattr(engine, "numpy_candidates",
                        lambda *a, **kw: original(*a, **{**kw, "rank": None}))
    without = knn(Q, X, k=15, metric=metric)
    np.testing.assert_array_equal(with_floor.indices, without.indices)
    np.testing.assert_array_equal(with_floor.scores, without.scores)
    S = Q.astype(float) @ X.T.astype(float)
    if metric == "cosine":
        S /= np.linalg.norm(Q.astype(float), axis=1)[:, None] * np.linalg.norm(
            X.astype(float), axis=1)
    elif metric == "euclidean":
        S = -np.sqrt(np.maximum((Q.astype(float) ** 2).sum(1)[:, None] - 2 * S
                                + (X.astype(float) ** 2).sum(1), 0))
    got = np.take_along_axis(S, with_floor.indices, axis=1)
    kth = np.sort(S, axis=1)[:, -15]
    assert (got >= kth[:, None] - 1e-5).all()          # every returned row reaches the k-th


@pytest.mark.parametrize("by_column", [False, True])
def test_fold_in_fallback_keeps_the_rank_floor(rng, by_column, monkeypatch):
    """A block the kernel cannot take (most rows without a bar, and too narrow for the
    block's own bar) is filtered by NumPy: rows that already hold ``rank`` keys still
    leave out entries more than ``slack`` below their ``rank``-th best, as the kernel
    does, and keep those within it."""
    pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
    monkeypatch.setenv("VECDIAG_NUMBA", "1")
    lines, kp, rank, width = 16, 12, 4, 20                 # 20 < 8 kk: no block bar
    best = _select.Best(lines, kp, np.float32)
    barred = np.arange(lines) < 4                          # 12 of 16 rows have no bar
    best.key[barred, :rank] = 10.0
    best.idx[barred, :rank] = np.arange(rank)
    best.filled[barred] = rank
    S = rng.uniform(4.0, 6.0, size=(lines, width)).astype(np.float32)
    S[:, 3] = 9.9                                          # within the slack of 10
    slack = np.full(lines, 0.25)
    block = np.ascontiguousarray(S.T) if by_column else S
    assert _select.fold_in(best, block, kp, 100, by_column=by_column, compiled=True,
                           rank=rank, slack=slack) is None           # NumPy's path ran
    for row in range(lines):
        kept = best.idx[row][best.idx[row] >= 0]
        new = kept[kept >= 100] - 100
        if barred[row]:
            np.testing.assert_array_equal(np.sort(new), [3])
        else:                                  # no bar: the row's kp best of the block
            np.testing.assert_array_equal(np.sort(new), np.sort(np.argsort(-S[row])[:kp]))


@pytest.mark.parametrize("rank", [None, 3])
def test_numpy_bar_kept_between_blocks_equals_the_bar_recomputed(rng, rank):
    """The NumPy path keeps each row's bar between blocks and recomputes it for the rows a
    fold touched only: after every fold, from two threads too, it equals the bar computed
    from scratch (kp-th kept key, floor from elsewhere, slack under the rank-th best),
    and the kept entries are each row's kp best."""
    from concurrent.futures import ThreadPoolExecutor

    lines, m, kp = 50, 3000, 8
    S = (np.round(rng.normal(size=(m, lines)) * 16) / 16).astype(np.float32)
    base = np.where(rng.random(lines) < 0.3, np.float32(1.0), -np.inf).astype(np.float32)
    shared = _select.SharedBest(lines, kp, np.float32, base, rank=rank,
                                slack=np.full(lines, 0.2))

    def fold(c0):
        shared.fold(S[c0:c0 + 150], kp, c0, by_column=True, compiled=False)
        with shared.lock:
            best = shared.best
            want = np.maximum(best.threshold(), shared.floor_of(best))
            np.testing.assert_array_equal(shared._bar, want)

    fold(0)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fold, range(150, m, 150)))
    idx, key = shared.result()
    for line in range(lines):
        col = S[:, line]
        col = col[col > base[line]]
        if rank is not None:                    # kept: within the slack of the rank-th
            col = col[col > np.sort(col)[-rank] - 0.2]
        top = np.sort(col)[::-1][:kp]
        kept = np.sort(key[line][idx[line] >= 0])[::-1]
        np.testing.assert_array_equal(kept[:top.size], top)
