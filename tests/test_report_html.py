"""The HTML report: self-contained, escaped, in order, and rendered by a real browser.

The page is parsed with the standard library's HTMLParser (no script elements, no
event-handler attributes, no external URLs, every image a PNG data URI) and opened in
headless Chromium, whose console must stay silent (a script blocked by the page's
Content-Security-Policy, a failed fetch or a JS error would all log there).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from _reporting import HOSTILE, planted



class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.ids = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)
        self.ids.extend(v for k, v in attrs if k == "id")


@pytest.fixture(scope="module")
def analysis():
    from vecdiag.report import analyze

    X, Q, ids, texts, qids, qtexts, qrels = planted()
    return analyze(X, ids=ids, texts=texts, queries=Q, query_ids=qids, query_texts=qtexts,
                   qrels=qrels, query_groups=["a", "b"] * 12, n_explain=3,
                   title=f"report {HOSTILE}", description=f"about {HOSTILE}",
                   notes=[f"note {HOSTILE}"], show_progress=False)


@pytest.fixture(scope="module")
def page(analysis, tmp_path_factory):
    from vecdiag.report import write_report

    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, analysis, generated="2024-01-01 00:00 UTC")
    return path


def test_page_is_self_contained_and_escaped(page):
    html = page.read_text(encoding="utf-8")
    parsed = Collect()
    parsed.feed(html)
    assert "script" not in parsed.tags and "iframe" not in parsed.tags
    assert not [a for a in parsed.attrs if a[1].lower().startswith("on")]
    urls = [(t, k, v) for t, k, v in parsed.attrs if k in ("src", "href")]
    assert urls and all(v.startswith(("data:", "#")) for _, _, v in urls)
    images = [v for t, k, v in parsed.attrs if t == "img" and k == "src"]
    assert len(images) >= 2
    assert "could not be drawn" not in html            # every plot rendered
    for src in images:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count("&lt;script&gt;") >= 3          # title, note, texts: shown, not run


def test_sections_in_order(page, analysis):
    html = page.read_text(encoding="utf-8")
    order = [html.index(f'id="{s}"') for s in ("findings", "explanations", "metrics")]
    assert order == sorted(order)
    for case in analysis.cases:
        assert html.index('id="findings"') < html.index(case.explanation.top_ids[0].split("<")[0])
    codes = [f.code for f in analysis.diagnosis.findings]
    findings = html[order[0]:order[1]]
    assert all(code in findings for code in codes)


def test_report_without_queries_has_findings_only(tmp_path):
    from vecdiag.report import analyze, render_html, render_text, to_json

    X = planted()[0]
    a = analyze(X, show_progress=False)
    html = render_html(a)
    assert 'id="findings"' in html and 'id="explanations"' not in html and 'id="metrics"' not in html
    assert "Findings (" in render_text(a)
    assert json.loads(json.dumps(to_json(a)))["worst_queries"] == []


def test_qrels_without_a_relevant_document_are_refused_as_such():
    """Judgments whose every grade is 0 were refused only by the fix trials, after the
    health checks and the evaluation had run, in their words ("nothing for a fix to
    find"). The report now refuses them with its inputs, saying what it cannot do and
    that a report without qrels still checks the corpus."""
    from vecdiag.report import analyze

    X, Q, ids, texts, qids, qtexts, qrels = planted()
    zero = {q: {d: 0 for d in docs} for q, docs in qrels.items()}
    with pytest.raises(ValueError, match=r"qrels name no relevant document for the 24 judged "
                                         r"queries .* leave qrels out for a health report"):
        analyze(X, ids=ids, queries=Q, query_ids=qids, qrels=zero, show_progress=False)


def test_text_and_json_of_the_same_analysis(analysis):
    from vecdiag.report import render_text, to_json

    text = render_text(analysis, html_path="r.html")
    assert text.splitlines()[0] == analysis.title and "Full report: r.html" in text
    payload = json.loads(json.dumps(to_json(analysis)))
    assert [c["query_id"] for c in payload["worst_queries"]] == [c.query_id for c in analysis.cases]
    assert payload["metrics"]["mean"]["ndcg@10"] == pytest.approx(analysis.evaluation.mean["ndcg@10"])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(path, profile):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom"]
    proc = subprocess.run([CHROMIUM, *flags, path.as_uri()], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HOME": str(profile)})
    return proc


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_renders_without_console_errors(page, analysis, tmp_path):
    proc = run_chromium(page, tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    dom = proc.stdout
    parsed = Collect()
    parsed.feed(dom)
    assert "findings" in parsed.ids and "script" not in parsed.tags
    start = dom.index('id="findings"')
    table = dom[start:dom.index("</table>", start)]
    assert "<table" in table
    assert analysis.diagnosis.findings[0].code in table


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_would_report_a_broken_page(tmp_path):
    """The console check can fail: a page with a script error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>")
    proc = run_chromium(bad, tmp_path / "profile")
    assert any(":CONSOLE" in line for line in proc.stderr.splitlines())


def test_analyze_option_objects_equal_the_keywords():
    """analyze(options=AnalysisOptions(...), page=ReportText(...)) is the keyword call."""
    import numpy as np

    from vecdiag.report.analysis import AnalysisOptions, ReportText, analyze

    X = np.random.default_rng(9).normal(size=(60, 8))
    a = analyze(X, k=4, title="T", notes=("n",), show_progress=False)
    b = analyze(X, options=AnalysisOptions(k=4, show_progress=False),
                page=ReportText(title="T", notes=("n",)))
    assert (a.title, a.notes, a.diagnosis.k) == (b.title, b.notes, b.diagnosis.k) == ("T", ("n",), 4)
    with pytest.raises(ValueError, match="k either as keywords or in options="):
        analyze(X, k=3, options=AnalysisOptions(k=4))
    with pytest.raises(TypeError, match="ReportText"):
        analyze(X, page={"title": "T"})


def test_text_does_not_say_low_rank_when_the_expected_documents_are_in_the_top_k():
    # the worst queries can still be perfect: their expected documents at rank 1, no cause;
    # the text said "no cause found: the vectors themselves rank it low" all the same
    import numpy as np

    from vecdiag.report import analyze, render_text

    rng = np.random.default_rng(8)
    X = rng.normal(size=(60, 8))
    Q = X[:3] + 0.01 * rng.normal(size=(3, 8))
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(3)}
    a = analyze(X, ids=[f"d{i}" for i in range(60)], queries=Q, query_ids=list(qrels),
                qrels=qrels, n_explain=3, fixes=False, show_progress=False)
    nearest = np.argmax((Q / np.linalg.norm(Q, axis=1, keepdims=True))
                        @ (X / np.linalg.norm(X, axis=1, keepdims=True)).T, axis=1)
    assert nearest.tolist() == [0, 1, 2]          # each query's expected document is first
    assert len(a.cases) == 3 and not any(c.explanation.causes for c in a.cases)
    text = render_text(a)
    assert "rank it low" not in text
    assert text.count("no cause found: the ranking looks healthy") == 3


def test_judgments_keyed_by_int_ids_reach_the_explained_queries():
    # ids and query_ids were read as strings but qrels kept their int keys: the worst
    # queries were explained with no expected document ("relevant: none") although each
    # has one, while the metrics (which read the qrels as strings) counted it
    import numpy as np

    from vecdiag.report import analyze

    rng = np.random.default_rng(9)
    X = rng.normal(size=(50, 6))
    Q = rng.normal(size=(4, 6))
    qrels = {q: {100 + 7 * q: 1} for q in range(4)}
    a = analyze(X, ids=[100 + i for i in range(50)], queries=Q, query_ids=list(range(4)),
                qrels=qrels, n_explain=4, fixes=False, show_progress=False,
                token_counts=[600] * 50, max_tokens=512)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert len(a.cases) == 4
    for case in a.cases:
        q = int(case.query_id)
        row = 7 * q
        scores = unit @ (Q[q] / np.linalg.norm(Q[q]))
        rank = 1 + int(np.sum(scores > scores[row]))       # no ties in random data
        assert case.relevant == [str(100 + row)]
        assert [(e.id, e.rank) for e in case.explanation.expected] == [(str(100 + row), rank)]
        assert case.truncated == ((str(100 + row), 600),)


@pytest.mark.parametrize("n_explain, error, match", [
    (-1, ValueError, "n_explain must be at least 0, got -1"),
    (2.5, TypeError, "n_explain must be an integer, got float 2.5")])
def test_a_bad_n_explain_is_refused_naming_it(n_explain, error, match):
    # the loop stopped at len(cases) == n_explain, which -1 or 2.5 never equal: every
    # query was explained (one explain_neighbors each), with no word of the mistake
    import numpy as np

    from vecdiag.report import analyze

    rng = np.random.default_rng(10)
    X = rng.normal(size=(30, 5))
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(6)}
    with pytest.raises(error, match=match):
        analyze(X, ids=[f"d{i}" for i in range(30)], queries=X[:6] + 0.1, query_ids=list(qrels),
                qrels=qrels, n_explain=n_explain, fixes=False, show_progress=False)


def test_one_note_given_as_a_string_is_one_note():
    # notes="..." was read as a sequence: the page showed one note per letter
    import numpy as np

    from vecdiag.report import analyze, render_html, render_text

    X = np.random.default_rng(11).normal(size=(30, 5))
    note = "vectors from <b>prod</b>, 2024"
    a = analyze(X, notes=note, show_progress=False)
    assert a.notes == (note,)
    page = render_html(a, generated="x")
    parsed = Collect()
    parsed.feed(page)
    assert page.count('<p class="note">') == 1 and "b" not in parsed.tags
    assert "note: vectors from <b>prod</b>, 2024" in render_text(a)
    with pytest.raises(TypeError, match="title must be a string, got NoneType"):
        analyze(X, title=None, show_progress=False)


def test_query_ids_of_the_wrong_length_are_measured_against_the_queries():
    """3 queries with one id: the error said "the corpus has 3 rows" (the corpus has 40)."""
    import numpy as np

    from vecdiag.report.analysis import analyze

    X = np.random.default_rng(0).normal(size=(40, 4))
    with pytest.raises(ValueError, match=r"query_ids has 1 entry but queries has 3 rows"):
        analyze(X, queries=X[:3], query_ids=["q0"])


@pytest.mark.parametrize("counts, max_tokens, error, match", [
    # a NaN count (a pandas column with a gap) was cast to -2**63 with a RuntimeWarning
    # and its document counted as fitting; 1.5 was cut to 1; -1 taken as a count
    ([np.nan] + [600] * 19, 512, ValueError, r"token_counts holds no token count at 1 row \(0\): nan"),
    ([1.5] * 20, 512, ValueError, r"token_counts holds no token count at 20 rows \(first: 0, 1, 2"),
    ([600] * 19 + [-1], 512, ValueError, r"token_counts holds no token count at 1 row \(19\): -1"),
    (["600"] * 20, 512, TypeError, r"token_counts must be numbers of tokens .*dtype <U3"),
    # max_tokens="512" failed deep in NumPy ('ufunc greater did not contain a loop'),
    # inf with 'cannot convert float infinity to integer', 0 or 2.5 said "0-token limit"
    ([600] * 20, "512", TypeError, r"max_tokens must be an integer, got str '512'"),
    ([600] * 20, np.inf, TypeError, r"max_tokens must be an integer, got float inf"),
    ([600] * 20, 2.5, TypeError, r"max_tokens must be an integer, got float 2.5"),
    ([600] * 20, 0, ValueError, r"max_tokens must be at least 1, got 0"),
])
def test_bad_token_counts_or_limit_are_refused_naming_them(counts, max_tokens, error, match):
    from vecdiag.report import analyze

    X = np.random.default_rng(12).normal(size=(20, 5))
    with pytest.raises(error, match=match):
        analyze(X, token_counts=counts, max_tokens=max_tokens, show_progress=False)


def test_token_counts_held_as_whole_floats_are_counted():
    from vecdiag.report import analyze

    counts = np.random.default_rng(13).integers(100, 1000, size=20)
    X = np.random.default_rng(12).normal(size=(20, 5))
    a = analyze(X, token_counts=counts.astype(float), max_tokens=np.int64(512),
                show_progress=False)
    over = np.flatnonzero(counts > 512)
    assert a.long_documents.count == over.size
    assert [int(d) for d, _ in a.long_documents.longest] == \
        sorted(over.tolist(), key=lambda r: (-counts[r], r))[:10]


def test_judged_documents_the_corpus_lacks_count_as_missed_and_are_not_explained():
    # qrels of a whole collection over a sample of its corpus: analyze failed in
    # explain_neighbors with "expected has 1 document not in the corpus: 'gone'", an
    # argument the caller never passed; the CLI drops such judgments, the API had no answer
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from vecdiag.report import analyze, render_html

    rng = np.random.default_rng(14)
    X = rng.normal(size=(40, 8))
    Q = X[:4] + 0.9 * rng.normal(size=(4, 8))
    ids, qids = [f"d{i}" for i in range(40)], [f"q{i}" for i in range(4)]
    qrels = {q: {ids[i]: 1, "gone": 2} for i, q in enumerate(qids)}
    a = analyze(X, ids=ids, queries=Q, query_ids=qids, qrels=qrels, k=5, n_explain=4,
                fixes=False, show_progress=False)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ unit.T
    run = {q: {ids[j]: float(S[i, j]) for j in range(40)} for i, q in enumerate(qids)}
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map"}).evaluate(run)
    assert a.evaluation.mean["ndcg@10"] == pytest.approx(
        np.mean([r["ndcg_cut_10"] for r in ref.values()]), abs=1e-9)
    assert a.evaluation.mean["map"] == pytest.approx(
        np.mean([r["map"] for r in ref.values()]), abs=1e-9)
    for case in a.cases:
        i = qids.index(case.query_id)
        want = 1 + int(np.sum(S[i] > S[i, i]))
        assert [(e.id, e.rank) for e in case.explanation.expected] == [(ids[i], want)]
    assert any("1 document judged relevant is not in the corpus (first: gone)" in n
               for n in a.notes)
    assert "first: gone" in render_html(a, generated="x")


def test_a_lone_surrogate_in_the_inputs_is_written_as_the_replacement_character(tmp_path):
    # a broken "\ud800" escape in a BEIR corpus.jsonl is decoded by json.loads to a lone
    # surrogate, which no UTF-8 file can hold: write_report (and `vecdiag report`) failed
    # after the whole analysis with "surrogates not allowed"
    from vecdiag.report import analyze, write_report

    broken = json.loads('"caf\\ud800e"')
    rng = np.random.default_rng(15)
    X = rng.normal(size=(20, 4))
    ids, qids = [f"d{i}" for i in range(20)], ["q0", "q1"]
    a = analyze(X, ids=ids, texts=[f"text {i} {broken}" for i in range(20)],
                queries=X[[19, 3]] + 0.1, query_ids=qids, query_texts=[broken, "plain"],
                qrels={"q0": {ids[19]: 1}, "q1": {"d3": 1}}, k=3, n_explain=2, fixes=False,
                show_progress=False)
    path = tmp_path / "report.html"
    write_report(path, a, generated="x")
    page = path.read_bytes().decode("utf-8")              # strict: valid UTF-8 throughout
    assert "text 19 caf\ufffde" in page and "“caf\ufffde”" in page   # a text, the query
    assert "\ud800" not in page


def test_text_lists_the_expected_document_a_cause_names():
    # Cranfield query 124 (four relevant documents): the text listed the first three in
    # qrels order (967, 968, 964) while the expected_far cause named the fourth (965).
    # Planted: three near misses (ranks 6-8, graded 2) and a far one (rank 56 of 60,
    # graded 1, so last in qrels order); expected_far names the far one.
    import numpy as np

    from vecdiag.report import analyze, render_text

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8))
    ids = [f"d{i}" for i in range(60)]
    Q = X[:1] + 0.1 * rng.normal(size=(1, 8))
    cos = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (Q[0] / np.linalg.norm(Q[0]))
    order = np.lexsort((np.arange(60), -cos))
    near, far = [ids[r] for r in order[5:8]], ids[order[55]]
    a = analyze(X, ids=ids, queries=Q, query_ids=["q0"], k=5, n_explain=1, fixes=False,
                qrels={"q0": {**{d: 2 for d in near}, far: 1}}, show_progress=False)
    exp = a.cases[0].explanation
    assert [e.id for e in exp.expected] == sorted(near) + [far]
    assert exp.causes[0].code == "expected_far" and exp.causes[0].summary.startswith(far + " ")
    lines = render_text(a).split("explained:")[1].splitlines()
    listed = [line.split()[1].rstrip(":") for line in lines if line.strip().startswith("expected ")]
    assert listed == near + [far]                  # by rank: 6, 7, 8, then the one named
    assert f"expected {far}: rank 56, score {exp.expected[3].score:.4g}" in "\n".join(lines)
    top = [line for line in lines if line.strip().startswith("top-5: ")]
    assert top == [f"       top-5: {', '.join(ids[r] for r in order[:5])}"]


def test_case_header_says_how_many_relevant_documents_it_leaves_out(monkeypatch):
    # "relevant: d20, ..., d27" showed the first 8 of 12 with nothing saying so
    import re

    import numpy as np

    from vecdiag.report import analyze, render_html

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8))
    rel = {f"d{i}": 1 for i in range(20, 32)}
    a = analyze(X, ids=[f"d{i}" for i in range(60)], queries=X[:1] + 0.1 * rng.normal(size=(1, 8)),
                query_ids=["q0"], qrels={"q0": rel}, k=5, n_explain=1, fixes=False,
                show_progress=False)
    monkeypatch.setattr("vecdiag.report.html.figure_png", lambda obj: None)  # tables only
    head = re.search(r"relevant: [^<]*", render_html(a, generated="now")).group(0)
    assert head == "relevant: " + ", ".join(sorted(rel)[:8]) + ", ... (12 in all)"


def test_per_query_table_lists_the_explained_queries_first(monkeypatch):
    # the table sorted by the first metric alone (ties in input order) while the explained
    # queries break ties by the other metrics, then id: on Cranfield the page explained
    # 124, 216, 22 under a "Lowest ndcg@10" table starting 103, 113, 115 (22 not in it)
    import re

    import numpy as np

    from vecdiag.report import analyze, render_html

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 8))
    Q = X[:3] + 0.05 * rng.normal(size=(3, 8))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    ranked = [np.lexsort((np.arange(60), -(U @ q))) for q in Q]
    ids = [f"d{i}" for i in range(60)]
    qrels = {f"q{i}": {ids[ranked[i][r - 1]]: 1} for i, r in enumerate((5, 20, 8))}
    a = analyze(X, ids=ids, queries=Q, query_ids=list(qrels), qrels=qrels, k=5, n_explain=2,
                metrics=("ndcg@3", "ndcg@10"), fixes=False, show_progress=False)
    assert a.evaluation.per_query["ndcg@3"].tolist() == [0, 0, 0]
    assert [c.query_id for c in a.cases] == ["q1", "q2"]      # rank 20, then rank 8
    monkeypatch.setattr("vecdiag.report.html.figure_png", lambda obj: None)  # tables only
    table = render_html(a, generated="now").split("<h3>Lowest ndcg@3, per query</h3>")[1]
    assert table.lstrip().startswith("<p>The 3 worst of 3 queries; ties broken by the other")
    rows = re.findall(r"<tr><td[^>]*>(q\d)</td>", table.split("</table>")[0])
    assert rows == ["q1", "q2", "q0"]


def test_text_never_cuts_an_id_at_its_hyphen():
    # the demo's "top-10: acct-transfer, ..., bill-" / "plans, ..." (and "arch-wifi-" /
    # "guest" in a cause): textwrap broke lines at hyphens, inside document ids
    import numpy as np

    from vecdiag.report import analyze, render_text

    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 8))
    ids = [f"kb-{i}-aa-bb-cc-dd-ee-ff-gg" for i in range(40)]
    a = analyze(X, ids=ids, queries=X[:1] + 0.3 * rng.normal(size=(1, 8)), query_ids=["q0"],
                qrels={"q0": {ids[30]: 1}}, k=10, n_explain=1, fixes=False, show_progress=False)
    text = render_text(a)
    top = a.cases[0].explanation.top_ids
    listed = " ".join(text.split("top-10: ")[1].split(" expected ")[0].split())
    assert listed.split(", ") == top
    assert not any(line.rstrip().endswith("-") for line in text.splitlines())


def test_an_all_zero_query_under_dot_is_marked_and_said_not_explained():
    """An all-zero query under dot was passed over by the explanations without a word,
    yet listed second in the per-query table: it is now named in the notes (text, HTML,
    JSON) and its table row says why it was not explained."""
    from vecdiag.report import analyze, render_html, render_text, to_json

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6))
    Q = X[:4] + 0.1 * rng.normal(size=(4, 6))
    Q[2] = 0.0
    qrels = {"q0": {"d0": 1}, "q1": {"d9": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
    a = analyze(X, ids=[f"d{i}" for i in range(30)], queries=Q, query_ids=list(qrels),
                qrels=qrels, metric="dot", k=5, n_explain=2, fixes=False, show_progress=False)
    assert [c.query_id for c in a.cases] == ["q1", "q0"]     # q2 (second worst) passed over
    assert a.unexplained == ("q2",)
    assert a.evaluation.per_query.loc["q2", "map"] == pytest.approx(1 / 18)  # still scored
    note = ("Judged query q2 is all zeros: under dot it scores 0 against every document, "
            "so its ranking is only the tie order; counted in the metrics (ndcg@10 included) "
            "but not explained.")
    assert note in a.notes[-1]
    assert note in " ".join(render_text(a).split())
    assert to_json(a)["unexplained_queries"] == ["q2"]
    page = render_html(a, generated="x")
    assert ('<td style="text-align:left">q2</td>' in page
            and page.count("all-zero vector: scores 0 against every document") == 1)


def test_the_text_report_has_the_counterfactual_rows_of_the_html(analysis):
    """The HTML of each explained query has a counterfactual table (what each fix would
    change); the terminal report of the same query said nothing of it. It now lists,
    per fix, each expected document's rank now -> after and the judged metric change,
    from the same records the HTML reads."""
    from vecdiag.report import render_text

    text = " ".join(render_text(analysis).split())
    assert text.count("what each fix would change (expected rank now -> after") == len(
        analysis.cases)
    for case in analysis.cases:
        exp = case.explanation
        plain = " ".join(str(exp).split())         # print(explanation): the same rows
        now = {e.id: e.rank for e in exp.expected}
        assert len(now) <= 3     # (one rank each; more are summed up, as in the HTML)
        for c in exp.counterfactuals:
            row = f"{c.fix}: " + "; ".join(f"{i}: {now[i]} -> {c.expected_ranks[i]}"
                                           for i in now)
            if c.global_delta is not None:
                row += f"; Δ {c.global_delta:+.4f} (p "
            assert row in text and row in plain
        assert [c.global_delta is not None for c in exp.counterfactuals].count(True) >= 1


def test_missing_texts_in_a_report_are_no_text_not_the_words_none_and_nan():
    """analyze turned every text with str(): a query text None or NaN (a pandas column
    with gaps) was quoted as “None” / “nan” in the text, JSON and HTML report, and read
    by BM25 and the hybrid fix as the word; a missing document text likewise. They are
    now empty, and a query whose text is the word "None" is still quoted."""
    from vecdiag.report import analyze, render_text, to_json

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8))
    ids, qids = [f"d{i}" for i in range(40)], ["q0", "q1", "q2"]
    texts = [None if i % 5 == 0 else float("nan") if i % 7 == 0 else f"doc {i}"
             for i in range(40)]
    a = analyze(X, ids=ids, texts=texts, queries=X[[10, 11, 12]] + 0.5, query_ids=qids,
                query_texts=[None, float("nan"), "None"], k=5, show_progress=False,
                qrels={q: {f"d{i + 20}": 1} for i, q in enumerate(qids)}, fixes=[])
    assert {c.query_id: c.query_text for c in a.cases} == {"q0": "", "q1": "", "q2": "None"}
    assert sorted(c["query_text"] for c in to_json(a)["worst_queries"]) == ["", "", "None"]
    quoted = [line.split("“")[1].split("”")[0] for line in render_text(a).splitlines()
              if "“" in line]
    assert quoted == ["None"]
    shown = {t for c in a.cases for t in c.explanation.top_texts}
    assert "None" not in shown and "nan" not in shown and "" in shown


def test_the_json_report_has_what_each_fix_would_change(analysis):
    """vecdiag report --json gave each worst query's causes and recommendation but not
    the counterfactual table the HTML and text show; each query now carries, per fix,
    the expected documents' ranks after it, whether the top-k moves and the judged
    change (valid JSON: no NaN)."""
    from vecdiag.report import to_json

    out = json.loads(json.dumps(to_json(analysis), allow_nan=False))
    assert len(out["worst_queries"]) == len(analysis.cases) == 3
    for row, case in zip(out["worst_queries"], analysis.cases):
        want = [(c.fix, c.moved, {str(d): int(r) for d, r in c.expected_ranks.items()},
                 c.global_delta) for c in case.explanation.counterfactuals]
        got = [(c["fix"], c["moved"], {str(e["id"]): e["rank"] for e in c["expected_ranks"]},
                c["global_delta"]) for c in row["counterfactuals"]]
        assert got == want and len(got) >= 5


def test_missing_query_groups_are_one_no_label_group():
    # query_groups from a pandas column with gaps: None joined the real group "None"
    # (mean over both), and NaN and pd.NA made groups "nan" and "<NA>" of their own
    import pandas as pd

    from vecdiag.report import analyze
    from vecdiag.report.text import render_text

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    Q = X[:6] + 0.3 * rng.normal(size=(6, 6))
    qids = [f"q{i}" for i in range(6)]
    qrels = {q: {f"d{i}": 1} for i, q in enumerate(qids)}
    groups = pd.Series(["a", None, np.nan, "None", pd.NA, "a"], dtype=object)
    a = analyze(X, ids=[f"d{i}" for i in range(40)], queries=Q, query_ids=qids, qrels=qrels,
                query_groups=groups, n_explain=0, show_progress=False)
    per_query = a.evaluation.per_query[a.rank_metric]
    expected = {"a": per_query[["q0", "q5"]].mean(), "(no label)": per_query[
        ["q1", "q2", "q4"]].mean(), "None": per_query["q3"]}
    assert a.groups.keys() == expected.keys()
    assert [a.groups[g] for g in expected] == pytest.approx(list(expected.values()))
    assert "(no label)" in render_text(a) and "<NA>" not in render_text(a)


def test_the_fix_table_of_the_text_report_gives_every_mean_to_4_decimals():
    """The terminal report's fix table printed the means through fmt, which drops trailing
    zeros: "baseline ndcg@10 0.107" above "deduplicate ndcg@10 0.107  +0.0000" and
    "all_but_the_top ndcg@10 0.083  -0.0240", so the columns did not line up. Every mean
    is now 4 decimals (a run without a mean, NaN, shows "—")."""
    from types import SimpleNamespace as NS

    from vecdiag.report.text import fix_lines

    def ev(mean):
        return NS(mean={"ndcg@10": mean})

    report = NS(primary_metric="ndcg@10", order=["baseline", "all_but_the_top", "csls"],
                evaluations={"baseline": ev(0.107), "all_but_the_top": ev(0.083),
                             "csls": ev(float("nan"))},
                comparisons={"all_but_the_top": NS(delta={"ndcg@10": -0.024},
                                                   significant={"ndcg@10": False},
                                                   p_adjusted={"ndcg@10": 0.3276})},
                best=None, failed={})
    assert fix_lines(report)[:3] == [
        "  baseline                 ndcg@10 0.1070",
        "  all_but_the_top          ndcg@10 0.0830  -0.0240  p=0.328  -",
        "  csls                     ndcg@10 —"]


def test_a_relevant_document_one_token_past_the_limit_reads_in_the_singular():
    """The report's truncation line read "its last 1 tokens were never embedded"."""
    from types import SimpleNamespace as NS

    from vecdiag.report.text import truncation_lines

    case = NS(truncated=[("guide-a", 257), ("guide-b", 300)])
    assert truncation_lines(case, 256) == [
        "! guide-a has 257 tokens but the model reads 256: its last token was never embedded",
        "! guide-b has 300 tokens but the model reads 256: its last 44 tokens were never "
        "embedded"]
