"""The bf16 candidate stage switched on for the tests of tests/test_engine_bf16*.py."""

from __future__ import annotations

import pytest

from vecdiag.neighbors import _bf16

needs_bf16 = pytest.mark.skipif(_bf16._torch() is None,
                                reason="torch with native bf16 products not available")


def switch_on(monkeypatch):
    """The bf16 stage on for any scan size (``VECDIAG_BF16=1``, ``MIN_FLOPS`` 0); its
    path counts reset. Returns ``monkeypatch``."""
    monkeypatch.setenv("VECDIAG_BF16", "1")
    monkeypatch.setattr(_bf16, "MIN_FLOPS", 0)
    monkeypatch.setattr(_bf16, "stats", {"bf16": 0, "fallback": 0, "probe_failed": 0})
    return monkeypatch
