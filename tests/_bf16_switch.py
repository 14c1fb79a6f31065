"""The candidate stage switched on for the tests of tests/test_engine_bf16*.py and
tests/test_engine_int8.py: bf16 or int8 products (vecdiag/neighbors/_lowp.py)."""

from __future__ import annotations

import pytest

from vecdiag.neighbors import _bf16, _lowp


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
