"""Optional compiled fold-in of a score block into the running best (numba, if installed).

The NumPy path (:func:`._select.select` then :meth:`._select.Best.add`) takes group
maxima over the block, gathers the members of the passing groups, compares them, sorts
the survivors by row and merges them with a partition: a dozen array passes per block.
The kernels (:mod:`._fold_kernels`) stream the block once instead: 16 entries at a time
are compared with their rows' running ``kp``-th best in one vector step, and an entry
that beats it replaces the row's smallest kept entry (the bar then rises at once, not
only at the next block).

Same contract as the NumPy path: every entry of a row above its running threshold that
is among the row's ``kp`` best ends up kept (ties at the boundary may keep either entry:
the engine's refine step settles them).

Which path runs (:func:`vecdiag.neighbors._scan.use_compiled`) follows the environment
variable ``VECDIAG_NUMBA``: ``1`` uses the kernel for every scan of at least
``_scan._COMPILED_FLOPS`` (2e10 flops, about 0.1 s of products); unset or ``0``, the
NumPy filter. It is opt-in: on the selection alone it is faster (one search of
100,000 x 384 with 1,000 queries, one thread: 52-56 ms against 72-102 ms), but inside
whole searches it was not (low load, two cores: 79-82% of the bare products against
84-88% for NumPy; see benchmarks/README.md), and importing numba and loading the
compiled kernel costs about a second (several the very first time, when it compiles
into numba's on-disk cache).
"""

from __future__ import annotations

import os

_kernels = None                       # (by_column, by_row) once imported; False: no numba


def mode() -> str:
    """``"on"`` when the environment variable VECDIAG_NUMBA asks for the kernel, else
    ``"off"``."""
    value = os.environ.get("VECDIAG_NUMBA", "").strip().lower()
    return "on" if value in ("1", "true", "yes", "on") else "off"


def kernels():
    """The compiled kernels ``(by_column, by_row)`` of :mod:`._fold_kernels`, or None
    when numba is not installed (imported on the first call)."""
    global _kernels
    if _kernels is None:
        try:
            from . import _fold_kernels
        except ImportError:
            _kernels = False
        else:
            _kernels = (_fold_kernels.by_column, _fold_kernels.by_row)
    return _kernels or None
