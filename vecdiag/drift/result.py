"""Drift results: one test (:class:`DriftResult`), a monitored sequence (:class:`DriftSeries`)."""

from __future__ import annotations

import numpy as np

from ..results import Result, counted, escape, fmt, html_block, html_table, result, text_safe_frame

__all__ = ["DriftResult", "DriftSeries"]

STATISTIC_NAMES = {"mmd": "MMD²", "classifier": "ROC AUC", "mean_shift": "‖mean difference‖"}


@result
class DriftResult(Result):
    """The outcome of one two-sample drift test (reference vs current).

    Returned by :func:`vecdiag.drift`.

    Attributes
    ----------
    method : str
        ``"mmd"``, ``"classifier"`` or ``"mean_shift"``.
    statistic : float
        Unbiased MMD², the ROC AUC of every fold's held-out scores, or the euclidean
        distance between the means.
    p_value : float
        Permutation p-value ``(1 + #{null >= statistic}) / (1 + n_permutations)``.
    drifted : bool
        ``p_value <= alpha``.
    threshold : float
        Critical value of the statistic at level ``alpha`` from the permutation null.
    details : dict
        Method specifics: sample sizes used, bandwidth, classifier model and folds, moved
        dimensions...
    alpha : float
        Significance level of the test.
    n_reference, n_current : int
        Rows in the reference and current sets as given (before any subsampling).
    reference_coords, current_coords : ndarray or None
        (≤ plot_points, 2) rows of each set on the first two principal axes of both.
    mean_coords : ndarray or None
        (2, 2) the reference mean and the current mean on the same axes.
    explained_variance_ratio : ndarray or None
        Share of the pooled variance on each of the two plotted axes.
    label : str or None
        Name of the batch (set by :func:`vecdiag.drift_over_time`).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> reference = rng.normal(size=(60, 4))
    >>> current = rng.normal(size=(60, 4)) + 1.0
    >>> r = vd.drift(reference, current, n_permutations=200)
    >>> r.method, r.drifted, round(r.statistic, 4), round(r.p_value, 4)
    ('mmd', True, 0.2132, 0.005)
    """

    method: str
    """"mmd", "classifier" or "mean_shift"."""
    statistic: float
    """Unbiased MMD², the ROC AUC of every fold's held-out scores, or the euclidean
        distance between the means."""
    p_value: float
    """Permutation p-value ``(1 + #{null >= statistic}) / (1 + n_permutations)``."""
    drifted: bool
    """``p_value <= alpha`` (equivalently ``statistic > threshold``)."""
    threshold: float
    """Critical value of the statistic at level ``alpha`` from the permutation null."""
    details: dict
    """Method specifics: sample sizes used, bandwidth, classifier model and folds, moved
        dimensions..."""
    alpha: float = 0.05
    """Significance level of the test (false-alarm rate under no drift)."""
    n_reference: int = 0
    """Rows in the reference set as given (before any subsampling)."""
    n_current: int = 0
    """Rows in the current set as given (before any subsampling)."""
    reference_coords: np.ndarray | None = None
    """(≤ plot_points, 2) reference rows on the first two principal axes of both sets."""
    current_coords: np.ndarray | None = None
    """(≤ plot_points, 2) current rows on the same axes."""
    mean_coords: np.ndarray | None = None
    """(2, 2) the reference mean and the current mean on the same axes."""
    explained_variance_ratio: np.ndarray | None = None
    """Share of the pooled variance on each of the two plotted axes."""
    label: str | None = None
    """Name of the batch (set by :func:`drift_over_time`)."""

    @property
    def statistic_name(self) -> str:
        """Human name of :attr:`statistic` for this method."""
        return STATISTIC_NAMES.get(self.method, "statistic")

    def summary(self) -> str:
        """One sentence: the verdict and the numbers behind it."""
        verdict = "drift detected" if self.drifted else "no drift detected"
        where = f"{self.label}: " if self.label is not None else ""
        return (f"{where}{verdict} ({self.method}: {self.statistic_name} = "
                f"{fmt(self.statistic)}, threshold {fmt(self.threshold)}, p = {fmt(self.p_value)}, alpha = {fmt(self.alpha)})")

    def to_dict(self) -> dict:
        """Plain Python values: the figures and the scalar details. ``json.dumps`` takes
        them, but an infinite figure stays ``float('inf')`` (written ``Infinity``, which
        strict JSON parsers refuse); ``vecdiag drift --json`` writes it as null."""
        out = {"method": self.method, "label": self.label, "statistic": float(self.statistic),
               "statistic_name": self.statistic_name, "p_value": float(self.p_value),
               "threshold": float(self.threshold), "alpha": float(self.alpha),
               "drifted": bool(self.drifted), "n_reference": int(self.n_reference),
               "n_current": int(self.n_current)}
        details = {}
        for key, value in self.details.items():
            if isinstance(value, np.ndarray):
                continue  # large per-dimension arrays stay in .details
            if isinstance(value, (np.floating, np.integer, np.bool_)):
                value = value.item()
            details[key] = value
        out["details"] = details
        return out

    def to_frame(self):
        """One row: method, statistic, threshold, p-value, verdict, sizes, scalar details
        (the label kept as given, one holding a lone surrogate too)."""
        row = self.to_dict()
        details = row.pop("details")
        row.update({k: v for k, v in details.items() if np.isscalar(v) or v is None})
        return text_safe_frame({k: [v] for k, v in row.items()})

    def _repr_html_(self) -> str:
        cls = "vd-critical" if self.drifted else "vd-ok"
        head = (f'<p class="{cls}">{escape(self.summary())}</p>')
        rows = [[self.statistic_name, self.statistic], ["threshold", self.threshold],
                ["p-value", self.p_value], ["alpha", self.alpha],
                ["reference rows", self.n_reference], ["current rows", self.n_current]]
        for key, value in self.details.items():
            if np.isscalar(value) and key not in ("top_dims",):
                rows.append([key, value])
        parts = [head, html_table(rows, ["figure", "value"], numeric={"value"})]
        dims = self.details.get("top_dims")
        if dims is not None and len(dims):
            shift = self.details["dimension_shift"]
            parts.append("<p>Dimensions that moved most (standardised mean shift):</p>")
            parts.append(html_table([[int(j), float(shift[j])] for j in dims],
                                    ["dimension", "shift (sd units)"],
                                    numeric={"shift (sd units)"}))
        return html_block(f"DriftResult ({self.method})", *parts)

    def plot(self, ax=None):
        """Both sets on their first two principal axes, with an arrow from mean to mean."""
        from ..plot.drift import draw_drift

        return draw_drift(self, ax=ax)


class DriftSeries(list):
    """A list of :class:`DriftResult`, one per batch, with a table and a plot over time.

    Behaves as a plain ``list`` (index it, iterate it); adds :meth:`to_frame`,
    :meth:`plot` and a notebook display. Returned by :func:`vecdiag.drift_over_time`.

    Parameters
    ----------
    iterable : iterable of DriftResult, optional
        The results, one per batch, in batch order (as for ``list``).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> reference = rng.normal(size=(60, 4))
    >>> batches = [rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + 1.0]
    >>> series = vd.drift_over_time(reference, batches, n_permutations=200)
    >>> series
    DriftSeries(2 batches, method='mmd', drifted=1)
    >>> series.drifted
    [False, True]
    """

    @property
    def drifted(self) -> list[bool]:
        """Per batch: was drift detected?"""
        return [r.drifted for r in self]

    @property
    def p_values(self) -> np.ndarray:
        return np.array([r.p_value for r in self])

    def to_frame(self):
        """One row per batch (see :meth:`DriftResult.to_frame`), in batch order."""
        import pandas as pd

        if not self:
            return pd.DataFrame()
        return pd.concat([r.to_frame() for r in self], ignore_index=True)

    def __repr__(self) -> str:
        n_drift = sum(self.drifted)
        method = self[0].method if self else "-"
        return (f"DriftSeries({counted(len(self), 'batch', 'batches')}, method={method!r}, "
                f"drifted={n_drift})")

    def _repr_html_(self) -> str:
        rows = [[r.label, r.statistic, r.threshold, r.p_value, r.drifted] for r in self]
        classes = ["vd-critical" if r.drifted else "" for r in self]
        return html_block(repr(self), html_table(
            rows, ["batch", "statistic", "threshold", "p-value", "drifted"],
            numeric={"statistic", "threshold", "p-value"}, classes=classes))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def plot(self, ax=None):
        """Statistic per batch against its threshold; drifted batches in red."""
        from ..plot.drift import draw_drift_series

        return draw_drift_series(self, ax=ax)
