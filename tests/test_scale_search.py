"""Exact search on a Dask corpus (vecdiag.scale.search, vecdiag.scale.index): the same
answers as the in-memory engine, bit for bit, on any chunking and any scheduler."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vecdiag as vd
from _dask_cluster import worker_tasks
from vecdiag.neighbors import scoring
from vecdiag.scale import index as scale_index
from vecdiag.scale import block_top
from vecdiag.scale import search as ss

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
dask = pytest.importorskip("dask")

METRICS = ("cosine", "dot", "euclidean")


def corpus_with_ties(n=300, d=12, dtype=np.float32, seed=0):
    """Clustered rows with exact copies; copies 49/50 and 99/100 straddle 50-row chunks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d))
    X = (centres[rng.integers(0, 6, n)] + 0.3 * rng.normal(size=(n, d))).astype(dtype)
    for a, b in [(49, 50), (99, 100), (10, 250), (10, 251), (149, 150)]:
        if b < n:
            X[b] = X[a]
    if n > 201:
        X[200] = 2 * X[201]                 # parallel: equal cosine to a query in exact arithmetic
    return X


def same(a, b):
    assert a.indices.dtype == b.indices.dtype == np.int64
    assert a.scores.dtype == b.scores.dtype
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)      # bit for bit (same dtype)


@pytest.fixture(autouse=True)
def threaded_by_default():
    """Tests without ``dask_client`` run on Dask's threads (the default scheduler)."""
    with dask.config.set(scheduler="threads"):
        yield


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("chunks", [50, 7, 300, (3, 100, 1, 196)])
def test_knn_equals_numpy(metric, dtype, chunks):
    X = corpus_with_ties(dtype=dtype)
    Q = np.concatenate([X[[10, 49, 201]], corpus_with_ties(20, seed=1, dtype=dtype)])
    Xd = da.from_array(X, chunks=(chunks, -1))
    for k in (1, 5, 40):                # 40: larger than 7-row blocks and the 1-row block
        same(vd.knn(Q, Xd, k=k, metric=metric), vd.knn(Q, X, k=k, metric=metric))
    same(vd.knn(Xd, Xd, k=9, metric=metric, exclude_self=True),
         vd.knn(X, X, k=9, metric=metric, exclude_self=True))


@pytest.mark.parametrize("metric", METRICS)
def test_big_endian_float32_corpus_is_searched_in_float32_as_in_memory(metric):
    """A Dask array of big-endian float32 ('>f4', from a Java tool or another machine):
    the in-memory search takes it as float32, the Dask search cast it to float64, so the
    answer was not the promised bit-for-bit one (float64 scores, up to 1.9e-7 from the
    in-memory float32 ones under cosine here). It is searched in float32 now."""
    X = corpus_with_ties(120, d=8).astype(">f4")
    Xd = da.from_array(X, chunks=(25, -1))
    assert ss.check_dask_matrix(Xd, "corpus").dtype == np.dtype(np.float32)
    want = vd.knn(X[:6], X, k=7, metric=metric)
    assert want.scores.dtype == np.float32
    same(vd.knn(X[:6], Xd, k=7, metric=metric), want)
    same(vd.knn(Xd[:6], Xd, k=7, metric=metric), want)
    same(vd.Index(Xd, metric=metric).knn_graph(3), vd.Index(X, metric=metric).knn_graph(3))

def test_ties_straddling_blocks_take_the_lower_index():
    X = corpus_with_ties()
    Xd = da.from_array(X, chunks=50)
    res = vd.knn(X[[49, 10]], Xd, k=3, metric="euclidean")
    assert res.indices[0, :2].tolist() == [49, 50]          # exact copies across a boundary
    assert res.indices[1].tolist() == [10, 250, 251]
    assert res.scores[:, 0].tolist() == [0.0, 0.0]
    graph = vd.knn(Xd, Xd, k=1, metric="euclidean", exclude_self=True)
    assert graph.indices[[49, 50, 250, 251], 0].tolist() == [50, 49, 10, 10]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8),
       metric=st.sampled_from(METRICS), k=st.integers(1, 12),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16),
       dup=st.booleans())
def test_random_chunkings_property(sizes, metric, k, dtype, seed, dup):
    n = sum(sizes)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(dtype)
    if dup and n > 2:
        X[rng.integers(0, n, n // 3)] = X[0]              # many exact ties, anywhere
    Q = np.concatenate([X[:2], rng.normal(size=(3, 6)).astype(dtype)])
    Xd = da.from_array(X, chunks=(tuple(sizes), -1))
    k = min(k, n)
    same(ss.knn_dask(Q, Xd, k, metric=metric), vd.knn(Q, X, k, metric=metric))
    if n > 1:
        kk = min(k, n - 1)
        exact = vd.knn(X, X, kk, metric=metric, exclude_self=True)
        same(vd.knn(Xd, Xd, kk, metric=metric, exclude_self=True), exact)
        pos = rng.integers(0, n, 4)
        got = ss.knn_rows(Xd, pos, kk, metric=metric)
        np.testing.assert_array_equal(got.indices, exact.indices[pos])
        np.testing.assert_array_equal(got.scores, exact.scores[pos])


def test_block_scores_do_not_depend_on_block_mates():
    """The engine's reported score of a pair is computed from the pair alone: searching
    one row against blocks of different neighbours gives the same bits."""
    X = corpus_with_ties(dtype=np.float32)
    q = X[[3]] + np.float32(0.01)
    for metric in METRICS:
        whole = vd.knn(q, X, k=X.shape[0], metric=metric)
        score_of = dict(zip(whole.indices[0].tolist(), whole.scores[0].tolist()))
        for a, b in [(0, 1), (0, 17), (5, 64), (120, 300)]:
            part = vd.knn(q, X[a:b], k=b - a, metric=metric)
            assert {i + a: s for i, s in zip(part.indices[0].tolist(),
                                              part.scores[0].tolist())} == \
                {i: score_of[i] for i in range(a, b)}


@pytest.mark.parametrize("metric", METRICS)
def test_mixed_dtypes_and_dask_queries(metric):
    X = corpus_with_ties()
    Xd = da.from_array(X, chunks=64)
    Q64 = corpus_with_ties(30, seed=3, dtype=np.float64)
    same(vd.knn(Q64, Xd, k=6, metric=metric), vd.knn(Q64, X, k=6, metric=metric))
    same(vd.knn(da.from_array(Q64, chunks=7), Xd, k=6, metric=metric),
         vd.knn(Q64, X, k=6, metric=metric))
    # Dask queries on an in-memory corpus: the queries are computed
    same(vd.knn(da.from_array(Q64, chunks=7), X, k=6, metric=metric),
         vd.knn(Q64, X, k=6, metric=metric))


def test_large_dask_queries_stay_lazy(monkeypatch):
    """Query sets above QUERY_PART_BYTES go to the tasks block by block, not computed."""
    monkeypatch.setattr(ss, "QUERY_PART_BYTES", 1024)
    X = corpus_with_ties()
    Xd = da.from_array(X, chunks=40)
    parts, shape = ss.query_parts(Xd, "cosine", self_rows=True)
    assert shape == X.shape and len(parts) == 8 and not isinstance(parts[0][1], np.ndarray)
    same(vd.knn(Xd, Xd, k=4, exclude_self=True), vd.knn(X, X, k=4, exclude_self=True))
    Q = corpus_with_ties(100, seed=4)
    same(vd.knn(da.from_array(Q, chunks=30), Xd, k=4), vd.knn(Q, X, k=4))
    same(vd.knn(Q, Xd, k=4), vd.knn(Q, X, k=4))          # NumPy queries in 1 KiB parts


@pytest.mark.parametrize("metric", METRICS)
def test_knn_rows_numpy_and_dask(metric):
    X = corpus_with_ties(dtype=np.float64)
    pos = np.array([0, 49, 50, 10, 10, 299, 250])        # repeats kept, in order
    exact = vd.knn(X, X, k=5, metric=metric, exclude_self=True)
    for corpus in (X, da.from_array(X, chunks=50), da.from_array(X, chunks=3)):
        got = ss.knn_rows(corpus, pos, 5, metric=metric)
        np.testing.assert_array_equal(got.indices, exact.indices[pos])
        np.testing.assert_array_equal(got.scores, exact.scores[pos])
    assert ss.knn_rows(X, [], 3).indices.shape == (0, 3)


def test_dask_unit_rows_of_rows_past_the_float_range():
    """A float32 row of 3e38s has length inf in float32, a row of 3e-45s a rounded one:
    the Dask Index's unit rows made them zeros and a row 0.9 long, where the Index in
    memory (and float64 arithmetic) gives their directions."""
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    X[7] = [3e38, 3e38, -3e38, 1e38]
    X[31] = [3e-45, 4e-45, 0, 0]
    lazy = vd.Index(da.from_array(X, chunks=20), metric="dot")
    X64 = X.astype(np.float64)
    want = X64 / np.linalg.norm(X64, axis=1)[:, None]
    got = lazy.unit_rows.compute()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got, vd.Index(X, metric="dot").unit_rows)


@pytest.mark.parametrize("metric", METRICS)
def test_dask_unit_rows_and_full_scores_name_nan_rows_by_global_row(metric):
    """A NaN in row 43 of a corpus in blocks of 20: the Index in memory refuses row 43,
    while the Dask Index's unit rows and full scores named it "1 row (3)", its row in
    its block (and under dot, full_scores gave a NaN score without a word)."""
    X = np.random.default_rng(1).normal(size=(60, 5))
    X[43, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 row \(43\) with NaN or inf"):
        vd.Index(X, metric=metric)                     # the in-memory reference
    lazy = vd.Index(da.from_array(X, chunks=(20, 5)), metric=metric)
    with pytest.raises(ValueError, match=r"1 row \(43\) with NaN or inf"):
        lazy.unit_rows.compute(scheduler="sync")
    with pytest.raises(ValueError, match=r"1 row \(43\) with NaN or inf"):
        scoring.full_scores(lazy, X[:2])


def test_index_over_dask():
    X = corpus_with_ties()
    ids = [f"doc{i}" for i in range(len(X))]
    texts = [f"text {i}" for i in range(len(X))]
    Q = corpus_with_ties(10, seed=5)
    for metric in METRICS:
        mem = vd.Index(X, ids=ids, texts=texts, metric=metric)
        lazy = vd.Index(da.from_array(X, chunks=45), ids=ids, texts=texts, metric=metric)
        assert isinstance(lazy, vd.Index) and isinstance(lazy, scale_index.DaskIndex)
        assert len(lazy) == len(X) and ss.is_dask_array(lazy.vectors)
        res = lazy.search(Q, k=8)
        same(res, mem.search(Q, k=8))
        assert (res.ids == mem.search(Q, k=8).ids).all() and res.texts is not None
        np.testing.assert_array_equal(lazy.norms, mem.norms)
        np.testing.assert_array_equal(lazy.unit_rows.compute(), mem.unit_rows)
        same(lazy.knn_graph(6), mem.knn_graph(6))
        same(lazy.knn_graph(3), mem.knn_graph(3))          # prefix of the cached graph
        full = scoring.full_scores(lazy, Q[:3])
        np.testing.assert_allclose(full, scoring.full_scores(mem, Q[:3]), rtol=1e-5, atol=1e-5)
        keys = scoring.keys_of(full[0], metric)
        ranks = scoring.ranks_of(keys, res.indices[0])
        assert ranks.tolist() == list(range(1, 9))
    copy = pickle.loads(pickle.dumps(lazy))
    same(copy.search(Q, k=2), lazy.search(Q, k=2))
    with pytest.raises(TypeError, match=r"Index.rows .* Dask array; use index.search"):
        lazy.rows
    with pytest.raises(ValueError, match="faiss.*Dask corpus"):
        vd.Index(da.from_array(X, chunks=45), backend="faiss")


def test_knn_graph_states_its_cost(monkeypatch):
    monkeypatch.setattr(scale_index, "GRAPH_WARN_SECONDS", 0.0)
    index = vd.Index(da.from_array(corpus_with_ties(), chunks=100))
    with pytest.warns(UserWarning, match=r"O\(n² d\): about .* flop.*sample="):
        index.knn_graph(2)
    monkeypatch.setattr(scale_index, "GRAPH_WARN_SECONDS", 1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vd.Index(da.from_array(corpus_with_ties(), chunks=100)).knn_graph(2)


def test_bad_inputs():
    X = corpus_with_ties()
    Xd = da.from_array(X, chunks=50)
    with pytest.raises(ValueError, match="queries has dimension 5 but corpus has dimension 12"):
        vd.knn(np.ones((2, 5)), Xd)
    with pytest.raises(ValueError, match="queries has dimension 5 but corpus has dimension 12"):
        vd.knn(da.ones((2, 5)), Xd)
    with pytest.raises(ValueError, match="k=301 is larger than the corpus"):
        vd.knn(X[:2], Xd, k=301)
    with pytest.raises(ValueError, match=r"k=300 .* minus the item itself"):
        ss.knn_rows(Xd, [0], k=300)
    unknown = da.from_array(X, chunks=50)[da.from_array(X[:, 0] > 0, chunks=50)]
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        vd.knn(X[:2], unknown)
    with pytest.raises(ValueError, match="positions has 1 row \\(1\\) outside the corpus"):
        ss.knn_rows(Xd, [0, 300], k=2)
    with pytest.raises(ValueError, match="exclude_self=True needs queries to be the corpus"):
        vd.knn(X[:5], Xd, exclude_self=True)
    with pytest.raises(ValueError, match="backend='faiss' cannot search a Dask corpus"):
        vd.knn(X[:2], Xd, backend="faiss")
    with pytest.raises(ValueError, match="memory_budget is in bytes"):
        ss.knn_rows(Xd, [0], k=2, memory_budget=1000)
    with pytest.raises(TypeError, match="show_progress must be True, False or None"):
        vd.Index(Xd).search(X[:1], show_progress="yes")
    with pytest.raises(ValueError, match="batch_size"):
        vd.Index(Xd).knn_graph(2, batch_size=0)
    bad = X.copy()
    bad[[120, 260]] = np.nan
    with pytest.raises(ValueError, match=r"corpus has 2 rows \(120, 260\) with NaN or inf"):
        vd.knn(X[:2], da.from_array(bad, chunks=50))
    zero = X.copy()
    zero[77] = 0
    with pytest.raises(ValueError, match=r"corpus has a zero vector at row 77"):
        vd.knn(X[:2], da.from_array(zero, chunks=50))
    vd.knn(X[:2], da.from_array(zero, chunks=50), metric="dot")     # fine for dot
    with pytest.raises(ValueError, match=r"queries has a zero vector at row 1"):
        vd.knn(zero[76:78], Xd)
    with pytest.raises(ValueError, match=r"corpus has 1 row \(120\) with NaN or inf"):
        vd.Index(da.from_array(bad[:200], chunks=50)).norms
    with pytest.raises(ValueError, match="vectors too short for dot scores"):
        vd.knn(X[:2] * 1e-30, da.from_array(X * np.float32(1e-30), chunks=50), metric="dot")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_short_vectors_are_refused_in_the_words_of_numpy(dtype):
    """Dask's underflow check (decided on all blocks) had its own copy of the engine's
    words, without the engine's "(or pass float64)" for float32: the same vectors gave two
    messages. It calls the engine's check now: one message, both lengths named."""
    X = corpus_with_ties(100, dtype=dtype) * dtype(1e-30 if dtype == np.float32 else 1e-160)
    with pytest.raises(ValueError) as in_memory:
        vd.knn(X[:2], X, metric="dot")
    with pytest.raises(ValueError) as blocks:
        vd.knn(X[:2], da.from_array(X, chunks=50), metric="dot")
    assert str(blocks.value) == str(in_memory.value)
    assert str(blocks.value).endswith("first (or pass float64)") == (dtype == np.float32)


def test_short_vectors_in_one_block_only_follow_the_whole_corpus():
    """Underflow is decided on all blocks: one block of tiny vectors alone does not raise."""
    X = corpus_with_ties(100, dtype=np.float32)
    X[:50] *= np.float32(1e-25)
    Q = X[:3]                            # tiny queries: only the tiny block underflows
    same(vd.knn(Q, da.from_array(X, chunks=50), k=60, metric="dot"),
         vd.knn(Q, X, k=60, metric="dot"))


class CountingBar:
    """Stands in for the progress bar: records its total and the updates."""

    bars: list = []

    def __init__(self, total, **options):
        self.total, self.n, self.options = total, 0, options
        CountingBar.bars.append(self)

    def update(self, n):
        self.n += n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.fixture
def bars(monkeypatch):
    from vecdiag.scale import tasks

    CountingBar.bars = []
    monkeypatch.setattr(tasks, "progress_bar", CountingBar)
    return CountingBar.bars


def test_progress_bar_counts_the_blocks(bars):
    X = corpus_with_ties()
    res = vd.knn(X[:4], da.from_array(X, chunks=50), k=3, show_progress=True)
    same(res, vd.knn(X[:4], X, k=3))
    assert [(b.total, b.n) for b in bars] == [(1200, 1200)]          # 4 queries x 300 rows
    assert bars[0].options["desc"] == "knn search (dask)"
    vd.knn(X[:4], da.from_array(X, chunks=50), k=3, show_progress=False)
    assert len(bars) == 1


@pytest.mark.parametrize("metric", METRICS)
def test_ann_recall_reads_only_the_named_rows_of_a_dask_corpus(metric):
    X = corpus_with_ties(dtype=np.float64)
    Q = corpus_with_ties(6, seed=8, dtype=np.float64)
    exact = vd.knn(Q, X, k=5, metric=metric)
    approx = exact.indices.copy()
    approx[:, -1] = (approx[:, -1] + 7) % len(X)           # some misses
    approx[0, 0] = 50 if exact.indices[0, 0] == 49 else approx[0, 0]
    want = vd.ann_recall(approx, exact.indices, queries=Q, corpus=X, metric=metric)
    for corpus in (da.from_array(X, chunks=40), vd.Index(da.from_array(X, chunks=40),
                                                          metric=metric)):
        assert vd.ann_recall(approx, exact.indices, queries=Q, corpus=corpus,
                             metric=metric) == want
    assert want < 1.0
    with pytest.raises(ValueError, match="corpus row 300, but the corpus has 300 rows"):
        vd.ann_recall([[300]], [[0]], queries=Q[:1], corpus=da.from_array(X, chunks=40),
                      metric=metric)


def test_empty_queries():
    Xd = da.from_array(corpus_with_ties(), chunks=50)
    res = vd.knn(np.zeros((0, 12)), Xd, k=3)
    assert res.indices.shape == (0, 3)


@pytest.mark.parametrize("metric,dtype", [(m, np.float32) for m in METRICS]
                         + [("euclidean", np.float64)])
def test_on_a_real_cluster(dask_client, metric, dtype, bars):
    """Worker processes run the block tasks; the answers equal the in-memory engine."""
    X = corpus_with_ties(dtype=dtype)
    Q = corpus_with_ties(25, seed=7, dtype=dtype)
    Xd = da.from_array(X, chunks=60)
    with worker_tasks(dask_client) as ran:
        res = vd.knn(Q, Xd, k=12, metric=metric)
    assert len(ran.workers) >= 1 and ran.n_tasks >= 5
    same(res, vd.knn(Q, X, k=12, metric=metric))
    index = vd.Index(Xd, metric=metric)
    with worker_tasks(dask_client) as ran:
        graph = index.knn_graph(4)
        rows = ss.knn_rows(Xd, [5, 50, 250], 4, metric=metric)
    assert ran.workers
    exact = vd.knn(X, X, k=4, metric=metric, exclude_self=True)
    same(graph, exact)
    np.testing.assert_array_equal(rows.indices, exact.indices[[5, 50, 250]])
    with worker_tasks(dask_client) as ran:                 # the futures path of the bar
        shown = vd.knn(Q, Xd, k=12, metric=metric, show_progress=True)
    assert ran.workers
    same(shown, res)
    assert [(b.total, b.n) for b in bars] == [(25 * 300, 25 * 300)]


# --- arrays from vd.open_vectors: each task reads its own chunk, samples read row by row ---

def _shard_files(tmp_path, X, rows):
    for i, a in enumerate(range(0, X.shape[0], rows)):
        np.save(tmp_path / f"s-{i}.npy", X[a:a + rows])
    return str(tmp_path / "s-*.npy")


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_files_read_by_their_tasks_give_the_same_neighbours(tmp_path, metric, dtype, direct):
    """Search tasks read their chunk from the file, the first bound comes from rows read
    straight from two files, knn_rows reads its sampled rows one by one: all bit for bit
    the in-memory engine, ties straddling chunks and files included."""
    X = corpus_with_ties(dtype=dtype)
    Q = np.concatenate([X[[10, 49, 201]], corpus_with_ties(20, seed=1, dtype=dtype)])
    Xd = vd.open_vectors(_shard_files(tmp_path, X, 110), chunks=40, direct=direct)
    assert Xd.row_sources is not None and Xd.numblocks[0] > 2
    for k in (1, 5, 40):
        same(vd.knn(Q, Xd, k=k, metric=metric), vd.knn(Q, X, k=k, metric=metric))
    pos = np.array([250, 5, 50, 5, 109, 110])
    exact = vd.knn(X, X, k=6, metric=metric, exclude_self=True)
    got = ss.knn_rows(Xd, pos, 6, metric=metric)
    np.testing.assert_array_equal(got.indices, exact.indices[pos])
    np.testing.assert_array_equal(got.scores, exact.scores[pos])
    np.testing.assert_array_equal(block_top.gather_rows(Xd, np.array([0, 39, 40, 299])), X[[0, 39, 40, 299]])


def test_files_with_bad_rows_are_named_by_their_corpus_row(tmp_path):
    X = corpus_with_ties()
    X[[3, 170]] = np.nan
    Xd = vd.open_vectors(_shard_files(tmp_path, X, 110), chunks=40)
    # every bad row is named, wherever its block (file chunk) is
    with pytest.raises(ValueError, match=r"corpus has 2 rows \(3, 170\) with NaN or inf"):
        vd.knn(X[:2] * 0 + 1, Xd, k=3)


def test_files_on_a_real_cluster(tmp_path, dask_client):
    X = corpus_with_ties()
    Xd = vd.open_vectors(_shard_files(tmp_path, X, 110), chunks=40)
    Q = corpus_with_ties(25, seed=7)
    with worker_tasks(dask_client) as ran:
        res = vd.knn(Q, Xd, k=7)
        rows = ss.knn_rows(Xd, [5, 50, 250], 4)
    assert ran.workers and ran.n_tasks >= 8
    same(res, vd.knn(Q, X, k=7))
    np.testing.assert_array_equal(
        rows.indices, vd.knn(X, X, k=4, exclude_self=True).indices[[5, 50, 250]])


def test_large_query_sets_are_scattered_not_sent_in_the_graph(dask_client, monkeypatch):
    """Queries every block task reads go to the workers once (Client.scatter), so Dask
    does not warn "Sending large graph" (from 10 MB on; the 10,000 rows of a sampled
    hubness at d = 384 are 15 MB); the neighbours are the in-memory engine's. Below
    SCATTER_BYTES, or without a Client, one delayed key in the graph."""
    import dask
    from dask.delayed import Delayed

    from vecdiag.scale import tasks

    rng = np.random.default_rng(4)
    X = rng.standard_normal((240, 320)).astype(np.float32)
    Q = rng.standard_normal((8500, 320)).astype(np.float32)        # 10.9 MB
    Xd = da.from_array(X, chunks=60)
    assert type(tasks.shared(Q)).__name__ == "Future"
    assert isinstance(tasks.shared(Q[:2]), Delayed)                 # 2.5 KB: in the graph
    with dask.config.set(scheduler="threads"):
        assert isinstance(tasks.shared(Q), Delayed)
    for size, warns in ((tasks.SCATTER_BYTES, False), (2**40, True)):
        monkeypatch.setattr(tasks, "SCATTER_BYTES", size)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with worker_tasks(dask_client) as ran:
                res = vd.knn(Q, Xd, k=5)
        large = [w for w in caught if "large graph" in str(w.message)]
        assert bool(large) == warns and ran.workers
        same(res, vd.knn(Q, X, k=5))


def test_block_tasks_restore_glibcs_mmap_threshold_only_where_dask_fixed_it(monkeypatch):
    """Dask sets MALLOC_TRIM_THRESHOLD_ for its workers, which turns glibc's dynamic mmap
    threshold off; the block tasks set it back once per process, and leave any other
    process (no such variable, or a threshold set by the user) alone."""
    import platform

    from vecdiag.scale import tasks

    monkeypatch.setattr(tasks, "_tuned", False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert tasks.reuse_freed_memory() is False and tasks._tuned is False
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert tasks.reuse_freed_memory() is False and tasks._tuned is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    assert tasks.reuse_freed_memory() is (platform.libc_ver()[0] == "glibc")
    assert tasks._tuned is True
    assert tasks.reuse_freed_memory() is False                 # once per process


@pytest.mark.parametrize("direct", [False, True])
def test_chunk_rows_read_few_rows_one_by_one_and_many_in_one_stream(tmp_path, monkeypatch,
                                                                     direct):
    """gather_rows asks each chunk for its rows: a few are read one by one, many by
    streaming the chunk once (SEEK_ROWS decides); both give the rows, in order."""
    from vecdiag.scale import direct as dr

    X = corpus_with_ties()
    Xd = vd.open_vectors(_shard_files(tmp_path, X, 110), chunks=40, direct=direct)
    monkeypatch.setattr(dr, "STREAM_READ_BYTES", 7 * 12 * 8)          # 7 rows per read
    monkeypatch.setattr(block_top, "SEEK_ROWS", 4)      # chunks of 40 rows: 10 or more stream
    seen = {"one by one": 0, "streamed": 0}
    real_positions, real_stream = dr.read_positions, dr.source_pieces

    def positions(*a, **k):
        seen["one by one"] += 1
        return real_positions(*a, **k)

    def stream(*a, **k):
        seen["streamed"] += 1
        return real_stream(*a, **k)

    monkeypatch.setattr(block_top, "read_positions", positions)
    monkeypatch.setattr(block_top, "source_pieces", stream)
    with dask.config.set(scheduler="sync"):
        few = np.array([0, 39, 41, 299])
        np.testing.assert_array_equal(block_top.gather_rows(Xd, few), X[few])
        assert seen == {"one by one": 3, "streamed": 0}
        many = np.r_[np.arange(40, 80), [5, 222]]
        many.sort()
        np.testing.assert_array_equal(block_top.gather_rows(Xd, many), X[many])
        assert seen["streamed"] == 1 and seen["one by one"] == 5
        assert block_top.gather_rows(Xd, np.zeros(0, np.int64)).shape == (0, 12)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_row_chunks_with_no_rows_search_like_numpy(metric):
    """A Dask array may hold chunks of 0 rows (boolean indexing, a filter that emptied a
    partition): they hold no candidates. Search, the graph and hubness equal NumPy's
    (they raised 'max_workers must be greater than 0' from an empty worker pool)."""
    X = corpus_with_ties(n=100, d=8)
    keep = np.ones(100, bool)
    keep[:25] = False
    with dask.config.set(scheduler="synchronous"):
        filtered = da.from_array(X, chunks=25)[da.from_array(keep, chunks=25)]
        filtered.compute_chunk_sizes()
        assert 0 in filtered.chunks[0]
        same(vd.knn(X[:5], filtered, k=4, metric=metric), vd.knn(X[:5], X[25:], k=4,
                                                                 metric=metric))
        holes = da.from_array(X, chunks=((0, 50, 0, 50), 8))
        same(vd.knn(X[:5], holes, k=4, metric=metric), vd.knn(X[:5], X, k=4, metric=metric))
        same(vd.Index(holes, metric=metric).knn_graph(k=3),
             vd.Index(X, metric=metric).knn_graph(k=3))
        queries = da.from_array(X[:6], chunks=((0, 3, 0, 3), 8))
        same(vd.knn(queries, holes, k=2, metric=metric), vd.knn(X[:6], X, k=2, metric=metric))
        assert vd.hubness(holes, k=3, metric=metric).skewness == pytest.approx(
            vd.hubness(X, k=3, metric=metric).skewness, abs=1e-12)


def test_no_queries_give_an_empty_answer_whichever_side_is_dask():
    X = corpus_with_ties(n=40, d=6)
    for queries, corpus in ((da.zeros((0, 6), chunks=5), X),
                            (np.zeros((0, 6)), da.from_array(X, chunks=10)),
                            (da.zeros((0, 6), chunks=5), da.from_array(X, chunks=10)),
                            (np.zeros((0, 6)), X)):
        res = vd.knn(queries, corpus, k=3)
        assert res.indices.shape == res.scores.shape == (0, 3)


@pytest.mark.parametrize("metric", METRICS)
def test_query_log_hubness_on_a_dask_corpus_is_exact(metric):
    # vd.hubness(X_dask, queries=Q) was refused with "queries and sample cannot be
    # combined ... drop sample=" though no sample was given: a query log's hubness is
    # exact, and the Dask Index searches it block by block
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 12)) + 0.5      # no exact ties: the top k is unambiguous
    Q = rng.normal(size=(40, 12))
    k = 5
    if metric == "cosine":
        S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (
            X / np.linalg.norm(X, axis=1, keepdims=True)).T
    elif metric == "dot":
        S = Q @ X.T
    else:
        S = -np.linalg.norm(Q[:, None, :] - X[None], axis=2)
    top = np.argsort(-S, axis=1, kind="stable")[:, :k]
    counts = np.bincount(top.ravel(), minlength=len(X))
    h = vd.hubness(da.from_array(X, chunks=(70, -1)), k=k, metric=metric, queries=Q)
    np.testing.assert_array_equal(h.k_occurrence, counts)
    m3 = np.mean((counts - counts.mean()) ** 3)
    assert h.skewness == pytest.approx(m3 / counts.std() ** 3, rel=1e-9)


def test_a_zero_vector_under_dot_ties_every_row_and_keeps_the_lowest_indices():
    # a zero query scores exactly 0 against every row: the sampled bound (the k-th score,
    # 0) was used without any margin, so every row (all tied with it) was pruned and the
    # search failed with "fewer than k eligible corpus rows; this is a bug"; a zero corpus
    # row did the same to knn_graph (its own list), hence to explain_neighbors under dot
    rng = np.random.default_rng(12)
    X = rng.normal(size=(400, 10))
    X[50] = 0.0
    Xd = da.from_array(X, chunks=(90, -1))
    res = vd.knn(np.zeros((2, 10)), Xd, k=5, metric="dot")
    np.testing.assert_array_equal(res.indices, [[0, 1, 2, 3, 4]] * 2)   # all tie: lowest rows
    np.testing.assert_array_equal(res.scores, np.zeros((2, 5)))
    graph = vd.Index(Xd, metric="dot").knn_graph(5)
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    want = np.argsort(-S, axis=1, kind="stable")[:, :5]   # no ties among the other rows
    np.testing.assert_array_equal(graph.indices, want)
    np.testing.assert_array_equal(graph.indices[50], [0, 1, 2, 3, 4])


def test_bad_rows_in_several_blocks_are_all_named():
    # each block task checks its own rows: the error named only the rows of the block that
    # failed first ("corpus has 2 rows (253, 298) that are zero vectors" for 9 of them)
    rng = np.random.default_rng(13)
    X = rng.normal(size=(500, 6))
    X[[3, 120, 480]] = np.nan
    X[[7, 300]] = 0.0
    Xd = da.from_array(X, chunks=(100, -1))
    nan_rows = np.flatnonzero(~np.isfinite(X).all(axis=1)).tolist()
    assert nan_rows == [3, 120, 480]
    with pytest.raises(ValueError, match=r"corpus has 3 rows \(3, 120, 480\) with NaN or inf"):
        vd.knn(np.ones((2, 6)), Xd, k=3, metric="dot")
    X[nan_rows] = 1.0
    zero_rows = np.flatnonzero(~X.any(axis=1)).tolist()
    assert zero_rows == [7, 300]
    with pytest.raises(ValueError, match=r"corpus has 2 rows \(7, 300\) that are zero vectors"):
        vd.knn(np.ones((2, 6)), da.from_array(X, chunks=(100, -1)), k=3)
    with pytest.raises(ValueError, match=r"corpus has 2 rows \(7, 300\) that are zero vectors"):
        vd.Index(da.from_array(X, chunks=(100, -1))).knn_graph(3)


def test_norms_and_full_scores_name_the_bad_rows_of_every_block():
    """Index.norms and full_scores of a Dask Index named only the NaN rows of the block
    that failed first ("corpus has 1 row (480)" for three rows in three blocks); like the
    search, they now name every one, as the in-memory Index does."""
    X = np.random.default_rng(14).normal(size=(500, 6))
    X[[3, 120, 480]] = np.nan
    nan_rows = np.flatnonzero(~np.isfinite(X).all(axis=1)).tolist()
    assert nan_rows == [3, 120, 480]
    message = r"corpus has 3 rows \(3, 120, 480\) with NaN or inf"
    with pytest.raises(ValueError, match=message):
        vd.Index(X, metric="dot")                      # the in-memory reference
    for metric in METRICS:
        lazy = vd.Index(da.from_array(X, chunks=(100, -1)), metric=metric)
        with pytest.raises(ValueError, match=message):
            lazy.norms
        with pytest.raises(ValueError, match=message):
            scoring.full_scores(lazy, np.ones((2, 6)))


@pytest.mark.parametrize("fix", ["csls", "mutual_proximity", "deduplicate"])
def test_rerankers_on_a_dask_index_say_what_to_do(fix):
    """csls, mutual_proximity and deduplicate score every document in memory: on an
    Index over a Dask array they failed deep inside Dask ('Array chunk size or shape is
    unknown') or with "'SampledDuplicates' object is not iterable"; they now refuse by
    name, as the Index's rows do, and the computed corpus gives the in-memory answer."""
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(60, 5)), rng.normal(size=(3, 5))
    lazy = vd.Index(da.from_array(X, chunks=20), ids=[f"d{i}" for i in range(60)])
    call = getattr(vd.fixes, fix)
    with pytest.raises(TypeError, match=rf"^{fix} scores every document.*Dask array.*"
                                        r"vd\.Index\(corpus\.compute\(\)"):
        call(Q, lazy, 4)
    got = call(Q, vd.Index(lazy.vectors.compute(), ids=lazy.ids), 4)
    S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ \
        (X / np.linalg.norm(X, axis=1, keepdims=True)).T
    if fix == "deduplicate":    # no copies in random data: the plain cosine ranking
        np.testing.assert_array_equal(got.indices, np.argsort(-S, axis=1, kind="stable")[:, :4])
    assert got.ids[0, 0] == f"d{got.indices[0, 0]}"


def _reference_top(Q, C, k, metric):
    """Brute-force NumPy top k, ties by lower row (float64)."""
    if metric == "cosine":
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        C = C / np.linalg.norm(C, axis=1, keepdims=True)
    key = np.linalg.norm(Q[:, None] - C[None], axis=2) if metric == "euclidean" else -(Q @ C.T)
    return np.array([np.lexsort((np.arange(C.shape[0]), row))[:k] for row in key])


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_vector_fixes_on_a_dask_index_search_block_by_block(metric):
    """apply_fix('center' | 'normalize' | 'whiten' | 'all_but_the_top' | 'cosine_metric')
    on an Index over a Dask array failed deep inside Dask ('Array chunk size or shape is
    unknown'): the cached fix path took the Index's rows as in-memory arrays. They now fit
    from one pass and search the lazily transformed corpus per row block: checked against
    NumPy by hand (centring the unit rows, or the raw ones under dot/euclidean, then a
    brute-force search) and, for whiten and all-but-the-top, the in-memory Index."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(90, 5)) + 2.0
    X[[10, 70]] = X[40]                                  # exact copies across blocks
    Q = rng.normal(size=(3, 5)) + 2.0
    lazy = vd.Index(da.from_array(X, chunks=(25, 3)), metric=metric,
                    ids=[f"d{i}" for i in range(90)])
    U = X / np.linalg.norm(X, axis=1, keepdims=True) if metric == "cosine" else X
    Uq = Q / np.linalg.norm(Q, axis=1, keepdims=True) if metric == "cosine" else Q
    got = vd.fixes.apply_fix("center", Q, lazy, k=12)
    want = _reference_top(Uq - U.mean(axis=0), U - U.mean(axis=0), 12, metric)
    np.testing.assert_array_equal(got.indices, want)
    assert got.ids[1, 0] == f"d{want[1, 0]}"
    for code in ("normalize", "cosine_metric"):
        np.testing.assert_array_equal(vd.fixes.apply_fix(code, Q, lazy, k=12).indices,
                                      _reference_top(Q, X, 12, "cosine"))
    for code in ("whiten", "all_but_the_top"):
        want = vd.fixes.apply_fix(code, Q, vd.Index(X, metric=metric), k=12)
        got = vd.fixes.apply_fix(code, Q, lazy, k=12)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-9, atol=1e-9)


def test_fixes_on_a_dask_array_never_gather_it(monkeypatch):
    """apply_fix and try_fixes given a bare Dask array (not an Index over one) read it
    into this process with np.asarray (a 1,500 x 16 corpus gathered whole; on a cluster,
    every byte sent to the client), and the re-rankers after a transform (say
    all_but_the_top+csls, on an Index too) scored the gathered array where csls alone was
    refused. A Dask corpus is now searched as an Index over it, one row block per task,
    the same rankings as NumPy; a re-ranker on a Dask array is refused (InMemoryOnly), and
    try_fixes lists it in ``failed``."""
    from vecdiag.neighbors.scoring import InMemoryOnly

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6)) + 1.5
    Q = rng.normal(size=(4, 6)) + 1.5
    lazy = da.from_array(X, chunks=(25, 4))

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"a Dask array of shape {self.shape} was gathered")

    monkeypatch.setattr(da.Array, "__array__", refuse)
    for code, metric in [("center", "cosine"), ("whiten", "dot"), ("cosine_metric", "euclidean")]:
        want = vd.fixes.apply_fix(code, Q, X, k=9, metric=metric)
        got = vd.fixes.apply_fix(code, Q, lazy, k=9, metric=metric)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-9, atol=1e-9)
    for corpus in (lazy, vd.Index(lazy)):
        with pytest.raises(InMemoryOnly, match="csls scores every document"):
            vd.fixes.apply_fix("all_but_the_top+csls", Q, corpus, k=3)
    ids = [f"d{i}" for i in range(120)]
    top = vd.knn(Q, X, 2).indices                      # judged: each query's top two
    qrels = {f"q{i}": {f"d{top[i, 0]}": 2, f"d{top[i, 1]}": 1} for i in range(4)}
    with pytest.warns(UserWarning, match="could not run"):
        report = vd.try_fixes(Q, lazy, qrels, query_ids=["q0", "q1", "q2", "q3"], doc_ids=ids,
                              fixes=["center", "csls", "all_but_the_top+csls"], k=5,
                              n_resamples=50)
    assert sorted(report.failed) == ["all_but_the_top+csls", "csls"]
    want = vd.try_fixes(Q, X, qrels, query_ids=["q0", "q1", "q2", "q3"], doc_ids=ids,
                        fixes=["center"], k=5, n_resamples=50)
    assert report.runs["center"].keys() == want.runs["center"].keys()
    for q in want.runs["center"]:
        assert list(report.runs["center"][q]) == list(want.runs["center"][q])
