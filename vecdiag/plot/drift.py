"""Pictures of drift results (draw only: every number comes from the result)."""

from __future__ import annotations

import numpy as np

from . import get_ax, literal


def draw_drift(res, ax=None):
    """Reference and current on the first two principal axes; an arrow mean -> mean."""
    ax = get_ax(ax, figsize=(6.0, 5.0))
    ref, cur, means = res.reference_coords, res.current_coords, res.mean_coords
    ax.scatter(ref[:, 0], ref[:, 1], s=8, alpha=0.45, color="#1f77b4",
               label=f"reference (n={res.n_reference})")
    ax.scatter(cur[:, 0], cur[:, 1], s=8, alpha=0.45, color="#ff7f0e",
               label=f"current (n={res.n_current})")
    ax.annotate("", xy=means[1], xytext=means[0],
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 2})
    ax.scatter(means[:, 0], means[:, 1], marker="X", s=80, color=["#1f77b4", "#ff7f0e"],
               edgecolor="black", zorder=3)
    ratio = res.explained_variance_ratio
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    verdict = "DRIFT" if res.drifted else "no drift"
    ax.set_title(f"{verdict}: {res.method} {res.statistic_name} = {res.statistic:.4g}, "
                 f"p = {res.p_value:.3g}", fontsize=10)
    ax.legend(loc="best", fontsize=8, title="arrow: shift of the mean", title_fontsize=8)
    return ax


def draw_drift_series(series, ax=None):
    """Statistic per batch with its threshold; drifted batches marked in red."""
    ax = get_ax(ax, figsize=(7.0, 4.0))
    if not series:
        ax.set_title("no batches")
        return ax
    x = np.arange(len(series))
    stat = np.array([r.statistic for r in series])
    thr = np.array([r.threshold for r in series])
    drifted = np.array([r.drifted for r in series])
    ax.plot(x, stat, "-o", color="#1f77b4", label=series[0].statistic_name, zorder=2)
    ax.step(x, thr, where="mid", color="#7f7f7f", linestyle="--",
            label=f"threshold (alpha={series[0].alpha:.3g})")
    ax.scatter(x[drifted], stat[drifted], s=90, facecolor="none", edgecolor="#d62728",
               linewidth=2, label="drift detected", zorder=3)
    ax.set_xticks(x, [literal(r.label) for r in series], rotation=45 if len(series) > 8 else 0)
    ax.set_xlabel("batch")
    ax.set_ylabel(series[0].statistic_name)
    ax.set_title(f"drift over time ({series[0].method}): "
                 f"{int(drifted.sum())} of {len(series)} batches drifted", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def draw_overlap(change, ax=None):
    """Histogram of per-item neighbour overlap, with its mean and the random baseline."""
    ax = get_ax(ax)
    bins = (np.arange(change.k + 2) - 0.5) / change.k  # one bin per possible value j/k
    ax.hist(change.overlap, bins=bins, color="#1f77b4", edgecolor="white")
    ax.axvline(change.mean, color="black", linestyle="-", label=f"mean {change.mean:.2f}")
    ax.axvline(change.random_baseline, color="#d62728", linestyle="--",
               label=f"unrelated spaces {change.random_baseline:.3f}")
    ax.set_xlabel(f"share of top-{change.k} neighbours that survive")
    ax.set_ylabel("items")
    ax.set_title("neighbourhood overlap between the two embeddings", fontsize=10)
    ax.legend(fontsize=8)
    return ax
