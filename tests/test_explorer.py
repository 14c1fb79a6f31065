"""vd.explore, Python side: data packing, the ranks per fix, escaping, the static view.

References: NumPy for the packed bytes, the Explanation's own counterfactuals for the
ranks per fix, pytrec_eval for the nDCG@10 the query picker sorts by, vd.cosine and
vd.explain_cosine for hover scores and breakdowns. The browser side is tested in
tests/test_explorer_browser.py.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vecdiag as vd
from vecdiag.explorer import colour_codes, fix_rows, pack_points

pytest.importorskip("anywidget")
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo():
    ds = vd.datasets.load_demo()
    texts = list(ds.corpus_texts)
    texts[5] = HOSTILE + " " + texts[5]
    return vd.datasets.Dataset(**{**{f: getattr(ds, f) for f in ds.__dataclass_fields__},
                                  "corpus_texts": texts})


@pytest.fixture(scope="module")
def explorer(demo):
    return vd.explore(demo)


def test_points_are_float32_bytes_in_row_order():
    xy = np.random.default_rng(0).normal(size=(7, 2))
    raw = pack_points(xy)
    assert len(raw) == 7 * 2 * 4
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(7, 2), xy.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        pack_points(np.zeros(3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=10, unique=True),
       st.lists(st.integers(0, 30), max_size=10, unique=True))
def test_entering_and_leaving_are_the_set_differences_in_order(base, new):
    entering, leaving = fix_rows(base, new)
    assert set(entering) == set(new) - set(base) and set(leaving) == set(base) - set(new)
    assert entering == [r for r in new if r in set(entering)]      # new order kept
    assert leaving == [r for r in base if r in set(leaving)]       # old order kept


def test_map_packs_every_document_and_places_queries_with_transform(explorer, demo):
    n = len(demo.corpus_ids)
    xy = np.frombuffer(explorer.points, "<f4").reshape(-1, 2)
    assert xy.shape == (n, 2) and len(explorer.colors) == n
    unit = vd.normalize(demo.corpus_embeddings.astype(float))
    ref = vd.pca(unit)
    np.testing.assert_allclose(np.abs(xy), np.abs(ref.coords[:, :2]), atol=1e-5)
    # a query equal to a corpus row lands on that row's point
    ex = vd.explore(demo.index(), queries=demo.corpus_embeddings[[42]])
    np.testing.assert_allclose(ex.view["query"]["xy"], ex.session.coords[42], atol=1e-5)


def test_picker_sorts_by_ndcg_worst_first_equal_to_pytrec_eval(explorer, demo):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    res = demo.index().search(demo.query_embeddings, k=10)
    run = {q: {demo.corpus_ids[j]: float(s) for j, s in zip(r, sc)}
           for q, r, sc in zip(demo.query_ids, res.indices, res.scores)}
    ref = pytrec_eval.RelevanceEvaluator(demo.qrels, {"ndcg_cut.10"}).evaluate(run)
    listed = explorer.queries
    assert len(listed) == len(demo.query_ids)
    for q in listed:
        assert q["ndcg"] == pytest.approx(ref[q["id"]]["ndcg_cut_10"], abs=1e-4)
    values = [q["ndcg"] for q in listed]
    assert values == sorted(values)
    assert explorer.view["query"]["id"] == listed[0]["id"]        # the worst shown first


def test_view_ranks_per_fix_are_the_counterfactuals(explorer, demo):
    i = explorer.queries[0]["i"]
    exp = explorer.session.explanation(i)
    view = explorer.view
    row = {d: r for r, d in enumerate(demo.corpus_ids)}
    assert view["base"] == [row[d] for d in exp.top_ids]
    assert [view["docs"][str(r)]["id"] for r in view["base"]] == exp.top_ids
    assert {e["id"] for e in view["expected"]} == set(demo.relevant(view["query"]["id"]))
    by_fix = {c.fix: c for c in exp.counterfactuals}
    assert {f["fix"] for f in view["fixes"]} == set(by_fix)
    for f in view["fixes"]:
        cf = by_fix[f["fix"]]
        assert [view["docs"][str(r)]["id"] for r in f["top"]] == list(cf.top)
        assert {e["id"]: e["rank"] for e in f["expected_ranks"]} == cf.expected_ranks
        assert set(f["entering"]) == set(f["top"]) - set(view["base"])
        assert set(f["leaving"]) == set(view["base"]) - set(f["top"])
    assert any(f["entering"] for f in view["fixes"])     # the demo's worst query moves


def test_explanations_are_cached_and_selection_redraws(explorer):
    i, j = explorer.queries[0]["i"], explorer.queries[1]["i"]
    first = explorer.session.explanation(i)
    explorer.select(j)
    assert explorer.view["query"]["i"] == j
    explorer.select(i)
    assert explorer.session.explanation(i) is first and explorer.view["query"]["i"] == i


def test_hover_and_breakdown_answer_with_independent_values(explorer, demo):
    sent = []
    explorer.send = sent.append
    i = explorer.selected
    explorer._on_message(explorer, {"kind": "doc", "row": 7}, [])
    msg = sent[-1]
    assert msg["id"] == demo.corpus_ids[7] and msg["kind"] == "doc"
    assert msg["score"] == pytest.approx(vd.cosine(demo.query_embeddings[i],
                                                   demo.corpus_embeddings[7]), abs=1e-4)
    assert len(msg["text"]) <= 160
    explorer._on_message(explorer, {"kind": "breakdown", "row": 7}, [])
    ref = vd.explain_cosine(demo.query_embeddings[i], demo.corpus_embeddings[7], top=8)
    assert explorer.breakdown["cosine"] == pytest.approx(ref.cosine, abs=1e-4)
    assert [d["dim"] for d in explorer.breakdown["dims"]] == ref.top_dims.tolist()
    # out-of-range or malformed requests are ignored
    n_sent = len(sent)
    for bad in ({"kind": "doc", "row": 10**6}, {"kind": "doc", "row": "7"}, ["doc"]):
        explorer._on_message(explorer, bad, [])
    assert len(sent) == n_sent


def test_user_strings_escaped_in_the_static_view_and_never_html_in_the_front_end(explorer, demo):
    from vecdiag.explorer.static import static_html

    ex = vd.explore(demo.index(), queries=demo.corpus_embeddings[[5]], query_ids=[HOSTILE],
                    query_texts=[HOSTILE])
    html = static_html(ex.session, ex.view)
    assert "<script>" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    shown = []
    monkey = pytest.MonkeyPatch()
    import IPython.display

    monkey.setattr(IPython.display, "display", lambda data, **kw: shown.append(data))
    try:
        ex._ipython_display_()
    finally:
        monkey.undo()
    assert len(shown) == 2         # the static view (for HTML renderings), then the widget
    assert shown[0]["text/html"].startswith('<div class="vdx-static">')
    assert "&lt;script&gt;" in shown[0]["text/html"] and "<script" not in shown[0]["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in shown[1]
    js = (pathlib.Path(vd.explorer.__file__).with_name("explorer.js")).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js


def test_static_explorer_without_anywidget(demo, monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)
    ex = vd.explore(demo)
    html = ex._repr_html_()
    assert 'pip install &quot;vecdiag[interactive]&quot;' in html
    assert "data:image/png;base64," in html and "Fixes" in html
    assert ex.view["query"]["id"] == ex.session.query_list()[0]["id"]
    assert str(ex).startswith("vecdiag explorer: 259 documents")


def test_explanation_explore_shows_that_explanation(demo):
    index = demo.index()
    q = demo.query_embeddings[3]
    exp = vd.explain_neighbors(q, index, expected=demo.relevant(demo.query_ids[3]))
    import vecdiag.explain

    def refuse(*args, **kwargs):
        raise AssertionError("the explanation was computed again")

    monkey = pytest.MonkeyPatch()
    monkey.setattr(vecdiag.explain, "explain_neighbors", refuse)
    try:
        ex = exp.explore(index, query=q)
    finally:
        monkey.undo()
    assert ex.session.explanation(0) is exp
    assert {e["id"] for e in ex.view["expected"]} == {e.id for e in exp.expected}
    with pytest.raises(TypeError, match="unexpected keyword"):
        exp.explore(index, query=q, colour="faithfulness")
    assert [ex.view["docs"][str(r)]["id"] for r in ex.view["base"]] == exp.top_ids
    # the explanation carries what it searched: no arguments needed
    assert exp.index is index and np.array_equal(exp.query_vector, q)
    bare = exp.explore()
    assert bare.session.explanation(0) is exp
    assert [bare.view["docs"][str(r)]["id"] for r in bare.view["base"]] == exp.top_ids


def test_colours_by_label_and_faithfulness(explorer, demo):
    labels = [d.split("-")[0] for d in demo.corpus_ids]
    codes, names = colour_codes(labels, explorer.session)
    codes = np.frombuffer(codes, np.uint8)
    assert len(codes) == len(labels) and len(names) <= 11
    for code, label in zip(codes, labels):
        assert names[code] in (label, "other")
    f = explorer.session.projection.proj.faithfulness(k=10, metric="cosine")
    fc = np.frombuffer(explorer.colors, np.uint8)
    assert (fc[f.overlap >= 0.8] == 5).all() and (fc[f.overlap < 0.2] == 1).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"queries": np.zeros((2, 5))}, "dimension"),
    ({"queries": np.ones((2, 384)), "qrels": {"zz": {"a": 1}}}, "qrels name none"),
    ({"qrels": {"q": {"a": 1}}}, "without queries"),
    ({"projection": "tsne"}, "projection must be"),
    ({"color": ["a", "b"]}, "one label per document"),
    ({"queries": np.ones((2, 384)), "query_ids": ["a"]}, "query_ids has 1"),
    # width=-5 drew a canvas of no size, "abc" failed with "invalid literal for int()"
    ({"width": -5}, "width must be at least 1, got -5"),
    ({"width": "abc"}, "width must be an integer, got str 'abc'"),
    ({"height": 0}, "height must be at least 1, got 0"),
])
def test_bad_inputs_name_the_argument(demo, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        vd.explore(demo.index(), **kwargs)


def test_a_projection_of_another_corpus_is_refused(demo):
    with pytest.raises(ValueError, match="coords of shape"):
        vd.explore(demo.index(), projection=vd.pca(demo.corpus_embeddings[:50]))


def test_import_vecdiag_stays_light():
    code = ("import sys, vecdiag as vd; vd.explore; "
            "print(sorted(m for m in ('anywidget', 'traitlets', 'ipywidgets', 'pandas', "
            "'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.slow
def test_notebook_rendered_to_html_shows_the_static_view(tmp_path):
    """nbconvert prefers a widget's view to its text/html, and a page without the widget's
    JavaScript draws nothing: the static view is an output of its own."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nbconvert import HTMLExporter

    code = ("import vecdiag as vd\nds = vd.datasets.load_demo()\n"
            f"ex = vd.explore(ds.index(), queries=ds.query_embeddings[:2], query_texts={[HOSTILE, 'b']!r})\n"
            "ex")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    root = str(pathlib.Path(__file__).resolve().parents[1])
    import os
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, env_path])
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert 'class="vdx-static"' in html and "data:image/png;base64," in html
    assert "Ranked list of 0" in html
    import re

    # outside script elements (nbconvert stores the widget state as JSON in one)
    page = re.sub(r'<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>',
                  "", html, flags=re.S)
    assert page != html
    assert "&lt;script&gt;window.__pwned=1" in page and "<script>window.__pwned" not in page


def test_hubs_are_the_corpus_hubs_and_the_recommendation_comes_first(demo):
    report = vd.try_fixes(demo.query_embeddings, demo.corpus_embeddings, demo.qrels,
                          query_ids=demo.query_ids, doc_ids=demo.corpus_ids, k=100,
                          n_resamples=500, show_progress=False)
    ex = vd.explore(demo, fix_report=report)
    kocc = vd.hubness(demo.corpus_embeddings, k=10).k_occurrence
    # the hubs vd.diagnose lists (N_k >= 2k: 22 of the demo's 259, of which 7 >= 3k)
    assert sorted(ex.view["hubs"]) == np.flatnonzero(kocc >= 20).tolist()
    assert sorted(ex.view["strong_hubs"]) == np.flatnonzero(kocc >= 30).tolist()
    assert len(ex.view["hubs"]) == 22 and len(ex.view["strong_hubs"]) == 7
    for q in ex.queries[:6]:
        ex.select(q["i"])
        exp = ex.session.explanation(q["i"])
        rec = getattr(exp, "recommendation", None)
        if rec is not None:
            assert ex.view["fixes"][0]["fix"] == rec.fix and ex.view["fixes"][0]["recommended"]
            assert ex.view["recommendation"] == rec.fix
        else:
            assert not any(f["recommended"] for f in ex.view["fixes"])


@pytest.mark.slow
def test_umap_map_places_queries_with_its_transform(demo):
    pytest.importorskip("umap")
    ex = vd.explore(demo.index(), queries=demo.query_embeddings[:3], projection="umap", k=5)
    xy = np.frombuffer(ex.points, "<f4").reshape(-1, 2)
    assert xy.shape == (len(demo.corpus_ids), 2) and np.isfinite(xy).all()
    proj = ex.session.projection
    assert proj.proj.method == "umap"
    want = proj.proj.transform(vd.normalize(demo.query_embeddings[:3].astype(float)))
    np.testing.assert_allclose(ex.session.query_xy, want[:, :2], rtol=1e-4, atol=1e-4)
    lo_x, hi_x, lo_y, hi_y = ex.bounds
    assert lo_x <= ex.view["query"]["xy"][0] <= hi_x and lo_y <= ex.view["query"]["xy"][1] <= hi_y


def test_euclidean_and_dot_corpora_score_hovered_documents_in_their_metric():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 8))
    Q = X[:4] + 0.3 * rng.normal(size=(4, 8))
    qrels = {str(i): {str(j): 1 for j in rng.choice(120, 3, replace=False)} | {str(i): 2}
             for i in range(4)}
    for metric in ("euclidean", "dot"):
        index = vd.Index(X, metric=metric)
        ex = vd.explore(index, queries=Q, qrels=qrels, color="none")
        i = ex.selected
        doc = ex.session.doc(11, i)
        want = vd.euclidean(Q[i], X[11]) if metric == "euclidean" else vd.dot(Q[i], X[11])
        assert doc["score"] == pytest.approx(want, abs=1e-4)
        res = index.search(Q, k=10)
        sign = -1.0 if metric == "euclidean" else 1.0     # trec_eval ranks higher first
        run = {str(q): {str(j): sign * float(s) for j, s in zip(r, sc)}
               for q, (r, sc) in enumerate(zip(res.indices, res.scores))}
        ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
        for q in ex.queries:
            assert q["ndcg"] == pytest.approx(ref[str(q["id"])]["ndcg_cut_10"], abs=1e-4)


@pytest.mark.parametrize("static", [False, True])
def test_a_zero_query_under_dot_is_listed_but_the_next_worst_is_shown(monkeypatch, static):
    # under dot a zero query scores 0 against every document: worst of all, listed first,
    # and explaining it is refused, which stopped vd.explore from building
    if static:
        monkeypatch.setitem(sys.modules, "anywidget", None)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 8))
    Q = X[:4] + 0.3 * rng.normal(size=(4, 8))
    Q[1] = 0.0
    qrels = {str(i): {str(j): 1 for j in rng.choice(120, 3, replace=False)} | {str(i): 2}
             for i in range(4)}
    ex = vd.explore(vd.Index(X, metric="dot"), queries=Q, qrels=qrels, color="none")
    listed = ex.session.query_list()
    assert listed[0]["i"] == 1                  # the worst nDCG@10: its list is the tie rule
    assert ex.view["query"]["i"] == listed[1]["i"]
    with pytest.raises(ValueError, match="query is a zero vector: under dot"):
        ex.session.view(1)


def test_a_corpus_of_fewer_than_10_documents_with_qrels_is_explored():
    # the picker's nDCG@10 searched the top 10 whatever the corpus size: vd.explore with
    # k=2 on 6 documents failed with "k=10 is larger than the corpus (6 vectors)"
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 4))
    Q = X[:3] + 0.2 * rng.normal(size=(3, 4))
    qrels = {"0": {"3": 1}, "1": {"1": 2, "4": 1}, "2": {"5": 1}}
    ex = vd.explore(X, queries=Q, qrels=qrels, k=2, color="none")
    order = np.argsort(-(Q / np.linalg.norm(Q, axis=1, keepdims=True))
                       @ (X / np.linalg.norm(X, axis=1, keepdims=True)).T, axis=1)
    run = {str(q): {str(j): float(6 - r) for r, j in enumerate(order[q])} for q in range(3)}
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    assert len(ex.queries) == 3
    for q in ex.queries:
        assert q["ndcg"] == pytest.approx(ref[str(q["id"])]["ndcg_cut_10"], abs=1e-4)


@pytest.mark.parametrize("color", [None, "faithfulness"])
def test_a_two_document_corpus_is_mapped_with_its_points_marked_not_checked(color):
    # faithfulness needs 1 <= k < n/2, which no k meets on 2 documents: the default
    # colouring failed with "k=1 is too large for trustworthiness on 2 points"
    X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.5]])
    ex = vd.explore(X, k=1, color=color)
    assert np.frombuffer(ex.points, dtype="<f4").shape == (4,)
    assert list(ex.colors) == [0, 0] and ex.legend[0] == "not checked"


def test_qrels_keyed_by_ints_mark_the_expected_documents_of_string_query_ids():
    # query_ids ["0", "1", "2"] and qrels {0: {...}}: the picker's nDCG@10 (ids read as
    # strings) counted the judgments, but the view looked the query up by its own key and
    # showed no expected document at all
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 8))
    Q = X[:3] + 0.5 * rng.normal(size=(3, 8))
    qrels = {0: {5: 1, 0: 2}, 1: {1: 1}, 2: {2: 1}}
    ex = vd.explore(X, queries=Q, qrels=qrels, query_ids=["0", "1", "2"], k=5, color="none")
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    for i in range(3):
        view = ex.session.view(i)
        scores = unit @ (Q[i] / np.linalg.norm(Q[i]))
        judged = sorted(qrels[i].items(), key=lambda kv: (-kv[1], str(kv[0])))
        want = [(d, 1 + int(np.sum(scores > scores[d]))) for d, _ in judged]
        assert [(e["id"], e["rank"]) for e in view["expected"]] == want


@pytest.mark.parametrize("color, shown", [("topic", "'topic'"), (3, "3"),
                                          (np.array([["a", "b"]] * 10), "shape (10, 2)")])
def test_a_colour_that_is_no_label_list_is_refused_naming_color(color, shown):
    # color="topic" (a column name, as plotly takes it) failed with "TypeError: len() of
    # unsized object"; a (10, 2) array was said to hold "10 labels"
    X = np.random.default_rng(7).normal(size=(20, 4))
    with pytest.raises(ValueError, match=r"color must be None, 'faithfulness', 'none' or one "
                                         r"label per document \(20\), got .*" + re.escape(shown)):
        vd.explore(X, k=3, color=color)


@pytest.mark.parametrize("query_ids, qrels", [
    # a judged document the corpus does not hold (a BEIR corpus cut to a sample): the view
    # asked explain_neighbors for row 25 (or -1, the last row) and the query could not be
    # shown at all ("expected has 1 document not in the corpus: 25")
    ([0, 1, 2], {0: {"25": 2, "4": 1}, 1: {"-1": 1, "7": 1}, 2: {"2": 1}}),
    # query ids 0.0, 1.0, 2.0 (a pandas column): the picker's nDCG@10 read them as "0",
    # "1", "2" and counted the judgments, the view looked up "0.0" and marked nothing
    ([0.0, 1.0, 2.0], {0: {"4": 1}, 1: {"7": 1}, 2: {"2": 1}}),
])
def test_the_view_marks_the_judged_documents_the_corpus_holds(query_ids, qrels):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(20, 6))
    Q = X[[4, 7, 2]] + 0.8 * rng.normal(size=(3, 6))
    ex = vd.explore(X, queries=Q, qrels=qrels, query_ids=query_ids, k=3, color="none")
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    for i in range(3):
        view = ex.session.view(i)
        scores = unit @ (Q[i] / np.linalg.norm(Q[i]))
        held = [(int(d), g) for d, g in qrels[i].items() if 0 <= int(d) < 20]
        want = [(d, 1 + int(np.sum(scores > scores[d])))
                for d, _ in sorted(held, key=lambda kv: (-kv[1], str(kv[0])))]
        assert [(e["id"], e["rank"]) for e in view["expected"]] == want


@pytest.mark.parametrize("query_ids, match", [
    (["a", "a", "b"], r"query_ids must be unique, found 1 repeated \('a' at rows 0 and 1\)"),
    ([1, "1", 2], r"query_ids must be unique once read as strings.*1 at row 0 and '1' at row 1"),
])
def test_two_judged_queries_of_one_id_are_refused(query_ids, match):
    # qrels are found by query id: both queries "a" were listed with the nDCG@10 of the
    # second (the run dict kept one of them), the first query's own figure never shown
    rng = np.random.default_rng(9)
    X = rng.normal(size=(30, 5))
    Q = X[[1, 2, 3]] + 0.3 * rng.normal(size=(3, 5))
    with pytest.raises(ValueError, match=match):
        vd.explore(X, queries=Q, query_ids=query_ids, qrels={"a": {"1": 1}, "1": {"1": 1}},
                   k=3, color="none")
    ex = vd.explore(X, queries=Q, query_ids=query_ids, k=3, color="none")  # no qrels: labels
    assert [q["id"] for q in ex.queries] == query_ids


def test_a_dataset_whose_queries_are_not_embedded_is_mapped_without_them(demo):
    # vd.explore(dataset) with corpus_embeddings only took the Dataset's qrels without
    # query vectors and failed with "qrels were given without queries; pass queries=...",
    # naming an argument the caller never passed
    import dataclasses

    ds = dataclasses.replace(demo, query_embeddings=None)
    ex = vd.explore(ds, color="none")
    n = len(ds.corpus_ids)
    xy = np.frombuffer(ex.points, "<f4").reshape(-1, 2)
    assert xy.shape == (n, 2) and ex.queries == [] and ex.view == {}
    unit = ds.corpus_embeddings / np.linalg.norm(ds.corpus_embeddings, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    pc = np.linalg.svd(centred, full_matrices=False)[2][:2]
    ref = centred @ pc.T
    signs = np.sign(np.sum(ref * xy, axis=0))            # a component's sign is arbitrary
    assert np.allclose(xy, ref * signs, atol=1e-4)
    assert ex.session.doc(7, None)["id"] == ds.corpus_ids[7]


@pytest.mark.parametrize("shape, said", [((1, 4), "1 document of 4 dimensions"),
                                         ((10, 1), "10 documents of 1 dimension")])
def test_a_corpus_too_small_for_a_map_is_refused_naming_the_corpus(shape, said):
    # PCA's refusal reached the caller as "n_components=2 is larger than min(n_samples,
    # n_features) = min(10, 1) = 1; use n_components <= 1", an argument explore has not
    X = np.random.default_rng(10).normal(size=shape)
    with pytest.raises(ValueError, match=f"index_or_dataset has {said}; the map needs at "
                                         "least 2 documents of at least 2 dimensions"):
        vd.explore(X, k=1)


def test_the_faithfulness_legend_names_the_neighbours_a_small_corpus_is_checked_on():
    # on 12 documents faithfulness is checked on 5 neighbours (k < n/2), but the legend
    # said "keeps < 20% of its 10 neighbours"
    X = np.random.default_rng(11).normal(size=(12, 6))
    ex = vd.explore(X, k=2)
    xy = np.frombuffer(ex.points, "<f4").reshape(-1, 2).astype(float)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = unit @ unit.T
    near = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(cos, -np.inf)
    np.fill_diagonal(near, np.inf)
    k = 5
    kept = np.array([len(set(np.argsort(-cos[i])[:k]) & set(np.argsort(near[i])[:k])) / k
                     for i in range(12)])
    assert ex.legend[1] == f"keeps < 20% of its {k} neighbours"
    assert list(ex.colors) == (1 + np.digitize(kept, [0.2, 0.4, 0.6, 0.8])).tolist()


def test_judgments_of_queries_not_shown_raise_no_warning_about_a_run(recwarn):
    # qrels of a whole query set with vectors for two of its queries: explore warned "the
    # run has no results for 1 of the 3 judged queries... pass missing='skip'", a run and
    # an argument of vd.evaluate the caller never saw
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 5))
    Q = X[[4, 9]] + 0.5 * rng.normal(size=(2, 5))
    qrels = {0: {"4": 1}, 1: {"9": 1}, "other": {"3": 1}}
    ex = vd.explore(X, queries=Q, qrels=qrels, k=3, color="none")
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    for q in ex.queries:
        i, doc = q["i"], (4, 9)[q["i"]]
        scores = unit @ (Q[i] / np.linalg.norm(Q[i]))
        rank = 1 + int(np.sum(scores > scores[doc]))
        want = 1 / np.log2(rank + 1) if rank <= 10 else 0.0      # one relevant document
        assert q["ndcg"] == pytest.approx(want, abs=1e-4)


def test_a_lone_surrogate_in_the_data_does_not_stop_the_widget_state_from_being_sent():
    # json.loads decodes a broken "\ud800" escape of a JSON corpus to a lone surrogate;
    # Jupyter sends widget state as UTF-8 (jupyter_client's json_packer) and failed on it,
    # so the explorer could not show at all ('surrogates not allowed')
    import json

    broken = json.loads('"caf\\ud800e"')
    rng = np.random.default_rng(13)
    X = rng.normal(size=(20, 4))
    Q = X[:2] + 0.1
    ex = vd.explore(vd.Index(X, ids=[f"d{i}" for i in range(19)] + [f"d{broken}"],
                             texts=[f"text {i} {broken}" for i in range(20)]),
                    queries=Q, query_texts=[broken, "plain"], k=3,
                    color=[broken, "other label"] * 10)
    state = {"view": ex.view, "queries": ex.queries, "legend": ex.legend,
             "doc": ex.session.doc(19, 0), "breakdown": ex.session.breakdown(0, 19)}
    for name, value in state.items():
        json.dumps(value, ensure_ascii=False).encode("utf-8")   # as Jupyter sends it
    assert [q["text"] for q in ex.queries] == ["caf\ufffde", "plain"]    # no qrels: in order
    assert state["doc"] == {"row": 19, "id": "dcaf\ufffde", "text": "text 19 caf\ufffde",
                            "score": pytest.approx(float(Q[0] @ X[19] / np.linalg.norm(Q[0])
                                                         / np.linalg.norm(X[19])), abs=1e-4)}
    assert "caf\ufffde" in ex.legend


def test_missing_texts_show_as_no_text_and_the_word_none_stays():
    """Texts with gaps (None, NaN from a pandas column, pandas' NA) showed as the words
    "None" / "nan" in the explorer's tables, hover text and static view, in the
    explanation's expected and top texts and in a projection's hover; the query text
    NaN was even searched for the word "nan". They are now empty, and a document whose
    text is the word "None" still reads "None"."""
    import pandas as pd
    from vecdiag.explorer.static import static_text
    from vecdiag.projection.plotting import prepare_plot

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6))
    texts = ["doc a", None, float("nan"), "None", pd.NA] + [f"doc {i}" for i in range(7)]
    ex = vd.explore(vd.Index(X, texts=texts), queries=X[[0, 1]] + 0.1, k=4, color="none",
                    query_texts=[None, float("nan")], qrels={0: {1: 1}, 1: {2: 1}})
    s = ex.session
    assert [s.text_of(r, 50) for r in range(5)] == ["doc a", "", "", "None", ""]
    assert [q["text"] for q in s.query_list()] == ["", ""]
    assert [s.doc(r, 0)["text"] for r in (1, 2, 3)] == ["", "", "None"]
    assert static_text(s, ex.view).splitlines()[1] == "query 0: "
    assert s.query_texts == ["", ""]
    e = vd.explain_neighbors(X[1] + 0.01, vd.Index(X, texts=texts), k=3, expected=[2, 3, 4])
    assert [x.text for x in e.expected] == ["", "None", ""]
    assert e.top_ids[0] == 1 and e.top_texts[0] == ""
    hover = prepare_plot(vd.pca(X, n_components=2), texts=texts).hover
    assert hover[:5] == ["doc a", "", "", "None", ""]


def test_the_text_view_lists_the_missed_documents_and_the_fixes_of_the_html():
    """The explorer's text view (a terminal, or nbconvert's text/plain) ended at the
    top-k, while its HTML listed the expected documents outside it and a fixes table
    (what enters and leaves the top-k). It now shows both, from the same view."""
    from vecdiag.explorer.static import static_text

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)) + 1
    Q = X[[0, 1]] + 0.3 * rng.normal(size=(2, 6))
    ex = vd.explore(vd.Index(X), queries=Q, qrels={0: {30: 1, 2: 1}, 1: {31: 1}}, k=4,
                    color="none")
    lines = static_text(ex.session, ex.view).splitlines()
    exp = ex.session.explanation(1)
    missed = exp.missed()
    assert [line.split()[:2] for line in lines if "(missed)" in line] == \
        [[f"{e.rank}.", str(e.id)] for e in missed] == [["18.", "31"]]
    at = lines.index("fixes: what enters and leaves the top-k")
    top = list(exp.top_ids)
    rows = {line.split()[0].rstrip(":"): line for line in lines[at + 1:]}
    assert sorted(rows) == sorted(c.fix for c in exp.counterfactuals)
    for c in exp.counterfactuals:
        entering = [d for d in c.top if d not in top]
        leaving = [d for d in top if d not in c.top]
        assert (f"entering {', '.join(map(str, entering)) or '—'}; "
                f"leaving {', '.join(map(str, leaving)) or '—'}. {c.note}") in rows[c.fix]
    assert lines[at + 1].startswith(f"  {exp.recommendation.fix} (recommended): ")


def test_missing_colour_labels_are_no_label_not_the_labels_none_and_nan():
    """Colouring by a label column with gaps: None and NaN became the labels "None" and
    "nan" (str()), merged with documents whose label really is "None" or "nan". They are
    now one "(no label)" colour, and the real labels keep their own."""
    X = np.random.default_rng(0).normal(size=(8, 4))
    ex = vd.explore(X, color="none", k=2)
    labels = [None, float("nan"), "a", "None", "a", "nan", np.nan, "b"]
    codes, names = colour_codes(labels, ex.session)
    assert names == ["(no label)", "a", "None", "b", "nan"]
    assert list(codes) == [0, 0, 1, 2, 1, 4, 0, 3]


def _brute_k_occurrence(X, k):
    """N_k by brute force (scikit-learn, cosine): each row's k nearest others, counted."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(X)
    lists = [[j for j in row if j != i][:k] for i, row in enumerate(nn.kneighbors(X)[1])]
    return np.bincount(np.ravel(lists), minlength=len(X))


def test_the_map_marks_the_hubs_diagnose_lists_and_the_strong_hubs_apart():
    """The explorer marked only N_k >= 3k (on the demo 7 of the 22 hubs vd.diagnose
    lists, on a planted corpus 31 of 103): the map now marks exactly the N_k >= 2k hubs
    of vd.diagnose / vd.hubness, the N_k >= 3k ones as strong hubs, and says so on
    hover. Reference: k-occurrence counted by brute force with scikit-learn."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((160, 12)) + 0.5                      # a shared direction
    X[:4] = 0.5 + 0.05 * rng.standard_normal((4, 12))             # planted near the mean
    k = 5
    kocc = _brute_k_occurrence(X, k)
    hubs, strong = np.flatnonzero(kocc >= 2 * k), np.flatnonzero(kocc >= 3 * k)
    assert len(hubs) > len(strong) > 0
    diag = vd.diagnose(X, k=k)
    assert round(diag.stats["hub_share"] * len(X)) == len(hubs)
    assert sorted(vd.hubness(X, k=k).hubs.tolist()) == hubs.tolist()
    ex = vd.explore(X, queries=X[10:12] + 0.01, k=k)
    assert sorted(ex.view["hubs"]) == hubs.tolist()
    assert sorted(ex.view["strong_hubs"]) == strong.tolist()
    assert [kocc[r] for r in ex.view["hubs"]] == sorted(kocc[hubs], reverse=True)
    weak = int(next(r for r in hubs if r not in strong))
    assert ex.session.doc(weak, 0)["hub"] == (
        f"hub: in the top-{k} of {kocc[weak]} documents' lists (≥ 2k = {2 * k})")
    top = int(strong[np.argmax(kocc[strong])])
    assert ex.session.doc(top, 0)["hub"] == (
        f"strong hub: in the top-{k} of {kocc[top]} documents' lists (≥ 3k = {3 * k})")
    assert "hub" not in ex.session.doc(int(np.argmin(kocc)), 0)


def test_hubs_from_sampled_statistics_are_marked_only_when_clearly_hubs():
    """Above 5,000 documents explore's own Index explains from sampled rows, and the map
    marked every document whose estimate c·n/s reached 2k: on 6,000 Gaussian vectors
    (k = 5) 482 marks for 84 hubs, 445 of the marks no hub. Only documents whose N_k is
    clearly over the bar (interval at 1 − 0.05/n) are marked now, and the view says the
    marks are sampled. Here 1,500 rows, 500 sampled; reference: brute-force N_k."""
    from vecdiag.explain import stats
    from vecdiag.explorer.hubs import hub_marks, hub_note

    rng = np.random.default_rng(5)
    X = rng.standard_normal((1500, 16)) + 1.0
    X[:3] = 1.0 + 0.02 * rng.standard_normal((3, 16))      # planted near the mean: hubs
    k = 5
    kocc = _brute_k_occurrence(X, k)
    ix = vd.Index(X)
    st = stats.corpus_stats(ix, k, owned=True, max_exact=100, sample_size=500)
    assert not st.exact and st.sample_size == 500
    hubs, strong = hub_marks(ix, k)
    assert {0, 1, 2} <= set(hubs) and set(strong) <= set(hubs)
    assert all(kocc[r] >= 2 * k for r in hubs) and all(kocc[r] >= 3 * k for r in strong)
    assert len(hubs) < int((st.k_occurrence >= 2 * k).sum())  # the plain estimate's marks
    assert hub_note(ix, k, 0).startswith(
        f"hub: in the top-5 of about {st.k_occurrence[0]:.0f} documents' lists (")
    assert hub_note(ix, k, 0).endswith(" from 500 sampled rows; ≥ 2k = 10)")
    assert hub_note(ix, k, int(np.argmin(kocc))) == ""
    from vecdiag.explorer.hubs import sampled_note

    assert sampled_note(ix, k) == ("hubs from 500 of 1,500 rows sampled: only clear ones "
                                   "marked (pass a vd.Index for all)")


def test_an_explanation_with_another_seed_shows_its_hubs_on_the_map():
    """exp.explore() on explain_neighbors(..., random_state=7) marked no hub: the session
    reads the statistics cached under seed 0 and found none. Exact statistics do not
    depend on the seed: the map marks the N_k >= 2k rows (brute force, scikit-learn)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((160, 12)) + 0.5
    X[:4] = 0.5 + 0.05 * rng.standard_normal((4, 12))
    kocc = _brute_k_occurrence(X, 5)
    exp = vd.explain_neighbors(X[10] + 0.01, vd.Index(X), k=5, random_state=7)
    view = exp.explore().view
    assert sorted(view["hubs"]) == np.flatnonzero(kocc >= 10).tolist()
    assert sorted(view["strong_hubs"]) == np.flatnonzero(kocc >= 15).tolist()
    assert len(view["hubs"]) == 12 and view["hub_note"] is None


def test_the_map_marks_at_most_max_marked_hubs_and_finds_them_once(monkeypatch):
    """The view listed every hub (a corpus with thousands of them sent thousands of rows
    to the page) and each hover re-ranked all of them. Now the view keeps the MAX_MARKED
    with most occurrences (here 4 of the planted corpus's hubs) and its note, shown in
    the page (escaped in the static HTML), says how many more there are; the hubs are
    found once per statistics object, not per hover, and a hub beyond the cap still has
    its hover line. Reference: k-occurrence counted by brute force with scikit-learn."""
    from vecdiag.explorer import hubs as hubs_module
    from vecdiag.explorer.static import static_html

    rng = np.random.default_rng(3)
    X = rng.standard_normal((160, 12)) + 0.5
    X[:4] = 0.5 + 0.05 * rng.standard_normal((4, 12))
    k = 5
    kocc = _brute_k_occurrence(X, k)
    hubs = np.flatnonzero(kocc >= 2 * k)
    order = sorted(hubs.tolist(), key=lambda r: (-kocc[r], r))
    monkeypatch.setattr(hubs_module, "MAX_MARKED", 4)
    found = []
    real = hubs_module.HubMarks.__init__
    monkeypatch.setattr(hubs_module.HubMarks, "__init__",
                        lambda self, stats: (found.append(1), real(self, stats))[1])
    ex = vd.explore(X, queries=X[10:12] + 0.01, k=k)
    view = ex.session.view(0)
    assert view["hubs"] == order[:4]
    assert view["strong_hubs"] == [r for r in order[:4] if kocc[r] >= 3 * k]
    assert view["hub_note"] == (f"the 4 hubs with most occurrences marked, "
                                f"{len(hubs) - 4} more not ({len(hubs)} in all)")
    before = len(found)
    beyond = order[-1]
    for row in range(30):
        ex.session.doc(row, 0)
    assert len(found) == before                              # no hover recomputed them
    assert ex.session.doc(beyond, 0)["hub"] == (
        f"hub: in the top-{k} of {kocc[beyond]} documents' lists (≥ 2k = {2 * k})")
    page = static_html(ex.session, view)
    assert f"▲ the 4 hubs with most occurrences marked, {len(hubs) - 4} more not" in page


def test_the_static_page_shows_the_hub_note_once(monkeypatch):
    """The static page drew the hub note ("the 500 hubs with most occurrences marked, ...")
    as the figure's title and again as the paragraph below it. Now the paragraph alone
    (escaped text, which a title in a PNG is not)."""
    from matplotlib.axes import Axes

    from vecdiag.explorer.static import static_html

    ex = vd.explore(np.random.default_rng(3).standard_normal((40, 4)), color="none")
    note = "the 500 hubs with most occurrences marked, 2,100 more not (2,600 in all)"
    titles = []
    monkeypatch.setattr(Axes, "set_title", lambda self, label, *a, **kw: titles.append(label))
    page = static_html(ex.session, {"hub_note": note})
    assert titles == [] and page.count(note) == 1


def test_the_query_list_is_capped_and_says_how_many_are_left_out():
    """Every query went into the picker (50,000 queries: 50,000 options written into the
    page). Now the worst MAX_LISTED_QUERIES (given order without qrels) and a note of the
    others, in the widget and on the static page (its 15 rows)."""
    from vecdiag.explorer.session import MAX_LISTED_QUERIES
    from vecdiag.explorer.static import static_html

    rng = np.random.default_rng(5)
    X, Q = rng.normal(size=(30, 4)), rng.normal(size=(MAX_LISTED_QUERIES + 3, 4))
    ex = vd.explore(X, queries=Q, color="none")
    assert [q["i"] for q in ex.queries] == list(range(MAX_LISTED_QUERIES))
    assert ex.queries_note == ("the first 1,000 queries listed, 3 more not (1,003 in all); "
                               ".select(i) shows any query")
    page = static_html(ex.session, {})
    assert page.count("<tr>") - 1 == 15 and "the first 15 queries listed, 988 more not " \
        "(1,003 in all)" in page
    qrels = {"0": {"1": 1}, "2": {"3": 1}}
    judged = vd.explore(X, queries=Q[:20], qrels=qrels, color="none").session
    assert judged.query_list_note(15) == ("the worst 15 queries (nDCG@10) listed, 5 more not "
                                          "(20 in all)")
    # worst first: nDCG 1/log2(11) (rank 10, brute-force cosine), 1/log2(5) (rank 4), unjudged
    assert [q["i"] for q in judged.query_list(3)] == [2, 0, 1]
    assert judged.query_list_note(20) is None


def test_a_view_lists_at_most_max_expected_expected_documents(monkeypatch):
    """A query judged against many documents (TREC-COVID has ~500 per query) sent every
    one to the page, in the list and in every fix's ranks: 2,000 judged of 3,000 made a
    0.9 MB view. Now the MAX_EXPECTED best ranked (here 3 of 8), in the given order, and
    the fixes' ranks of those only; the note (shown, escaped in the static HTML) says how
    many there are. Reference: the ranks by brute-force cosine."""
    from vecdiag.explorer import session as session_module
    from vecdiag.explorer.static import static_html

    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 6))
    Q = X[:1] + 0.3 * rng.normal(size=(1, 6))
    judged = [str(j) for j in (50, 7, 33, 12, 0, 41, 25, 58)]
    qrels = {"0": {d: 1 for d in judged}}
    cos = (Q / np.linalg.norm(Q)) @ (X / np.linalg.norm(X, axis=1, keepdims=True)).T
    rank = {str(j): r + 1 for r, j in enumerate(np.argsort(-cos[0], kind="stable"))}
    best = set(sorted(judged, key=lambda d: rank[d])[:3])
    ex = vd.explore(X, queries=Q, qrels=qrels, k=5, color="none")
    whole = ex.session.view(0)
    given = [str(e["id"]) for e in whole["expected"]]
    assert sorted(given) == sorted(judged) and whole["expected_note"] is None
    monkeypatch.setattr(session_module, "MAX_EXPECTED", 3)
    view = ex.session.view(0)
    assert [str(e["id"]) for e in view["expected"]] == [d for d in given if d in best]
    assert {str(e["id"]): e["rank"] for e in view["expected"]} == {d: rank[d] for d in best}
    assert view["fixes"] and all({str(e["id"]) for e in f["expected_ranks"]} == best
                                 for f in view["fixes"])
    assert view["expected_note"] == "the 3 best-ranked of 8 expected documents shown"
    assert "■ the 3 best-ranked of 8 expected documents shown" in static_html(ex.session, view)
