"""Every script in examples/ runs and prints what it finds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))
EXPECT = {  # a line each script must print: evidence that it did its job
    "diagnose_npy": "key figures:",
    "explain_beir_query": "causes, strongest first:",
    "compare_models": "neighbours",
    "ci_gate": "gates behave as expected: True",
}


def test_every_example_is_covered():
    assert {p.stem for p in SCRIPTS} == set(EXPECT)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs(script):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert EXPECT[script.stem] in out.stdout, out.stdout[-3000:]
    assert len(script.read_text().splitlines()) <= 70
