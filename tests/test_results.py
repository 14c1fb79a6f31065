"""The shared result base: compact repr, escaped HTML, the display protocol."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vecdiag.results import Result, escape, fmt, html_block, html_table, result, shorten


@result
class Toy(Result):
    """A toy result."""

    values: np.ndarray
    label: str

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"value": self.values, "label": self.label})


def test_frozen_and_compact_repr():
    toy = Toy(values=np.arange(1000.0), label="<b>x</b>")
    with pytest.raises(AttributeError):
        toy.label = "y"
    assert "array(shape=(1000,), dtype=float64)" in repr(toy)


def test_html_is_escaped():
    toy = Toy(values=np.arange(3.0), label="<script>alert(1)</script>")
    bundle = toy._repr_mimebundle_()
    assert "<script>" not in bundle["text/html"]
    assert "&lt;script&gt;" in bundle["text/html"]
    table = html_table([["<img src=x onerror=alert(1)>", 1.5]], ["text", "score"], numeric={"score"})
    assert "<img" not in table and "&lt;img" in table
    assert "<script>" not in html_block("<script>", table)


def test_small_helpers():
    assert escape('"&') == "&quot;&amp;"
    assert shorten("x" * 100, 10) == "x" * 9 + "…"
    assert fmt(1234567.0) == "1.235e+06"
    assert fmt(0.5) == "0.5"
    assert fmt(float("nan")) == "nan"
    assert fmt(True) == "True"


def test_a_record_without_rows_has_a_one_row_frame_and_a_display():
    # Cause, ExpectedDoc and Counterfactual define no to_frame: the base raised
    # NotImplementedError, and so did _repr_mimebundle_ (a notebook showing
    # ex.expected[0] printed a traceback); they now show one row of their fields
    import vecdiag as vd

    @result
    class Record(Result):
        code: str
        score: float
        hidden: object = dataclasses.field(default=None, repr=False)

    frame = Record(code="<b>hub</b> & co", score=0.25).to_frame()
    assert list(frame.columns) == ["code", "score"]
    assert frame.to_dict("records") == [{"code": "<b>hub</b> & co", "score": 0.25}]
    html = Record(code="<b>hub</b> & co", score=0.25)._repr_mimebundle_()["text/html"]
    assert "&lt;b&gt;hub&lt;/b&gt; &amp; co" in html and "<b>hub" not in html

    corpus = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    ex = vd.explain_neighbors(np.array([0.7, 0.7]), corpus, k=2, expected=[2])
    row = ex.expected[0].to_frame().iloc[0]
    assert (row["id"], row["position"], row["rank"]) == (2, 2, 4)
    assert row["score"] == pytest.approx(0.70710678, abs=1e-8)
    for record in (ex.expected[0], ex.counterfactuals[0]):
        assert "<table" in record._repr_mimebundle_()["text/html"]


def test_a_record_holding_a_lone_surrogate_has_a_frame_and_a_display():
    # an id read from JSON as "doc\ud800": pandas' str dtype (UTF-8, pandas 3) refused
    # it, so to_frame and the display failed with UnicodeEncodeError; the text is kept
    # as given (Python objects) in the frame and shown as U+FFFD in the HTML
    import pandas as pd

    @result
    class Record(Result):
        id: object
        score: float

    frame = Record(id="doc\ud800<b>", score=0.5).to_frame()
    assert frame["id"].tolist() == ["doc\ud800<b>"] and frame["score"].tolist() == [0.5]
    html = Record(id="doc\ud800<b>", score=0.5)._repr_mimebundle_()["text/html"]
    assert "doc\ufffd&lt;b&gt;" in html
    html.encode("utf-8")                                  # a Jupyter message can hold it
    assert Record(id="doc", score=0.5).to_frame()["id"].dtype == pd.Series(["doc"]).dtype


def test_neighbors_with_a_lone_surrogate_in_ids_or_texts_have_a_frame_and_a_display():
    # corpus ids and texts read from JSON as "doc\ud800...": Neighbors.to_frame and its
    # notebook display (built from the frame) failed with UnicodeEncodeError under
    # pandas 3; the frame keeps them as given, the HTML shows U+FFFD
    import vecdiag as vd

    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    index = vd.Index(X, ids=["doc\ud800a", "b", "c"], texts=["t\udc80x", "y", "z"])
    res = index.search(X[:1], k=2)
    frame = res.to_frame()
    assert frame["id"].tolist() == ["doc\ud800a", "b"]
    assert frame["text"].tolist() == ["t\udc80x", "y"]
    html = res._repr_html_()
    html.encode("utf-8")
    assert "doc\ufffda" in html and "t\ufffdx" in html


def test_explanation_evaluation_comparison_frames_keep_ids_with_a_lone_surrogate():
    # ids, query ids and run names read from JSON as "d\ud800": Explanation.to_frame /
    # causes_frame, Evaluation.per_query and Comparison.to_frame / per_query failed with
    # UnicodeEncodeError under pandas 3 (str dtype stores UTF-8); kept as given now
    import vecdiag as vd

    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    ids = ["d\ud800", "b", "c", "e"]
    ex = vd.explain_neighbors(X[0], X, k=2, ids=ids, expected=["c"])
    frame = ex.to_frame()
    assert frame["id"].tolist() == ["d\ud800", "b", "c"]
    assert frame["rank"].tolist() == [1, 2, 4] and frame["expected"].tolist() == [False, False, True]
    assert ex.causes_frame()["code"].tolist() == [c.code for c in ex.causes]
    run = {"q\ud800": {"d\ud800": 1.0, "b": 0.5}, "q2": {"b": 1.0, "d\ud800": 0.5}}
    qrels = {"q\ud800": {"d\ud800": 1}, "q2": {"d\ud800": 1}}
    a = vd.evaluate(run, qrels, metrics=("mrr@10",), name="a\ud800")
    b = vd.evaluate({"q\ud800": {"b": 1.0}, "q2": {"d\ud800": 1.0}}, qrels,
                    metrics=("mrr@10",), name="b")
    assert a.per_query["mrr@10"].to_dict() == {"q\ud800": 1.0, "q2": 0.5}
    c = vd.compare(a, b, n_resamples=100)
    assert c.to_frame().loc["mrr@10", "a\ud800"] == 0.75
    assert c.to_frame().loc["mrr@10", "delta"] == -0.25
    assert c.per_query().loc["q\ud800", "delta"] == -1.0


def test_dataset_drift_overlap_duplicates_frames_keep_text_with_a_lone_surrogate(tmp_path):
    # a BEIR corpus.jsonl may carry "\ud800" escapes: Dataset.to_frame / queries_frame,
    # DriftResult/DriftSeries.to_frame (batch label), NeighborhoodChange.to_frame,
    # near_duplicates(...).to_frame and LongDocuments.to_frame failed with
    # UnicodeEncodeError under pandas 3; the text is kept as given now
    import vecdiag as vd
    from vecdiag.report.extras import LongDocuments

    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "d0", "title": "t", "text": "x\\udc80 y"}\n'
        '{"_id": "d1\\ud800", "title": "", "text": "z"}\n', encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text('{"_id": "qa", "text": "w\\ud800"}\n',
                                            encoding="utf-8")
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nqa\td0\t1\n")
    ds = vd.datasets.load_beir(tmp_path)
    frame = ds.to_frame()
    assert frame["id"].tolist() == ["d0", "d1\ud800"] and frame["relevant_for"].tolist() == [1, 0]
    assert frame["text"].tolist() == ["t. x\udc80 y", "z"]        # title joined
    assert ds.queries_frame()["text"].tolist() == ["w\ud800"]
    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    Y = np.random.default_rng(0).normal(size=(24, 2))
    series = vd.drift_over_time(Y[:12], {"b\ud800": Y[12:]}, n_permutations=20)
    assert series.to_frame()["label"].tolist() == ["b\ud800"]
    change = vd.neighborhood_change(X, X, k=1, ids=["a\ud800", "b", "c", "d"])
    assert change.to_frame()["id"].tolist() == ["a\ud800", "b", "c", "d"]
    groups = vd.near_duplicates(vd.Index([[1, 0], [0, 1], [1, 0.01]], ids=["a\ud800", "b", "c"]))
    assert groups.to_frame()["id"].tolist() == ["a\ud800", "c"]
    long = LongDocuments(count=1, n=2, max_tokens=4, token_counts=np.array([9, 2]),
                         longest=(("d\ud800", 9),))
    assert long.to_frame().to_dict("list") == {"id": ["d\ud800"], "tokens": [9]}


def test_neighbors_frame_keeps_integer_ids_as_integers():
    # an Index keeps its ids in an object array, and pandas infers nothing from one:
    # integer ids came out as an object column (dtype O), unlike the id-less frame's
    # int64 positions; all-integer ids now give int64, anything else stays as given
    import vecdiag as vd

    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    frame = vd.Index(X, ids=[10, 20, 30]).search(X[:1], k=2).to_frame()
    assert frame["id"].dtype == np.int64 and frame["id"].tolist() == [10, 20]
    frame = vd.Index(X).search(X[:1], k=2).to_frame(ids=np.array([7, 8, 9]))
    assert frame["id"].dtype == np.int64 and frame["id"].tolist() == [7, 8]
    mixed = vd.Index(X, ids=[10, "b", 30]).search(X[:1], k=2).to_frame()["id"]
    assert mixed.dtype == object and mixed.tolist() == [10, "b"]


def test_missing_texts_are_shown_empty_in_every_table_and_finding_label():
    """shorten(), behind every displayed text, turned a missing text into "None" / "nan":
    the Neighbors table printed them in its text column and diagnose named copies as
    "row 3: None = row 5: None = row 6: nan". A missing text now shows as nothing (the
    label is the row alone); a text that is the word "None" is still "None"."""
    import re

    import vecdiag as vd

    assert [shorten(t) for t in (None, float("nan"), np.float64("nan"), "None", " a  b ")] \
        == ["", "", "", "None", "a b"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6))
    X[5] = X[6] = X[3]
    texts = ["None" if i == 4 else None if i % 2 else float("nan") for i in range(20)]
    nb = vd.Index(X, texts=texts).search(X[[4]], k=3)
    cells = re.findall(r'<td style="text-align:left">([^<]*)</td>', nb._repr_html_())
    assert cells[1::2] == ["None", "", ""] and nb.indices[0, 0] == 4    # (id, text)
    d = vd.diagnose(X, texts=texts, show_progress=False)
    assert d["near_duplicates"].evidence["examples"] == ["row 3 = row 5 = row 6"]


def test_a_date_label_missing_in_numpy_reads_no_label():
    # a date column read through NumPy holds numpy.datetime64("NaT"), which
    # text_or_empty passed through as the text "NaT": a legend group "NaT", not "(no label)"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import vecdiag as vd
    from vecdiag.results import text_or_empty

    days = np.array(["2024-01-01", "NaT", "2024-01-02", "NaT"], dtype="datetime64[D]")
    assert [text_or_empty(d) for d in days] == ["2024-01-01", "", "2024-01-02", ""]
    assert text_or_empty(np.timedelta64("NaT")) == ""
    assert text_or_empty(np.timedelta64(3, "s")) == "3 seconds"
    ax = vd.pca(np.random.default_rng(9).normal(size=(4, 3))).plot(labels=days)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "(no label) (2)", "2024-01-01 (1)", "2024-01-02 (1)"]
    plt.close("all")


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"   # embeddings, overrides, isolates


def test_bidi_controls_in_user_strings_are_shown_as_codes_in_html_and_print():
    """A right-to-left override (U+202E) in an id was HTML-escaped but not neutralised: on
    the page it reversed the rest of the sentence ("rank 35" read "53"). Every HTML output
    (through escape, the default record table) and the printed explanation now show each
    bidi control as its code, as Python's repr writes it; the data keep the characters."""
    import vecdiag as vd

    assert escape("d" + BIDI + "<b>") == ("d\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066"
                                          "\\u2067\\u2068\\u2069&lt;b&gt;")
    assert escape("\u05e9\u05dc\u05d5\u05dd \u200f7") == "\u05e9\u05dc\u05d5\u05dd \u200f7"  # RTL text, marks kept
    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    ids = ["a", "b", "c\u202e", "e"]
    ex = vd.explain_neighbors(X[0], vd.Index(X, ids=ids), k=2, expected=["c\u202e"])
    assert ex.to_frame()["id"].tolist() == ["a", "b", "c\u202e"]          # data as given
    for shown in (ex._repr_html_(), str(ex), ex.causes[0]._repr_html_(),
                  ex.counterfactuals[0]._repr_html_(),
                  vd.Index(X, ids=ids).search(X[2:3], k=1)._repr_html_()):
        assert not set(BIDI) & set(shown)
        assert "c\\u202e" in shown
    assert "  expected 'c\\u202e': rank 4, score 0\n" in str(ex) + "\n"
    analysis = vd.report.analyze(np.random.default_rng(0).normal(size=(12, 3)),
                                 title="Demo \u202eevil", n_explain=0)
    assert vd.report.render_text(analysis).splitlines()[0] == "Demo \\u202eevil"


def test_one_query_reads_in_the_singular_wherever_queries_are_counted():
    """One judged query read "averaged over 1 queries", "paired over 1 queries", "1
    queries (1 judged queries not passed to try_fixes were left out ...)", "over 1 queries,
    0.02 ms a query", "a and b judge 1 shared queries differently" and "mine: 2 documents,
    1 queries, 1 relevance judgments"; every one counts through results.counted now."""
    import vecdiag as vd
    from vecdiag.commands._inputs import Inputs
    from vecdiag.datasets import Dataset
    from vecdiag.results import counted

    assert [counted(n, "query", "queries") for n in (0, 1, 2)] == ["0 queries", "1 query",
                                                                   "2 queries"]
    a = vd.evaluate({"q1": {"a": 1.0, "b": 0.5}}, {"q1": {"a": 1}}, name="a")
    b = vd.evaluate({"q1": {"b": 1.0, "a": 0.5}}, {"q1": {"a": 1}}, name="b")
    assert a.query_note() == "averaged over 1 query"
    assert vd.compare(a, b, n_resamples=100).query_note() == "paired over 1 query"
    other = vd.evaluate({"q1": {"a": 1.0}}, {"q1": {"b": 1}})
    with pytest.raises(ValueError, match="a and b judge 1 shared query differently"):
        vd.compare(a, other)
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(30, 4)), rng.normal(size=(1, 4))
    report = vd.try_fixes(Q, X, {"q0": {"d1": 1}, "q9": {"d2": 1}}, query_ids=["q0"],
                          doc_ids=[f"d{i}" for i in range(30)], fixes=["center"], k=10,
                          n_resamples=100)
    assert report.query_note() == ("1 query (1 judged query not passed to try_fixes was "
                                   "left out, not counted as 0)")
    mine = Dataset(name="mine", corpus_ids=["doc-7", "doc-9"], corpus_texts=["a", "b"],
                   query_ids=["q1"], query_texts=["c"], qrels={"q1": {"doc-7": 2}})
    assert mine.summary() == "mine: 2 documents, 1 query, 1 relevance judgment"
    inputs = Inputs(corpus=np.ones((1, 1)), queries=np.ones((1, 1)), qrels={"q": {"d": 1}},
                    name="c")
    assert inputs.description() == "c: 1 document × 1 dim, 1 query, 1 relevance judgment"
    faiss = pytest.importorskip("faiss")
    flat = faiss.IndexFlatIP(4)
    flat.add(X.astype(np.float32))
    audit = vd.audit(vd.stores.faiss(flat), Q.astype(np.float32), k=5)
    assert audit.to_text().splitlines()[2].startswith(
        "recall@5 1.000 (95% interval 0.265-1.000) over 1 query, ")


def test_a_long_id_without_spaces_wraps_in_its_cell_and_is_shown_whole():
    """A 300-character id (a hash, a URL) had no break opportunity: its cell stretched a
    result table, and the report's page, far past the screen. Text cells may now break
    anywhere (CSS overflow-wrap), numeric cells never; the id itself is shown whole."""
    import vecdiag as vd
    from vecdiag.report.html import _PAGE_STYLE

    X = np.random.default_rng(0).normal(size=(20, 4))
    ids = ["x" * 300 + str(i) for i in range(20)]
    html = vd.Index(X, ids=ids).search(X[:1], k=2)._repr_html_()
    assert ".vd-result td:not(.vd-num){overflow-wrap:anywhere}" in html
    assert f'<td style="text-align:left">{ids[0]}</td>' in html
    assert "td:not(.vd-num){overflow-wrap:anywhere}" in _PAGE_STYLE
