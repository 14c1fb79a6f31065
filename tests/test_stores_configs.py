"""Stores configured the way users configure them (a vector's own HNSW settings, ...):
each read as declared, its search compared with exact NumPy search over the vectors the
test put in."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from _store_servers import pg_table

import vecdiag as vd


def test_qdrant_vector_with_its_own_partial_hnsw_config(qdrant_path, rng):
    """A vector's ``hnsw_config`` is a diff: the fields it leaves out (None) are the
    collection's. Setting only ef_construct raised TypeError (int(None)) on opening."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "hnsw-diff"))
    X = rng.normal(size=(10, 4)).astype(np.float32)
    client.create_collection("one", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT,
        hnsw_config=models.HnswConfigDiff(ef_construct=200)))
    client.create_collection("named", vectors_config={
        "a": models.VectorParams(size=4, distance=models.Distance.DOT,
                                 hnsw_config=models.HnswConfigDiff(m=8)),
        "b": models.VectorParams(size=4, distance=models.Distance.DOT)})
    client.upsert("one", [models.PointStruct(id=i, vector=X[i].tolist()) for i in range(10)])
    client.upsert("named", [models.PointStruct(id=i, vector={"a": X[i].tolist(),
                                                             "b": X[i].tolist()})
                            for i in range(10)])
    one = vd.stores.qdrant(client, "one")
    assert (one.params["m"], one.params["ef_construct"]) == (16, 200)
    a = vd.stores.qdrant(client, "named", vector="a")
    assert (a.params["m"], a.params["ef_construct"]) == (8, 100)
    b = vd.stores.qdrant(client, "named", vector="b")
    assert (b.params["m"], b.params["ef_construct"]) == (16, 100)
    exact = np.argsort(-(X[:3] @ X.T), axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(one.search(X[:3], 3).indices, exact)
    client.close()


def test_faiss_binary_index_file_is_named_as_binary(tmp_path):
    """read_index refuses a file written by write_index_binary ("Index type 0x46784249
    not recognized"), which read as "not a faiss index file"; it is one, binary."""
    import faiss

    binary = faiss.IndexBinaryFlat(64)
    binary.add(np.arange(80, dtype=np.uint8).reshape(10, 8))
    path = str(tmp_path / "bits.faiss")
    faiss.write_index_binary(binary, path)
    with pytest.raises(ValueError, match=r"bits\.faiss' holds a binary faiss index \(written "
                                         r"by write_index_binary\): binary indexes compare "
                                         r"bits"):
        vd.stores.faiss(path)
    junk = tmp_path / "junk.faiss"
    junk.write_bytes(b"not an index")
    with pytest.raises(ValueError, match=r"junk\.faiss' is not a faiss index file"):
        vd.stores.faiss(str(junk))


def test_audit_interval_of_queries_with_one_recall_holds_that_recall():
    """Three queries that each find 7 of their 10 neighbours: recall 0.7 exactly, inside
    its interval (no spread between the queries: design effect (10 * 2.8 + 0) / 12 = 7/3,
    30 * 3/7 = 90/7 effective neighbours, 9 found). A bootstrap interval once ended at
    np.mean's 0.6999999999999998, below the recall, and plot() raised (negative error bar).

    An IVF index of two lists with centroids (0, 0) and (10, 0): the query (4.9, 0)
    probes list A only (nprobe=1), whose 7 points at x 4.0-4.6 are true neighbours; the
    other 3 true ones (x 5.5-5.7) are in list B, and A fills the top 10 with far points."""
    import faiss

    quantizer = faiss.IndexFlatL2(2)
    quantizer.add(np.array([[0, 0], [10, 0]], dtype=np.float32))
    ivf = faiss.IndexIVFFlat(quantizer, 2, 2)
    ivf.is_trained = True
    near_a = np.c_[np.linspace(4.0, 4.6, 7), np.zeros(7)]
    far_a = np.c_[np.full(10, -5.0), np.arange(10.0)]
    near_b = np.c_[np.linspace(5.5, 5.7, 3), np.zeros(3)]
    ivf.add(np.vstack([near_a, far_a, near_b]).astype(np.float32))
    queries = np.tile(np.array([[4.9, 0.0]], dtype=np.float32), (3, 1))
    res = vd.audit(vd.stores.faiss(ivf), queries, k=10, sweep={"nprobe": [1, 2]})
    assert res.per_query.tolist() == [0.7, 0.7, 0.7]
    from scipy.stats import beta

    m = 90 / 7
    assert res.recall == 0.7
    np.testing.assert_allclose(res.ci, (beta.ppf(0.025, 9, m - 8), beta.ppf(0.975, 10, m - 9)),
                               rtol=1e-10)
    assert res.sweep[1].ci == res.ci
    assert res.sweep[2].ci == (pytest.approx(0.025 ** (1 / 12)), 1.0)   # all found: not [1, 1]
    # the suggestion, measured on 3 queries, comes with its interval
    found = next(f for f in res.findings if f.code == "ann_recall")
    assert re.search(r"; raise nprobe from 1 to 2: recall 1\.000 \(95% interval "
                     r"0\.735-1\.000\) at \d+\.\d\d ms a query \(sweep\)\.$", found.summary)
    ax = res.plot()
    assert ax.get_title() == "faiss (euclidean): recall@10 0.700 at current settings"


def test_qdrant_folder_that_is_not_a_qdrant_store_is_left_untouched(tmp_path):
    """QdrantClient(path=...) makes a new local store in any folder: a folder of other
    files (or a Chroma folder) passed by mistake got meta.json and .lock written into it,
    then 'collections there: none'. It is now refused, and nothing is written."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"project' is not a Qdrant local-mode folder \(no "
                                         r"meta\.json in it\)"):
        vd.stores.qdrant(str(folder), "docs")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_pgvector_id_that_is_one_part_of_a_composite_key(pg_server, rng):
    """PRIMARY KEY ("Tenant", doc_id) with id="doc_id": ids repeat across tenants, and the
    error said to deduplicate them; it now names the key and the where= that reads one
    tenant, whose ids are then unique."""
    import psycopg
    from pgvector.psycopg import register_vector

    X = rng.normal(size=(6, 4)).astype(np.float32)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS tenants")
        conn.execute('CREATE TABLE tenants ("Tenant" text, doc_id int, embedding vector(4), '
                     'PRIMARY KEY ("Tenant", doc_id))')
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO tenants VALUES (%s, %s, %s)",
                            [(t, i, X[3 * j + i]) for j, t in enumerate("ab") for i in range(3)])
    store = vd.stores.pgvector(pg_server, "tenants", id="doc_id", metric="dot")
    with pytest.raises(ValueError, match=r"has 3 duplicate ids \(0, 1, 2\); column doc_id is "
                                         r"one part of the key \(\"Tenant\", doc_id\) of "
                                         r"tenants and repeats across \"Tenant\"; pass id= a "
                                         r"column unique on its own, or where= fixing "
                                         r"\"Tenant\" \(where='\"Tenant\" = \.\.\.'\)"):
        store.fetch()
    store.close()
    with vd.stores.pgvector(pg_server, "tenants", id="doc_id", metric="dot",
                            where="\"Tenant\" = 'b'") as store:
        assert store.fetch().ids.tolist() == [0, 1, 2]
        np.testing.assert_array_equal(store.fetch().vectors, X[3:])


def test_an_empty_store_names_where_only_when_there_is_one(pg_docs):
    """The empty-store error ended '(or check where=)' for every store, faiss, Qdrant and
    Chroma included, which take no where=; it now names pgvector's where= when given."""
    import faiss

    with pytest.raises(ValueError, match=r"IndexFlatIP is empty: there is nothing to fetch "
                                         r"or audit; insert vectors first$"):
        vd.stores.faiss(faiss.IndexFlatIP(4)).fetch()
    with vd.stores.pgvector(pg_docs, "docs", where="id < 0") as store:
        with pytest.raises(ValueError, match=r"table docs is empty: there is nothing to fetch "
                                             r"or audit; insert vectors first \(or check "
                                             r"where='id < 0', which no row meets\)$"):
            store.fetch()


def test_qdrant_alias_is_read_as_the_collection_it_points_to(qdrant_path, rng):
    """Applications search a Qdrant alias ("docs") while collections are swapped behind
    it; the alias was refused as 'does not exist (collections there: docs_v2)'."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "aliases"))
    X = rng.normal(size=(12, 4)).astype(np.float32)
    client.create_collection("docs_v2", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT))
    client.upsert("docs_v2", [models.PointStruct(id=i, vector=X[i].tolist())
                              for i in range(12)])
    client.update_collection_aliases(change_aliases_operations=[models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name="docs_v2", alias_name="docs"))])
    store = vd.stores.qdrant(client, "docs")
    assert store.describe() == "qdrant client collection docs_v2 (alias docs)"
    assert store.n == 12
    exact = np.argsort(-(X[:3] @ X.T), axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(store.search(X[:3], 3).indices, exact)
    with pytest.raises(ValueError, match=r"collection 'doc' does not exist in Qdrant client; "
                                         r"collections there: docs_v2, docs \(alias of "
                                         r"docs_v2\)"):
        vd.stores.qdrant(client, "doc")
    client.close()


@pytest.mark.parametrize("model, unit, severity, fix", [
    ("euclidean", False, "critical", None),     # was dot_metric, a fix for dot models
    ("manhattan", True, "critical", None),      # was 'ok: on unit vectors both rank alike'
    ("euclidean", True, "ok", None),
    ("cosine", False, "critical", "cosine_metric"),
])
def test_model_metric_finding_for_euclidean_and_manhattan_models(model, unit, severity, fix):
    """A model trained for euclidean (sentence-transformers' similarity_fn_name) over an
    inner-product index was told fix=dot_metric; one trained for manhattan over unit
    vectors was told that both rank alike (L1 does not rank as the dot product does)."""
    import faiss

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    if not unit:
        X *= rng.uniform(0.5, 3.0, size=(60, 1)).astype(np.float32)
    flat = faiss.IndexFlatIP(8)
    flat.add(X)

    class Model:        # what a sentence-transformers model says about itself
        similarity_fn_name = model

    res = vd.audit(vd.stores.faiss(flat), X[:5], k=3, embedder=Model())
    found = {f.code: f for f in res.findings}["model_metric"]
    assert (found.severity, found.fix) == (severity, fix)
    assert found.evidence["model"] == model


def test_qdrant_ids_from_a_payload_field(qdrant_path, rng):
    """Qdrant point ids must be UUIDs or numbers, so applications keep their own document
    id in the payload; id= reads it (a dotted path too) as the store's ids, in fetch,
    search and expected=. A point without it is refused, naming the fields there are."""
    import uuid

    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "payload-ids"))
    X = rng.normal(size=(12, 4)).astype(np.float32)
    client.create_collection("docs", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT))
    client.upsert("docs", [models.PointStruct(
        id=str(uuid.UUID(int=1000 + i)), vector=X[i].tolist(),
        payload={"doc_id": f"doc-{i}", "meta": {"n": i}}) for i in range(12)])
    exact = np.argsort(-(X[:3] @ X.T), axis=1, kind="stable")[:, :3]
    store = vd.stores.qdrant(client, "docs", id="doc_id")
    assert sorted(store.fetch().ids.tolist()) == sorted(f"doc-{i}" for i in range(12))
    assert store.search(X[:3], 3).ids.tolist() == [[f"doc-{j}" for j in row] for row in exact]
    nested = vd.stores.qdrant(client, "docs", id="meta.n")
    assert nested.search(X[:3], 3).ids.tolist() == exact.tolist()
    assert vd.audit(store, X[:3], k=3).recall == 1.0
    with pytest.raises(ValueError, match=r"12 of 12 points read have no payload field 'docid' "
                                         r"\(point ids: '00000000-0000-0000-0000-0000000003e8'"
                                         r".*a point's payload has 'doc_id', 'meta'\)"):
        vd.stores.qdrant(client, "docs", id="docid").fetch()
    with pytest.raises(TypeError, match="id must be a payload field name, got 3"):
        vd.stores.qdrant(client, "docs", id=3)
    client.close()


def test_a_store_that_changed_since_it_was_counted_is_read_at_the_next_fetch(pg_server, rng):
    """The count (store.n) was taken once, so a store written to after it was counted
    failed every fetch ('grew while it was read ...; fetch again'), however often one
    fetched again. The failed fetch now forgets the count and the next one reads it."""
    import faiss
    import psycopg

    X = rng.normal(size=(20, 4)).astype(np.float32)
    flat = faiss.IndexFlatL2(4)
    flat.add(X[:10])
    store = vd.stores.faiss(flat)
    assert store.n == 10
    flat.add(X[10:])
    with pytest.raises(ValueError, match=r"holds more than the 10 rows it held when counted "
                                         r"\(it changed since\); fetch again"):
        store.fetch()
    np.testing.assert_array_equal(store.fetch().vectors, X)
    assert store.n == 20
    flat.remove_ids(np.arange(5))
    shrunk = vd.stores.faiss(flat)
    assert shrunk.n == 15
    flat.remove_ids(np.arange(5))
    with pytest.raises(ValueError, match=r"returned 10 rows but held 15 when counted"):
        shrunk.fetch()
    np.testing.assert_array_equal(shrunk.fetch().vectors, X[10:])
    pg_table(pg_server, "t_counted", X[:10], opclass=None)
    with vd.stores.pgvector(pg_server, "t_counted", metric="euclidean") as pg:
        assert pg.n == 10
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("INSERT INTO t_counted SELECT id + 100, embedding, body FROM t_counted")
        with pytest.raises(ValueError, match="holds more than the 10 rows"):
            pg.fetch()
        assert sorted(pg.fetch().ids.tolist()) == list(range(10)) + list(range(100, 110))
        assert pg.n == 20


def test_pgvector_role_without_privileges_gets_the_grant_to_ask_for(pg_server, rng):
    """A role that may not read the table made psycopg's InsufficientPrivilege escape
    (the CLI called it 'an internal error ... a bug in vecdiag', exit 3). It is now a
    ValueError naming the store, PostgreSQL's words and the grant to ask for: when the
    store is made, when it is fetched (a column not granted) and when it is searched."""
    import psycopg

    X = rng.normal(size=(20, 4)).astype(np.float32)
    pg_table(pg_server, "t_priv", X, opclass=None)
    reader = pg_server.replace("postgres:@", "vecdiag_reader:@")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = "
                     "'vecdiag_reader') THEN DROP OWNED BY vecdiag_reader; DROP ROLE "
                     "vecdiag_reader; END IF; END $$")
        conn.execute("CREATE ROLE vecdiag_reader LOGIN")
        grant = r"grant the role you connect as SELECT on t_priv \(and USAGE on its schema\)"
        with pytest.raises(ValueError, match=r"table t_priv: PostgreSQL refused to read it "
                                             r"\(permission denied for table t_priv\); " + grant):
            vd.stores.pgvector(reader, "t_priv", metric="dot")
        conn.execute("GRANT SELECT (id, embedding) ON t_priv TO vecdiag_reader")
        with vd.stores.pgvector(reader, "t_priv", metric="dot", text="body") as store:
            with pytest.raises(ValueError, match=r"refused to read its rows \(permission "
                                                 r"denied for table t_priv\); " + grant):
                store.fetch()
        with vd.stores.pgvector(reader, "t_priv", metric="dot") as store:
            assert store.fetch().ids.tolist() == list(range(20))
            conn.execute("REVOKE SELECT (id, embedding) ON t_priv FROM vecdiag_reader")
            with pytest.raises(ValueError, match=r"refused to search it \(permission denied "
                                                 r"for table t_priv\); " + grant):
                store.search(X[:1], k=2)
        conn.execute("DROP OWNED BY vecdiag_reader")
        conn.execute("DROP ROLE vecdiag_reader")


def test_qdrant_hybrid_collection_unnamed_dense_beside_sparse_vectors(qdrant_path, rng):
    """The usual hybrid-search collection: one unnamed dense vector and a named sparse one
    (BM25). Qdrant returns a point's vectors as {"": dense, "bm25": sparse}, which the
    fetch turned into an array (TypeError: float() argument ... not 'dict')."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "hybrid"))
    X = rng.normal(size=(10, 4)).astype(np.float32)
    client.create_collection("hybrid", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT),
        sparse_vectors_config={"bm25": models.SparseVectorParams()})
    client.upsert("hybrid", [models.PointStruct(id=i, vector={
        "": X[i].tolist(), "bm25": models.SparseVector(indices=[i], values=[1.0])})
        for i in range(10)])
    store = vd.stores.qdrant(client, "hybrid")
    order = np.argsort(store.fetch().ids.astype(int))
    np.testing.assert_array_equal(store.fetch().vectors[order], X)
    exact = np.argsort(-(X[:3] @ X.T), axis=1, kind="stable")[:, :3]
    assert store.search(X[:3], 3).ids.tolist() == exact.tolist()
    assert vd.audit(store, X[:3], k=3).recall == 1.0
    client.close()


def test_qdrant_points_with_sparse_vectors_only_are_counted_over_the_collection(qdrant_path, rng):
    """A hybrid collection (unnamed dense + sparse 'bm25') whose points 2, 7, 10 and 11
    hold the sparse vector only, fetched in batches of 4: refused as "1 points of this
    batch have no dense vector (ids: 2)", the first batch's count, where 4 of the 12
    points lack it. Now the count and the first ids are the collection's (Qdrant's
    has_vector filter; reference: the points written here)."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "sparse-only"))
    X = rng.normal(size=(12, 4)).astype(np.float32)
    client.create_collection("mixed", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT),
        sparse_vectors_config={"bm25": models.SparseVectorParams()})
    sparse_only = (2, 7, 10, 11)
    client.upsert("mixed", [models.PointStruct(id=i, vector={
        **({} if i in sparse_only else {"": X[i].tolist()}),
        "bm25": models.SparseVector(indices=[i], values=[1.0])}) for i in range(12)])
    store = vd.stores.qdrant(client, "mixed")
    with pytest.raises(ValueError) as err:
        store.fetch(batch_size=4)
    assert str(err.value).startswith("collection mixed: 4 of 12 points have no dense vector "
                                     "(first ids: 2, 7, 10, 11); a search over the dense "
                                     "vector never returns them")
    client.close()


def test_pgvector_sparse_and_binary_columns_are_refused_with_what_to_do(pg_server):
    """A sparsevec column (SPLADE-style learned sparse vectors) or a bit column was refused
    as 'not a pgvector vector or halfvec column', which named neither what the type is nor
    what to do. Reading it as dense rows is not done (pgvector's vector holds at most
    16,000 dimensions, a SPLADE column has 30,522; the query would need its own cast):
    the refusal now says what the column holds and, where a cast to vector works, how to
    read its rows for vecdiag's diagnostics."""
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS sparse_docs")
        conn.execute("CREATE TABLE sparse_docs (id int PRIMARY KEY, emb sparsevec(5), "
                     "splade sparsevec(30522), loose sparsevec, code bit(8), v vector(2))")
        conn.execute("INSERT INTO sparse_docs VALUES (1, '{1:1,3:2}/5', '{7:1}/30522', "
                     "'{1:1}/3', B'10101010', '[1,2]')")

    def refusal(column):
        with pytest.raises(ValueError) as err:
            vd.stores.pgvector(pg_server, "sparse_docs", vector=column)
        return str(err.value)

    assert refusal("emb") == (
        "vector='emb': column emb is sparsevec(5), a sparse vector (pgvector's sparsevec): "
        "vd.stores.pgvector audits dense vector / halfvec columns only; to run vecdiag's "
        "diagnostics on its rows as dense vectors, read them with SELECT id, emb::vector "
        "FROM sparse_docs into vd.Index; vector columns there: v")
    assert refusal("splade").endswith(
        "only; a sparse vector of 30522 dimensions (pgvector's vector takes at most 16,000, "
        "so it cannot be read as dense rows); vector columns there: v")
    assert "a sparse vector of undeclared dimensions" in refusal("loose")
    assert refusal("code").startswith(
        "vector='code': column code is bit(8), a binary vector (pgvector's bit, searched by "
        "Hamming / Jaccard distance), which vecdiag does not audit")
    with psycopg.connect(pg_server, autocommit=True) as conn:     # the recipe given works
        rows = conn.execute("SELECT id, emb::vector FROM sparse_docs").fetchall()
    assert [(i, str(v)) for i, v in rows] == [(1, "[1,0,2,0,0]")]


def test_pgvector_index_being_built_concurrently_or_left_invalid(pg_server, rng):
    """An index that CREATE INDEX CONCURRENTLY is still building (or that a failed build
    left invalid) is never searched by PostgreSQL: the audit measured an exact scan and
    said only 'the planner's choice on a table this small: audit with force_index=True'.
    It now reports index_incomplete naming the index, its build phase and what to do."""
    import threading

    import psycopg

    X = rng.normal(size=(300, 8)).astype(np.float32)
    pg_table(pg_server, "building", X, opclass=None)
    writer = psycopg.connect(pg_server)          # an open write: the build waits for it
    writer.execute("INSERT INTO building VALUES (-1, NULL, 'pending')")

    def create_index():
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("CREATE INDEX CONCURRENTLY building_hnsw ON building USING hnsw "
                         "(embedding vector_cosine_ops)")

    build = threading.Thread(target=create_index)
    build.start()
    try:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            for _ in range(200):        # until the build is registered and waiting
                if conn.execute("SELECT count(*) FROM pg_stat_progress_create_index "
                                "WHERE phase LIKE 'waiting for writers%'").fetchone()[0]:
                    break
                threading.Event().wait(0.01)
        with vd.stores.pgvector(pg_server, "building") as store:
            res = vd.audit(store, X[:5], k=3, sweep=False)
            f = {f.code: f for f in res.findings}
    finally:
        writer.rollback()
        writer.close()
        build.join()
    assert res.recall == 1.0 and f["index_incomplete"].severity == "warning"
    assert ": the index building_hnsw is not valid: CREATE INDEX CONCURRENTLY is still " \
           "building it (waiting for writers before build" in f["index_incomplete"].summary
    assert "recall@3 1.000 is an exact scan's, not the index's: wait until the build ends" \
        in f["index_incomplete"].summary
    assert "because the index is not valid yet" in f["index_unused"].summary
    with psycopg.connect(pg_server, autocommit=True) as conn:     # as a failed build leaves it
        conn.execute("UPDATE pg_index SET indisvalid = false "
                     "WHERE indexrelid = 'building_hnsw'::regclass")
    with vd.stores.pgvector(pg_server, "building") as store:
        (f,) = [f for f in vd.audit(store, X[:5], k=3, sweep=False).findings
                if f.code == "index_incomplete"]
        assert f.severity == "critical" and "(REINDEX INDEX CONCURRENTLY building_hnsw)" in \
            f.summary
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("REINDEX INDEX building_hnsw")
    with vd.stores.pgvector(pg_server, "building") as store:
        assert store.index_backlog() is None
