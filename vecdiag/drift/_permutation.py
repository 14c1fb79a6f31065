"""The permutation machinery shared by the three tests of :func:`vecdiag.drift`.

Permutation p-values use the add-one rule ``p = (1 + #{null >= observed}) / (1 + P)``,
which is a valid p-value for any number of permutations ``P``: under no drift,
``P(p <= alpha) <= alpha`` exactly (Phipson & Smyth 2010). A null value within the
statistic's ``tolerance`` (a bound on its float64 rounding error) of the observed one
counts as reaching it (binary or quantised vectors make many permutations tie with it
exactly, and the rounding would otherwise break those ties at random, mostly below:
p-values too small).
"""

from __future__ import annotations

import numpy as np

from .._progress import progress_bar

__all__ = ["random_subsets", "permutation_p_value", "critical_value", "run_permutations"]

# Permutations evaluated per matrix product: bounds memory to ~(N x _CHUNK) floats.
_CHUNK = 128


def random_subsets(rng: np.random.Generator, N: int, m: int, P: int) -> np.ndarray:
    """(N, P) 0/1 matrix: column j marks a uniformly random m-subset of N positions."""
    keys = rng.random((P, N))
    chosen = np.argpartition(keys, m - 1, axis=1)[:, :m] if m < N else np.tile(np.arange(N), (P, 1))
    A = np.zeros((N, P))
    A[chosen, np.arange(P)[:, None]] = 1.0
    return A


def permutation_p_value(observed: float, null: np.ndarray, tol: float = 0.0) -> float:
    """Add-one permutation p-value (larger statistics are more extreme).

    A null value reaches the observed one when ``null + tol >= observed``: ``tol`` is
    the rounding error of the statistic, so that ties in exact arithmetic stay ties.
    """
    return float((1 + np.count_nonzero(null + tol >= observed)) / (1 + null.size))


def critical_value(null: np.ndarray, alpha: float, tol: float = 0.0) -> float:
    """The statistic value above which the test rejects at level ``alpha``.

    With the add-one rule, ``p <= alpha`` holds exactly when fewer than
    ``j + 1 = floor(alpha (P + 1))`` null values reach the observed one, i.e. when the
    observed statistic exceeds the ``(j + 1)``-th largest null value (plus ``tol``, as
    in :func:`permutation_p_value`): ``drifted`` is ``statistic > threshold``.
    """
    j = int(np.floor(alpha * (null.size + 1) + 1e-9)) - 1
    if j < 0:
        return float("inf")
    return float(np.sort(null)[::-1][j] + tol)


def run_permutations(stat_of, rng, N: int, m: int, P: int, desc: str,
                      seconds_per_perm: float, show) -> tuple[float, np.ndarray]:
    """Observed statistic (identity labelling) and ``P`` permuted ones, in chunks."""
    identity = np.zeros((N, 1))
    identity[:m] = 1.0
    observed = float(stat_of(identity)[0])
    null = np.empty(P)
    with progress_bar(P, desc=desc, show=show, expected_seconds=seconds_per_perm * P) as bar:
        for start in range(0, P, _CHUNK):
            stop = min(P, start + _CHUNK)
            null[start:stop] = stat_of(random_subsets(rng, N, m, stop - start))
            bar.update(stop - start)
    return observed, null
