"""The candidate stage switched on for the tests of tests/test_engine_bf16*.py and
tests/test_engine_int8.py: bf16 or int8 products (vecdiag/neighbors/_lowp.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vecdiag.neighbors import _bf16, _bf16_copy, _lowp
from vecdiag.neighbors.engine import tolerance
from vecdiag.neighbors.rows import Rows


def _why_off() -> str | None:
    """Why the bf16 stage cannot run here, or None. Without torch the reason reads as a
    missing dependency (under CI=true, tests/_ci_skips.py fails the run: CI installs
    torch); a CPU without native bf16 products is a case the stage does not apply to
    (it stays off, the float32 path runs), which stays a skip everywhere."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (the bf16 stage runs through it)"
    if _bf16._torch() is not torch:
        return ("this CPU has no native bf16 products, or torch's failed the stage's "
                "rounding check: the stage stays off here and the float32 path runs")
    return None


def _why_int8_off() -> str | None:
    """Why the int8 stage cannot run here, or None (as :func:`_why_off`)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (the int8 stage runs through it)"
    if not _lowp.Int8().usable(torch, 16):
        return ("this torch has no exact int8 product (torch._int_mm): the stage stays "
                "off here and the float32 path runs")
    return None


_OFF = _why_off()
needs_bf16 = pytest.mark.skipif(_OFF is not None, reason=_OFF or "")
_INT8_OFF = _why_int8_off()
needs_int8 = pytest.mark.skipif(_INT8_OFF is not None, reason=_INT8_OFF or "")


def switch_on(monkeypatch, product: str = "bf16"):
    """The stage on with ``product`` (bf16 or int8) for any scan size (``VECDIAG_BF16=1``
    or ``VECDIAG_INT8=1``, the other 0; ``MIN_FLOPS`` 0); its path counts reset. Returns
    ``monkeypatch``."""
    monkeypatch.setenv("VECDIAG_BF16", "1" if product == "bf16" else "0")
    monkeypatch.setenv("VECDIAG_INT8", "1" if product == "int8" else "0")
    monkeypatch.setattr(_bf16, "MIN_FLOPS", 0)
    monkeypatch.setattr(_bf16, "stats", {"bf16": 0, "int8": 0, "fallback": 0,
                                         "probe_failed": 0})
    return monkeypatch


def planted(kind, seed, n, d, dtype):
    """(queries, corpus) of a kind the stage's bit-for-bit tests draw from: random,
    ties (few distinct values), copies (exact duplicate rows), near (rows a float32 ulp
    or two apart), rogue (one dimension 50x the others), mixed (lengths over 30
    binades), cone (cosines near 0.9), and scaled: tiny, huge, subnormal, cone_tiny,
    cone_huge. The first four queries are corpus rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if kind == "ties":
        X = np.round(X)
        X[np.all(X == 0, axis=1), 0] = 1.0
    elif kind == "copies":
        X[rng.integers(0, n, n // 3)] = X[rng.integers(0, n, n // 3)]
    elif kind == "near":
        X[1::2] = X[::2][:n // 2] * (1 + 2.0 ** -22 * rng.integers(-2, 3, (n // 2, 1)))
    elif kind == "rogue":
        X[:, 0] *= 50
    elif kind == "mixed":
        X *= np.exp2(rng.integers(-15, 15, (n, 1)))
    elif kind.startswith("cone"):
        X = 3.0 * np.ones(d) / np.sqrt(d) + X / np.sqrt(d)
    scale = {"tiny": 1e-15, "huge": 1e15, "subnormal": 1e-39, "cone_tiny": 1e-15,
             "cone_huge": 1e15}.get(kind, 1.0)
    X = (X * scale).astype(dtype)
    Q = np.vstack([X[:4], (rng.normal(size=(6, d)) * scale).astype(dtype)])
    if kind.startswith("cone"):
        Q[4:] = X[4:10]
    return Q, X


def key_errors(X, Q, metric):
    """(per query: the largest error of the stage's keys, q·s added back, against the
    exact float64 keys, over the stage's own part of the bound; the stage). Under
    euclidean the keys are 2 q·c − ‖c‖² with the engine's ‖c‖², which the default part
    of the bound covers."""
    C, Qr = Rows(X, metric, "corpus"), Rows(Q, metric, "queries")
    stage = _bf16.stage_for(Qr, C, exclude_self=False, backend="numpy", cand_rows=None)
    pos = np.arange(Qr.n)
    default = tolerance(Qr, C, pos, float(np.finfo(X.dtype).eps))
    own = stage.tolerance(pos, default) - default
    Qb = Qr.take(pos) * (2 if metric == "euclidean" else 1)
    S = np.empty((C.n, Qr.n), X.dtype)
    stage.into(stage.prepare(Qb), 0, C.n, S)
    key = stage.absolute(pos, S.T)
    exact = Qb.astype(np.float64) @ C.data.astype(np.float64).T
    if metric == "euclidean":
        exact -= C.sq.astype(np.float64)
    return np.abs(key - exact).max(axis=1) / own, stage


def raw_cone(monkeypatch, seed):
    """(queries, corpus) of a narrow cone (48 dimensions, spread 0.02) that the stage
    copies as it is (not centred: its bound is then wider than the gaps between the top
    scores), with a probe of 8 queries that judges the corpus."""
    monkeypatch.setattr(_bf16_copy, "CENTRE_BELOW", 0.0)
    monkeypatch.setattr(_bf16, "PROBE", 8)
    monkeypatch.setattr(_bf16, "PROBE_LEAST", 8)
    rng = np.random.default_rng(seed)
    X = (np.ones(48) + rng.normal(size=(2000, 48)) * 0.02).astype(np.float32)
    Q = (np.ones(48) + rng.normal(size=(40, 48)) * 0.02).astype(np.float32)
    return Q, X
