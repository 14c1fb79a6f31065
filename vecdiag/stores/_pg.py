"""PostgreSQL + pgvector: :func:`pgvector`.

The metric is the operator class of the vector column's HNSW / IVFFlat index
(``vector_cosine_ops`` -> cosine, searched with ``<=>``, which returns ``1 - cos``;
``vector_ip_ops`` -> dot, ``<#>``, which returns the *negative* inner product;
``vector_l2_ops`` -> euclidean, ``<->``, the L2 distance). An index on the column's
halfvec cast (``(embedding::halfvec(n)) halfvec_l2_ops``, pgvector's half-precision
indexing) is searched through that cast, and the vectors are read as its float16
roundings (``compressed``). Vectors come out by binary
``COPY``, parsed with NumPy a block at a time (rows of fixed width are never touched one
by one). Search settings (``hnsw.ef_search``, ``ivfflat.probes``) are set with ``SET LOCAL``
inside each search's own transaction, so a connection you pass is left as it was.
"""

from __future__ import annotations

import re

import numpy as np

from .. import _validate as V
from .._optional import require
from ._pgcopy import ELEM, FIXED_IDS
from ._pgcopy import CopyParser, same_id
from .base import Store, mask_dsn

__all__ = ["pgvector", "PgVectorStore"]

# operator class suffix -> (vecdiag metric, operator)
_OPCLASS = {"cosine_ops": ("cosine", "<=>"), "ip_ops": ("dot", "<#>"),
            "l2_ops": ("euclidean", "<->")}
_OPERATOR = {metric: op for metric, op in _OPCLASS.values()}
_PG_DEFAULTS = {"ef_search": 40, "probes": 1}
# id types whose binary COPY form is their UTF-8 text
_TEXT_TYPES = ("text", "character varying", "character", "name", "citext")


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
        An HNSW / IVFFlat index on the column, or on its cast ``(vector)::halfvec(n)``
        (then searched through the cast), declares the metric.
    where : str, optional
        An SQL condition restricting the rows (your own SQL, used as given).
    metric : {"cosine", "dot", "euclidean"}, optional
        Needed only when the column has no vector index (then search is an exact scan and
        nothing declares the metric), or to pick one of several indexes.
    force_index : bool
        Search with ``enable_seqscan = off``. PostgreSQL's planner scans a small table
        exactly instead of using its vector index (``params["plan"]`` says which it did);
        force the index to measure what it will do once the table has grown.

    Raises
    ------
    ValueError
        Unknown table or column (the columns there are are listed), not a vector column,
        NULL vectors (counted), mixed dimensions, an L1 / bit index, unreachable server.

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


class PgVectorStore(Store):
    kind = "pgvector"
    settings = {"ef_search": ("hnsw.ef_search",), "probes": ("ivfflat.probes",)}

    def __init__(self, dsn_or_connection, table, *, vector="embedding", id="id", text=None,
                 where=None, metric=None, force_index=False):
        super().__init__()
        psycopg = require("psycopg", "vd.stores.pgvector")
        require("pgvector.psycopg", "vd.stores.pgvector")
        self._sql = require("psycopg.sql")
        if isinstance(dsn_or_connection, str):
            self._dsn = mask_dsn(dsn_or_connection)
            try:
                self.conn = psycopg.connect(dsn_or_connection, autocommit=True, connect_timeout=10)
            except psycopg.Error as err:
                message = mask_dsn(str(err).strip()).replace(dsn_or_connection, self._dsn)
                raise ValueError(f"cannot connect to PostgreSQL at {self._dsn}: "
                                 f"{message.splitlines()[0] if message else type(err).__name__}; "
                                 "check that the server runs and the DSN is right") from None
        elif hasattr(dsn_or_connection, "cursor") and hasattr(dsn_or_connection, "execute"):
            self.conn = dsn_or_connection
            self._dsn = "connection"
        else:
            raise TypeError("dsn_or_connection must be a connection string "
                            "('postgresql://user@host/db') or a psycopg 3 connection, got "
                            f"{type(dsn_or_connection).__name__}")
        if where is not None and not isinstance(where, str):
            raise TypeError(f"where must be an SQL condition string, got {type(where).__name__}")
        self.table, self.where, self.force_index = table, where, bool(force_index)
        self._columns(table, vector, id, text)
        self._find_index(metric)
        self._settings = {}
        self._check_nulls()

    # ------------------------------------------------------------- introspection
    def _q(self, query, params=None):
        with self.conn.transaction():
            cur = self.conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def _columns(self, table, vector, id, text):
        sql = self._sql
        if not isinstance(table, str) or not table:
            raise TypeError(f"table must be a table name, got {table!r}")
        (oid,), = self._q("SELECT to_regclass(%s)::oid", (table,))
        if oid is None and '"' not in table:
            # PostgreSQL folds an unquoted name to lower case: a table created as "MyDocs"
            # is found by its exact spelling (as columns are), schema-qualified or not
            parts = table.split(".", 1)
            exact = " || '.' || ".join(["quote_ident(%s)"] * len(parts))
            (oid,), = self._q(f"SELECT to_regclass({exact})::oid", tuple(parts))
        if oid is None:
            names = [r[0] for r in self._q(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")]
            raise ValueError(f"table {table!r} does not exist in {self._dsn}; tables there: "
                             f"{', '.join(names[:20]) or 'none'}")
        self._oid = oid
        (schema, relname), = self._q(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.oid = %s", (oid,))
        self._table_sql = sql.Identifier(schema, relname)
        rows = self._q("SELECT attname, format_type(atttypid, atttypmod), "
                       "atttypid::regtype::text, attnum FROM pg_attribute WHERE attrelid = %s "
                       "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (oid,))
        cols = {name: (full, base, num) for name, full, base, num in rows}
        listing = ", ".join(f"{name} ({full})" for name, (full, _, _) in cols.items())
        for arg, name in (("vector", vector), ("id", id), ("text", text)):
            if (name is None and arg != "text") or (name is not None
                                                    and not isinstance(name, str)):
                raise TypeError(f"{arg} must be a column name, got {name!r}")
            if name is not None and name not in cols:
                raise ValueError(f"{arg}={name!r}: table {table} has no column {name!r}; "
                                 f"its columns: {listing}")
        full, base, self._attnum = cols[vector]
        if base not in ELEM:
            raise ValueError(f"vector={vector!r}: column {vector} is {full}, not a pgvector "
                             f"vector or halfvec column; vector columns there: "
                             + (", ".join(n for n, (_, b, _) in cols.items() if b in ELEM)
                                or "none"))
        self._vtype = base
        self.vector, self.id, self.text = vector, id, text
        self._v = sql.Identifier(vector)
        # ids: integers and UUIDs are decoded from the binary COPY; any other type (numeric,
        # date, a domain, ...) is read as its text, in the COPY and in the search alike
        self._id_type = cols[id][1]
        self._id = sql.Identifier(id)
        if self._id_type not in FIXED_IDS and self._id_type not in _TEXT_TYPES + ("uuid",):
            self._id = sql.SQL("{}::text").format(self._id)
            self._id_type = "text"
        # texts: whatever the column's type, its text (an int column's "7", jsonb's JSON)
        self._text = None if text is None else sql.SQL("{}::text").format(sql.Identifier(text))
        self._filter = sql.SQL(" AND ({})").format(sql.SQL(self.where)) if self.where \
            else sql.SQL("")
        # the same condition inside statements run with parameters, where psycopg reads
        # a % as the start of a placeholder (where="body LIKE 'a%'")
        self._filter_params = sql.SQL(" AND ({})").format(
            sql.SQL(self.where.replace("%", "%%"))) if self.where else sql.SQL("")
        dims = full[len(base) + 1:-1] if full.endswith(")") else ""
        if dims:
            self.dim = int(dims)
        else:
            q = sql.SQL("SELECT min(vector_dims({v})), max(vector_dims({v})) FROM {t} "
                        "WHERE {v} IS NOT NULL{f}").format(v=self._v, t=self._table_sql,
                                                           f=self._filter)
            (lo, hi), = self._q(q)
            if lo is not None and lo != hi:
                raise ValueError(f"dimension mismatch: column {vector} of {table} holds vectors "
                                 f"of dimensions {lo} to {hi}; one model's vectors per column "
                                 f"(declare it {base}(N) to have PostgreSQL enforce it)")
            self.dim = int(lo or 0)

    def _find_index(self, metric):
        # indexes on the column, then on an expression (pgvector's half-precision
        # indexing: an index on (embedding)::halfvec(n), searched with that cast)
        rows = self._q(
            "SELECT ic.relname, am.amname, opc.opcname, ic.reloptions, "
            "pg_get_expr(x.indpred, x.indrelid), x.indkey[0] = 0, "
            "pg_get_indexdef(x.indexrelid, 1, false) "
            "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
            "JOIN pg_am am ON am.oid = ic.relam JOIN pg_opclass opc ON opc.oid = x.indclass[0] "
            "WHERE x.indrelid = %s AND (x.indkey[0] = %s OR x.indkey[0] = 0) "
            "AND am.amname IN ('hnsw', 'ivfflat') ORDER BY x.indkey[0] = 0, ic.relname",
            (self._oid, self._attnum))
        (quoted,), = self._q("SELECT quote_ident(%s)", (self.vector,))
        cast_form = re.compile(r"\(\(" + re.escape(quoted) + r"\)::halfvec\((\d+)\)\)")
        found, elsewhere = [], []
        for name, am, opclass, options, predicate, on_expression, key in rows:
            cast = None
            if on_expression:
                match = cast_form.fullmatch(key)
                if match is None:       # another expression: not searched from here
                    if quoted in key:
                        elsewhere.append(f"{name} on {key}")
                    continue
                cast = int(match.group(1))
            suffix = opclass.split("_", 1)[1] if "_" in opclass else opclass
            if suffix not in _OPCLASS:
                raise ValueError(f"index {name} on {self.vector} uses {opclass}, a metric vecdiag "
                                 "does not support (it knows cosine, inner product and L2); "
                                 "audit a table indexed with vector_cosine_ops, vector_ip_ops "
                                 "or vector_l2_ops")
            opts = dict(o.split("=", 1) for o in (options or []))
            found.append((name, am, opclass, opts, _OPCLASS[suffix][0], predicate, cast))
        if metric is not None:
            V.check_metric(metric)
            matching = [f for f in found if f[4] == metric]
            if found and not matching:
                raise ValueError(f"metric={metric!r}, but the indexes on {self.vector} declare "
                                 f"{', '.join(f'{f[0]} ({f[2]})' for f in found)}; searching "
                                 f"with {_OPERATOR[metric]} would bypass them")
            found = matching
        elif len({f[4] for f in found}) > 1:
            raise ValueError(f"column {self.vector} has indexes for several metrics "
                             f"({', '.join(f'{f[0]} ({f[2]})' for f in found)}); pass metric= "
                             "to choose the one your application searches with")
        elif not found:
            other = (f" (indexes on other expressions of it, which vecdiag does not search "
                     f"through: {'; '.join(elsewhere)})" if elsewhere else "")
            raise ValueError(f"column {self.vector} of {self.table} has no HNSW or IVFFlat index"
                             f"{other}, so nothing declares its metric; pass metric='cosine', "
                             "'dot' or 'euclidean' (the operator your queries use: <=>, <#> "
                             "or <->) to measure an exact scan")
        # a partial index (WHERE ...) serves only searches whose where= implies its predicate
        self._predicate = found[0][5] if found else None
        if found:
            self._index_name, self._am, self._opclass, self._options, self.metric = found[0][:5]
        else:
            self._index_name, self._am, self._opclass, self._options = None, None, None, {}
            self.metric = metric
        self._op = self._sql.SQL(_OPERATOR[self.metric])
        # what the search compares: the column, or its halfvec cast when the index is on it
        self._cast = found[0][6] if found else None
        self._search_vtype, self._search_v = self._vtype, self._v
        if self._cast is not None:
            self._search_vtype = "halfvec"
            self._search_v = self._sql.SQL("({})::halfvec({})").format(
                self._v, self._sql.SQL(str(self._cast)))
            self.compressed = (f"the index {self._index_name} is on ({self.vector})::halfvec("
                               f"{self._cast}): it compares the vectors rounded to float16, "
                               "and the vectors read from it are those roundings, not the "
                               f"float32 {self.vector} column")

    def _check_nulls(self):
        q = self._sql.SQL("SELECT count(*) FILTER (WHERE {v} IS NULL), count(*), "
                          "count(*) FILTER (WHERE {i} IS NULL) FROM {t} WHERE TRUE{f}").format(
            v=self._v, i=self._id, t=self._table_sql, f=self._filter)
        (nulls, total, no_id), = self._q(q)
        if no_id:     # checked here: a binary fetch would read the row as the wrong size
            raise ValueError(f"column {self.id} of {self.table} has {no_id} NULL ids: "
                             "a search result could not say which document it is; give them "
                             f"ids, or pass where='{self.id} IS NOT NULL'")
        if nulls:
            q = self._sql.SQL("SELECT {i} FROM {t} WHERE {v} IS NULL{f} LIMIT 5").format(
                i=self._id, t=self._table_sql, v=self._v, f=self._filter)
            first = ", ".join(repr(r[0]) for r in self._q(q))
            raise ValueError(f"column {self.vector} of {self.table} has {nulls} NULL vectors "
                             f"(ids: {first}); embed or delete them, or pass "
                             f"where='{self.vector} IS NOT NULL'")
        self.cache["n"] = int(total)

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
        self._q("SELECT '[1]'::vector")  # loads pgvector, which defines its settings
        (value,), = self._q("SELECT current_setting(%s, true)", (guc,))
        return int(value) if value is not None else _PG_DEFAULTS[name]

    def _params(self) -> dict:
        if self._am is None:
            return {"index": None, "search": "exact scan (no vector index)",
                    "operator": _OPERATOR[self.metric]}
        p = {"index": self._am, "name": self._index_name, "opclass": self._opclass,
             "operator": _OPERATOR[self.metric]}
        if self._am == "hnsw":
            p.update(m=int(self._options.get("m", 16)),
                     ef_construction=int(self._options.get("ef_construction", 64)),
                     ef_search=self._current("ef_search"))
        else:
            p.update(lists=int(self._options.get("lists", 100)), probes=self._current("probes"))
        if self._cast is not None:
            p["expression"] = f"({self.vector})::halfvec({self._cast})"
        if self._predicate is not None:
            p["index_predicate"] = self._predicate
        if self.force_index:
            p["force_index"] = True
        if "plan" in self.cache:
            p["plan"] = self.cache["plan"]
        return p

    def _apply(self, name, value):
        self._settings[name] = int(value)

    def _save(self):
        return dict(self._settings)

    def _restore(self, state):
        self._settings = dict(state)

    def _count(self) -> int:
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
        with self.conn.transaction():
            with self.conn.cursor() as cur:
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
            if self._cast is not None:
                vectors = vectors.astype(np.float16).astype(np.float32)
            yield ids, vectors, texts

    # ------------------------------------------------------------- search
    def _search(self, Q, k):
        from pgvector.psycopg.vector import register_vector_info
        from psycopg.types import TypeInfo

        if "vector_type" not in self.cache:
            self.cache["vector_type"] = TypeInfo.fetch(self.conn, "vector")
        sql = self._sql
        cast = sql.SQL(self._search_vtype)
        query = sql.SQL("SELECT {i}, {v} {op} %(q)s::{c} AS d FROM {t} WHERE TRUE{f} "
                        "ORDER BY {v} {op} %(q)s::{c} LIMIT %(k)s").format(
            i=self._id, v=self._search_v, op=self._op, c=cast, t=self._table_sql,
            f=self._filter_params)
        out_ids, out_raw = [], []
        with self.conn.transaction():
            with self.conn.cursor() as cur:
                # numpy -> vector on this cursor only: your connection is untouched
                register_vector_info(cur, self.cache["vector_type"])
                for name, value in self._settings.items():
                    guc = {"ef_search": "hnsw.ef_search", "probes": "ivfflat.probes"}[name]
                    cur.execute(sql.SQL("SET LOCAL {} = {}").format(
                        sql.SQL(guc), sql.Literal(int(value))))
                if self.force_index:
                    cur.execute("SET LOCAL enable_seqscan = off")
                if len(Q) and self._am is not None:
                    self.cache["plan"] = self._plan(cur, query, Q[0], k)
                for q in Q:
                    cur.execute(query, {"q": q, "k": k}, prepare=True)
                    rows = cur.fetchall()
                    out_ids.append([same_id(r[0]) for r in rows])
                    out_raw.append([r[1] for r in rows])
        return out_ids, out_raw

    def _plan(self, cur, query, q, k) -> str:
        """How PostgreSQL runs the search: through the vector index, or a sequential scan
        (exact: the planner's choice on a small table, or with a selective where=)."""
        cur.execute(self._sql.SQL("EXPLAIN ") + query, {"q": q, "k": k})
        text = " ".join(r[0] for r in cur.fetchall())
        if self._index_name and self._index_name in text:
            return "index scan"
        return "sequential scan (exact)"

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
