"""PostgreSQL + pgvector: :func:`pgvector`.

The metric is the operator class of the vector column's HNSW / IVFFlat index
(``vector_cosine_ops`` -> cosine, searched with ``<=>``, which returns ``1 - cos``;
``vector_ip_ops`` -> dot, ``<#>``, which returns the *negative* inner product;
``vector_l2_ops`` -> euclidean, ``<->``, the L2 distance). An index on the column's
halfvec cast (``(embedding::halfvec(n)) halfvec_l2_ops``, pgvector's half-precision
indexing) is searched through that cast, and the vectors are read as its float16
roundings (``compressed``). An index on ``(embedding::vector(n))`` over a column of
plain type ``vector`` (declared without a dimension) is searched through that cast too,
its vectors read as they are. pgvector's types, functions and operators are named in the
schema it is installed in (``OPERATOR(ext.<=>)``), so an extension outside the
search_path is read and searched as well. Vectors come out by binary
``COPY``, parsed with NumPy a block at a time (rows of fixed width are never touched one
by one). Search settings (``hnsw.ef_search``, ``ivfflat.probes``) are set with ``SET LOCAL``
inside each search's own transaction (and put back at its end: in a transaction of yours
it is a savepoint, which a SET LOCAL outlives), so a connection you pass is left as it was.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .. import _validate as V
from .._optional import require
from ._pgcatalog import OPERATOR, _Catalog, refused
from ._pgcopy import CopyParser, same_id
from .base import Store, mask_dsn

__all__ = ["pgvector", "PgVectorStore"]

_PG_DEFAULTS = {"ef_search": 40, "probes": 1}


def pgvector(dsn_or_connection, table: str, *, vector: str = "embedding", id: str = "id",
             text: str | None = None, where: str | None = None,
             metric: str | None = None, force_index: bool = False) -> "PgVectorStore":
    """A pgvector table as a :class:`~vecdiag.stores.Store`.

    Parameters
    ----------
    dsn_or_connection : str or psycopg.Connection
        ``postgresql://user:password@host/db`` (any libpq string), or an open psycopg 3
        connection (left as it was: settings are changed per search transaction only).
    table : str
        Table name, optionally ``schema.table``.
    vector, id, text : str
        Column names: the vectors (``vector`` or ``halfvec``), unique ids, optional texts.
        An HNSW / IVFFlat index on the column, or on its cast ``(vector)::halfvec(n)`` (or
        ``::vector(n)`` of a plain ``vector`` column), searched through it, declares the metric.
    where : str, optional
        An SQL condition restricting the rows (your own SQL, used as given), e.g. one
        model's rows of a column of several (an index on another dimension's cast is
        left out).
    metric : {"cosine", "dot", "euclidean"}, optional
        Needed only when the column has no vector index (then search is an exact scan and
        nothing declares the metric), or to pick one of several indexes (an L1 index too).
    force_index : bool
        Search with ``enable_seqscan = off``. PostgreSQL's planner scans a small table
        exactly instead of using its vector index (``params["plan"]`` says which it did);
        force the index to measure what it will do once the table has grown.

    Raises
    ------
    ValueError
        Unknown table or column (the columns there are are listed), not a vector column,
        NULL vectors (counted), mixed dimensions, an L1 index (alone), a bit column,
        unreachable server, a statement PostgreSQL refuses (no privilege: the grant to ask);
        on fetch, ids that repeat (an id column that is one part of a composite key is
        named with the key, and where= to read one part of it).

    Examples
    --------
    Needs a PostgreSQL server with the pgvector extension:

    >>> import vecdiag as vd
    >>> store = vd.stores.pgvector("postgresql://me@localhost/app", "docs")  # doctest: +SKIP
    >>> store.metric, store.params  # doctest: +SKIP
    ('cosine', {'index': 'hnsw', 'ef_search': 40, ...})
    >>> vd.audit(store, queries, k=10).recall  # doctest: +SKIP
    0.97
    """
    return PgVectorStore(dsn_or_connection, table, vector=vector, id=id, text=text,
                         where=where, metric=metric, force_index=force_index)


class PgVectorStore(_Catalog, Store):
    kind = "pgvector"
    settings = {"ef_search": ("hnsw.ef_search",), "probes": ("ivfflat.probes",)}

    def __init__(self, dsn_or_connection, table, *, vector="embedding", id="id", text=None,
                 where=None, metric=None, force_index=False):
        super().__init__()
        psycopg = require("psycopg", "vd.stores.pgvector")
        self._server_error = psycopg.Error
        require("pgvector.psycopg", "vd.stores.pgvector")
        self._sql = require("psycopg.sql")
        # rows as tuples on every cursor of ours, whatever row_factory a connection you
        # pass has (dict_row, namedtuple_row)
        self._tuple_row = require("psycopg.rows").tuple_row
        self._owns_conn = isinstance(dsn_or_connection, str)
        if isinstance(dsn_or_connection, str):
            self._dsn = mask_dsn(dsn_or_connection)
            try:
                self.conn = psycopg.connect(dsn_or_connection, autocommit=True, connect_timeout=10)
            except psycopg.Error as err:
                message = mask_dsn(str(err).strip()).replace(dsn_or_connection, self._dsn)
                raise ValueError(f"cannot connect to PostgreSQL at {self._dsn}: "
                                 f"{message.splitlines()[0] if message else type(err).__name__}; "
                                 "check that the server runs and the DSN is right") from None
        elif isinstance(dsn_or_connection, psycopg.AsyncConnection):
            raise TypeError("dsn_or_connection is a psycopg AsyncConnection; vecdiag reads "
                            "through a synchronous one: pass psycopg.connect(...) or the "
                            "connection string")
        elif hasattr(dsn_or_connection, "cursor") and hasattr(dsn_or_connection, "execute"):
            if getattr(dsn_or_connection, "closed", False):
                raise ValueError("dsn_or_connection: the connection is closed; pass an open "
                                 "one, or the connection string")
            self.conn = dsn_or_connection
            self._dsn = "connection"
        else:
            raise TypeError("dsn_or_connection must be a connection string "
                            "('postgresql://user@host/db') or a psycopg 3 connection, got "
                            f"{type(dsn_or_connection).__name__}")
        try:
            if where is not None and not isinstance(where, str):
                raise TypeError("where must be an SQL condition string, got "
                                f"{type(where).__name__}")
            self.table, self.where, self.force_index = table, where, bool(force_index)
            self._columns(table, vector, id, text)
            self._find_index(metric)
            self._settings = {}
            self._check_nulls()
            self._use_planned_index()
        except psycopg.Error as err:     # no privilege on the table, a statement timeout
            self._release()
            raise refused(self, err, "read it") from None
        except BaseException:
            self._release()              # a table that is not there leaves no connection
            raise

    def _release(self) -> None:
        if self._owns_conn:              # made here from a DSN; a connection passed is yours
            self.conn.close()

    # ------------------------------------------------------------- introspection
    def _q(self, query, params=None):
        with self.conn.transaction():
            cur = self._cursor().execute(query, params)
            return cur.fetchall() if cur.description else []

    def _cursor(self):
        return self.conn.cursor(row_factory=self._tuple_row)

    def _check_where(self, listing: str) -> None:
        """PostgreSQL must be able to run ``where=`` on the table (planned, not run)."""
        psycopg = require("psycopg", "vd.stores.pgvector")
        try:
            self._q(self._sql.SQL("SELECT 1 FROM {t} WHERE TRUE{f} LIMIT 0").format(
                t=self._table_sql, f=self._filter))
        except psycopg.Error as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"where={self.where!r}: PostgreSQL cannot run it on {self.table} "
                             f"({first}); write an SQL condition on its columns: "
                             f"{listing}") from None

    def _check_nulls(self):
        q = self._sql.SQL("SELECT count(*) FILTER (WHERE {v} IS NULL), count(*), "
                          "count(*) FILTER (WHERE {i} IS NULL) FROM {t} WHERE TRUE{f}").format(
            v=self._v, i=self._id, t=self._table_sql, f=self._filter)
        (nulls, total, no_id), = self._q(q)
        if no_id:     # checked here: a binary fetch would read the row as the wrong size
            raise ValueError(f"column {self.id} of {self.table} has {no_id} NULL ids: "
                             "a search result could not say which document it is; give them "
                             f"ids, or pass where='{self._spelled(self.id)} IS NOT NULL'")
        if nulls:
            q = self._sql.SQL("SELECT {i} FROM {t} WHERE {v} IS NULL{f} LIMIT 5").format(
                i=self._id, t=self._table_sql, v=self._v, f=self._filter)
            first = ", ".join(repr(r[0]) for r in self._q(q))
            raise ValueError(f"column {self.vector} of {self.table} has {nulls} NULL vectors "
                             f"(ids: {first}); embed or delete them, or pass "
                             f"where='{self._spelled(self.vector)} IS NOT NULL'")
        self.cache["n"] = int(total)

    def _spelled(self, column: str) -> str:
        """A column's name as SQL spells it in a where= condition (quoted when needed)."""
        (spelled,), = self._q("SELECT quote_ident(%s)", (column,))
        return spelled

    def _use_planned_index(self):
        """With several indexes able to serve the search (an HNSW and an IVFFlat index on
        the same column and metric), the one PostgreSQL's planner picks for it: its type
        and settings are the ones that decide recall."""
        if len(self._candidates) < 2 or not self.dim:
            return
        used = self._index_in_plan(self._explain(self._search_sql()))
        if used is not None:
            self._use_index(used)

    def _explain(self, query) -> str:
        """The plan of a search statement (parameters ``q`` and ``k``) for a probe query,
        with sequential scans off: the index PostgreSQL would search with."""
        probe = "[" + ",".join(["1"] * self.dim) + "]"
        with self.conn.transaction():
            with self._cursor() as cur, _set_local(cur, {"enable_seqscan": "off"}):
                cur.execute(self._sql.SQL("EXPLAIN ") + query, {"q": probe, "k": 10})
                return " ".join(r[0] for r in cur.fetchall())

    def describe(self) -> str:
        return f"pgvector {self._dsn} table {self.table}"

    @property
    def convention(self) -> str:
        return {"cosine": "<=> returns the cosine distance 1 - cos; vecdiag reports 1 - raw",
                "dot": "<#> returns the NEGATIVE inner product; vecdiag reports -raw",
                "euclidean": "<-> returns the L2 distance; vecdiag reports it as is"}[self.metric]

    def _current(self, name):
        if name in self._settings:
            return self._settings[name]
        guc = {"ef_search": "hnsw.ef_search", "probes": "ivfflat.probes"}[name]
        # loads pgvector, which defines its settings
        self._q(self._sql.SQL("SELECT '[1]'::{}.vector").format(self._ext))
        (value,), = self._q("SELECT current_setting(%s, true)", (guc,))
        return int(value) if value is not None else _PG_DEFAULTS[name]

    def _params(self) -> dict:
        if self._am is None:
            return {"index": None, "search": "exact scan (no vector index)",
                    "operator": OPERATOR[self.metric]}
        p = {"index": self._am, "name": self._index_name, "opclass": self._opclass,
             "operator": OPERATOR[self.metric]}
        if self._am == "hnsw":
            p.update(m=int(self._options.get("m", 16)),
                     ef_construction=int(self._options.get("ef_construction", 64)),
                     ef_search=self._current("ef_search"))
        else:
            p.update(lists=int(self._options.get("lists", 100)), probes=self._current("probes"))
        if self._cast is not None:
            p["expression"] = f"({self.vector})::{self._cast[0]}({self._cast[1]})"
        if self._predicate is not None:
            p["index_predicate"] = self._predicate
        if self.force_index:
            p["force_index"] = True
        if "plan" in self.cache:
            p["plan"] = self.cache["plan"]
        return p

    def _check_setting(self, name, value):
        """PostgreSQL refuses a value outside the setting's range (hnsw.ef_search 1 ..
        1000) only when a search sets it: the range is read from pg_settings here."""
        guc = {"ef_search": "hnsw.ef_search", "probes": "ivfflat.probes"}[name]
        self._current(name)             # loads pgvector, which defines its settings
        rows = self._q("SELECT min_val::bigint, max_val::bigint FROM pg_settings "
                       "WHERE name = %s", (guc,))
        if rows and rows[0][0] is not None and not rows[0][0] <= value <= rows[0][1]:
            low, high = rows[0]
            raise ValueError(f"{name}={value} is outside the range PostgreSQL takes for "
                             f"{guc} ({low} to {high}); pass a value in it")
        return value

    def _apply(self, name, value):
        self._settings[name] = int(value)

    def _save(self):
        return dict(self._settings)

    def _restore(self, state):
        self._settings = dict(state)

    def _count(self) -> int:
        if "n" not in self.cache:       # counted when made; again after a fetch found more
            self._check_nulls()
        return self.cache["n"]

    # ------------------------------------------------------------- fetch: binary COPY
    def copy_sql(self):
        """The COPY statement fetch() runs (the benchmark times psycopg on the same one)."""
        cols = [self._id, self._v] + ([self._text] if self._text is not None else [])
        return self._sql.SQL("COPY (SELECT {c} FROM {t} WHERE TRUE{f}) TO STDOUT "
                             "(FORMAT BINARY)").format(c=self._sql.SQL(", ").join(cols),
                                                       t=self._table_sql, f=self._filter)

    def _copy_batches(self, batch_size):
        parser = CopyParser(self.dim, self._vtype, self._id_type, self.text is not None)
        with self._refusals("read its rows"), self.conn.transaction():
            with self._cursor() as cur:
                with cur.copy(self.copy_sql()) as copy:
                    for data in copy:
                        batch = parser.feed(data)
                        if batch is not None:
                            yield batch
        batch = parser.parse()
        if batch is not None:
            yield batch
        parser.finish()

    def _batches(self, batch_size):
        """The rows as the index compares them (float16 roundings under a halfvec cast)."""
        for ids, vectors, texts in self._copy_batches(batch_size):
            if self._rounded:
                vectors = vectors.astype(np.float16).astype(np.float32)
            yield ids, vectors, texts

    # ------------------------------------------------------------- search
    def _search(self, Q, k):
        from pgvector.psycopg.vector import register_vector_info
        from psycopg.types import TypeInfo

        if "vector_type" not in self.cache:
            self.cache["vector_type"] = TypeInfo.fetch(self.conn,
                                                       f"{self._ext_quoted}.vector")
        query = self._search_sql()
        out_ids, out_raw = [], []
        with self._refusals("search it"), self.conn.transaction():
            with self._cursor() as cur:
                # numpy -> vector on this cursor only: your connection is untouched
                register_vector_info(cur, self.cache["vector_type"])
                local = {{"ef_search": "hnsw.ef_search", "probes": "ivfflat.probes"}[name]:
                         int(value) for name, value in self._settings.items()}
                if self.force_index:
                    local["enable_seqscan"] = "off"
                with _set_local(cur, local):
                    if len(Q) and self._am is not None:
                        self.cache["plan"] = self._plan(cur, query, Q[0], k)
                    for q in Q:
                        cur.execute(query, {"q": q, "k": k}, prepare=True)
                        rows = cur.fetchall()
                        out_ids.append([same_id(r[0]) for r in rows])
                        out_raw.append([r[1] for r in rows])
        return out_ids, out_raw

    @contextmanager
    def _refusals(self, what: str):
        """A psycopg error inside the block as a ValueError naming the store and the fix."""
        try:
            yield
        except self._server_error as err:
            raise refused(self, err, what) from None

    def _search_sql(self):
        """The search statement (parameters ``q``, the query, and ``k``)."""
        sql, part = self._sql, self._in_params
        cast = sql.SQL("{}.{}").format(self._ext, sql.SQL(self._search_vtype))
        return sql.SQL("SELECT {i}, {v} {op} %(q)s::{c} AS d FROM {t} WHERE TRUE{f} "
                       "ORDER BY {v} {op} %(q)s::{c} LIMIT %(k)s").format(
            i=part(self._id), v=part(self._search_v), op=part(self._op), c=part(cast),
            t=part(self._table_sql), f=self._filter_params)

    def _plan(self, cur, query, q, k) -> str:
        """How PostgreSQL runs the search: through the vector index, or a sequential scan
        (exact: the planner's choice on a small table, or with a selective where=)."""
        cur.execute(self._sql.SQL("EXPLAIN ") + query, {"q": q, "k": k})
        used = self._index_in_plan(" ".join(r[0] for r in cur.fetchall()))
        if used is None:
            return "sequential scan (exact)"
        if used[0] == self._index_name:
            return "index scan"
        return f"index scan using {used[0]} ({used[1]}), not {self._index_name}"

    def _as_searched(self, Q):
        """A halfvec column (or an index on a halfvec cast) is searched with the query
        cast to halfvec (``%s::halfvec``): float16, as the vectors it is compared with."""
        if self._search_vtype != "halfvec":
            return Q
        with np.errstate(over="ignore"):
            half = Q.astype(np.float16)
        big = np.flatnonzero(~np.isfinite(half).all(axis=1))
        if big.size:
            raise ValueError(f"queries: {V.format_rows(big)} hold values beyond the halfvec "
                             f"range (|x| > 65504) of column {self.vector}; PostgreSQL cannot "
                             "cast them to halfvec: rescale or re-embed them")
        return half.astype(np.float32)

    def _to_score(self, raw):
        if self.metric == "cosine":
            return 1.0 - raw
        if self.metric == "dot":
            return -raw
        return raw


@contextmanager
def _set_local(cur, settings: dict):
    """``SET LOCAL`` each setting for a block inside ``conn.transaction()``, put back at its
    end: in a transaction of the caller's that block is only a savepoint, and a SET LOCAL
    outlives it until the caller's transaction ends (an error rolls it back anyway)."""
    before = {}
    for name, value in settings.items():
        cur.execute("SELECT current_setting(%s, true)", (name,))
        before[name] = cur.fetchone()[0]
        cur.execute("SELECT set_config(%s, %s, true)", (name, str(value)))
    yield
    for name, value in before.items():
        if value is None:       # not defined before (pgvector not loaded yet)
            cur.execute(f"SET LOCAL {name} TO DEFAULT")
        else:
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
