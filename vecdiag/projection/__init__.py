"""Projections that tell the truth: PCA (exact, fast), UMAP, pictures, and where they lie.

Read in this order:

* :mod:`._pca` — :func:`pca`: centre, covariance in one streamed pass, eigh, sign rule
  (the plain-Python lesson is :func:`vecdiag.scratch.pca`);
* :mod:`._umap` — :func:`umap` through umap-learn (extra ``umap``);
* :mod:`.result` — :class:`Projection`: coordinates, ``transform`` for queries,
  ``plot``, ``faithfulness``;
* :mod:`.faithfulness` — per-point neighbour overlap and trustworthiness;
* :mod:`.plotting` — turns a Projection and plot options into numbers to draw
  (the drawing itself is :mod:`vecdiag.plot.projection`).
"""

from __future__ import annotations

from .. import _validate as V
from ._pca import pca
from ._umap import umap
from .faithfulness import Faithfulness
from .result import Projection

__all__ = ["pca", "umap", "project", "Projection", "Faithfulness"]

METHODS = ("pca", "umap")


def project(X, method: str = "pca", **kwargs) -> Projection:
    """Project vectors onto a low-dimensional map with ``method`` ("pca" or "umap").

    Parameters
    ----------
    X : array-like, shape (n, d)
    method : {"pca", "umap"}
    **kwargs
        Passed to :func:`pca` or :func:`umap` (``n_components``, ``metric``, ...).

    Returns
    -------
    Projection

    Examples
    --------
    >>> import vecdiag as vd
    >>> vd.project([[0, 0], [1, 1], [2, 2.5]], method="pca", n_components=1).method
    'pca'
    """
    V.check_choice(method, "method", METHODS)
    return (pca if method == "pca" else umap)(X, **kwargs)
