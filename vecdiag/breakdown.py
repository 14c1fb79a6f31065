"""A cosine taken apart, dimension by dimension: :func:`explain_cosine` (a teaching aid).

The cosine is a sum over dimensions, so each dimension's share of it can be read off; the
vector math itself is :mod:`vecdiag.linalg`'s.
"""

from __future__ import annotations

import numpy as np

from . import _validate as V
from .linalg import cosine, norm, normalize
from .results import Result, fmt, html_block, html_table, result

__all__ = ["explain_cosine", "CosineBreakdown"]


@result
class CosineBreakdown(Result):
    """A cosine taken apart, dimension by dimension (a teaching aid).

    ``cosine = Σ_i a_i b_i / (‖a‖ ‖b‖)``, so dimension ``i`` adds
    ``contribution[i] = a_i b_i / (‖a‖ ‖b‖)`` to the cosine. Built by
    :func:`vecdiag.explain_cosine`.

    Attributes
    ----------
    a, b : ndarray
        The two vectors (float64 copies).
    products : ndarray
        Per-dimension products ``a_i * b_i``.
    running_sum : ndarray
        Cumulative sum of ``products``; its last entry is the dot product.
    dot : float
        ``Σ a_i b_i``.
    norm_a, norm_b : float
        ``‖a‖`` and ``‖b‖``.
    cosine : float
        ``dot / (norm_a * norm_b)``, clipped to [-1, 1].
    contribution : ndarray
        Each dimension's share of the cosine, ``products / (norm_a * norm_b)``.
    top_dims : ndarray
        Dimensions with the largest ``|contribution|``, largest first.

    Examples
    --------
    >>> br = explain_cosine([1, 2, 0], [2, 1, 5])
    >>> br.products.tolist(), br.running_sum.tolist()
    ([2.0, 2.0, 0.0], [2.0, 4.0, 4.0])
    >>> br.contribution.round(4).tolist()
    [0.1633, 0.1633, 0.0]
    """

    a: np.ndarray
    """The first vector (float64 copy)."""
    b: np.ndarray
    """The second vector (float64 copy)."""
    products: np.ndarray
    """Per-dimension products ``a_i * b_i``."""
    running_sum: np.ndarray
    """Cumulative sum of ``products``; its last entry is the dot product."""
    dot: float
    """``Σ a_i b_i``."""
    norm_a: float
    """``‖a‖``."""
    norm_b: float
    """``‖b‖``."""
    cosine: float
    """``dot / (norm_a * norm_b)``, clipped to [-1, 1]."""
    contribution: np.ndarray
    """Each dimension's share of the cosine, ``products / (norm_a * norm_b)``."""
    top_dims: np.ndarray
    """Dimensions with the largest ``|contribution|``, largest first."""

    def to_frame(self):
        """One row per dimension: a_i, b_i, product, running sum, contribution."""
        import pandas as pd

        return pd.DataFrame({
            "dim": np.arange(self.a.size),
            "a": self.a, "b": self.b, "product": self.products,
            "running_sum": self.running_sum, "contribution": self.contribution,
        }).set_index("dim")

    def _repr_html_(self) -> str:
        formula = (f"<p>cos(a, b) = Σ a<sub>i</sub>b<sub>i</sub> / (‖a‖ ‖b‖) = "
                   f"{fmt(self.dot)} / ({fmt(self.norm_a)} × {fmt(self.norm_b)}) = "
                   f"<b>{fmt(self.cosine)}</b></p>")
        rows = [(int(i), self.a[i], self.b[i], self.products[i], self.contribution[i])
                for i in self.top_dims]
        table = html_table(rows, ["dim", "a_i", "b_i", "a_i·b_i", "adds to cosine"],
                           numeric={"a_i", "b_i", "a_i·b_i", "adds to cosine"})
        return html_block(f"Cosine breakdown ({self.a.size} dimensions)", formula,
                          f"<p>Top {len(self.top_dims)} dimensions by |contribution|:</p>", table)

    def plot(self, ax=None):
        """Bars: the top dimensions' contributions to the cosine. Returns the Axes."""
        from .plot.vectors import draw_cosine_breakdown

        return draw_cosine_breakdown(self, ax=ax)


def explain_cosine(a, b, *, top: int = 10) -> CosineBreakdown:
    """Take a cosine apart: per-dimension products, running sum, both norms, the division.

    Parameters
    ----------
    a, b : array-like, 1-D, same dimension, neither a zero vector
    top : int
        How many of the largest contributing dimensions to list in ``top_dims``.

    Examples
    --------
    >>> br = explain_cosine([1, 2, 0], [2, 1, 5])
    >>> br.dot, br.cosine == cosine([1, 2, 0], [2, 1, 5])
    (4.0, True)
    >>> br.top_dims.tolist()
    [0, 1, 2]
    """
    a = V.as_vector(a, "a").astype(np.float64)
    b = V.as_vector(b, "b").astype(np.float64)
    V.check_same_dim(a, "a", b, "b")
    top = V.check_positive_int(top, "top")
    V.zero_rows(np.abs(a).max(), "a")         # no zero= option here, so the error says
    V.zero_rows(np.abs(b).max(), "b")         # "drop it", not "pass zero='ignore'"
    value = cosine(a, b)
    with np.errstate(over="ignore"):          # refused just below, with the fix
        products = a * b
    if not np.isfinite(products).all():
        raise ValueError("a and b are too large for a per-dimension breakdown (products "
                         "overflow); pass normalize(a) and normalize(b) instead")
    norm_a, norm_b = norm(a), norm(b)
    # subtle: a_i b_i / (‖a‖ ‖b‖) = u_i v_i with u, v the unit vectors. Tiny vectors
    # (1e-170) have products that underflow to 0 although their cosine is well defined:
    # the unit vectors' products still add up to it.
    contribution = normalize(a) * normalize(b)
    order = np.argsort(-np.abs(contribution), kind="stable")[:top]
    running = np.cumsum(products)
    return CosineBreakdown(a=a, b=b, products=products, running_sum=running,
                           dot=float(np.dot(a, b)), norm_a=norm_a, norm_b=norm_b,
                           cosine=value, contribution=contribution, top_dims=order)
