"""``vd.explain_neighbors`` on a Dask corpus: the corpus statistics, row block by row block.

An explanation reads the corpus in three ways (:mod:`vecdiag.explain.stats`): its
k-occurrence (who is a hub), its first-neighbour scale (is the query out of
distribution), the lengths and near-copies of the few documents involved. On a Dask
corpus (:class:`vecdiag.scale.index.DaskIndex`) :class:`DaskCorpusStats` gives the same
figures without gathering the corpus:

* **lengths**: from :func:`vecdiag.scale.moments.moments` (one pass that also names
  every NaN/inf row; ``n`` numbers on the client), kept in ``index.cache`` where
  anisotropy, rogue dimensions and mutual proximity reuse it;
* **k-occurrence and first-neighbour scores**: up to ``max_exact`` rows exactly from the
  kNN graph (one task per pair of row blocks); beyond, estimated from ``sample_size``
  sampled rows (drawn with ``random_state`` exactly as the in-memory sampled path draws
  them) searched against the whole corpus by :func:`vecdiag.scale.search.knn_rows`: each
  document's k-occurrence is its count in the sampled lists times ``n / sample_size``
  (its reverse neighbours among the sampled rows, scaled), which the hub cause states as
  estimated;
* **near-copies of the documents involved** (the top-k and the expected documents):
  exact, their unit vectors scored against every row, one task per block, counted in
  one pass for all of them;
* **percentiles of scores** among random document pairs: pairs of the sampled rows
  (:func:`vecdiag.score_percentile` on the gathered sample).

The statistics are cached on the Index (``index.cache``) like the in-memory ones, so a
second explanation on the same Dask Index pays only for its query.
"""

from __future__ import annotations

import numpy as np

from .. import cache_keys
from ..linalg import normalize
from .chunks import block_pieces, compute, row_blocks

__all__ = ["DaskCorpusStats", "copy_counts"]


def _unit(X: np.ndarray) -> np.ndarray:
    """Unit rows, zero rows left at 0 (:func:`vecdiag.linalg.normalize`: exact at any length)."""
    return normalize(X, zero="ignore")


def _block_copies(block, U: np.ndarray, threshold: float, frame=None,
                  F: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``U`` (unit vectors), how many rows of the block have cosine >= threshold
    (and in ``frame`` too, with ``F`` the same rows there, unit length), counted
    :data:`.PIECE_BYTES` of rows at a time (the whole block's unit rows and their
    temporaries were a copy of it or more; a row's cosine depends on that row alone)."""
    counts = np.zeros(U.shape[0], dtype=np.int64)
    for _, P in block_pieces(block):
        close = _unit(P) @ U.T >= threshold
        if frame is not None:
            close &= normalize(frame.rows(P), zero="ignore") @ F.T >= threshold
        counts += np.count_nonzero(close, axis=0)
    return counts


def copy_counts(X, U: np.ndarray, threshold: float, frame=None) -> np.ndarray:
    """For each unit vector in ``U`` (m, d), the rows of the Dask corpus ``X`` with cosine
    >= ``threshold`` to it (itself included when it is a row), and in ``frame`` too when
    given (a :class:`~vecdiag.diagnostics.copy_frame.CopyFrame`; ``U`` then holds the
    rows themselves, of any length): one task per row block."""
    import dask

    F = None if frame is None else normalize(frame.rows(U), zero="ignore")
    task = dask.delayed(_block_copies, pure=True)
    parts = compute(*[task(b.data, _unit(U).astype(X.dtype), threshold, frame, F)
                      for b in row_blocks(X)])
    return np.sum(parts, axis=0)


class DaskCorpusStats:
    """:class:`vecdiag.explain.stats.CorpusStats` for a Dask Index (see the module).

    Attributes
    ----------
    n, d, metric, k, graph_k, norms, k_occurrence, nn1, nn1_per_length, exact, sample_size,
    sample_rows
        As :class:`~vecdiag.explain.stats.CorpusStats`; ``exact`` is False (and
        k-occurrence and nn1 are estimated from ``sample_size`` rows) above ``max_exact``
        rows, whoever owns the Index.

    Examples
    --------
    >>> import dask.array as da, numpy as np, vecdiag as vd
    >>> X = np.random.default_rng(0).normal(size=(40, 4))
    >>> s = DaskCorpusStats(vd.Index(da.from_array(X, chunks=16)), 3, max_exact=10,
    ...                     sample_size=20)
    >>> s.exact, s.sample_size, round(float(s.k_occurrence.mean()), 1)
    (False, 20, 3.0)
    """

    def __init__(self, index, k: int, *, max_exact: int, sample_size: int, random_state=0,
                 owned: bool = False):
        from .moments import moments
        from ..explain.stats import first_neighbour_scales
        from .search import knn_rows

        X = index.vectors
        self.n, self.d = X.shape
        self.metric = index.metric
        self.k = k
        self._index = index
        self.random_state = random_state
        # the first pass: every NaN/inf row named (not only the first block's), the norms,
        # and the moments, kept in the Index's cache where anisotropy, rogue dimensions and
        # mutual proximity find them (unit rows under cosine, raw rows otherwise)
        space = "unit" if self.metric == "cosine" else "raw"
        key = cache_keys.moments(space)
        if key not in index.cache:
            index.cache[key] = moments(X, space=space, name="corpus")
        self.norms = np.asarray(index.cache[key].norms, dtype=float)
        self.graph_k = graph_k = min(k, self.n - 1)
        self.exact = self.n <= max_exact
        if self.exact:
            graph = index.knn_graph(graph_k)  # cached on the Index
            self.sample_size, self.sample_rows = self.n, None
            self.k_occurrence = np.bincount(graph.indices.ravel(),
                                            minlength=self.n).astype(float)
            self.nn1, self.nn1_per_length = first_neighbour_scales(graph.scores[:, 0],
                                                                   self.norms, self.metric)
            probes = np.sort(np.random.default_rng(random_state).choice(
                self.n, size=min(sample_size, self.n), replace=False))
        else:
            m = min(sample_size, self.n)
            probes = np.sort(np.random.default_rng(random_state).choice(self.n, size=m,
                                                                        replace=False))
            res = knn_rows(X, probes, graph_k, metric=self.metric)
            self.sample_size, self.sample_rows = m, probes
            self.k_occurrence = (np.bincount(res.indices.ravel(), minlength=self.n)
                                 * (self.n / m))
            self.nn1, self.nn1_per_length = first_neighbour_scales(
                res.scores[:, 0], self.norms[probes], self.metric)
        self._pair_rows = probes
        self._pairs_sample = None
        self._copies: dict = {}

    # ------------------------------------------------------------ rows involved
    def unit_of(self, rows) -> np.ndarray:
        """Unit-length vectors of a few rows (only those rows are computed)."""
        from ..explain.ranking import vectors_of

        return _unit(vectors_of(self._index, rows))

    def prefetch_copies(self, rows, threshold: float, frame=None) -> None:
        """Count the near-copies of these rows in one pass (kept for :meth:`copies_of`)."""
        from ..explain.ranking import vectors_of

        fkey = None if frame is None else frame.key
        rows = [int(r) for r in dict.fromkeys(np.asarray(rows).tolist())
                if (int(r), threshold, fkey) not in self._copies]
        if not rows:
            return
        V = np.asarray(vectors_of(self._index, rows))
        counts = copy_counts(self._index.vectors, V, threshold, frame)
        # each row counted itself when it is a copy of itself in every frame judged
        U = _unit(V).astype(self._index.vectors.dtype)
        self_match = np.einsum("ij,ij->i", U, U) >= threshold
        if frame is not None:
            F = normalize(frame.rows(V), zero="ignore").astype(self._index.vectors.dtype)
            self_match &= np.einsum("ij,ij->i", F, F) >= threshold
        for r, c, own in zip(rows, counts.tolist(), self_match.tolist()):
            self._copies[(r, threshold, fkey)] = int(c) - int(bool(own) and self.norms[r] > 0)

    def copies_of(self, row: int, threshold: float, frame=None) -> int:
        """Other rows with cosine >= ``threshold`` to ``row`` (and in ``frame`` too, when
        given): exact, by one pass."""
        key = (int(row), threshold, None if frame is None else frame.key)
        if key not in self._copies:
            self.prefetch_copies([row], threshold, frame)
        return self._copies[key]

    # --------------------------------------------------------------- figures
    def percentiles(self, scores) -> np.ndarray:
        """Percentile (0-100) of each score among random pairs of the sampled rows."""
        from ..scores import score_percentile

        if self._pairs_sample is None:
            from ..explain.ranking import vectors_of

            self._pairs_sample = vectors_of(self._index, self._pair_rows)
        return np.asarray(score_percentile(np.asarray(scores, dtype=float), self._pairs_sample,
                                           metric=self.metric, random_state=self.random_state),
                          dtype=float)

    def summary(self) -> dict:
        """The figures worth showing (as :meth:`CorpusStats.summary`)."""
        from ..explain.stats import summary_of

        return summary_of(self)
