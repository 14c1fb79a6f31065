"""More planted failures for vd.explain_neighbors and vd.diagnose, built apart from
tests/explain_planted.py: other sizes, dimensions, metrics and clean corpora, each checked
against what vd.diagnose says of the same corpus or a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _tight_topics(rng, n, d, n_topics=4, noise=0.3):
    """Unit vectors around ``n_topics`` random centres: no axis is special (a rotated
    copy has the same cosines), so no dimension can be rogue."""
    centres = _unit(rng.normal(size=(n_topics, d)))
    labels = rng.integers(0, n_topics, n)
    return _unit(centres[labels] + noise * _unit(rng.normal(size=(n, d))))


@pytest.mark.parametrize("seed", [0, 3])
def test_a_few_topics_in_8_dimensions_are_not_rogue_dimensions(seed):
    """60 documents on 4 topics in 8-D, a query from nowhere (its 16th-best document
    expected). explain read the top 5 of the 8 dimensions (vd.diagnose reads ⌈8/10⌉ = 1):
    5 of 8 dimensions always carry about all of a mean cosine, so it named
    rogue_dimensions first with confidence 1.0 (whitening lifts the document from rank 16
    to 3, as it would any) where vd.diagnose says no dimension dominates."""
    rng = np.random.default_rng(seed)
    X = _tight_topics(rng, 60, 8)
    q = _unit(rng.normal(size=8))
    e = int(np.argsort(-(X @ q), kind="stable")[15])
    exp = vd.explain_neighbors(q, X, expected=[e])
    codes = [c.code for c in exp.causes]
    assert vd.diagnose(X)["rogue_dimensions"].severity == "ok"
    assert "rogue_dimensions" not in codes, codes
    assert codes[0] == "out_of_distribution", codes
