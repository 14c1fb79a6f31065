"""Hubness estimated from sampled rows, with intervals: ``vd.hubness(X, k, sample=s)``.

``s`` rows drawn without replacement are searched against all ``n`` (``O(s·n·d)``, never
the ``O(n²·d)`` graph); the estimators and their assumptions are in
:mod:`vecdiag.diagnostics.sampled_estimators`.
"""

from __future__ import annotations

import numpy as np

from ..results import Result, fmt, html_block, html_table, result
from . import sampled_estimators as E
from .hub_rules import clearly_hubs
from .sampling import CONFIDENCE, normal_quantile, sampled_lists, sampled_phrase

__all__ = ["SampledHubness", "sampled_hubness", "clearly_hubs"]


def _interval(value, se, z):
    if value is None or se is None:
        return None
    return (float(value - z * se), float(value + z * se))


def _clip(ci, lo=0.0, hi=1.0):
    return None if ci is None else (max(lo, ci[0]), min(hi, ci[1]))


@result
class SampledHubness(Result):
    """Hubness of a corpus estimated from sampled rows, each figure with its interval.

    Returned by :func:`vecdiag.hubness` with ``sample=`` (and on a Dask corpus).

    Attributes
    ----------
    skewness : float
        Estimated skewness of N_k over all n items (as :attr:`Hubness.skewness`).
    skewness_ci : tuple (low, high) or None
        Its interval at ``confidence``; None when not estimable (see ``not_estimable``).
    hub_share, antihub_share : float or None
        Estimated share of the n items with N_k ≥ 2k (hubs), with N_k = 0 (antihubs);
        None when not estimable at this sampling fraction.
    hub_share_ci, antihub_share_ci : tuple or None
        Their intervals at ``confidence``.
    antihub_at_most : float
        Share of items in none of the sampled lists: every antihub is one of them, so
        the antihub share is at most this, whatever the sample.
    not_estimable : dict
        Figure name → why it has no interval at this sample (empty when all have one).
    top_items, top_counts : ndarray
        The items most often seen in the sampled lists (up to 10) and their counts c;
        ``c·n/s`` estimates their N_k.
    likely_hubs : ndarray
        Every item that is clearly a hub (:func:`clearly_hubs`: its N_k interval at
        level 1 − 0.05/n at or above 2k), most seen first (with every row sampled: the
        hubs exactly). Fewer than the hubs when sampled; each one a hub.
    sample, n, k : int
        Sampled rows, corpus rows, neighbours per list.
    metric : str
        Metric of the search.
    confidence : float
        Level of every interval (0.95).
    rows : ndarray
        The sampled row positions (ascending).

    Notes
    -----
    Assumptions: the s rows are a simple random sample (without replacement) of the n
    rows, and their lists are the exact kNN lists (self excluded, the graph's tie rule).
    Then an item's count c among the sampled lists is hypergeometric given its N_k, and

    * skewness: ``Σ c^(r)·n^(r)/s^(r)`` (falling factorials, r = 1..3) is unbiased for
      ``Σ N_k^(r)``; the skewness is the ratio of the resulting central moments
      (consistent; its small bias is far inside the interval). Interval: delete-one
      jackknife, less a quarter of the pairwise interactions, times ``1 − s/n``;
    * antihub share: ``(1/n)·Σ (1 − n/s)^c`` (unbiased under binomial thinning), only when
      ``s ≥ n/2``; jackknife interval (conservative);
    * hub share: read from the nonparametric maximum-likelihood estimate of N_k's
      distribution (EM, hypergeometric kernel, items treated as independent), when
      ``2k·s/n ≥ 10``; delete-a-group jackknife interval (Student t, 9 degrees of freedom).

    Intervals are normal (estimate ± z·se) clipped to [0, 1] for shares. Their coverage of
    the exact value is measured by ``benchmarks/bench_sampling.py``.

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> X = np.random.default_rng(0).standard_normal((400, 30))
    >>> h = vd.hubness(X, k=5, sample=400)       # every row sampled: the exact figures
    >>> round(h.skewness, 4) == round(vd.hubness(X, k=5).skewness, 4), h.skewness_ci[0] == h.skewness
    (True, True)
    """

    skewness: float
    """Estimated skewness of N_k over all n items."""
    skewness_ci: tuple | None
    """Interval of the skewness at ``confidence`` (None: not estimable)."""
    hub_share: float | None
    """Estimated share of items with N_k ≥ 2k (None: not estimable)."""
    hub_share_ci: tuple | None
    """Interval of the hub share."""
    antihub_share: float | None
    """Estimated share of items with N_k = 0 (None: not estimable)."""
    antihub_share_ci: tuple | None
    """Interval of the antihub share."""
    antihub_at_most: float
    """Share of items in none of the sampled lists (a sure upper bound on antihubs)."""
    not_estimable: dict
    """Figure → why it has no interval at this sample."""
    top_items: np.ndarray
    """Items most often in the sampled lists (up to 10), most first."""
    top_counts: np.ndarray
    """Their counts among the sampled lists."""
    likely_hubs: np.ndarray
    """Items clearly hubs (:func:`clearly_hubs`: N_k interval at level 1 − 0.05/n at or
    above 2k), most seen first; with every row sampled the hubs exactly."""
    sample: int
    """Sampled rows s."""
    n: int
    """Corpus rows n."""
    k: int
    """Neighbours per list."""
    metric: str
    """Metric of the search."""
    confidence: float
    """Level of every interval."""
    rows: np.ndarray
    """The sampled row positions."""

    @property
    def expected(self) -> float:
        """E[N_k] = k (every list holds k items)."""
        return float(self.k)

    @property
    def exact(self) -> bool:
        """True when every row was sampled (the figures are then exact)."""
        return self.sample >= self.n

    def lines(self) -> list[str]:
        """One line per figure: value, interval, or why it is not estimable."""
        def pct(v):
            return f"{100 * v:.2f}%"

        out = []
        for name, label, value, ci, show in (
                ("skewness", "skewness of N_k", self.skewness, self.skewness_ci, fmt),
                ("hub_share", f"hubs (N_k ≥ {2 * self.k})", self.hub_share,
                 self.hub_share_ci, pct),
                ("antihub_share", "antihubs (N_k = 0)", self.antihub_share,
                 self.antihub_share_ci, pct)):
            if ci is not None:
                out.append(f"{label}: {show(value)} [{show(ci[0])}, {show(ci[1])}]")
            else:
                why = self.not_estimable.get(name, "")
                extra = (f"; at most {pct(self.antihub_at_most)} (items in no sampled list)"
                         if name == "antihub_share" else "")
                out.append(f"{label}: not estimable ({why}){extra}")
        return out

    @property
    def summary(self) -> str:
        """Plain-text summary naming the sample and the interval level."""
        return (f"Hubness (k={self.k}, {self.metric}) of {self.n:,} items, "
                f"{sampled_phrase(self.sample, self.confidence)}:\n  "
                + "\n  ".join(self.lines()))

    def __str__(self) -> str:
        return self.summary

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.summary, "text/html": self._repr_html_()}

    def to_frame(self):
        """One row per figure: estimate, low, high, and the reason when not estimable."""
        import pandas as pd

        rows = []
        for name in ("skewness", "hub_share", "antihub_share"):
            ci = getattr(self, f"{name}_ci")
            rows.append({"statistic": name, "estimate": getattr(self, name),
                         "low": None if ci is None else ci[0],
                         "high": None if ci is None else ci[1],
                         "not_estimable": self.not_estimable.get(name)})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        rows = [[line.split(": ", 1)[0], line.split(": ", 1)[1]] for line in self.lines()]
        top = [[int(i), int(c), fmt(c * self.n / self.sample)]
               for i, c in zip(self.top_items, self.top_counts)]
        parts = [f"<p>{sampled_phrase(self.sample, self.confidence)} (of {self.n:,})</p>",
                 html_table(rows, ["statistic", "estimate [interval]"])]
        if top:
            parts.append(html_table(top, ["item", "in sampled lists", "N_k ≈ c·n/s"],
                                    numeric={"item", "in sampled lists", "N_k ≈ c·n/s"}))
        return html_block(f"Hubness (k={self.k}, {self.metric}), sampled", *parts)


def hubness_from_lists(lists: np.ndarray, n: int, k: int, metric: str, rows: np.ndarray,
                       rng: np.random.Generator,
                       confidence: float = CONFIDENCE) -> SampledHubness:
    """The sampled estimates from the neighbour lists of the sampled ``rows`` (checked)."""
    z = normal_quantile(confidence)
    s = lists.shape[0]
    why = {}
    skew, skew_se, reason = E.skewness_estimate(lists, n)
    if reason:
        why["skewness"] = reason
    hub, hub_se, reason = E.hub_estimate(lists, n, rng)
    if reason:
        why["hub_share"] = reason
    anti, anti_se, at_most, reason = E.antihub_estimate(lists, n)
    if reason:
        why["antihub_share"] = reason
    items, counts = np.unique(lists, return_counts=True)
    ranked = np.lexsort((items, -counts))
    order = ranked[:10]
    likely = ranked[clearly_hubs(counts[ranked], s, n, k)]
    return SampledHubness(
        skewness=skew, skewness_ci=_interval(skew, skew_se, z),
        hub_share=hub, hub_share_ci=_clip(_interval(hub, hub_se, E.hub_quantile(confidence))),
        antihub_share=anti, antihub_share_ci=_clip(_interval(anti, anti_se, z)),
        antihub_at_most=float(at_most), not_estimable=why, top_items=items[order],
        top_counts=counts[order], likely_hubs=items[likely], sample=s, n=n, k=k, metric=metric,
        confidence=confidence, rows=rows)


def sampled_hubness(X, k: int, *, sample: int, metric: str, random_state,
                    confidence: float = CONFIDENCE) -> SampledHubness:
    """Sampled hubness of ``X``: a :class:`vecdiag.Index` or a checked Dask array.

    ``k`` checked (``k ≤ n − 1``), ``sample`` checked (``2 ≤ sample ≤ n``).
    """
    from .. import _validate as V
    from .sampling import draw_rows

    rng = V.check_random_state(random_state)
    n = X.shape[0] if not hasattr(X, "vectors") else len(X)
    rows = draw_rows(n, sample, rng)
    lists, _ = sampled_lists(X, rows, k, metric)
    return hubness_from_lists(lists, n, k, metric, rows, rng, confidence)
