"""The engine's plan tuner: products queries by rows or corpus rows by queries, in whole or
half chunks, timed on the scan's own items; every plan gives the very same answer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vecdiag import scratch
from vecdiag.neighbors import _scan, _tune, knn
from vecdiag.neighbors._tune import Plan, Tuner

METRICS = ("cosine", "dot", "euclidean")


@pytest.fixture
def fresh_tuners():
    _tune.forget()
    yield
    _tune.forget()


@pytest.fixture
def tuning(monkeypatch, fresh_tuners):
    """Small scans tune too (many 128-row chunks, two workers)."""
    monkeypatch.setattr(_scan, "_TUNE_FLOPS", 0.0)
    monkeypatch.setattr(_scan, "_TUNE_QUERIES", 1)
    monkeypatch.setattr(_scan, "_CORPUS_CHUNK", 128)
    monkeypatch.setattr(_scan, "_PARALLEL_FLOPS", 0.0)


def test_plans_per_selection_path():
    assert _tune.plans(4096, compiled=False) == (Plan(False, 4096), Plan(False, 2048))
    assert _tune.plans(4096, compiled=True) == (Plan(False, 4096), Plan(False, 2048),
                                                Plan(True, 2048))
    assert _tune.plans(1, compiled=True) == (Plan(False, 1), Plan(True, 1))
    assert str(Plan(True, 2048)) == "queries by corpus rows, 2,048-row chunks"


def test_tuner_hands_plans_out_evenly_and_chooses_the_lowest_median():
    a, b, c = Plan(False, 8), Plan(False, 4), Plan(True, 4)
    t = Tuner((a, b, c), trials=3)
    given = [t.next_plan() for _ in range(6)]
    assert given == [a, b, c, a, b, c]              # fewest timed or under way first
    t.drop(a)
    t.drop(a)
    assert t.next_plan() == a                       # dropped items free their turn
    seconds = {a: [5.0, 1.0, 5.0], b: [2.0, 2.0, 9.0], c: [3.0, 3.0, 3.0]}
    for plan in (a, b, c):
        for s in seconds[plan][:2]:
            t.record(plan, s)
    assert t.chosen is None                         # not every plan has three yet
    for plan in (a, b, c):
        t.record(plan, seconds[plan][2])
    assert t.chosen == b                            # medians 5, 2, 3: not the best single run
    assert t.next_plan() == b
    t.record(a, 0.0)                                # late timings change nothing
    assert t.chosen == b


def test_tuner_with_one_plan_needs_no_timing():
    t = Tuner((Plan(False, 4),))
    assert t.chosen == Plan(False, 4) and t.next_plan() == Plan(False, 4)
    with pytest.raises(ValueError, match="at least one plan"):
        Tuner(())


def test_tuner_is_shared_per_kind_of_scan(fresh_tuners):
    assert _tune.tuner(True, 384, 4, 4096) is _tune.tuner(True, 384, 4, 4096)
    assert _tune.tuner(True, 384, 4, 4096) is not _tune.tuner(False, 384, 4, 4096)
    assert _tune.tuner(True, 384, 8, 4096) is not _tune.tuner(True, 384, 4, 4096)
    assert _tune.chosen() == {(True, 384, 4, 4096): None, (False, 384, 4, 4096): None,
                              (True, 384, 8, 4096): None}


def test_tuner_under_threads_times_every_plan():
    t = Tuner((Plan(False, 8), Plan(False, 4), Plan(True, 4)), trials=5)

    def work():
        for _ in range(50):
            plan = t.next_plan()
            t.record(plan, 1.0 if plan.by_row else 2.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.chosen == Plan(True, 4)
    assert all(len(v) >= 5 for v in t.times.values())


class _ChoosesAfter:
    """A tuner stand-in that alternates two plans, then settles on the second."""

    def __init__(self, after):
        self.plans = (Plan(False, 7), Plan(True, 3))
        self.after, self.given, self.chosen = after, 0, None

    def next_plan(self):
        if self.chosen is not None:
            return self.chosen
        self.given += 1
        if self.given > self.after:
            self.chosen = self.plans[1]
        return self.plans[self.given % 2]

    def drop(self, plan):
        pass

    def record(self, plan, seconds):
        pass


@pytest.mark.parametrize("after", [0, 3, 40])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_feed_covers_every_block_and_row_once(after, workers):
    """Chunks of changing sizes and layouts while the plan is being chosen, even ones
    after: per query block, the corpus rows 0..n-1 exactly once, blocks in order; timed
    items skip each block's first ``workers`` items and the short last block."""
    blocks = [(0, 10), (10, 20), (20, 25)]
    feed = _scan._Feed(blocks, 50, workers, _ChoosesAfter(after), Plan(False, 7))
    seen, order = {b: [] for b in range(3)}, []
    while (item := feed.next()) is not None:
        b, c0, c1, plan, timed = item
        assert 0 <= c0 < c1 <= 50 and c1 - c0 <= plan.chunk
        if timed:
            assert b < 2 and len(seen[b]) >= workers
        seen[b].append((c0, c1))
        order.append(b)
    assert order == sorted(order)
    for spans in seen.values():
        assert spans[0][0] == 0 and spans[-1][1] == 50
        assert all(x[1] == y[0] for x, y in zip(spans, spans[1:]))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("compiled_path", [False, True])
def test_every_plan_gives_the_same_answer(rng, tuning, monkeypatch, metric, compiled_path):
    """Each plan forced in turn (search with self excluded and a known floor's path
    too): bit-identical neighbours and scores, and the written-out answer."""
    if compiled_path:
        pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
        monkeypatch.setenv("VECDIAG_NUMBA", "1")
        monkeypatch.setattr(_scan, "_COMPILED_FLOPS", 0.0)
    X = rng.normal(size=(1100, 16)).astype(np.float32)
    X[[5, 600, 1099]] = X[77]                      # copies at the k-th place
    Q = np.concatenate([X[:90] + 0.01, X[77:78]]).astype(np.float32)
    ref = scratch.knn(Q.astype(float), X.astype(float), k=7, metric=metric)
    answers = []
    for plan in _tune.plans(128, compiled=compiled_path):
        _tune.forget()
        _tune.tuner(compiled_path, 16, 4, 128).chosen = plan
        answers.append(knn(Q, X, k=7, metric=metric))
        assert _tune.chosen() == {(compiled_path, 16, 4, 128): plan}   # the plan ran
    assert len(answers) == (3 if compiled_path else 2)
    for got in answers[1:]:
        np.testing.assert_array_equal(got.indices, answers[0].indices)
        np.testing.assert_array_equal(got.scores, answers[0].scores)
    np.testing.assert_allclose(answers[0].scores, ref.scores, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("compiled_path", [False, True])
def test_a_scan_times_its_plans_and_chooses(rng, tuning, monkeypatch, compiled_path):
    """A scan of many chunks times every plan on its own items, chooses one, and the
    answer is the one a forced default plan gives."""
    if compiled_path:
        pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
        monkeypatch.setenv("VECDIAG_NUMBA", "1")
        monkeypatch.setattr(_scan, "_COMPILED_FLOPS", 0.0)
    X = rng.normal(size=(6000, 16)).astype(np.float32)
    Q = rng.normal(size=(60, 16)).astype(np.float32)
    tuned = knn(Q, X, k=5, metric="dot")
    t = _tune.tuner(compiled_path, 16, 4, 128)
    assert t.chosen in t.plans
    assert all(len(v) >= _tune.TRIALS for v in t.times.values())
    _tune.forget()
    _tune.tuner(compiled_path, 16, 4, 128).chosen = Plan(False, 128)
    plain = knn(Q, X, k=5, metric="dot")
    np.testing.assert_array_equal(tuned.indices, plain.indices)
    np.testing.assert_array_equal(tuned.scores, plain.scores)


def test_small_scans_leave_the_tuner_alone(rng, fresh_tuners):
    """Below _TUNE_FLOPS (every test corpus) nothing is timed: the default plan runs."""
    X = rng.normal(size=(300, 8)).astype(np.float32)
    knn(X[:20], X, k=3)
    assert _tune.chosen() == {}


@pytest.mark.parametrize("metric", METRICS)
def test_row_layout_masks_each_query_itself(rng, tuning, monkeypatch, metric):
    """A graph's re-search of some rows (the corpus as its own queries, not all of them)
    in the queries-by-rows layout: no row is its own candidate, and the candidates'
    keys are the written-out ones."""
    pytest.importorskip("numba", reason="numba not installed (extras fast or umap)")
    monkeypatch.setenv("VECDIAG_NUMBA", "1")
    monkeypatch.setattr(_scan, "_COMPILED_FLOPS", 0.0)
    from vecdiag.neighbors.rows import Rows

    X = rng.normal(size=(900, 12)).astype(np.float32)
    C = Rows(X, metric, "corpus")
    pos = np.sort(rng.choice(900, 70, replace=False))
    _tune.tuner(True, 12, 4, 128).chosen = Plan(True, 128)
    cand, key = _scan.numpy_candidates(C, C, pos, 9, exclude_self=True, budget=2**24,
                                       batch_size=None, progress={"desc": "t", "show": False})
    assert _tune.chosen() == {(True, 12, 4, 128): Plan(True, 128)}
    assert not (cand == pos[:, None]).any()
    x = X.astype(float)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    full = 2 * x[pos] @ x.T - (x * x).sum(1) if metric == "euclidean" else x[pos] @ x.T
    full[np.arange(pos.size), pos] = -np.inf
    want = np.sort(full, axis=1)[:, -9:]
    np.testing.assert_allclose(np.sort(key, axis=1), want, rtol=1e-5, atol=1e-5)
