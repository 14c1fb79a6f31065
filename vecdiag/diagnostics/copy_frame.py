"""The frame near-copies are judged in besides the raw cosine: one record, shared.

:func:`vecdiag.diagnose` judges a pair a near-copy when it is one by raw cosine and, where
the raw cosine misleads, also in the frame the search's distortion is removed from: with
each dimension standardised when rogue dimensions decide every cosine. An explanation's
near-copy cause and its de-duplicated counterfactual (:func:`vecdiag.fixes.deduplicate`,
``frame=``) must group copies in that same frame; a :class:`CopyFrame` carries it from
the one place that decides it to every place that groups.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["CopyFrame", "frame_moments"]


@dataclass(frozen=True, eq=False)
class CopyFrame:
    """Rows in the frame near-copies are also judged in: ``(unit(x) - shift) * scale``.

    Parameters
    ----------
    unit : bool
        Divide each row by its length first (the unit rows of a cosine search).
    shift : ndarray (d,) or None
        Subtracted from every (unit) row: a mean, or None for none.
    scale : ndarray (d,) or None
        Multiplies each dimension: one over its root mean square, or None for none.

    Examples
    --------
    >>> f = CopyFrame(unit=False, shift=None, scale=np.array([1.0, 0.01]))
    >>> f.rows(np.array([[3.0, 400.0], [0.0, 0.0]])).tolist()
    [[3.0, 4.0], [0.0, 0.0]]
    """

    unit: bool
    shift: np.ndarray | None
    scale: np.ndarray | None

    def rows(self, X) -> np.ndarray:
        """``X`` (a row block of the corpus, or queries) in this frame, float64; a zero
        row stays zero when ``unit``."""
        out = np.array(X, dtype=np.float64)
        if self.unit:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        if self.shift is not None:
            out -= self.shift
        if self.scale is not None:
            out *= self.scale
        return out

    @property
    def summary(self) -> str:
        """The frame in words, for a sentence "copies also judged ...".

        Examples
        --------
        >>> CopyFrame(unit=True, shift=np.zeros(2), scale=None).summary
        'on the unit rows less their mean'
        """
        rows = "the unit rows" if self.unit else "the rows"
        parts = [f"on {rows} less their mean"] if self.shift is not None else []
        if self.scale is not None:
            parts.append("with each dimension over its root mean square (a few dimensions "
                         "decide the raw cosines)")
        return ", ".join(parts) or f"on {rows}"

    @property
    def key(self) -> tuple:
        """A hashable identity (for ``index.cache`` keys): equal frames, equal keys."""
        digest = hashlib.sha1()
        for part in (self.shift, self.scale):
            digest.update(b"-" if part is None else np.asarray(part, np.float64).tobytes())
        return (bool(self.unit), digest.hexdigest())


def frame_moments(X, unit: bool, centre: bool, spread: bool = True) -> tuple:
    """``(mean, rms)`` per dimension (float64) of the rows of ``X`` (over their lengths
    when ``unit``; a zero row stays zero): the mean when ``centre`` (else 0) and the root
    mean square about it (None without ``spread``: the mean's pass alone), the figures a
    :class:`CopyFrame` is made of. Two passes, one piece of rows at a time (of a Dask
    array, one pass over its blocks each).

    Examples
    --------
    >>> frame_moments(np.array([[3.0, 4.0], [0.0, 2.0]]), unit=True, centre=True)
    (array([0.3, 0.9]), array([0.3, 0.1]))
    """
    from ..scale.chunks import is_dask_array
    from .moments import block_rows

    n, d = X.shape
    if is_dask_array(X):
        V = X.astype(np.float64)
        if unit:
            norms = np.sqrt((V ** 2).sum(axis=1))
            V = V / (norms + (norms == 0))[:, None]
        mean = np.asarray(V.mean(axis=0).compute(), np.float64) if centre else np.zeros(d)
        if not spread:
            return mean, None
        rms = np.sqrt(np.asarray(((V - mean) ** 2).mean(axis=0).compute(), np.float64))
        return mean, rms
    step = block_rows(d)
    frame = CopyFrame(unit=unit, shift=None, scale=None)
    mean = np.zeros(d)
    if centre:
        for a in range(0, n, step):
            mean += frame.rows(X[a:a + step]).sum(axis=0)
        mean /= max(n, 1)
    if not spread:
        return mean, None
    sq = np.zeros(d)
    for a in range(0, n, step):
        B = frame.rows(X[a:a + step]) - mean
        sq += np.einsum("ij,ij->j", B, B)
    return mean, np.sqrt(sq / max(n, 1))
