"""The Projection result: a 2-D (or k-D) map of the vectors, and how far to trust it."""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from .. import _validate as V
from ..results import Result, escape, html_block, html_table, result
from ._offset import far_from_origin

__all__ = ["Projection", "COORDS_IN_MEMORY"]

COORDS_IN_MEMORY = 2**25
"""Largest ``n × n_components`` for which the coordinates of a PCA of a Dask array are
computed (a NumPy array: 256 MB of float64 at most); beyond it they stay a lazy Dask
array."""


def is_dask_array(x) -> bool:
    """:func:`vecdiag.scale.chunks.is_dask_array`, imported when first needed."""
    from ..scale.chunks import is_dask_array as check

    return check(x)


def linear_map(Y: np.ndarray, components: np.ndarray, mean: np.ndarray,
               center_blocks: bool) -> np.ndarray:
    """``(Y - mean) @ components.T`` in Y's dtype; inputs already checked."""
    W = components.astype(Y.dtype, copy=False)
    mu = mean.astype(Y.dtype)
    if not center_blocks:
        out = Y @ W.T
        out -= mu @ W.T
        return out
    out = np.empty((Y.shape[0], W.shape[0]), dtype=Y.dtype)
    rows = max(256, 2**23 // (Y.shape[1] * Y.dtype.itemsize))
    for start in range(0, Y.shape[0], rows):
        out[start:start + rows] = (Y[start:start + rows] - mu) @ W.T
    return out


def _checked_linear_map(Y, components, mean, center_blocks, block_info=None):
    """:func:`linear_map` of one row block of a Dask ``Y``, its NaN/inf rows refused by
    their global row (the in-memory transform's words: a block sees only its own rows)."""
    from ..scale.block_top import checked_block

    start = block_info[0]["array-location"][0][0] if block_info else 0
    checked_block(Y, start, "dot", "Y")
    return linear_map(Y, components, mean, center_blocks)


@result
class Projection(Result):
    """Vectors placed on a low-dimensional map (PCA or UMAP), ready to plot and to check.

    Build one with :func:`vecdiag.pca`, :func:`vecdiag.umap` or :func:`vecdiag.project`,
    or wrap a map made elsewhere: ``Projection(coords=Y, method="t-sne", data=X)``
    (``coords`` and ``data`` given as lists or other array-likes are read as arrays).

    Attributes
    ----------
    coords : ndarray, shape (n, n_components)
        Map coordinates, one row per input vector.
    method : str
        "pca" or "umap".
    explained_variance_ratio : ndarray, shape (n_components,), or None
        Share of the total variance along each component (PCA; None for UMAP).
    explained_variance : ndarray, shape (n_components,), or None
        Variance along each component, ``λ_j`` (PCA).
    components : ndarray, shape (n_components, d), or None
        Unit directions in the original space, largest variance first (PCA).
    mean : ndarray, shape (d,), or None
        The mean subtracted before projecting (PCA).
    metric : str
        Metric of the original space the map is judged against by :meth:`faithfulness`.
    params : dict
        Settings used (solver, n_neighbors, random_state, ...).
    data : ndarray or None
        The fitted vectors (a reference), needed by :meth:`faithfulness`.
    model : object
        The fitted umap.UMAP (UMAP only), used by :meth:`transform`.

    Examples
    --------
    >>> import vecdiag as vd
    >>> p = vd.pca([[0, 0], [1, 2], [2, 4], [3, 6]], n_components=1)
    >>> p.method, p.n_components, p.explained_variance_ratio.round(4).tolist()
    ('pca', 1, [1.0])
    >>> p.coords.round(4).tolist()
    [[-3.3541], [-1.118], [1.118], [3.3541]]
    """

    coords: np.ndarray
    """(n, n_components) map coordinates, one row per input vector."""
    method: str
    """"pca" or "umap"."""
    explained_variance_ratio: np.ndarray | None = None
    """(n_components,) share of the total variance along each component (PCA; None
    for UMAP, whose axes carry no variance meaning)."""
    explained_variance: np.ndarray | None = None
    """(n_components,) variance along each component, ``λ_j`` (PCA)."""
    components: np.ndarray | None = None
    """(n_components, d) unit directions in the original space, largest variance first;
    each with its largest absolute loading positive (PCA)."""
    mean: np.ndarray | None = None
    """(d,) the mean subtracted before projecting (PCA)."""
    metric: str = "euclidean"
    """Metric of the original space that the map is judged against by
    :meth:`faithfulness`: "euclidean" for PCA (the geometry it preserves), the fitted
    metric for UMAP."""
    params: dict = dataclasses.field(default_factory=dict)
    """Settings used (solver, n_neighbors, random_state, ...)."""
    data: np.ndarray | None = dataclasses.field(default=None, repr=False)
    """The fitted vectors (a reference, not a copy), needed by :meth:`faithfulness`."""
    model: object = dataclasses.field(default=None, repr=False)
    """The fitted umap.UMAP (UMAP only), used by :meth:`transform`."""
    _cache: dict = dataclasses.field(default_factory=dict, init=False, repr=False)

    # -- construction -------------------------------------------------------------------

    def __post_init__(self):
        # subtle: a Projection built by hand around a map made elsewhere may be given
        # lists (or a DataFrame, a tensor): plot, to_frame and the display read .shape
        # and index rows, so such values are read as arrays once, here. NumPy and Dask
        # arrays are kept as given (the fitted data is a reference, not a copy).
        for name in ("coords", "data"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, np.ndarray) \
                    and not is_dask_array(value):
                object.__setattr__(self, name, V.as_matrix(value, name, allow_empty=True,
                                                           finite=False))

    @classmethod
    def from_linear(cls, X, *, method, components, mean, explained_variance,
                    total_variance, params=None,
                    explained_variance_ratio=None) -> "Projection":
        """A linear map ``(x - mean) @ components.T`` fitted on checked ``X``.

        ``explained_variance_ratio``: when the fit knows it better than
        ``explained_variance / total_variance`` (variances far below the float range,
        whose ratio a fit of scaled data keeps), else computed from those two."""
        params = dict(params or {})
        params["total_variance"] = float(total_variance)
        # Centre block by block when the mean dwarfs the spread: x·w - μ·w would cancel.
        params["center_blocks"] = far_from_origin(mean, total_variance)
        variance = np.asarray(explained_variance, dtype=np.float64)
        proj = cls(coords=np.empty((0, components.shape[0])), method=method,
                   explained_variance_ratio=(variance / total_variance
                                             if explained_variance_ratio is None
                                             else np.asarray(explained_variance_ratio,
                                                             dtype=np.float64)),
                   explained_variance=variance, components=components, mean=mean,
                   metric="euclidean", params=params, data=X)
        coords = proj._linear(X)
        if is_dask_array(coords) and X.shape[0] * components.shape[0] <= COORDS_IN_MEMORY:
            from ..scale.chunks import compute

            coords, = compute(coords)
        object.__setattr__(proj, "coords", coords)
        return proj

    @property
    def n_components(self) -> int:
        """Number of map dimensions."""
        return self.coords.shape[1]

    def axis_labels(self) -> list[str]:
        """Axis names: ``"PC1 (12.3%)"`` for PCA, ``"UMAP 1"`` for UMAP."""
        if self.explained_variance_ratio is not None:
            return [f"PC{j + 1} ({100 * r:.1f}%)"
                    for j, r in enumerate(self.explained_variance_ratio)]
        name = self.method.upper()
        return [f"{name} {j + 1}" for j in range(self.n_components)]

    # -- new points ---------------------------------------------------------------------

    def _linear(self, Y, *, check: bool = False):
        """``(Y - mean) @ components.T`` in Y's dtype; inputs already checked. A Dask
        array gives a lazy Dask array (one task per row block; ``check``: each task
        refuses its NaN/inf rows, by global row)."""
        center = bool(self.params.get("center_blocks"))
        if is_dask_array(Y):
            c = self.components.shape[0]
            return Y.map_blocks(_checked_linear_map if check else linear_map,
                                self.components, self.mean, center,
                                dtype=Y.dtype, chunks=(Y.chunks[0], (c,)),
                                meta=np.empty((0, c), dtype=Y.dtype))
        return linear_map(Y, self.components, self.mean, center)

    def transform(self, Y) -> np.ndarray:
        """Place new vectors (e.g. queries) on this map.

        Parameters
        ----------
        Y : array-like, shape (m, d) or (d,)
            Vectors in the original space; a 1-D vector gives a 1-D result.

        Returns
        -------
        ndarray, shape (m, n_components) or (n_components,)

        Notes
        -----
        PCA: ``(y - mean) @ components.T``, exact; the fitted data returns ``coords``.
        PCA of a ``dask.array.Array`` ``Y``: a lazy Dask array (one task per row block;
        computing it raises on a NaN or inf row, named by its global row).
        UMAP: the fitted data returns ``coords``; other points are embedded by
        umap-learn's ``transform`` (placed among their nearest fitted neighbours, then
        refined), which is approximate.

        Examples
        --------
        >>> import vecdiag as vd
        >>> p = vd.pca([[0, 0], [1, 2], [2, 4], [3, 6]], n_components=1)
        >>> p.transform([1.5, 3.0]).round(6).tolist()     # the mean sits at 0
        [0.0]
        """
        if is_dask_array(Y) and self.components is not None:
            from ..scale.chunks import check_dask_matrix

            Y = check_dask_matrix(Y, "Y")
            if Y.shape[1] != self.components.shape[1]:
                raise ValueError(f"dimension mismatch: Y has dimension {Y.shape[1]} but the "
                                 f"projection was fitted on dimension "
                                 f"{self.components.shape[1]}")
            return self._linear(Y, check=True)   # NaN/inf rows refused when computed
        Y = V.as_vectors(Y, "Y")
        single = Y.ndim == 1
        Y2 = Y.reshape(1, -1) if single else Y
        dim = self.components.shape[1] if self.components is not None else (
            None if self.data is None else self.data.shape[1])
        if dim is not None and Y2.shape[1] != dim:
            raise ValueError(f"dimension mismatch: Y has dimension {Y2.shape[1]} but the "
                             f"projection was fitted on dimension {dim}; both must come "
                             "from the same embedding model")
        if self.components is not None:
            out = self._linear(Y2)
        elif self.data is not None and Y2.shape == self.data.shape and \
                (Y2 is self.data or np.array_equal(Y2, self.data)):
            out = self.coords.copy()
        elif self.model is not None:
            out = _umap_transform(self, Y2)
        else:
            raise ValueError("this Projection has no fitted model to place new points; "
                             "build it with vd.pca or vd.umap")
        return out[0] if single else out

    # -- how far to trust the map -------------------------------------------------------

    def faithfulness(self, k: int = 10, *, metric: str | None = None,
                     sample: int | None = None, random_state=0,
                     show_progress: bool | None = None):
        """How well the map keeps each point's k nearest neighbours.

        Parameters
        ----------
        k : int
            Neighbours per point; ``k < n / 2`` (needed by trustworthiness).
        metric : {"cosine", "dot", "euclidean"} or None
            Metric of the original space; None uses :attr:`metric` (euclidean for PCA,
            the fitted metric for UMAP). Pass ``"cosine"`` to ask whether the
            neighbours of a cosine search survive on the map.
        sample : int or None
            Check only this many random points (against all n): for large maps, cost
            ``O(sample · n · d)`` instead of ``O(n² d)``; trustworthiness is then an
            estimate. None checks every point.
        random_state : int, None or numpy Generator
            Picks the sample (default 0).
        show_progress : bool or None
            Progress bar over the rank computation (None: only for large inputs).

        Returns
        -------
        Faithfulness
            ``overlap`` per point, ``trustworthiness``, ``chance``; computed once per
            (k, metric) and cached.

        Notes
        -----
        See :func:`vecdiag.projection.faithfulness.faithfulness` for the formulas.

        Examples
        --------
        >>> import numpy as np, vecdiag as vd
        >>> X = np.random.default_rng(0).normal(size=(60, 3))
        >>> f = vd.pca(X, n_components=3).faithfulness(k=5)   # a rotation: nothing lost
        >>> float(f.overlap.min()), round(f.trustworthiness, 6)
        (1.0, 1.0)
        """
        from .faithfulness import faithfulness

        if self.data is None:
            raise ValueError("this Projection does not hold the fitted vectors (data=None), "
                             "so there is no original space to compare with; build it "
                             "with vd.pca or vd.umap, or pass data=")
        metric = self.metric if metric is None else V.check_metric(metric)
        key = (k, metric, sample, random_state if sample is not None else None)
        seeded = random_state is None or (isinstance(random_state, numbers.Integral)
                                          and not isinstance(random_state, bool))
        if sample is not None and not seeded:
            key = None      # a Generator (or RandomState) draws a new sample each call
        try:
            hash(key)
        except TypeError:                         # e.g. an unhashable k: do not cache
            key = None
        if key is None or key not in self._cache:
            value = faithfulness(self.data, self.coords, k, metric=metric, sample=sample,
                                 random_state=random_state, show_progress=show_progress)
            if key is None:
                return value
            self._cache[key] = value
        return self._cache[key]

    # -- display ------------------------------------------------------------------------

    def to_frame(self):
        """One row per point: its map coordinates (columns PC1, PC2... or UMAP1...)."""
        import pandas as pd

        names = ([f"PC{j + 1}" for j in range(self.n_components)] if self.method == "pca"
                 else [f"{self.method.upper()}{j + 1}" for j in range(self.n_components)])
        return pd.DataFrame(self.coords, columns=names)

    def _repr_html_(self) -> str:
        n, c = self.coords.shape
        head = (f"<p>{n} points on a {c}-D {escape(self.method.upper())} map; faithfulness "
                f"is checked against the {escape(self.metric)} metric.</p>")
        if self.explained_variance_ratio is not None:
            ratio = np.asarray(self.explained_variance_ratio, dtype=np.float64)
            variance = self.explained_variance      # None in a map wrapped by hand
            variance = [""] * ratio.size if variance is None else variance
            rows = [[f"PC{j + 1}", v, r, float(np.sum(ratio[:j + 1]))]
                    for j, (v, r) in enumerate(zip(variance, ratio))]
            table = html_table(rows[:20], ["component", "variance", "ratio", "cumulative"],
                               numeric={"variance", "ratio", "cumulative"})
        else:
            table = html_table([[k, v] for k, v in self.params.items()], ["setting", "value"])
        return html_block(f"Projection ({self.method})", head, table)

    def plot(self, labels=None, texts=None, highlight=None, ax=None, interactive=False, *,
             color_by=None, k: int = 10, dims=(0, 1), title: str | None = None):
        """Scatter the map; colours for labels or faithfulness, highlighted points on top.

        Parameters
        ----------
        labels : sequence, optional
            One label per point (e.g. topic): colours with a legend (at most 20 distinct
            values, or not numbers), else a colour bar; a missing label is "(no label)".
        texts : sequence of str, optional
            One text per point: hover text when ``interactive=True``.
        highlight : dict, sequence of int, or None
            Points to mark on top with distinct markers: ``{"query": q, "neighbors":
            rows, "expected": rows, ...}``. ``q`` is a vector (or rows of vectors) in the
            original space, placed with :meth:`transform`, or integer row positions;
            other values are integer row positions or a ``Neighbors`` result. A plain
            sequence of ints marks those rows as "highlighted".
        ax : matplotlib Axes, optional
        interactive : bool (True or False: the string ``"False"``, truthy, is refused)
            Return a plotly figure with hover texts instead (extra ``interactive``).
        color_by : None, "labels", "faithfulness", a Faithfulness, or n numbers
            ``"faithfulness"`` colours each point by the share of its k nearest
            neighbours that the map keeps (computed once, see :meth:`faithfulness`,
            in :attr:`metric`); pass ``p.faithfulness(k, metric="cosine")`` itself to
            judge the map against another metric.
        k : int
            Neighbours for ``color_by="faithfulness"``.
        dims : (int, int)
            Which map dimensions to draw.
        title : str, optional
            A line under it names the rows not drawn: NaN or inf positions (a map by hand).

        Returns
        -------
        matplotlib Axes, or a plotly Figure when ``interactive=True``.
        """
        from ..plot.projection import draw_projection, draw_projection_plotly
        from .plotting import prepare_plot

        spec = prepare_plot(self, labels=labels, texts=texts, highlight=highlight,
                            color_by=color_by, k=k, dims=dims, title=title)
        if V.check_bool(interactive, "interactive"):       # "False" is truthy
            return draw_projection_plotly(spec)
        return draw_projection(spec, ax=ax)


def _umap_transform(proj: Projection, Y: np.ndarray) -> np.ndarray:
    """Place checked rows ``Y`` on a fitted UMAP map with umap-learn's ``transform``."""
    import warnings

    if proj.metric == "cosine":
        from ..linalg import row_norms

        V.zero_rows(row_norms(Y), "Y", "raise")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state")
        return np.asarray(proj.model.transform(Y))

