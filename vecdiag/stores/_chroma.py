"""Chroma collections: :func:`chroma`.

The metric is the collection's ``hnsw:space`` (default ``l2``): ``l2`` -> euclidean (Chroma
returns the *squared* L2 distance; vecdiag reports its square root), ``ip`` -> dot (Chroma
returns ``1 - dot``), ``cosine`` -> cosine (``1 - cos``). The search setting is the
collection's HNSW ``ef_search``, reported in ``params``. It cannot be swept: chromadb (1.x)
stores a new value (``collection.modify(configuration={"hnsw": {"ef_search": N}})``) but
the index already loaded in the process keeps searching with the old one (measured: recall
0.60 at ef_search 4 stayed 0.60 after setting 320, through a fresh ``get_collection`` and a
second client; a collection made with 320 reached 0.99). So ``set_params`` and audit
sweeps refuse it, and the audit's advice says to change it and audit again in a new
process.
"""

from __future__ import annotations

import numpy as np

from .._optional import require
from .base import Store

__all__ = ["chroma", "ChromaStore"]

_SPACES = {"l2": "euclidean", "ip": "dot", "cosine": "cosine"}


def chroma(collection) -> "ChromaStore":
    """A Chroma collection (``client.get_collection(name)``); its documents are the texts.

    Parameters
    ----------
    collection : chromadb.Collection
        The collection, from ``client.get_collection(name)``. Its ``hnsw:space`` (l2, ip
        or cosine) gives the metric.

    Raises
    ------
    TypeError
        Not a Chroma collection.
    ValueError
        A space other than l2 / ip / cosine.

    Examples
    --------
    Needs ``chromadb`` and a collection:

    >>> import chromadb  # doctest: +SKIP
    >>> import vecdiag as vd
    >>> client = chromadb.PersistentClient(path="chroma")  # doctest: +SKIP
    >>> store = vd.stores.chroma(client.get_collection("docs"))  # doctest: +SKIP
    >>> vd.audit(store, queries, k=10).recall  # doctest: +SKIP
    0.98
    """
    return ChromaStore(collection)


class ChromaStore(Store):
    kind = "chroma"
    settings = {"ef_search": ("hnsw:search_ef", "search_ef")}

    def __init__(self, collection):
        super().__init__()
        require("chromadb", "vd.stores.chroma")
        if not (hasattr(collection, "get") and hasattr(collection, "query")
                and hasattr(collection, "count")):
            raise TypeError("collection must be a chromadb Collection "
                            f"(client.get_collection(name)), got {type(collection).__name__}")
        self.collection = collection
        conf = self._hnsw()
        space = conf.get("space") or (collection.metadata or {}).get("hnsw:space", "l2")
        if space not in _SPACES:
            raise ValueError(f"collection {collection.name} uses hnsw:space={space!r}, which "
                             "vecdiag does not support; use l2, ip or cosine")
        self.metric = _SPACES[space]
        first = collection.get(limit=1, include=["embeddings"])
        emb = first.get("embeddings")
        self.dim = int(np.asarray(emb).shape[1]) if emb is not None and len(emb) else 0

    def _hnsw(self) -> dict:
        conf = getattr(self.collection, "configuration_json", None) or {}
        hnsw = conf.get("hnsw") or {}
        meta = self.collection.metadata or {}
        if not hnsw:
            hnsw = {"space": meta.get("hnsw:space", "l2"),
                    "ef_search": int(meta.get("hnsw:search_ef", 10)),
                    "ef_construction": int(meta.get("hnsw:construction_ef", 100)),
                    "max_neighbors": int(meta.get("hnsw:M", 16))}
        return hnsw

    def describe(self) -> str:
        return f"chroma collection {self.collection.name}"

    @property
    def convention(self) -> str:
        return {"euclidean": "Chroma's l2 space returns the SQUARED L2 distance; vecdiag "
                             "reports its square root",
                "dot": "Chroma's ip space returns 1 - dot; vecdiag reports 1 - raw",
                "cosine": "Chroma's cosine space returns 1 - cos; vecdiag reports 1 - raw"}[
            self.metric]

    def _count(self) -> int:
        return int(self.collection.count())

    def _params(self) -> dict:
        h = self._hnsw()
        return {"index": "hnsw", "space": h.get("space"), "M": h.get("max_neighbors"),
                "ef_construction": h.get("ef_construction"), "ef_search": h.get("ef_search")}

    frozen_reason = ("Chroma's ef_search cannot be changed while the collection is loaded: "
                     "chromadb keeps searching the loaded index with its old value; set it "
                     "with collection.modify(configuration={'hnsw': {'ef_search': N}}) and "
                     "measure again in a new process")

    def _apply(self, name, value):
        raise ValueError(self.frozen_reason)

    def _save(self):
        return None

    def setting_advice(self, setting, current) -> str:
        return (f"raise {setting} (now {current}) with collection.modify(configuration="
                f"{{'hnsw': {{'ef_search': N}}}}) and audit again in a new process (chromadb "
                "uses a new value only when it loads the collection again, so it cannot be "
                "swept here)")

    def _batches(self, batch_size):
        n = self._count()
        for start in range(0, n, batch_size):
            got = self.collection.get(include=["embeddings", "documents"], limit=batch_size,
                                      offset=start)
            docs = got.get("documents")
            has_text = docs is not None and any(d is not None for d in docs)
            yield list(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32), \
                (list(docs) if has_text else None)

    def _search(self, Q, k):
        k_eff = min(k, self._count())
        got = self.collection.query(query_embeddings=Q, n_results=k_eff, include=["distances"])
        return [list(r) for r in got["ids"]], [list(r) for r in got["distances"]]

    def _to_score(self, raw):
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(raw, 0.0))
        return 1.0 - raw
