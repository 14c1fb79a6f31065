"""Errors about what the data holds, told apart from errors about an argument's value.

A :class:`DataError` says the data cannot be used as it is (zero vectors, no variance):
the same call with other data runs. It is a ValueError, so ``except ValueError`` still
catches it; callers that must tell the two kinds apart test the type, never the message.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._options import format_rows

__all__ = ["DataError", "reworded", "constant_data_error", "zero_vectors", "ZeroWords"]


class DataError(ValueError):
    """``vd.DataError``: a ValueError about what the data holds (zero vectors, no
    variance), not about the value of an argument: the same call with other data runs.

    ``except ValueError`` still catches it. Its message may suggest an option (``pass
    zero='ignore'``), so callers that tell the two kinds apart (``try_fixes``: a fix that
    cannot run on this data is recorded in ``failed``; a bad option value is raised)
    test this type, never the message.

    Examples
    --------
    >>> import vecdiag as vd
    >>> try:
    ...     vd.cosine([0, 0], [1, 0])
    ... except vd.DataError as err:
    ...     print(isinstance(err, ValueError), str(err)[:21])
    True a is a zero vector, w
    """


DataError.__module__ = "vecdiag"      # tracebacks and pickles name it vecdiag.DataError


def reworded(err: ValueError, message: str) -> ValueError:
    """A ValueError of ``err``'s kind (a :class:`DataError` stays one) with ``message``:
    for callers that rename the argument an error names (``X`` -> ``corpus``)."""
    return (DataError if isinstance(err, DataError) else ValueError)(message)


class ZeroWords(NamedTuple):
    """How an error names rows that are zero vectors, in the singular for one row."""

    rows: str       # "a zero vector at row 3" / "2 rows (1, 4) that are zero vectors"
    they: str       # "it" / "they"
    them: str       # "it" / "them"
    has: str        # "has" / "have"


def zero_vectors(rows, count: int | None = None) -> ZeroWords:
    """The words for rows that are zero vectors (``count``: how many rows there are,
    when ``rows`` holds only the first of them).

    Examples
    --------
    >>> w = zero_vectors([3])
    >>> f"X has {w.rows}: {w.they} {w.has} no direction; drop {w.them}"
    'X has a zero vector at row 3: it has no direction; drop it'
    >>> zero_vectors([1, 4], count=9)
    ZeroWords(rows='9 rows (first: 1, 4) that are zero vectors', they='they', them='them', has='have')
    """
    count = len(rows) if count is None else int(count)
    if count == 1:
        return ZeroWords(f"a zero vector at row {int(rows[0])}", "it", "it", "has")
    return ZeroWords(f"{format_rows(rows, count=count)} that are zero vectors", "they", "them",
                     "have")


def constant_data_error(n: int, X=None) -> DataError:
    """The error for data without variance (every row the same vector), or whose
    variance underflows to 0 (rows differ, but their squared deviations vanish)."""
    if X is not None:
        X = np.asarray(X)
        if X.shape[0] > 1 and np.ptp(X, axis=0).max() > 0:
            return DataError(f"X has variance 0.0 in floating point although its rows differ: "
                             f"its values are so small (largest |x| = {np.abs(X).max():.3g}) "
                             "that their squares underflow; multiply the vectors by one "
                             "common large number first")
    return DataError(f"X has zero variance: all {n} rows are the same vector, so there is "
                     "no direction of largest variance and every explained-variance ratio "
                     "would be 0/0; check that the embeddings were computed (not a "
                     "placeholder or padding) and pass distinct vectors")
