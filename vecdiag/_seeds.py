"""``random_state``: the seed every random choice takes (see ``../shared/API.md``),
checked here and read through :mod:`vecdiag._validate` (``V.check_random_state``)."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_random_state", "check_seed"]


def check_random_state(random_state) -> np.random.Generator:
    """A NumPy Generator from a non-negative int seed, None (seed 0) or an existing Generator
    (returned as is: drawing from it advances it), or a RandomState (one seed drawn from
    it, advancing it, as scikit-learn draws from one)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng(0)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:   # NumPy's own error ("expected non-negative integer") names nothing
            raise ValueError(f"random_state must be a non-negative int seed, got "
                             f"{random_state}; e.g. random_state=0")
        return np.random.default_rng(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    raise TypeError(f"random_state must be an int, None, a numpy Generator or RandomState, "
                    f"got {type(random_state).__name__}")


def check_seed(random_state):
    """``random_state`` unchanged (nothing drawn from a Generator or RandomState) when
    :func:`check_random_state` takes it, its error otherwise: for a function that draws
    only sometimes (with ``sample=``, or from a corpus too large for every pair), so that
    a wrong value fails on every call, not only on the inputs that happen to draw.

    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: random_state must be a non-negative int seed, got -1; e.g. random_state=0
    """
    if not isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        check_random_state(random_state)
    return random_state
