"""Plateaus of identical rows: the distinct-rows path (neighbors/_copies.py) against the
engine's own re-check rounds, which reach the same exact answer by making every corpus row
a candidate. Same indices and scores, bit for bit, every metric and dtype, search and
kNN graph; and the tie rule (lower index first) checked against a brute-force sort."""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.neighbors import _copies


def plateau(rng, n=900, d=12, share=0.4, groups=3, dtype=np.float64, integer=False):
    X = rng.integers(-4, 5, size=(n, d)).astype(float) if integer else rng.normal(size=(n, d))
    X[np.all(X == 0, axis=1)] = 1.0
    rows = rng.choice(n, int(share * n), replace=False)
    for g, part in enumerate(np.array_split(rows, groups)):
        X[part] = X[part[0]] * (1 + g)            # copies; groups of parallel rows too
    return X.astype(dtype)


def _both(monkeypatch, run):
    fast = run()
    monkeypatch.setattr(_copies, "worth_it", lambda C, margin: False)
    slow = run()
    monkeypatch.undo()
    return fast, slow


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distinct_rows_path_equals_the_re_check_rounds(rng, monkeypatch, metric, dtype):
    X = plateau(rng, dtype=dtype)
    Q = np.concatenate([X[:40], plateau(rng, n=30, dtype=dtype)]).astype(dtype)
    calls = []
    real = _copies.resolve

    def counted(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(_copies, "resolve", counted)
    for k in (1, 7, 25):
        fast, slow = _both(monkeypatch, lambda: (
            vd.knn(Q, X, k=k, metric=metric),
            vd.Index(X, metric=metric).knn_graph(k, show_progress=False)))
        monkeypatch.setattr(_copies, "resolve", counted)
        for a, b in zip(fast, slow):
            np.testing.assert_array_equal(a.indices, b.indices)
            np.testing.assert_array_equal(a.scores, b.scores)
    assert calls                                      # the plateaus did take the new path


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_ties_across_groups_follow_the_index_rule(rng, metric):
    """Integer vectors: exact scores, many equal between different groups. The top-k is
    a brute-force sort by (score, index) of the exact scores."""
    X = plateau(rng, n=400, d=3, share=0.6, groups=5, integer=True)
    Q = X[::37]
    got = vd.knn(Q, X, k=30, metric=metric)
    if metric == "euclidean":
        S = np.sqrt(((Q[:, None, :] - X[None]) ** 2).sum(-1))
    elif metric == "dot":
        S = -(Q @ X.T)
    else:
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        S = -np.round(Q / np.linalg.norm(Q, axis=1, keepdims=True) @ U.T, 12)
    want = np.array([np.lexsort((np.arange(X.shape[0]), s))[:30] for s in S])
    if metric == "cosine":          # compare the sets of each score level, not bits
        for g, w, s in zip(got.indices, want, S):
            assert sorted(np.round(s[g], 9)) == sorted(np.round(s[w], 9))
            assert (np.sort(g) == np.sort(w)).mean() > 0.9
    else:
        np.testing.assert_array_equal(got.indices, want)


def _groups(C):
    first, order, starts, counts = _copies.copy_groups(C)
    return sorted(order[s:s + c].tolist() for s, c in zip(starts, counts))


def test_copy_groups_are_cached_and_a_memmap_gives_the_same(tmp_path, rng, monkeypatch):
    """A memmap's rows are hashed piece by piece, not sorted in memory: the same groups
    (checked against np.unique of the rows' bytes), also when every hash collides (the
    rows are then told apart byte for byte), and 0.0 and -0.0 stay apart as in memory."""
    X = plateau(rng, n=50, d=4)
    X[48] = 0.0
    X[49] = -0.0
    index = vd.Index(X, metric="dot")
    C = index._rows
    assert _copies.copy_groups(C) is _copies.copy_groups(C)
    first, order, starts, counts = _copies.copy_groups(C)
    assert counts.sum() == 50 and counts.max() > 1
    _, inverse = np.unique(X.view(np.dtype((np.void, 32))).ravel(), return_inverse=True)
    want = sorted(np.flatnonzero(inverse.ravel() == g).tolist() for g in np.unique(inverse))
    assert _groups(C) == want and [48] in want and [49] in want
    np.save(tmp_path / "x.npy", X)
    for hashes in (_copies._row_hashes, lambda src, *_: np.zeros(src.shape[0], np.uint64)):
        monkeypatch.setattr(_copies, "_row_hashes", hashes)
        mm = vd.Index(np.load(tmp_path / "x.npy", mmap_mode="r"), metric="dot")
        assert _groups(mm._rows) == want
        assert sorted(_copies.copy_groups(mm._rows)[0].tolist()) == [g[0] for g in want]
    assert _copies.copy_groups(vd.Index(rng.normal(size=(30, 4)))._rows) is None
    np.save(tmp_path / "y.npy", rng.normal(size=(30, 4)))
    assert _copies.copy_groups(vd.Index(np.load(tmp_path / "y.npy", mmap_mode="r"))._rows) \
        is None


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_a_memmap_corpus_takes_the_distinct_rows_path(tmp_path, rng, monkeypatch, metric,
                                                      dtype):
    """A memmap with a plateau took the re-check rounds to every row a candidate (6,000 x
    64 float32, two thirds one row, kNN graph under a 1 MiB budget: 35 s and 670 MB
    traced peak; 1.9 s and 14 MB now, as in memory). Now it takes the distinct-rows path,
    reading the distinct rows from the file: the same answer, bit for bit, as the rounds
    and as the in-memory array."""
    X = plateau(rng, n=600, dtype=dtype)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    Q = np.concatenate([X[:20], plateau(rng, n=10)]).astype(np.float64)
    calls = []
    real = _copies.resolve

    def counted(*a, **kw):
        calls.append(type(a[1].source).__name__)
        return real(*a, **kw)

    monkeypatch.setattr(_copies, "resolve", counted)
    made = []                  # the sources of the rows resolve searches: memmap rows
    monkeypatch.setattr(_copies, "Rows", lambda X, *a, **kw: made.append(
        (a[1], type(X).__name__)) or vd.neighbors.rows.Rows(X, *a, **kw))
    run = lambda corpus: (vd.knn(Q, corpus, k=25, metric=metric),     # noqa: E731
                          vd.Index(corpus, metric=metric).knn_graph(25, show_progress=False))
    fast = run(mm)
    assert calls and set(calls) == {"memmap"}
    assert ("corpus", "RowsAt") in made and ("corpus", "ndarray") not in made
    in_memory = run(X.astype(np.float64) if dtype == np.float16 else X)
    monkeypatch.setattr(_copies, "worth_it", lambda C, margin: False)
    slow = run(mm)
    for a, b, c in zip(fast, slow, in_memory):
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.indices, c.indices)
        np.testing.assert_array_equal(a.scores, c.scores)


def test_copies_do_not_make_every_query_look_far(rng):
    """With every document stored three times, each one's nearest neighbour is its copy
    (cosine 1). The reference distances skip copies, so an ordinary query is neither out
    of distribution (explain) nor shifted (diagnose)."""
    base = rng.normal(size=(300, 16)) + 0.3 * rng.normal(size=(1, 16))
    X = np.vstack([base] * 3)
    q = base[7] + 0.05 * rng.normal(size=16)
    e = vd.explain_neighbors(q, X, k=10, expected=[150])
    assert "out_of_distribution" not in [c.code for c in e.causes]
    queries = base[:40] + 0.05 * rng.normal(size=(40, 16))
    plain = next(f for f in vd.diagnose(base, queries=queries).findings
                 if f.code == "query_corpus_shift")
    copied = next(f for f in vd.diagnose(X, queries=queries).findings
                  if f.code == "query_corpus_shift")
    assert copied.severity == plain.severity == "ok"
    assert copied.evidence["value"] == pytest.approx(plain.evidence["value"], abs=0.1)


def test_copies_do_not_make_queries_look_far_on_the_sampled_path(rng, monkeypatch):
    """The sampled diagnosis measures documents' own distances on a sample of rows: a
    sampled row's nearest that is its own copy (distance 0) is skipped there too, by the
    exact-copy groups every row was hashed into."""
    from vecdiag.diagnostics import sampling

    base = rng.normal(size=(300, 16)) + 0.3 * rng.normal(size=(1, 16))
    X = np.vstack([base] * 3)
    queries = base[:40] + 0.05 * rng.normal(size=(40, 16))
    monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 100)
    found = {}
    for name, corpus in (("plain", base), ("copied", X)):
        d = vd.diagnose(corpus, queries=queries, sample=250)
        assert d.stats["sampled"]
        found[name] = next(f for f in d.findings if f.code == "query_corpus_shift")
    assert found["copied"].severity == found["plain"].severity == "ok"
    assert found["copied"].evidence["value"] == pytest.approx(found["plain"].evidence["value"],
                                                              abs=0.1)
