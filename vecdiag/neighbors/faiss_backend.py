"""Candidates from faiss (``backend="faiss"``): its flat index, then our refine.

faiss computes in float32 and orders equal scores its own way (larger ids first, and it
may keep any of several tied ids at the k-th place). So we ask it for a margin of extra
candidates and let :func:`vecdiag.neighbors.engine.refine` re-score, re-sort (ties by
lower index) and prove the result, exactly as for the NumPy backend.
"""

from __future__ import annotations

import numpy as np

from .._optional import require
from .._progress import progress_bar
from ._select import merge
from .rows import Rows


def faiss_module():
    """Import faiss or raise an ImportError that names the extra to install."""
    return require("faiss", 'backend="faiss"')


def build_index(C: Rows, start: int = 0, stop: int | None = None):
    """A faiss flat index over prepared corpus rows ``start:stop`` (a float32 copy)."""
    faiss = faiss_module()
    stop = C.n if stop is None else stop
    index = faiss.IndexFlatL2(C.d) if C.metric == "euclidean" else faiss.IndexFlatIP(C.d)
    rows = np.ascontiguousarray(C.block(start, stop), dtype=np.float32)
    index.add(rows)
    return index


def faiss_candidates(Q: Rows, C: Rows, positions: np.ndarray, kp: int, *, exclude_self: bool,
                     budget: int, batch_size: int | None, progress: dict, index=None):
    """Candidate positions and keys (m, kp), like ``numpy_candidates``, plus faiss's eps."""
    m = positions.size
    # One faiss index per corpus chunk; the chunk's float32 copy takes at most half the budget.
    bc = C.n if index is not None else max(kp + 1, budget // (2 * C.d * 4))
    bq = batch_size or 4096
    chunks = [(c0, min(C.n, c0 + bc)) for c0 in range(0, C.n, bc)]
    best_idx = [None] * -(-m // bq)
    best_key = [None] * len(best_idx)
    with progress_bar(m * C.n, **progress) as bar:
        for c0, c1 in chunks:
            chunk_index = index if index is not None else build_index(C, c0, c1)
            kk = min(kp + int(exclude_self), c1 - c0)
            for b, q0 in enumerate(range(0, m, bq)):
                q1 = min(m, q0 + bq)
                pos = positions[q0:q1]
                rows = np.ascontiguousarray(Q.take(pos), dtype=np.float32)
                D, ids = chunk_index.search(rows, kk)
                key = D.astype(np.float64)
                if C.metric == "euclidean":
                    key = Q.sq[pos].astype(np.float64)[:, None] - key   # ‖q‖² − ‖q − c‖²
                ids = ids.astype(np.int64) + c0
                if exclude_self:
                    key[ids == pos[:, None]] = -np.inf
                best_idx[b], best_key[b] = merge(best_idx[b], best_key[b], ids, key, kp)
                bar.update((q1 - q0) * (c1 - c0))
    return (np.concatenate(best_idx), np.concatenate(best_key),
            float(np.finfo(np.float32).eps))
