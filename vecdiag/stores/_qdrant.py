"""Qdrant (a server, or local mode on a folder): :func:`qdrant`.

The metric is the collection's ``Distance``: Cosine -> cosine, Dot -> dot (Qdrant returns
the similarity itself), Euclid -> euclidean (the L2 distance, not squared); Manhattan is
refused. Under Cosine Qdrant stores the vectors *normalised*: their norms are gone, so a
fetched cosine collection holds unit vectors. Local mode (``QdrantClient(path=...)``)
always searches exactly; a server uses HNSW, whose search setting is ``hnsw_ef``, except
for a vector configured with ``m=0`` (no HNSW graph: every search is exact, nothing to
sweep).
"""

from __future__ import annotations

import os
import weakref
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from .._optional import require
from .._secrets import mask_all, url_secrets
from ._qdrant_index import backlog, hnsw_settings, lacking_error
from .base import Store, mask_dsn

__all__ = ["qdrant", "QdrantStore"]

_METRICS = {"Cosine": "cosine", "Dot": "dot", "Euclid": "euclidean"}
# local-mode clients this process opened, by folder: local mode lets one client in at a
# time, so a second store on the folder (another collection, a notebook cell run again)
# shares the first one's client; it closes when no store holds it (garbage collected, or
# the last holder's close())
_LOCAL = weakref.WeakValueDictionary()
_HOLDERS: dict = {}                   # folder -> the stores holding its client (a WeakSet)


def qdrant(client_or_path, collection: str, *, text: str | None = None,
           vector: str | None = None, id: str | None = None,
           api_key: str | None = None) -> "QdrantStore":
    """A Qdrant collection.

    Parameters
    ----------
    client_or_path : qdrant_client.QdrantClient, str or os.PathLike
        A client, a local-mode folder, or a server URL (``http://host:6333``).
    collection : str
        Name of the collection, or an alias of it (read as the collection it points to
        when the store is made).
    text : str, optional
        Payload field holding each point's text (a dotted path such as ``"meta.title"``
        reads a nested field, as in Qdrant's filters).
    vector : str, optional
        Which named vector, for collections with several (a dense one: a sparse vector's
        name is refused, naming the dense vectors to pass instead).
    id : str, optional
        Payload field holding each point's own id (your document id, where the point id
        is the UUID or number Qdrant requires); a dotted path reads a nested field. The
        store's ids (``fetch().ids``, search results, ``expected=``) are then its values;
        None: the point ids. Every point needs one, and no two the same.
    api_key : str, optional
        The server's API key (sent as Qdrant's ``api-key`` header), for a URL only; a
        ``?api_key=`` in the URL is read as the key too (qdrant-client itself drops it).
        Never shown: masked in ``describe()``, repr, errors and reports.

    Examples
    --------
    Needs ``qdrant-client`` and a collection (a server, or a local-mode folder):

    >>> import vecdiag as vd
    >>> store = vd.stores.qdrant("http://localhost:6333", "docs", text="text")  # doctest: +SKIP
    >>> vd.audit(store, queries, k=10, sweep="hnsw_ef=16,32,64").suggested  # doctest: +SKIP
    32
    """
    return QdrantStore(client_or_path, collection, text=text, vector=vector, id=id,
                       api_key=api_key)


class QdrantStore(Store):
    kind = "qdrant"
    settings = {"hnsw_ef": ("ef_search", "ef")}

    def __init__(self, client_or_path, collection, *, text=None, vector=None, id=None,
                 api_key=None):
        super().__init__()
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise TypeError(f"api_key must be a non-empty string, got {type(api_key).__name__}")
        self._secrets = [api_key.strip()] if api_key else []   # masked in every message
        for arg, name in (("text", text), ("id", id)):
            if name is not None and (not isinstance(name, str) or not name):
                raise TypeError(f"{arg} must be a payload field name, got {name!r}")
        if not isinstance(collection, str) or not collection:
            raise TypeError(f"collection must be the collection's name (a string), got "
                            f"{collection!r}")
        if vector is not None and not isinstance(vector, str):
            raise TypeError(f"vector must be the name of one named vector (a string), got "
                            f"{vector!r}")
        self.id_field = id
        qc = require("qdrant_client", "vd.stores.qdrant")
        self._models = require("qdrant_client.models")
        self._opened = None             # what close() lets go of: "url", or the folder key
        if isinstance(client_or_path, (str, os.PathLike)):
            where = os.fspath(client_or_path)
            # shown in describe(), repr, errors and reports: a URL's password, token or
            # ?api_key= masked (describe() showed them as given)
            self._where = mask_dsn(where)
            if where.startswith(("http://", "https://")):
                url, key = _url_and_key(where, api_key)
                self._secrets = [*self._secrets, *url_secrets(where)]
                self.client = qc.QdrantClient(url=url, api_key=key, timeout=10)
                self.local, self._opened = False, "url"
            elif api_key is not None:
                raise ValueError("api_key is for a Qdrant server URL; a local-mode folder "
                                 "has no key: leave api_key out")
            elif not os.path.isdir(where):
                raise ValueError(f"client_or_path: no Qdrant folder at {self._where!r}; pass "
                                 "the path given to QdrantClient(path=...), a URL, or the "
                                 "client")
            elif not os.path.isfile(os.path.join(where, "meta.json")):
                # QdrantClient(path=...) would make a new local store in any folder
                raise ValueError(f"client_or_path: {self._where!r} is not a Qdrant local-mode "
                                 "folder (no meta.json in it); pass the path given to "
                                 "QdrantClient(path=...), a URL, or the client")
            else:
                key = os.path.realpath(where)
                try:
                    client = _LOCAL.get(key)
                    if client is None:
                        client = _LOCAL[key] = qc.QdrantClient(path=where)
                    self.client, self.local = client, True
                    self._opened = key
                    _HOLDERS.setdefault(key, weakref.WeakSet()).add(self)
                except RuntimeError as err:     # local mode: one client per folder
                    if "already accessed" not in str(err):
                        raise
                    raise ValueError(f"client_or_path: the Qdrant folder {self._where!r} is open "
                                     "in another Qdrant client (local mode lets one at a "
                                     "time in); pass that client itself, close it first, "
                                     "or use a Qdrant server") from None
        elif isinstance(client_or_path, qc.QdrantClient):
            if api_key is not None:
                raise ValueError("api_key is for a Qdrant server URL; a client you pass "
                                 "carries its own: leave api_key out")
            self.client = client_or_path
            self.local = type(getattr(client_or_path, "_client", None)).__name__ == "QdrantLocal"
            self._where = "client"
        else:
            raise TypeError("client_or_path must be a QdrantClient, a local folder or a URL, "
                            f"got {type(client_or_path).__name__}")
        try:
            self._read_collection(collection, text, vector)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._opened == "url":           # made here; a client passed in is yours
            self.client.close()
        elif self._opened is not None:      # the folder's shared client: the last holder
            holders = _HOLDERS.get(self._opened)
            if holders is not None:
                holders.discard(self)
                if not holders:
                    _HOLDERS.pop(self._opened, None)
                    _LOCAL.pop(self._opened, None)
                    self.client.close()
        self._opened = None

    def _read_collection(self, collection, text, vector) -> None:
        errors = require("qdrant_client.http.exceptions")
        try:
            names = [c.name for c in self.client.get_collections().collections]
            # an alias (the name an application searches by while collections are swapped
            # behind it) is read as the collection it points to
            aliases = {a.alias_name: a.collection_name
                       for a in self.client.get_aliases().aliases}
        except (errors.ApiException, OSError) as err:    # no server there, refused, 401
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"cannot reach Qdrant at {self._where}: "
                             f"{self._mask(mask_dsn(first))}; check that the server runs "
                             "and the URL (and api_key) are right") from None
        self.alias = collection if collection not in names and collection in aliases else None
        if self.alias is not None:
            collection = aliases[self.alias]
        if collection not in names:
            shown = names + [f"{a} (alias of {c})" for a, c in aliases.items()]
            raise ValueError(f"collection {collection!r} does not exist in Qdrant {self._where}; "
                             f"collections there: {', '.join(shown) or 'none'}")
        self.collection, self.text = collection, text
        info = self.client.get_collection(collection)
        vectors = info.config.params.vectors
        if vector in (info.config.params.sparse_vectors or {}):    # a hybrid's BM25 / SPLADE
            dense = ("leave vector=None (its unnamed dense vector)" if vectors is not None
                     and not isinstance(vectors, dict) else
                     f"pass vector= one of {', '.join(vectors)}" if vectors else "it has none")
            raise ValueError(f"vector={vector!r} is a sparse vector of collection {collection}; "
                             f"vecdiag audits dense vectors: {dense}")
        if isinstance(vectors, dict):
            if not vectors:
                raise ValueError(f"collection {collection} has no dense vectors (sparse "
                                 "vectors only?); vecdiag audits dense vectors")
            if vector is None or vector not in vectors:
                raise ValueError(f"collection {collection} has named vectors "
                                 f"({', '.join(vectors)}); pass vector= one of them (vecdiag audit --vector)")
            self.vector, params = vector, vectors[vector]
        else:
            if vector is not None:
                raise ValueError(f"collection {collection} has one unnamed vector; leave "
                                 "vector=None")
            self.vector, params = None, vectors
        if getattr(params, "multivector_config", None) is not None:
            raise ValueError(f"collection {collection} stores several vectors per point "
                             "(multivector, late interaction); vecdiag audits one vector "
                             "per point")
        distance = getattr(params.distance, "value", str(params.distance))
        if distance not in _METRICS:
            raise ValueError(f"collection {collection} uses the {distance} distance, a metric "
                             "vecdiag does not support; audit a Cosine, Dot or Euclid collection")
        self.metric = _METRICS[distance]
        self.dim = int(params.size)
        self._hnsw = hnsw_settings(info, params)
        self._ef = None

    def _mask(self, text: str) -> str:
        """``text`` without the API key or the URL's secrets (longest first)."""
        return mask_all(text, self._secrets)

    def describe(self) -> str:
        alias = f" (alias {self.alias})" if self.alias else ""
        # a named vector is named: two vectors of one collection are two audits
        vector = f" vector {self.vector!r}" if self.vector is not None else ""
        return f"qdrant {self._where} collection {self.collection}{alias}{vector}"

    @property
    def convention(self) -> str:
        return {"cosine": "Qdrant returns the cosine similarity (of vectors it normalised on "
                          "insert); vecdiag reports it as is",
                "dot": "Qdrant returns the dot product; vecdiag reports it as is",
                "euclidean": "Qdrant returns the L2 distance; vecdiag reports it as is"}[
            self.metric]

    def _count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def _params(self) -> dict:
        if self.local:
            return {"index": None, "search": "exact (Qdrant local mode has no HNSW)",
                    "m": self._hnsw["m"], "ef_construct": self._hnsw["ef_construct"]}
        if self._hnsw["m"] == 0:    # m=0: Qdrant builds no graph and scans every vector
            return {"index": None, "search": "exact (hnsw m=0: no HNSW graph, Qdrant scans "
                    "every vector)", **self._hnsw}
        return {"index": "hnsw", **self._hnsw,
                "hnsw_ef": self._ef if self._ef is not None else "auto (ef_construct)"}

    def index_backlog(self) -> dict | None:
        """A server's collection whose HNSW index lacks vectors (``indexed_vectors_count``
        against the vectors its points hold, named, unnamed and sparse alike, as Qdrant
        counts them; Qdrant searches the rest exactly), whose status is not green or whose
        optimizer reports an error. Local mode indexes nothing: None. A vector with hnsw
        m=0 is searched exactly anyway: only its status and optimizer count."""
        self._live()
        if self.local:
            return None
        return backlog(self.client, self._models, self.collection, self.vector,
                       graph=self._hnsw["m"] != 0)

    def _apply(self, name, value):
        self._ef = int(value)

    def _save(self):
        return self._ef

    def _restore(self, state):
        self._ef = state

    def _batches(self, batch_size):
        offset = None
        # a key with a dot in it ("meta.title") is either that key or Qdrant's path into a
        # nested object; asked for by name, Qdrant reads it as the path only
        payload = self._payload(self.text, self.id_field)
        with_text = 0
        while True:
            points, offset = self.client.scroll(self.collection, limit=batch_size,
                                                offset=offset, with_vectors=True,
                                                with_payload=payload)
            if points:
                ids = self._ids(points)
                # a named vector, or the unnamed one: a list, or in a dict under "" beside
                # the sparse vectors of a hybrid collection
                key = "" if self.vector is None else self.vector
                lacking = [p.id for p in points
                           if not isinstance(p.vector, list) and key not in (p.vector or {})]
                if lacking:          # counted over the whole collection
                    raise lacking_error(self.client, self._models, self.collection,
                                        self.vector, self.n, lacking)
                vecs = np.asarray([p.vector if isinstance(p.vector, list) else p.vector[key]
                                   for p in points], dtype=np.float32)
                texts = ([_text(_field(p.payload or {}, self.text)) for p in points]
                         if self.text else None)
                with_text += 0 if texts is None else sum(t is not None for t in texts)
                if self.text and offset is None and with_text == 0:
                    raise ValueError(self._no_text_field())
                yield ids, vecs, texts
            if offset is None:
                break

    @staticmethod
    def _payload(*fields):
        """What to ask Qdrant for: no payload, these fields, or all of it when one has a
        dot (a key "meta.title" or Qdrant's path into a nested object; asked for by
        name, Qdrant reads it as the path only)."""
        fields = [f for f in fields if f]
        if not fields:
            return False
        return True if any("." in f for f in fields) else fields

    def _ids(self, points) -> list:
        """The points' ids: their point ids, or the values of the ``id=`` payload field."""
        if self.id_field is None:
            return [p.id for p in points]
        ids = [_own_id(_field(p.payload or {}, self.id_field)) for p in points]
        lacking = [p.id for p, v in zip(points, ids) if v is None]
        if lacking:
            raise ValueError(f"collection {self.collection}: {len(lacking)} of {len(points)} "
                             f"points read have no payload field {self.id_field!r} (point "
                             f"ids: {', '.join(repr(i) for i in lacking[:5])}; "
                             f"{self._fields_seen()}); pass the field that holds your ids, "
                             "give every point one, or leave id out (the point ids are "
                             "then used)")
        return ids

    def _fields_seen(self) -> str:
        """The payload fields one point has, for an error about a field none has."""
        points, _ = self.client.scroll(self.collection, limit=1, with_vectors=False,
                                       with_payload=True)
        fields = sorted((points[0].payload or {}) if points else {})
        return (f"a point's payload has {', '.join(map(repr, fields))}" if fields
                else "the points have no payload")

    def _no_text_field(self) -> str:
        """The error for a ``text`` field no point has, with the fields one point has."""
        return (f"collection {self.collection}: text={self.text!r}, but no point has a "
                f"payload field {self.text!r} ({self._fields_seen()}); pass the field that "
                "holds the texts, or leave text out")

    def _search(self, Q, k):
        m = self._models
        params = None if self._ef is None else m.SearchParams(hnsw_ef=self._ef)
        requests = [m.QueryRequest(query=q.tolist(), limit=k, params=params, using=self.vector,
                                   with_payload=self._payload(self.id_field)) for q in Q]
        ids, raw = [], []
        for start in range(0, len(requests), 256):
            for res in self.client.query_batch_points(self.collection,
                                                      requests=requests[start:start + 256]):
                ids.append(self._ids(res.points))
                raw.append([p.score for p in res.points])
        return ids, raw

    def _to_score(self, raw):
        return raw


def _url_and_key(url: str, api_key):
    """``(url without its ?api_key=, the key)``: qdrant-client drops a URL's query
    string, so a key written there would never reach the server."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    named = ("api_key", "api-key", "apikey")
    keys = [v for name, v in query if name.lower() in named]
    if len(set(keys)) > 1 or (keys and api_key is not None and keys[0] != api_key.strip()):
        raise ValueError("the URL's ?api_key= and api_key= differ; give the key once")
    key = api_key.strip() if api_key is not None else (keys[0] if keys else None)
    rest = urlencode([(name, v) for name, v in query if name.lower() not in named])
    return urlunsplit(parts._replace(query=rest)), key


def _field(payload: dict, name: str):
    """A payload field: the key ``name``, else Qdrant's dotted path into nested objects
    (``"meta.title"``: ``payload["meta"]["title"]``); None when there is neither."""
    if name in payload:
        return payload[name]
    value = payload
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _own_id(value):
    """A payload id as an id: a string or an integer as it is, anything else (a float, a
    list) as its text; None (no such field) stays None."""
    if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
        return value
    return str(value)


def _text(value):
    """A payload field as text (a number or a list shown as written; None stays None)."""
    return value if value is None or isinstance(value, str) else str(value)
