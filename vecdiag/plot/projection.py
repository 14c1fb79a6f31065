"""Pictures of projections (draw only): the map, and the faithfulness histogram.

Inputs are a :class:`vecdiag.projection.plotting.PlotSpec` (positions, colours and
highlighted points already computed) or a Faithfulness result.
"""

from __future__ import annotations

import html

import numpy as np

from ..results import shown_text
from . import get_ax, literal

# Category colours: matplotlib's tab10 then tab20's light tones (20 distinct colours).
_TAB = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
        "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
        "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]
_NO_VALUE = "#b0b0b0"      # points whose colour value is NaN or inf


def point_style(n: int) -> dict:
    """Marker size, alpha and rasterization readable from 10 to 100,000+ points."""
    size = float(np.clip(25.0 * np.sqrt(1000.0 / max(n, 1)), 1.0, 40.0))
    alpha = float(np.clip(np.sqrt(2000.0 / max(n, 1)), 0.2, 0.85))
    return {"s": size, "alpha": alpha, "linewidths": 0, "rasterized": n > 5000}


def draw_projection(spec, ax=None):
    """Scatter of the map: categories with a legend or values with a colour bar, then
    highlighted points on top with distinct markers."""
    ax = get_ax(ax, figsize=(7.0, 6.0))
    n = spec.x.shape[0]
    style = point_style(n)
    handles = []
    if spec.categories is not None:
        from matplotlib.lines import Line2D

        for j, name in enumerate(spec.categories):
            mask = spec.category_of == j
            colour = _TAB[j % len(_TAB)]
            ax.scatter(spec.x[mask], spec.y[mask], c=colour, zorder=1, **style)
            handles.append(Line2D([], [], marker="o", linestyle="", color=colour,
                                  label=f"{literal(name)} ({int(mask.sum())})"))
    elif spec.values is not None:
        from matplotlib import colormaps
        from matplotlib.lines import Line2D

        vmin, vmax = spec.vrange or (None, None)
        # subtle: a colour map draws NaN in its "bad" colour, transparent by default, so
        # points without a value (numeric labels with gaps) would vanish: grey, counted.
        cmap = colormaps[spec.cmap].with_extremes(bad=_NO_VALUE)
        points = ax.scatter(spec.x, spec.y, c=spec.values, cmap=cmap, vmin=vmin,
                            vmax=vmax, zorder=1, plotnonfinite=True, **style)
        ax.figure.colorbar(points, ax=ax, label=spec.value_label)
        missing = int(np.count_nonzero(~np.isfinite(spec.values)))
        if missing:
            handles.append(Line2D([], [], marker="o", linestyle="", color=_NO_VALUE,
                                  label=f"no value ({missing})"))
    else:
        ax.scatter(spec.x, spec.y, c="#4c72b0", zorder=1, **style)
    for z, h in enumerate(spec.highlights, start=3):
        hollow = h["marker"] == "o"
        ax.scatter(h["x"], h["y"], marker=h["marker"], s=h["size"], zorder=z,
                   facecolors="none" if hollow else h["color"],
                   edgecolors=h["color"] if hollow else "black",
                   linewidths=2.0 if hollow else 0.8, label=f"{literal(h['name'])} ({len(h['x'])})")
        handles.append(ax.collections[-1])
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85,
                  title="labels" if spec.categories is not None else None)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(spec.title, fontsize=10)
    return ax


def _plotly_text(text) -> str:
    """``text`` shown as written by plotly, which reads its strings as HTML: ``<``, ``>``
    and ``&`` escaped (plotly turns the entities back into the characters), so a text
    like ``x < y and y > z`` or ``<a href=...>`` is shown, not parsed as tags. A lone
    surrogate becomes U+FFFD (plotly's JSON refused it: "surrogates not allowed"), a
    bidirectional control is shown as its code (:func:`vecdiag.results.shown_text`)."""
    return html.escape(shown_text(text), quote=False)


def draw_projection_plotly(spec):
    """The same map as an interactive plotly figure with hover texts (user strings escaped)."""
    from .._optional import require

    go = require("plotly.graph_objects", "interactive=True")
    n = spec.x.shape[0]
    hover = spec.hover if spec.hover is not None else [f"row {i}" for i in range(n)]
    hover = np.asarray([_plotly_text(h) for h in hover], dtype=object)
    size = float(np.clip(8.0 * np.sqrt(1000.0 / max(n, 1)), 2.0, 10.0))
    opacity = float(np.clip(np.sqrt(2000.0 / max(n, 1)), 0.3, 0.9))
    fig = go.Figure()
    if spec.categories is not None:
        for j, name in enumerate(spec.categories):
            mask = spec.category_of == j
            fig.add_trace(go.Scattergl(x=spec.x[mask], y=spec.y[mask], mode="markers",
                                       name=_plotly_text(f"{name} ({int(mask.sum())})"),
                                       text=hover[mask].tolist(), hoverinfo="text",
                                       marker={"size": size, "opacity": opacity,
                                               "color": _TAB[j % len(_TAB)]}))
    else:
        marker = {"size": size, "opacity": opacity}
        if spec.values is not None:
            marker.update(color=spec.values, colorscale=spec.cmap, showscale=True,
                          colorbar={"title": _plotly_text(spec.value_label)})
            if spec.vrange:
                marker.update(cmin=spec.vrange[0], cmax=spec.vrange[1])
        fig.add_trace(go.Scattergl(x=spec.x, y=spec.y, mode="markers", name="points",
                                   text=hover.tolist(), hoverinfo="text", marker=marker,
                                   showlegend=False))
    for h in spec.highlights:
        fig.add_trace(go.Scatter(x=h["x"], y=h["y"], mode="markers",
                                 name=_plotly_text(h["name"]),
                                 text=[_plotly_text(t) for t in h["hover"]], hoverinfo="text",
                                 marker={"symbol": h["symbol"], "size": 8 + h["size"] ** 0.5,
                                         "color": h["color"],
                                         "line": {"width": 1, "color": "black"}}))
    fig.update_layout(title=_plotly_text(spec.title).replace("\n", "<br>"),
                      xaxis_title=_plotly_text(spec.xlabel),
                      yaxis_title=_plotly_text(spec.ylabel), template="plotly_white",
                      legend={"itemsizing": "constant"})
    return fig


def draw_faithfulness(faith, ax=None):
    """Histogram of per-point neighbour overlap, with its mean and the random-map level."""
    ax = get_ax(ax)
    bins = (np.arange(faith.k + 2) - 0.5) / faith.k    # one bin per possible value j/k
    ax.hist(faith.overlap, bins=bins, color="#4c72b0", edgecolor="white")
    ax.axvline(faith.mean_overlap, color="black", linestyle="-",
               label=f"mean {faith.mean_overlap:.2f}")
    ax.axvline(faith.chance, color="#d62728", linestyle="--",
               label=f"random map {faith.chance:.3f}")
    ax.set_xlabel(f"share of each point's {faith.k} nearest neighbours kept on the map")
    ax.set_ylabel("points")
    ax.set_title(f"Neighbourhoods kept by the map ({faith.metric}); "
                 f"trustworthiness {faith.trustworthiness:.3f}", fontsize=10)
    ax.legend(fontsize=8)
    return ax
