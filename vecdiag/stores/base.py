"""The one small interface every store adapter implements: :class:`Store`.

An adapter answers five questions in the store's own terms (how many vectors, of what
dimension, under which declared metric, with which index and search settings) and does
three things: stream its vectors out in batches, search with its own index, and change
its search setting. Everything else (the memory-bounded fetch into a :class:`vecdiag.Index`,
turning raw scores into vecdiag's convention, id -> row bookkeeping) lives here once.

Score conventions (vecdiag's): ``cosine`` and ``dot`` are similarities (higher is closer),
``euclidean`` is a distance (lower is closer, not squared). Each adapter's ``_to_score``
maps its raw values there; the raw values stay in :attr:`StoreNeighbors.raw_scores`.
"""

from __future__ import annotations

import time

import numpy as np

from .. import _validate as V
from .._secrets import mask_secrets
from ..neighbors import Neighbors
from ..results import result, text_safe_column

__all__ = ["Store", "StoreNeighbors", "mask_dsn", "DEFAULT_FETCH_BUDGET"]

# Vectors held in RAM by fetch(); a larger store is written to a temporary memmap.
DEFAULT_FETCH_BUDGET = 2 * 2**30
DEFAULT_BATCH = 8192


def mask_dsn(text) -> str:
    """``text`` with any password in a connection string or URL replaced by ``***``
    (and a token before ``@`` in an http(s) URL, a query parameter named like a secret
    such as ``?api_key=``): vecdiag's one masking rule, :func:`vecdiag._secrets.mask_secrets`,
    shared with the embedders.

    Examples
    --------
    >>> mask_dsn("postgresql://ann:s3cret@db:5432/x")
    'postgresql://ann:***@db:5432/x'
    >>> mask_dsn("host=db password=s3cret dbname=x")
    'host=db password=*** dbname=x'
    >>> mask_dsn("postgresql://ann:p@ss/w@rd@db:5432/x")     # an @ left unencoded in it
    'postgresql://ann:***@db:5432/x'
    >>> mask_dsn("http://db:6333?api_key=s3cret"), mask_dsn("https://s3cret@db:6333")
    ('http://db:6333?api_key=***', 'https://***@db:6333')
    """
    return mask_secrets(text)


@result
class StoreNeighbors(Neighbors):
    """What a store's own search returned, in vecdiag's convention.

    ``indices`` are rows of ``store.fetch()``; a query for which the store returned fewer
    than k results (an HNSW ``ef_search`` below k, a filter applied after the index scan)
    has its missing slots padded with index -1, id None and score NaN.
    """

    raw_scores: np.ndarray | None = None
    """(n_queries, k) the scores exactly as the store gave them (NaN where padded)."""
    n_returned: np.ndarray | None = None
    """(n_queries,) how many results the store returned for each query."""
    seconds: float = 0.0
    """Wall time of the store's own searches (all queries)."""

    def to_frame(self, ids=None, texts=None):
        """As :meth:`Neighbors.to_frame`, without padded slots, plus ``raw_score``.

        Integer ids stay an integer column when a query was short: its padded slots
        (id None) are dropped before the column's dtype is chosen."""
        frame = super().to_frame(ids=ids, texts=texts)
        frame["raw_score"] = np.asarray(self.raw_scores, dtype=float).ravel()
        frame = frame[frame["index"] >= 0].reset_index(drop=True)
        # subtle: the padded None made integer ids an object column
        frame["id"] = text_safe_column(frame["id"].to_numpy(dtype=object))
        return frame


class Store:
    """A vector store vecdiag can read, search and audit (the base of every adapter).

    Attributes
    ----------
    kind : str
        "pgvector", "faiss", "qdrant" or "chroma".
    metric : str
        vecdiag's name of the metric the store declares ("cosine", "dot", "euclidean").
    dim : int
        Vector dimension.
    cache : dict
        Things computed once per store (the fetched Index, sampled-query recalls).

    Examples
    --------
    Every adapter (here faiss) is a Store: search it as it searches, or fetch its
    vectors into a :class:`vecdiag.Index` for exact search.

    >>> import faiss
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> X = np.eye(4, dtype="float32")
    >>> index = faiss.IndexFlatIP(4)
    >>> index.add(X)
    >>> store = vd.stores.faiss(index)
    >>> isinstance(store, vd.stores.Store)
    True
    >>> store.search(X[:2], k=1).indices.tolist()
    [[0], [1]]
    >>> store.params
    {'index': 'IndexFlatIP'}
    >>> store.fetch().metric
    'dot'
    """

    kind = "store"
    #: settings set_params accepts: canonical name -> aliases
    settings: dict = {}
    #: why the search setting cannot be changed from here ("" when it can: an audit
    #: can then sweep it)
    frozen_reason = ""
    #: why the vectors the store holds (and fetch() returns) are not the ones inserted,
    #: e.g. a faiss PQ index's decoded codes ("" when they are)
    compressed = ""

    def __init__(self):
        self.cache: dict = {}
        self._index = None
        self._position: dict | None = None
        self.closed = False

    # ----------------------------------------------------------------- open and closed
    def close(self) -> None:
        """Let go of what this store object opened (a connection made from a DSN, a
        Qdrant client made from a folder or URL); a connection, client, collection or
        index you passed in is left open, as it is yours. Closing twice does nothing.

        What was read stays: the fetched :class:`vecdiag.Index` and results made
        before. Anything that asks the store again (``search``, ``set_params``,
        ``params``, a first ``fetch``) then raises a ValueError. A store is also a
        context manager: ``with vd.stores.pgvector(dsn, "docs") as store: ...``.
        """
        if not self.closed:
            self.closed = True
            self._release()

    def __enter__(self) -> "Store":
        self._live()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _release(self) -> None:
        """Close what the adapter opened itself (the base holds nothing)."""

    def _live(self) -> None:
        if self.closed:
            raise ValueError(f"{self.describe()} is closed; make the store object again to "
                             "read it (what was fetched before stays usable)")

    # ----------------------------------------------------------------- adapter hooks
    def _count(self) -> int:  # pragma: no cover - every adapter implements it
        raise NotImplementedError

    def _batches(self, batch_size: int):  # pragma: no cover
        """Yield ``(ids, vectors, texts_or_None)`` batches covering the whole store."""
        raise NotImplementedError

    def _search(self, Q: np.ndarray, k: int):  # pragma: no cover
        """``(ids per query, raw scores per query)`` from the store's own search."""
        raise NotImplementedError

    def _to_score(self, raw: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _params(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _apply(self, name: str, value) -> None:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the store (any password masked)."""
        return self.kind

    convention = ""
    """One sentence: what the store's raw score means and how vecdiag reads it."""

    # ----------------------------------------------------------------- public surface
    @property
    def n(self) -> int:
        """Number of vectors in the store (after ``where=`` for pgvector)."""
        if "n" not in self.cache:
            self._live()
            self.cache["n"] = int(self._count())
        return self.cache["n"]

    @property
    def params(self) -> dict:
        """Index type and search settings, in the store's own names."""
        self._live()
        return self._params()

    @property
    def search_setting(self) -> str | None:
        """The name of the setting that trades recall for speed (None: exact search)."""
        self._live()
        p = self._params()
        return next((name for name in self.settings if name in p), None)

    def __repr__(self) -> str:
        if self.closed:
            return f"{type(self).__name__}({self.describe()}, closed)"
        return (f"{type(self).__name__}({self.describe()}, n={self.n}, dim={self.dim}, "
                f"metric={self.metric!r}, params={self.params})")

    def set_params(self, **settings) -> "Store":
        """Change the store's search setting(s); returns the store.

        Names: pgvector ``ef_search`` / ``probes`` (``hnsw.ef_search`` and
        ``ivfflat.probes`` also accepted), faiss ``efSearch`` / ``nprobe`` / ``search_L``, Qdrant
        ``hnsw_ef``, Chroma ``ef_search``.
        """
        self._live()
        if not settings:
            raise ValueError(f"set_params needs a setting, e.g. "
                             f"{next(iter(self.settings), 'ef_search')}=40")
        resolved = {}
        for name, value in settings.items():
            canon = self._canonical(name)
            resolved[canon] = self._check_setting(canon, V.check_positive_int(value, name))
        for canon, value in resolved.items():
            self._apply(canon, value)
        return self

    def _check_setting(self, name: str, value: int) -> int:
        """``value`` if the store takes it for setting ``name`` (a ValueError naming the
        range otherwise); an adapter whose store bounds a setting overrides it."""
        return value

    def duplicate_advice(self) -> str:
        """What to do about ids that repeat (the end of fetch()'s error)."""
        return "ids must identify one vector each: deduplicate them"

    def setting_advice(self, setting: str, current) -> str:
        """What to do about low recall when no sweep has measured the setting."""
        return f"raise {setting} (now {current}); audit with sweep= to see what it buys"

    def _save(self):
        """The search setting as it is now (restored by :meth:`_restore` after a sweep)."""
        name = self.search_setting
        return None if name is None else (name, self._params()[name])

    def _restore(self, state) -> None:
        if state is not None and isinstance(state[1], int):
            self._apply(*state)

    def index_backlog(self) -> dict | None:
        """The store's index as it is now, when it does not yet cover every vector or its
        builder reports trouble: ``{"indexed", "total", "status", ...}`` (an audit then
        says that its recall is not the finished index's); None when it does, or when the
        store does not say (faiss, Chroma). Qdrant: vectors outside the HNSW index;
        pgvector: an index that is not valid (being built concurrently, or failed)."""
        return None

    def _canonical(self, name: str) -> str:
        for canon, aliases in self.settings.items():
            if name == canon or name in aliases:
                available = self._params()
                if canon not in available:
                    raise ValueError(f"{name} does not apply to this {self.kind} index "
                                     f"({available.get('index')}); settings it has: "
                                     f"{self._names_here() or 'none (exact search)'}")
                return canon
        raise ValueError(f"{self.kind} has no search setting {name!r}; settings it has: "
                         f"{self._names_here() or 'none (exact search)'}")

    def _names_here(self) -> str:
        p = self._params()
        return ", ".join(name for name in self.settings if name in p)

    def fetch(self, *, memory_budget: int = DEFAULT_FETCH_BUDGET, batch_size: int = DEFAULT_BATCH,
              show_progress: bool | None = None):
        """Every vector, id and text of the store as a :class:`vecdiag.Index` (cached).

        Streamed in batches into one float32 array allocated up front; when it would
        exceed ``memory_budget`` bytes it is a memmap in a temporary file instead.
        The Index uses the store's declared metric, so exact search over it is the truth
        the store's own index is measured against.
        """
        if self._index is not None:
            return self._index
        self._live()
        from ..neighbors import Index
        from .fetching import check_rows, read_all

        vectors, ids, texts = read_all(self, memory_budget=memory_budget,
                                       batch_size=batch_size, show_progress=show_progress)
        check_rows(self, vectors, ids)
        self._index = Index(vectors, ids=ids, texts=texts, metric=self.metric)
        self._position = None  # id -> row, built by the first search
        return self._index

    def positions(self, ids) -> np.ndarray:
        """Rows of ``fetch()`` holding these store ids (-1 for None)."""
        index = self.fetch()
        if self._position is None:
            self._position = {v: i for i, v in enumerate(index.ids.tolist())}
        out = np.full(len(ids), -1, dtype=np.int64)
        unknown = []
        for j, v in enumerate(ids):
            if v is not None:
                row = self._position.get(v)
                if row is None:
                    unknown.append(v)
                else:
                    out[j] = row
        if unknown:
            unknown = list(dict.fromkeys(unknown))          # each id once, in order
            shown = ", ".join(repr(v) for v in unknown[:5])
            raise ValueError(f"{self.describe()} returned {len(unknown)} ids it did not hold "
                             f"when it was fetched ({shown}): it changed since; make the "
                             "store object again to read it anew")
        return out

    def search(self, queries, k: int = 10) -> StoreNeighbors:
        """The store's own answer for each query, in vecdiag's convention.

        Parameters
        ----------
        queries : array-like, (n_queries, d)
            Sent to the store as float32, one search per query. May be empty (0 rows):
            the result then has 0 rows, as :func:`vecdiag.knn` (the store is not asked).
        k : int
            Results asked for, ``1 <= k <= n`` as :func:`vecdiag.knn` (a larger k is an
            error naming the store's size, not an answer padded with -1 by some stores and
            refused by others).

        Returns
        -------
        StoreNeighbors
            ``indices`` are rows of :meth:`fetch` (the first search fetches the store);
            ``scores`` similarities for cosine/dot, distances for euclidean;
            ``raw_scores`` as the store gave them; short answers padded (-1, NaN).
        """
        self._live()
        if self.n == 0:
            self.fetch()                  # raises its "is empty" error
        Q = self._queries(queries, allow_empty=True)
        k = V.check_k(k, self.n, among=self.describe())
        start = time.perf_counter()
        got_ids, got_raw = self._search(Q, k) if Q.shape[0] else ([], [])
        seconds = time.perf_counter() - start
        return self._neighbors(got_ids, got_raw, k, seconds)

    def _queries(self, queries, *, allow_empty: bool = False) -> np.ndarray:
        # 2-D, as vd.knn: one query is q[None, :]
        Q = V.as_matrix(queries, "queries", allow_empty=allow_empty)
        if Q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {Q.shape[1]} but {self.describe()} holds "
                             f"vectors of dimension {self.dim}; embed the queries with the "
                             "model that filled the store")
        Q32, big = V.as_float32(Q)
        if big.size:       # finite float64 values beyond float32's range would become inf
            raise ValueError(f"queries: {V.format_rows(big)} hold values beyond the float32 "
                             f"range (|x| > 3.4e38); {self.describe()} compares float32 "
                             "vectors, in which they are inf: check those queries (embed "
                             "them with the model that filled the store)")
        Q = self._as_searched(Q32)
        if self.metric == "cosine" and Q.shape[0]:
            # as vd.knn: a zero query has no direction; the stores answer it with an
            # arbitrary list (pgvector scores every row NaN, faiss, Qdrant and Chroma 0)
            V.zero_rows(np.abs(Q).max(axis=1), "queries")
        return Q

    def _as_searched(self, Q: np.ndarray) -> np.ndarray:
        """The queries as the store compares them (the exact truth is computed for the
        same ones); an adapter whose store rounds a query overrides it."""
        return Q

    def _neighbors(self, got_ids, got_raw, k: int, seconds: float) -> StoreNeighbors:
        index = self.fetch()
        n_q = len(got_ids)
        ids = np.full((n_q, k), None, dtype=object)
        raw = np.full((n_q, k), np.nan)
        counts = np.zeros(n_q, dtype=np.int64)
        for i, (row_ids, row_raw) in enumerate(zip(got_ids, got_raw)):
            m = min(len(row_ids), k)
            counts[i] = m
            ids[i, :m] = list(row_ids)[:m]
            raw[i, :m] = np.asarray(row_raw, dtype=float)[:m]
        positions = self.positions(ids.ravel().tolist()).reshape(n_q, k)
        return StoreNeighbors(indices=positions, scores=self._to_score(raw), metric=self.metric,
                              k=k, ids=ids, texts=index.texts, raw_scores=raw,
                              n_returned=counts, seconds=seconds)

