"""What a model upgrade does to search results: per-item overlap of the top-k neighbours."""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..linalg import row_norms
from ..scale.chunks import is_dask_array
from ..results import Result, escape, html_block, html_table, result, shorten, text_safe_column
from ._ties import kept_with_ties

__all__ = ["neighborhood_overlap", "neighborhood_change", "NeighborhoodChange", "DASK_SAMPLE"]

# Items whose neighbourhoods are compared when old or new is a Dask array and no sample is
# given (each is searched exactly against every item: O(s n d) instead of O(n² d)).
DASK_SAMPLE = 5_000


@result
class NeighborhoodChange(Result):
    """How much of each item's top-k survives when the items are re-embedded.

    Returned by :func:`vecdiag.neighborhood_change`.

    Attributes
    ----------
    overlap : ndarray
        (n,) per item: share of its k old neighbours still among its k new ones.
    k : int
        Neighbours per item (the item itself excluded).
    metric : str
        Similarity used for the neighbours in both spaces.
    mean, median : float
        Mean and median of ``overlap``.
    share_unchanged : float
        Share of items that keep their whole top-k (ties at the k-th place counted).
    share_mostly_changed : float
        Share of items that keep fewer than half of their neighbours.
    random_baseline : float
        Expected overlap if the new space were unrelated to the old: k / (n - 1).
    most_changed : ndarray
        Indices of the items that change most (lowest overlap first, ties by index).
    old_neighbors, new_neighbors : ndarray
        (n, k) neighbour indices in the old and the new space, best first.
    rows : ndarray or None
        The sampled items ``overlap`` and the neighbour lists refer to (sorted), or None
        when every item was compared.
    ids : ndarray or None
        Item ids, when given.
    texts : ndarray or None
        Item texts, when given (for display).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> old = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> new = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 0.9], [0.9, 0.1]])
    >>> change = vd.neighborhood_change(old, new, k=1)
    >>> change.old_neighbors.ravel().tolist(), change.new_neighbors.ravel().tolist()
    ([1, 0, 3, 2], [3, 2, 1, 0])
    >>> change.overlap.tolist(), round(change.random_baseline, 4)
    ([0.0, 0.0, 0.0, 0.0], 0.3333)
    """

    overlap: np.ndarray
    """(n,) per item: share of its k old neighbours that are still among its k new ones."""
    k: int
    """Neighbours per item (the item itself excluded)."""
    metric: str
    """Similarity used for the neighbours in both spaces."""
    mean: float
    """Mean of :attr:`overlap`."""
    median: float
    """Median of :attr:`overlap`."""
    share_unchanged: float
    """Share of items that keep their whole top-k (ties at the k-th place counted)."""
    share_mostly_changed: float
    """Share of items that keep fewer than half of their neighbours."""
    random_baseline: float
    """Expected overlap if the new space were unrelated to the old: k / (n - 1)."""
    most_changed: np.ndarray
    """Indices of the items that change most (lowest overlap first, ties by index)."""
    old_neighbors: np.ndarray
    """(n, k) neighbour indices in the old space, best first."""
    new_neighbors: np.ndarray
    """(n, k) neighbour indices in the new space, best first."""
    ids: np.ndarray | None = None
    """Item ids, when given."""
    texts: np.ndarray | None = None
    """Item texts, when given (for display)."""
    rows: np.ndarray | None = None
    """The sampled items (sorted) ``overlap`` refers to; None when every item was compared."""

    def _items(self) -> np.ndarray:
        return np.arange(self.overlap.size) if self.rows is None else self.rows

    def summary(self) -> str:
        over = "" if self.rows is None else f" over {self.rows.size:,} sampled items"
        return (f"{over.strip() + ': ' if over else ''}"
                f"on average {self.mean:.0%} of each item's top-{self.k} survives "
                f"(median {self.median:.0%}); {self.share_unchanged:.0%} of items keep all "
                f"their neighbours, {self.share_mostly_changed:.0%} lose more than half "
                f"(unrelated spaces would keep {self.random_baseline:.1%})")

    def to_frame(self):
        """One row per item: index, id, text, overlap, lost and gained neighbours."""
        import pandas as pd

        items = self._items()
        frame = pd.DataFrame({"index": items, "overlap": self.overlap})
        # (text_safe_column: an id or text with a lone surrogate failed pandas' str dtype)
        if self.ids is not None:
            frame["id"] = text_safe_column(self.ids[items])
        if self.texts is not None:
            frame["text"] = text_safe_column(self.texts[items])
        frame["lost"] = [sorted(set(o) - set(n)) for o, n in
                         zip(self.old_neighbors.tolist(), self.new_neighbors.tolist())]
        frame["gained"] = [sorted(set(n) - set(o)) for o, n in
                           zip(self.old_neighbors.tolist(), self.new_neighbors.tolist())]
        return frame

    def _repr_html_(self) -> str:
        where = {int(item): j for j, item in enumerate(self._items())}
        shown = self.most_changed[:10]
        cols = ["index", "overlap"] + (["id"] if self.ids is not None else []) \
            + (["text"] if self.texts is not None else [])
        rows = []
        for i in shown:
            row = [int(i), float(self.overlap[where[int(i)]])]
            if self.ids is not None:
                row.append(self.ids[i])
            if self.texts is not None:
                row.append(shorten(self.texts[i], 80))
            rows.append(row)
        return html_block(f"NeighborhoodChange (k={self.k}, {self.overlap.size} items"
                          f"{'' if self.rows is None else ' sampled'})",
                          f"<p>{escape(self.summary())}</p>",
                          "<p>Items that change most:</p>",
                          html_table(rows, cols, numeric={"index", "overlap"}))

    def plot(self, ax=None):
        """Histogram of the per-item overlap, with the mean and the random baseline."""
        from ..plot.drift import draw_overlap

        return draw_overlap(self, ax=ax)


def _top_k(X: np.ndarray, k: int, metric: str):
    from ..neighbors import knn

    return knn(X, X, k, metric=metric, exclude_self=True)


def neighborhood_change(old, new, k: int = 10, *, metric: str = "cosine", ids=None,
                        texts=None, sample: int | None = None,
                        random_state=0) -> NeighborhoodChange:
    """Compare each item's top-k neighbours under two embeddings of the same items.

    Parameters
    ----------
    old, new : array-like or dask.array.Array, (n, d_old) and (n, d_new)
        The same n items (same order) embedded by the old and the new model; the
        dimensions may differ. Either may be a Dask array: the sampled items are then
        searched against every item one row block per task (nothing gathered).
    k : int
        Neighbours per item, the item itself excluded (``1 <= k <= n - 1``).
    metric : {"cosine", "dot", "euclidean"}
        How neighbours are found in both spaces.
    ids, texts : sequence, optional
        One per item, for display.
    sample : int, optional
        Compare the neighbourhoods of this many items drawn at random (each searched
        exactly against all n items). Default: every item for NumPy arrays; for a Dask
        array every item up to :data:`DASK_SAMPLE` (5,000), else that many. The same
        ``sample`` and ``random_state`` give the same items, and the same result, for a
        NumPy and a Dask input.
    random_state : int or Generator
        Seeds the sample; checked also without one.

    Returns
    -------
    NeighborhoodChange

    Notes
    -----
    ``overlap_i = |N_old(i) ∩ N_new(i)| / k`` with ``N(i)`` the k nearest other items
    (exact search, ties broken by lower index). 1.0 for an unchanged space and for any
    change that preserves the metric (a rotation under cosine); about ``k / (n - 1)``
    when the new space is unrelated to the old. Ties at the k-th place count as kept, in
    either space: binary or quantised embeddings tie often, rounding noise orders the
    tied items differently in each space, and the order of the rows decides which of
    them is listed. A neighbour listed in one space only counts when its score in the
    other space equals that space's k-th score (within ``1e-8·s + 1e-5·|k-th|``, as
    :func:`vecdiag.ann_recall` counts a tie, with ``s`` the scale of the item's scores:
    1 for cosine, ``‖x_i‖·‖x_k‖`` for dot and ``max(‖x_i‖, ‖x_k‖)`` for euclidean, x_k
    its k-th neighbour there), in place of a neighbour tied with the k-th score that the
    other list holds alone: the overlap is the largest one over the orders of the tied
    items of both spaces, among the items listed in either. So it does not depend on the
    order of the rows, unless both spaces tie beyond their lists (an item listed in
    neither, tied in both, is not searched for). On a Dask corpus the same rule holds:
    only the rows of those pairs are gathered.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> change = neighborhood_change(X, 3 * X, k=5)
    >>> change.mean, change.share_unchanged
    (1.0, 1.0)
    """
    V.check_metric(metric)
    V.check_seed(random_state)   # a wrong seed fails with or without sample=
    A, B = _checked(old, "old"), _checked(new, "new")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"old has {A.shape[0]} items but new has {B.shape[0]}; pass the same "
                         "items (same order) embedded by both models")
    k = V.check_k(k, A.shape[0], exclude_self=True)
    lazy = is_dask_array(A) or is_dask_array(B)
    rows = _sample_rows(A.shape[0], sample, lazy, random_state)
    if metric == "cosine":
        for X, name in ((A, "old"), (B, "new")):
            zero = np.flatnonzero(_norms(X) == 0)
            if zero.size:
                w = V.zero_vectors(zero)
                raise V.DataError(f"{name} has {w.rows}, which {w.has} no direction under "
                                  "cosine; drop those items from both old and new, or use "
                                  "metric='euclidean'")
    ids_arr = V.check_ids(ids, A.shape[0], "ids", rows_of="old and new have")
    if isinstance(texts, (str, bytes)):   # list("abc") would be three one-letter texts
        raise TypeError("texts must be a sequence of texts, one per item, not a single "
                        "string; wrap it: [texts]")
    texts_arr = None if texts is None else \
        np.asarray(list(V.check_ordered(texts, "texts")), dtype=object)
    if texts_arr is not None and texts_arr.shape[0] != A.shape[0]:
        raise ValueError(f"texts has {texts_arr.shape[0]} entries for {A.shape[0]} items; "
                         "pass one text per item")
    if rows is None:
        old, new = _top_k(A, k, metric), _top_k(B, k, metric)
    else:  # exact search of the sampled items against all
        from ..scale.search import knn_rows

        old, new = knn_rows(A, rows, k, metric=metric), knn_rows(B, rows, k, metric=metric)
    old_nn, new_nn = np.asarray(old.indices), np.asarray(new.indices)
    kept = kept_with_ties(A, B, rows, old, new, metric)
    overlap = kept / k
    n = A.shape[0]
    order = np.argsort(overlap, kind="stable")
    return NeighborhoodChange(
        overlap=overlap, k=k, metric=metric, mean=float(overlap.mean()),
        median=float(np.median(overlap)), share_unchanged=float(np.mean(overlap == 1.0)),
        share_mostly_changed=float(np.mean(overlap < 0.5)), random_baseline=k / (n - 1),
        most_changed=order if rows is None else rows[order], old_neighbors=old_nn,
        new_neighbors=new_nn, ids=ids_arr, texts=texts_arr,
        rows=None if rows is None or rows.size == n else rows)


def _checked(x, name: str):
    if is_dask_array(x):
        from ..scale.chunks import check_dask_matrix

        return check_dask_matrix(x, name)
    return V.as_matrix(x, name)


def _norms(X) -> np.ndarray:
    if is_dask_array(X):
        from ..scale.chunks import compute

        return compute(row_norms(X))[0]
    return row_norms(X)


def _sample_rows(n: int, sample, lazy: bool, random_state):
    """Sorted sampled items, or None for every item (the all-pairs path)."""
    if sample is None:
        if not lazy:
            return None
        sample = DASK_SAMPLE
    else:
        sample = V.check_positive_int(sample, "sample", minimum=1)
    size = min(sample, n)
    if size == n:
        return np.arange(n)
    rng = V.check_random_state(random_state)
    return np.sort(rng.choice(n, size=size, replace=False))


def neighborhood_overlap(old, new, k: int = 10, *, metric: str = "cosine",
                         sample: int | None = None, random_state=0) -> np.ndarray:
    """Per item, the share of its top-k neighbours that survives a model upgrade.

    The array behind :func:`neighborhood_change` (which adds the summary, the items
    that change most and a plot).

    Parameters
    ----------
    old, new : array-like or dask.array.Array, (n, d_old) and (n, d_new)
        The same items, same order, embedded by two model versions.
    k : int
        Neighbours per item, the item itself excluded.
    metric : {"cosine", "dot", "euclidean"}
    sample, random_state : optional
        Compare only sampled items (see :func:`neighborhood_change`; the default for a
        Dask array samples above 5,000 items).

    Returns
    -------
    ndarray (n,) or (sample,)
        ``|N_old(i) ∩ N_new(i)| / k`` in [0, 1], per item (per sampled item, in row
        order, when sampled: ``neighborhood_change(...).rows`` names them).

    Notes
    -----
    See :func:`neighborhood_change`: 1.0 for a metric-preserving change, about
    ``k / (n - 1)`` for unrelated spaces. Zero vectors are refused under cosine.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 16))
    >>> rotation = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    >>> float(neighborhood_overlap(X, X @ rotation, k=5).mean())   # cosines unchanged
    1.0
    >>> unrelated = rng.normal(size=(100, 8))               # about k / (n - 1) = 0.05
    >>> round(float(neighborhood_overlap(X, unrelated, k=5).mean()), 2)
    0.04
    """
    return neighborhood_change(old, new, k, metric=metric, sample=sample,
                               random_state=random_state).overlap
