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
``_scan._COMPILED_FLOPS`` (2e10 flops, about 0.1 s of products), ``0`` never. Unset (or
``auto``), a search scan uses it when it repays loading it. Importing numba and loading
the compiled kernel from its on-disk cache cost about 0.4 s and 50 MB per process (1.5 s
the very first time, when it compiles); the kernel saves 3-5% of a search's time once
loaded (two cores, an Intel Xeon: 200,000 x 384, 1,000 and 6,600 queries, 0.42 s against
0.44 s and 3.11 s against 3.22 s; 100,000 x 384, 1,000 queries, 89% of the bare products
against 86%; the selection alone, the 26 blocks of that search on one thread, 24 ms
against 45 ms; see benchmarks/README.md). In fresh processes a search of 1e12 flops took
3.4-3.7 s with the load against 3.3-3.4 s without, and of 4e12 flops 12.3-13.4 s against
12.2-12.8 s: so only a scan of ``_scan._LOAD_REPAID_FLOPS`` (1e13 flops, about half a
minute of products) loads it, and once it is loaded in the process (by such a scan, by
``VECDIAG_NUMBA=1``, or by an earlier call) every search scan from ``_COMPILED_FLOPS`` on
uses it. The kNN graph pass keeps the NumPy filter unless asked (it was as fast or faster
there: each pair of blocks is scored once and both selections run on it).
"""

from __future__ import annotations

import os

_kernels = None                       # (by_column, by_row) once imported; False: no numba


def switch(variable: str) -> str:
    """An accelerator's environment variable read: ``"on"`` (1, true, yes, on),
    ``"off"`` (0, false, no, off) or ``"auto"`` (unset, empty, auto, anything else)."""
    value = os.environ.get(variable, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return "on"
    if value in ("0", "false", "no", "off"):
        return "off"
    return "auto"


def mode() -> str:
    """``VECDIAG_NUMBA`` read (:func:`switch`)."""
    return switch("VECDIAG_NUMBA")


def loaded() -> bool:
    """Whether the kernels are already imported in this process (no load cost left)."""
    return bool(_kernels)


def kernels():
    """The compiled kernels ``(by_column, by_row)`` of :mod:`._fold_kernels`, or None
    when numba is not installed (imported on the first call)."""
    global _kernels
    if _kernels is None:
        try:
            from . import _fold_kernels
        except Exception:                   # noqa: BLE001 - no numba, or one that fails
            # to import (a NumPy it was not built for): the NumPy path gives the same result
            _kernels = False
        else:
            _kernels = (_fold_kernels.by_column, _fold_kernels.by_row)
    return _kernels or None
