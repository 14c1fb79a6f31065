"""The corpus kNN graph, built once per Index through :mod:`vecdiag.neighbors`.

``Index.knn_graph(k, show_progress=...)`` does the work when the neighbours module
offers it (with its own progress bar). Otherwise every item is searched against the
corpus in chunks (so a progress bar can follow the dominant cost), asking for ``k + 1``
neighbours and dropping the item itself; the result equals ``Index.knn_graph(k)``, tie
rule included: when an item has ``k`` or more exact copies at lower indices, it is not
in its own list and the last entry is dropped.
Cached in ``Index.cache[cache_keys.knn_graph(k)]`` (``("knn_graph", k)``) as a :class:`vecdiag.Neighbors`.
"""

from __future__ import annotations

import inspect
import time

import numpy as np

from .. import cache_keys
from .._progress import progress_bar

__all__ = ["knn_graph"]

# Rough throughput of exact search (multiply-adds per second) used only to decide
# whether a progress bar is worth showing.
_FLOPS = 2e10


def drop_self(idx: np.ndarray, scores: np.ndarray, rows: np.ndarray, k: int):
    """Remove each row's own index from its ``k + 1`` results (else the last column)."""
    is_self = idx == rows[:, None]
    has_self = is_self.any(axis=1)
    keep = ~is_self
    keep[~has_self, -1] = False
    return idx[keep].reshape(-1, k), scores[keep].reshape(-1, k)


def knn_graph(index, k: int, *, show_progress: bool | None = None, chunks: int = 50,
              bar=None):
    """``Neighbors`` of every corpus item among the others (self excluded); cached.

    ``index`` is a :class:`vecdiag.Index`; ``k`` already checked (``k ≤ n − 1``).
    ``bar``: an outer progress bar advanced by one step per chunk (instead of a bar of
    its own).
    """
    import contextlib

    from ..neighbors import Neighbors

    key = cache_keys.knn_graph(k)
    cached = index.cache.get(key)
    if isinstance(cached, Neighbors):
        if bar is not None:
            bar.update(chunks)
        return cached
    n, d = index.vectors.shape
    start_time = time.perf_counter()
    if "show_progress" in inspect.signature(index.knn_graph).parameters:
        graph = index.knn_graph(k, show_progress=show_progress)
        if bar is not None:
            bar.update(chunks)
        index.cache[key] = graph
        index.cache[cache_keys.knn_graph_seconds(k)] = time.perf_counter() - start_time
        return graph
    step = max(1, -(-n // chunks))
    expected = n * n * d / _FLOPS
    indices = np.empty((n, k), dtype=np.int64)
    scores = None
    own = bar is None
    outer = progress_bar(n, desc=f"kNN graph (k={k})", show=show_progress,
                         expected_seconds=expected) if own else contextlib.nullcontext(bar)
    done = 0
    with outer as bar:
        for start in range(0, n, step):
            stop = min(n, start + step)
            res = index.search(index.vectors[start:stop], k=min(k + 1, n))
            idx, sc = drop_self(res.indices, res.scores, np.arange(start, stop), k)
            if scores is None:
                scores = np.empty((n, k), dtype=sc.dtype)
            indices[start:stop] = idx
            scores[start:stop] = sc
            bar.update(stop - start if own else 1)
            done += 1
        if not own and done < chunks:
            bar.update(chunks - done)
    graph = Neighbors(indices=indices, scores=scores, metric=index.metric, k=k,
                      ids=None if index.ids is None else index.ids[indices],
                      texts=index.texts)
    index.cache[key] = graph
    index.cache[cache_keys.knn_graph_seconds(k)] = time.perf_counter() - start_time
    return graph
