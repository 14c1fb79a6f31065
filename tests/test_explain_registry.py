"""explain's structure: a frozen Context built once, checks that are pure functions of it
(their order does not matter), and a cause registry derived from the fix registry."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from vecdiag.explain import core
from vecdiag.explain.registry import CAUSES, run_checks
from vecdiag.fixes.registry import FIXES

from explain_planted import GENERATORS, control


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def _context(case, **kw):
    """The frozen Context explain_neighbors builds for a planted case."""
    inp = core._inputs(case.query, case.corpus, k=case.k, expected=case.expected,
                       returned=case.kwargs.get("returned"), metric=case.metric, ids=None,
                       texts=None, query_text=None, embedder=None, attribution=False,
                       random_state=0, top=10, max_exact=5000, sample_size=2000,
                       fix_report=None, alternatives=kw.get("alternatives"))
    ctx, _ = core._measure(core._draft(inp), inp)
    return ctx


def _fingerprint(causes):
    return [(c.code, c.summary, c.confidence, c.fix, c.ranking) for c in causes]


@pytest.mark.parametrize("name", sorted(GENERATORS) + ["control"])
def test_checks_give_the_same_causes_in_any_order(name):
    gen = control if name == "control" else GENERATORS[name]
    case = gen(np.random.default_rng(5), 300, 64)
    ctx = _context(case)
    reference = _fingerprint(run_checks(ctx))
    checks = [spec.check for spec in CAUSES.values()]
    rng = random.Random(0)
    for _ in range(5):
        rng.shuffle(checks)
        assert _fingerprint(run_checks(ctx, checks)) == reference
    # a check run twice gives the same answer: nothing it computes is kept in the context
    for spec in CAUSES.values():
        first, second = spec.check(ctx), spec.check(ctx)
        assert (first is None) == (second is None)
        if first is not None:
            assert _fingerprint([first]) == _fingerprint([second])


def test_context_is_frozen_and_its_arrays_read_only():
    case = GENERATORS["hub"](np.random.default_rng(0), 300, 64)
    ctx = _context(case)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.k = 3
    for name in ("scores", "key", "top", "query", "unit_query", "expected_ranks"):
        arr = getattr(ctx, name)
        with pytest.raises(ValueError):
            arr[0] = 0
    with pytest.raises(TypeError):
        ctx.rankings["center"] = None
    with pytest.raises(TypeError):
        ctx.expected_percentile[0] = 1.0


def test_cause_registry_is_derived_from_the_fix_registry():
    api_codes = {"hub", "norm_bias", "rogue_dimensions", "anisotropy", "near_duplicates",
                 "low_margin", "expected_far", "lexical_mismatch", "truncation",
                 "missing_prefix", "metric_mismatch", "out_of_distribution", "ann_miss",
                 "dilution"}
    assert set(CAUSES) == api_codes
    for spec in CAUSES.values():
        assert set(spec.fixes) <= set(FIXES), spec
    from vecdiag.explain.causes import FIX_NAMES, fix_name

    assert set(FIX_NAMES) == set(FIXES)
    assert fix_name("csls") == FIXES["csls"].name == "CSLS"
    assert fix_name("model: tfidf") == "model: tfidf"


def test_flat_norm_histogram_is_said_in_words():
    """Unit vectors (float32 rounding only): one bar, the length written out, no axis
    offset such as '1e-7+1'; spread lengths: a histogram with plain tick labels."""
    import matplotlib

    matplotlib.use("Agg")
    from vecdiag.plot.diagnostics import draw_norms

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 32)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    norms = np.linalg.norm(X.astype(np.float64), axis=1)
    assert 0 < norms.max() - norms.min() < 1e-5
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    draw_norms(norms, ax=ax)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "all 500 vectors have length 1 (unit-normalised)" in texts
    ax.figure.canvas.draw()
    assert ax.xaxis.get_major_formatter().get_offset() == ""
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1"]
    _, ax2 = plt.subplots()
    draw_norms(rng.uniform(1000.0, 1010.0, size=200), ax=ax2)
    ax2.figure.canvas.draw()
    assert ax2.xaxis.get_major_formatter().get_offset() == "" and not ax2.texts


@pytest.mark.parametrize("name", ["low_margin", "hub", "control"])
def test_a_counterfactual_that_reranks_nothing_adds_no_evidence(name):
    """A fix whose ranking is the plain search (cosine over unit vectors searched by dot,
    centring under euclidean: a translation) is no re-ranking: adding it to the measured
    counterfactuals must not change any cause. It counted as a re-ranking that fails to
    lift a miss within noise, so the same unit vectors and the same ranking got
    low_margin 0.61 by cosine and 0.42 by euclidean on a Cranfield query, and a planted
    hub 0.30 by cosine and 0.86 by euclidean."""
    from vecdiag.explain.context import frozen_map

    gen = control if name == "control" else GENERATORS[name]
    for seed in range(4):
        ctx = _context(gen(np.random.default_rng(seed), 300, 64))
        assert "cosine_metric" not in ctx.rankings   # cosine search: not measured
        noop = dataclasses.replace(ctx, rankings=frozen_map({"cosine_metric": ctx.base,
                                                             **ctx.rankings}))
        assert _fingerprint(run_checks(noop)) == _fingerprint(run_checks(ctx))
