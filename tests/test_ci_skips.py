"""The CI guard (tests/_ci_skips.py): a skip for something missing fails under CI=true only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

CASES = '''
import pytest

def test_missing_dependency():
    pytest.importorskip("no_such_module_for_the_ci_guard")

def test_missing_data():
    pytest.skip("shared data not found at /nowhere")

@pytest.mark.skipif(True, reason="chromium is not installed")
def test_missing_browser():
    pass

def test_not_applicable():
    pytest.skip("mmr accepts a batch of queries")
'''


def _run(tmp_path, ci):
    (tmp_path / "test_cases.py").write_text(CASES)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "_ci_skips", "-q", "-rA", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_cases.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


@pytest.mark.parametrize("ci", [None, "false"])
def test_local_runs_skip(tmp_path, ci):
    out = _run(tmp_path, ci)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 skipped" in out.stdout


@pytest.mark.parametrize("ci", ["true"])
def test_ci_fails_every_skip_for_something_missing(tmp_path, ci):
    out = _run(tmp_path, ci)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2 failed, 1 skipped, 1 error" in out.stdout   # a skipif mark fails at set-up
    assert "no_such_module_for_the_ci_guard" in out.stdout
    assert "install what is missing in .ci/run" in out.stdout
    for name in ("test_missing_dependency", "test_missing_data", "test_missing_browser"):
        assert (f"FAILED test_cases.py::{name}" in out.stdout
                or f"ERROR test_cases.py::{name}" in out.stdout)
    assert "SKIPPED [1] test_cases.py" in out.stdout and "mmr accepts a batch" in out.stdout


def test_ci_fails_a_module_level_importorskip(tmp_path):
    (tmp_path / "test_mod.py").write_text(
        'import pytest\nx = pytest.importorskip("no_such_module_for_the_ci_guard")\n'
        'def test_a():\n    pass\n')
    env = {**os.environ, "CI": "true",
           "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "_ci_skips", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_mod.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode != 0, out.stdout + out.stderr
    assert "the whole module" in out.stdout
