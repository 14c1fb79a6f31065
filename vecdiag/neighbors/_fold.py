"""Optional compiled fold-in of a score block into the running best (numba, if installed).

The NumPy path (:func:`._filter.select` then :meth:`._select.Best.add`) takes group
maxima over the block, gathers the members of the passing groups, compares them, sorts
the survivors by row and folds them in (rounds that replace each row's smallest key, or
a partition): a few dozen array operations per block.
The kernels (:mod:`._fold_kernels`) stream the block once instead: 64 entries at a time
are compared with their rows' running bar and the hits counted in one vectorised step.
A row's kept entries are held in descending order of key, so an entry that beats the bar
is inserted where it belongs and the smallest drops out; the bar then rises at once (not
only at the next block) to the new smallest kept key, or, with the engine's ``rank`` and
``slack``, to ``slack`` below the row's ``rank``-th best when that is higher (see
:class:`._select.SharedBest`). Rows with no bar yet (a scan's first block) get the
block's own (:func:`._filter.block_bar`: just below the ``rank``-th largest maximum of
strided groups, less ``slack``), so the kernel does not insert every entry on its way up.

Same contract as the NumPy path: every entry of a row above its running threshold (and
its floor) that is among the row's ``kp`` best ends up kept (ties at the boundary may keep either entry:
the engine's refine step settles them).

Which path runs (:func:`vecdiag.neighbors._scan.use_compiled`) follows the environment
variable ``VECDIAG_NUMBA``: ``1`` uses the kernel for every scan of at least
``_scan._COMPILED_FLOPS`` (2e10 flops, about 0.1 s of products); unset or ``0``, the
NumPy filter. Inside whole searches it is a few points faster (100,000 x 384, 1,000
queries, two cores: 88-94% of the bare products against 82-91% for NumPy on an Intel
Xeon; the selection alone, the 26 blocks of one search on one thread: 38 ms against 78
ms; see benchmarks/README.md). It stays opt-in because importing numba and loading the
compiled kernel from its on-disk cache costs about half a second per process (several
seconds the very first time, when it compiles): at 2-3% saved, more than it saves on any
search under about 20 s.
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
