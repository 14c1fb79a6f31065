"""The O(n·d) statistics of a Dask corpus: one task per row block, small sums merged.

:func:`moments` is :func:`vecdiag.diagnostics.moments.compute_moments` for a
``dask.array.Array``: every row block (:func:`vecdiag.scale.chunks.row_blocks`) becomes
one task that returns its partial sums (``Σ û``, ``Σ û²``, ``Σ x``, ``XᵀX``: O(d²) numbers,
whatever the block's size) and its rows' norms; the partial sums are added pairwise in a
tree, so no task ever holds more than one block and nothing of size ``n`` is gathered
apart from the ``n`` norms. Anisotropy, rogue dimensions, isotropy, IsoScore, the
participation ratio and the norm spread all come from the result, exactly as on NumPy
(:func:`vecdiag.anisotropy` and friends dispatch here when given a Dask array).

subtle: the NumPy path divides raw rows by one power of two ``2^e`` (above the largest
``|x|``) before squaring, so that ``XᵀX`` of vectors near 1e200 stays finite; that needs
the largest value first, a second pass. Here each block uses its own power of two
``2^e_b`` and the merge rescales a partial sum to the larger exponent with ``ldexp``
(multiplying by ``2^(e_b − e)``, exact unless it underflows), so one pass suffices.

Each block also checks its values: NaN or inf rows (and, for cosine statistics, zero
rows) are reported with their global row numbers, in the NumPy path's words.
:func:`log_partition` is the second pass :func:`vecdiag.isotropy` needs, per block too.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _validate as V
from ..diagnostics.isotropy import log_partition_parts
from ..diagnostics.moments import Moments, block_rows, refuse_zero_rows
from .._optional import require
from .block_sums import block_sums, exponent as _exponent, merge_sums, piece_rows
from .direct import chunk_inputs, source_pieces
from .tasks import reuse_freed_memory
from .chunks import check_dask_matrix, compute, row_blocks, row_pieces


__all__ = ["moments", "RowReport", "log_partition", "tree_sum", "describe_rows"]


def describe_rows(count: int, first) -> str:
    """:func:`vecdiag._validate.format_rows` when only the first rows and the count are known.

    Examples
    --------
    >>> describe_rows(1, [4]), describe_rows(7, [0, 3, 9, 11, 12, 40])
    ('1 row (4)', '7 rows (first: 0, 3, 9, 11, 12)')
    """
    return V.format_rows(first, count=count)


@dataclasses.dataclass(frozen=True)
class RowReport:
    """Rows a pass over a Dask corpus found unusable, by global row number.

    Attributes
    ----------
    n_bad : int
        Rows holding NaN or inf.
    bad : ndarray
        The first of them (at most 20), ascending.
    n_zero : int
        Finite rows whose every value is 0.
    zero : ndarray
        The first of them (at most 20), ascending.
    peak : float
        The largest finite ``|x|`` of the corpus (0.0 when there is none).
    dropped : tuple of ndarray
        Per row block, the rows left out (positions inside the block; empty when
        nothing was left out). Only filled by ``moments(..., drop=True)``.

    Examples
    --------
    >>> RowReport(0, np.array([], dtype=np.int64), 1, np.array([3]), 2.0).n_zero
    1
    """

    n_bad: int
    bad: np.ndarray
    n_zero: int
    zero: np.ndarray
    peak: float
    dropped: tuple = ()


def _block_sums(block, start: int, space: str, drop_zero: bool, gram: bool = True):
    """Partial sums of one row block (runs on a worker): :func:`.block_sums.block_sums`."""
    reuse_freed_memory()
    return block_sums(np.asarray(block), start, space, drop_zero, gram,
                      peak=drop_zero or space == "raw")


def _stream_sums(source, start: int, space: str, drop_zero: bool, gram: bool = True):
    """The same sums of one chunk of an ``.npy`` file, read by this task in large reads
    (:data:`vecdiag.scale.direct.STREAM_READ_BYTES`: a deep disk queue) while the previous read is summed,
    piece by piece (:func:`vecdiag.scale.direct.stream_rows`)."""
    reuse_freed_memory()
    return block_sums(source_pieces(source, piece_rows), start, space, drop_zero, gram,
                      peak=drop_zero or space == "raw")


def tree_sum(parts: list, merge, **kwargs):
    """Merge ``dask.delayed`` partial results pairwise, level by level (a binary tree).

    ``merge(a, b, **kwargs)`` adds two partial results; the tree has ``log2(len(parts))``
    levels, so no task receives more than two partial results.

    Examples
    --------
    >>> import dask
    >>> parts = [dask.delayed(v) for v in (1, 2, 3, 4, 5)]
    >>> tree_sum(parts, lambda a, b: a + b).compute()
    15
    """
    dask = require("dask", "a Dask reduction")
    step = dask.delayed(merge, pure=True)
    while len(parts) > 1:
        parts = [step(parts[i], parts[i + 1], **kwargs) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def moments(X, *, space: str = "unit", name: str = "X", drop: bool = False,
            gram: bool = True):
    """:class:`~vecdiag.diagnostics.moments.Moments` of a Dask corpus, in one pass.

    Parameters
    ----------
    X : dask.array.Array (n, d)
        The corpus (checked here with :func:`vecdiag.scale.check_dask_matrix`).
    space : {"unit", "raw"}
        The rows the Gram matrix is taken of: unit rows (the cosine view) or as given.
    name : str
        The argument's name in error messages.
    drop : bool
        False (the statistics): NaN/inf rows raise a ValueError naming them, and so do
        zero rows when ``space="unit"``. True (:func:`vecdiag.diagnose`): such rows, and
        zero rows in either space, are left out and reported instead.
    gram : bool
        Also the Gram matrix ``Σ x xᵀ`` (O(n d²) work: at d = 384 it dominates the pass).
        False: the O(n d) sums only (all that anisotropy, rogue dimensions and the norms
        need), and ``Moments.gram`` is None.

    Returns
    -------
    Moments, or (Moments, RowReport) when ``drop=True``
        The sums over the rows used, equal to the NumPy path's to rounding;
        ``Moments.norms`` holds those rows' norms, in order. With ``drop=True`` the
        scale is the power of two above the largest finite value (the preflight's), in
        either space.

    Notes
    -----
    One task per row block computes the block's norms, ``Σ û``, ``Σ û²``, ``Σ x`` and
    ``Σ (x − r)(x − r)ᵀ`` of the rows in ``space`` (raw rows divided by a power of two;
    ``r`` the block's first row, so the covariance keeps its digits), piece by
    piece (:mod:`.block_sums`: products in the input's precision per piece of 2-8 MB,
    totals in float64, so a float32 Gram matrix is good to ~1e-7 of its largest entry);
    :func:`tree_sum` adds them. An array straight from :func:`vecdiag.open_vectors` of
    ``.npy`` files is not materialised block by block: each task reads its own chunk
    in pieces while summing the previous one. Memory per task: one block (or three
    pieces) plus O(d²); on the client: ``n`` norms plus O(d²).

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]]), chunks=(2, 2))
    >>> m = moments(X, space="raw")
    >>> m.n, m.norms.tolist(), (m.sum_space * m.scale).tolist(), m.scale
    (3, [5.0, 2.0, 1.0], [4.0, 6.0], 8.0)
    >>> (m.gram * m.scale ** 2).tolist()
    [[10.0, 12.0], [12.0, 20.0]]
    """
    import dask

    sources = getattr(X, "row_sources", None)          # vd.open_vectors of .npy files
    X = check_dask_matrix(X, name)
    V.check_choice(space, "space", ("unit", "raw"))
    blocks = row_blocks(X)
    # from .npy files, each task reads its own chunk, summing while the disk reads
    fn, chunks = chunk_inputs(blocks, sources, _block_sums, _stream_sums)
    task = dask.delayed(fn, nout=2, pure=True)
    pairs = [task(chunk, b.start, space, drop, gram) for chunk, b in zip(chunks, blocks)]
    total = tree_sum([p[0] for p in pairs], merge_sums, space=space)
    total, *rows = compute(total, *[p[1] for p in pairs])
    report = RowReport(total["n_bad"], np.sort(total["bad"]), total["n_zero"],
                       np.sort(total["zero"]), total["peak"],
                       tuple(r[1] for r in rows) if drop else ())
    norms = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0)
    if not drop:
        if report.n_bad:
            raise ValueError(f"{name} has {describe_rows(report.n_bad, report.bad)} with "
                             "NaN or inf; drop or impute them first")
        if space == "unit":
            refuse_zero_rows(norms, name)
    e, scale = total["e"], 1.0
    sums = {key: total[key] for key in ("sum_space", "shifted_sum", "shift", "gram")}
    if space == "raw" or drop:
        scale = float(np.ldexp(1.0, _exponent(report.peak)))
    if space == "raw":       # the partial sums are of x / 2^e; bring them to x / scale
        up = e - _exponent(report.peak)
        for key, power in (("sum_space", 1), ("shifted_sum", 1), ("shift", 1), ("gram", 2)):
            if sums[key] is not None:
                sums[key] = np.ldexp(sums[key], power * up)
    m = Moments(n=int(total["n"]), d=X.shape[1], space=space, norms=norms,
                sum_unit=total["sum_unit"], sumsq_unit=total["sumsq_unit"],
                sum_space=sums["sum_space"], shifted_gram=sums["gram"], scale=scale,
                shift=sums["shift"], shifted_sum=sums["shifted_sum"])
    return (m, report) if drop else m


def _logz_pieces(pieces, directions, space: str, drop_zero: bool):
    """The running log-sum-exp of row pieces, bad rows (and zero rows when ``drop_zero``)
    left out: :func:`vecdiag.diagnostics.isotropy.log_partition_parts`, piece by piece."""
    peak = acc = None
    for P in pieces:
        keep = np.isfinite(P).all(axis=1)
        if drop_zero:
            keep &= (P != 0).any(axis=1)
        P = P if keep.all() else P[keep]
        if P.shape[0]:
            peak, acc = log_partition_parts(P, directions, space, peak, acc)
    if peak is None:
        k = directions.shape[1]
        return np.full(2 * k, -np.inf), np.zeros(2 * k)
    return peak, acc


def _block_logz(block, directions, space: str, drop_zero: bool):
    """One row block's (peak, acc), a few MB of rows at a time (runs on a worker)."""
    reuse_freed_memory()
    B = np.asarray(block)
    return _logz_pieces((P for _, P in row_pieces(B, block_rows(B.shape[1]))), directions,
                        space, drop_zero)


def _stream_logz(source, directions, space: str, drop_zero: bool):
    """The same for one chunk of an ``.npy`` file, read by this task while it computes."""
    reuse_freed_memory()
    return _logz_pieces((R for _, R in source_pieces(source)), directions, space,
                        drop_zero)


def _merge_logz(a, b):
    peak = np.maximum(a[0], b[0])
    with np.errstate(invalid="ignore"):       # -inf - -inf for an empty side: weight 0
        wa = np.where(np.isfinite(a[0]), np.exp(a[0] - peak), 0.0)
        wb = np.where(np.isfinite(b[0]), np.exp(b[0] - peak), 0.0)
    return peak, a[1] * wa + b[1] * wb


def log_partition(X, directions: np.ndarray, space: str, *, drop: bool = False) -> np.ndarray:
    """``log Σ_i exp(c·x_i)`` for each column ``c`` of ``directions``, then of ``−c``.

    The Dask twin of :func:`vecdiag.diagnostics.isotropy.log_partition`: each block gives
    its running log-sum-exp (a peak and a sum per direction), merged in a tree. Rows
    with NaN/inf (and zero rows when ``drop``) are skipped, as :func:`moments` skips them.

    Parameters
    ----------
    X : dask.array.Array (n, d)
        A checked corpus.
    directions : ndarray (d, k)
        Unit directions, one per column.
    space : {"unit", "raw"}
        Rows scaled to unit length first, or as given.
    drop : bool
        Leave out zero rows (as :func:`moments` does with ``drop=True``).

    Returns
    -------
    ndarray (2k,)

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.from_array(np.array([[1.0, 0.0], [0.0, 1.0]]), chunks=(1, 2))
    >>> log_partition(X, np.eye(2), "raw").round(4).tolist()
    [1.3133, 1.3133, 0.3133, 0.3133]
    """
    import dask

    fn, chunks = chunk_inputs(row_blocks(X), getattr(X, "row_sources", None), _block_logz,
                              _stream_logz)
    directions = dask.delayed(np.ascontiguousarray(directions, dtype=np.float64))
    task = dask.delayed(fn, pure=True)
    parts = [task(chunk, directions, space, drop) for chunk in chunks]
    (peak, acc), = compute(tree_sum(parts, _merge_logz))
    return peak + np.log(acc)
