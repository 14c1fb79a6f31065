"""Pictures of the corpus diagnostics (draw only: stored numbers, nothing recomputed)."""

from __future__ import annotations

import numpy as np

from . import check_ax, get_ax


def draw_k_occurrence(k_occurrence, k, hub_threshold=None, ax=None):
    """Histogram of N_k with a log count axis; the hub threshold as a dashed line."""
    ax = get_ax(ax)
    nk = np.asarray(k_occurrence)
    top = max(int(nk.max()), 1)
    # One bar per value of N_k, or per run of `width` values when there are more than 79.
    # subtle: 80 evenly spaced edges held one value in some bars and two in the next, so
    # a flat distribution (0..100, ten items each) was drawn as a saw of 10s and 20s.
    width = -(-(top + 1) // 79)
    bins = np.arange(0, top + width + 1, width) - 0.5
    ax.hist(nk, bins=bins, color="#1f77b4")
    ax.set_yscale("log")
    if hub_threshold is not None:
        ax.axvline(hub_threshold, color="#b00020", linestyle="--", label=f"hub ≥ {hub_threshold:g}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel(f"N_{k} (lists an item appears in)")
    ax.set_ylabel("items (log)")
    ax.set_title("k-occurrence")
    return ax


def draw_norms(norms, ax=None):
    """Histogram of vector lengths. Lengths that are all the same (unit-normalised
    vectors, up to rounding) are said in words on the axes instead of a one-bar histogram
    whose axis would read like "1e-7+1"."""
    ax = get_ax(ax)
    norms = np.asarray(norms, dtype=np.float64)
    span = norms.max() - norms.min()
    if span <= 1e-3 * max(abs(norms.max()), 1e-300):
        value = float(np.median(norms))
        ax.bar([0], [norms.size], width=0.6, color="#6a51a3")
        ax.set_xticks([0], [f"{value:.4g}"])
        ax.set_xlim(-1, 1)
        unit = " (unit-normalised)" if abs(value - 1) < 1e-3 else ""
        ax.text(0.5, 0.92, f"all {norms.size} vectors have length {value:.4g}{unit};\n"
                           f"max − min = {span:.1e}: nothing to histogram",
                transform=ax.transAxes, ha="center", va="top", fontsize=9)
        ax.set_xlabel("‖x‖ (one value)")
    else:
        ax.hist(norms, bins=50, color="#6a51a3")
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.set_xlabel("‖x‖")
    ax.set_ylabel("items")
    ax.set_title("vector lengths")
    return ax


def draw_contributions(contribution, dims=None, mean_cosine=None, ax=None, top=20):
    """Bars: the largest per-dimension contributions to the mean cosine."""
    ax = get_ax(ax)
    contribution = np.asarray(contribution)
    order = np.argsort(-contribution, kind="stable")[:top]
    values = contribution[order]
    ax.bar(np.arange(order.size), values,
           color=np.where(values >= 0, "#1f77b4", "#d62728"))
    ax.set_xticks(np.arange(order.size), [str(int(j)) for j in order], rotation=90, fontsize=7)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("dimension")
    ax.set_ylabel("contribution to mean cosine")
    total = contribution.sum() if mean_cosine is None else mean_cosine
    ax.set_title(f"per-dimension share (mean cos {total:.3f})")
    return ax


def draw_spectrum(ratio, ax=None, top=50):
    """Explained-variance ratio of the leading principal components (log scale)."""
    ax = get_ax(ax)
    ratio = np.asarray(ratio)[:top]
    if not np.any(ratio > 0):
        # subtle: every ratio is 0/0 (stored as 0): clipped to 1e-12 for the log axis, a
        # line would read as components that each explain 1e-12 of the variance
        ax.text(0.5, 0.5, "no variance: the vectors are all the same\n(under cosine: of one "
                          "direction), so no component explains any", transform=ax.transAxes,
                ha="center", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("principal component")
        ax.set_ylabel("explained variance ratio")
        ax.set_title("PCA spectrum")
        return ax
    ax.plot(np.arange(1, ratio.size + 1), np.maximum(ratio, 1e-12), marker="o", markersize=3)
    ax.set_yscale("log")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.set_title("PCA spectrum")
    return ax


def draw_diagnosis(diagnosis, axes=None):
    """2 × 2 panels from a Diagnosis; panels without data say so. Returns the Axes array."""
    if axes is None:
        import matplotlib.pyplot as plt

        get_ax  # noqa: B018  (get_ax picks a headless backend on first use)
        from . import _has_display

        if not _has_display():
            import matplotlib

            matplotlib.use("Agg", force=False)
        fig, axes = plt.subplots(2, 2, figsize=(10, 7))
        fig.suptitle(f"vd.diagnose: {diagnosis.stats.get('n_vectors')} vectors, "
                     f"metric {diagnosis.metric}, worst: {diagnosis.worst}")
    axes = np.asarray(axes, dtype=object).ravel()
    for ax in axes:     # axes=3 failed deep in the drawing ("no attribute 'hist'")
        check_ax(ax, "axes")
    panels = [
        (diagnosis.k_occurrence, lambda ax: draw_k_occurrence(
            diagnosis.k_occurrence, diagnosis.k, 2 * diagnosis.k, ax=ax)),
        (diagnosis.norms, lambda ax: draw_norms(diagnosis.norms, ax=ax)),
        (diagnosis.contribution, lambda ax: draw_contributions(
            diagnosis.contribution, ax=ax, mean_cosine=diagnosis.stats.get("anisotropy"))),
        (diagnosis.explained_variance_ratio, lambda ax: draw_spectrum(
            diagnosis.explained_variance_ratio, ax=ax)),
    ]
    for ax, (data, draw) in zip(axes, panels):
        if data is None or np.size(data) == 0:
            ax.text(0.5, 0.5, "not computed", ha="center", va="center")
            ax.set_axis_off()
        else:
            draw(ax)
    try:
        axes[0].figure.tight_layout()
    except Exception:  # pragma: no cover - layout is cosmetic
        pass
    return axes
