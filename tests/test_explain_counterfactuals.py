"""Counterfactual ranks equal a direct recomputation.

Each fix is recomputed here from its formula with NumPy / SciPy / scikit-learn (not
through vecdiag.fixes), on the planted corpora, and the expected document's rank and the
new top-k are compared with what explain_neighbors reports.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import vecdiag as vd
from vecdiag.results import fmt

from explain_planted import GENERATORS, unit


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def order_of(key):
    """Rows best first (higher key), ties by lower row."""
    return np.lexsort((np.arange(len(key)), -np.asarray(key)))


def rank_in(key, row):
    return int(np.flatnonzero(order_of(key) == row)[0]) + 1


def search_key(Z, z, metric):
    if metric == "cosine":
        return unit(Z) @ unit(z)
    if metric == "dot":
        return Z @ z
    return -np.linalg.norm(Z - z, axis=1)


def reference_keys(fix, X, q, metric):
    """Ranking keys (higher is better) of every row under ``fix``, from first principles."""
    from scipy.stats import norm
    from sklearn.decomposition import PCA

    cosine = metric == "cosine"
    B = unit(X) if cosine else X
    b = unit(q) if cosine else q
    if fix == "cosine_metric":
        return unit(X) @ unit(q)
    if fix == "cosine_metric+center":  # (euclidean) the rows as given less their mean, cosine
        m = X.mean(axis=0)
        return unit(X - m) @ unit(q - m)
    if fix == "center":
        m = B.mean(axis=0)
        return search_key(B - m, b - m, metric)
    if fix == "all_but_the_top":
        D = max(1, round(X.shape[1] / 100))
        pca = PCA(n_components=D, svd_solver="full").fit(B)
        W = pca.components_
        Bc, bc = B - pca.mean_, b - pca.mean_
        return search_key(Bc - Bc @ W.T @ W, bc - (bc @ W.T) @ W, metric)
    if fix == "whiten":
        pca = PCA(whiten=True, svd_solver="full").fit(B)
        return search_key(pca.transform(B), pca.transform(b[None])[0], metric)
    # re-rankers work on similarities: the metric's score, distances negated
    if metric == "cosine":
        S = unit(X) @ unit(X).T
        s = unit(X) @ unit(q)
    elif metric == "dot":
        S = X @ X.T
        s = X @ q
    else:
        S = -np.linalg.norm(X[:, None, :] - X[None, :, :], axis=2)
        s = -np.linalg.norm(X - q, axis=1)
    if fix == "csls":
        S = S.astype(float).copy()
        np.fill_diagonal(S, -np.inf)
        r_d = np.sort(S, axis=1)[:, -10:].mean(axis=1)
        return 2 * s - r_d  # r_q is the same for every document
    if fix == "mutual_proximity":
        n = len(X)
        off = ~np.eye(n, dtype=bool)
        vals = S[off].reshape(n, n - 1)
        mu_d, sd_d = vals.mean(axis=1), vals.std(axis=1)
        return norm.logcdf((s - s.mean()) / s.std()) + norm.logcdf((s - mu_d) / sd_d)
    if fix == "deduplicate":
        from scipy.sparse.csgraph import connected_components

        C = unit(X) @ unit(X).T >= 0.98
        _, labels = connected_components(C, directed=False)
        key = s.astype(float).copy()
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            if members.size > 1:
                best = members[order_of(s[members])[0]]
                demote = members[members != best]
                key[demote] = s[demote] - 1e9  # below every kept document, same order
        return key
    raise AssertionError(fix)


CASES = [("hub", 0, 300, 64), ("norm_bias", 1, 300, 48), ("metric_mismatch", 2, 250, 40),
         ("anisotropy", 3, 300, 128), ("near_duplicates", 4, 350, 32),
         ("rogue_dimensions", 5, 300, 100)]


@pytest.mark.parametrize("name,seed,n,d", CASES)
def test_counterfactual_ranks_equal_direct_recomputation(name, seed, n, d):
    case = GENERATORS[name](np.random.default_rng(seed), n, d)
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               metric=case.metric)
    e = case.expected[0]
    fixes = {c.fix for c in exp.counterfactuals}
    assert {"center", "all_but_the_top", "whiten", "csls", "mutual_proximity"} <= fixes
    assert ("cosine_metric" in fixes) == (case.metric != "cosine")
    if name == "near_duplicates":
        assert "deduplicate" in fixes
    base_top = [int(r) for r in order_of(search_key(case.corpus, case.query, case.metric))[:case.k]]
    for cf in exp.counterfactuals:
        key = reference_keys(cf.fix, case.corpus, case.query, case.metric)
        assert cf.expected_ranks[e] == rank_in(key, e), cf.fix
        assert cf.top == [int(r) for r in order_of(key)[:case.k]], cf.fix
        assert cf.moved == (set(cf.top) != set(base_top) or cf.expected_ranks[e] != exp.expected[0].rank)
        assert cf.exact and cf.note.startswith("Under ")


def test_cause_evidence_matches_counterfactual():
    """The hub cause's sentence quotes the CSLS counterfactual it is based on."""
    case = GENERATORS["hub"](np.random.default_rng(0), 300, 64)
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected)
    hub = exp.causes[0]
    cf = {c.fix: c for c in exp.counterfactuals}[hub.fix]
    new_rank = cf.expected_ranks[case.expected[0]]
    assert new_rank <= case.k and f"to rank {new_rank}" in hub.summary
    assert hub.ranking and hub.evidence["fix_effect"] == 1.0


@pytest.mark.parametrize("name,seed,n,d", [("anisotropy", 6, 250, 48), ("norm_bias", 7, 250, 40)])
def test_counterfactuals_agree_with_apply_fix(name, seed, n, d):
    """explain caches fitted transforms per Index; the ranks equal vd.fixes.apply_fix's."""
    case = GENERATORS[name](np.random.default_rng(seed), n, d)
    index = vd.Index(case.corpus, metric=case.metric)
    exp = vd.explain_neighbors(case.query, index, k=case.k, expected=case.expected)
    again = vd.explain_neighbors(case.query, index, k=case.k, expected=case.expected)
    e = case.expected[0]
    for cf, cf2 in zip(exp.counterfactuals, again.counterfactuals):
        nb = vd.fixes.apply_fix(cf.fix, case.query[None], case.corpus, k=n, metric=case.metric)
        order = nb.indices[0].tolist()
        assert cf.expected_ranks[e] == order.index(e) + 1, cf.fix
        assert cf.top == order[:case.k], cf.fix
        assert cf2.expected_ranks == cf.expected_ranks and cf2.top == cf.top


@pytest.mark.parametrize("sample_size", [2, 5, 9])
def test_sampled_statistics_smaller_than_the_csls_neighbourhood(sample_size):
    """A raw array above ``max_exact`` rows samples ``sample_size`` rows (at least 2 are
    allowed); CSLS's penalties then come from that bank, which holds fewer rows than its
    10 neighbours: explain stopped with "n_neighbors=10 is larger than the bank (5
    vectors)", an argument the caller never passed (the Dask path already took the whole
    bank). The CSLS counterfactual is now the NumPy CSLS with the whole bank as the
    neighbourhood: ``2 cos(q, d) - r_d``, ``r_d`` the mean cosine of d to the sampled rows."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 10))
    q = X[5] + 0.5 * rng.normal(size=10)
    exp = vd.explain_neighbors(q, X, k=5, expected=[8], max_exact=10,
                               sample_size=sample_size, random_state=3)
    assert exp.stats["sample_size"] == sample_size and not exp.stats["exact"]
    bank = np.sort(np.random.default_rng(3).choice(40, size=sample_size, replace=False))
    r_d = (unit(X) @ unit(X[bank]).T).mean(axis=1)
    key = 2 * (unit(X) @ unit(q)) - r_d
    cf = {c.fix: c for c in exp.counterfactuals}["csls"]
    assert cf.expected_ranks[8] == rank_in(key, 8)
    assert cf.top == [int(r) for r in order_of(key)[:5]]


def test_many_expected_documents_get_three_rank_columns_and_a_summary():
    """Twelve expected documents gave the counterfactual table twelve "rank of" columns
    (39 on a Cranfield query): now the three best ranked get one each and one column sums
    up the others, from the same ranks counterfactuals_frame() keeps in full."""
    import re

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 8))
    ids = [f"d{i}" for i in range(80)]
    e = vd.explain_neighbors(X[0] + 0.05, vd.Index(X, ids=ids), k=5,
                             expected=[f"d{i}" for i in range(10, 22)])
    page = e._repr_html_()
    table = page[page.index("<b>Counterfactuals</b>"):]
    table = table[:table.index("</table>")]
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    by_rank = sorted(e.expected, key=lambda x: (x.rank, x.position))
    rest = [x.rank for x in by_rank[3:]]
    assert [x.rank for x in by_rank[:3]] == [2, 6, 19]
    assert heads[2:6] == ["rank of d13", "rank of d10", "rank of d14",
                          f"the other 9 expected (0 in top-5, best {min(rest)}, "
                          f"median {np.median(rest):g} now)"]
    assert sum(h.startswith("rank of") for h in heads) == 3
    frame = e.counterfactuals_frame()
    row = frame.iloc[0]["expected_ranks"]       # every rank is still in the frame
    assert len(row) == 12
    others = [row[x.id] for x in by_rank[3:]]
    cell = (f"{sum(r <= 5 for r in others)} in top-5, best {min(others)}, "
            f"median {np.median(others):g}")
    assert cell in re.findall(r"<td[^>]*>([^<]*)</td>", table)


def test_a_note_names_the_five_best_ranked_expected_documents_and_counts_the_rest():
    """Each fix's note had one clause per expected document: about 79 KB per fix, text and
    HTML, with 2,000 of them. Now it names the five best ranked after the fix, then "and N
    more" with how many of all of them move up, down or stay; expected_ranks keeps all.
    Ranks recomputed here from the centring formula (reference_keys)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 8))
    q = X[0] + 0.05
    ids = [f"d{i}" for i in range(80)]
    expected = list(range(10, 22))
    e = vd.explain_neighbors(q, vd.Index(X, ids=ids), k=5,
                             expected=[ids[i] for i in expected])
    cf = next(c for c in e.counterfactuals if c.fix == "center")
    old_key, new_key = search_key(X, q, "cosine"), reference_keys("center", X, q, "cosine")
    old = {i: rank_in(old_key, i) for i in expected}
    new = {i: rank_in(new_key, i) for i in expected}
    assert cf.expected_ranks == {ids[i]: new[i] for i in expected}     # all twelve
    named = sorted(expected, key=lambda i: (new[i], i))[:5]
    said = [f"d{i} moves from rank {old[i]} to rank {new[i]}" if new[i] != old[i]
            else f"d{i} stays at rank {old[i]}" for i in named]
    up = sum(new[i] < old[i] for i in expected)
    down = sum(new[i] > old[i] for i in expected)
    said.append(f"and 7 more (of all 12 expected documents, {up} move up, {down} down, "
                f"{12 - up - down} stay)")
    entered = set(order_of(new_key)[:5].tolist()) - set(order_of(old_key)[:5].tolist())
    if entered:
        said.append(f"{len(entered)} of the top-5 change{'s' if len(entered) == 1 else ''}")
    assert cf.note == "Under centring: " + "; ".join(said) + "."
    assert (up, down) == (3, 6)


def _copies_and_zero_rows(seed, n=60, d=6):
    """A random corpus with three zero rows (3, 17, 40), three exact copies of row 8 (5,
    22, 33), a near copy of row 9 (11) and a row of its direction (50)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[[3, 17, 40]] = 0.0
    X[[5, 22, 33]] = X[8]
    X[11] = X[9] * 1.0001 + 1e-4
    X[50] = X[9] * 2
    return X, rng.normal(size=d)


def _dedup_reference(X, q, metric, k, expected, among):
    """The de-duplicated ranks, from first principles: near-copy groups are the connected
    components of "cosine >= 0.98" (scipy; under euclidean of the rows less the mean of
    the rows with a direction too, as diagnose judges them) among the rows with a
    direction (all, or the top ``among`` of the search); each group's best-ranked row
    keeps its place, the others go below every kept row, in their order."""
    from scipy.sparse.csgraph import connected_components

    order = order_of(search_key(X, q, metric))
    rows = order[:among] if among else np.arange(len(X))
    rows = rows[np.linalg.norm(X[rows], axis=1) > 0]
    U = unit(X[rows])
    close = U @ U.T >= 0.98
    if metric == "euclidean":
        C = unit(X[rows] - X[np.linalg.norm(X, axis=1) > 0].mean(axis=0))
        close &= C @ C.T >= 0.98
    _, labels = connected_components(close, directed=False)
    place = np.argsort(order)
    demoted = np.zeros(len(X), dtype=bool)
    for lab in np.unique(labels):
        members = rows[labels == lab]
        demoted[members[place[members] != place[members].min()]] = True
    new = np.concatenate([order[~demoted[order]], order[demoted[order]]])
    ranks = {e: int(np.flatnonzero(new == e)[0]) + 1 for e in expected}
    return [int(r) for r in new[:k]], ranks


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_deduplicate_with_zero_rows_reuses_its_groups(seed, metric):
    """A corpus holding zero rows (documents under dot and euclidean, which the
    deduplicate fix refuses) is de-duplicated over the groups of its rows with a
    direction: exactly, those of every such row, computed once per Index (they were
    recomputed on every explanation), and on a sampled corpus those of the candidates
    that explain already found (they were computed a second time). Both agree with the
    groups found from first principles."""
    from vecdiag import cache_keys

    X, q = _copies_and_zero_rows(seed)
    k, expected = 5, [9, 44]
    index = vd.Index(X, metric=metric)
    for max_exact in (5000, 10):                 # exact statistics, then sampled
        exp = vd.explain_neighbors(q, index if max_exact > 10 else X, k=k,
                                   expected=expected, metric=None if max_exact > 10 else metric,
                                   max_exact=max_exact)
        (cf,) = [c for c in exp.counterfactuals if c.fix == "deduplicate"]
        base_ranks = [x.rank for x in exp.expected]
        among = None if max_exact > 10 else max(k, *base_ranks)
        assert (cf.top, cf.expected_ranks) == _dedup_reference(X, q, metric, k, expected, among)
    frame = index.cache[cache_keys.explain_copy_frame()]      # centred under euclidean
    assert (frame is None) == (metric == "dot")
    key = cache_keys.explain_duplicate_groups(0.98, None if frame is None else frame.key)
    groups = index.cache[key]
    assert [g.tolist() for g in groups] == [[5, 8, 22, 33], [9, 11, 50]]
    vd.explain_neighbors(q, index, k=k, expected=expected)
    assert index.cache[key] is groups            # the second explanation reuses them


def test_the_text_counterfactual_rows_without_expected_documents_say_what_changes():
    """Without expected documents the text rows of the counterfactual table read
    "center: no expected document" for every fix, while the HTML gives what the fix does
    to the top-k; they now carry that note, under a heading without the rank columns."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)) + 1.5
    exp = vd.explain_neighbors(X[0] + 0.3, X, k=5)
    assert exp.counterfactual_lines() == ["what each fix would change:"] + [
        f"  {c.fix}: {c.note}" for c in exp.counterfactuals]
    assert exp.counterfactuals[0].note == "Under centring: 1 of the top-5 changes."


def test_counterfactual_notes_name_the_fix_as_the_causes_do_and_say_unchanged_once():
    """The notes named the fix by its code ("Under center", "Under deduplicate") where
    the causes say "centring", "de-duplication"; one new document read "1 of the top-10
    change"; and a fix that changed nothing printed "Under center: the top-10 keeps the
    same documents.; top-k unchanged". Planted: 3 exact copies of row 0 among 40 rows."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6))
    X[1:4] = X[0]
    exp = vd.explain_neighbors(X[0] + 0.01, X, k=5)
    lines = dict(line.strip().split(": ", 1) for line in exp.counterfactual_lines()[1:])
    assert lines == {
        "center": "Under centring: the top-5 keeps the same documents.",
        "all_but_the_top": "Under all-but-the-top: 1 of the top-5 changes.",
        "whiten": "Under whitening: the top-5 keeps the same documents.",
        "csls": "Under CSLS: the top-5 keeps the same documents.",
        "mutual_proximity": "Under mutual proximity: the top-5 keeps the same documents.",
        "deduplicate": "Under de-duplication: 3 of the top-5 change."}


def test_many_expected_documents_are_listed_twenty_and_summed_up():
    """print(explanation) had one line per expected document and the HTML one row per
    missed one (2,000 expected: 83 KB printed, 629 KB of HTML). Both now list the 20 best
    ranked (printed in the order given) and sum up the rest in one line; .expected,
    .missed() and to_frame() keep every one."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 8))
    q = X[0] + 0.05
    ids = [f"d{i}" for i in range(300)]
    e = vd.explain_neighbors(q, vd.Index(X, ids=ids), k=5,
                             expected=[ids[i] for i in range(50, 110)])
    ranks = {x.id: x.rank for x in e.expected}
    best = sorted(ranks, key=lambda i: (ranks[i], int(i[1:])))
    text = str(e).splitlines()
    listed = [line.split("'")[1] for line in text if line.startswith("  expected '")]
    assert listed == [i for i in ids[50:110] if i in set(best[:20])]
    rest = sorted(ranks[i] for i in best[20:])
    inside = sum(r <= 5 for r in rest)
    assert (f"  and 40 more expected documents ({inside} in top-5, best {rest[0]}, median "
            f"{fmt(float(np.median(rest)))}; every one in .expected)") in text
    page = e._repr_html_()
    missed = sorted(x.rank for x in e.missed())
    assert page.count("★ expected (missed)") == min(20, len(missed)) + (len(missed) > 20)
    assert f"and {len(missed) - 20} more missed" in page
    assert len(e.expected) == 60 and len(e.to_frame()) == 5 + len(missed)


def test_the_count_of_the_other_expected_documents_agrees_in_number():
    """With more expected documents than a note names, the count read "(of all 7 expected
    documents, 1 move up, 5 down, 1 stay)"; one document now "moves up" and "stays".
    60 x 6 normal + 1 (seed 2), documents 20-26 expected, the query near row 0."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 6)) + 1.0
    e = vd.explain_neighbors(X[0] + 0.3, X, k=5, expected=list(range(20, 27)))
    cf = {c.fix: c for c in e.counterfactuals}
    assert cf["center"].note.endswith(
        "(of all 7 expected documents, 1 moves up, 5 down, 1 stays); 1 of the top-5 changes.")
    assert cf["whiten"].note.endswith(
        "(of all 7 expected documents, 2 move up, 4 down, 1 stays); 2 of the top-5 change.")


def test_the_judged_p_value_reads_as_in_the_sentences():
    """A text row of the counterfactual table gave whitening's Holm p on the demo's judged
    queries as "(p 4.0e-04)" while the cause and the recommendation sentences say
    "p 0.0004" (and the fix table "p=0.0004"); the rows now use the sentences' format."""
    from vecdiag.explain.explanation import Explanation
    from vecdiag.explain.result import Counterfactual, ExpectedDoc

    e = ExpectedDoc(id="d7", position=7, rank=12, score=0.4, gap=0.1, percentile=90.0,
                    separating_dims=[])
    cfs = [Counterfactual(fix=fix, expected_ranks={"d7": 3}, top=[], moved=True, note="",
                          global_delta=delta, global_p=p, global_metric="ndcg@10")
           for fix, delta, p in [("whiten", -0.6744, 0.00039996), ("csls", -0.0421, 0.2971)]]
    exp = Explanation(neighbors=None, causes=[], expected=[e], contributions={},
                      counterfactuals=cfs, k=10, metric="cosine", top_ids=[], top_scores=[],
                      top_percentiles=[])
    assert exp.counterfactual_lines()[1:] == ["  whiten: d7: 12 -> 3; Δ -0.6744 (p 0.0004)",
                                              "  csls: d7: 12 -> 3; Δ -0.0421 (p 0.3)"]


def test_the_judged_p_value_in_the_html_table_reads_as_in_the_sentences():
    """The counterfactual table's "p (Holm)" cell gave 0.00039996 as "4.000e-04" beside a
    cause saying "p 0.0004"; the cell now uses the sentences' 2 significant digits."""
    from vecdiag.explain.explanation import Explanation
    from vecdiag.explain.result import Counterfactual, ExpectedDoc

    e = ExpectedDoc(id="d7", position=7, rank=12, score=0.4, gap=0.1, percentile=90.0,
                    separating_dims=[])
    cfs = [Counterfactual(fix="whiten", expected_ranks={"d7": 3}, top=[], moved=True,
                          note="", global_delta=-0.6744, global_p=0.00039996,
                          global_metric="ndcg@10")]
    html = Explanation(neighbors=None, causes=[], expected=[e], contributions={},
                       counterfactuals=cfs, k=10, metric="cosine", top_ids=[], top_scores=[],
                       top_percentiles=[])._repr_html_()
    num = '<td class="vd-num" style="text-align:right">'
    assert f"{num}-0.6744</td>{num}0.0004</td>" in html
