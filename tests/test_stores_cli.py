"""``vecdiag audit``: exit 0 / 1 (recall below --fail-below) / 2 (bad input, one line, nothing
written), against a real pgvector server and a faiss file; the password never printed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _store_servers import fast_dir

import vecdiag as vd
from vecdiag.cli import main


@pytest.fixture
def queries(tmp_path, store_data):
    path = tmp_path / "q.npy"
    np.save(path, store_data[1][:40])
    return str(path)


def _dsn(uri):
    return uri.replace("postgres:@", "postgres:s3cret@")   # trust auth: the password is unused


def test_audit_pgvector_exit_codes_and_json(pg_docs, queries, capsys, tmp_path):
    dsn = _dsn(pg_docs)
    html = tmp_path / "audit.html"
    code = main(["audit", dsn, "--table", "docs", "--queries", queries, "--sweep",
                 "ef_search=10,200", "--fail-below", "0.999", "-o", str(html)])
    out, err = capsys.readouterr()
    assert code == 1 and "FAIL: recall@10" in err
    assert "sweep of ef_search" in out and "ann_recall" in out
    assert "s3cret" not in out + err + html.read_text() and "postgres:***@" in out
    code = main(["audit", dsn, "--table", "docs", "--queries", queries, "--sweep", "none",
                 "--fail-below", "0.05", "--json"])
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert code == 0 and payload["failed"] is False and payload["sweep"] == {}
    assert 0 < payload["recall"] <= 1 and "s3cret" not in out


@pytest.mark.parametrize("extra, message", [
    (["--table", "nope"], "table 'nope' does not exist"),
    (["--table", "docs", "--vector", "emb"], "has no column 'emb'; its columns: id"),
    ([], "pgvector needs --table"),
    (["--table", "docs", "--sweep", "nprobe=1,2"], "no search setting 'nprobe'"),
    (["--table", "docs", "--fail-below", "3"], "--fail-below must be a recall"),
])
def test_audit_bad_input_exit_2(pg_docs, queries, capsys, tmp_path, extra, message):
    html = tmp_path / "never.html"
    code = main(["audit", _dsn(pg_docs), "--queries", queries, "-o", str(html), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert "s3cret" not in out + err and not html.exists()


def test_audit_unreachable_server_masks_password(queries, capsys):
    code = main(["audit", "postgresql://ann:hunter2@127.0.0.1:1/db?connect_timeout=2",
                 "--table", "docs", "--queries", queries])
    out, err = capsys.readouterr()
    assert code == 2 and "cannot connect" in err and "hunter2" not in out + err


def test_audit_unreachable_qdrant_server_is_exit_2(queries, capsys):
    """A Qdrant URL with no server escaped from vd.stores.qdrant as qdrant-client's
    ResponseHandlingException ('[Errno 111] Connection refused', no URL named), which the
    command did not catch: a traceback instead of exit 2."""
    pytest.importorskip("qdrant_client")
    with pytest.raises(ValueError, match=r"cannot reach Qdrant at http://127\.0\.0\.1:1"):
        vd.stores.qdrant("http://127.0.0.1:1", "docs")
    code = main(["audit", "http://ann:hunter2@127.0.0.1:1", "--store", "qdrant",
                 "--collection", "docs", "--queries", queries])
    out, err = capsys.readouterr()
    assert code == 2 and "cannot reach Qdrant" in err and "hunter2" not in out + err


def test_audit_qdrant_folder_open_in_another_client(qdrant_path, store_data, queries, capsys):
    """A Qdrant local-mode folder still open in the application's client: the folder was
    passed to QdrantClient, whose RuntimeError ('already accessed by another instance')
    the command reported as 'internal error ... a bug in vecdiag', exit 3."""
    from qdrant_client import QdrantClient, models

    path = os.path.join(qdrant_path, "locked")
    client = QdrantClient(path=path)
    client.create_collection("docs", vectors_config=models.VectorParams(
        size=32, distance=models.Distance.DOT))
    client.upsert("docs", points=models.Batch(ids=list(range(20)),
                                              vectors=store_data[0][:20].tolist()))
    try:
        with pytest.raises(ValueError, match="is open in another Qdrant client.*pass that "
                                             "client itself"):
            vd.stores.qdrant(path, "docs")
        code = main(["audit", path, "--collection", "docs", "--queries", queries])
        assert code == 2 and "is open in another Qdrant client" in capsys.readouterr().err
        assert vd.stores.qdrant(client, "docs").n == 20        # the client itself reads it
    finally:
        client.close()


def test_audit_guesses_qdrant_for_a_url(queries, capsys):
    """An http(s) URL was 'neither a connection string, an index file nor a folder'
    without --store qdrant; Qdrant is the store the command reaches by URL."""
    pytest.importorskip("qdrant_client")
    code = main(["audit", "http://127.0.0.1:1", "--collection", "docs", "--queries", queries])
    assert code == 2 and "cannot reach Qdrant at http://127.0.0.1:1" in capsys.readouterr().err


def test_audit_faiss_file_with_ids(tmp_path, store_data, queries, capsys):
    faiss = pytest.importorskip("faiss")
    X = store_data[0]
    index = faiss.IndexHNSWFlat(32, 4, faiss.METRIC_INNER_PRODUCT)
    index.add(X)
    path = tmp_path / "index.faiss"
    faiss.write_index(index, str(path))
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"doc-{i}\n" for i in range(len(X))))
    code = main(["audit", str(path), "--ids", str(ids), "--queries", queries, "--sweep",
                 "efSearch=16,256", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["kind"] == "faiss" and payload["metric"] == "dot"
    assert set(payload["sweep"]) == {"16", "256"}
    bad = tmp_path / "short.txt"
    bad.write_text("a\nb\n")
    code = main(["audit", str(path), "--ids", str(bad), "--queries", queries])
    assert code == 2 and "ids has 2 entries" in capsys.readouterr().err
    # -o over the index names it as the usage line does (it said '--location', no option)
    before = path.read_bytes()
    code = main(["audit", str(path), "--queries", queries, "-o", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and f"is also an input (STORE {str(path)!r})" in err
    assert path.read_bytes() == before
    # --queries in an .npz of two arrays: --key picks one (there was no way to)
    np.savez(tmp_path / "q.npz", emb=np.load(queries), other=np.load(queries)[:, :2])
    code = main(["audit", str(path), "--queries", str(tmp_path / "q.npz"), "--key", "emb",
                 "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["queries"] == 40
    # vd.audit's target= is --target here (it said 'target must be a recall in (0, 1]')
    assert main(["audit", str(path), "--queries", queries, "--target", "2"]) == 2
    assert "error: --target must be a recall in (0, 1], got 2.0" in capsys.readouterr().err


def test_audit_qdrant_and_chroma_folders(tmp_path, qdrant_path, store_data, queries, capsys):
    """A Qdrant local-mode folder and a Chroma folder are recognised; --collection needed."""
    import chromadb
    from qdrant_client import QdrantClient, models

    X = store_data[0][:300]
    qpath = os.path.join(qdrant_path, "cli")
    client = QdrantClient(path=qpath)
    client.create_collection("docs", vectors_config=models.VectorParams(
        size=32, distance=models.Distance.DOT))
    client.upsert("docs", points=models.Batch(ids=list(range(300)), vectors=X.tolist()))
    client.close()
    cpath = fast_dir("vecdiag-chroma-cli-")
    col = chromadb.PersistentClient(path=cpath).create_collection(
        "docs", metadata={"hnsw:space": "ip"}, embedding_function=None)
    col.add(ids=[f"d{i}" for i in range(300)], embeddings=X)
    code = main(["audit", qpath, "--collection", "docs", "--queries", queries, "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["kind"] == "qdrant" and payload["recall"] == 1.0
    code = main(["audit", cpath, "--collection", "docs", "--queries", queries, "--json",
                 "--sweep", "none"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["kind"] == "chroma" and payload["metric"] == "dot"
    code = main(["audit", cpath, "--queries", queries])
    assert code == 2 and "chroma needs --collection" in capsys.readouterr().err
    # -o naming the store's own database replaced it with the HTML page, exit 0
    db = os.path.join(cpath, "chroma.sqlite3")
    with open(db, "rb") as fh:
        before = fh.read()
    code = main(["audit", cpath, "--collection", "docs", "--queries", queries, "-o", db,
                 "--sweep", "none"])
    assert code == 2 and "exists and is not an HTML file" in capsys.readouterr().err
    with open(db, "rb") as fh:
        assert fh.read() == before
    code = main(["audit", str(tmp_path), "--queries", queries])
    assert code == 2 and "cannot tell what the folder" in capsys.readouterr().err
    import shutil

    shutil.rmtree(cpath, ignore_errors=True)


def test_audit_force_index_and_qdrant_named_vectors(pg_docs, tmp_path, qdrant_path, store_data,
                                                     queries, capsys):
    """--force-index reaches pgvector (the advice names it), and --vector picks a Qdrant
    named vector: both were only reachable from Python."""
    from qdrant_client import QdrantClient, models

    code = main(["audit", _dsn(pg_docs), "--table", "docs", "--queries", queries,
                 "--force-index", "--sweep", "none", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["params"]["force_index"] is True
    X = store_data[0][:300]
    qpath = os.path.join(qdrant_path, "named")
    client = QdrantClient(path=qpath)
    client.create_collection("docs", vectors_config={"dense": models.VectorParams(
        size=32, distance=models.Distance.DOT)})
    client.upsert("docs", points=models.Batch(ids=list(range(300)), vectors={"dense": X.tolist()}))
    client.close()
    code = main(["audit", qpath, "--collection", "docs", "--queries", queries])
    assert code == 2 and "vecdiag audit --vector" in capsys.readouterr().err
    code = main(["audit", qpath, "--collection", "docs", "--vector", "dense", "--queries",
                 queries, "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["recall"] == 1.0
    code = main(["audit", qpath, "--collection", "docs", "--vector", "dense", "--queries",
                 queries, "--force-index"])
    assert code == 2 and "--force-index is for pgvector" in capsys.readouterr().err


def test_audit_refuses_options_its_store_would_ignore(tmp_path, store_data, queries, capsys):
    """--where, --table, --metric or --text given for a faiss index (and --ids for a
    folder store) were ignored: `--where "cat = 1"` audited every vector, exit 0. Each is
    now refused with the stores it is for; the faiss audit itself still runs."""
    faiss = pytest.importorskip("faiss")
    index = faiss.IndexFlatIP(32)
    index.add(store_data[0][:200])
    path = tmp_path / "flat.faiss"
    faiss.write_index(index, str(path))
    for extra, option, kinds in ((["--where", "cat = 1"], "--where", "pgvector"),
                                 (["--table", "docs"], "--table", "pgvector"),
                                 (["--metric", "cosine"], "--metric", "pgvector"),
                                 (["--text", "body"], "--text", "pgvector / qdrant"),
                                 (["--collection", "docs"], "--collection", "qdrant / chroma")):
        code = main(["audit", str(path), "--queries", queries, *extra])
        out, err = capsys.readouterr()
        assert code == 2 and f"{option} is for {kinds}; a faiss store" in err and not out
    code = main(["audit", str(tmp_path), "--store", "chroma", "--collection", "docs",
                 "--ids", "ids.txt", "--queries", queries])
    assert code == 2 and "--ids is for faiss; a chroma store" in capsys.readouterr().err
    code = main(["audit", str(path), "--queries", queries, "--json", "--sweep", "none"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["recall"] == 1.0 and payload["n"] == 200


def test_audit_recall_exactly_at_fail_below_passes(tmp_path, capsys):
    """--fail-below is 'below', so a recall exactly at it passes. The recall was the float
    mean of per-query recalls (0.4, 0.3, ... averaged to 0.32999999999999996 for 33 of
    100), which the gate read as below 0.33: 'FAIL: recall@10 0.330 is below 0.33', exit 1.
    Reference: faiss's own search against NumPy brute force, counted as a fraction."""
    from fractions import Fraction

    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 8)).astype("float32")
    Q = rng.normal(size=(40, 8)).astype("float32")
    quantizer = faiss.IndexFlatIP(8)           # fixed centroids: no k-means, same lists
    index = faiss.IndexIVFFlat(quantizer, 8, 16, faiss.METRIC_INNER_PRODUCT)
    quantizer.add(X[:16])
    index.is_trained = True
    index.add(X)
    index.nprobe = 1                           # one list of 16: many true neighbours missed
    k = 10
    _, got = index.search(Q, k)
    exact = np.argsort(-(Q.astype(np.float64) @ X.astype(np.float64).T), axis=1)[:, :k]
    found = np.array([len(set(g) & set(e)) for g, e in zip(got.tolist(), exact.tolist())])
    # the first query set whose recall, averaged query by query in floats, falls below
    # the float nearest the true fraction
    n = next(n for n in range(1, len(Q) + 1)
             if np.mean(found[:n] / k) < float(Fraction(int(found[:n].sum()), k * n)))
    recall = Fraction(int(found[:n].sum()), k * n)
    res = vd.audit(vd.stores.faiss(index), Q[:n], k=k, sweep=False)
    assert np.array_equal(res.per_query * k, found[:n]) and res.recall == float(recall)
    path, qpath = tmp_path / "ivf.faiss", tmp_path / "q.npy"
    faiss.write_index(index, str(path))
    np.save(qpath, Q[:n])
    argv = ["audit", str(path), "--queries", str(qpath), "--sweep", "none", "--fail-below"]
    assert main([*argv, repr(float(recall))]) == 0
    assert main([*argv, repr(float(recall) + 1e-9)]) == 1
    assert "is below" in capsys.readouterr().err


def test_audit_chroma_path_that_is_not_a_chroma_folder(tmp_path, queries, capsys):
    """--store chroma on a mistyped folder made a new Chroma database there (then said
    the collection was missing), and on a file ended in an internal error (exit 3)."""
    missing = tmp_path / "typo"
    code = main(["audit", str(missing), "--store", "chroma", "--collection", "docs",
                 "--queries", queries])
    assert code == 2 and f"STORE: {missing} is not a Chroma folder (no chroma.sqlite3 in " \
        "it)" in capsys.readouterr().err
    assert not missing.exists()
    a_file = tmp_path / "index.faiss"
    a_file.write_bytes(b"x")
    code = main(["audit", str(a_file), "--store", "chroma", "--collection", "docs",
                 "--queries", queries])
    assert code == 2 and "is not a Chroma folder" in capsys.readouterr().err


def test_audit_id_is_refused_where_it_would_be_ignored_and_read_by_qdrant(
        tmp_path, qdrant_path, store_data, queries, capsys):
    """--id had a default ("id"), so a store that takes no id column could not tell it was
    given: --id doc for a faiss file was ignored. It is now refused there, and for Qdrant
    it names the payload field holding the ids."""
    import faiss
    from qdrant_client import QdrantClient, models

    X = store_data[0][:50]
    flat = faiss.IndexFlatIP(32)
    flat.add(X)
    path = str(tmp_path / "flat.faiss")
    faiss.write_index(flat, path)
    code = main(["audit", path, "--id", "doc", "--queries", queries])
    assert code == 2 and "--id is for pgvector / qdrant; a faiss store would ignore it" in \
        capsys.readouterr().err
    qpath = os.path.join(qdrant_path, "cli-ids")
    client = QdrantClient(path=qpath)
    client.create_collection("docs", vectors_config=models.VectorParams(
        size=32, distance=models.Distance.DOT))
    client.upsert("docs", [models.PointStruct(id=i, vector=X[i].tolist(),
                                              payload={"doc": f"d{i}"}) for i in range(50)])
    client.close()
    code = main(["audit", qpath, "--collection", "docs", "--id", "docid", "--queries", queries])
    assert code == 2 and "50 of 50 points read have no payload field 'docid'" in \
        capsys.readouterr().err
    code = main(["audit", qpath, "--collection", "docs", "--id", "doc", "--queries", queries,
                 "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["recall"] == 1.0


def test_audit_qdrant_api_key_from_the_environment_never_shown(store_data, queries, capsys,
                                                                monkeypatch):
    """A Qdrant server's key could only be written in the URL, where qdrant-client drops
    it (the query string never reaches the server: a 401). The key now comes from
    $QDRANT_API_KEY (or the variable --api-key-env names) or the URL's ?api_key=, is
    sent as the client's api_key, and is masked in the output and in errors (here a
    server echoing it). The server is played by an in-memory client."""
    qc = pytest.importorskip("qdrant_client")
    from qdrant_client import models

    real, seen = qc.QdrantClient, []
    X = store_data[0][:50]

    def served(url, api_key=None, **kwargs):
        seen.append((url, api_key))
        client = real(location=":memory:")
        client.create_collection("docs", vectors_config=models.VectorParams(
            size=X.shape[1], distance=models.Distance.COSINE))
        client.upsert("docs", points=models.Batch(ids=list(range(50)), vectors=X.tolist()))
        return client

    monkeypatch.setattr(qc, "QdrantClient", served)
    monkeypatch.setenv("QDRANT_API_KEY", "qk-s3cret-0123456789")
    args = ["--collection", "docs", "--queries", queries, "--sweep", "none", "-k", "5"]
    code = main(["audit", "http://db:6333", "--json", *args])
    out, err = capsys.readouterr()
    assert code == 0 and seen == [("http://db:6333", "qk-s3cret-0123456789")]
    assert json.loads(out)["store"] == "qdrant http://db:6333 collection docs"
    assert "s3cret" not in out + err
    monkeypatch.delenv("QDRANT_API_KEY")
    monkeypatch.setenv("MY_KEY", "qk-other-98765")
    assert main(["audit", "http://db:6333", "--api-key-env", "MY_KEY", *args]) == 0
    store = vd.stores.qdrant("http://db:6333/?timeout=5&api_key=qk-url-key", "docs")
    assert seen[1:] == [("http://db:6333", "qk-other-98765"),
                        ("http://db:6333/?timeout=5", "qk-url-key")]
    assert "qk-url-key" not in repr(store) and "qk-other" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="the URL's \\?api_key= and api_key= differ"):
        vd.stores.qdrant("http://db:6333/?api_key=qk-url-key", "docs", api_key="qk-2222")

    def echoing(url, api_key=None, **kwargs):      # a proxy quoting the key it refused
        client = real(location=":memory:")
        def refuse():
            raise OSError(f"403 Forbidden: api-key {api_key} is not valid")
        client.get_collections = refuse
        return client

    monkeypatch.setattr(qc, "QdrantClient", echoing)
    code = main(["audit", "http://db:6333", "--api-key-env", "MY_KEY", *args])
    err = capsys.readouterr().err
    assert code == 2 and "403 Forbidden: api-key *** is not valid" in err
    assert "qk-other" not in err
    assert main(["audit", "http://db:6333", "--api-key-env", "UNSET_VAR_X", *args]) == 2
    assert "--api-key-env UNSET_VAR_X: no such environment variable is set" in \
        capsys.readouterr().err
    monkeypatch.setattr(qc, "QdrantClient", real)
    with pytest.raises(ValueError, match="api_key is for a Qdrant server URL; a client"):
        vd.stores.qdrant(real(location=":memory:"), "docs", api_key="qk-s3cret")
