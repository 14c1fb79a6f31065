"""The records an explanation is made of: Cause, ExpectedDoc, Counterfactual (the
:class:`~vecdiag.explain.explanation.Explanation` that holds them has its own module).

All are frozen dataclasses (``@result``) holding numbers that were computed once by
:func:`vecdiag.explain_neighbors`; display and plots only read them.
"""

from __future__ import annotations

import numpy as np

from ..results import Result, result

__all__ = ["Cause", "ExpectedDoc", "Counterfactual"]


@result
class Cause(Result):
    """One reason the query's neighbours look the way they do.

    Attributes
    ----------
    code : str
        Cause code from the fixed vocabulary (``hub``, ``norm_bias``, ``anisotropy``, ...).
    summary : str
        One sentence a person can act on, with the numbers that matter.
    evidence : dict
        The numbers behind the summary (plain Python values).
    fix : str or None
        Fix code to try (``csls``, ``center``, ...), or None when no fix applies.
    confidence : float
        In [0, 1]: how strongly the evidence says this cause changes the ranking
        (context causes stay below 0.35).
    ranking : bool
        True when the counterfactual of ``fix`` moves what the user sees; False for context.

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 16))
    >>> X[:40] *= 20                        # 40 long documents win every dot product
    >>> q = X[200] + 0.05 * rng.normal(size=16)
    >>> ex = vd.explain_neighbors(q, X, k=5, expected=[200], metric="dot")
    >>> cause = ex.causes[0]
    >>> cause.code, cause.fix, round(cause.confidence, 2), cause.ranking
    ('norm_bias', 'cosine_metric', 1.0, True)
    """

    code: str
    """Cause code from the fixed vocabulary (``hub``, ``norm_bias``, ... see API.md)."""
    summary: str
    """One sentence a person can act on, with the numbers that matter."""
    evidence: dict
    """The numbers behind the summary (plain Python floats, ints, strings, lists)."""
    fix: str | None
    """Fix code to try (``csls``, ``cosine_metric``, ...) or None when no fix applies."""
    confidence: float
    """In [0, 1]: how strongly the evidence says this cause changes the ranking. A cause
    whose counterfactual does not move the expected documents (or, without ``expected``,
    the top-k) is *context* and keeps a confidence below 0.35."""
    ranking: bool = False
    """True when the counterfactual of ``fix`` moves what the user sees (a ranking
    cause); False for context."""


@result
class ExpectedDoc(Result):
    """Where a document that should have been found actually sits.

    Attributes
    ----------
    id : object
        The document's id (its row position when the corpus has no ids).
    position : int
        Its row in the corpus.
    rank : int
        1-based rank under exact search, even far outside k.
    score : float
        Its score for the query (similarity, or distance under euclidean).
    gap : float
        How far it is from getting in: the k-th score minus its score (for euclidean,
        its distance minus the k-th distance); positive when outside the top-k.
    percentile : float
        Its score's percentile (0-100) among random corpus pairs: the share they
        score below (euclidean: the share farther apart), so higher is closer.
    separating_dims : ndarray
        Dimensions where the top hit's per-dimension contribution beats this
        document's most (largest first).
    text : str or None
        Its text, when the corpus has texts.

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> corpus = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    >>> ex = vd.explain_neighbors(np.array([0.7, 0.7]), corpus, k=2, expected=[2])
    >>> doc = ex.expected[0]
    >>> doc.id, doc.rank, round(doc.score, 4), round(doc.gap, 4)
    (2, 4, 0.7071, 0.0738)
    """

    id: object
    """The document's id (its row position when the corpus has no ids)."""
    position: int
    """Its row in the corpus."""
    rank: int
    """1-based rank under exact search, even far outside k (ties: lower row first)."""
    score: float
    """Its score for the query (similarity, or distance under euclidean)."""
    gap: float
    """How far it is from getting in: the k-th score minus its score (for euclidean,
    its distance minus the k-th distance). Positive when outside the top-k."""
    percentile: float
    """Its score's percentile (0-100) among random corpus pairs: 50 means an unrelated
    pair typically scores as high. Higher is closer under every metric: for euclidean it
    counts the pairs farther apart (at the 3rd percentile, its distance is longer than
    97% of theirs)."""
    separating_dims: np.ndarray
    """Dimensions where the top hit's per-dimension contribution beats this document's
    most (largest first)."""
    text: str | None = None
    """Its text, when the corpus has texts (shown, shortened, in the ranked list)."""


@result
class Counterfactual(Result):
    """The ranking the query would get after one fix.

    Attributes
    ----------
    fix : str
        Fix code (``center``, ``csls``, ``cosine_metric``, ...).
    expected_ranks : dict
        Expected document id -> its 1-based rank after the fix.
    top : list
        Ids (row positions without ids) of the new top-k, best first.
    moved : bool
        True when the fix changes what the user sees (a document enters or leaves the
        top-k, or an expected document's rank changes).
    note : str
        One sentence: what the fix does for this query.
    exact : bool
        False when the ranking was approximated; the note says how.
    global_delta : float or None
        With ``fix_report=``: the change of the report's primary metric under this fix.
    global_p : float or None
        With ``fix_report=``: the Holm-adjusted p-value of that change.
    global_metric : str or None
        The metric of ``global_delta``.
    global_significant : bool or None
        Whether the report finds the change significant at its alpha.

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> corpus = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    >>> ex = vd.explain_neighbors(np.array([0.7, 0.7]), corpus, k=2, expected=[2])
    >>> cf = ex.counterfactuals[0]
    >>> cf.fix, cf.moved, cf.expected_ranks, cf.top
    ('center', True, {2: 2}, [3, 2])
    """

    fix: str
    """Fix code (``center``, ``csls``, ``cosine_metric``, ...)."""
    expected_ranks: dict
    """Expected document id -> its 1-based rank after the fix."""
    top: list
    """Ids (row positions without ids) of the new top-k, best first."""
    moved: bool
    """True when the fix changes what the user sees: a document enters or leaves the
    top-k, or an expected document's rank changes."""
    note: str
    """One sentence: what the fix does for this query."""
    exact: bool = True
    """False when the ranking was approximated (statistics from a sample, or a text fix
    that re-encodes only some documents); the note says how."""
    global_delta: float | None = None
    """With ``fix_report=``: the change of the report's primary metric over the judged
    queries under this fix (None when the report did not run it, or without a report)."""
    global_p: float | None = None
    """With ``fix_report=``: the Holm-adjusted p-value of that change."""
    global_metric: str | None = None
    """The metric of ``global_delta`` (the report's primary metric)."""
    global_significant: bool | None = None
    """Whether the report finds the change significant at its alpha."""
