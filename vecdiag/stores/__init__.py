"""Where embeddings live: read, search and audit the user's vector store.

One adapter per store behind one small interface (:class:`Store`, in :mod:`.base`):
:func:`pgvector` (PostgreSQL, psycopg 3), :func:`faiss` (index files), :func:`qdrant`
(a server or local mode) and :func:`chroma`. Each is an optional extra imported only when
its adapter is built (``pip install "vecdiag[stores]"``). :func:`audit` measures a store's
own search against exact search over its fetched vectors (:mod:`.audit`, :mod:`.result`).

Reading order: :mod:`.base`, one adapter (:mod:`._pg` with :mod:`._pgcopy`, :mod:`._faiss`, :mod:`._qdrant`,
:mod:`._chroma`), :mod:`.audit`, :mod:`.result`, :mod:`.explain`.
"""

from ._chroma import chroma
from ._faiss import faiss
from ._pg import pgvector
from ._qdrant import qdrant
from .audit import audit
from .base import Store, StoreNeighbors, mask_dsn
from .result import StoreAudit, SweepPoint

__all__ = ["pgvector", "faiss", "qdrant", "chroma", "Store", "StoreNeighbors", "audit",
           "StoreAudit", "SweepPoint", "mask_dsn"]
