"""faiss index files: :func:`faiss`.

The metric is the index's ``metric_type``: ``METRIC_INNER_PRODUCT`` -> dot (faiss returns
the inner product itself), ``METRIC_L2`` -> euclidean (faiss returns the *squared* L2
distance; vecdiag reports its square root). Ids come from an ``IndexIDMap`` / ``IndexIDMap2``,
from ids stored in IVF lists, or from a sidecar (a list, or a ``.txt`` / ``.npy`` / ``.json``
file with one id per vector); otherwise they are the row numbers. Search settings:
``efSearch`` (HNSW) and ``nprobe`` (IVF).
"""

from __future__ import annotations

import json
import os

import numpy as np

from .._optional import require
from .base import Store

__all__ = ["faiss", "FaissStore"]


def faiss(path_or_index, *, ids=None) -> "FaissStore":
    """A faiss index (a file written by ``faiss.write_index``, or the index object).

    Parameters
    ----------
    path_or_index : str, os.PathLike or faiss.Index
        The index file, or an index object already in memory.
    ids : sequence or path, optional
        One id per vector, in the order they were added (a ``.txt`` file with one id per
        line, ``.npy`` or ``.json``). Not needed for an IDMap index or an IVF index
        built with ``add_with_ids``.

    Raises
    ------
    ValueError
        A missing file, a metric other than inner product / L2, an empty index, ids of
        the wrong length or repeated.

    Examples
    --------
    >>> import faiss
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> X = np.random.default_rng(0).normal(size=(100, 8)).astype("float32")
    >>> index = faiss.IndexFlatIP(8)
    >>> index.add(X)
    >>> store = vd.stores.faiss(index)
    >>> store.kind, store.metric, store.dim, store.n
    ('faiss', 'dot', 8, 100)
    """
    return FaissStore(path_or_index, ids=ids)


class FaissStore(Store):
    kind = "faiss"
    settings = {"efSearch": ("ef_search", "hnsw_ef"), "nprobe": ("probes",)}

    def __init__(self, path_or_index, *, ids=None):
        super().__init__()
        fa = self._fa = require("faiss", "vd.stores.faiss")
        if isinstance(path_or_index, (str, os.PathLike)):
            path = os.fspath(path_or_index)
            if not os.path.isfile(path):
                raise ValueError(f"path_or_index: no faiss index file at {path!r}; pass the "
                                 "file written by faiss.write_index (or the index object)")
            try:
                self.index = fa.read_index(path)
            except RuntimeError as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
                raise ValueError(f"path_or_index: {path!r} is not a faiss index file "
                                 f"({first})") from None
            self.path = path
        elif hasattr(path_or_index, "metric_type") and hasattr(path_or_index, "ntotal"):
            self.index, self.path = path_or_index, None
        else:
            raise TypeError("path_or_index must be a path to a faiss index file or a faiss "
                            f"index, got {type(path_or_index).__name__}")
        metric_type = self.index.metric_type
        if metric_type == fa.METRIC_INNER_PRODUCT:
            self.metric = "dot"
        elif metric_type == fa.METRIC_L2:
            self.metric = "euclidean"
        else:
            names = {getattr(fa, n): n for n in dir(fa) if n.startswith("METRIC_")}
            raise ValueError(f"the faiss index uses {names.get(metric_type, metric_type)}, a "
                             "metric vecdiag does not support; audit an index built with "
                             "METRIC_INNER_PRODUCT or METRIC_L2")
        self.dim = int(self.index.d)
        self._inner, self._map = self.index, None
        if isinstance(self.index, (fa.IndexIDMap, fa.IndexIDMap2)):
            self._inner = fa.downcast_index(self.index.index)
            self._map = fa.vector_to_array(self.index.id_map)
        self._ivf = fa.try_extract_index_ivf(self._inner)
        self._hnsw = getattr(self._inner, "hnsw", None)
        self._sidecar = None if ids is None else _read_ids(ids, self.index.ntotal)

    def describe(self) -> str:
        return f"faiss {self.path or type(self.index).__name__}"

    @property
    def convention(self) -> str:
        return ("faiss METRIC_INNER_PRODUCT returns the inner product; vecdiag reports it as is"
                if self.metric == "dot" else
                "faiss METRIC_L2 returns the SQUARED L2 distance; vecdiag reports its square root")

    def _count(self) -> int:
        return int(self.index.ntotal)

    def _params(self) -> dict:
        p = {"index": type(self._inner).__name__}
        if self._map is not None:
            p["id_map"] = type(self.index).__name__
        if self._hnsw is not None:
            p.update(M=int(self._hnsw.nb_neighbors(1)), efConstruction=int(self._hnsw.efConstruction),
                efSearch=int(self._hnsw.efSearch))
        if self._ivf is not None:
            p.update(nlist=int(self._ivf.nlist), nprobe=int(self._ivf.nprobe))
        return p

    def _apply(self, name, value):
        if name == "efSearch":
            self._hnsw.efSearch = int(value)
        else:
            self._ivf.nprobe = int(value)

    # ------------------------------------------------------------------ fetch
    def _ivf_lists(self):
        """(list number, its labels) for every non-empty IVF list, in storage order."""
        inv = self._ivf.invlists
        for lst in range(self._ivf.nlist):
            size = inv.list_size(lst)
            if size:
                ptr = inv.get_ids(lst)
                labels = self._fa.rev_swig_ptr(ptr, size).copy()
                inv.release_ids(lst, ptr)
                yield lst, labels

    def _ivf_vectors(self, lst: int, size: int) -> np.ndarray:
        """The stored vectors of one IVF list (raw codes for IVFFlat, decoded otherwise)."""
        fa, inv = self._fa, self._ivf.invlists
        if isinstance(fa.downcast_index(self._ivf), fa.IndexIVFFlat) \
                and inv.code_size == 4 * self.dim:
            ptr = inv.get_codes(lst)
            codes = fa.rev_swig_ptr(ptr, size * inv.code_size).copy()
            inv.release_codes(lst, ptr)
            return codes.view(np.uint8).view(np.float32).reshape(size, self.dim)
        out = np.empty((size, self.dim), dtype=np.float32)
        for j in range(size):  # compressed codes (PQ, SQ): decoded one by one
            self._ivf.reconstruct_from_offset(lst, j, fa.swig_ptr(out[j]))
        return out

    def _batches(self, batch_size):
        """Vectors in storage order: IVF list by list, otherwise by row."""
        if self._ivf is not None:
            for lst, labels in self._ivf_lists():
                vecs = self._ivf_vectors(lst, labels.size)
                for start in range(0, labels.size, batch_size):
                    stop = start + batch_size
                    yield self._ids_of(self._outer(labels[start:stop])), vecs[start:stop], None
            return
        n = self.index.ntotal
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            vecs = self._inner.reconstruct_n(start, stop - start)
            yield self._ids_of(self._outer(np.arange(start, stop))), vecs, None

    def _outer(self, labels: np.ndarray) -> np.ndarray:
        """Labels of the outer index (through the IDMap, when there is one)."""
        return self._map[labels] if self._map is not None else labels

    def _ids_of(self, labels) -> list:
        if self._sidecar is None:
            return [int(v) for v in labels]
        return [self._sidecar[int(v)] for v in labels]

    # ------------------------------------------------------------------ search
    def _search(self, Q, k):
        D, L = self.index.search(np.ascontiguousarray(Q, dtype=np.float32), k)
        ids, raw = [], []
        for d_row, l_row in zip(D, L):
            keep = l_row >= 0
            ids.append(self._ids_of(l_row[keep]))
            raw.append(d_row[keep].astype(float))
        return ids, raw

    def _to_score(self, raw):
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(raw, 0.0))
        return raw


def _read_ids(ids, n: int) -> list:
    """A sidecar of ids: a sequence, or a .txt (one per line), .npy or .json file."""
    if isinstance(ids, (str, os.PathLike)):
        path = os.fspath(ids)
        if not os.path.isfile(path):
            raise ValueError(f"ids: no file at {path!r}; pass the ids file (one id per line) "
                             "or a list")
        if path.endswith(".npy"):
            values = np.load(path, allow_pickle=False).tolist()
        elif path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                values = json.load(fh)
        else:
            with open(path, encoding="utf-8") as fh:
                values = [line.rstrip("\n") for line in fh if line.strip()]
            if values and all(v.lstrip("-").isdigit() for v in values):
                values = [int(v) for v in values]
    else:
        values = list(ids.tolist() if isinstance(ids, np.ndarray) else ids)
    if len(values) != n:
        raise ValueError(f"ids has {len(values)} entries but the faiss index holds {n} vectors; "
                         "pass one id per vector, in the order they were added")
    return values
