"""Draw-only functions behind every ``.plot()``: they take stored numbers, never compute.

One module per result family (``plot/vectors.py`` for the vector-math results, and so
on). Matplotlib is imported here, on first use, never by ``import vecdiag``.
"""

from __future__ import annotations

from ..results import valid_text


def get_ax(ax=None, *, figsize=(6.0, 4.0)):
    """Return ``ax`` or a new Axes on a new figure (headless-safe: Agg without a display).
    Anything but a matplotlib Axes is refused by name (``ax=3`` failed deep in the
    drawing as "'int' object has no attribute 'scatter'")."""
    if ax is not None:
        return check_ax(ax)
    import matplotlib

    if not _has_display():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def check_ax(ax, name: str = "ax"):
    """``ax`` when it is one matplotlib Axes; a TypeError naming ``name`` otherwise (the
    array of Axes ``plt.subplots(1, 2)`` returns, a Figure, a number)."""
    from matplotlib.axes import Axes

    if isinstance(ax, Axes):
        return ax
    hint = (f"pass one of them, e.g. {name}[0]" if getattr(ax, "ndim", 0)
            else "pass fig.axes[0] or make one: fig, ax = plt.subplots()"
            if hasattr(ax, "add_subplot") else "e.g. fig, ax = plt.subplots()")
    raise TypeError(f"{name} must be a matplotlib Axes, got {type(ax).__name__}; {hint}")


def literal(text) -> str:
    """``text`` drawn by matplotlib as written: every ``$`` escaped.

    Matplotlib reads a string holding a pair of ``$`` as mathtext: a user's label, id or
    name such as ``"$x^$"`` would fail to draw (a ParseSyntaxException when the figure
    is shown or saved) and ``"from $5 to $10"`` would lose its dollar signs to math
    italics. An escaped ``\\$`` draws as ``$``. For data strings only (labels, ids,
    names); a title the user writes may use mathtext on purpose.

    A lone surrogate (``"\\ud800"`` in a JSON file decodes to one) becomes U+FFFD, as in
    :func:`vecdiag.results.valid_text`: the font engine refuses it, and the figure
    failed to draw with a TypeError from ``FT2Font.set_text``.

    Examples
    --------
    >>> literal("from $5 to $10")
    'from \\\\$5 to \\\\$10'
    >>> literal("caf\\ud800e") == "caf\\ufffde"
    True
    """
    return valid_text(text).replace("$", r"\$")


def _has_display() -> bool:
    import os
    import sys

    if "ipykernel" in sys.modules or "matplotlib.pyplot" in sys.modules:
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")
