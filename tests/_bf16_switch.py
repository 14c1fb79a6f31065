"""The bf16 candidate stage switched on for the tests of tests/test_engine_bf16*.py."""

from __future__ import annotations

import pytest

from vecdiag.neighbors import _bf16



def _why_off() -> str | None:
    """Why the stage cannot run here, or None. Without torch the reason reads as a
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


_OFF = _why_off()
needs_bf16 = pytest.mark.skipif(_OFF is not None, reason=_OFF or "")


def switch_on(monkeypatch):
    """The bf16 stage on for any scan size (``VECDIAG_BF16=1``, ``MIN_FLOPS`` 0); its
    path counts reset. Returns ``monkeypatch``."""
    monkeypatch.setenv("VECDIAG_BF16", "1")
    monkeypatch.setattr(_bf16, "MIN_FLOPS", 0)
    monkeypatch.setattr(_bf16, "stats", {"bf16": 0, "fallback": 0, "probe_failed": 0})
    return monkeypatch
