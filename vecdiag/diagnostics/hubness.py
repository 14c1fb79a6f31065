"""Hubness: a few items that turn up in everyone's nearest-neighbour list.

Radovanović, Nanopoulos & Ivanović (2010), "Hubs in space: popular nearest neighbors in
high-dimensional data", JMLR 11. Robin Hood index: Feldbauer, Leodolter, Plant & Flexer
(2018), "Fast approximate hubness reduction for large high-dimensional data", ICBK.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from .._options import COSINE
from .._scaling import largest_magnitude, ranking_rows
from ..results import Result, fmt, html_block, html_table, result
from ._graph import knn_graph
from .hub_rules import HUB_FACTOR, STRONG_HUB_FACTOR, hub_rows

__all__ = ["hubness", "Hubness", "skewness", "robin_hood", "hub_rows", "HUB_FACTOR",
           "STRONG_HUB_FACTOR"]

@result
class Hubness(Result):
    """How unevenly the items share the places in the k-nearest-neighbour lists.

    Returned by :func:`vecdiag.hubness`.

    Attributes
    ----------
    k_occurrence : ndarray, shape (n,), int64
        N_k: how many neighbour lists each corpus item appears in.
    skewness : float
        Sample skewness of N_k (as ``scipy.stats.skew``); 0.0 when N_k is constant.
    hubs : ndarray
        Indices of items with N_k ≥ 2·E[N_k], most first.
    antihubs : ndarray
        Indices of items that are in no list (N_k = 0).
    robinhood : float
        Share of all occurrences that would have to move to give every item E[N_k].
    k : int
        Neighbours per list.
    metric : str
        Metric of the search.
    n_lists : int
        How many neighbour lists were counted (corpus items, or queries).
    source : str
        "corpus" (every item's list, itself excluded) or "queries" (a query log).

    Examples
    --------
    >>> import vecdiag as vd
    >>> X = [[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [1, 1]]
    >>> h = vd.hubness(X, k=1)
    >>> h.k_occurrence.tolist(), h.hubs.tolist(), h.antihubs.tolist()
    ([1, 2, 1, 1, 0], [1], [4])
    >>> round(h.robinhood, 4), h.expected
    (0.2, 1.0)
    """

    k_occurrence: np.ndarray
    """(n,) int64 N_k: how many neighbour lists each corpus item appears in."""
    skewness: float
    """Sample skewness of N_k (as ``scipy.stats.skew``); 0.0 when N_k is constant."""
    hubs: np.ndarray
    """Indices of items with N_k ≥ 2·E[N_k] (= 2k over the corpus graph), most first."""
    antihubs: np.ndarray
    """Indices of items that are in no list (N_k = 0)."""
    robinhood: float
    """Share of all occurrences that would have to move to give every item E[N_k]."""
    k: int
    """Neighbours per list."""
    metric: str
    """Metric of the search."""
    n_lists: int
    """How many neighbour lists were counted (corpus items, or queries)."""
    source: str
    """"corpus" (every item's list, itself excluded) or "queries" (a query log)."""

    @property
    def expected(self) -> float:
        """E[N_k] = n_lists·k / n, the count every item would have in a fair world."""
        return self.n_lists * self.k / self.k_occurrence.size

    def to_frame(self):
        """One row per item: index, k_occurrence, hub, antihub (most occurrences first)."""
        import pandas as pd

        order = np.argsort(-self.k_occurrence, kind="stable")
        nk = self.k_occurrence[order]
        return pd.DataFrame({"index": order, "k_occurrence": nk,
                             "hub": nk >= HUB_FACTOR * self.expected, "antihub": nk == 0})

    def _repr_html_(self) -> str:
        n = self.k_occurrence.size
        rows = [["skewness of N_k", self.skewness],
                ["Robin Hood index", self.robinhood],
                [f"hubs (N_k ≥ {fmt(HUB_FACTOR * self.expected)})", f"{self.hubs.size} of {n}"],
                ["antihubs (N_k = 0)", f"{self.antihubs.size} of {n}"],
                ["largest N_k", int(self.k_occurrence.max())]]
        top = [[int(i), int(self.k_occurrence[i])] for i in self.hubs[:10]]
        parts = [html_table(rows, ["statistic", "value"], numeric={"value"})]
        if top:
            parts.append(html_table(top, ["hub index", "N_k"], numeric={"hub index", "N_k"}))
        return html_block(f"Hubness (k={self.k}, {self.metric}, over {self.source})", *parts)

    def plot(self, ax=None):
        """Histogram of N_k on a log count scale, with the hub threshold marked."""
        from ..plot.diagnostics import draw_k_occurrence

        return draw_k_occurrence(self.k_occurrence, self.k, HUB_FACTOR * self.expected, ax=ax)


def skewness(values: np.ndarray) -> float:
    """Biased sample skewness ``m3 / m2^1.5`` (``scipy.stats.skew``); 0.0 if constant.

    Examples
    --------
    >>> skewness(np.array([1, 1, 1, 10]))
    1.1547005383792515
    >>> skewness(np.array([5, 5, 5]))
    0.0
    """
    x = values.astype(np.float64)
    dev = x - x.mean()
    m2 = float(np.mean(dev ** 2))
    # subtle: a constant N_k (e.g. n = k + 1: everyone is in every list) has no spread;
    # the ratio is 0/0, and the honest answer is "perfectly even", i.e. 0, not NaN.
    if m2 <= 1e-12 * max(1.0, float(np.mean(x ** 2))):
        return 0.0
    return float(np.mean(dev ** 3) / m2 ** 1.5)


def robin_hood(k_occurrence: np.ndarray) -> float:
    """``Σ |N_k − E[N_k]| / (2 Σ N_k)``: share of occurrences to move for fairness.

    Examples
    --------
    >>> robin_hood(np.array([2, 2, 2]))
    0.0
    >>> robin_hood(np.array([6, 0, 0]))
    0.6666666666666666
    """
    total = float(k_occurrence.sum())
    if total == 0:
        return 0.0
    return float(np.abs(k_occurrence - total / k_occurrence.size).sum() / (2 * total))


def hubness_from_indices(indices: np.ndarray, n: int, k: int, metric: str,
                         source: str) -> Hubness:
    """Hubness from neighbour lists (inputs checked): counts, skewness, hubs, Robin Hood."""
    nk = np.bincount(indices.ravel(), minlength=n).astype(np.int64)
    hubs = hub_rows(nk, k, n_lists=int(indices.shape[0]))
    return Hubness(k_occurrence=nk, skewness=skewness(nk), hubs=hubs,
                   antihubs=np.flatnonzero(nk == 0), robinhood=robin_hood(nk), k=k,
                   metric=metric, n_lists=int(indices.shape[0]), source=source)


def hubness(X, k: int = 10, *, metric: str = COSINE, queries=None,
            show_progress: bool | None = None, sample: int | None = None,
            random_state=0, confidence: float = 0.95):
    """k-occurrence N_k of every item, its skewness, hubs, antihubs and Robin Hood index.

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
        The corpus. With an Index its metric is used (a ``metric`` named otherwise is
        refused), and the
        kNN graph, N_k and this result are cached in ``Index.cache`` under
        ``("knn_graph", k)``, ``("k_occurrence", k)`` and ``("hubness", k)``: a second
        call costs nothing.
    k : int
        Neighbours per list, ``1 ≤ k ≤ n − 1`` (each item is excluded from its own list).
    metric : {"cosine", "dot", "euclidean"}
    queries : array-like (m, d), optional
        Count occurrences in the top-k of these queries (a real query log) instead of
        in the corpus's own kNN graph. Then E[N_k] = m·k/n and ``k ≤ n``.
    show_progress : bool or None
        Progress bar for the kNN graph; None shows it when the work is long.
    sample : int, optional
        Estimate from this many rows drawn at random (without replacement), each
        searched against all n (``O(s·n·d)`` instead of ``O(n²·d)``): returns a
        :class:`~vecdiag.diagnostics.sampled_hubness.SampledHubness` with intervals.
        On a Dask array, ``None`` means
        :data:`~vecdiag.diagnostics.sampling.DEFAULT_SAMPLE` rows (all when fewer);
        with ``queries`` the count is exact (the queries searched block by block).
    random_state : int, numpy Generator or None
        Seed of the sample (and of the jackknife groups); checked also without one.
    confidence : float
        Level of the sampled intervals.

    Returns
    -------
    Hubness, or SampledHubness when sampled

    Notes
    -----
    ``N_k(x)`` counts the lists (one per corpus item, self excluded; or one per query)
    that contain ``x`` among their ``k`` nearest. ``Σ_x N_k(x) = (lists)·k``, so the mean
    is fixed; in high dimensions the distribution becomes right-skewed: a few *hubs*
    appear everywhere and many *antihubs* nowhere (Radovanović et al. 2010). Reported:

    * skewness ``S = E[(N_k − μ)³] / σ³`` (biased, as ``scipy.stats.skew``); 0.0 when
      N_k is constant (no spread, e.g. ``n = k + 1``);
    * hubs ``N_k ≥ 2·E[N_k]`` (``2k`` over the corpus graph), antihubs ``N_k = 0``;
    * Robin Hood index ``Σ |N_k − E[N_k]| / (2 Σ N_k)`` (Feldbauer et al. 2018): 0 for a
      perfectly even graph, towards 1 when one item takes every place.

    Ties follow the neighbours module: equal scores rank by lower index, so exact copies
    at low indices collect the occurrences of their copies. Under dot and euclidean,
    vectors beyond 2^±60 (float32 near 1e20, whose squares overflow) are divided by one
    power of two first, as :func:`vecdiag.diagnose` does: N_k depends on rankings only.

    Sampled (``sample=s``): the s rows' neighbour lists give each item's count ``c``
    among them, hypergeometric given its N_k; factorial moments of c estimate N_k's
    moments without bias, hence its skewness; the antihub share is estimated when at
    least half of the rows are sampled, the hub share when an item at the threshold is
    expected in ≥ 10 sampled lists (else each is reported not estimable, with why).
    Intervals: jackknife over the sampled rows with the finite population correction.
    Details and assumptions: :mod:`vecdiag.diagnostics.sampled_estimators`.

    Examples
    --------
    >>> h = hubness([[0, 1], [1, 0], [0.8, 0.6], [0.6, 0.8]], k=1)
    >>> h.k_occurrence.tolist(), h.hubs.tolist(), h.antihubs.tolist()
    ([0, 0, 2, 2], [2, 3], [0, 1])
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2000, 50))
    >>> est = hubness(X, k=10, sample=1000, random_state=0)
    >>> print(est.lines()[0])                                  # doctest: +ELLIPSIS
    skewness of N_k: ... [..., ...]
    """
    from ..neighbors import Index
    from ..scale.chunks import is_dask_array

    V.check_seed(random_state)   # a wrong seed fails with or without sample=
    if sample is not None or (is_dask_array(X) and queries is None):
        return _sampled(X, k, metric=metric, queries=queries, sample=sample,
                        random_state=random_state, confidence=confidence)
    if isinstance(X, Index):
        index = _own_metric(X, metric)
    elif is_dask_array(X):      # a query log over a Dask corpus: exact, searched per block
        from ..scale.chunks import check_dask_matrix

        index = Index(check_dask_matrix(X, "X"), metric=V.check_metric(metric))
    else:
        V.check_metric(metric)
        X = V.as_matrix(X, "X")  # errors name the user's argument, not Index's "corpus"
        if metric == "cosine":
            from ..linalg import row_norms
            V.zero_rows(row_norms(X), "X")
        Q = None if queries is None else V.as_matrix(queries, "queries")
        # only the rankings count: vectors near 1e20 in float32 (or 1e200) are divided by
        # one power of two, as diagnose does, instead of refused for overflowing scores
        peak = None if metric == "cosine" else max(largest_magnitude(X), largest_magnitude(Q))
        X, scale = ranking_rows(X, metric, peak)
        queries = Q if scale == 1.0 or Q is None else np.asarray(Q, np.float64) / scale
        index = Index(X, metric=metric)
    n = len(index)
    if queries is not None:
        Q = V.as_matrix(queries, "queries")
        V.check_same_dim(Q, "queries", index.vectors, "corpus")
        k = V.check_k(k, n)
        res = index.search(Q, k=k)
        return hubness_from_indices(res.indices, n, k, index.metric, "queries")
    if n < 2:
        raise ValueError(f"X has {n} vector; hubness needs a neighbour list per item: "
                         "pass at least 2 vectors")
    k = V.check_k(k, n, exclude_self=True)
    key = cache_keys.hubness(k)
    if key in index.cache:
        return index.cache[key]
    graph = knn_graph(index, k, show_progress=show_progress)
    res = hubness_from_indices(graph.indices, n, k, index.metric, "corpus")
    index.cache[cache_keys.k_occurrence(k)] = res.k_occurrence
    index.cache[key] = res
    return res


def _own_metric(index, metric):
    """``index``, unless the caller named a metric other than its own (refused)."""
    V.check_index_metric(metric, index.metric, "hubness")
    return index


def _sampled(X, k, *, metric, queries, sample, random_state, confidence):
    """Check the inputs of a sampled call and run :func:`sampled_hubness`."""
    from ..neighbors import Index
    from ..scale.chunks import check_dask_matrix, is_dask_array
    from .sampled_hubness import sampled_hubness
    from .sampling import DEFAULT_SAMPLE, check_confidence, check_sample

    if queries is not None:
        raise ValueError("queries and sample cannot be combined: a query log's hubness is "
                         "exact in O(m·n·d); drop sample=, or drop queries=")
    confidence = check_confidence(confidence)
    if is_dask_array(X):
        V.check_metric(metric)
        X = check_dask_matrix(X, "X")
        n = X.shape[0]
    elif isinstance(X, Index):  # a NumPy Index, or a DaskIndex over a Dask corpus
        metric, n = _own_metric(X, metric).metric, len(X)
    else:
        V.check_metric(metric)
        X = V.as_matrix(X, "X")
        if metric == "cosine":
            from ..linalg import row_norms
            V.zero_rows(row_norms(X), "X")
        X = Index(X, metric=metric)
        n = len(X)
    if n < 2:
        raise ValueError(f"X has {n} vector; hubness needs a neighbour list per item: "
                         "pass at least 2 vectors")
    k = V.check_k(k, n, exclude_self=True)
    s = check_sample(DEFAULT_SAMPLE if sample is None else sample, n)
    return sampled_hubness(X, k, sample=s, metric=metric, random_state=random_state,
                           confidence=confidence)
