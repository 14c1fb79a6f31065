"""Near-duplicates estimated from sampled rows: ``vd.near_duplicates(X, sample=s)``.

Two figures, one exact and one estimated:

* **exact copies**, found by hashing every row (``O(n·d)``, on NumPy and, per row block,
  on Dask: :mod:`vecdiag.scale.hashing`): complete, no sampling;
* **the share of items with a copy** (their nearest other row has ``cos ≥ threshold``, or
  an identical row exists), estimated from ``s`` rows drawn without replacement, each
  searched against all ``n`` (``O(s·n·d)``). Post-stratified: the exact copies' share is
  known; the share among the other items is a binomial proportion from the sampled rows
  that are not exact copies, with a Wilson score interval (finite population corrected),
  so estimate and interval never fall below the exact share;
* **the redundant share**, the figure :func:`vecdiag.diagnose` judges on every path:
  items beyond the first of each group, ``Σ (group size − 1) / n`` (a pair of copies is
  one redundant item, two items with a copy). A group of ``g`` mutual near-copies holds
  ``g − 1`` redundant items, ``(g − 1) / g`` per member: each sampled row with ``c``
  near-copies among its nearest ``k`` rows counts ``c / (c + 1)``. Exact groups count
  exactly (hashing gives their sizes). Groups are connected components, though: in a
  chain a~b~c with a and c apart, or past k near-copies, a group is larger than any row's
  own near-copies show, so that count is a lower bound per member (every member counts
  less than 1). The interval therefore runs from the copy share's lower end scaled by
  the sampled members' mean count up to the copy share's upper end: measured coverage
  in ``benchmarks/bench_sampling.py``.
"""

from __future__ import annotations

import numpy as np

from ..results import Result, fmt, html_block, html_table, result
from .sampling import CONFIDENCE, sampled_lists, sampled_phrase, wilson_interval

__all__ = ["SampledDuplicates", "sampled_near_duplicates", "copy_share", "redundant_share",
           "cosines_in"]

LIST_K = 10                           # nearest rows searched per sampled row (group sizes)


@result
class SampledDuplicates(Result):
    """Near-duplicates of a corpus: exact copies (complete) and the share with a copy (sampled).

    Returned by :func:`vecdiag.near_duplicates` with ``sample=`` (and on a Dask corpus).

    Attributes
    ----------
    share : float
        Estimated share of the n items whose nearest other item has cosine ≥
        ``threshold`` (or that have an identical row): ``exact_share`` plus the sampled
        share among the other items, weighted by their number.
    share_ci : tuple (low, high)
        Its interval at ``confidence`` (Wilson, finite population corrected).
    redundant_share : float
        Estimated share of items that are redundant copies, ``Σ (group size − 1) / n``
        (what the unsampled ``near_duplicates`` groups give, and what ``vd.diagnose``
        judges): between half of ``share`` and ``share``.
    redundant_share_ci : tuple (low, high)
        Its interval (from the copy share's; see the module notes).
    with_copy : int
        Sampled rows that have a copy.
    exact_groups : list of list of int
        Every group of identical rows (complete, from hashing all rows).
    exact_share : float
        Share of items in an exact group (exact; a lower bound of ``share``).
    examples : list of tuple
        Up to 10 (sampled row, its nearest other row, cosine) with a copy.
    sample, n : int
        Sampled rows s, corpus rows n.
    threshold, confidence : float
        Cosine threshold; interval level.
    rows : ndarray
        The sampled row positions (ascending).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> X = np.random.default_rng(0).standard_normal((1000, 20))
    >>> X[500:600] = X[:100]                       # 200 items with an exact copy
    >>> d = vd.near_duplicates(X, sample=300, random_state=0)
    >>> d.exact_share, len(d.exact_groups), d.share_ci[0] <= 0.2 <= d.share_ci[1]
    (0.2, 100, True)
    >>> d.redundant_share_ci[0] <= 0.1 <= d.redundant_share_ci[1]     # 100 of 1000 redundant
    True
    """

    share: float
    """Estimated share of items with a copy (nearest other item at cos ≥ threshold)."""
    share_ci: tuple
    """Interval of the share at ``confidence``."""
    with_copy: int
    """Sampled rows that have a copy."""
    exact_groups: list
    """Every group of identical rows (complete)."""
    exact_share: float
    """Share of items in an exact group (exact)."""
    redundant_share: float
    """Estimated share of redundant copies, Σ (group size − 1) / n."""
    redundant_share_ci: tuple
    """Interval of the redundant share."""
    examples: list
    """Up to 10 (sampled row, nearest other row, cosine) with a copy."""
    sample: int
    """Sampled rows s."""
    n: int
    """Corpus rows n."""
    threshold: float
    """Cosine threshold."""
    confidence: float
    """Interval level."""
    rows: np.ndarray
    """The sampled row positions."""

    @property
    def summary(self) -> str:
        """Plain-text summary naming the sample and the interval level."""
        lo, hi = self.share_ci
        return (f"Near-duplicates (cosine ≥ {fmt(self.threshold)}) of {self.n:,} items: "
                f"{100 * self.share:.2f}% have a copy ({sampled_phrase(self.sample, self.confidence)}"
                f" {100 * lo:.2f}%–{100 * hi:.2f}%), {100 * self.redundant_share:.2f}% are "
                f"redundant; exact copies (all rows hashed): "
                f"{len(self.exact_groups):,} groups, {100 * self.exact_share:.2f}% of items")

    def __str__(self) -> str:
        return self.summary

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.summary, "text/html": self._repr_html_()}

    def to_frame(self):
        """One row per example pair: sampled row, nearest other row, cosine."""
        import pandas as pd

        return pd.DataFrame(self.examples, columns=["row", "nearest", "cosine"])

    def _repr_html_(self) -> str:
        lo, hi = self.share_ci
        rows = [["items with a copy (cos ≥ " + fmt(self.threshold) + ")",
                 f"{100 * self.share:.2f}% [{100 * lo:.2f}%, {100 * hi:.2f}%]"],
                ["redundant items, Σ (group size − 1) / n",
                 f"{100 * self.redundant_share:.2f}% [{100 * self.redundant_share_ci[0]:.2f}%, "
                 f"{100 * self.redundant_share_ci[1]:.2f}%]"],
                ["exact copy groups (all rows hashed)", f"{len(self.exact_groups):,}"],
                ["items in an exact group", f"{100 * self.exact_share:.2f}%"]]
        parts = [f"<p>{sampled_phrase(self.sample, self.confidence)} (of {self.n:,})</p>",
                 html_table(rows, ["statistic", "value"])]
        if self.examples:
            parts.append(html_table([[r, c, fmt(v)] for r, c, v in self.examples],
                                    ["row", "nearest", "cosine"],
                                    numeric={"row", "nearest", "cosine"}))
        return html_block("Near-duplicates, sampled", *parts)


def copy_share(has_copy: np.ndarray, exact_copy: np.ndarray, n: int, n_exact: int,
               confidence: float = CONFIDENCE):
    """(share, (low, high)) of items with a copy, post-stratified on the exact copies.

    ``has_copy``, ``exact_copy``: per sampled row, whether it has a copy, whether it is an
    exact copy; ``n_exact``: exact copies in the whole corpus (known from hashing). The
    sampled rows that are not exact copies are a simple random sample of the ``n − n_exact``
    others: their share gets a Wilson interval, then both are weighted by their size.

    Examples
    --------
    >>> share, ci = copy_share(np.array([True, False, True, False]),
    ...                        np.array([True, False, False, False]), 100, 10)
    >>> round(share, 4), [round(v, 4) for v in ci]
    (0.4, [0.1563, 0.8105])
    """
    rest = ~exact_copy
    n_rest, s_rest = n - n_exact, int(rest.sum())
    if s_rest == 0:
        return n_exact / n, (n_exact / n, 1.0 if n_rest else n_exact / n)
    hits = int(has_copy[rest].sum())
    lo, hi = wilson_interval(hits, s_rest, n_rest, confidence)
    w = n_rest / n
    return n_exact / n + w * hits / s_rest, (n_exact / n + w * lo, n_exact / n + w * hi)


def redundant_share(near: np.ndarray, has_copy: np.ndarray, exact_copy: np.ndarray,
                    n: int, exact_redundant: int, n_exact: int, share_ci: tuple):
    """(estimate, (low, high)) of ``Σ (group size − 1) / n`` (see the module notes).

    ``near``: per sampled row, its near-copies among its listed nearest rows;
    ``has_copy``, ``exact_copy``: as for :func:`copy_share`, whose interval ``share_ci``
    is scaled at its lower end; ``exact_redundant``: rows beyond the first of each exact
    group.

    Examples
    --------
    >>> # 100 items, 10 in exact pairs; sampled: 2 rows with one near-copy, 2 without
    >>> est, ci = redundant_share(np.array([1, 0, 1, 0]), np.array([True, False, True,
    ...     False]), np.zeros(4, bool), 100, 5, 10, (0.1, 0.9))
    >>> round(est, 4), [round(v, 4) for v in ci]
    (0.275, [0.05, 0.85])
    """
    rest = ~exact_copy
    n_rest, s_rest = n - n_exact, int(rest.sum())
    base = exact_redundant / n
    if s_rest == 0 or n_rest == 0:
        return base, (base, base + (n_rest / n if n_rest else 0.0))
    weight = near[rest] / (near[rest] + 1.0)
    w = n_rest / n
    hits = has_copy[rest]
    mean_member = float(weight[hits].mean()) if hits.any() else 1.0
    # the copy share's interval over the other items, back out of its post-stratification
    lo, hi = ((v - n_exact / n) / w for v in share_ci)
    return (base + w * float(weight.mean()),
            (base + w * max(0.0, lo) * mean_member, base + w * min(1.0, hi)))


def cosines_in(also, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cosine of each pair ``(also[rows[i]], also[cols[i]])`` (0 with a zero row); of a
    Dask array only those rows are gathered."""
    from ..linalg import row_norms
    from ..scale.chunks import is_dask_array

    used = np.unique(np.concatenate([rows, cols]))
    if is_dask_array(also):
        from ..scale.block_top import gather_rows

        A = np.asarray(gather_rows(also, used), dtype=np.float64)
    else:
        A = np.asarray(also[used], dtype=np.float64)
    norms = row_norms(A)
    A = A / np.where(norms > 0, norms, 1.0)[:, None]
    a, b = np.searchsorted(used, rows), np.searchsorted(used, cols)
    out = np.empty(rows.size)
    step = max(1, 2**22 // max(1, A.shape[1]))     # pairs per piece: two 32 MB gathers
    for s in range(0, rows.size, step):
        out[s:s + step] = np.einsum("ij,ij->i", A[a[s:s + step]], A[b[s:s + step]])
    return out


def sampled_near_duplicates(X, exact: list, *, threshold: float, sample: int, random_state,
                            confidence: float = CONFIDENCE, lists=None,
                            also=None) -> SampledDuplicates:
    """The share with a copy from ``sample`` rows, beside the ``exact`` copy groups.

    ``X``: a cosine :class:`vecdiag.Index` (NumPy corpus, no zero rows) or a checked
    Dask array (its search refuses zero rows);
    ``exact``: its groups of identical rows (from hashing); ``threshold`` and ``sample``
    checked. ``lists``: ``(rows, indices, scores)`` of sampled rows already searched
    under cosine (their nearest other rows, nearest first; :func:`vecdiag.diagnose`
    reuses the hubness search), instead of drawing and searching here (the nearest
    :data:`LIST_K`). ``also``: rows (n, d) in which a listed pair must be a near-copy
    too (its cosine there at or above ``threshold``): :func:`vecdiag.diagnose` judges
    copies on centred or standardised rows and on the raw ones, as its exact path does.
    """
    from .. import _validate as V
    from .sampling import draw_rows

    n = X.shape[0] if not hasattr(X, "vectors") else len(X)
    in_exact = np.zeros(n, dtype=bool)
    for g in exact:
        in_exact[g] = True
    if lists is None:
        rows = draw_rows(n, sample, V.check_random_state(random_state))
        idx, scores = sampled_lists(X, rows, min(LIST_K, n - 1), "cosine")
    else:
        rows, idx, scores = lists
    close = scores >= threshold
    if also is not None and close.any():
        # a copy in every frame it is judged in: the raw one too (short rows near the
        # origin all point along minus the mean once centred, and are not copies)
        r, c = np.nonzero(close)
        close[r, c] = cosines_in(also, rows[r], idx[r, c]) >= threshold
    near = np.count_nonzero(close, axis=1)
    has_copy = (near > 0) | in_exact[rows]
    hits = int(has_copy.sum())
    s = rows.size
    exact_share = float(in_exact.sum() / n)
    share, (lo, hi) = copy_share(has_copy, in_exact[rows], n, int(in_exact.sum()), confidence)
    red, red_ci = redundant_share(near, has_copy, in_exact[rows], n,
                                  sum(len(g) - 1 for g in exact), int(in_exact.sum()),
                                  (lo, hi))
    first = np.argmax(close, axis=1)          # the nearest listed copy (0 when none)
    at = np.arange(rows.size)
    examples = [(int(r), int(i), float(c)) for r, i, c
                in zip(rows[has_copy][:10], idx[at, first][has_copy][:10],
                       scores[at, first][has_copy][:10])]
    return SampledDuplicates(share=share, share_ci=(lo, hi), redundant_share=red,
                             redundant_share_ci=red_ci,
                             with_copy=hits, exact_groups=exact, exact_share=exact_share,
                             examples=examples, sample=s, n=n, threshold=float(threshold),
                             confidence=confidence, rows=rows)
