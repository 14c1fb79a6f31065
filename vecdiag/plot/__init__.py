"""Draw-only functions behind every ``.plot()``: they take stored numbers, never compute.

One module per result family (``plot/vectors.py`` for the vector-math results, and so
on). Matplotlib is imported here, on first use, never by ``import vecdiag``.
"""

from __future__ import annotations

from ..results import valid_text


def get_ax(ax=None, *, figsize=(6.0, 4.0)):
    """Return ``ax`` or a new Axes on a new figure (headless-safe: Agg without a display)."""
    if ax is not None:
        return ax
    import matplotlib

    if not _has_display():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


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
