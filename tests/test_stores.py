"""vd.stores adapters against real stores: metric from the store's declaration, score
conventions against hand-computed values, fetch round trips, search, set_params, and the
bad inputs of the issue (each a one-line error that names the fix)."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from _store_servers import pg_table

import vecdiag as vd

# The worked example of the issue: q = [1,0,0], b = [.6,.8,0], d = [2,0,0].
# cos(q,b) = 0.6, cos(q,d) = 1; dot(q,b) = 0.6, dot(q,d) = 2; |q-b| = sqrt(.16+.64) = 0.894,
# |q-d| = 1: d is nearest under cosine and dot, b under euclidean.
WORKED = np.array([[0.6, 0.8, 0.0], [2.0, 0.0, 0.0]], dtype=np.float32)
Q1 = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
# metric -> (order of the rows best first, vecdiag's scores in that order)
EXPECTED = {"cosine": ([1, 0], [1.0, 0.6]), "dot": ([1, 0], [2.0, 0.6]),
            "euclidean": ([0, 1], [np.sqrt(0.8), 1.0])}


# ---------------------------------------------------------------- pgvector
@pytest.mark.parametrize("opclass, metric, raw", [
    ("vector_cosine_ops", "cosine", [0.0, 0.4]),     # <=> is 1 - cos
    ("vector_ip_ops", "dot", [-2.0, -0.6]),           # <#> is the NEGATIVE inner product
    ("vector_l2_ops", "euclidean", [np.sqrt(0.8), 1.0]),  # <-> is the L2 distance
])
def test_pgvector_metric_and_convention(pg_server, opclass, metric, raw):
    name = f"worked_{metric}"
    pg_table(pg_server, name, WORKED, opclass=opclass, ids=["b", "d"], id_type="text")
    store = vd.stores.pgvector(pg_server, name)
    assert store.metric == metric and store.n == 2 and store.dim == 3
    res = store.search(Q1, k=2)
    order, scores = EXPECTED[metric]
    assert res.ids.tolist() == [[["b", "d"][i] for i in order]]
    np.testing.assert_allclose(res.raw_scores[0], raw, atol=1e-6)
    np.testing.assert_allclose(res.scores[0], scores, atol=1e-6)
    assert res.indices.tolist() == [order]            # rows of store.fetch()


def test_pgvector_fetch_round_trip_and_texts(pg_docs, store_data):
    X, _ = store_data
    store = vd.stores.pgvector(pg_docs, "docs", text="body")
    index = store.fetch()
    assert index.metric == "cosine" and index.vectors.dtype == np.float32
    order = np.argsort(np.array(index.ids, dtype=np.int64))
    np.testing.assert_array_equal(index.vectors[order], X)      # bit for bit
    assert index.texts[order][:2].tolist() == ["document 0", "document 1"]
    assert store.fetch() is index                                # cached
    p = store.params
    assert p["index"] == "hnsw" and p["m"] == 4 and p["ef_construction"] == 10
    assert p["ef_search"] == 40                                  # pgvector's default


def test_pgvector_fetch_memmap_when_over_budget(pg_docs, store_data):
    X, _ = store_data
    store = vd.stores.pgvector(pg_docs, "docs")
    index = store.fetch(memory_budget=1024, batch_size=100)
    assert isinstance(index.vectors, np.memmap)
    order = np.argsort(np.array(index.ids, dtype=np.int64))
    np.testing.assert_array_equal(np.asarray(index.vectors)[order], X)


@pytest.mark.parametrize("id_type, vtype", [("text", "vector"), ("uuid", "halfvec"),
                                            ("integer", "halfvec")])
def test_pgvector_other_id_and_vector_types(pg_server, store_data, id_type, vtype):
    X = store_data[0][:50]
    ids = ([f"doc-{i}" for i in range(50)] if id_type == "text" else
           [str(uuid.UUID(int=i + 1)) for i in range(50)] if id_type == "uuid" else
           list(range(100, 150)))
    name = f"t_{id_type}_{vtype}"
    opclass = "halfvec_cosine_ops" if vtype == "halfvec" else "vector_cosine_ops"
    pg_table(pg_server, name, X, ids=ids, id_type=id_type, vtype=vtype, opclass=opclass)
    store = vd.stores.pgvector(pg_server, name, text="body")
    index = store.fetch()
    got = dict(zip(index.ids.tolist(), range(50)))
    for j, i in enumerate(ids):
        want = X[j].astype(np.float16).astype(np.float32) if vtype == "halfvec" else X[j]
        np.testing.assert_array_equal(index.vectors[got[i]], want)
    res = store.search(X[:3], k=1)
    assert res.ids[:, 0].tolist() == ids[:3]


def test_pgvector_set_params_and_short_results(pg_docs, store_data):
    """pgvector#480: an HNSW scan returns at most ef_search rows."""
    X, Q = store_data
    store = vd.stores.pgvector(pg_docs, "docs")
    store.set_params(ef_search=5)
    assert store.params["ef_search"] == 5
    res = store.search(Q[:5], k=10)
    assert (res.n_returned <= 5).all() and (res.indices[:, 5:] == -1).all()
    assert np.isnan(res.scores[:, 5:]).all()
    assert len(res.to_frame()) == int(res.n_returned.sum())
    store.set_params(**{"hnsw.ef_search": 100})
    assert (store.search(Q[:5], k=10).n_returned == 10).all()
    with pytest.raises(ValueError, match="probes does not apply.*ef_search"):
        store.set_params(probes=3)
    with pytest.raises(ValueError, match="no search setting 'nprobe'"):
        store.set_params(nprobe=3)


def test_pgvector_where_and_connection_left_alone(pg_docs):
    import psycopg

    with psycopg.connect(pg_docs, autocommit=True) as conn:
        store = vd.stores.pgvector(conn, "docs", where="id < 100")
        assert store.n == 100
        store.set_params(ef_search=7)
        store.search(np.ones((1, 32), np.float32), k=3)
        # SET LOCAL inside the search's transaction: the caller's session keeps its value
        assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"
        assert set(store.fetch().ids.tolist()) == set(range(100))


def test_pgvector_connection_in_a_transaction_left_alone(pg_server, rng):
    """psycopg's default connection (not autocommit) is inside a transaction after any
    statement; the store's transaction block is then a savepoint, and its SET LOCAL outlived
    it: after an audit the caller's transaction searched with hnsw.ef_search = 320 and
    enable_seqscan = off. The settings are put back at the end of each block."""
    import psycopg

    X = rng.normal(size=(300, 8)).astype(np.float32)
    pg_table(pg_server, "t_in_tx", X, opclass="vector_l2_ops")
    with psycopg.connect(pg_server) as conn:            # autocommit=False
        conn.execute("SET LOCAL hnsw.ef_search = 55")   # the caller's own, in its transaction
        before = [conn.execute(f"SHOW {g}").fetchone()[0]
                  for g in ("hnsw.ef_search", "enable_seqscan")]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        store = vd.stores.pgvector(conn, "t_in_tx", force_index=True)
        assert store.params["ef_search"] == 55
        a = vd.audit(store, X[:5], k=3, sweep="ef_search=3,200")
        after = [conn.execute(f"SHOW {g}").fetchone()[0]
                 for g in ("hnsw.ef_search", "enable_seqscan")]
        assert before == ["55", "on"] and after == before
        assert a.params["plan"] == "index scan" and set(a.sweep) == {3, 200}
        conn.rollback()


@pytest.mark.parametrize("row_factory", ["dict_row", "namedtuple_row"])
def test_pgvector_connection_with_another_row_factory(pg_server, rng, row_factory):
    """A connection made with row_factory=dict_row (common in psycopg 3 applications) failed
    in the first catalog read ('invalid input syntax for type oid: "to_regclass"': a dict
    unpacked into its keys); namedtuple_row failed on two columns named count. The store
    reads its own rows as tuples, whatever the connection's row factory."""
    import psycopg
    import psycopg.rows

    X = rng.normal(size=(100, 8)).astype(np.float32)
    pg_table(pg_server, "t_rows", X, ids=[f"d{i}" for i in range(100)], id_type="text",
             opclass="vector_ip_ops")
    factory = getattr(psycopg.rows, row_factory)
    with psycopg.connect(pg_server, autocommit=True, row_factory=factory) as conn:
        store = vd.stores.pgvector(conn, "t_rows", text="body")
        assert (store.metric, store.n, store.dim, store.params["ef_search"]) == ("dot", 100, 8, 40)
        res = store.search(X[:4], k=5)
        top = np.argsort(-(X[:4].astype(np.float64) @ X.astype(np.float64).T), axis=1)[:, :5]
        assert res.ids.tolist() == [[f"d{i}" for i in row] for row in top]
        index = store.fetch()
        assert dict(zip(index.ids.tolist(), index.texts.tolist()))["d7"] == "document 7"
        assert vd.audit(store, X[:4], k=5, sweep=False).recall == 1.0


def test_pgvector_closed_or_async_connection_is_named(pg_docs):
    """A closed connection escaped as psycopg's OperationalError, an AsyncConnection as
    "'_AsyncGeneratorContextManager' object does not support the context manager
    protocol"; each now names dsn_or_connection and what to pass."""
    import asyncio

    import psycopg

    conn = psycopg.connect(pg_docs)
    conn.close()
    with pytest.raises(ValueError, match="dsn_or_connection: the connection is closed"):
        vd.stores.pgvector(conn, "docs")

    async def with_async():
        aconn = await psycopg.AsyncConnection.connect(pg_docs, autocommit=True)
        try:
            with pytest.raises(TypeError, match="dsn_or_connection is a psycopg "
                                                "AsyncConnection.*psycopg.connect"):
                vd.stores.pgvector(aconn, "docs")
        finally:
            await aconn.close()

    asyncio.run(with_async())


@pytest.mark.parametrize("kwargs, sql, message", [
    ({"table": "nope"}, (), r"table 'nope' does not exist.*tables there: .*public\.docs"),
    ({"table": "docs", "vector": "emb"}, (),
     r"vector='emb': table docs has no column 'emb'; its columns: id \(bigint\), "
     r"embedding \(vector\(32\)\), body \(text\)"),
    ({"table": "docs", "vector": "body"}, (), r"column body is text, not a pgvector"),
    ({"table": "docs", "id": "doc_id"}, (), r"id='doc_id'.*no column"),
    ({"table": "bad_nulls"}, ("UPDATE bad_nulls SET embedding = NULL WHERE id IN (3, 5, 9)",),
     r"has 3 NULL vectors \(ids: 3, 5, 9\).*where='embedding IS NOT NULL'"),
    ({"table": "bad_empty"}, ("DELETE FROM bad_empty",), r"is empty"),
    ({"table": "bad_l1"}, ("DROP INDEX bad_l1_embedding_idx",
                           "CREATE INDEX ON bad_l1 USING hnsw (embedding vector_l1_ops)"),
     r"vector_l1_ops, a metric vecdiag does not support"),
    ({"table": "bad_noindex"}, ("DROP INDEX bad_noindex_embedding_idx",),
     r"has no HNSW or IVFFlat index.*pass metric="),
    # a where= PostgreSQL cannot run raised psycopg's SyntaxError / UndefinedColumn
    ({"table": "bad_where", "where": "body LIKE 'a%' AND"}, (),
     r"where=\"body LIKE 'a%' AND\": PostgreSQL cannot run it on bad_where \(syntax error"
     r".*its columns: id \(bigint\)"),
    ({"table": "bad_where2", "where": "category = 'news'"}, (),
     r"where=\"category = 'news'\": .*column \"category\" does not exist"),
])
def test_pgvector_bad_input(pg_server, store_data, kwargs, sql, message):
    X = store_data[0][:20]
    if kwargs["table"].startswith("bad_"):
        pg_table(pg_server, kwargs["table"], X, extra_sql=sql)
    else:
        pg_table(pg_server, "docs", store_data[0])
    with pytest.raises(ValueError, match=message):
        vd.stores.pgvector(pg_server, **kwargs).fetch()


def test_pgvector_mixed_dimensions_and_duplicates(pg_server):
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS mixed")
        conn.execute("CREATE TABLE mixed (id int, embedding vector)")
        conn.execute("INSERT INTO mixed VALUES (1, '[1,2,3]'), (2, '[1,2]')")
        conn.execute("DROP TABLE IF EXISTS dup")
        conn.execute("CREATE TABLE dup (id int, embedding vector(2))")
        conn.execute("INSERT INTO dup VALUES (1, '[1,2]'), (1, '[2,1]'), (2, '[0,1]')")
    with pytest.raises(ValueError, match="dimension mismatch.*dimensions 2 to 3"):
        vd.stores.pgvector(pg_server, "mixed", metric="cosine")
    store = vd.stores.pgvector(pg_server, "dup", metric="cosine")
    assert store.params["index"] is None                 # exact scan
    with pytest.raises(ValueError, match=r"1 duplicate ids \(1\)"):
        store.fetch()
    with pytest.raises(ValueError, match="queries have dimension 3.*dimension 2"):
        store.search([[1, 2, 3]], k=1)


def test_pgvector_unreachable_server_masks_password():
    dsn = "postgresql://ann:s3cret-pw@127.0.0.1:1/db?connect_timeout=2"
    with pytest.raises(ValueError) as err:
        vd.stores.pgvector(dsn, "docs")
    text = str(err.value)
    assert "cannot connect" in text and "s3cret-pw" not in text and "ann:***@" in text


def test_mask_dsn_forms():
    assert vd.stores.mask_dsn("postgres://u:p%40ss@h/db") == "postgres://u:***@h/db"
    assert "secret" not in vd.stores.mask_dsn("host=h password='se cret' user=u")
    assert vd.stores.mask_dsn("postgresql://u@h/db") == "postgresql://u@h/db"
    # a quoted password holding \' (libpq's escape) showed its tail: "password=***b c'"
    assert vd.stores.mask_dsn("host=h password='a\\'b c' user=u") == "host=h password=*** user=u"


def test_qdrant_url_credentials_are_masked_in_describe_repr_and_errors(monkeypatch):
    # vd.stores.qdrant("http://ann:pw@host:6333?api_key=...") showed the URL as given in
    # describe(), repr and the reports built from them, and a token before @ or an
    # ?api_key= in the "cannot reach" error; one rule (vecdiag._secrets) masks them now
    qc = pytest.importorskip("qdrant_client")
    from qdrant_client import models

    real = qc.QdrantClient

    def served(url, **kwargs):      # the server at `url`, played by an in-memory client
        client = real(location=":memory:")
        client.create_collection("docs", vectors_config=models.VectorParams(
            size=3, distance=models.Distance.COSINE))
        return client

    monkeypatch.setattr(qc, "QdrantClient", served)
    store = vd.stores.qdrant("http://ann:s3cret@db:6333/?api_key=k3y", "docs")
    assert store.describe() == "qdrant http://ann:***@db:6333/?api_key=*** collection docs"
    assert "s3cret" not in repr(store) and "k3y" not in repr(store)
    store.close()
    monkeypatch.setattr(qc, "QdrantClient", real)
    with pytest.raises(ValueError) as err:
        vd.stores.qdrant("http://t0ken@127.0.0.1:1/?api_key=k3y", "docs")
    assert "http://***@127.0.0.1:1/?api_key=***" in str(err.value)
    assert "t0ken" not in str(err.value) and "k3y" not in str(err.value)


def test_store_results_keep_integer_ids_when_a_query_was_short():
    # a store answering fewer than k (ef_search < k) pads with id None: to_frame drops the
    # padded rows, but the None had already made the integer ids an object column
    from vecdiag.stores import StoreNeighbors

    nan = float("nan")
    res = StoreNeighbors(indices=np.array([[0, -1], [1, 0]]), metric="cosine", k=2,
                         scores=np.array([[1.0, nan], [0.5, 0.25]]),
                         raw_scores=np.array([[1.0, nan], [0.5, 0.25]]),
                         ids=np.array([[10, None], [20, 10]], dtype=object),
                         n_returned=np.array([1, 2]))
    frame = res.to_frame()
    assert frame["id"].dtype == np.int64 and frame["id"].tolist() == [10, 20, 10]
    assert frame["raw_score"].tolist() == [1.0, 0.5, 0.25]

# ---------------------------------------------------------------- faiss
def test_faiss_conventions_and_ids(tmp_path):
    faiss = pytest.importorskip("faiss")
    ip = faiss.IndexFlatIP(3)
    ip.add(WORKED)
    l2 = faiss.IndexIDMap2(faiss.IndexFlatL2(3))
    l2.add_with_ids(WORKED, np.array([70, 90]))
    path = tmp_path / "l2.faiss"
    faiss.write_index(l2, str(path))
    s_ip = vd.stores.faiss(ip, ids=["b", "d"])
    s_l2 = vd.stores.faiss(path)
    assert (s_ip.metric, s_l2.metric) == ("dot", "euclidean")
    r = s_ip.search(Q1, 2)
    assert r.ids.tolist() == [["d", "b"]]
    np.testing.assert_allclose(r.scores[0], EXPECTED["dot"][1], atol=1e-6)
    r = s_l2.search(Q1, 2)
    assert r.ids.tolist() == [[70, 90]]
    np.testing.assert_allclose(r.raw_scores[0], [0.8, 1.0], atol=1e-6)   # squared L2
    np.testing.assert_allclose(r.scores[0], EXPECTED["euclidean"][1], atol=1e-6)
    np.testing.assert_array_equal(s_l2.fetch().vectors, WORKED)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("b\nd\n")
    assert vd.stores.faiss(ip, ids=ids_file).fetch().ids.tolist() == ["b", "d"]


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivf_ids", "idmap_ivf"])
def test_faiss_fetch_every_layout(store_data, kind):
    faiss = pytest.importorskip("faiss")
    X = store_data[0][:500]
    labels = np.arange(500) * 3 + 11
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(32, 8, faiss.METRIC_INNER_PRODUCT)
        index.add(X)
        want = np.arange(500)
    else:
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(32), 32, 8)
        ivf.train(X)
        index = faiss.IndexIDMap(ivf) if kind == "idmap_ivf" else ivf
        if kind == "ivf":
            index.add(X)
            want = np.arange(500)
        else:
            index.add_with_ids(X, labels)
            want = labels
    store = vd.stores.faiss(index)
    got = store.fetch()
    row = {v: i for i, v in enumerate(got.ids.tolist())}
    np.testing.assert_array_equal(got.vectors[[row[v] for v in want.tolist()]], X)
    name = "efSearch" if kind == "hnsw" else "nprobe"
    assert name in store.params
    store.set_params(**{name: 4})
    assert store.params[name] == 4


def test_explain_on_a_store_refuses_another_metric_even_cosine():
    # metric="cosine" on a faiss L2 store was let through and ignored (the default
    # spelled out): the explanation ran under euclidean without a word
    faiss = pytest.importorskip("faiss")
    X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    flat = faiss.IndexFlatL2(8)
    flat.add(X)
    store = vd.stores.faiss(flat)
    with pytest.raises(ValueError, match="metric='cosine', but the store searches by "
                                         "'euclidean'"):
        vd.explain_neighbors(X[0] + 0.1, store, expected=[1], k=5, metric="cosine")
    exp = vd.explain_neighbors(X[0] + 0.1, store, expected=[1], k=5, metric="euclidean")
    assert exp.metric == "euclidean"


def test_faiss_bad_input(tmp_path):
    faiss = pytest.importorskip("faiss")
    with pytest.raises(ValueError, match="no faiss index file"):
        vd.stores.faiss(tmp_path / "missing.faiss")
    (tmp_path / "junk.faiss").write_bytes(b"not an index")
    with pytest.raises(ValueError, match="is not a faiss index file"):
        vd.stores.faiss(tmp_path / "junk.faiss")
    l1 = faiss.IndexFlat(3, faiss.METRIC_L1)
    with pytest.raises(ValueError, match="METRIC_L1, a metric vecdiag does not support"):
        vd.stores.faiss(l1)
    flat = faiss.IndexFlatIP(3)
    flat.add(WORKED)
    with pytest.raises(ValueError, match="ids has 3 entries but the faiss index holds 2"):
        vd.stores.faiss(flat, ids=["a", "b", "c"])
    with pytest.raises(ValueError, match="2 duplicate ids|1 duplicate ids"):
        vd.stores.faiss(flat, ids=["a", "a"]).fetch()
    # an ids file of nested lists, or a JSON object, raised a TypeError deep in the fetch
    (tmp_path / "nested.json").write_text('[["a"], ["b"]]')
    with pytest.raises(ValueError, match=r"ids must be strings or integers, one per vector; "
                                         r"entry 0 is \['a'\] \(2 such entries\)"):
        vd.stores.faiss(flat, ids=tmp_path / "nested.json")
    (tmp_path / "object.json").write_text('{"a": 0, "b": 1}')
    with pytest.raises(ValueError, match="the file holds a dict"):
        vd.stores.faiss(flat, ids=tmp_path / "object.json")
    # spaces and a carriage return around an id in a text file are not part of it
    (tmp_path / "ids.txt").write_text(" doc-a \r\n\tdoc-b\n")
    store = vd.stores.faiss(flat, ids=tmp_path / "ids.txt")
    assert sorted(store.search(Q1, 2).ids[0].tolist()) == ["doc-a", "doc-b"]
    with pytest.raises(ValueError, match="is empty"):
        vd.stores.faiss(faiss.IndexFlatIP(3)).fetch()


# ---------------------------------------------------------------- Qdrant
@pytest.mark.parametrize("distance, metric", [("COSINE", "cosine"), ("DOT", "dot"),
                                              ("EUCLID", "euclidean")])
def test_qdrant_local_conventions(qdrant_path, distance, metric):
    from qdrant_client import QdrantClient, models

    path = os.path.join(qdrant_path, distance)
    client = QdrantClient(path=path)
    client.create_collection("worked", vectors_config=models.VectorParams(
        size=3, distance=getattr(models.Distance, distance)))
    client.upsert("worked", points=models.Batch(ids=[7, str(uuid.UUID(int=5))],
                                                vectors=WORKED.tolist(),
                                                payloads=[{"t": "b"}, {"t": "<d>"}]))
    store = vd.stores.qdrant(client, "worked", text="t")
    assert store.metric == metric and store.n == 2 and store.params["index"] is None
    r = store.search(Q1, 2)
    order, scores = EXPECTED[metric]
    assert r.ids[0].tolist() == [[7, str(uuid.UUID(int=5))][i] for i in order]
    np.testing.assert_allclose(r.scores[0], scores, atol=1e-6)
    fetched = store.fetch()
    assert sorted(fetched.texts.tolist()) == ["<d>", "b"]
    norms = np.linalg.norm(fetched.vectors, axis=1)
    if metric == "cosine":   # Qdrant normalises on insert under Cosine: the norm 2 is gone
        np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    else:
        np.testing.assert_allclose(sorted(norms), [1.0, 2.0], atol=1e-6)
    with pytest.raises(ValueError, match="collection 'nope' does not exist.*worked"):
        vd.stores.qdrant(client, "nope")
    # a text field no point has gave texts of None in silence (lexical checks then off)
    with pytest.raises(ValueError, match="text='body', but no point has a payload field "
                                         "'body' \\(a point's payload has 't'\\)"):
        vd.stores.qdrant(client, "worked", text="body").fetch()
    client.close()


# ---------------------------------------------------------------- Chroma
@pytest.mark.parametrize("space, metric, raw", [
    ("l2", "euclidean", [0.8, 1.0]),   # squared L2
    ("ip", "dot", [-1.0, 0.4]),        # 1 - dot
    ("cosine", "cosine", [0.0, 0.4]),  # 1 - cos
])
def test_chroma_conventions(chroma_client, space, metric, raw):
    col = chroma_client.create_collection(f"worked-{space}", metadata={"hnsw:space": space},
                                          embedding_function=None)
    col.add(ids=["b", "d"], embeddings=WORKED, documents=["B", "D"])
    store = vd.stores.chroma(col)
    assert store.metric == metric and store.dim == 3 and store.n == 2
    r = store.search(Q1, 2)
    order, scores = EXPECTED[metric]
    assert r.ids[0].tolist() == [["b", "d"][i] for i in order]
    np.testing.assert_allclose(r.raw_scores[0], raw, atol=1e-5)
    np.testing.assert_allclose(r.scores[0], scores, atol=1e-5)
    assert store.fetch().texts.tolist() == ["B", "D"]
    # chromadb keeps searching a loaded index with its old ef_search: refused, not faked
    before = store.params["ef_search"]
    with pytest.raises(ValueError, match="cannot be changed while the collection is loaded"):
        store.set_params(ef_search=before + 7)
    assert store.params["ef_search"] == before


def test_stores_need_no_heavy_imports():
    import subprocess
    import sys

    code = ("import sys, vecdiag as vd; vd.stores; vd.audit; "
            "print(sorted(m for m in ('psycopg', 'qdrant_client', 'chromadb', 'faiss') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


# ---------------------------------------------------------------- binary COPY parser
def _copy_stream(ids, X, texts=None):
    """PostgreSQL's binary COPY of (id, vector[, text]) rows, written by hand."""
    import struct

    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    for i, (row_id, v) in enumerate(zip(ids, X)):
        fields = [struct.pack(">q", row_id) if isinstance(row_id, int) else row_id.encode(),
                  struct.pack(">hh", len(v), 0) + np.asarray(v, ">f4").tobytes()]
        if texts is not None:
            fields.append(None if texts[i] is None else texts[i].encode())
        out.append(struct.pack(">h", len(fields)))
        for f in fields:
            out.append(struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f)
    out.append(b"\xff\xff")
    return b"".join(out)


@pytest.mark.parametrize("kind", ["fixed", "generic"])
def test_copy_parser_any_chunking(kind, monkeypatch):
    """Rows split anywhere across chunks (and blocks flushed mid-row) parse the same."""
    from hypothesis import given
    from hypothesis import strategies as st

    from vecdiag.stores import _pgcopy

    rng = np.random.default_rng(3)
    X = rng.normal(size=(23, 5)).astype(np.float32)
    ids = list(range(100, 123)) if kind == "fixed" else [f"id-{i}" for i in range(23)]
    texts = None if kind == "fixed" else [None if i == 4 else f"tèxt {i}" for i in range(23)]
    stream = _copy_stream(ids, X, texts)
    monkeypatch.setattr(_pgcopy, "FLUSH_BYTES", 64)

    @given(st.lists(st.integers(1, len(stream) - 1), max_size=12, unique=True))
    def check(cuts):
        parser = _pgcopy.CopyParser(5, "vector", "bigint" if kind == "fixed" else "text",
                                 texts is not None)
        got_ids, got_v, got_t = [], [], []
        bounds = [0, *sorted(cuts), len(stream)]
        batches = [parser.feed(stream[a:b]) for a, b in zip(bounds, bounds[1:])]
        batches.append(parser.parse())
        parser.finish()
        for b in batches:
            if b is not None:
                got_ids += list(b[0])
                got_v.append(b[1])
                got_t += list(b[2] or [])
        assert got_ids == ids
        np.testing.assert_array_equal(np.concatenate(got_v), X)
        assert got_t == (texts or [])

    check()


def test_faiss_nprobe_above_the_number_of_lists_is_refused(store_data):
    """faiss caps nprobe at nlist without a word: sweep='nprobe=4,16,64' on 8 lists gave
    three rows of one setting labelled 4, 16 and 64. Now set_params and the sweep name
    the cap; the default sweep stops at nlist."""
    faiss = pytest.importorskip("faiss")
    X, Q = store_data[0][:400], store_data[0][400:410]
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(32), 32, 8)
    ivf.train(X)
    ivf.add(X)
    store = vd.stores.faiss(ivf)
    with pytest.raises(ValueError, match=r"nprobe=9 is more than the index's 8 lists"):
        store.set_params(nprobe=9)
    with pytest.raises(ValueError, match=r"nprobe=16 is more than the index's 8 lists"):
        vd.stores.audit(store, Q, k=5, sweep="nprobe=4,16")
    store.set_params(nprobe=8)
    assert store.params["nprobe"] == 8
    report = vd.stores.audit(store, Q, k=5)
    assert report.sweep_frame()["nprobe"].tolist() == [1, 2, 4, 8]
