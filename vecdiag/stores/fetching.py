"""Reading a whole store: :meth:`vecdiag.stores.base.Store.fetch`'s stream into one array,
and the checks of what it read (every vector with one id of its own, finite, with a
direction under cosine).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .. import _validate as V

__all__ = ["read_all", "check_rows"]


def read_all(store, *, memory_budget: int, batch_size: int, show_progress):
    """``(vectors, ids, texts)`` of every row of ``store``, streamed in batches into one
    float32 array allocated up front (a memmap past ``memory_budget`` bytes); ``texts``
    None when the store holds none. A store that grew or shrank since it was counted
    (``store.n``, counted once) is refused, and its count forgotten: the next fetch
    counts it again."""
    from .._progress import progress_bar

    memory_budget = V.check_positive_int(memory_budget, "memory_budget")
    batch_size = V.check_positive_int(batch_size, "batch_size")
    n, d = store.n, store.dim
    if n == 0:
        where = getattr(store, "where", None)       # pgvector's filter, when one is given
        raise ValueError(f"{store.describe()} is empty: there is nothing to fetch or audit; "
                         "insert vectors first" + (f" (or check where={where!r}, which no "
                                                   "row meets)" if where else ""))
    vectors = _allocate(n, d, memory_budget)
    ids = np.empty(n, dtype=object)
    texts = None
    filled = 0
    bar = progress_bar(n, desc=f"fetch {store.kind}", show=show_progress,
                       expected_seconds=n * d / 2e8)
    with bar:
        for batch_ids, batch_vectors, batch_texts in store._batches(batch_size):
            m = len(batch_ids)
            if filled + m > n:
                store.cache.pop("n", None)        # the next fetch counts it again
                raise ValueError(f"{store.describe()} holds more than the {n} rows it held "
                                 "when counted (it changed since); fetch again when writes "
                                 "have stopped")
            vectors[filled:filled + m] = batch_vectors
            ids[filled:filled + m] = list(batch_ids)
            if batch_texts is not None:
                if texts is None:
                    texts = np.empty(n, dtype=object)
                texts[filled:filled + m] = list(batch_texts)
            filled += m
            bar.update(m)
    if filled != n:
        store.cache.pop("n", None)
        raise ValueError(f"{store.describe()} returned {filled} rows but held {n} when "
                         "counted (it changed since); fetch again when writes have stopped")
    return vectors, ids, texts


def check_rows(store, vectors: np.ndarray, ids: np.ndarray) -> None:
    """Missing and duplicate ids, NaN rows and (under cosine) zero rows of what
    :func:`read_all` read, named."""
    values = ids.tolist()
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        # a row without an id can be neither reported nor matched with a search result
        raise ValueError(f"{store.describe()} has {len(missing)} vectors without an id "
                         f"(NULL or None: {V.format_rows(missing)} in fetch order); give "
                         "every vector an id")
    arr = None
    if all(type(v) is int for v in values):   # integer ids: sort, no dict of n entries
        try:
            arr = np.sort(np.asarray(values, dtype=np.int64))
        except OverflowError:    # beyond int64 (Qdrant's ids are unsigned 64-bit)
            arr = None
    if arr is not None:
        dupes = np.unique(arr[1:][arr[1:] == arr[:-1]]).tolist()
    else:
        dupes = [values[i] for i in V.repeats(values)]
    if dupes:
        shown = ", ".join(repr(v) for v in dupes[:5])
        raise ValueError(f"{store.describe()} has {len(dupes)} duplicate ids ({shown}); "
                         f"{store.duplicate_advice()}")
    bad, zero = [], []
    for start in range(0, vectors.shape[0], 65536):
        block = vectors[start:start + 65536]
        bad.extend((start + np.flatnonzero(~np.isfinite(block).all(axis=1))).tolist())
        if store.metric == "cosine":
            zero.extend((start + np.flatnonzero(~block.any(axis=1))).tolist())
    if bad:
        raise ValueError(f"{store.describe()} has {len(bad)} vectors with NaN or inf (ids: "
                         f"{', '.join(repr(ids[i]) for i in bad[:5])}); re-embed or delete them")
    if zero:
        raise ValueError(f"{store.describe()} has {len(zero)} zero vectors under the cosine "
                         f"metric (ids: {', '.join(repr(ids[i]) for i in zero[:5])}); they "
                         "have no direction (pgvector's <=> scores them NaN; other stores give "
                         "them an arbitrary score): re-embed or delete them")


def _allocate(n: int, d: int, budget: int) -> np.ndarray:
    """An (n, d) float32 array, or a memmap in an unlinked temporary file when too big."""
    if n * d * 4 <= budget:
        return np.empty((n, d), dtype=np.float32)
    fd, path = tempfile.mkstemp(prefix="vecdiag-fetch-", suffix=".f32")
    os.close(fd)
    arr = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, d))
    if os.name == "posix":
        os.unlink(path)  # the mapping stays valid; the file goes when the array does
    return arr
