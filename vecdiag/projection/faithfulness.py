"""Where does the map lie? Per-point neighbour overlap and trustworthiness.

A 2-D map of 384-D vectors cannot keep every distance. Two questions tell how far to
trust it: does each point keep its nearest neighbours (overlap, per point: where the map
lies), and are the neighbours seen on the map real neighbours (trustworthiness, one
number for the whole map; Venna & Kaski 2001, as in ``sklearn.manifold.trustworthiness``).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .._progress import progress_bar
from .._scaling import ranking_rows
from ..linalg import column_mean
from ..results import Result, fmt, html_block, html_table, result
from ._offset import far_from_origin

__all__ = ["Faithfulness", "faithfulness"]

# Elements per (rows x k x n) comparison block when counting ranks.
_RANK_BUDGET = 2**24


@result
class Faithfulness(Result):
    """How well a map keeps neighbourhoods: per point, and overall."""

    overlap: np.ndarray
    """Share of each point's k nearest neighbours in the original space that are also
    among its k nearest on the map (1: kept them all, 0: lost them all); one value per
    point, or per sampled point (see :attr:`points`)."""
    trustworthiness: float
    """Venna & Kaski trustworthiness in [0, 1]: 1 when every map neighbour is a true
    neighbour; penalises map neighbours by how far down the true ranking they are."""
    k: int
    """Neighbours per point."""
    metric: str
    """Metric of the original space."""
    chance: float
    """Expected overlap of a random map, ``k / (n - 1)``."""
    points: np.ndarray | None = None
    """Rows that :attr:`overlap` refers to when only a sample was checked (then
    :attr:`trustworthiness` is an estimate from those rows); None: every point."""

    @property
    def mean_overlap(self) -> float:
        """Average of :attr:`overlap` over the points."""
        return float(self.overlap.mean())

    def worst(self, n: int = 10) -> np.ndarray:
        """Rows of the ``n`` points whose neighbourhoods the map keeps least."""
        n = V.check_positive_int(n, "n", minimum=0)
        order = np.argsort(self.overlap, kind="stable")[:n]
        return order if self.points is None else self.points[order]

    def to_frame(self):
        """One row per checked point: its row and its overlap."""
        import pandas as pd

        rows = np.arange(self.overlap.size) if self.points is None else self.points
        return pd.DataFrame({"point": rows, "overlap": self.overlap})

    def _repr_html_(self) -> str:
        rows = [["k", self.k], ["metric", self.metric],
                ["mean overlap", self.mean_overlap], ["chance overlap", self.chance],
                ["trustworthiness", self.trustworthiness],
                ["points keeping < half their neighbours",
                 int((self.overlap < 0.5).sum())]]
        return html_block("Faithfulness", html_table(rows, ["", "value"], numeric={"value"}))

    def plot(self, ax=None):
        """Histogram of per-point overlap, with the mean and the random-map level."""
        from ..plot.projection import draw_faithfulness

        return draw_faithfulness(self, ax=ax)

    def __str__(self) -> str:
        return (f"mean overlap {fmt(self.mean_overlap)} at k={self.k} (chance "
                f"{fmt(self.chance)}), trustworthiness {fmt(self.trustworthiness)}")


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, how many entries two index tables share (each row holds distinct values)."""
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1)


def _scores_to_all(Xp: np.ndarray, rows: np.ndarray, metric: str,
                   sq: np.ndarray | None) -> np.ndarray:
    """Closeness (higher is closer) of ``Xp[rows]`` to every row of ``Xp``."""
    block = Xp[rows] @ Xp.T
    if metric == "euclidean":
        block *= 2
        block -= sq[rows, None]
        block -= sq[None, :]          # = -(squared distance)
    return block


def _neighbours(Z: np.ndarray, points: np.ndarray | None, k: int, metric: str,
                show_progress) -> np.ndarray:
    """k nearest neighbours (self excluded) of every row, or of the rows ``points``."""
    from ..neighbors import knn

    if points is None:
        return knn(Z, Z, k, metric=metric, exclude_self=True,
                   show_progress=show_progress).indices
    idx = knn(Z[points], Z, k + 1, metric=metric, show_progress=show_progress).indices
    own = idx == points[:, None]
    # drop the point itself; subtle: with more than k exact copies of lower index it can
    # fall out of the top k + 1, and then the last one is the extra
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
    keep = np.ones(idx.shape, dtype=bool)
    keep[np.arange(idx.shape[0]), drop] = False
    return idx[keep].reshape(idx.shape[0], k)


def faithfulness(X: np.ndarray, Y: np.ndarray, k: int = 10, *, metric: str = "euclidean",
                 sample: int | None = None, random_state=0,
                 show_progress: bool | None = None) -> Faithfulness:
    """Neighbour overlap per point and trustworthiness of the map ``Y`` of ``X``.

    ``X`` is the fitted vectors (a Projection's ``data``), ``Y`` their map coordinates
    (``coords``); both are read as checked arrays here, since a Projection built by hand
    (a map made elsewhere) may hold lists or integers.

    Notes
    -----
    With ``N_k(i)`` the k nearest neighbours of point i in the original space (self
    excluded, ties by lower index, :func:`vecdiag.knn`) and ``M_k(i)`` those on the map
    (euclidean):

    * overlap(i) = ``|N_k(i) ∩ M_k(i)| / k``; a random map gives ``k / (n - 1)`` on
      average, an isometry gives 1.
    * trustworthiness = ``1 - 2 / (n k (2n - 3k - 1)) · Σ_i Σ_{j ∈ M_k(i) \\ N_k(i)}
      (r(i, j) - k)``, where ``r(i, j)`` is the rank of j among i's neighbours in the
      original space. Needs ``k < n / 2``.

    Cost: two exact k-NN searches plus one pass of i-to-all scores in the original space
    (``O(n² d)``, memory bounded by blocks). ``sample=m`` checks m random points against
    all n (``O(m n d)``): their overlaps are exact, trustworthiness is then estimated
    from their penalties (scaled by n / m).
    ``X`` or ``Y`` given as a ``dask.array.Array`` is computed into memory first.
    Only neighbours and ranks are read, so values beyond 2^±60 (float32 near 1e20 or
    1e-20, whose squares overflow or underflow) are divided by one power of two first
    (exact, as :func:`vecdiag.diagnose` does) instead of refused.
    """
    from ..linalg import normalize, row_norms
    from ..scale.chunks import compute, is_dask_array

    # The fit of vd.pca on a Dask array keeps it as data: computed here, since the rank
    # pass below compares each checked point with every row by NumPy indexing.
    if is_dask_array(X) or is_dask_array(Y):
        X, Y = compute(X, Y)
    # subtle: integer data was squared in int64 and the rank pass wrote -inf into it
    # ("cannot convert float infinity to integer"); a list had no .shape
    X, Y = V.as_matrix(X, "data"), V.as_matrix(Y, "coords")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"data has {X.shape[0]} vectors but coords has {Y.shape[0]} points; "
                         "a map needs one point per fitted vector")
    n = X.shape[0]
    # subtle: the bound k < n/2 is checked first and alone: check_k's "use k <= n - 1"
    # led to a second refusal, and n = 2 was told "use k <= 0"
    k = V.check_positive_int(k, "k")
    V.check_seed(random_state)   # a wrong seed fails with or without sample=
    if 2 * k >= n:
        if n < 3:
            raise ValueError(f"faithfulness needs at least 3 points (trustworthiness asks "
                             f"for 1 <= k < n/2), but the map has {n}")
        raise ValueError(f"k={k} is too large for trustworthiness on {n} points: it needs "
                         f"k < n/2; use k <= {(n - 1) // 2}")
    points = None
    if sample is not None and V.check_positive_int(sample, "sample") < n:
        rng = V.check_random_state(random_state)
        points = np.sort(rng.choice(n, size=int(sample), replace=False))
    if metric == "cosine":                  # said here: the search below calls X "corpus"
        zero = np.flatnonzero(row_norms(X) == 0)
        if zero.size:
            raise ValueError(f"metric='cosine' needs directions, but the projected vectors "
                             f"have zero vectors in {V.format_rows(zero)}; use "
                             "metric='euclidean' or drop those rows before projecting")
    # subtle: neighbours and ranks are all this reads, and they do not change when the
    # vectors (or the points) are divided by one power of two (exact): float32 near 1e20
    # or 1e-20, whose squares overflow or underflow, is scaled as vd.diagnose scales it
    # instead of refused; data in range is left bit for bit as it was
    X, _ = ranking_rows(X, metric)
    Y, _ = ranking_rows(Y, "euclidean")
    original = _neighbours(X, points, k, metric, show_progress)
    on_map = _neighbours(Y, points, k, "euclidean", show_progress)
    shared = _overlap(original, on_map)
    where = np.arange(n) if points is None else points         # row of each checked point
    m = where.size

    # Ranks in the original space of the map neighbours that are not true neighbours.
    orig_sorted = np.sort(original, axis=1)
    pos = np.minimum(_row_searchsorted(orig_sorted, on_map), k - 1)
    intruder = np.take_along_axis(orig_sorted, pos, axis=1) != on_map     # (m, k) bool
    Xp = normalize(X) if metric == "cosine" else X
    sq = np.einsum("ij,ij->i", Xp, Xp) if metric == "euclidean" else None
    if metric == "euclidean":
        Xp, sq = _centred_if_far(Xp, sq)
    todo = np.flatnonzero(intruder.any(axis=1))
    step = max(1, _RANK_BUDGET // (k * n))
    penalty = 0.0
    bar = progress_bar(len(range(0, todo.size, step)), desc="faithfulness: ranks",
                       show=show_progress,
                       expected_seconds=todo.size * n * (k + X.shape[1]) / 2e9)
    with bar:
        for start in range(0, todo.size, step):
            rows = todo[start:start + step]
            S = _scores_to_all(Xp, where[rows], metric, sq)
            S[np.arange(rows.size), where[rows]] = -np.inf   # a point is not its own neighbour
            J = on_map[rows]                                          # (b, k) map neighbours
            target = np.take_along_axis(S, J, axis=1)                 # their closeness to i
            closer = np.count_nonzero(S[:, None, :] > target[:, :, None], axis=2)
            tied = np.count_nonzero(S[:, None, :] == target[:, :, None], axis=2)  # j included
            tied_before = np.zeros_like(closer)
            for r, c in zip(*np.nonzero(tied > 1)):     # rare: exact ties, order by index
                j = J[r, c]
                tied_before[r, c] = np.count_nonzero(S[r, :j] == target[r, c])
            rank = closer + tied_before + 1                           # 1-based, ties by index
            # subtle: scores recomputed here may round differently from the search's; an
            # intruder is by definition beyond rank k, so never count less than k + 1.
            rank = np.maximum(rank, k + 1)
            penalty += float(((rank - k) * intruder[rows]).sum())
            bar.update()
    penalty *= n / m                          # a sample estimates the sum over all points
    trust = 1.0 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * penalty
    return Faithfulness(overlap=shared / k, trustworthiness=float(trust), k=k,
                        metric=metric, chance=k / (n - 1), points=points)


def _centred_if_far(X: np.ndarray, sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and its squared row norms ``sq``, moved to the mean when it lies far out.

    subtle: the ranks come from ``2 x·y - ‖x‖² - ‖y‖²``, which cancels the digits of
    ``‖x‖² / distance²``: points 1e8 from the origin with a spread of 1 keep none, and the
    trustworthiness came out 0.70 instead of 0.78. Moving every point by the same vector
    changes no distance, so data whose mean is long next to its spread (100 times its
    variance: :func:`._offset.far_from_origin`, as :meth:`Projection.from_linear` decides
    to centre) is centred first; other data is left bit for bit as it was (small-integer
    ties stay exact). The test ``‖μ‖² > 100 · (mean ‖x‖² - ‖μ‖²)`` is safe although its
    right side cancels: far out, it is tiny either way.
    """
    mean = column_mean(X)
    if not far_from_origin(mean, float(sq.mean(dtype=np.float64)) - float(mean @ mean)):
        return X, sq
    X = X - mean.astype(X.dtype)
    return X, np.einsum("ij,ij->i", X, X)


def _row_searchsorted(sorted_rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.searchsorted`` row by row, vectorised by offsetting each row into its own range."""
    n = sorted_rows.shape[0]
    span = int(max(sorted_rows.max(), values.max())) + 1
    offset = (np.arange(n, dtype=np.int64) * span)[:, None]
    flat = np.searchsorted((sorted_rows + offset).ravel(), (values + offset).ravel())
    return flat.reshape(values.shape) - offset // span * sorted_rows.shape[1]
