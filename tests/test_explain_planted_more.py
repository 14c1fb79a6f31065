"""More planted failures for vd.explain_neighbors and vd.diagnose, built apart from
tests/explain_planted.py: other sizes, dimensions, metrics and clean corpora, each checked
against what vd.diagnose says of the same corpus or a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _tight_topics(rng, n, d, n_topics=4, noise=0.3):
    """Unit vectors around ``n_topics`` random centres: no axis is special (a rotated
    copy has the same cosines), so no dimension can be rogue."""
    centres = _unit(rng.normal(size=(n_topics, d)))
    labels = rng.integers(0, n_topics, n)
    return _unit(centres[labels] + noise * _unit(rng.normal(size=(n, d))))


@pytest.mark.parametrize("seed", [0, 3])
def test_a_few_topics_in_8_dimensions_are_not_rogue_dimensions(seed):
    """60 documents on 4 topics in 8-D, a query from nowhere (its 16th-best document
    expected). explain read the top 5 of the 8 dimensions (vd.diagnose reads ⌈8/10⌉ = 1):
    5 of 8 dimensions always carry about all of a mean cosine, so it named
    rogue_dimensions first with confidence 1.0 (whitening lifts the document from rank 16
    to 3, as it would any) where vd.diagnose says no dimension dominates."""
    rng = np.random.default_rng(seed)
    X = _tight_topics(rng, 60, 8)
    q = _unit(rng.normal(size=8))
    e = int(np.argsort(-(X @ q), kind="stable")[15])
    exp = vd.explain_neighbors(q, X, expected=[e])
    codes = [c.code for c in exp.causes]
    assert vd.diagnose(X)["rogue_dimensions"].severity == "ok"
    assert "rogue_dimensions" not in codes, codes
    assert codes[0] == "out_of_distribution", codes


def _topics(seed, n, d):
    """Unit vectors around 3-11 random centres (noise 0.5-1.2 of the centre): no axis
    is special."""
    rng = np.random.default_rng(seed)
    n_topics, noise = int(rng.integers(3, 12)), float(rng.uniform(0.5, 1.2))
    centres = _unit(rng.normal(size=(n_topics, d)))
    labels = rng.integers(0, n_topics, n)
    return _unit(centres[labels] + noise * _unit(rng.normal(size=(n, d))))


@pytest.mark.parametrize("seed,n,d", [(9009, 60, 16), (9056, 60, 16), (9226, 300, 12)])
def test_topics_around_random_centres_are_not_rogue_by_the_distinct_pair_share(seed, n, d):
    """Their mean cosine (0.06-0.09) is a direction pointing anywhere. Over distinct
    pairs the top dimensions' share of it (0.75-0.83) passed the 99th percentile of a
    random direction's (0.71 at d = 16, 0.80 at d = 12), so vd.diagnose warned of rogue
    dimensions (excess 0.53-0.63): leaving out the self-pairs inflates the top share of
    a small mean cosine, and the null is of a whole direction. Judged on the squared
    mean unit vector's top share (0.66-0.79, NumPy below), it is chance: ok, and no
    rogue_dimensions cause either."""
    from vecdiag.diagnostics.rogue_rules import null_top_quantile, rogue_top

    X = _topics(seed, n, d)
    finding = vd.diagnose(X)["rogue_dimensions"]
    assert finding.severity == "ok", finding.summary
    m = rogue_top(d)
    s = _unit(X).sum(axis=0) ** 2
    direction_share = np.sort(s)[::-1][:m].sum() / s.sum()
    r = vd.rogue_dimensions(X, top=m)
    assert r.direction_share == pytest.approx(direction_share, rel=1e-9)
    assert r.share > null_top_quantile(d, m) >= direction_share
    assert finding.evidence["direction_share"] == pytest.approx(direction_share, rel=1e-9)
    q = _unit(X[0] + _unit(np.random.default_rng(seed).normal(size=d)))
    exp = vd.explain_neighbors(q, X, expected=[n - 1])
    assert "rogue_dimensions" not in [c.code for c in exp.causes]


def test_near_duplicate_sentence_names_the_best_ranked_copy_first():
    # rows 3 and 9 are near-copies of row 7, which the query (row 7 itself) ranks first:
    # the sentence names row 7 as the kept one and rows 3 and 9 as its copies
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 16))
    X[3] = X[7] + 0.01 * rng.normal(size=16)
    X[9] = X[7] + 0.012 * rng.normal(size=16)
    e = vd.explain_neighbors(X[7], X, k=5, expected=[20])
    cause = next(c for c in e.causes if c.code == "near_duplicates")
    assert "(row 7 and its copies row 3, row 9)" in cause.summary
    assert cause.evidence["wasted_places"] == 2


def test_a_document_kept_away_by_a_cone_is_not_far_in_every_view():
    """A narrow cone of varying weight (log-normal, mean cosine 0.85) over 500 clustered
    32-D documents; the query carries a large share of the cone, its document (the same
    meaning plus noise 0.3) a small one: rank 499 of 500, at the 1st percentile of random
    pairs as searched. Centring lifts it to rank 70, whitening to 45 (neither into the
    top-10: the cone's weight varies, and a mean removes it only in part). expected_far
    read the 1st percentile and outranked anisotropy (0.62 against 0.48); once centred
    the pair scores above about 90% of random centred pairs (a brute-force figure over
    every pair below): not far, the cone keeps it away, and anisotropy comes first."""
    rng = np.random.default_rng(7004)
    n, d = 500, 32
    c = int(rng.integers(8, 41))
    centres = _unit(rng.normal(size=(c, d)))
    spread = rng.uniform(0.5, 1.3)
    Z = _unit(centres[rng.integers(0, c, n)] + spread * _unit(rng.normal(size=(n, d))))
    mu = _unit(rng.normal(size=d))
    a = rng.uniform(1.5, 2.5) * np.exp(rng.normal(0, 0.4, size=(n, 1)))
    X = a * mu + Z
    e = int(rng.integers(n))
    X[e] = 0.5 * mu + Z[e]
    q = 2.5 * a.mean() * mu + Z[e] + 0.3 * _unit(rng.normal(size=d))

    exp = vd.explain_neighbors(q, X, k=10, expected=[e])
    causes = {c.code: c for c in exp.causes}
    assert exp.expected[0].rank == 499 and exp.expected[0].percentile < 2
    assert exp.causes[0].code == "anisotropy", [(c.code, c.confidence) for c in exp.causes]
    # brute force: the centred cosine of the pair among every pair of centred unit rows
    U = _unit(X)
    C = _unit(U - U.mean(axis=0))
    qc = _unit(_unit(q) - U.mean(axis=0))
    i, j = np.triu_indices(n, 1)
    pairs = np.einsum("ij,ij->i", C[i], C[j])
    centred_pct = 100 * np.mean(pairs < C[e] @ qc)
    assert 88 < centred_pct < 93
    far = causes.get("expected_far")
    if far is not None:     # measured in its best view: at least the centred one
        assert far.evidence["percentile_in_best_view"] >= centred_pct - 1
        assert far.confidence < causes["anisotropy"].confidence


def test_a_query_far_from_the_corpus_missing_only_for_copies_is_context():
    """A query from nowhere over 300 documents in tight topics (its best document scores
    below the nearest neighbour of every document: out of distribution, strength 1); its
    best document is copied 10 times (noise 0.002), which pushes its second best, the
    expected one, to rank 12. De-duplicated (NumPy below) it is second: the copies explain
    the miss, the query reached it. out_of_distribution was a ranking cause at 0.85 beside
    near_duplicates (as on 5 of 30 Cranfield copy plants, at 0.59-0.85); it is context now,
    0.3 as when every expected document is found."""
    rng = np.random.default_rng(4)
    X = _tight_topics(rng, 300, 32, n_topics=10, noise=0.4)
    q = _unit(rng.normal(size=32))
    order = np.argsort(-(X @ q), kind="stable")
    best, e = int(order[0]), int(order[1])
    copies = rng.choice(np.setdiff1d(np.arange(300), [best, e]), size=10, replace=False)
    X[copies] = _unit(X[best] + 0.002 * _unit(rng.normal(size=(10, 32))))
    # brute force: rank as searched, rank with each copy group one place, query's distance
    S = X @ q
    rank = 1 + int(np.sum(S > S[e]))
    U = X @ X.T
    copy_of_higher = [r for r in range(300) if S[r] > S[e]
                      and np.any((U[r] >= 0.98) & (S > S[r]))]
    assert rank == 12 and 1 + int(np.sum(S > S[e])) - len(copy_of_higher) == 2
    np.fill_diagonal(U, -np.inf)
    assert np.mean(U.max(axis=1) < S.max()) == 0.0

    exp = vd.explain_neighbors(q, X, k=10, expected=[e])
    causes = {c.code: c for c in exp.causes}
    assert exp.expected[0].rank == 12
    assert exp.causes[0].code == "near_duplicates"
    assert {cf.fix: cf.expected_ranks[e] for cf in exp.counterfactuals}["deduplicate"] == 2
    ood = causes["out_of_distribution"]
    assert ood.evidence["share_of_documents_closer"] == 1.0
    assert (ood.confidence, ood.ranking) == (0.3, False)


def test_long_hubs_that_keep_a_document_out_by_direction_are_hubs():
    """Dot product; every document leans on a direction g (0.5); 14 documents lie near g
    and are 3x the median length (in the top-10 of nearly every document); the query
    leans on g too. By brute force its document is 15th as searched, still 15th by
    cosine (lengths left out) and 1st centred. check_hub dropped every hub 2x the median
    length or more as "merely long, a norm_bias matter", so no cause had a fix that
    moves the document (norm_bias at 0.3, cosine moves nothing). The length discount now
    counts only as far as searching by cosine brings the document back: the hub is
    named first, with a fix that brings the document in (CSLS and centring do)."""
    rng = np.random.default_rng(100)
    n, d = 500, 96
    g = _unit(rng.normal(size=d))
    Z = rng.normal(size=(n, d))
    Z = _unit(Z - np.outer(Z @ g, g))
    X = 0.5 * g + Z
    X[:14] = 3.0 * (g + 0.35 * _unit(rng.normal(size=(14, d))))
    e = int(rng.integers(14, n))
    q = 0.5 * g + 0.2 * Z[e] + 0.03 * _unit(rng.normal(size=d))

    def rank(key):
        return 1 + int(np.sum(key > key[e]))
    mu = X.mean(axis=0)
    brute = {"dot": rank(X @ q), "cosine_metric": rank(_unit(X) @ _unit(q)),
             "center": rank((X - mu) @ (q - mu))}
    assert brute == {"dot": 15, "cosine_metric": 15, "center": 1}
    exp = vd.explain_neighbors(q, X, k=10, expected=[e], metric="dot")
    ranks = {cf.fix: cf.expected_ranks[e] for cf in exp.counterfactuals}
    assert {f: ranks[f] for f in ("cosine_metric", "center")} == {"cosine_metric": 15,
                                                                 "center": 1}
    first = exp.causes[0]
    assert first.code == "hub", [(c.code, c.confidence) for c in exp.causes]
    assert first.confidence >= 0.5 and ranks[first.fix] <= 10
    assert "length_discount" not in first.evidence


def test_out_of_distribution_under_dot_does_not_depend_on_the_query_length():
    """Dot product over 300 documents about 1 long in 8 tight topics; the query is one
    document's direction (plus noise 0.1) at length 0.3. Scaled by 3 it ranks the same
    documents. Its top score (0.3) was compared with the documents' first-neighbour
    scores (about 1 long rows: about 0.9): out of distribution at 0.85, and not at
    length 0.9. Under dot both are now per unit of the asking row's length (NumPy
    below: none of the documents' first neighbours is farther than the query's top)."""
    rng = np.random.default_rng(1)
    X = _tight_topics(rng, 300, 16, n_topics=8, noise=0.3)
    X *= np.exp(rng.normal(0, 0.1, size=(300, 1)))
    q = 0.3 * _unit(X[7] + 0.1 * _unit(rng.normal(size=16)))
    e = int(np.argsort(-(X @ q), kind="stable")[20])
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    norms = np.linalg.norm(X, axis=1)
    per_length = S.max(axis=1) / norms
    assert np.mean(per_length < (X @ q).max() / np.linalg.norm(q)) > 0.5
    verdicts = []
    for scale in (1.0, 3.0):
        exp = vd.explain_neighbors(scale * q, X, k=10, expected=[e], metric="dot")
        assert exp.expected[0].rank == 21
        verdicts.append([c.confidence for c in exp.causes if c.code == "out_of_distribution"])
    assert verdicts == [[], []]


def test_near_copies_are_judged_as_diagnose_judges_them_under_rogue_dimensions():
    """Three rogue dimensions (offset 4, sd 1.5) searched by dot over rows of unequal
    length: the top-10 share large rogue values, their raw cosines reach 0.98, and
    explain named near_duplicates (0.37, n 400, d 96) where vd.diagnose, judging copies
    with each dimension standardised, finds none. Explain now judges them the same way;
    three real near-copies of the top hit stay near_duplicates. Reference: the
    standardised cosine of every top-10 pair, by NumPy."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from explain_planted import GENERATORS

    n, d = 400, 96
    case = GENERATORS["rogue_dimensions"](np.random.default_rng(1000 * 0 + d + n), n, d)
    X, q = case.corpus, case.query
    assert vd.diagnose(X, metric="dot")["near_duplicates"].evidence["groups"] == 0
    exp = vd.explain_neighbors(q, X, k=10, expected=case.expected, metric="dot")
    top = np.asarray(exp.top_ids)
    S = _unit(X[top] / np.sqrt((X ** 2).mean(axis=0)))
    raw = _unit(X[top]) @ _unit(X[top]).T
    both = (S @ S.T >= 0.98) & (raw >= 0.98) & ~np.eye(10, dtype=bool)
    assert raw[~np.eye(10, dtype=bool)].max() >= 0.98 and not both.any()
    assert "near_duplicates" not in [c.code for c in exp.causes]
    assert exp.causes[0].code == "rogue_dimensions"
    Y = X.copy()
    rng = np.random.default_rng(1)
    Y[[5, 6, 7]] = X[top[0]] * (1 + 0.001 * rng.normal(size=(3, d)))
    copies = vd.explain_neighbors(q, Y, k=10, expected=case.expected, metric="dot")
    (dup,) = [c for c in copies.causes if c.code == "near_duplicates"]
    assert dup.evidence["wasted_places"] == 3, dup.summary


def test_the_copy_frame_is_measured_once_per_index(monkeypatch):
    """Every explanation on an Index with rogue dimensions measured the scale per
    dimension again (on Dask a pass over the corpus); now once, kept in index.cache."""
    import sys
    from pathlib import Path

    from vecdiag import cache_keys
    from vecdiag.diagnostics import copy_frame

    sys.path.insert(0, str(Path(__file__).parent))
    from explain_planted import GENERATORS

    case = GENERATORS["rogue_dimensions"](np.random.default_rng(496), 400, 96)
    calls = []
    real = copy_frame.frame_moments
    monkeypatch.setattr(copy_frame, "frame_moments",
                        lambda *a: calls.append(1) or real(*a))
    index = vd.Index(case.corpus, metric="dot")
    first = vd.explain_neighbors(case.query, index, k=10, expected=case.expected)
    second = vd.explain_neighbors(case.query, index, k=10, expected=case.expected)
    assert len(calls) == 1
    # the rogue dimensions' offset also makes a cone (mean cosine above 0.4): the frame
    # is diagnose's, the unit rows less their mean, each dimension over its rms
    U = _unit(case.corpus.astype(np.float64))
    assert (U @ U.T).mean() >= 0.4
    frame = index.cache[cache_keys.explain_copy_frame()]
    assert frame.unit
    np.testing.assert_allclose(frame.shift, U.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(frame.scale, 1.0 / U.std(axis=0), rtol=1e-10)
    assert [c.code for c in first.causes] == [c.code for c in second.causes]


def test_the_deduplicate_counterfactual_groups_copies_as_the_cause_judges_them():
    """Dot over 400 x 32 rows sharing +50 on dimensions 0 and 1 (rogue dimensions: every
    raw cosine about 0.99), with 3 near-copies of a long document (row 7: rows 100, 200,
    300) in the top-10 and the expected document at rank 12. The cause judged copies with
    each dimension standardised and named the 3 copies, but the deduplicate fix grouped
    by raw cosine: 396 of the 400 rows in one group, so it demoted nearly the whole
    top-10 and the note said the expected document "stays at rank 12". Now the fix groups
    in the cause's frame: the 3 copies go, the document rises to 9. Reference: the
    standardised cosines of every pair by NumPy, and the searched order with the copies
    removed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 32))
    X[:, :2] += 50
    X[7, 2:] *= 4
    copies = [100, 200, 300]
    X[copies] = X[7] + 0.01 * rng.normal(size=(3, 32))
    q = X[7].copy()
    q[:2] = 0
    q += 0.3 * rng.normal(size=32)
    order = np.argsort(-(X @ q), kind="stable")
    expected = int(order[11])
    raw = _unit(X) @ _unit(X).T
    S = _unit(X / np.sqrt((X ** 2).mean(axis=0)))
    both = (raw >= 0.98) & (S @ S.T >= 0.98)
    np.fill_diagonal(both, False)
    assert sorted(np.flatnonzero(both.any(axis=1)).tolist()) == [7, *copies]
    assert (raw >= 0.98).sum() > 150_000                     # raw: almost every pair
    index = vd.Index(X, metric="dot")
    exp = vd.explain_neighbors(q, index, k=10, expected=[expected])
    (dup,) = [c for c in exp.causes if c.code == "near_duplicates"]
    assert dup.evidence["wasted_places"] == 3
    (cf,) = [c for c in exp.counterfactuals if c.fix == "deduplicate"]
    kept = [int(r) for r in order if r not in set(copies + [7]) - {int(order[0])}]
    assert cf.expected_ranks == {expected: kept.index(expected) + 1} == {expected: 9}
    assert list(cf.top) == kept[:10]


@pytest.mark.parametrize("where", ["euclidean, moved +30", "cosine, a cone (mean cos .995)"])
def test_near_copies_are_judged_centred_under_euclidean_and_in_a_cone(where):
    """400 x 32 Gaussian rows moved +30 on every dimension searched by euclidean, or unit
    rows in a cone of mean cosine 0.995 searched by cosine: the raw cosines of most pairs
    reach 0.98, and explain named near_duplicates (0.30) with a de-duplicated
    counterfactual demoting most of the corpus ("row .. stays at rank 12"), where
    vd.diagnose, judging copies on the centred vectors, finds none. Now explain judges
    them on the centred vectors too (and raw); 3 planted copies of the top hit are still
    named, and de-duplicating lifts the expected document from 12 to 10. Reference: the
    centred cosines of every top-10 pair, by NumPy, and the order with the copies
    removed."""
    rng = np.random.default_rng(0)
    metric = where.split(",")[0]
    X = rng.normal(size=(400, 32))
    if metric == "euclidean":
        X += 30
        q = X[5] + 0.5 * rng.normal(size=32)
        C = X - X.mean(axis=0)
        key = -np.linalg.norm(X - q, axis=1)
    else:
        X = _unit(X + 40 * np.ones(32) / np.sqrt(32) * 2)
        q = X[5] + 0.001 * rng.normal(size=32)
        C = X - X.mean(axis=0)
        key = X @ _unit(q)
    order = np.argsort(-key, kind="stable")
    top = order[:10]
    raw = _unit(X[top]) @ _unit(X[top]).T
    off = ~np.eye(10, dtype=bool)
    assert (raw[off] >= 0.98).mean() > 0.5 and (_unit(C[top]) @ _unit(C[top]).T)[off].max() < 0.98
    assert vd.diagnose(X, metric=metric)["near_duplicates"].evidence["groups"] == 0
    exp = vd.explain_neighbors(q, X, k=10, expected=[int(order[11])], metric=metric)
    assert "near_duplicates" not in [c.code for c in exp.causes]
    assert "deduplicate" not in [c.fix for c in exp.counterfactuals]
    Y = X.copy()
    group = {int(order[0]), 100, 200, 300}
    Y[[100, 200, 300]] = X[order[0]] + 1e-4 * rng.normal(size=(3, 32))
    key = -np.linalg.norm(Y - q, axis=1) if metric == "euclidean" else Y @ _unit(q)
    order = np.argsort(-key, kind="stable")
    expected = int(order[12])
    exp = vd.explain_neighbors(q, Y, k=10, expected=[expected], metric=metric)
    (dup,) = [c for c in exp.causes if c.code == "near_duplicates"]
    assert dup.evidence["wasted_places"] == 3, dup.summary
    (cf,) = [c for c in exp.counterfactuals if c.fix == "deduplicate"]
    best = next(int(r) for r in order if r in group)           # the group keeps its best
    kept = [int(r) for r in order if r not in group or r == best]
    assert cf.expected_ranks == {expected: kept.index(expected) + 1} == {expected: 10}


def test_a_hub_is_not_its_own_copies_when_euclidean_moves_the_corpus():
    """The planted hub corpus (400 x 32, euclidean) moved +30 on every dimension, query
    too: no distance changes, but every raw cosine reaches 0.98, so the hub's copy count
    (the lists its own near-copies give it) was all 237 of its lists and explain named no
    hub. Its near-copies are now counted in the frame explain judges copies in (centred
    under euclidean): none, as unmoved. Reference: the centred and raw cosines of row 3
    with every other row, by NumPy."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from explain_planted import GENERATORS

    case = GENERATORS["hub"](np.random.default_rng(0), 400, 32)
    X, q = case.corpus.astype(np.float64) + 30, case.query.astype(np.float64) + 30
    raw = _unit(X) @ _unit(X[3])
    centred = _unit(X - X.mean(axis=0)) @ _unit(X[3] - X.mean(axis=0))
    assert (np.count_nonzero(raw >= 0.98) - 1, np.count_nonzero(centred >= 0.98) - 1) == (399, 0)
    found = []
    for Y, z in ((X - 30, q - 30), (X, q)):
        exp = vd.explain_neighbors(z, Y, k=10, expected=case.expected, metric="euclidean")
        (hub,) = [c for c in exp.causes if c.code == "hub"]
        found.append({key: hub.evidence[key] for key in
                      ("hub", "k_occurrence", "copies", "k_occurrence_without_copies")})
    assert found[0] == found[1] == {"hub": 3, "k_occurrence": 237.0, "copies": 0,
                                    "k_occurrence_without_copies": 237.0}
