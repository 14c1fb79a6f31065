"""vd.diagnose under euclidean does not depend on where the origin is.

A common translation of every row changes no euclidean distance and no ranking, so no
finding whose advice is about the euclidean search may change with it. Direction
statistics that can decide a euclidean search (rogue dimensions: a few dimensions
holding most of the spread) are read from the rows less their mean; those seen from the
origin (anisotropy, the mean-cosine sign of rogue dimensions) stay context.

References: brute force on the centred rows (``U = (X − μ)/‖X − μ‖``; the variance of
each coordinate, ddof 1, is what ``energy − contribution`` sums to), and the figures
cosine and dot gave before the euclidean rule changed (pinned).
"""

from __future__ import annotations

import numpy as np
import pytest

from explain_planted import GENERATORS, healthy_corpus

import vecdiag as vd

OFFSETS = (30.0, 1000.0)


def _corpus(name):
    rng = np.random.default_rng(0)
    if name == "gaussian":
        return rng.normal(size=(300, 16))
    if name == "clustered":
        return healthy_corpus(rng, 300, 24)
    return GENERATORS[name](rng, 300, 32).corpus


def _diagnose(X, metric="euclidean"):
    return {f.code: f for f in vd.diagnose(X, metric=metric, show_progress=False).findings}


def _centred_excess(X, top):
    """The rogue variance sign from the centred unit rows, by brute force."""
    C = X - X.mean(axis=0)
    U = C / np.linalg.norm(C, axis=1, keepdims=True)
    var = U.var(axis=0, ddof=1)
    held = np.sort(var)[::-1][:top].sum() / var.sum()
    even = top / X.shape[1]
    return (held - even) / (1 - even)


@pytest.mark.parametrize("name", ["gaussian", "clustered", "rogue_dimensions", "anisotropy",
                                  "metric_mismatch", "hub", "norm_bias"])
def test_euclidean_findings_do_not_move_with_a_common_offset(name):
    """Every finding keeps its severity and fix after +30 and +1000 in every dimension,
    and the figures read from the centre (the centred norm spread, rogue dimensions
    seen from the mean) agree to rounding. Before: the planted rogue-dimension corpus
    read rogue dimensions ok at the origin (judged on the mean cosine, an offset: context)
    and critical after either offset (energy excess 0.758 at +30, 0.766 at +1000)."""
    X = _corpus(name)
    base = _diagnose(X)
    for offset in OFFSETS:
        moved = _diagnose(X + offset)
        assert {c: (f.severity, f.fix) for c, f in moved.items()} == \
            {c: (f.severity, f.fix) for c, f in base.items()}, (name, offset)
        assert moved["norm_spread"].evidence["value"] == pytest.approx(
            base["norm_spread"].evidence["value"], rel=1e-6, abs=1e-9)
        if base["rogue_dimensions"].evidence.get("seen_from") == "mean":
            assert moved["rogue_dimensions"].evidence["value"] == pytest.approx(
                base["rogue_dimensions"].evidence["value"], rel=1e-9)


def test_planted_rogue_dimensions_are_read_from_the_centre_under_euclidean():
    """Three dimensions of sd 1.5 beside ~0.24: they decide euclidean distances, at the
    origin as after an offset (critical, whiten), on the brute-force centred figure."""
    X = _corpus("rogue_dimensions")
    want = _centred_excess(X, 4)
    for offset in (0.0,) + OFFSETS:
        f = _diagnose(X + offset)["rogue_dimensions"]
        assert (f.severity, f.fix, f.evidence["judged_on"]) == \
            ("critical", "whiten", "energy_excess")
        assert f.evidence["value"] == pytest.approx(want, rel=1e-9)
        assert round(f.evidence["value"], 4) == 0.7121


# (severity, value) of the rogue-dimension finding before the euclidean rule changed
PINNED = {("cosine", 0.0): ("critical", 0.9982236039408562),
          ("cosine", 30.0): ("critical", 0.7584434380351057),
          ("dot", 0.0): ("critical", 0.9982236039408562),
          ("dot", 1000.0): ("critical", 0.765859203454867)}


@pytest.mark.parametrize("metric, offset", sorted(PINNED))
def test_cosine_and_dot_still_read_from_the_origin(metric, offset):
    """Under cosine and dot the origin is part of the metric: unchanged, to the bit."""
    f = _diagnose(_corpus("rogue_dimensions") + offset, metric)["rogue_dimensions"]
    assert (f.severity, f.evidence["value"]) == PINNED[(metric, offset)]


def test_dask_reads_the_same_centred_rogue_dimensions():
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install "
                                                  "'vecdiag[dask]')")
    X = _corpus("rogue_dimensions") + 1000.0
    want = _diagnose(X)["rogue_dimensions"]
    got = {f.code: f for f in vd.diagnose(da.from_array(X, chunks=(100, 32)),
                                          metric="euclidean",
                                          show_progress=False).findings}["rogue_dimensions"]
    assert (got.severity, got.fix, got.evidence["energy_dims"]) == \
        (want.severity, want.fix, want.evidence["energy_dims"])
    assert got.evidence["value"] == pytest.approx(want.evidence["value"], rel=1e-9)


def test_rows_at_the_centre_are_left_out():
    """A row at the mean has no direction from it: summed without it, as the others'."""
    from vecdiag.diagnostics.rogue import rogue_about

    rng = np.random.default_rng(3)
    Y = rng.integers(-9, 10, size=(20, 8)).astype(float)
    X = np.vstack([Y, -Y]) + 5.0                         # the mean is exactly 5
    with_centre = np.vstack([X, np.full(8, 5.0)])
    got = rogue_about(with_centre, with_centre.mean(axis=0), top=2)
    want = rogue_about(X, X.mean(axis=0), top=2)
    np.testing.assert_allclose(got.energy, want.energy, rtol=1e-12)
    assert (got.dims.tolist(), got.mean_cosine) == (want.dims.tolist(), want.mean_cosine)


def test_explain_reads_the_same_centred_rogue_dimensions_on_dask():
    """explain's centred rogue dimensions are diagnose's rule (rogue_about): on a Dask
    corpus too with the rotation null of the variance sign. Two dimensions of sd 2.5 of
    32: warning on NumPy (variance share 0.2975, null 0.202); before, on Dask the null
    was not computed (the most any spectrum gives, 0.670) and read ok."""
    da = pytest.importorskip("dask.array", reason="dask not installed (pip install "
                                                  "'vecdiag[dask]')")
    from vecdiag.diagnostics.rogue_rules import rogue_finding
    from vecdiag.explain.centred import centred_rogue

    X = np.random.default_rng(0).normal(size=(300, 32))
    X[:, :2] *= 2.5
    X += 30.0
    here = centred_rogue(vd.Index(X, metric="euclidean"), 4)
    there = centred_rogue(vd.Index(da.from_array(X, chunks=(100, 32)), metric="euclidean"), 4)
    assert there.variance_null == pytest.approx(here.variance_null, rel=1e-9)
    assert round(here.variance_null, 3) == 0.202
    assert rogue_finding(there, 32, 300).severity == rogue_finding(here, 32, 300).severity \
        == "warning"
