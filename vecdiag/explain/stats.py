"""Corpus-wide statistics behind an explanation, computed once and cached.

An explanation compares one query against the corpus's own habits: how often each
document turns up in other documents' top-k (k-occurrence), how close documents usually
are to their nearest neighbour, the mean direction, the fitted fix transforms. These cost
a k-nearest-neighbour graph of the corpus (``O(n² d)``), so they are computed once:

* for a :class:`vecdiag.Index`, exactly, and stored in ``index.cache`` (keyed by k): the
  second query on the same Index reuses them (the fixes' own statistics, such as the
  CSLS penalties, are cached on the Index by :mod:`vecdiag.fixes`);
* for a raw array of at most ``max_exact`` rows (5,000 by default), exactly, once per call;
* for a Dask corpus (an Index over a Dask array, or a raw one): exactly up to
  ``max_exact`` rows (the kNN graph of the corpus, per row block), beyond from the same
  documented sample whatever its owner, computed row block by row block
  (:mod:`vecdiag.scale.explain`); cached on the Index like the exact ones;
* for a larger raw array, from a documented sample: ``sample_size`` random rows (2,000 by
  default, drawn with ``random_state``) are searched against the whole corpus. Their
  top-k lists estimate every document's k-occurrence (count × n / sample_size) and their
  first-neighbour scores estimate the neighbour-distance scale, and the same rows serve
  as the neighbourhood bank of CSLS and the reference sample of mutual proximity. Pass
  an Index for exact, cached statistics.
"""

from __future__ import annotations

import numpy as np

from .. import cache_keys
from ..linalg import row_norms
from ..scale.chunks import is_dask_array
from ..diagnostics.shift import distinct_first_scores
from .ranking import vectors_of

__all__ = ["CorpusStats", "corpus_stats", "median_k_occurrence", "summary_of", "length_cv", "per_length",
           "first_neighbour_scales",
           "DEFAULT_MAX_EXACT", "DEFAULT_SAMPLE", "corpus_shape", "distinct_up_to",
           "copy_frame", "corpus_copy_frame"]

DEFAULT_MAX_EXACT = 5_000
DEFAULT_SAMPLE = 2_000


class CorpusStats:
    """Corpus-wide figures for one (corpus, metric, k); see the module docstring.

    Attributes
    ----------
    n, d : int
    metric : str
    k : int
    norms : ndarray (n,)
        Euclidean length of each corpus row.
    unit : ndarray (n, d)
        Unit-length rows (the cosine view of the corpus).
    k_occurrence : ndarray (n,)
        How many corpus documents have this one in their top-k (exact), or its estimate
        from the sample (count × n / sample_size).
    nn1 : ndarray
        Sorted first-neighbour scores of the corpus documents (or of the sample), in
        the metric's units: the corpus's own neighbour-distance scale.
    nn1_per_length : ndarray
        Sorted first-neighbour scores per unit of the length of the row whose neighbour
        it is (:func:`per_length`: under dot, ``max_j x_i·x_j / ‖x_i‖``; under cosine and
        euclidean ``nn1`` itself, :func:`first_neighbour_scales`).
    exact : bool
        False when the k-occurrence and nn1 come from a sample.
    sample_size : int
        Rows used for k-occurrence and nn1 (n when exact).
    sample_rows : ndarray or None
        The sampled rows (None when exact).
    graph_k : int
        Neighbours per list of the kNN graph: ``min(k, n - 1)``.
    """

    def __init__(self, index, k: int, *, max_exact: int, sample_size: int, random_state=0,
                 owned: bool = False):
        X = index.vectors
        self.n, self.d = X.shape
        self.metric = index.metric
        self.k = k
        self.norms = row_norms(X)
        self.unit = index.unit_rows  # zero rows stay zero
        self._index = index
        self.random_state = random_state
        self.graph_k = graph_k = min(k, self.n - 1)
        self.exact = self.n <= max_exact or not owned
        if self.exact:
            from ..diagnostics import hubness

            hub = hubness(index, graph_k)  # caches the kNN graph on the Index
            graph = index.cache.get(cache_keys.knn_graph(graph_k))
            if graph is None:
                graph = index.knn_graph(graph_k)
            self.sample_size = self.n
            self.sample_rows = None
            self.k_occurrence = hub.k_occurrence.astype(float)
            first, kept = distinct_first_scores(X, np.arange(self.n), graph.indices,
                                                graph.scores)
            self.nn1, self.nn1_per_length = first_neighbour_scales(first, self.norms[kept],
                                                                   self.metric)
        else:
            m = min(sample_size, self.n)
            rng = np.random.default_rng(random_state)
            probes = np.sort(rng.choice(self.n, size=m, replace=False))
            res = index.search(X[probes], k=graph_k + 1)
            idx, sc = _drop_self(res.indices, res.scores, probes, graph_k)
            self.sample_size = m
            self.k_occurrence = np.bincount(idx.ravel(), minlength=self.n) * (self.n / m)
            first, kept = distinct_first_scores(X, probes, idx, sc)
            self.nn1, self.nn1_per_length = first_neighbour_scales(
                first, self.norms[probes[kept]], self.metric)
            self.sample_rows = probes
        self.mean_unit = self.unit.mean(axis=0)

    # --------------------------------------------------------------- figures
    def unit_of(self, rows) -> np.ndarray:
        """Unit-length vectors of the given rows."""
        return self.unit[rows]

    def copies_of(self, row: int, threshold: float, frame=None) -> int:
        """How many other corpus rows have cosine >= ``threshold`` with ``row``, and in
        ``frame`` too when given (a :class:`~vecdiag.diagnostics.copy_frame.CopyFrame`,
        :func:`copy_frame`)."""
        from ..linalg import normalize

        close = self.unit @ self.unit[row] >= threshold
        close[row] = False
        if frame is not None and close.any():
            rows = np.flatnonzero(close)
            F = normalize(frame.rows(vectors_of(self._index, rows)), zero="ignore")
            f = normalize(frame.rows(vectors_of(self._index, [int(row)])), zero="ignore")[0]
            return int(np.count_nonzero(F @ f >= threshold))
        return int(np.count_nonzero(close))

    def prefetch_copies(self, rows, threshold: float, frame=None) -> None:
        """Nothing to prepare in memory (a Dask corpus counts the copies of the documents
        an explanation involves in one pass, see :mod:`vecdiag.scale.explain`)."""

    def percentiles(self, scores) -> np.ndarray:
        """Percentile (0-100) of each score among random corpus pairs."""
        return percentile_of(self, scores)

    def summary(self) -> dict:
        """The figures worth showing: sizes, how they were computed, k-occurrence."""
        return summary_of(self)


def first_neighbour_scales(first: np.ndarray, norms: np.ndarray, metric: str) -> tuple:
    """``(nn1, nn1_per_length)`` of :class:`CorpusStats` from the first-neighbour scores
    ``first`` and the lengths of the rows they belong to: both sorted; the second
    (:func:`per_length`) is computed under dot only, the one metric whose check reads it
    (:func:`vecdiag.explain.query_checks.first_scores`); under cosine and euclidean it
    is ``nn1`` itself.

    Examples
    --------
    >>> nn1, per = first_neighbour_scales(np.array([4.0, 1.0]), np.array([2.0, 1.0]), "dot")
    >>> nn1.tolist(), per.tolist()
    ([1.0, 4.0], [1.0, 2.0])
    >>> nn1, per = first_neighbour_scales(np.array([4.0, 1.0]), np.array([2.0, 1.0]), "cosine")
    >>> per is nn1
    True
    """
    nn1 = np.sort(np.asarray(first, dtype=float))
    return nn1, (per_length(first, norms, metric) if metric == "dot" else nn1)


def per_length(first: np.ndarray, norms: np.ndarray, metric: str) -> np.ndarray:
    """Sorted first-neighbour scores as a unit-length query would get them: under dot
    each divided by the length of its row (a row's ranking depends on its direction
    only, its scores grow with its length; rows of length 0, without a direction, left
    out), under cosine and euclidean as they are. The out-of-distribution check compares
    a query's top score per unit of its length with these: a query twice as long ranks
    the same documents and is no nearer the corpus.

    Examples
    --------
    >>> per_length(np.array([4.0, 1.0, 3.0]), np.array([2.0, 0.0, 1.0]), "dot").tolist()
    [2.0, 3.0]
    """
    first = np.asarray(first, dtype=float)
    if metric != "dot":
        return np.sort(first)
    norms = np.asarray(norms, dtype=float)
    has = norms > 0
    return np.sort(first[has] / norms[has])


def median_k_occurrence(stats) -> float | None:
    """The median k-occurrence over the corpus: exact, or None when sampled.

    subtle: from sampled lists each document's estimate ``c · n / s`` is unbiased for
    its own N_k, but most documents are in none of the s lists (a document of average
    N_k = k is expected in ``k s / n`` of them), so the median of the estimates is 0 or
    one step of ``n / s`` (0.0 where the true median is 10 at n = 50,000, s = 2,000):
    not an estimate of the median of N_k, which is not reported then.
    """
    return float(np.median(stats.k_occurrence)) if stats.exact else None


def length_cv(norms) -> float:
    """The coefficient of variation of the corpus rows' lengths, ``std / mean`` (0 when
    every row is zero): how much lengths can reorder a search by dot or euclidean.

    Examples
    --------
    >>> length_cv(np.array([1.0, 3.0])), length_cv(np.zeros(2))
    (0.5, 0.0)
    """
    mean = float(norms.mean())
    return float(norms.std() / mean) if mean > 0 else 0.0


def summary_of(stats) -> dict:
    """:meth:`CorpusStats.summary` for any corpus statistics (in memory or Dask).

    ``k_occurrence_median`` is None when the statistics are sampled (see
    :func:`median_k_occurrence`); ``k_occurrence_max`` is then the largest estimate.
    """
    kocc = stats.k_occurrence
    return {"n": int(stats.n), "d": int(stats.d), "metric": stats.metric, "k": int(stats.k),
            "exact": bool(stats.exact), "sample_size": int(stats.sample_size),
            "k_occurrence_median": median_k_occurrence(stats),
            "k_occurrence_max": float(kocc.max()),
            "nn1_median": float(np.median(stats.nn1))}


def _drop_self(indices, scores, probes, k):
    """Remove each probe from its own result list and keep k columns."""
    keep_idx = np.empty((len(probes), k), dtype=np.int64)
    keep_sc = np.empty((len(probes), k), dtype=scores.dtype)
    for row, p in enumerate(probes):
        mask = indices[row] != p
        keep_idx[row] = indices[row][mask][:k]
        keep_sc[row] = scores[row][mask][:k]
    return keep_idx, keep_sc


def corpus_stats(index, k: int, *, owned: bool = False, max_exact: int = DEFAULT_MAX_EXACT,
                 sample_size: int = DEFAULT_SAMPLE, random_state=0) -> CorpusStats:
    """Statistics for ``index`` at ``k``: from ``index.cache`` when already computed.

    An Index the user built keeps them in ``index.cache`` (exact); a temporary Index made
    from a raw array (``owned=True``) uses the sample above
    ``max_exact`` rows and is not kept beyond the call.
    """
    key = cache_keys.explain_stats(k, random_state)
    cache = getattr(index, "cache", None)
    if cache is not None and key in cache:
        return cache[key]
    if is_dask_array(index.vectors):  # per row block, sampled above max_exact rows
        from ..scale.explain import DaskCorpusStats as make
    else:
        make = CorpusStats
    stats = make(index, k, owned=owned, max_exact=max_exact, sample_size=sample_size,
                 random_state=random_state)
    if cache is not None:
        cache[key] = stats
    return stats


def percentile_of(stats: CorpusStats, scores) -> np.ndarray:
    """Percentile (0-100) of each score among random corpus pairs
    (:func:`vecdiag.score_percentile`; its pair sample is cached on the Index)."""
    from ..scores import score_percentile

    return np.asarray(score_percentile(np.asarray(scores, dtype=float), stats._index,
                                       metric=stats.metric, random_state=stats.random_state),
                      dtype=float)


def corpus_shape(index, n: int, k: int) -> dict:
    """The corpus's anisotropy and rogue dimensions (cosine statistics): of the rows that
    have a direction. A zero row is a valid document under dot or euclidean (a cosine
    Index refuses it), and would make both undefined. ``directions_judged``: whether
    :func:`vecdiag.diagnose` judges them on this corpus, at its default k or at this
    explanation's, whichever is larger (it does not on at most k distinct vectors:
    a handful of pairs cannot tell a direction the model gives every vector from
    documents on one topic). The rogue dimensions are the ``min(5, ⌈d/10⌉)`` that
    :func:`vecdiag.diagnose` judges (:func:`~vecdiag.diagnostics.rogue_rules.rogue_top`):
    the top 5 of 8 dimensions carry a mean cosine's whole share by chance. Under
    euclidean the rogue dimensions are of the rows less their mean
    (:func:`~.centred.centred_rogue`), and the anisotropy is a figure only (no cause:
    :mod:`.centred`)."""
    from ..diagnostics import anisotropy, rogue_dimensions
    from ..diagnostics.diagnose import DiagnoseOptions
    from ..diagnostics.rogue_rules import rogue_top
    from ..diagnostics.rules import too_few_to_judge

    if n < 2:
        return {"anisotropy": None, "rogue": None}
    zero = index.norms == 0
    rows = np.flatnonzero(~zero)
    limit = max(k, DiagnoseOptions().k)
    judged = not too_few_to_judge(distinct_up_to(index, rows, limit + 1), limit)
    top = rogue_top(index.vectors.shape[1])
    if index.metric == "euclidean":  # rogue dimensions seen from the centre (.centred)
        from .centred import centred_rogue

        def rogue(_):
            return centred_rogue(index, top)
    else:
        def rogue(X):
            return rogue_dimensions(X, top=top)
    if not zero.any():
        return {"anisotropy": float(anisotropy(index)), "rogue": rogue(index),
                "directions_judged": judged}
    X = vectors_of(index, rows)
    if X.shape[0] < 2:
        return {"anisotropy": None, "rogue": None}
    return {"anisotropy": float(anisotropy(X)), "rogue": rogue(X), "directions_judged": judged}


def distinct_up_to(index, rows, cap: int) -> int:
    """How many distinct vectors (exact copies counted once, as :func:`vecdiag.diagnose`
    counts them) the given rows hold, counted up to ``cap``: rows are read in blocks
    until ``cap`` distinct ones are found, so a large corpus reads a few rows only."""
    seen = np.empty(0, dtype=object)
    step = max(4 * cap, 64)
    for start in range(0, rows.size, step):
        # + 0.0: -0.0 and 0.0 are one value; each row's bytes are then its identity
        block = np.ascontiguousarray(np.asarray(vectors_of(index, rows[start:start + step]))
                                     + 0.0)
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * block.shape[1])))
        seen = np.unique(np.concatenate([seen, keys.ravel()]) if seen.size else keys.ravel())
        if seen.size >= cap:
            return cap
    return int(seen.size)


def copy_frame(index, shape: dict):
    """The :class:`~vecdiag.diagnostics.copy_frame.CopyFrame` near-copies are also judged
    in, as :func:`vecdiag.diagnose` judges them (:mod:`vecdiag.diagnostics.copy_stages`),
    None when the raw cosine is the whole judge: one decision per Index (kept in
    ``index.cache``), shared by the near-copy cause, the hub cause's copy count and the
    de-duplicated counterfactual. ``shape``: :func:`corpus_shape`'s figures.

    - under euclidean, and in a narrow cone (cosine or dot, anisotropy at or above its
      warning): the rows (the unit rows in a cone) less their mean: no shared offset
      changes a distance, and a shared direction makes distinct documents look alike
      from the origin (their fix is centring, not deleting them);
    - rogue dimensions flagged (warning or critical; under euclidean when they also hold
      the variance, :func:`~vecdiag.diagnostics.rogue_rules.variance_decides`): besides,
      each dimension over its root mean square (of the unit rows under cosine or in a
      cone, of the rows otherwise): a few dimensions decide every raw cosine.
    """
    from ..diagnostics.copy_frame import CopyFrame, frame_moments
    from ..diagnostics.rogue_rules import rogue_finding, variance_decides
    from ..diagnostics.rules import THRESHOLDS

    cache = getattr(index, "cache", None)
    key = cache_keys.explain_copy_frame()
    if cache is not None and key in cache:
        return cache[key]
    metric, rogue, aniso = index.metric, shape.get("rogue"), shape.get("anisotropy")
    cone = (metric != "euclidean" and aniso is not None
            and aniso >= THRESHOLDS["anisotropy"]["warning"])
    centre = metric == "euclidean" or cone
    found = (None if rogue is None or not shape.get("directions_judged")
             else rogue_finding(rogue, index.vectors.shape[1], len(index)))
    if found is not None and found.severity == "ok":
        found = None
    frame = None
    if centre or found is not None:
        # the rows with a direction (a zero row, a document under dot or euclidean, is
        # nobody's copy), as corpus_shape reads them; every row of a Dask corpus
        zero = np.asarray(index.norms) == 0
        X = (index.vectors if is_dask_array(index.vectors) or not zero.any()
             else vectors_of(index, np.flatnonzero(~zero)))
        unit = metric == "cosine" or cone
        # the spread only when rogue dimensions may standardise (on Dask, a pass saved)
        mean, rms = frame_moments(X, unit, centre, found is not None)
        standardise = found is not None and (metric != "euclidean"
                                             or variance_decides(found, rms ** 2) is not None)
        # reached only when centring, or when standardising (rogue dimensions outside
        # euclidean, where nothing else centres): a frame every time
        frame = CopyFrame(unit=unit, shift=mean if centre else None,
                          scale=np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 1.0)
                          if standardise else None)
    if cache is not None:   # once per Index (on Dask, two passes over the corpus)
        cache[key] = frame
    return frame


def corpus_copy_frame(index):
    """:func:`copy_frame` of an Index outside an explanation (``vd.try_fixes``'
    ``deduplicate``): the frame an explanation on this Index has decided (cached), else
    decided now by the same rule, with :func:`corpus_shape` at diagnose's default k (an
    explanation's default too), and cached for the explanations to come."""
    from ..diagnostics.diagnose import DiagnoseOptions

    key = cache_keys.explain_copy_frame()
    if key in index.cache:
        return index.cache[key]
    return copy_frame(index, corpus_shape(index, len(index), DiagnoseOptions().k))
