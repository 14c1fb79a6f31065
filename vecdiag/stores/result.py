"""StoreAudit: what vd.audit measured, and its text, HTML and notebook display."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..diagnostics.finding import jsonable
from ..results import Result, counted, escape, fmt, html_block, html_table, result

__all__ = ["StoreAudit", "SweepPoint"]


class SweepPoint(NamedTuple):
    """One value of the search setting: mean recall@k, latency per query, interval."""

    recall: float
    latency_ms: float
    ci: tuple
    short: int = 0
    """Queries that got fewer than k results."""


@result
class StoreAudit(Result):
    """Recall of a store's own search against exact search, and what to change.

    Made by :func:`vecdiag.audit`; not built by hand.

    Parameters
    ----------
    store : str
        Which store (any password masked).
    kind : str
        "pgvector", "faiss", "qdrant" or "chroma".
    metric : str
        The metric the store declares, in vecdiag's name.
    k : int
        Results per query.
    n : int
        Vectors in the store.
    n_queries : int
        Queries searched.
    params : dict
        Index type and search settings when the audit ran.
    recall : float
        Mean recall@k of the store's search at its current settings.
    per_query : ndarray, (n_queries,)
        recall@k of each query.
    ci : tuple
        95% interval of the mean recall (:func:`vecdiag.stores.audit.recall_interval`).
    returned : ndarray, (n_queries,)
        Results the store returned per query (fewer than k: the rest missed).
    latency_ms : float
        Mean time of one of the store's searches, in milliseconds.
    convention : dict
        What the raw score means, an example, and its largest difference to exact scores.
    setting : str or None
        The search setting swept (None: no sweep).
    sweep : dict
        Setting value -> ``SweepPoint(recall, latency_ms, ci, short)``.
    suggested : int or None
        Smallest swept value whose recall reaches ``target`` (None: none does).
    target : float
        The recall the sweep looked for.
    norms : dict
        min / median / max / cv of the stored vectors' norms; unit: all of length 1.
    findings : list
        Findings, most severe first.
    timings : dict
        Seconds spent fetching, in exact search and in the store's own searches.

    Examples
    --------
    >>> import faiss
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> X = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
    >>> index = faiss.IndexFlatL2(8)
    >>> index.add(X)
    >>> res = vd.audit(vd.stores.faiss(index), X[:10], k=3, sweep=False)
    >>> res.kind, res.metric, res.n, res.recall
    ('faiss', 'euclidean', 200, 1.0)
    >>> res.to_frame().shape
    (10, 3)
    """

    store: str
    """Which store (any password masked)."""
    kind: str
    """"pgvector", "faiss", "qdrant" or "chroma"."""
    metric: str
    """The metric the store declares, in vecdiag's name."""
    k: int
    n: int
    """Vectors in the store."""
    n_queries: int
    params: dict
    """Index type and search settings when the audit ran."""
    recall: float
    """Mean recall@k of the store's search at its current settings."""
    per_query: np.ndarray
    """(n_queries,) recall@k of each query."""
    ci: tuple
    """95% interval of the mean recall (:func:`vecdiag.stores.audit.recall_interval`)."""
    returned: np.ndarray
    """(n_queries,) results the store returned per query (fewer than k: the rest missed)."""
    latency_ms: float
    """Mean time of one of the store's searches, in milliseconds."""
    convention: dict
    """What the raw score means, an example, and its largest difference to exact scores."""
    setting: str | None
    """The search setting swept (None: no sweep)."""
    sweep: dict
    """setting value -> SweepPoint(recall, latency_ms, ci, short)."""
    suggested: int | None
    """Smallest swept value whose recall reaches ``target`` (None: none does)."""
    target: float
    norms: dict
    """min / median / max / cv of the stored vectors' norms; unit: all of length 1."""
    findings: list
    """Findings (codes: ann_recall, short_results, score_convention, unnormalized_dot,
    norms_dropped, model_metric, index_unused, compressed_vectors, index_incomplete), most
    severe first."""
    timings: dict
    """Seconds spent fetching, in exact search and in the store's own searches; the
    store's share of the audit (fetch excluded)."""

    # ------------------------------------------------------------------ tables
    def to_frame(self):
        """One row per query: its recall@k and how many results the store returned."""
        import pandas as pd

        return pd.DataFrame({"query": np.arange(self.n_queries), "recall": self.per_query,
                             "returned": self.returned})

    def sweep_frame(self):
        """One row per swept value: recall, its interval, latency, short answers."""
        import pandas as pd

        return pd.DataFrame([{self.setting or "value": v, "recall": p.recall,
                              "ci_low": p.ci[0], "ci_high": p.ci[1],
                              "latency_ms": p.latency_ms, "short": p.short}
                             for v, p in sorted(self.sweep.items())])

    def to_dict(self) -> dict:
        """A JSON-ready summary (used by ``vecdiag audit --json``)."""
        return jsonable({
            "store": self.store, "kind": self.kind, "metric": self.metric, "k": self.k,
            "n": self.n, "queries": self.n_queries, "params": self.params,
            "recall": self.recall, "ci": list(self.ci), "latency_ms": self.latency_ms,
            "convention": self.convention, "setting": self.setting,
            "sweep": {str(v): p._asdict() for v, p in sorted(self.sweep.items())},
            "suggested": self.suggested, "target": self.target, "norms": self.norms,
            "findings": [f.to_dict() for f in self.findings], "timings": self.timings})

    def plot(self, ax=None):
        """Recall against latency per swept value (or the one measured point)."""
        from ..plot.stores import draw_store_audit

        return draw_store_audit(self, ax=ax)

    # ------------------------------------------------------------------ display
    def _headline(self) -> str:
        return (f"recall@{self.k} {self.recall:.3f} (95% interval {self.ci[0]:.3f}-"
                f"{self.ci[1]:.3f}) over {counted(self.n_queries, 'query', 'queries')}, "
                f"{self.latency_ms:.2f} ms a "
                f"query")

    def to_text(self) -> str:
        """A plain-text report (the CLI prints it)."""
        lines = [f"{self.store}: {self.n} vectors",
                 f"metric {self.metric}; index {_params_text(self.params)}",
                 self._headline()]
        if self.sweep:
            lines.append(f"sweep of {self.setting} (target {self.target:g}):")
            for v, p in sorted(self.sweep.items()):
                mark = "  <- smallest reaching target" if v == self.suggested else ""
                lines.append(f"  {self.setting}={v:<6} recall {p.recall:.3f} "
                             f"[{p.ci[0]:.3f}, {p.ci[1]:.3f}]  {p.latency_ms:8.2f} ms{mark}")
        lines.append("findings:")
        for f in self.findings:
            fix = f" [fix: {f.fix}]" if f.fix else ""
            lines.append(f"  {f.severity.upper():8s} {f.code}: {f.summary}{fix}")
        t = self.timings
        lines.append(f"time: fetch {t['fetch_s']:.2f} s, exact search {t['exact_s']:.2f} s, "
                     f"store searches {t['store_search_s']:.2f} s "
                     f"({t['store_share']:.0%} of the audit after the fetch)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        parts = [f"<p>{escape(self.store)}: {self.n} vectors, metric {escape(self.metric)}, "
                 f"index {escape(_params_text(self.params))}</p>",
                 f"<p><strong>{escape(self._headline())}</strong></p>"]
        rows = [[f.severity, f.code, f.summary, f.fix or "—"] for f in self.findings]
        parts.append(html_table(rows, ["severity", "code", "finding", "fix"],
                                classes=[f"vd-{f.severity}" for f in self.findings]))
        if self.sweep:
            srows = [[v, p.recall, f"{fmt(p.ci[0], 3)}–{fmt(p.ci[1], 3)}", p.latency_ms, p.short,
                      "smallest reaching target" if v == self.suggested else ""]
                     for v, p in sorted(self.sweep.items())]
            parts.append(f"<p>sweep of {escape(self.setting)} (target {escape(fmt(self.target))})"
                         "</p>")
            parts.append(html_table(srows, [self.setting, "recall", "95% interval",
                                            "latency_ms", "short", ""],
                                    numeric={self.setting, "recall", "latency_ms", "short"}))
        parts.append("<p class='vd-muted'>recall against exact search over the store's own "
                     "vectors; ties with the k-th exact score count as found; "
                     "per query: .to_frame(); picture: .plot()</p>")
        return html_block(f"StoreAudit ({self.kind}, k={self.k})", *parts)


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "dim") or "none"
