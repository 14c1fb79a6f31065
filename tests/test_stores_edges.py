"""Stores read as they are, or refused with a reason: the edge cases a fuzz of the
adapters found (ids of other types, rows without ids, a store that changed after its
fetch, faiss indexes whose stored vectors are not the embedded ones, Qdrant points without
the chosen vector, filters with a % in them).

Each adapter's answer is compared with an exact NumPy search over the vectors the test
put in (not over what the adapter fetched)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _store_servers import pg_table

import vecdiag as vd


def _exact_top(X, Q, k, metric):
    X, Q = np.asarray(X, np.float64), np.asarray(Q, np.float64)
    if metric == "cosine":
        S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ \
            (X / np.linalg.norm(X, axis=1, keepdims=True)).T
    elif metric == "dot":
        S = Q @ X.T
    else:
        S = -np.linalg.norm(Q[:, None, :] - X[None], axis=2)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


# ---------------------------------------------------------------- pgvector
def test_pgvector_where_with_a_percent_sign_searches(pg_server, store_data):
    """psycopg reads % as a placeholder in statements run with parameters: the user's
    condition is escaped there (construction and fetch run it without parameters)."""
    X = store_data[0][:60]
    pg_table(pg_server, "t_like", X, opclass=None,
             texts=[f"document {i}" for i in range(60)])
    store = vd.stores.pgvector(pg_server, "t_like", where="body LIKE 'document 1%'",
                               metric="dot")
    keep = [i for i in range(60) if f"document {i}".startswith("document 1")]
    assert store.n == len(keep) == 11
    res = store.search(X[:3], k=4)
    want = np.asarray(keep)[_exact_top(X[keep], X[:3], 4, "dot")]
    np.testing.assert_array_equal(np.asarray(res.ids.tolist()), want)


@pytest.mark.parametrize("id_type, make, shown", [
    ("numeric", lambda i: i + 0.5, lambda i: f"{i + 0.5}"),
    ("date", lambda i: f"2024-01-{i + 1:02d}", lambda i: f"2024-01-{i + 1:02d}"),
    ("double precision", lambda i: i * 2.0, lambda i: f"{i * 2}"),
])
def test_pgvector_ids_of_other_types_are_read_as_their_text(pg_server, store_data, id_type,
                                                            make, shown):
    X = store_data[0][:20]
    name = "t_id_" + id_type.replace(" ", "_")
    pg_table(pg_server, name, X, ids=[make(i) for i in range(20)], id_type=id_type,
             opclass=None)
    store = vd.stores.pgvector(pg_server, name, metric="euclidean")
    index = store.fetch()
    assert sorted(index.ids.tolist()) == sorted(shown(i) for i in range(20))
    row = {v: r for r, v in enumerate(index.ids.tolist())}
    np.testing.assert_array_equal(index.vectors[[row[shown(i)] for i in range(20)]], X)
    res = store.search(X[:2], k=3)                # the same ids from the search
    want = _exact_top(X, X[:2], 3, "euclidean")
    assert res.ids.tolist() == [[shown(i) for i in r] for r in want]


def test_pgvector_text_of_any_column_type(pg_server, store_data):
    X = store_data[0][:10]
    pg_table(pg_server, "t_texts", X, opclass=None,
             extra_sql=("ALTER TABLE t_texts ADD COLUMN n integer",
                        "UPDATE t_texts SET n = id * 7",
                        "ALTER TABLE t_texts ADD COLUMN j jsonb",
                        "UPDATE t_texts SET j = jsonb_build_object('a', id)"))
    by_id = lambda store: dict(zip(store.fetch().ids.tolist(),   # noqa: E731
                                   store.fetch().texts.tolist()))
    assert by_id(vd.stores.pgvector(pg_server, "t_texts", text="n", metric="dot")) == \
        {i: str(7 * i) for i in range(10)}
    assert by_id(vd.stores.pgvector(pg_server, "t_texts", text="j", metric="dot")) == \
        {i: f'{{"a": {i}}}' for i in range(10)}


def test_pgvector_rows_without_id_and_a_table_that_changed(pg_server, store_data):
    import psycopg

    X = store_data[0][:30]
    # a NULL id, text or integer, is refused when the store is made (an integer one was
    # blamed on the vectors: "a NULL or a vector of another dimension"); where= skips it
    for id_type, ids, null in (("text", [f"d{i}" for i in range(30)], "'d4'"),
                               ("bigint", list(range(30)), "4")):
        pg_table(pg_server, "t_nullid", X, ids=ids, id_type=id_type, opclass=None,
                 extra_sql=("ALTER TABLE t_nullid DROP CONSTRAINT t_nullid_pkey",
                            "ALTER TABLE t_nullid ALTER COLUMN id DROP NOT NULL",
                            f"UPDATE t_nullid SET id = NULL WHERE id = {null}"))
        with pytest.raises(ValueError, match=r"column id of t_nullid has 1 NULL ids.*"
                                             r"where='id IS NOT NULL'"):
            vd.stores.pgvector(pg_server, "t_nullid", metric="euclidean")
        kept = vd.stores.pgvector(pg_server, "t_nullid", metric="euclidean",
                                  where="id IS NOT NULL").fetch()
        assert len(kept.ids) == 29
    pg_table(pg_server, "t_grows", X, opclass=None)
    store = vd.stores.pgvector(pg_server, "t_grows", metric="dot")
    store.fetch()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("INSERT INTO t_grows SELECT 999, embedding, 'new' FROM t_grows "
                     "WHERE id = 0")
    with pytest.raises(ValueError, match=r"returned 1 ids it did not hold .*\(999\).*anew"):
        store.search(X[:1], k=2)


def test_pgvector_column_arguments_must_be_names(pg_docs):
    with pytest.raises(TypeError, match="vector must be a column name, got None"):
        vd.stores.pgvector(pg_docs, "docs", vector=None)
    with pytest.raises(TypeError, match="text must be a column name, got 3"):
        vd.stores.pgvector(pg_docs, "docs", text=3)


# ---------------------------------------------------------------- faiss
@pytest.fixture
def faiss_data(rng):
    faiss = pytest.importorskip("faiss")
    X = rng.normal(size=(600, 16)).astype(np.float32)
    Q = rng.normal(size=(8, 16)).astype(np.float32)
    return faiss, X, Q


@pytest.mark.parametrize("metric_type", ["ip", "l2"])
def test_faiss_l2_normalised_index_is_a_cosine_store(faiss_data, metric_type):
    """"L2norm,Flat": vectors stored and queries searched at unit length, so the store
    ranks by cosine and its raw scores are the cosine (IP) or 2 - 2 cos (L2)."""
    faiss, X, Q = faiss_data
    mt = faiss.METRIC_INNER_PRODUCT if metric_type == "ip" else faiss.METRIC_L2
    index = faiss.index_factory(16, "L2norm,Flat", mt)
    index.add(X)
    store = vd.stores.faiss(index)
    assert store.metric == "cosine"
    res = store.search(Q, 5)
    np.testing.assert_array_equal(res.indices, _exact_top(X, Q, 5, "cosine"))
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    Qu = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    want = np.take_along_axis(Qu @ Xu.T, res.indices, axis=1)
    np.testing.assert_allclose(res.scores, want, atol=1e-5)
    audit = vd.audit(store, Q, k=5, sweep=False)
    assert audit.recall == 1.0
    # the raw scores read as cosines agree with exact search (no false convention alarm)
    assert {f.code: f.severity for f in audit.findings}["score_convention"] == "ok"


def test_faiss_refine_index_is_measured_against_its_exact_vectors(faiss_data):
    """IVF-PQ with an exact refine step: the truth is exact search over the refine
    step's own copy of the vectors (the ones added), not over the PQ-decoded ones."""
    faiss, X, Q = faiss_data
    index = faiss.index_factory(16, "IVF4,PQ4x4,RFlat", faiss.METRIC_INNER_PRODUCT)
    index.train(X)
    index.add(X)
    store = vd.stores.faiss(index)
    np.testing.assert_array_equal(store.fetch().vectors, X)
    assert store.params["base"] == "IndexIVFPQ" and "nprobe" in store.params
    store.set_params(nprobe=1)
    audit = vd.audit(store, Q, k=10, sweep=False)
    got = store.search(Q, 10).indices
    truth = _exact_top(X, Q, 10, "dot")
    mine = np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)])
    assert audit.recall == pytest.approx(mine, abs=1e-12)


def test_faiss_indexes_it_cannot_read_are_refused(faiss_data, tmp_path):
    faiss, X, _ = faiss_data
    pca = faiss.index_factory(16, "PCA8,IVF4,Flat")
    pca.train(X)
    pca.add(X)
    with pytest.raises(ValueError, match=r"transforms vectors before storing them "
                                         r"\(PCAMatrix\)"):
        vd.stores.faiss(pca)
    lsh = faiss.IndexLSH(16, 32)
    lsh.add(X)
    with pytest.raises(ValueError, match="IndexLSH index is not supported"):
        vd.stores.faiss(lsh)
    shards = faiss.IndexShards(16)
    with pytest.raises(ValueError, match="IndexShards index is not supported"):
        vd.stores.faiss(shards)
    with pytest.raises(TypeError, match="binary indexes compare bits"):
        vd.stores.faiss(faiss.IndexBinaryFlat(16))
    # factory 'Residual4x4,PQ4x4': accepted, then every search raised faiss's RuntimeError
    # 'Index2Layer::search ... not implemented' (the audit: an internal error)
    two_layer = faiss.Index2Layer(faiss.IndexFlatL2(16), 4, 4, 4)
    two_layer.train(X)
    two_layer.add(X)
    with pytest.raises(ValueError, match="Index2Layer index is not supported"):
        vd.stores.faiss(two_layer)


def test_faiss_id_sidecars(faiss_data, tmp_path):
    faiss, X, Q = faiss_data
    mapped = faiss.IndexIDMap(faiss.IndexFlatIP(16))
    mapped.add_with_ids(X, np.arange(1000, 1600))
    with pytest.raises(ValueError, match="carries ids of its own"):
        vd.stores.faiss(mapped, ids=[f"doc{i}" for i in range(600)])
    flat = faiss.IndexFlatIP(16)
    flat.add(X[:4])
    path = tmp_path / "ids.txt"
    path.write_text("007\n7\n8\n9\n")
    assert vd.stores.faiss(flat, ids=path).fetch().ids.tolist() == ["007", "7", "8", "9"]
    path.write_text("10\n-7\n8\n9\n")
    assert vd.stores.faiss(flat, ids=path).fetch().ids.tolist() == [10, -7, 8, 9]
    with pytest.raises(ValueError, match=r"without an id \(NULL or None: 1 row \(1\)"):
        vd.stores.faiss(flat, ids=["a", None, "c", "d"]).fetch()
    with pytest.raises(TypeError, match="ids must be a sequence"):
        vd.stores.faiss(flat, ids=5)
    with pytest.raises(ValueError, match=r"one id per vector \(1-D\)"):
        vd.stores.faiss(flat, ids=np.arange(8).reshape(4, 2))
    grows = faiss.IndexFlatIP(16)
    grows.add(X)
    store = vd.stores.faiss(grows)
    store.fetch()
    grows.add(X[:1] * 100)
    with pytest.raises(ValueError, match=r"did not hold when it was fetched \(600\)"):
        store.search(Q, 3)


def test_faiss_npy_ids_of_objects_or_two_dimensions_are_named(faiss_data, tmp_path):
    """An ids .npy holding an object array failed with NumPy's bare 'Object arrays cannot
    be loaded when allow_pickle=False' (no argument, no file named); a 2-D one was read as
    rows ('entry 0 is [0, 1]'), where the same array in memory is refused as not 1-D."""
    faiss, X, _ = faiss_data
    flat = faiss.IndexFlatIP(16)
    flat.add(X[:4])
    path = tmp_path / "ids.npy"
    np.save(path, np.array(["a", 1, "c", 2], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"ids: .*ids\.npy' holds a NumPy object array"):
        vd.stores.faiss(flat, ids=path)
    np.save(path, np.arange(8).reshape(4, 2))
    with pytest.raises(ValueError, match=r"one id per vector \(1-D\), got shape \(4, 2\)"):
        vd.stores.faiss(flat, ids=path)
    np.save(path, np.array(["a", "b", "c", "d"]))
    assert vd.stores.faiss(flat, ids=path).fetch().ids.tolist() == ["a", "b", "c", "d"]


def test_faiss_id_files_read_like_the_cli_ids(faiss_data, tmp_path):
    """An ids file from a Windows editor (byte-order mark) gives the same ids as a plain
    one, in .txt and .json alike; a blank line between ids is refused, naming it, as the
    CLI's ids files refuse it (a missing id or an empty one: skipping it was a guess)."""
    faiss, X, _ = faiss_data
    flat = faiss.IndexFlatIP(16)
    flat.add(X[:3])
    txt = tmp_path / "ids.txt"
    txt.write_text("d1\nd2\nd3\n\n", encoding="utf-8-sig")
    assert vd.stores.faiss(flat, ids=txt).fetch().ids.tolist() == ["d1", "d2", "d3"]
    doc = tmp_path / "ids.json"
    doc.write_text('["d1", "d2", "d3"]', encoding="utf-8-sig")
    assert vd.stores.faiss(flat, ids=doc).fetch().ids.tolist() == ["d1", "d2", "d3"]
    txt.write_text("d1\n\nd2\nd3\n")
    with pytest.raises(ValueError, match=r"ids: 1 blank line\(s\) where an id should be "
                                         r"\(line 2\)"):
        vd.stores.faiss(flat, ids=txt)
    doc.write_text('["d1", "d2",')
    with pytest.raises(ValueError, match=r"is not valid JSON .*write a JSON list of ids"):
        vd.stores.faiss(flat, ids=doc)


def test_zero_queries_give_zero_lists_as_knn_does(faiss_data):
    """An empty batch of queries (0, d) is an empty answer, as for vd.knn and
    Index.search (it was refused as 'queries is empty'); an audit over no query still
    refuses, its recall would be 0/0."""
    faiss, X, Q = faiss_data
    flat = faiss.IndexFlatIP(16)
    flat.add(X)
    store = vd.stores.faiss(flat, ids=[f"d{i}" for i in range(len(X))])
    res = store.search(np.empty((0, 16)), k=5)
    want = vd.knn(np.empty((0, 16)), X, 5, metric="dot")
    assert res.indices.shape == res.scores.shape == want.indices.shape == (0, 5)
    assert res.ids.shape == res.raw_scores.shape == (0, 5) and res.n_returned.shape == (0,)
    assert res.indices.dtype == want.indices.dtype
    np.testing.assert_array_equal(store.search(Q, 5).indices, _exact_top(X, Q, 5, "dot"))
    with pytest.raises(ValueError, match="queries is empty"):
        vd.audit(store, np.empty((0, 16)), k=5)
    with pytest.raises(ValueError, match="dimension 3"):
        store.search(np.empty((0, 3)), k=5)


def test_an_empty_store_says_so(faiss_data):
    faiss, _, Q = faiss_data
    with pytest.raises(ValueError, match="is empty"):
        vd.audit(vd.stores.faiss(faiss.IndexFlatIP(16)), Q, k=1)


# ---------------------------------------------------------------- Qdrant
def test_qdrant_points_without_the_chosen_vector_and_odd_payloads(qdrant_path, rng):
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "edges"))
    X = rng.normal(size=(12, 4)).astype(np.float32)
    client.create_collection("named", vectors_config={
        "a": models.VectorParams(size=4, distance=models.Distance.DOT),
        "b": models.VectorParams(size=4, distance=models.Distance.DOT)})
    client.upsert("named", [models.PointStruct(
        id=i, vector={"a": X[i].tolist(), **({"b": X[i].tolist()} if i % 3 else {})},
        payload={"t": i * 10}) for i in range(12)])
    with pytest.raises(ValueError, match=r"4 of 12 points have no 'b' vector "
                                         r"\(first ids: 0, 3, 6, 9\)"):
        vd.stores.qdrant(client, "named", vector="b").fetch()
    store = vd.stores.qdrant(client, "named", vector="a", text="t")
    assert dict(zip(store.fetch().ids.tolist(), store.fetch().texts.tolist())) == \
        {i: str(i * 10) for i in range(12)}
    np.testing.assert_array_equal(store.search(X[:2], 3).indices,
                                  _exact_top(X, X[:2], 3, "dot"))
    client.create_collection("sparse", vectors_config={},
                             sparse_vectors_config={"s": models.SparseVectorParams()})
    with pytest.raises(ValueError, match="no dense vectors"):
        vd.stores.qdrant(client, "sparse")
    client.close()


def test_an_empty_chroma_collection_says_it_is_empty(chroma_client, rng):
    """An empty collection has no dimension yet: the error is that it is empty, not a
    dimension mismatch of 0."""
    col = chroma_client.create_collection("empty-edge", embedding_function=None)
    store = vd.stores.chroma(col)
    Q = rng.normal(size=(2, 8)).astype(np.float32)
    for call in (lambda: vd.audit(store, Q, k=1), lambda: store.search(Q, 1)):
        with pytest.raises(ValueError, match="is empty"):
            call()


def test_faiss_negative_ids_are_ids_and_minus_one_is_refused():
    """Only -1 is faiss's empty slot: other negative ids of an IDMap were dropped from
    every search (an exact index audited at recall 0.53, "short results"). An id of -1
    itself cannot be told from an empty slot: refused, naming its rows."""
    faiss = pytest.importorskip("faiss")
    X = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    index = faiss.IndexIDMap(faiss.IndexFlatIP(8))
    index.add_with_ids(X, np.arange(20) - 30)              # ids -30 .. -11
    store = vd.stores.faiss(index)
    assert store.search(X[:1], 3).ids[0].tolist() == index.search(X[:1], 3)[1][0].tolist()
    a = vd.audit(store, X, k=5, sweep=False)
    assert a.recall == 1.0 and "short_results" not in [f.code for f in a.findings]
    bad = faiss.IndexIDMap(faiss.IndexFlatIP(8))
    bad.add_with_ids(X, np.arange(20) - 10)                # -1 at row 9
    with pytest.raises(ValueError, match=r"id -1 to 1 row \(9\)"):
        vd.stores.faiss(bad)


def test_faiss_ivf_ids_of_minus_one_are_refused_as_in_an_idmap(faiss_data):
    """An IVF filled with add_with_ids keeps the ids in its lists; one of them -1 (faiss's
    empty slot) was read, never returned by a search, and the audit of an exhaustive search
    (nprobe = nlist) reported 'the index gave up early' and lost recall. It is refused, as
    in an IDMap; other negative ids are answered as exact NumPy L2 search."""
    faiss, X, Q = faiss_data
    ids = np.arange(len(X)) - 3                            # -3 .. 596: -1 at row 2
    index = faiss.index_factory(X.shape[1], "IVF8,Flat")
    index.train(X)
    index.add_with_ids(X, ids)
    index.nprobe = 8
    with pytest.raises(ValueError, match=r"holds 1 vectors with id -1 \(in list \d+\)"):
        vd.stores.faiss(index).search(Q, 5)
    with pytest.raises(ValueError, match="with id -1"):
        vd.audit(vd.stores.faiss(index), Q, k=5, sweep=False)
    keep = ids != -1
    good = faiss.index_factory(X.shape[1], "IVF8,Flat")
    good.train(X)
    good.add_with_ids(X[keep], ids[keep])
    good.nprobe = 8
    got = vd.stores.faiss(good).search(Q, 5).ids.tolist()
    assert got == ids[keep][_exact_top(X[keep], Q, 5, "euclidean")].tolist()


def test_pgvector_partial_index_is_named_as_the_reason_it_goes_unused(pg_server, rng):
    """A partial HNSW index (WHERE cat = 1) serves only searches whose where= implies its
    predicate: the audit said "a table this small" and advised force_index=True, already
    set. It now names the predicate."""
    X = rng.normal(size=(400, 8)).astype(np.float32)
    pg_table(pg_server, "t_partial", X, opclass=None, extra_sql=(
        "ALTER TABLE t_partial ADD COLUMN cat int",
        "UPDATE t_partial SET cat = id % 2",
        "CREATE INDEX ON t_partial USING hnsw (embedding vector_cosine_ops) WHERE cat = 1"))
    store = vd.stores.pgvector(pg_server, "t_partial", force_index=True)
    assert store.params["index_predicate"] == "(cat = 1)"
    a = vd.audit(store, X[:10], k=5, sweep=False)
    unused = next(f for f in a.findings if f.code == "index_unused")
    assert "partial (WHERE (cat = 1))" in unused.summary
    assert "force_index=True)" not in unused.summary


def test_pgvector_mixed_case_table_names_are_found_as_spelled(pg_server, rng):
    """A table created as "MyDocs" was "not found" while the error listed public.MyDocs
    (PostgreSQL folds unquoted names); it is found by its exact spelling, with or without
    its schema, as columns are."""
    X = rng.normal(size=(30, 8)).astype(np.float32)
    pg_table(pg_server, '"MixedCase"', X, opclass=None)
    for name in ("MixedCase", "public.MixedCase", '"MixedCase"'):
        assert vd.stores.pgvector(pg_server, name, metric="cosine").n == 30
    with pytest.raises(ValueError, match="table 'mixedcas' does not exist"):
        vd.stores.pgvector(pg_server, "mixedcas", metric="cosine")


def test_faiss_ids_given_as_a_set_are_refused(faiss_data):
    """A set of ids has no order: faiss(index, ids=set(...)) named each vector by an
    arbitrary id of the set. Refused; the same ids in order name the brute-force hits."""
    faiss, X, Q = faiss_data
    flat = faiss.IndexFlatIP(16)
    flat.add(X)
    names = [f"doc{i}" for i in range(600)]
    for kind in (set, frozenset):
        with pytest.raises(TypeError, match="ids is a .*set, which has no order"):
            vd.stores.faiss(flat, ids=kind(names))
    want = _exact_top(X, Q, 3, "dot")
    got = vd.stores.faiss(flat, ids=np.array(names)).search(Q, 3).ids
    assert got.tolist() == [[names[j] for j in row] for row in want]


def test_faiss_ids_as_a_list_of_numpy_scalars(faiss_data):
    """list(np.arange(n)) or a list of np.str_ holds NumPy scalars: np.int64 ids were
    refused as 'must be strings or integers' although the same ids as an array were read.
    They are the Python values now; NumPy booleans and floats are still refused."""
    faiss, X, Q = faiss_data
    flat = faiss.IndexFlatIP(16)
    flat.add(X)
    want = _exact_top(X, Q, 3, "dot")
    numbers = list(np.arange(600) * 2)
    assert vd.stores.faiss(flat, ids=numbers).search(Q, 3).ids.tolist() == \
        (want * 2).tolist()
    names = list(np.array([f"doc{i}" for i in range(600)]))
    assert vd.stores.faiss(flat, ids=names).search(Q, 3).ids.tolist() == \
        [[f"doc{j}" for j in row] for row in want]
    for bad in (np.bool_(True), np.float64(0.5)):
        with pytest.raises(ValueError, match="ids must be strings or integers"):
            vd.stores.faiss(flat, ids=[bad] + numbers[1:])


def test_pgvector_halfvec_truth_uses_the_query_postgresql_compares(pg_server):
    """A halfvec column is searched with the query cast to halfvec: q = [3.0019, 1.0006]
    is [3.001953, 1.000977] in float16. Against a = [1, 0] and b = [0, 3] the float32
    query prefers a (3.0019 > 3.0018) but the float16 one b (3.00195 < 3.00293), so
    PostgreSQL's EXACT scan returns b. The audit measured it against the float32 query
    and gave that exact scan recall 0; the truth is now computed for the query as
    PostgreSQL compares it. A query beyond the float16 range is refused by row."""
    X = np.array([[1.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    q = np.array([[3.0019, 1.0006]], dtype=np.float32)
    q16 = q.astype(np.float16).astype(np.float64)
    assert np.argmax(q.astype(np.float64) @ X.T.astype(np.float64)) == 0   # float32: a
    assert np.argmax(q16 @ X.T) == 1                                        # float16: b
    pg_table(pg_server, "t_half_exact", X, opclass=None, vtype="halfvec", ids=[10, 11])
    store = vd.stores.pgvector(pg_server, "t_half_exact", metric="dot")
    assert store.params["index"] is None                   # an exact scan
    got = store.search(q, k=2)
    assert got.ids.tolist() == [[11, 10]]
    np.testing.assert_allclose(got.scores[0], (q16 @ X.T)[0, [1, 0]], rtol=1e-6)
    a = vd.audit(store, q, k=1, sweep=False)
    assert a.recall == 1.0 and a.convention["max_abs_diff"] < 1e-6
    exp = vd.explain_neighbors(q[0], store, k=1)
    assert "ann_miss" not in [c.code for c in exp.causes]
    with pytest.raises(ValueError, match=r"queries: 1 row \(1\) hold values beyond the halfvec"):
        store.search(np.array([[1.0, 2.0], [7e4, 0.0]]), k=1)


@pytest.mark.parametrize("factory, compressed", [
    ("IVF4,PQ4x4", True), ("PQ4x4", True), ("HNSW8,SQ8", True), ("SQfp16", True),
    ("Flat", False), ("IVF4,Flat", False), ("HNSW8", False), ("IVF4,PQ4x4,RFlat", False)])
def test_faiss_compressed_codes_are_said_to_be_measured_decoded(faiss_data, factory, compressed):
    """A PQ / scalar-quantizer index holds compressed codes: its vectors read back are the
    decoded ones, and the audit's truth is exact search over THOSE. An IVF-PQ searched
    with every list (nprobe = nlist) then scored recall 1.0 with nothing said, while
    against the vectors added (brute-force NumPy) it is far lower. The audit now says so
    in a compressed_vectors finding, whose recipe measures the recall against the
    original vectors; float32 copies (flat, IVFFlat, HNSWFlat, an exact refine) get none."""
    faiss, X, Q = faiss_data
    index = faiss.index_factory(16, factory)
    index.train(X)
    index.add(X)
    if "IVF" in factory:
        faiss.extract_index_ivf(index).nprobe = 4          # every list: no search loss
    store = vd.stores.faiss(index)
    fetched = store.fetch()                              # IVF: in list order, by id
    decoded = np.asarray(fetched.vectors)[np.argsort(np.array(fetched.ids.tolist()))]
    assert (np.abs(decoded - X).max() > 1e-6) == compressed   # what it holds, read back
    audit = vd.audit(store, Q, k=5, sweep=False)
    found = [f for f in audit.findings if f.code == "compressed_vectors"]
    assert bool(found) == compressed and bool(store.compressed) == compressed
    if not compressed:
        return
    assert found[0].severity == "warning" and "decoded" in found[0].summary
    # the recipe in the finding, against brute-force recall over the vectors added
    got = store.search(Q, 5)
    recipe = vd.ann_recall(got.ids.tolist(), vd.Index(X, ids=np.arange(len(X)),
                           metric="euclidean").search(Q, 5), labels="ids")
    D = np.linalg.norm(Q[:, None, :].astype(np.float64) - X[None].astype(np.float64), axis=2)
    kth = np.sort(D, axis=1)[:, 4]
    added = np.array(got.ids.tolist(), dtype=np.int64)      # ids: the rows of X
    ref = np.mean([np.sum(D[i, added[i]] <= kth[i] * (1 + 1e-5) + 1e-8) / 5
                   for i in range(len(Q))])
    assert recipe == pytest.approx(ref)
    if "PQ" in factory:                     # 2 bytes a vector: most true neighbours lost
        assert ref < 0.8 and audit.recall == 1.0


def test_pgvector_index_on_a_halfvec_cast_is_searched_and_measured(pg_server, store_data):
    """pgvector's half-precision indexing: a vector column indexed as
    ((embedding::halfvec(32)) halfvec_l2_ops), searched with ORDER BY
    embedding::halfvec(32) <-> q::halfvec. vecdiag said the column had no index, and with
    metric= and force_index=True audited an exact scan (recall 1.0, nothing said). It now
    searches through the cast as the application does (the plan uses the index) and
    measures it against brute-force search over the float16 roundings the index compares;
    an index on another expression (binary_quantize) is named in the error."""
    X, Q = store_data
    Q = Q[:40]
    pg_table(pg_server, "t_half_expr", X, opclass=None, extra_sql=(
        "CREATE INDEX t_half_expr_idx ON t_half_expr USING hnsw "
        "((embedding::halfvec(32)) halfvec_l2_ops) WITH (m = 4, ef_construction = 10)",))
    store = vd.stores.pgvector(pg_server, "t_half_expr", force_index=True)
    store.set_params(ef_search=10)
    assert store.metric == "euclidean"
    assert store.params["expression"] == "(embedding)::halfvec(32)"
    fetched = store.fetch()
    X16, Q16 = (np.asarray(a, np.float16).astype(np.float64) for a in (X, Q))
    order = np.argsort(np.array(fetched.ids.tolist()))
    np.testing.assert_array_equal(fetched.vectors[order], X16)       # what the index compares
    got = store.search(Q, k=10)
    assert store.params["plan"] == "index scan"
    D = np.linalg.norm(Q16[:, None, :] - X16[None], axis=2)          # brute force, float16 data
    rows = np.array(got.ids.tolist(), dtype=np.int64)                 # ids are the rows of X
    np.testing.assert_allclose(got.scores, np.take_along_axis(D, rows, axis=1), rtol=1e-5)
    kth = np.sort(D, axis=1)[:, 9]
    ref = np.mean([np.sum(D[i, rows[i]] <= kth[i] * (1 + 1e-5) + 1e-8) / 10
                   for i in range(len(Q))])
    a = vd.audit(store, Q, k=10, sweep=False)
    assert a.recall == pytest.approx(ref) and ref < 1.0                # the index, not a scan
    assert "compressed_vectors" in [f.code for f in a.findings]
    pg_table(pg_server, "t_bq_expr", X, opclass=None, extra_sql=(
        "CREATE INDEX t_bq_idx ON t_bq_expr USING hnsw "
        "((binary_quantize(embedding)::bit(32)) bit_hamming_ops)",))
    with pytest.raises(ValueError, match=r"has no HNSW or IVFFlat index \(indexes on other "
                                         r"expressions of it.*t_bq_idx on"):
        vd.stores.pgvector(pg_server, "t_bq_expr")


@pytest.mark.parametrize("factory", ["PQ8x4fs", "IDMap,PQ8x4fs"])
def test_faiss_pq_fast_scan_is_read_like_pq(faiss_data, factory):
    """IndexPQFastScan ("PQ8x4fs", 4-bit PQ with SIMD scanning, a common choice) was
    refused as "not supported" although the IVF variant was read and faiss decodes its
    codes. It is read like IndexPQ: recall against brute-force NumPy search over its
    decoded vectors, and the compression said."""
    faiss, X, Q = faiss_data
    index = faiss.index_factory(16, factory)
    index.train(X)
    if factory.startswith("IDMap"):
        index.add_with_ids(X, np.arange(len(X)) + 1000)
    else:
        index.add(X)
    store = vd.stores.faiss(index)
    assert store.compressed and store.metric == "euclidean"
    fetched = store.fetch()
    V = np.asarray(fetched.vectors, np.float64)
    D = np.linalg.norm(Q[:, None, :].astype(np.float64) - V[None], axis=2)
    got = store.search(Q, k=5)
    kth = np.sort(D, axis=1)[:, 4]
    ref = np.mean([np.sum(D[i, got.indices[i][got.indices[i] >= 0]] <= kth[i] * (1 + 1e-5)
                          + 1e-8) / 5 for i in range(len(Q))])
    a = vd.audit(store, Q, k=5, sweep=False)
    assert a.recall == pytest.approx(ref)
    assert "compressed_vectors" in [f.code for f in a.findings]
    assert sorted(fetched.ids.tolist())[0] == (1000 if factory.startswith("IDMap") else 0)


@pytest.mark.parametrize("factory", ["L2norm,IDMap,Flat", "L2norm,IDMap2,HNSW8"])
def test_faiss_idmap_inside_an_l2_normalisation_is_read(faiss_data, factory):
    """A cosine index whose IDMap sits inside the normalisation ("L2norm,IDMap,Flat")
    was refused: "a faiss IndexIDMap index is not supported", although the same IDMap
    outside it was read. Its ids are now the IDMap's, its metric cosine, and its search
    agrees with brute-force cosine over the vectors added."""
    faiss, X, Q = faiss_data
    index = faiss.index_factory(16, factory, faiss.METRIC_INNER_PRODUCT)
    ids = np.arange(len(X)) * 3 + 7
    index.add_with_ids(X, ids)
    store = vd.stores.faiss(index)
    assert store.metric == "cosine" and store.params["id_map"].startswith("IndexIDMap")
    fetched = store.fetch()
    np.testing.assert_array_equal(np.sort(fetched.ids.tolist()), ids)
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    rows = (np.array(fetched.ids.tolist()) - 7) // 3                  # fetched row -> X row
    np.testing.assert_allclose(fetched.vectors, Xu[rows], atol=1e-6)
    if "HNSW" not in factory:                                          # exact: same top-5
        got = store.search(Q, k=5)
        want = _exact_top(X, Q, 5, "cosine")
        assert got.ids.tolist() == ids[want].tolist()
    a = vd.audit(store, Q, k=5, sweep=False)
    assert a.n == len(X) and a.convention["ok"]


def test_faiss_ivf_spectral_hash_is_refused_when_made(faiss_data):
    """IndexIVFSpectralHash ("IVF4,ITQ,SH") ranks by Hamming distance between bit codes
    and cannot decode vectors: the store was made and the audit then failed deep inside
    faiss ("reconstruct_from_offset not implemented"). It is refused when the store is
    made, as LSH is."""
    faiss, X, _ = faiss_data
    index = faiss.index_factory(16, "IVF4,ITQ,SH")
    index.train(X)
    index.add(X)
    with pytest.raises(ValueError, match="IndexIVFSpectralHash index is not supported"):
        vd.stores.faiss(index)


def test_queries_beyond_float32_are_refused_not_sent_as_inf(faiss_data):
    """A finite float64 query beyond float32's range (1e39) became inf in the float32 cast
    every store compares in: search sent it and returned an empty answer (all -1), and
    the audit said the queries held 'NaN or inf'. Now both name the row and the range."""
    faiss, X, Q = faiss_data
    flat = faiss.IndexFlatL2(16)
    flat.add(X)
    store = vd.stores.faiss(flat)
    bad = np.asarray(Q[:3], dtype=np.float64)
    bad[1, 4] = 1e39                        # finite in float64, > float32 max 3.4e38
    assert np.isfinite(bad).all() and 1e39 > np.finfo(np.float32).max
    for call in (lambda: store.search(bad, k=5), lambda: vd.audit(store, bad, k=5)):
        with pytest.raises(ValueError, match=r"queries: 1 row \(1\).*float32"):
            call()
    # the other rows search as before
    np.testing.assert_array_equal(store.search(bad[[0, 2]], k=5).indices,
                                  _exact_top(X, Q[[0, 2]], 5, "euclidean"))


def test_pgvector_two_indexes_of_one_metric_report_the_one_postgresql_uses(pg_server, rng):
    """An HNSW and an IVFFlat index on the same column and metric: the store reported the
    first by name (HNSW, ef_search) while PostgreSQL searched with the IVFFlat one, and
    the audit then said the search was a 'sequential scan (exact)' whose recall 'says
    nothing about the index', of a search that lost most neighbours. The store now
    reports the index PostgreSQL's own EXPLAIN names, with its setting (probes)."""
    import psycopg

    X = rng.normal(size=(3000, 8)).astype(np.float32)
    Q = rng.normal(size=(40, 8)).astype(np.float32)
    pg_table(pg_server, "t_two_idx", X, opclass="vector_l2_ops", extra_sql=(
        "CREATE INDEX zz_two_ivf ON t_two_idx USING ivfflat (embedding vector_l2_ops) "
        "WITH (lists = 50)", "ANALYZE t_two_idx"))
    probe = "[" + ",".join(["0.5"] * 8) + "]"
    with psycopg.connect(pg_server, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = " ".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT id FROM t_two_idx ORDER BY embedding <-> %s::vector LIMIT 10",
            (probe,)).fetchall())
    assert "using zz_two_ivf on" in plan            # PostgreSQL searches with the IVFFlat
    store = vd.stores.pgvector(pg_server, "t_two_idx", force_index=True)
    assert (store.params["name"], store.params["index"]) == ("zz_two_ivf", "ivfflat")
    assert store.search_setting == "probes"
    a = vd.audit(store, Q, k=10, sweep=False)
    top = _exact_top(X, Q, 10, "euclidean")           # ids are the rows of X
    got = store.search(Q, 10).ids
    ref = np.mean([len(set(g.tolist()) & set(t.tolist())) / 10 for g, t in zip(got, top)])
    assert ref < 0.9 and a.recall == pytest.approx(ref)
    assert a.params["plan"] == "index scan"
    assert not any(f.code == "index_unused" for f in a.findings)


def test_faiss_ivf_dedup_is_refused_when_made(faiss_data):
    """IndexIVFFlatDedup keeps a repeated vector once (ntotal counts every copy): the
    store was made and its fetch then said the index 'changed while it was read'
    (600 rows read, 650 counted). It is refused when the store is made, with the reason."""
    faiss, X, _ = faiss_data
    data = np.concatenate([X, X[:50]])                     # 50 exact copies
    index = faiss.IndexIVFFlatDedup(faiss.IndexFlatL2(16), 16, 4)
    index.train(data)
    index.add(data)
    assert index.ntotal == len(data)
    with pytest.raises(ValueError, match="IndexIVFFlatDedup index is not supported: it "
                                         "stores a repeated vector once"):
        vd.stores.faiss(index)


def test_qdrant_text_in_a_nested_or_dotted_payload_field(qdrant_path, rng):
    """text="meta.title" (Qdrant's path into a nested payload object) and a payload key
    with a dot in it ("a.b") were both refused, the second with an error listing the field
    it said no point had ('no payload field 'a.b' (a point's payload has 'a.b', ...)')."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "nested"))
    X = rng.normal(size=(12, 4)).astype(np.float32)
    client.create_collection("nested", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.EUCLID))
    client.upsert("nested", [models.PointStruct(
        id=i, vector=X[i].tolist(),
        payload={"meta": {"title": f"title {i}"}, "a.b": f"dotted {i}", "t": i}
        if i != 5 else {"meta": "not an object"}) for i in range(12)])
    for field, want in (("meta.title", "title {}"), ("a.b", "dotted {}"), ("t", "{}")):
        store = vd.stores.qdrant(client, "nested", text=field)
        index = store.fetch()
        assert dict(zip(index.ids.tolist(), index.texts.tolist())) == \
            {i: (want.format(i) if i != 5 else None) for i in range(12)}
        np.testing.assert_array_equal(store.search(X[:2], 3).indices,
                                      _exact_top(X, X[:2], 3, "euclidean"))
    with pytest.raises(ValueError, match="no point has a payload field 'meta.subtitle'"):
        vd.stores.qdrant(client, "nested", text="meta.subtitle").fetch()
    client.close()


def test_pgvector_null_errors_suggest_a_where_that_runs(pg_server, rng):
    """The NULL-vector and NULL-id errors suggest where='<column> IS NOT NULL'; for
    columns whose names need quotes ("My Vec", "Doc Id") the suggested condition was
    unquoted and PostgreSQL could not run it. The condition in each error now works."""
    import re

    import psycopg

    X = rng.normal(size=(20, 4)).astype(np.float32)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute('DROP TABLE IF EXISTS t_spelled')
        conn.execute('CREATE TABLE t_spelled ("Doc Id" int, "My Vec" vector(4))')
        with conn.cursor() as cur:
            cur.executemany('INSERT INTO t_spelled VALUES (%s, %s::vector)',
                            [(None if i == 3 else i,
                              None if i == 7 else "[" + ",".join(map(str, x.tolist())) + "]")
                             for i, x in enumerate(X)])
    kw = dict(vector="My Vec", id="Doc Id", metric="euclidean")
    where = None
    for expect in ("NULL ids", "NULL vectors"):
        with pytest.raises(ValueError, match=expect) as err:
            vd.stores.pgvector(pg_server, "t_spelled", where=where, **kw)
        cond = re.search(r"where='(.*) IS NOT NULL'", str(err.value)).group(1)
        where = cond + " IS NOT NULL" if where is None else f"{where} AND {cond} IS NOT NULL"
    index = vd.stores.pgvector(pg_server, "t_spelled", where=where, **kw).fetch()
    keep = [i for i in range(20) if i not in (3, 7)]
    assert sorted(index.ids.tolist()) == keep
    np.testing.assert_array_equal(index.vectors[np.argsort(index.ids.astype(int))], X[keep])


def test_pgvector_unknown_table_lists_names_that_can_be_passed(pg_server, rng):
    """A table named "docs.v2" (a dot in its name) passed as docs.v2 reads as schema docs,
    table v2: refused, and the error listed public.docs.v2, which is refused the same way.
    The tables there are listed as table= takes them (quoted where needed)."""
    import re

    X = rng.normal(size=(30, 8)).astype(np.float32)
    pg_table(pg_server, '"docs.v2"', X, opclass=None)
    with pytest.raises(ValueError, match="table 'docs.v2' does not exist") as err:
        vd.stores.pgvector(pg_server, "docs.v2", metric="dot")
    listed = re.search(r"tables there: (.*)$", str(err.value)).group(1).split(", ")
    assert 'public."docs.v2"' in listed
    store = vd.stores.pgvector(pg_server, 'public."docs.v2"', metric="dot")
    index = store.fetch()
    np.testing.assert_array_equal(index.vectors[np.argsort(index.ids.astype(int))], X)


def test_ids_beyond_int64_qdrant_and_a_faiss_sidecar(qdrant_path, faiss_data):
    """Qdrant point ids are unsigned 64-bit: a collection with ids >= 2**63 failed in its
    fetch with 'OverflowError: Python int too large to convert to C long' (the duplicate
    check sorted the ids as int64), as did such ids in a faiss sidecar. They are ids."""
    from qdrant_client import QdrantClient, models

    faiss, X, Q = faiss_data
    big = [2**64 - 1 - 3 * i for i in range(40)]
    client = QdrantClient(path=os.path.join(qdrant_path, "u64"))
    client.create_collection("u64", vectors_config=models.VectorParams(
        size=16, distance=models.Distance.EUCLID))
    client.upsert("u64", [models.PointStruct(id=big[i], vector=X[i].tolist())
                          for i in range(40)])
    store = vd.stores.qdrant(client, "u64")
    want = np.array(big, dtype=object)[_exact_top(X[:40], Q, 5, "euclidean")]
    assert store.search(Q, 5).ids.tolist() == want.tolist()
    assert vd.audit(store, Q, k=5, sweep=False).recall == 1.0
    client.close()
    flat = faiss.IndexFlatL2(16)
    flat.add(X[:40])
    assert vd.stores.faiss(flat, ids=big).search(Q, 5).ids.tolist() == want.tolist()
    with pytest.raises(ValueError, match=f"1 duplicate ids \\({big[0]}\\)"):
        vd.stores.faiss(flat, ids=big[:39] + big[:1]).fetch()


@pytest.mark.parametrize("kind", ["faiss", "pgvector", "qdrant", "chroma"])
def test_store_search_k_follows_knn_k_at_most_n(kind, pg_server, qdrant_path, chroma_client,
                                                 rng):
    """k is ``1 <= k <= n`` on every store, as for vd.knn: k = n answers every stored
    vector in the exact order, k = n + 1 is refused naming the store's size (faiss padded
    it with -1, pgvector and Qdrant answered short, each in its own way)."""
    X = rng.normal(size=(6, 4)).astype(np.float32)
    Q = rng.normal(size=(3, 4)).astype(np.float32)
    if kind == "faiss":
        import faiss

        flat = faiss.IndexFlatIP(4)
        flat.add(X)
        store, metric = vd.stores.faiss(flat), "dot"
    elif kind == "pgvector":
        pg_table(pg_server, "k_at_most_n", X, opclass="vector_ip_ops", m=16,
                 ef_construction=64)
        store, metric = vd.stores.pgvector(pg_server, "k_at_most_n"), "dot"
    elif kind == "qdrant":
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=os.path.join(qdrant_path, "k-at-most-n"))
        client.create_collection("k", vectors_config=models.VectorParams(
            size=4, distance=models.Distance.DOT))
        client.upsert("k", models.Batch(ids=list(range(6)), vectors=X.tolist()))
        store, metric = vd.stores.qdrant(client, "k"), "dot"
    else:
        col = chroma_client.create_collection("k-at-most-n", metadata={"hnsw:space": "ip"},
                                              embedding_function=None)
        col.add(ids=[str(i) for i in range(6)], embeddings=X)
        store, metric = vd.stores.chroma(col), "dot"
    res = store.search(Q, k=6)
    assert (res.n_returned == 6).all()
    want = _exact_top(X, Q, 6, metric)
    got_ids = np.array([[int(i) for i in row] for row in res.ids])
    np.testing.assert_array_equal(got_ids, want)
    with pytest.raises(ValueError, match=r"k=7 is larger than .* \(6 vectors\); use k <= 6"):
        store.search(Q, k=7)
    if kind == "qdrant":
        client.close()


def test_pgvector_index_on_a_vector_cast_of_an_untyped_column_is_searched(pg_server,
                                                                           store_data):
    """A column of plain type vector (no dimension) can only be indexed through a cast,
    CREATE INDEX ... USING hnsw ((embedding::vector(32)) vector_cosine_ops): vecdiag said
    the column had no index. It now searches through the same cast (EXPLAIN: the index
    is used) and reads the float32 vectors unrounded; scores and recall are checked
    against a brute-force cosine search in NumPy."""
    X, Q = store_data
    Q = Q[:40]
    pg_table(pg_server, "t_vec_expr", X, opclass=None, extra_sql=(
        "ALTER TABLE t_vec_expr ALTER COLUMN embedding TYPE vector",
        "CREATE INDEX t_vec_expr_idx ON t_vec_expr USING hnsw "
        "((embedding::vector(32)) vector_cosine_ops) WITH (m = 4, ef_construction = 10)",))
    store = vd.stores.pgvector(pg_server, "t_vec_expr", force_index=True)
    store.set_params(ef_search=10)
    assert store.metric == "cosine" and store.dim == 32 and not store.compressed
    assert store.params["expression"] == "(embedding)::vector(32)"
    fetched = store.fetch()
    order = np.argsort(np.array(fetched.ids.tolist()))
    np.testing.assert_array_equal(fetched.vectors[order], X)          # bit for bit
    got = store.search(Q, k=10)
    assert store.params["plan"] == "index scan"
    X64, Q64 = np.asarray(X, np.float64), np.asarray(Q, np.float64)
    S = (Q64 / np.linalg.norm(Q64, axis=1, keepdims=True)) @ \
        (X64 / np.linalg.norm(X64, axis=1, keepdims=True)).T
    rows = np.array(got.ids.tolist(), dtype=np.int64)                 # ids are the rows of X
    np.testing.assert_allclose(got.scores, np.take_along_axis(S, rows, axis=1), atol=1e-6)
    kth = -np.sort(-S, axis=1)[:, 9]
    ref = np.mean([np.sum(S[i, rows[i]] >= kth[i] - 1e-6) / 10 for i in range(len(Q))])
    assert vd.audit(store, Q, k=10, sweep=False).recall == pytest.approx(ref)
    assert ref < 1.0                                                  # the index, not a scan


def test_pgvector_installed_in_a_schema_outside_the_search_path(pg_server, rng):
    """CREATE EXTENSION vector SCHEMA "vec ext" (a schema not in the search_path, as
    some hosts install extensions): the column's type reads as "vec ext".vector and was
    refused as 'not a pgvector vector column'. Types, functions and operators are now
    named in pgvector's schema (OPERATOR("vec ext".<->)), and the search still uses the
    index (EXPLAIN); checked against NumPy brute-force L2, with an untyped column (its
    dimension read with vector_dims) and an index on its ::vector(n) cast."""
    import psycopg

    X = rng.normal(size=(400, 6)).astype(np.float32)
    Q = rng.normal(size=(5, 6)).astype(np.float32)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ext_elsewhere")
        conn.execute("CREATE DATABASE ext_elsewhere")
    uri = pg_server.replace("@/postgres", "@/ext_elsewhere")
    assert uri != pg_server
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "vec ext"')
        conn.execute('CREATE EXTENSION vector SCHEMA "vec ext"')
        for name, vtype, index in (
                ("typed", '"vec ext".vector(6)', '(embedding "vec ext".vector_l2_ops)'),
                ("untyped", '"vec ext".vector',
                 '((embedding::"vec ext".vector(6)) "vec ext".vector_l2_ops)')):
            conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, embedding {vtype})")
            with conn.cursor().copy(f"COPY {name} (id, embedding) FROM STDIN") as copy:
                for i, v in enumerate(X):
                    copy.write_row((i, "[" + ",".join(repr(float(x)) for x in v) + "]"))
            conn.execute(f"CREATE INDEX ON {name} USING hnsw {index}")
    D = np.linalg.norm(Q.astype(np.float64)[:, None] - X.astype(np.float64)[None], axis=2)
    for name in ("typed", "untyped"):
        store = vd.stores.pgvector(uri, name, force_index=True)
        assert store.metric == "euclidean" and store.dim == 6 and store.n == 400
        store.set_params(ef_search=400)          # the whole graph: exact on 400 rows
        got = store.search(Q, k=5)
        assert store.params["plan"] == "index scan"
        rows = np.array(got.ids.tolist(), dtype=np.int64)
        np.testing.assert_allclose(got.scores, np.take_along_axis(D, rows, axis=1), rtol=1e-5)
        np.testing.assert_array_equal(rows, np.argsort(D, axis=1)[:, :5])
        order = np.argsort(np.array(store.fetch().ids.tolist()))
        np.testing.assert_array_equal(store.fetch().vectors[order], X)
        store.conn.close()


@pytest.mark.parametrize("kind", ["faiss", "pgvector", "qdrant", "chroma"])
def test_a_zero_query_on_a_cosine_store_is_refused_as_knn_refuses_it(kind, pg_server,
                                                                      qdrant_path,
                                                                      chroma_client, rng):
    """A zero query has no direction: vd.knn refuses it under cosine, but Store.search sent
    it and returned an arbitrary list in silence (pgvector scored every row NaN, faiss,
    Qdrant and Chroma 0). It is refused by row; the other queries, on their own, are
    answered as an exact NumPy cosine search."""
    X = rng.normal(size=(30, 4)).astype(np.float32)
    Q = rng.normal(size=(3, 4)).astype(np.float32)
    Q[1] = 0.0
    client = None
    if kind == "faiss":
        import faiss

        index = faiss.index_factory(4, "L2norm,Flat", faiss.METRIC_INNER_PRODUCT)
        index.add(X)
        store = vd.stores.faiss(index)
    elif kind == "pgvector":
        pg_table(pg_server, "zero_query", X, m=16, ef_construction=64)
        store = vd.stores.pgvector(pg_server, "zero_query")
    elif kind == "qdrant":
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=os.path.join(qdrant_path, "zero-query"))
        client.create_collection("z", vectors_config=models.VectorParams(
            size=4, distance=models.Distance.COSINE))
        client.upsert("z", models.Batch(ids=list(range(30)), vectors=X.tolist()))
        store = vd.stores.qdrant(client, "z")
    else:
        col = chroma_client.create_collection("zero-query", metadata={"hnsw:space": "cosine"},
                                              embedding_function=None)
        col.add(ids=[str(i) for i in range(30)], embeddings=X)
        store = vd.stores.chroma(col)
    assert store.metric == "cosine"
    with pytest.raises(ValueError, match="queries has a zero vector at row 1, which has no "
                                         "direction"):
        store.search(Q, k=3)
    with pytest.raises(ValueError, match="queries has a zero vector at row 1"):
        vd.audit(store, Q, k=3)
    with pytest.raises(ValueError, match="query is a zero vector"):
        vd.explain_neighbors(Q[1], store, expected=[store.fetch().ids[0]])
    kept = Q[[0, 2]]
    got = np.array([[int(i) for i in row] for row in store.search(kept, k=3).ids])
    np.testing.assert_array_equal(got, _exact_top(X, kept, 3, "cosine"))
    if client is not None:
        client.close()


def test_pgvector_settings_outside_postgresql_range_are_refused_when_set(pg_server, rng):
    """pgvector bounds hnsw.ef_search (1 .. 1000) and ivfflat.probes; set_params(ef_search=
    2000) was taken and the next search failed inside psycopg (InvalidParameterValue, which
    'vecdiag audit --sweep ef_search=10,2000' reported as an internal error, a bug in
    vecdiag). The value is refused where it is given, with the range PostgreSQL reports in
    pg_settings; the largest value it takes searches exactly on a small table."""
    import psycopg

    X = rng.normal(size=(40, 4)).astype(np.float32)
    Q = rng.normal(size=(3, 4)).astype(np.float32)
    pg_table(pg_server, "ef_range", X, opclass="vector_l2_ops", m=16, ef_construction=64)
    store = vd.stores.pgvector(pg_server, "ef_range", force_index=True)
    with psycopg.connect(pg_server) as conn:
        conn.execute("SELECT '[1]'::vector")
        low, high = conn.execute("SELECT min_val::int, max_val::int FROM pg_settings "
                                 "WHERE name = 'hnsw.ef_search'").fetchone()
    message = f"ef_search={high + 1} is outside the range .* \\({low} to {high}\\)"
    with pytest.raises(ValueError, match=message):
        store.set_params(ef_search=high + 1)
    with pytest.raises(ValueError, match=message):
        vd.audit(store, Q, k=5, sweep={"ef_search": [10, high + 1]})
    assert store.params["ef_search"] == 40                    # left as it was
    got = store.set_params(ef_search=high).search(Q, k=5)
    assert store.params["plan"] == "index scan"
    np.testing.assert_array_equal(np.array(got.ids.tolist()), _exact_top(X, Q, 5, "euclidean"))


def test_a_store_passed_as_an_array_names_its_fetch(faiss_data):
    """vd.diagnose(store) (or vd.knn, vd.pca) said 'corpus has dtype object (mixed or
    ragged entries...)': np.asarray made the store a 0-d object array. It now says the
    argument is a vector store and how to pass its vectors; diagnosed that way, the store
    gives the findings of vd.diagnose on the array it was filled from."""
    faiss, X, Q = faiss_data
    X, Q = X[:200], Q[:6]
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    store = vd.stores.faiss(index)
    for call, name in ((lambda: vd.diagnose(store), "corpus"),
                       (lambda: vd.knn(Q, store, k=3), "corpus"),
                       (lambda: vd.pca(store), "X")):
        with pytest.raises(TypeError, match=f"{name} is a vector store \\(faiss IndexFlatIP\\), "
                                            f"not an array; pass its vectors, {name}"
                                            r"\.fetch\(\)\.vectors"):
            call()
    want = vd.diagnose(X, queries=Q, k=5, metric="dot").findings
    for got in (vd.diagnose(store.fetch(), queries=Q, k=5).findings,
                vd.diagnose(store.fetch().vectors, queries=Q, k=5, metric="dot").findings):
        assert [(f.code, f.severity, f.summary) for f in got] == \
            [(f.code, f.severity, f.summary) for f in want]


def _index_search(dsn, select: str, queries, ef_search: int) -> list:
    """Each query's 10 ids from ``select`` ("SELECT id FROM t ORDER BY v") with ``<->``,
    run by psycopg with sequential scans off at ``hnsw.ef_search``: the index's own
    answer, outside vecdiag."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute(f"SET hnsw.ef_search = {ef_search}")
        return [[r[0] for r in conn.execute(select + " <-> %s::vector LIMIT 10",
                                             ("[" + ",".join(map(repr, q.tolist())) + "]",))
                 .fetchall()] for q in queries]


def _l2_recall(Q, X, got, k: int = 10) -> float:
    """Mean recall@k of the row ids ``got`` against NumPy brute-force L2 (ties at the
    k-th distance count as found, as vd.audit counts them)."""
    D = np.linalg.norm(Q[:, None, :].astype(np.float64) - X[None].astype(np.float64), axis=2)
    kth = np.sort(D, axis=1)[:, k - 1]
    return float(np.mean([np.sum(D[i, got[i]] <= kth[i] + 1e-6) / k for i in range(len(Q))]))


def test_qdrant_folder_opened_by_path_twice_shares_one_client(qdrant_path, rng):
    """Local mode lets one client at a time into a folder, and a store made from the path
    held its own: a second store on that folder (another collection, or a notebook cell
    run again while the first store was alive) was refused as 'open in another Qdrant
    client ... close it first', a client the user could not reach. Stores of one folder
    now share the client; both answer as exact NumPy search, and once no store holds it
    the folder is free for the application's own client."""
    import gc

    from qdrant_client import QdrantClient, models

    path = os.path.join(qdrant_path, "two-stores")
    X = rng.normal(size=(40, 4)).astype(np.float32)
    Q = rng.normal(size=(3, 4)).astype(np.float32)
    client = QdrantClient(path=path)
    for name, distance in (("a", models.Distance.DOT), ("b", models.Distance.EUCLID)):
        client.create_collection(name, vectors_config=models.VectorParams(size=4,
                                                                          distance=distance))
        client.upsert(name, models.Batch(ids=list(range(40)), vectors=X.tolist()))
    client.close()
    first = vd.stores.qdrant(path, "a")
    again = vd.stores.qdrant(path, "a")
    other = vd.stores.qdrant(path, "b")
    for store, metric in ((first, "dot"), (again, "dot"), (other, "euclidean")):
        got = np.array(store.search(Q, k=5).ids.tolist())
        np.testing.assert_array_equal(got, _exact_top(X, Q, 5, metric))
    del first, again, other, store
    gc.collect()
    QdrantClient(path=path).close()           # the folder is not held any more


def test_pgvector_partitioned_table_searched_through_its_partitions_indexes(pg_server, rng):
    """An HNSW index on a partitioned table is scanned as its partitions' indexes
    (EXPLAIN: 'Index Scan using part0_embedding_idx'), a name the store did not look for:
    it reported 'sequential scan (exact)' and the audit said its recall (0.8) 'says nothing
    about the index'. The partitions' indexes now count as the parent's; the recall is
    checked against the same SQL run by psycopg and a NumPy brute-force L2 search."""
    import psycopg

    X = rng.normal(size=(1500, 8)).astype(np.float32)
    Q = rng.normal(size=(20, 8)).astype(np.float32)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS parted CASCADE")
        conn.execute("CREATE TABLE parted (id bigint, part int, embedding vector(8)) "
                     "PARTITION BY LIST (part)")
        for p in (0, 1):
            conn.execute(f"CREATE TABLE parted{p} PARTITION OF parted FOR VALUES IN ({p})")
        with conn.cursor().copy("COPY parted FROM STDIN") as copy:
            for i, v in enumerate(X):
                copy.write_row((i, i % 2, "[" + ",".join(map(repr, v.tolist())) + "]"))
        conn.execute("CREATE INDEX parted_hnsw ON parted USING hnsw (embedding vector_l2_ops) "
                     "WITH (m = 4, ef_construction = 8)")
    store = vd.stores.pgvector(pg_server, "parted", force_index=True).set_params(ef_search=10)
    audit = vd.audit(store, Q, k=10, sweep=False)
    assert audit.params["name"] == "parted_hnsw" and audit.params["plan"] == "index scan"
    assert "index_unused" not in [f.code for f in audit.findings]
    got = _index_search(pg_server, "SELECT id FROM parted ORDER BY embedding", Q, 10)
    ref = _l2_recall(Q, X, got)
    assert audit.recall == pytest.approx(ref)
    assert ref < 1.0                                      # the index, not an exact scan


def test_pgvector_view_over_an_indexed_table_reads_the_index_it_searches_with(pg_server, rng):
    """A view declares no index of its own, but PostgreSQL searches it through its table's
    HNSW index: the store said the column had no index (pass metric=), and with metric=
    reported an 'exact scan (no vector index)' whose recall was 0.6, refused ef_search and
    advised rebuilding an index. The index is read from the search's plan (metric, type,
    ef_search); recall is checked against the same SQL and NumPy brute-force L2."""

    X = rng.normal(size=(1500, 8)).astype(np.float32)
    Q = rng.normal(size=(20, 8)).astype(np.float32)
    pg_table(pg_server, "viewed", X, opclass="vector_l2_ops", m=4, ef_construction=8,
             extra_sql=('CREATE OR REPLACE VIEW "Docs View" AS SELECT id AS doc, '
                        'embedding AS vec FROM viewed',))
    store = vd.stores.pgvector(pg_server, "Docs View", vector="vec", id="doc",
                               force_index=True).set_params(ef_search=10)
    assert store.metric == "euclidean"
    with pytest.raises(ValueError, match=r"metric='cosine', but the indexes on vec declare "
                                         r"viewed_embedding_idx \(vector_l2_ops\)"):
        vd.stores.pgvector(pg_server, "Docs View", vector="vec", id="doc", metric="cosine")
    audit = vd.audit(store, Q, k=10, sweep=False)
    assert audit.params["index"] == "hnsw" and audit.params["plan"] == "index scan"
    assert audit.params["ef_search"] == 10
    got = _index_search(pg_server, 'SELECT doc FROM "Docs View" ORDER BY vec', Q, 10)
    ref = _l2_recall(Q, X, got)
    assert audit.recall == pytest.approx(ref)
    assert ref < 1.0                                      # the index, not an exact scan


def test_pgvector_sweep_measures_the_index_the_search_used(pg_server, rng):
    """At a high ef_search PostgreSQL's planner prices the HNSW scan above a sequential
    scan of a small table: the sweep's point at ef_search=1000 was an exact scan, recall
    1.0, and the audit advised 'raise ef_search to 1000: recall 1.000', a number that says
    nothing about the index the search at the current setting went through. When that
    search used the index, the sweep does too; each point is checked against the same SQL
    (sequential scans off) and NumPy brute-force L2."""

    X = rng.normal(size=(2000, 32)).astype(np.float32)
    Q = rng.normal(size=(20, 32)).astype(np.float32)
    pg_table(pg_server, "sweep_plan", X, opclass="vector_l2_ops", m=4, ef_construction=8)
    store = vd.stores.pgvector(pg_server, "sweep_plan")
    audit = vd.audit(store, Q, k=10, sweep={"ef_search": [40, 1000]})
    assert audit.params["plan"] == "index scan"
    for ef in (40, 1000):
        got = _index_search(pg_server, "SELECT id FROM sweep_plan ORDER BY embedding", Q, ef)
        ref = _l2_recall(Q, X, got)
        assert audit.sweep[ef].recall == pytest.approx(ref)
        assert ref < 1.0
    assert store.force_index is False and "force_index" not in store.params


def test_pgvector_explain_measures_a_raised_setting_on_the_index(pg_server, rng):
    """explain_neighbors' ann_miss tries higher ef_search values and the sampled recall
    they buy; at ef_search=320 PostgreSQL scanned this small table exactly, so the
    explanation promised 'recall ... -> 1.000'. The raised setting is measured through the
    index the explained search used: the sampled recall equals the same SQL (sequential
    scans off) scored against NumPy brute-force L2."""

    X = rng.normal(size=(2000, 32)).astype(np.float32)
    Q = rng.normal(size=(60, 32)).astype(np.float32)
    pg_table(pg_server, "explain_plan", X, opclass="vector_l2_ops", m=4, ef_construction=8)
    store = vd.stores.pgvector(pg_server, "explain_plan").set_params(ef_search=160)
    D = np.linalg.norm(Q[:, None, :].astype(np.float64) - X[None].astype(np.float64), axis=2)
    top = np.argsort(D, axis=1)[:, :10]
    select = "SELECT id FROM explain_plan ORDER BY embedding"
    at160, at320 = (_index_search(pg_server, select, Q, 160),
                    _index_search(pg_server, select, Q, 320))
    case = next((i, d) for i in range(len(Q)) for d in top[i]
                if d not in at160[i] and d in at320[i])
    rows = np.sort(np.random.default_rng(0).choice(len(X), size=200, replace=False))
    ids = np.array(store.fetch().ids[rows].tolist())               # the sampled documents
    sampled = _index_search(pg_server, select, X[ids], 320)
    store.search(Q[case[0]][None, :], k=10)
    assert store.params["plan"] == "index scan"                 # the search explained
    exp = vd.explain_neighbors(Q[case[0]], store, expected=[int(case[1])], k=10)
    cause = next(c for c in exp.causes if c.code == "ann_miss")
    assert cause.evidence["suggested"] == 320
    ref = _l2_recall(X[ids], X, sampled)
    assert cause.evidence["sample_recall_after"] == pytest.approx(ref)
    assert ref < 1.0


def test_pgvector_names_with_a_percent_sign_are_searched(pg_server, rng):
    """A name with a % in it (a column "score%", a table docs%s) went into the search
    statement, which runs with parameters, as written: psycopg read it as a placeholder
    and every search failed with ProgrammingError ("only '%s', '%b', '%t' are allowed as
    placeholders"). Such names are searched, a view over them too, and answer as an exact
    NumPy L2 search."""
    import psycopg

    X = rng.normal(size=(60, 4)).astype(np.float32)
    Q = rng.normal(size=(5, 4)).astype(np.float32)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute('DROP TABLE IF EXISTS "docs%s" CASCADE')
        conn.execute('CREATE TABLE "docs%s" ("id%" int, "emb%b" vector(4), "body %" text)')
        with conn.cursor().copy('COPY "docs%s" FROM STDIN') as copy:
            for i, v in enumerate(X):
                copy.write_row((i, "[" + ",".join(map(repr, v.tolist())) + "]", f"t{i}"))
        conn.execute('CREATE INDEX ON "docs%s" USING hnsw ("emb%b" vector_l2_ops)')
        conn.execute('CREATE VIEW "view%s" AS SELECT * FROM "docs%s"')
    want = _exact_top(X, Q, 5, "euclidean")
    for table in ("docs%s", "view%s"):
        store = vd.stores.pgvector(pg_server, table, vector="emb%b", id="id%", text="body %",
                                   force_index=True)
        assert store.metric == "euclidean"
        np.testing.assert_array_equal(np.array(store.search(Q, k=5).ids.tolist()), want)
        assert store.params["plan"] == "index scan"
        assert store.fetch().texts[:2].tolist() == ["t0", "t1"]


# ---------------------------------------------------------------- close()
def _backends(pg_uri, within=None):
    """The server's client backends (their process ids) other than the one asking; with
    ``within``, polled up to 5 s until they are all among those (a backend exits just
    after its client closes)."""
    import time

    import psycopg

    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for _ in range(50):
            pids = {row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()")}
            if within is None or pids <= within:
                break
            time.sleep(0.1)
    return pids


def test_pgvector_close_lets_go_of_the_connection_it_made(pg_docs, store_data):
    import psycopg

    X, Q = store_data
    # the store's own backend, by process id: a count of every backend also counted
    # connections other tests were closing meanwhile
    with vd.stores.pgvector(pg_docs, "docs") as store:
        got = store.search(Q[:3], k=5)
        pid = store.conn.info.backend_pid
        during = _backends(pg_docs)
        assert pid in during
    assert store.closed and store.conn.closed
    assert pid not in _backends(pg_docs, within=during - {pid})
    for call in (lambda: store.search(Q[:3], k=5), lambda: store.set_params(ef_search=50),
                 lambda: store.params, lambda: vd.audit(store, Q[:3], k=5, sweep=False),
                 lambda: vd.explain_neighbors(Q[0], store, expected=[0])):
        with pytest.raises(ValueError, match="pgvector .* is closed; make the store object"):
            call()
    # what was read stays: the fetched Index and the results made before
    assert store.fetch().ids.tolist() == list(range(len(X)))
    assert got.indices.shape == (3, 5) and "closed" in repr(store)
    store.close()                                           # twice: nothing
    # a connection passed in is the caller's: left open
    with psycopg.connect(pg_docs, autocommit=True) as conn:
        vd.stores.pgvector(conn, "docs").close()
        assert not conn.closed and conn.execute("SELECT 1").fetchone() == (1,)


def test_pgvector_refused_table_leaves_no_connection(pg_docs):
    before = _backends(pg_docs)
    for _ in range(3):
        with pytest.raises(ValueError, match="nope"):
            vd.stores.pgvector(pg_docs, "nope")
    assert _backends(pg_docs, within=before) <= before      # none of theirs stays


def test_qdrant_close_frees_the_local_folder_for_the_last_holder(qdrant_path, rng):
    from qdrant_client import QdrantClient, models

    path = os.path.join(qdrant_path, "closing")
    client = QdrantClient(path=path)
    for name in ("a", "b"):
        client.create_collection(name, vectors_config=models.VectorParams(
            size=4, distance=models.Distance.DOT))
        client.upsert(name, points=models.Batch(ids=[1, 2, 3],
                                                vectors=rng.normal(size=(3, 4)).tolist()))
    client.close()
    a, b = vd.stores.qdrant(path, "a"), vd.stores.qdrant(path, "b")   # one shared client
    with pytest.raises(ValueError, match="does not exist"):
        vd.stores.qdrant(path, "c")                     # refused: a and b keep the client
    a.close()
    assert b.search(np.ones((1, 4)), k=2).indices.shape == (1, 2)
    with pytest.raises(ValueError, match="is closed"):
        a.search(np.ones((1, 4)), k=2)
    with pytest.raises(RuntimeError, match="already accessed"):
        QdrantClient(path=path)                         # b still holds the folder
    b.close()
    again = QdrantClient(path=path)                     # the folder is free now
    assert again.count("b").count == 3
    again.close()
    with pytest.raises(ValueError, match="does not exist"):
        vd.stores.qdrant(path, "c")                     # its client let go of at once
    QdrantClient(path=path).close()


def test_faiss_and_chroma_close_leave_what_was_passed(chroma_client):
    faiss = pytest.importorskip("faiss")
    X = np.eye(4, dtype=np.float32)
    index = faiss.IndexFlatIP(4)
    index.add(X)
    with vd.stores.faiss(index) as store:
        fetched = store.fetch()
    with pytest.raises(ValueError, match="faiss .* is closed"):
        store.search(X[:1], k=1)
    assert store.fetch() is fetched and index.ntotal == 4
    collection = chroma_client.get_or_create_collection("closing",
                                                        metadata={"hnsw:space": "ip"})
    collection.upsert(ids=["x", "y"], embeddings=X[:2].tolist())
    vd.stores.chroma(collection).close()
    assert collection.count() == 2                      # the collection is still usable
    with pytest.raises(ValueError, match="is closed"):
        with vd.stores.chroma(collection) as store:
            store.close()
            store.search(X[:1], k=1)


def test_faiss_nsg_search_L_is_the_setting_audit_sweeps(rng):
    """An NSG graph's search_L trades recall for speed as efSearch does for HNSW: it is
    read, set, swept, and each recall is checked against brute force here."""
    faiss = pytest.importorskip("faiss")
    X = rng.normal(size=(3000, 24)).astype(np.float32)
    Q = rng.normal(size=(60, 24)).astype(np.float32)
    index = faiss.IndexNSGFlat(24, 8)
    index.add(X)
    store = vd.stores.faiss(index)
    assert store.search_setting == "search_L" and store.params["search_L"] == 16
    assert store.metric == "euclidean"                  # IndexNSGFlat's default, METRIC_L2
    truth = np.argsort(((Q[:, None, :] - X[None]) ** 2).sum(-1), axis=1, kind="stable")[:, :10]

    def recall(found):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])

    got = {}
    for L in (10, 200):
        store.set_params(search_l=L)                    # the alias, lower case
        assert index.nsg.search_L == L
        got[L] = recall(store.search(Q, k=10).indices)
    assert got[200] > got[10]
    index.nsg.search_L = 10
    audit = vd.audit(store, Q, k=10, sweep="search_L=10,200")
    assert index.nsg.search_L == 10                     # the sweep put it back
    frame = audit.sweep_frame()
    for L in (10, 200):
        index.nsg.search_L = L
        _, found = index.search(Q, 10)
        measured = frame.loc[frame["search_L"] == L, "recall"].item()
        assert measured == pytest.approx(recall(found), abs=1e-9)


def test_pgvector_an_l1_index_beside_an_l2_one_does_not_hide_it(pg_server, rng):
    """A column with an L2 index and an L1 one (vector_l1_ops, which vecdiag does not
    audit) was refused outright, metric='euclidean' or not, naming the L1 index; the L2
    index is audited when metric= picks it (search equal to exact NumPy L2), and without
    metric= the store asks for it, naming both indexes. An L1 index alone is refused."""
    X = rng.normal(size=(40, 4)).astype(np.float32)
    pg_table(pg_server, "t_l1_beside", X, opclass="vector_l2_ops", extra_sql=(
        "CREATE INDEX t_l1_beside_l1 ON t_l1_beside USING hnsw (embedding vector_l1_ops)",))
    store = vd.stores.pgvector(pg_server, "t_l1_beside", metric="euclidean")
    assert (store.metric, store.params["opclass"]) == ("euclidean", "vector_l2_ops")
    assert store.search(X[:5], 3).indices.tolist() == _exact_top(X, X[:5], 3, "euclidean").tolist()
    with pytest.raises(ValueError, match=r"several metrics \(t_l1_beside_embedding_idx "
                                         r"\(vector_l2_ops\), t_l1_beside_l1 \(vector_l1_ops\)\)"
                                         r".*pass metric="):
        vd.stores.pgvector(pg_server, "t_l1_beside")
    pg_table(pg_server, "t_l1_alone", X, opclass="vector_l1_ops")
    with pytest.raises(ValueError, match="vector_l1_ops, a metric vecdiag does not support"):
        vd.stores.pgvector(pg_server, "t_l1_alone", metric="euclidean")


def test_faiss_ivf_flat_panorama_vectors_are_the_ones_added(faiss_data):
    """An IndexIVFFlatPanorama (an IndexIVFFlat subclass) keeps each list's vectors in
    level-wise blocks, not as rows: its lists' bytes were read as rows, so fetch() gave
    other numbers (largest difference from the vectors added 5.35 on 600 x 16) and the
    audit of this lossless index at nprobe = nlist said recall@5 0.36. They are now
    decoded through faiss (equal to the vectors added), and recall is 1.0."""
    faiss, X, Q = faiss_data
    if not hasattr(faiss, "IndexIVFFlatPanorama"):
        pytest.skip("faiss before 1.13 has no IndexIVFFlatPanorama")
    index = faiss.IndexIVFFlatPanorama(faiss.IndexFlatL2(16), 16, 8, 4)
    index.train(X)
    index.add(X)
    store = vd.stores.faiss(index)
    fetched = store.fetch()
    rows = np.asarray(fetched.ids, dtype=np.int64)
    np.testing.assert_array_equal(np.asarray(fetched.vectors), X[rows])
    store.set_params(nprobe=8)
    assert vd.audit(store, Q, k=5, sweep=False).recall == 1.0
    assert store.search(Q, 5).ids.tolist() == _exact_top(X, Q, 5, "euclidean").tolist()


def test_qdrant_a_sparse_vector_named_as_vector_is_called_sparse(qdrant_path):
    """vector='bm25', the sparse vector of a hybrid collection, was answered 'collection
    hy has named vectors (dense); pass vector= one of them' (or, beside an unnamed dense
    vector, 'has one unnamed vector'), as if the name were mistyped; it is now named as
    a sparse vector, with the dense vector to pass instead."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=os.path.join(qdrant_path, "sparse_named"))
    sparse = {"bm25": models.SparseVectorParams()}
    client.create_collection("named", vectors_config={"dense": models.VectorParams(
        size=4, distance=models.Distance.COSINE)}, sparse_vectors_config=sparse)
    client.create_collection("unnamed", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.COSINE), sparse_vectors_config=sparse)
    client.create_collection("only", vectors_config={}, sparse_vectors_config=sparse)
    for collection, fix in (("named", "pass vector= one of dense"),
                            ("unnamed", r"leave vector=None \(its unnamed dense vector\)"),
                            ("only", "it has none")):
        with pytest.raises(ValueError, match=rf"vector='bm25' is a sparse vector of collection "
                                             rf"{collection}; vecdiag audits dense vectors: {fix}$"):
            vd.stores.qdrant(client, collection, vector="bm25")
    client.close()


def test_faiss_file_cut_short_is_named_as_cut_short(faiss_data, tmp_path):
    """A faiss file whose copy did not finish (faiss: 'read error ... 4516 != 5168') or an
    empty one was called 'not a faiss index file', with faiss's words and nothing to do;
    it is now said to end before its index does, with its size and the fix."""
    faiss, X, _ = faiss_data
    index = faiss.IndexHNSWFlat(16, 8)
    index.add(X[:50])
    whole = tmp_path / "whole.faiss"
    faiss.write_index(index, str(whole))
    data = whole.read_bytes()
    for size in (0, 100, len(data) // 2, len(data) - 8):
        cut = tmp_path / f"cut{size}.faiss"
        cut.write_bytes(data[:size])
        with pytest.raises(ValueError, match=rf"cut{size}\.faiss' ends before the faiss index "
                                             rf"it holds does \({size} bytes; .*read error.*"
                                             r"copy it again whole, or write it again"):
            vd.stores.faiss(cut)
    damaged = tmp_path / "damaged.faiss"
    damaged.write_bytes(data[:200] + b"\xff" * 60 + data[260:])
    with pytest.raises(ValueError, match=r"is not a faiss index file, or is damaged"):
        vd.stores.faiss(damaged)
    assert vd.stores.faiss(whole).n == 50


def test_faiss_ivf_probing_every_list_is_not_told_to_probe_more(faiss_data):
    """An IVF fast-scan PQ index searched with nprobe = nlist (every list) still misses
    neighbours, as its scores are approximate (recall@5 0.975 here, recomputed below from
    faiss's own answer and exact NumPy L2 over the decoded vectors). The audit said 'raise
    nprobe (now 4)', which set_params refuses (4 is all the lists), and a sweep up to 4
    said 'rebuild the index with ... more lists'; both now say every list is searched
    and name the approximate scores and the exact re-ranking that removes them."""
    faiss, X, Q = faiss_data
    index = faiss.index_factory(16, "IVF4,PQ4x4fs")
    index.train(X)
    index.add(X)
    index.nprobe = 4
    store = vd.stores.faiss(index)
    fetched = store.fetch()
    truth = np.asarray(fetched.ids, dtype=np.int64)[_exact_top(fetched.vectors, Q, 5,
                                                               "euclidean")]
    _, found = index.search(Q, 5)
    expected = np.mean([len(set(f) & set(t)) / 5 for f, t in zip(found, truth)])
    every = ("nprobe=4 already searches all 4 lists of the index, so the misses are not "
             "lists left out but the index's approximate scores")
    for sweep in (False, None):
        a = vd.audit(store, Q, k=5, sweep=sweep, target=1.0)
        (finding,) = [f for f in a.findings if f.code == "ann_recall"]
        assert a.recall == expected == 0.975
        assert every in finding.summary and finding.fix == "rebuild_index"
        assert "raise nprobe" not in finding.summary and "more lists" not in finding.summary
    miss = int(np.flatnonzero(a.per_query < 1)[0])    # explain_neighbors said the same
    (cause,) = [c for c in vd.explain_neighbors(Q[miss], store, k=5).causes
                if c.code == "ann_miss"]
    assert "no nprobe up to 4 finds it: " + every in cause.summary
    assert "more lists" not in cause.summary
    store.set_params(nprobe=2)          # fewer lists than there are: raising it can help
    (finding,) = [f for f in vd.audit(store, Q, k=5, sweep=False, target=1.0).findings
                  if f.code == "ann_recall"]
    assert "raise nprobe (now 2)" in finding.summary


def test_pgvector_one_column_of_two_models_read_with_where(pg_server, rng):
    """pgvector's way to keep two models' vectors in one untyped column: a partial index
    per model on a cast (::vector(4) WHERE model_id = 1, ::vector(6) WHERE model_id = 2).
    With where='model_id = 1' the 6-dimension index (cosine) was counted as a candidate:
    'indexes for several metrics (m1 (vector_l2_ops), m2 (vector_cosine_ops)); pass
    metric=', and metric='cosine' picked an index that cannot serve 4-dimension rows. An
    index on a cast to another dimension is now left out (m1 read alone, search equal to
    exact NumPy L2); without where= the dimension mismatch says which where= to pass."""
    import psycopg

    A = rng.normal(size=(40, 4)).astype(np.float32)
    B = rng.normal(size=(30, 6)).astype(np.float32)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS t_two_models")
        conn.execute("CREATE TABLE t_two_models (id bigint PRIMARY KEY, model_id int, "
                     "embedding vector)")
        with conn.cursor().copy("COPY t_two_models FROM STDIN") as copy:
            for model, X, start in ((1, A, 0), (2, B, 1000)):
                for i, v in enumerate(X):
                    copy.write_row((start + i, model, "[" + ",".join(map(repr, v.tolist())) + "]"))
        conn.execute("CREATE INDEX t_two_m1 ON t_two_models USING hnsw ((embedding::vector(4)) "
                     "vector_l2_ops) WHERE (model_id = 1)")
        conn.execute("CREATE INDEX t_two_m2 ON t_two_models USING hnsw ((embedding::vector(6)) "
                     "vector_cosine_ops) WHERE (model_id = 2)")
    store = vd.stores.pgvector(pg_server, "t_two_models", where="model_id = 1")
    assert (store.dim, store.metric, store.params["name"]) == (4, "euclidean", "t_two_m1")
    assert store.search(A[:5], 3).ids.tolist() == _exact_top(A, A[:5], 3, "euclidean").tolist()
    other = vd.stores.pgvector(pg_server, "t_two_models", where="model_id = 2")
    assert (other.dim, other.metric, other.params["name"]) == (6, "cosine", "t_two_m2")
    with pytest.raises(ValueError, match=r"dimensions 4 to 6; audit one model's vectors at a "
                                         r"time: pass where= selecting them \(where='"
                                         r"vector_dims\(embedding\) = 4', or the condition"):
        vd.stores.pgvector(pg_server, "t_two_models")
    assert vd.stores.pgvector(pg_server, "t_two_models", metric="euclidean",
                              where="vector_dims(embedding) = 4").n == 40


def test_faiss_ivf_saved_with_nprobe_above_its_lists_is_audited(faiss_data):
    """faiss takes index.nprobe = 16 on an 8-list IVF (it probes all 8); the default
    sweep added the current 16 to its ladder and vd.audit failed with 'nprobe=16 is more
    than the index's 8 lists ... pass nprobe <= 8', though nothing was passed. The ladder
    now stops at the lists (1, 2, 4, 8), each recall checked against exact NumPy L2 top-5
    (an IVFFlat probing every list finds all), and nprobe is put back to 16."""
    faiss, X, Q = faiss_data
    index = faiss.index_factory(16, "IVF8,Flat")
    index.train(X)
    index.add(X)
    index.nprobe = 16
    a = vd.audit(vd.stores.faiss(index), Q, k=5)
    assert sorted(a.sweep) == [1, 2, 4, 8] and a.sweep[8].recall == a.recall == 1.0
    assert vd.stores.faiss(index).search(Q, 5).ids.tolist() == \
        _exact_top(X, Q, 5, "euclidean").tolist()
    assert index.nprobe == 16
