"""The same numbers in another memory layout give the same answers, bit for bit.

NumPy's sums and BLAS products round in an order that follows the layout; vecdiag reads
in-memory inputs in C order (vecdiag._validate.as_vectors) and memmaps block by block in
C order (vecdiag.neighbors.rows), so a Fortran-ordered or strided corpus is ranked,
explained and scored exactly as its C-ordered copy.
"""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd
from vecdiag import _validate as V


def _layouts(X):
    wide = np.empty((X.shape[0], 2 * X.shape[1]), X.dtype)
    wide[:, ::2] = X
    return {"fortran": np.asfortranarray(X), "strided": wide[:, ::2]}


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_explain_search_and_rerank_ignore_the_layout(rng, metric, dtype):
    X = (rng.normal(size=(257, 48)) + 2).astype(dtype)
    q = (X[5] + 0.1 * rng.normal(size=48)).astype(dtype)
    a = vd.explain_neighbors(q, X, expected=[7], metric=metric)
    ref = vd.knn(X[:9], X, k=6, metric=metric)
    for name, Y in _layouts(X).items():
        b = vd.explain_neighbors(q, Y, expected=[7], metric=metric)
        assert np.array_equal(a.top_scores, b.top_scores), name
        assert a.to_frame().equals(b.to_frame()), name
        got = vd.knn(Y[:9], Y, k=6, metric=metric)
        assert np.array_equal(ref.indices, got.indices) and np.array_equal(ref.scores,
                                                                           got.scores)


def test_the_gate_returns_c_order_and_leaves_c_input_alone(rng, tmp_path):
    X = rng.normal(size=(20, 6))
    assert V.as_matrix(X, "X") is X                     # no copy when nothing to change
    F = np.asfortranarray(X)
    out = V.as_matrix(F, "X")
    assert out.flags.c_contiguous and np.array_equal(out, X) and F.flags.f_contiguous
    mm = np.memmap(tmp_path / "x.f64", dtype=np.float64, mode="w+", shape=(20, 6))
    mm[:] = X
    assert isinstance(V.as_matrix(mm, "X"), np.memmap)  # read block by block, not copied
