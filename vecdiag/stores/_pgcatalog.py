"""Reading a pgvector table's catalog for :class:`._pg.PgVectorStore`: which table and
columns (:meth:`_Catalog._columns`) and which HNSW / IVFFlat index declares the metric
(:meth:`_Catalog._find_index`), from ``pg_class``, ``pg_attribute`` and ``pg_index``.

The metric is the operator class of the vector column's index (``vector_cosine_ops`` ->
cosine, searched with ``<=>``; ``vector_ip_ops`` -> dot, ``<#>``; ``vector_l2_ops`` ->
euclidean, ``<->``); an index on the column's cast (``::halfvec(n)``, or ``::vector(n)``
on a column of plain type ``vector``) is searched through that cast. A view (or a table
indexed partition by partition) has no index of its own: the one its search's plan scans
is read instead (:meth:`_Catalog._planned_indexes`).
"""

from __future__ import annotations

import re

from .. import _validate as V
from ._pgcopy import ELEM, FIXED_IDS

# operator class suffix -> (vecdiag metric, operator)
OPCLASS = {"cosine_ops": ("cosine", "<=>"), "ip_ops": ("dot", "<#>"),
           "l2_ops": ("euclidean", "<->")}
OPERATOR = {metric: op for metric, op in OPCLASS.values()}
# id types whose binary COPY form is their UTF-8 text
_TEXT_TYPES = ("text", "character varying", "character", "name", "citext")
# HNSW and IVFFlat indexes: name, access method, operator class, options, partial-index
# predicate, oid, whether the first key is an expression, and that key as written (a
# WHERE condition follows)
_VECTOR_INDEXES = (
    "SELECT ic.relname, am.amname, opc.opcname, ic.reloptions, "
    "pg_get_expr(x.indpred, x.indrelid), ic.oid, x.indkey[0] = 0, "
    "pg_get_indexdef(x.indexrelid, 1, false) "
    "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
    "JOIN pg_am am ON am.oid = ic.relam JOIN pg_opclass opc ON opc.oid = x.indclass[0] "
    "WHERE am.amname IN ('hnsw', 'ivfflat') AND ")
# the key columns (quoted) of a unique index of more than one column that holds the id
# column (the table's primary key first)
_COMPOSITE_KEY = (
    "SELECT array(SELECT quote_ident(a.attname) FROM unnest(x.indkey::int2[]) WITH "
    "ORDINALITY k(num, i) JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = "
    "k.num WHERE k.i <= x.indnkeyatts ORDER BY k.i) FROM pg_index x WHERE x.indisunique "
    "AND x.indnkeyatts > 1 AND %s = ANY((x.indkey::int2[])[0:x.indnkeyatts - 1]) "
    "AND x.indrelid = %s ORDER BY x.indisprimary DESC, x.indexrelid LIMIT 1")
# an index and, on a partitioned table, the indexes of its partitions (at any depth)
_INDEX_AND_PARTITIONS = (
    "WITH RECURSIVE tree(oid) AS (SELECT %s::oid UNION ALL SELECT i.inhrelid FROM "
    "pg_inherits i JOIN tree t ON i.inhparent = t.oid) SELECT quote_ident(c.relname) "
    "FROM tree JOIN pg_class c ON c.oid = tree.oid")


def refused(store, err, what: str) -> ValueError:
    """A psycopg error of a statement the store ran (no privilege on the table, a statement
    timeout) as a ValueError naming the store, the server's words and the fix."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if getattr(err, "sqlstate", None) == "42501":          # insufficient_privilege
        fix = (f"grant the role you connect as SELECT on {store.table} (and USAGE on its "
               "schema), or connect as a role that can read it")
    else:
        fix = "check the table and the server, then make the store object again"
    return ValueError(f"{store.describe()}: PostgreSQL refused to {what} ({first}); {fix}")


def _not_dense(table, column, full, typname, schema_of) -> str:
    """Why a column of pgvector's sparse or binary type is not read, and what to do (the
    rest of the error about a ``vector=`` column that is not vector / halfvec)."""
    typmod = schema_of[column][1]
    if typname == "sparsevec":
        # pgvector's vector holds at most 16,000 dimensions: a SPLADE column (30,522)
        # cannot be cast to one, and would take 122 KB a row as dense float32
        cast = (f"to run vecdiag's diagnostics on its rows as dense vectors, read them "
                f"with SELECT id, {column}::vector FROM {table} into vd.Index"
                if 0 < typmod <= 16000 else
                f"a sparse vector of {typmod if typmod > 0 else 'undeclared'} dimensions "
                "(pgvector's vector takes at most 16,000, so it cannot be read as dense rows)")
        return ("a sparse vector (pgvector's sparsevec): vd.stores.pgvector audits dense "
                f"vector / halfvec columns only; {cast}")
    if typname == "bit":
        return ("a binary vector (pgvector's bit, searched by Hamming / Jaccard distance), "
                "which vecdiag does not audit: pass the dense vector / halfvec column it "
                "was made from")
    return "not a pgvector vector or halfvec column"


def _options(reloptions) -> dict:
    """An index's storage options (``["m=16", "ef_construction=64"]``) as a dict."""
    return dict(o.split("=", 1) for o in (reloptions or []))


class _Catalog:
    """The catalog queries of a pgvector store (a mixin: the store brings ``_q``,
    ``_sql``, ``where``, ``table`` and ``_dsn``); each sets the attributes the store's
    reads and searches use."""

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
            # as table= takes them (quoted where needed: public."docs.v2", app."My Docs")
            names = [r[0] for r in self._q(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM "
                "information_schema.tables WHERE table_schema NOT IN ('pg_catalog', "
                "'information_schema') ORDER BY table_schema, table_name")]
            raise ValueError(f"table {table!r} does not exist in {self._dsn}; tables there: "
                             f"{', '.join(names[:20]) or 'none'}")
        self._oid = oid
        (schema, relname), = self._q(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.oid = %s", (oid,))
        self._table_sql = sql.Identifier(schema, relname)
        # the vector type by its own name and schema: regtype spells it ext.vector when
        # pgvector is installed in a schema outside the search_path
        rows = self._q("SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                       "a.atttypid::regtype::text, a.attnum, t.typname, tn.nspname, "
                       "a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                       "JOIN pg_namespace tn ON tn.oid = t.typnamespace WHERE a.attrelid = %s "
                       "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (oid,))
        cols = {name: (full, typname if typname in ELEM else base, num)
                for name, full, base, num, typname, _, _ in rows}
        schema_of = {r[0]: (r[5], r[6]) for r in rows}
        typname_of = {r[0]: r[4] for r in rows}
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
            dense = (", ".join(n for n, (_, b, _) in cols.items() if b in ELEM) or "none")
            raise ValueError(f"vector={vector!r}: column {vector} is {full}, "
                             + _not_dense(table, vector, full, typname_of[vector], schema_of)
                             + f"; vector columns there: {dense}")
        self._vtype = base
        # pgvector's types, functions and operators, named in its schema: found wherever
        # it is installed, in the search_path or not
        ext, typmod = schema_of[vector]
        self._ext = sql.Identifier(ext)
        (self._ext_quoted,), = self._q("SELECT quote_ident(%s)", (ext,))
        self.vector, self.id, self.text = vector, id, text
        self._v = sql.Identifier(vector)
        # ids: integers and UUIDs are decoded from the binary COPY; any other type (numeric,
        # date, a domain, ...) is read as its text, in the COPY and in the search alike
        self._id_type = cols[id][1]
        self._attnum_id = cols[id][2]
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
        if self.where:
            self._check_where(listing)
        if typmod > 0:                  # vector(n), halfvec(n): the type modifier is n
            self.dim = int(typmod)
        else:
            q = sql.SQL("SELECT min({e}.vector_dims({v})), max({e}.vector_dims({v})) FROM {t} "
                        "WHERE {v} IS NOT NULL{f}").format(v=self._v, t=self._table_sql,
                                                           f=self._filter, e=self._ext)
            (lo, hi), = self._q(q)
            if lo is not None and lo != hi:
                # pgvector's own way to index several models' vectors in one column: a
                # partial index per model on a cast ((embedding::vector(4)) WHERE model = 1)
                rows_of = f"vector_dims({self._spelled(vector)}) = {lo}"
                raise ValueError(f"dimension mismatch: column {vector} of {table} holds vectors "
                                 f"of dimensions {lo} to {hi}; audit one model's vectors at a "
                                 f"time: pass where= selecting them (where='{rows_of}', or "
                                 "the condition of its partial index), or keep one model's "
                                 f"vectors per column (declare it {base}(N) to have "
                                 "PostgreSQL enforce it)")
            self.dim = int(lo or 0)

    def duplicate_advice(self) -> str:
        """Ids that repeat: when the id column is one column of a composite key (PRIMARY
        KEY (tenant, doc_id)), the key and the way to read a part of it where ids are
        unique; otherwise to deduplicate them."""
        rows = self._q(_COMPOSITE_KEY, (self._attnum_id, self._oid))
        if not rows:
            return super().duplicate_advice()       # Store's: deduplicate them
        key = rows[0][0]
        others = [c for c in key if c != self._spelled(self.id)]
        return (f"column {self.id} is one part of the key ({', '.join(key)}) of {self.table} "
                f"and repeats across {', '.join(others)}; pass id= a column unique on its "
                f"own, or where= fixing {', '.join(others)} (where='{others[0]} = ...') to "
                "audit one part at a time")

    def _find_index(self, metric):
        # indexes on the column, then on an expression (pgvector's half-precision
        # indexing: an index on (embedding)::halfvec(n), searched with that cast)
        rows = self._q(_VECTOR_INDEXES + "x.indrelid = %s AND (x.indkey[0] = %s OR "
                       "x.indkey[0] = 0) ORDER BY x.indkey[0] = 0, ic.relname",
                       (self._oid, self._attnum))
        (quoted,), = self._q("SELECT quote_ident(%s)", (self.vector,))
        cast_form = re.compile(r"\(\(" + re.escape(quoted) + r"\)::(?:"
                               + re.escape(self._ext_quoted) + r"\.)?(halfvec|vector)"
                               r"\((\d+)\)\)")
        found, elsewhere, unsupported = [], [], []
        for name, am, opclass, options, predicate, index_oid, on_expression, key in rows:
            cast = None
            if on_expression:
                match = cast_form.fullmatch(key)
                if match is None:       # another expression: not searched from here
                    if quoted in key:
                        elsewhere.append(f"{name} on {key}")
                    continue
                cast = (match.group(1), int(match.group(2)))
                if self.dim and cast[1] != self.dim:    # another model's rows (where= left
                    elsewhere.append(f"{name} on {key}, for vectors of {cast[1]} "  # them out)
                                     f"dimensions, not {self.dim}")
                    continue
            suffix = opclass.split("_", 1)[1] if "_" in opclass else opclass
            if suffix not in OPCLASS:       # L1 (vector_l1_ops): refused below unless
                unsupported.append((name, opclass))    # another index can be audited
                continue
            found.append((name, am, opclass, _options(options), OPCLASS[suffix][0], predicate,
                          cast, index_oid))
        if metric is not None:
            V.check_metric(metric)
        if unsupported and not found:
            name, opclass = unsupported[0]
            raise ValueError(f"index {name} on {self.vector} uses {opclass}, a metric vecdiag "
                             "does not support (it knows cosine, inner product and L2); "
                             "audit a table indexed with vector_cosine_ops, vector_ip_ops "
                             "or vector_l2_ops")
        if unsupported and metric is None:
            # beside an index vecdiag can audit: which one the application searches with
            # is the user's to say, as for indexes of two supported metrics
            shown = ", ".join([f"{f[0]} ({f[2]})" for f in found]
                              + [f"{name} ({opclass})" for name, opclass in unsupported])
            raise ValueError(f"column {self.vector} has indexes for several metrics ({shown}), "
                             f"{unsupported[0][1]} among them, which vecdiag does not audit; "
                             "pass metric='cosine', 'dot' or 'euclidean' to choose the index "
                             "your application searches with")
        if not found and not elsewhere:
            # a view (or a table indexed partition by partition) declares no index of its
            # own: the one PostgreSQL searches with is read from the search's plan
            found = self._planned_indexes()
        if metric is not None:
            matching = [f for f in found if f[4] == metric]
            if found and not matching:
                raise ValueError(f"metric={metric!r}, but the indexes on {self.vector} declare "
                                 f"{', '.join(f'{f[0]} ({f[2]})' for f in found)}; searching "
                                 f"with {OPERATOR[metric]} would bypass them")
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
        # the indexes that can serve the search (same metric, same expression): PostgreSQL's
        # planner picks one of them, which the store then reports (_use_planned_index)
        self._candidates = [f for f in found if f[6] == found[0][6]]
        # each one's name as EXPLAIN spells it, with the names of its partitions' indexes
        # (a partitioned table's plan scans those: part0_embedding_idx, not the parent's)
        self._quoted = {f[0]: [r[0] for r in self._q(_INDEX_AND_PARTITIONS, (f[7],))]
                        for f in self._candidates}
        if found:
            self.metric = found[0][4]
            self._use_index(found[0])
        else:
            self._index_name, self._am, self._opclass, self._options = None, None, None, {}
            self._predicate = None
            self.metric = metric
        self._op = self._sql.SQL("OPERATOR({}.{})").format(self._ext,
                                                           self._sql.SQL(OPERATOR[self.metric]))
        # what the search compares: the column, or its cast when the index is on it
        # ((embedding)::halfvec(n), or ::vector(n) on a column of plain type vector): the
        # query must use the same cast for the planner to use the index
        self._cast = found[0][6] if found else None
        self._search_vtype, self._search_v = self._vtype, self._v
        self._rounded = False       # the index compares float16 roundings of the column
        if self._cast is not None:
            self._search_vtype, n = self._cast
            self._search_v = self._sql.SQL("({})::{}.{}({})").format(
                self._v, self._ext, self._sql.SQL(self._search_vtype), self._sql.SQL(str(n)))
            self._rounded = self._search_vtype == "halfvec" and self._vtype == "vector"
        if self._rounded:
            self.compressed = (f"the index {self._index_name} is on ({self.vector})::halfvec("
                               f"{self._cast[1]}): it compares the vectors rounded to "
                               "float16, and the vectors read from it are those roundings, "
                               f"not the float32 {self.vector} column")

    def _planned_indexes(self) -> list:
        """The HNSW / IVFFlat indexes on a plain column that the search's plan scans, for
        each metric, as rows of ``_find_index``'s ``found`` (a ``metric=`` of another one
        is then refused there, as for an index of the table's own)."""
        sql, part, out = self._sql, self._in_params, []
        if not self.dim:
            return out
        for name in OPERATOR:
            query = sql.SQL("SELECT 1 FROM {t} WHERE TRUE{f} ORDER BY {v} OPERATOR({e}.{op}) "
                            "%(q)s::{e}.{c} LIMIT %(k)s").format(
                t=part(self._table_sql), f=self._filter_params, v=part(self._v),
                e=part(self._ext), op=sql.SQL(OPERATOR[name]), c=sql.SQL(self._vtype))
            for used in dict.fromkeys(re.findall(r'\busing ((?:"(?:[^"]|"")+")|\S+) on ',
                                                 self._explain(query))):
                rows = self._q(_VECTOR_INDEXES + "quote_ident(ic.relname) = %s AND "
                               "x.indkey[0] <> 0 ORDER BY ic.oid LIMIT 1", (used,))
                for index, am, opclass, options, predicate, oid, _, _ in rows:
                    if OPCLASS.get(opclass.split("_", 1)[-1], (None,))[0] == name:
                        out.append((index, am, opclass, _options(options), name, predicate,
                                    None, oid))
        return out

    def _in_params(self, part):
        """``part`` (names, quoted) for a statement run with parameters, where psycopg
        reads a % in a name (a column "score%", a table docs%s) as the start of a
        placeholder: doubled, it is a % again (as where= is, in ``_filter_params``)."""
        return self._sql.SQL(part.as_string(self.conn).replace("%", "%%"))

    def _use_index(self, found) -> None:
        """Report ``found`` (a row of ``_candidates``) as the index the search uses."""
        self._index_name, self._am, self._opclass, self._options = found[:4]
        # a partial index (WHERE ...) serves only searches whose where= implies its predicate
        self._predicate = found[5]

    def index_backlog(self) -> dict | None:
        """The index the store reports, when it is not valid: PostgreSQL searches with an
        index only once ``CREATE INDEX CONCURRENTLY`` has finished it (its progress is read
        from ``pg_stat_progress_create_index``); a failed build leaves it invalid for good.
        None when it is valid, or there is no index."""
        self._live()
        oid = next((f[7] for f in getattr(self, "_candidates", ())
                    if f[0] == self._index_name), None)
        if self._am is None or oid is None:
            return None
        rows = self._q("SELECT x.indisvalid, p.phase, p.tuples_done, p.tuples_total FROM "
                       "pg_index x LEFT JOIN pg_stat_progress_create_index p ON "
                       "p.index_relid = x.indexrelid WHERE x.indexrelid = %s", (oid,))
        if not rows or rows[0][0]:
            return None
        _, phase, done, total = rows[0]
        return {"index": self._index_name, "status": "building" if phase else "invalid",
                "phase": phase, "indexed": done if phase else None,
                "total": total if phase else None}

    def _index_in_plan(self, plan: str):
        """The candidate index an EXPLAIN text scans with (None: none of them)."""
        for f in self._candidates:
            for quoted in self._quoted[f[0]]:
                if re.search(r"\busing " + re.escape(quoted) + r" on ", plan):
                    return f
        return None
