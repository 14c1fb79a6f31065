"""Adversarial cases of the int8 candidate stage (vecdiag/neighbors/_lowp.py, _bf16.py):
inputs built to sit where the bound's reasoning is thinnest.

Reference: the exact float64 products of the same prepared rows (the bound's own
definition, :meth:`vecdiag.neighbors._bf16.Stage.tolerance`), and the engine's float
path (both stages off) for the results, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from _bf16_switch import needs_int8, switch_on

from vecdiag.neighbors import _bf16
from vecdiag.neighbors.engine import search
from vecdiag.neighbors.rows import Rows

pytestmark = needs_int8

_TINY = 2.0 ** -126


@pytest.fixture
def int8(monkeypatch):
    return switch_on(monkeypatch, "int8")


def _product_errors(X, Q, metric):
    """Per query: the largest error of the stage's products (not centred: before the
    euclidean ``− ‖c‖²``, which the engine's own part of the bound covers) against the
    exact float64 products of the rows the scan multiplies (``2q`` under euclidean),
    over the stage's own part of the bound (the default part 0)."""
    C, Qr = Rows(X, metric, "corpus"), Rows(Q, metric, "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    assert stage.codec.name == "int8" and not stage.corpus.centred
    pos = np.arange(Qr.n)
    own = stage.tolerance(pos, np.zeros(pos.size))
    Qb = Qr.take(pos) * (2 if metric == "euclidean" else 1)
    S = np.empty((C.n, Qr.n), X.dtype)
    stage.codec.into(stage.torch, stage.corpus.rows, 0, C.n, stage.prepare(Qb), S)
    exact = Qb.astype(np.float64) @ C.data.astype(np.float64).T
    return np.abs(S.T.astype(np.float64) - exact).max(axis=1) / own


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [2, 8, 64])
def test_euclidean_queries_are_bounded_as_the_scan_doubles_them(int8, dtype, d):
    """A corpus of integers up to 127 (its scale exactly 1: the int8 copy is the rows,
    no residual) and queries of integers up to 100 times 2^-126: a query's own scale is
    held at 2^-126, so its int8 copy is exact too. Under euclidean the scan multiplies
    ``2q``, whose scale (200/127 x 2^-126) is not twice the query's: its rounding
    error must be in the bound all the same."""
    rng = np.random.default_rng(d)
    X = rng.integers(-127, 128, (300, d)).astype(dtype)
    X[0, 0] = 127
    Q = (rng.integers(-100, 101, (6, d)) * _TINY).astype(dtype)
    Q[:, 0] = 100 * _TINY
    ratio = _product_errors(X, Q, "euclidean")
    assert ratio.max() <= 1.0
    assert ratio.max() >= 0.01
