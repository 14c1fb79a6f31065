"""explain_neighbors under euclidean distance: a common offset of corpus and query moves
no euclidean distance, so it must move nothing an explanation reads either."""

import numpy as np
import pytest

import vecdiag as vd
from explain_planted import GENERATORS

CENTRED_COSINE = "cosine_metric+center"


def _centred_cosine_rank(X, q, row):
    """Independent reference: the rows less their mean, cosine with the query less the
    same mean, ties by lower row; the 1-based rank of ``row``."""
    mu = X.mean(axis=0)
    T, t = X - mu, q - mu
    cos = T @ t / (np.linalg.norm(T, axis=1) * np.linalg.norm(t))
    order = np.lexsort((np.arange(len(X)), -cos))
    return int(np.flatnonzero(order == row)[0]) + 1


@pytest.mark.parametrize("shift", [30.0, 1000.0])
def test_the_centred_cosine_counterfactual_does_not_move_with_a_common_offset(shift):
    """The rogue plant (200 x 16, euclidean): centring then cosine ranked the expected
    document 3rd at the origin and 200th of 200 once every row and the query were moved
    by 30 (the unit rows were centred: far from the origin every unit row is nearly the
    same, so the ranking depended on where the origin is). Centring the rows as given
    is free of any offset: the same rank (200th: the rogue dimensions' variance still
    decides, whitening's job) at every offset, equal to NumPy's by hand."""
    case = GENERATORS["rogue_dimensions"](np.random.default_rng(0), 200, 16)
    X, q, (e,) = case.corpus, case.query, case.expected
    want = _centred_cosine_rank(X, q, e)
    assert want == _centred_cosine_rank(X + shift, q + shift, e)
    ranks = []
    for s in (0.0, shift):
        exp = vd.explain_neighbors(q + s, X + s, k=10, expected=[e], metric="euclidean")
        cf = {c.fix: c for c in exp.counterfactuals}
        ranks.append(cf[CENTRED_COSINE].expected_ranks[e])
    assert ranks == [want, want]


def _cause(exp, code):
    (cause,) = [c for c in exp.causes if c.code == code]
    return cause


def test_lengths_under_euclidean_are_distances_to_the_centre():
    """The metric_mismatch plant (200 x 16, lengths 0.3-3, euclidean). Moved by +30 with
    its query, the rows' lengths from the origin had cv 0.01 (0.47 at the origin), and
    the cause vanished (named at 1.0 at the origin) while every euclidean distance was the
    same. Measured from the corpus mean the lengths are the same at every offset (cv
    equal to NumPy's by hand), and so are the cause's figures; its fix is centring then
    cosine, whose ranking no offset moves."""
    case = GENERATORS["metric_mismatch"](np.random.default_rng(0), 200, 16)
    X, q, (e,) = case.corpus, case.query, case.expected
    L = np.linalg.norm(X - X.mean(axis=0), axis=1)
    causes = []
    for s in (0.0, 30.0):
        exp = vd.explain_neighbors(q + s, X + s, k=10, expected=[e], metric="euclidean")
        c = _cause(exp, "metric_mismatch")
        assert c.evidence["norm_cv"] == pytest.approx(L.std() / L.mean(), rel=1e-9)
        assert c.evidence["query_norm_ratio"] == pytest.approx(
            np.linalg.norm(q - X.mean(axis=0)) / np.median(L), rel=1e-9)
        causes.append((c.confidence, c.fix, c.evidence["strength"], c.evidence["fix_effect"]))
    assert causes[0] == causes[1] == (1.0, CENTRED_COSINE, 1.0, 1.0)


def test_a_length_cause_is_ruled_out_by_its_own_fix_only():
    """The out_of_distribution plant (200 x 32, seed 5, euclidean): the query's distance
    to the centre is near the median's, metric_mismatch at strength 0.11, its fix
    (centring then cosine) pushing the expected document from rank 19 to 21. It was
    ruled out at the origin, because cosine over the raw rows pushes the document down
    too (to 21), and kept with the corpus moved by +30 (the raw cosine leaves it at 19):
    the raw rows' cosine depends on the origin, and is not the fix the cause reads
    under euclidean. Now ruled out alike at every offset, by its own fix."""
    case = GENERATORS["out_of_distribution"](np.random.default_rng(5), 200, 32)
    found = []
    for s in (0.0, 30.0):
        exp = vd.explain_neighbors(case.query + s, case.corpus + s, k=10,
                                   expected=case.expected, metric="euclidean")
        assert "metric_mismatch" not in {c.code for c in exp.causes}
        (c,) = [r for r in exp.ruled_out if r.code == "metric_mismatch"]
        found.append((c.fix, c.evidence["rank"], c.evidence["rank_under_fix"],
                      c.evidence["strength"]))
    assert found[0] == found[1] == (CENTRED_COSINE, 19, 21, 0.1133)


def _unit_rows(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _explained(case, shift):
    """(code, confidence, fix) of every cause, and every counterfactual's expected ranks,
    of the case's corpus and query both moved by ``shift`` in every dimension."""
    exp = vd.explain_neighbors(case.query + shift, case.corpus + shift, k=case.k,
                               expected=case.expected, metric="euclidean", **case.kwargs)
    causes = [(c.code, c.confidence, c.fix) for c in exp.causes]
    ranks = {c.fix: c.expected_ranks for c in exp.counterfactuals}
    return causes, ranks


# plants whose failure is euclidean too (the anisotropy plant over unit rows: searched by
# euclidean distance, which ranks unit rows as cosine does)
PLANTS = [("metric_mismatch", 0, "metric_mismatch"), ("anisotropy", 1, "metric_mismatch"),
          ("hub", 2, None), ("near_duplicates", 3, "near_duplicates"),
          ("rogue_dimensions", 4, None), ("out_of_distribution", 5, "out_of_distribution"),
          ("low_margin", 6, None), ("ann_miss", 7, "ann_miss")]


@pytest.mark.parametrize("name,seed,first", PLANTS)
def test_a_common_offset_changes_no_euclidean_explanation(name, seed, first):
    """Every row and the query moved by +30 and by +1000 in every dimension: no euclidean
    distance changes, so neither may the explanation. Seen from the origin the moved rows
    all point one way: explain named anisotropy ("a narrow cone") at 1.0 on the moved
    metric_mismatch plant, which it does not name unmoved, and at 0.3 beside every other
    plant, while vd.diagnose reads no cone under euclidean (context only). Now every
    cause, its confidence and fix, and the rank every offset-free fix gives the expected
    document are the same at each offset (cosine over the raw rows is not offset-free:
    its ranks are left out, and expected_far, which reads it, is not among these
    plants), and anisotropy is never named under euclidean."""
    case = GENERATORS[name](np.random.default_rng(seed), 200, 32)
    if name == "anisotropy":
        case.corpus, case.query = _unit_rows(case.corpus), _unit_rows(case.query)
    found = [_explained(case, s) for s in (0.0, 30.0, 1000.0)]
    (causes, ranks), moved = found[0], found[1:]
    assert "anisotropy" not in {c for c, _, _ in causes}
    if first is not None:
        assert causes[0][0] == first and causes[0][1] >= 0.5, causes
    offset_free = {f: r for f, r in ranks.items() if f != "cosine_metric"}
    for other_causes, other_ranks in moved:
        assert [(c, f) for c, _, f in other_causes] == [(c, f) for c, _, f in causes]
        assert [v for _, v, _ in other_causes] == pytest.approx([v for _, v, _ in causes],
                                                                abs=1e-4)
        assert {f: r for f, r in other_ranks.items() if f != "cosine_metric"} == offset_free
    diagnosis = vd.diagnose(case.corpus + 1000.0, metric="euclidean")
    assert {f.code: f.severity for f in diagnosis.findings}["anisotropy"] == "ok"


def test_distances_to_the_centre_that_vary_through_rogue_dimensions_are_rogue():
    """The rogue plant over unit rows searched by euclidean (200 x 16): three dimensions
    hold most of the centred rows' variance, and through them the distances to the
    centre vary. metric_mismatch (those distances) and rogue_dimensions were both named
    at 1.0 with the same fix (centring then cosine, which brings the document from rank
    181 to 3rd), metric_mismatch first by the registry's order of ties. The specific
    cause comes first now, alone, as norm_bias does for long documents under dot, at
    the origin and moved by +30."""
    case = GENERATORS["rogue_dimensions"](np.random.default_rng(0), 200, 16)
    X, q, (e,) = _unit_rows(case.corpus), _unit_rows(case.query), case.expected
    assert _centred_cosine_rank(X, q, e) == 3
    for s in (0.0, 30.0):
        exp = vd.explain_neighbors(q + s, X + s, k=10, expected=[e], metric="euclidean")
        causes = [(c.code, c.confidence, c.fix) for c in exp.causes if c.confidence >= 0.5]
        assert causes == [("rogue_dimensions", 1.0, CENTRED_COSINE)]


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_explain_and_diagnose_call_a_cone_from_the_same_exact_mean_cosine(metric):
    """A corpus at mean cosine 0.39875 and the same moved to 0.40176, either side of the
    0.4 at which both call it a narrow cone (anisotropy warning; near-copies judged
    centred). Both read the exact mean over all pairs, from one pass (no sample: a
    10,000-pair estimate, standard error 0.002 here, calls the first a cone for 9 of 40
    seeds and the second not for 6 of 40), so they agree to the last bit, and the copy
    frame is centred exactly when diagnose warns. Reference: the mean of the
    off-diagonal cosines by NumPy."""
    from vecdiag.explain.stats import copy_frame, corpus_shape

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 16)) / 4
    decided = []
    for a, want in ((0.815, 0.39875), (0.82, 0.40176)):
        X = Z + a * np.ones(16) / 4
        U = _unit_rows(X)
        C = U @ U.T
        assert (C.sum() - np.trace(C)) / (300 * 299) == pytest.approx(want, abs=5e-6)
        diagnosis = vd.diagnose(X, metric=metric)
        index = vd.Index(X, metric=metric)
        exp = vd.explain_neighbors(X[0] + 0.01, index, k=10, metric=metric)
        assert exp.stats["anisotropy"] == diagnosis.stats["anisotropy"]
        severity = {f.code: f.severity for f in diagnosis.findings}["anisotropy"]
        frame = copy_frame(index, corpus_shape(index, 300, 10))
        decided.append((severity, frame is not None and frame.shift is not None))
    assert decided == [("ok", False), ("warning", True)]
