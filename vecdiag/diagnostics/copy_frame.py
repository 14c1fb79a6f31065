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

__all__ = ["CopyFrame"]


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
    def key(self) -> tuple:
        """A hashable identity (for ``index.cache`` keys): equal frames, equal keys."""
        digest = hashlib.sha1()
        for part in (self.shift, self.scale):
            digest.update(b"-" if part is None else np.asarray(part, np.float64).tobytes())
        return (bool(self.unit), digest.hexdigest())
