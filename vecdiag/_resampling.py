"""How many resamples a Monte Carlo test needs before a p-value can reach its level.

A test that counts ``c`` of ``B`` resamples at least as extreme as the data reports
``p = (1 + c) / (1 + B)``: never below ``1 / (1 + B)``. With ``B < 1 / alpha − 1`` no
data can be significant, and the test returns a plausible-looking "no change" instead
of saying that it could not tell. :func:`check_resamples` refuses such a ``B`` by name,
for :func:`vecdiag.drift` (``p <= alpha``) and :func:`vecdiag.compare` (``p < alpha``,
after Holm's correction over ``tests`` metrics, whose smallest value is
``tests / (1 + B)``).
"""

from __future__ import annotations

import math

__all__ = ["check_resamples", "fewest_resamples"]


def fewest_resamples(alpha: float, *, strict: bool, tests: int = 1) -> int:
    """The smallest ``B`` for which ``tests / (1 + B)`` is at or below ``alpha`` (below,
    when ``strict``).

    Examples
    --------
    >>> fewest_resamples(0.05, strict=False), fewest_resamples(0.05, strict=True)
    (19, 20)
    >>> fewest_resamples(0.05, strict=True, tests=3)    # Holm over three: 3 / 61 < 0.05
    60
    """
    bound = tests / alpha          # 1e-9: 3 / 0.15 is 20.000000000000004 in float64
    if strict:
        return math.floor(bound + 1e-9)
    return max(math.ceil(bound - 1 - 1e-9), 1)


def check_resamples(count: int, name: str, alpha: float, *, strict: bool, usual: int,
                    tests: int = 1, alpha_origin: str = "") -> None:
    """Raise a ValueError naming ``name`` when ``count`` resamples cannot give a p-value
    at (``strict``: below) ``alpha``; it suggests :func:`fewest_resamples` and, better,
    ten times that (at least ``usual``).

    Examples
    --------
    >>> check_resamples(10, "n_permutations", 0.05, strict=False, usual=500)
    Traceback (most recent call last):
    ...
    ValueError: n_permutations=10 cannot give a p-value at or below alpha=0.05 (the smallest is 1/(n_permutations+1)); use at least 19, better 500
    """
    needed = fewest_resamples(alpha, strict=strict, tests=tests)
    if count >= needed:
        return
    smallest = (f"1/({name}+1)" if tests == 1 else
                f"{tests}/({name}+1), Holm's correction over {tests} metrics")
    raise ValueError(f"{name}={count} cannot give a p-value {'below' if strict else 'at or below'} "
                     f"alpha={alpha:.4g}{alpha_origin} (the smallest is {smallest}); use at "
                     f"least {needed}, better {max(usual, 10 * needed)}")
