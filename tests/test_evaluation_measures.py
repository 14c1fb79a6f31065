"""The metric table: one function per metric, parse_metric derives its names from it."""

from __future__ import annotations

import numpy as np
import pytest

from vecdiag.evaluation import measures
from vecdiag.evaluation.metrics import METRIC_NAMES


def test_parse_metric_reads_its_names_from_the_table(monkeypatch):
    with pytest.raises(ValueError, match="unknown metric"):
        measures.parse_metric("first@3")
    monkeypatch.setitem(measures.METRICS, "first",
                        measures.Metric(lambda q, k: float(q.rel[0]), True))
    assert measures.parse_metric("first@3") == ("first", 3)
    with pytest.raises(ValueError, match="first@k"):      # the listed names include it
        measures.parse_metric("nope")
    with pytest.raises(ValueError, match="needs a cut-off"):
        measures.parse_metric("first")


def test_every_metric_of_the_table_on_a_hand_computed_query():
    """Ranked: R, N, R, N, N with grades 2, 0, 1 and one relevant document not retrieved."""
    q = measures.Judged(rel=np.array([1, 0, 1, 0, 0]), gains=np.array([2.0, 0, 1, 0, 0]),
                        ideal=np.array([2.0, 1.0, 1.0]), num_rel=3)
    disc = 1 / np.log2(np.arange(2, 7))
    expected = {
        ("ndcg", 3): (2 * disc[0] + 1 * disc[2]) / (2 * disc[0] + disc[1] + disc[2]),
        ("recall", 2): 1 / 3, ("precision", 4): 2 / 4, ("mrr", None): 1.0,
        ("hit", 1): 1.0, ("map", None): (1 / 1 + 2 / 3) / 3, ("r-precision", None): 2 / 3,
    }
    assert set(name for name, _ in expected) == set(measures.METRICS) == set(METRIC_NAMES)
    for (name, k), value in expected.items():
        assert measures.METRICS[name].function(q, k) == pytest.approx(value, rel=1e-12)
