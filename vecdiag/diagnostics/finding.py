"""Finding and Diagnosis: the records vd.diagnose returns, and their display."""

from __future__ import annotations

import numpy as np

from ..results import Result, escape, fmt, html_block, html_table, result, shorten

__all__ = ["Finding", "Diagnosis", "SEVERITIES"]

SEVERITIES = ("critical", "warning", "ok")

# What ``evidence["value"]`` measures, per code (a finding may say otherwise in
# ``evidence["measures"]``, e.g. near-duplicates estimated from a sample)
MEASURES = {
    "anisotropy": "mean cosine of random pairs",
    "hubness": "skewness of N_k (how many neighbour lists each item is in)",
    "rogue_dimensions": "excess of the top dimensions' share of the mean cosine over "
                        "chance, (share − chance) / (1 − chance)",
    "norm_spread": "coefficient of variation of the vector lengths (std / mean)",
    "metric_mismatch": "coefficient of variation of the vector lengths (std / mean)",
    "near_duplicates": "share of items that are redundant copies, Σ (group size − 1) / n",
    "low_intrinsic_dimension": "intrinsic dimension, TwoNN estimate",
    "query_corpus_shift": "share of queries farther from every document than 95% of "
                          "documents are from their nearest neighbour",
    "non_finite": "rows holding NaN or infinity",
    "zero_vectors": "all-zero rows",
    "small_corpus": "number of vectors",
}
_ROGUE_ENERGY = ("excess of the top dimensions' share of the variance over an even share, "
                 "(share − even) / (1 − even)")


@result
class Finding(Result):
    """One thing vd.diagnose checked: what it found, how bad, the numbers, what to try.

    Attributes
    ----------
    code : str
        What was checked, from a fixed vocabulary (see API.md): "anisotropy",
        "hubness", "rogue_dimensions", "norm_spread", "near_duplicates", ...
    severity : str
        "ok", "warning" or "critical".
    summary : str
        One sentence a person can act on.
    evidence : dict
        The numbers behind it, including the thresholds that set the severity;
        ``evidence["value"]`` is the headline figure (:attr:`key_number`).
    fix : str or None
        A fix code (``vd.fixes`` / API.md), or None when no automatic fix applies.

    Examples
    --------
    >>> f = Finding(code="norm_spread", severity="warning",
    ...             summary="Vector lengths vary a lot.",
    ...             evidence={"value": 0.8, "threshold": 0.5}, fix="normalize")
    >>> f.key_number, f.to_dict()["fix"]
    (0.8, 'normalize')
    """

    code: str
    """What was checked, from a fixed vocabulary (see API.md): "anisotropy", "hubness",
    "rogue_dimensions", "norm_spread", "near_duplicates", "low_intrinsic_dimension",
    "query_corpus_shift", "non_finite", "zero_vectors", "metric_mismatch",
    "small_corpus"."""
    severity: str
    """"ok", "warning" or "critical"."""
    summary: str
    """One sentence a person can act on."""
    evidence: dict
    """The numbers behind it, including the thresholds that set the severity."""
    fix: str | None = None
    """A fix code (``vd.fixes`` / API.md) or None when no automatic fix applies."""

    @property
    def judged(self) -> bool:
        """False when the check said its figure is not judged (``evidence["judged"]`` is
        False: too few rows or distinct vectors, a sample that does not resolve it, an
        estimate out of its range; the summary says "not judged" and why); that figure
        is then no verdict, and no display shows it as the finding's value.

        Examples
        --------
        >>> Finding("hubness", "ok", "Not judged: only 3 distinct vector(s).",
        ...         {"value": 4.1, "judged": False}).judged
        False
        """
        return self.evidence.get("judged") is not False

    @property
    def key_number(self):
        """The headline figure (``evidence["value"]``), or None; None too when the
        finding was not judged (:attr:`judged`): a figure computed on too little data is
        no verdict (it stays in ``evidence``).

        Examples
        --------
        >>> Finding("hubness", "ok", "Not judged: only 3 distinct vector(s).",
        ...         {"value": 4.1, "judged": False}).key_number is None
        True
        """
        return self.evidence.get("value") if self.judged else None

    @property
    def measures(self) -> str | None:
        """What :attr:`key_number` measures, in words (``evidence["measures"]`` when the
        finding says, else :data:`MEASURES` of its code); None without a headline figure
        (kept when the finding was not judged: it says what was not judged).

        Examples
        --------
        >>> Finding("rogue_dimensions", "ok", "No dimension dominates.",
        ...         {"value": -0.0193}).measures
        "excess of the top dimensions' share of the mean cosine over chance, (share − chance) / (1 − chance)"
        """
        if self.evidence.get("value") is None:
            return None
        if "measures" in self.evidence:
            return str(self.evidence["measures"])
        if self.code == "rogue_dimensions" and self.evidence.get("judged_on") == "energy_excess":
            return _ROGUE_ENERGY
        return MEASURES.get(self.code)

    def to_dict(self) -> dict:
        """A JSON-ready dict (NumPy numbers and arrays become Python numbers and lists)."""
        return {"code": self.code, "severity": self.severity, "summary": self.summary,
                "evidence": jsonable(self.evidence), "fix": self.fix}

    def _frame_row(self) -> dict:
        """The finding's row of :meth:`to_frame` and :meth:`Diagnosis.to_frame`: code,
        severity, summary, key value (NaN when there is none, or it is not judged), what
        the value measures (:attr:`measures`), fix."""
        value = self.key_number
        return {"code": self.code, "severity": self.severity, "summary": self.summary,
                "value": float("nan") if value is None else value,
                "measures": self.measures, "fix": self.fix}

    def to_frame(self):
        """One row (:meth:`_frame_row`), as in :meth:`Diagnosis.to_frame`."""
        import pandas as pd

        return pd.DataFrame([self._frame_row()])

    def _repr_html_(self) -> str:
        rows = [[k, _show(v) if k != "value" or self.judged else "— (not judged)"]
                for k, v in self.evidence.items()]
        return html_block(f"Finding: {self.code} ({self.severity})",
                          f"<p class='vd-{escape(self.severity)}'>{escape(self.summary)}</p>",
                          html_table(rows, ["evidence", "value"]),
                          f"<p>fix: {escape(self.fix or '—')}</p>")


def jsonable(value):
    """``value`` with NumPy scalars/arrays turned into Python numbers/lists (for JSON).

    Examples
    --------
    >>> jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": (np.int64(3), None)})
    {'a': 0.5, 'b': [0, 1], 'c': [3, None]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _show(value) -> str:
    """Compact text for an evidence value (lists and dicts shortened)."""
    if isinstance(value, dict):
        return shorten(", ".join(f"{k}: {fmt(v)}" for k, v in value.items()), 120)
    if isinstance(value, (list, tuple, np.ndarray)):
        return shorten(", ".join(fmt(v) for v in list(value)[:8])
                       + (" …" if len(value) > 8 else ""), 120)
    return fmt(value)


@result
class Diagnosis(Result):
    """The health check of a corpus: findings, most severe first, and every figure.

    Returned by :func:`vecdiag.diagnose`; ``diagnosis[code]`` is the finding with that
    code.

    Attributes
    ----------
    findings : list of Finding
        Most severe first (critical, warning, ok).
    stats : dict
        Every figure computed (flat keys; None where a statistic is undefined), plus
        ``stats["seconds"]`` per stage.
    metric : str
        Metric the corpus was diagnosed under.
    k : int
        Neighbours per item in the kNN graph.
    k_occurrence, norms, contribution, explained_variance_ratio : ndarray or None
        N_k per item, vector lengths, per-dimension contribution to the mean cosine and
        the PCA spectrum, kept for the plot.

    Examples
    --------
    >>> f = Finding(code="norm_spread", severity="warning",
    ...             summary="Vector lengths vary a lot.", evidence={"value": 0.8})
    >>> d = Diagnosis(findings=[f], stats={}, metric="cosine", k=10)
    >>> d.worst, d.ok, d["norm_spread"].key_number
    ('warning', False, 0.8)
    """

    findings: list
    """list[Finding], most severe first (critical, warning, ok)."""
    stats: dict
    """Every figure computed (flat keys; None where a statistic is undefined for this
    input, e.g. IsoScore for 1-D vectors), plus ``stats["seconds"]`` per stage."""
    metric: str
    """Metric the corpus was diagnosed under."""
    k: int
    """Neighbours per item in the kNN graph (may be less than asked for tiny corpora)."""
    k_occurrence: np.ndarray | None = None
    """N_k of the items in the kNN graph (for the plot), or None."""
    norms: np.ndarray | None = None
    """Vector lengths (for the plot)."""
    contribution: np.ndarray | None = None
    """Per-dimension contribution to the mean cosine (for the plot)."""
    explained_variance_ratio: np.ndarray | None = None
    """PCA spectrum, largest first (for the plot)."""

    @property
    def ok(self) -> bool:
        """True when no finding is a warning or critical."""
        return all(f.severity == "ok" for f in self.findings)

    @property
    def worst(self) -> str:
        """The most severe level found: "critical", "warning" or "ok"."""
        return self.findings[0].severity if self.findings else "ok"

    def __getitem__(self, code: str) -> Finding:
        """The finding with this code (KeyError if it was not produced)."""
        for f in self.findings:
            if f.code == code:
                return f
        raise KeyError(f"no finding with code {code!r}; codes here: "
                       f"{', '.join(f.code for f in self.findings)}")

    def to_dict(self) -> dict:
        """JSON-ready: ``{"worst", "metric", "k", "findings": [...], "stats": {...}}``."""
        return {"worst": self.worst, "metric": self.metric, "k": self.k,
                "findings": [f.to_dict() for f in self.findings],
                "stats": jsonable(self.stats)}

    def to_frame(self):
        """One row per finding: code, severity, summary, key value (NaN when there is
        none or the finding was not judged, :attr:`Finding.judged`), what the value
        measures (:attr:`Finding.measures`), fix."""
        import pandas as pd

        return pd.DataFrame([f._frame_row() for f in self.findings],
                            columns=["code", "severity", "summary", "value", "measures",
                                     "fix"])

    def _repr_html_(self) -> str:
        rows = [[f.severity, f.code, f.summary, f.key_number, f.measures or "—", f.fix or "—"]
                for f in self.findings]         # (key_number None, shown "—": not judged)
        classes = [f"vd-{f.severity}" for f in self.findings]
        counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        n = self.stats.get("n_vectors")
        head = (f"<p>{escape(fmt(n))} vectors × {escape(fmt(self.stats.get('dim')))} dims, "
                f"metric {escape(self.metric)}, k={self.k}: "
                f"<span class='vd-critical'>{counts['critical']} critical</span>, "
                f"<span class='vd-warning'>{counts['warning']} warning</span>, "
                f"<span class='vd-ok'>{counts['ok']} ok</span></p>")
        return html_block("Diagnosis", head,
                          html_table(rows, ["severity", "code", "summary", "value",
                                            "measures", "fix"],
                                     numeric={"value"}, classes=classes))

    def __repr__(self) -> str:
        lines = [f"Diagnosis({self.stats.get('n_vectors')} vectors, metric={self.metric!r}, "
                 f"k={self.k}, worst={self.worst!r})"]
        for f in self.findings:
            lines.append(f"  [{f.severity:>8}] {f.code}: {f.summary}")
        return "\n".join(lines)

    def plot(self, axes=None):
        """Four panels: N_k histogram (log counts), norms, dimension contributions, PCA
        spectrum. Returns the array of Axes."""
        from ..plot.diagnostics import draw_diagnosis

        return draw_diagnosis(self, axes=axes)
