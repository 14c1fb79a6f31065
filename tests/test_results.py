"""The shared result base: compact repr, escaped HTML, the display protocol."""

from __future__ import annotations

import numpy as np
import pytest

from vecdiag.results import Result, escape, fmt, html_block, html_table, result, shorten


@result
class Toy(Result):
    """A toy result."""

    values: np.ndarray
    label: str

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"value": self.values, "label": self.label})


def test_frozen_and_compact_repr():
    toy = Toy(values=np.arange(1000.0), label="<b>x</b>")
    with pytest.raises(AttributeError):
        toy.label = "y"
    assert "array(shape=(1000,), dtype=float64)" in repr(toy)


def test_html_is_escaped():
    toy = Toy(values=np.arange(3.0), label="<script>alert(1)</script>")
    bundle = toy._repr_mimebundle_()
    assert "<script>" not in bundle["text/html"]
    assert "&lt;script&gt;" in bundle["text/html"]
    table = html_table([["<img src=x onerror=alert(1)>", 1.5]], ["text", "score"], numeric={"score"})
    assert "<img" not in table and "&lt;img" in table
    assert "<script>" not in html_block("<script>", table)


def test_small_helpers():
    assert escape('"&') == "&quot;&amp;"
    assert shorten("x" * 100, 10) == "x" * 9 + "…"
    assert fmt(1234567.0) == "1.235e+06"
    assert fmt(0.5) == "0.5"
    assert fmt(float("nan")) == "nan"
    assert fmt(True) == "True"
