"""Memory is measured, not restated: the traced peak (tracemalloc, which sees NumPy's
buffers in every thread) of each search under budgets of 1-4 MiB stays within

    memory_budget + fixed overhead

where the fixed overhead is what a search must hold whatever the budget, written out per
call below: the working copies of the inputs (unit rows under cosine, in the working dtype;
none for a memmap corpus, which is read in chunks), per-row statistics (norms, squared
norms: 3 x 8 bytes a row), the result (indices int64 + scores), the refine step's
temporaries (4 MiB, ``_REFINE_BYTES`` in neighbors/engine.py) and 1 MiB for the
interpreter and worker threads.

The sizes are those of the audit that found the budget unused (issue 22): 2,000 x 32
queries against a 20,000 x 32 float32 corpus. With the default 256 MiB budget the same
search peaks near 49 MiB, so a budget that is silently ignored fails here.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import vecdiag as vd

MiB = 2**20
REFINE = 4 * MiB          # refine temporaries, outside the block budget
SLACK = 1 * MiB           # interpreter objects, thread-local buffers
BUDGETS = [1 * MiB, 2 * MiB, 4 * MiB]
N_Q, N, D, K = 2000, 20_000, 32, 10


def traced_peak(fn):
    """(result, peak bytes allocated while fn runs)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return out, peak


def overhead(n_q, n, d, k, itemsize, *, copy_corpus=True, copy_queries=True):
    """The fixed part of a search's memory, in bytes (see the module docstring)."""
    copies = (n * d if copy_corpus else 0) + (n_q * d if copy_queries else 0)
    return (copies * itemsize + 3 * 8 * n + n_q * k * (8 + itemsize) + REFINE + SLACK)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(N_Q, D)).astype(np.float32),
            rng.normal(size=(N, D)).astype(np.float32))


@pytest.fixture(scope="module")
def reference(data):
    """The neighbours under the default budget, to show a small budget changes nothing."""
    Q, C = data
    return vd.knn(Q, C, k=K)


@pytest.fixture(scope="module")
def memmap_corpus(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("memory") / "corpus.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(N, D))
    mm[:] = data[1]
    mm.flush()
    return np.memmap(path, dtype=np.float32, mode="r", shape=(N, D))


def _check(peak, budget, fixed, what):
    assert peak <= budget + fixed, (
        f"{what}: traced peak {peak / MiB:.1f} MiB > budget {budget / MiB:.0f} MiB + fixed "
        f"overhead {fixed / MiB:.1f} MiB")


@pytest.mark.parametrize("budget", BUDGETS, ids=lambda b: f"{b // MiB}MiB")
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_float32_within_budget(data, reference, budget, metric):
    Q, C = data
    res, peak = traced_peak(lambda: vd.knn(Q, C, k=K, metric=metric, memory_budget=budget))
    # cosine copies both sides as unit rows; euclidean/dot score the rows themselves
    copy = metric == "cosine"
    _check(peak, budget, overhead(N_Q, N, D, K, 4, copy_corpus=copy, copy_queries=copy),
           f"knn {metric}")
    if metric == "cosine":
        np.testing.assert_array_equal(res.indices, reference.indices)


@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB], ids=lambda b: f"{b // MiB}MiB")
def test_knn_memmap_corpus_is_never_copied(data, memmap_corpus, reference, budget):
    Q, _ = data
    res, peak = traced_peak(lambda: vd.knn(Q, memmap_corpus, k=K, memory_budget=budget))
    _check(peak, budget, overhead(N_Q, N, D, K, 4, copy_corpus=False), "knn on a memmap")
    np.testing.assert_array_equal(res.indices, reference.indices)


@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB], ids=lambda b: f"{b // MiB}MiB")
def test_index_search_within_budget(data, reference, budget):
    Q, C = data
    index = vd.Index(C, memory_budget=budget)
    index.rows.data  # the unit copy (built on first use) is the corpus's, not the search's
    res, peak = traced_peak(lambda: index.search(Q, k=K))
    _check(peak, budget, overhead(N_Q, N, D, K, 4), "Index.search")
    np.testing.assert_array_equal(res.indices, reference.indices)


@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB], ids=lambda b: f"{b // MiB}MiB")
def test_index_search_memmap_within_budget(data, memmap_corpus, budget):
    Q, _ = data
    index = vd.Index(memmap_corpus, memory_budget=budget)
    index.rows.data  # the unit copy (built on first use) is the corpus's, not the search's
    _, peak = traced_peak(lambda: index.search(Q, k=K))
    _check(peak, budget, overhead(N_Q, N, D, K, 4, copy_corpus=False), "Index.search memmap")


@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB], ids=lambda b: f"{b // MiB}MiB")
def test_knn_graph_within_budget(data, budget):
    C = data[1][:8000]
    n = C.shape[0]
    index = vd.Index(C, memory_budget=budget)
    index.rows.data  # the unit copy (built on first use) is the corpus's, not the search's
    graph, peak = traced_peak(lambda: index.knn_graph(k=K))
    # every row's running best: kp = 2k + 8 candidates (neighbors/engine.py), positions
    # int64 + keys float32, held for the whole pass whatever the budget
    _check(peak, budget, overhead(0, n, D, 0, 4) + n * (2 * K + 8) * 12, "Index.knn_graph")
    # the same neighbours as a plain search that skips each item itself
    ref = vd.knn(C, C, k=K, exclude_self=True)
    np.testing.assert_array_equal(graph.indices, ref.indices)


def test_diagnose_within_budget(data):
    """diagnose's kNN graph runs under the Index's budget; the statistics around it work
    on float64 blocks of the corpus (moments, duplicates, PCA: at most 8 float64 copies of
    an 8,000 x 32 corpus here, the blocks are capped at 32 MiB each)."""
    C = data[1][:8000]
    n = C.shape[0]
    budget = 1 * MiB
    _, peak = traced_peak(lambda: vd.diagnose(vd.Index(C, memory_budget=budget)))
    fixed = overhead(0, n, D, 0, 4) + 8 * n * D * 8 + 2 * n * K * 12
    _check(peak, budget, fixed, "diagnose")


def test_a_larger_budget_is_used(data):
    """The bound is not vacuous: with room to spare the search takes bigger blocks."""
    Q, C = data
    _, small = traced_peak(lambda: vd.knn(Q, C, k=K, memory_budget=1 * MiB))
    _, large = traced_peak(lambda: vd.knn(Q, C, k=K, memory_budget=64 * MiB))
    assert large > small + 8 * MiB


# -- re-rankers: csls and mutual proximity on an Index take its memory_budget --------------

@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB], ids=lambda b: f"{b // MiB}MiB")
@pytest.mark.parametrize("rerank", ["csls", "mutual_proximity"])
def test_rerankers_within_the_index_budget(data, budget, rerank):
    """Cold: the Index builds what it caches (unit rows; csls: the kNN graph for the
    penalties; mutual proximity: closed-form statistics over 4 MiB float64 blocks, within
    the allowance of 4 float64 copies of the corpus kept here); warm: only the blocks of scores, the queries and the result."""
    Q, C = data[0][:200], data[1][:8000]
    n = C.shape[0]
    fn = getattr(vd.fixes, rerank)
    index = vd.Index(C, memory_budget=budget)
    index.rows.data  # the unit copy (built on first use) is the corpus's, not the search's
    cold, peak = traced_peak(lambda: fn(Q, index, k=K))
    caches = n * D * 4 + n * K * 12 + 4 * n * D * 8
    _check(peak, budget, overhead(200, n, D, K, 8, copy_corpus=False) + caches,
           f"{rerank} (cold Index)")
    warm, peak = traced_peak(lambda: fn(Q, index, k=K))
    _check(peak, budget, 200 * D * 8 + 200 * K * 16 + SLACK, f"{rerank} (warm Index)")
    np.testing.assert_array_equal(warm.indices, cold.indices)
    # the same neighbours as with the default 128 MiB blocks on a plain array
    np.testing.assert_array_equal(warm.indices, fn(Q, C, k=K).indices)


@pytest.mark.parametrize("fix", ["whiten", "all_but_the_top"])
def test_fitting_a_rotating_fix_holds_no_centred_float64_copy(data, fix):
    """Whiten and AllButTheTop sum their covariance one ~1 MiB block of centred float64
    rows at a time: fitting holds the unit rows (one float32 copy of the corpus, 2.4 MiB
    here, and their float64 norms), a block (1 MiB of float64 rows and their float32
    difference) and the interpreter's slack, not the centred float32 difference plus its
    float64 copy (3 more copies of the corpus). The axes equal the eigenvectors of
    NumPy's covariance of the unit rows."""
    from vecdiag.fixes.transformers import for_fix

    X = data[1]
    est, peak = traced_peak(lambda: for_fix(fix).fit(X))
    assert peak < X.nbytes + 8 * X.shape[0] + 1.5 * MiB + SLACK, (fix, peak / X.nbytes)
    U = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(np.cov(U, rowvar=False))
    top = vectors[:, ::-1][:, :est.components_.shape[0]].T
    assert np.allclose(np.abs(np.sum(top * est.components_, axis=1)), 1.0, atol=1e-6)


def test_isotropy_projects_a_few_rows_at_a_time(data):
    """vd.isotropy is one pass for the Gram matrix (:func:`compute_moments`, 32 MiB
    blocks) and one for the partition function, whose ± projections are exponentiated
    ~2 MiB at a time and in place: the second pass adds at most a few MiB to the first.
    It made the projection, its negation, their concatenation, the difference and the
    exponential of ``block_rows(d)`` rows at once (37.7 MB against the first pass's 12.7
    MB on these 20,000 x 32 rows). The value is Mu & Viswanath's min Z / max Z over ± the
    eigenvectors of XᵀX, computed here directly with scipy's logsumexp."""
    from scipy.special import logsumexp

    from vecdiag.diagnostics.moments import compute_moments

    X = data[1]
    _, first = traced_peak(lambda: compute_moments(X, space="raw"))
    value, peak = traced_peak(lambda: vd.isotropy(X))
    assert peak < first + 3 * MiB, (peak / MiB, first / MiB)
    X64 = X.astype(np.float64)
    _, vecs = np.linalg.eigh(X64.T @ X64)
    proj = X64 @ vecs
    logz = np.concatenate([logsumexp(proj, axis=0), logsumexp(-proj, axis=0)])
    assert value == pytest.approx(np.exp(logz.min() - logz.max()), rel=1e-9)


def test_mutual_proximity_statistics_hold_no_float64_copy(data):
    """Mutual proximity's exact per-document mean and std (cosine, closed form) are summed
    over 4 MiB blocks of float64 rows: beside the unit rows (one float32 copy) only the
    blocks and a few per-row arrays, not four float64 copies of the corpus (7.3x this
    20,000 x 32 float32 corpus at the peak). The scores equal MP-Gauss computed here
    from the raw second moments ``u_iᵀ (UᵀU) u_i`` (another route to the same std)."""
    from scipy.special import log_ndtr

    Q, C = data[0][:5], data[1]
    n = C.shape[0]
    nb, peak = traced_peak(lambda: vd.fixes.mutual_proximity(Q, C, k=K))
    assert peak < n * D * 4 + 3 * 4 * MiB + 8 * 8 * n + SLACK, peak / C.nbytes
    U = C.astype(np.float64)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    x = np.einsum("ij,ij->i", U, U)
    mean = (U @ U.sum(axis=0) - x) / (n - 1)
    sd = np.sqrt(((U @ (U.T @ U)) * U).sum(axis=1) - x ** 2) / np.sqrt(n - 1)
    sd = np.sqrt(sd ** 2 - mean ** 2)
    Qp = Q.astype(np.float64) / np.linalg.norm(Q.astype(np.float64), axis=1, keepdims=True)
    S = Qp @ U.T
    z_q = (S - S.mean(axis=1, keepdims=True)) / S.std(axis=1, keepdims=True)
    mp = np.exp(log_ndtr(z_q) + log_ndtr((S - mean) / sd))
    assert np.allclose(nb.scores, -np.sort(-mp, axis=1)[:, :K], rtol=1e-4)


def test_a_vector_fix_on_an_index_transforms_the_corpus_in_small_blocks(data):
    """The norms ``||T(c)||`` a fix on an Index caches are computed 1 MiB of corpus rows at
    a time: the transform's temporaries (unit rows, centred rows, the projection) were
    made for 65,536 rows at once whatever the dimension (4.06x this 20,000 x 32 float32
    corpus for all_but_the_top, 4.0x at 60,000 x 384). Now: the fit's unit rows, the
    cached norms and a few blocks. The ranking equals a search of the transformed arrays."""
    Q, C = data[0][:5], data[1]
    vd.fixes.apply_fix("all_but_the_top", Q, vd.Index(C[:50]), k=3)   # imports, warm
    index = vd.Index(C)
    index.unit_rows                      # the Index's own copy, built before the fix
    nb, peak = traced_peak(lambda: vd.fixes.apply_fix("all_but_the_top", Q, index, k=K))
    assert peak < C.nbytes + 8 * C.shape[0] + 4 * MiB + SLACK, peak / C.nbytes
    fix = vd.fixes.AllButTheTop().fit(C)
    direct = vd.knn(fix.transform(Q), fix.transform(C), k=K)
    assert np.array_equal(nb.indices, direct.indices)
    assert np.allclose(nb.scores, direct.scores, atol=1e-5)
