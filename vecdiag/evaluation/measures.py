"""The retrieval metrics, one function each, and the name -> function table.

Each metric is a function of one query's :class:`Judged` ranking and a cut-off ``k``
(None: the whole run). :data:`METRICS` maps every canonical name to its function and
to whether it needs a cut-off; :func:`parse_metric` (and the error messages listing the
known names) reads that table, so adding a metric means one function and one entry.
Conventions are ``trec_eval``'s (see :mod:`vecdiag.evaluation.metrics`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Judged", "Metric", "METRICS", "ALIASES", "parse_metric", "ndcg", "recall",
           "precision", "mrr", "hit", "average_precision", "r_precision"]


@dataclass(frozen=True)
class Judged:
    """One query's ranked run seen through its judgments (``num_rel`` may be 0: trec_eval
    then scores 0 on every measure that divides by it)."""

    rel: np.ndarray
    """0/1 relevance of each ranked document, best first."""
    gains: np.ndarray
    """nDCG gain of each ranked document (its grade, 0 when <= 0)."""
    ideal: np.ndarray
    """Every judged positive grade, sorted descending (the ideal ranking's gains)."""
    num_rel: int
    """R: relevant documents in the judgments, retrieved or not."""

    def cut(self, k: int | None) -> int:
        """How many ranked documents a cut-off ``k`` keeps."""
        n = self.rel.shape[0]
        return n if k is None else min(k, n)


def ndcg(q: Judged, k: int | None) -> float:
    """``DCG@k / IDCG@k`` with linear gains and ``1 / log2(rank + 1)`` discounts."""
    n = q.rel.shape[0]
    disc = 1.0 / np.log2(np.arange(2, max(n, q.ideal.shape[0]) + 2))
    cut = q.cut(k)
    dcg = float(np.dot(q.gains[:cut], disc[:cut]))
    top = q.ideal if k is None else q.ideal[:k]   # full nDCG: every judged gain
    idcg = float(np.dot(top, disc[:top.shape[0]]))
    return dcg / idcg if idcg > 0 else 0.0


def recall(q: Judged, k: int | None) -> float:
    """Relevant documents in the first k, over R."""
    return float(q.rel[:q.cut(k)].sum()) / q.num_rel if q.num_rel else 0.0


def precision(q: Judged, k: int | None) -> float:
    """Relevant documents in the first k, over k (not over the number retrieved)."""
    return float(q.rel[:q.cut(k)].sum()) / k


def mrr(q: Judged, k: int | None) -> float:
    """1 / rank of the first relevant document within k, else 0."""
    hits = np.flatnonzero(q.rel[:q.cut(k)])
    return 1.0 / (hits[0] + 1) if hits.size else 0.0


def hit(q: Judged, k: int | None) -> float:
    """1 when any of the first k is relevant."""
    return 1.0 if q.rel[:q.cut(k)].any() else 0.0


def average_precision(q: Judged, k: int | None) -> float:
    """Sum of precision@i at each relevant rank i (up to k), over R."""
    hits = np.flatnonzero(q.rel[:q.cut(k)])
    if not q.num_rel:
        return 0.0
    return float(np.sum(np.arange(1, hits.size + 1) / (hits + 1))) / q.num_rel


def r_precision(q: Judged, k: int | None) -> float:
    """Precision at rank R."""
    return float(q.rel[:q.num_rel].sum()) / q.num_rel if q.num_rel else 0.0


@dataclass(frozen=True)
class Metric:
    """A metric of the table: its function and its cut-off rule."""

    function: Callable[[Judged, int | None], float]
    cutoff: bool | None
    """True: needs ``@k``; False: takes none; None: either."""


METRICS = {
    "ndcg": Metric(ndcg, None),
    "recall": Metric(recall, True),
    "precision": Metric(precision, True),
    "mrr": Metric(mrr, None),
    "map": Metric(average_precision, None),
    "hit": Metric(hit, True),
    "r-precision": Metric(r_precision, False),
}
ALIASES = {"p": "precision", "ndcg_cut": "ndcg", "recip_rank": "mrr", "rr": "mrr",
           "success": "hit", "rprec": "r-precision", "r_precision": "r-precision",
           "map_cut": "map"}
# trec_eval's own names (``ndcg_cut`` and ``map_cut``) stand for a list of cut-offs there:
# here they need one, so that no name quietly means something else than in trec_eval
_CUT_NAMES = {"ndcg_cut", "map_cut"}
# "ndcg@10", and trec_eval's spellings "ndcg_cut_10", "P_10" (its output) and
# "ndcg_cut.10" (its -m option)
_PATTERN = re.compile(r"^\s*([a-z][a-z_\-]*?)\s*(?:[@_.]\s*(\d+))?\s*$")


def _spellings() -> str:
    """The accepted forms, from the table: ``ndcg@k, ndcg, recall@k, ...``."""
    forms = []
    for name, metric in METRICS.items():
        if metric.cutoff is not False:
            forms.append(f"{name}@k")
        if metric.cutoff is not True:
            forms.append(name)
    return ", ".join(forms)


def parse_metric(name: str) -> tuple[str, int | None]:
    """Split a metric name into ``(canonical name, k or None)``; raise on unknown names.

    Examples
    --------
    >>> parse_metric("nDCG@10"), parse_metric("P@5"), parse_metric("map")
    (('ndcg', 10), ('precision', 5), ('map', None))
    >>> parse_metric("ndcg_cut_10"), parse_metric("P_5"), parse_metric("recall.100")
    (('ndcg', 10), ('precision', 5), ('recall', 100))
    """
    if not isinstance(name, str):
        raise TypeError(f"metric names must be strings such as 'ndcg@10', got {name!r}")
    match = _PATTERN.match(name.lower())
    if not match:
        raise ValueError(f"unknown metric {name!r}; use one of {_spellings()}")
    base, k = match.group(1), match.group(2)
    if base in _CUT_NAMES and k is None:
        raise ValueError(f"metric {name!r} needs a cut-off (trec_eval reports it at several): "
                         f"write {base}@k, e.g. {base}@10, or {ALIASES[base]} for no cut-off")
    base = ALIASES.get(base, base)
    if base not in METRICS:
        raise ValueError(f"unknown metric {name!r}; use one of {_spellings()}")
    need = METRICS[base].cutoff
    if need is True and k is None:
        raise ValueError(f"metric {name!r} needs a cut-off: write {base}@k, e.g. {base}@10")
    if need is False and k is not None:
        raise ValueError(f"metric {name!r} takes no cut-off: write {base}")
    if k is not None and int(k) < 1:
        raise ValueError(f"metric {name!r}: the cut-off must be at least 1")
    return base, None if k is None else int(k)
