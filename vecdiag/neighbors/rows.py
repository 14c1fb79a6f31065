"""Vectors ready for scoring: :class:`Rows` (unit rows prepared once under cosine).

Every scoring path of vecdiag reads the corpus through one ``Rows`` object, the one an
:class:`vecdiag.Index` builds once (its public face is :attr:`vecdiag.Index.unit_rows`):
the exact engine (:mod:`.engine`), and the whole-ranking scorers of :mod:`.scoring`.
"""

from __future__ import annotations

import threading

import numpy as np

from .. import _validate as V
from ..linalg import normalize, row_norms

_SCAN_ROWS = 65_536                   # rows per piece when computing row statistics


class Rows:
    """Vectors ready for scoring, one metric's way (inputs already checked).

    cosine: unit rows, copied once (``X / ‖x‖``), or normalised block by block when the
    input is a memmap (a corpus larger than RAM is never copied whole) or ``copy=False``
    (a float32 Index searched in float64). dot: the rows
    themselves. euclidean: the rows and their squared norms. ``norms`` (row lengths)
    bound the rounding error in :func:`refine`.
    """

    def __init__(self, X: np.ndarray, metric: str, name: str, *, dtype=None,
                 copy: bool | None = None):
        self.source = X
        self.metric = metric
        self.n, self.d = X.shape
        self.dtype = np.dtype(dtype or X.dtype)
        # Row statistics in the working dtype, one piece at a time (a memmap stays on disk).
        self.raw_norms = np.zeros(self.n, self.dtype)
        self.sq = np.zeros(self.n, self.dtype) if metric == "euclidean" else None
        for a in range(0, self.n, _SCAN_ROWS):
            # C order: a row's sum then runs in one order whatever the layout of X
            piece = np.ascontiguousarray(X[a:a + _SCAN_ROWS], dtype=self.dtype)
            self.raw_norms[a:a + _SCAN_ROWS] = row_norms(piece)
            if self.sq is not None:
                self.sq[a:a + _SCAN_ROWS] = np.einsum("ij,ij->i", piece, piece)
        self._data = None
        self._pending = False            # cosine: unit rows to build on first use
        # groups of identical rows (None: not computed yet; () none), filled on demand
        # by vecdiag.neighbors._copies.copy_groups when a search meets a plateau of them
        self.copies = None
        self._lock = threading.Lock()
        # squared lengths of the rows ``scaled`` returns, per dtype, NaN until first asked
        self._scaled_sq: dict[np.dtype, np.ndarray] = {}
        copy = not isinstance(X, np.memmap) if copy is None else copy
        if metric == "cosine":
            V.zero_rows(self.raw_norms, name, "raise")
            # The unit copy doubles the memory of the corpus: it is built when the first
            # search needs it, not when the Index is built (a fetched store, a corpus only
            # diagnosed through its norms, never pays for it).
            self._pending = bool(copy)
            # unit rows: every length is 1 for the error bound
            self.norms = np.ones(self.n)
            self.max_norm = 1.0
        else:
            if X.dtype == self.dtype and isinstance(X, np.ndarray) and X.flags.c_contiguous:
                self._data = X
            elif copy:
                self._data = np.ascontiguousarray(X, dtype=self.dtype)
            self.norms = self.raw_norms.astype(float)
            self.max_norm = float(self.norms.max()) if self.n else 0.0

    @property
    def data(self) -> np.ndarray | None:
        """The prepared rows held in memory, or None when they are prepared block by block
        (a memmap corpus, or ``copy=False``). Under cosine the unit copy is made here, once,
        on first use."""
        if self._pending:
            with self._lock:
                if self._pending:
                    self._data = self._unit(np.asarray(self.source), self.raw_norms)
                    self._pending = False
        return self._data

    def __getstate__(self):                     # a lock does not pickle
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _unit(self, X: np.ndarray, norms: np.ndarray,
              out: np.ndarray | None = None) -> np.ndarray:
        """Rows in the working dtype; unit length under cosine. Written into ``out``
        (rows, d) of the working dtype when given (the same numbers)."""
        if out is None:
            # C order, so that products and sums over these rows run in one order
            # whatever the layout of the corpus (a Fortran-ordered copy of the same
            # numbers gave scores differing in the last bits)
            X = np.ascontiguousarray(X, dtype=self.dtype)
            if self.metric != "cosine":
                return X
            out = X / norms[:, None]
        else:
            np.copyto(out, X, casting="same_kind")
            if self.metric != "cosine":
                return out
            np.divide(out, norms[:, None], out=out)
        # subtle: a length past the float range (float32 [3e38, 3e38]) is inf, and x / inf
        # is 0; one among the subnormal numbers is rounded (float32 [3e-45, 4e-45] has
        # length 6e-45). Such rows would score far from their cosine and be missed:
        # normalize scales them by a power of two first (exact).
        info = np.finfo(self.dtype)
        far = (norms >= info.max) | (norms < info.tiny)
        if far.any():
            out[far] = normalize(np.asarray(X[far]).astype(self.dtype, copy=False))
        return out

    def block(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Prepared rows ``start:stop``: a view when prepared once, else a new array, or
        ``out`` (rows, d) of the working dtype filled with them when given."""
        if self.data is not None:
            return self.data[start:stop]
        return self._unit(np.asarray(self.source[start:stop]), self.raw_norms[start:stop],
                          out)

    def take(self, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Prepared rows at integer positions ``idx`` (any shape): shape ``idx.shape + (d,)``,
        a new array, or ``out`` (at least ``idx.size * d`` entries of the working dtype,
        contiguous) filled with them when given; positions must then lie in ``[0, n)``.

        ``out`` is for loops over many pieces (the engine's refine): a new array of a few
        MB for every piece maps fresh pages each time, and those page faults cost several
        times the copy itself (see benchmarks/README.md).
        """
        flat = idx.ravel()
        shape = idx.shape + (self.d,)
        if self.data is not None:
            if out is not None:
                return self._gather(self.data, flat, out).reshape(shape)
            return self.data[flat].reshape(shape)
        raw = np.asarray(self.source[flat])
        return self._unit(raw, self.raw_norms[flat],
                          None if out is None else self._rows_in(out, flat.size)
                          ).reshape(shape)

    def scaled(self, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Raw rows at ``idx`` divided by a power of two near their length (exact): a new
        array, or ``out`` filled with them (as for :meth:`take`).

        Used to score cosine as ``q·c / sqrt((q·q)(c·c))``, which is exactly 1.0 for a
        vector with itself (``sqrt(fl(s*s)) == s``) and cannot overflow.
        """
        flat = idx.ravel()
        norms = self.raw_norms[flat].astype(np.float64)
        _, exponent = np.frexp(norms)
        long = np.isinf(norms)
        if long.any():
            # subtle: a length past the float range (float32 [3e38, 3e38]) is inf: the
            # power of two of the largest entry then scales the row (entries below 2)
            biggest = np.abs(np.asarray(self.source[flat[long]], np.float64)).max(axis=1)
            exponent[long] = np.frexp(biggest)[1]
        if out is None:
            rows = np.asarray(self.source[flat]).astype(self.dtype)   # a copy, scaled below
        elif isinstance(self.source, np.ndarray) and self.source.dtype == self.dtype:
            rows = self._gather(self.source, flat, out)
        else:
            rows = self._rows_in(out, flat.size)
            np.copyto(rows, np.asarray(self.source[flat]), casting="unsafe")
        if exponent.size and -int(exponent.min()) >= np.finfo(self.dtype).maxexp:
            # subtle: rows of subnormal numbers (float32 lengths below ~1e-38) need a
            # factor 2**-e beyond the float range; ldexp scales them without forming it
            np.ldexp(rows, -exponent[:, None].astype(np.int32), out=rows)
        else:
            factor = np.ldexp(1.0, -exponent).astype(self.dtype)     # 2**-e: exact multiply
            np.multiply(rows, factor[:, None], out=rows)
        return rows.reshape(idx.shape + (self.d,))

    def scaled_sq(self, idx: np.ndarray, dtype) -> np.ndarray:
        """``c·c`` for the rows :meth:`scaled` returns at ``idx`` (any shape), with the
        products and NumPy's pairwise sum in ``dtype``: the numbers of
        ``np.add.reduce(np.multiply(c, c, out=<dtype array>), axis=-1)``.

        A search re-scores the same corpus rows again and again: each row's sum is
        computed the first time it is asked for and kept (the products of a row do not
        depend on the other rows of the call, so a kept sum is the one a new call would
        compute).
        """
        dtype = np.dtype(dtype)
        with self._lock:               # refine's workers share it: no read mid-write
            known = self._scaled_sq.get(dtype)
            if known is None:
                known = self._scaled_sq[dtype] = np.full(self.n, np.nan, dtype)
            got = known[idx]
        missing = np.isnan(got)
        if missing.any():
            rows = np.unique(idx[missing])
            c = self.scaled(rows)
            squares = np.empty(c.shape, dtype)
            np.multiply(c, c, out=squares)
            sums = np.add.reduce(squares, axis=-1)
            with self._lock:
                known[rows] = sums
            got[missing] = sums[np.searchsorted(rows, idx[missing])]
        return got

    def _gather(self, X: np.ndarray, flat: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Rows ``X[flat]`` written into the first ``flat.size * d`` entries of ``out``."""
        if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= self.n):
            raise IndexError(f"row positions must lie in [0, {self.n}); got "
                             f"{int(flat.min())} to {int(flat.max())}")
        rows = self._rows_in(out, flat.size)
        # positions checked above; "clip" writes straight into ``rows`` ("raise" copies)
        return np.take(X, flat, axis=0, out=rows, mode="clip")

    def _rows_in(self, out: np.ndarray, n_rows: int) -> np.ndarray:
        """The first ``n_rows * d`` entries of ``out`` as an (n_rows, d) view."""
        if out.dtype != self.dtype or not out.flags.c_contiguous \
                or out.size < n_rows * self.d:
            raise ValueError(f"out must be a contiguous {self.dtype} array of at least "
                             f"{n_rows * self.d} entries; got {out.dtype}, "
                             f"{out.size} entries")
        return out.reshape(-1)[:n_rows * self.d].reshape(n_rows, self.d)


def check_reach(q_max: float, c_max: float, metric: str, dtype, wider: str | None = None
                ) -> None:
    """Refuse dot or euclidean scores that ``dtype`` cannot hold, naming the fix.

    ``q_max``, ``c_max``: the longest query and corpus row. A score (and the euclidean
    key ``2 q·c − ‖c‖²``) reaches ``(q_max + c_max)²``: past an eighth of the type's
    largest number it overflows to inf, and under ``8 × tiny`` every square underflows
    to 0, so every score ties and the ranking is the tie rule's, not the data's (float64:
    vectors near 1e154 or 1e-154). The message gives both lengths; ``wider`` ends it (a
    wider float to try; by default " (or pass float64)" below float64). The one rule of :func:`vecdiag.knn` on NumPy and Dask input, of
    :func:`vecdiag.scratch.knn` and of the re-rankers in :mod:`vecdiag.fixes`.
    """
    if metric == "cosine":
        return
    if wider is None:
        wider = " (or pass float64)" if np.dtype(dtype) != np.float64 else ""
    info = np.finfo(dtype)
    reach = float(q_max + c_max)
    bound = reach * reach  # not ** 2: a Python float power raises OverflowError
    lengths = f"queries up to length {q_max:.3g}, corpus up to {c_max:.3g}"
    if 0 < reach < float(np.sqrt(info.tiny * 8)):  # squares underflow: scores tie at 0
        raise ValueError(f"vectors too short for {metric} scores in {np.dtype(dtype)}: "
                         f"{lengths}, which underflow when squared; multiply queries and "
                         "corpus by one common large number first" + wider)
    if not bound < float(info.max) / 8:
        raise ValueError(f"vectors too long for {metric} scores in {np.dtype(dtype)}: "
                         f"{lengths}, whose scores overflow; divide queries and corpus by "
                         "one common large number first" + wider)
