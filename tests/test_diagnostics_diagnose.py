"""vd.diagnose end to end: a healthy control, one planted problem at a time, bad input,
display, memmaps, bounded memory and the real Cranfield embeddings."""

from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.diagnostics import THRESHOLDS, Diagnosis

ORDER = {"critical": 0, "warning": 1, "ok": 2}


def clusters(n=600, d=32, c=8, noise=0.5, seed=0):
    """Well separated isotropic clusters: c random unit centres, Gaussian spread."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(c, d))
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    return C[rng.integers(0, c, n)] + rng.normal(size=(n, d)) * noise / np.sqrt(d)


def all_finite(value) -> bool:
    """No NaN or inf anywhere in a (nested) stats dict; None is allowed."""
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(all_finite(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return math.isfinite(value)
    return True


def check_shape(d: Diagnosis) -> None:
    """Invariants of every Diagnosis: sorted, vocabulary, finite numbers."""
    ranks = [ORDER[f.severity] for f in d.findings]
    assert ranks == sorted(ranks), "findings must be most severe first"
    codes = {"anisotropy", "hubness", "rogue_dimensions", "norm_spread", "near_duplicates",
             "low_intrinsic_dimension", "query_corpus_shift", "non_finite", "zero_vectors",
             "metric_mismatch", "small_corpus"}
    fixes = {None, "center", "normalize", "whiten", "all_but_the_top", "csls",
             "mutual_proximity", "deduplicate", "cosine_metric", "add_prefix",
             "chunk_documents", "hybrid_lexical"}
    for f in d.findings:
        assert f.code in codes and f.fix in fixes and f.summary.endswith(".")
        assert all_finite(f.evidence)
    assert all_finite(d.stats)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_control_has_no_warning(seed):
    d = vd.diagnose(clusters(seed=seed))
    check_shape(d)
    assert d.ok, repr(d)
    assert {f.code for f in d.findings} >= {"anisotropy", "hubness", "rogue_dimensions",
                                            "norm_spread", "near_duplicates",
                                            "low_intrinsic_dimension"}


def _anisotropic(rng):
    mu = rng.normal(size=64)
    mu *= np.sqrt(3 * 64) / np.linalg.norm(mu)               # ‖μ‖² = 3 d σ²: c ≈ 0.75
    return mu + rng.normal(size=(600, 64)), {}


def _hubs(rng):
    return rng.normal(size=(500, 128)), {"metric": "euclidean"}


def _rogue(rng):
    X = clusters()
    X[:, 5] += 0.7                                            # one coordinate offset
    return X, {}


def _norms(rng):
    return clusters() * rng.lognormal(sigma=0.5, size=(600, 1)), {"metric": "dot"}


def _duplicates(rng):
    X = clusters()
    return np.vstack([X, X[:150], X[:50] + 1e-4]), {}


def _flat(rng):
    plane = rng.uniform(-1, 1, size=(800, 2)) @ rng.normal(size=(2, 50))
    return plane, {"metric": "euclidean"}


def _shift(rng):
    return clusters(), {"queries": clusters(n=100, seed=5)}


@pytest.mark.parametrize("make, code", [
    (_anisotropic, "anisotropy"), (_hubs, "hubness"), (_rogue, "rogue_dimensions"),
    (_norms, "norm_spread"), (_duplicates, "near_duplicates"),
    (_flat, "low_intrinsic_dimension"), (_shift, "query_corpus_shift")])
def test_each_planted_problem_produces_its_finding(rng, make, code):
    X, kwargs = make(rng)
    d = vd.diagnose(X, **kwargs)
    check_shape(d)
    f = d[code]
    assert f.severity in ("warning", "critical"), repr(d)
    assert ORDER[f.severity] == ORDER[d.worst]                 # among the most severe
    t = THRESHOLDS[code]
    assert f.evidence["warning_at"] == t["warning"] and f.evidence["critical_at"] == t["critical"]
    assert f.fix is not None or code == "low_intrinsic_dimension"


def test_planted_problems_get_the_right_fix(rng):
    assert vd.diagnose(_anisotropic(rng)[0])["anisotropy"].fix == "center"
    d = vd.diagnose(*_norms(rng)[:1], metric="dot")
    assert d["norm_spread"].fix == "normalize"
    assert d["metric_mismatch"].fix == "cosine_metric"
    assert vd.diagnose(_duplicates(rng)[0])["near_duplicates"].fix == "deduplicate"


def test_duplicates_evidence_counts_copies(rng):
    X, _ = _duplicates(rng)
    f = vd.diagnose(X)["near_duplicates"]
    assert f.evidence["exact_copies"] == 150
    assert f.evidence["redundant_items"] == 200
    assert f.evidence["value"] == pytest.approx(200 / 800)
    assert f.severity == "critical"


# --- bad input ---------------------------------------------------------------------------

def test_fewer_items_than_k_plus_one(rng):
    d = vd.diagnose(rng.normal(size=(5, 8)), k=10)
    check_shape(d)
    assert d.k == 4 and d["small_corpus"].evidence["k_used"] == 4


def test_single_distinct_vector():
    d = vd.diagnose(np.ones((20, 8)))
    check_shape(d)
    assert d.worst == "critical"
    assert d["near_duplicates"].severity == "critical"
    assert d.stats["n_distinct"] == 1
    assert d.stats["intrinsic_dimension"] is None
    assert d["hubness"].summary.startswith("Not judged")     # lists of ties, not hubs
    with pytest.raises(KeyError, match="no finding with code 'query_corpus_shift'"):
        d["query_corpus_shift"]


def test_one_dimensional_vectors(rng):
    d = vd.diagnose(rng.normal(size=(50, 1)))
    check_shape(d)
    assert d["low_intrinsic_dimension"].severity == "critical"
    assert d.stats["isoscore"] is None


@pytest.mark.parametrize("rows", [np.ones((1, 4)), np.full((3, 4), np.nan)])
def test_nothing_to_compare(rows):
    d = vd.diagnose(rows)
    check_shape(d)
    assert d["small_corpus"].severity == "critical"


def test_nan_and_zero_rows_are_findings_not_crashes(with_nan_rows):
    X = with_nan_rows.copy()
    X[3] = 0.0
    d = vd.diagnose(X, k=5)
    check_shape(d)
    assert d["non_finite"].severity == "critical"
    assert d["non_finite"].evidence["rows"] == [17, 42, 99]
    assert d["zero_vectors"].evidence["rows"] == [3]
    assert d.stats["n_used"] == 196
    clean = np.delete(X, [3, 17, 42, 99], axis=0)
    assert d.stats["anisotropy"] == pytest.approx(vd.anisotropy(clean), abs=1e-12)
    assert vd.diagnose(X, metric="dot", k=5)["zero_vectors"].severity == "warning"


def test_refused_input_messages(rng):
    with pytest.raises(TypeError, match="string"):
        vd.diagnose("some text")
    with pytest.raises(ValueError, match="must be 2-D"):
        vd.diagnose(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="ragged"):
        vd.diagnose([[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError, match="dimension mismatch"):
        vd.diagnose(rng.normal(size=(10, 4)), queries=rng.normal(size=(3, 5)))
    with pytest.raises(ValueError, match="metric must be one of"):
        vd.diagnose(rng.normal(size=(10, 4)), metric="manhattan")
    with pytest.raises(ValueError, match="texts has 2 entries but the corpus has 10"):
        vd.diagnose(rng.normal(size=(10, 4)), texts=["a", "b"])
    with pytest.raises(ValueError, match="ids must be unique"):
        vd.diagnose(rng.normal(size=(3, 4)), ids=["a", "a", "b"])
    with pytest.raises(ValueError, match="k must be at least 1"):
        vd.diagnose(rng.normal(size=(10, 4)), k=0)


# --- display ------------------------------------------------------------------------------

def test_html_escapes_user_strings_and_colours_severity(rng):
    X, _ = _duplicates(rng)
    texts = [f"<script>alert({i})</script>" for i in range(len(X))]
    d = vd.diagnose(X, texts=texts, ids=[f"<b>{i}</b>" for i in range(len(X))])
    page = d._repr_html_()
    assert "vd-critical" in page and "<script>" not in page
    finding_page = d["near_duplicates"]._repr_html_()
    assert "<script>" not in finding_page and "&lt;b&gt;" in finding_page
    frame = d.to_frame()
    assert list(frame.columns) == ["code", "severity", "summary", "value", "measures", "fix"]
    assert frame["severity"].iloc[0] == "critical"
    assert "critical" in repr(d)


def test_plot_has_four_panels(rng):
    d = vd.diagnose(clusters(n=300))
    axes = d.plot()
    assert len(axes) == 4
    assert axes[0].get_yscale() == "log" and axes[3].get_yscale() == "log"
    tiny = vd.diagnose(np.ones((1, 3))).plot()
    assert len(tiny) == 4


def test_progress_bar_is_shown_when_asked(rng, capsys):
    vd.diagnose(clusters(n=200), show_progress=True)
    assert "diagnose" in capsys.readouterr().err


# --- inputs: Index, memmap, float32; memory ---------------------------------------------

def test_index_input_fills_its_cache(rng):
    index = vd.Index(clusters(n=300), ids=[f"d{i}" for i in range(300)])
    d = vd.diagnose(index)
    assert ("hubness", 10) in index.cache and ("k_occurrence", 10) in index.cache
    assert vd.hubness(index, 10) is index.cache[("hubness", 10)]
    np.testing.assert_array_equal(vd.hubness(index, 10).k_occurrence, d.k_occurrence)


def test_memmap_and_float32_agree_with_array(tmp_path):
    X = clusters(n=400).astype(np.float32)
    path = tmp_path / "corpus.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    a, b = vd.diagnose(X), vd.diagnose(mm)
    assert a.stats["anisotropy"] == b.stats["anisotropy"]
    np.testing.assert_array_equal(a.k_occurrence, b.k_occurrence)
    c = vd.diagnose(X.astype(np.float64))
    assert c.stats["anisotropy"] == pytest.approx(a.stats["anisotropy"], abs=1e-6)


def test_a_graph_sample_smaller_than_k_plus_one_is_refused_by_name():
    # graph_sample=5 with k=10 failed deep in the search ("k=10 is larger than the corpus
    # (5 vectors minus the item itself)"), naming neither argument
    X = clusters(n=30)
    with pytest.raises(ValueError, match=r"graph_sample=5 is too small for k=10: .* use "
                                         r"graph_sample >= 11"):
        vd.diagnose(X, graph_sample=5, k=10)
    assert vd.diagnose(X, graph_sample=5, k=4).stats["graph_sample"] == 5
    assert vd.diagnose(X[:5], graph_sample=5, k=10).stats["k"] == 4    # no sample: small corpus


def test_graph_sample_for_large_corpora(rng):
    X = clusters(n=1200)
    d = vd.diagnose(X, graph_sample=500)
    assert d.stats["graph_sample"] == 500 and d.k_occurrence.size == 500
    full = vd.diagnose(X)
    assert d.stats["anisotropy"] == full.stats["anisotropy"]   # O(n·d) stats: every row
    assert "sample" in d["near_duplicates"].evidence["search"]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_graph_sample_does_not_shrink_the_near_copy_share(metric):
    # 4,000 items, 400 of them near-copies of others (10% redundant). A graph of 1,000
    # sampled items sees a pair only when both were drawn, (1/4)² of the time: it read
    # about 0.6%, "ok"; the share is estimated over the whole corpus instead
    rng = np.random.default_rng(3)
    X = clusters(n=3_600, d=32, seed=1)
    src = rng.choice(3_600, 400, replace=False)
    X = np.vstack([X, X[src] + rng.normal(size=(400, 32)) * 1e-3])
    full = vd.diagnose(X, metric=metric)["near_duplicates"]
    d = vd.diagnose(X, metric=metric, graph_sample=1_000)
    f = d["near_duplicates"]
    assert full.evidence["value"] == pytest.approx(0.10, abs=0.005)
    lo, hi = f.evidence["interval"]
    assert lo <= 0.10 <= hi and f.evidence["value"] == pytest.approx(0.10, abs=0.02)
    assert f.severity == full.severity != "ok" and f.fix == "deduplicate"
    assert d.stats["near_duplicate_share"] == f.evidence["value"]
    assert "against all 4,000" in f.evidence["search"]


def test_dot_finds_copies_that_long_items_push_out_of_the_lists():
    # under dot, the k largest products of a short item are long items of its cluster:
    # its own near-copy (product 1) is not among them, and the graph's pairs missed all
    # 100 pairs; near-copies are a cosine matter, compared over every pair
    rng = np.random.default_rng(4)
    X = clusters(n=2_000, d=32, noise=0.3, seed=2)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[:200] *= 3.0                                          # 200 long items
    src = rng.choice(np.arange(200, 2_000), 100, replace=False)
    X = np.vstack([X, X[src] + rng.normal(size=(100, 32)) * 1e-3])
    f = vd.diagnose(X, metric="dot")["near_duplicates"]
    cos = vd.near_duplicates(X, threshold=0.98)             # every pair, by cosine
    assert f.evidence["redundant_items"] == sum(len(g) - 1 for g in cos) >= 100
    assert f.evidence["value"] == pytest.approx(f.evidence["redundant_items"] / 2_100)
    assert f.severity == "warning" and f.fix == "deduplicate"


def test_dot_index_keeps_every_pair_groups_for_deduplicate(rng, monkeypatch):
    """Under dot, diagnose compares every pair by cosine (near_duplicates of the Index's own
    rows): the groups the deduplicate fix needs. They are kept in ``index.cache``, so an
    explanation's deduplicate counterfactual reads them instead of a second pass over
    every pair (n = 8,000 x 64 float32: 0.55 s of a 3.3 s first explanation)."""
    from vecdiag.diagnostics import duplicates as D

    X = rng.normal(size=(400, 12)) * rng.uniform(0.5, 2.0, size=(400, 1))
    X[20:23] = X[5] * np.array([[1.0], [2.0], [0.5]])            # copies by cosine
    X[300] = X[100] + 1e-3 * rng.normal(size=12)
    fresh = vd.fixes.duplicate_groups(vd.Index(X, metric="dot"))
    calls = []
    real = D.near_duplicates
    monkeypatch.setattr(D, "near_duplicates", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    import vecdiag.diagnostics as diagnostics_package
    monkeypatch.setattr(diagnostics_package, "near_duplicates", D.near_duplicates)
    index = vd.Index(X, metric="dot")
    vd.diagnose(index)
    assert len(calls) == 1
    groups = vd.fixes.duplicate_groups(index)
    assert len(calls) == 1                                      # no second pass
    assert [g.tolist() for g in groups] == [g.tolist() for g in fresh] \
        == [[5, 20, 21, 22], [100, 300]]
    ranked = vd.fixes.deduplicate(X[:3], index, k=8)
    again = vd.fixes.deduplicate(X[:3], vd.Index(X, metric="dot"), k=8)
    assert np.array_equal(ranked.indices, again.indices)
    assert np.array_equal(ranked.scores, again.scores)


@pytest.mark.parametrize("sampled", [False, True])
def test_a_unit_cone_under_dot_is_not_read_as_copies(sampled):
    # unit vectors in a narrow cone (mean cosine about 0.97) searched by dot product: every
    # raw cosine is high, and 99% of items read as near-copies; judged, as under cosine,
    # on the centred unit vectors, only the 10 planted copies count
    rng = np.random.default_rng(5)
    n = 120_000 if sampled else 3_000
    X = (rng.normal(size=(n, 32)) * 0.03 + 1.0 / np.sqrt(32)).astype(np.float32)
    X[-10:] = X[:10] + rng.normal(size=(10, 32)).astype(np.float32) * 1e-4
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    d = vd.diagnose(X, metric="dot", sample=5_000)
    assert d.stats["anisotropy"] > 0.7
    f = d["near_duplicates"]
    assert f.evidence["value"] < 0.005 and f.severity == "ok"
    assert "centred" in f.evidence["search"]
    if not sampled:
        assert f.evidence["redundant_items"] == 10


@pytest.mark.slow
def test_memory_stays_far_below_an_n_by_n_matrix(rng):
    X = rng.normal(size=(8_000, 4)).astype(np.float32)
    tracemalloc.start()
    vd.diagnose(X, k=5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8_000 ** 2 * 4 / 4                # < a quarter of one float32 n × n


def test_shift_counts_the_words_of_chinese_documents_by_character():
    """The shift finding's "documents of at most 15 words (titles only)" counted
    whitespace words: every Chinese document, written without spaces, was one word, so a
    corpus of 60-character articles read as 100% titles. Reference: len() of the text,
    each character a word (and English titles of 3 words stay short)."""
    X, kwargs = clusters(), {"queries": clusters(n=100, seed=5)}
    rng = np.random.default_rng(0)
    han = [chr(0x4E00 + i) for i in range(500)]
    long_zh = ["".join(rng.choice(han, size=60)) for _ in range(len(X))]
    titles = [f"title {i} only" if i % 2 else long_zh[i] for i in range(len(X))]
    for texts, share in ((long_zh, 0.0), (titles, 0.5)):
        d = vd.diagnose(X, texts=texts, model_name="sentence-transformers/all-MiniLM-L6-v2",
                        **kwargs)
        ev = d["query_corpus_shift"].evidence
        assert ev["short_document_share"] == pytest.approx(share, abs=0.01)


# --- real data ------------------------------------------------------------------------------

@pytest.mark.shared
def test_cranfield_minilm(cranfield_minilm):
    E, Q, ids = cranfield_minilm.corpus, cranfield_minilm.queries, cranfield_minilm.corpus_ids
    d = vd.diagnose(E, queries=Q, ids=ids)
    check_shape(d)
    U = E.astype(np.float64)
    brute = (U @ U.T)[~np.eye(len(U), dtype=bool)].mean()
    assert d.stats["anisotropy"] == pytest.approx(brute, abs=1e-6)
    # documents 471 and 995 have empty text: identical embeddings, an exact copy
    groups = d["near_duplicates"].evidence["examples"]
    assert any("471" in g and "995" in g for g in groups)
    assert d["query_corpus_shift"].evidence["n_queries"] == len(Q)
    assert 5 < d.stats["intrinsic_dimension"] < 40


def test_to_dict_is_json_ready(rng):
    import json

    X, kwargs = _shift(rng)
    d = vd.diagnose(X, **kwargs)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["worst"] == d.worst and len(data["findings"]) == len(d.findings)
    assert data["stats"]["query_hubness_skewness"] == pytest.approx(
        vd.hubness(X, 10, queries=kwargs["queries"]).skewness)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_huge_and_tiny_vectors_give_the_same_findings(rng, metric):
    X = clusters(n=200)
    base = vd.diagnose(X, metric=metric)
    for factor in (1e200, 1e-200):
        d = vd.diagnose(X * factor, metric=metric)
        check_shape(d)
        assert [(f.code, f.severity) for f in d.findings] == \
            [(f.code, f.severity) for f in base.findings]
        for key in ("anisotropy", "hubness_skewness", "intrinsic_dimension", "norm_cv",
                    "participation_ratio"):
            assert d.stats[key] == pytest.approx(base.stats[key], rel=1e-9)


def test_options_object_equals_the_keywords_and_refuses_both(rng):
    """diagnose(X, options=DiagnoseOptions(...)) is diagnose(X, **the same keywords)."""
    from vecdiag.diagnostics import DiagnoseOptions

    X = rng.normal(size=(120, 8)) + 1.0
    a = vd.diagnose(X, k=5, duplicate_threshold=0.9, backend="numpy")
    b = vd.diagnose(X, options=DiagnoseOptions(k=5, duplicate_threshold=0.9, backend="numpy"))
    strip = lambda d: {k: v for k, v in d.stats.items() if k != "seconds"}  # noqa: E731
    assert strip(a) == strip(b)
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]
    with pytest.raises(ValueError, match="k either as keywords or in options="):
        vd.diagnose(X, k=3, options=DiagnoseOptions(k=5))
    with pytest.raises(TypeError, match="DiagnoseOptions"):
        vd.diagnose(X, options={"k": 5})


def test_default_backend_builds_the_graph_once_per_pair_of_blocks(rng, monkeypatch):
    """backend=None searches with the numpy engine, whose kNN graph multiplies each pair of
    row blocks once; with faiss installed it picked faiss, which scores every pair twice
    for the same graph (20,000 x 384 float32 in a cone: the graph 3.5-3.9 s, now 1.1-2.0 s).
    The diagnosis is the one each backend gives."""
    import vecdiag.neighbors.index as index_module

    seen = []
    real = index_module.search
    monkeypatch.setattr(index_module, "search",
                        lambda *a, **kw: seen.append(kw["backend"]) or real(*a, **kw))
    X = rng.normal(size=(200, 8)) + 0.5
    X[7] = X[3]
    d = vd.diagnose(X)
    assert seen == ["numpy"]
    strip = lambda d: {k: v for k, v in d.stats.items() if k != "seconds"}  # noqa: E731
    backends = ["numpy"] + (["faiss"] if _installed("faiss") else [])
    for backend in backends:
        other = vd.diagnose(X, backend=backend)
        assert strip(other) == strip(d)
        assert [f.to_dict() for f in other.findings] == [f.to_dict() for f in d.findings]
        assert np.array_equal(other.k_occurrence, d.k_occurrence)


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_stages_are_named_and_timed(rng):
    from vecdiag.diagnostics.diagnose import STAGES

    X = rng.normal(size=(80, 6))
    d = vd.diagnose(X, queries=rng.normal(size=(5, 6)), backend="numpy")
    timed = {name for name, _ in STAGES if name} | {"knn_graph", "total"}
    assert set(d.stats["seconds"]) == timed


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_lengths_spanning_seventy_orders_of_magnitude_in_float32(rng, metric):
    """A float32 corpus with rows from 1e-40 (subnormal) to 1e30 long: diagnose neither
    calls its short rows zero vectors (they are not; cosine scores them) nor divides
    0 by 0 anywhere, and cosine findings equal those of the same directions at length 1."""
    import warnings

    X = clusters(n=120, d=8)
    lengths = np.logspace(-40, 30, 120)[rng.permutation(120)]
    wide = (X / np.linalg.norm(X, axis=1, keepdims=True) * lengths[:, None]).astype(np.float32)
    assert (np.abs(wide).max(axis=1) > 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        d = vd.diagnose(wide, metric=metric, queries=wide[:5] * 2)
    check_shape(d)
    assert all_finite(d.stats)
    if metric == "cosine":
        unit = vd.diagnose(wide.astype(np.float64) / np.linalg.norm(
            wide.astype(np.float64), axis=1, keepdims=True), metric="cosine",
            queries=wide[:5].astype(np.float64))
        assert d.stats["anisotropy"] == pytest.approx(unit.stats["anisotropy"], abs=1e-4)
        assert d.stats["hubness_skewness"] == pytest.approx(unit.stats["hubness_skewness"],
                                                            abs=1e-4)
    else:
        assert d.stats["norm_cv"] > 5          # the spread of lengths is the finding
        assert {f.code: f.severity for f in d.findings}["norm_spread"] == "critical"


def _twonn_reference(P, discard=0.1):
    """TwoNN (Facco et al. 2017) written out: scikit-learn's exact first two neighbours
    of the distinct points, the line through the origin of (log μ, −log(1 − i/N)) over
    the smallest 90% of the ratios."""
    from sklearn.neighbors import NearestNeighbors

    P = np.unique(P, axis=0)
    dist = NearestNeighbors(n_neighbors=3).fit(P).kneighbors(P)[0]
    mu = np.sort(dist[:, 2] / dist[:, 1])
    keep = int(np.floor(mu.size * (1 - discard)))
    x, y = np.log(mu[:keep]), -np.log(1 - np.arange(1, keep + 1) / mu.size)
    return float(x @ y / (x @ x))


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot"])
def test_exact_copies_count_once_in_the_intrinsic_dimension(metric):
    """Three identical rows are one point: diagnose's TwoNN (from the kNN graph) counted
    each copy's ratio (6.774 where vd.intrinsic_dimension and the sampled path gave
    6.738). It agrees with a reference on the distinct points and with
    vd.intrinsic_dimension."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    Y = np.vstack([X, X[:1], X[:1]])
    P = Y / np.linalg.norm(Y, axis=1, keepdims=True) if metric == "cosine" else Y
    ref = _twonn_reference(P)
    got = vd.diagnose(Y, metric=metric).stats["intrinsic_dimension"]
    assert got == pytest.approx(ref, rel=1e-9)
    geometry = "cosine" if metric == "cosine" else "euclidean"
    assert got == pytest.approx(vd.intrinsic_dimension(Y, metric=geometry), rel=1e-9)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_a_single_dimension_is_explained_in_the_metric_searched(metric):
    """d = 1 is critical under every metric, but the reason said "cosine can only be +1
    or −1" under dot and euclidean too, where no cosine is computed. Under dot, checked
    in NumPy: every query ranks the items in one of two orders (by x, or reversed)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1))
    orders = {tuple(np.argsort(-(X[:, 0] * q), kind="stable")) for q in rng.normal(size=20)}
    assert len(orders) == 2
    f = vd.diagnose(X, metric=metric)["low_intrinsic_dimension"]
    assert f.severity == "critical" and f.evidence["metric"] == metric
    assert ("cosine" in f.summary) == (metric == "cosine"), f.summary
    assert {"cosine": "+1 or −1", "dot": "reverse",
            "euclidean": "one line"}[metric] in f.summary


def test_an_intrinsic_dimension_above_the_dimension_is_not_judged():
    """TwoNN can exceed the number of dimensions (near-tied neighbour distances): such a
    figure is reported as not judged, never as the data's degrees of freedom."""
    from vecdiag.diagnostics import intrinsic_rules

    high = intrinsic_rules.intrinsic_finding(216.8, 1.0, 8, 0, "")
    assert high.severity == "ok" and "not judged" in high.summary
    assert "216.8" not in high.summary or "more than the 8 dimensions" in high.summary
    normal = intrinsic_rules.intrinsic_finding(7.5, 6.2, 8, 0, "")
    assert "7.5 local degrees of freedom" in normal.summary


def test_twonn_below_one_is_not_called_a_collapsed_model(rng):
    """Copies one float step away from their originals are not exact copies: their first
    neighbour is ~0 away and TwoNN drops below 1. That is near-copies, not a collapsed
    model: a warning pointing at near-duplicates, never critical."""
    X = rng.normal(size=(1200, 32))
    X[1000:] = X[:200] * (1 + 2.0 ** -52)
    d = vd.diagnose(X)
    f = next(x for x in d.findings if x.code == "low_intrinsic_dimension")
    assert f.evidence["value"] < 1
    assert f.severity == "warning" and f.fix == "deduplicate"
    assert "near-copies" in f.summary and "collapsed" not in f.summary


def test_duplicate_threshold_is_checked_and_an_ok_duplicates_finding_proposes_nothing(rng):
    X = rng.normal(size=(400, 16))
    for bad in (1.5, float("nan"), -1.0, True, "0.9"):
        with pytest.raises(ValueError, match="duplicate_threshold"):
            vd.diagnose(X, duplicate_threshold=bad)
    X[399] = X[0]                                  # one exact pair: 0.25%, below 1%
    f = next(x for x in vd.diagnose(X).findings if x.code == "near_duplicates")
    assert f.severity == "ok" and f.fix is None and "too few to crowd" in f.summary


def test_zero_row_errors_offer_zero_ignore_only_where_it_exists(rng):
    X = rng.normal(size=(20, 4))
    X[3] = 0
    with pytest.raises(ValueError) as err:
        vd.knn(X[:2], X, k=2)
    assert "zero='ignore'" not in str(err.value) and "drop it first" in str(err.value)
    with pytest.raises(ValueError, match="zero='ignore'"):
        vd.normalize(X)


def test_norm_spread_names_the_side_that_wins_under_each_metric(rng):
    """Dot rewards long vectors; under euclidean the short ones, near the middle of the
    cloud, become the hubs (Radovanović et al. 2010): the sentence says which."""
    X = rng.normal(size=(1500, 32))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X *= np.exp(0.6 * rng.normal(size=(1500, 1)))
    dot = next(f for f in vd.diagnose(X, metric="dot").findings if f.code == "norm_spread")
    assert "long vectors win" in dot.summary
    euc = next(f for f in vd.diagnose(X, metric="euclidean").findings
               if f.code == "norm_spread")
    # (lengths about the centre: the cloud is centred at the origin here)
    assert "items near the centre are close to everything" in euc.summary
    assert euc.evidence["spearman_norm_k_occurrence"] < -0.5


def test_query_shift_under_dot_does_not_depend_on_query_length(rng):
    """Scaling a query changes no dot ranking, so it must not change the shift verdict:
    each nearest score is read per unit of the searching vector's length."""
    X = rng.normal(size=(1500, 16)) + 0.5
    Q = X[:60] + 0.3 * rng.normal(size=(60, 16))
    values = []
    for scale in (0.25, 1.0, 4.0):
        f = next(x for x in vd.diagnose(X, queries=Q * scale, metric="dot").findings
                 if x.code == "query_corpus_shift")
        values.append((f.severity, f.evidence["value"]))
    assert values[0] == values[1] == values[2]


def test_euclidean_diagnosis_does_not_see_a_shared_offset(rng, monkeypatch):
    """Moving every vector by one offset changes no euclidean distance: no critical
    anisotropy or near-copies appear (they were read from the origin, all near cosine
    1), on the graph path and the sampled one, while planted copies are still found."""
    from vecdiag.diagnostics import sampling

    G = rng.normal(size=(2000, 16))
    G[1900:] = G[:100] + 1e-7 * rng.normal(size=(100, 16))         # 5% redundant copies
    for sampled in (False, True):
        if sampled:
            monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 100)
        kw = {"sample": 2000} if sampled else {}
        plain = {f.code: f for f in vd.diagnose(G, metric="euclidean", **kw).findings}
        moved = {f.code: f for f in vd.diagnose(G + 10, metric="euclidean", **kw).findings}
        assert moved["near_duplicates"].severity == plain["near_duplicates"].severity
        assert moved["near_duplicates"].evidence["value"] == pytest.approx(0.05, abs=0.01)
        for code in ("anisotropy", "rogue_dimensions"):
            assert moved[code].severity == "ok" and moved[code].fix is None
        assert moved["anisotropy"].evidence["severity_under_cosine"] == "critical"
        assert "changes no distance" in moved["anisotropy"].summary


def test_a_dimension_of_huge_variance_is_a_rogue_dimension(rng):
    """A zero-mean coordinate scaled up takes no share of the mean cosine, but most of
    every vector's squared length: it decides which items score alike (the second sign
    in Timkey & van Schijndel 2021). Healthy data of any dimension stays ok."""
    X = rng.normal(size=(2000, 64))
    for d in (16, 64, 384):
        f = next(x for x in vd.diagnose(rng.normal(size=(1500, d))).findings
                 if x.code == "rogue_dimensions")
        assert f.severity == "ok"
    X[:, [3, 40]] *= 10
    f = next(x for x in vd.diagnose(X).findings if x.code == "rogue_dimensions")
    assert f.severity == "critical" and f.fix == "whiten"
    assert f.evidence["judged_on"] == "energy_excess"
    assert sorted(f.evidence["energy_dims"][:2]) == [3, 40]
    assert "Dimensions 3, 40 hold" in f.summary or "Dimensions 40, 3 hold" in f.summary
    r = vd.rogue_dimensions(X)
    assert r.energy.sum() == pytest.approx(1.0) and set(r.energy_dims[:2]) == {3, 40}


def test_a_narrow_cone_is_anisotropy_not_rogue_dimensions():
    """A narrow cone around a random direction (no axis singled out): every unit vector
    is about that direction, whose squares are uneven across dimensions (the top 5 of
    48 hold ~45% of them), so the raw energy E[û_j²] reads as rogue. The shared offset
    is anisotropy's (critical, centre); the second rogue sign is the *variance*
    E[û_j²] − E[û_j]², here spread evenly (checked in NumPy), so rogue dims stay ok.
    A zero-mean dimension of huge variance in the same cone is still named."""
    rng = np.random.default_rng(11)
    n, d = 1500, 48
    X = 0.1 * rng.normal(size=(n, d)) + rng.normal(size=d)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    energy = (U ** 2).mean(axis=0)
    var = U.var(axis=0)
    top = 5
    raw_share = np.sort(energy)[::-1][:top].sum() / energy.sum()
    var_share = np.sort(var)[::-1][:top].sum() / var.sum()
    even = top / d
    assert (raw_share - even) / (1 - even) > 0.3       # what the old rule judged: critical
    assert (var_share - even) / (1 - even) < 0.15      # the variance: below the warning
    found = {f.code: f for f in vd.diagnose(X).findings}
    assert found["anisotropy"].severity == "critical"
    f = found["rogue_dimensions"]
    assert f.severity == "ok" and f.fix is None
    assert f.evidence["energy_share"] == pytest.approx(var_share, rel=1e-6)
    X[:, 7] = X[:, 7] - X[:, 7].mean() + 30 * rng.normal(size=n)   # now a rogue one
    f = next(x for x in vd.diagnose(X).findings if x.code == "rogue_dimensions")
    assert f.severity == "critical" and f.evidence["energy_dims"][0] == 7
    assert f.summary.startswith("Dimension 7 holds")


def _unit_variance_excess(X, top):
    """The variance sign's figure in NumPy: top-``top`` share of the variance of the unit
    coordinates, as an excess over the even share ``top / d``."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    var = U.var(axis=0)
    even = top / X.shape[1]
    return (np.sort(var)[::-1][:top].sum() / var.sum() - even) / (1 - even)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_a_few_topic_clusters_have_no_rogue_dimension_in_any_rotation(k):
    """2-5 well separated clusters in 32-D: their spread lies along the few directions
    between the centres, which point anywhere; the squares of a random direction are
    uneven over the axes (top 4 of 32 hold ~48%), so the variance of the unit
    coordinates reads as rogue against the even share (checked in NumPy below: excess
    above the 0.15 warning), and the old rule said "whiten". Rogue dimensions are a
    property of the axes: a random rotation of the corpus (scipy's ortho_group: the same
    cosines, no axis special) must get the same verdict, ok. Planted rogue axes (a
    zero-mean axis ×5, an offset axis) are still named, and their rotated copy is not."""
    from scipy.stats import ortho_group

    n, d = 1500, 32
    R = ortho_group.rvs(d, random_state=k)
    flagged_before = 0
    for seed in range(3, 6):
        rng = np.random.default_rng(100 * k + seed)
        C = rng.normal(size=(k, d))
        X = C[rng.integers(0, k, n)] + 0.3 * rng.normal(size=(n, d))
        flagged_before += _unit_variance_excess(X, 4) >= 0.15
        for Y in (X, X @ R):
            for metric in ("cosine", "dot"):
                f = vd.diagnose(Y, metric=metric)["rogue_dimensions"]
                assert f.severity == "ok" and f.fix is None, (seed, metric, f.summary)
    assert flagged_before >= 2          # the case is one the even share misreads
    rng = np.random.default_rng(k)
    X = rng.normal(size=(n, d))
    X[:, 5] *= 5.0                      # one zero-mean axis of 5× the spread
    f = vd.diagnose(X)["rogue_dimensions"]
    assert f.severity != "ok" and f.evidence["energy_dims"][0] == 5
    assert f.evidence["energy_share"] > f.evidence["energy_null_rotated"]
    assert vd.diagnose(X @ R)["rogue_dimensions"].severity == "ok"
    X = rng.normal(size=(n, d))
    X[:, 2] += 6.0                      # one offset axis
    f = vd.diagnose(X)["rogue_dimensions"]
    assert f.severity == "critical" and f.evidence["dims"][0] == 2
    assert vd.diagnose(X @ R)["rogue_dimensions"].severity == "ok"


def test_cranfield_minilm_has_no_rogue_dimension_in_any_rotation(cranfield_minilm):
    """Real embeddings (MiniLM on Cranfield) and a random rotation of them: ok both ways;
    one of their dimensions scaled ×20 is still named."""
    from scipy.stats import ortho_group

    X = cranfield_minilm.corpus.astype(np.float64)
    R = ortho_group.rvs(X.shape[1], random_state=0)
    for Y in (X, X @ R):
        assert vd.diagnose(Y)["rogue_dimensions"].severity == "ok"
    X[:, 3] *= 20
    f = vd.diagnose(X)["rogue_dimensions"]
    assert f.severity == "critical" and f.evidence["energy_dims"][0] == 3


def test_rotation_null_of_the_rogue_rule_against_closed_cases():
    """The nulls against closed forms: all variance along one random direction is the
    top-m share of a random unit vector, whose squared coordinates are Dirichlet(1/2,
    ..., 1/2) (sampled here independently, by scipy); variance spread evenly gives
    exactly m / d under any rotation."""
    from scipy.stats import dirichlet

    from vecdiag.diagnostics.rogue_rules import null_top_quantile, rotated_top_quantile

    p = dirichlet.rvs([0.5] * 32, size=20000, random_state=1)
    ref = float(np.quantile(np.sort(p, axis=1)[:, -4:].sum(axis=1), 0.99))
    assert null_top_quantile(32, 4) == pytest.approx(ref, abs=0.02)
    assert rotated_top_quantile([1.0] + [0.0] * 31, 4) == pytest.approx(ref, abs=0.03)
    assert rotated_top_quantile(np.ones(32), 4) == pytest.approx(4 / 32, abs=1e-12)


@pytest.mark.parametrize("d, planted", [(32, [2]), (48, [7, 22, 40])])
def test_rogue_summary_names_the_dimensions_that_carry_the_mean_cosine(d, planted):
    """A shared offset on the planted dimensions: they carry the mean cosine (Timkey &
    van Schijndel's CC_j, written out in NumPy below: the others carry ~0). The summary
    named all top ⌈d/10⌉ dimensions ("Dimensions 2, 6, 8, 18 carry 100%"), telling the
    reader to standardise three dimensions that carry nothing. It names the planted ones."""
    rng = np.random.default_rng(d)
    X = rng.normal(size=(1500, d))
    X[:, planted] += 6.0
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    n = U.shape[0]
    cc = (U.sum(axis=0) ** 2 - (U ** 2).sum(axis=0)) / (n * (n - 1))
    share = cc / cc.sum()
    assert sorted(np.flatnonzero(share > 0.05).tolist()) == planted
    f = vd.diagnose(X)["rogue_dimensions"]
    assert f.severity == "critical" and f.evidence["judged_on"] == "excess"
    named = [int(j) for j in re.match(r"Dimensions? ([\d, ]+) carr", f.summary).group(1)
             .split(", ")]
    assert sorted(named) == planted
    assert f"{100 * share[planted].sum():.0f}% of the mean cosine" in f.summary


def test_hubs_made_of_exact_copies_point_to_deduplication(rng):
    """100 copies of one row list each other first and read as hubs; re-ranking is not
    the fix for that, removing the copies is."""
    X = rng.normal(size=(2000, 8))
    X[1900:] = X[0]
    f = next(x for x in vd.diagnose(X).findings if x.code == "hubness")
    assert f.severity != "ok" and f.fix == "deduplicate"
    assert f.evidence["hubs_from_copies"] >= 0.5 and "deduplicate before" in f.summary
    clean = next(x for x in vd.diagnose(rng.normal(size=(2000, 8))).findings
                 if x.code == "hubness")
    assert clean.fix != "deduplicate" and "hubs_from_copies" not in clean.evidence


def test_a_narrow_cone_is_anisotropy_not_near_duplicates(rng, monkeypatch):
    """Distinct items squeezed into a narrow cone sit at cosine >= 0.98 of each other;
    deleting them is not the fix, centring is. Near-copies of an anisotropic corpus are
    judged on the centred unit rows (graph and sampled paths): the cone reads as
    anisotropy, planted copies are still found."""
    from vecdiag.diagnostics import sampling

    u = rng.normal(size=64)
    X = rng.normal(size=(2000, 64)) / 64 + u / np.linalg.norm(u)    # mean cosine ~0.985
    copied = X.copy()
    copied[1900:] = copied[:100] + 1e-7 * rng.normal(size=(100, 64))    # 5% redundant
    for sampled in (False, True):
        if sampled:
            monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 100)
        kw = {"sample": 2000} if sampled else {}
        cone = {f.code: f for f in vd.diagnose(X, **kw).findings}
        assert cone["anisotropy"].severity == "critical"
        assert cone["near_duplicates"].severity == "ok"
        found = {f.code: f for f in vd.diagnose(copied, **kw).findings}["near_duplicates"]
        assert found.severity == "warning"
        assert found.evidence["value"] == pytest.approx(0.05, abs=0.01)


def test_sampled_near_copies_are_copies_raw_too_as_on_the_exact_path(monkeypatch):
    """A euclidean cloud far from the origin (1,200 x 16, offset 40) and 60 short rows
    near the origin in random directions (raw cosines at most 0.71). Centred, the short
    rows all point along minus the mean (centred cosines >= 0.99999): the exact graph path
    checks the raw cosine too and finds 1 redundant row (0.08%, a chance pair of the
    cloud); both sampled paths (a graph of a sample, and beyond SAMPLED_ABOVE) judged on
    the centred cosine alone: 4.6% redundant, a warning. Now every sampled row's pair must
    be a copy raw too: the same 0.08% from all 1,200 rows sampled; 10 planted near-copies
    are still found (brute force: 9 + 1 redundant rows of 1,200)."""
    from vecdiag.diagnostics import sampling

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 16)) + 40.0
    X[:60] = 0.05 * rng.normal(size=(60, 16))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert np.max((U[:60] @ U[:60].T)[~np.eye(60, dtype=bool)]) < 0.75
    exact = vd.diagnose(X, metric="euclidean")
    assert exact.stats["near_duplicate_share"] == pytest.approx(1 / 1200)
    copied = X.copy()
    copied[100:110] = copied[100] + 1e-4 * rng.normal(size=(10, 16))
    for how in ({"graph_sample": 500}, {}):
        if not how:
            monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 500)
        d = vd.diagnose(X, metric="euclidean", sample=1200, **how)
        assert d["near_duplicates"].severity == "ok"
        assert d.stats["near_duplicate_share"] == pytest.approx(1 / 1200)
        found = vd.diagnose(copied, metric="euclidean", sample=1200, **how)
        assert found.stats["near_duplicate_share"] == pytest.approx(10 / 1200)


def test_a_handful_of_far_queries_is_a_hint_not_a_critical_shift(rng):
    """One far query of one is a 100% share: below ten queries the shift is at most a
    warning and says why; thirty far queries are critical."""
    X = rng.normal(size=(500, 16)) + 3
    one = next(f for f in vd.diagnose(X, queries=-(rng.normal(size=(1, 16)) + 3)).findings
               if f.code == "query_corpus_shift")
    assert one.severity == "warning" and "With only 1 query this is a hint" in one.summary
    many = next(f for f in vd.diagnose(X, queries=-(rng.normal(size=(30, 16)) + 3)).findings
                if f.code == "query_corpus_shift")
    assert many.severity == "critical"


def test_evidence_names_the_right_ids_after_zero_rows_are_left_out(rng):
    """Zero rows are left out before the graph; hubs and copies were then named through
    the row map twice (doc1005 for doc1000). Planted: a hub (the mean direction, which is
    near everyone in a cone) and an exact copy, behind five zero rows."""
    X = rng.normal(size=(600, 16)) + 1.5
    X[300] = 50 * X.mean(axis=0)              # under cosine: the direction of the cone
    X[400] = X[200]
    X[:5] = 0.0
    ids = [f"doc{i}" for i in range(600)]
    d = vd.diagnose(X, ids=ids)
    hubs = next(f for f in d.findings if f.code == "hubness")
    dups = next(f for f in d.findings if f.code == "near_duplicates")
    assert hubs.evidence["top_hubs"][0].startswith("doc300 "), hubs.evidence
    assert any("doc200 = doc400" in e for e in dups.evidence["examples"]), dups.evidence


def test_under_euclidean_a_rogue_variance_dimension_is_judged_an_offset_is_context(rng):
    """A dimension with 30 times the spread decides euclidean distances as much as cosine
    ones: it keeps its severity and its fix (it read "this shared offset changes no
    distance"). The same dimension moved by one common offset changes no distance: context."""
    base = rng.normal(size=(800, 48))
    spread, offset = base.copy(), base.copy()
    spread[:, 7] *= 30
    offset[:, 7] += 30
    f = {name: next(x for x in vd.diagnose(X, metric="euclidean").findings
                    if x.code == "rogue_dimensions")
         for name, X in (("spread", spread), ("offset", offset))}
    assert f["spread"].severity != "ok" and f["spread"].fix == "whiten"
    assert f["spread"].evidence["variance_share"] > 0.9
    assert f["offset"].severity == "ok" and "changes no distance" in f["offset"].summary


@pytest.mark.parametrize("plant", ["offset", "spread"])
def test_rogue_finding_shows_the_figure_it_was_judged_on(rng, plant):
    """Three dimensions ten times larger: the finding was critical with value 0.49 beside
    warning_at 0.5 (the share of the mean cosine, while the excess over chance or the
    excess of the squared-length share decided). The value and its thresholds are now
    those of the judgement, and every planted dimension is named."""
    X = rng.normal(size=(1500, 64)) * 0.05 + (0.3 if plant == "offset" else 0.0)
    for j in (7, 20, 40):
        if plant == "offset":
            X[:, j] += 2.0
        else:
            X[:, j] *= 10
    f = next(x for x in vd.diagnose(X).findings if x.code == "rogue_dimensions")
    ev = f.evidence
    assert f.severity in ("warning", "critical")
    assert ev["value"] >= ev["warning_at"] and (f.severity == "critical") == \
        (ev["value"] >= ev["critical_at"])
    assert ev["value"] == ev[ev["judged_on"]]
    assert all(str(j) in f.summary for j in (7, 20, 40)), f.summary


@pytest.mark.parametrize("n, d", [(3, 64), (5, 16), (8, 8), (20, 64)])
def test_a_handful_of_random_vectors_has_no_rogue_dimension(n, d):
    """With a few rows the top dimensions' shares are large by chance (3 to 5 Gaussian
    vectors read as rogue in 70-85% of seeds); they are judged against what n random
    rows give. A dimension ten times larger is still found at n = 20."""
    for seed in range(20):
        X = np.random.default_rng(seed).normal(size=(n, d))
        assert vd.diagnose(X)["rogue_dimensions"].severity == "ok", seed
    from vecdiag.diagnostics.rogue_rules import energy_null_quantile

    assert 0 < energy_null_quantile(50, 384, 5) < energy_null_quantile(5, 384, 5) < 0.15
    X = np.random.default_rng(0).normal(size=(20, 64))
    X[:, 5] *= 10
    assert vd.diagnose(X)["rogue_dimensions"].severity == "critical"


def test_low_twonn_from_a_minority_of_near_copies_is_not_a_collapsed_model(rng):
    """Near-copies just below the duplicate threshold (cosine ~0.97) pull the TwoNN fit
    down (it weighs the largest ratios); the median item's two distances do not move. A
    fit the median does not confirm is not judged (warning, deduplicate); data that is
    low-dimensional through and through (a curve, a 3-D subspace) still is."""
    X = rng.normal(size=(1200, 64))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    idx = rng.choice(1200, 200, replace=False)
    C = X[idx] + 0.25 * rng.normal(size=(200, 64)) / 8
    Y = np.vstack([X, C / np.linalg.norm(C, axis=1, keepdims=True)])
    f = vd.diagnose(Y)["low_intrinsic_dimension"]
    assert f.severity == "warning" and f.fix == "deduplicate", f.summary
    assert f.evidence["median_estimate"] >= 2 * f.evidence["value"]
    assert vd.diagnose(X)["low_intrinsic_dimension"].severity == "ok"
    t = rng.uniform(0, 10, 1500)
    curve = np.stack([np.sin(t * j / 3) for j in range(1, 9)], 1) @ rng.normal(size=(8, 64))
    f = vd.diagnose(curve, metric="euclidean")["low_intrinsic_dimension"]
    assert f.severity == "critical" and f.fix is None, f.summary
    flat = rng.normal(size=(1500, 3)) @ rng.normal(size=(3, 64))
    f = vd.diagnose(flat, metric="euclidean")["low_intrinsic_dimension"]
    assert f.severity != "ok" and "degrees of freedom" in f.summary


def test_under_dot_hubs_made_by_length_point_to_normalising(rng):
    """5% of unit documents made 1.5 times longer under dot: nearly every hub is one of
    them, yet the rank correlation of length and N_k over all items is low (most lengths
    tie at 1), and hubness prescribed CSLS. The hubs' own length decides now."""
    X = rng.normal(size=(1500, 32)) + 0.3
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    long = rng.choice(1500, 75, replace=False)
    X[long] *= 1.5
    d = vd.diagnose(X, metric="dot")
    hub = d["hubness"]
    assert hub.severity != "ok" and hub.fix == "normalize", hub.summary
    assert hub.evidence["hub_length_ratio"] >= 1.2
    assert "Long vectors are the hubs" in d["norm_spread"].summary
    clean = X.copy()
    clean[long] /= 1.5
    assert vd.diagnose(clean, metric="dot")["hubness"].fix != "normalize"


@pytest.mark.parametrize("d", [8, 16, 64])
def test_euclidean_length_spread_does_not_depend_on_the_origin(rng, d):
    """Under euclidean the spread was of lengths from the origin: a clean Gaussian blob
    warned "normalise" (critical at d = 8) and the same blob moved by +10 did not, with
    every distance equal. It is now the spread of distances to the centroid beyond a
    Gaussian cloud's of the same effective dimension; rows scaled at random stand out."""
    X = rng.normal(size=(2000, d))
    at_origin = vd.diagnose(X, metric="euclidean")["norm_spread"]
    moved = vd.diagnose(X + 10.0, metric="euclidean")["norm_spread"]
    assert at_origin.severity == moved.severity == "ok"
    assert at_origin.key_number == pytest.approx(moved.key_number, abs=1e-6)
    assert at_origin.evidence["centred_cv"] == pytest.approx(1 / np.sqrt(2 * d), rel=0.15)
    scaled = vd.diagnose(X * rng.lognormal(0, 0.5, size=(2000, 1)) + 10.0,
                         metric="euclidean")["norm_spread"]
    assert scaled.severity == "critical" and scaled.fix == "normalize"


@pytest.mark.parametrize("d", [1, 2, 3])
def test_euclidean_length_spread_of_a_low_dimensional_gaussian_cloud_is_ok(d):
    """In few dimensions the distances to the centre of a Gaussian cloud follow χ_d,
    whose cv (half-normal 0.756, Rayleigh 0.523, Maxwell 0.422: checked against scipy)
    is above the large-d value 1/sqrt(2d) that was the null; with the threshold on
    sqrt(cv² − null²) = 0.1, a cv 0.01 past it was a warning, and most healthy clouds
    of 1,000 points were flagged "normalise". Judged against χ_d plus the sample cv's
    noise, none of 10 clouds is; a random scaling of the rows still is."""
    from scipy import stats

    from vecdiag.diagnostics.norms import gaussian_distance_cv

    exact = stats.chi(d).std() / stats.chi(d).mean()
    assert gaussian_distance_cv(d, 1000)[0] == pytest.approx(exact, rel=1e-9)
    rng = np.random.default_rng(d)
    cvs = []
    for _ in range(10):
        X = rng.normal(size=(1000, d)) * 3.0 + 7.0
        f = vd.diagnose(X, metric="euclidean")["norm_spread"]
        dist = np.linalg.norm(X - X.mean(axis=0), axis=1)
        cvs.append(dist.std() / dist.mean())
        assert f.evidence["centred_cv"] == pytest.approx(cvs[-1], rel=1e-9)
        assert f.severity == "ok", f.summary
    assert np.mean(cvs) == pytest.approx(exact, abs=0.02)      # the clouds are healthy
    X = rng.normal(size=(1000, d)) * rng.lognormal(0, 0.6, size=(1000, 1))
    assert vd.diagnose(X, metric="euclidean")["norm_spread"].severity == "critical"


def test_an_index_is_not_diagnosed_under_another_metric_in_silence():
    # metric= was ignored for an Index: asking for euclidean gave the dot report
    X = clusters(n=300)
    index = vd.Index(X, metric="dot")
    with pytest.raises(ValueError, match=r"metric='euclidean', but the Index searches by "
                                         r"'dot'.*Index\(vectors, metric='euclidean'\)"):
        vd.diagnose(index, metric="euclidean")
    with pytest.raises(ValueError, match="metric='cosine', but the Index"):
        vd.diagnose(index, metric="cosine")
    with pytest.raises(ValueError, match="metric must be one of"):
        vd.diagnose(index, metric="manhattan")
    assert vd.diagnose(index).metric == vd.diagnose(index, metric="dot").metric == "dot"
    same = vd.diagnose(vd.Index(X, metric="euclidean"), metric="euclidean")
    plain = vd.diagnose(X, metric="euclidean")
    assert [(f.code, f.severity) for f in same.findings] == \
        [(f.code, f.severity) for f in plain.findings]
    assert same.stats["hubness_skewness"] == pytest.approx(plain.stats["hubness_skewness"])


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("distinct", [1, 3])
def test_a_corpus_of_a_few_vectors_copied_is_told_to_deduplicate_not_centre(metric, distinct):
    # 300 rows, copies of 1 or 3 vectors: the mean cosine is near 1 because the pairs are
    # copies, and "centre the vectors" / "whiten" was prescribed (critical)
    rng = np.random.default_rng(6)
    base = rng.normal(size=(distinct, 16)) + 2.0
    X = base[np.arange(300) % distinct]
    d = vd.diagnose(X, metric=metric)
    fixes = {f.fix for f in d.findings if f.severity != "ok"}
    assert "deduplicate" in fixes and not fixes & {"center", "whiten"}
    for code in ("anisotropy", "rogue_dimensions"):
        f = d[code]
        assert f.severity == "ok" and f.fix is None
        if "severity_if_distinct" in f.evidence:
            assert f.summary.startswith(f"Not judged: only {distinct} distinct vector(s)")
            assert f.evidence["severity_if_distinct"] != "ok"
    if metric != "euclidean":     # (under euclidean an offset is context anyway)
        assert d["anisotropy"].evidence["severity_if_distinct"] == "critical"
    # eleven distinct vectors (more than k = 10) are judged as before
    wide = rng.normal(size=(11, 16)) + 2.0
    assert vd.diagnose(wide[np.arange(330) % 11], metric="cosine")["anisotropy"].fix == "center"


def test_a_handful_of_distinct_vectors_is_not_told_it_holds_copies():
    """Five distinct vectors on one topic (k = 10 is more than them): anisotropy is not
    judged, as with copies, but the summary said "the other rows exact copies of them ...
    deduplicate first" of a corpus without a single copy. It now says why a handful of
    pairs cannot be judged; with real copies the copy wording stays."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=384) + 0.9 * rng.normal(size=(5, 384))
    f = vd.diagnose(X)["anisotropy"]
    assert f.severity == "ok" and f.evidence["severity_if_distinct"] != "ok"
    assert f.summary.startswith("Not judged: only 5 vectors, so the 10 pairs")
    assert "cop" not in f.summary and "deduplicate" not in f.summary
    copied = vd.diagnose(np.repeat(X[:3], 4, axis=0))["anisotropy"]
    assert copied.summary.startswith("Not judged: only 3 distinct vector(s), the other rows "
                                     "exact copies") and "deduplicate" in copied.summary


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("path", ["graph", "graph_sample", "sampled"])
def test_rogue_variance_is_not_read_as_near_copies(metric, path):
    # one dimension with 30 times the spread of the others decides every cosine: a fifth
    # of the items read as near-copies ("deduplicate", critical, listed first) where the
    # fix is whitening; judged on standardised dimensions, only planted copies count
    rng = np.random.default_rng(7)
    n = 120_000 if path == "sampled" else 2_000
    X = rng.normal(size=(n, 32)).astype(np.float32)
    X[:, 5] *= 30
    src = rng.choice(n, n // 20, replace=False)
    planted = np.vstack([X, X[src] + rng.normal(size=(n // 20, 32)).astype(np.float32) * 1e-3])
    kw = {"graph_sample": 1_000} if path == "graph_sample" else {"sample": 3_000}
    clean = vd.diagnose(X, metric=metric, **kw)
    assert clean["rogue_dimensions"].fix == "whiten"
    f = clean["near_duplicates"]
    assert f.severity == "ok" and f.evidence["value"] < 0.005, f.summary
    assert "standardised" in f.evidence["search"]
    g = vd.diagnose(planted, metric=metric, **kw)["near_duplicates"]
    assert g.evidence["value"] == pytest.approx(1 / 21, abs=0.015)
    assert g.fix == "deduplicate"


@pytest.mark.parametrize("d", [2, 3, 5])
def test_low_dimensional_neighbours_are_not_called_copies(d):
    # in 3 dimensions 3,000 random directions have 30 others each within cosine 0.98: all
    # read as near-copies ("deduplicate", critical). Only exact copies are judged there
    from scipy.special import betainc

    rng = np.random.default_rng(8)
    X = rng.normal(size=(3_000, d))
    d_ = vd.diagnose(X)
    f = d_["near_duplicates"]
    assert f.severity == "ok" and f.fix is None and f.evidence["value"] == 0.0
    # the chance figure is the cap's share of the sphere, checked by brute force here
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -2)
    brute = float((S >= 0.98).sum() / 3_000)
    cap = 0.5 * betainc((d - 1) / 2, 0.5, 1 - 0.98 ** 2)
    assert f.evidence["chance_per_item"] == pytest.approx(2_999 * cap)
    assert f.evidence["chance_per_item"] == pytest.approx(brute, rel=0.1)
    assert f.evidence["near_copy_share"] > 0.2
    copies = vd.diagnose(np.vstack([X, X[:150]]))["near_duplicates"]
    assert copies.severity == "warning" and copies.evidence["value"] == pytest.approx(150 / 3150)
    # 16 dimensions: chance is nil, near-copies are judged
    assert vd.diagnose(rng.normal(size=(3_000, 16))).stats["near_copies_by_chance"] < 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_near_copies_by_chance_count_the_dimensions_the_vectors_span(dtype):
    """3 factors written in 48 coordinates (plus 60 exact copies): the directions use 4
    dimensions at most (rank 3, checked with NumPy), so 1,500 of them fall within cosine
    0.98 of several others by chance (brute force below). The chance was computed for 48
    dimensions (nil), the chained pairs made one group of 99.9% of the corpus, and the
    finding was critical, "deduplicate the corpus". Now only the exact copies are judged:
    60 / 1,500 redundant rows, a warning."""
    from scipy.special import betainc

    rng = np.random.default_rng(3)
    X = (rng.normal(size=(1500, 3)) @ rng.normal(size=(3, 48))).astype(dtype)
    X[:60] = X[100:160]
    Xf = X.astype(np.float64)
    sv = np.linalg.svd(Xf, compute_uv=False)           # rank 3 up to the dtype's rounding
    assert np.count_nonzero(sv > 1e-3 * sv[0]) == 3
    U = Xf / np.linalg.norm(Xf, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -2)
    exact = (Xf[:, None, :] == Xf[None, :, :]).all(axis=2)
    np.fill_diagonal(exact, False)
    near_not_copy = (S >= 0.98) & ~exact
    assert near_not_copy.sum(axis=1).mean() > 1.0        # chance-level neighbours, not copies
    d = vd.diagnose(X)
    f = d["near_duplicates"]
    assert f.severity == "warning" and f.fix == "deduplicate"
    assert f.evidence["value"] == pytest.approx(60 / 1500)
    assert f.evidence["dim_spanned"] == 4 and f.evidence["dim"] == 48
    assert "the 4 dimensions the vectors span (of 48)" in f.summary
    # the cap's share of the sphere in 4 dimensions, for each of the 1,440 distinct rows
    assert d.stats["near_copies_by_chance"] == pytest.approx(
        1439 * 0.5 * betainc(1.5, 0.5, 1 - 0.98 ** 2))


def _facco_twonn(X, discard=0.1):
    """TwoNN written out (Facco et al. 2017): μ = r2/r1 over all points (brute-force
    Euclidean distances), slope through the origin of −log(1 − i/N) on log μ over the
    smallest 90% of the sorted ratios."""
    D = np.sqrt(np.maximum(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1), 0))
    np.fill_diagonal(D, np.inf)
    r = np.sort(D, axis=1)
    mu = np.sort(r[:, 1] / r[:, 0])
    keep = int(np.floor(mu.size * (1 - discard)))
    x, y = np.log(mu[:keep]), -np.log(1 - np.arange(1, keep + 1) / mu.size)
    return float(x @ y / (x @ x))


@pytest.mark.parametrize("sampled", [False, True])
def test_points_on_a_line_are_critical_under_dot_and_when_sampled(rng, monkeypatch,
                                                                  sampled):
    """800 points on a line through the origin in 64-D: TwoNN (Facco et al.) is about 1,
    below 1 by chance here. Under euclidean that was critical, but under dot (TwoNN on a
    sample of raw vectors) and on the sampled path the median item's estimate was never
    computed, so a fit below 1 read as 'near-copies, not judged' (warning): a line scored
    milder than a plane. The median confirms the fit now, as under euclidean."""
    from vecdiag.diagnostics import sampling

    if sampled:
        monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 500)
    line = rng.normal(size=(800, 1)) @ rng.normal(size=(1, 64))
    plane = rng.normal(size=(800, 2)) @ rng.normal(size=(2, 64))
    assert _facco_twonn(line) < 1.2 and _facco_twonn(plane) < 2.5
    for metric in ("dot", "euclidean"):
        f = vd.diagnose(line, metric=metric)["low_intrinsic_dimension"]
        assert f.severity == "critical" and f.fix is None, (metric, f.summary)
        assert vd.diagnose(plane, metric=metric)["low_intrinsic_dimension"].severity \
            == "critical"


def test_a_handful_of_items_is_not_called_low_dimensional(rng):
    """3 to 6 i.i.d. Gaussian items in 30-D: they span an affine subspace of n − 1 ≤ 5
    dimensions (matrix rank below), whatever made them, so a TwoNN below 5 from them
    says nothing about the model. It was judged: 3 items got 'critical, the items lie
    on a curve or a sheet' in about one draw of five. Not judged now (ok, the number of
    items in the evidence); a line of 40 items still is."""
    for n in (3, 4, 5, 6):
        for _ in range(15):
            X = rng.normal(size=(n, 30))
            assert np.linalg.matrix_rank(X - X.mean(0)) == n - 1 <= 5
            f = vd.diagnose(X, metric="euclidean")["low_intrinsic_dimension"]
            assert f.severity == "ok", (n, f.summary)
            assert f.evidence.get("points") == n
    line = rng.normal(size=(40, 1)) @ rng.normal(size=(1, 30))
    assert vd.diagnose(line, metric="euclidean")["low_intrinsic_dimension"].severity \
        == "critical"


def test_query_ids_of_the_wrong_length_are_counted_against_the_queries(rng):
    """3 queries and 1 query id: the error said "but the corpus has 3 rows" (the corpus
    has 40), sending the user to the wrong argument. It names the queries now."""
    X, Q = rng.normal(size=(40, 8)), rng.normal(size=(3, 8))
    with pytest.raises(ValueError) as err:
        vd.diagnose(X, queries=Q, query_ids=["q0"])
    assert "queries has 3 rows" in str(err.value) and "corpus" not in str(err.value)


def test_the_dot_twonn_note_counts_the_points_it_used(rng):
    """Under dot TwoNN runs on at most 2,000 raw vectors; on 300 the note still read
    '2000-point sample', beside points = 300 in the same evidence."""
    f = vd.diagnose(rng.normal(size=(300, 24)), metric="dot")["low_intrinsic_dimension"]
    assert "2000" not in f.evidence["note"] and "of 300 points" in f.evidence["note"]
    assert f.evidence["points"] == 300


def test_sampled_copy_shares_near_100_percent_read_as_percentages(rng, monkeypatch):
    """2,000 rows of 5 distinct vectors on the sampled path: Σ (group size − 1) / n is
    1995 / 2000 = 99.75% exactly, but the summary printed its interval and the share with
    a copy with 2 significant digits, as '[1e+02%, 1e+02%] (1e+02% have a copy)'. Every
    percentage now reads as one and agrees with the evidence."""
    import re

    from vecdiag.diagnostics import sampling

    monkeypatch.setattr(sampling, "SAMPLED_ABOVE", 500)
    X = rng.normal(size=(5, 16))[rng.permutation(np.arange(2000) % 5)]
    f = vd.diagnose(X)["near_duplicates"]
    assert f.evidence["value"] == pytest.approx(1995 / 2000)
    assert "e+" not in f.summary, f.summary
    lo, hi = (float(v) for v in re.search(r"interval \[([\d.]+)%, ([\d.]+)%\]",
                                          f.summary).groups())
    assert [lo, hi] == pytest.approx([100 * v for v in f.evidence["interval"]], rel=0.01)


def test_query_ids_without_queries_are_refused(rng):
    """query_ids name query rows; given without queries they were silently ignored."""
    X = rng.normal(size=(40, 4))
    with pytest.raises(ValueError, match="query_ids names query rows, but no queries"):
        vd.diagnose(X, query_ids=["q0", "q1"])
    codes = [f.code for f in vd.diagnose(X, queries=X[:2], query_ids=["q0", "q1"]).findings]
    assert "query_corpus_shift" in codes


def test_every_findings_value_says_what_it_measures():
    """The diagnosis table's value column was a bare number (rogue_dimensions -0.0193,
    an excess over chance, read like a share): each value now carries its meaning, in
    to_frame(), the HTML table and the report's JSON, and the figure is the one the
    finding's own sentence gives."""
    from vecdiag.report.text import to_json
    from vecdiag.report import analyze

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 16))
    X[:, 3] += 8                          # one rogue dimension: anisotropy as well
    X[5], X[11] = X[4], 0.0               # an exact copy, a zero row (valid under dot)
    d = vd.diagnose(X, metric="dot", show_progress=False)
    frame = d.to_frame().set_index("code")
    assert frame.loc["rogue_dimensions", "measures"] == (
        "excess of the top dimensions' share of the mean cosine over chance, "
        "(share − chance) / (1 − chance)")
    ev = d["rogue_dimensions"].evidence        # the figure is that formula
    assert frame.loc["rogue_dimensions", "value"] == pytest.approx(
        (ev["share"] - ev["null_share"]) / (1 - ev["null_share"]))
    want = {"anisotropy": "mean cosine of random pairs",
            "hubness": "skewness of N_k (how many neighbour lists each item is in)",
            "norm_spread": "coefficient of variation of the vector lengths (std / mean)",
            "metric_mismatch": "coefficient of variation of the vector lengths (std / mean)",
            "zero_vectors": "all-zero rows",
            "near_duplicates": "share of items that are redundant copies, Σ (group size − 1) / n",
            "low_intrinsic_dimension": "intrinsic dimension, TwoNN estimate"}
    assert {c: frame.loc[c, "measures"] for c in want} == want
    assert (f"two unrelated items score {frame.loc['anisotropy', 'value']:.2f} on average"
            in frame.loc["anisotropy", "summary"])
    assert frame.loc["zero_vectors", "value"] == 1
    assert frame.loc["near_duplicates", "value"] == pytest.approx(1 / 199)
    page = d._repr_html_()
    assert "<th style=\"text-align:left\">measures</th>" in page
    assert page.count("all-zero rows") == 1
    a = analyze(X[12:52], show_progress=False)
    out = {f["code"]: f for f in to_json(a)["findings"]}
    assert out["anisotropy"]["measures"] == "mean cosine of random pairs"
    assert out["anisotropy"]["value"] == pytest.approx(a.diagnosis["anisotropy"].key_number)


def test_one_bad_row_one_zero_row_and_one_copy_read_in_the_singular():
    """A single offending row was told in the plural: "1 row (5) hold NaN or inf",
    "1 row (10) are zero vectors ... they have no direction", "1 items ... in 1 groups"."""
    X = np.random.default_rng(0).normal(size=(60, 8))
    X[10] = 0.0
    X[20] = X[3]
    X[5, 1] = np.nan
    found = {f.code: f.summary for f in vd.diagnose(X).findings}
    assert found["non_finite"].startswith("1 row (5) holds NaN or inf;")
    assert found["non_finite"].endswith("drop or re-embed it.")
    assert found["zero_vectors"].startswith("1 row (10) is a zero vector (often empty or "
                                            "failed inputs): it has no direction")
    # was "1 item (1.72%) is a copy or near-copy (cosine ≥ 0.98) of others in 1 group, 1
    # of them exact"
    assert found["near_duplicates"] == ("1 item (1.72%) is an exact copy (cosine ≥ 0.98) of "
                                        "another; it takes a top-k slot from other "
                                        "documents; deduplicate the corpus.")


def test_a_findings_frame_is_its_row_of_the_diagnosis_frame():
    """Finding.to_frame and Diagnosis.to_frame built the same row in two places; one
    builder now: each finding's one-row frame equals its row of the diagnosis's frame,
    columns, order and values (None included), on a corpus with a copy and a zero row."""
    import pandas as pd

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 8))
    X[:, 2] += 6
    X[7], X[9] = X[3], 0.0
    d = vd.diagnose(X, metric="dot", show_progress=False)
    frame = d.to_frame()
    assert list(frame.columns) == ["code", "severity", "summary", "value", "measures", "fix"]
    assert frame["code"].tolist() == [f.code for f in d.findings]
    for i, f in enumerate(d.findings):
        one = f.to_frame()
        assert one.shape == (1, 6) and list(one.columns) == list(frame.columns)
        for col in frame.columns:      # dtypes may differ (a column of one row): values not
            a, b = one[col].iloc[0], frame[col].iloc[i]
            assert (pd.isna(a) and pd.isna(b)) or a == b, (f.code, col)
        assert one["summary"].iloc[0] == f.summary and one["value"].iloc[0] == f.key_number


def test_a_finding_not_judged_shows_no_value_in_any_rendering():
    """Thirty rows, copies of three vectors: anisotropy and hubness are "Not judged"
    (too few distinct vectors), yet to_frame gave their raw figures (0.9508, 4.064), the
    HTML table printed 0.9508 beside "Not judged", and the summary quoted the verdict
    ("two unrelated items score 0.95 on average"), which a reader took for one. Now the
    value is NaN / "—" / null everywhere it is shown; the figure stays in the evidence."""
    import types

    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(3, 16)) + 3, 10, axis=0)
    d = vd.diagnose(X, show_progress=False)
    frame = d.to_frame().set_index("code")
    for code in ("anisotropy", "hubness"):
        f = d[code]
        assert not f.judged and f.key_number is None
        assert math.isnan(frame.loc[code, "value"])
        assert frame.loc[code, "summary"] == f.summary
        assert math.isnan(f.to_frame()["value"][0])
        assert f.evidence["value"] == pytest.approx(
            {"anisotropy": 0.950775, "hubness": 4.063831}[code], abs=1e-6)
        row = re.search(rf"<tr class=\"vd-ok\">(?:(?!</tr>).)*>{code}<.*?</tr>",
                        d._repr_html_()).group(0)
        assert re.findall(r'class="vd-num"[^>]*>([^<]*)<', row) == ["—"]
        assert "<td style=\"text-align:left\">— (not judged)</td>" in f._repr_html_()
        assert [j["value"] for j in vd.report.to_json(types.SimpleNamespace(
            title="t", description="", notes=[], diagnosis=d, evaluation=None,
            cases=[]))["findings"] if j["code"] == code] == [None]
    assert "0.95" not in d["anisotropy"].summary
    assert d["near_duplicates"].judged and frame.loc["near_duplicates", "value"] == 0.9
    # five rows: TwoNN's 46 from 5 items is "not judged" too (n items span n − 1 dims)
    five = vd.diagnose(rng.normal(size=(5, 16)) + 3, show_progress=False)
    f = five["low_intrinsic_dimension"]
    assert f.summary.startswith("Intrinsic dimension not judged: TwoNN gives 46 from only 5")
    assert not f.judged and math.isnan(five.to_frame().set_index("code").loc[f.code, "value"])
    assert f.evidence["value"] == pytest.approx(46.0, abs=0.5)


def test_short_rows_near_the_origin_under_euclidean_are_not_near_copies():
    # euclidean, a cloud moved 12 from the origin, 6 short rows (length about 2) near it:
    # centred, all 6 point along minus the mean (centred cosines 0.968-0.983, 3 pairs of
    # them >= 0.98) though their raw cosines are 0.08-0.55 (NumPy below): diagnose named
    # "3 items are near-copies in 1 group". A pair is a copy when it is one raw too: only
    # the 2 planted copies (raw and centred cosine > 0.999) are left.
    rng = np.random.default_rng(0)
    n, d = 400, 32
    X = 12 / np.sqrt(d) + rng.normal(size=(n, d))
    X[:6] = 0.3 * rng.normal(size=(6, d)) + 0.3 * rng.normal(size=d)
    X[-2:] = X[100:102] + 1e-3 * rng.normal(size=(2, d))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = X - X.mean(axis=0)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    upper = np.triu_indices(6, 1)
    assert (U[:6] @ U[:6].T)[upper].max() < 0.6
    assert np.count_nonzero((C[:6] @ C[:6].T)[upper] >= 0.98) == 3
    f = vd.diagnose(X, metric="euclidean")["near_duplicates"]
    assert f.evidence["redundant_items"] == 2 and f.evidence["groups"] == 2
    assert "raw" in f.evidence["search"]


def test_a_mean_cosine_near_zero_is_not_printed_as_minus_zero():
    """300 x 32 standard normal vectors (seed 0) have mean cosine -0.00042; the anisotropy
    finding said "two random items have mean cosine -0.000". It keeps 2 significant
    digits when 3 decimals would show 0, and says 0.000 only for 0."""
    from vecdiag.diagnostics.rules import anisotropy_finding

    def said(mean_cos):
        return anisotropy_finding(mean_cos, 0.95, 0.9).summary

    assert said(-0.0004205457152988159) == (
        "Directions are spread out: two random items have mean cosine -0.00042, so a raw "
        "score already tells related from unrelated.")
    assert "mean cosine 0.00003," in said(3e-5)
    assert "mean cosine 0.000," in said(-0.0)
    assert "mean cosine 0.162," in said(0.16163)


def test_the_length_spread_is_one_figure_to_3_decimals_in_every_finding():
    """The length cv read "cv 3.44" in the norm_spread warning and "cv 3.438" in the
    metric_mismatch warning of the same diagnosis, and float32 unit vectors (cv 1.8e-8)
    read "All vectors have unit length (cv 0.000)". 40 random unit vectors in 8-D
    (seed 1), row 5 made 50 times longer."""
    from vecdiag.diagnostics import norm_spread
    from vecdiag.diagnostics.rules import norm_finding

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 8))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    unit = norm_spread(np.linalg.norm(X.astype(np.float32), axis=1))
    assert norm_finding(unit, "cosine").summary == (
        "All vectors have unit length (cv 0.000000018); cosine ignores length anyway.")
    X[5] *= 50
    spread = norm_spread(np.linalg.norm(X, axis=1))
    assert spread.cv == pytest.approx(3.43826, abs=1e-5)
    assert norm_finding(spread, "dot").summary.startswith("Lengths vary by cv 3.438 (from 1 ")
    assert norm_finding(spread, "cosine").summary == (
        "Lengths vary (cv 3.438) but cosine ignores length, so they cannot change a ranking.")
    mismatch = next(f for f in vd.diagnose(X, metric="dot", k=5).findings
                    if f.code == "metric_mismatch")
    assert "their lengths (cv 3.438) take part in every score" in mismatch.summary


def test_the_sampled_copy_finding_counts_one_row_and_one_group_in_the_singular():
    """The sampled near-copy finding read "1 rows are exact copies (all rows hashed), and 1
    groups are named"; 400 x 8 normal (seed 0), row 7 a copy of row 8, sampled."""
    X = np.random.default_rng(0).normal(size=(400, 8))
    X[7] = X[8]
    (dup,) = [f for f in vd.diagnose(X, k=5, graph_sample=300, sample=200).findings
              if f.code == "near_duplicates"]
    assert dup.summary.endswith("; 1 row is an exact copy (all rows hashed), and 1 group is "
                                "named from the graph's sample and the hashing.")
    X[9], X[50] = X[8], X[51]
    (dup,) = [f for f in vd.diagnose(X, k=5, graph_sample=300, sample=200).findings
              if f.code == "near_duplicates"]
    assert dup.summary.endswith("; 3 rows are exact copies (all rows hashed), and 2 groups "
                                "are named from the graph's sample and the hashing.")


def test_one_hub_is_told_in_the_singular():
    """A hubness warning with one hub read "A few hub items crowd everyone's top-10: ...,
    1 items appear in ≥ 20 lists"; the figures are a 60-item N_10 with one item in 40
    lists, 30 in one and 29 in none."""
    from types import SimpleNamespace

    from vecdiag.diagnostics.rules import hubness_finding

    kocc = np.array([40] + [1] * 30 + [0] * 29)
    h = SimpleNamespace(skewness=7.1, k_occurrence=kocc, hubs=np.array([0]),
                        antihubs=np.arange(31, 60), robinhood=0.5, k=10)
    assert hubness_finding(h, None, "cosine", []).summary == (
        "One hub item crowds everyone's top-10: N_10 skewness 7.10, 1 item appears in ≥ 20 "
        "lists (the busiest in 40) and 29 in none; re-rank with CSLS or mutual proximity.")
    h.hubs = np.array([0, 1])
    assert hubness_finding(h, None, "cosine", []).summary.startswith(
        "A few hub items crowd everyone's top-10: N_10 skewness 7.10, 2 items appear in ≥ 20 ")


def test_the_shift_of_one_query_reads_in_the_singular():
    """One query read "0% of the 1 queries are farther ..." and "100% of the 1 queries
    (farthest: row 0) are farther"; 100 x 8 normal + 3 (seed 0)."""
    X = np.random.default_rng(0).normal(size=(100, 8)) + 3

    def shift(Q):
        (f,) = [f for f in vd.diagnose(X, queries=Q, k=5).findings
                if f.code == "query_corpus_shift"]
        return f.summary

    assert shift(X[:1] + 0.01) == (
        "Queries sit among the documents: 0% of the 1 query is farther from their nearest "
        "document than 95% of documents are from theirs (about 5% expected).")
    assert shift(-np.ones((1, 8))).startswith(
        "100% of the 1 query (farthest: row 0) is farther from every document than 95% of ")
    assert shift(X[:3] + 0.01).startswith("Queries sit among the documents: 0% of the 3 "
                                          "queries are farther from their nearest document")
