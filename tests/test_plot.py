"""vecdiag.plot: the drawers show the user's strings (labels, ids, names) as written."""

from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
import pytest

import vecdiag as vd

matplotlib.use("Agg")

# Matplotlib reads a pair of "$" as mathtext: the first fails to parse, the second would
# be drawn in math italics without its dollar signs.
BROKEN_MATH = "$x^$"
PRICES = "from $5 to $10"


def _shown_as_written(fig, *strings):
    """Draw ``fig`` (a mathtext error surfaces here) and check each string appears in a
    text that matplotlib draws literally (not as mathtext), its ``\\$`` shown as ``$``."""
    from matplotlib import cbook
    from matplotlib.text import Text

    fig.savefig(io.BytesIO(), format="png")
    shown = [t.get_text() for t in fig.findobj(Text)]
    for s in strings:
        hits = [t for t in shown if s in t.replace(r"\$", "$")]
        assert hits, f"{s!r} is not drawn: {shown}"
        assert not any(cbook.is_math_text(t) for t in hits), hits


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_projection_legend_shows_labels_and_highlight_names_as_written():
    X = np.random.default_rng(0).normal(size=(30, 5))
    ax = vd.pca(X).plot(labels=[BROKEN_MATH, PRICES, "plain"] * 10,
                        highlight={"$q_1$": [0, 1]})
    _shown_as_written(ax.figure, f"{BROKEN_MATH} (10)", f"{PRICES} (10)", "$q_1$ (2)")


def test_explanation_shows_document_ids_as_written():
    rng = np.random.default_rng(1)
    C = rng.normal(size=(30, 6))
    ids = [f"${i}^$" for i in range(30)]
    exp = vd.explain_neighbors(C[0], C, k=3, ids=ids, expected=[ids[20]])
    ax = exp.plot()
    _shown_as_written(ax.figure, "1. $0^$", "$20^$ ★ missed")


def test_drift_series_shows_batch_labels_as_written():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(40, 4))
    series = vd.drift_over_time(ref, {BROKEN_MATH: rng.normal(size=(30, 4)),
                                      PRICES: rng.normal(size=(30, 4)) + 1.0},
                                method="mean_shift")
    _shown_as_written(series.plot().figure, BROKEN_MATH, PRICES)


def test_evaluation_plots_show_run_names_as_written():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d1": 1}}
    a = vd.evaluate({"q1": {"d1": 1.0, "d2": 0.5}, "q2": {"d1": 1.0, "d2": 0.5},
                     "q3": {"d1": 1.0}}, qrels, name=BROKEN_MATH)
    b = vd.evaluate({"q1": {"d2": 1.0, "d1": 0.5}, "q2": {"d2": 1.0, "d1": 0.5},
                     "q3": {"d2": 1.0}}, qrels, name=PRICES)
    _shown_as_written(a.plot().figure, f"{BROKEN_MATH}: 3 queries")
    comparison = vd.compare(a, b, n_resamples=200)
    _shown_as_written(comparison.plot().figure, f"{PRICES} − {BROKEN_MATH}")
    _shown_as_written(comparison.plot_per_query().figure, f"{PRICES} − {BROKEN_MATH}")


@pytest.mark.parametrize("X", [np.ones((6, 4)),                                # one point
                               np.ones((6, 4)) * np.arange(1, 7)[:, None]])    # one direction
def test_a_corpus_without_variance_has_its_spectrum_said_not_drawn(X):
    # the explained-variance ratios are 0/0 (stored as 0); the panel drew them clipped to
    # 1e-12 on its log axis, as if each component explained 1e-12 of the variance
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert np.allclose(np.cov(unit, rowvar=False), 0)           # cosine: no variance left
    axes = vd.diagnose(X, k=3).plot()
    spectrum = np.ravel(axes)[3]
    spectrum.figure.savefig(io.BytesIO(), format="png")
    assert spectrum.get_title() == "PCA spectrum"
    assert not spectrum.lines and not spectrum.collections
    assert [t.get_text().split(":")[0] for t in spectrum.texts] == ["no variance"]
    varied = vd.diagnose(X + np.random.default_rng(0).normal(size=X.shape), k=3).plot()
    assert len(np.ravel(varied)[3].lines) == 1                  # a spectrum: drawn as before


def test_a_fix_report_where_no_fix_could_run_says_so():
    # fixes=["hybrid_lexical"] without texts: the fix is refused (FixReport.failed) and
    # the plot drew an empty frame with a lone zero line, as if nothing had been asked
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 6))
    Q = X[:4] + 0.3 * rng.normal(size=(4, 6))
    qids, dids = list("abcd"), [f"d{i}" for i in range(30)]
    qrels = {q: {dids[i]: 1} for i, q in enumerate(qids)}
    with pytest.warns(UserWarning, match="could not run"):
        report = vd.try_fixes(Q, X, qrels, query_ids=qids, doc_ids=dids,
                              fixes=["hybrid_lexical"], k=10)
    ax = report.plot()
    ax.figure.savefig(io.BytesIO(), format="png")
    assert not ax.patches and not ax.lines
    assert [t.get_text().split("\n")[0] for t in ax.texts] == ["no fix could run: hybrid_lexical"]


@pytest.mark.parametrize("top, width", [(40, 1), (100, 2), (400, 6)])
def test_k_occurrence_bars_hold_equally_many_values(top, width):
    # past 79 values of N_k the histogram used 80 evenly spaced edges: one value fell in
    # some bars and two in the next, so a flat N_k (each of 0..100 ten times) was drawn
    # as a saw of 10s and 20s; each bar now holds `width` whole values
    import matplotlib.pyplot as plt

    from vecdiag.plot.diagnostics import draw_k_occurrence

    nk = np.repeat(np.arange(top + 1), 10)
    ax = draw_k_occurrence(nk, 10, 20)
    heights = [b.get_height() for b in ax.patches]
    starts = [b.get_x() for b in ax.patches]
    np.testing.assert_allclose([b.get_width() for b in ax.patches], width)
    np.testing.assert_allclose(starts, np.arange(len(heights)) * width - 0.5)
    full = (top + 1) // width                     # bars below the top hold `width` values
    assert heights[:full] == [10.0 * width] * full
    assert sum(heights) == nk.size and starts[-1] <= top < starts[-1] + width
    plt.close("all")


def test_a_lone_surrogate_in_a_label_or_id_is_drawn_as_a_replacement_character():
    # "\ud800" in a JSON file decodes to a lone surrogate: the font engine refused it
    # (TypeError from FT2Font.set_text when the figure was drawn) and plotly's JSON too
    # ("surrogates not allowed"); drawn strings now hold U+FFFD there, as the HTML does
    import matplotlib.pyplot as plt

    X = np.random.default_rng(0).normal(size=(6, 3))
    ax = vd.pca(X).plot(labels=["caf\ud800e", "b"] * 3)
    ax.figure.savefig(io.BytesIO(), format="png")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["b (3)", "caf\ufffde (3)"]
    ids = [f"doc\udc80{i}" for i in range(6)]
    ax = vd.explain_neighbors(X[0], vd.Index(X, ids=ids), k=2).plot(ax=plt.subplots()[1])
    ax.figure.savefig(io.BytesIO(), format="png")
    top = vd.knn(X[:1], X, k=2).indices[0]            # cosine: row 0 itself, then its nearest
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{r}. doc\ufffd{i}"
                                                          for r, i in zip((1, 2), top)]
    plt.close("all")
    pytest.importorskip("plotly")
    fig = vd.pca(X).plot(labels=["caf\ud800e", "b"] * 3, texts=["t\udc80"] * 6,
                         interactive=True)
    assert "caf\ufffde (3)" in fig.to_json()                  # raised: surrogates not allowed
    assert sorted(tr.name for tr in fig.data) == ["b (3)", "caf\ufffde (3)"]
    assert set(fig.data[0].text) == {"t\ufffd [b]"}


def test_an_ax_that_is_not_an_axes_is_refused_by_name():
    """pca(X).plot(ax=3) failed as "'int' object has no attribute 'scatter'", and the
    array of Axes plt.subplots(1, 2) returns as "'numpy.ndarray' object has no attribute
    ..."; the one helper every plot() draws through (plot.get_ax) now names ax and the fix."""
    import matplotlib.pyplot as plt

    X = np.random.default_rng(0).normal(size=(20, 3))
    fig, axs = plt.subplots(1, 2)
    try:
        for bad, hint in ((3, "got int; e.g. fig, ax = plt.subplots()"),
                          (axs, "got ndarray; pass one of them, e.g. ax[0]"),
                          (fig, "got Figure; pass fig.axes[0]")):
            for result in (vd.pca(X), vd.hubness(X, 3), vd.explain_cosine(X[0], X[1])):
                with pytest.raises(TypeError, match=rf"ax must be a matplotlib Axes, {re.escape(hint)}"):
                    result.plot(ax=bad)
        with pytest.raises(TypeError, match="axes must be a matplotlib Axes, got int"):
            vd.diagnose(X, k=3).plot(axes=3)
        assert vd.pca(X).plot(ax=axs[1]) is axs[1]
    finally:
        plt.close("all")


def test_p_values_are_drawn_inside_the_axes_beside_the_longest_bars():
    # a system far worse than the baseline: the p-value of its longest bar was written past
    # the interval's low end, outside the axes, over the bar's own name (notebook 06's
    # "whiten" row); a zero change put "p=1" past the right edge
    qids = [f"q{i}" for i in range(12)]
    qrels = {q: {"d1": 1} for q in qids}
    a = vd.evaluate({q: {"d1": 1.0, "d2": 0.5} for q in qids}, qrels, name="baseline")
    b = vd.evaluate({q: {"d2": 1.0, "d1": 0.5} if i % 4 else {"d1": 1.0}
                     for i, q in enumerate(qids)}, qrels, name="worse")
    comparison = vd.compare(a, b, n_resamples=200)
    assert comparison.delta["mrr@10"] == -0.375 and comparison.delta["recall@100"] == 0
    ax = comparison.plot()
    ax.figure.savefig(io.BytesIO(), format="png")
    frame = ax.get_window_extent()
    labels = [t for t in ax.texts if t.get_text().startswith("p=")]
    assert len(labels) == len(comparison.metrics)
    for label in labels:
        box = label.get_window_extent()
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, (label.get_text(), box, frame)
