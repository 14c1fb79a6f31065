"""explain_neighbors under euclidean distance: a common offset of corpus and query moves
no euclidean distance, so it must move nothing an explanation reads either."""

import numpy as np
import pytest

import vecdiag as vd
from explain_planted import GENERATORS

CENTRED_COSINE = "cosine_metric+center"


def _centred_cosine_rank(X, q, row):
    """Independent reference: the rows less their mean, cosine with the query less the
    same mean, ties by lower row; the 1-based rank of ``row``."""
    mu = X.mean(axis=0)
    T, t = X - mu, q - mu
    cos = T @ t / (np.linalg.norm(T, axis=1) * np.linalg.norm(t))
    order = np.lexsort((np.arange(len(X)), -cos))
    return int(np.flatnonzero(order == row)[0]) + 1


@pytest.mark.parametrize("shift", [30.0, 1000.0])
def test_the_centred_cosine_counterfactual_does_not_move_with_a_common_offset(shift):
    """The rogue plant (200 x 16, euclidean): centring then cosine ranked the expected
    document 3rd at the origin and 200th of 200 once every row and the query were moved
    by 30 (the unit rows were centred: far from the origin every unit row is nearly the
    same, so the ranking depended on where the origin is). Centring the rows as given
    is free of any offset: the same rank (200th: the rogue dimensions' variance still
    decides, whitening's job) at every offset, equal to NumPy's by hand."""
    case = GENERATORS["rogue_dimensions"](np.random.default_rng(0), 200, 16)
    X, q, (e,) = case.corpus, case.query, case.expected
    want = _centred_cosine_rank(X, q, e)
    assert want == _centred_cosine_rank(X + shift, q + shift, e)
    ranks = []
    for s in (0.0, shift):
        exp = vd.explain_neighbors(q + s, X + s, k=10, expected=[e], metric="euclidean")
        cf = {c.fix: c for c in exp.counterfactuals}
        ranks.append(cf[CENTRED_COSINE].expected_ranks[e])
    assert ranks == [want, want]
