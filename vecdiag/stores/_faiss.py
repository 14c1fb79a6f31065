"""faiss index files: :func:`faiss`.

The metric is the index's ``metric_type``: ``METRIC_INNER_PRODUCT`` -> dot (faiss returns
the inner product itself), ``METRIC_L2`` -> euclidean (faiss returns the *squared* L2
distance; vecdiag reports its square root). Ids come from an ``IndexIDMap`` / ``IndexIDMap2``,
from ids stored in IVF lists, or from a sidecar (a list, or a ``.txt`` / ``.npy`` / ``.json``
file with one id per vector); otherwise they are the row numbers. Search settings:
``efSearch`` (HNSW), ``nprobe`` (IVF) and ``search_L`` (NSG).
"""

from __future__ import annotations

import os

import numpy as np

from .. import _validate as V
from .._optional import require
from ._faiss_ids import read_ids
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
        A missing file, a file cut short (its size said) or damaged, a metric other than
        inner product / L2, an empty index, ids of the wrong length or repeated.

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
    settings = {"efSearch": ("ef_search", "hnsw_ef"), "nprobe": ("probes",),
                "search_L": ("search_l",)}

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
                if _binary_index_file(fa, path):
                    raise ValueError(f"path_or_index: {path!r} holds a binary faiss index "
                                     f"(written by write_index_binary): {_BINARY}") from None
                raise _unreadable(path, err) from None
            self.path = path
        elif isinstance(path_or_index, fa.Index):
            self.index, self.path = path_or_index, None
        elif hasattr(path_or_index, "metric_type") and hasattr(path_or_index, "ntotal"):
            raise TypeError(f"path_or_index: a {type(path_or_index).__name__} is not a float "
                            f"vector index: {_BINARY}")
        else:
            raise TypeError("path_or_index must be a path to a faiss index file or a faiss "
                            f"index, got {type(path_or_index).__name__}")
        metric_type = self.index.metric_type
        if metric_type == fa.METRIC_INNER_PRODUCT:
            self.metric, self._raw = "dot", "ip"
        elif metric_type == fa.METRIC_L2:
            self.metric, self._raw = "euclidean", "l2"
        else:
            names = {getattr(fa, n): n for n in dir(fa) if n.startswith("METRIC_")}
            raise ValueError(f"the faiss index uses {names.get(metric_type, metric_type)}, a "
                             "metric vecdiag does not support; audit an index built with "
                             "METRIC_INNER_PRODUCT or METRIC_L2")
        self.dim = int(self.index.d)
        self._map = None
        self._inner = self._unwrap(self._id_map(fa.downcast_index(self.index)))
        # an IDMap inside the normalisation ("L2norm,IDMap,Flat"): its ids are the labels
        self._inner = self._id_map(self._inner)
        # the vectors the truth is computed over: a refine step's own (exact) copy when
        # there is one, else what the searched index stores
        self._refine = None
        searched = self._inner
        if isinstance(self._inner, fa.IndexRefine):
            self._refine = fa.downcast_index(self._inner.refine_index)
            searched = fa.downcast_index(self._inner.base_index)
        for part in (searched,) if self._refine is None else (searched, self._refine):
            _check_supported(fa, part)
        self._ivf = fa.try_extract_index_ivf(searched) \
            if isinstance(searched, fa.IndexIVF) else None
        self._hnsw = getattr(searched, "hnsw", None)
        self._nsg = getattr(searched, "nsg", None)
        self.compressed = _compression(fa, self._refine or searched, self.dim)
        self._sidecar = None if ids is None else read_ids(ids, self.index.ntotal)
        if self._sidecar is not None:
            self._check_sidecar()

    def _id_map(self, index):
        """The index behind an IndexIDMap / IndexIDMap2 (its ids kept as the labels' ids),
        or ``index`` itself."""
        fa = self._fa
        if not isinstance(index, (fa.IndexIDMap, fa.IndexIDMap2)):
            return index
        if self._map is not None:
            raise ValueError("the faiss index wraps one IDMap in another; audit an index "
                             "with one IDMap")
        self._map = fa.vector_to_array(index.id_map)
        marker = np.flatnonzero(self._map == -1)
        if marker.size:      # faiss answers -1 for "no result": that id is unreadable
            raise ValueError(f"the faiss IDMap gives id -1 to {V.format_rows(marker)}; "
                             "faiss returns -1 for an empty result slot, so those rows "
                             "could never be told apart from one: re-add them with "
                             "another id")
        self._id_map_type = type(index).__name__
        return fa.downcast_index(index.index)

    def _unwrap(self, inner):
        """The index behind an L2 normalisation (a cosine index: vectors stored and queries
        searched at unit length); other pre-transforms are refused."""
        fa = self._fa
        if not isinstance(inner, fa.IndexPreTransform):
            return inner
        chain = [fa.downcast_VectorTransform(inner.chain.at(i))
                 for i in range(inner.chain.size())]
        if not all(isinstance(t, fa.NormalizationTransform) for t in chain):
            names = ", ".join(type(t).__name__ for t in chain)
            raise ValueError(f"the faiss index transforms vectors before storing them "
                             f"({names}): its stored vectors are not the ones you embed, so "
                             "exact search over them is not the truth to measure it by; audit "
                             "the index without the transform (vecdiag reads through an "
                             "L2 normalisation only)")
        # unit vectors: the inner product is the cosine, and L2 ranks by it too
        self.metric = "cosine"
        self._raw = "ip_unit" if self._raw == "ip" else "l2_unit"
        return self._unwrap(fa.downcast_index(inner.index))

    def _check_sidecar(self) -> None:
        """A sidecar lists ids by the order vectors were added: only for an index whose
        labels are those positions (no IDMap, no ids given to an IVF's add_with_ids)."""
        labels = None
        if self._map is not None:
            labels = self._map
        elif self._ivf is not None and self._refine is None:
            labels = np.concatenate([lab for _, lab in self._ivf_lists()] or [[]])
        if labels is not None and not np.array_equal(np.sort(labels),
                                                     np.arange(self.index.ntotal)):
            raise ValueError("ids: the faiss index carries ids of its own (an IDMap, or an "
                             "IVF filled with add_with_ids), so a list of ids by position "
                             "cannot name its vectors; leave ids out (its own ids are used)")

    def describe(self) -> str:
        return f"faiss {self.path or type(self.index).__name__}"

    @property
    def convention(self) -> str:
        return {"ip": "faiss METRIC_INNER_PRODUCT returns the inner product; vecdiag reports "
                      "it as is",
                "l2": "faiss METRIC_L2 returns the SQUARED L2 distance; vecdiag reports its "
                      "square root",
                "ip_unit": "an L2-normalised faiss METRIC_INNER_PRODUCT index returns the "
                           "cosine; vecdiag reports it as is",
                "l2_unit": "an L2-normalised faiss METRIC_L2 index returns the squared "
                           "distance of unit vectors, 2 - 2 cos; vecdiag reports the cosine, "
                           "1 - raw / 2"}[self._raw]

    def _count(self) -> int:
        return int(self.index.ntotal)

    def _params(self) -> dict:
        p = {"index": type(self._inner).__name__}
        if self._map is not None:
            p["id_map"] = self._id_map_type
        if self._refine is not None:
            p.update(base=type(self._fa.downcast_index(self._inner.base_index)).__name__,
                     k_factor=float(self._inner.k_factor))
        if self._hnsw is not None:
            p.update(M=int(self._hnsw.nb_neighbors(1)), efConstruction=int(self._hnsw.efConstruction),
                efSearch=int(self._hnsw.efSearch))
        if self._ivf is not None:
            p.update(nlist=int(self._ivf.nlist), nprobe=int(self._ivf.nprobe))
        if self._nsg is not None:       # search_L: the candidate list a search keeps
            p.update(R=int(self._nsg.R), search_L=int(self._nsg.search_L))
        return p

    def _check_setting(self, name, value):
        """faiss caps ``nprobe`` at the number of lists without a word (a sweep's rows
        past it repeated the last one under other labels): more is refused."""
        if name == "nprobe" and value > int(self._ivf.nlist):
            lists = int(self._ivf.nlist)
            raise ValueError(f"nprobe={value} is more than the index's {lists} lists (faiss "
                             f"would probe {lists}); pass nprobe <= {lists} ({lists} probes "
                             "every list)")
        return value

    def _apply(self, name, value):
        if name == "efSearch":
            self._hnsw.efSearch = int(value)
        elif name == "search_L":
            self._nsg.search_L = int(value)
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
                if (labels == -1).any():    # add_with_ids gave -1, as the IDMap check above
                    raise ValueError(f"the faiss IVF index holds {int((labels == -1).sum())} "
                                     f"vectors with id -1 (in list {lst}); faiss returns -1 for "
                                     "an empty result slot, so a search never returns them "
                                     "(they would count as misses): re-add them with "
                                     "another id")
                yield lst, labels

    def _ivf_vectors(self, lst: int, size: int) -> np.ndarray:
        """The stored vectors of one IVF list: an IndexIVFFlat's raw codes are its rows;
        others (a subclass too: IndexIVFFlatPanorama's blocks are not rows) are decoded."""
        fa, inv = self._fa, self._ivf.invlists
        if type(fa.downcast_index(self._ivf)) is fa.IndexIVFFlat \
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
        if self._ivf is not None and self._refine is None:
            for lst, labels in self._ivf_lists():
                vecs = self._ivf_vectors(lst, labels.size)
                for start in range(0, labels.size, batch_size):
                    stop = start + batch_size
                    yield self._ids_of(self._outer(labels[start:stop])), vecs[start:stop], None
            return
        n = self.index.ntotal
        stored = self._inner if self._refine is None else self._refine
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            vecs = stored.reconstruct_n(start, stop - start)
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
            keep = l_row != -1          # faiss's empty slot; other negative ids are ids
            ids.append(self._ids_of(l_row[keep]))
            raw.append(d_row[keep].astype(float))
        return ids, raw

    def _to_score(self, raw):
        if self._raw == "l2":
            return np.sqrt(np.maximum(raw, 0.0))
        if self._raw == "l2_unit":
            return 1.0 - raw / 2.0
        return raw


_BINARY = "binary indexes compare bits, not the vectors vecdiag scores; audit a float index"


def _binary_index_file(fa, path: str) -> bool:
    """Whether ``path`` is a binary index file (read_index refuses those)."""
    try:
        fa.read_index_binary(path)
    except RuntimeError:
        return False
    return True


def _unreadable(path: str, err: RuntimeError) -> ValueError:
    """Why read_index refused ``path``: a file that ends before the index it starts does
    (faiss: 'read error in ...: 4516 != 5168', a copy or download cut short, an empty
    file), or one that is not a faiss index (or is damaged) at all."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
    if "read error" in first:
        return ValueError(f"path_or_index: {path!r} ends before the faiss index it holds does "
                          f"({os.path.getsize(path)} bytes; {first}): it was cut short (a copy, "
                          "download or write_index that did not finish); copy it again whole, "
                          "or write it again with faiss.write_index")
    return ValueError(f"path_or_index: {path!r} is not a faiss index file, or is damaged "
                      f"({first}); pass the file faiss.write_index wrote")


def _compression(fa, index, dim: int) -> str:
    """Why the vectors ``index`` stores are not those added ("" for float32 copies)."""
    store = fa.downcast_index(index.storage) if isinstance(index, (fa.IndexHNSW, fa.IndexNSG)) \
        else index
    size = int(getattr(store, "code_size", 4 * dim))
    if size == 4 * dim:
        return ""
    return (f"the faiss {type(index).__name__} stores {size} bytes a vector (float32: "
            f"{4 * dim}): it holds compressed codes, so the vectors read from it are their "
            "decoded approximations, not the ones added")


def _check_supported(fa, index) -> None:
    """Refuse index types whose vectors vecdiag cannot read or whose scores are not the
    inner product or L2 of what they store (LSH and IVF spectral hashing rank by Hamming
    distance and keep no vectors to decode; IVF dedup keeps repeated vectors once; shards and
    replicas cannot reconstruct their vectors; faiss implements no search of Index2Layer)."""
    if isinstance(index, fa.IndexIVFFlatDedup):
        # ntotal counts every vector added, the lists hold each repeated one once
        raise ValueError("a faiss IndexIVFFlatDedup index is not supported: it stores a "
                         "repeated vector once and the ids of its copies in a table vecdiag "
                         "cannot read, so its vectors cannot all be fetched; audit an "
                         "IndexIVFFlat built from the same vectors")
    ok = isinstance(index, (fa.IndexFlatCodes, fa.IndexFastScan, fa.IndexHNSW, fa.IndexIVF,
                            fa.IndexNSG)) \
        and not isinstance(index, (fa.IndexLSH, fa.IndexIVFSpectralHash, fa.Index2Layer))
    if not ok:
        raise ValueError(f"a faiss {type(index).__name__} index is not supported: vecdiag "
                         "reads flat, HNSW, NSG, IVF, PQ (fast-scan too) and scalar-quantizer "
                         "indexes (behind an IDMap, a refine step or an L2 normalisation too)")
