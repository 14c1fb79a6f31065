"""`vecdiag report 'shards/*.npy'`: a glob of shards read lazily, on threads or a cluster.

The report on shards must say what the report on the same rows in one in-memory .npy says
(findings, statistics, metrics, worst queries), whichever scheduler computes it; with
--scheduler the shards are read by the cluster's worker processes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from _dask_cluster import worker_tasks

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")

from vecdiag.cli import main  # noqa: E402

SIZES = (120, 80, 100, 60, 90, 50, 70, 30, 110, 40, 100, 50)   # 12 shards: shard-10 after -9


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """12 .npy shards with <stem>_ids.txt sidecars, the same rows as one .npy + ids file,
    and queries near known documents with their judgments."""
    folder = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(6, 24))
    rows, start = [], 0
    for i, n in enumerate(SIZES):
        part = (centres[rng.integers(0, 6, n)] + 0.6 * rng.normal(size=(n, 24))).astype(np.float32)
        np.save(folder / f"shard-{i}.npy", part)
        (folder / f"shard-{i}_ids.txt").write_text("".join(f"d{start + j}\n" for j in range(n)))
        rows.append(part)
        start += n
    X = np.concatenate(rows)
    whole = folder / "whole"
    whole.mkdir()
    np.save(whole / "all.npy", X)
    (whole / "all_ids.txt").write_text("".join(f"d{j}\n" for j in range(len(X))))
    targets = rng.choice(len(X), 8, replace=False)
    Q = (X[targets] + 0.3 * rng.normal(size=(8, 24))).astype(np.float32)
    np.save(folder / "queries.npy", Q)
    (folder / "queries_ids.txt").write_text("".join(f"q{j}\n" for j in range(8)))
    (folder / "qrels.txt").write_text("".join(f"q{j} 0 d{t} 1\n" for j, t in enumerate(targets)))
    return folder


def _report(capsys, corpus_arg, folder, *extra) -> dict:
    status = main(["report", str(corpus_arg), "--queries", str(folder / "queries.npy"),
                   "--qrels", str(folder / "qrels.txt"), "--json", "--explain", "1",
                   "-o", str(folder / "report.html"), *extra])
    out = capsys.readouterr()
    assert status == 0, out.err
    return json.loads(out.out)


# Figures of the exact kNN graph that vd.diagnose does not estimate on a Dask corpus (its
# hubness and near-duplicates are sampled there: every row here, as the corpus has fewer rows
# than the default sample, so the estimates equal the exact values).
NOT_AT_SCALE = {"robinhood", "spearman_norm_k_occurrence", "near_duplicate_groups"}


def _same_report(lazy: dict, eager: dict) -> None:
    """Same findings, statistics, metrics and worst queries (to 1e-6)."""
    assert [(f["code"], f["severity"]) for f in lazy["findings"]] == \
        [(f["code"], f["severity"]) for f in eager["findings"]]
    assert lazy["stats"]["sampled"] is True and lazy["stats"]["sample"] == sum(SIZES)
    for key, value in eager["stats"].items():
        if key == "seconds":
            continue
        if key in NOT_AT_SCALE:
            assert lazy["stats"].get(key) is None, key
            continue
        if isinstance(value, float):
            assert lazy["stats"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        else:
            assert lazy["stats"][key] == value, key
    assert lazy["metrics"]["mean"] == pytest.approx(eager["metrics"]["mean"], abs=1e-9)
    assert [(w["query_id"], w["top_ids"]) for w in lazy["worst_queries"]] == \
        [(w["query_id"], w["top_ids"]) for w in eager["worst_queries"]]


@pytest.fixture(scope="module")
def eager(corpus):
    """The report on the same rows as one in-memory .npy (the reference)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["report", str(corpus / "whole" / "all.npy"), "--ids",
                       str(corpus / "whole" / "all_ids.txt"), "--queries",
                       str(corpus / "queries.npy"), "--qrels", str(corpus / "qrels.txt"),
                       "--json", "--explain", "1", "--no-html"])
    assert status == 0
    return json.loads(out.getvalue())


def test_a_glob_of_shards_reports_what_the_in_memory_file_does(corpus, eager, capsys):
    lazy = _report(capsys, corpus / "shard-*.npy", corpus)
    _same_report(lazy, eager)
    assert eager["metrics"]["mean"]["recall@100"] > 0.5   # the queries do find their documents
    notes = " ".join(lazy["notes"])
    assert "read lazily from 12 .npy files (shard-0.npy ... shard-11.npy, in natural order)" \
        in notes
    assert "document ids read with the shards" in notes
    assert "Dask's threaded scheduler" in notes
    assert any(s.startswith("fixes section skipped: the corpus is a Dask array")
               for s in lazy["skipped"])
    assert lazy["fixes"] is None
    html = (corpus / "report.html").read_text(encoding="utf-8")
    assert "shard-*.npy" in html and "fixes section skipped" in html


def test_a_folder_of_shards_is_a_corpus_too(corpus, eager, capsys):
    (corpus / "folder").mkdir(exist_ok=True)
    for i in range(len(SIZES)):
        for name in (f"shard-{i}.npy", f"shard-{i}_ids.txt"):
            target = corpus / "folder" / name
            if not target.exists():
                target.symlink_to(corpus / name)
    _same_report(_report(capsys, corpus / "folder", corpus), eager)


def test_scheduler_sends_the_work_to_the_cluster(corpus, eager, capsys, dask_cluster,
                                                 dask_client):
    with worker_tasks(dask_client) as ran:
        lazy = _report(capsys, corpus / "shard-*.npy", corpus, "--scheduler",
                       dask_cluster.scheduler_address)
    _same_report(lazy, eager)
    assert f"the Dask cluster at {dask_cluster.scheduler_address} (2 workers)" in \
        " ".join(lazy["notes"])
    loaders = [r for r in ran.records if str(r["key"]).find("open-vectors-") >= 0]
    assert len(loaders) >= len(SIZES)                       # every shard read on a worker
    assert {r["worker"] for r in loaders} <= set(dask_cluster.scheduler_info["workers"])
    # one file with --scheduler is read lazily too (its <stem>_ids.txt taken along)
    single = _report(capsys, corpus / "whole" / "all.npy", corpus, "--scheduler",
                     dask_cluster.scheduler_address)
    _same_report(single, eager)
    assert "read lazily from 1 .npy file (all.npy)" in " ".join(single["notes"])


def test_data_larger_than_free_memory_starts_a_local_cluster(monkeypatch):
    """What the report does without --scheduler (the sentence goes into its notes)."""
    import distributed

    from vecdiag.scale import cluster

    monkeypatch.setattr(cluster, "available_memory", lambda: 10_000)
    monkeypatch.setattr(cluster.os, "cpu_count", lambda: 1)
    with cluster.use_scheduler(86_400) as where:
        client = distributed.get_client()
        with worker_tasks(client) as ran:
            total = da.ones((100, 4), chunks=(25, 4)).sum().compute()
    assert where == ("a LocalCluster of 1 worker process (the data, 86.4 KB, is larger than "
                     "the 10.0 KB of free memory)")
    assert total == 400 and len(ran.workers) == 1
    with cluster.use_scheduler(9_000) as where:
        assert where == ("Dask's threaded scheduler (the data, 9.0 KB, fits in the 10.0 KB of "
                         "free memory)")
    with cluster.use_scheduler(9_000, local=True, n_workers=1) as where:
        assert where == "a LocalCluster of 1 worker process (asked for)"


@pytest.mark.parametrize("args, message", [
    (["report", "{d}/nothing-*.npy"], "no file matches"),
    (["report", "{d}/beir", "--scheduler", "tcp://127.0.0.1:1"], "need vector files as CORPUS"),
    (["report", "{d}/shard-*.npy", "--key", "x"], "drop key="),
])
def test_bad_inputs_are_one_line_errors(corpus, capsys, args, message):
    beir = corpus / "beir"
    beir.mkdir(exist_ok=True)
    (beir / "corpus.jsonl").write_text('{"_id": "d0", "text": "a"}\n')
    status = main([a.format(d=corpus) for a in args] + ["--no-html"])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1, err
    if "nothing" in args[1]:
        assert "nothing-*.npy" in err                        # the pattern is named


def test_an_unreachable_scheduler_says_so():
    from vecdiag.scale.cluster import use_scheduler

    with pytest.raises(OSError, match=r"cannot reach a Dask scheduler at 'tcp://127\.0\.0\.1:9'"):
        with use_scheduler(address="tcp://127.0.0.1:9", timeout=1):
            pass
