"""What a :class:`DriftResult` shows besides its test: the mean-shift details (which
dimensions moved) and the PCA picture that :meth:`DriftResult.plot` draws."""

from __future__ import annotations

import numpy as np

from . import _stats

__all__ = ["mean_shift_details", "pca_picture"]


def mean_shift_details(x: np.ndarray, y: np.ndarray, top: int) -> dict:
    """``details`` of a mean-shift test: the means' distance and cosine, and the
    standardised shift of every dimension (``current - reference``), largest first."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    nx, ny = float(np.linalg.norm(mx)), float(np.linalg.norm(my))
    # subtle: a mean at the origin up to rounding (centred data) has no direction; its
    # cosine would be drawn from the rounding noise: None, not a confident-looking number
    tiny = lambda X, norm: norm <= 1e-10 * float(np.sqrt((X * X).sum(axis=1)).mean())  # noqa: E731
    undefined = tiny(x, nx) or tiny(y, ny)
    cos = None if undefined else float(np.clip(mx @ my / (nx * ny), -1, 1))
    z = _stats.standardized_shift(x, y)
    order = np.argsort(-np.nan_to_num(np.abs(z), posinf=np.inf), kind="stable")[:top]
    return {"euclidean_distance": float(np.linalg.norm(my - mx)),
            "cosine_of_means": cos,
            "cosine_distance_of_means": None if cos is None else 1.0 - cos,
            "norm_reference_mean": nx, "norm_current_mean": ny,
            "top_dims": [int(j) for j in order],
            "top_shifts": [float(z[j]) for j in order], "dimension_shift": z}


def pca_picture(x, y, plot_points, rng, swap: bool = False) -> dict:
    """PCA of a plotting sample of both sets (stored so that plot() only draws); ``x``
    and ``y`` in the order of the draws, ``swap`` when ``x`` is the current set."""
    def keep(X):
        if X.shape[0] <= plot_points:
            return X
        return X[np.sort(rng.choice(X.shape[0], plot_points, replace=False))]

    px, py = keep(x), keep(y)
    P = np.vstack([px, py])
    center = P.mean(axis=0)
    _, s, vt = np.linalg.svd(P - center, full_matrices=False)
    k = min(2, vt.shape[0])
    axes = np.zeros((2, P.shape[1]))
    axes[:k] = vt[:k]
    # deterministic signs: the largest loading of each axis is positive
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes *= np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    ratio = np.zeros(2)
    if var.sum() > 0:
        ratio[:k] = var[:k] / var.sum()
    means = np.vstack([x.mean(axis=0), y.mean(axis=0)])
    coords, mean_coords = [(px - center) @ axes.T, (py - center) @ axes.T], (means - center) @ axes.T
    if swap:
        coords, mean_coords = coords[::-1], mean_coords[::-1]
    return {"reference_coords": coords[0], "current_coords": coords[1],
            "mean_coords": mean_coords, "explained_variance_ratio": ratio}
