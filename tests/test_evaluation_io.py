"""TREC run/qrels files (checked against pytrec_eval's parser) and the `vecdiag eval` gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.cli import main


def _pytrec_eval():
    """pytrec_eval, imported by the tests that compare with it (the hand-computed cases run
    without it; under CI=true its absence fails the run, see tests/conftest.py)."""
    return pytest.importorskip("pytrec_eval")


def _write(path, text):
    path.write_text(text)
    return path


def test_load_run_equals_pytrec_eval_parser(tmp_path, rng):
    lines = [f"q{q} Q0 doc{d} {r} {rng.normal():.17g} tag"
             for q in range(5) for r, d in enumerate(rng.choice(50, 20, replace=False), 1)]
    f = _write(tmp_path / "run.txt", "\n".join(lines) + "\n")
    with open(f) as handle:
        ref = _pytrec_eval().parse_run(handle)
    assert vd.load_run(f) == {q: dict(d) for q, d in ref.items()}


def test_load_qrels_trec_and_beir(tmp_path):
    trec = _write(tmp_path / "qrels.txt", "1 0 d1 2\n1 0 d2 0\n2 0 d1 1\n")
    with open(trec) as handle:
        ref = _pytrec_eval().parse_qrel(handle)
    assert vd.load_qrels(trec) == {q: dict(d) for q, d in ref.items()}
    beir = _write(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t0\n2\td1\t1\n")
    assert vd.load_qrels(beir) == vd.load_qrels(trec)
    no_header = _write(tmp_path / "plain.tsv", "1\td1\t2\n")
    assert vd.load_qrels(no_header) == {"1": {"d1": 2}}


def test_save_then_load_gives_the_same_evaluation(tmp_path, rng):
    run = {f"q{q}": {f"d{d}": float(rng.normal()) for d in range(30)} for q in range(8)}
    run["q0"]["d3"] = run["q0"]["d4"]  # a tie survives the round trip
    qrels = {f"q{q}": {f"d{d}": int(rng.integers(0, 3)) for d in range(0, 30, 3)} for q in range(8)}
    path = tmp_path / "run.txt"
    vd.save_run(run, path, tag="mine")
    assert vd.load_run(path) == run
    first = path.read_text().splitlines()[0].split()
    assert first[1] == "Q0" and first[3] == "1" and first[5] == "mine"
    before = vd.evaluate(run, qrels, metrics=["ndcg@10", "map"])
    after = vd.evaluate(vd.load_run(path), qrels, metrics=["ndcg@10", "map"])
    assert np.array_equal(before.values, after.values)
    vd.save_run(run, path, k=5)
    assert all(len(d) == 5 for d in vd.load_run(path).values())


def test_save_run_from_neighbors(tmp_path):
    nb = vd.knn([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], k=3)
    path = tmp_path / "run.txt"
    vd.save_run((nb, ["q"], ["a", "b", "c"]), path)
    assert [line.split()[2] for line in path.read_text().splitlines()] == ["a", "c", "b"]


@pytest.mark.parametrize("text, words", [
    ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 1 0.5\n", "line 2: expected 6 fields"),
    ("q1 Q0 d1 1 high t\n", "line 1: score 'high' is not a number"),
    ("\nq1 Q0 d1 1 nan t\n", "line 2: score 'nan' is not finite"),
    ("q1 Q0 d1 one 0.5 t\n", "line 1: rank 'one' is not an integer"),
    ("q1 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n", "line 2: document 'd1' appears twice"),
])
def test_malformed_run_lines_name_their_line(tmp_path, text, words):
    f = _write(tmp_path / "bad.run", text)
    with pytest.raises(ValueError, match=words) as err:
        vd.load_run(f)
    assert "bad.run" in str(err.value)


@pytest.mark.parametrize("text, words", [
    ("1 0 d1 1\n1 0 d2\n", "line 2: expected 4 fields"),
    ("1 0 d1 yes\n", "line 1: relevance 'yes' is not an integer"),
    ("1 0 d1 1\n1 0 d1 2\n", "line 2: document 'd1' is judged twice"),
    ("query-id\tcorpus-id\tscore\n1\td1\t1.5\n", "line 2: relevance '1.5' is not an integer"),
    ("query-id\tcorpus-id\tscore\n1\td1\n", "line 2: expected 3 tab-separated fields"),
])
def test_malformed_qrels_lines_name_their_line(tmp_path, text, words):
    f = _write(tmp_path / "bad.qrels", text)
    with pytest.raises(ValueError, match=words):
        vd.load_qrels(f)


def test_missing_files_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        vd.load_run(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="format must be"):
        vd.load_qrels(tmp_path / "x", format="csv")
    with pytest.raises(ValueError, match="whitespace"):
        vd.save_run({"q 1": {"d": 1.0}}, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()  # nothing written on failure
    with pytest.raises(ValueError, match="tag"):
        vd.save_run({"q": {"d": 1.0}}, tmp_path / "out.txt", tag="two words")


def test_save_run_k_takes_numpy_integers_and_refuses_non_integers(tmp_path):
    """k=np.int64(1) (a k read from an array) was refused as 'not a positive integer'."""
    vd.save_run({"q": {"a": 1.0, "b": 2.0, "c": 3.0}}, tmp_path / "out.txt", k=np.int64(2))
    assert (tmp_path / "out.txt").read_text().split("\n")[:2] == \
        ["q Q0 c 1 3.0 vecdiag", "q Q0 b 2 2.0 vecdiag"]
    with pytest.raises(TypeError, match="k must be an integer"):
        vd.save_run({"q": {"a": 1.0}}, tmp_path / "out.txt", k=2.0)
    with pytest.raises(ValueError, match="k must be at least 1"):
        vd.save_run({"q": {"a": 1.0}}, tmp_path / "out.txt", k=0)


# -- the command line --------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(5)
    qrels = {f"q{i}": {f"d{j}": int(rng.integers(0, 3)) for j in range(10)} for i in range(30)}
    for docs in qrels.values():
        docs["d0"] = 2
    with open(tmp_path / "qrels.txt", "w") as handle:
        for q, docs in qrels.items():
            for d, r in docs.items():
                handle.write(f"{q} 0 {d} {r}\n")
    good = {q: {d: r + float(rng.random()) for d, r in docs.items()} for q, docs in qrels.items()}
    noisy = {q: {d: float(rng.random()) for d in docs} for q, docs in qrels.items()}
    vd.save_run(good, tmp_path / "good.run")
    vd.save_run(noisy, tmp_path / "noisy.run")
    return tmp_path


def test_eval_prints_metrics(files, capsys):
    assert main(["eval", str(files / "good.run"), str(files / "qrels.txt")]) == 0
    out = capsys.readouterr().out
    assert "averaged over 30 queries" in out and "ndcg@10" in out


def test_eval_gate_fails_on_a_significant_regression(files, capsys):
    code = main(["eval", str(files / "noisy.run"), str(files / "qrels.txt"), "--baseline",
                 str(files / "good.run"), "--fail-on-regression", "--n-resamples", "2000"])
    captured = capsys.readouterr()
    assert code == 1
    assert "WORSE" in captured.out and "significant drop" in captured.err


def test_eval_gate_passes_without_regression(files, capsys):
    args = ["eval", str(files / "good.run"), str(files / "qrels.txt"), "--baseline",
            str(files / "noisy.run"), "--fail-on-regression", "--json", "--n-resamples", "500"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["failed"] is False and payload["baseline"]["improvements"]
    same = ["eval", str(files / "good.run"), str(files / "qrels.txt"), "--baseline",
            str(files / "good.run"), "--fail-on-regression"]
    assert main(same) == 0


def test_eval_errors_exit_2(files, capsys):
    bad = _write(files / "bad.run", "q1 Q0 d1 1 x t\n")
    assert main(["eval", str(bad), str(files / "qrels.txt")]) == 2
    assert "bad.run line 1" in capsys.readouterr().err
    assert main(["eval", str(files / "good.run"), str(files / "qrels.txt"),
                 "--fail-on-regression"]) == 2
    assert "needs --baseline" in capsys.readouterr().err
    assert main(["eval", str(files / "missing.run"), str(files / "qrels.txt")]) == 2
    assert main(["eval", str(files / "good.run"), str(files / "qrels.txt"),
                 "--metrics", "bleu"]) == 2
    assert "unknown metric" in capsys.readouterr().err


def test_eval_names_an_empty_qrels_or_run_file_not_the_ids(files, capsys):
    """An empty or header-only QRELS (and an empty RUN with --missing skip) was reported
    as "no query of the qrels is left to average; check that the query ids of run and
    qrels match": a fix for another problem."""
    good, qrels = str(files / "good.run"), str(files / "qrels.txt")
    for name, text in (("empty.txt", ""), ("header.tsv", "query-id\tcorpus-id\tscore\n")):
        empty = str(_write(files / name, text))
        assert main(["eval", good, empty]) == 2
        assert capsys.readouterr().err == (f"vecdiag eval: error: QRELS {empty} holds no "
                                           "judgment; pass a file of 'query iteration doc "
                                           "relevance' lines (or BEIR's TSV)\n")
    empty_run = str(_write(files / "empty.run", ""))
    assert main(["eval", empty_run, qrels, "--missing", "skip"]) == 2
    assert capsys.readouterr().err == (f"vecdiag eval: error: RUN {empty_run} holds no result "
                                       "line; with --missing skip there is no query to "
                                       "average\n")
    other = str(_write(files / "other.run", "x1 Q0 d0 1 1.0 t\n"))
    assert main(["eval", other, qrels, "--missing", "skip"]) == 2
    assert "check that the query ids of run and qrels match" in capsys.readouterr().err

def test_trec_files_with_a_byte_order_mark_and_odd_grades(tmp_path):
    """A byte-order mark is not part of the first query id (it made that query unknown
    and halved nDCG); a first line with a grade of 0.5 is data, refused, not skipped as
    a header; grades are read exactly, large or written as 2.0."""
    run, qrels = tmp_path / "run.txt", tmp_path / "qrels.txt"
    run.write_text("\ufeffq1 Q0 d1 1 1.0 t\nq2 Q0 d2 1 1.0 t\n", encoding="utf-8")
    qrels.write_text("\ufeffq1 0 d1 1\nq2 0 d2 2.0\n", encoding="utf-8")
    assert list(vd.load_run(run)) == ["q1", "q2"]
    assert vd.load_qrels(qrels) == {"q1": {"d1": 1}, "q2": {"d2": 2}}
    assert vd.evaluate(vd.load_run(run), vd.load_qrels(qrels),
                       metrics=("ndcg@10",)).mean["ndcg@10"] == 1.0
    beir = tmp_path / "q.tsv"
    beir.write_text("q1\td1\t0.5\nq2\td2\t2\n")
    with pytest.raises(ValueError, match=r"q.tsv line 1: relevance '0.5' is not an integer"):
        vd.load_qrels(beir)
    beir.write_text("query-id\tcorpus-id\tscore\nq1\td1\t12345678901234567891\n")
    assert vd.load_qrels(beir) == {"q1": {"d1": 12345678901234567891}}
    run.write_bytes("q\u00e9 Q0 d1 1 1.0 t\n".encode("latin-1"))
    with pytest.raises(ValueError, match="run.txt is not UTF-8 text"):
        vd.load_run(run)


def test_numbers_are_read_as_trec_eval_reads_them(tmp_path):
    """Python reads "1_0" as 10 and Arabic-Indic "٣" as 3; trec_eval's atof/atol read 1
    and 0. Such fields are refused with their line instead of read differently."""
    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 d1 1 1_0 tag\n", encoding="utf-8")
    with pytest.raises(ValueError, match="score '1_0' is not a number"):
        vd.load_run(run)
    run.write_text("q1 Q0 d1 ٣ 1.5 tag\n", encoding="utf-8")
    with pytest.raises(ValueError, match="rank '٣' is not an integer"):
        vd.load_run(run)
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1_0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1_0"):
        vd.load_qrels(qrels)
    qrels.write_text("q1 0 d1 2.0\nq1 0 d2 -1\nq1 0 d3 1e0\n", encoding="utf-8")
    assert vd.load_qrels(qrels) == {"q1": {"d1": 2, "d2": -1, "d3": 1}}


def test_save_run_into_a_missing_folder_names_the_path(tmp_path):
    target = tmp_path / "no" / "run.txt"
    with pytest.raises(FileNotFoundError, match="the folder .* does not exist") as err:
        vd.save_run({"q": {"d": 1.0}}, target)
    assert str(target) in str(err.value) and ".run.txt." not in str(err.value)


def test_a_beir_line_with_an_empty_id_is_refused_naming_the_line(tmp_path):
    """BEIR fields are split on tabs, so "q1<TAB><TAB>1" gave the document id "" (and
    "<TAB>d1<TAB>1" the query id ""): a malformed line read as a judgment no run can
    match. A TREC qrels file, split on whitespace, cannot hold an empty id."""
    beir = tmp_path / "test.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\t \t1\n")
    with pytest.raises(ValueError, match=r"test.tsv line 3: empty corpus-id: 'q1\\t \\t1'"):
        vd.load_qrels(beir)
    beir.write_text("query-id\tcorpus-id\tscore\n\td1\t1\n")
    with pytest.raises(ValueError, match=r"test.tsv line 2: empty query-id"):
        vd.load_qrels(beir)
    beir.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert vd.load_qrels(beir) == {"q1": {"d1": 1}}


def test_a_grade_past_the_int64_range_that_load_qrels_keeps_is_evaluated(tmp_path, capsys):
    """load_qrels keeps the grade 12345678901234567891 exactly; evaluate then stopped with
    "OverflowError: Python int too large to convert to C long", and `vecdiag eval` died
    with a traceback and exit status 1 (its "significant regression" status). The grade
    is a linear gain like any other: closed-form nDCG with gains G and 3."""
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.txt"
    qrels.write_text("q 0 a 12345678901234567891\nq 0 b 3\n")
    run.write_text("q Q0 b 1 2.0 t\nq Q0 a 2 1.0 t\n")
    G = float(12345678901234567891)
    ndcg = (3 + G / np.log2(3)) / (G + 3 / np.log2(3))
    ev = vd.evaluate(vd.load_run(run), vd.load_qrels(qrels), metrics=["ndcg@10", "map"])
    assert ev.mean["ndcg@10"] == pytest.approx(ndcg, rel=1e-12) and ev.mean["map"] == 1.0
    assert main(["eval", str(run), str(qrels), "--metrics", "ndcg@10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean"]["ndcg@10"] == pytest.approx(ndcg)


def test_a_grade_or_score_past_the_float_range_is_refused_by_name(tmp_path, capsys):
    """A 400-digit grade, which load_qrels keeps exactly, stopped evaluate with Python's
    bare "OverflowError: int too large to convert to float", and `vecdiag eval` called it
    an internal error (a bug, exit 3); an int score of 10**400 given to evaluate failed
    the same way. Both are a ValueError naming the entry (the CLI's exit 2); the largest
    integer a float holds is still a grade."""
    huge = 10 ** 400
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.txt"
    qrels.write_text(f"q 0 a {huge}\nq 0 b 3\n")
    run.write_text("q Q0 b 1 2.0 t\nq Q0 a 2 1.0 t\n")
    assert vd.load_qrels(qrels) == {"q": {"a": huge, "b": 3}}
    with pytest.raises(ValueError, match=r"qrels\['q'\]\['a'\] is a number beyond the range "
                                         r"of a float"):
        vd.evaluate(vd.load_run(run), vd.load_qrels(qrels))
    assert main(["eval", str(run), str(qrels)]) == 2
    err = capsys.readouterr().err
    assert "beyond the range of a float" in err and "internal error" not in err
    with pytest.raises(ValueError, match=r"run\['q'\]\['a'\] is a number beyond the range"):
        vd.evaluate({"q": {"a": huge, "b": 1.0}}, {"q": {"a": 1}})
    top = int(np.finfo(np.float64).max)          # still a float: a gain like any other
    ev = vd.evaluate({"q": {"a": 2.0, "b": 1.0}}, {"q": {"a": top, "b": 0}},
                     metrics=["ndcg@10", "map"])
    assert ev.mean == {"ndcg@10": 1.0, "map": 1.0}


def test_decimal_scores_and_grades_from_a_database_are_read_as_numbers():
    """A NUMERIC column comes back from a database as decimal.Decimal, which is not a
    numbers.Real: evaluate refused such scores and grades as "not real numbers". They are
    read as the floats and integers they hold (the figures equal pytrec_eval's on the same
    run), and a NaN, a signalling NaN or a fractional grade is still refused."""
    from decimal import Decimal

    trec = _pytrec_eval()
    rng = np.random.default_rng(5)
    docs = [f"d{i}" for i in range(12)]
    run = {f"q{j}": {d: Decimal(str(round(float(rng.random()), 3))) for d in docs}
           for j in range(4)}
    qrels = {f"q{j}": {d: Decimal(int(rng.integers(0, 3))) for d in docs[:6]}
             for j in range(4)}
    plain_run = {q: {d: float(s) for d, s in row.items()} for q, row in run.items()}
    plain_qrels = {q: {d: int(r) for d, r in row.items()} for q, row in qrels.items()}
    ev = vd.evaluate(run, qrels, metrics=["ndcg@10", "map"])
    ref = trec.RelevanceEvaluator(plain_qrels, {"ndcg_cut_10", "map"}).evaluate(plain_run)
    for q in run:
        assert ev.per_query["ndcg@10"][q] == pytest.approx(ref[q]["ndcg_cut_10"], abs=1e-12)
        assert ev.per_query["map"][q] == pytest.approx(ref[q]["map"], abs=1e-12)
    for bad in (Decimal("NaN"), Decimal("sNaN")):
        with pytest.raises(ValueError, match=r"run\['q'\]\['a'\] is nan; scores must be"):
            vd.evaluate({"q": {"a": bad}}, {"q": {"a": 1}})
    with pytest.raises(ValueError, match=r"relevance must be an integer grade"):
        vd.evaluate({"q": {"a": 1.0}}, {"q": {"a": Decimal("1.5")}})


@pytest.mark.parametrize("tag", [5, ["a"], b"run"])
def test_save_run_names_a_tag_that_is_not_a_string(tmp_path, tag):
    # tag=5 failed as "'int' object is not iterable"; a list of one word was accepted
    # and written as "['a']"
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError, match=r"tag must be a non-empty word without whitespace"):
        vd.save_run({"q": {"d": 1.0}}, target, tag=tag)
    assert not target.exists()


def test_run_and_qrels_as_dataframes_are_refused_with_a_conversion_that_works():
    """A table with one row per (query, document) was read through DataFrame.items():
    its column names became query ids and its row numbers documents. With numeric ids
    both tables shared the 'query_id' and 'doc_id' "queries", and evaluate returned
    nDCG@10 0.39 with only a warning. Refused, naming run / qrels; the conversion the
    message gives yields the hand-computed figures."""
    pd = pytest.importorskip("pandas")
    run_df = pd.DataFrame({"query_id": [1, 1, 1, 2, 2], "doc_id": [3, 4, 5, 7, 8],
                           "score": [.9, .8, .7, .5, .6]})
    qrels_df = pd.DataFrame({"query_id": [1, 1, 2], "doc_id": [3, 5, 7],
                             "relevance": [1, 2, 1]})
    run = {q: dict(zip(g["doc_id"], g["score"])) for q, g in run_df.groupby("query_id")}
    qrels = {q: dict(zip(g["doc_id"], g["relevance"])) for q, g in qrels_df.groupby("query_id")}
    with pytest.raises(TypeError, match=r"^run is a pandas DataFrame.*groupby\('query_id'\)"):
        vd.evaluate(run_df, qrels)
    with pytest.raises(TypeError, match=r"^qrels is a pandas DataFrame.*groupby"):
        vd.evaluate(run, qrels_df)
    # query 1: doc 3 (relevant) first, RR 1; query 2: doc 8 then doc 7 (relevant), RR 1/2
    mean = vd.evaluate(run, qrels, metrics=("mrr@10", "recall@100")).mean
    assert mean == pytest.approx({"mrr@10": 0.75, "recall@100": 1.0})


@pytest.mark.parametrize("space", ["\u00a0", "\u2003", "\u3000", "\x85", "\x1c", "\u2028"])
def test_ids_are_split_where_trec_eval_splits_them(tmp_path, space):
    """trec_eval splits a line at C's isspace (the "C" locale: space, \\t, \\n, \\v, \\f,
    \\r); load_run and load_qrels split with str.split(), which also cuts at U+00A0,
    U+3000, \\x1c..., so "d<U+00A0>1" became two fields and the line was refused (or,
    with the field count right, an id was cut). bytes.split() splits at exactly C's six."""
    run_text = (f"q{space}1 Q0 d{space}1 1 2.5 tag\nq{space}1 Q0 d2 2 1.5 tag\n"
                f"q{space}1 Q0 d3{space} 3 0.5 tag\n")
    qrels_text = f"q{space}1 0 d{space}1 0\nq{space}1 0 d2 1\nq{space}1 0 d3{space} 2\n"
    ref_run, ref_qrels = {}, {}
    for line in run_text.encode().splitlines():
        q, _, d, _, score, _ = line.split()
        ref_run.setdefault(q.decode(), {})[d.decode()] = float(score)
    for line in qrels_text.encode().splitlines():
        q, _, d, grade = line.split()
        ref_qrels.setdefault(q.decode(), {})[d.decode()] = int(grade)
    run = vd.load_run(_write(tmp_path / "run.txt", run_text))
    qrels = vd.load_qrels(_write(tmp_path / "qrels.txt", qrels_text))
    assert run == ref_run and qrels == ref_qrels
    beir = f"query-id\tcorpus-id\tscore\nq{space}1\td{space}1\t0\nq{space}1\td2\t1\n" \
           f"q{space}1\td3{space}\t2\n"
    assert vd.load_qrels(_write(tmp_path / "qrels.tsv", beir)) == ref_qrels
    ref = _pytrec_eval().RelevanceEvaluator(ref_qrels, {"ndcg"}).evaluate(ref_run)
    got = vd.evaluate(run, qrels, metrics=["ndcg"])
    np.testing.assert_allclose(got.per_query["ndcg"].to_numpy(),
                               [ref[q]["ndcg"] for q in sorted(ref)])
    vd.save_run(run, tmp_path / "again.txt")   # ids the reader keeps can be written back
    assert vd.load_run(tmp_path / "again.txt") == ref_run


def test_a_lone_carriage_return_is_a_space_in_trec_files_as_in_trec_eval(tmp_path):
    """trec_eval ends a line at \\n only and reads \\r as a space (C's isspace); the
    readers ended a line at a lone \\r too (universal newlines), so 'q1 Q0 d1\\r1 2.5 t'
    was refused as two short lines, and every later line was named one too far.
    Reference: the bytes split at b"\\n", each line at C's whitespace (bytes.split)."""
    run_text = b"q1 Q0 d1\r1 2.5 t\r\nq1 Q0 d2 2 1.5\rt\nq2\rQ0 d1 1 0.5 t\n"
    qrels_text = b"q1 0\rd1 1\nq1 0 d2\r0\r\nq2 0 d1 2\n"
    ref_run, ref_qrels = {}, {}
    for line in run_text.split(b"\n")[:-1]:
        q, _, d, _, score, _ = line.split()
        ref_run.setdefault(q.decode(), {})[d.decode()] = float(score)
    for line in qrels_text.split(b"\n")[:-1]:
        q, _, d, grade = line.split()
        ref_qrels.setdefault(q.decode(), {})[d.decode()] = int(grade)
    (tmp_path / "run.txt").write_bytes(run_text)
    (tmp_path / "qrels.txt").write_bytes(qrels_text)
    assert vd.load_run(tmp_path / "run.txt") == ref_run
    assert vd.load_qrels(tmp_path / "qrels.txt") == ref_qrels
    (tmp_path / "run.txt").write_bytes(run_text + b"q3 Q0 d1 1 x t\n")
    last = len(run_text.split(b"\n"))          # the added line, as trec_eval counts lines
    with pytest.raises(ValueError, match=rf"run.txt line {last}: score"):
        vd.load_run(tmp_path / "run.txt")


def test_a_file_not_in_utf8_is_named_with_its_line_and_byte(tmp_path):
    """The byte named was the offset inside the 8 KB chunk being decoded (6129 for a bad
    byte at 38897), and no line was named. Reference: the offset and the line of the
    bad byte in the file's bytes."""
    data = b"".join(b"q1 Q0 d%d %d 2.5 t\n" % (i, i + 1) for i in range(3000))
    data += "q1 Q0 d\u00e9 3001 2.5 t\n".encode("latin-1")
    (tmp_path / "run.txt").write_bytes(data)
    byte = data.index(b"\xe9")
    line = data[:byte].count(b"\n") + 1
    with pytest.raises(ValueError, match=rf"run.txt is not UTF-8 text \(.* at line {line}, "
                                         rf"byte {byte} of the file\)"):
        vd.load_run(tmp_path / "run.txt")


@pytest.mark.parametrize("header", ["corpus-id\tquery-id\tscore", "score\tcorpus-id\tquery-id",
                                    "Query-ID\tCorpus-ID\tScore"])
def test_a_beir_header_says_where_each_column_is(tmp_path, header):
    """A BEIR qrels file whose header names its columns in another order
    ("corpus-id<TAB>query-id<TAB>score") was read in the written order: every judgment
    silently became {document: {query: grade}} (every metric 0). Reference: csv's
    DictReader, which reads each field by its header name."""
    import csv
    import io

    names = header.lower().split("\t")
    rows = [("q1", "d1", "2"), ("q1", "d2", "0"), ("q2", "d1", "1")]
    text = header + "\n" + "".join(
        "\t".join({"query-id": q, "corpus-id": d, "score": g}[n] for n in names) + "\n"
        for q, d, g in rows)
    want = {}
    for row in csv.DictReader(io.StringIO(text.lower()), delimiter="\t"):
        want.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    path = _write(tmp_path / "qrels.tsv", text)
    assert vd.load_qrels(path) == want
    assert vd.load_qrels(path, format="beir") == want
