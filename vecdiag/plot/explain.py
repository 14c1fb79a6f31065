"""Pictures of an Explanation (draw only: every number comes from the result)."""

from __future__ import annotations

import numpy as np

from . import get_ax, literal


def _label(doc, width: int = 24) -> str:
    text = str(doc)
    return literal(text if len(text) <= width else text[: width - 1] + "…")


def draw_explanation(exp, ax=None):
    """Left: score bars of the top-k, then the missed expected documents by rank (marked in
    red, found ones in green). Right: per-dimension contributions of the top hit and of the
    first expected document (or the top hit alone). Returns the bar Axes."""
    if ax is None:
        import matplotlib.pyplot as plt

        get_ax(None)  # selects a headless backend when needed
        plt.close()
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.0, 0.35 * (exp.k + 4) + 1.5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    else:
        ax2 = None
    draw_scores(exp, ax=ax)
    if ax2 is not None:
        draw_contributions(exp, ax=ax2)
    return ax


def draw_scores(exp, ax=None):
    """Horizontal bars: each returned document's score, expected documents marked."""
    ax = get_ax(ax, figsize=(6.0, 0.35 * (exp.k + 4) + 1.5))
    expected_ids = {e.id for e in exp.expected}
    labels, values, colors = [], [], []
    for rank, (doc, score) in enumerate(zip(exp.top_ids, exp.top_scores), start=1):
        mark = " ★" if doc in expected_ids else ""
        labels.append(f"{rank}. {_label(doc)}{mark}")
        values.append(float(score))
        colors.append("#2e7d32" if mark else "#1f77b4")
    for e in exp.missed():                     # by rank, as the ranked list goes on
        labels.append(f"{e.rank}. {_label(e.id)} ★ missed")
        values.append(float(e.score))
        colors.append("#b00020")
    pos = np.arange(len(values))[::-1]
    ax.barh(pos, values, color=colors)
    ax.set_yticks(pos, labels)
    low, high = min(values), max(values)
    pad = 0.1 * (high - low) if high > low else 0.1 * (abs(high) or 1)
    ax.set_xlim(low - pad, high + pad)
    unit = "distance (lower is closer)" if exp.metric == "euclidean" else f"{exp.metric} score"
    ax.set_xlabel(unit)
    ax.set_title(f"top-{exp.k}" + (" and expected documents" if exp.expected else ""))
    return ax


def draw_contributions(exp, ax=None, n_dims: int = 10):
    """Grouped bars over the stored contrast dimensions: the top hit's per-dimension
    contribution beside the first expected document's (when there is one)."""
    ax = get_ax(ax, figsize=(5.0, 4.0))
    contrast = exp.contrast
    top_id = exp.top_ids[0]
    dims = contrast["dims"][:n_dims]
    n = len(dims)
    pos = np.arange(n)[::-1]
    has_expected = bool(exp.expected) and exp.expected[0].id != top_id
    width = 0.4 if has_expected else 0.8
    ax.barh(pos + (width / 2 if has_expected else 0), contrast[top_id][:n], height=width,
            color="#1f77b4", label=f"top hit {_label(top_id, 16)}")
    if has_expected:
        e = exp.expected[0]
        ax.barh(pos - width / 2, contrast[e.id][:n], height=width, color="#b00020",
                label=f"expected {_label(e.id, 16)}")
    ax.set_yticks(pos, [f"dim {d}" for d in dims])
    ax.axvline(0, color="black", linewidth=0.8)
    what = "adds to squared distance" if exp.metric == "euclidean" else "adds to score"
    ax.set_xlabel(f"per-dimension contribution ({what})")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("where the score comes from")
    return ax
