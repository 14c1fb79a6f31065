"""Query by query: which queries a new run wins, ties and loses against a baseline.

A mean hides how a change moves individual queries: +0.02 nDCG can be ten queries much
better and eight much worse. :meth:`Comparison.wins_losses` counts them and
:meth:`Comparison.per_query` lists them (largest loss first), the table ranx and
trec_eval users read next to the p-value; :meth:`Comparison.plot_per_query` draws the
sorted differences.
"""

from __future__ import annotations

import numpy as np

from ..results import text_safe_frame

__all__ = ["per_query_frame", "wins_losses", "outcomes", "metric_column"]


def outcomes(differences, tol: float = 1e-9) -> np.ndarray:
    """``"win"`` / ``"tie"`` / ``"loss"`` for B per difference ``B − A``.

    A difference within ``tol`` of zero is a tie (metric values are sums of a few
    fractions, so equal rankings give differences of exactly 0 or ~1e-16).

    Examples
    --------
    >>> outcomes([0.5, 0.0, -1e-17, -0.25]).tolist()
    ['win', 'tie', 'tie', 'loss']
    """
    d = np.asarray(differences, dtype=np.float64)
    return np.where(d > tol, "win", np.where(d < -tol, "loss", "tie"))


def metric_column(comparison, metric) -> int:
    """Column of ``metric`` in a Comparison (None: the first); a clear error otherwise."""
    metric = comparison.metrics[0] if metric is None else metric
    if metric not in comparison.metrics:
        raise ValueError(f"metric {metric!r} was not compared; choose one of "
                         f"{list(comparison.metrics)}")
    return comparison.metrics.index(metric)


def per_query_frame(comparison, metric=None, *, tol: float = 1e-9):
    """DataFrame indexed by query: A's value, B's value, ``delta`` (B − A), ``outcome``;
    sorted by delta, largest loss first (ties by query id)."""
    j = metric_column(comparison, metric)
    name = comparison.metrics[j]
    delta = comparison.differences[:, j]
    missing = [None] * len(delta)
    # (text_safe_frame: a query id or run name with a lone surrogate failed pandas' str dtype)
    frame = text_safe_frame({
        f"A: {comparison.name_a}": missing if comparison.values_a is None
        else comparison.values_a[:, j],
        f"B: {comparison.name_b}": missing if comparison.values_b is None
        else comparison.values_b[:, j],
        "delta": delta, "outcome": outcomes(delta, tol)},
        index=comparison.query_ids, index_name="query")
    frame = frame.sort_values(["delta"], kind="stable")
    frame.attrs["metric"] = name
    return frame


def wins_losses(comparison, *, tol: float = 1e-9):
    """DataFrame indexed by metric: ``wins``, ``ties``, ``losses`` of B against A, and
    the largest single gain and loss."""
    import pandas as pd

    rows = []
    for j, m in enumerate(comparison.metrics):
        d = comparison.differences[:, j]
        out = outcomes(d, tol)
        rows.append({"metric": m, "wins": int((out == "win").sum()),
                     "ties": int((out == "tie").sum()), "losses": int((out == "loss").sum()),
                     "largest gain": float(d.max(initial=0.0)),
                     "largest loss": float(d.min(initial=0.0))})
    return pd.DataFrame(rows).set_index("metric")
