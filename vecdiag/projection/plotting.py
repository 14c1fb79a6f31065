"""From a Projection and plot options to the numbers a picture needs (no drawing here).

:func:`prepare_plot` checks the options once and returns a :class:`PlotSpec`; the
matplotlib and plotly drawers in :mod:`vecdiag.plot.projection` only draw it.
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers

import numpy as np

from .. import _validate as V
from ..results import label_text, text_or_empty

__all__ = ["PlotSpec", "prepare_plot"]

MAX_CATEGORIES = 20
# name -> (matplotlib marker, plotly symbol, colour, size); other names cycle _EXTRA.
HIGHLIGHT_STYLE = {
    "query": ("*", "star", "#d62728", 320),
    "queries": ("*", "star", "#d62728", 320),
    "neighbors": ("o", "circle-open", "#ff7f0e", 110),
    "expected": ("D", "diamond", "#2ca02c", 90),
}
_EXTRA = [("^", "triangle-up", "#9467bd", 90), ("s", "square", "#8c564b", 80),
          ("P", "cross", "#e377c2", 90), ("X", "x", "#17becf", 90)]


@dataclasses.dataclass
class PlotSpec:
    """Everything a drawer needs: positions, labels, colours, highlighted points."""

    x: np.ndarray
    y: np.ndarray
    xlabel: str
    ylabel: str
    title: str
    hover: list | None = None           # one hover text per point (plotly)
    categories: list | None = None      # category names, in legend order
    category_of: np.ndarray | None = None  # (n,) int index into categories
    values: np.ndarray | None = None    # (n,) numbers for a colour bar
    value_label: str = ""
    cmap: str = "viridis"
    vrange: tuple | None = None         # fixed colour range, e.g. (0, 1) for overlap
    highlights: list = dataclasses.field(default_factory=list)  # dicts, drawn on top


def _per_point(values, n: int, name: str) -> np.ndarray:
    values = V.check_ordered(values, name)
    arr = np.asarray(list(values) if not hasattr(values, "__array__") else values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have one entry per point ({n}), got shape {arr.shape}")
    return arr


def _colour_labels(spec: PlotSpec, labels: np.ndarray) -> None:
    """Categorical colours (with a legend) or, for many distinct numbers, a colour bar.

    A missing label (None, NaN, pandas' NA) is one category, "(no label)", not the
    label "None" / "nan" / "<NA>" (a real label "None" stays one)."""
    numeric = labels.dtype.kind in "iuf"
    keys = labels if numeric else np.asarray([text_or_empty(v) for v in labels], dtype=str)
    distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if numeric and distinct.size > MAX_CATEGORIES:
        spec.values, spec.value_label = labels.astype(np.float64), "label"
        return
    if distinct.size > MAX_CATEGORIES:   # many text labels: the most frequent, then "other"
        keep = np.sort(np.argsort(-counts, kind="stable")[:MAX_CATEGORIES - 1])
        remap = np.full(distinct.size, MAX_CATEGORIES - 1)
        remap[keep] = np.arange(keep.size)
        spec.categories = [label_text(distinct[i]) for i in keep] + [
            f"other ({distinct.size - keep.size} labels)"]
        spec.category_of = remap[inverse]
        return
    spec.categories = [label_text(v) for v in distinct]
    spec.category_of = inverse


def _rows_or_points(proj, value, name: str, dims) -> tuple[np.ndarray, np.ndarray | None]:
    """Map positions (m, 2) for a highlight value, and the rows it names (None: vectors)."""
    n = proj.coords.shape[0]
    if hasattr(value, "indices") and hasattr(value, "scores"):      # a Neighbors result
        value = np.asarray(value.indices).ravel()
    raw = np.asarray([value] if isinstance(value, numbers.Integral) else value)
    if raw.dtype.kind in "iu" or raw.size == 0:                      # row positions
        rows = raw.astype(np.int64).ravel()
        bad = rows[(rows < 0) | (rows >= n)]
        if bad.size:
            raise ValueError(f"highlight[{name!r}] has row positions outside 0..{n - 1} "
                             f"(first: {', '.join(map(str, bad[:5]))}); pass row positions "
                             "of the projected vectors")
        coords = proj.coords[rows]
    elif raw.dtype.kind == "f":                                      # vectors: place them
        rows = None
        coords = np.atleast_2d(proj.transform(_vectors(proj, raw, name)))
    else:
        raise TypeError(f"highlight[{name!r}] must be integer row positions, vectors in "
                        f"the original space, or a Neighbors result; got dtype {raw.dtype}")
    return _pick(coords, dims), rows


def _vectors(proj, raw: np.ndarray, name: str) -> np.ndarray:
    """Highlight vectors checked under their own name (the errors of ``transform`` say
    "Y", an argument the caller of ``plot`` never wrote)."""
    label = f"highlight[{name!r}]"
    vectors = V.as_vectors(raw, label)
    fitted = proj.components if proj.components is not None else proj.data
    if fitted is not None and vectors.shape[-1] != fitted.shape[1]:
        raise ValueError(f"dimension mismatch: {label} holds vectors of dimension "
                         f"{vectors.shape[-1]} but the projection was fitted on dimension "
                         f"{fitted.shape[1]}; pass vectors from the same embedding model, "
                         "or row positions as integers")
    return vectors


def _pick(coords: np.ndarray, dims) -> np.ndarray:
    if coords.shape[1] == 1:
        return np.column_stack([coords[:, 0], np.zeros(coords.shape[0])])
    return coords[:, list(dims)]


def prepare_plot(proj, *, labels=None, texts=None, highlight=None, color_by=None, k=10,
                 dims=(0, 1), title=None) -> PlotSpec:
    """Check the plot options of :meth:`Projection.plot` and compute what to draw."""
    n, c = proj.coords.shape
    given = tuple(dims) if isinstance(dims, (tuple, list, np.ndarray)) else None
    # subtle: int() read dims=(0.5, 1) as (0, 1) and dims="01" as (0, 1), silently
    if given is None or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                for d in given):
        raise TypeError(f"dims must be two integers, the map dimensions to draw (in "
                        f"0..{c - 1}), e.g. dims=(0, 1); got {dims!r}")
    dims = tuple(int(d) for d in given)
    if len(dims) != 2 or (c > 1 and not all(0 <= d < c for d in dims)):
        raise ValueError(f"dims must be two map dimensions in 0..{c - 1}, got {dims}")
    xy = _pick(proj.coords, dims)
    names = proj.axis_labels()
    xlabel = names[dims[0]] if c > 1 else names[0]
    ylabel = names[dims[1]] if c > 1 else ""
    if title is None:
        title = f"{proj.method.upper()} map of {n} vectors"
        if proj.explained_variance_ratio is not None:
            shown = float(sum(proj.explained_variance_ratio[d] for d in set(dims) if d < c))
            title += f" ({100 * shown:.1f}% of the variance shown)"
    if isinstance(xy, np.ndarray):
        # subtle: a map wrapped by hand may hold NaN/inf positions, which matplotlib and
        # plotly skip without a word: the title says which rows are not drawn
        lost = np.flatnonzero(~np.isfinite(xy).all(axis=1))
        if lost.size:
            title += f"\nnot drawn: {V.format_rows(lost)} with a NaN or inf position"
    spec = PlotSpec(x=xy[:, 0], y=xy[:, 1], xlabel=xlabel, ylabel=ylabel, title=title)

    if texts is not None:
        spec.hover = [text_or_empty(t) for t in _per_point(texts, n, "texts")]
    labels = None if labels is None else _per_point(labels, n, "labels")
    if isinstance(color_by, str):
        V.check_choice(color_by, "color_by", ("labels", "faithfulness"))
        if color_by == "labels" and labels is None:
            raise ValueError("color_by='labels' needs labels=; pass one label per point")
    from .faithfulness import Faithfulness

    given = color_by if isinstance(color_by, Faithfulness) else None
    if given is not None and (given.points is not None or given.overlap.shape != (n,)):
        raise ValueError("color_by=Faithfulness needs one overlap per point; compute it "
                         "without sample=")
    mode = "faithfulness" if given is not None else color_by if isinstance(color_by, str) \
        else ("values" if color_by is not None else ("labels" if labels is not None else None))
    if mode == "labels":
        _colour_labels(spec, labels)
    elif mode == "faithfulness":
        faith = given if given is not None else proj.faithfulness(k)
        spec.values, spec.cmap, spec.vrange = faith.overlap, "RdYlGn", (0.0, 1.0)
        spec.value_label = (f"share of its {faith.k} nearest ({faith.metric}) neighbours "
                            "kept on the map")
        spec.title += (f"\nmean neighbour overlap {faith.mean_overlap:.2f} (random map "
                       f"{faith.chance:.3f}), trustworthiness {faith.trustworthiness:.3f}")
    elif mode == "values":
        values = _per_point(color_by, n, "color_by")
        if values.dtype.kind in "US":       # astype(float) failed without naming it
            raise TypeError(f"color_by must hold one number per point (drawn with a colour "
                            f"bar), got text (dtype {values.dtype}); pass categories such "
                            "as topics as labels= instead")
        spec.values = V.as_vector(values, "color_by").astype(np.float64)
        spec.value_label = "value"
    if labels is not None and spec.hover is None:
        spec.hover = [f"row {i}" for i in range(n)]
    if labels is not None:
        spec.hover = [f"{h} [{label_text(lab)}]"
                      for h, lab in zip(spec.hover, labels)]

    if highlight is not None:
        if not isinstance(highlight, dict):
            highlight = {"highlighted": highlight}
        extra = itertools.cycle(_EXTRA)
        for name, value in highlight.items():
            if value is None:
                continue
            pts, rows = _rows_or_points(proj, value, str(name), dims)
            marker, symbol, colour, size = HIGHLIGHT_STYLE.get(str(name).lower()) or next(extra)
            if rows is not None:
                hover = [f"{name}: " + (spec.hover[r] if spec.hover else f"row {r}") for r in rows]
            else:
                hover = [f"{name} {i}" for i in range(pts.shape[0])]
            spec.highlights.append({"name": str(name), "x": pts[:, 0], "y": pts[:, 1],
                                    "marker": marker, "symbol": symbol, "color": colour,
                                    "size": size, "hover": hover})
    return spec
