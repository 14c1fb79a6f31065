"""When data lies far from the origin: the one test behind centring first.

Products with rows far from the origin cancel the digits of ``‖μ‖ / spread``: ``x·w - μ·w``
(a linear map's coordinates), ``X Q - μ·Q`` (the randomized PCA solver), ``2 x·y - ‖x‖² -
‖y‖²`` (faithfulness' ranks). Each of them moves the rows to their mean first when the
mean is long next to the spread, by the same rule.
"""

from __future__ import annotations

import numpy as np


def far_from_origin(mean: np.ndarray, total_variance) -> bool:
    """Whether ``‖μ‖² > 100 · total_variance`` (the mean over 10 times the spread): then
    centre first. A ``‖μ‖²`` past the float range counts as far, without a warning.

    Examples
    --------
    >>> far_from_origin(np.array([30.0, 40.0]), 24.0), far_from_origin(np.array([30.0, 40.0]), 25.0)
    (True, False)
    >>> far_from_origin(np.array([1e200, 0.0]), 1.0)
    True
    """
    with np.errstate(over="ignore"):               # ‖μ‖² past 1e308: inf, and far
        return bool(mean @ mean > 100.0 * total_variance)
