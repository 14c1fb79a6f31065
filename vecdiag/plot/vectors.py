"""Pictures of the vector-math results (draw only)."""

from __future__ import annotations

import numpy as np

from . import get_ax


def draw_cosine_breakdown(breakdown, ax=None):
    """Horizontal bars: each top dimension's contribution ``a_i b_i / (‖a‖‖b‖)``."""
    ax = get_ax(ax, figsize=(6.0, 0.35 * len(breakdown.top_dims) + 1.5))
    dims = breakdown.top_dims
    values = breakdown.contribution[dims]
    colors = np.where(values >= 0, "#1f77b4", "#d62728")
    positions = np.arange(len(dims))[::-1]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [f"dim {int(d)}" for d in dims])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to cosine  (a_i·b_i / ‖a‖‖b‖)")
    ax.set_ylabel("dimension")
    shown = values.sum()
    ax.set_title(f"cosine = {breakdown.cosine:.4f}; top {len(dims)} dims add {shown:.4f}")
    return ax
