"""Pictures of evaluations, comparisons and fix reports (draw only, stored numbers)."""

from __future__ import annotations

import numpy as np

from ..results import counted
from . import get_ax, literal

_BETTER, _WORSE, _NEUTRAL = "#2e7d32", "#b00020", "#7f7f7f"


def draw_evaluation(evaluation, ax=None):
    """Box plot of per-query values per metric; the mean as a diamond."""
    metrics = list(evaluation.metrics)
    ax = get_ax(ax, figsize=(1.2 * len(metrics) + 3.0, 4.0))
    positions = np.arange(1, len(metrics) + 1)
    if evaluation.n_queries:
        ax.boxplot([evaluation.values[:, j] for j in range(len(metrics))],
                   positions=positions, widths=0.5, showfliers=False)
        means = [evaluation.mean[m] for m in metrics]
        ax.scatter(positions, means, marker="D", color="#d62728", zorder=3, label="mean")
        for x, m in zip(positions, means):
            ax.annotate(f"{m:.3f}", (x, m), xytext=(8, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(positions, metrics)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("per-query value")
    ax.set_title(f"{literal(evaluation.name)}: {evaluation.n_queries} queries averaged")
    return ax


def _delta_bars(ax, labels, deltas, lows, highs, significant, p_values):
    y = np.arange(len(labels))[::-1]
    colors = [(_BETTER if d > 0 else _WORSE) if s else _NEUTRAL
              for d, s in zip(deltas, significant)]
    deltas, lows, highs = (np.asarray(v, dtype=float) for v in (deltas, lows, highs))
    # an unbounded interval (two or three queries: ±inf) runs to the edge of the finite
    # ones, with an arrow head; matplotlib drew no error bar at all for it
    finite = np.concatenate([[0.0], deltas, lows[np.isfinite(lows)], highs[np.isfinite(highs)]])
    span = max(float(np.ptp(finite)), float(np.abs(finite).max()), 1e-12)
    edge_lo, edge_hi = finite.min() - 0.25 * span, finite.max() + 0.25 * span
    open_lo, open_hi = np.isneginf(lows), np.isposinf(highs)
    lows, highs = np.where(open_lo, edge_lo, lows), np.where(open_hi, edge_hi, highs)
    err = np.vstack([deltas - lows, highs - deltas])
    ax.barh(y, deltas, color=colors, alpha=0.8)
    ax.errorbar(deltas, y, xerr=np.clip(err, 0, None), fmt="none", ecolor="black",
                capsize=3, linewidth=1)
    ax.plot(lows[open_lo], y[open_lo], "<", color="black", markersize=6)
    ax.plot(highs[open_hi], y[open_hi], ">", color="black", markersize=6)
    for yi, hi, lo, p in zip(y, highs, lows, p_values):
        x = max(hi, 0) if abs(hi) >= abs(lo) else min(lo, 0)
        ax.annotate(f"p={p:.3g}", (x, yi), xytext=(4 if x >= 0 else -4, 0),
                    textcoords="offset points", va="center",
                    ha="left" if x >= 0 else "right", fontsize=8)
    # subtle: a p-value sits beyond its interval's end; beside the outermost bars it ran
    # past the axes (over the names), and margins cannot help: a bar pins its axis at 0.
    # Pad each side by a share m of the data's span, so that m / (1 + 2m) of the axes
    # holds the longest label (~0.65 em a character).
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    label_pt = max((len(f"p={p:.3g}") for p in p_values), default=0) * 0.65 * 8 + 8
    share = min(label_pt / width_pt, 0.4)
    ends = np.concatenate([deltas, lows, highs, [0.0]])
    lo, hi = np.nanmin(ends), np.nanmax(ends)
    pad = (hi - lo or 1.0) * share / (1 - 2 * share)
    ax.set_xlim(lo - pad, hi + pad)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [literal(name) for name in labels])
    return ax


def draw_comparison(comparison, ax=None):
    """Horizontal bars: delta (B - A) per metric with its interval and Holm p-value."""
    metrics = list(comparison.metrics)
    ax = get_ax(ax, figsize=(6.5, 0.5 * len(metrics) + 1.8))
    _delta_bars(ax, metrics, [comparison.delta[m] for m in metrics],
                [comparison.ci[m][0] for m in metrics], [comparison.ci[m][1] for m in metrics],
                [comparison.significant[m] for m in metrics],
                [comparison.p_adjusted[m] for m in metrics])
    ax.set_xlabel(f"{literal(comparison.name_b)} − {literal(comparison.name_a)}  "
                  f"({comparison.confidence:.0%} interval, Holm p)")
    ax.set_title(f"{comparison.method} test over "
                 f"{counted(len(comparison.query_ids), 'query', 'queries')} "
                 "(green/red: significant)")
    return ax


def draw_fix_report(report, metric=None, ax=None):
    """Each fix's change of one metric against the baseline, best first (when no fix
    could run, the axes say so and name them)."""
    metric = metric or report.primary_metric
    names = [n for n in report.order if n != report.baseline_name]
    ax = get_ax(ax, figsize=(7.0, 0.45 * max(len(names), 1) + 2.0))
    if names:
        comps = [report.comparisons[n] for n in names]
        _delta_bars(ax, names, [c.delta[metric] for c in comps],
                    [c.ci[metric][0] for c in comps], [c.ci[metric][1] for c in comps],
                    [c.significant[metric] for c in comps], [c.p_adjusted[metric] for c in comps])
    else:   # every fix failed: said on the axes, not an empty frame
        failed = ", ".join(literal(f) for f in report.failed) or "none given"
        ax.text(0.5, 0.5, f"no fix could run: {failed}\n(why: FixReport.failed)",
                transform=ax.transAxes, ha="center", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    base = report.evaluations[report.baseline_name].mean[metric]
    ax.set_xlabel(f"change in {metric} vs {literal(report.baseline_name)} ({base:.4f})")
    ax.set_title(f"fixes on {report.evaluations[report.baseline_name].n_queries} queries "
                 "(green/red: significant after Holm)")
    return ax


def draw_per_query(comparison, metric=None, ax=None):
    """Per-query B − A of one metric, sorted: wins green above 0, losses red below."""
    from ..evaluation.per_query import metric_column, outcomes

    j = metric_column(comparison, metric)
    name = comparison.metrics[j]
    d = np.sort(comparison.differences[:, j])[::-1]
    out = outcomes(d)
    ax = get_ax(ax, figsize=(7.0, 3.6))
    colors = [_BETTER if o == "win" else _WORSE if o == "loss" else _NEUTRAL for o in out]
    x = np.arange(d.size)
    ax.bar(x, d, width=1.0, color=colors, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.8)
    counts = {o: int((out == o).sum()) for o in ("win", "tie", "loss")}
    ax.set_xlim(-0.5, max(d.size, 1) - 0.5)
    ax.set_xlabel(f"queries, sorted by change ({counts['win']} wins, {counts['tie']} ties, "
                  f"{counts['loss']} losses)")
    ax.set_ylabel(f"{name}: {literal(comparison.name_b)} − {literal(comparison.name_a)}")
    ax.set_title(f"per-query change of {name}, mean {comparison.delta[name]:+.4f}")
    return ax
