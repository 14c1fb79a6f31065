"""``drift`` and ``drift_over_time``: validate, subsample, run one test, package the result."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from .. import _validate as V
from ..results import counted, label_text
from .._progress import progress_bar
from .._resampling import check_resamples
from ..scale.chunks import is_dask_array
from . import _permutation, _stats
from .describe import mean_shift_details, pca_picture
from .result import DriftResult, DriftSeries
from .sets import (MIN_SAMPLES, check_current as _check_current,
                   check_reference as _check_reference, current_first)
from .texts import embed_if_texts

__all__ = ["drift", "drift_over_time", "METHODS", "MIN_SAMPLES", "MAX_SAMPLES"]

METHODS = ("mmd", "classifier", "mean_shift")
# Rows used per set (a uniform random subsample above it). MMD builds an N x N kernel
# (N = both sets together): 1,000 + 1,000 rows is 32 MB; the others scale linearly.
MAX_SAMPLES = {"mmd": 1_000, "classifier": 5_000, "mean_shift": 10_000}
DEFAULT_PERMUTATIONS = 500
# MMD holds one N x N float64 kernel: refuse sizes whose kernel would pass 2 GB.
MAX_KERNEL_ROWS = 16_000


def _check_alpha(alpha) -> None:
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, (bool, np.bool_)) \
            or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number between 0 and 1 (exclusive), got {alpha!r}")


def _check_options(method, alpha, n_permutations, max_samples, n_folds, model="ridge",
                   penalty=1.0, bandwidth=None, alpha_origin=""):
    """Checked ``(n_permutations, max_samples, n_folds)``; ``alpha`` is the level each test
    runs at (``alpha_origin`` says how it came from the caller's alpha, for the errors)."""
    V.check_choice(method, "method", METHODS)
    if bandwidth is not None and (isinstance(bandwidth, (bool, np.bool_))
                                  or not isinstance(bandwidth, numbers.Real)
                                  or not (math.isfinite(bandwidth) and bandwidth > 0)):
        raise ValueError(f"bandwidth must be a positive number (or None for the median "
                         f"heuristic), got {bandwidth!r}")
    # subtle: the kernel divides by 2σ²; below ~1e-162 σ² is 0 in float64 and two equal
    # points give 0/0 (a NaN statistic, read as "drifted"), above ~1e154 it is inf
    if bandwidth is not None and not 1e-150 <= float(bandwidth) <= 1e150:
        raise ValueError(f"bandwidth={bandwidth!r} is outside 1e-150 to 1e150, where its "
                         "square overflows or underflows in float64 (the kernel would be 0/0 "
                         "or constant); pass bandwidth=None for the median heuristic")
    V.check_choice(model, "model", ("ridge", "logistic"))
    if isinstance(penalty, (bool, np.bool_)) or not isinstance(penalty, numbers.Real) \
            or not penalty > 0 or not math.isfinite(penalty):
        raise ValueError(f"penalty must be a positive number, got {penalty!r}")
    _check_alpha(alpha)
    if n_permutations is None:
        n_permutations = max(DEFAULT_PERMUTATIONS, math.ceil(2 / alpha))
    n_permutations = V.check_positive_int(n_permutations, "n_permutations")
    check_resamples(n_permutations, "n_permutations", alpha, strict=False,
                    usual=DEFAULT_PERMUTATIONS, alpha_origin=alpha_origin)
    if max_samples is None:
        max_samples = MAX_SAMPLES[method]
    max_samples = V.check_positive_int(max_samples, "max_samples", minimum=MIN_SAMPLES)
    n_folds = V.check_positive_int(n_folds, "n_folds", minimum=2)
    return n_permutations, max_samples, n_folds


def drift(reference, current, *, method: str = "mmd", alpha: float = 0.05,
          n_permutations: int | None = None, max_samples: int | None = None,
          bandwidth: float | None = None, model: str = "ridge", n_folds: int = 5,
          penalty: float = 1.0, top: int = 10,
          plot_points: int = 500, random_state=0, show_progress: bool | None = None,
          embedder=None, kind: str = "query") -> DriftResult:
    """Test whether ``current`` comes from the same distribution as ``reference``.

    Parameters
    ----------
    reference, current : array-like (m, d) and (n, d), dask.array.Array, or lists of texts
        Two sets of vectors from the same embedding model, e.g. the queries a search
        system was tuned on and this week's queries. At least 10 rows each. Texts (a
        list, or a pandas Series such as a DataFrame's column) are embedded with
        ``embedder`` (as ``kind``, default "query") first. Either set may
        be a Dask array (any scheduler): it is checked in one pass over its blocks and
        only the rows of the subsample are computed, drawn exactly as for a NumPy array,
        so the result equals the NumPy one for the same data and ``random_state``.
    method : {"mmd", "classifier", "mean_shift"}
        ``"mmd"``: kernel two-sample test, sensitive to any difference in distribution.
        ``"classifier"``: can a linear classifier tell the sets apart (ROC AUC)?
        ``"mean_shift"``: did the average vector move (and along which dimensions)?
    alpha : float
        Significance level: the false-alarm rate when nothing drifted.
    n_permutations : int, optional
        Permutations of the set labels for the p-value (default 500, or ``2/alpha``
        when larger). Must be at least ``1/alpha - 1`` so that ``p <= alpha`` is possible.
    max_samples : int, optional
        Rows used per set; larger sets are uniformly subsampled (default: 1,000 for
        ``mmd``, 5,000 for ``classifier``, 10,000 for ``mean_shift``). The sizes used
        are in ``details``. MMD refuses more than 16,000 rows in all: its kernel
        matrix would pass 2 GB.
    bandwidth : float, optional
        ``mmd`` only: RBF bandwidth σ; default the median heuristic.
    model : {"ridge", "logistic"}
        ``classifier`` only: the domain classifier. ``"ridge"`` (least squares on 0/1
        labels) refits for every permutation in one matrix product; ``"logistic"``
        (scikit-learn's LogisticRegression) refits ``n_folds * n_permutations`` models:
        exact too, but slow (pass ``n_permutations=99`` or so).
    n_folds, penalty : int, float
        ``classifier`` only: cross-validation folds and the L2 penalty λ (ridge ``alpha``;
        logistic ``C = 1/λ``) on standardised features.
    top : int
        ``mean_shift`` only: how many most-moved dimensions to list.
    plot_points : int
        Rows per set kept (as 2-D coordinates) for :meth:`DriftResult.plot`.
    random_state : int, Generator or None
        Seeds subsampling, permutations and folds: the same call gives the same result,
        and so does the call with ``reference`` and ``current`` swapped (see Notes).
    show_progress : bool, optional
        Progress bar; default only when the work is expected to take over 2 seconds.
    embedder, kind : optional
        Any embedder (see :mod:`vecdiag.embedders`) for text inputs, e.g. a cached
        :func:`~vecdiag.embedders.resilient` one.

    Returns
    -------
    DriftResult
        ``statistic``, ``p_value``, ``threshold`` (critical value at ``alpha``),
        ``drifted`` (``p_value <= alpha``), ``details`` and a PCA picture (``plot()``).

    Notes
    -----
    Every method is a permutation test: the set labels are shuffled ``P`` times, the
    statistic recomputed, and ``p = (1 + #{null >= observed}) / (1 + P)``. Under no
    drift this p-value is valid for any ``P`` (``P(p <= alpha) <= alpha``). A null
    value equal to the observed one up to float64 rounding counts as reaching it
    (binary or quantised vectors tie often).

    **mmd.** With ``k(x, y) = exp(-‖x - y‖² / (2σ²))``, the unbiased estimate
    (Gretton et al. 2012, eq. 3) is::

        MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (n(n-1))
                 - 2 Σ_{i,j} k(x_i, y_j) / (mn)

    It can be slightly negative when nothing drifted. σ is the median distance between
    distinct points of both sets together (``details["bandwidth"]``); when more than
    half the pairs coincide, the median of the non-zero distances.

    **classifier.** ``n_folds``-fold cross-validation (random folds, drawn over the rows
    in content order, so that ``drift(a, b)`` and ``drift(b, a)`` put every vector in the
    same fold and give the same AUC) of standardise +
    linear classifier separating reference (0) from current (1); every row is scored
    by the model that did not see it and the statistic is the ROC AUC of those
    held-out scores (0.5 = indistinguishable; it may fall slightly below 0.5 when
    nothing drifted). Each permutation refits every fold's model on the permuted
    labels, so the p-value is exact. (Permuting held-out labels without refitting is
    not: measured false-alarm rate 15% at alpha = 0.05. Stratified folds are not used
    because they depend on the labels being permuted.)

    **mean_shift.** Statistic ``‖mean(current) - mean(reference)‖``; ``details`` adds the
    cosine between the two means (NaN when a mean is the zero vector), and per
    dimension the standardised shift ``(mean_cur - mean_ref) / s_pooled``, whose largest
    magnitudes are listed in ``details["top_dims"]``.

    Swapping ``reference`` and ``current`` gives the same statistic, p-value, threshold
    and ``drifted`` for every method, bit for bit, also when a set is subsampled: every
    random draw follows one order of the two sets that does not depend on the arguments
    (the set with fewer rows first; for equal sizes, the set holding the smaller value
    where the two first differ, row by row), and a permutation gives its first ``k``
    drawn rows to the first set (``k`` its size). The statistics are symmetric in the two
    sets (the classifier's AUC too: swapping the classes flips the scores), so both
    calls draw the same null. Only ``details`` keep the direction (``top_shifts`` is
    ``current - reference``).

    The two sets must be independent samples; rows shared by both make the tests
    conservative. Identical sets are refused. Computation is in float64, on C-ordered
    rows: the same numbers give the same result in any memory layout (Fortran, a memmap).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(200, 8))
    >>> vd.drift(ref, rng.normal(size=(200, 8))).drifted
    False
    >>> res = vd.drift(ref, rng.normal(size=(200, 8)) + [1, 0, 0, 0, 0, 0, 0, 0],
    ...                method="mean_shift")
    >>> res.drifted, res.details["top_dims"][0]
    (True, 0)
    """
    n_permutations, max_samples, n_folds = _check_options(
        method, alpha, n_permutations, max_samples, n_folds, model, penalty, bandwidth)
    plot_points = V.check_positive_int(plot_points, "plot_points")
    top = V.check_positive_int(top, "top")
    checked_ref = _check_reference(embed_if_texts(reference, embedder, kind, "reference"))
    cur = _check_current(checked_ref, embed_if_texts(current, embedder, kind, "current"))
    ref = checked_ref[0]
    rng = V.check_random_state(random_state)
    return _drift_core(ref, cur, method=method, alpha=float(alpha), n_permutations=n_permutations,
                       max_samples=max_samples, bandwidth=bandwidth, n_folds=n_folds,
                       model=model, penalty=float(penalty), top=top, plot_points=plot_points,
                       rng=rng, show=show_progress)


def _subsample(X, size: int, rng: np.random.Generator) -> np.ndarray:
    if is_dask_array(X):  # the same draws; only the chosen rows are computed
        from ..scale.drift import sample_rows

        return sample_rows(X, size, rng)
    # subtle: C-ordered float64 rows: a Fortran-ordered set stayed Fortran-ordered (and so
    # did the stacked Z), and its column means, variances and products were summed in
    # another order: other statistics and p-values for the same numbers
    if X.shape[0] <= size:
        return np.ascontiguousarray(X, dtype=np.float64)
    rows = np.sort(rng.choice(X.shape[0], size=size, replace=False))
    return np.ascontiguousarray(X[rows], dtype=np.float64)


def _drift_core(ref, cur, *, method, alpha, n_permutations, max_samples, bandwidth, model,
                n_folds, penalty, top, plot_points, rng, show, label=None) -> DriftResult:
    """Inputs already checked.

    Every random draw (subsamples, folds, permutations, the plotting sample) is made with
    the two sets in one order that does not depend on which argument came first
    (:func:`.sets.current_first`): the tests see ``Z = [first set; second set]``, and a
    permutation gives its first ``k`` drawn rows to the first set (the smaller one). The
    statistics are symmetric in the two sets, so ``drift(a, b)`` and ``drift(b, a)`` draw
    the same null and give the same p-value, bit for bit.
    """
    swap = current_first(ref, cur)
    first, second = (cur, ref) if swap else (ref, cur)
    a = _subsample(first, max_samples, rng)
    b = _subsample(second, max_samples, rng)
    x, y = (b, a) if swap else (a, b)
    m, n = x.shape[0], y.shape[0]
    k = a.shape[0]
    Z = np.vstack([a, b])
    details = {"n_permutations": n_permutations, "n_used_reference": m, "n_used_current": n,
               "subsampled": bool(m < ref.shape[0] or n < cur.shape[0]),
               "max_samples": max_samples}
    if method == "mmd":
        if m + n > MAX_KERNEL_ROWS:
            gb = (m + n) ** 2 * 8 / 2**30
            raise ValueError(f"max_samples={max_samples} makes MMD build a {m + n} x {m + n} "
                             f"kernel matrix ({gb:.1f} GB); use max_samples <= "
                             f"{MAX_KERNEL_ROWS // 2} (the default {MAX_SAMPLES['mmd']} is "
                             "usually plenty)")
        out = _stats.mmd_permutation(Z, k, bandwidth, n_permutations, rng, show)
        details.update(kernel="rbf exp(-|x-y|^2 / (2 sigma^2))", bandwidth=out["bandwidth"],
                       bandwidth_rule=out["bandwidth_rule"])
    elif method == "classifier":
        if n_folds > min(m, n):
            raise ValueError(f"n_folds={n_folds} is more than the rows of the smaller set "
                             f"({min(m, n)}); use n_folds <= {min(m, n)}")
        out = _stats.classifier_permutation(Z, k, n_permutations, rng, n_folds, penalty,
                                            model, show)
        details.update(model=model, n_folds=n_folds, penalty=penalty)
    else:
        out = _stats.mean_shift_permutation(Z, k, n_permutations, rng, show)
        details.update(mean_shift_details(x, y, top))
    null, tol = out["null"], out["tolerance"]
    p_value = _permutation.permutation_p_value(out["statistic"], null, tol)
    picture = pca_picture(a, b, plot_points, rng, swap)
    return DriftResult(method=method, statistic=out["statistic"], p_value=p_value,
                       drifted=bool(p_value <= alpha),
                       threshold=_permutation.critical_value(null, alpha, tol), details=details,
                       alpha=alpha, n_reference=ref.shape[0], n_current=cur.shape[0],
                       label=label, **picture)


def drift_over_time(reference, batches, *, method: str = "mmd", alpha: float = 0.05,
                    correction: str = "none", labels=None, random_state=0,
                    show_progress: bool | None = None, embedder=None, kind: str = "query",
                    **kwargs) -> DriftSeries:
    """Test each batch (a day, a week of traffic) against one reference set.

    Parameters
    ----------
    reference : array-like (m, d) or dask.array.Array
    batches : sequence of array-likes, or a mapping label -> array-like
        The batches in time order, each (n_i, d) with at least 10 rows (or texts,
        embedded with ``embedder`` like the reference; see :func:`drift`). The reference
        and any batch may be Dask arrays (see :func:`drift`).
    method, alpha : see :func:`drift`
    correction : {"none", "bonferroni"}
        ``"none"``: each batch is tested at ``alpha``, so about ``alpha`` of the batches
        alarm when nothing drifts. ``"bonferroni"``: each at ``alpha / n_batches``, so
        the chance of any false alarm in the whole series is at most ``alpha``.
    labels : sequence of str, optional
        Batch names (default: the mapping's keys, or "0", "1", ...); a missing one
        (None, NaN, pandas' NA or NaT) is "(no label)".
    random_state : int, Generator or None
        Seeds every batch's test (each batch gets its own stream).
    **kwargs
        Passed to :func:`drift` (``n_permutations``, ``max_samples``, ...).

    Returns
    -------
    DriftSeries
        A list of :class:`DriftResult` (``.label`` set), with ``plot()`` and ``to_frame()``.

    Notes
    -----
    The reference is validated once. Batches are independent tests against the same
    reference, so their p-values are positively correlated through it.

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> rng = np.random.default_rng(1)
    >>> days = {f"day {i}": rng.normal(size=(100, 4)) + [i, 0, 0, 0] for i in range(3)}
    >>> series = vd.drift_over_time(rng.normal(size=(300, 4)), days, method="mean_shift")
    >>> series.drifted
    [False, True, True]
    """
    V.check_choice(correction, "correction", ("none", "bonferroni"))
    if isinstance(batches, Mapping):
        default_labels = [label_text(k) for k in batches.keys()]
        batches = list(batches.values())
    else:
        if getattr(batches, "ndim", None) == 2:   # NumPy, Dask, a DataFrame, a tensor
            raise ValueError("batches must be a list of 2-D arrays (one per batch), got one "
                             "2-D array; split it, e.g. np.array_split(X, 7)")
        if batches is None or isinstance(batches, (str, bytes)) or not hasattr(batches, "__iter__"):
            raise TypeError("batches must be a list of 2-D arrays (one per batch), "
                            f"got {type(batches).__name__}")
        batches = list(batches)
        default_labels = [str(i) for i in range(len(batches))]
    if not batches:
        raise ValueError("batches is empty; pass at least one batch of vectors")
    # a missing label (None, NaN, NaT from a pandas column) is "(no label)", not "None"
    labels = (default_labels if labels is None else
              [label_text(x) for x in V.check_ordered(labels, "labels")])
    if len(labels) != len(batches):
        raise ValueError(f"labels has {len(labels)} entries for {len(batches)} batches; "
                         "pass one label per batch")
    _check_alpha(alpha)   # before the division: alpha=2 over 4 batches is not 0.5 each
    level = alpha / len(batches) if correction == "bonferroni" else alpha
    origin = (f" (alpha={alpha} / {counted(len(batches), 'batch', 'batches')}, "
              "correction='bonferroni')"
              if correction == "bonferroni" else "")
    n_perm, max_samples, n_folds = _check_options(
        method, level, kwargs.pop("n_permutations", None), kwargs.pop("max_samples", None),
        kwargs.pop("n_folds", 5), kwargs.get("model", "ridge"), kwargs.get("penalty", 1.0),
        kwargs.get("bandwidth"), origin)
    options = {"bandwidth": kwargs.pop("bandwidth", None),
               "model": kwargs.pop("model", "ridge"),
               "penalty": float(kwargs.pop("penalty", 1.0)),
               "top": V.check_positive_int(kwargs.pop("top", 10), "top"),
               "plot_points": V.check_positive_int(kwargs.pop("plot_points", 500), "plot_points")}
    if kwargs:
        raise TypeError(f"drift_over_time got unexpected keyword arguments: {', '.join(kwargs)}")
    checked_ref = _check_reference(embed_if_texts(reference, embedder, kind, "reference"))
    checked = [_check_current(checked_ref, embed_if_texts(b, embedder, kind, f"batches[{i}]"),
                              f"batches[{i}]") for i, b in enumerate(batches)]
    ref = checked_ref[0]
    rng = V.check_random_state(random_state)
    seeds = rng.integers(0, 2**63 - 1, size=len(checked))
    series = DriftSeries()
    with progress_bar(len(checked), desc=f"drift ({method}) per batch", show=show_progress,
                      expected_seconds=len(checked) * 1.0) as bar:
        for batch, label, seed in zip(checked, labels, seeds):
            res = _drift_core(ref, batch, method=method, alpha=level, n_permutations=n_perm,
                              max_samples=max_samples, n_folds=n_folds, show=False,
                              rng=np.random.default_rng(int(seed)), label=label, **options)
            res.details["correction"] = correction
            series.append(res)
            bar.update(1)
    return series
