"""Duplicates: exact copies and near-copies that crowd each other out of the top-k.

Exact copies are found by hashing every row (one O(n·d) pass); near-copies (cosine ≥ a
threshold) by comparing row blocks, never holding an ``n × n`` matrix.
"""

from __future__ import annotations

import numpy as np

from .._progress import progress_bar
from ..linalg import row_norms
from ..results import text_safe_frame
from .moments import block_rows, refuse_zero_rows, resolve, unit_rows
from .pair_tiles import blocks_with_pairs, cosine_graph

__all__ = ["near_duplicates", "exact_duplicate_groups", "groups_from_pairs", "DuplicateGroups",
           "row_hashes", "hash_multipliers", "colliding_rows", "groups_from_hashes",
           "block_pairs", "cosine_graph", "blocks_with_pairs", "PAIR_BLOCK", "sorted_groups"]


class DuplicateGroups(list):
    """The groups of :func:`near_duplicates`: a list of row-position lists (as always),
    with the ids beside them when the corpus is an Index with ids, like
    :class:`~vecdiag.Neighbors` (``.indices`` and ``.ids``).

    ``groups[0]`` and ``groups.positions[0]`` are row positions; ``groups.ids[0]`` the
    same documents' ids (None without ids).
    """

    def __init__(self, groups, ids=None):
        super().__init__(groups)
        self.ids = None if ids is None else [[ids[i] for i in g] for g in self]

    @property
    def positions(self) -> list:
        """Row positions per group (the list itself, as plain lists)."""
        return [list(g) for g in self]

    def to_frame(self):
        """One row per document in a group: ``group``, ``position``, ``id``."""
        rows = [(k, p, None if self.ids is None else self.ids[k][j])
                for k, g in enumerate(self) for j, p in enumerate(g)]
        # (text_safe_frame: an id with a lone surrogate failed pandas' str dtype)
        return text_safe_frame({"group": [r[0] for r in rows], "position": [r[1] for r in rows],
                                "id": [r[2] for r in rows]})

_FLOPS = 2e10  # rough multiply-adds per second, only to decide on a progress bar
# Rows per block of the pairwise pass of near_duplicates (a block x block tile of cosines).
PAIR_BLOCK = 2048


def hash_multipliers(d: int, dtype) -> np.ndarray:
    """The fixed odd 64-bit multipliers of :func:`row_hashes` for rows of ``d`` values."""
    width = d * (2 if np.dtype(dtype).itemsize == 8 else 1)
    return (np.random.default_rng(12345).integers(1, 2**63, size=width, dtype=np.uint64)
            | np.uint64(1))


def row_hashes(block: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's bytes (equal rows give equal hashes, exactly).

    Examples
    --------
    >>> rows = np.array([[1.0, -0.0], [1.0, 0.0], [2.0, 0.0]])
    >>> h = row_hashes(rows, hash_multipliers(2, rows.dtype))
    >>> bool(h[0] == h[1]), bool(h[0] == h[2])
    (True, False)
    """
    # subtle: -0.0 and 0.0 are equal numbers with different bytes; adding 0.0 turns
    # every -0.0 into 0.0 so that equal rows always have equal bytes.
    block = np.ascontiguousarray(block + block.dtype.type(0))
    words = block.view(np.uint32 if block.dtype.itemsize == 4 else np.uint64)
    words = words.astype(np.uint64)      # a new array: multiplied in place, not copied again
    with np.errstate(over="ignore"):
        words *= multipliers[: words.shape[1]]
        return words.sum(axis=1, dtype=np.uint64)


def colliding_rows(hashes: np.ndarray) -> list[np.ndarray]:
    """Row positions sharing a hash (ascending, groups of ≥ 2): the candidate copies."""
    n = hashes.size
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
    stops = np.r_[starts[1:], n]
    shared = stops - starts >= 2          # only these reach the loop (not one per row)
    return [np.sort(order[a:b]) for a, b in zip(starts[shared], stops[shared])]


def groups_from_hashes(hashes: np.ndarray, fetch, batch_rows: int = 1 << 18) -> list[list[int]]:
    """Groups of identical rows from per-row hashes; ``fetch(positions)`` gives those rows.

    Only rows whose hash is shared are fetched (ascending positions, at most about
    ``batch_rows`` at a time), and a collision between different rows is split apart by
    comparing the rows themselves. Largest group first.
    """
    candidates = colliding_rows(hashes)
    groups: list[list[int]] = []
    start = 0
    while start < len(candidates):
        stop, size = start, 0
        while stop < len(candidates) and (stop == start or size + candidates[stop].size
                                          <= batch_rows):
            size += candidates[stop].size
            stop += 1
        batch = candidates[start:stop]
        everything = np.unique(np.concatenate(batch))
        values = np.asarray(fetch(everything))
        values = values + values.dtype.type(0)
        at = dict(zip(everything.tolist(), range(everything.size)))
        for rows in batch:
            vals = values[[at[r] for r in rows.tolist()]]
            _, inverse = np.unique(vals, axis=0, return_inverse=True)
            for g in np.unique(inverse):
                members = rows[inverse.ravel() == g]
                if members.size >= 2:
                    groups.append(members.tolist())
        start = stop
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def exact_duplicate_groups(X: np.ndarray) -> list[list[int]]:
    """Groups (≥ 2 rows) of identical rows of a checked matrix, largest group first.

    Examples
    --------
    >>> exact_duplicate_groups(np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0], [-0.0, 1.0]]))
    [[0, 2], [1, 3]]
    """
    n, d = X.shape
    multipliers = hash_multipliers(d, X.dtype)
    step = block_rows(d)
    hashes = np.concatenate([row_hashes(np.asarray(X[s:s + step]), multipliers)
                             for s in range(0, n, step)])
    return groups_from_hashes(hashes, lambda rows: X[rows])


def groups_from_pairs(n: int, rows: np.ndarray, cols: np.ndarray,
                      extra_groups=()) -> list[list[int]]:
    """Connected components (size ≥ 2) of the pairs plus the given groups."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = [np.asarray(rows, dtype=np.int64)]
    cols = [np.asarray(cols, dtype=np.int64)]
    for g in extra_groups:
        g = np.asarray(g, dtype=np.int64)
        rows.append(np.full(g.size - 1, g[0]))
        cols.append(g[1:])
    r, c = np.concatenate(rows), np.concatenate(cols)
    if r.size == 0:
        return []
    graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    counts = np.bincount(labels)
    involved = np.flatnonzero(counts[labels] >= 2)
    order = np.argsort(labels[involved], kind="stable")
    members = involved[order]
    splits = np.flatnonzero(np.diff(labels[members])) + 1
    groups = [g.tolist() for g in np.split(members, splits)]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def near_duplicates(X, *, threshold: float = 0.98, show_progress: bool | None = None,
                    sample: int | None = None, random_state=0, confidence: float = 0.95,
                    also=None):
    """Groups of items whose cosine similarity is at least ``threshold``.

    Parameters
    ----------
    X : array-like (n, d) or vecdiag.Index
        Non-zero vectors.
    threshold : float in (-1, 1]
        Pairs with ``cos ≥ threshold`` are linked; groups are the connected components
        (so a chain a~b~c is one group even when cos(a, c) is lower). Cosines are
        computed, so a few units in the last place off: a row and the same row times 3
        may give 1 - 6e-8 in float32, and ``threshold=1`` links some such pairs and not
        others (x, 3x, x·(1 + 1e-7) and a copy of x, float64, 384-d: two groups, x with
        its copy and 3x with x·(1 + 1e-7)). To group the rows of one direction, pass a
        threshold just under 1 (``0.9999``); exact copies are grouped whatever the
        threshold. No rounding margin is added: stored, 3x is not exactly parallel to x
        (each value rounded: cosine 1 - 7e-16 exactly in float32), and the computed
        cosine's rounding bound, ``2 (d + 2) eps``, is 9e-5 at 384-d in float32, a margin
        that would link distinct near-paraphrases at ``threshold=1``.
    show_progress : bool or None
        Progress bar over row blocks; None shows it when the work is long.
    sample : int, optional
        Estimate the share of items with a copy from this many rows drawn at random,
        each searched against all n (``O(s·n·d)``), and find the exact copies by hashing
        every row (``O(n·d)``): returns a
        :class:`~vecdiag.diagnostics.sampled_duplicates.SampledDuplicates`. On a Dask
        array, ``None`` means :data:`~vecdiag.diagnostics.sampling.DEFAULT_SAMPLE` rows.
    random_state : int, numpy Generator or None
        Seed of the sample; checked also without one.
    confidence : float
        Level of the sampled interval (Wilson score, finite population corrected).
    also : array-like (n, d), optional
        Other rows of the same items (the raw vectors of centred ones, say): a pair is
        linked only when its cosine in ``also`` is at or above ``threshold`` too (exact
        copies are grouped whatever it says). :func:`vecdiag.diagnose` judges copies on
        the centred vectors and on the raw ones: centred, rows near the origin all point
        along minus the mean.

    Returns
    -------
    DuplicateGroups, or SampledDuplicates when sampled
        A list of row positions per group (ascending), largest group first. Exact
        copies are always grouped, whatever the threshold and the float rounding of
        their cosine. With an Index that has ids, ``.ids`` holds the same groups as
        ids (None otherwise); ``.positions`` the row positions; ``.to_frame()`` both.

    Notes
    -----
    Every pair is compared once, block against later blocks: ``(n²/2)·d`` multiply-adds
    and memory of one ``block × block`` tile, never ``n × n``. A cosine Index whose kNN
    graph is cached (by :func:`vecdiag.diagnose`, :func:`vecdiag.hubness`,
    :func:`vecdiag.explain_neighbors` or ``index.knn_graph``) skips the tiles the graph
    proves hold no pair (:func:`blocks_with_pairs`): the same groups, without a second
    pass over every pair. For the corpus kNN graph route (only pairs among each item's k
    nearest), see :func:`vecdiag.diagnose`.

    Sampled (``sample=s``): exact copies come from hashing every row (complete, O(n·d));
    the share of items with a copy is post-stratified: the exact copies' share is known,
    and among the other items the share is a binomial proportion over the sampled rows
    that are not exact copies (a simple random sample of them), with a Wilson score
    interval whose effective size carries the finite population correction. Each sampled
    row is searched for its 10 nearest, so the result also estimates the share of
    redundant items, ``Σ (group size − 1) / n`` (``redundant_share``: what the groups of
    an unsampled call give), counting ``c / (c + 1)`` for a row with ``c`` near-copies.

    Examples
    --------
    >>> near_duplicates([[1, 0], [0, 1], [1, 0.01], [2, 0]])
    [[0, 2, 3]]
    >>> import vecdiag as vd
    >>> near_duplicates(vd.Index([[1, 0], [0, 1], [1, 0.01]], ids=["a", "b", "c"])).ids
    [['a', 'c']]
    >>> est = near_duplicates([[1, 0], [0, 1], [1, 0.01], [2, 0]], sample=4)
    >>> est.share, est.exact_share                 # every row sampled: exact
    (0.75, 0.0)
    """
    from .. import _validate as V
    from ..scale.chunks import is_dask_array

    V.check_seed(random_state)   # a wrong seed fails with or without sample=
    if sample is not None or is_dask_array(X) or is_dask_array(getattr(X, "vectors", None)):
        return _sampled(X, threshold, sample, random_state, confidence, also)
    ids = getattr(X, "ids", None)
    graph = cosine_graph(X)
    X, _ = resolve(X)
    _check_threshold(threshold)
    n, d = X.shape
    also = _check_also(also, X.shape)
    exact = exact_duplicate_groups(X)
    norms = np.concatenate([row_norms(np.asarray(X[s:s + block_rows(d)]))
                            for s in range(0, n, block_rows(d))])
    refuse_zero_rows(norms)
    step = max(1, min(n, PAIR_BLOCK))
    n_blocks = -(-n // step)
    needed = (np.triu(np.ones((n_blocks, n_blocks), dtype=bool)) if graph is None
              else blocks_with_pairs(graph, step, threshold, X.dtype, d, exact))
    pairs_r, pairs_c = [], []
    with progress_bar(n_blocks, desc="near duplicates", show=show_progress,
                      expected_seconds=int(needed.sum()) * step * step * d / _FLOPS) as bar:
        for i, a in enumerate(range(0, n, step)):
            A = None
            for j in np.flatnonzero(needed[i]).tolist():
                b = j * step
                if A is None:
                    A = unit_rows(np.asarray(X[a:a + step]), norms[a:a + step], X.dtype)
                B = A if b == a else unit_rows(np.asarray(X[b:b + step]), norms[b:b + step],
                                                 X.dtype)
                r, c = block_pairs(A, B, a, b, threshold)
                pairs_r.append(r)
                pairs_c.append(c)
            bar.update(1)
    rows = np.concatenate(pairs_r or [np.zeros(0, int)])
    cols = np.concatenate(pairs_c or [np.zeros(0, int)])
    if also is not None and rows.size:
        from .sampled_duplicates import cosines_in

        # pairs inside one exact-copy group are joined by ``exact`` whatever ``also``
        # says: not checked (3,000 identical rows are 4.5 million pairs)
        rep = np.arange(n)
        for g in exact:
            rep[g] = g[0]
        other = rep[rows] != rep[cols]
        rows, cols = rows[other], cols[other]
        keep = cosines_in(also, rows, cols) >= threshold
        rows, cols = rows[keep], cols[keep]
    return DuplicateGroups(groups_from_pairs(n, rows, cols, exact), ids)


def block_pairs(A: np.ndarray, B: np.ndarray, a: int, b: int, threshold: float):
    """The pairs ``(i, j)``, ``i < j``, of unit row blocks ``A`` (rows from ``a``) and ``B``
    (rows from ``b``) with cosine ``A_i · B_j >= threshold``, as corpus rows: one tile of the
    pairwise pass of :func:`near_duplicates`."""
    sims = A @ B.T
    r, c = np.nonzero(sims >= threshold)
    keep = (r + a) < (c + b)
    return r[keep] + a, c[keep] + b


def sorted_groups(groups) -> list[np.ndarray]:
    """Groups as sorted int64 arrays, ordered by their first row: the form
    :func:`vecdiag.fixes.duplicate_groups` returns and keeps in ``index.cache`` under
    :func:`vecdiag.cache_keys.duplicate_groups` (also filled by :func:`vecdiag.diagnose`).

    Examples
    --------
    >>> sorted_groups([[4, 2], [0, 3, 1]])
    [array([0, 1, 3]), array([2, 4])]
    """
    return sorted((np.asarray(sorted(g), dtype=np.int64) for g in groups), key=lambda g: g[0])


def _check_also(also, shape):
    """``also`` as a matrix of the corpus's shape (None stays None)."""
    from .. import _validate as V
    from ..scale.chunks import check_dask_matrix, is_dask_array

    if also is None:
        return None
    also = check_dask_matrix(also, "also") if is_dask_array(also) else V.as_matrix(also, "also")
    if tuple(also.shape) != tuple(shape):
        raise ValueError(f"also has shape {tuple(also.shape)}, the corpus {tuple(shape)}: "
                         "pass one row per corpus row (the same items, another frame)")
    return also


def _check_threshold(threshold) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not -1 < threshold <= 1:
        raise ValueError(f"threshold must be a number in (-1, 1], got {threshold!r}")


def _sampled(X, threshold, sample, random_state, confidence, also=None):
    """Check the inputs of a sampled call and run :func:`sampled_near_duplicates`."""
    from .. import _validate as V
    from ..neighbors import Index
    from ..scale.chunks import check_dask_matrix, is_dask_array
    from .sampled_duplicates import sampled_near_duplicates
    from .sampling import DEFAULT_SAMPLE, check_confidence, check_sample

    _check_threshold(threshold)
    confidence = check_confidence(confidence)
    vectors = getattr(X, "vectors", X)
    if is_dask_array(vectors):
        from ..scale.hashing import exact_duplicate_groups_dask

        # two passes over the corpus: the row hashes, then the sampled rows' search
        # (which refuses NaN and zero rows block by block, naming them)
        index = vectors = check_dask_matrix(vectors, "X")
        exact = exact_duplicate_groups_dask(vectors)
    else:
        vectors = V.as_matrix(vectors, "X")
        refuse_zero_rows(row_norms(vectors))
        index = X if isinstance(X, Index) and X.metric == "cosine" else Index(vectors)
        exact = exact_duplicate_groups(vectors)
    also = _check_also(also, vectors.shape)
    s = check_sample(DEFAULT_SAMPLE if sample is None else sample, vectors.shape[0])
    return sampled_near_duplicates(index, exact, threshold=threshold, sample=s,
                                   random_state=random_state, confidence=confidence,
                                   also=also)
