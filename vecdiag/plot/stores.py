"""Picture of a store audit: recall against latency (draw only: numbers from the result)."""

from __future__ import annotations

from . import get_ax, literal


def draw_store_audit(res, ax=None):
    """One point per swept value (labelled), the target as a line; the smallest value
    reaching it circled. Without a sweep, the one measured point."""
    ax = get_ax(ax, figsize=(6.0, 4.0))
    if res.sweep:
        values = sorted(res.sweep)
        lat = [res.sweep[v].latency_ms for v in values]
        rec = [res.sweep[v].recall for v in values]
        lo = [res.sweep[v].recall - res.sweep[v].ci[0] for v in values]
        hi = [res.sweep[v].ci[1] - res.sweep[v].recall for v in values]
        ax.errorbar(lat, rec, yerr=[lo, hi], marker="o", color="#1f77b4", capsize=3,
                    label=f"{literal(res.setting)} (95% interval)")
        for v, x, y in zip(values, lat, rec):
            ax.annotate(literal(v), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
        if res.suggested is not None:
            p = res.sweep[res.suggested]
            ax.scatter([p.latency_ms], [p.recall], s=160, facecolors="none", edgecolors="#2e7d32",
                       linewidths=2, zorder=3, label=f"{literal(res.setting)}={literal(res.suggested)}: reaches target")
    else:
        ax.errorbar([res.latency_ms], [res.recall],
                    yerr=[[res.recall - res.ci[0]], [res.ci[1] - res.recall]], marker="o",
                    capsize=3, color="#1f77b4", label="current settings")
    ax.axhline(res.target, color="#b00020", ls="--", lw=1, label=f"target {res.target:g}")
    ax.set_xlabel("latency per query (ms)")
    ax.set_ylabel(f"recall@{res.k} vs exact")
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    ax.set_title(f"{res.kind} ({res.metric}): recall@{res.k} {res.recall:.3f} at current "
                 "settings", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return ax
