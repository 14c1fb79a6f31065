"""try_fixes' deduplicate groups near-copies in the frame explain_neighbors judges them in
(vecdiag/evaluation/copy_frames.py), checked against groups and rankings by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

import vecdiag as vd
from vecdiag import cache_keys

N, D = 200, 16
COPIES = [50, 100, 150]          # near-copies of row 7
IDS = [f"d{i}" for i in range(N)]
QIDS = ["q0", "q1", "q2", "q3"]
NOTE = ("deduplicate: near-copies judged as explain_neighbors judges them, by cosine and "
        "also on the unit rows less their mean, with each dimension over its root mean "
        "square (a few dimensions decide the raw cosines); pass frame=None for raw cosine "
        "only")


def _rogue_case():
    """Dot over 200 x 16 rows sharing +50 on dimensions 0 and 1 (rogue dimensions, and a
    narrow cone: every raw cosine about 0.99), 3 near-copies of a long row 7 (rows 50,
    100, 150); queries are rows 7, 20, 30, 40 without the offset, plus noise. Query q0's
    relevant document is its 12th hit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    X[:, :2] += 50
    X[7, 2:] *= 4
    X[COPIES] = X[7] + 0.01 * rng.normal(size=(3, D))
    Q = np.stack([X[i] * np.r_[0, 0, np.ones(D - 2)] + 0.3 * rng.normal(size=D)
                  for i in (7, 20, 30, 40)])
    twelfth = int(np.argsort(-(X @ Q[0]), kind="stable")[11])
    qrels = {"q0": {f"d{twelfth}": 1}, "q1": {"d20": 1}, "q2": {"d30": 1}, "q3": {"d40": 1}}
    return X, Q, qrels, twelfth


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def _groups_by_hand(linked):
    """Connected components (size >= 2) of a boolean pair matrix, as sorted row lists."""
    np.fill_diagonal(linked, False)
    _, label = connected_components(linked, directed=False)
    groups = [np.flatnonzero(label == g).tolist() for g in np.unique(label)]
    return sorted(g for g in groups if len(g) > 1)


def _dedup_by_hand(S, groups, k):
    """Per query row of scores ``S`` (higher is closer): each group keeps its best member
    (lowest row on a tie) in place, the others go below every kept row, in score order."""
    out = []
    for s in S:
        demoted = {r for g in groups for r in g} - {min(g, key=lambda r: (-s[r], r))
                                                    for g in groups}
        order = sorted(range(len(s)), key=lambda r: (r in demoted, -s[r], r))
        out.append([IDS[r] for r in order[:k]])
    return out


def test_try_fixes_deduplicates_in_explains_frame():
    """Grouped by raw cosine, all 200 rows were one group of copies (39,198 of the 40,000
    raw cosines >= 0.98): try_fixes' deduplicate kept one document and moved the rest below it in
    their order, so q0's relevant row stayed 12th (mrr@10 0) while explain_neighbors
    said it rises to 9. Now both group in explain's frame (a cone and rogue dimensions:
    unit rows less their mean, each dimension over its root mean square): only rows 7,
    50, 100, 150 are copies, the row is 9th in both, mrr@10 of q0 1/9, and the report
    says which frame. Reference: that frame's cosines and the ranking by NumPy."""
    X, Q, qrels, twelfth = _rogue_case()
    U = _unit(X)
    F = U - U.mean(axis=0)
    F = _unit(F / np.sqrt((F ** 2).mean(axis=0)))
    raw = U @ U.T >= 0.98
    assert _groups_by_hand(raw.copy()) == [list(range(N))]    # raw: one group of all
    groups = _groups_by_hand(raw & (F @ F.T >= 0.98))
    assert groups == [[7, *COPIES]]
    index = vd.Index(X, metric="dot")
    rep = vd.try_fixes(Q, index, qrels, query_ids=QIDS, doc_ids=IDS, fixes=["deduplicate"], k=20,
                       metrics=["mrr@10"], n_resamples=100)
    got = [list(rep.runs["deduplicate"][q]) for q in QIDS]
    assert got == _dedup_by_hand(Q @ X.T, groups, 20)
    assert got[0].index(f"d{twelfth}") == 8
    assert rep.evaluations["deduplicate"].per_query.loc["q0", "mrr@10"] == pytest.approx(1 / 9)
    assert rep.notes == (NOTE,)
    assert f"Note: {NOTE}." in rep.to_markdown()
    assert f"<p class='vd-muted'>{NOTE}.</p>" in rep._repr_html_()
    # one decision per Index: the explanation reads the frame try_fixes cached
    frame = index.cache[cache_keys.explain_copy_frame()]
    exp = vd.explain_neighbors(Q[0], index, k=10, expected=[twelfth])
    assert index.cache[cache_keys.explain_copy_frame()] is frame
    (cf,) = [c for c in exp.counterfactuals if c.fix == "deduplicate"]
    assert cf.expected_ranks == {twelfth: 9}
    assert [f"d{r}" for r in cf.top] == got[0][:10]


def test_frame_none_and_transforms_keep_raw_cosine():
    """``frame=None`` asks for raw cosine alone: the one group of 200 and the ranking
    vd.fixes.deduplicate gives with its defaults (the old try_fixes row, pinned: q0's row
    12th, mrr@10 0). After a transform (normalize) the rows are not the corpus's: raw
    cosine on them, no note, as apply_fix gives it."""
    X, Q, qrels, twelfth = _rogue_case()
    rep = vd.try_fixes(Q, X, qrels, query_ids=QIDS, doc_ids=IDS,
                       fixes=["deduplicate", "normalize+deduplicate"], k=20,
                       metrics=["mrr@10"], n_resamples=100, metric="dot", frame=None)
    assert rep.notes == ()
    got = [list(rep.runs["deduplicate"][q]) for q in QIDS]
    assert got == _dedup_by_hand(Q @ X.T, [list(range(N))], 20)
    assert got[0].index(f"d{twelfth}") == 11
    assert rep.evaluations["deduplicate"].per_query.loc["q0", "mrr@10"] == 0.0
    plain = vd.try_fixes(Q, X, qrels, query_ids=QIDS, doc_ids=IDS,
                         fixes=["normalize+deduplicate"], k=20, metrics=["mrr@10"],
                         n_resamples=100, metric="dot")
    ref = vd.fixes.apply_fix("normalize+deduplicate", Q, X, 20, metric="dot")
    assert plain.notes == ()
    assert [list(plain.runs["normalize+deduplicate"][q]) for q in QIDS] == \
        [[IDS[j] for j in row] for row in ref.indices.tolist()]


def test_a_corpus_judged_by_raw_cosine_is_unchanged():
    """Cosine over isotropic rows (no rogue dimension, no cone): the frame is raw cosine
    alone, no note, and the row equals vd.fixes.deduplicate with its defaults, and the
    brute-force raw-cosine groups (rows 3, 60, 61, 62)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, D))
    X[60:63] = X[3] + 0.001 * rng.normal(size=(3, D))
    Q = X[[3, 10, 20, 30]] + 0.5 * rng.normal(size=(4, D))
    qrels = {"q0": {"d4": 1}, "q1": {"d10": 1}, "q2": {"d20": 1}, "q3": {"d30": 1}}
    U = _unit(X)
    groups = _groups_by_hand(U @ U.T >= 0.98)
    assert groups == [[3, 60, 61, 62]]
    rep = vd.try_fixes(Q, X, qrels, query_ids=QIDS, doc_ids=IDS, fixes=["deduplicate"],
                       k=20, metrics=["mrr@10"], n_resamples=100)
    assert rep.notes == () and "Note:" not in rep.to_markdown()
    got = [list(rep.runs["deduplicate"][q]) for q in QIDS]
    assert got == _dedup_by_hand(_unit(Q) @ U.T, groups, 20)
    ref = vd.fixes.deduplicate(Q, X, 20)
    assert got == [[IDS[j] for j in row] for row in ref.indices.tolist()]


def test_dask_corpus_deduplicate_fails_without_measuring_a_frame():
    """deduplicate cannot run on an Index over a Dask array (it scores every document in
    memory): listed in ``failed`` as before, and no frame is measured for it (two passes
    over the corpus for nothing), no note."""
    da = pytest.importorskip("dask.array")
    X, Q, qrels, _ = _rogue_case()
    index = vd.Index(da.from_array(X, chunks=(50, D)), metric="dot")
    with pytest.warns(UserWarning, match="fix 'deduplicate' could not run: deduplicate "
                                         "scores every document"):
        rep = vd.try_fixes(Q, index, qrels, query_ids=QIDS, doc_ids=IDS,
                           fixes=["deduplicate"], k=20, metrics=["mrr@10"], n_resamples=100)
    assert set(rep.failed) == {"deduplicate"} and rep.notes == ()
    assert cache_keys.explain_copy_frame() not in index.cache


def test_a_fix_that_cannot_run_has_no_note():
    """Under dot a zero row is a valid document, but deduplicate refuses it (copies are
    judged by cosine): the fix is listed in ``failed``, as before, and the report gives no
    note on the frame of a run it does not show."""
    X, Q, qrels, _ = _rogue_case()
    X[199] = 0.0
    with pytest.warns(UserWarning, match="fix 'deduplicate' could not run: corpus has a "
                                         "zero vector at row 199"):
        rep = vd.try_fixes(Q, X, qrels, query_ids=QIDS, doc_ids=IDS, fixes=["deduplicate"],
                           k=20, metrics=["mrr@10"], n_resamples=100, metric="dot")
    assert set(rep.failed) == {"deduplicate"} and rep.notes == ()


def test_report_fixes_section_uses_the_frame_and_says_so():
    """vd.report.analyze (the `vecdiag report` command's pipeline) measures fixes with
    try_fixes on its Index: the same deduplicate row as try_fixes on that corpus, the
    note in the text, the JSON and the HTML table."""
    from vecdiag.report import render_text, to_json

    X, Q, qrels, twelfth = _rogue_case()
    a = vd.report.analyze(X, ids=IDS, queries=Q, query_ids=QIDS, qrels=qrels, metric="dot",
                          metrics=("mrr@10",), n_explain=0, fixes=["deduplicate"])
    rep = vd.try_fixes(Q, vd.Index(X, metric="dot"), qrels, query_ids=QIDS, doc_ids=IDS,
                       fixes=["deduplicate"], k=100, metrics=["mrr@10"], n_resamples=100)
    assert a.fix_report.notes == (NOTE,)
    assert a.fix_report.runs["deduplicate"] == rep.runs["deduplicate"]
    assert "  note: deduplicate: near-copies judged as explain_neighbors" in render_text(a)
    assert to_json(a)["fixes"]["notes"] == [NOTE]
    assert f"<p class='vd-muted'>{NOTE}.</p>" in a.fix_report._repr_html_()  # the HTML's section
